//! cargo-fuzz target `acme_jws`: the checks are in `fuzz/checks/acme_jws.rs`, shared with the
//! stable seed-replay test (`tests/fuzz_seeds.rs`).

#![no_main]

#[path = "../checks/acme_jws.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
