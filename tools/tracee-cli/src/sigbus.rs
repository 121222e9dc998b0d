//! A mapped ring file that shrinks under a process (truncated by whoever
//! can write it) turns the next access into SIGBUS, which would kill the
//! tool without a word. While a ring is mapped, a SIGBUS inside it instead
//! ends the process with one line naming the ring, and exit status 2.

use std::format;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::libc;

const SLOTS: usize = 4;
const MSG: usize = 512;

/// One mapping: where it is and what to say if it faults.
struct Slot {
    base: AtomicUsize,
    len: AtomicUsize,
    msg_len: AtomicUsize,
    msg: core::cell::UnsafeCell<[u8; MSG]>,
}

// SAFETY: `msg` is written only while the slot is free (base 0) by the one
// thread that claimed it (a compare-exchange on `len`), and read by the
// handler only after it saw a non-zero base (release/acquire order).
unsafe impl Sync for Slot {}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    msg_len: AtomicUsize::new(0),
    msg: core::cell::UnsafeCell::new([0; MSG]),
};
static SLOT: [Slot; SLOTS] = [FREE; SLOTS];
static INSTALL: Once = Once::new();

/// A registered mapping; unregistered on drop.
pub struct Guard(Option<usize>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            SLOT[i].base.store(0, Ordering::Release);
            SLOT[i].len.store(0, Ordering::Release);
        }
    }
}

/// Registers the mapping `[base, base + len)` of `ring:path`. With more
/// rings mapped at once than there are slots, the rest keep the default
/// (the process is killed by the signal).
pub fn guard(base: *const u8, len: usize, path: &std::path::Path) -> Guard {
    INSTALL.call_once(install);
    let tool = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(std::string::ToString::to_string))
        .unwrap_or_default();
    let text = format!(
        "{tool}: ring:{}: the ring file shrank under this process (truncated by someone who can write it); stopping\n",
        wire::text::escaped(path.as_os_str().as_encoded_bytes())
    );
    for (i, s) in SLOT.iter().enumerate() {
        if s.len
            .compare_exchange(0, len, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let b = text.as_bytes();
            let n = b.len().min(MSG);
            // SAFETY: the slot is ours (claimed above) and not yet visible
            // to the handler (its base is 0).
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), s.msg.get().cast::<u8>(), n) };
            s.msg_len.store(n, Ordering::Release);
            s.base.store(base as usize, Ordering::Release);
            return Guard(Some(i));
        }
    }
    Guard(None)
}

fn install() {
    // SAFETY: the action does only async-signal-safe things: atomic loads,
    // write(2), _exit(2), and signal-hook's default-action emulation.
    let _ = unsafe { signal_hook_registry::register_sigaction(libc::SIGBUS, on_sigbus) };
}

fn on_sigbus(info: &libc::siginfo_t) {
    // SAFETY: SIGBUS's siginfo carries the faulting address.
    let addr = unsafe { info.si_addr() } as usize;
    for s in &SLOT {
        let base = s.base.load(Ordering::Acquire);
        let len = s.len.load(Ordering::Acquire);
        if base != 0 && addr >= base && addr < base + len {
            let n = s.msg_len.load(Ordering::Acquire);
            // SAFETY: write and _exit are async-signal-safe; the message
            // was complete before the base was published.
            unsafe {
                libc::write(2, s.msg.get().cast::<libc::c_void>(), n);
                libc::_exit(2);
            }
        }
    }
    // Not a ring: the default action (the process dies of the signal), as
    // if no handler had been there.
    let _ = signal_hook::low_level::emulate_default_handler(libc::SIGBUS);
}
