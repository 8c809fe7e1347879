//! Alertmanager `/api/v2/alerts` and `/api/v2/silences` bodies (separated by 0xFF) to incidents.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;
use oncall_cockpit::backend::alertmanager::Alertmanager;
use std::sync::OnceLock;

// Built once: constructing the HTTP client per input would dwarf the decoding.
static AM: OnceLock<Alertmanager> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let am = AM
        .get_or_init(|| Alertmanager::new(&harness::alertmanager_config()).expect("valid config"));
    let _ = harness::alertmanager_with(am, data);
});
