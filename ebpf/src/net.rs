//! Packets: every IPv4 and IPv6 packet of every process, from the
//! `cgroup_skb` programs on the cgroup v2 root, sent as `net_packet_base`
//! records (the owner's context, the direction, the length and the first
//! bytes) for tracee-collect to derive the `net_*` events and the pcaps
//! from.
//!
//! Whose a packet is: the task that owns its socket. The owner is kept in
//! socket-local storage ([`SOCK_OWNER`]), written in process context, where
//! the current task is the owner:
//! - at the socket's creation (`cgroup/sock_create`, every inet socket);
//! - at every send and receive (`sock:sock_send_length`,
//!   `sock:sock_recv_length`), so a socket passed to or inherited by
//!   another process follows its user, and one created before tracing
//!   began gets an owner at its first use;
//! - an accepted connection's socket is a clone of its listener's, and the
//!   storage is cloned with it (`BPF_F_CLONE`): the listener's owner until
//!   the acceptor uses it.
//!
//! A packet whose socket has no owner yet (before its first use, or a
//! kernel socket's: ICMP replies, resets) goes out with an empty context
//! flagged `OWNER_UNKNOWN`. Nothing is dropped here but what the scope
//! leaves out; the cgroup_skb programs always let the packet through.

use core::ptr::null_mut;

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{
        bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_sk_fullsock, bpf_sk_storage_get,
        bpf_skb_load_bytes,
    },
    macros::map,
    maps::{Array, PerCpuArray},
    programs::SkBuffContext,
};
use wire::{
    ARGS_OFFSET, ArgHeader, EventContext, RecordHeader, ctx_flags, event_id, item,
    kcfg::{member, net},
    kind, lost_reason,
};

use crate::args::{forget, put_header};
use crate::context::{ctx_of, fill_context, ids};
use crate::kread::ld;
use crate::maps::{RING, count_lost, global_u32, global_u64, offset};
use crate::output::{BPF_RB_AVAIL_DATA, BPF_RB_NO_WAKEUP};
use crate::scope::{is_self, scope_ok};

/// What the socket storage holds: a record header's room, then the
/// owner's context, so that [`fill_context`] writes it in place.
#[repr(C)]
pub(crate) struct Owner {
    words: [u64; (RecordHeader::LEN + EventContext::LEN) / 8],
}

/// A BTF-defined map (libbpf's `.maps` layout, which aya reads): the
/// kernel creates socket storage only with BTF for its key and value,
/// which the legacy `maps` section cannot carry. The pointers are never
/// set; their types are the definition.
#[repr(C)]
pub(crate) struct SkStorageDef {
    r#type: *const [i32; 24],     // BPF_MAP_TYPE_SK_STORAGE
    map_flags: *const [i32; 513], // BPF_F_NO_PREALLOC | BPF_F_CLONE
    key: *const i32,
    value: *const Owner,
}
// SAFETY: never read or written by the program; only its address is used.
unsafe impl Sync for SkStorageDef {}

#[unsafe(link_section = ".maps")]
#[unsafe(no_mangle)]
pub(crate) static SOCK_OWNER: SkStorageDef = SkStorageDef {
    r#type: core::ptr::null(),
    map_flags: core::ptr::null(),
    key: core::ptr::null(),
    value: core::ptr::null(),
};

/// The most packet bytes a record carries (an item's length is 16 bits).
pub(crate) const PKT_MAX: usize = 65535;
/// Where a packet record's items go: direction, length, then the bytes
/// (whose item header is at POS_BYTES, the bytes at POS_DATA).
const POS_FLAGS: usize = ARGS_OFFSET;
const POS_LEN: usize = POS_FLAGS + ArgHeader::LEN + 8;
const POS_BYTES: usize = POS_LEN + ArgHeader::LEN + 8;
const POS_DATA: usize = POS_BYTES + ArgHeader::LEN;
pub(crate) const NET_CAP: usize = (POS_DATA + PKT_MAX + 1 + 7) & !7;

