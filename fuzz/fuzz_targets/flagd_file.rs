//! flagd flag files as read from disk; every lever pulled once and the result read back.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::flagd_file(data);
});
