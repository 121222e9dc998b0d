#!/usr/bin/env bash
# Sets up and runs the benchmark suite (B1-B9) as root; writes BENCHMARKS.md.
# Installs its peers (bpftrace, strace, iperf3, tcpdump) from Debian. BENCH_RUNS (default 5),
# BENCH_LOOP (default 1000000) and BENCH_EVENTS (default 5000000) scale it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
need_apt=()
for p in bpftrace strace bpftool iperf3 tcpdump; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bench: installing ${need_apt[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# bpftrace needs tracefs for tracepoint formats.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
cargo build --release
exec python3 scripts/bench.py
