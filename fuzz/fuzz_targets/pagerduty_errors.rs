//! PagerDuty error answers (`NNN\n` status, then the body) to the error the cockpit shows.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::pagerduty_error(data);
});
