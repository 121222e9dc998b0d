#!/usr/bin/env bash
# Sets up, builds, and shows live events from the whole machine as a table.
# Ctrl-C stops it; the summary goes to stderr. Extra arguments go to
# tracee-collect (events with -e, filter expressions).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: tracing needs root: sudo $0 $*" >&2
    exit 2
fi
# Let Ctrl-C reach tracee-collect (which drains and writes the end record)
# while tracee-fmt keeps reading until the stream ends.
target/release/tracee-collect "$@" | (trap '' INT; exec target/release/tracee-fmt table)
