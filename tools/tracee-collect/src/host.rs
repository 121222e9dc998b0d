//! Facts about this host for the stream's preamble: its clocks, names and
//! the catalog of events.

use wire::preamble::Preamble;

use crate::events;
use tracee_cli::clock;

/// This host's name and kernel release.
fn uname() -> (String, String) {
    match nix::sys::utsname::uname() {
        Ok(u) => (
            u.nodename().to_string_lossy().into_owned(),
            u.release().to_string_lossy().into_owned(),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

pub fn preamble() -> Preamble {
    let mono = clock::monotonic_ns();
    let real = clock::realtime_ns();
    let (hostname, kernel_release) = uname();
    Preamble {
        version: wire::VERSION,
        boot_epoch_ns: real.saturating_sub(mono),
        start_mono_ns: mono,
        hostname,
        kernel_release,
        catalog: events::catalog(),
    }
}
