//! Kernel side of tracee-rs.
//!
//! A traced syscall costs one program run: `sys_exit`, a BTF tracepoint,
//! reads the syscall's number and arguments from its registers (which
//! syscalls leave as they were), the strings and socket addresses they
//! point to, and the task's context with plain loads, and writes one
//! finished stream record to the ring buffer. Only the few syscalls whose
//! arguments do not survive until exit (execve, execveat) or that never
//! return (exit, exit_group, rt_sigreturn) also run `syscall_entry`, on
//! their own `syscalls/sys_enter_*` tracepoints, which no other syscall
//! pays for. Process lifecycle events come from the sched BTF tracepoints.
//! Records are written in the `wire` layout, so user space forwards them
//! without re-encoding.
//!
//! Kernel struct offsets are not compiled in: tracee-collect reads them from
//! the running kernel's BTF and sets the OFFSETS global at load time. It is
//! read-only data, so the verifier sees the offsets as constants, which is
//! what lets BTF programs load through them directly.
#![no_std]
#![no_main]

mod capture;

use core::ptr::{addr_of, addr_of_mut, read_volatile};

use aya_ebpf::{
    EbpfContext,
    cty::c_void,
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_task,
        bpf_get_current_task_btf, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_loop,
        bpf_map_update_elem, bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user,
        bpf_probe_read_user_str, bpf_ringbuf_output, bpf_ringbuf_query, bpf_task_pt_regs,
    },
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::{btf_tracepoint, map, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, TracePointContext},
};
use wire::{
    ARGS_OFFSET, ArgHeader, EventContext, RecordHeader, ctx_flags, event_id, item,
    kcfg::{self, EventCfg, arg, flags as cfgf, member as off, scope},
    kind, lost_reason,
};

const BLOB_CAP: usize = kcfg::BLOB_CAP;
const STR_MAX: usize = kcfg::STR_MAX;
/// The event scratch buffer; records are at most REC_MAX bytes, and the
/// buffer is twice that so an item starting anywhere in a record still
/// ends inside it, which is what the verifier checks.
const EVT_MASK: usize = 8191;
const EVT_CAP: usize = 16384;
/// The longest event record. Writers clamp their position to it and never
/// wrap: a cut value is marked truncated, and an argument with no room left
/// at all sets the context's ARGS_CUT flag. (No event comes near it: the
/// largest, sched_process_exec, is at most about 5.4 KiB; see
/// `EXEC_RECORD_MAX`.)
const REC_MAX: usize = EVT_MASK;
const PATH_CAP: usize = 2048;
const PATH_DEPTH: usize = 32;
const NAME_MAX: usize = 255;
/// Bytes of argv read from the new process image at exec.
const EXEC_ARGV_CAP: usize = 2048;
/// The most a string item carries (bytes, without the NUL); one more byte
/// is read to tell a string of exactly this length from a longer one.
const STR_KEEP: usize = STR_MAX - 1;
/// The largest sched_process_exec record: context, cmdpath, pathname and
/// interpreter (strings), four scalars, argv and prev_comm.
const EXEC_RECORD_MAX: usize = ARGS_OFFSET
    + 3 * (ArgHeader::LEN + STR_KEEP)
    + 4 * (ArgHeader::LEN + 8)
    + (ArgHeader::LEN + EXEC_ARGV_CAP)
    + (ArgHeader::LEN + 16);
const _: () = assert!(EXEC_RECORD_MAX <= REC_MAX);
/// A syscall record: context, six scalars, the blob of pointer arguments,
/// and a sockaddr filled by the kernel.
const _: () = assert!(
    ARGS_OFFSET + 6 * (ArgHeader::LEN + 8) + BLOB_CAP + ArgHeader::LEN + kcfg::SOCKADDR_MAX
        <= REC_MAX
);
/// What an i386 exec keeps in a blob: its file name and argv.
const _: () = assert!(2 * ArgHeader::LEN + STR_KEEP + EXEC_ARGV_CAP <= BLOB_CAP);

// Globals set by tracee-collect at load time. Zero means "no filter".
#[unsafe(no_mangle)]
static SELF_TGID: u32 = 0;
/// Non-zero if PEERS holds processes to leave out (the rest of the pipeline).
#[unsafe(no_mangle)]
static HAS_PEERS: u32 = 0;
#[unsafe(no_mangle)]
static SCOPE: u32 = 0;
#[unsafe(no_mangle)]
static SCOPE_NOT: u32 = 0;
#[unsafe(no_mangle)]
static WAKE_BYTES: u64 = 0;
#[unsafe(no_mangle)]
static OFFSETS: [u32; off::COUNT] = [0; off::COUNT];

#[map]
static RING: RingBuf = RingBuf::with_byte_size(1 << 24, 0);
/// Bytes this CPU wrote to [`RING`] since it last asked how full it is.
#[map]
static WAKE_ACC: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
const WAKE_CHECK: u64 = 16 * 1024;
#[map]
static CFG: Array<EventCfg> = Array::with_max_entries(kcfg::CFG_ENTRIES, 0);
#[map]
static COMPAT: Array<u32> = Array::with_max_entries(kcfg::COMPAT_ENTRIES, 0);
#[map]
static PENDING: HashMap<u32, Pending> = HashMap::with_max_entries(65536, 0);
/// Per-thread state that outlives one syscall, direct-mapped by thread id
/// (an array lookup costs next to nothing; a hash lookup per syscall cost
/// more than the rest of the entry program). Each slot is tagged with the
/// task it belongs to, and every use checks the tag, so two threads whose
/// ids share a slot only cost each other the cache, never borrow values.
#[map]
static THREADS: Array<Thread> = Array::with_max_entries(THREAD_SLOTS, 0);
const THREAD_SLOTS: u32 = 65536;
/// Changed after whatever can change a cached context field of a live
/// task other than its parent: setns and unshare (the namespaces),
/// sethostname and setdomainname (the UTS name). A cached context is used
/// only while the value it was read under is current and the task's parent
/// is the same (a thread is reparented when its parent exits). These calls
/// are rare next to other syscalls, so the cache nearly always hits and an
/// event costs one pointer read instead of a dozen.
#[map]
static GEN: Array<u64> = Array::with_max_entries(1, 0);

#[inline(always)]
fn generation() -> u64 {
    match GEN.get_ptr(0) {
        Some(g) => unsafe { read_volatile(g) },
        None => 0,
    }
}

/// A new value, never one seen before: the clock only moves forward, so
/// racing writers both leave a new value.
#[inline(always)]
fn new_generation() {
    if let Some(g) = GEN.get_ptr_mut(0) {
        unsafe { core::ptr::write_volatile(g, bpf_ktime_get_ns()) };
    }
}

/// Where the context of a task without a slot is put together.
#[map]
static THREAD_SCRATCH: PerCpuArray<Thread> = PerCpuArray::with_max_entries(1, 0);
/// Allocated on demand: most syscalls have no pointer argument to keep.
#[map]
static BLOBS: HashMap<u32, Blob> = HashMap::with_max_entries(16384, 1 /* BPF_F_NO_PREALLOC */);
#[map]
static BLOB_SCRATCH: PerCpuArray<BlobScratch> = PerCpuArray::with_max_entries(1, 0);
#[map]
static EVT_SCRATCH: PerCpuArray<[u8; EVT_CAP]> = PerCpuArray::with_max_entries(1, 0);
#[map]
static PATH_SCRATCH: PerCpuArray<[u8; PATH_CAP * 2]> = PerCpuArray::with_max_entries(1, 0);
/// Processes of the tracing pipeline itself (tracee-filter, tracee-fmt
/// reading our output): their events would feed back into the stream.
#[map]
static PEERS: HashMap<u32, u8> = HashMap::with_max_entries(64, 0);
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(lost_reason::COUNT, 0);

// Pushed-down scope filters; a value of 1 marks membership.
#[map]
static F_COMM: HashMap<[u8; 16], u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_PID: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_TID: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_UID: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_MNTNS: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_PIDNS: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static F_CGROUP: HashMap<u64, u8> = HashMap::with_max_entries(1024, 0);

/// What syscall_entry (or sched_process_exec, for an i386 execve) leaves
/// for sys_exit.
#[repr(C)]
#[derive(Clone, Copy)]
struct Pending {
    ts: u64,
    nr: u32,
    flags: u32,
    args: [u64; 6],
    comm: [u8; 16],
    has_blob: u32,
    /// `args` holds nothing: the scalar arguments are left out.
    no_scalars: u32,
    /// Out of the pushed-down scope: kept only so that the exit knows the
    /// entry saw the call (an exec with no entry passes for an i386 one);
    /// no event is sent and no argument kept.
    out_of_scope: u32,
    _pad: u32,
}

