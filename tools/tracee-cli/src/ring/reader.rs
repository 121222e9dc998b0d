//! The consumer's side of the ring: a `Read` like stdin.

use std::format;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use super::layout::*;

/// The reading side; a `Read` like stdin.
pub struct RingReader {
    m: Mapped,
    path: PathBuf,
    tail: u64,
    producer: Option<Peer>,
    producer_pid: u32,
    _file: File,
}

impl RingReader {
    /// Attaches to the ring at `path`, waiting up to `wait` for a producer
    /// to create it. Refuses a file that is not a ring, a ring of another
    /// version, one whose producer is gone without ending it (stale), and
    /// one that already has a live reader.
    pub fn open(path: &Path, wait: Duration) -> io::Result<RingReader> {
        let shown = path.display();
        let deadline = Instant::now() + wait;
        // A file we cannot believe is waited past like a missing one: its
        // writer may yet replace it.
        let mut untrusted = None;
        let f = loop {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
                .open(path)
            {
                Ok(f) if trusted(&f.metadata()?, true).is_err() => {
                    untrusted = trusted(&f.metadata()?, true).err();
                }
                Ok(f) if f.metadata()?.len() >= HEADER_LEN as u64 => {
                    let mut magic = [0u8; 8];
                    (&f).read_exact(&mut magic)?;
                    if magic == MAGIC {
                        break f;
                    }
                    if magic != [0; 8] || Instant::now() >= deadline {
                        return Err(err(
                            io::ErrorKind::InvalidData,
                            format!("ring:{shown} is not a tracee-rs ring (bad magic)"),
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // A link, directory or other file no ring could be (a
                // symlink is refused by O_NOFOLLOW): waited past like an
                // untrusted file, as its writer may yet replace it.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(
                            nix::libc::ELOOP
                                | nix::libc::EISDIR
                                | nix::libc::EACCES
                                | nix::libc::ENXIO
                                | nix::libc::EPERM
                        )
                    ) =>
                {
                    untrusted = Some(format!("cannot be opened as a ring ({e})"));
                }
                Err(e) => return Err(err(e.kind(), format!("opening ring:{shown}: {e}"))),
            }
            if Instant::now() >= deadline {
                if let Some(why) = untrusted {
                    return Err(err(
                        io::ErrorKind::PermissionDenied,
                        format!("ring:{shown} {why}: refusing to read it"),
                    ));
                }
                return Err(err(
                    io::ErrorKind::NotFound,
                    format!(
                        "ring:{shown}: no producer created it within {}s",
                        wait.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: the producer sized the file before writing the magic; we
        // only touch the header words and the bytes between tail and head.
        let map = unsafe { MmapMut::map_mut(&f)? };
        let bad = |what: String| err(io::ErrorKind::InvalidData, format!("ring:{shown}: {what}"));
        let rd32 = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().unwrap());
        let version = rd32(OFF_VERSION);
        if version != VERSION {
            return Err(bad(format!("version {version}, this tool reads {VERSION}")));
        }
        if rd32(OFF_HEADER_LEN) as usize != HEADER_LEN {
            return Err(bad("unexpected header length".to_string()));
        }
        let cap = u64::from_le_bytes(map[OFF_CAPACITY..OFF_CAPACITY + 8].try_into().unwrap());
        if !cap.is_power_of_two()
            || cap < MIN_CAPACITY
            || map.len() as u64 != HEADER_LEN as u64 + cap
        {
            return Err(bad(format!("capacity {cap} does not match the file")));
        }
        let m = Mapped::new(map, cap, path);
        let producer_pid = m.u32_at(OFF_PRODUCER).load(Ordering::Acquire);
        let producer = Peer::open(
            producer_pid,
            m.u64_at(OFF_PRODUCER_START).load(Ordering::Acquire),
        );
        if producer.is_none() && m.state().load(Ordering::Acquire) & STATE_ENDED == 0 {
            return Err(bad(format!(
                "stale: its producer (pid {producer_pid}) is gone and never ended the stream"
            )));
        }
        // Claim the consumer side.
        let me = std::process::id();
        let cur = m.u32_at(OFF_CONSUMER).load(Ordering::Acquire);
        if cur != 0 && cur != me {
            let start = m.u64_at(OFF_CONSUMER_START).load(Ordering::Acquire);
            if Peer::open(cur, start).is_some() {
                return Err(bad(format!("already has a reader, pid {cur}")));
            }
        }
        m.u64_at(OFF_CONSUMER_START)
            .store(start_time(me).unwrap_or(0), Ordering::Release);
        if m.u32_at(OFF_CONSUMER)
            .compare_exchange(cur, me, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(bad("another reader attached at the same moment".to_string()));
        }
        let tail = m.tail().load(Ordering::Acquire);
        Ok(RingReader {
            m,
            path: path.to_path_buf(),
            tail,
            producer,
            producer_pid,
            _file: f,
        })
    }
}

impl Read for RingReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let head = self.m.head().load(Ordering::Acquire);
            if head != self.tail {
                let n = ((head - self.tail) as usize).min(out.len());
                self.m.copy_out(self.tail, &mut out[..n]);
                self.tail += n as u64;
                self.m.tail().store(self.tail, Ordering::SeqCst);
                if self.m.u32_at(OFF_PRODUCER_WAITING).load(Ordering::SeqCst) != 0 {
                    futex_wake(self.m.tail());
                }
                return Ok(n);
            }
            if self.m.state().load(Ordering::Acquire) & STATE_ENDED != 0 {
                // Ended: anything written before the flag is already visible.
                if self.m.head().load(Ordering::Acquire) == self.tail {
                    return Ok(0);
                }
                continue;
            }
            let waiting = self.m.u32_at(OFF_CONSUMER_WAITING);
            waiting.store(1, Ordering::SeqCst);
            if self.m.head().load(Ordering::SeqCst) == head {
                futex_wait(self.m.head(), head, WAIT_SLICE);
            }
            waiting.store(0, Ordering::SeqCst);
            if self.m.head().load(Ordering::Acquire) == head
                && self.m.state().load(Ordering::Acquire) & STATE_ENDED == 0
                && !self.producer.as_ref().is_some_and(Peer::alive)
            {
                return Err(err(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the producer of ring:{} (pid {}) died without ending the stream",
                        self.path.display(),
                        self.producer_pid
                    ),
                ));
            }
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.m
            .state()
            .fetch_or(STATE_CONSUMER_CLOSED, Ordering::SeqCst);
        futex_wake(self.m.tail());
        // An ended ring read to its end is done with: remove its name,
        // if the name is still this ring's.
        if self.m.state().load(Ordering::Acquire) & STATE_ENDED != 0
            && self.m.head().load(Ordering::Acquire) == self.tail
        {
            use std::os::unix::fs::MetadataExt;
            let same = match (std::fs::symlink_metadata(&self.path), self._file.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}
