//! What tracee-fmt learns from the stream beyond one event: containers
//! (from container records), each process's executable (from
//! `sched_process_exec`, inherited at `sched_process_fork`), and Tracee's
//! entity ids.

use std::collections::HashMap;

use wire::container::{Container, Containers};
use wire::{EventSlice, event_id};

/// Tracee's `HashTaskID`: MurmurHash3 (x86, 32-bit, seed 0x18273645) of
/// the id (u32, big-endian) and the start time in epoch nanoseconds
/// rounded down to 100 ms (u64, big-endian). The rounding absorbs the
/// difference between the kernel's start time and procfs's.
pub fn entity_id(id: u32, start_epoch_ns: u64) -> u32 {
    let round = start_epoch_ns / 100_000_000 * 100_000_000;
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&id.to_be_bytes());
    b[4..].copy_from_slice(&round.to_be_bytes());
    // Reading from a slice cannot fail.
    murmur3::murmur3_32(&mut &b[..], 0x1827_3645).unwrap_or(0)
}

/// Processes remembered at most (their executables); past it the table
/// starts again, as a hostile stream could name any number of them.
const PROCS_MAX: usize = 1 << 16;

#[derive(Default)]
pub struct Procs {
    pub containers: Containers,
    exe: HashMap<u32, Vec<u8>>,
    /// Changes whenever an executable or a container is learnt or
    /// forgotten: what was printed from the tables before may differ now.
    generation: u64,
}

impl Procs {
    /// A process record: what the process runs from now on.
    pub fn process(&mut self, p: wire::process::Process) {
        self.remember(p.pid, p.exe);
    }

    pub fn container(&mut self, c: Container) {
        self.generation += 1;
        self.containers.apply(c);
    }

    /// Changes whenever [`Procs::exe`] or [`Procs::container_of`] may
    /// answer differently for some event.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The event's thread, process and parent entity ids; `boot_epoch_ns`
    /// puts its times on the epoch.
    pub fn entity_ids(&self, ev: &EventSlice<'_>, boot_epoch_ns: u64) -> [u32; 3] {
        let epoch = |t: u64| boot_epoch_ns.wrapping_add(t);
        let thread = entity_id(ev.tid(), epoch(ev.thread_start()));
        let process = if ev.tid() == ev.pid() && ev.thread_start() == ev.leader_start() {
            thread
        } else {
            entity_id(ev.pid(), epoch(ev.leader_start()))
        };
        let parent = entity_id(ev.ppid(), epoch(ev.parent_start()));
        [thread, process, parent]
    }

    /// Learns from an event before it is printed.
    pub fn event(&mut self, ev: &EventSlice<'_>) {
        match ev.event_id() {
            event_id::SCHED_PROCESS_EXEC => {
                if let Some(a) = ev.arg(1) {
                    self.remember(ev.pid(), a.data.to_vec());
                }
            }
            event_id::SCHED_PROCESS_FORK => {
                if let Some(child) = ev.arg(6).map(|a| a.scalar() as u32)
                    && child != ev.pid()
                    && let Some(e) = self.exe.get(&ev.pid()).cloned()
                {
                    self.remember(child, e);
                }
            }
            _ => {}
        }
    }

    /// Forgets a process after its last event is printed.
    pub fn after(&mut self, ev: &EventSlice<'_>) {
        if ev.event_id() == event_id::SCHED_PROCESS_EXIT
            && ev.arg(2).is_some_and(|a| a.scalar() != 0)
            && self.exe.remove(&ev.pid()).is_some()
        {
            self.generation += 1;
        }
    }

    fn remember(&mut self, pid: u32, exe: Vec<u8>) {
        self.generation += 1;
        if self.exe.len() >= PROCS_MAX && !self.exe.contains_key(&pid) {
            self.exe.clear();
        }
        self.exe.insert(pid, exe);
    }

    /// The process's executable, if the stream showed its exec (or its
    /// parent's before the fork).
    pub fn exe(&self, pid: u32) -> &[u8] {
        self.exe.get(&pid).map_or(&[], |v| v.as_slice())
    }

    /// The container of the event's cgroup, if a record names it.
    pub fn container_of(&self, ev: &EventSlice<'_>) -> Option<&Container> {
        if self.containers.is_empty() {
            return None;
        }
        self.containers.get(ev.cgroup_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HashU32AndU64's test vectors in Tracee's common/murmur (no rounding
    /// at these values: 0 and multiples of 100 ms are their own floor).
    #[test]
    fn tracee_murmur_vectors() {
        let h = |a: u32, b: u64| {
            let mut x = [0u8; 12];
            x[..4].copy_from_slice(&a.to_be_bytes());
            x[4..].copy_from_slice(&b.to_be_bytes());
            murmur3::murmur3_32(&mut &x[..], 0x1827_3645).unwrap()
        };
        assert_eq!(h(0, 0), 0xf6c5_6b4a);
        assert_eq!(h(1, 2), 0xd25f_0e74);
        assert_eq!(h(0x1234_5678, 0x1234_5678_9ABC_DEF0), 0xb065_052c);
        assert_eq!(h(u32::MAX, 0), 0x6d04_5877);
        assert_eq!(h(0, u64::MAX), 0xece9_8cf5);
        assert_eq!(h(u32::MAX, u64::MAX), 0xffa2_82fc);
    }

    /// HashTaskID rounds the start down to 100 ms first.
    #[test]
    fn entity_ids_round_to_100ms() {
        assert_eq!(entity_id(1234, 1_696_249_856_019_516_599), 0x259d_a10c);
        assert_eq!(
            entity_id(1234, 1_696_249_856_000_000_000),
            entity_id(1234, 1_696_249_856_099_999_999)
        );
        assert_ne!(
            entity_id(1234, 1_696_249_856_000_000_000),
            entity_id(1234, 1_696_249_856_100_000_000)
        );
        assert_ne!(entity_id(1, 0), entity_id(2, 0));
    }
}