/// What [`THREADS`] keeps for a thread.
#[repr(C)]
#[derive(Clone, Copy)]
struct Thread {
    /// The cached context below belongs to `task`, whose parent was
    /// `parent`, and was read while [`GEN`] was `generation_seen`.
    task: u64,
    parent: u64,
    generation_seen: u64,
    thread_start: u64,
    uts: [u8; 16],
    ppid: u32,
    ns_tid: u32,
    ns_pid: u32,
    ns_ppid: u32,
    mnt_ns: u32,
    pid_ns: u32,
}

/// The slot of thread `tid`.
#[inline(always)]
fn thread_slot(tid: u32) -> Option<*mut Thread> {
    THREADS.get_ptr_mut(tid & (THREAD_SLOTS - 1))
}

/// Forgets what the slot of `tid` holds for `task`.
#[inline(always)]
unsafe fn forget_thread(tid: u32, task: *const u8) {
    if let Some(t) = thread_slot(tid) {
        unsafe {
            if (*t).task == task as u64 {
                (*t).task = 0;
            }
        }
    }
}

#[repr(C)]
struct Blob {
    len: u32,
    _pad: u32,
    data: [u8; BLOB_CAP],
}

/// Same head as Blob; twice the data so bounded writes at a masked offset
/// always fit.
#[repr(C)]
struct BlobScratch {
    len: u32,
    _pad: u32,
    data: [u8; BLOB_CAP * 2],
}

#[inline(always)]
fn offset(i: usize) -> usize {
    // SAFETY: OFFSETS is a plain array global; volatile stops the compiler
    // from folding the zero it was compiled with.
    unsafe { read_volatile(addr_of!(OFFSETS).cast::<u32>().add(i)) as usize }
}

#[inline(always)]
fn global_u32(g: &u32) -> u32 {
    unsafe { read_volatile(g) }
}

#[inline(always)]
unsafe fn rd<T: Copy + Default>(p: *const u8) -> T {
    let mut v = T::default();
    unsafe {
        bpf_probe_read_kernel(
            addr_of_mut!(v).cast::<c_void>(),
            core::mem::size_of::<T>() as u32,
            p.cast::<c_void>(),
        )
    };
    v
}

#[inline(always)]
unsafe fn rd_user<T: Copy + Default>(p: u64) -> Result<T, ()> {
    let mut v = T::default();
    let r = unsafe {
        bpf_probe_read_user(
            addr_of_mut!(v).cast::<c_void>(),
            core::mem::size_of::<T>() as u32,
            p as *const c_void,
        )
    };
    if r < 0 { Err(()) } else { Ok(v) }
}

#[inline(always)]
unsafe fn rd_ptr(p: *const u8) -> *const u8 {
    unsafe { rd::<u64>(p) as *const u8 }
}

#[inline(always)]
fn count_lost(reason: u32) {
    if let Some(p) = LOST.get_ptr_mut(reason) {
        unsafe { *p += 1 };
    }
}

#[inline(always)]
fn current_task() -> *const u8 {
    unsafe { bpf_get_current_task() as *const u8 }
}

/// The number of `task`'s pid struct `pid` in namespace level `level`.
#[inline(always)]
unsafe fn pid_nr_at(pid: *const u8, level: u32) -> u32 {
    unsafe {
        let upid =
            pid.add(offset(off::PID_NUMBERS) + (level & 31) as usize * offset(off::UPID_SIZE));
        rd::<u32>(upid.add(offset(off::UPID_NR)))
    }
}

/// Thread id and process id of `task` as seen from its own pid namespace.
#[inline(always)]
unsafe fn ns_ids(task: *const u8) -> (u32, u32) {
    unsafe {
        let tp = rd_ptr(task.add(offset(off::TASK_THREAD_PID)));
        let level = rd::<u32>(tp.add(offset(off::PID_LEVEL)));
        let leader = rd_ptr(task.add(offset(off::TASK_GROUP_LEADER)));
        let lp = rd_ptr(leader.add(offset(off::TASK_THREAD_PID)));
        (pid_nr_at(tp, level), pid_nr_at(lp, level))
    }
}

/// The mount namespace (inode number) of `task`.
#[inline(always)]
unsafe fn mnt_ns_of(task: *const u8) -> u32 {
    unsafe {
        let nsp = rd_ptr(task.add(offset(off::TASK_NSPROXY)));
        if nsp.is_null() {
            return 0;
        }
        let mnt = rd_ptr(nsp.add(offset(off::NSPROXY_MNT_NS)));
        rd::<u32>(mnt.add(offset(off::MNT_NS_INUM)))
    }
}

#[inline(always)]
unsafe fn pid_ns_of(task: *const u8) -> u32 {
    unsafe {
        let tp = rd_ptr(task.add(offset(off::TASK_THREAD_PID)));
        let level = rd::<u32>(tp.add(offset(off::PID_LEVEL)));
        let upid =
            tp.add(offset(off::PID_NUMBERS) + (level & 31) as usize * offset(off::UPID_SIZE));
        let ns = rd_ptr(upid.add(offset(off::UPID_NS)));
        rd::<u32>(ns.add(offset(off::PID_NS_INUM)))
    }
}

/// Writes the record header and the context of the current task at `e`;
/// `ids` is the event id in the low half and the syscall in the high half.
/// The parts that need pointer chasing come from the thread's slot in
/// [`THREADS`] while it is still valid, and refresh it otherwise.
///
/// Not inlined: a BPF-to-BPF call is verified once per call site, and the
/// branches in here then do not multiply the caller's verifier states.
#[inline(never)]
unsafe fn fill_context(e: *mut u8, ts: u64, ids: u64, retval: i64, flags: u32) {
    unsafe {
        let c = e.add(RecordHeader::LEN).cast::<EventContext>();
        let task = current_task();
        let uid_gid = bpf_get_current_uid_gid();
        (*c).cgroup_id = bpf_get_current_cgroup_id();
        (*c).uid = uid_gid as u32;
        (*c).gid = (uid_gid >> 32) as u32;
        bpf_get_current_comm(addr_of_mut!((*c).comm).cast::<c_void>(), 16);
        let parent = rd_ptr(task.add(offset(off::TASK_REAL_PARENT)));
        fill_rest(c, task, parent, ts, ids, retval, flags);
    }
}

/// [`fill_context`] for BTF programs: the same fields, read from the task
/// with plain loads instead of helper calls (the hot path of every syscall).
#[inline(always)]
unsafe fn fill_context_btf(e: *mut u8, ts: u64, ids: u64, retval: i64, flags: u32) {
    unsafe {
        let c = e.add(RecordHeader::LEN).cast::<EventContext>();
        let task = current_task_btf();
        let cred = ld::<*const u8>(task, offset(off::TASK_CRED));
        (*c).uid = ld::<u32>(cred, offset(off::CRED_UID));
        (*c).gid = ld::<u32>(cred, offset(off::CRED_GID));
        // task->cgroups->dfl_cgrp->kn->id, what bpf_get_current_cgroup_id reads.
        let cset = ld::<*const u8>(task, offset(off::TASK_CGROUPS));
        let cgrp = ld::<*const u8>(cset, offset(off::CSS_SET_DFL_CGRP));
        let kn = ld::<*const u8>(cgrp, offset(off::CGROUP_KN));
        (*c).cgroup_id = ld::<u64>(kn, offset(off::KERNFS_NODE_ID));
        let comm = addr_of_mut!((*c).comm).cast::<u64>();
        *comm = ld::<u64>(task, offset(off::TASK_COMM));
        *comm.add(1) = ld::<u64>(task, offset(off::TASK_COMM) + 8);
        let parent = ld::<*const u8>(task, offset(off::TASK_REAL_PARENT));
        fill_rest(c, task, parent, ts, ids, retval, flags);
    }
}

/// The context fields both fillers share: ids, and the cached ones.
#[inline(always)]
unsafe fn fill_rest(
    c: *mut EventContext,
    task: *const u8,
    parent: *const u8,
    ts: u64,
    ids: u64,
    retval: i64,
    flags: u32,
) {
    unsafe {
        let pid_tgid = bpf_get_current_pid_tgid();
        (*c).ts = ts;
        (*c).event_id = ids as u32;
        (*c).syscall = (ids >> 32) as u32;
        (*c).cpu = bpf_get_smp_processor_id();
        (*c).flags = flags;
        (*c).pid = (pid_tgid >> 32) as u32;
        (*c).tid = pid_tgid as u32;
        (*c).retval = retval;

        let t = match thread_slot(pid_tgid as u32) {
            Some(t) => t,
            None => {
                let Some(t) = THREAD_SCRATCH.get_ptr_mut(0) else {
                    return;
                };
                (*t).task = 0;
                t
            }
        };
        let seen = generation();
        if !((*t).task == task as u64
            && (*t).generation_seen == seen
            && (*t).parent == parent as u64)
        {
            slow_context(t, current_task(), seen);
        }
        let k = &*t;
        (*c).thread_start = k.thread_start;
        (*c).ppid = k.ppid;
        (*c).ns_tid = k.ns_tid;
        (*c).ns_pid = k.ns_pid;
        (*c).ns_ppid = k.ns_ppid;
        (*c).mnt_ns = k.mnt_ns;
        (*c).pid_ns = k.pid_ns;
        // Two words: a [u8; 16] assignment compiles to a byte-wise memmove.
        let src = addr_of!(k.uts).cast::<u64>();
        let dst = addr_of_mut!((*c).uts).cast::<u64>();
        *dst = *src;
        *dst.add(1) = *src.add(1);
    }
}

