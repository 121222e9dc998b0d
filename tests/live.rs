//! End-to-end tests with the real eBPF programs (root).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

fn args_of(ev: &Value) -> &Vec<Value> {
    ev["args"].as_array().expect("args array")
}

fn arg<'a>(ev: &'a Value, name: &str) -> &'a Value {
    args_of(ev)
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| &a["value"])
        .unwrap_or(&Value::Null)
}

/// A copy of the helper under a unique name, so its comm identifies it.
fn named_helper(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let p = dir.path(name);
    std::fs::copy(bin("tracee-helper"), &p).expect("copy helper");
    p
}

/// collect | filter | fmt json, with the helper released in between.
fn pipeline_json(collect: &[&str], filter: &[&str], helper: Helper) -> (Vec<Value>, String) {
    let (evs, err, _) = run_pipeline(collect, filter, || {
        helper.go();
    });
    (evs, err)
}

#[test]
fn every_syscall_of_the_helper_appears_with_arguments() {
    if !need_root("every_syscall_of_the_helper_appears_with_arguments") {
        return;
    }
    let dir = TempDir::new("acc");
    let path = dir.path("written-by-helper");
    let path_s = path.to_str().unwrap().to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = std::thread::spawn(move || {
        let _ = listener.accept();
    });
    let helper = Helper::spawn(&["acceptance", &path_s, &port.to_string()]);
    let helper_pid = helper.pid();
    let pid = helper_pid.to_string();
    let (evs, _) = pipeline_json(
        &[
            "-e",
            "openat,write,close,unlink,unlinkat,socket,connect,execve,sched_process_exec",
        ],
        &[&format!("pid={pid}")],
        helper,
    );
    acceptor.join().unwrap();
    assert!(
        evs.iter().all(|e| e["hostProcessId"] == helper_pid),
        "filter by pid"
    );
    let find = |name: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        evs.iter()
            .find(|e| e["eventName"] == name && pred(e))
            .unwrap_or_else(|| {
                panic!(
                    "no {name} event matching; got {:#?}",
                    evs.iter().map(|e| &e["eventName"]).collect::<Vec<_>>()
                )
            })
            .clone()
    };
    let open = find("openat", &|e| arg(e, "pathname") == path_s.as_str());
    let fd = open["returnValue"].as_i64().unwrap();
    assert!(fd >= 0);
    let flags = arg(&open, "flags").as_i64().unwrap();
    assert_eq!(flags & 0o3, libc::O_WRONLY as i64);
    assert_ne!(flags & libc::O_CREAT as i64, 0);
    assert_eq!(arg(&open, "mode"), 0o600);
    assert_eq!(arg(&open, "dirfd"), -100);
    let w = find("write", &|e| arg(e, "fd") == fd);
    assert_eq!(w["returnValue"], 5);
    assert_eq!(arg(&w, "count"), 5);
    assert_eq!(find("close", &|e| arg(e, "fd") == fd)["returnValue"], 0);
    let unlinked = evs
        .iter()
        .find(|e| {
            (e["eventName"] == "unlink" || e["eventName"] == "unlinkat")
                && arg(e, "pathname") == path_s.as_str()
        })
        .expect("unlink of the helper's file");
    assert_eq!(unlinked["returnValue"], 0);
    let sock = find("socket", &|_| true);
    let sfd = sock["returnValue"].as_i64().unwrap();
    assert!(sfd >= 0);
    assert_eq!(arg(&sock, "domain"), libc::AF_INET);
    let conn = find("connect", &|e| arg(e, "sockfd") == sfd);
    assert_eq!(conn["returnValue"], 0);
    let addr = arg(&conn, "addr");
    assert_eq!(addr["sa_family"], "AF_INET");
    assert_eq!(addr["sin_addr"], "127.0.0.1");
    assert_eq!(addr["sin_port"], port.to_string());
    let ex = find("execve", &|e| arg(e, "pathname") == "/bin/true");
    assert_eq!(ex["returnValue"], 0);
    assert_eq!(arg(&ex, "argv"), &serde_json::json!(["/bin/true"]));
    let sx = find("sched_process_exec", &|_| true);
    assert!(
        arg(&sx, "pathname").as_str().unwrap().ends_with("/true"),
        "{sx}"
    );
    assert_eq!(arg(&sx, "argv"), &serde_json::json!(["/bin/true"]));
    assert_eq!(arg(&sx, "prev_comm"), "tracee-helper");
    assert_eq!(sx["processName"], "true");
    // Timestamps are epoch nanoseconds within a minute of now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    let ts = open["timestamp"].as_u64().unwrap() as i128;
    assert!(
        (now - ts).abs() < 60_000_000_000,
        "timestamp {ts} vs now {now}"
    );
}

