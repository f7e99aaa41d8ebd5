//! Replays every fuzz seed through its target's checks on the stable toolchain, so the
//! seeds run on every `cargo test --workspace` even where cargo-fuzz (nightly) cannot.
//!
//! The checks are the fuzz targets' own code: `fuzz/fuzz_targets/<target>.rs` is only
//! `fuzz_target!(|data| checks::run(data))` over `fuzz/checks/<target>.rs`, which this
//! test includes too. Inputs: the empty input, `fuzz/seeds/<target>/*` (in git) and
//! `fuzz/corpus/<target>/*` (what local fuzzing runs kept, when present). Every input
//! runs, then the test fails naming each one that panicked.

#[path = "../fuzz/checks/acme_jws.rs"]
mod acme_jws;
#[path = "../fuzz/checks/csr_parse.rs"]
mod csr_parse;
#[path = "../fuzz/checks/dn_parse.rs"]
mod dn_parse;
#[path = "../fuzz/checks/json_bodies.rs"]
mod json_bodies;
#[path = "../fuzz/checks/pem_der.rs"]
mod pem_der;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 5] = [
    ("dn_parse", dn_parse::run),
    ("csr_parse", csr_parse::run),
    ("pem_der", pem_der::run),
    ("json_bodies", json_bodies::run),
    ("acme_jws", acme_jws::run),
];

/// The files of a directory, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("read a fuzz input directory").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `run` on every input; returns the names of those that panicked.
fn replay(run: fn(&[u8]), inputs: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, data) in inputs {
        if catch_unwind(AssertUnwindSafe(|| run(data))).is_err() {
            failed.push(name.clone());
        }
    }
    failed
}

#[test]
fn fuzz_seeds_replay_through_every_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failed = Vec::new();
    for (target, run) in TARGETS {
        let seeds = files(&fuzz.join("seeds").join(target));
        assert!(
            !seeds.is_empty(),
            "no seeds in fuzz/seeds/{target}: the replay would prove nothing"
        );
        let corpus = files(&fuzz.join("corpus").join(target));
        let mut inputs = vec![("<empty input>".to_string(), Vec::new())];
        for path in seeds.iter().chain(&corpus) {
            let data = std::fs::read(path).expect("read a fuzz input");
            let name = path.strip_prefix(&fuzz).unwrap_or(path).display();
            inputs.push((format!("fuzz/{name}"), data));
        }
        eprintln!(
            "{target}: {} seeds, {} corpus inputs, and the empty input",
            seeds.len(),
            corpus.len()
        );
        for name in replay(run, &inputs) {
            failed.push(format!("{target}: {name}"));
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz inputs that fail their target's checks (each panic is printed above):\n  {}",
        failed.join("\n  ")
    );
}
