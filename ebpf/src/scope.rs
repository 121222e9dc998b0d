//! What is left out: the pushed-down scope filters, the collector and
//! its pipeline, and events that are not selected.

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use wire::{
    EventContext, ctx_flags,
    kcfg::{cgroup, container_scope, nr, scope},
};

use crate::context::{ctx_of, fill_context, ids};
use crate::maps::{
    CFG, CGROUPS, CGROUPS_FULL, EVT_SCRATCH, F_CGROUP, F_COMM, F_MNTNS, F_PID, F_PIDNS, F_TID,
    F_UID, HAS_PEERS, PEERS, Pending, SCOPE, SCOPE_CONTAINER, SCOPE_NOT, SELF_TGID, global_u32,
};

/// Scope filters pushed down from the filter expressions, checked against
/// the context exactly as the record carries it, so pushdown drops only
/// what tracee-filter would drop from the same record.
#[inline(always)]
pub(crate) fn scope_ok(c: &EventContext) -> bool {
    let active = global_u32(&SCOPE);
    if active == 0 {
        return true;
    }
    let not = global_u32(&SCOPE_NOT);
    let pass = |bit: u32, found: bool| -> bool { if not & bit != 0 { !found } else { found } };
    {
        if active & scope::COMM != 0 && !pass(scope::COMM, F_COMM.get_ptr(&c.comm).is_some()) {
            return false;
        }
        if active & scope::PID != 0 && !pass(scope::PID, F_PID.get_ptr(&c.pid).is_some()) {
            return false;
        }
        if active & scope::TID != 0 && !pass(scope::TID, F_TID.get_ptr(&c.tid).is_some()) {
            return false;
        }
        if active & scope::UID != 0 && !pass(scope::UID, F_UID.get_ptr(&c.uid).is_some()) {
            return false;
        }
        if active & scope::MNTNS != 0 && !pass(scope::MNTNS, F_MNTNS.get_ptr(&c.mnt_ns).is_some()) {
            return false;
        }
        if active & scope::PIDNS != 0 && !pass(scope::PIDNS, F_PIDNS.get_ptr(&c.pid_ns).is_some()) {
            return false;
        }
        if active & scope::CGROUP != 0
            && !pass(scope::CGROUP, F_CGROUP.get_ptr(&c.cgroup_id).is_some())
        {
            return false;
        }
        if active & scope::CONTAINER != 0 && !container_ok(c.cgroup_id, c.flags) {
            return false;
        }
    }
    true
}

/// Whether the event of cgroup `id` (whose context `flags` say if its
/// container started) passes the container scope, judged as user space
/// judges it: a started container is one whose cgroup is a container's
/// and flagged started. A cgroup user space has not classified yet
/// passes, and so does every cgroup once the kernel's table overflowed:
/// user space then decides.
#[inline(never)]
fn container_ok(id: u64, flags: u32) -> bool {
    if CGROUPS_FULL.get(0).is_some_and(|f| *f != 0) {
        return true;
    }
    // SAFETY: a value of CGROUPS, copied at once.
    let v = CGROUPS.get_ptr(&id).map_or(0, |p| unsafe { *p });
    if v & cgroup::PENDING != 0 {
        return true;
    }
    let started = flags & ctx_flags::CONTAINER_STARTED != 0 && v & cgroup::CONTAINER != 0;
    match global_u32(&SCOPE_CONTAINER) {
        container_scope::ANY => started,
        container_scope::NONE => !started,
        container_scope::NEW => started && v & cgroup::NEW != 0,
        _ => true,
    }
}

/// Whether the event `p` will make may pass the pushed-down scope, judged
/// on the context as it will carry it (the caller's name at entry).
///
/// # Safety
/// The event scratch is used to build the context in: it must not hold a
/// record being built.
#[inline(always)]
pub(crate) unsafe fn pending_in_scope(p: &Pending) -> bool {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let e = e.cast::<u8>();
    // SAFETY: this CPU's event scratch, which the caller is not using.
    let c = unsafe {
        fill_context(e, p.ts, ids(p.nr, p.nr), 0, p.flags);
        ctx_of(e)
    };
    c.comm = p.comm;
    if scope_ok(c) {
        return true;
    }
    // An exec by a thread other than the leader ends as the leader
    // (de_thread): if it succeeds, its record carries the process id as
    // its tid. The exit judges the record as it is.
    if (p.nr == nr::EXECVE || p.nr == nr::EXECVEAT) && c.tid != c.pid {
        c.tid = c.pid;
        return scope_ok(c);
    }
    false
}

#[inline(always)]
pub(crate) fn event_enabled(id: u32) -> bool {
    matches!(CFG.get(id), Some(c) if c.enabled != 0)
}

#[inline(always)]
pub(crate) fn is_self() -> bool {
    is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32)
}

/// The collector itself, or a process of its pipeline.
#[inline(always)]
pub(crate) fn is_self_tgid(tgid: u32) -> bool {
    tgid == global_u32(&SELF_TGID)
        || (global_u32(&HAS_PEERS) != 0 && PEERS.get_ptr(&tgid).is_some())
}