/// `strace -f` output lines as (syscall, return) for one process.
fn strace_sequence(text: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let l = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let Some(paren) = l.find('(') else { continue };
        if l.starts_with("+++")
            || l.starts_with("---")
            || l.contains("<unfinished")
            || l.contains("resumed>")
        {
            continue;
        }
        let name = l[..paren].to_string();
        let Some(eq) = l.rfind(" = ") else { continue };
        let ret = l[eq + 3..].split_whitespace().collect::<Vec<_>>();
        let ret = match ret.as_slice() {
            ["-1", errno, ..] => format!("-{errno}"),
            [r, ..] => r.to_string(),
            [] => String::new(),
        };
        v.push((name, ret));
    }
    v
}

#[test]
fn the_syscall_sequence_equals_what_strace_records() {
    if !need_root("the_syscall_sequence_equals_what_strace_records") {
        return;
    }
    let dir = TempDir::new("strace");
    let name = format!("tst{}", std::process::id() % 100_000);
    let helper = named_helper(&dir, &name);
    let slog = dir.path("strace.txt");
    let mut c = Collector::start(&["-e", "syscalls", &format!("comm={name}")], Stdio::piped());
    let reader = read_stdout(&mut c.child);
    let mut s = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&slog)
        .arg(&helper)
        .arg("workload")
        .stdin(Stdio::piped())
        .spawn()
        .expect("strace (apt-get install strace)");
    s.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(s.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let stream = reader.join().unwrap();
    let (rc, json, ferr) = run_with_input("tracee-fmt", &["json"], stream);
    assert_eq!(rc, 0, "{ferr}");
    let ours: Vec<(String, String)> = json_lines(&json)
        .iter()
        .map(|e| {
            let r = e["returnValue"].as_i64().unwrap();
            let ret = match tracee_fmt::parse::errno_name(r) {
                Some(n) => format!("-{n}"),
                None if e["eventName"] == "exit_group" => "?".into(),
                None => r.to_string(),
            };
            (e["eventName"].as_str().unwrap().to_string(), ret)
        })
        .collect();
    let theirs = strace_sequence(&std::fs::read_to_string(&slog).unwrap());
    // strace's first line is the execve made by its own child, before the
    // helper's name was the comm; our comm filter starts after it.
    assert_eq!(theirs.first().map(|t| t.0.as_str()), Some("execve"));
    let theirs = &theirs[1..];
    // strace prints pointers as hex and some returns symbolically: compare
    // numbers by value.
    let norm = |r: &str| -> String {
        match r.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16)
                .map(|n| n.to_string())
                .unwrap_or(r.into()),
            None => r.to_string(),
        }
    };
    let theirs: Vec<(String, String)> = theirs.iter().map(|(n, r)| (n.clone(), norm(r))).collect();
    assert!(theirs.len() > 20, "strace saw too little: {theirs:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn follow_reaches_a_grandchild_started_by_sh() {
    if !need_root("follow_reaches_a_grandchild_started_by_sh") {
        return;
    }
    let dir = TempDir::new("follow");
    let name = format!("tfw{}", std::process::id() % 100_000);
    let parent = named_helper(&dir, &name);
    let marker = dir.path("grandchild-reads-this");
    std::fs::write(&marker, "x").unwrap();
    let stream = dir.path("s.bin");
    let c = Collector::start(
        &[
            "-e",
            "openat,sched_process_fork,sched_process_exec,sched_process_exit",
        ],
        Stdio::from(std::fs::File::create(&stream).unwrap()),
    );
    let h = Helper::spawn_cmd(
        Command::new(&parent).args(["spawn", &format!("cat {}; true", marker.display())]),
    );
    h.go();
    std::thread::sleep(Duration::from_millis(300));
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&stream).unwrap();
    let reads_marker = |filter: &[&str]| -> bool {
        let (_, kept, ferr) = run_with_input("tracee-filter", filter, bytes.clone());
        let (rc, json, _) = run_with_input("tracee-fmt", &["json"], kept);
        assert_eq!(rc, 0, "{ferr}");
        json_lines(&json)
            .iter()
            .any(|e| e["processName"] == "cat" && arg(e, "pathname") == marker.to_str().unwrap())
    };
    let comm = format!("comm={name}");
    assert!(
        reads_marker(&[&comm, "follow"]),
        "with follow, the grandchild's openat is kept"
    );
    assert!(!reads_marker(&[&comm]), "without follow it is not");
}

