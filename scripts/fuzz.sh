#!/usr/bin/env bash
# Bounded fuzzing: builds the cargo-fuzz targets in fuzz/ and runs each one for
# SECONDS (default 30) from its seeds (fuzz/seeds/<target>) plus the corpus kept
# from earlier runs (fuzz/corpus/<target>, not in git). Fails if any target
# crashes (panic, sanitizer report, timeout or out-of-memory); the input that
# did it is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain (cargo fuzz uses -Z flags). Without it the script
# fails, or says so and exits 0 when FASTPKI_FUZZ_OPTIONAL=1. Either way the seeds
# are not lost: the stable test tests/fuzz_seeds.rs (part of `cargo test --workspace`)
# replays fuzz/seeds/<target> and fuzz/corpus/<target> through the same checks
# (fuzz/checks/<target>.rs); only the mutation of new inputs needs nightly.
# FASTPKI_FUZZ_TARGET_DIR: where to build (default fuzz/target); a directory
# that outlives the checkout (CI clones afresh) saves rebuilding the dependencies.
# One fuzzing process at a time (no -jobs/-fork): sized for a small shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-30}"
shift || true
case "$secs" in
    '' | *[!0-9]*)
        echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
        exit 2
        ;;
esac
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(dn_parse csr_parse pem_der json_bodies acme_jws)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    msg="the nightly Rust toolchain is not installed; cargo fuzz needs it (rustup toolchain install nightly)"
    if [ "${FASTPKI_FUZZ_OPTIONAL:-0}" = 1 ]; then
        echo "== fuzz: skipped: ${msg} (FASTPKI_FUZZ_OPTIONAL=1)"
        echo "   no new inputs were generated; the seeds are replayed instead, on stable, by tests/fuzz_seeds.rs:"
        echo "   fuzz/seeds/<target> and fuzz/corpus/<target> through each target's checks, in every"
        echo "   cargo test --workspace (scripts/test.sh, which .ci/run runs before this)"
        exit 0
    fi
    echo "fuzz: ${msg}; set FASTPKI_FUZZ_OPTIONAL=1 to skip fuzzing instead" >&2
    echo "fuzz: (the seeds alone replay on stable: cargo test --workspace --test fuzz_seeds)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd fuzz
# AddressSanitizer by default (offline runs); CI passes `none`: the code under
# test is safe Rust over aws-lc, and an uninstrumented build is much shorter.
build_flags=(--sanitizer "${FASTPKI_FUZZ_SANITIZER:-address}")
if [ -n "${FASTPKI_FUZZ_TARGET_DIR:-}" ]; then
    build_flags+=(--target-dir "$FASTPKI_FUZZ_TARGET_DIR")
fi
echo "== building fuzz targets (cargo +nightly fuzz build)"
start=$(date +%s)
cargo +nightly fuzz build "${build_flags[@]}"
echo "   built in $(($(date +%s) - start))s"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== fuzzing $t for ${secs}s"
    log="$(mktemp)"
    # -timeout: one input taking over 10 s is a hang, and a failure.
    if cargo +nightly fuzz run "${build_flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
        echo "   ok: ${runs:-?} executions, corpus $(find "corpus/$t" -type f | wc -l) inputs"
    else
        tail -n 60 "$log"
        echo "   FAILED: $t (see fuzz/artifacts/$t/)" >&2
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "== fuzz: no crash in ${targets[*]} (${secs}s each)"
