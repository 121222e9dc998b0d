//! Facts about a process from /proc/PID/stat.

/// The fields of /proc/PID/stat after the command name (whose parens and
/// spaces would fool a plain split): `[0]` is field 3, the state.
fn stat_rest(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Clock ticks since boot at which `pid` started (field 22 of its stat).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_rest(pid)?.get(19)?.parse().ok()
}

/// How long ago `pid` started, to the clock tick.
pub fn age(pid: u32) -> Option<std::time::Duration> {
    let start = start_time(pid)?;
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)? as u64;
    // CLOCK_BOOTTIME is the clock start_time counts on.
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let now = std::time::Duration::from(now);
    Some(now.saturating_sub(std::time::Duration::from_nanos(
        start.saturating_mul(1_000_000_000 / tick),
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_own_start_is_in_the_past() {
        let me = std::process::id();
        assert!(super::start_time(me).is_some());
        let age = super::age(me).unwrap();
        assert!(age < std::time::Duration::from_secs(24 * 3600), "{age:?}");
    }
}
