//! Containers with the real eBPF and a real runtime: podman (with runc)
//! runs local busybox images; events carry the container's id, name and
//! image; the filter's container scopes; container and cgroup events;
//! artifacts filed per container; and hostile cgroups and runtimes.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::capture::Run;
use crate::util::*;

const IMAGE: &str = "localhost/tracee-rs-test:1";

/// The test image: busybox-static as a root filesystem, imported once.
fn image() -> &'static str {
    static MADE: OnceLock<()> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    MADE.get_or_init(|| {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let exists = Command::new("podman")
            .args(["image", "exists", IMAGE])
            .status()
            .expect("podman (the test command installs it)");
        if exists.success() {
            return;
        }
        let root = TempDir::new("rootfs");
        std::fs::create_dir_all(root.path("bin")).unwrap();
        std::fs::create_dir_all(root.path("tmp")).unwrap();
        std::fs::create_dir_all(root.path("etc")).unwrap();
        std::fs::copy("/bin/busybox", root.path("bin/busybox")).expect("busybox-static");
        for l in ["sh", "sleep", "cat", "echo", "true", "ls"] {
            std::os::unix::fs::symlink("busybox", root.path(&format!("bin/{l}"))).unwrap();
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&root.0)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar");
        let o = Command::new("podman")
            .args(["import", "-", IMAGE])
            .stdin(tar.stdout.take().expect("tar stdout"))
            .output()
            .expect("podman import");
        assert!(
            tar.wait().expect("tar").success(),
            "tar of the root filesystem"
        );
        assert!(
            o.status.success(),
            "podman import: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    });
    IMAGE
}

/// `podman run` as this machine allows it (see DESIGN.md): runc, cgroupfs,
/// no network, rlimits within the hard limits.
pub(crate) fn podman_run(name: &str, extra: &[&str], cmd: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args([
        "--runtime",
        "runc",
        "--cgroup-manager=cgroupfs",
        "run",
        "--network=none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--name",
        name,
    ])
    .args(extra)
    .arg(image())
    .args(cmd);
    c
}

/// Removes the container when the test ends, however it ends.
pub(crate) struct Gone(pub(crate) String);
impl Drop for Gone {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn arg<'a>(ev: &'a Value, name: &str) -> &'a Value {
    ev["args"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .map(|x| &x["value"])
        .unwrap_or(&Value::Null)
}

/// A tool run as nobody on a saved stream (the file opened here).
fn as_nobody_on(tool: &str, args: &[&str], input: &Path) -> Vec<u8> {
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin(tool))
        .args(args)
        .stdin(File::open(input).expect("saved stream"))
        .output()
        .expect("setpriv");
    assert!(
        o.status.success(),
        "{tool} {args:?} as nobody: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn json_as_nobody(args: &[&str], input: &Path, filter: &[&str]) -> Vec<Value> {
    if filter.is_empty() {
        return json_lines(&as_nobody_on("tracee-fmt", args, input));
    }
    let dir = nobody_dir("flt");
    let mid = dir.path("filtered.bin");
    std::fs::write(&mid, as_nobody_on("tracee-filter", filter, input)).unwrap();
    json_lines(&as_nobody_on("tracee-fmt", args, &mid))
}

/// The container ids of `evs` among `of` (other tests run containers of
/// their own meanwhile).
fn ids(evs: &[Value], of: &[&str]) -> std::collections::BTreeSet<String> {
    evs.iter()
        .filter_map(|e| e["containerId"].as_str())
        .filter(|id| of.contains(id))
        .map(String::from)
        .collect()
}

#[test]
fn podman_containers_are_known_by_id_name_and_image() {
    if !need_root("podman_containers_are_known_by_id_name_and_image") {
        return;
    }
    let tag = std::process::id();
    let (old, new) = (format!("tr-old-{tag}"), format!("tr-new-{tag}"));
    let _g = (Gone(old.clone()), Gone(new.clone()));
    // Running before tracing starts: found by the walk of the cgroup tree.
    let old_id = stdout_of(
        &mut podman_run(
            &old,
            &["-d"],
            &[
                "sh",
                "-c",
                "while :; do cat /etc/hostname >/dev/null; sleep 0.1; done",
            ],
        ),
        "podman run -d",
    )
    .trim()
    .to_string();
    assert_eq!(old_id.len(), 64, "{old_id}");

    let dir = nobody_dir("ctr");
    let saved = dir.path("trace.bin");
    let pushed = dir.path("pushed.bin");
    let all = Collector::start(
        &["-e", "containers,sched_process_exec,openat"],
        Stdio::from(File::create(&saved).unwrap()),
    );
    // The same, with container=new evaluated in the kernel.
    let only_new = Collector::start(
        &["-e", "sched_process_exec,openat", "container=new"],
        Stdio::from(File::create(&pushed).unwrap()),
    );
    // And not-container in the kernel: it must keep what user space keeps,
    // runc's work in the new container's cgroup before it starts included.
    let not_in = dir.path("not-container.bin");
    let host_only = Collector::start(
        &["-e", "sched_process_exec,openat", "not-container"],
        Stdio::from(File::create(&not_in).unwrap()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let cidfile = dir.path("new.cid");
    let said = stdout_of(
        &mut podman_run(
            &new,
            &["--rm", "--cidfile", cidfile.to_str().unwrap()],
            &[
                "sh",
                "-c",
                "cat /etc/hostname; sleep 1; cat /etc/hostname >/dev/null",
            ],
        ),
        "podman run",
    );
    let new_id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(new_id.len(), 64);
    assert_eq!(said.trim(), &new_id[..12], "the container's hostname");
    std::thread::sleep(Duration::from_millis(500));
    let (code, err) = all.stop();
    assert_eq!(code, 0, "{err}");
    let (code, err2) = only_new.stop();
    assert_eq!(code, 0, "{err2}");
    let (code, err3) = host_only.stop();
    assert_eq!(code, 0, "{err3}");

    // Read back as an unprivileged user, from the saved stream.
    let evs = json_as_nobody(&["json"], &saved, &[]);
    let of = |id: &str| -> Vec<&Value> { evs.iter().filter(|e| e["containerId"] == id).collect() };
    let (in_new, in_old) = (of(&new_id), of(&old_id));
    assert!(
        in_new.iter().any(|e| e["eventName"] == "sched_process_exec"
            && arg(e, "argv").to_string().contains("cat /etc/hostname")),
        "the new container's exec: {err}"
    );
    assert!(
        in_old.iter().any(|e| e["eventName"] == "openat"),
        "the old container's opens"
    );
    // Every event carries the id at once; the names follow as soon as the
    // runtime answered (no event waits for them), and are right.
    for (evs, id, name) in [(&in_new, &new_id, &new), (&in_old, &old_id, &old)] {
        let mut named = 0;
        for e in evs {
            let c = &e["container"];
            assert_eq!(c["id"], **id, "{e}");
            assert_eq!(e["kubernetes"], serde_json::json!({}), "{e}");
            if c.get("name").is_none() {
                continue;
            }
            named += 1;
            assert_eq!(c["name"], **name, "{e}");
            assert_eq!(c["image"], IMAGE, "{e}");
            assert!(
                c["imageDigest"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("localhost/tracee-rs-test@sha256:")),
                "{e}"
            );
        }
        // At the latest, what the container did a second after it began.
        let last = evs.last().unwrap();
        assert_eq!(last["container"]["name"], **name, "{last}");
        assert!(named > 0);
    }
    // Host events: empty container fields.
    let host: Vec<&Value> = evs.iter().filter(|e| e["containerId"] == "").collect();
    assert!(!host.is_empty());
    assert!(host.iter().all(|e| e["container"] == serde_json::json!({})
        && e["contextFlags"]["containerStarted"] == false));

    // The container and cgroup events.
    let by_name = |n: &str| -> Vec<&Value> { evs.iter().filter(|e| e["eventName"] == n).collect() };
    let creates = by_name("container_create");
    let create: Vec<&&Value> = creates
        .iter()
        .filter(|e| arg(e, "container_id") == new_id.as_str())
        .collect();
    assert_eq!(
        create.len(),
        1,
        "one container_create: {:?}",
        by_name("container_create")
    );
    let c = create[0];
    assert_eq!(arg(c, "runtime"), "podman");
    assert_eq!(arg(c, "container_name"), new.as_str());
    assert_eq!(arg(c, "container_image"), IMAGE);
    assert!(arg(c, "ctime").as_u64().unwrap() > 1_600_000_000_000_000_000);
    assert_eq!(
        by_name("container_remove")
            .iter()
            .filter(|e| arg(e, "container_id") == new_id.as_str() && arg(e, "runtime") == "podman")
            .count(),
        1
    );
    let new_cgroup = in_new[0]["cgroupId"].as_u64().unwrap();
    for n in ["cgroup_mkdir", "cgroup_rmdir"] {
        let all = by_name(n);
        let v2: Vec<&&Value> = all
            .iter()
            .filter(|e| arg(e, "hierarchy_id") == 0)
            .filter(|e| {
                arg(e, "cgroup_path")
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/libpod-{new_id}")))
            })
            .collect();
        assert_eq!(v2.len(), 1, "{n}");
        assert_eq!(arg(v2[0], "cgroup_id"), new_cgroup, "{n}");
    }

    // The filter's container scopes, as nobody on the saved stream.
    let ours = [old_id.as_str(), new_id.as_str()];
    let started: Vec<&Value> = evs
        .iter()
        .filter(|e| e["contextFlags"]["containerStarted"] == true)
        .collect();
    let kept = json_as_nobody(&["json"], &saved, &["container"]);
    assert_eq!(kept.len(), started.len());
    assert_eq!(
        ids(&kept, &ours),
        [old_id.clone(), new_id.clone()].into_iter().collect()
    );
    let kept = json_as_nobody(&["json"], &saved, &["container=new"]);
    assert_eq!(
        ids(&kept, &ours),
        [new_id.clone()].into_iter().collect(),
        "container=new"
    );
    let kept = json_as_nobody(&["json"], &saved, &["not-container"]);
    assert!(
        kept.iter()
            .all(|e| e["contextFlags"]["containerStarted"] == false)
    );
    assert_eq!(kept.len(), evs.len() - started.len());
    let kept = json_as_nobody(
        &["json"],
        &saved,
        &[&format!("container={}", &old_id[..12])],
    );
    assert_eq!(ids(&kept, &ours), [old_id.clone()].into_iter().collect());
    let kept = json_as_nobody(&["json"], &saved, &[&format!("containerName=tr-new-{tag}")]);
    assert_eq!(ids(&kept, &ours), [new_id.clone()].into_iter().collect());
    let kept = json_as_nobody(&["json"], &saved, &["containerImage=localhost/tracee-rs-*"]);
    assert_eq!(
        ids(&kept, &ours),
        [old_id.clone(), new_id.clone()].into_iter().collect()
    );

    // Pushed into the kernel: the new container only, all of its events.
    let pushed_evs = json_as_nobody(&["json"], &pushed, &[]);
    assert_eq!(
        ids(&pushed_evs, &ours),
        [new_id.clone()].into_iter().collect(),
        "{err2}"
    );
    let want = in_new
        .iter()
        .filter(|e| {
            e["contextFlags"]["containerStarted"] == true && e["eventName"] != "cgroup_mkdir"
        })
        .count();
    let pushed_new = pushed_evs
        .iter()
        .filter(|e| e["containerId"] == new_id.as_str())
        .count();
    assert_eq!(
        pushed_new, want,
        "kernel container=new keeps what the filter keeps"
    );

    let in_cgroup = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["cgroupId"] == new_cgroup)
            .filter(|e| e["eventName"] == "openat" || e["eventName"] == "sched_process_exec")
            .count()
    };
    let user = json_as_nobody(&["json"], &saved, &["not-container"]);
    let kernel = json_as_nobody(&["json"], &not_in, &[]);
    assert!(
        in_cgroup(&user) > 0,
        "runc's work before the container starts"
    );
    assert_eq!(in_cgroup(&kernel), in_cgroup(&user), "kernel not-container");
    assert!(
        kernel
            .iter()
            .all(|e| e["contextFlags"]["containerStarted"] == false)
    );

    // table-verbose names the container.
    let table = String::from_utf8(as_nobody_on("tracee-fmt", &["table-verbose"], &saved)).unwrap();
    assert!(table.lines().next().unwrap().contains("CONTAINER"));
    assert!(table.lines().any(|l| l.contains(&new_id[..12])));
}

#[test]
fn entity_ids_are_stable_across_fork_and_exec() {
    if !need_root("entity_ids_are_stable_across_fork_and_exec") {
        return;
    }
    let dir = TempDir::new("ent");
    let marker = dir.path("entity-marker");
    let m = marker.to_str().unwrap().to_string();
    // sh opens the marker, forks a child that opens it, then execs cat,
    // which opens it again: one process, then its child.
    let script = format!("cat {m} >/dev/null; (cat {m} >/dev/null); exec cat {m}");
    std::fs::write(&marker, "x").unwrap();
    let (evs, err, _) = run_pipeline(
        &["-e", "openat,sched_process_fork,sched_process_exec"],
        &["comm=sh,cat"],
        || {
            let _ = Command::new("sh").args(["-c", &script]).status();
        },
    );
    let opens: Vec<&Value> = evs
        .iter()
        .filter(|e| e["eventName"] == "openat" && arg(e, "pathname") == m.as_str())
        .collect();
    assert_eq!(opens.len(), 3, "{err}");
    // The last open is the exec'd sh: the same process, the same ids.
    let shell = evs
        .iter()
        .find(|e| {
            e["eventName"] == "sched_process_exec"
                && e["hostProcessId"] == opens[2]["hostProcessId"]
        })
        .expect("the exec");
    for e in [shell, opens[2]] {
        assert_eq!(e["processEntityId"], shell["processEntityId"]);
        assert_eq!(
            e["threadEntityId"], e["processEntityId"],
            "a one-thread process"
        );
    }
    // A child's parent entity is its parent's process entity.
    for o in &opens[..2] {
        if o["hostParentProcessId"] == opens[2]["hostProcessId"] {
            assert_eq!(o["parentEntityId"], shell["processEntityId"], "{o}");
        }
    }
    // Each id is Tracee's hash of its pid and start time.
    for e in &opens {
        let start = e["threadStartTime"].as_u64().unwrap();
        let tid = e["hostThreadId"].as_u64().unwrap() as u32;
        assert_eq!(
            e["threadEntityId"].as_u64().unwrap() as u32,
            tracee_fmt::procs::entity_id(tid, start)
        );
    }
}

#[test]
fn capture_files_a_containers_writes_under_its_id() {
    if !need_root("capture_files_a_containers_writes_under_its_id") {
        return;
    }
    let tag = std::process::id();
    let name = format!("tr-cap-{tag}");
    let _g = Gone(name.clone());
    let file = format!("/tmp/tracee-ctr-{tag}.txt");
    let run = Run::start(&["--capture", "write=/tmp/tracee-ctr*"], &[]);
    let cidfile = run.dir.path("cid");
    stdout_of(
        &mut podman_run(
            &name,
            &["--rm", "--cidfile", cidfile.to_str().unwrap()],
            &[
                "sh",
                "-c",
                &format!("echo hello-from-the-container > {file}"),
            ],
        ),
        "podman run",
    );
    let id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    let out = run.out();
    let (_dir, index, cap_err, _) = run.stop();
    let line = index
        .iter()
        .find(|l| l["containerId"] == id.as_str())
        .unwrap_or_else(|| panic!("no artifact of the container in {index:?}: {cap_err}"));
    let path = line["path"].as_str().unwrap();
    assert!(path.starts_with(&format!("{id}/write.dev-")), "{path}");
    assert_eq!(
        std::fs::read_to_string(out.join(path)).unwrap(),
        "hello-from-the-container\n"
    );
    assert!(
        index
            .iter()
            .filter(|l| l["path"].as_str().unwrap().starts_with("host/"))
            .all(|l| l["containerId"] == "")
    );
}

/// A cgroup of this test's own, delegated to nobody (who can then make
/// cgroups under it and move itself between them, as a user with a
/// delegated subtree can), removed (deepest first) at the end.
struct Delegated(std::path::PathBuf);
impl Delegated {
    fn new(tag: &str) -> Delegated {
        let root = std::path::PathBuf::from("/sys/fs/cgroup/unified");
        let root = if root.join("cgroup.procs").exists() {
            root
        } else {
            "/sys/fs/cgroup".into()
        };
        let d = root.join(format!("tracee-rs-{tag}-{}", std::process::id()));
        std::fs::create_dir(&d).expect("a test cgroup");
        let st = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&d)
            .status()
            .unwrap();
        assert!(st.success());
        Delegated(d)
    }
}
impl Drop for Delegated {
    fn drop(&mut self) {
        fn rm(d: &Path) {
            if let Ok(es) = std::fs::read_dir(d) {
                for e in es.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        rm(&e.path());
                    }
                }
            }
            // Whatever is left in it goes to the root cgroup first.
            if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs.lines() {
                    let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.procs", p);
                }
            }
            let _ = std::fs::remove_dir(d);
        }
        rm(&self.0);
    }
}