#[test]
fn a_saved_stream_formats_the_same_for_nobody() {
    if !need_root("a_saved_stream_formats_the_same_for_nobody") {
        return;
    }
    let dir = TempDir::new("replay");
    let saved = dir.path("trace.bin");
    let mut c = Collector::start(&["-e", "openat,execve,sched_process_exec"], Stdio::piped());
    let mut from = c.child.stdout.take().unwrap();
    let mut fmt = Command::new(bin("tracee-fmt"))
        .arg("table")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let live = read_stdout(&mut fmt);
    let mut to = fmt.stdin.take().unwrap();
    let saved2 = saved.clone();
    // tee: the live formatter and the saved file get the same bytes.
    let tee = std::thread::spawn(move || {
        let mut file = std::fs::File::create(saved2).unwrap();
        let mut buf = [0u8; 65536];
        loop {
            let n = from.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).unwrap();
            to.write_all(&buf[..n]).unwrap();
        }
    });
    let st = Command::new("sh")
        .args(["-c", "cat /etc/hostname; ls /nonexistent"])
        .output()
        .unwrap();
    assert!(!st.status.success());
    std::thread::sleep(Duration::from_millis(300));
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    tee.join().unwrap();
    fmt.wait().unwrap();
    let live = live.join().unwrap();
    assert!(String::from_utf8_lossy(&live).contains("/etc/hostname"));
    let replay = {
        use std::os::unix::process::CommandExt;
        Command::new(bin("tracee-fmt"))
            .arg("table")
            .stdin(std::fs::File::open(&saved).unwrap())
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    assert!(
        replay.status.success(),
        "as nobody: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&live)
    );
}

#[test]
fn pushdown_changes_only_the_cost() {
    if !need_root("pushdown_changes_only_the_cost") {
        return;
    }
    let dir = TempDir::new("push");
    let name = format!("tpd{}", std::process::id() % 100_000);
    let helper = named_helper(&dir, &name);
    let exprs = [
        format!("comm={name}"),
        "uid=0".into(),
        "event=openat,close,getppid,read,execve".into(),
    ];
    let start = |extra: Option<&str>, file: &std::path::Path| {
        let mut a: Vec<&str> = vec!["-e", "syscalls"];
        a.extend(exprs.iter().map(String::as_str));
        a.extend(extra);
        Collector::start(&a, Stdio::from(std::fs::File::create(file).unwrap()))
    };
    let (fa, fb) = (dir.path("a.bin"), dir.path("b.bin"));
    let a = start(None, &fa);
    let b = start(Some("--no-pushdown"), &fb);
    Helper::spawn_cmd(Command::new(&helper).arg("workload")).go();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.stop().0, 0);
    assert_eq!(b.stop().0, 0);
    let (ea, eb) = (json_without_clocks(&fa), json_without_clocks(&fb));
    assert!(ea.len() >= 8, "workload events: {}", ea.len());
    assert_same_events("pushdown", &ea, &eb);
}

/// `tracee-collect | tracee-filter EXPRS`, the filter reading the
/// collector's stdout itself (started first, so it is there when the
/// collector looks): returns the collector, the filter, and where the
/// filter writes.
fn collect_into_filter(
    collect: &[&str],
    filter: &[String],
    out: &std::path::Path,
) -> (Collector, std::process::Child) {
    let (r, w) = cloexec_pipe();
    let f = spawn_filter(filter, r, out);
    let c = Collector::start(collect, Stdio::from(w));
    (c, f)
}

