//! Forensic capture with the real eBPF: tracee-collect --capture with its
//! sidecar on descriptor 3 read by tracee-capture, artifacts compared byte
//! for byte with what the workloads wrote, read, loaded or ran.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    Collector, TempDir, bin, capture_preamble, cloexec_pipe, need_root, spawn_filter, stdout_of,
};

/// A collector capturing into a tracee-capture, and where it writes.
pub(crate) struct Run {
    pub(crate) dir: TempDir,
    pub(crate) collector: Collector,
    pub(crate) capture: Child,
}

/// The kernel's dev_t of a file, as artifact names carry it.
pub(crate) fn kdev(p: &Path) -> u64 {
    let d = std::fs::metadata(p).expect("stat").dev();
    let (major, minor) = (libc::major(d) as u64, libc::minor(d) as u64);
    major << 20 | minor
}

pub(crate) fn artifact_name(kind: &str, p: &Path) -> String {
    let ino = std::fs::metadata(p).expect("stat").ino();
    format!("{kind}.dev-{}.inode-{ino}", kdev(p))
}

impl Run {
    /// `tracee-collect --output none COLLECT... 3> >(tracee-capture --dir D CAPTURE...)`.
    pub(crate) fn start(collect: &[&str], capture: &[&str]) -> Run {
        let dir = TempDir::new("cap");
        Run::start_in(dir, collect, capture)
    }

    pub(crate) fn start_in(dir: TempDir, collect: &[&str], capture: &[&str]) -> Run {
        Run::start_to(dir, collect, capture, None)
    }

    /// As [`Run::start_in`], with the event stream going to `events`
    /// instead of nowhere.
    pub(crate) fn start_to(
        dir: TempDir,
        collect: &[&str],
        capture: &[&str],
        events: Option<Stdio>,
    ) -> Run {
        let (r, w) = cloexec_pipe();
        let out = dir.path("d");
        let capture = Command::new(bin("tracee-capture"))
            .arg("--dir")
            .arg(&out)
            .args(capture)
            .stdin(Stdio::from(r))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tracee-capture");
        let mut cmd = Command::new(bin("tracee-collect"));
        match events {
            Some(out) => cmd.args(collect).stdout(out),
            None => cmd
                .args(["--output", "none"])
                .args(collect)
                .stdout(Stdio::null()),
        };
        let wfd = w.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; fd 3 becomes the sidecar.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let collector = Collector::start_cmd(cmd, &format!("{collect:?}"));
        drop(w);
        Run {
            dir,
            collector,
            capture,
        }
    }

    pub(crate) fn out(&self) -> PathBuf {
        self.dir.path("d").join("out")
    }

