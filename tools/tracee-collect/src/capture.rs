//! `--capture` options, in Tracee's syntax, and the sidecar they feed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;

use wire::capture::{CaptureHeader, MAX_CHUNK, artifact, flags, ftype};
use wire::kcfg::{CAP_PATH_CAP, CAP_PATH_MAX, CAP_TYPE_ELF, CapFilter};
use wire::preamble::Preamble;
use wire::{EndBody, EventSlice, LostBody};

/// What to capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureCfg {
    /// Bits `1 << artifact::*`.
    pub mask: u32,
    /// For writes (0) and reads (1).
    pub filters: [CapFilter; 2],
}

impl CaptureCfg {
    pub fn wants(&self, a: u8) -> bool {
        self.mask & (1 << a) != 0
    }
}

/// Parses the values of every `--capture` option.
pub fn parse(opts: &[String]) -> Result<CaptureCfg, String> {
    let mut c = CaptureCfg::default();
    for o in opts {
        let v = o.strip_prefix("artifact:").unwrap_or(o);
        let (dir, rest) = match v.split_once([':', '=']) {
            Some((d, r)) => (d, Some((&v[d.len()..d.len() + 1], r))),
            None => (v, None),
        };
        let a = match dir {
            "write" => artifact::WRITE,
            "read" => artifact::READ,
            "exec" | "mem" | "module" | "bpf" if rest.is_none() => {
                c.mask |= 1
                    << match dir {
                        "exec" => artifact::EXEC,
                        "mem" => artifact::MEM,
                        "module" => artifact::MODULE,
                        _ => artifact::BPF,
                    };
                continue;
            }
            "dir" | "clear-dir" => {
                return Err(format!(
                    "--capture {o}: the output directory is tracee-capture's (--dir, --clear-dir)"
                ));
            }
            "network" | "net" | "pcap" | "pcap-options" | "pcap-snaplen" => {
                return Err(format!(
                    "--capture {o}: network capture (pcap) is not available yet"
                ));
            }
            _ => {
                return Err(format!(
                    "--capture {o}: unknown capture (write, read, exec, mem, module, bpf)"
                ));
            }
        };
        c.mask |= 1 << a;
        let f = &mut c.filters[if a == artifact::WRITE { 0 } else { 1 }];
        let Some((sep, rest)) = rest else { continue };
        let (key, val) = if sep == "=" {
            ("path", rest)
        } else {
            rest.split_once('=')
                .ok_or_else(|| format!("--capture {o}: expected {dir}:KIND=VALUE"))?
        };
        match key {
            "path" => {
                let p = val.strip_suffix('*').unwrap_or(val);
                if p.is_empty() || p.len() > CAP_PATH_MAX || p.contains('*') {
                    return Err(format!(
                        "--capture {o}: a path filter is a prefix of 1 to {CAP_PATH_MAX} characters, optionally ending in *"
                    ));
                }
                let n = f.npaths as usize;
                if n == 3 {
                    return Err(format!("--capture {o}: at most 3 path filters for {dir}"));
                }
                let mut b = [0u8; CAP_PATH_CAP];
                b[..p.len()].copy_from_slice(p.as_bytes());
                f.paths[n] = b;
                f.path_len[n] = p.len() as u32;
                f.npaths += 1;
            }
            "type" => {
                f.types |= match val {
                    "regular" => 1 << ftype::REGULAR,
                    "pipe" => 1 << ftype::PIPE,
                    "socket" => 1 << ftype::SOCKET,
                    "elf" => CAP_TYPE_ELF,
                    _ => {
                        return Err(format!(
                            "--capture {o}: type is one of regular, pipe, socket, elf"
                        ));
                    }
                }
            }
            "fd" => {
                f.fds |= match val {
                    "stdin" => 1,
                    "stdout" => 2,
                    "stderr" => 4,
                    _ => return Err(format!("--capture {o}: fd is one of stdin, stdout, stderr")),
                }
            }
            _ => {
                return Err(format!(
                    "--capture {o}: unknown filter '{key}' (path, type, fd)"
                ));
            }
        }
    }
    Ok(c)
}

/// The payload sidecar: a stream of capture records on its own descriptor.
pub struct Sidecar {
    w: BufWriter<File>,
    /// Executables sent already, by (dev, inode, ctime).
    exec_seen: HashSet<(u64, u64, u64)>,
    /// Our mount namespace: a path seen by a process in it is ours too.
    mnt_ns: u64,
    buf: Vec<u8>,
    pub broken: bool,
}