/// The number in the collector's "N events written" line.
fn events_written(err: &str) -> u64 {
    let l = err
        .lines()
        .find(|l| l.contains(" events written"))
        .unwrap_or_else(|| panic!("no summary in: {err}"));
    l.trim_start_matches("tracee-collect: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad summary: {l}"))
}

#[test]
fn pushdown_across_the_pipe_changes_only_the_cost() {
    if !need_root("pushdown_across_the_pipe_changes_only_the_cost") {
        return;
    }
    let dir = TempDir::new("pushpipe");
    let name = format!("tpp{}", std::process::id() % 100_000);
    let helper = named_helper(&dir, &name);
    let exprs = vec![
        format!("comm={name}"),
        "uid=0".to_string(),
        "event=openat,close,getppid,read,execve".to_string(),
    ];
    let collect = ["-e", "syscalls"];
    let (fa, fb) = (dir.path("a.bin"), dir.path("b.bin"));
    let (a, mut fa_proc) = collect_into_filter(&collect, &exprs, &fa);
    let (b, mut fb_proc) = collect_into_filter(&["-e", "syscalls", "--no-pushdown"], &exprs, &fb);
    Helper::spawn_cmd(Command::new(&helper).arg("workload")).go();
    // Noise the filter drops: another name's getppid calls.
    let noise = Command::new(bin("tracee-helper"))
        .args(["storm", "20000"])
        .status()
        .unwrap();
    assert!(noise.success());
    std::thread::sleep(Duration::from_millis(300));
    let (ca, ea) = a.stop();
    let (cb, eb) = b.stop();
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    assert!(fa_proc.wait().unwrap().success());
    assert!(fb_proc.wait().unwrap().success());
    // Said, and only where it happened.
    let said = format!("pushed down from tracee-filter (pid {}", fa_proc.id());
    assert!(ea.contains(&said), "no pushdown line in: {ea}");
    assert!(
        ea.contains("comm=1 name") && ea.contains("uid=1 id") && ea.contains("event=5 events"),
        "{ea}"
    );
    assert!(!eb.contains("pushed down"), "{eb}");

    let (ja, jb) = (json_without_clocks(&fa), json_without_clocks(&fb));
    assert!(ja.len() >= 8, "workload events: {}", ja.len());
    assert_same_events("pushdown across the pipe", &ja, &jb);
    // The cost: with the expressions exact in the kernel, the collector
    // wrote only what the filter kept; without, the noise too.
    let (wa, wb) = (events_written(&ea), events_written(&eb));
    assert_eq!(wa, ja.len() as u64, "{ea}");
    assert!(wb >= wa + 20_000, "without pushdown {wb}, with {wa}");
}

/// Where pushing a filter's expressions down would change what comes out,
/// or could not be done, tracee-collect says so and pushes nothing.
#[test]
fn pushdown_across_the_pipe_is_refused_where_it_would_change_things() {
    if !need_root("pushdown_across_the_pipe_is_refused_where_it_would_change_things") {
        return;
    }
    let dir = TempDir::new("pushno");
    let many = (0..1100)
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for (collect, filter, said) in [
        // net_flow_* are judged from every packet of a connection.
        (
            vec!["-e", "net_flow_tcp_begin,openat"],
            vec!["comm=x".to_string()],
            "net_flow_tcp_* are judged from every packet",
        ),
        // More names than the kernel's set holds: started, not pushed.
        (
            vec!["-e", "openat"],
            vec![format!("comm={many}")],
            "none of its expressions can be evaluated in the kernel",
        ),
        (
            vec!["-e", "openat"],
            vec!["follow".to_string(), "comm=x".to_string()],
            "follow, tree= and executable= need every process's events",
        ),
    ] {
        let out = dir.path("f.bin");
        let (c, mut f) = collect_into_filter(&collect, &filter, &out);
        let (code, err) = c.stop();
        assert_eq!(code, 0, "{err}");
        let _ = f.wait();
        let line = format!(
            "nothing pushed down from tracee-filter (pid {}): {said}",
            f.id()
        );
        assert!(err.contains(&line), "{collect:?}: no '{line}' in: {err}");
        assert!(!err.contains("tracee-collect: pushed down"), "{err}");
    }
}

