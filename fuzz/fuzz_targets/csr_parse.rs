//! cargo-fuzz target `csr_parse`: the checks are in `fuzz/checks/csr_parse.rs`, shared with the
//! stable seed-replay test (`tests/fuzz_seeds.rs`).

#![no_main]

#[path = "../checks/csr_parse.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