/// The context fields that take pointer chasing, read from the kernel
/// into the thread's slot.
#[inline(always)]
unsafe fn slow_context(k: *mut Thread, task: *const u8, generation_seen: u64) {
    let k = unsafe { &mut *k };
    unsafe {
        let parent = rd_ptr(task.add(offset(off::TASK_REAL_PARENT)));
        let nsp = rd_ptr(task.add(offset(off::TASK_NSPROXY)));
        k.task = task as u64;
        k.parent = parent as u64;
        k.generation_seen = generation_seen;
        k.thread_start = rd::<u64>(task.add(offset(off::TASK_START_TIME)));
        k.ppid = rd::<u32>(parent.add(offset(off::TASK_TGID)));
        let (ns_tid, ns_pid) = ns_ids(task);
        k.ns_tid = ns_tid;
        k.ns_pid = ns_pid;
        // The parent's process id in the child's namespace, 0 if outside it.
        let tp = rd_ptr(task.add(offset(off::TASK_THREAD_PID)));
        let level = rd::<u32>(tp.add(offset(off::PID_LEVEL)));
        let pleader = rd_ptr(parent.add(offset(off::TASK_GROUP_LEADER)));
        let pp = rd_ptr(pleader.add(offset(off::TASK_THREAD_PID)));
        let plevel = rd::<u32>(pp.add(offset(off::PID_LEVEL)));
        k.ns_ppid = if plevel >= level {
            pid_nr_at(pp, level)
        } else {
            0
        };
        k.mnt_ns = 0;
        k.uts = [0; 16];
        if !nsp.is_null() {
            let mnt = rd_ptr(nsp.add(offset(off::NSPROXY_MNT_NS)));
            k.mnt_ns = rd::<u32>(mnt.add(offset(off::MNT_NS_INUM)));
            let uts = rd_ptr(nsp.add(offset(off::NSPROXY_UTS_NS)));
            bpf_probe_read_kernel(
                addr_of_mut!(k.uts).cast::<c_void>(),
                16,
                uts.add(offset(off::UTS_NODENAME)).cast::<c_void>(),
            );
        }
        k.pid_ns = pid_ns_of(task);
    }
}

#[inline(always)]
fn ids(id: u32, syscall: u32) -> u64 {
    id as u64 | (syscall as u64) << 32
}

#[inline(always)]
unsafe fn finish_and_output(e: *mut u8, len: usize) {
    unsafe {
        if !scope_ok(e.add(RecordHeader::LEN).cast::<EventContext>()) {
            return;
        }
        // Writers never pass REC_MAX; the clamp restates it.
        let len = clamp_pos(len, REC_MAX);
        let h = e.cast::<RecordHeader>();
        (*h).len = len as u32;
        (*h).kind = kind::EVENT;
        (*h).flags = 0;
        let wake = read_volatile(&WAKE_BYTES);
        // Wake the reader only when the ring fills up; otherwise it drains
        // on its own timer. Waking per event costs more than the event, and
        // so does asking the ring how full it is: that is asked once per
        // WAKE_CHECK bytes this CPU wrote.
        let mut flags = 1; // BPF_RB_NO_WAKEUP
        if wake != 0
            && let Some(acc) = WAKE_ACC.get_ptr_mut(0)
        {
            *acc += len as u64;
            if *acc >= WAKE_CHECK {
                *acc = 0;
                if bpf_ringbuf_query(
                    addr_of!(RING) as *mut c_void,
                    0, /* BPF_RB_AVAIL_DATA */
                ) >= wake
                {
                    flags = 2; // BPF_RB_FORCE_WAKEUP
                }
            }
        }
        let r = bpf_ringbuf_output(
            addr_of!(RING) as *mut c_void,
            e.cast::<c_void>(),
            len as u64,
            flags,
        );
        if r != 0 {
            count_lost(lost_reason::RING_FULL);
        }
    }
}

#[inline(always)]
unsafe fn put_header(p: *mut u8, index: u8, kind: u8, len: u16) {
    unsafe {
        let h = p.cast::<ArgHeader>();
        (*h).index = index;
        (*h).kind = kind;
        (*h).len = len;
    }
}

/// `pos` clamped to `limit`, never wrapped (a wrapped position would land
/// an item on top of an earlier one). The mask does not change the value;
/// it restates the bound in a form the verifier always keeps.
#[inline(always)]
fn clamp_pos(pos: usize, limit: usize) -> usize {
    (if pos > limit { limit } else { pos }) & EVT_MASK
}

/// How many payload bytes an item may take at `pos` of a record of at most
/// `limit` bytes, up to `want`; None if not even its header fits.
#[inline(always)]
fn room(pos: usize, limit: usize, want: usize) -> Option<usize> {
    if pos + ArgHeader::LEN > limit {
        return None;
    }
    let left = limit - pos - ArgHeader::LEN;
    Some(if left < want { left } else { want })
}

/// Marks the event record at `e` as missing an argument that had no room.
#[inline(always)]
unsafe fn mark_cut(e: *mut u8) {
    unsafe { (*e.add(RecordHeader::LEN).cast::<EventContext>()).flags |= ctx_flags::ARGS_CUT };
}

/// Where an item goes in a record of at most `LIMIT` bytes (an event
/// record, or a blob for sys_exit to send): `pos` clamped, and how many of
/// its `want` payload bytes fit there. Err with the position if not even
/// its header fits: the argument is left out, and an event record says so.
#[inline(always)]
unsafe fn item_at<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    want: usize,
) -> Result<(usize, usize), usize> {
    let pos = clamp_pos(pos, LIMIT);
    match room(pos, LIMIT, want) {
        Some(n) => Ok((pos, n)),
        None => {
            if LIMIT == REC_MAX {
                unsafe { mark_cut(e) };
            }
            Err(pos)
        }
    }
}

/// [`item_at`] in an event record for an item of exactly `size` payload
/// bytes, which is left out (and the record marked) unless all fit.
#[inline(always)]
unsafe fn whole_item_at(e: *mut u8, pos: usize, size: usize) -> Result<usize, usize> {
    match unsafe { item_at::<REC_MAX>(e, pos, size) } {
        Ok((pos, n)) if n == size => Ok(pos),
        Ok((pos, _)) => {
            unsafe { mark_cut(e) };
            Err(pos)
        }
        Err(pos) => Err(pos),
    }
}

#[inline(always)]
unsafe fn put_scalar(e: *mut u8, pos: usize, index: u8, v: u64) -> usize {
    let pos = match unsafe { whole_item_at(e, pos, 8) } {
        Ok(pos) => pos,
        Err(pos) => return pos,
    };
    unsafe {
        let p = e.add(pos);
        put_header(p, index, item::SCALAR, 8);
        p.add(ArgHeader::LEN).cast::<u64>().write_unaligned(v);
    }
    pos + ArgHeader::LEN + 8
}

/// Scope filters pushed down from the filter expressions, checked against
/// the context exactly as the record carries it, so pushdown drops only
/// what tracee-filter would drop from the same record.
#[inline(always)]
unsafe fn scope_ok(c: *const EventContext) -> bool {
    let active = global_u32(&SCOPE);
    if active == 0 {
        return true;
    }
    let not = global_u32(&SCOPE_NOT);
    let pass = |bit: u32, found: bool| -> bool { if not & bit != 0 { !found } else { found } };
    unsafe {
        if active & scope::COMM != 0 && !pass(scope::COMM, F_COMM.get(&(*c).comm).is_some()) {
            return false;
        }
        if active & scope::PID != 0 && !pass(scope::PID, F_PID.get(&(*c).pid).is_some()) {
            return false;
        }
        if active & scope::TID != 0 && !pass(scope::TID, F_TID.get(&(*c).tid).is_some()) {
            return false;
        }
        if active & scope::UID != 0 && !pass(scope::UID, F_UID.get(&(*c).uid).is_some()) {
            return false;
        }
        if active & scope::MNTNS != 0 && !pass(scope::MNTNS, F_MNTNS.get(&(*c).mnt_ns).is_some()) {
            return false;
        }
        if active & scope::PIDNS != 0 && !pass(scope::PIDNS, F_PIDNS.get(&(*c).pid_ns).is_some()) {
            return false;
        }
        if active & scope::CGROUP != 0
            && !pass(scope::CGROUP, F_CGROUP.get(&(*c).cgroup_id).is_some())
        {
            return false;
        }
    }
    true
}