/// The traced process is the adversary: an unprivileged one renaming
/// itself to names that come near the filter's (longer, cut by the
/// kernel, other bytes, empty) gets the same events kept with the
/// filter's comm= in the kernel as without.
#[test]
fn pushdown_across_the_pipe_holds_for_hostile_names_as_nobody() {
    if !need_root("pushdown_across_the_pipe_holds_for_hostile_names_as_nobody") {
        return;
    }
    let dir = TempDir::new("pushnb");
    let exprs = vec!["comm=tpnb".to_string(), "event=getppid".to_string()];
    let (fa, fb) = (dir.path("a.bin"), dir.path("b.bin"));
    let (a, mut pa) = collect_into_filter(&["-e", "getppid,prctl"], &exprs, &fa);
    let (b, mut pb) = collect_into_filter(&["-e", "getppid,prctl", "--no-pushdown"], &exprs, &fb);
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None)
for name in [b"tpnb", b"tpnbX", b"tpnb" + b"a" * 20, b"tpn", b"tpnb\xff", b"\n", b"",
             b"tpnb\x00hidden", b"TPNB", b"tpnb "]:
    libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0)
    for _ in range(3):
        os.getppid()
"#;
    nobody_runs(script, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let ((ca, ea), (cb, eb)) = (a.stop(), b.stop());
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    let _ = (pa.wait(), pb.wait());
    assert!(ea.contains("tracee-collect: pushed down"), "{ea}");
    let (ja, jb) = (json_without_clocks(&fa), json_without_clocks(&fb));
    // "tpnb" and "tpnb\0hidden" (the kernel keeps up to the NUL).
    assert_eq!(ja.len(), 6, "{ja:?}");
    assert!(
        ja.iter()
            .all(|e| e["processName"] == "tpnb" && e["userId"] == 65534)
    );
    assert_same_events("pushdown across the pipe", &ja, &jb);
}

/// A second process holding the pipe's read end on another descriptor
/// (as `exec 3< <(tracee-collect ...)` leaves the shell), even in another
/// session than tracee-collect's (sudo's, setsid's), would read what the
/// filter did not keep: nothing is pushed down.
#[test]
fn pushdown_across_the_pipe_sees_a_second_reader_anywhere() {
    if !need_root("pushdown_across_the_pipe_sees_a_second_reader_anywhere") {
        return;
    }
    let dir = TempDir::new("push2nd");
    let (r, w) = cloexec_pipe();
    // The holder keeps the read end on its descriptor 3 only.
    let mut holder = Command::new("sh")
        .args(["-c", "exec 3<&0 </dev/null; exec sleep 30"])
        .stdin(Stdio::from(r.try_clone().unwrap()))
        .spawn()
        .expect("holder");
    let mut f = spawn_filter(&["comm=no-such-name".into()], r, &dir.path("f.bin"));
    let mut cmd = Command::new(bin("tracee-collect"));
    cmd.args(["-e", "openat"]).stdout(Stdio::from(w));
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let c = Collector::start_cmd(cmd, "-e openat (own session)");
    let (code, err) = c.stop();
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = f.wait();
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("tracee-collect: pushed down"), "{err}");
}

/// An exec by a thread other than the leader comes out as the leader: a
/// pushed-down `tid=` of the process must not lose it at the entry.
#[test]
fn a_pushed_down_tid_keeps_an_exec_from_another_thread() {
    if !need_root("a_pushed_down_tid_keeps_an_exec_from_another_thread") {
        return;
    }
    let dir = TempDir::new("threxec");
    let helper = Helper::spawn(&["thread-exec", "/bin/true"]);
    let scope = format!("tid={}", helper.pid());
    let (fa, fb) = (dir.path("a.bin"), dir.path("b.bin"));
    let start = |extra: Option<&str>, f: &std::path::Path| {
        let mut a = vec!["-e", "execve", scope.as_str()];
        a.extend(extra);
        Collector::start(&a, Stdio::from(std::fs::File::create(f).unwrap()))
    };
    let a = start(None, &fa);
    let b = start(Some("--no-pushdown"), &fb);
    helper.go();
    std::thread::sleep(Duration::from_millis(300));
    let ((ca, ea), (cb, eb)) = (a.stop(), b.stop());
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    let execs = |f: &std::path::Path| -> Vec<String> {
        let (rc, out, err) = run_with_input("tracee-fmt", &["json"], std::fs::read(f).unwrap());
        assert_eq!(rc, 0, "{err}");
        json_lines(&out)
            .iter()
            .filter(|e| e["eventName"] == "execve" && e.to_string().contains("from-thread"))
            .map(|e| format!("{} {} {}", e["processId"], e["threadId"], e["returnValue"]))
            .collect()
    };
    let (xa, xb) = (execs(&fa), execs(&fb));
    assert_eq!(xb.len(), 1, "without pushdown: {xb:?}");
    assert_eq!(xa, xb, "with pushdown");
}

