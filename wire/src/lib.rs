//! The tracee-rs stream: the bytes that flow between `tracee-collect`,
//! `tracee-filter` and `tracee-fmt`.
//!
//! A stream is a [preamble](crate::preamble) (magic, version, host facts and
//! the catalog of events) followed by length-prefixed records. The kernel
//! writes event records itself with the `#[repr(C)]` structs below; the tools
//! read them in place through checked views ([`RecordSlice`],
//! [`EventSlice`]) whose getters cannot fail once the length is checked.
//! `wire/FORMAT.md` documents every byte.
//!
//! ```
//! use wire::{kind, EventContext, RecordHeader, RecordSlice, EventSlice};
//! let mut rec = vec![0u8; RecordHeader::LEN + EventContext::LEN];
//! let len = rec.len() as u32;
//! rec[..4].copy_from_slice(&len.to_le_bytes());
//! rec[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
//! let (r, rest) = RecordSlice::from_slice(&rec, 0).unwrap();
//! assert!(rest.is_empty());
//! let ev = EventSlice::from_record(r).unwrap();
//! assert_eq!(ev.pid(), 0);
//! assert_eq!(ev.args().count(), 0);
//! ```
#![no_std]

#[cfg(feature = "user")]
extern crate std;

#[cfg(feature = "user")]
pub mod build;
pub mod capture;
#[cfg(feature = "user")]
pub mod out;
#[cfg(feature = "user")]
pub mod preamble;
#[cfg(feature = "user")]
pub mod reader;
#[cfg(feature = "user")]
pub mod ring;
#[cfg(feature = "user")]
pub mod sigbus;
#[cfg(feature = "user")]
pub mod sparse;
#[cfg(feature = "user")]
pub mod text;

use core::fmt;
use core::mem::{offset_of, size_of};

/// First eight bytes of every stream.
pub const MAGIC: [u8; 8] = *b"TRACEERS";
/// Format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// No record may be longer than this; a longer length prefix means the
/// stream is corrupt, and the reader says so instead of allocating.
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// No preamble may be longer than this: today's catalog takes about 50 KiB,
/// and a reader holds the decoded catalog (about ten times its bytes) in
/// memory, so the bound is what a hostile stream can make it allocate.
pub const MAX_PREAMBLE_LEN: usize = 1 << 20;
/// The preamble's fixed part: magic, version, reserved, total length.
pub const PREAMBLE_FIXED_LEN: usize = 16;

/// Record kinds (the `kind` field of [`RecordHeader`]).
pub mod kind {
    pub const EVENT: u16 = 1;
    pub const LOST: u16 = 2;
    pub const CAPTURE: u16 = 3;
    pub const END: u16 = 4;
}

/// Bits of [`EventContext::flags`].
pub mod ctx_flags {
    /// The syscall was made through the 32-bit compat entry.
    pub const COMPAT: u32 = 1;
    pub const CONTAINER_STARTED: u32 = 2;
    /// Some argument could not be recorded at all (no room left in the
    /// record, or no room to keep it between entry and exit): it is absent
    /// from the record. Arguments cut short carry their own truncated flag.
    pub const ARGS_CUT: u32 = 4;
}

/// Event ids that are not syscalls (syscalls use their x86_64 number).
pub mod event_id {
    pub const SCHED_PROCESS_FORK: u32 = 1002;
    pub const SCHED_PROCESS_EXEC: u32 = 1003;
    pub const SCHED_PROCESS_EXIT: u32 = 1004;
    /// One past the largest event id the kernel side knows.
    pub const MAX: u32 = 1024 + 8;
}

/// Why events were lost (the `reason` of a lost-events record).
/// `wire/FORMAT.md` lists every place that drops data and its reason.
pub mod lost_reason {
    /// The kernel ring buffer was full.
    pub const RING_FULL: u32 = 0;
    /// The in-flight syscall table was full: the entry half was dropped.
    pub const TABLE_FULL: u32 = 1;
    /// The collector's own output could not keep up.
    pub const OUTPUT_FULL: u32 = 2;
    /// The collector got a kernel record it could not frame (a kernel-side
    /// bug, never expected): dropped, since its length cannot be trusted.
    pub const BAD_RECORD: u32 = 3;
    /// Capture payloads only: the sidecar's reader fell behind and the
    /// collector's bounded queue for it was full.
    pub const CAPTURE_QUEUE_FULL: u32 = 4;
    /// A thread died inside an entry-traced syscall (an exec killed by a
    /// sibling's exit_group, say): its exit, and so its event, never came.
    pub const UNFINISHED: u32 = 5;
    /// Every reason (the size of the kernel's per-CPU LOST map, indexed by
    /// reason; the reasons only user space counts stay 0 there).
    pub const COUNT: u32 = 6;

