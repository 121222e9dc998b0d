//! The event context: the record header and who did it (ids, names,
//! namespaces), cached per thread.

use core::mem::offset_of;

use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    generated::{bpf_get_current_cgroup_id, bpf_get_smp_processor_id},
};
use wire::{EventContext, RecordHeader, ctx_flags, kcfg::member};

use crate::kread::{current_comm_into, current_task, current_task_btf, ld, rd, rd_into, rd_ptr};
use crate::maps::{STARTED, THREAD_SCRATCH, Thread, generation, offset, thread_slot};

/// The number of `task`'s pid struct `pid` in namespace level `level`.
#[inline(always)]
pub(crate) fn pid_nr_at(pid: *const u8, level: u32) -> u32 {
    let upid = pid.wrapping_add(
        offset(member::PID_NUMBERS) + (level & 31) as usize * offset(member::UPID_SIZE),
    );
    rd::<u32>(upid.wrapping_add(offset(member::UPID_NR)))
}

/// Thread id and process id of `task` as seen from its own pid namespace.
#[inline(always)]
pub(crate) fn ns_ids(task: *const u8) -> (u32, u32) {
    let tp = rd_ptr(task.wrapping_add(offset(member::TASK_THREAD_PID)));
    let level = rd::<u32>(tp.wrapping_add(offset(member::PID_LEVEL)));
    let leader = rd_ptr(task.wrapping_add(offset(member::TASK_GROUP_LEADER)));
    let lp = rd_ptr(leader.wrapping_add(offset(member::TASK_THREAD_PID)));
    (pid_nr_at(tp, level), pid_nr_at(lp, level))
}

/// The mount namespace (inode number) of `task`.
#[inline(always)]
pub(crate) fn mnt_ns_of(task: *const u8) -> u32 {
    let nsp = rd_ptr(task.wrapping_add(offset(member::TASK_NSPROXY)));
    if nsp.is_null() {
        return 0;
    }
    let mnt = rd_ptr(nsp.wrapping_add(offset(member::NSPROXY_MNT_NS)));
    rd::<u32>(mnt.wrapping_add(offset(member::MNT_NS_INUM)))
}

#[inline(always)]
pub(crate) fn pid_ns_of(task: *const u8) -> u32 {
    let tp = rd_ptr(task.wrapping_add(offset(member::TASK_THREAD_PID)));
    let level = rd::<u32>(tp.wrapping_add(offset(member::PID_LEVEL)));
    let upid = tp.wrapping_add(
        offset(member::PID_NUMBERS) + (level & 31) as usize * offset(member::UPID_SIZE),
    );
    let ns = rd_ptr(upid.wrapping_add(offset(member::UPID_NS)));
    rd::<u32>(ns.wrapping_add(offset(member::PID_NS_INUM)))
}

/// The context of the record being built in the scratch at `e`.
///
/// # Safety
/// `e` must be an event scratch (an EVT_SCRATCH or CAP_SCRATCH value:
/// 8-aligned, larger than a record header and a context) that nothing else
/// uses while the returned reference lives: per-CPU, and a program run is
/// not preempted on its CPU.
#[inline(always)]
pub(crate) unsafe fn ctx_of<'a>(e: *mut u8) -> &'a mut EventContext {
    // SAFETY: as the caller promises; the context follows the 8-byte
    // record header, so it is aligned too.
    unsafe { &mut *e.add(RecordHeader::LEN).cast::<EventContext>() }
}
const _: () = assert!(RecordHeader::LEN % 8 == 0);
const _: () = assert!(offset_of!(EventContext, comm) % 8 == 0);
const _: () = assert!(offset_of!(EventContext, uts) % 8 == 0);

/// A 16-byte name as two words: a `[u8; 16]` assignment compiles to a
/// byte-wise memmove.
#[inline(always)]
fn name_words(name: &mut [u8; 16]) -> &mut [u64; 2] {
    // SAFETY: both are 16 bytes of plain data; every name field this is
    // used on is 8-aligned (asserted above for the context's).
    unsafe { &mut *(name as *mut [u8; 16]).cast::<[u64; 2]>() }
}

