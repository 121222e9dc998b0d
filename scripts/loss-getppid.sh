#!/usr/bin/env bash
# Traces every syscall at default settings, output to /dev/null, while a
# loop of N getppid calls runs; prints the loop's cost with and without
# tracing and what the collector wrote and lost. Needs root and a release
# build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
bin=target/release
run_loop() {
    local t0 t1
    t0=$(date +%s%N)
    "$bin/tracee-helper" storm "$n"
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / n ))
}
base=$(run_loop)
err=$(mktemp)
"$bin/tracee-collect" -e syscalls >/dev/null 2>"$err" &
pid=$!
until grep -q "tracing" "$err"; do sleep 0.1; done
traced=$(run_loop)
sleep 0.5
kill -INT "$pid"
wait "$pid"
echo "getppid x $n: untraced ${base} ns/call, traced ${traced} ns/call (+$((traced - base)) ns)"
tail -n 1 "$err"
rm -f "$err"
