//! The record layout: the stream's constants, record kinds, and the
//! `#[repr(C)]` structs the kernel writes in place.

use core::mem::{offset_of, size_of};

/// First eight bytes of every stream.
pub const MAGIC: [u8; 8] = *b"TRACEERS";
/// Format version this crate writes and reads.
pub const VERSION: u16 = 2;
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
    /// A container (`wire::container`), written by tracee-collect before
    /// the first event from it, and again when more is known.
    pub const CONTAINER: u16 = 5;
    /// A process's executable (`wire::process`), written by tracee-collect.
    pub const PROCESS: u16 = 6;
}

/// Bits of [`EventContext::flags`].
pub mod ctx_flags {
    /// The syscall was made through the 32-bit compat entry.
    pub const COMPAT: u32 = 1;
    /// The task's cgroup is a container's that has started: a process in
    /// it exec'd in a mount namespace other than its parent's, or the
    /// container was running when tracing began (Tracee's rule). A reader
    /// shows it only for a cgroup a container record names.
    pub const CONTAINER_STARTED: u32 = 2;
    /// Some argument could not be recorded at all (no room left in the
    /// record, or no room to keep it between entry and exit): it is absent
    /// from the record. Arguments cut short carry their own truncated flag.
    pub const ARGS_CUT: u32 = 4;
    /// A packet's event (`net_*`): the packet's socket had no known
    /// owner (a kernel socket's, or one not used since tracing began);
    /// the context's ids and names are empty.
    pub const OWNER_UNKNOWN: u32 = 8;
}

/// Event ids that are not syscalls (syscalls use their x86_64 number).
pub mod event_id {
    pub const SCHED_PROCESS_FORK: u32 = 1002;
    pub const SCHED_PROCESS_EXEC: u32 = 1003;
    pub const SCHED_PROCESS_EXIT: u32 = 1004;
    pub const CGROUP_MKDIR: u32 = 1005;
    pub const CGROUP_RMDIR: u32 = 1006;
    // Security events, with Tracee v0.24's ids (its 700 range).
    pub const CAP_CAPABLE: u32 = 719;
    pub const MEM_PROT_ALERT: u32 = 724;
    pub const MAGIC_WRITE: u32 = 727;
    pub const SECURITY_BPRM_CHECK: u32 = 731;
    pub const SECURITY_FILE_OPEN: u32 = 732;
    pub const SECURITY_INODE_UNLINK: u32 = 733;
    pub const SECURITY_SOCKET_LISTEN: u32 = 735;
    pub const SECURITY_SOCKET_CONNECT: u32 = 736;
    pub const SECURITY_SOCKET_ACCEPT: u32 = 737;
    pub const SECURITY_SOCKET_BIND: u32 = 738;
    pub const SECURITY_SB_MOUNT: u32 = 740;
    pub const SECURITY_INODE_MKNOD: u32 = 744;
    pub const SECURITY_INODE_SYMLINK: u32 = 746;
    pub const SECURITY_INODE_RENAME: u32 = 768;
    pub const BPF_ATTACH: u32 = 770;
    pub const SECURITY_BPF_PROG: u32 = 778;
    pub const SECURITY_SB_UMOUNT: u32 = 792;
    /// A packet from the cgroup_skb programs (Tracee's internal
    /// `net_packet_base`): consumed by tracee-collect, which derives the
    /// `net_*` events and the pcaps from it. Never in a stream.
    pub const NET_PACKET_BASE: u32 = 700;
    // Derived from packets by tracee-collect (Tracee's ids).
    pub const NET_PACKET_IPV4: u32 = 2000;
    pub const NET_PACKET_IPV6: u32 = 2001;
    pub const NET_PACKET_TCP: u32 = 2002;
    pub const NET_PACKET_UDP: u32 = 2003;
    pub const NET_PACKET_ICMP: u32 = 2004;
    pub const NET_PACKET_ICMPV6: u32 = 2005;
    pub const NET_PACKET_DNS: u32 = 2006;
    pub const NET_PACKET_DNS_REQUEST: u32 = 2007;
    pub const NET_PACKET_DNS_RESPONSE: u32 = 2008;
    pub const NET_PACKET_HTTP: u32 = 2009;
    pub const NET_PACKET_HTTP_REQUEST: u32 = 2010;
    pub const NET_PACKET_HTTP_RESPONSE: u32 = 2011;
    pub const NET_FLOW_TCP_BEGIN: u32 = 2013;
    pub const NET_FLOW_TCP_END: u32 = 2014;
    pub const NET_TCP_CONNECT: u32 = 2016;
    /// Derived by tracee-collect from `cgroup_mkdir` and the runtime
    /// (Tracee's id).
    pub const CONTAINER_CREATE: u32 = 2018;
    /// Derived by tracee-collect from `cgroup_rmdir` (Tracee's id).
    pub const CONTAINER_REMOVE: u32 = 2019;
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
    /// A packet the kernel did not send because the ring was half full
    /// already: packets (which any process can make in bulk) never take
    /// the room the other events need. Also a packet program interrupted
    /// twice on one CPU (no scratch slot left).
    pub const PACKETS_SHED: u32 = 6;
    /// Every reason (the size of the kernel's per-CPU LOST map, indexed by
    /// reason; the reasons only user space counts stay 0 there).
    pub const COUNT: u32 = 7;

    /// The reason's name as tracee-fmt prints it.
    pub fn name(reason: u32) -> &'static str {
        match reason {
            RING_FULL => "kernel_ring_full",
            TABLE_FULL => "syscall_table_full",
            OUTPUT_FULL => "output_full",
            BAD_RECORD => "bad_kernel_record",
            CAPTURE_QUEUE_FULL => "capture_queue_full",
            UNFINISHED => "unfinished_syscall",
            PACKETS_SHED => "packets_shed",
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
    /// The start of the thread's process (its group leader).
    pub leader_start: u64,
    /// The start of the parent process (the real parent's group leader).
    pub parent_start: u64,
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

    /// Its bytes, as the record carries them.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        // SAFETY: EventContext is repr(C) plain data with no padding (its
        // fields add up to LEN, asserted below), so all LEN bytes are
        // initialised, and [u8; LEN] has alignment 1.
        unsafe { &*(self as *const EventContext).cast::<[u8; Self::LEN]>() }
    }
}
const _: () = assert!(EventContext::LEN == 136);
const _: () = assert!(
    5 * 8 + 14 * 4 + 8 + 2 * 16 == EventContext::LEN,
    "EventContext has padding"
);

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

/// The smallest container record (`wire::container`): header, 24 fixed
/// bytes, eight empty strings.
pub const CONTAINER_MIN_LEN: usize = RecordHeader::LEN + 24 + 2 * 8;

/// The smallest process record (`wire::process`): header, 16 fixed bytes,
/// an empty path.
pub const PROCESS_MIN_LEN: usize = RecordHeader::LEN + 16 + 2;

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
    pub const LEADER_START: usize = B + offset_of!(C, leader_start);
    pub const PARENT_START: usize = B + offset_of!(C, parent_start);
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