    /// The reason's name as tracee-fmt prints it.
    pub fn name(reason: u32) -> &'static str {
        match reason {
            RING_FULL => "kernel_ring_full",
            TABLE_FULL => "syscall_table_full",
            OUTPUT_FULL => "output_full",
            BAD_RECORD => "bad_kernel_record",
            CAPTURE_QUEUE_FULL => "capture_queue_full",
            UNFINISHED => "unfinished_syscall",
            _ => "unknown",
        }
    }
}

/// Every record starts with this: its total length (header included), its
/// kind, and flags reserved for later versions.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
}

impl RecordHeader {
    pub const LEN: usize = size_of::<Self>();
}
const _: () = assert!(RecordHeader::LEN == 8);

/// The fixed part of an event, written by the kernel right after the header.
/// Times are CLOCK_MONOTONIC nanoseconds; the preamble holds the offset to
/// the epoch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventContext {
    pub ts: u64,
    pub thread_start: u64,
    pub cgroup_id: u64,
    pub mnt_ns: u32,
    pub pid_ns: u32,
    pub event_id: u32,
    /// Native syscall number in progress, or `u32::MAX` outside a syscall.
    pub syscall: u32,
    pub cpu: u32,
    pub flags: u32,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub ns_pid: u32,
    pub ns_tid: u32,
    pub ns_ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub retval: i64,
    pub comm: [u8; 16],
    pub uts: [u8; 16],
}

impl EventContext {
    pub const LEN: usize = size_of::<Self>();
}
const _: () = assert!(EventContext::LEN == 120);

/// Byte offset of the first argument item in an event record.
pub const ARGS_OFFSET: usize = RecordHeader::LEN + EventContext::LEN;

/// Each argument travels as an item: this header, then `len` payload bytes.
/// Items carry their argument index, so the kernel may append them in any
/// order and leave out arguments it could not read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgHeader {
    pub index: u8,
    pub kind: u8,
    pub len: u16,
}

impl ArgHeader {
    pub const LEN: usize = size_of::<Self>();
}
const _: () = assert!(ArgHeader::LEN == 4);

/// Payload kinds of an argument item (low six bits of [`ArgHeader::kind`]).
pub mod item {
    /// Eight bytes, little-endian; the catalog type says how to read them.
    pub const SCALAR: u8 = 1;
    /// String bytes without the terminating NUL.
    pub const STR: u8 = 2;
    /// NUL-terminated strings one after another.
    pub const STR_ARRAY: u8 = 3;
    /// Raw bytes (a `struct sockaddr`, a buffer).
    pub const BYTES: u8 = 4;
    pub const KIND_MASK: u8 = 0x3f;
    /// The payload was cut at its bound.
    pub const TRUNCATED: u8 = 0x80;
    /// The kernel could not read the argument; the payload is empty.
    pub const FAULT: u8 = 0x40;
}

/// Body of a lost-events record: `count` events lost on `cpu` since the
/// previous notice for that cpu and reason.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostBody {
    pub cpu: u32,
    pub reason: u32,
    pub count: u64,
    pub ts: u64,
}
impl LostBody {
    pub const LEN: usize = size_of::<Self>();
}
const _: () = assert!(LostBody::LEN == 24);

/// Body of the end-of-stream record: totals for the whole run.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndBody {
    pub events: u64,
    pub lost: u64,
    pub ts: u64,
}
impl EndBody {
    pub const LEN: usize = size_of::<Self>();
}
const _: () = assert!(EndBody::LEN == 24);