    /// Stops both; returns the index lines and tracee-capture's stderr.
    pub(crate) fn stop(mut self) -> (TempDir, Vec<Value>, String, String) {
        let out = self.out();
        let (code, cerr) = self.collector.stop();
        assert_eq!(code, 0, "tracee-collect failed: {cerr}");
        let deadline = Instant::now() + Duration::from_secs(120);
        let st = loop {
            if let Some(st) = self.capture.try_wait().expect("wait tracee-capture") {
                break st;
            }
            assert!(Instant::now() < deadline, "tracee-capture did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        use std::io::Read;
        let _ = self
            .capture
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err);
        assert!(st.success(), "tracee-capture failed: {err}");
        let lines = crate::util::index_lines(&out);
        (self.dir, lines, err, cerr)
    }
}

pub(crate) fn helper(args: &[&str]) -> String {
    stdout_of(
        Command::new(bin("tracee-helper")).args(args),
        &format!("helper {args:?}"),
    )
}

pub(crate) fn by_path(index: &[Value]) -> HashMap<String, Value> {
    index
        .iter()
        .filter_map(|v| Some((v.get("path")?.as_str()?.to_string(), v.clone())))
        .collect()
}

/// Asserts `host/NAME` exists, equals `want`, and is indexed complete.
fn assert_artifact(out: &Path, index: &HashMap<String, Value>, name: &str, want: &[u8]) {
    let got = std::fs::read(out.join("host").join(name))
        .unwrap_or_else(|e| panic!("artifact {name}: {e}; index has {:?}", index.keys()));
    assert!(
        got.len() == want.len(),
        "{name}: {} bytes, want {}",
        got.len(),
        want.len()
    );
    assert!(got == want, "{name}: content differs");
    let line = &index[&format!("host/{name}")];
    assert_eq!(line["complete"], true, "{line}");
    assert_eq!(line["size"], want.len() as u64, "{line}");
    assert_eq!(line["sha256"].as_str().map(str::len), Some(64), "{line}");
}

const SIZES: [usize; 7] = [0, 1, 4095, 4096, 65537, (1 << 20) + 7, 100 << 20];

#[test]
fn written_and_read_files_are_captured_byte_exact() {
    if !need_root("written_and_read_files_are_captured_byte_exact") {
        return;
    }
    let files = TempDir::new("capfiles");
    let prefix = format!("{}/*", files.0.display());
    // A single burst of 100 MiB needs a kernel buffer that holds most of
    // it: the default (64M) would lose chunks, and say so in the index.
    let run = Run::start(
        &[
            "--capture-buffer",
            "256M",
            "--capture",
            &format!("write={prefix}"),
            "--capture",
            &format!("read={prefix}"),
        ],
        &[],
    );
    let mut names = Vec::new();
    for size in SIZES {
        let p = files.path(&format!("f{size}"));
        helper(&["writefile", p.to_str().unwrap(), &size.to_string()]);
        helper(&["readfile", p.to_str().unwrap()]);
        names.push((p, size));
    }
    // A file outside the prefix is not captured.
    let other = TempDir::new("capother");
    let o = other.path("outside");
    helper(&["writefile", o.to_str().unwrap(), "100"]);
    let (dir, index, err, _) = run.stop();
    let out = dir.path("d").join("out");
    let idx = by_path(&index);
    assert!(err.contains("0 incomplete"), "{err}");
    for (p, size) in &names {
        let want = std::fs::read(p).expect("the file");
        assert_eq!(want.len(), *size);
        assert_artifact(&out, &idx, &artifact_name("write", p), &want);
        assert_artifact(&out, &idx, &artifact_name("read", p), &want);
    }
    assert!(
        !idx.contains_key(&format!("host/{}", artifact_name("write", &o))),
        "a file outside the prefix was captured"
    );
    assert!(err.contains("0 incomplete"), "{err}");
}

#[test]
fn the_seeds_examples_write_and_pipe_read() {
    if !need_root("the_seeds_examples_write_and_pipe_read") {
        return;
    }
    let files = TempDir::new("capseed");
    let run = Run::start(
        &[
            "--capture",
            &format!("write={}/*", files.0.display()),
            "--capture",
            "read:type=pipe",
            "--capture",
            "read:fd=stdin",
            "comm=bash,cat",
        ],
        &[],
    );
    let t = files.path("testing.txt");
    let st = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "echo write testing 123 > {}; echo read testing 123 | cat > /dev/null",
            t.display()
        ))
        .status()
        .expect("bash");
    assert!(st.success());
    let (dir, index, _, _) = run.stop();
    let out = dir.path("d").join("out");
    let idx = by_path(&index);
    assert_artifact(
        &out,
        &idx,
        &artifact_name("write", &t),
        b"write testing 123\n",
    );
    let pipe_reads: Vec<&Value> = index
        .iter()
        .filter(|v| v["kind"] == "read" && v["comm"] == "cat")
        .collect();
    assert!(
        pipe_reads.iter().any(|v| {
            std::fs::read(out.join(v["path"].as_str().unwrap()))
                .ok()
                .as_deref()
                == Some(b"read testing 123\n".as_slice())
        }),
        "no pipe read by cat holds the echoed line: {index:?}"
    );
}

