//! config.toml over the built-in defaults, then what start-up does with it.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::config_file(data);
});