/// Packet records are built here: two slots per CPU, one for a program
/// run in process context and one for a softirq that interrupts it (an
/// egress run is not protected from the receive softirq). The loader sets
/// the entries to twice the CPUs. Per-CPU maps cannot hold 64 KiB.
#[map]
pub(crate) static NET_SCRATCH: Array<[u8; NET_CAP]> = Array::with_max_entries(2, 0);
/// How deep this CPU is in packet programs (the slot in use).
#[map]
static NET_NEST: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Bytes to copy of every packet (the loader's: the pcap snap length or
/// what the selected events parse).
#[unsafe(no_mangle)]
pub(crate) static NET_SNAP: u32 = 0;
/// `kcfg::net` bits.
#[unsafe(no_mangle)]
pub(crate) static NET_FLAGS: u32 = 0;
/// Half the event ring's size: past this much unread data, packets are
/// shed (counted), so that a flood of them cannot crowd out other events.
#[unsafe(no_mangle)]
pub(crate) static NET_RING_HALF: u64 = 0;

const F_CREATE: u64 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// The owner storage of `sk` (NULL if it has none and `flags` is not
/// F_CREATE, or if it cannot be made).
///
/// # Safety
/// `sk` must be a socket pointer the calling program type may pass to
/// `bpf_sk_storage_get`.
#[inline(always)]
unsafe fn storage(sk: *mut c_void, flags: u64) -> *mut u8 {
    // SAFETY: the caller's promise; the map is SOCK_OWNER's definition.
    unsafe {
        bpf_sk_storage_get(
            (&raw const SOCK_OWNER).cast_mut().cast(),
            sk,
            null_mut(),
            flags,
        )
    }
    .cast()
}

/// Makes the current task the owner in the storage `o` when another
/// thread holds it, or when its context is `max_age` ns old or older.
///
/// # Safety
/// `o` must be a SOCK_OWNER storage (an Owner).
#[inline(always)]
unsafe fn claim(o: *mut u8, max_age: u64) {
    // SAFETY: the storage is an Owner: a header's room and a context.
    let c = unsafe { ctx_of(o) };
    let pid_tgid = aya_ebpf::helpers::bpf_get_current_pid_tgid();
    // SAFETY: the helper takes no argument.
    let now = unsafe { bpf_ktime_get_ns() };
    if c.tid == pid_tgid as u32 && now.wrapping_sub(c.ts) < max_age {
        return;
    }
    // SAFETY: the storage is large enough for a header and a context; two
    // users of one socket on two CPUs may both write it, and either
    // context is the socket's owner.
    unsafe { fill_context(o, now, ids(event_id::NET_PACKET_BASE, u32::MAX), 0, 0) };
}

/// Makes the current task the owner of `sk` (a BTF `struct sock *` or a
/// socket program's `bpf_sock`), unless it already is: refreshed when
/// another thread uses it, and at most once a second for the same one (a
/// rename, an exec that kept the socket).
///
/// # Safety
/// `sk` must be a socket pointer the calling program type may pass to
/// `bpf_sk_storage_get`.
#[inline(always)]
pub(crate) unsafe fn set_owner(sk: *mut c_void) {
    if is_self() {
        return;
    }
    // SAFETY: the caller's promise.
    let o = unsafe { storage(sk, F_CREATE) };
    if !o.is_null() {
        // SAFETY: a SOCK_OWNER storage.
        unsafe { claim(o, 1_000_000_000) };
    }
}

/// An inet socket (`struct sock *` from a BTF tracepoint) is used by the
/// current task.
///
/// # Safety
/// `sk` must be a BTF tracepoint's `struct sock *` argument.
#[inline(always)]
pub(crate) unsafe fn used(sk: *mut c_void) {
    if sk.is_null() {
        return;
    }
    let family = ld::<u16>(sk.cast::<u8>(), offset(member::SKC_FAMILY));
    if family != AF_INET && family != AF_INET6 {
        return;
    }
    // SAFETY: the caller's promise.
    unsafe { set_owner(sk) }
}

/// Sends the packet `skb` carries as a `net_packet_base` record.
/// `ingress`: 1 for a received packet, 0 for a sent one.
pub(crate) fn try_packet(skb: &SkBuffContext, ingress: u64) {
    let Some(nest) = NET_NEST.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's counter; an interrupting run restores it before
    // this one continues.
    let level = unsafe { *nest };
    if level >= 2 {
        count_lost(lost_reason::PACKETS_SHED);
        return;
    }
    // SAFETY: as above.
    unsafe { *nest = level + 1 };
    packet(skb, ingress, level);
    // SAFETY: as above.
    unsafe { *nest = level };
}

#[inline(always)]
fn packet(skb: &SkBuffContext, ingress: u64, level: u32) {
    // SAFETY: the helper takes no argument.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let Some(e) = NET_SCRATCH.get_ptr_mut(cpu * 2 + level) else {
        return;
    };
    let e = e.cast::<u8>();
    let raw = skb.skb.skb;
    // SAFETY: the context's socket field, read as the verifier allows.
    let sk = unsafe { (*raw).__bindgen_anon_2.sk };
    let mut owner: *mut u8 = null_mut();
    if !sk.is_null() {
        // SAFETY: the skb's socket, checked for NULL.
        let full = unsafe { bpf_sk_fullsock(sk) };
        if !full.is_null() {
            // SAFETY: a full socket, as the helper takes it.
            owner = unsafe { storage(full.cast(), 0) };
        }
    }
    let k = classify(skb);
    // A datagram (UDP, ICMP, raw) leaves in its sender's own syscall: the
    // sender is the owner now, before its send's tracepoint says so (a
    // socket handed to another process is that process's from its first
    // datagram). TCP segments may leave from a softirq, whose current task
    // is anyone's; tcp_sendmsg_locked names their sender before they go.
    // Only a socket with an owner already is updated: kernel sockets (ICMP
    // replies) never get one.
    if ingress == 0 && !owner.is_null() && k.proto != IPPROTO_TCP && !is_self() {
        // SAFETY: a SOCK_OWNER storage; refreshed only for another thread.
        unsafe { claim(owner, u64::MAX) };
    }
    // SAFETY: this CPU's slot at this depth, which no other run uses now.
    let c = unsafe { ctx_of(e) };
    let mut flags = 0u32;
    if owner.is_null() {
        *c = EventContext::default();
        flags |= ctx_flags::OWNER_UNKNOWN;
    } else {
        // SAFETY: the storage holds an Owner, whose context is where
        // ctx_of finds it.
        *c = unsafe { *ctx_of(owner) };
    }
    if !scope_ok(c) {
        return;
    }
    // SAFETY: the helper takes no argument.
    c.ts = unsafe { bpf_ktime_get_ns() };
    c.event_id = event_id::NET_PACKET_BASE;
    c.syscall = u32::MAX;
    c.cpu = cpu;
    c.retval = 0;
    c.flags = (c.flags & ctx_flags::CONTAINER_STARTED) | flags;

    let len = skb.len();
    let mut want = global_u32(&NET_SNAP);
    // The snap length counts from a fixed L3 header: extension headers and
    // IPv4 options come on top, so the L4 header is always in.
    if want != 0 {
        want = want.saturating_add(k.extra);
    }
    let net = global_u32(&NET_FLAGS);
    match k.class {
        Class::Dns if net & net::DNS_WHOLE != 0 => want = len,
        Class::Icmp if net & net::ICMP_WHOLE != 0 => want = len,
        Class::Http if net & net::HTTP != 0 && want < net::HTTP_SNAP + k.extra => {
            want = net::HTTP_SNAP + k.extra
        }
        _ => {}
    }
    if want == 0 {
        return;
    }
    let want = forget(want as usize) as u32;
    let half = global_u64(&NET_RING_HALF);
    if half != 0 && RING.query(BPF_RB_AVAIL_DATA) > half {
        count_lost(lost_reason::PACKETS_SHED);
        return;
    }
    let copy = if want < len { want } else { len } as usize;
    let copy = if copy > PKT_MAX { PKT_MAX } else { copy };
    // SAFETY: the slot is NET_CAP bytes: the fixed items fit.
    unsafe {
        put_header(e.add(POS_FLAGS), 0, item::SCALAR, 8);
        e.add(POS_FLAGS + ArgHeader::LEN)
            .cast::<u64>()
            .write_unaligned(ingress);
        put_header(e.add(POS_LEN), 1, item::SCALAR, 8);
        e.add(POS_LEN + ArgHeader::LEN)
            .cast::<u64>()
            .write_unaligned(len as u64);
    }
    let mut got = 0usize;
    if copy > 0 {
        // 1 to 65536 in a form the verifier keeps (`copy` is at most
        // PKT_MAX already).
        let n = ((copy - 1) & 0xffff) + 1;
        // SAFETY: POS_DATA + 65536 is inside the slot (NET_CAP).
        let r = unsafe {
            bpf_skb_load_bytes(raw as *const c_void, 0, e.add(POS_DATA).cast(), n as u32)
        };
        if r == 0 {
            got = n;
        }
    }
    let cut = if got < len as usize {
        item::TRUNCATED
    } else {
        0
    };
    // SAFETY: as above.
    unsafe { put_header(e.add(POS_BYTES), 2, item::BYTES | cut, got as u16) };
    let total = POS_DATA + (got & 0xffff);
    // SAFETY: the slot starts with the record header (8-aligned).
    let h = unsafe { &mut *e.cast::<RecordHeader>() };
    h.len = total as u32;
    h.kind = kind::EVENT;
    h.flags = 0;
    // SAFETY: `total` bytes of the slot are the record, inside NET_CAP.
    let record = unsafe { core::slice::from_raw_parts(e, total) };
    if RING.output::<[u8]>(record, BPF_RB_NO_WAKEUP).is_err() {
        count_lost(lost_reason::RING_FULL);
    }
}