/// The registers a syscall's number and arguments live in, read from
/// `struct pt_regs` in one copy: bp, bx, r11, r10, r9, r8, ax, cx, dx, si,
/// di, orig_ax (offsets 32..128; the register order is x86_64 ABI).
struct Regs([u64; 12]);

impl Regs {
    const FIRST: usize = pt::BP;
    const ORIG_AX: usize = (pt::ORIG_AX - Self::FIRST) / 8;

    #[inline(always)]
    unsafe fn read(regs: *const u8) -> Regs {
        let mut r = core::mem::MaybeUninit::<Regs>::uninit();
        unsafe {
            // On a fault the helper zeroes the buffer, so it is always
            // initialised.
            bpf_probe_read_kernel(
                r.as_mut_ptr().cast::<c_void>(),
                96,
                regs.add(Self::FIRST).cast::<c_void>(),
            );
            r.assume_init()
        }
    }

    /// Argument `i` of a native syscall.
    #[inline(always)]
    fn arg(&self, i: usize) -> u64 {
        self.0[(pt::NATIVE_ARGS[i % 6] - Self::FIRST) / 8]
    }
}

/// Whether the current thread is in an i386 (int 0x80) syscall. The flag
/// is set at entry and cleared only on the way back to user mode, so
/// sys_exit sees it too.
#[inline(always)]
unsafe fn in_compat_syscall(task: *const u8) -> bool {
    unsafe {
        rd::<u32>(task.add(offset(off::TASK_TI_STATUS))) & 2 /* TS_COMPAT */ != 0
    }
}

/// Offsets of the registers in x86_64's `struct pt_regs` (ABI, fixed).
mod pt {
    pub const BP: usize = 32;
    pub const BX: usize = 40;
    pub const R10: usize = 56;
    pub const R9: usize = 64;
    pub const R8: usize = 72;
    pub const CX: usize = 88;
    pub const DX: usize = 96;
    pub const SI: usize = 104;
    pub const DI: usize = 112;
    pub const ORIG_AX: usize = 120;
    /// Where a native syscall's arguments are: di si dx r10 r8 r9.
    pub const NATIVE_ARGS: [usize; 6] = [DI, SI, DX, R10, R8, R9];
    /// Where an i386 syscall's arguments are: bx cx dx si di bp.
    pub const I386_ARGS: [usize; 6] = [BX, CX, DX, SI, DI, BP];
}

/// A direct load of the `T` at `off` bytes into `p`, a BTF pointer the
/// verifier knows the type of (BTF programs only: the JIT turns it into a
/// guarded load, no helper call).
#[inline(always)]
unsafe fn ld<T: Copy>(p: *const u8, off: usize) -> T {
    unsafe { p.add(off).cast::<T>().read_volatile() }
}

/// The current task as a BTF pointer.
#[inline(always)]
fn current_task_btf() -> *const u8 {
    unsafe { bpf_get_current_task_btf() as *const u8 }
}

/// The six argument registers of a native or i386 syscall in `regs` (a BTF
/// `struct pt_regs *`). Syscalls that keep nothing at entry leave them as
/// they were, so they are the arguments at exit too.
#[inline(always)]
unsafe fn reg_args(regs: *const u8, compat: bool) -> [u64; 6] {
    // Written out per index: a BTF load needs an offset the verifier
    // knows, which a loop over the table would not leave.
    let load = |at: &[usize; 6], mask: u64| unsafe {
        [
            ld::<u64>(regs, at[0]) & mask,
            ld::<u64>(regs, at[1]) & mask,
            ld::<u64>(regs, at[2]) & mask,
            ld::<u64>(regs, at[3]) & mask,
            ld::<u64>(regs, at[4]) & mask,
            ld::<u64>(regs, at[5]) & mask,
        ]
    };
    if compat {
        // Compat registers are 32 bits wide.
        load(&pt::I386_ARGS, 0xffff_ffff)
    } else {
        load(&pt::NATIVE_ARGS, u64::MAX)
    }
}

/// The native number of the syscall whose registers are `regs` (a BTF
/// pointer) in `task` (a BTF pointer), `u64::MAX` if there is none.
#[inline(always)]
unsafe fn native_nr(task: *const u8, regs: *const u8) -> (u64, bool) {
    unsafe {
        let compat = ld::<u32>(task, offset(off::TASK_TI_STATUS)) & 2 /* TS_COMPAT */ != 0;
        let raw = ld::<u64>(regs, pt::ORIG_AX);
        if !compat {
            return (raw, false);
        }
        let nr = match COMPAT.get(raw as u32) {
            Some(&n) if raw < kcfg::COMPAT_ENTRIES as u64 && n != u32::MAX => n as u64,
            _ => u64::MAX,
        };
        (nr, true)
    }
}

/// The syscall the current task is in (BTF programs only), `u32::MAX` for a
/// kernel thread or outside a syscall.
#[inline(always)]
unsafe fn current_syscall() -> u32 {
    unsafe {
        let task = current_task_btf();
        if ld::<u32>(task, offset(off::TASK_FLAGS)) & 0x0020_0000 /* PF_KTHREAD */ != 0 {
            return u32::MAX;
        }
        let regs = bpf_task_pt_regs(task as *mut _) as *const u8;
        let (nr, _) = native_nr(task, regs);
        if nr < kcfg::CFG_ENTRIES as u64 {
            nr as u32
        } else {
            u32::MAX
        }
    }
}

/// Entry of the few syscalls whose arguments do not survive until exit:
/// execve and execveat (a new image replaces the memory and registers) and
/// those that never return (exit, exit_group, rt_sigreturn). Attached to
/// their `syscalls/sys_enter_*` tracepoints only, so no program runs at the
/// entry of any other syscall.
#[tracepoint]
pub fn syscall_entry(ctx: TracePointContext) -> i32 {
    unsafe { try_syscall_entry(&ctx) };
    0
}

unsafe fn try_syscall_entry(ctx: &TracePointContext) {
    // struct syscall_tp_t: trace_entry (8 bytes), int nr, then the
    // syscall's arguments as longs. Only nr is read directly: a program
    // that reads past a tracepoint's last field cannot be attached to it,
    // and rt_sigreturn has none.
    let base = ctx.as_ptr().cast::<u8>();
    let nr = unsafe { ld::<i32>(base, 8) };
    if nr < 0 {
        return;
    }
    let nr = nr as u32;
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(cfg) = CFG.get(nr) else { return };
    if cfg.enabled == 0 || is_self_tgid((pid_tgid >> 32) as u32) {
        return;
    }
    let cfg = *cfg;
    let tid = pid_tgid as u32;
    unsafe {
        let mut p = Pending {
            ts: bpf_ktime_get_ns(),
            nr,
            flags: 0,
            args: rd::<[u64; 6]>(base.add(16)),
            comm: [0; 16],
            has_blob: 0,
            no_scalars: 0,
            out_of_scope: 0,
            _pad: 0,
        };
        bpf_get_current_comm(p.comm.as_mut_ptr().cast::<c_void>(), 16);
        if cfg.flags & cfgf::AT_ENTRY != 0 {
            emit_syscall(&p, &cfg, 0, tid);
            return;
        }
        // Out of scope, no argument is kept: the blobs are for the events
        // that will be sent, not for any user's blocked execs.
        if global_u32(&SCOPE) != 0 && !pending_in_scope(&p) {
            p.out_of_scope = 1;
            keep_pending(tid, p, None);
            return;
        }
        let mut blob = None;
        if cfg.flags & cfgf::HAS_BLOB != 0 {
            let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
                return;
            };
            (*s).len = put_items::<true>(0, &p.args, &cfg) as u32;
            blob = Some(s);
        }
        keep_pending(tid, p, blob);
    }
}

/// Whether the event `p` will make passes the pushed-down scope, judged on
/// the context as it will carry it (the caller's name at entry).
#[inline(always)]
unsafe fn pending_in_scope(p: &Pending) -> bool {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let e = e.cast::<u8>();
    unsafe {
        fill_context(e, p.ts, ids(p.nr, p.nr), 0, p.flags);
        let c = e.add(RecordHeader::LEN).cast::<EventContext>();
        (*c).comm = p.comm;
        scope_ok(c)
    }
}

