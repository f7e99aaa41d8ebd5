#!/usr/bin/env bash
# Builds the server and the benchmark in release mode, then runs the benchmark.
# Arguments go to fastpki-bench, e.g.:
#   bench/run.sh                                   # SQLite, full run (1,000,000 rows for W4)
#   bench/run.sh --w4-rows 100000 --seconds 5      # a quick run
#   bench/run.sh --database-url postgres://postgres@127.0.0.1:5432/postgres
#   bench/run.sh --json bench-sqlite.json
# See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p fastpki -p fastpki-bench
exec "$target/release/fastpki-bench" --server-bin "$target/release/fastpki" "$@"