/// What nobody does, from inside the delegated cgroup: cgroups named like
/// containers, with odd bytes, at the name's length limit, past the path
/// limit of the tracepoint, and one removed at once. Then it makes a
/// cgroup with the id of a real (root-made) container, moves into it, and
/// runs cat in a mount namespace of its own, to pass for that container.
const HOSTILE_CGROUPS: &str = r#"
import os, sys
base, hexid2, hexid3, victim, marker2 = sys.argv[1:6]
b = base.encode()
os.mkdir(b + b"/docker-\x1b]0;owned\x07\xff\xfe" + b"A" * 30 + b".scope")
os.mkdir(b + b"/crio-" + b"b" * 250)
p = b
for i in range(5):
    p += b"/" + b"d" * 200
    os.mkdir(p)
os.mkdir(p + b"/libpod-" + hexid2.encode())
q = b + b"/libpod-" + hexid3.encode()
os.mkdir(q)
os.rmdir(q)
fake = b + b"/x/libpod-" + victim.encode()
os.makedirs(fake)
with open(fake + b"/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
sys.stdout.write("done\n")
sys.stdout.flush()
os.execvp("unshare", ["unshare", "-Urm", "cat", marker2])
"#;

/// A fake Podman API: knows one container, `victim`, by `id`.
fn fake_podman(sock: &Path, id: String) {
    let l = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut req = [0u8; 1024];
            let n = std::io::Read::read(&mut s, &mut req).unwrap_or(0);
            let req = String::from_utf8_lossy(&req[..n]).into_owned();
            let body = if req.starts_with(&format!("GET /containers/{id}/json ")) {
                r#"{"Name":"/victim","Config":{"Image":"localhost/victim:1","Labels":{}},"Image":"sha256:feed"}"#
            } else if req.starts_with("GET /images/sha256:feed/json ") {
                r#"{"RepoTags":["localhost/victim:1"],"RepoDigests":["localhost/victim@sha256:feed"]}"#
            } else {
                ""
            };
            let head = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = std::io::Write::write_all(
                &mut s,
                format!("HTTP/1.0 {head}\r\nContent-Type: application/json\r\n\r\n{body}")
                    .as_bytes(),
            );
        }
    });
}

