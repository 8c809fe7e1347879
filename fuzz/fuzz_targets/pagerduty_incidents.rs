//! PagerDuty `/incidents` pages and `/log_entries` bodies (separated by 0xFF) to incidents.
#![no_main]

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::pagerduty_incidents(data);
});
