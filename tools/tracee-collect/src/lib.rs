//! tracee-collect: loads the eBPF programs, drains the ring buffer and writes
//! the tracee-rs stream to stdout.
//!
//! The kernel writes each record in its final layout; this side frames
//! nothing and re-encodes nothing. It adds the preamble, lost-event notices
//! from the per-CPU drop counters, and the end-of-stream record.
pub mod btf;
pub mod capture;
pub mod containers;
pub mod downstream;
pub mod drain;
pub mod events;
pub mod files;
pub mod host;
pub mod load;
pub mod net;
pub mod peers;
pub mod procs;
pub mod run;
pub mod sidecar;
#[rustfmt::skip]
#[allow(clippy::all)]
pub mod syscalls_gen;