#[test]
fn hostile_cgroups_and_a_hung_runtime_do_not_stall_the_stream() {
    if !need_root("hostile_cgroups_and_a_hung_runtime_do_not_stall_the_stream") {
        return;
    }
    let deleg = Delegated::new("hostile");
    let dir = nobody_dir("hostile");
    let marker = dir.path("hostile-marker");
    let marker2 = dir.path("hostile-marker-2");
    std::fs::write(&marker, "x").unwrap();
    std::fs::write(&marker2, "y").unwrap();
    // A docker socket that takes connections and never answers.
    let sock = dir.path("docker.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        l.set_nonblocking(true).unwrap();
        loop {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            if hold_rx.try_recv().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let hex = |c: char| c.to_string().repeat(64);
    let (h1, h2, h3, h4) = (hex('a'), hex('b'), hex('c'), hex('d'));
    let api = dir.path("podman.sock");
    fake_podman(&api, h4.clone());
    let mut c = Collector::start(
        &[
            "-e",
            "containers,openat",
            "--containers",
            &format!("sockets.docker={}", sock.display()),
            "--containers",
            &format!("sockets.podman={}", api.display()),
        ],
        Stdio::piped(),
    );
    let mut fmt = Command::new(bin("tracee-fmt"))
        .arg("json")
        .stdin(c.child.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let out = fmt.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), l));
        }
    });
    // Nobody, moved into the delegated cgroup first.
    let attacker = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c \"$0\" \"$@\"",
            deleg.0.display()
        ))
        .arg(HOSTILE_CGROUPS)
        .args([
            deleg.0.to_str().unwrap(),
            &h2,
            &h3,
            &h4,
            marker2.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        attacker.status.success(),
        "{}",
        String::from_utf8_lossy(&attacker.stderr)
    );
    assert!(String::from_utf8_lossy(&attacker.stdout).starts_with("done"));
    // Root's containers (as a runtime makes them): one whose runtime
    // hangs (2 s, then the disk), one the runtime names. Then opens, at
    // once: they must reach the output while the lookup still hangs.
    std::fs::create_dir(deleg.0.join(format!("docker-{h1}.scope"))).unwrap();
    std::fs::create_dir(deleg.0.join(format!("libpod-{h4}"))).unwrap();
    for _ in 0..30 {
        drop(File::open(&marker).unwrap());
    }
    let mut lines: Vec<(Instant, String)> = Vec::new();
    // As JSON quotes it (marker2's path starts with marker's).
    let m = &format!("\"{}\"", marker.display());
    while lines.iter().filter(|(_, l)| l.contains(m)).count() < 30 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(x) => lines.push(x),
            Err(_) => panic!("the opens stopped coming: {lines:?}"),
        }
    }
    // Then every container-looking cgroup gets its container_create.
    let deadline = Instant::now() + Duration::from_secs(20);
    let creates = |lines: &[(Instant, String)]| -> Vec<Value> {
        lines
            .iter()
            .filter(|(_, l)| l.contains("\"container_create\""))
            .map(|(_, l)| serde_json::from_str(l).expect("JSON"))
            .collect()
    };
    let m2 = marker2.to_str().unwrap();
    while (creates(&lines).len() < 7 || !lines.iter().any(|(_, l)| l.contains(m2)))
        && Instant::now() < deadline
    {
        if let Ok(x) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(x);
        }
    }
    let (code, err) = c.stop();
    let _ = hold_tx.send(());
    assert_eq!(code, 0, "{err}");
    let _ = fmt.wait();
    lines.extend(rx.try_iter());
    let cr = creates(&lines);
    let by_id =
        |id: &str| -> Vec<&Value> { cr.iter().filter(|e| arg(e, "container_id") == id).collect() };
    let docker = by_id(&h1);
    assert_eq!(docker.len(), 1, "{cr:?}\n{err}");
    assert_eq!(arg(docker[0], "runtime"), "docker");
    assert_eq!(arg(docker[0], "container_name"), "", "unknown, not made up");
    assert_eq!(by_id(&h2).len(), 1, "the deep one");
    assert_eq!(by_id(&h3).len(), 1, "the one gone at once");
    assert_eq!(by_id(&"b".repeat(250)).len(), 1, "the longest name");
    // The real one is named; the one nobody made with its id is not.
    let h4s = by_id(&h4);
    assert_eq!(h4s.len(), 2, "{h4s:?}");
    for e in &h4s {
        let by_root = e["userId"] == 0;
        let name = arg(e, "container_name");
        assert_eq!(name, if by_root { "victim" } else { "" }, "{e}");
    }
    let odd = cr
        .iter()
        .find(|e| {
            arg(e, "container_id")
                .as_str()
                .is_some_and(|s| s.contains('\u{1b}'))
        })
        .expect("the odd one");
    assert!(
        arg(odd, "container_id")
            .as_str()
            .unwrap()
            .contains('\u{fffd}')
    );
    assert_eq!(arg(odd, "container_name"), "");
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("\"container_remove\"") && l.contains(&h3))
    );
    // The docker container's create waited for the hung socket, not the
    // stream: every open made after its cgroup came before it.
    let pos = |what: &dyn Fn(&str) -> bool| lines.iter().position(|(_, l)| what(l)).unwrap();
    let docker_at = pos(&|l| l.contains("\"container_create\"") && l.contains(&h1));
    let last_open = lines.iter().rposition(|(_, l)| l.contains(m)).unwrap();
    assert!(docker_at > last_open, "the stream waited for a lookup");
    let mkdir_at = pos(&|l| l.contains("\"cgroup_mkdir\"") && l.contains(&h1));
    let first_open = pos(&|l| l.contains(m));
    assert!(mkdir_at < first_open);
    // cat in the fake cgroup: the victim's id (its cgroup's name says so),
    // started (its own mount namespace), but not the victim's names.
    let cat: Value = lines
        .iter()
        .find(|(_, l)| l.contains(m2) && l.contains("\"openat\""))
        .map(|(_, l)| serde_json::from_str(l).unwrap())
        .expect("cat's open");
    assert_eq!(cat["containerId"], h4.as_str());
    assert_eq!(cat["contextFlags"]["containerStarted"], true);
    assert!(cat["container"].get("name").is_none(), "{cat}");
    // No raw control byte reaches a terminal.
    assert!(lines.iter().all(|(_, l)| !l.contains('\u{1b}')));
}