#[test]
fn compat_syscalls_get_native_names() {
    if !need_root("compat_syscalls_get_native_names") {
        return;
    }
    let helper = Helper::spawn(&["compat"]);
    let pid = helper.pid().to_string();
    let (evs, _) = pipeline_json(&["-e", "getpid"], &[&format!("pid={pid}")], helper);
    let e = evs
        .iter()
        .find(|e| e["eventName"] == "getpid")
        .expect("compat getpid");
    assert_eq!(e["contextFlags"]["isCompat"], true);
    assert_eq!(e["returnValue"].to_string(), pid);
}

/// No entry program sees an i386 execve (the kernel's syscall tracepoints
/// skip compat calls): a failed one is read from its registers at exit, a
/// successful one from what sched_process_exec still has.
#[test]
fn compat_execve_is_recorded_failed_and_successful() {
    if !need_root("compat_execve_is_recorded_failed_and_successful") {
        return;
    }
    let helper = Helper::spawn(&["compat-exec"]);
    let pid = helper.pid().to_string();
    let (evs, _) = pipeline_json(&["-e", "execve"], &[&format!("pid={pid}")], helper);
    let ex: Vec<&Value> = evs.iter().filter(|e| e["eventName"] == "execve").collect();
    assert_eq!(ex.len(), 2, "{evs:#?}");
    for e in &ex {
        assert_eq!(e["contextFlags"]["isCompat"], true, "{e}");
        assert_eq!(e["syscall"], "execve", "{e}");
    }
    assert_eq!(ex[0]["returnValue"], -libc::ENOENT as i64, "{}", ex[0]);
    assert_eq!(arg(ex[0], "pathname"), "/nonexistent/tracee-rs");
    assert_eq!(ex[1]["returnValue"], 0, "{}", ex[1]);
    assert_eq!(arg(ex[1], "pathname"), "/bin/true");
    assert_eq!(arg(ex[1], "argv"), &serde_json::json!(["/bin/true", "x"]));
}

/// The kernel caches the slow-to-read context of each thread; a new UTS
/// name and a new parent must still show in the very next event.
#[test]
fn cached_context_follows_hostname_and_parent_changes() {
    if !need_root("cached_context_follows_hostname_and_parent_changes") {
        return;
    }
    let helper = Helper::spawn(&["ctxchange"]);
    let pid = helper.pid().to_string();
    let mut host = String::new();
    std::fs::File::open("/proc/sys/kernel/hostname")
        .and_then(|mut f| f.read_to_string(&mut host))
        .expect("hostname");
    let (evs, _) = pipeline_json(
        &["-e", "getpid,getppid,sched_process_fork"],
        &[&format!("pid={pid}"), "follow"],
        helper,
    );
    let getpid: Vec<&Value> = evs
        .iter()
        .filter(|e| e["eventName"] == "getpid" && e["processId"] == pid.parse::<u64>().unwrap())
        .collect();
    // Before the new name, then after it (libc's getpid makes the third).
    assert_eq!(getpid.len(), 3, "getpid events: {evs:?}");
    assert_eq!(getpid[0]["hostName"], host.trim());
    assert_eq!(getpid[1]["hostName"], "tracee-uts-test");
    assert_eq!(getpid[2]["hostName"], "tracee-uts-test");
    let getppid: Vec<&Value> = evs.iter().filter(|e| e["eventName"] == "getppid").collect();
    assert!(getppid.len() >= 3, "the child's getppid events: {evs:?}");
    assert_eq!(getppid[0]["returnValue"].to_string(), pid);
    for e in &getppid {
        // getppid returns the parent at that moment: the context must agree.
        assert_eq!(e["parentProcessId"], e["returnValue"], "{e}");
        assert_eq!(e["hostName"], "tracee-uts-test");
    }
    assert_ne!(getppid.last().unwrap()["returnValue"].to_string(), pid);
}