/// Writes the context of the current task into the record at `e`; `ids`
/// is the event id in the low half and the syscall in the high half.
/// The parts that need pointer chasing come from the thread's slot in
/// [`THREADS`] while it is still valid, and refresh it otherwise.
///
/// Not inlined: a BPF-to-BPF call is verified once per call site, and the
/// branches in here then do not multiply the caller's verifier states.
///
/// # Safety
/// As [`ctx_of`].
#[inline(never)]
pub(crate) unsafe fn fill_context(e: *mut u8, ts: u64, ids: u64, retval: i64, flags: u32) {
    // SAFETY: the caller's promise.
    let c = unsafe { ctx_of(e) };
    let task = current_task();
    let uid_gid = bpf_get_current_uid_gid();
    // SAFETY: the helper takes no argument.
    c.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    c.uid = uid_gid as u32;
    c.gid = (uid_gid >> 32) as u32;
    current_comm_into(&mut c.comm);
    let parent = rd_ptr(task.wrapping_add(offset(member::TASK_REAL_PARENT)));
    fill_rest(c, task, parent, ts, ids, retval, flags);
}

/// [`fill_context`] for BTF programs: the same fields, read from the task
/// with plain loads instead of helper calls (the hot path of every syscall).
///
/// # Safety
/// As [`ctx_of`].
#[inline(always)]
pub(crate) unsafe fn fill_context_btf(e: *mut u8, ts: u64, ids: u64, retval: i64, flags: u32) {
    // SAFETY: the caller's promise.
    let c = unsafe { ctx_of(e) };
    let task = current_task_btf();
    let cred = ld::<*const u8>(task, offset(member::TASK_CRED));
    c.uid = ld::<u32>(cred, offset(member::CRED_UID));
    c.gid = ld::<u32>(cred, offset(member::CRED_GID));
    // task->cgroups->dfl_cgrp->kn->id, what bpf_get_current_cgroup_id reads.
    let cset = ld::<*const u8>(task, offset(member::TASK_CGROUPS));
    let cgrp = ld::<*const u8>(cset, offset(member::CSS_SET_DFL_CGRP));
    let kn = ld::<*const u8>(cgrp, offset(member::CGROUP_KN));
    c.cgroup_id = ld::<u64>(kn, offset(member::KERNFS_NODE_ID));
    let comm = name_words(&mut c.comm);
    comm[0] = ld::<u64>(task, offset(member::TASK_COMM));
    comm[1] = ld::<u64>(task, offset(member::TASK_COMM) + 8);
    let parent = ld::<*const u8>(task, offset(member::TASK_REAL_PARENT));
    fill_rest(c, task, parent, ts, ids, retval, flags);
}

/// The context fields both fillers share: ids, and the cached ones.
#[inline(always)]
fn fill_rest(
    c: &mut EventContext,
    task: *const u8,
    parent: *const u8,
    ts: u64,
    ids: u64,
    retval: i64,
    flags: u32,
) {
    let pid_tgid = bpf_get_current_pid_tgid();
    c.ts = ts;
    c.event_id = ids as u32;
    c.syscall = (ids >> 32) as u32;
    // SAFETY: the helper takes no argument.
    c.cpu = unsafe { bpf_get_smp_processor_id() };
    c.flags = flags;
    c.pid = (pid_tgid >> 32) as u32;
    c.tid = pid_tgid as u32;
    c.retval = retval;

    let t = match thread_slot(pid_tgid as u32) {
        Some(t) => t,
        None => {
            let Some(t) = THREAD_SCRATCH.get_ptr_mut(0) else {
                return;
            };
            // SAFETY: this CPU's scratch slot, valid for this run.
            unsafe { (*t).task = 0 };
            t
        }
    };
    // SAFETY: a slot of THREADS (or this CPU's scratch), valid for this
    // run. Two threads whose ids share a slot may race on it; every use
    // checks the tag, so a race costs a refresh, never a borrowed value.
    let k = unsafe { &mut *t };
    let seen = generation();
    if !(k.task == task as u64
        && k.generation_seen == seen
        && k.parent == parent as u64
        && k.cgroup_id == c.cgroup_id)
    {
        slow_context(k, current_task(), seen, c.cgroup_id);
    }
    c.flags |= k.cgroup_flags;
    c.thread_start = k.thread_start;
    c.leader_start = k.leader_start;
    c.parent_start = k.parent_start;
    c.ppid = k.ppid;
    c.ns_tid = k.ns_tid;
    c.ns_pid = k.ns_pid;
    c.ns_ppid = k.ns_ppid;
    c.mnt_ns = k.mnt_ns;
    c.pid_ns = k.pid_ns;
    *name_words(&mut c.uts) = *name_words(&mut k.uts);
}

