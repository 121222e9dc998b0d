//! Running the real tools from tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A built binary of this workspace, next to the test executable's deps/
/// directory (same profile).
pub fn bin(name: &str) -> PathBuf {
    if name == "tracee-helper" {
        return PathBuf::from(env!("CARGO_BIN_EXE_tracee-helper"));
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built; run `cargo test --workspace`",
        p.display()
    );
    p
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// True if this test must run with real eBPF. Under CI=true a machine that
/// cannot run them is a failure, never a skip.
pub fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: end-to-end tests load eBPF and must run as root under CI");
    }
    eprintln!("{test}: skipped (not root; end-to-end tests load eBPF)");
    false
}

/// A unique scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("tracee-rs-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running tracee-collect, attached once `start` returns.
pub struct Collector {
    pub child: Child,
    stderr_rest: mpsc::Receiver<String>,
}

impl Collector {
    /// Starts `tracee-collect ARGS` with `stdout` as its output and waits
    /// until its programs are attached. A collector that cannot load its
    /// programs fails the test, with its message.
    pub fn start(args: &[&str], stdout: Stdio) -> Collector {
        let mut cmd = Command::new(bin("tracee-collect"));
        cmd.args(args).stdout(stdout);
        Collector::start_cmd(cmd, &format!("{args:?}"))
    }

    /// Starts a prepared tracee-collect command (stderr is taken here).
    pub fn start_cmd(mut cmd: Command, what: &str) -> Collector {
        let args = what;
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tracee-collect");
        let stderr = child.stderr.take().expect("stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (rest_tx, rest_rx) = mpsc::channel();
        std::thread::spawn(move || read_stderr(stderr, ready_tx, rest_tx));
        match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(true) => {}
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let msg: String = rest_rx.try_iter().collect();
                panic!("tracee-collect {args} did not start: {msg}");
            }
        }
        Collector {
            child,
            stderr_rest: rest_rx,
        }
    }

    /// SIGINT, then wait; returns the exit code and everything on stderr.
    pub fn stop(self) -> (i32, String) {
        self.stop_with(libc::SIGINT)
    }

    pub fn stop_with(mut self, sig: i32) -> (i32, String) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        // A collector that does not stop is a failure, not a hung test run.
        let deadline = Instant::now() + Duration::from_secs(60);
        let st = loop {
            if let Some(st) = self.child.try_wait().expect("wait tracee-collect") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err: String = self.stderr_rest.try_iter().collect();
                panic!("tracee-collect did not stop within 60 s of signal {sig}: {err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let err: String = self.stderr_rest.try_iter().collect();
        (st.code().unwrap_or(-1), err)
    }
}

/// A test that fails with its collector running must not leave it (and the
/// stages reading it) behind holding the harness's pipes.
impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_stderr(e: ChildStderr, ready: mpsc::Sender<bool>, rest: mpsc::Sender<String>) {
    let mut r = BufReader::new(e);
    let mut announced = false;
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if !announced && line.starts_with("tracee-collect: tracing") {
            announced = true;
            let _ = ready.send(true);
        }
        let _ = rest.send(std::mem::take(&mut line));
    }
    if !announced {
        let _ = ready.send(false);
    }
}

/// Runs `bin ARGS` with `input` on stdin (written from a thread); returns
/// (exit code, stdout, stderr).
pub fn run_with_input(name: &str, args: &[&str], input: Vec<u8>) -> (i32, Vec<u8>, String) {
    run_cmd(Command::new(bin(name)).args(args), input)
}

pub fn run_cmd(cmd: &mut Command, input: Vec<u8>) -> (i32, Vec<u8>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    // Both read as they come: a full stderr must not stall the child
    // while stdout is read.
    let err = {
        let mut e = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    };
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    let err = err.join().expect("stderr reader");
    let st = child.wait().expect("wait");
    let _ = w.join();
    (st.code().unwrap_or(-1), out, err)
}

/// Parses JSON lines, failing the test on any line that is not JSON.
pub fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A helper process waiting for its go line; `go` releases it.
pub struct Helper {
    pub child: Child,
}

impl Helper {
    pub fn spawn(args: &[&str]) -> Helper {
        Helper::spawn_cmd(Command::new(bin("tracee-helper")).args(args))
    }
    pub fn spawn_cmd(cmd: &mut Command) -> Helper {
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        Helper { child }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Releases the helper and waits for it; returns its stdout.
    pub fn go(mut self) -> String {
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("release helper");
        drop(stdin);
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("helper stdout");
        let st = self.child.wait().expect("wait helper");
        assert!(st.success(), "helper failed: {st}");
        out
    }
}

/// Reads a child's stdout to the end in a thread, from now on, so that a
/// full pipe never stalls the pipeline under test.
pub fn read_stdout(child: &mut Child) -> std::thread::JoinHandle<Vec<u8>> {
    let mut out = child.stdout.take().expect("a piped stdout");
    std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).expect("read a child's stdout");
        b
    })
}

/// The unprivileged attacker: `python3 -c SCRIPT ARGS...` as nobody
/// (uid and gid 65534, no groups), with the system python (a root-owned
/// pyenv shim is not executable by nobody).
pub fn as_nobody(script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        script,
    ])
    .args(args);
    c
}

/// Runs the attacker to completion; fails the test if it failed.
pub fn nobody_runs(script: &str, args: &[&str]) -> String {
    stdout_of(&mut as_nobody(script, args), "the attacker")
}

/// A scratch directory that nobody owns (for the attacker's files).
pub fn nobody_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    let c = std::ffi::CString::new(d.0.to_str().expect("utf-8 path")).expect("no NUL");
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    d
}

