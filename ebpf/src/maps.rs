//! The maps and the read-only globals tracee-collect sets at load time,
//! the per-thread state kept in them, and the loss counters.

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    helpers::generated::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, ProgramArray, RingBuf},
};
use wire::{
    kcfg::{self, EventCfg, member},
    lost_reason,
};

use crate::kread::current_comm_into;
use crate::limits::{BLOB_CAP, EVT_CAP, PATH_CAP};

// Globals set by tracee-collect at load time. Zero means "no filter".
#[unsafe(no_mangle)]
pub(crate) static SELF_TGID: u32 = 0;
/// Non-zero if PEERS holds processes to leave out (the rest of the pipeline).
#[unsafe(no_mangle)]
pub(crate) static HAS_PEERS: u32 = 0;
#[unsafe(no_mangle)]
pub(crate) static SCOPE: u32 = 0;
#[unsafe(no_mangle)]
pub(crate) static SCOPE_NOT: u32 = 0;
/// Which cgroups the container scope keeps (`kcfg::container_scope`),
/// when `SCOPE` has `scope::CONTAINER`.
#[unsafe(no_mangle)]
pub(crate) static SCOPE_CONTAINER: u32 = 0;
/// Non-zero: every fork and exec is sent, whatever the scope and
/// selection, for tracee-collect's process table (each process's
/// executable); it forwards only what was asked for.
#[unsafe(no_mangle)]
pub(crate) static TRACK_PROCS: u32 = 0;
/// Non-zero: sched_process_exec carries the new image's environment
/// (`--exec-env`).
#[unsafe(no_mangle)]
pub(crate) static EXEC_ENV: u32 = 0;
#[unsafe(no_mangle)]
pub(crate) static WAKE_BYTES: u64 = 0;
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: [u32; member::COUNT] = [0; member::COUNT];

#[map]
pub(crate) static RING: RingBuf = RingBuf::with_byte_size(1 << 24, 0);
/// Bytes this CPU wrote to [`RING`] since it last asked how full it is.
#[map]
pub(crate) static WAKE_ACC: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
pub(crate) const WAKE_CHECK: u64 = 16 * 1024;
/// The security programs sys_exit tail-calls (`security::SLOT_*`); a slot
/// is empty unless a security event derived from its syscalls is selected.
#[map]
pub(crate) static SECURITY: ProgramArray = ProgramArray::with_max_entries(3, 0);
#[map]
pub(crate) static CFG: Array<EventCfg> = Array::with_max_entries(kcfg::CFG_ENTRIES, 0);
#[map]
pub(crate) static COMPAT: Array<u32> = Array::with_max_entries(kcfg::COMPAT_ENTRIES, 0);
#[map]
pub(crate) static PENDING: HashMap<u32, Pending> = HashMap::with_max_entries(65536, 0);
/// Per-thread state that outlives one syscall, direct-mapped by thread id
/// (an array lookup costs next to nothing; a hash lookup per syscall cost
/// more than the rest of the entry program). Each slot is tagged with the
/// task it belongs to, and every use checks the tag, so two threads whose
/// ids share a slot only cost each other the cache, never borrow values.
#[map]
pub(crate) static THREADS: Array<Thread> = Array::with_max_entries(THREAD_SLOTS, 0);
pub(crate) const THREAD_SLOTS: u32 = 65536;
/// Changed after whatever can change a cached context field of a live
/// task other than its parent: setns and unshare (the namespaces),
/// sethostname and setdomainname (the UTS name). A cached context is used
/// only while the value it was read under is current and the task's parent
/// is the same (a thread is reparented when its parent exits). These calls
/// are rare next to other syscalls, so the cache nearly always hits and an
/// event costs one pointer read instead of a dozen.
#[map]
pub(crate) static GEN: Array<u64> = Array::with_max_entries(1, 0);

#[inline(always)]
pub(crate) fn generation() -> u64 {
    match GEN.get_ptr(0) {
        // SAFETY: a pointer to the map's one value, valid for this run.
        Some(g) => unsafe { read_volatile(g) },
        None => 0,
    }
}

