#!/usr/bin/env bash
# Runs every fuzz target (wire decoders, the stream through filter and
# formatters, event bodies in valid framing, the filter language, capture
# sidecars, packets through the network parsers) for SECONDS each (default 10). Each run first replays the
# committed, minimised corpus in fuzz/seeds/TARGET (what long runs found,
# so a regression fails here), then fuzzes on. Installs cargo-fuzz if it is
# missing; uses the preinstalled nightly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-10}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# tracee-collect's packet parsers are built without its eBPF object.
export AYA_BUILD_SKIP=1
for t in record preamble stream bodies filter_expr capture packet; do
    echo "fuzz: $t for ${secs}s" >&2
    mkdir -p "corpus/$t"
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" 2>&1 | tail -n 1
done