/// Leaves `p`, and the blob built in the per-CPU scratch `blob` if there is
/// one, for sys_exit to send.
#[inline(always)]
unsafe fn keep_pending(tid: u32, mut p: Pending, blob: Option<*mut BlobScratch>) {
    unsafe {
        if let Some(s) = blob {
            if bpf_map_update_elem(
                addr_of!(BLOBS) as *mut c_void,
                addr_of!(tid).cast::<c_void>(),
                s.cast::<c_void>(),
                0,
            ) == 0
            {
                p.has_blob = 1;
            } else {
                // No room to keep the pointer arguments until exit: the
                // event goes out without them, and says so.
                p.flags |= ctx_flags::ARGS_CUT;
            }
        }
        if PENDING.insert(&tid, &p, 0).is_err() {
            count_lost(lost_reason::TABLE_FULL);
        }
    }
}

/// The pointer arguments [`put_items`] is appending: the context of its
/// `bpf_loop`.
#[repr(C)]
struct Items {
    args: [u64; 6],
    kinds: [u8; 8],
    nargs: u64,
    /// Where the blob starts in the event scratch (after the scalars).
    base: u64,
    /// Where the next item goes, from the blob's start.
    pos: u64,
}

/// Appends the items of the pointer arguments in `args` (strings, socket
/// addresses, and argv when `BLOB`, at entry) to the blob: the per-CPU
/// blob scratch when `BLOB`, else the event scratch from `base` on.
/// Returns their length.
///
/// One argument per turn of a `bpf_loop`, whose callback the verifier
/// checks once: unrolled, the six slots' branches multiplied past its
/// instruction budget.
#[inline(always)]
unsafe fn put_items<const BLOB: bool>(base: usize, args: &[u64; 6], cfg: &EventCfg) -> usize {
    let mut c = Items {
        args: *args,
        kinds: [0; 8],
        nargs: cfg.nargs as u64,
        base: base as u64,
        pos: 0,
    };
    c.kinds[..6].copy_from_slice(&cfg.kinds);
    unsafe {
        bpf_loop(
            6,
            put_item::<BLOB> as *mut c_void,
            (&mut c as *mut Items).cast::<c_void>(),
            0,
        );
    }
    c.pos as usize
}

/// One turn of [`put_items`]: argument `i`.
#[inline(never)]
unsafe extern "C" fn put_item<const BLOB: bool>(i: u32, ctx: *mut c_void) -> i64 {
    let c = ctx.cast::<Items>();
    let i = i as usize;
    unsafe {
        if i >= 6 || i as u64 >= (*c).nargs {
            return 1;
        }
        let data = if BLOB {
            let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
                return 1;
            };
            addr_of_mut!((*s).data).cast::<u8>()
        } else {
            let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
                return 1;
            };
            e.cast::<u8>().add((*c).base as usize & 511)
        };
        let k = (*c).kinds[i];
        let a = (*c).args[i];
        let pos = (*c).pos as usize;
        let pos = if k == arg::STR {
            put_user_str(data, pos, i as u8, a)
        } else if BLOB && k == arg::STR_ARRAY {
            put_user_argv(data, pos, i as u8, a)
        } else if k == arg::SOCKADDR_IN && i < 5 {
            put_user_bytes(data, pos, i as u8, a, (*c).args[i + 1] as usize)
        } else {
            pos
        };
        (*c).pos = pos as u64;
    }
    0
}

/// Positions in the blob scratch are kept masked to this range after every
/// item, so all paths through the six argument slots reach the next slot
/// with the same value range and the verifier can prune them.
const POS_MASK: usize = BLOB_CAP * 2 - 1;
/// Payload bytes end here in a blob; the last six headers' worth is kept
/// free, so that an argument with no room left still gets an (empty,
/// truncated) item that says it was cut.
const BLOB_LIMIT: usize = BLOB_CAP - 6 * ArgHeader::LEN;

/// `v`, with everything the verifier knows about its value forgotten:
/// paths that differ only in how far they have written become one state
/// to verify instead of one per possible length. (Bounds must be restated
/// after it, by a clamp or a mask.)
#[inline(always)]
fn forget(v: usize) -> usize {
    let mut out = 0usize;
    unsafe {
        bpf_probe_read_kernel(
            addr_of_mut!(out).cast::<c_void>(),
            8,
            addr_of!(v).cast::<c_void>(),
        )
    };
    out
}

/// [`forget`], then masked to the blob scratch.
#[inline(always)]
fn opaque_pos(v: usize) -> usize {
    forget(v) & POS_MASK
}

/// Payload bytes left in a blob at `o` (already masked below BLOB_CAP).
#[inline(always)]
fn blob_room(o: usize) -> usize {
    if o + ArgHeader::LEN >= BLOB_LIMIT {
        0
    } else {
        BLOB_LIMIT - o - ArgHeader::LEN
    }
}

/// Reads a NUL-terminated string from user (`USER`) or kernel memory.
#[inline(always)]
unsafe fn read_str<const USER: bool>(dst: *mut u8, size: usize, src: u64) -> i64 {
    let size = (size & (STR_MAX * 2 - 1)) as u32;
    unsafe {
        if USER {
            bpf_probe_read_user_str(dst.cast::<c_void>(), size, src as *const c_void)
        } else {
            bpf_probe_read_kernel_str(dst.cast::<c_void>(), size, src as *const c_void)
        }
    }
}

/// Reads the string at `src` into `dst` (which has room for STR_MAX
/// bytes): whole if it has at most `keep` bytes, else its last `keep`
/// bytes, since the end of a path is the name of its file. Returns its
/// length in `dst` and whether it was cut, or None if it could not be read.
#[inline(always)]
unsafe fn read_str_tail<const USER: bool>(
    dst: *mut u8,
    keep: usize,
    src: u64,
) -> Option<(usize, bool)> {
    unsafe {
        // One byte more than kept: a string that fills the read is longer
        // than `keep`, one that does not is whole.
        let n = read_str::<USER>(dst, keep + 2, src);
        if n <= 0 {
            return None;
        }
        if (n as usize) < keep + 2 {
            return Some(((n as usize - 1) & (STR_MAX * 2 - 1), false));
        }
        // Longer: find its end, reading on a string's worth at a time (a
        // path is at most PATH_MAX), then read its last `keep` bytes.
        let mut end = src + keep as u64 + 1;
        for _ in 0..4 {
            let m = read_str::<USER>(dst, STR_MAX, end);
            if m <= 0 {
                break;
            }
            end += m as u64 - 1;
            if (m as usize) < STR_MAX {
                break;
            }
        }
        let mut from = end - keep as u64;
        let mut m = read_str::<USER>(dst, keep + 1, from);
        // A cut path must not pass for a whole one: it never starts with
        // the '/' an absolute path would.
        if m > 1 && *dst == b'/' {
            from += 1;
            m = read_str::<USER>(dst, keep, from);
        }
        // A string changed under us may come back shorter; still cut.
        let len = if m > 0 { m as usize - 1 } else { 0 };
        Some((len & (STR_MAX * 2 - 1), true))
    }
}

/// Appends a user string item at `pos` of a blob; returns the new end.
#[inline(always)]
unsafe fn put_user_str(data: *mut u8, pos: usize, index: u8, ptr: u64) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let o = pos & (BLOB_CAP - 1);
    let left = blob_room(o);
    let keep = if left < STR_KEEP { left } else { STR_KEEP };
    unsafe {
        let Some((len, cut)) = read_str_tail::<true>(data.add(o + ArgHeader::LEN), keep, ptr)
        else {
            put_header(data.add(o), index, item::STR | item::FAULT, 0);
            return opaque_pos(o + ArgHeader::LEN);
        };
        let trunc = if cut { item::TRUNCATED } else { 0 };
        put_header(data.add(o), index, item::STR | trunc, len as u16);
        opaque_pos(o + ArgHeader::LEN + len)
    }
}

/// Appends `len` bytes of user memory (a `struct sockaddr`) as an item.
#[inline(always)]
unsafe fn put_user_bytes(data: *mut u8, pos: usize, index: u8, ptr: u64, len: usize) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let o = pos & (BLOB_CAP - 1);
    let left = blob_room(o);
    let cap = if left < kcfg::SOCKADDR_MAX {
        left
    } else {
        kcfg::SOCKADDR_MAX
    };
    let (len, trunc) = if len > cap {
        (cap, item::TRUNCATED)
    } else {
        (len, 0)
    };
    let len = len & 0xff;
    unsafe {
        let r = if len == 0 {
            -1
        } else {
            bpf_probe_read_user(
                data.add(o + ArgHeader::LEN).cast::<c_void>(),
                len as u32,
                ptr as *const c_void,
            )
        };
        if r < 0 {
            put_header(data.add(o), index, item::BYTES | item::FAULT | trunc, 0);
            return opaque_pos(o + ArgHeader::LEN);
        }
        put_header(data.add(o), index, item::BYTES | trunc, len as u16);
        opaque_pos(o + ArgHeader::LEN + len)
    }
}