/// Offsets of the context fields inside a whole event record.
pub mod off {
    use super::{EventContext as C, RecordHeader, offset_of};
    const B: usize = RecordHeader::LEN;
    pub const TS: usize = B + offset_of!(C, ts);
    pub const THREAD_START: usize = B + offset_of!(C, thread_start);
    pub const CGROUP_ID: usize = B + offset_of!(C, cgroup_id);
    pub const MNT_NS: usize = B + offset_of!(C, mnt_ns);
    pub const PID_NS: usize = B + offset_of!(C, pid_ns);
    pub const EVENT_ID: usize = B + offset_of!(C, event_id);
    pub const SYSCALL: usize = B + offset_of!(C, syscall);
    pub const CPU: usize = B + offset_of!(C, cpu);
    pub const FLAGS: usize = B + offset_of!(C, flags);
    pub const PID: usize = B + offset_of!(C, pid);
    pub const TID: usize = B + offset_of!(C, tid);
    pub const PPID: usize = B + offset_of!(C, ppid);
    pub const NS_PID: usize = B + offset_of!(C, ns_pid);
    pub const NS_TID: usize = B + offset_of!(C, ns_tid);
    pub const NS_PPID: usize = B + offset_of!(C, ns_ppid);
    pub const UID: usize = B + offset_of!(C, uid);
    pub const GID: usize = B + offset_of!(C, gid);
    pub const RETVAL: usize = B + offset_of!(C, retval);
    pub const COMM: usize = B + offset_of!(C, comm);
    pub const UTS: usize = B + offset_of!(C, uts);
}

/// Not enough bytes for what had to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// What was being read.
    pub what: &'static str,
    pub required_len: usize,
    pub len: usize,
    /// Stream offset of the start of the thing being read.
    pub offset: u64,
}

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Len(LenError),
    BadMagic,
    UnsupportedVersion {
        version: u16,
    },
    RecordTooLong {
        len: usize,
        offset: u64,
    },
    /// The preamble's length field (at byte 12) is below its fixed part
    /// or above [`MAX_PREAMBLE_LEN`].
    BadPreambleLen {
        len: usize,
    },
    RecordTooShort {
        len: usize,
        offset: u64,
    },
    UnknownRecordKind {
        kind: u16,
        offset: u64,
    },
    UnknownArgKind {
        kind: u8,
        offset: u64,
    },
    BadUtf8 {
        what: &'static str,
        offset: u64,
    },
    UnknownArgType {
        ty: u8,
        offset: u64,
    },
    UnknownArtifact {
        artifact: u8,
        offset: u64,
    },
    /// A capture record whose payload length disagrees with its header.
    CaptureLen {
        len: usize,
        offset: u64,
    },
}

impl From<LenError> for DecodeError {
    fn from(e: LenError) -> Self {
        DecodeError::Len(e)
    }
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "truncated {} at byte {}: need {} bytes, have {}",
            self.what, self.offset, self.required_len, self.len
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Len(e) => e.fmt(f),
            DecodeError::BadMagic => f.write_str("not a tracee-rs stream (bad magic at byte 0)"),
            DecodeError::UnsupportedVersion { version } => {
                write!(
                    f,
                    "unsupported stream version {version} (this build reads {VERSION})"
                )
            }
            DecodeError::RecordTooLong { len, offset } => {
                write!(
                    f,
                    "record at byte {offset} claims {len} bytes (max {MAX_RECORD_LEN})"
                )
            }
            DecodeError::BadPreambleLen { len } => {
                write!(
                    f,
                    "preamble length {len} (at byte 12) is out of range: {} to {MAX_PREAMBLE_LEN} bytes",
                    PREAMBLE_FIXED_LEN
                )
            }
            DecodeError::RecordTooShort { len, offset } => {
                write!(
                    f,
                    "record at byte {offset} claims {len} bytes, shorter than its kind allows"
                )
            }
            DecodeError::UnknownRecordKind { kind, offset } => {
                write!(f, "unknown record kind {kind} at byte {offset}")
            }
            DecodeError::UnknownArgKind { kind, offset } => {
                write!(f, "unknown argument kind {kind} at byte {offset}")
            }
            DecodeError::BadUtf8 { what, offset } => {
                write!(f, "{what} at byte {offset} is not UTF-8")
            }
            DecodeError::UnknownArgType { ty, offset } => {
                write!(f, "unknown argument type {ty} at byte {offset}")
            }
            DecodeError::UnknownArtifact { artifact, offset } => {
                write!(f, "unknown artifact kind {artifact} at byte {offset}")
            }
            DecodeError::CaptureLen { len, offset } => write!(
                f,
                "capture record at byte {offset} carries {len} payload bytes, not what its header says"
            ),
        }
    }
}

#[inline]
fn need(what: &'static str, bytes: &[u8], n: usize, offset: u64) -> Result<(), LenError> {
    if bytes.len() < n {
        Err(LenError {
            what,
            required_len: n,
            len: bytes.len(),
            offset,
        })
    } else {
        Ok(())
    }
}

