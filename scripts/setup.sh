#!/usr/bin/env bash
# Installs what building and testing tracee-rs needs, idempotently:
# Debian packages (LLVM 22 for bpf-linker, strace for the ground-truth test,
# podman for containers, tshark, tcpdump, ping and iperf3 for the network),
# rust-src for the nightly toolchain, and bpf-linker.
set -euo pipefail

need_apt=()
for p in llvm-22-dev libpolly-22-dev libzstd-dev strace linux-libc-dev binutils \
    podman runc busybox-static tshark tcpdump iputils-ping iproute2 iperf3; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The eBPF crate builds with the preinstalled `nightly` toolchain (never a
# dated one: other toolchains cannot be fetched here) and needs its rust-src.
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "setup: adding rust-src to nightly" >&2
    rustup component add rust-src --toolchain nightly
fi

if ! command -v bpf-linker >/dev/null 2>&1; then
    echo "setup: building bpf-linker against LLVM 22" >&2
    LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --version '^0.13' --locked \
        --no-default-features --features llvm-22
fi
