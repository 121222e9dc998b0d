//! Clocks. Stream timestamps are CLOCK_MONOTONIC nanoseconds (the kernel's
//! `bpf_ktime_get_ns`); the preamble pairs them with CLOCK_REALTIME.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

fn read(clock: ClockId) -> Duration {
    // CLOCK_MONOTONIC, _COARSE and _REALTIME cannot fail on Linux; if one
    // did, zero only makes a flush come sooner or a time read as the epoch.
    clock_gettime(clock).map(Duration::from).unwrap_or_default()
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of every event's `ts`.
pub fn monotonic_ns() -> u64 {
    read(ClockId::CLOCK_MONOTONIC).as_nanos() as u64
}

/// CLOCK_REALTIME in nanoseconds since the epoch.
pub fn realtime_ns() -> u64 {
    read(ClockId::CLOCK_REALTIME).as_nanos() as u64
}

/// The monotonic clock at tick resolution (a few ms): read once per unit
/// written, where the precise clock's vDSO call cost a few percent of
/// tracee-fmt's time.
pub fn coarse_now() -> Duration {
    read(ClockId::CLOCK_MONOTONIC_COARSE)
}