#[inline]
fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
#[inline]
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
#[inline]
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// A checked view of one whole record (header included).
#[derive(Clone, Copy, Debug)]
pub struct RecordSlice<'a> {
    bytes: &'a [u8],
    offset: u64,
}

impl<'a> RecordSlice<'a> {
    /// Splits one record off the front of `bytes`. `offset` is where
    /// `bytes` starts in the stream, for error messages.
    pub fn from_slice(bytes: &'a [u8], offset: u64) -> Result<(Self, &'a [u8]), DecodeError> {
        need("record header", bytes, RecordHeader::LEN, offset)?;
        let len = u32_at(bytes, 0) as usize;
        let kind = u16_at(bytes, 4);
        if len > MAX_RECORD_LEN {
            return Err(DecodeError::RecordTooLong { len, offset });
        }
        let min = min_record_len(kind).ok_or(DecodeError::UnknownRecordKind { kind, offset })?;
        if len < min {
            return Err(DecodeError::RecordTooShort { len, offset });
        }
        need("record", bytes, len, offset)?;
        let (rec, rest) = bytes.split_at(len);
        Ok((RecordSlice { bytes: rec, offset }, rest))
    }

    pub fn kind(&self) -> u16 {
        u16_at(self.bytes, 4)
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[RecordHeader::LEN..]
    }
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// The smallest valid length of a record of `kind`, or None if unknown.
pub fn min_record_len(kind: u16) -> Option<usize> {
    Some(match kind {
        kind::EVENT => ARGS_OFFSET,
        kind::LOST => RecordHeader::LEN + LostBody::LEN,
        kind::END => RecordHeader::LEN + EndBody::LEN,
        kind::CAPTURE => RecordHeader::LEN,
        _ => return None,
    })
}

/// A checked view of an event record; every getter is infallible.
#[derive(Clone, Copy, Debug)]
pub struct EventSlice<'a> {
    b: &'a [u8],
    offset: u64,
}

impl<'a> EventSlice<'a> {
    pub fn from_record(r: RecordSlice<'a>) -> Result<Self, DecodeError> {
        if r.kind() != kind::EVENT {
            return Err(DecodeError::UnknownRecordKind {
                kind: r.kind(),
                offset: r.offset,
            });
        }
        // RecordSlice already checked len >= ARGS_OFFSET for events.
        Ok(EventSlice {
            b: r.bytes,
            offset: r.offset,
        })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.b
    }
    pub fn ts(&self) -> u64 {
        u64_at(self.b, off::TS)
    }
    pub fn thread_start(&self) -> u64 {
        u64_at(self.b, off::THREAD_START)
    }
    pub fn cgroup_id(&self) -> u64 {
        u64_at(self.b, off::CGROUP_ID)
    }
    pub fn mnt_ns(&self) -> u32 {
        u32_at(self.b, off::MNT_NS)
    }
    pub fn pid_ns(&self) -> u32 {
        u32_at(self.b, off::PID_NS)
    }
    pub fn event_id(&self) -> u32 {
        u32_at(self.b, off::EVENT_ID)
    }
    pub fn syscall(&self) -> u32 {
        u32_at(self.b, off::SYSCALL)
    }
    pub fn cpu(&self) -> u32 {
        u32_at(self.b, off::CPU)
    }
    pub fn flags(&self) -> u32 {
        u32_at(self.b, off::FLAGS)
    }
    pub fn pid(&self) -> u32 {
        u32_at(self.b, off::PID)
    }
    pub fn tid(&self) -> u32 {
        u32_at(self.b, off::TID)
    }
    pub fn ppid(&self) -> u32 {
        u32_at(self.b, off::PPID)
    }
    pub fn ns_pid(&self) -> u32 {
        u32_at(self.b, off::NS_PID)
    }
    pub fn ns_tid(&self) -> u32 {
        u32_at(self.b, off::NS_TID)
    }
    pub fn ns_ppid(&self) -> u32 {
        u32_at(self.b, off::NS_PPID)
    }
    pub fn uid(&self) -> u32 {
        u32_at(self.b, off::UID)
    }
    pub fn gid(&self) -> u32 {
        u32_at(self.b, off::GID)
    }
    pub fn retval(&self) -> i64 {
        u64_at(self.b, off::RETVAL) as i64
    }
    /// The comm bytes up to the first NUL.
    pub fn comm(&self) -> &'a [u8] {
        cstr(&self.b[off::COMM..off::COMM + 16])
    }
    pub fn uts(&self) -> &'a [u8] {
        cstr(&self.b[off::UTS..off::UTS + 16])
    }
    pub fn is_compat(&self) -> bool {
        self.flags() & ctx_flags::COMPAT != 0
    }
    pub fn args(&self) -> ArgIter<'a> {
        ArgIter {
            b: &self.b[ARGS_OFFSET..],
            offset: self.offset + ARGS_OFFSET as u64,
        }
    }
    /// The item for argument `index`, if the kernel sent one.
    pub fn arg(&self, index: u8) -> Option<ArgItem<'a>> {
        self.args()
            .filter_map(Result::ok)
            .find(|a| a.index == index)
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// One argument item of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgItem<'a> {
    pub index: u8,
    /// One of the [`item`] kinds, flags stripped.
    pub kind: u8,
    pub truncated: bool,
    pub fault: bool,
    pub data: &'a [u8],
}