#[test]
fn exec_bpf_module_and_memory_are_captured() {
    if !need_root("exec_bpf_module_and_memory_are_captured") {
        return;
    }
    let files = TempDir::new("capobj");
    let run = Run::start(
        &[
            "--capture",
            "exec",
            "--capture",
            "bpf",
            "--capture",
            "module",
            "--capture",
            "mem",
        ],
        &[],
    );
    // exec: /bin/ls twice, captured once.
    for _ in 0..2 {
        assert!(
            Command::new("/bin/ls")
                .stdout(Stdio::null())
                .status()
                .expect("ls")
                .success()
        );
    }
    let insns = files.path("insns");
    helper(&["loadbpf", insns.to_str().unwrap()]);
    let img = files.path("module.ko");
    let image: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    std::fs::write(&img, &image).expect("image");
    let errno = helper(&["initmodule", img.to_str().unwrap()]);
    let page = files.path("page");
    helper(&["jit", page.to_str().unwrap()]);
    let modfile = files.path("other.ko");
    let mod_image: Vec<u8> = (0..50_000u32).map(|i| (i * 13 + 5) as u8).collect();
    std::fs::write(&modfile, &mod_image).expect("module file");
    let errno2 = helper(&["finitmodule", modfile.to_str().unwrap()]);
    let (dir, index, _, _) = run.stop();
    let out = dir.path("d").join("out");
    let idx = by_path(&index);
    let find = |prefix: &str| -> Vec<String> {
        idx.keys()
            .filter(|k| k.starts_with(&format!("host/{prefix}")))
            .map(|k| k["host/".len()..].to_string())
            .collect()
    };

    let ls: Vec<String> = find("exec.")
        .into_iter()
        .filter(|n| n.ends_with(".ls"))
        .collect();
    assert_eq!(ls.len(), 1, "/bin/ls run twice is captured once: {ls:?}");
    let want = std::fs::read("/bin/ls").expect("/bin/ls");
    assert_artifact(&out, &idx, &ls[0], &want);
    // The copy runs.
    let copy = files.path("ls-copy");
    std::fs::copy(out.join("host").join(&ls[0]), &copy).expect("copy");
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(
        Command::new(&copy)
            .stdout(Stdio::null())
            .status()
            .expect("run the copy")
            .success()
    );

    let bpf = find("bpf.name-tracee_rs_test.pid-");
    assert_eq!(bpf.len(), 1, "{:?}", idx.keys());
    assert_artifact(&out, &idx, &bpf[0], &std::fs::read(&insns).unwrap());

    assert_eq!(errno.trim(), "38", "init_module fails with ENOSYS here");
    let module: Vec<String> = find("module.")
        .into_iter()
        .filter(|n| std::fs::read(out.join("host").join(n)).ok() == Some(image.clone()))
        .collect();
    assert_eq!(module.len(), 1, "{:?}", idx.keys());
    assert_artifact(&out, &idx, &module[0], &image);
    assert!(module[0].ends_with(&crate::capture::sha256_hex(&image)));
    // finit_module: the file, named by its dev and inode.
    assert_eq!(errno2.trim(), "38");
    let ino = std::fs::metadata(&modfile).unwrap().ino();
    let want_name = format!("module.dev-{}.inode-{ino}.pid-", kdev(&modfile));
    let fm = find(&want_name);
    assert_eq!(fm.len(), 1, "{:?}", idx.keys());
    assert_artifact(&out, &idx, &fm[0], &mod_image);
    assert!(fm[0].ends_with(&crate::capture::sha256_hex(&mod_image)));

    let page_bytes = std::fs::read(&page).unwrap();
    let mem: Vec<String> = find("bin.pid-")
        .into_iter()
        .filter(|n| std::fs::read(out.join("host").join(n)).ok() == Some(page_bytes.clone()))
        .collect();
    assert_eq!(mem.len(), 1, "the JIT page is captured: {:?}", idx.keys());
    assert_artifact(&out, &idx, &mem[0], &page_bytes);
}

