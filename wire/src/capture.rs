//! Capture records: the payload sidecar.
//!
//! tracee-collect writes artifact bytes (written and read file contents,
//! executables, memory regions, kernel modules, BPF programs) on a file
//! descriptor of its own, separate from the event stream, as a stream with
//! the same preamble and framing as the event stream, whose records are of
//! kind [`kind::CAPTURE`](crate::kind::CAPTURE) (plus lost and end records).
//! A capture record is a [`RecordHeader`](crate::RecordHeader), a [`CaptureHeader`], then
//! `len` payload bytes (none when the chunk is marked [`flags::LOST`]).
//!
//! Chunks of one artifact share its identity: `(artifact, dev, ino)` for
//! file contents (Tracee's `write.dev-D.inode-I`), and `(artifact, tid, ts)`
//! for whole objects (executables, regions, modules, programs), whose last
//! chunk carries [`flags::LAST`].

use core::mem::size_of;

use crate::bytes::{u32_at, u64_at};
use crate::{DecodeError, LenError, RecordSlice, kind};

/// What an artifact is.
pub mod artifact {
    pub const WRITE: u8 = 1;
    pub const READ: u8 = 2;
    pub const EXEC: u8 = 3;
    pub const MEM: u8 = 4;
    pub const MODULE: u8 = 5;
    pub const BPF: u8 = 6;
    /// A network packet, whole in one record (see [`PacketFlags`]).
    pub const PACKET: u8 = 7;
    pub const MAX: u8 = 7;
}

/// File types, as the capture filters name them.
pub mod ftype {
    pub const OTHER: u8 = 0;
    pub const REGULAR: u8 = 1;
    pub const PIPE: u8 = 2;
    pub const SOCKET: u8 = 3;
}

/// Bits of [`CaptureHeader::flags`].
pub mod flags {
    /// No payload: `len` bytes at `off` were lost in the kernel (ring full,
    /// unreadable memory, or more than one call may carry).
    pub const LOST: u16 = 1;
    /// The last chunk of a whole object.
    pub const LAST: u16 = 2;
    /// The payload is appended in order (pipes, sockets), not placed at
    /// `off`.
    pub const APPEND: u16 = 4;
    /// From the kernel only: the payload is the path of a file whose
    /// content is the artifact (dev and ino name it); tracee-collect reads
    /// the file and sends its content instead.
    pub const REF: u16 = 8;
    /// The object was read by its path, its process being gone: a file
    /// rewritten in place within the clock tick of the exec keeps its dev,
    /// inode and ctime, so what was read cannot be proven to be what ran.
    pub const BY_PATH: u16 = 16;
}

/// The fixed part of a capture record, after the record header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureHeader {
    /// CLOCK_MONOTONIC ns of the event that produced the bytes.
    pub ts: u64,
    pub ino: u64,
    /// Where the payload goes in the artifact.
    pub off: u64,
    pub pid: u32,
    pub tid: u32,
    /// The kernel's dev_t of the file (as Tracee prints it).
    pub dev: u32,
    pub mnt_ns: u32,
    pub artifact: u8,
    pub ftype: u8,
    pub flags: u16,
    /// Payload bytes that follow, or bytes lost when [`flags::LOST`].
    pub len: u32,
    pub comm: [u8; 16],
    /// The BPF program's name; the executable's base name.
    pub name: [u8; 16],
    /// Who made the artifact (the process's uid and gid): what capture
    /// budgets are counted against, so one user cannot spend everyone's.
    pub uid: u32,
    pub gid: u32,
    /// The cgroup (v2) of the process: its container, if a container
    /// record names the cgroup.
    pub cgroup_id: u64,
}

impl CaptureHeader {
    pub const LEN: usize = size_of::<Self>();

    /// A header for an artifact of kind `art` made by event `ev`: its
    /// time, and who made it (pid, tid, mount namespace, comm, uid, gid,
    /// cgroup); the rest is the caller's to fill.
    pub fn of_event(ev: &crate::EventSlice<'_>, art: u8) -> CaptureHeader {
        let mut h = CaptureHeader {
            ts: ev.ts(),
            pid: ev.pid(),
            tid: ev.tid(),
            mnt_ns: ev.mnt_ns(),
            artifact: art,
            uid: ev.uid(),
            gid: ev.gid(),
            cgroup_id: ev.cgroup_id(),
            ..Default::default()
        };
        let comm = ev.comm();
        h.comm[..comm.len()].copy_from_slice(comm);
        h
    }
}
const _: () = assert!(CaptureHeader::LEN == 96);

