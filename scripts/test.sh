#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, unit tests, pipeline tests
# and the end-to-end tests that load the real eBPF programs (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The end-to-end tests run the tools' release binaries: build them first.
cargo build --release
cargo test --release
