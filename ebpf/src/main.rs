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
#![deny(unsafe_op_in_unsafe_fn)]

mod args;
mod capture;
mod cgroup;
mod context;
mod file;
mod kread;
mod limits;
mod maps;
mod net;
mod output;
mod path;
mod regs;
mod sched;
mod scope;
mod security;
mod syscall;

use aya_ebpf::{
    macros::{btf_tracepoint, cgroup_skb, cgroup_sock, fentry, lsm, raw_tracepoint, tracepoint},
    programs::{
        BtfTracePointContext, FEntryContext, LsmContext, RawTracePointContext, SkBuffContext,
        SockContext, TracePointContext,
    },
};

use crate::sched::{try_exec, try_exit, try_fork};
use crate::syscall::{try_sys_exit, try_syscall_entry};

/// Entry of the few syscalls whose arguments do not survive until exit:
/// execve and execveat (a new image replaces the memory and registers) and
/// those that never return (exit, exit_group, rt_sigreturn). Attached to
/// their `syscalls/sys_enter_*` tracepoints only, so no program runs at the
/// entry of any other syscall.
#[tracepoint]
pub fn syscall_entry(ctx: TracePointContext) -> i32 {
    try_syscall_entry(&ctx);
    0
}

/// Exit of every syscall. A BTF tracepoint: the registers and the task are
/// read with plain loads, not helper calls. All but the few syscalls that
/// [`syscall_entry`] handles are emitted from here alone, their arguments
/// read from the registers (and the memory they point to) at exit, so a
/// traced syscall costs one program run.
#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    let derive = try_sys_exit(&ctx);
    if derive != 0 {
        // SAFETY: a tail call into the security program of the syscall's
        // group, a program of this type on this hook; it does not return
        // (or, if the slot is empty, does nothing).
        unsafe { maps::SECURITY.tail_call(&ctx, derive as u32 - 1) };
    }
    0
}

/// Security events derived from the exits of opens and of the inode and
/// mount calls: tail-called from [`sys_exit`].
#[btf_tracepoint(function = "sys_exit")]
pub fn security_files(ctx: BtfTracePointContext) -> i32 {
    security::try_security_files(&ctx);
    0
}

/// Security events derived from the exits of the socket calls.
#[btf_tracepoint(function = "sys_exit")]
pub fn security_net(ctx: BtfTracePointContext) -> i32 {
    security::try_security_net(&ctx);
    0
}

/// Security events derived from the exits of writes, mmap, mprotect and
/// bpf.
#[btf_tracepoint(function = "sys_exit")]
pub fn security_memory(ctx: BtfTracePointContext) -> i32 {
    security::try_security_memory(&ctx);
    0
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    try_fork(&ctx);
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    try_exit(&ctx);
    0
}

#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    try_exec(&ctx);
    0
}

/// Security events derived from an exec, on the same tracepoint as
/// [`sched_process_exec`] (attached after it, only when one is selected:
/// an exec is rare enough that a second program costs nothing that
/// matters, and a tail call would cost sched_process_exec the private
/// stack its depth needs).
#[btf_tracepoint(function = "sched_process_exec")]
pub fn security_exec(ctx: BtfTracePointContext) -> i32 {
    security::try_security_exec(&ctx);
    0
}

/// mprotect's entry, for mem_prot_alert: attached to
/// `syscalls/sys_enter_mprotect` and `sys_enter_pkey_mprotect` only when
/// it is selected.
#[tracepoint]
pub fn mprotect_entry(ctx: TracePointContext) -> i32 {
    security::try_mprotect_entry(&ctx);
    0
}

/// `cap_capable`, from the capability tracepoint.
#[tracepoint]
pub fn cap_capable(ctx: TracePointContext) -> i32 {
    security::try_cap_capable(&ctx);
    0
}

#[btf_tracepoint(function = "cgroup_mkdir")]
pub fn cgroup_mkdir(ctx: BtfTracePointContext) -> i32 {
    cgroup::try_cgroup(&ctx, wire::event_id::CGROUP_MKDIR);
    0
}

#[btf_tracepoint(function = "cgroup_rmdir")]
pub fn cgroup_rmdir(ctx: BtfTracePointContext) -> i32 {
    cgroup::try_cgroup(&ctx, wire::event_id::CGROUP_RMDIR);
    0
}

/// Capture's own program on sys_exit, attached only when capturing: the
/// verifier's instruction budget is per program, and [`sys_exit`] uses
/// most of its own.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn capture_exit(ctx: RawTracePointContext) -> i32 {
    capture::try_capture_exit(&ctx)
}

/// A probe, never attached: tracee-collect loads it at start to learn
/// whether this kernel runs fentry programs (the tier a kernel with them
/// would take security events from), and says what it found.
#[fentry(function = "security_file_open")]
pub fn probe_fentry(_ctx: FEntryContext) -> i32 {
    0
}

/// A probe, never attached: whether this kernel runs BPF-LSM programs.
#[lsm(hook = "file_open")]
pub fn probe_lsm(_ctx: LsmContext) -> i32 {
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

/// A packet a process sends (`cgroup_skb` egress on the cgroup v2 root).
/// Always lets it through.
#[cgroup_skb]
pub fn net_egress(ctx: SkBuffContext) -> i32 {
    net::try_packet(&ctx, 0);
    1
}

/// A packet a process receives (`cgroup_skb` ingress).
#[cgroup_skb]
pub fn net_ingress(ctx: SkBuffContext) -> i32 {
    net::try_packet(&ctx, 1);
    1
}

/// A new inet socket: its creator is its owner.
#[cgroup_sock(sock_create)]
pub fn net_sock_create(ctx: SockContext) -> i32 {
    // SAFETY: the program's own socket, as sock_create programs pass it.
    unsafe { net::set_owner(ctx.sock.cast()) };
    1
}

/// A socket sent data: the sender is its owner.
#[btf_tracepoint(function = "sock_send_length")]
pub fn net_sock_send(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint's first argument is its `struct sock *`.
    unsafe { net::used(ctx.arg(0)) };
    0
}

/// A socket received data: the receiver is its owner.
#[btf_tracepoint(function = "sock_recv_length")]
pub fn net_sock_recv(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: as in net_sock_send.
    unsafe { net::used(ctx.arg(0)) };
    0
}

/// A TCP socket is about to send: its sender is its owner before any
/// segment of the send leaves (sock_send_length comes after).
#[btf_tracepoint(function = "tcp_sendmsg_locked")]
pub fn net_tcp_send(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint's first argument is its `struct sock *`.
    unsafe { net::used(ctx.arg(0)) };
    0
}