/// The context fields that take pointer chasing, read from the kernel
/// into the thread's slot.
#[inline(always)]
fn slow_context(k: &mut Thread, task: *const u8, generation_seen: u64, cgroup_id: u64) {
    let parent = rd_ptr(task.wrapping_add(offset(member::TASK_REAL_PARENT)));
    let nsp = rd_ptr(task.wrapping_add(offset(member::TASK_NSPROXY)));
    k.task = task as u64;
    k.parent = parent as u64;
    k.generation_seen = generation_seen;
    k.thread_start = rd::<u64>(task.wrapping_add(offset(member::TASK_START_TIME)));
    let leader = rd_ptr(task.wrapping_add(offset(member::TASK_GROUP_LEADER)));
    k.leader_start = rd::<u64>(leader.wrapping_add(offset(member::TASK_START_TIME)));
    // The parent process: the real parent's group leader (whose tgid is
    // the context's ppid).
    let pleader = rd_ptr(parent.wrapping_add(offset(member::TASK_GROUP_LEADER)));
    k.parent_start = rd::<u64>(pleader.wrapping_add(offset(member::TASK_START_TIME)));
    k.cgroup_id = cgroup_id;
    k.cgroup_flags = if STARTED.get_ptr(&cgroup_id).is_some() {
        ctx_flags::CONTAINER_STARTED
    } else {
        0
    };
    k.ppid = rd::<u32>(parent.wrapping_add(offset(member::TASK_TGID)));
    let (ns_tid, ns_pid) = ns_ids(task);
    k.ns_tid = ns_tid;
    k.ns_pid = ns_pid;
    // The parent's process id in the child's namespace, 0 if outside it.
    let tp = rd_ptr(task.wrapping_add(offset(member::TASK_THREAD_PID)));
    let level = rd::<u32>(tp.wrapping_add(offset(member::PID_LEVEL)));
    let pp = rd_ptr(pleader.wrapping_add(offset(member::TASK_THREAD_PID)));
    let plevel = rd::<u32>(pp.wrapping_add(offset(member::PID_LEVEL)));
    k.ns_ppid = if plevel >= level {
        pid_nr_at(pp, level)
    } else {
        0
    };
    k.mnt_ns = 0;
    k.uts = [0; 16];
    if !nsp.is_null() {
        let mnt = rd_ptr(nsp.wrapping_add(offset(member::NSPROXY_MNT_NS)));
        k.mnt_ns = rd::<u32>(mnt.wrapping_add(offset(member::MNT_NS_INUM)));
        let uts = rd_ptr(nsp.wrapping_add(offset(member::NSPROXY_UTS_NS)));
        rd_into(&mut k.uts, uts.wrapping_add(offset(member::UTS_NODENAME)));
    }
    k.pid_ns = pid_ns_of(task);
}

#[inline(always)]
pub(crate) fn ids(id: u32, syscall: u32) -> u64 {
    id as u64 | (syscall as u64) << 32
}