#[test]
fn entry_traced_syscalls_and_the_fork_family_appear_once() {
    if !need_root("entry_traced_syscalls_and_the_fork_family_appear_once") {
        return;
    }
    let helper = Helper::spawn(&["lifecycle"]);
    let pid = helper.pid() as u64;
    let (evs, _) = pipeline_json(
        &[
            "-e",
            "rt_sigreturn,kill,clone,clone3,fork,exit_group,sched_process_fork",
        ],
        &[&format!("pid={pid}"), "follow"],
        helper,
    );
    let names: Vec<&Value> = evs.iter().map(|e| &e["eventName"]).collect();
    let of = |name: &str, p: u64| -> Vec<&Value> {
        evs.iter()
            .filter(|e| e["eventName"] == name && e["processId"] == p)
            .collect()
    };
    assert_eq!(of("kill", pid).len(), 1, "{names:?}");
    // Its exit carries the interrupted context, so it is recorded at entry.
    assert_eq!(of("rt_sigreturn", pid).len(), 1, "{names:?}");
    let forks = of("sched_process_fork", pid);
    assert_eq!(forks.len(), 1, "{names:?}");
    let child = arg(forks[0], "child_pid").as_u64().unwrap();
    let sys = forks[0]["syscall"].as_str().unwrap();
    assert!(["clone", "clone3", "fork"].contains(&sys), "{}", forks[0]);
    // The parent's return is the event; the child's first return is not.
    let calls: Vec<&Value> = evs
        .iter()
        .filter(|e| ["clone", "clone3", "fork"].contains(&e["eventName"].as_str().unwrap()))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["processId"], pid);
    assert_eq!(calls[0]["returnValue"], child);
    let exit_child = of("exit_group", child);
    assert_eq!(exit_child.len(), 1, "{names:?}");
    assert_eq!(arg(exit_child[0], "status"), 7);
    let exit_parent = of("exit_group", pid);
    assert_eq!(exit_parent.len(), 1, "{names:?}");
    assert_eq!(arg(exit_parent[0], "status"), 0);
}