/// sha256 by the system's sha256sum, to check names independently.
pub fn sha256_hex(b: &[u8]) -> String {
    let (code, out, _) = crate::util::run_cmd(&mut Command::new("sha256sum"), b.to_vec());
    assert_eq!(code, 0);
    String::from_utf8_lossy(&out)[..64].to_string()
}

#[test]
fn filters_select_exactly_the_expected_files() {
    if !need_root("filters_select_exactly_the_expected_files") {
        return;
    }
    let files = TempDir::new("capflt");
    for d in ["a", "b", "c"] {
        std::fs::create_dir(files.path(d)).unwrap();
    }
    let p = |d: &str| format!("{}/{d}/*", files.0.display());
    let run = Run::start(
        &[
            "--capture",
            &format!("write={}", p("a")),
            "--capture",
            &format!("write:path={}", p("b")),
            "--capture",
            "write:type=regular",
        ],
        &[],
    );
    let mut want = Vec::new();
    let mut not = Vec::new();
    for d in ["a", "b", "c"] {
        let f = files.path(d).join("f");
        helper(&["writefile", f.to_str().unwrap(), "5000"]);
        if d == "c" { not.push(f) } else { want.push(f) }
    }
    let (_dir, index, _, _) = run.stop();
    let idx = by_path(&index);
    for f in &want {
        assert!(
            idx.contains_key(&format!("host/{}", artifact_name("write", f))),
            "{f:?} missing"
        );
    }
    for f in &not {
        assert!(
            !idx.contains_key(&format!("host/{}", artifact_name("write", f))),
            "{f:?} captured"
        );
    }
    // Only regular files under a or b: nothing else at all.
    assert_eq!(
        index.iter().filter(|v| v["kind"] == "write").count(),
        2,
        "{index:?}"
    );

    // Types: a pipe filter captures no regular file.
    let run = Run::start(
        &[
            "--capture",
            "write:type=pipe",
            "--capture",
            &format!("write={}", p("a")),
        ],
        &[],
    );
    let f = files.path("a").join("g");
    helper(&["writefile", f.to_str().unwrap(), "100"]);
    let (_dir, index, _, _) = run.stop();
    assert!(!by_path(&index).contains_key(&format!("host/{}", artifact_name("write", &f))));

    // elf: a file whose first bytes written are ELF's magic (dd writes
    // with write(2), in blocks, the first at offset 0).
    let run = Run::start(
        &[
            "--capture",
            "write:type=elf",
            "--capture",
            &format!("write={}", p("c")),
        ],
        &[],
    );
    let elf = files.path("c").join("true-copy");
    let not_elf = files.path("c").join("data");
    for (src, dst) in [("/bin/true", &elf), ("/etc/passwd", &not_elf)] {
        let st = Command::new("dd")
            .arg(format!("if={src}"))
            .arg(format!("of={}", dst.display()))
            .args(["bs=4k", "status=none"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let (dir, index, _, _) = run.stop();
    let idx = by_path(&index);
    let want = std::fs::read(&elf).unwrap();
    assert_artifact(
        &dir.path("d").join("out"),
        &idx,
        &artifact_name("write", &elf),
        &want,
    );
    assert!(!idx.contains_key(&format!("host/{}", artifact_name("write", &not_elf))));

    // fds: stdout only. bash's `echo > FILE` writes to its fd 1; the
    // helper writes through the descriptor open() gave it.
    let run = Run::start(
        &[
            "--capture",
            "write:fd=stdout",
            "--capture",
            &format!("write={}", p("b")),
        ],
        &[],
    );
    let to_stdout = files.path("b").join("out");
    let to_fd3 = files.path("b").join("fd3");
    let st = Command::new("bash")
        .arg("-c")
        .arg(format!("echo one > {}", to_stdout.display()))
        .status()
        .unwrap();
    assert!(st.success());
    helper(&["writefile", to_fd3.to_str().unwrap(), "100"]);
    let (dir, index, _, _) = run.stop();
    let idx = by_path(&index);
    assert_artifact(
        &dir.path("d").join("out"),
        &idx,
        &artifact_name("write", &to_stdout),
        b"one\n",
    );
    assert!(!idx.contains_key(&format!("host/{}", artifact_name("write", &to_fd3))));
}

#[test]
fn planted_symlinks_are_not_followed_and_the_budget_holds() {
    if !need_root("planted_symlinks_are_not_followed_and_the_budget_holds") {
        return;
    }
    let files = TempDir::new("capsafe");
    let dir = TempDir::new("capsafe-out");
    let victim = files.path("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    let target = files.path("t");
    std::fs::write(&target, b"").unwrap();
    let host = dir.path("d").join("out").join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::os::unix::fs::symlink(&victim, host.join(artifact_name("write", &target))).unwrap();
    let run = Run::start_in(
        dir,
        &["--capture", &format!("write={}/*", files.0.display())],
        &["--max-size", "1M"],
    );
    helper(&["writefile", target.to_str().unwrap(), "100"]);
    // A process named ../../x: its artifact and index line stay inside.
    let named = files.path("named");
    helper(&["renamed", "../../x", named.to_str().unwrap(), "10"]);
    let big = files.path("big");
    helper(&["writefile", big.to_str().unwrap(), &(10 << 20).to_string()]);
    let (dir, index, err, _) = run.stop();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"untouched",
        "the symlink was followed"
    );
    assert!(err.contains("skipping"), "{err}");
    // The budget: at most 1 MiB on disk, and a line saying capture stopped.
    let mut total = 0;
    for e in std::fs::read_dir(dir.path("d").join("out").join("host")).unwrap() {
        let m = std::fs::symlink_metadata(e.unwrap().path()).unwrap();
        if m.is_file() {
            // Bytes on disk: chunks land at their offsets, so a cut
            // artifact is a sparse file.
            total += m.blocks() * 512;
        }
    }
    assert!(total <= 1 << 20, "{total} bytes captured past a 1M budget");
    assert!(err.contains("capture stopped"), "{err}");
    assert!(
        index.iter().any(|v| v.get("captureStopped").is_some()),
        "{index:?}"
    );
    let idx = by_path(&index);
    let big_line = &idx[&format!("host/{}", artifact_name("write", &big))];
    assert_eq!(big_line["complete"], false);
    let named_line = &idx[&format!("host/{}", artifact_name("write", &named))];
    assert_eq!(named_line["comm"], ".._.._x");
    let d = dir.path("d");
    assert!(
        !d.join("x").exists() && !dir.0.join("x").exists(),
        "something escaped"
    );
    for e in walk(&dir.0) {
        assert!(e.starts_with(&d), "{e:?} outside the output directory");
    }
}

#[test]
fn tracee_capture_refuses_bad_input_with_one_line() {
    let dir = TempDir::new("capbad");
    let d = dir.path("d");
    let d = d.to_str().unwrap();
    // Not a stream at all.
    let (code, _, err) =
        crate::util::run_with_input("tracee-capture", &["--dir", d], b"hello".to_vec());
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A stream whose capture record lies about its payload.
    let pre = capture_preamble();
    let mut s = pre.to_bytes();
    let h = wire::capture::CaptureHeader {
        artifact: wire::capture::artifact::WRITE,
        len: 10,
        ..Default::default()
    };
    h.write_record(b"12345", &mut s);
    let (code, _, err) = crate::util::run_with_input("tracee-capture", &["--dir", d], s.clone());
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("payload"), "{err}");
    // An unknown artifact kind.
    let mut s = pre.to_bytes();
    let h = wire::capture::CaptureHeader {
        artifact: 99,
        ..Default::default()
    };
    h.write_record(b"", &mut s);
    let (code, _, err) = crate::util::run_with_input("tracee-capture", &["--dir", d], s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("artifact kind"), "{err}");
    // Bad options.
    let (code, _, err) =
        crate::util::run_with_input("tracee-capture", &["--max-size", "lots"], vec![]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let q = e.path();
            out.push(q.clone());
            if std::fs::symlink_metadata(&q).is_ok_and(|m| m.is_dir()) {
                out.extend(walk(&q));
            }
        }
    }
    out
}

/// With `--max-size`, one user may fill half of the budget at most: a
/// flood of one user's artifacts leaves room for everyone else's.
#[test]
fn one_user_cannot_spend_everyone_s_budget() {
    let dir = TempDir::new("capshare");
    let d = dir.path("d");
    let pre = capture_preamble();
    let mut s = pre.to_bytes();
    let chunk = vec![0x5au8; wire::capture::MAX_CHUNK];
    let put = |s: &mut Vec<u8>, uid: u32, ino: u64, chunks: u64| {
        for i in 0..chunks {
            let h = wire::capture::CaptureHeader {
                artifact: wire::capture::artifact::WRITE,
                ftype: wire::capture::ftype::REGULAR,
                dev: 1,
                ino,
                uid,
                off: i * chunk.len() as u64,
                len: chunk.len() as u32,
                ..Default::default()
            };
            h.write_record(&chunk, s);
        }
    };
    // 3 MiB by nobody, then 1 MiB by root, within a 4M budget.
    put(&mut s, 65534, 10, 192);
    put(&mut s, 0, 20, 64);
    s.extend_from_slice(&wire::EndBody::default().to_record());
    let (code, _, err) = crate::util::run_with_input(
        "tracee-capture",
        &["--dir", d.to_str().unwrap(), "--max-size", "4M"],
        s,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("capture stopped for uid 65534"), "{err}");
    let index = crate::util::index_lines(&d.join("out"));
    let idx = by_path(&index);
    let theirs = &idx["host/write.dev-1.inode-10"];
    // Half of 4M, less what making the artifact cost (a block), in chunks.
    let size = theirs["size"].as_u64().unwrap();
    assert!(size <= 2 << 20 && size > (2 << 20) - (64 << 10), "{theirs}");
    assert_eq!(theirs["complete"], false, "{theirs}");
    let root = &idx["host/write.dev-1.inode-20"];
    assert_eq!(
        (root["complete"].as_bool(), root["size"].as_u64()),
        (Some(true), Some(1 << 20)),
        "{root}"
    );
    assert!(
        index
            .iter()
            .any(|v| v["captureStopped"]["reason"] == "max-size-per-user"
                && v["captureStopped"]["uid"] == 65534)
    );
}

/// What a traced process controls cannot end tracee-capture: an offset or
/// object size the file system refuses (EFBIG) makes that artifact
/// incomplete; thousands of artifacts do not exhaust its descriptors; a
/// few bytes at a huge offset, or a sparse object, are not hashed through
/// their holes. Everything else is still written and indexed.
#[test]
fn what_a_process_controls_cannot_end_tracee_capture() {
    use wire::capture::{CaptureHeader, artifact, flags, ftype};
    let dir = TempDir::new("caprobust");
    let d = dir.path("d");
    let mut s = capture_preamble().to_bytes();
    let file = |s: &mut Vec<u8>, ino: u64, off: u64, data: &[u8]| {
        let h = CaptureHeader {
            artifact: artifact::WRITE,
            ftype: ftype::REGULAR,
            dev: 1,
            ino,
            uid: 65534,
            off,
            len: data.len() as u32,
            ..Default::default()
        };
        h.write_record(data, s);
    };
    let object = |s: &mut Vec<u8>, ts: u64, data: &[u8], size: u64| {
        let h = CaptureHeader {
            artifact: artifact::EXEC,
            ftype: ftype::REGULAR,
            tid: 7,
            ts,
            uid: 65534,
            name: wire::build::name16(format!("obj{ts}")),
            len: data.len() as u32,
            ..Default::default()
        };
        h.write_record(data, s);
        let last = CaptureHeader {
            flags: flags::LAST | flags::LOST,
            off: size,
            len: 0,
            ..h
        };
        last.write_record(&[], s);
    };
    // Past what ext4 or tmpfs allow: a write, and an object's size.
    file(&mut s, 1, 1 << 62, b"far");
    object(&mut s, 1, b"\x7fELF", 1 << 62);
    // Thousands of files, more than the descriptors it may open.
    for ino in 100..3100 {
        file(&mut s, ino, 0, b"x");
    }
    // Holes: 64 MiB under 4 KiB of data, a hundred times.
    for ts in 10..110 {
        object(&mut s, ts, &[0x7f; 4096], 64 << 20);
    }
    file(&mut s, 2, (16 << 30) - 1, b"!");
    // And an ordinary file after all that.
    file(&mut s, 3, 0, b"still here");
    s.extend_from_slice(&wire::EndBody::default().to_record());
    let mut cmd = Command::new(bin("tracee-capture"));
    cmd.args(["--dir", d.to_str().unwrap()]);
    // SAFETY: setrlimit between fork and exec only.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let t = Instant::now();
    let (code, _, err) = crate::util::run_cmd(&mut cmd, s);
    let took = t.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(!err.contains("Too many open files"), "{err}");
    let index = crate::util::index_lines(&d.join("out"));
    let idx = by_path(&index);
    assert_eq!(idx["host/write.dev-1.inode-1"]["complete"], false);
    assert_eq!(
        std::fs::read(d.join("out/host/write.dev-1.inode-3")).unwrap(),
        b"still here"
    );
    assert_eq!(idx["host/write.dev-1.inode-3"]["complete"], true);
    let files = index.iter().filter(|v| v["kind"] == "write").count();
    assert_eq!(files, 3000 + 3, "every file indexed");
    let far = &idx["host/write.dev-1.inode-2"];
    assert_eq!(
        (far["sparse"].as_bool(), far["size"].as_u64()),
        (Some(true), Some(16 << 30)),
        "{far}"
    );
    let sparse = index
        .iter()
        .filter(|v| v["kind"] == "exec" && v["sparse"] == true && v["size"] == 64u64 << 20)
        .count();
    assert_eq!(sparse, 100, "{index:?}");
    assert!(
        index
            .iter()
            .any(|v| v["kind"] == "exec" && v["complete"] == false && v["size"] == 4),
        "the object whose size was refused is kept, incomplete: {err}"
    );
}

/// The filter reading the event stream never sees the captures, which
/// tracee-collect judges by its own expressions: its expressions are not
/// pushed down, so they do not narrow what is captured.
#[test]
fn a_filter_downstream_does_not_narrow_the_captures() {
    if !need_root("a_filter_downstream_does_not_narrow_the_captures") {
        return;
    }
    let dir = TempDir::new("capdown");
    let (r, w) = cloexec_pipe();
    let mut f = spawn_filter(&["comm=no-such-name".into()], r, &dir.path("f.bin"));
    let target = dir.path("w.txt");
    let run = Run::start_to(
        dir,
        &[
            "-e",
            "openat",
            "--capture",
            &format!("write={}*", target.display()),
        ],
        &[],
        Some(Stdio::from(w)),
    );
    helper(&["writefile", target.to_str().unwrap(), "4096"]);
    let (_dir, index, _, cerr) = run.stop();
    let _ = f.wait();
    assert!(
        cerr.contains(&format!(
            "nothing pushed down from tracee-filter (pid {}): captures are judged",
            f.id()
        )),
        "{cerr}"
    );
    assert!(
        index.iter().any(|l| l["kind"] == "write"),
        "the helper's write was not captured: {index:?}"
    );
}
