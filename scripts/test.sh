#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, unit tests, pipeline tests
# the end-to-end tests that load the real eBPF programs (as root), and a
# short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The end-to-end tests run the tools' release binaries: build them first.
cargo build --release
# A hung test must fail the run with a message, not outlive CI's limit.
timeout --signal=KILL 1800 cargo test --release || {
    rc=$?
    [ "$rc" -eq 137 ] && echo "test.sh: cargo test did not finish within 30 minutes" >&2
    exit "$rc"
}
bash scripts/fuzz.sh 10
