//! Clocks. Stream timestamps are CLOCK_MONOTONIC nanoseconds (the kernel's
//! `bpf_ktime_get_ns`); the preamble pairs them with CLOCK_REALTIME.

use std::time::Duration;

use nix::libc;
use nix::time::{ClockId, clock_gettime};

#[inline]
fn read(clock: ClockId) -> Duration {
    // CLOCK_MONOTONIC, _COARSE and _REALTIME cannot fail on Linux; if one
    // did, zero only makes a flush come sooner or a time read as the epoch.
    clock_gettime(clock).map(Duration::from).unwrap_or_default()
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of every event's `ts`.
#[inline]
pub fn monotonic_ns() -> u64 {
    read(ClockId::CLOCK_MONOTONIC).as_nanos() as u64
}

/// CLOCK_REALTIME in nanoseconds since the epoch.
#[inline]
pub fn realtime_ns() -> u64 {
    read(ClockId::CLOCK_REALTIME).as_nanos() as u64
}

/// The monotonic clock at tick resolution (a few ms): read once per unit
/// written, where the precise clock's vDSO call cost a few percent of
/// tracee-fmt's time. The one clock read straight from libc: nix's wrapper
/// is not inlined across crates and cost 18 instructions a unit more.
#[inline]
pub fn coarse_now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; CLOCK_MONOTONIC_COARSE cannot fail
    // on Linux (on failure t stays zero, which only flushes sooner).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
