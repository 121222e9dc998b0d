#!/usr/bin/env bash
# Sets up, builds, and shows live events from the whole machine as a table.
# Ctrl-C stops it; the summary goes to stderr. Extra arguments go to
# tracee-collect (events with -e, filter expressions).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: tracing needs root; run it as root" >&2
    exit 2
fi
# Ctrl-C stops tracee-collect, which drains and ends the stream; tracee-fmt
# (reading a pipe) ignores it and prints everything up to the end.
target/release/tracee-collect "$@" | target/release/tracee-fmt table
