//! The tracing pipeline's own processes: whoever reads our stdout, and
//! whoever reads theirs. Their events would feed back into the stream.

/// The pipe on descriptor `fd` of process `pid` ("self" for us), as its
/// /proc link reads (`pipe:[INODE]`); None if that is no pipe.
pub fn pipe_of(pid: &str, fd: impl std::fmt::Display) -> Option<String> {
    let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let l = l.to_string_lossy().into_owned();
    l.starts_with("pipe:[").then_some(l)
}

/// Every process but us, by pid.
fn other_pids() -> Vec<u32> {
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me)
        .collect()
}

/// The processes reading the pipe on descriptor `fd` of `first`.
pub fn readers_of(first: &str, fd: u32) -> Vec<u32> {
    let Some(pipe) = pipe_of(first, fd) else {
        return vec![];
    };
    other_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/fd/0"))
                .is_ok_and(|r| r.to_string_lossy() == pipe.as_str())
        })
        .collect()
}

/// The processes downstream of our stdout: whoever reads the pipe we write,
/// then whoever reads the pipe that process writes, and so on.
pub fn pipeline_peers(first: &str) -> Vec<u32> {
    let mut peers = Vec::new();
    if first != "self" {
        peers.extend(first.parse::<u32>().ok());
    }
    let Some(mut pipe) = pipe_of(first, 1) else {
        return peers;
    };
    let pids = other_pids();
    for _ in 0..8 {
        let Some(&reader) = pids.iter().find(|&&p| {
            !peers.contains(&p) && pipe_of(&p.to_string(), 0).as_deref() == Some(&pipe)
        }) else {
            break;
        };
        peers.push(reader);
        match pipe_of(&reader.to_string(), 1) {
            Some(next) => pipe = next,
            None => break,
        }
    }
    peers
}

/// Why the readers of a pipe are not known.
#[derive(Debug, PartialEq, Eq)]
pub enum Unknown {
    /// The descriptor is not a pipe.
    NotAPipe,
    /// Looking took longer than allowed (a machine with very many
    /// processes or descriptors).
    TooLong,
}

/// The processes that can read the pipe on our descriptor `fd`, each
/// with whether it reads it as its stdin. Every descriptor of every
/// process is looked at: a shell holding a pipe's read end on another
/// descriptor (`exec 3< <(tracee-collect ...)`) would read what we write
/// too. Gives up at `deadline`, so that no one can hold up the start by
/// making many processes or descriptors.
pub fn pipe_readers(fd: u32, deadline: std::time::Instant) -> Result<Vec<(u32, bool)>, Unknown> {
    let pipe = pipe_of("self", fd).ok_or(Unknown::NotAPipe)?;
    let mut readers: Vec<(u32, bool)> = Vec::new();
    for pid in other_pids() {
        let shown = pid.to_string();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for f in fds.flatten() {
            if std::time::Instant::now() >= deadline {
                return Err(Unknown::TooLong);
            }
            let n = f.file_name();
            let n = n.to_string_lossy();
            // A descriptor that closed since is no reader.
            if pipe_of(&shown, &n).as_ref() != Some(&pipe) || readable(pid, &n) != Some(true) {
                continue;
            }
            match readers.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, stdin)) => *stdin |= n == "0",
                None => readers.push((pid, n == "0")),
            }
        }
    }
    Ok(readers)
}

/// Whether descriptor `fd` of `pid` was opened for reading (one whose mode
/// cannot be read is taken for a reader); None if it is gone.
fn readable(pid: u32, fd: &str) -> Option<bool> {
    let info = match std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(_) => return Some(true),
    };
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok());
    // O_ACCMODE: 0 read only, 1 write only, 2 both.
    Some(flags.is_none_or(|f| f & 3 != 1))
}
