//! Network packets into pcapng files (Tracee's layout, under `out/pcap`):
//! `single.pcap`, `processes/<container|host>/<comm>_<tid>_<start>.pcap`,
//! `containers/<container|host>.pcap` and
//! `commands/<container|host>/<comm>.pcap`, each packet going to the files
//! its record's split bits name.
//!
//! Each file's interface description holds who its packets belong to as
//! JSON, as Tracee's does; beyond Tracee, every packet of `single.pcap`
//! carries a comment naming its process. Packets whose owner is unknown go
//! under `unknown` (container and command). Packets are raw IP
//! (`LINKTYPE_RAW`) with nanosecond timestamps.
//!
//! At most [`OPEN_PCAPS`] files are open; one closed and needed again is
//! reopened and appended to as a new pcapng section (readers take
//! several).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use wire::capture::{CaptureHeader, packet, pcap_split};
use wire::container::Containers;

use crate::dir::{Dir, dir_name};
use crate::sanitize;

/// Pcap files kept open at once, at most.
pub const OPEN_PCAPS: usize = 64;
/// Pcap files made in one run, at most: each is remembered until the end
/// (for the index), and a process controls how many threads and names it
/// has. No user (the owner's uid) may make more than half of them, so one
/// cannot use up everyone's. Packets for more are counted, not written
/// (said once per user).
pub const MAX_PCAPS: usize = 16384;

/// A pcap file: where, what its interface says, and what it holds.
pub struct PcapFile {
    /// Path under `out/pcap`, as directories and a file name.
    pub dirs: Vec<String>,
    pub name: String,
    /// The interface description (the owner's context, JSON).
    description: String,
    pub packets: u64,
    pub size: u64,
    pub container: String,
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    pub ts: u64,
    /// Whether the file was cut short (a write failed).
    pub failed: bool,
}

impl PcapFile {
    pub fn path(&self) -> String {
        let mut p = String::from("pcap/");
        for d in &self.dirs {
            p.push_str(d);
            p.push('/');
        }
        p.push_str(&self.name);
        p
    }
}

type Writer = PcapNgWriter<BufWriter<File>>;

/// The pcaps of one output directory.
#[derive(Default)]
pub struct Pcaps {
    pub files: HashMap<String, PcapFile>,
    open: HashMap<String, (Writer, u64)>,
    clock: u64,
    /// Files that could not be made or written: not tried again.
    refused: std::collections::HashSet<String>,
    /// Packets not written for want of a new file (MAX_PCAPS).
    pub over: u64,
    /// Files made per owner uid.
    per_uid: HashMap<u32, usize>,
    /// Users told their files were refused.
    told: std::collections::HashSet<u32>,
}

/// Who a packet belongs to, as its files are named.
struct Owner {
    /// `host`, `unknown`, or the container's directory name.
    cid: String,
    comm: String,
}

impl Pcaps {
    /// The files packet `h` goes to, made known (not opened) if new, and
    /// the budget each new one needs; `make(cost)` says if it may be made.
    pub fn targets(
        &mut self,
        h: &CaptureHeader,
        containers: &Containers,
        boot_epoch_ns: u64,
    ) -> Vec<(String, bool)> {
        let unknown = h.dev & packet::UNKNOWN != 0;
        let c = containers
            .get(h.cgroup_id)
            .filter(|c| !c.id.is_empty() && !unknown);
        let owner = Owner {
            cid: if unknown {
                "unknown".into()
            } else {
                c.map_or("host".into(), |c| dir_name(&c.id))
            },
            comm: if unknown {
                "unknown".into()
            } else {
                sanitize(&h.comm, 16)
            },
        };
        let mut ctx = serde_json::Map::new();
        ctx.insert("version".into(), "1.0".into());
        if let Some(c) = c {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            ctx.insert(
                "container".into(),
                serde_json::json!({
                    "id": s(&c.id), "name": s(&c.name), "image": s(&c.image),
                    "imageDigest": s(&c.image_digest),
                }),
            );
            if !c.pod_name.is_empty() {
                ctx.insert(
                    "kubernetes".into(),
                    serde_json::json!({
                        "podName": s(&c.pod_name), "podNamespace": s(&c.pod_namespace),
                        "podUID": s(&c.pod_uid),
                    }),
                );
            }
        }
        let start = if h.ino == 0 {
            0
        } else {
            boot_epoch_ns.wrapping_add(h.ino)
        };
        let mut out = Vec::new();
        let split = h.ftype;
        let mut want = |key: String, dirs: Vec<String>, name: String, ctx: serde_json::Value| {
            let new = !self.files.contains_key(&key);
            let mine = self.per_uid.get(&h.uid).copied().unwrap_or(0);
            if new && (self.files.len() >= MAX_PCAPS || mine >= MAX_PCAPS / 2) {
                if self.told.insert(h.uid) {
                    eprintln!(
                        "tracee-capture: uid {} made {mine} pcap files ({} in all; at most {} per user, {MAX_PCAPS} in all): \
                         its packets for more are counted, not written",
                        h.uid,
                        self.files.len(),
                        MAX_PCAPS / 2
                    );
                }
                self.over += 1;
                return;
            }
            if new {
                *self.per_uid.entry(h.uid).or_default() += 1;
            }
            if new {
                self.files.insert(
                    key.clone(),
                    PcapFile {
                        dirs,
                        name,
                        description: ctx.to_string(),
                        packets: 0,
                        size: 0,
                        container: c
                            .map(|c| String::from_utf8_lossy(&c.id).into_owned())
                            .unwrap_or_default(),
                        pid: h.pid,
                        uid: h.uid,
                        comm: owner.comm.clone(),
                        ts: h.ts,
                        failed: false,
                    },
                );
            }
            out.push((key, new));
        };
        if split & pcap_split::SINGLE != 0 {
            want(
                "single".into(),
                vec![],
                "single.pcap".into(),
                serde_json::json!({"version": "1.0"}),
            );
        }
        if split & pcap_split::CONTAINER != 0 {
            want(
                format!("c/{}", owner.cid),
                vec!["containers".into()],
                format!("{}.pcap", owner.cid),
                serde_json::Value::Object(ctx.clone()),
            );
        }
        let mut with_name = ctx.clone();
        with_name.insert("processName".into(), owner.comm.clone().into());
        if split & pcap_split::COMMAND != 0 {
            want(
                format!("m/{}/{}", owner.cid, owner.comm),
                vec!["commands".into(), owner.cid.clone()],
                format!("{}.pcap", owner.comm),
                serde_json::Value::Object(with_name.clone()),
            );
        }
        if split & pcap_split::PROCESS != 0 {
            let mut with_proc = with_name;
            if !unknown {
                with_proc.insert(
                    "process".into(),
                    serde_json::json!({
                        "threadStartTime": start, "hostProcessId": h.pid,
                        "hostThreadId": h.tid, "userId": h.uid, "cgroupId": h.cgroup_id,
                        "mountNamespace": h.mnt_ns,
                    }),
                );
            }
            let name = format!("{}_{}_{}.pcap", owner.comm, h.tid, start);
            want(
                format!("p/{}/{name}", owner.cid),
                vec!["processes".into(), owner.cid.clone()],
                name,
                serde_json::Value::Object(with_proc),
            );
        }
        out
    }

