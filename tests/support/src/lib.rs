//! What the test binaries (`tests/in_process`, `tests/real`) and the fuzz targets share.

pub mod common;
pub mod fuzz_harness;
pub mod pty;
pub mod screen;
pub mod servers;
pub mod styled;
