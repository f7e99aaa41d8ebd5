//! cargo-fuzz target `json_bodies`: the checks are in `fuzz/checks/json_bodies.rs`, shared with the
//! stable seed-replay test (`tests/fuzz_seeds.rs`).

#![no_main]

#[path = "../checks/json_bodies.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