impl<'a> ArgItem<'a> {
    /// The scalar value; zero for a non-scalar item.
    pub fn scalar(&self) -> u64 {
        if self.kind == item::SCALAR && self.data.len() == 8 {
            u64_at(self.data, 0)
        } else {
            0
        }
    }
    /// The elements of a string array: each is terminated by a NUL (the
    /// last one's may be missing when the array was cut), so `""` is no
    /// element and `"\0"` is one empty element.
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let d = self.data;
        let body = d.strip_suffix(&[0]).unwrap_or(d);
        (!d.is_empty())
            .then(|| body.split(|&c| c == 0))
            .into_iter()
            .flatten()
    }
}

/// Iterates the argument items of an event; a malformed item ends the
/// iteration with an error.
#[derive(Clone, Debug)]
pub struct ArgIter<'a> {
    b: &'a [u8],
    offset: u64,
}

impl<'a> Iterator for ArgIter<'a> {
    type Item = Result<ArgItem<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.b.is_empty() {
            return None;
        }
        let r = self.next_item();
        if r.is_err() {
            self.b = &[];
        }
        Some(r)
    }
}

impl<'a> ArgIter<'a> {
    fn next_item(&mut self) -> Result<ArgItem<'a>, DecodeError> {
        need("argument header", self.b, ArgHeader::LEN, self.offset)?;
        let index = self.b[0];
        let raw = self.b[1];
        let len = u16_at(self.b, 2) as usize;
        let kind = raw & item::KIND_MASK;
        if !(item::SCALAR..=item::BYTES).contains(&kind) || (kind == item::SCALAR && len != 8) {
            return Err(DecodeError::UnknownArgKind {
                kind: raw,
                offset: self.offset,
            });
        }
        need("argument", self.b, ArgHeader::LEN + len, self.offset)?;
        let data = &self.b[ArgHeader::LEN..ArgHeader::LEN + len];
        self.b = &self.b[ArgHeader::LEN + len..];
        self.offset += (ArgHeader::LEN + len) as u64;
        Ok(ArgItem {
            index,
            kind,
            truncated: raw & item::TRUNCATED != 0,
            fault: raw & item::FAULT != 0,
            data,
        })
    }
}

impl LostBody {
    pub fn from_record(r: RecordSlice<'_>) -> LostBody {
        let b = r.body();
        LostBody {
            cpu: u32_at(b, 0),
            reason: u32_at(b, 4),
            count: u64_at(b, 8),
            ts: u64_at(b, 16),
        }
    }
    /// The whole record, header included.
    pub fn to_record(&self) -> [u8; RecordHeader::LEN + LostBody::LEN] {
        let mut out = [0u8; RecordHeader::LEN + LostBody::LEN];
        put_header(&mut out, kind::LOST);
        out[8..12].copy_from_slice(&self.cpu.to_le_bytes());
        out[12..16].copy_from_slice(&self.reason.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..32].copy_from_slice(&self.ts.to_le_bytes());
        out
    }
}

impl EndBody {
    pub fn from_record(r: RecordSlice<'_>) -> EndBody {
        let b = r.body();
        EndBody {
            events: u64_at(b, 0),
            lost: u64_at(b, 8),
            ts: u64_at(b, 16),
        }
    }
    pub fn to_record(&self) -> [u8; RecordHeader::LEN + EndBody::LEN] {
        let mut out = [0u8; RecordHeader::LEN + EndBody::LEN];
        put_header(&mut out, kind::END);
        out[8..16].copy_from_slice(&self.events.to_le_bytes());
        out[16..24].copy_from_slice(&self.lost.to_le_bytes());
        out[24..32].copy_from_slice(&self.ts.to_le_bytes());
        out
    }
}