/// Appends argv (a NULL-terminated array of user strings) as one item.
#[inline(always)]
unsafe fn put_user_argv(data: *mut u8, pos: usize, index: u8, ptr: u64) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let start = pos & (BLOB_CAP - 1);
    let mut end = start + ArgHeader::LEN;
    let mut flags = item::STR_ARRAY;
    unsafe {
        if ptr == 0 {
            put_header(data.add(start), index, item::STR_ARRAY, 0);
            return opaque_pos(start + ArgHeader::LEN);
        }
        let mut i = 0;
        while i < kcfg::ARGV_MAX {
            let Ok(s) = rd_user::<u64>(ptr + i as u64 * 8) else {
                flags |= item::FAULT;
                break;
            };
            if s == 0 {
                break;
            }
            let o = end & (BLOB_CAP - 1);
            // Room for this element's bytes and its NUL.
            let left = if o + 1 >= BLOB_LIMIT {
                0
            } else {
                BLOB_LIMIT - o - 1
            };
            if left == 0 {
                flags |= item::TRUNCATED;
                break;
            }
            let keep = if left < STR_KEEP { left } else { STR_KEEP };
            let n = bpf_probe_read_user_str(
                data.add(o).cast::<c_void>(),
                ((keep + 2) & (STR_MAX * 2 - 1)) as u32,
                s as *const c_void,
            );
            if n <= 0 {
                flags |= item::FAULT;
                break;
            }
            if n as usize >= keep + 2 {
                // Longer than what is kept: cut it, and end it.
                flags |= item::TRUNCATED;
                *data.add((o + keep) & POS_MASK) = 0;
                end = opaque_pos(o + keep + 1);
            } else {
                end = opaque_pos(o + (n as usize & (STR_MAX * 2 - 1)));
            }
            i += 1;
        }
        // A full array is cut only if another element follows.
        if i == kcfg::ARGV_MAX && !matches!(rd_user::<u64>(ptr + i as u64 * 8), Ok(0)) {
            flags |= item::TRUNCATED;
        }
        let end = if end > BLOB_CAP { BLOB_CAP } else { end };
        let len = end.saturating_sub(start + ArgHeader::LEN);
        put_header(data.add(start), index, flags, len as u16);
        opaque_pos(end)
    }
}

/// Exit of every syscall. A BTF tracepoint: the registers and the task are
/// read with plain loads, not helper calls. All but the few syscalls that
/// [`syscall_entry`] handles are emitted from here alone, their arguments
/// read from the registers (and the memory they point to) at exit, so a
/// traced syscall costs one program run.
#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    unsafe { try_sys_exit(&ctx) };
    0
}

unsafe fn try_sys_exit(ctx: &BtfTracePointContext) {
    let regs: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(1);
    unsafe {
        let task = current_task_btf();
        let (nr, compat) = native_nr(task, regs);
        // sethostname, setdomainname, unshare, setns: cached contexts of
        // other threads may now be out of date.
        if matches!(nr, 170 | 171 | 272 | 308) && ret >= 0 {
            new_generation();
        }
        if nr >= kcfg::CFG_ENTRIES as u64 {
            return;
        }
        let Some(cfg) = CFG.get(nr as u32) else {
            return;
        };
        if cfg.enabled == 0 {
            return;
        }
        let pid_tgid = bpf_get_current_pid_tgid();
        let tid = pid_tgid as u32;
        if cfg.flags & cfgf::ENTRY != 0 {
            // execve, execveat: their arguments were kept at entry, or for
            // an i386 caller (the syscall tracepoints skip compat calls) by
            // sched_process_exec once the exec succeeded.
            let Some(pp) = PENDING.get_ptr(&tid) else {
                // A failed i386 exec: its registers are as they were.
                if compat && !is_self_tgid((pid_tgid >> 32) as u32) {
                    emit_from_regs(regs, cfg, nr as u32, ret, true);
                }
                return;
            };
            let p = *pp;
            let _ = PENDING.remove(&tid);
            if p.out_of_scope != 0 {
                return;
            }
            let Some(cfg) = CFG.get(p.nr) else { return };
            let cfg = *cfg;
            emit_syscall(&p, &cfg, ret, tid);
            return;
        }
        // clone, fork, vfork, clone3: the child's first return to user
        // space passes here too; the parent's return is the event.
        if ret == 0 && matches!(nr, 56 | 57 | 58 | 435) {
            return;
        }
        if is_self_tgid((pid_tgid >> 32) as u32) {
            return;
        }
        emit_from_regs(regs, cfg, nr as u32, ret, compat);
    }
}

/// The record of a syscall whose arguments are still in its registers.
#[inline(always)]
unsafe fn emit_from_regs(regs: *const u8, cfg: &EventCfg, nr: u32, ret: i64, compat: bool) {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    unsafe {
        // All six, whatever nargs says: six loads cost less than the
        // memset a zeroed array compiles to.
        let args = reg_args(regs, compat);
        let flags = if compat { ctx_flags::COMPAT } else { 0 };
        fill_context_btf(e, bpf_ktime_get_ns(), ids(nr, nr), ret, flags);
        let mut pos = ARGS_OFFSET;
        for i in 0..6 {
            if i < cfg.nargs as usize && cfg.kinds[i] == arg::SCALAR {
                pos = put_scalar(e, pos, i as u8, args[i]);
            }
        }
        // The 64 ways the scalars can fall become one state to verify.
        let mut pos = forget(pos);
        if cfg.flags & cfgf::HAS_BLOB != 0 {
            // Six scalars at most come first: the blob starts below 512.
            let base = clamp_pos(pos, 511);
            pos = base + put_items::<false>(base, &args, cfg);
        }
        if cfg.flags & cfgf::HAS_OUT != 0 {
            for i in 0..5 {
                if i < cfg.nargs as usize && cfg.kinds[i] == arg::SOCKADDR_OUT {
                    pos = put_sockaddr_out(e, pos, i as u8, args[i], args[i + 1], ret);
                }
            }
        }
        finish_and_output(e, pos);
    }
}

/// The record of a syscall whose arguments [`syscall_entry`] (or, for an
/// i386 exec, [`keep_compat_exec`]) kept.
#[inline(always)]
unsafe fn emit_syscall(p: &Pending, cfg: &EventCfg, ret: i64, tid: u32) {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    unsafe {
        fill_context(e, p.ts, ids(p.nr, p.nr), ret, p.flags);
        if p.nr == 59 || p.nr == 322 {
            // execve, execveat: the context is that of the caller, before
            // the new image renamed the task.
            (*e.add(RecordHeader::LEN).cast::<EventContext>()).comm = p.comm;
        }
        let mut pos = ARGS_OFFSET;
        for i in 0..6 {
            if i < cfg.nargs as usize && cfg.kinds[i] == arg::SCALAR && p.no_scalars == 0 {
                pos = put_scalar(e, pos, i as u8, p.args[i]);
            }
        }
        let mut pos = forget(pos);
        if p.has_blob != 0 {
            if let Some(b) = BLOBS.get_ptr(&tid) {
                let len = (*b).len as usize;
                let len = if len > BLOB_CAP { BLOB_CAP } else { len };
                let base = clamp_pos(pos, 511);
                bpf_probe_read_kernel(
                    e.add(base).cast::<c_void>(),
                    (len & (BLOB_CAP * 2 - 1)) as u32,
                    addr_of!((*b).data).cast::<c_void>(),
                );
                pos = base + len;
                let _ = BLOBS.remove(&tid);
            } else {
                mark_cut(e);
            }
        }
        finish_and_output(e, pos);
    }
}

#[inline(always)]
unsafe fn put_sockaddr_out(
    e: *mut u8,
    pos: usize,
    index: u8,
    ptr: u64,
    lenp: u64,
    ret: i64,
) -> usize {
    let (pos, cap) = match unsafe { item_at::<REC_MAX>(e, pos, kcfg::SOCKADDR_MAX) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let len = if ret < 0 || ptr == 0 || lenp == 0 {
            0
        } else {
            rd_user::<u32>(lenp).unwrap_or(0) as usize
        };
        let (len, trunc) = if len > cap {
            (cap, item::TRUNCATED)
        } else {
            (len, 0)
        };
        let len = len & 0xff;
        let r = if len == 0 {
            -1
        } else {
            bpf_probe_read_user(
                e.add(pos + ArgHeader::LEN).cast::<c_void>(),
                len as u32,
                ptr as *const c_void,
            )
        };
        // Its paths leave as one state (the next writer clamps).
        if r < 0 {
            put_header(e.add(pos), index, item::BYTES | item::FAULT | trunc, 0);
            return forget(pos + ArgHeader::LEN);
        }
        put_header(e.add(pos), index, item::BYTES | trunc, len as u16);
        forget(pos + ArgHeader::LEN + len)
    }
}

#[inline(always)]
fn event_enabled(id: u32) -> bool {
    matches!(CFG.get(id), Some(c) if c.enabled != 0)
}

#[inline(always)]
fn is_self() -> bool {
    is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32)
}

