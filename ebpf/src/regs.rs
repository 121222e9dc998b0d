//! Registers: a syscall's number and arguments from `struct pt_regs`,
//! native or i386.

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{bpf_probe_read_kernel, bpf_task_pt_regs},
};
use wire::kcfg::{self, member};

use crate::kread::{current_task_btf, ld, rd};
use crate::maps::{COMPAT, offset};

/// The registers a syscall's number and arguments live in, read from
/// `struct pt_regs` in one copy: bp, bx, r11, r10, r9, r8, ax, cx, dx, si,
/// di, orig_ax (offsets 32..128; the register order is x86_64 ABI).
pub(crate) struct Regs(pub(crate) [u64; 12]);

const _: () = assert!(core::mem::size_of::<Regs>() == 96);

impl Regs {
    pub(crate) const FIRST: usize = pt::BP;
    pub(crate) const ORIG_AX: usize = (pt::ORIG_AX - Self::FIRST) / 8;

    /// The registers at `regs`, a `struct pt_regs *` (zeroes if it cannot
    /// be read). Not initialising first saves a 96-byte memset.
    #[inline(always)]
    pub(crate) fn read(regs: *const u8) -> Regs {
        let mut r = core::mem::MaybeUninit::<Regs>::uninit();
        // SAFETY: the helper writes all 96 bytes of `r` (on a fault it
        // zeroes them), so it is initialised after; it checks the source
        // address itself.
        unsafe {
            bpf_probe_read_kernel(
                r.as_mut_ptr().cast::<c_void>(),
                core::mem::size_of::<Regs>() as u32,
                regs.wrapping_add(Self::FIRST).cast::<c_void>(),
            );
            r.assume_init()
        }
    }

    /// Argument `i` of a native syscall.
    #[inline(always)]
    pub(crate) fn arg(&self, i: usize) -> u64 {
        self.0[(pt::NATIVE_ARGS[i % 6] - Self::FIRST) / 8]
    }
}

/// Whether the current thread is in an i386 (int 0x80) syscall. The flag
/// is set at entry and cleared only on the way back to user mode, so
/// sys_exit sees it too.
#[inline(always)]
pub(crate) fn in_compat_syscall(task: *const u8) -> bool {
    rd::<u32>(task.wrapping_add(offset(member::TASK_TI_STATUS))) & 2 /* TS_COMPAT */ != 0
}

/// Offsets of the registers in x86_64's `struct pt_regs` (ABI, fixed).
pub(crate) mod pt {
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

/// The six argument registers of a native or i386 syscall in `regs` (a BTF
/// `struct pt_regs *`). Syscalls that keep nothing at entry leave them as
/// they were, so they are the arguments at exit too.
#[inline(always)]
pub(crate) fn reg_args(regs: *const u8, compat: bool) -> [u64; 6] {
    // Written out per index: a BTF load needs an offset the verifier
    // knows, which a loop over the table would not leave.
    let load = |at: &[usize; 6], mask: u64| {
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
pub(crate) fn native_nr(task: *const u8, regs: *const u8) -> (u64, bool) {
    let compat = ld::<u32>(task, offset(member::TASK_TI_STATUS)) & 2 /* TS_COMPAT */ != 0;
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

/// The syscall the current task is in (BTF programs only), `u32::MAX` for a
/// kernel thread or outside a syscall.
#[inline(always)]
pub(crate) fn current_syscall() -> u32 {
    let task = current_task_btf();
    if ld::<u32>(task, offset(member::TASK_FLAGS)) & 0x0020_0000 /* PF_KTHREAD */ != 0 {
        return u32::MAX;
    }
    // SAFETY: the helper takes a BTF task and returns its user registers
    // as a BTF pointer.
    let regs = unsafe { bpf_task_pt_regs(task as *mut _) } as *const u8;
    let (nr, _) = native_nr(task, regs);
    if nr < kcfg::CFG_ENTRIES as u64 {
        nr as u32
    } else {
        u32::MAX
    }
}