/// Largest payload of one capture record.
pub const MAX_CHUNK: usize = 16 * 1024;
/// Largest payload of a packet record: a packet is never split.
pub const MAX_PACKET: usize = 65535;

/// A packet record ([`artifact::PACKET`], made by tracee-collect from the
/// kernel's `net_packet_base`) uses the header's fields so:
/// `ts` when the packet was seen, `pid`/`tid`/`comm`/`uid`/`gid`/
/// `cgroup_id`/`mnt_ns` its owner's (all 0 when unknown), `ino` the
/// owner thread's start time (CLOCK_MONOTONIC ns, for its file's name),
/// `off` the packet's length on the wire, of which the first `len` bytes
/// follow (an IPv4 or IPv6 packet, no link header), cut to the snap length
/// with its length fields rewritten to what was kept; `dev` holds these
/// bits; `ftype` holds the [`pcap_split`] bits: which pcaps it goes to.
pub mod packet {
    /// Received (else sent).
    pub const INGRESS: u32 = 1;
    /// The owner is unknown.
    pub const UNKNOWN: u32 = 2;
    /// The owner's container started (`ctx_flags::CONTAINER_STARTED`).
    pub const CONTAINER_STARTED: u32 = 4;
}

/// Which pcap files a packet goes to (Tracee's `pcap:` split).
pub mod pcap_split {
    /// `single.pcap`: every packet.
    pub const SINGLE: u8 = 1;
    /// `processes/<container|host>/<comm>_<tid>_<start>.pcap`.
    pub const PROCESS: u8 = 2;
    /// `containers/<container|host>.pcap`.
    pub const CONTAINER: u8 = 4;
    /// `commands/<container|host>/<comm>.pcap`.
    pub const COMMAND: u8 = 8;
}

impl CaptureHeader {
    /// The header and payload of a capture record, checked.
    pub fn from_record(r: RecordSlice<'_>) -> Result<(CaptureHeader, &[u8]), DecodeError> {
        if r.kind() != kind::CAPTURE {
            return Err(DecodeError::UnknownRecordKind {
                kind: r.kind(),
                offset: r.offset(),
            });
        }
        let b = r.body();
        if b.len() < Self::LEN {
            return Err(LenError {
                what: "capture header",
                required_len: Self::LEN,
                len: b.len(),
                offset: r.offset(),
            }
            .into());
        }
        let mut comm = [0u8; 16];
        comm.copy_from_slice(&b[48..64]);
        let mut name = [0u8; 16];
        name.copy_from_slice(&b[64..80]);
        let h = CaptureHeader {
            ts: u64_at(b, 0),
            ino: u64_at(b, 8),
            off: u64_at(b, 16),
            pid: u32_at(b, 24),
            tid: u32_at(b, 28),
            dev: u32_at(b, 32),
            mnt_ns: u32_at(b, 36),
            artifact: b[40],
            ftype: b[41],
            flags: u16::from_le_bytes([b[42], b[43]]),
            len: u32_at(b, 44),
            comm,
            name,
            uid: u32_at(b, 80),
            gid: u32_at(b, 84),
            cgroup_id: u64_at(b, 88),
        };
        if h.artifact == 0 || h.artifact > artifact::MAX {
            return Err(DecodeError::UnknownArtifact {
                artifact: h.artifact,
                offset: r.offset(),
            });
        }
        let payload = &b[Self::LEN..];
        let max = if h.artifact == artifact::PACKET {
            MAX_PACKET
        } else {
            MAX_CHUNK
        };
        if h.len as usize > max && h.flags & flags::LOST == 0 {
            return Err(DecodeError::CaptureLen {
                len: payload.len(),
                offset: r.offset(),
            });
        }
        let want = if h.flags & flags::LOST != 0 {
            0
        } else {
            h.len as usize
        };
        if payload.len() != want {
            return Err(DecodeError::CaptureLen {
                len: payload.len(),
                offset: r.offset(),
            });
        }
        Ok((h, payload))
    }

    /// Appends a whole capture record (header, this, payload) to `out`.
    #[cfg(feature = "user")]
    pub fn write_record(&self, payload: &[u8], out: &mut std::vec::Vec<u8>) {
        let len = crate::RecordHeader::LEN + Self::LEN + payload.len();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&kind::CAPTURE.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.tid.to_le_bytes());
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.mnt_ns.to_le_bytes());
        out.push(self.artifact);
        out.push(self.ftype);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.comm);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.gid.to_le_bytes());
        out.extend_from_slice(&self.cgroup_id.to_le_bytes());
        out.extend_from_slice(payload);
    }
}