/// The names from Podman's own API (its Docker-compatible service on a
/// socket), rather than its state on disk: the container record says
/// where they came from.
#[test]
fn podmans_api_names_a_container() {
    if !need_root("podmans_api_names_a_container") {
        return;
    }
    let dir = TempDir::new("papi");
    let sock = dir.path("podman.sock");
    let mut service = Command::new("podman")
        .args([
            "--runtime",
            "runc",
            "--cgroup-manager=cgroupfs",
            "system",
            "service",
            "--time=0",
        ])
        .arg(format!("unix://{}", sock.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("podman system service");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let t = Instant::now();
    while !sock.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "podman's API never came up"
        );
        if let Some(st) = service.try_wait().unwrap() {
            panic!("podman system service ended: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _service = Kill(service);
    let name = format!("tr-api-{}", std::process::id());
    let _g = Gone(name.clone());
    let saved = dir.path("trace.bin");
    let c = Collector::start(
        &[
            "-e",
            "containers",
            "--containers",
            &format!("sockets.podman={}", sock.display()),
        ],
        Stdio::from(File::create(&saved).unwrap()),
    );
    let cidfile = dir.path("cid");
    stdout_of(
        &mut podman_run(
            &name,
            &["--rm", "--cidfile", cidfile.to_str().unwrap()],
            &["sh", "-c", "sleep 0.5"],
        ),
        "podman run",
    );
    let id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let mut r = wire::reader::StreamReader::new(File::open(&saved).unwrap()).unwrap();
    let mut named = None;
    while let Some(rec) = r.next_record(&mut || Ok(())).unwrap() {
        if rec.kind() == wire::kind::CONTAINER {
            let k = wire::container::Container::from_record(rec).unwrap();
            if k.id == id.as_bytes() && k.has(wire::container::flags::NAMED) {
                named = Some(k);
            }
        }
    }
    let k = named.unwrap_or_else(|| panic!("no named record for {id}: {err}"));
    let lookup = String::from_utf8_lossy(&k.lookup);
    assert!(lookup.starts_with("ok: podman API at "), "{lookup}");
    assert_eq!(k.name, name.as_bytes());
    assert_eq!(k.image, IMAGE.as_bytes());
    assert!(
        k.image_digest
            .starts_with(b"localhost/tracee-rs-test@sha256:")
    );
    assert_eq!(k.runtime, wire::container::Runtime::Podman);
}

/// Every event's `executable.path`, with neither fork nor exec events
/// selected: a process running before tracing began (from /proc), and one
/// forked and exec'd during it (from the kernel's records, which
/// tracee-collect takes whatever the selection).
#[test]
fn every_event_knows_its_executable() {
    if !need_root("every_event_knows_its_executable") {
        return;
    }
    let dir = TempDir::new("exe");
    let marker = dir.path("exe-marker");
    std::fs::write(&marker, "x\n").unwrap();
    let m = marker.to_str().unwrap().to_string();
    // The shell opens the marker itself (a redirection), then runs cat.
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!("sleep 1.5; read x < {m}; cat {m} >/dev/null"))
        .spawn()
        .unwrap();
    let sh_exe = std::fs::read_link(format!("/proc/{}/exe", sh.id())).unwrap();
    let saved = dir.path("trace.bin");
    let c = Collector::start(
        &["-e", "openat"],
        Stdio::from(File::create(&saved).unwrap()),
    );
    assert!(sh.wait().unwrap().success());
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let evs = json_lines(&as_nobody_on("tracee-fmt", &["json"], &saved));
    let opens: Vec<&Value> = evs
        .iter()
        .filter(|e| e["eventName"] == "openat" && arg(e, "pathname") == m.as_str())
        .collect();
    assert_eq!(opens.len(), 2, "{err}");
    assert_eq!(opens[0]["executable"]["path"], sh_exe.to_str().unwrap());
    assert_eq!(opens[1]["processName"], "cat");
    let cat = std::fs::canonicalize(
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join("cat"))
            .find(|p| p.exists())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(opens[1]["executable"]["path"], cat.to_str().unwrap());
}
