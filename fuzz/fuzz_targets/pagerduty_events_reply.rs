//! PagerDuty Events API v2 replies (`/v2/enqueue`, `/v2/change/enqueue`) to what a page reports.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::pagerduty_events_reply(data);
});
