//! The shared-memory ring between two processes (any user): a producer
//! (tracee-helper ring-produce, built on the same RingWriter the tools use)
//! and the real tools reading it.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn fnv1a(h: u64, b: &[u8]) -> u64 {
    b.iter()
        .fold(h, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01b3))
}

/// A ring path in /dev/shm, unique to this test, removed on drop.
struct ShmPath(std::path::PathBuf);

impl ShmPath {
    fn new(tag: &str) -> ShmPath {
        let p =
            std::path::PathBuf::from(format!("/dev/shm/tracee-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        ShmPath(p)
    }
    fn spec(&self) -> String {
        format!("ring:{}", self.0.display())
    }
}

impl Drop for ShmPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn produce(ring: &ShmPath, n: u64, when_full: &str) -> Child {
    Command::new(bin("tracee-helper"))
        .args([
            "ring-produce",
            ring.0.to_str().unwrap(),
            &n.to_string(),
            when_full,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tracee-helper ring-produce")
}

type Bytes = std::thread::JoinHandle<Vec<u8>>;

/// `tracee-filter --input ring:...`, its stdout and stderr read as they come.
fn read_ring(ring: &ShmPath) -> (Child, Bytes, Bytes) {
    let mut f = Command::new(bin("tracee-filter"))
        .args(["--input", &ring.spec()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = read_all(f.stdout.take().unwrap());
    let err = read_all(f.stderr.take().unwrap());
    (f, out, err)
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        b
    })
}

/// Waits for `c` at most `limit`; returns its exit code and how long it took.
fn wait_within(c: &mut Child, limit: Duration) -> (i32, Duration) {
    let t = Instant::now();
    loop {
        if let Some(st) = c.try_wait().expect("wait") {
            return (st.code().unwrap_or(-1), t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            panic!("process {} still running after {limit:?}", c.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_million_records_cross_the_ring_intact() {
    let ring = ShmPath::new("million");
    let mut p = produce(&ring, 1_000_000, "block");
    let p_out = read_all(p.stdout.take().unwrap());
    let (mut f, f_out, f_err) = read_ring(&ring);
    let (pc, _) = wait_within(&mut p, Duration::from_secs(120));
    let (fc, _) = wait_within(&mut f, Duration::from_secs(120));
    let f_err = String::from_utf8_lossy(&f_err.join().unwrap()).into_owned();
    assert_eq!(pc, 0, "producer failed");
    assert_eq!(fc, 0, "tracee-filter: {f_err}");
    let p_line = String::from_utf8(p_out.join().unwrap()).unwrap();
    let bytes = f_out.join().unwrap();
    let got = format!("{:016x} 0", fnv1a(0xcbf2_9ce4_8422_2325, &bytes));
    assert_eq!(got, p_line.trim(), "checksum of {} bytes", bytes.len());
    // And every record decodes: a million events and the end record.
    let (code, _, err) = run_with_input("tracee-fmt", &["none"], bytes);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1000000 events, 0 lost"), "{err}");
}

/// The producer notices a reader that died (the design says within a
/// second; the test allows five, so a loaded machine does not fail it).
#[test]
fn a_killed_reader_stops_the_producer() {
    for mode in ["drop", "block"] {
        let ring = ShmPath::new(&format!("killreader-{mode}"));
        let mut p = produce(&ring, 0, mode);
        let p_err = read_all(p.stderr.take().unwrap());
        let mut f = Command::new(bin("tracee-filter"))
            .args(["--input", &ring.spec()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_ring_reader(&ring.0, f.id());
        f.kill().unwrap();
        let _ = f.wait();
        let (code, _) = wait_within(&mut p, Duration::from_secs(5));
        let err = String::from_utf8_lossy(&p_err.join().unwrap()).into_owned();
        assert_eq!(code, 2, "{mode}: producer should fail: {err}");
        assert!(
            err.contains(&format!("(pid {}) died", f.id())),
            "{mode}: the message names the reader: {err}"
        );
    }
}

#[test]
fn a_killed_producer_ends_the_stream_with_an_error_and_whole_records() {
    let ring = ShmPath::new("killproducer");
    let mut p = produce(&ring, 0, "block");
    let (mut f, f_out, f_err) = read_ring(&ring);
    // Once the reader has taken 100 KB, the producer is in full flow.
    wait_for_ring_read(&ring.0, 100_000);
    // SIGKILL lands wherever the producer is, most likely inside a copy.
    p.kill().unwrap();
    let _ = p.wait();
    let (code, _) = wait_within(&mut f, Duration::from_secs(5));
    let err = String::from_utf8_lossy(&f_err.join().unwrap()).into_owned();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "producer of {} (pid {}) died",
            ring.spec(),
            p.id()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // What was read before the death is whole records.
    let bytes = f_out.join().unwrap();
    assert!(
        bytes.len() > 100_000,
        "the reader got going: {}",
        bytes.len()
    );
    let (code, _, err) = run_with_input("tracee-fmt", &["none"], bytes);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_stale_ring_is_refused_by_readers_and_reset_by_producers() {
    let ring = ShmPath::new("stale");
    // A producer killed before it ended the stream leaves its file behind.
    let mut p = produce(&ring, 0, "drop");
    wait_for_ring(&ring.0);
    // While it runs, a second producer is refused.
    let mut q = produce(&ring, 10, "block");
    let (code, _) = wait_within(&mut q, Duration::from_secs(5));
    let mut q_err = String::new();
    q.stderr.take().unwrap().read_to_string(&mut q_err).unwrap();
    assert_eq!(code, 2);
    assert!(q_err.contains("in use by its producer"), "{q_err}");
    p.kill().unwrap();
    let _ = p.wait();
    assert!(ring.0.exists());

    let (code, out, err) = run_with_input("tracee-fmt", &["json", "--input", &ring.spec()], vec![]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("stale") && err.contains(&p.id().to_string()),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A new producer replaces it, and its stream reads as its own. (A
    // reader started before the replacement would rightly refuse the stale
    // file: wait for the new one.)
    use std::os::unix::fs::MetadataExt;
    let stale_ino = std::fs::metadata(&ring.0).unwrap().ino();
    let mut p = produce(&ring, 1000, "block");
    let t = std::time::Instant::now();
    while std::fs::metadata(&ring.0).map_or(true, |m| m.ino() == stale_ino) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the stale ring was not replaced"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let p_out = read_all(p.stdout.take().unwrap());
    let (code, out, err) = run_with_input("tracee-filter", &["--input", &ring.spec()], vec![]);
    assert_eq!(code, 0, "{err}");
    wait_within(&mut p, Duration::from_secs(10));
    let want = String::from_utf8(p_out.join().unwrap()).unwrap();
    assert_eq!(
        format!("{:016x} 0", fnv1a(0xcbf2_9ce4_8422_2325, &out)),
        want.trim()
    );
    // The producer removed the file when it ended.
    assert!(!ring.0.exists());
}

#[test]
fn a_file_that_is_not_a_ring_is_refused() {
    let ring = ShmPath::new("notring");
    std::fs::write(&ring.0, vec![0x55u8; 8192]).unwrap();
    for tool in ["tracee-filter", "tracee-fmt"] {
        let (code, _, err) = run_with_input(tool, &["--input", &ring.spec()], vec![]);
        assert_eq!(code, 2, "{tool}: {err}");
        assert!(err.contains("not a tracee-rs ring"), "{tool}: {err}");
        assert_eq!(err.lines().count(), 1, "{tool}: {err}");
    }
}

#[test]
fn filter_writes_a_ring_that_fmt_reads() {
    let ring = ShmPath::new("chain");
    let input = crate::pipeline::stream(5000);
    let ring_spec = ring.spec();
    let fmt = std::thread::spawn(move || {
        run_with_input("tracee-fmt", &["json", "--input", &ring_spec], vec![])
    });
    let (code, _, err) = run_with_input(
        "tracee-filter",
        &["--output", &ring.spec(), "comm=bash"],
        input.clone(),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fmt.join().unwrap();
    assert_eq!(code, 0, "{err}");
    // The same as through a pipe.
    let (_, piped, _) = run_with_input("tracee-filter", &["comm=bash"], input);
    let (_, want, _) = run_with_input("tracee-fmt", &["json"], piped);
    assert_eq!(out, want);
}