/// The first `n` bytes of a ring file's header (zeros if it is shorter).
fn ring_header(path: &std::path::Path) -> [u8; 136] {
    let mut b = [0u8; 136];
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read(&mut b);
    }
    b
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Waits (at most 10 s) until `ready` holds of the ring file's header.
fn wait_ring(path: &std::path::Path, what: &str, ready: impl Fn(&[u8; 136]) -> bool) {
    let t = Instant::now();
    while !ready(&ring_header(path)) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{}: {what} never happened",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a producer has made the ring at `path` (its magic is
/// written last).
pub fn wait_for_ring(path: &std::path::Path) {
    wait_ring(path, "the ring was never made", |h| &h[..8] == b"TRCERING");
}

/// Waits until `pid` has attached to the ring at `path` as its reader.
pub fn wait_for_ring_reader(path: &std::path::Path, pid: u32) {
    wait_ring(path, &format!("pid {pid} attaching"), |h| {
        u32_at(h, 28) == pid
    });
}

/// Waits until the ring's reader has taken at least `n` bytes.
pub fn wait_for_ring_read(path: &std::path::Path, n: u64) {
    wait_ring(path, &format!("{n} bytes read"), |h| {
        u64::from_le_bytes(h[128..136].try_into().unwrap()) >= n
    });
}

/// Waits until process `pid` ignores SIGINT (a tool reading a pipe sets
/// that up first thing).
pub fn wait_ignoring_sigint(pid: u32) {
    let t = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let ign = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        if ign & (1 << (libc::SIGINT - 1)) != 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "pid {pid} never ignored SIGINT"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `tracee-collect COLLECT | tracee-filter FILTER | tracee-fmt json`, all
/// running while `during` runs; returns the JSON events, and the
/// collector's and fmt's stderr. Fails the test if a stage fails.
pub fn run_pipeline(
    collect: &[&str],
    filter: &[&str],
    during: impl FnOnce(),
) -> (Vec<serde_json::Value>, String, String) {
    let mut c = Collector::start(collect, Stdio::piped());
    let mut f = Command::new(bin("tracee-filter"))
        .args(filter)
        .stdin(c.child.stdout.take().expect("collector stdout"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("tracee-filter");
    let mut fmt = Command::new(bin("tracee-fmt"))
        .arg("json")
        .stdin(f.stdout.take().expect("filter stdout"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tracee-fmt");
    let out = read_stdout(&mut fmt);
    during();
    // The stop drains what the kernel holds: nothing to wait for first.
    let (code, err) = c.stop();
    assert_eq!(code, 0, "tracee-collect: {err}");
    let st = fmt.wait().expect("tracee-fmt");
    let mut ferr = String::new();
    let _ = fmt.stderr.take().expect("stderr").read_to_string(&mut ferr);
    assert!(st.success(), "tracee-fmt stopped: {ferr}");
    let _ = f.wait();
    (json_lines(&out.join().unwrap()), err, ferr)
}

/// Runs `cmd` to completion; fails the test (saying `what`) unless it
/// succeeded; returns its stdout.
pub fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A preamble with no catalog, for capture sidecars made in tests.
pub fn capture_preamble() -> wire::preamble::Preamble {
    wire::preamble::Preamble {
        version: wire::VERSION,
        boot_epoch_ns: 0,
        start_mono_ns: 0,
        hostname: "h".into(),
        kernel_release: "r".into(),
        catalog: wire::preamble::Catalog::new(vec![]),
    }
}

/// The lines of `OUT/index.jsonl` (none if it is missing), each JSON.
pub fn index_lines(out: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("index.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an index line is JSON"))
        .collect()
}

/// A pipe whose ends close on exec: tests run in parallel, and a child
/// spawned meanwhile must not hold a second reader or writer. Returns
/// (read end, write end).
pub fn cloexec_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe")
}

/// `tracee-filter ARGS < input > out`, started now. The caller's `input`
/// is moved into a temporary Command and so closed once it is spawned:
/// the filter is then its only holder.
pub fn spawn_filter(
    args: &[String],
    input: std::os::fd::OwnedFd,
    out: &std::path::Path,
) -> std::process::Child {
    Command::new(bin("tracee-filter"))
        .args(args)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(std::fs::File::create(out).unwrap()))
        .spawn()
        .expect("tracee-filter")
}

/// `tracee-fmt json` of the stream in `f`, each event without its times:
/// streams from two collectors differ there by nanoseconds (each
/// collector's programs read the clock themselves, and each preamble's
/// epoch offset comes from its own pair of clock reads).
pub fn json_without_clocks(f: &std::path::Path) -> Vec<serde_json::Value> {
    let (rc, out, err) = run_with_input("tracee-fmt", &["json"], std::fs::read(f).unwrap());
    assert_eq!(rc, 0, "{err}");
    json_lines(&out)
        .into_iter()
        .map(|mut e| {
            let o = e.as_object_mut().unwrap();
            o.remove("timestamp");
            o.remove("threadStartTime");
            e
        })
        .collect()
}

/// Fails the test, showing the first difference, unless the events `with`
/// something and `without` it are the same.
pub fn assert_same_events(what: &str, with: &[serde_json::Value], without: &[serde_json::Value]) {
    if let Some(i) = (0..with.len().max(without.len())).find(|&i| with.get(i) != without.get(i)) {
        panic!(
            "{what} changed the output at event {i} of {}/{}:\n with: {:?}\n without: {:?}",
            with.len(),
            without.len(),
            with.get(i).map(|e| e.to_string()),
            without.get(i).map(|e| e.to_string())
        );
    }
}
