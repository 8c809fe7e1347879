//! Phoenix REST bodies (spans page, span annotations, retriever spans, error; 0xFF between
//! them) through the adapter's decoders to samples.
#![no_main]

use cockpit_testkit::fuzz_harness as harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = harness::phoenix(data);
});
