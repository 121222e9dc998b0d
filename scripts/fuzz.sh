#!/usr/bin/env bash
# Runs every fuzz target (wire decoders, the stream through filter and
# formatters, the filter language) for SECONDS each (default 10).
# Installs cargo-fuzz if it is missing; uses the preinstalled nightly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-10}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for t in record preamble stream bodies filter_expr capture; do
    echo "fuzz: $t for ${secs}s" >&2
    cargo +nightly fuzz run "$t" -- -max_total_time="$secs" 2>&1 | tail -n 1
done
