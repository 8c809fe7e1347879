//! Prometheus `/api/v1/query_range` answers (success, error JSON, proxy pages) to signals.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;
use oncall_cockpit::backend::prometheus::Prometheus;
use std::sync::{Mutex, OnceLock};

// Built once: constructing the HTTP client per input would dwarf the decoding.
static PROM: OnceLock<Mutex<Prometheus>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let prom = PROM.get_or_init(|| {
        Mutex::new(Prometheus::new(&harness::prometheus_config()).expect("valid config"))
    });
    let mut prom = prom.lock().unwrap_or_else(|p| p.into_inner());
    let _ = harness::prometheus_with(&mut prom, data);
});
