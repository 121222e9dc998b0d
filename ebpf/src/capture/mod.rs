//! Artifact capture: the bytes of writes and reads on matching files,
//! memory regions turned executable, kernel module images and BPF program
//! instructions, sent on their own ring buffer (CAP_RING) as
//! `wire::capture` records for tracee-collect's sidecar.
//!
//! Everything is taken at sys_exit, from the registers and user memory the
//! call used: the bytes a write wrote or a read read are still in the
//! caller's buffer, and nothing else has run in the thread since.

mod files;
mod memory;
mod objects;
mod send;

pub(crate) use memory::inherit_writable;

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
};
use wire::{
    RecordHeader,
    capture::{CaptureHeader, MAX_CHUNK, artifact},
    kcfg::{self, CapFilter, nr},
};

use self::{
    files::file_io,
    memory::protection,
    objects::{bpf_prog, may_load_modules, module, module_file},
};
use crate::context::{ctx_of, fill_context};
use crate::kread::current_task;
use crate::maps::{SCOPE, global_u32};
use crate::regs::{Regs, in_compat_syscall};
use crate::scope::{is_self_tgid, scope_ok};

/// Bits `1 << artifact::*` of what to capture; set at load time.
#[unsafe(no_mangle)]
pub(crate) static CAPTURE: u32 = 0;

#[map]
pub(crate) static CAP_RING: RingBuf = RingBuf::with_byte_size(1 << 26, 0);
#[map]
pub(crate) static CAP_FILTER: Array<CapFilter> = Array::with_max_entries(2, 0);
/// Capture chunks the ring had no room for; tracee-collect reads it.
#[map]
pub(crate) static CAP_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
/// Files with chunks the ring refused, by (artifact << 56 | dev, inode):
/// tracee-collect turns them into lost notices on the sidecar.
#[map]
pub(crate) static CAP_INCOMPLETE: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);
/// A record being built: header, capture header, payload.
#[map]
pub(crate) static CAP_SCRATCH: PerCpuArray<[u8; SCRATCH]> = PerCpuArray::with_max_entries(1, 0);
/// Files seen to start with ELF's magic, by (dev, inode).
#[map]
pub(crate) static ELF_FILES: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);

pub(crate) const HDR: usize = RecordHeader::LEN + CaptureHeader::LEN;
/// Where the scratch counts chunks the ring refused since start_header.
pub(crate) const DROPPED: usize = SCRATCH - 8;
/// Per-CPU map values are at most 32 KiB.
pub(crate) const SCRATCH: usize = 2 * MAX_CHUNK;
/// Chunks one call may send (64 MiB, the ring's size); the rest of a
/// larger call is reported lost.
pub(crate) const MAX_CHUNKS: usize = 4096;
/// iovec elements followed per call.
pub(crate) const MAX_IOV: usize = 8;

/// [`crate::capture_exit`]: what one syscall's exit may capture.
pub(crate) fn try_capture_exit(ctx: &RawTracePointContext) -> i32 {
    let ret: i64 = ctx.arg(1);
    let task = current_task();
    if in_compat_syscall(task) || is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32) {
        return 0;
    }
    if global_u32(&SCOPE) != 0 && !in_scope() {
        return 0;
    }
    let regs = Regs::read(ctx.arg(0));
    on_exit(regs.0[Regs::ORIG_AX], ret, &regs);
    0
}

/// Whether the current task passes the scope filters pushed into the
/// kernel (comm, pid, uid, namespaces, cgroup), judged on its context as
/// an event would carry it.
#[inline(always)]
fn in_scope() -> bool {
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's capture scratch, not yet holding a record: it is
    // large and aligned enough for a record header and a context.
    let c = unsafe {
        fill_context(s.cast::<u8>(), 0, 0, 0, 0);
        ctx_of(s.cast::<u8>())
    };
    scope_ok(c)
}

fn on_exit(nr: u64, ret: i64, regs: &Regs) {
    if nr >= kcfg::CFG_ENTRIES as u64 {
        return;
    }
    let nr = nr as u32;
    let want = global_u32(&CAPTURE);
    let (art, vectored, positioned) = match nr {
        nr::READ => (artifact::READ, false, false),
        nr::PREAD64 => (artifact::READ, false, true),
        nr::READV => (artifact::READ, true, false),
        nr::PREADV | nr::PREADV2 => (artifact::READ, true, true),
        nr::WRITE => (artifact::WRITE, false, false),
        nr::PWRITE64 => (artifact::WRITE, false, true),
        nr::WRITEV => (artifact::WRITE, true, false),
        nr::PWRITEV | nr::PWRITEV2 => (artifact::WRITE, true, true),
        nr::MMAP | nr::MPROTECT | nr::PKEY_MPROTECT | nr::MREMAP => {
            if want & (1 << artifact::MEM) != 0 {
                protection(nr, ret, regs);
            }
            return;
        }
        // A caller without CAP_SYS_MODULE is refused before the kernel
        // looks at its image: what it passes is only its own bytes, and
        // capturing them would let anyone fill the capture at will.
        nr::INIT_MODULE => {
            if want & (1 << artifact::MODULE) != 0 && may_load_modules() {
                module(regs);
            }
            return;
        }
        nr::FINIT_MODULE => {
            if want & (1 << artifact::MODULE) != 0 && may_load_modules() {
                module_file(regs);
            }
            return;
        }
        nr::BPF => {
            if want & (1 << artifact::BPF) != 0 && regs.arg(0) == BPF_PROG_LOAD && ret >= 0 {
                bpf_prog(regs);
            }
            return;
        }
        _ => return,
    };
    // A call that moved nothing still names the file (an empty file is
    // captured as one).
    if want & (1 << art) == 0 || ret < 0 {
        return;
    }
    let rwf_flags = matches!(nr, nr::PREADV2 | nr::PWRITEV2);
    file_io(art, vectored, positioned, rwf_flags, ret as u64, regs);
}

/// bpf(2)'s command that loads a program (uapi bpf.h).
const BPF_PROG_LOAD: u64 = 5;
