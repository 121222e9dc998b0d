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
cargo test --release
bash scripts/fuzz.sh 10