    /// Writes packet `h` (its `payload`) to the file `key`; its size
    /// grows by what it returns (0 if it could not be written).
    pub fn write(
        &mut self,
        out: &Dir,
        key: &str,
        h: &CaptureHeader,
        payload: &[u8],
        epoch_ns: u64,
    ) -> io::Result<u64> {
        if self.refused.contains(key) {
            return Ok(0);
        }
        self.clock += 1;
        if !self.open.contains_key(key) {
            if self.open.len() >= OPEN_PCAPS
                && let Some(old) = self
                    .open
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| k.clone())
            {
                self.close(&old);
            }
            let Some(f) = self.files.get(key) else {
                return Ok(0);
            };
            match open_pcap(out, f) {
                Ok(w) => {
                    self.open.insert(key.to_string(), (w, self.clock));
                }
                Err(e) => {
                    self.refused.insert(key.to_string());
                    if let Some(f) = self.files.get_mut(key) {
                        f.failed = true;
                    }
                    return Err(e);
                }
            }
        }
        let Some((w, t)) = self.open.get_mut(key) else {
            return Ok(0);
        };
        *t = self.clock;
        let mut options = Vec::new();
        if key == "single" {
            options.push(EnhancedPacketOption::Comment(comment(h).into()));
        }
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(epoch_ns),
            original_len: h.off.min(u64::from(u32::MAX)) as u32,
            data: payload.into(),
            options,
        };
        let n = w.write_pcapng_block(block).map_err(io::Error::other)? as u64;
        if let Some(f) = self.files.get_mut(key) {
            f.packets += 1;
            f.size += n;
        }
        Ok(n)
    }

    /// Flushes and closes the file `key`.
    pub fn close(&mut self, key: &str) {
        if let Some((w, _)) = self.open.remove(key) {
            let mut b = w.into_inner();
            if b.flush().is_err()
                && let Some(f) = self.files.get_mut(key)
            {
                f.failed = true;
            }
        }
    }

    /// Closes every file.
    pub fn close_all(&mut self) {
        let keys: Vec<String> = self.open.keys().cloned().collect();
        for k in keys {
            self.close(&k);
        }
    }
}

/// A packet's comment in `single.pcap`: whose it is.
fn comment(h: &CaptureHeader) -> String {
    let dir = if h.dev & packet::INGRESS != 0 {
        "ingress"
    } else {
        "egress"
    };
    if h.dev & packet::UNKNOWN != 0 {
        return format!("owner unknown, {dir}");
    }
    format!(
        "pid {} tid {} comm {} cgroup {}, {dir}",
        h.pid,
        h.tid,
        sanitize(&h.comm, 16),
        h.cgroup_id
    )
}

/// The directory a pcap goes in, made as needed under `out/pcap`.
pub fn pcap_dir(out: &Dir, dirs: &[String]) -> io::Result<Dir> {
    let mut d = out.subdir("pcap")?;
    for name in dirs {
        d = d.subdir(name)?;
    }
    Ok(d)
}

/// Opens `f` to add packets: a new section (header and interface) at its
/// end.
fn open_pcap(out: &Dir, f: &PcapFile) -> io::Result<Writer> {
    let d = pcap_dir(out, &f.dirs)?;
    let mut file = d.file(&f.name, false)?;
    file.seek(io::SeekFrom::End(0))?;
    let mut w =
        PcapNgWriter::new(BufWriter::with_capacity(64 << 10, file)).map_err(io::Error::other)?;
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::RAW,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfName("tracee".into()),
            InterfaceDescriptionOption::IfDescription(f.description.clone().into()),
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    };
    w.write_pcapng_block(idb).map_err(io::Error::other)?;
    Ok(w)
}
