//! cargo-fuzz target `dn_parse`: the checks are in `fuzz/checks/dn_parse.rs`, shared with the
//! stable seed-replay test (`tests/fuzz_seeds.rs`).

#![no_main]

#[path = "../checks/dn_parse.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
