//! cargo-fuzz target `pem_der`: the checks are in `fuzz/checks/pem_der.rs`, shared with the
//! stable seed-replay test (`tests/fuzz_seeds.rs`).

#![no_main]

#[path = "../checks/pem_der.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