/// A new value, never one seen before: the clock only moves forward, so
/// racing writers both leave a new value.
#[inline(always)]
pub(crate) fn new_generation() {
    if let Some(g) = GEN.get_ptr_mut(0) {
        // SAFETY: a pointer to the map's one value, valid for this run;
        // racing writers each leave a new value, which is all it must be.
        unsafe { core::ptr::write_volatile(g, bpf_ktime_get_ns()) };
    }
}

/// Where the context of a task without a slot is put together.
#[map]
pub(crate) static THREAD_SCRATCH: PerCpuArray<Thread> = PerCpuArray::with_max_entries(1, 0);
/// Allocated on demand: most syscalls have no pointer argument to keep.
#[map]
pub(crate) static BLOBS: HashMap<u32, Blob> =
    HashMap::with_max_entries(16384, 1 /* BPF_F_NO_PREALLOC */);
#[map]
pub(crate) static BLOB_SCRATCH: PerCpuArray<BlobScratch> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub(crate) static EVT_SCRATCH: PerCpuArray<[u8; EVT_CAP]> = PerCpuArray::with_max_entries(1, 0);
/// What mprotect's entry saw of the region it changes, per thread, for
/// mem_prot_alert at its exit: (start, the region's protection, its file).
#[map]
pub(crate) static PROT_PREV: HashMap<u32, [u64; 3]> = HashMap::with_max_entries(16384, 0);
/// cap_capable's own record scratch: the capability tracepoint can fire in
/// an interrupt, on a CPU whose event scratch a program is filling.
#[map]
pub(crate) static CAP_EVT_SCRATCH: PerCpuArray<[u8; 256]> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub(crate) static PATH_SCRATCH: PerCpuArray<[u8; PATH_CAP * 2]> =
    PerCpuArray::with_max_entries(1, 0);
/// Processes of the tracing pipeline itself (tracee-filter, tracee-fmt
/// reading our output): their events would feed back into the stream.
#[map]
pub(crate) static PEERS: HashMap<u32, u8> = HashMap::with_max_entries(64, 0);
#[map]
pub(crate) static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(lost_reason::COUNT, 0);

// Pushed-down scope filters; a value of 1 marks membership.
#[map]
pub(crate) static F_COMM: HashMap<[u8; 16], u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
#[map]
pub(crate) static F_PID: HashMap<u32, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
#[map]
pub(crate) static F_TID: HashMap<u32, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
#[map]
pub(crate) static F_UID: HashMap<u32, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
#[map]
pub(crate) static F_MNTNS: HashMap<u32, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
#[map]
pub(crate) static F_PIDNS: HashMap<u32, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);
/// cgroup v2 directories created while tracing, and containers
/// (`kcfg::cgroup` says what a value means and who writes it).
#[map]
pub(crate) static CGROUPS: HashMap<u64, u32> =
    HashMap::with_max_entries(kcfg::cgroup::ENTRIES, 1 /* BPF_F_NO_PREALLOC */);
/// Cgroups of containers that have started (`ctx_flags::CONTAINER_STARTED`):
/// added by `sched_process_exec` for a cgroup in [`CGROUPS`] when a task
/// execs in a mount namespace other than its parent's, and by
/// tracee-collect for containers running when tracing began; removed by
/// tracee-collect when the cgroup is. Adding one starts a new
/// [`generation`], so cached contexts read it again.
#[map]
pub(crate) static STARTED: HashMap<u64, u8> =
    HashMap::with_max_entries(kcfg::cgroup::ENTRIES, 1 /* BPF_F_NO_PREALLOC */);
/// Non-zero once [`CGROUPS`] had no room for a new cgroup: the container
/// scope then passes everything, and user space decides.
#[map]
pub(crate) static CGROUPS_FULL: Array<u32> = Array::with_max_entries(1, 0);
#[map]
pub(crate) static F_CGROUP: HashMap<u64, u8> = HashMap::with_max_entries(kcfg::SCOPE_SET_MAX, 0);

/// What syscall_entry (or sched_process_exec, for an i386 execve) leaves
/// for sys_exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) ts: u64,
    pub(crate) nr: u32,
    pub(crate) flags: u32,
    pub(crate) args: [u64; 6],
    pub(crate) comm: [u8; 16],
    pub(crate) has_blob: u32,
    /// `args` holds nothing: the scalar arguments are left out.
    pub(crate) no_scalars: u32,
    /// Out of the pushed-down scope: kept only so that the exit knows the
    /// entry saw the call (an exec with no entry passes for an i386 one);
    /// no event is sent and no argument kept.
    pub(crate) out_of_scope: u32,
    pub(crate) _pad: u32,
}