fn put_header(out: &mut [u8], kind: u16) {
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..6].copy_from_slice(&kind.to_le_bytes());
}

/// The contract between tracee-collect and the eBPF programs: map value
/// layouts, global names and the meaning of their values.
pub mod kcfg {
    /// What the kernel does with a syscall argument.
    pub mod arg {
        /// Sent as its raw 64-bit register value.
        pub const SCALAR: u8 = 0;
        /// A user string (read at exit, or at entry for the syscalls with
        /// [`flags::ENTRY`]).
        pub const STR: u8 = 1;
        /// A NULL-terminated array of user strings (argv); only execve and
        /// execveat have one, read at entry.
        pub const STR_ARRAY: u8 = 2;
        /// A `struct sockaddr *` whose length is the next argument.
        pub const SOCKADDR_IN: u8 = 3;
        /// A `struct sockaddr *` filled by the kernel, whose length is behind
        /// the pointer in the next argument; read at exit.
        pub const SOCKADDR_OUT: u8 = 4;
    }

    /// Bits of [`EventCfg::flags`].
    pub mod flags {
        /// Emitted at entry: the call never returns (exit, exit_group) or
        /// its exit is not its own (rt_sigreturn).
        pub const AT_ENTRY: u8 = 1;
        /// Some argument is a pointer whose memory is read.
        pub const HAS_BLOB: u8 = 2;
        /// Some argument is read at exit.
        pub const HAS_OUT: u8 = 4;
        /// The `syscall_entry` program runs at this syscall's entry (its
        /// `syscalls/sys_enter_*` tracepoint) and keeps the arguments for
        /// sys_exit, or emits the event there with [`AT_ENTRY`]: execve and
        /// execveat, whose memory and registers a new image replaces.
        /// Without it only sys_exit runs, reading the arguments from the
        /// registers, which these syscalls leave as they were.
        pub const ENTRY: u8 = 8;
    }