/// The collector itself, or a process of its pipeline.
#[inline(always)]
fn is_self_tgid(tgid: u32) -> bool {
    tgid == global_u32(&SELF_TGID)
        || (global_u32(&HAS_PEERS) != 0 && PEERS.get_ptr(&tgid).is_some())
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    unsafe { try_fork(&ctx) };
    0
}

unsafe fn try_fork(ctx: &BtfTracePointContext) {
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    unsafe {
        capture::inherit_writable(
            rd::<u32>(parent.add(offset(off::TASK_TGID))) as u64,
            rd::<u32>(child.add(offset(off::TASK_TGID))) as u64,
        );
    }
    if !event_enabled(event_id::SCHED_PROCESS_FORK) || is_self() {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    unsafe {
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::SCHED_PROCESS_FORK, current_syscall()),
            0,
            0,
        );
        let (p_ns_tid, p_ns_pid) = ns_ids(parent);
        let (c_ns_tid, c_ns_pid) = ns_ids(child);
        let mut pos = ARGS_OFFSET;
        pos = put_scalar(
            e,
            pos,
            0,
            rd::<u32>(parent.add(offset(off::TASK_PID))) as u64,
        );
        pos = put_scalar(e, pos, 1, p_ns_tid as u64);
        pos = put_scalar(
            e,
            pos,
            2,
            rd::<u32>(parent.add(offset(off::TASK_TGID))) as u64,
        );
        pos = put_scalar(e, pos, 3, p_ns_pid as u64);
        pos = put_scalar(
            e,
            pos,
            4,
            rd::<u32>(child.add(offset(off::TASK_PID))) as u64,
        );
        pos = put_scalar(e, pos, 5, c_ns_tid as u64);
        pos = put_scalar(
            e,
            pos,
            6,
            rd::<u32>(child.add(offset(off::TASK_TGID))) as u64,
        );
        pos = put_scalar(e, pos, 7, c_ns_pid as u64);
        pos = put_scalar(
            e,
            pos,
            8,
            rd::<u64>(child.add(offset(off::TASK_START_TIME))),
        );
        finish_and_output(e, pos);
    }
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    unsafe { try_exit(&ctx) };
    0
}

unsafe fn try_exit(ctx: &BtfTracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let group_dead: u64 = ctx.arg(1);
    // A thread that dies inside an entry-traced syscall (an exec) never
    // reaches sys_exit: its event is lost, and counted if it was in scope.
    if let Some(p) = PENDING.get_ptr(&tid) {
        let p = unsafe { *p };
        let _ = PENDING.remove(&tid);
        if p.out_of_scope == 0 && unsafe { pending_in_scope(&p) } {
            count_lost(lost_reason::UNFINISHED);
        }
    }
    let _ = BLOBS.remove(&tid);
    // A process of the pipeline that is gone is no longer left out: its
    // pid may come back as anyone's.
    if group_dead != 0 && global_u32(&HAS_PEERS) != 0 {
        let _ = PEERS.remove(&((pid_tgid >> 32) as u32));
    }
    let task = current_task();
    if !event_enabled(event_id::SCHED_PROCESS_EXIT) || is_self() {
        unsafe { forget_thread(tid, task) };
        return;
    }
    if let Some(e) = EVT_SCRATCH.get_ptr_mut(0) {
        let e = e.cast::<u8>();
        unsafe {
            fill_context(
                e,
                bpf_ktime_get_ns(),
                ids(event_id::SCHED_PROCESS_EXIT, u32::MAX),
                0,
                0,
            );
            let code = rd::<u32>(task.add(offset(off::TASK_EXIT_CODE)));
            let mut pos = ARGS_OFFSET;
            pos = put_scalar(e, pos, 0, ((code >> 8) & 0xff) as u64);
            pos = put_scalar(e, pos, 1, (code & 0x7f) as u64);
            pos = put_scalar(e, pos, 2, group_dead & 0xff);
            finish_and_output(e, pos);
        }
    }
    // The slot's tag is this task, which is going away.
    unsafe { forget_thread(tid, task) };
}

#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    unsafe { try_exec(&ctx) };
    0
}

unsafe fn try_exec(ctx: &BtfTracePointContext) {
    let task = current_task();
    // A thread other than the leader that execs takes over the leader's
    // id (and its namespace pid): forget what was cached under both.
    let old_tid: u32 = ctx.arg(1);
    unsafe {
        forget_thread(old_tid, task);
        forget_thread(bpf_get_current_pid_tgid() as u32, task);
    }
    if is_self() {
        return;
    }
    let bprm: *const u8 = ctx.arg(2);
    let tid = bpf_get_current_pid_tgid() as u32;
    if old_tid != tid {
        // What syscall_entry kept under the thread's old id follows it to
        // the leader's, where sys_exit will look (else the exec would pass
        // for one it never saw: no envp, no caller's name).
        unsafe { move_pending(old_tid, tid) };
    }
    // The caller's name, if syscall_entry saw the exec.
    let prev_comm = match PENDING.get_ptr(&tid) {
        Some(p) => unsafe { (*p).comm },
        None => {
            unsafe { keep_compat_exec(bprm, task, tid) };
            [0u8; 16]
        }
    };
    if !event_enabled(event_id::SCHED_PROCESS_EXEC) {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    unsafe {
        let syscall = current_syscall();
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::SCHED_PROCESS_EXEC, syscall),
            0,
            0,
        );
        let file = rd_ptr(bprm.add(offset(off::BPRM_FILE)));
        let inode = rd_ptr(file.add(offset(off::FILE_F_INODE)));
        let sb = rd_ptr(inode.add(offset(off::INODE_I_SB)));
        let filename = rd_ptr(bprm.add(offset(off::BPRM_FILENAME)));
        let interp = rd_ptr(bprm.add(offset(off::BPRM_INTERP)));

        let mut pos = ARGS_OFFSET;
        pos = put_kernel_str::<REC_MAX>(e, pos, 0, filename);
        pos = put_file_path(e, pos, 1, file);
        pos = put_scalar(e, pos, 2, rd::<u32>(sb.add(offset(off::SB_S_DEV))) as u64);
        pos = put_scalar(e, pos, 3, rd::<u64>(inode.add(offset(off::INODE_I_INO))));
        let sec = rd::<i64>(inode.add(offset(off::INODE_CTIME_SEC)));
        // Bit 31 of i_ctime_nsec is the multigrain "queried" flag (6.6+).
        let nsec = rd::<u32>(inode.add(offset(off::INODE_CTIME_NSEC))) & 0x3fff_ffff;
        pos = put_scalar(
            e,
            pos,
            4,
            (sec as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(nsec as u64),
        );
        pos = put_scalar(
            e,
            pos,
            5,
            rd::<u16>(inode.add(offset(off::INODE_I_MODE))) as u64,
        );
        // The interpreter, when it is not the file itself (scripts).
        if interp != filename {
            pos = put_kernel_str::<REC_MAX>(e, pos, 6, interp);
        }
        pos = put_exec_argv::<REC_MAX>(e, pos, 7, task);
        pos = put_comm(e, pos, 8, &prev_comm);
        finish_and_output(e, pos);
    }
}

/// Moves the pending entry (and its blob) of thread `from` to `to`.
#[inline(always)]
unsafe fn move_pending(from: u32, to: u32) {
    unsafe {
        let Some(p) = PENDING.get_ptr(&from) else {
            return;
        };
        let p = *p;
        let _ = PENDING.remove(&from);
        if p.has_blob != 0
            && let Some(b) = BLOBS.get_ptr(&from)
        {
            bpf_map_update_elem(
                addr_of!(BLOBS) as *mut c_void,
                addr_of!(to).cast::<c_void>(),
                b.cast::<c_void>(),
                0,
            );
            let _ = BLOBS.remove(&from);
        }
        if PENDING.insert(&to, &p, 0).is_err() {
            count_lost(lost_reason::TABLE_FULL);
        }
    }
}