impl Sidecar {
    /// Takes over descriptor `fd` and writes the stream's preamble.
    pub fn open(fd: i32, pre: &Preamble) -> anyhow::Result<Sidecar> {
        // SAFETY: F_GETFD only inspects the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            anyhow::bail!(
                "--capture writes its payloads on descriptor {fd}, which is not open: \
                 run with e.g. '{fd}> >(tracee-capture)' or name another with --capture-fd"
            );
        }
        // A pipe to tracee-capture moves bursts better with more room
        // (best effort: the default is 64 KiB).
        // SAFETY: fcntl on an open descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20) };
        // SAFETY: the descriptor is open and from now on ours alone.
        let f = unsafe { File::from_raw_fd(fd) };
        let mnt_ns = std::fs::metadata("/proc/self/ns/mnt")
            .map(|m| m.ino())
            .unwrap_or(0);
        let mut s = Sidecar {
            w: BufWriter::with_capacity(1 << 20, f),
            exec_seen: HashSet::new(),
            mnt_ns,
            buf: Vec::with_capacity(MAX_CHUNK + 128),
            broken: false,
        };
        s.put(&pre.to_bytes());
        Ok(s)
    }

    fn put(&mut self, b: &[u8]) {
        if self.broken {
            return;
        }
        if let Err(e) = self.w.write_all(b) {
            self.fail(e);
        }
    }

    /// Writes one capture record made here (not by the kernel).
    fn send(&mut self, h: &CaptureHeader, payload: &[u8]) {
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        h.write_record(payload, &mut b);
        self.put(&b);
        self.buf = b;
    }

    fn fail(&mut self, e: io::Error) {
        self.broken = true;
        eprintln!("tracee-collect: capture stopped: cannot write the sidecar: {e}");
    }

    /// A record from the kernel's capture ring, as it came. Large ones go
    /// straight from the ring's memory to the descriptor: one copy fewer.
    pub fn forward(&mut self, rec: &[u8]) {
        if let Ok((r, _)) = wire::RecordSlice::from_slice(rec, 0)
            && let Ok((h, payload)) = CaptureHeader::from_record(r)
            && h.flags & flags::REF != 0
        {
            return self.dereference(h, payload);
        }
        if rec.len() < 4096 || self.broken {
            return self.put(rec);
        }
        if let Err(e) = self
            .w
            .flush()
            .and_then(|()| self.w.get_mut().write_all(rec))
        {
            self.fail(e);
        }
    }

    pub fn lost(&mut self, l: &LostBody) {
        self.put(&l.to_record());
    }

    /// A file (key `[artifact << 56 | dev, inode]`) lost chunks in the
    /// kernel.
    pub fn incomplete(&mut self, key: [u64; 2]) {
        let h = CaptureHeader {
            artifact: (key[0] >> 56) as u8,
            dev: key[0] as u32,
            ino: key[1],
            flags: flags::LOST,
            len: 1,
            ..Default::default()
        };
        self.send(&h, &[]);
    }

    pub fn flush(&mut self) {
        if !self.broken
            && let Err(e) = self.w.flush()
        {
            self.fail(e);
        }
    }

    pub fn end(&mut self, e: &EndBody) {
        self.put(&e.to_record());
        self.flush();
    }

    /// Sends the executable of a `sched_process_exec` event, once per
    /// (dev, inode, ctime): read through the process while it lives (its
    /// mount namespace), else by its path if that names the same file here.
    pub fn exec(&mut self, ev: &EventSlice<'_>) {
        let scalar = |i: u8| {
            ev.arg(i)
                .and_then(|a| a.data.get(..8))
                .map(|d| u64::from_le_bytes(d.try_into().unwrap_or([0; 8])))
                .unwrap_or(0)
        };
        let (dev, ino, ctime) = (scalar(2), scalar(3), scalar(4));
        if !self.exec_seen.insert((dev, ino, ctime)) {
            return;
        }
        let path = ev.arg(1).map(|a| a.data).unwrap_or(&[]);
        let path = String::from_utf8_lossy(path).into_owned();
        let same = |f: &File| f.metadata().is_ok_and(|m| m.ino() == ino);
        let mut file = File::open(format!("/proc/{}/exe", ev.pid()))
            .ok()
            .filter(same);
        if file.is_none() && ev.mnt_ns() as u64 == self.mnt_ns && path.starts_with('/') {
            file = File::open(&path).ok().filter(same);
        }
        let base = path.rsplit('/').next().unwrap_or("");
        let mut name = [0u8; 16];
        let n = base.len().min(16);
        name[..n].copy_from_slice(&base.as_bytes()[..n]);
        let mut h = CaptureHeader {
            ts: ev.ts(),
            ino,
            off: 0,
            pid: ev.pid(),
            tid: ev.tid(),
            dev: dev as u32,
            mnt_ns: ev.mnt_ns(),
            artifact: artifact::EXEC,
            ftype: ftype::REGULAR,
            flags: 0,
            len: 0,
            comm: [0; 16],
            name,
        };
        let comm = ev.comm();
        let n = comm.len().min(16);
        h.comm[..n].copy_from_slice(&comm[..n]);
        if file.is_none() {
            eprintln!(
                "tracee-collect: executable {path} of pid {} could not be captured: the process was gone and the path is not that file here",
                ev.pid()
            );
        }
        self.send_file(h, file);
    }

    /// A kernel record naming a file whose content is the artifact
    /// (finit_module's module): the file is read here, through the
    /// process's root while it lives, and sent in its place.
    fn dereference(&mut self, h: CaptureHeader, path: &[u8]) {
        let path = String::from_utf8_lossy(path).into_owned();
        let same = |f: &File| f.metadata().is_ok_and(|m| m.ino() == h.ino);
        let mut file = File::open(format!("/proc/{}/root{path}", h.pid))
            .ok()
            .filter(same);
        if file.is_none() && h.mnt_ns as u64 == self.mnt_ns {
            file = File::open(&path).ok().filter(same);
        }
        if file.is_none() {
            eprintln!(
                "tracee-collect: module file {path} of pid {} could not be captured: it is gone or replaced",
                h.pid
            );
        }
        let mut h = h;
        h.flags = 0;
        h.off = 0;
        self.send_file(h, file);
    }

    /// Sends `file` as the chunks of the object `h` names, then its last
    /// record (incomplete if the file could not be read whole).
    fn send_file(&mut self, mut h: CaptureHeader, file: Option<File>) {
        let mut chunk = vec![0u8; MAX_CHUNK];
        let mut missing = 0u32;
        match file {
            Some(mut f) => loop {
                match f.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        h.len = n as u32;
                        self.send(&h, &chunk[..n]);
                        h.off += n as u64;
                    }
                    Err(_) => {
                        missing = 1;
                        break;
                    }
                }
            },
            None => missing = 1,
        }
        h.flags = flags::LAST | flags::LOST;
        h.len = missing;
        self.send(&h, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<CaptureCfg, String> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn tracee_syntax() {
        let c = p(&[
            "write=/tmp/*",
            "write:path=/etc/",
            "write:type=pipe",
            "write:type=elf",
            "read:fd=stdin",
            "artifact:exec",
            "bpf",
        ])
        .unwrap();
        assert!(c.wants(artifact::WRITE) && c.wants(artifact::READ));
        assert!(c.wants(artifact::EXEC) && c.wants(artifact::BPF) && !c.wants(artifact::MEM));
        let w = &c.filters[0];
        assert_eq!(w.npaths, 2);
        assert_eq!(&w.paths[0][..5], b"/tmp/");
        assert_eq!(w.path_len, [5, 5, 0]);
        assert_eq!(w.types, (1 << ftype::PIPE) | CAP_TYPE_ELF);
        assert_eq!(c.filters[1].fds, 1);
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        for (v, want) in [
            ("write=/a/*", ""),
            ("write:type=fifo", "type is one of"),
            ("read:fd=3", "fd is one of"),
            ("write:colour=red", "unknown filter"),
            ("exec=1", "unknown capture"),
            ("dir:/tmp/x", "tracee-capture"),
            ("network", "not available"),
            ("write=", "prefix of 1 to"),
        ] {
            let r = p(&[v]);
            if want.is_empty() {
                assert!(r.is_ok(), "{v}");
            } else {
                assert!(r.unwrap_err().contains(want), "{v}");
            }
        }
        let long = format!("write={}*", "a".repeat(51));
        assert!(p(&[&long]).is_err());
        assert!(p(&["write=/a*", "write=/b*", "write=/c*", "write=/d*"]).is_err());
    }
}
