//! Each process's executable, told to the stream as process records: read
//! from /proc for the processes running at start, then taken from the
//! kernel's fork and exec records, which it sends whatever the scope and
//! selection (`TRACK_PROCS`), so that every event's reader knows what its
//! process runs (JSON `executable.path`).

use std::collections::HashMap;

use wire::process::{Process, flags};
use wire::{EventSlice, event_id};

/// Processes remembered at most; past it the table starts again (a fork
/// then reads its parent's executable from /proc).
const PROCS_MAX: usize = 1 << 16;

#[derive(Default)]
pub struct Procs {
    exe: HashMap<u32, Vec<u8>>,
}

/// `/proc/PID/exe`, if the process is there and runs a file.
fn exe_of(pid: u32) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(p.as_os_str().as_bytes().to_vec())
}

impl Procs {
    /// The processes running now, from /proc (kernel threads, which run
    /// no file, are left out).
    pub fn from_proc() -> (Procs, Vec<Process>) {
        let mut t = Procs::default();
        let mut found = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return (t, found);
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(exe) = exe_of(pid) {
                t.remember(pid, exe.clone());
                found.push(Process {
                    pid,
                    exe,
                    ..Default::default()
                });
            }
        }
        found.sort_by_key(|p| p.pid);
        (t, found)
    }

    fn remember(&mut self, pid: u32, exe: Vec<u8>) {
        if self.exe.len() >= PROCS_MAX && !self.exe.contains_key(&pid) {
            self.exe.clear();
        }
        self.exe.insert(pid, exe);
    }

    /// What a kernel fork or exec record tells: the process record to
    /// write before it, if any.
    pub fn on_event(&mut self, ev: &EventSlice<'_>) -> Option<Process> {
        match ev.event_id() {
            event_id::SCHED_PROCESS_EXEC => {
                let a = ev.arg(1)?;
                let p = Process {
                    pid: ev.pid(),
                    flags: if a.truncated { flags::CUT } else { 0 },
                    start: ev.leader_start(),
                    exe: a.data.to_vec(),
                };
                self.remember(p.pid, p.exe.clone());
                Some(p)
            }
            event_id::SCHED_PROCESS_FORK => {
                // A new process (not a thread): it runs its parent's file.
                let child = ev.arg(6)?.scalar() as u32;
                let parent = ev.arg(2)?.scalar() as u32;
                if child == parent {
                    return None;
                }
                let exe = match self.exe.get(&parent) {
                    Some(e) => Some(e.clone()),
                    None => exe_of(parent),
                };
                let p = Process {
                    pid: child,
                    flags: if exe.is_none() { flags::UNKNOWN } else { 0 },
                    start: ev.arg(8).map_or(0, |a| a.scalar()),
                    exe: exe.unwrap_or_default(),
                };
                self.remember(p.pid, p.exe.clone());
                Some(p)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::build::EventBuilder;
    use wire::{EventContext, RecordSlice};

    fn ev(rec: &[u8]) -> EventSlice<'_> {
        EventSlice::from_record(RecordSlice::from_slice(rec, 0).unwrap().0).unwrap()
    }

    #[test]
    fn exec_then_fork_then_a_thread() {
        let mut t = Procs::default();
        let ctx = EventContext {
            event_id: event_id::SCHED_PROCESS_EXEC,
            pid: 10,
            ..Default::default()
        };
        let exec = EventBuilder::new(&ctx).str(1, "/usr/bin/sh").finish();
        assert_eq!(t.on_event(&ev(&exec)).unwrap().exe, b"/usr/bin/sh");
        let fork = |child: u64| {
            let ctx = EventContext {
                event_id: event_id::SCHED_PROCESS_FORK,
                pid: 10,
                ..Default::default()
            };
            let mut b = EventBuilder::new(&ctx);
            for i in 0..9u8 {
                b = b.scalar(
                    i,
                    match i {
                        2 => 10,
                        6 => child,
                        _ => 0,
                    },
                );
            }
            b.finish()
        };
        let p = t.on_event(&ev(&fork(11))).unwrap();
        assert_eq!((p.pid, p.exe.as_slice()), (11, &b"/usr/bin/sh"[..]));
        assert_eq!(t.on_event(&ev(&fork(10))), None, "a thread");
    }

    #[test]
    fn this_process_is_found_in_proc() {
        let (_, found) = Procs::from_proc();
        let me = std::process::id();
        let p = found.iter().find(|p| p.pid == me).expect("this process");
        assert_eq!(p.exe, exe_of(me).unwrap());
    }
}
