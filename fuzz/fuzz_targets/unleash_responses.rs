//! Unleash admin API bodies (flag list, flag, strategy, events, context field, error; 0xFF
//! between them) through the adapter's decoders.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::unleash(data);
});
