//! PagerDuty 429 headers (`name: value` lines) to the backoff before the next request.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::pagerduty_rate_limit(data);
});