    /// Per-event configuration, indexed by event id.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct EventCfg {
        pub enabled: u8,
        pub nargs: u8,
        pub flags: u8,
        pub _pad: u8,
        pub kinds: [u8; 6],
        pub _pad2: [u8; 6],
    }
    const _: () = assert!(core::mem::size_of::<EventCfg>() == 16);

    impl EventCfg {
        /// The map value bytes, for loaders that cannot name this type.
        pub fn to_bytes(&self) -> [u8; 16] {
            let mut b = [0u8; 16];
            b[0] = self.enabled;
            b[1] = self.nargs;
            b[2] = self.flags;
            b[4..10].copy_from_slice(&self.kinds);
            b
        }
    }

    /// Entries of the CFG array map (event ids below this).
    pub const CFG_ENTRIES: u32 = 2048;

    /// Which files' contents are captured: index 0 of the CAP_FILTER map
    /// for writes, 1 for reads. Filter kinds AND; values of one kind OR;
    /// a kind with no values passes everything.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct CapFilter {
        /// Bits `1 << capture::ftype::*`, and [`CAP_TYPE_ELF`].
        pub types: u32,
        /// Bits `1 << fd` for stdin, stdout, stderr.
        pub fds: u32,
        pub npaths: u32,
        pub path_len: [u32; 3],
        /// Path prefixes (a trailing `*` already removed).
        pub paths: [[u8; CAP_PATH_CAP]; 3],
    }
    /// The `elf` type: a regular file whose first bytes are ELF's magic.
    pub const CAP_TYPE_ELF: u32 = 1 << 8;
    /// Longest path prefix, as Tracee allows it.
    pub const CAP_PATH_MAX: usize = 50;
    pub const CAP_PATH_CAP: usize = 64;
    impl Default for CapFilter {
        fn default() -> Self {
            CapFilter {
                types: 0,
                fds: 0,
                npaths: 0,
                path_len: [0; 3],
                paths: [[0; CAP_PATH_CAP]; 3],
            }
        }
    }
    const _: () = assert!(core::mem::size_of::<CapFilter>() == 24 + 3 * CAP_PATH_CAP);
    /// Entries of the compat-number translation map.
    pub const COMPAT_ENTRIES: u32 = 512;
    /// Bytes of arguments read at entry per thread.
    pub const BLOB_CAP: usize = 4096;
    /// Longest user string read (bytes, NUL included).
    pub const STR_MAX: usize = 1024;
    /// Most argv elements read.
    pub const ARGV_MAX: usize = 32;
    /// Longest sockaddr read.
    pub const SOCKADDR_MAX: usize = 128;

    /// Bits of the SCOPE and SCOPE_NOT globals: which pushed-down filters
    /// are active, and which of them exclude rather than include.
    pub mod scope {
        pub const COMM: u32 = 1;
        pub const PID: u32 = 2;
        pub const TID: u32 = 4;
        pub const UID: u32 = 8;
        pub const MNTNS: u32 = 16;
        pub const PIDNS: u32 = 32;
        pub const CGROUP: u32 = 64;
    }

    /// Indices into the OFFSETS global: kernel struct member offsets that
    /// tracee-collect reads from the running kernel's BTF.
    pub mod off {
        pub const TASK_REAL_PARENT: usize = 0;
        pub const TASK_GROUP_LEADER: usize = 1;
        pub const TASK_TGID: usize = 2;
        pub const TASK_PID: usize = 3;
        pub const TASK_START_TIME: usize = 4;
        pub const TASK_NSPROXY: usize = 5;
        pub const TASK_THREAD_PID: usize = 6;
        pub const TASK_EXIT_CODE: usize = 7;
        pub const TASK_TI_STATUS: usize = 8;
        pub const TASK_MM: usize = 9;
        pub const NSPROXY_MNT_NS: usize = 10;
        pub const NSPROXY_UTS_NS: usize = 11;
        pub const MNT_NS_INUM: usize = 12;
        pub const PID_NS_INUM: usize = 13;
        pub const UTS_NODENAME: usize = 14;
        pub const PID_LEVEL: usize = 15;
        pub const PID_NUMBERS: usize = 16;
        pub const UPID_SIZE: usize = 17;
        pub const UPID_NR: usize = 18;
        pub const UPID_NS: usize = 19;
        pub const BPRM_FILE: usize = 20;
        pub const BPRM_FILENAME: usize = 21;
        pub const BPRM_INTERP: usize = 22;
        pub const FILE_F_PATH: usize = 23;
        pub const FILE_F_INODE: usize = 24;
        pub const PATH_MNT: usize = 25;
        pub const PATH_DENTRY: usize = 26;
        pub const INODE_I_MODE: usize = 27;
        pub const INODE_I_INO: usize = 28;
        pub const INODE_I_SB: usize = 29;
        pub const SB_S_DEV: usize = 30;
        pub const INODE_CTIME_SEC: usize = 31;
        pub const INODE_CTIME_NSEC: usize = 32;
        pub const DENTRY_D_NAME: usize = 33;
        pub const DENTRY_D_PARENT: usize = 34;
        pub const QSTR_LEN: usize = 35;
        pub const QSTR_NAME: usize = 36;
        pub const MOUNT_MNT: usize = 37;
        pub const MOUNT_PARENT: usize = 38;
        pub const MOUNT_MOUNTPOINT: usize = 39;
        pub const VFSMOUNT_MNT_ROOT: usize = 40;
        pub const MM_ARG_START: usize = 41;
        pub const MM_ARG_END: usize = 42;
        pub const TASK_FILES: usize = 43;
        pub const FILES_FDT: usize = 44;
        pub const FDT_FD: usize = 45;
        pub const FDT_MAX_FDS: usize = 46;
        pub const FILE_F_POS: usize = 47;
        pub const TASK_FLAGS: usize = 48;
        pub const TASK_COMM: usize = 49;
        pub const TASK_CRED: usize = 50;
        pub const CRED_UID: usize = 51;
        pub const CRED_GID: usize = 52;
        pub const TASK_CGROUPS: usize = 53;
        pub const CSS_SET_DFL_CGRP: usize = 54;
        pub const CGROUP_KN: usize = 55;
        pub const KERNFS_NODE_ID: usize = 56;
        pub const FILE_F_FLAGS: usize = 57;
        pub const INODE_I_SIZE: usize = 58;
        pub const CRED_CAP_EFFECTIVE: usize = 59;
        pub const COUNT: usize = 60;
    }
}

#[cfg(test)]
mod tests;