/// An exec that succeeded without syscall_entry seeing it: an i386 caller
/// (the syscall tracepoints skip compat calls). Its event is made from what
/// the kernel kept, the name it was given and the new image's argv, for
/// sys_exit to send. Its scalar arguments (and envp) are gone with the old
/// registers and image, so they are left out. TS_COMPAT cannot tell the
/// caller's kind here: loading a 64-bit image clears it and makes the call
/// look like a native execve, which is also what sys_exit will see.
#[inline(always)]
unsafe fn keep_compat_exec(bprm: *const u8, task: *const u8, tid: u32) {
    unsafe {
        let tb = current_task_btf();
        let (nr, _) = native_nr(tb, bpf_task_pt_regs(tb as *mut _) as *const u8);
        if (nr != 59 && nr != 322) || !event_enabled(nr as u32) {
            return;
        }
        let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
            return;
        };
        let data = addr_of_mut!((*s).data).cast::<u8>();
        // execve(filename, argv, envp); execveat(fd, filename, argv, ...).
        let first = if nr == 59 { 0 } else { 1 };
        let filename = rd_ptr(bprm.add(offset(off::BPRM_FILENAME)));
        let pos = put_kernel_str::<BLOB_CAP>(data, 0, first, filename);
        let pos = put_exec_argv::<BLOB_CAP>(data, pos, first + 1, task);
        (*s).len = pos as u32;
        let mut p = Pending {
            ts: bpf_ktime_get_ns(),
            nr: nr as u32,
            flags: ctx_flags::COMPAT,
            args: [0; 6],
            comm: [0; 16],
            has_blob: 0,
            no_scalars: 1,
            out_of_scope: 0,
            _pad: 0,
        };
        // The task already has the new image's name.
        bpf_get_current_comm(p.comm.as_mut_ptr().cast::<c_void>(), 16);
        keep_pending(tid, p, Some(s));
    }
}

/// Writes a comm (up to its NUL) as a string argument.
#[inline(always)]
unsafe fn put_comm(e: *mut u8, pos: usize, index: u8, comm: &[u8; 16]) -> usize {
    let pos = match unsafe { whole_item_at(e, pos, 16) } {
        Ok(pos) => pos,
        Err(pos) => return pos,
    };
    let n = comm.iter().position(|&b| b == 0).unwrap_or(16);
    unsafe {
        *e.add(pos + ArgHeader::LEN).cast::<[u8; 16]>() = *comm;
        put_header(e.add(pos), index, item::STR, n as u16);
    }
    pos + ArgHeader::LEN + (n & 31)
}

/// Writes a kernel string at `pos` of a record of at most `LIMIT` bytes
/// (an event, or a blob for sys_exit to send); a long one keeps its end.
#[inline(always)]
unsafe fn put_kernel_str<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    src: *const u8,
) -> usize {
    let (pos, keep) = match unsafe { item_at::<LIMIT>(e, pos, STR_KEEP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let Some((len, cut)) =
            read_str_tail::<false>(e.add(pos + ArgHeader::LEN), keep, src as u64)
        else {
            put_header(e.add(pos), index, item::STR | item::FAULT, 0);
            return pos + ArgHeader::LEN;
        };
        let trunc = if cut { item::TRUNCATED } else { 0 };
        put_header(e.add(pos), index, item::STR | trunc, len as u16);
        pos + ArgHeader::LEN + len
    }
}

/// argv of the new image, straight from its stack: the strings between
/// mm->arg_start and mm->arg_end, already NUL-separated.
#[inline(always)]
unsafe fn put_exec_argv<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    task: *const u8,
) -> usize {
    let (pos, cap) = match unsafe { item_at::<LIMIT>(e, pos, EXEC_ARGV_CAP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let mm = rd_ptr(task.add(offset(off::TASK_MM)));
        let start = rd::<u64>(mm.add(offset(off::MM_ARG_START)));
        let end = rd::<u64>(mm.add(offset(off::MM_ARG_END)));
        let mut len = end.wrapping_sub(start) as usize;
        let mut flags = item::STR_ARRAY;
        if len > cap {
            len = cap;
            flags |= item::TRUNCATED;
        }
        let len = len & (EXEC_ARGV_CAP * 2 - 1);
        if len == 0 {
            put_header(e.add(pos), index, flags, 0);
            return pos + ArgHeader::LEN;
        }
        if bpf_probe_read_user(
            e.add(pos + ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            start as *const c_void,
        ) < 0
        {
            put_header(e.add(pos), index, item::STR_ARRAY | item::FAULT, 0);
            return pos + ArgHeader::LEN;
        }
        put_header(e.add(pos), index, flags, len as u16);
        pos + ArgHeader::LEN + len
    }
}

/// The absolute path of `file`, walking dentries and crossing mounts
/// upwards, written back to front in the per-CPU path scratch. Returns the
/// scratch, where the path starts in it (it ends at PATH_CAP), and whether
/// it was cut: deeper than PATH_DEPTH steps or longer than the scratch, in
/// which case what is kept is its end (the file's name and the directories
/// nearest it).
#[inline(always)]
unsafe fn file_path(file: *const u8) -> Option<(*mut u8, usize, bool)> {
    let buf = PATH_SCRATCH.get_ptr_mut(0)?.cast::<u8>();
    let mut cut = false;
    let mut top = false;
    unsafe {
        let path = file.add(offset(off::FILE_F_PATH));
        let mut dentry = rd_ptr(path.add(offset(off::PATH_DENTRY)));
        let mut vfsmnt = rd_ptr(path.add(offset(off::PATH_MNT)));
        let mut mnt = vfsmnt.sub(offset(off::MOUNT_MNT));
        let mut at = PATH_CAP;
        for _ in 0..PATH_DEPTH {
            let root = rd_ptr(vfsmnt.add(offset(off::VFSMOUNT_MNT_ROOT)));
            let parent = rd_ptr(dentry.add(offset(off::DENTRY_D_PARENT)));
            // Its own parent but no mount's root: a detached dentry (a
            // memfd's, say). Its name is the whole path, as d_path gives it.
            let detached = dentry == parent && dentry != root;
            if dentry == root {
                if climb_mount(&mut dentry, &mut mnt, &mut vfsmnt) {
                    top = true;
                    break;
                }
                continue;
            }
            let qstr = dentry.add(offset(off::DENTRY_D_NAME));
            // Masked, not clamped: every path then reaches the loop head
            // with the same value ranges, which lets the verifier prune.
            let nlen = rd::<u32>(qstr.add(offset(off::QSTR_LEN))) as usize & NAME_MAX;
            let name = rd_ptr(qstr.add(offset(off::QSTR_NAME)));
            if at <= nlen {
                cut = true;
                break;
            }
            at = (at - nlen - 1) & (PATH_CAP - 1);
            bpf_probe_read_kernel(
                buf.add(at + 1).cast::<c_void>(),
                nlen as u32,
                name.cast::<c_void>(),
            );
            *buf.add(at) = b'/';
            if detached {
                top = true;
                break;
            }
            dentry = parent;
        }
        if !top && !cut {
            // The steps ran out: the path is whole only if nothing but the
            // roots of mounts (no name) is left above.
            for _ in 0..3 {
                let root = rd_ptr(vfsmnt.add(offset(off::VFSMOUNT_MNT_ROOT)));
                if dentry != root {
                    break;
                }
                if climb_mount(&mut dentry, &mut mnt, &mut vfsmnt) {
                    top = true;
                    break;
                }
            }
            cut = !top;
        }
        if at == PATH_CAP {
            at -= 1;
            *buf.add(at & (PATH_CAP - 1)) = b'/';
        }
        Some((buf, at & (PATH_CAP - 1), cut))
    }
}

/// From the root `dentry` of mount `mnt` (whose vfsmount is `vfsmnt`) to
/// where that mount is mounted in its parent. True if there is no parent:
/// the top of the namespace.
#[inline(always)]
unsafe fn climb_mount(dentry: &mut *const u8, mnt: &mut *const u8, vfsmnt: &mut *const u8) -> bool {
    unsafe {
        let mparent = rd_ptr(mnt.add(offset(off::MOUNT_PARENT)));
        if mparent == *mnt {
            return true;
        }
        *dentry = rd_ptr(mnt.add(offset(off::MOUNT_MOUNTPOINT)));
        *mnt = mparent;
        *vfsmnt = mparent.add(offset(off::MOUNT_MNT));
    }
    false
}

/// Writes the path of `file` as a string argument. A path longer than a
/// string item keeps its end: the name of the file is what matters most.
#[inline(always)]
unsafe fn put_file_path(e: *mut u8, pos: usize, index: u8, file: *const u8) -> usize {
    let (pos, keep) = match unsafe { item_at::<REC_MAX>(e, pos, STR_KEEP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let Some((buf, at, cut)) = file_path(file) else {
            mark_cut(e);
            return pos;
        };
        let have = PATH_CAP - at;
        let (mut from, mut len, cut) = if have > keep {
            (PATH_CAP - keep, keep, true)
        } else {
            (at, have, cut)
        };
        // A cut path must not pass for a whole one: it never starts with
        // the '/' an absolute path would.
        if cut && len > 1 && *buf.add(from & (PATH_CAP - 1)) == b'/' {
            from += 1;
            len -= 1;
        }
        let flags = if cut {
            item::STR | item::TRUNCATED
        } else {
            item::STR
        };
        let len = len & (STR_MAX * 2 - 1);
        bpf_probe_read_kernel(
            e.add(pos + ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            buf.add(from & (PATH_CAP - 1)).cast::<c_void>(),
        );
        put_header(e.add(pos), index, flags, len as u16);
        pos + ArgHeader::LEN + len
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