enum Class {
    Other,
    Dns,
    Icmp,
    Http,
}

/// What [`classify`] found.
struct Kind {
    class: Class,
    /// The transport protocol (past IPv6 extension headers).
    proto: u8,
    /// Bytes of IPv4 options or IPv6 extension headers.
    extra: u32,
}

/// IPv6 extension headers followed, at most (more are left unclassified).
const EXT_MAX: usize = 8;

/// What the packet is, as far as how much of it to copy goes: DNS (TCP
/// or UDP, port 53), ICMP or ICMPv6, HTTP (TCP whose payload starts like
/// a request or a response, after at most two empty lines), past IPv4
/// options and up to [`EXT_MAX`] IPv6 extension headers.
#[inline(always)]
fn classify(skb: &SkBuffContext) -> Kind {
    let other = |proto: u8, extra: u32| Kind {
        class: Class::Other,
        proto,
        extra,
    };
    let Ok(b0) = skb.load::<u8>(0) else {
        return other(0, 0);
    };
    let (mut proto, mut off, fixed) = match b0 >> 4 {
        4 => (
            skb.load::<u8>(9).unwrap_or(0),
            ((b0 & 0x0f) as usize) * 4,
            20,
        ),
        6 => (skb.load::<u8>(6).unwrap_or(0), 40, 40),
        _ => return other(0, 0),
    };
    if fixed == 40 {
        for _ in 0..EXT_MAX {
            let next = skb.load::<u8>(off).unwrap_or(59);
            let hlen = skb.load::<u8>(off + 1).unwrap_or(0) as usize;
            off += match proto {
                // Hop-by-hop, routing, destination options: 8-byte units.
                0 | 43 | 60 => (hlen + 1) * 8,
                // Fragment: fixed.
                44 => 8,
                // Authentication: 4-byte units.
                51 => (hlen + 2) * 4,
                _ => break,
            };
            // One state per turn, whichever header it was (see forget).
            proto = forget(next as usize) as u8;
            off = forget(off) & 0xfff;
        }
    }
    let extra = (forget(off.saturating_sub(fixed)) & 0xfff) as u32;
    let k = |class: Class| Kind {
        class,
        proto,
        extra,
    };
    if proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        return k(Class::Icmp);
    }
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return k(Class::Other);
    }
    let ports = skb.load::<u32>(off).map(u32::from_be).unwrap_or(0);
    if (ports >> 16) == 53 || (ports & 0xffff) == 53 {
        return k(Class::Dns);
    }
    if proto != IPPROTO_TCP {
        return k(Class::Other);
    }
    let doff = skb.load::<u8>(off + 12).unwrap_or(0) >> 4;
    let mut at = off + (doff as usize) * 4;
    for _ in 0..3 {
        let Ok(word) = skb.load::<u32>(at) else {
            return k(Class::Other);
        };
        // The first four payload bytes, as they read in memory.
        match &word.to_le_bytes() {
            b"HTTP" | b"GET " | b"POST" | b"PUT " | b"DELE" | b"HEAD" | b"PATC" | b"OPTI" => {
                return k(Class::Http);
            }
            [b'\r', b'\n', ..] => at = forget(at + 2) & 0xfff,
            _ => break,
        }
    }
    k(Class::Other)
}