impl Pending {
    /// Syscall `nr` of the current task, now, under the task's name now.
    /// `args: None` leaves the scalar arguments out (they are gone).
    #[inline(always)]
    pub(crate) fn now(nr: u32, flags: u32, args: Option<[u64; 6]>) -> Pending {
        let mut p = Pending {
            // SAFETY: the helper takes no argument.
            ts: unsafe { bpf_ktime_get_ns() },
            nr,
            flags,
            args: args.unwrap_or([0; 6]),
            comm: [0; 16],
            has_blob: 0,
            no_scalars: args.is_none() as u32,
            out_of_scope: 0,
            _pad: 0,
        };
        current_comm_into(&mut p.comm);
        p
    }
}

/// What [`THREADS`] keeps for a thread.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Thread {
    /// The cached context below belongs to `task`, whose parent was
    /// `parent`, and was read while [`GEN`] was `generation_seen`.
    pub(crate) task: u64,
    pub(crate) parent: u64,
    pub(crate) generation_seen: u64,
    pub(crate) thread_start: u64,
    pub(crate) leader_start: u64,
    pub(crate) parent_start: u64,
    /// The cgroup the flags below were read for.
    pub(crate) cgroup_id: u64,
    /// `ctx_flags::CONTAINER_STARTED` if that cgroup is in [`STARTED`].
    pub(crate) cgroup_flags: u32,
    pub(crate) _pad: u32,
    pub(crate) uts: [u8; 16],
    pub(crate) ppid: u32,
    pub(crate) ns_tid: u32,
    pub(crate) ns_pid: u32,
    pub(crate) ns_ppid: u32,
    pub(crate) mnt_ns: u32,
    pub(crate) pid_ns: u32,
}

/// The slot of thread `tid`.
#[inline(always)]
pub(crate) fn thread_slot(tid: u32) -> Option<*mut Thread> {
    THREADS.get_ptr_mut(tid & (THREAD_SLOTS - 1))
}

/// Forgets what the slot of `tid` holds for `task`.
#[inline(always)]
pub(crate) fn forget_thread(tid: u32, task: *const u8) {
    if let Some(t) = thread_slot(tid) {
        // SAFETY: a slot of THREADS, valid for this run; a racing writer
        // can only make the tag stale, which every use checks.
        unsafe {
            if (*t).task == task as u64 {
                (*t).task = 0;
            }
        }
    }
}

#[repr(C)]
pub(crate) struct Blob {
    pub(crate) len: u32,
    pub(crate) _pad: u32,
    pub(crate) data: [u8; BLOB_CAP],
}

/// Same head as Blob; twice the data so bounded writes at a masked offset
/// always fit.
#[repr(C)]
pub(crate) struct BlobScratch {
    pub(crate) len: u32,
    pub(crate) _pad: u32,
    pub(crate) data: [u8; BLOB_CAP * 2],
}

#[inline(always)]
pub(crate) fn offset(i: usize) -> usize {
    // SAFETY: OFFSETS is a plain array global and callers pass a
    // `member::*` slot, below its length; volatile stops the compiler from
    // folding the zero it was compiled with.
    unsafe { read_volatile(addr_of!(OFFSETS).cast::<u32>().add(i)) as usize }
}

#[inline(always)]
pub(crate) fn global_u32(g: &u32) -> u32 {
    // SAFETY: a reference is valid to read; volatile because the loader
    // sets the value after compilation.
    unsafe { read_volatile(g) }
}

#[inline(always)]
pub(crate) fn global_u64(g: &u64) -> u64 {
    // SAFETY: as in [`global_u32`].
    unsafe { read_volatile(g) }
}

#[inline(always)]
pub(crate) fn count_lost(reason: u32) {
    if let Some(p) = LOST.get_ptr_mut(reason) {
        // SAFETY: this CPU's counter in a per-CPU map, valid for this run
        // and written by no one else meanwhile.
        unsafe { *p += 1 };
    }
}