#[test]
fn losses_under_a_storm_are_counted_and_the_stream_still_decodes() {
    if !need_root("losses_under_a_storm_are_counted_and_the_stream_still_decodes") {
        return;
    }
    let dir = TempDir::new("loss");
    let f = dir.path("s.bin");
    let c = Collector::start(
        &["--buffer-size", "4096", "-e", "getppid"],
        Stdio::from(std::fs::File::create(&f).unwrap()),
    );
    let storms: Vec<_> = (0..2)
        .map(|_| {
            Command::new(bin("tracee-helper"))
                .args(["storm", "300000"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut s in storms {
        assert!(s.wait().unwrap().success());
    }
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let lost: u64 = err
        .lines()
        .find_map(|l| {
            l.strip_suffix(" lost")
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no lost count on stderr: {err}"));
    assert!(
        lost > 0,
        "a 4 KiB ring under a storm must lose events: {err}"
    );
    let (rc, out, ferr) = run_with_input("tracee-fmt", &["json"], std::fs::read(&f).unwrap());
    assert_eq!(rc, 0, "{ferr}");
    let lines = json_lines(&out);
    let in_stream: u64 = lines
        .iter()
        .filter_map(|e| e["lostEvents"]["count"].as_u64())
        .sum();
    assert_eq!(in_stream, lost, "every loss is in the stream");
    assert!(ferr.contains(&format!("{lost} lost")), "{ferr}");
}

#[test]
fn a_closed_downstream_pipe_ends_the_collector_quietly() {
    if !need_root("a_closed_downstream_pipe_ends_the_collector_quietly") {
        return;
    }
    let mut c = Collector::start(&["-e", "syscalls"], Stdio::piped());
    let mut out = c.child.stdout.take().unwrap();
    let mut buf = vec![0u8; 100_000];
    out.read_exact(&mut buf).unwrap();
    drop(out);
    let mut waited = 0;
    let st = loop {
        if let Some(st) = c.child.try_wait().unwrap() {
            break st;
        }
        // Our own syscalls keep the collector writing; it must notice.
        let _ = std::fs::metadata("/etc/hostname");
        std::thread::sleep(Duration::from_millis(20));
        waited += 1;
        assert!(waited < 500, "collector did not stop after its reader left");
    };
    assert_eq!(st.code(), Some(0));
}

#[test]
fn sigterm_ends_the_stream_with_its_totals() {
    if !need_root("sigterm_ends_the_stream_with_its_totals") {
        return;
    }
    let dir = TempDir::new("term");
    let f = dir.path("s.bin");
    let c = Collector::start(
        &["-e", "getppid"],
        Stdio::from(std::fs::File::create(&f).unwrap()),
    );
    let st = Command::new(bin("tracee-helper"))
        .args(["storm", "5000"])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, err) = c.stop_with(libc::SIGTERM);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&f).unwrap();
    let mut r = wire::reader::StreamReader::new(&bytes[..]).unwrap();
    let (mut events, mut lost, mut end) = (0u64, 0u64, None);
    while let Some(rec) = r.next_record(&mut || Ok(())).unwrap() {
        assert!(end.is_none(), "nothing follows the end record");
        match rec.kind() {
            wire::kind::EVENT => events += 1,
            wire::kind::LOST => lost += wire::LostBody::from_record(rec).count,
            wire::kind::END => end = Some(wire::EndBody::from_record(rec)),
            // Who the cgroups and processes are.
            wire::kind::CONTAINER | wire::kind::PROCESS => {}
            k => panic!("unexpected record kind {k}"),
        }
    }
    let end = end.expect("an end-of-stream record");
    assert_eq!((end.events, end.lost), (events, lost));
    assert!(events >= 5000, "every getppid of the storm: {events}");
    assert!(err.contains(&format!("{events} events written")), "{err}");
}

/// Events of the formatter reading the collector's output, with and
/// without --trace-pipeline.
fn events_of_the_reader(extra: &[&str]) -> usize {
    // As in a shell pipeline, the reader exists before the collector starts.
    let (rx, tx) = std::io::pipe().unwrap();
    let mut fmt = Command::new(bin("tracee-fmt"))
        .arg("json")
        .stdin(rx)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fmt_pid = fmt.id();
    // Read its output as it comes: with --trace-pipeline its own events feed
    // back without end, and a full pipe would stall the whole pipeline.
    let reader = read_stdout(&mut fmt);
    let mut args = vec!["-e", "read,write"];
    args.extend_from_slice(extra);
    let c = Collector::start(&args, Stdio::from(tx));
    // Keep the formatter busy reading and writing.
    for _ in 0..50 {
        let _ = std::fs::read("/etc/hostname");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let out = reader.join().unwrap();
    fmt.wait().unwrap();
    json_lines(&out)
        .iter()
        .filter(|e| e["hostProcessId"] == fmt_pid)
        .count()
}

#[test]
fn the_pipeline_reading_the_stream_is_left_out_unless_asked() {
    if !need_root("the_pipeline_reading_the_stream_is_left_out_unless_asked") {
        return;
    }
    assert_eq!(
        events_of_the_reader(&[]),
        0,
        "the formatter's own reads and writes feed back"
    );
    assert!(events_of_the_reader(&["--trace-pipeline"]) > 0);
}

#[test]
fn a_stuck_reader_does_not_keep_the_collector_from_stopping() {
    if !need_root("a_stuck_reader_does_not_keep_the_collector_from_stopping") {
        return;
    }
    // A reader that never reads: the pipe fills, the collector blocks.
    let (rx, tx) = std::io::pipe().unwrap();
    let c = Collector::start(&["-e", "syscalls"], Stdio::from(tx));
    let storm = Command::new(bin("tracee-helper"))
        .args(["storm", "200000"])
        .status()
        .unwrap();
    assert!(storm.success());
    let t = Instant::now();
    let (code, err) = c.stop_with(libc::SIGTERM);
    let took = t.elapsed();
    drop(rx);
    assert_ne!(code, 0, "the end of the stream was not written: {err}");
    assert!(err.contains("took nothing"), "{err}");
    assert!(took < Duration::from_secs(20), "stopped after {took:?}");
}
