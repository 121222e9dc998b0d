//! The tracing pipeline's own processes: whoever reads our stdout, and
//! whoever reads theirs. Their events would feed back into the stream.

/// The processes reading the pipe on descriptor `fd` of `first`.
pub fn readers_of(first: &str, fd: u32) -> Vec<u32> {
    let Ok(l) = std::fs::read_link(format!("/proc/{first}/fd/{fd}")) else {
        return vec![];
    };
    let l = l.to_string_lossy().into_owned();
    if !l.starts_with("pipe:[") {
        return vec![];
    }
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|&p| p != me)
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/fd/0"))
                .is_ok_and(|r| r.to_string_lossy() == l.as_str())
        })
        .collect()
}

/// The processes downstream of our stdout: whoever reads the pipe we write,
/// then whoever reads the pipe that process writes, and so on.
pub fn pipeline_peers(first: &str) -> Vec<u32> {
    let pipe_of = |pid: &str, fd: u32| -> Option<String> {
        let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
        let l = l.to_string_lossy().into_owned();
        l.starts_with("pipe:[").then_some(l)
    };
    let mut peers = Vec::new();
    if first != "self" {
        peers.extend(first.parse::<u32>().ok());
    }
    let Some(mut pipe) = pipe_of(first, 1) else {
        return peers;
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return peers;
    };
    let pids: Vec<String> = procs
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    for _ in 0..8 {
        let Some(reader) = pids.iter().find(|p| {
            p.parse::<u32>()
                .is_ok_and(|n| n != me && !peers.contains(&n))
                && pipe_of(p, 0).as_deref() == Some(&pipe)
        }) else {
            break;
        };
        peers.push(reader.parse().expect("digits"));
        match pipe_of(reader, 1) {
            Some(next) => pipe = next,
            None => break,
        }
    }
    peers
}
