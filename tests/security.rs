//! Security events and Tracee's argument names, end to end with the real
//! eBPF programs (root).

use std::process::Stdio;

use serde_json::{Value, json};

use crate::util::*;

/// Runs `tracee-collect ARGS` while `during` runs; returns the stream.
fn collect_stream(args: &[&str], during: impl FnOnce()) -> Vec<u8> {
    let mut c = Collector::start(args, Stdio::piped());
    let out = read_stdout(&mut c.child);
    during();
    let (code, err) = c.stop();
    assert_eq!(code, 0, "tracee-collect: {err}");
    out.join().unwrap()
}

/// The stream as `tracee-fmt json ARGS` prints it.
fn json_of(stream: Vec<u8>, fmt_args: &[&str]) -> Vec<Value> {
    let mut args = vec!["json"];
    args.extend_from_slice(fmt_args);
    let (rc, out, err) = run_with_input("tracee-fmt", &args, stream);
    assert_eq!(rc, 0, "tracee-fmt: {err}");
    json_lines(&out)
}

fn of<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["eventName"] == name).collect()
}

/// The seed document's `openat`, `close` and `clone` lines
/// (forensics-capture.md), made the way bash makes them: the same argument
/// names, types and values, as `--parse-arguments` prints them.
#[test]
fn the_seed_lines_come_out_as_tracee_prints_them() {
    if !need_root("the_seed_lines_come_out_as_tracee_prints_them") {
        return;
    }
    let dir = TempDir::new("seed");
    let path = dir.path("testing.txt");
    let path_s = path.to_str().unwrap().to_string();
    let helper = Helper::spawn(&["seed", &path_s]);
    let pid = helper.pid().to_string();
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "openat,close,clone", &format!("pid={pid}")], || {
        printed = helper.go()
    });
    let mut it = printed.split_whitespace();
    let fd: i64 = it.next().unwrap().parse().unwrap();
    let tid_addr = it.next().unwrap().to_string();
    let evs = json_of(stream.clone(), &["--parse-arguments"]);
    let open = of(&evs, "openat")
        .into_iter()
        .find(|e| e["args"][1]["value"] == path_s.as_str())
        .unwrap_or_else(|| panic!("no openat of {path_s}: {evs:#?}"));
    assert_eq!(open["eventId"], "257");
    assert_eq!(open["syscall"], "openat");
    assert_eq!(open["argsNum"], 4);
    assert_eq!(open["returnValue"], fd);
    assert_eq!(
        open["args"],
        json!([
            {"name":"dirfd","type":"int","value":-100},
            {"name":"pathname","type":"const char*","value":path_s},
            {"name":"flags","type":"string","value":"O_WRONLY|O_CREAT|O_TRUNC"},
            {"name":"mode","type":"mode_t","value":438}
        ])
    );
    let close = of(&evs, "close")
        .into_iter()
        .find(|e| e["args"][0]["value"] == fd)
        .expect("close of the file");
    assert_eq!(close["eventId"], "3");
    assert_eq!(close["returnValue"], 0);
    assert_eq!(
        close["args"],
        json!([{"name":"fd","type":"int","value":fd}])
    );
    let clone = of(&evs, "clone");
    assert_eq!(clone.len(), 1, "{clone:#?}");
    let clone = clone[0];
    assert_eq!(clone["eventId"], "56");
    assert!(clone["returnValue"].as_i64().unwrap() > 0);
    assert_eq!(
        clone["args"],
        json!([
            {"name":"flags","type":"string","value":"CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"},
            {"name":"stack","type":"void*","value":"0x0"},
            {"name":"parent_tid","type":"int*","value":"0x0"},
            {"name":"child_tid","type":"int*","value":tid_addr},
            {"name":"tls","type":"unsigned long","value":0}
        ])
    );
    // Without --parse-arguments the flags are numbers, typed as Tracee
    // types them.
    let raw = json_of(stream, &["--no-parse-arguments"]);
    let open = of(&raw, "openat")
        .into_iter()
        .find(|e| e["args"][1]["value"] == path_s.as_str())
        .unwrap();
    assert_eq!(
        open["args"][2],
        json!({"name":"flags","type":"int","value":0o1101})
    );
    assert_eq!(
        of(&raw, "clone")[0]["args"][0],
        json!({"name":"flags","type":"unsigned long","value":0x1200011})
    );
}

fn arg<'a>(ev: &'a Value, name: &str) -> &'a Value {
    ev["args"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .map(|a| &a["value"])
        .unwrap_or(&Value::Null)
}

/// The kernel's dev_t (MKDEV: major << 20 | minor) of what stat(2) says.
fn kernel_dev(st_dev: u64) -> u64 {
    let (major, minor) = (libc::major(st_dev) as u64, libc::minor(st_dev) as u64);
    (major << 20) | minor
}

fn ctime_ns(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ctime() as u64 * 1_000_000_000 + m.ctime_nsec() as u64
}

/// Every security event, made by a test program, checked argument by
/// argument against what the program did and what stat(2) says.
#[test]
fn security_events_say_what_the_program_did() {
    use std::os::unix::fs::MetadataExt;
    if !need_root("security_events_say_what_the_program_did") {
        return;
    }
    let dir = TempDir::new("sec");
    let dir_s = dir.0.to_str().unwrap().to_string();
    let unix = dir.path("listener.sock");
    let unix_s = unix.to_str().unwrap().to_string();
    let helper = Helper::spawn(&["security", &dir_s, &unix_s]);
    let pid = helper.pid().to_string();
    let mut printed = String::new();
    let stream = collect_stream(
        &[
            "-e",
            "security,sched_process_exec",
            "--exec-env",
            &format!("pid={pid}"),
        ],
        || printed = helper.go(),
    );
    let port: u16 = printed.split_whitespace().nth(1).unwrap().parse().unwrap();
    let evs = json_of(stream, &["--parse-arguments"]);
    let names: Vec<&str> = evs.iter().filter_map(|e| e["eventName"].as_str()).collect();

    // security_file_open: the resolved path of a relative open, the
    // flags the security check saw, and the file's identity.
    let path = dir.path("opened");
    let st = std::fs::metadata(&path).unwrap();
    let open = of(&evs, "security_file_open")
        .into_iter()
        .find(|e| arg(e, "syscall_pathname") == "opened")
        .unwrap_or_else(|| panic!("no security_file_open of 'opened': {names:?}"));
    assert_eq!(open["syscall"], "openat");
    assert_eq!(open["eventId"], "732");
    assert_eq!(open["returnValue"], 0);
    assert_eq!(arg(open, "pathname"), path.to_str().unwrap());
    assert_eq!(arg(open, "flags"), "O_WRONLY|O_CREAT|O_TRUNC|O_LARGEFILE");
    assert_eq!(arg(open, "dev"), kernel_dev(st.dev()));
    assert_eq!(arg(open, "inode"), st.ino());
    assert_eq!(arg(open, "ctime"), ctime_ns(&st));

    // The sockets: bind and connect carry the caller's address, listen
    // and accept the socket's own.
    let inet = json!({"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"0"});
    let bound = json!({"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":port.to_string()});
    let binds = of(&evs, "security_socket_bind");
    let bind = binds
        .iter()
        .find(|e| arg(e, "local_addr")["sa_family"] == "AF_INET")
        .expect("security_socket_bind");
    assert_eq!(arg(bind, "local_addr"), &inet);
    assert_eq!(bind["syscall"], "bind");
    let ubind = binds
        .iter()
        .find(|e| arg(e, "local_addr")["sa_family"] == "AF_UNIX")
        .expect("security_socket_bind of the unix socket");
    assert_eq!(arg(ubind, "local_addr")["sun_path"], unix_s.as_str());
    let listens = of(&evs, "security_socket_listen");
    let listen = listens
        .iter()
        .find(|e| arg(e, "local_addr")["sa_family"] == "AF_INET")
        .expect("security_socket_listen");
    assert_eq!(arg(listen, "local_addr"), &bound);
    assert_eq!(arg(listen, "backlog"), 7);
    let ulisten = listens
        .iter()
        .find(|e| arg(e, "local_addr")["sa_family"] == "AF_UNIX")
        .expect("security_socket_listen of the unix socket");
    assert_eq!(arg(ulisten, "local_addr")["sun_path"], unix_s.as_str());
    let connect = of(&evs, "security_socket_connect");
    assert_eq!(connect.len(), 1, "{connect:?}");
    assert_eq!(arg(connect[0], "remote_addr"), &bound);
    assert_eq!(arg(connect[0], "type"), "SOCK_STREAM");
    assert_eq!(
        arg(connect[0], "sockfd"),
        arg(listen, "sockfd").as_i64().unwrap() + 1
    );
    let accept = of(&evs, "security_socket_accept");
    assert_eq!(accept.len(), 1, "{accept:?}");
    assert_eq!(arg(accept[0], "local_addr"), &bound);
    assert_eq!(arg(accept[0], "sockfd"), arg(listen, "sockfd"));

    // cap_capable: unshare(CLONE_NEWUTS) asks for CAP_SYS_ADMIN.
    let cap = of(&evs, "cap_capable")
        .into_iter()
        .find(|e| e["syscall"] == "unshare")
        .unwrap_or_else(|| panic!("no cap_capable in unshare: {names:?}"));
    assert_eq!(arg(cap, "cap"), "CAP_SYS_ADMIN");
    assert_eq!(cap["returnValue"], 0);
    // The memory accounting's unaudited checks are left out.
    assert!(
        !of(&evs, "cap_capable")
            .iter()
            .any(|e| e["syscall"] == "mmap" || e["syscall"] == "brk"),
        "{names:?}"
    );

    // The exec: security_bprm_check, and the file it opens.
    let t = std::fs::metadata("/usr/bin/true").unwrap();
    let bprm = of(&evs, "security_bprm_check");
    assert_eq!(bprm.len(), 1, "{names:?}");
    let b = bprm[0];
    assert_eq!(b["syscall"], "execve");
    assert_eq!(arg(b, "pathname"), "/usr/bin/true");
    assert_eq!(arg(b, "dev"), kernel_dev(t.dev()));
    assert_eq!(arg(b, "inode"), t.ino());
    assert_eq!(arg(b, "argv"), &json!(["/bin/true", "sec-arg"]));
    assert_eq!(arg(b, "envp"), &json!(["SEC_ENV=1"]));
    let ran = of(&evs, "security_file_open")
        .into_iter()
        .find(|e| e["syscall"] == "execve")
        .expect("security_file_open of the executable");
    assert_eq!(arg(ran, "pathname"), "/usr/bin/true");
    assert_eq!(arg(ran, "syscall_pathname"), "/bin/true");
    assert_eq!(arg(ran, "inode"), t.ino());
    // sched_process_exec with all of Tracee's arguments: the dynamic
    // loader the image runs first, the caller's stdin (a pipe from the
    // test) and working directory, the environment (--exec-env).
    let ex = of(&evs, "sched_process_exec");
    assert_eq!(ex.len(), 1, "{names:?}");
    let x = ex[0];
    let ld = std::fs::canonicalize("/lib64/ld-linux-x86-64.so.2").unwrap();
    let lds = std::fs::metadata(&ld).unwrap();
    assert_eq!(arg(x, "cmdpath"), "/bin/true");
    assert_eq!(arg(x, "pathname"), "/usr/bin/true");
    assert_eq!(arg(x, "inode"), t.ino());
    assert_eq!(arg(x, "interpreter_pathname"), ld.to_str().unwrap());
    assert_eq!(arg(x, "interpreter_dev"), kernel_dev(lds.dev()));
    assert_eq!(arg(x, "interpreter_inode"), lds.ino());
    assert_eq!(arg(x, "interpreter_ctime"), ctime_ns(&lds));
    assert_eq!(arg(x, "interp"), "/bin/true");
    assert_eq!(arg(x, "stdin_type"), "S_IFIFO");
    assert_eq!(arg(x, "invoked_from_kernel"), 0);
    assert_eq!(arg(x, "prev_comm"), "tracee-helper");
    assert_eq!(arg(x, "argv"), &json!(["/bin/true", "sec-arg"]));
    assert_eq!(arg(x, "env"), &json!(["SEC_ENV=1"]));
    assert_eq!(arg(x, "pwd"), dir_s.as_str());
    // A pipe has no path: its stdin_path is marked cut, not shown as "/".
    let stdin_path = x["args"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "stdin_path")
        .unwrap();
    assert_eq!(stdin_path["value"], "", "{stdin_path}");
    assert_eq!(stdin_path["truncated"], true, "{stdin_path}");
    // Each operation once.
    assert_eq!(
        of(&evs, "security_file_open")
            .iter()
            .filter(|e| arg(e, "syscall_pathname") == "opened")
            .count(),
        1
    );
}

/// The security events of a process in a podman container: named as the
/// container sees its files, and carrying the container's id.
#[test]
fn security_events_inside_a_container() {
    if !need_root("security_events_inside_a_container") {
        return;
    }
    let name = format!("tr-sec-{}", std::process::id());
    let _g = crate::containers::Gone(name.clone());
    let dir = TempDir::new("sec-ctr");
    let cidfile = dir.path("cid");
    let script = "echo x > /tmp/f; busybox stat -c '%d %i' /tmp/f; cat /tmp/f >/dev/null; \
                  (busybox nc -l -p 5555 >/dev/null &); sleep 0.5; \
                  echo hi | busybox nc -w 1 127.0.0.1 5555; busybox chown 1:1 /tmp/f; \
                  cd /tmp && busybox mv f g && busybox ln -s g lnk && busybox rm g; \
                  busybox mknod p p; /helper jit /tmp/jit.out";
    let mut said = String::new();
    let stream = collect_stream(&["-e", "security", "container"], || {
        said = stdout_of(
            &mut crate::containers::podman_run(
                &name,
                &[
                    "--rm",
                    "--cidfile",
                    cidfile.to_str().unwrap(),
                    // The test helper (and the host's libraries it needs).
                    "-v",
                    &format!("{}:/helper:ro", bin("tracee-helper").display()),
                    "-v",
                    "/usr/lib:/lib:ro",
                    "-v",
                    "/usr/lib64:/lib64:ro",
                ],
                &["sh", "-c", script],
            ),
            "podman run",
        );
    });
    let id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    let mut it = said.split_whitespace();
    let (dev, ino): (u64, u64) = (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    );
    let evs = json_of(stream, &["--parse-arguments"]);
    let names: Vec<&str> = evs.iter().filter_map(|e| e["eventName"].as_str()).collect();
    assert!(!names.is_empty());
    for e in evs.iter().filter(|e| e.get("eventName").is_some()) {
        assert_eq!(e["containerId"], id.as_str(), "{e}");
    }
    let written = of(&evs, "security_file_open")
        .into_iter()
        .find(|e| arg(e, "syscall_pathname") == "/tmp/f" && e["processName"] == "sh")
        .unwrap_or_else(|| panic!("no open of /tmp/f: {names:?}"));
    assert_eq!(arg(written, "pathname"), "/tmp/f");
    assert_eq!(arg(written, "dev"), kernel_dev(dev));
    assert_eq!(arg(written, "inode"), ino);
    assert_eq!(
        arg(written, "flags"),
        "O_WRONLY|O_CREAT|O_TRUNC|O_LARGEFILE"
    );
    let bprm = of(&evs, "security_bprm_check");
    assert!(
        bprm.iter().any(|e| arg(e, "pathname") == "/bin/busybox"
            && arg(e, "argv") == &json!(["busybox", "stat", "-c", "%d %i", "/tmp/f"])),
        "{bprm:?}"
    );
    // busybox nc listens on IPv6's any address (both families).
    let any = json!({"sa_family":"AF_INET6","sin6_addr":"::","sin6_port":"5555",
                     "sin6_flowinfo":"0","sin6_scopeid":"0"});
    let lo = json!({"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"5555"});
    let bind = of(&evs, "security_socket_bind");
    assert!(
        bind.iter().any(|e| arg(e, "local_addr") == &any),
        "{bind:?}"
    );
    let listen = of(&evs, "security_socket_listen");
    assert!(
        listen.iter().any(|e| arg(e, "local_addr") == &any),
        "{listen:?}"
    );
    assert!(
        of(&evs, "security_socket_accept")
            .iter()
            .any(|e| arg(e, "local_addr") == &any),
        "{names:?}"
    );
    assert!(
        of(&evs, "security_socket_connect")
            .iter()
            .any(|e| arg(e, "remote_addr") == &lo && arg(e, "type") == "SOCK_STREAM"),
        "{names:?}"
    );
    // Paths as the container sees them, relative ones joined to its
    // working directory.
    let rename = of(&evs, "security_inode_rename");
    assert!(
        rename
            .iter()
            .any(|e| arg(e, "old_path") == "/tmp/f" && arg(e, "new_path") == "/tmp/g"),
        "{rename:?}"
    );
    let sym = of(&evs, "security_inode_symlink");
    assert!(
        sym.iter()
            .any(|e| arg(e, "linkpath") == "/tmp/lnk" && arg(e, "target") == "g"),
        "{sym:?}"
    );
    let unlink = of(&evs, "security_inode_unlink");
    assert!(
        unlink.iter().any(|e| arg(e, "pathname") == "/tmp/g"),
        "{unlink:?}"
    );
    let mknod = of(&evs, "security_inode_mknod");
    assert!(
        // (The container's umask decides the rest of the mode.)
        mknod.iter().any(|e| arg(e, "file_name") == "/tmp/p"
            && arg(e, "mode")
                .as_str()
                .is_some_and(|m| m.starts_with("S_IFIFO|S_IRUSR|S_IWUSR"))),
        "{mknod:?}"
    );
    // The first write of /tmp/f, at offset 0: "x\n".
    let magic = of(&evs, "magic_write");
    assert!(
        magic
            .iter()
            .any(|e| arg(e, "pathname") == "/tmp/f" && arg(e, "bytes") == "780a"),
        "{magic:?}"
    );
    // The helper's JIT page: written, then made executable.
    let alert = of(&evs, "mem_prot_alert");
    assert!(
        alert
            .iter()
            .any(|e| arg(e, "alert") == "Protection changed to Executable!"
                && arg(e, "prev_prot") == "PROT_READ|PROT_WRITE"),
        "{alert:?}"
    );
    // Giving a file away takes CAP_CHOWN, which podman leaves root.
    let cap = of(&evs, "cap_capable")
        .into_iter()
        .find(|e| arg(e, "cap") == "CAP_CHOWN")
        .unwrap_or_else(|| panic!("no CAP_CHOWN check: {names:?}"));
    assert!(
        ["chown", "lchown", "fchownat"].contains(&cap["syscall"].as_str().unwrap()),
        "{cap}"
    );
    assert_eq!(cap["returnValue"], 0);
}

/// What an unprivileged attacker controls in the security events: paths
/// too deep to walk, socket addresses of odd lengths and families, and
/// unreadable pointers. Every
/// event is marked where it is cut or unreadable, none is made up for a
/// call the kernel refused before its check, and the stream decodes.
#[test]
fn an_attacker_cannot_make_security_events_lie() {
    if !need_root("an_attacker_cannot_make_security_events_lie") {
        return;
    }
    let dir = nobody_dir("sec-attack");
    let d = dir.0.to_str().unwrap().to_string();
    let script = r#"
import ctypes, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
# 40 levels of directories: deeper than the kernel walk goes.
p = d
for i in range(40):
    p = os.path.join(p, "level%02d" % i)
    os.mkdir(p)
os.close(os.open(os.path.join(p, "deep-file"), os.O_WRONLY | os.O_CREAT, 0o600))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sin = struct.pack("<H", socket.AF_INET) + struct.pack(">H", 0) + bytes([127, 0, 0, 1]) + bytes(8)
buf = ctypes.create_string_buffer(sin + bytes(200), 216)
for n in (129, 4096, -1):
    assert libc.bind(s.fileno(), buf, ctypes.c_int(n)) == -1   # EINVAL: no event
# connect from an unmapped address: EFAULT, no event
assert libc.connect(s.fileno(), ctypes.c_void_p(8), 16) == -1
# connect with no address at all: the kernel's check runs on it
libc.connect(s.fileno(), buf, 0)
# a netlink bind: the family alone is known
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
# an abstract unix name with a NUL inside
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.bind(b"\0tr-abs\0evil-%d" % os.getpid())
u.listen(1)
print(os.getpid())
"#;
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "security", "uid=65534"], || {
        printed = nobody_runs(script, &[&d]);
    });
    let pid: u64 = printed.trim().parse().unwrap();
    let evs = json_of(stream, &["--parse-arguments"]);
    let mine: Vec<&Value> = evs.iter().filter(|e| e["hostProcessId"] == pid).collect();
    let names: Vec<&str> = mine
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    let item = |e: &Value, name: &str| -> Value {
        e["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    // The deep file: its name kept, the path cut and marked, never shown
    // as a whole (absolute) path.
    let deep = mine
        .iter()
        .find(|e| {
            e["eventName"] == "security_file_open"
                && arg(e, "syscall_pathname")
                    .as_str()
                    .is_some_and(|p| p.ends_with("/deep-file"))
        })
        .unwrap_or_else(|| panic!("no open of the deep file: {names:?}"));
    let path = item(deep, "pathname");
    assert_eq!(path["truncated"], true, "{path}");
    let v = path["value"].as_str().unwrap();
    assert!(
        v.ends_with("/level39/deep-file") && !v.starts_with('/'),
        "{v}"
    );
    // No event for the binds the kernel refused (length) or the connect
    // it could not read; one for the empty connect, empty but not faulted.
    let binds: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["eventName"] == "security_socket_bind")
        .collect();
    assert_eq!(binds.len(), 2, "netlink and unix only: {binds:#?}");
    let connects: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["eventName"] == "security_socket_connect")
        .collect();
    assert_eq!(connects.len(), 1, "{connects:#?}");
    let empty = item(connects[0], "remote_addr");
    assert_eq!(empty["value"], json!({}), "{empty}");
    assert!(empty.get("fault").is_none(), "{empty}");
    assert_eq!(arg(connects[0], "type"), "SOCK_DGRAM");
    assert!(
        binds
            .iter()
            .any(|e| arg(e, "local_addr") == &json!({"sa_family":"AF_NETLINK"})),
        "{binds:#?}"
    );
    let abs = format!("@tr-abs@evil-{pid}");
    assert!(
        binds
            .iter()
            .any(|e| arg(e, "local_addr")["sun_path"] == abs.as_str()),
        "{binds:#?}"
    );
    let listen = mine
        .iter()
        .find(|e| e["eventName"] == "security_socket_listen")
        .expect("listen of the abstract socket");
    assert_eq!(arg(listen, "local_addr")["sun_path"], abs.as_str());
}

/// The inode and mount events of an unprivileged process, with paths
/// relative to its working directory and to a directory descriptor.
#[test]
fn inode_and_mount_events_resolve_the_callers_paths() {
    if !need_root("inode_and_mount_events_resolve_the_callers_paths") {
        return;
    }
    let dir = nobody_dir("sec-inode");
    let d = dir.0.to_str().unwrap().to_string();
    let script = r#"
import ctypes, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
os.chdir(d)
os.mkdir("sub")
open("victim", "w").close()
os.rename("victim", "renamed")
os.symlink("/etc/hostname", "link")
os.umask(0o022)
os.mkfifo("fifo", 0o666)
os.unlink("sub/../renamed")
fd = os.open("sub", os.O_RDONLY | os.O_DIRECTORY)
open("sub/inner", "w").close()
os.unlink("inner", dir_fd=fd)
r = libc.mount(b"none", b"sub", b"tmpfs", ctypes.c_ulong(0), None)
assert r == -1 and ctypes.get_errno() == 1, "an unprivileged mount is refused"
os.rmdir("sub")
print(os.getpid())
"#;
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "security", "uid=65534"], || {
        printed = nobody_runs(script, &[&d]);
    });
    let pid: u64 = printed.trim().parse().unwrap();
    let evs = json_of(stream, &["--parse-arguments"]);
    let mine: Vec<&Value> = evs.iter().filter(|e| e["hostProcessId"] == pid).collect();
    let names: Vec<&str> = mine
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    let one = |name: &str| -> &Value {
        let v: Vec<&&Value> = mine.iter().filter(|e| e["eventName"] == name).collect();
        assert_eq!(v.len(), 1, "{name}: {names:?}");
        v[0]
    };
    let rename = one("security_inode_rename");
    assert_eq!(rename["syscall"], "rename");
    assert_eq!(arg(rename, "old_path"), format!("{d}/victim").as_str());
    assert_eq!(arg(rename, "new_path"), format!("{d}/renamed").as_str());
    let sym = one("security_inode_symlink");
    assert_eq!(arg(sym, "linkpath"), format!("{d}/link").as_str());
    assert_eq!(arg(sym, "target"), "/etc/hostname");
    let mknod = one("security_inode_mknod");
    assert_eq!(arg(mknod, "file_name"), format!("{d}/fifo").as_str());
    // The caller's umask applied, as the kernel applies it.
    assert_eq!(
        arg(mknod, "mode"),
        "S_IFIFO|S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"
    );
    assert_eq!(arg(mknod, "dev"), 0);
    let unlinks: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["eventName"] == "security_inode_unlink")
        .collect();
    assert_eq!(unlinks.len(), 2, "not the rmdir: {names:?}");
    // Joined as given: "..", not normalised.
    assert_eq!(
        arg(unlinks[0], "pathname"),
        format!("{d}/sub/../renamed").as_str()
    );
    // Relative to the directory descriptor.
    assert_eq!(
        arg(unlinks[1], "pathname"),
        format!("{d}/sub/inner").as_str()
    );
    assert_eq!(unlinks[1]["syscall"], "unlinkat");
    // The file is gone at the exit: what this kernel cannot give is marked.
    for a in unlinks[0]["args"].as_array().unwrap().iter().skip(1) {
        assert_eq!(a["fault"], true, "{a}");
    }
    let mount = one("security_sb_mount");
    assert_eq!(arg(mount, "dev_name"), "none");
    assert_eq!(arg(mount, "path"), format!("{d}/sub").as_str());
    assert_eq!(arg(mount, "type"), "tmpfs");
    assert_eq!(arg(mount, "flags"), 0);
}

/// magic_write and mem_prot_alert, made by an unprivileged process: the
/// first bytes written at offset 0, and each change of protection Tracee
/// alerts on, with the addresses the program used.
#[test]
fn magic_writes_and_memory_protection_alerts() {
    use std::os::unix::fs::MetadataExt;
    if !need_root("magic_writes_and_memory_protection_alerts") {
        return;
    }
    let dir = nobody_dir("sec-mem");
    let d = dir.0.to_str().unwrap().to_string();
    let script = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
d = sys.argv[1]
fd = os.open(os.path.join(d, "elf"), os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b"\x7fELF\x02\x01\x01" + bytes(25))
os.write(fd, b"more, not at offset 0")
os.close(fd)
fd = os.open(os.path.join(d, "later"), os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, b"at 100", 100)
os.close(fd)
R, W, X = 1, 2, 4
PRIV_ANON = 0x02 | 0x20
rwx = libc.mmap(None, 4096, R | W | X, PRIV_ANON, -1, 0)
rw = libc.mmap(None, 4096, R | W, PRIV_ANON, -1, 0)
assert libc.mprotect(rw, 4096, R | X) == 0          # writable made executable
assert libc.mprotect(rw, 4096, R | W | X) == 0      # executable made writable
assert libc.mprotect(rw, 4096, R | X) == 0          # W+X to X
ro = libc.mmap(None, 4096, R, PRIV_ANON, -1, 0)
assert libc.mprotect(ro, 4096, R | X) == 0          # never writable: no alert
print(os.getpid(), rwx, rw)
"#;
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "magic_write,mem_prot_alert", "uid=65534"], || {
        printed = nobody_runs(script, &[&d])
    });
    let mut it = printed
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap());
    let (pid, rwx, rw) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let evs = json_of(stream, &["--parse-arguments"]);
    let mine: Vec<&Value> = evs.iter().filter(|e| e["hostProcessId"] == pid).collect();
    let names: Vec<&str> = mine
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    let magic: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["eventName"] == "magic_write")
        .collect();
    assert_eq!(magic.len(), 1, "only the write at offset 0: {names:?}");
    let elf = dir.path("elf");
    let st = std::fs::metadata(&elf).unwrap();
    assert_eq!(arg(magic[0], "pathname"), elf.to_str().unwrap());
    assert_eq!(
        arg(magic[0], "bytes"),
        "7f454c46020101000000000000000000000000000"[..40]
            .to_string()
            .as_str()
    );
    assert_eq!(arg(magic[0], "dev"), kernel_dev(st.dev()));
    assert_eq!(arg(magic[0], "inode"), st.ino());
    let alerts: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["eventName"] == "mem_prot_alert")
        .collect();
    let got: Vec<(String, String, String, String, String)> = alerts
        .iter()
        .map(|e| {
            let s = |n: &str| arg(e, n).as_str().unwrap_or_default().to_string();
            (
                s("alert"),
                s("addr"),
                s("prot"),
                s("prev_prot"),
                e["syscall"].as_str().unwrap().into(),
            )
        })
        .collect();
    let hex = |a: u64| format!("0x{a:x}");
    let want = vec![
        (
            "Mmaped region with W+E permissions!".to_string(),
            hex(rwx),
            "PROT_READ|PROT_WRITE|PROT_EXEC".to_string(),
            "PROT_NONE".to_string(),
            "mmap".to_string(),
        ),
        (
            "Protection changed to Executable!".into(),
            hex(rw),
            "PROT_READ|PROT_EXEC".into(),
            "PROT_READ|PROT_WRITE".into(),
            "mprotect".into(),
        ),
        (
            "Protection changed from E to W+E!".into(),
            hex(rw),
            "PROT_READ|PROT_WRITE|PROT_EXEC".into(),
            "PROT_READ|PROT_EXEC".into(),
            "mprotect".into(),
        ),
        (
            "Protection changed from W to E!".into(),
            hex(rw),
            "PROT_READ|PROT_EXEC".into(),
            "PROT_READ|PROT_WRITE|PROT_EXEC".into(),
            "mprotect".into(),
        ),
    ];
    assert_eq!(got, want, "{names:?}");
    for a in &alerts {
        assert_eq!(arg(a, "len"), 4096);
    }
}

/// security_bpf_prog for a program load (with the helpers its
/// instructions call) and for a descriptor taken of a loaded program;
/// bpf_attach for a raw tracepoint attachment and a tracepoint program
/// attached to a perf event.
#[test]
fn bpf_program_loads_name_type_id_and_helpers() {
    if !need_root("bpf_program_loads_name_type_id_and_helpers") {
        return;
    }
    let script = r#"
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def insn(code, regs, off, imm):
    return struct.pack("<BBhi", code, regs, off, imm)
prog = insn(0x85, 0, 0, 5) + insn(0x85, 0, 0, 7) + insn(0xb7, 0, 0, 0) + insn(0x95, 0, 0, 0)
pbuf = ctypes.create_string_buffer(prog, len(prog))
lic = ctypes.create_string_buffer(b"GPL")
attr = bytearray(128)
struct.pack_into("<IIQQ", attr, 0, 1, 4, ctypes.addressof(pbuf), ctypes.addressof(lic))
attr[48:58] = b"tr_helpers"
a = (ctypes.c_char * 128).from_buffer(attr)
fd = libc.syscall(321, 5, a, 128)
assert fd >= 0, os.strerror(ctypes.get_errno())
info = ctypes.create_string_buffer(256)
ia = bytearray(16)
struct.pack_into("<IIQ", ia, 0, fd, 256, ctypes.addressof(info))
ib = (ctypes.c_char * 16).from_buffer(ia)
assert libc.syscall(321, 15, ib, 16) == 0
pid = struct.unpack_from("<I", info.raw, 4)[0]
ga = bytearray(128)
struct.pack_into("<I", ga, 0, pid)
gb = (ctypes.c_char * 128).from_buffer(ga)
fd2 = libc.syscall(321, 13, gb, 128)
assert fd2 >= 0
# A raw tracepoint program, attached by BPF_RAW_TRACEPOINT_OPEN.
rt = insn(0xb7, 0, 0, 0) + insn(0x95, 0, 0, 0)
rbuf = ctypes.create_string_buffer(rt, len(rt))
attr = bytearray(128)
struct.pack_into("<IIQQ", attr, 0, 17, 2, ctypes.addressof(rbuf), ctypes.addressof(lic))
attr[48:55] = b"tr_rawtp"
a = (ctypes.c_char * 128).from_buffer(attr)
rfd = libc.syscall(321, 5, a, 128)
assert rfd >= 0, os.strerror(ctypes.get_errno())
tp = ctypes.create_string_buffer(b"sched_process_free")
oa = bytearray(128)
struct.pack_into("<QI", oa, 0, ctypes.addressof(tp), rfd)
ob = (ctypes.c_char * 128).from_buffer(oa)
link = libc.syscall(321, 17, ob, 128)
assert link >= 0, os.strerror(ctypes.get_errno())
os.close(link)
# A tracepoint program, attached to a perf event of sched_process_free.
tpid = int(open("/sys/kernel/tracing/events/sched/sched_process_free/id").read())
attr = bytearray(128)
struct.pack_into("<IIQQ", attr, 0, 5, 2, ctypes.addressof(rbuf), ctypes.addressof(lic))
attr[48:55] = b"tr_perf"
a = (ctypes.c_char * 128).from_buffer(attr)
tfd = libc.syscall(321, 5, a, 128)
assert tfd >= 0, os.strerror(ctypes.get_errno())
pa = bytearray(128)
struct.pack_into("<IIQQ", pa, 0, 2, 128, tpid, 1)   # PERF_TYPE_TRACEPOINT, sample_period 1
pb = (ctypes.c_char * 128).from_buffer(pa)
pfd = libc.syscall(298, pb, -1, 0, -1, 8)
assert pfd >= 0, os.strerror(ctypes.get_errno())
assert libc.syscall(16, pfd, 0x40042408, tfd) == 0, os.strerror(ctypes.get_errno())
os.close(pfd)
print(os.getpid(), pid)
"#;
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "security_bpf_prog,bpf_attach"], || {
        printed = stdout_of(
            std::process::Command::new("/usr/bin/python3").args(["-c", script]),
            "the loader",
        );
    });
    let mut it = printed
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap());
    let (pid, id) = (it.next().unwrap(), it.next().unwrap());
    let evs = json_of(stream.clone(), &["--parse-arguments"]);
    let all: Vec<&Value> = evs.iter().filter(|e| e["hostProcessId"] == pid).collect();
    let mine: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|e| e["eventName"] == "security_bpf_prog")
        .collect();
    assert_eq!(mine.len(), 4, "{mine:#?}");
    let load = mine[0];
    assert_eq!(load["syscall"], "bpf");
    assert_eq!(arg(load, "type"), "BPF_PROG_TYPE_SOCKET_FILTER");
    assert_eq!(arg(load, "name"), "tr_helpers");
    assert_eq!(
        arg(load, "helpers"),
        &json!(["ktime_get_ns", "get_prandom_u32"])
    );
    assert_eq!(arg(load, "id"), id);
    assert_eq!(arg(load, "load"), true);
    let got = mine[1];
    assert_eq!(arg(got, "id"), id);
    assert_eq!(arg(got, "load"), false);
    let helpers = got["args"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "helpers")
        .unwrap();
    assert_eq!(helpers["fault"], true, "{helpers}");
    // The raw tracepoint program, and its attachment.
    assert_eq!(arg(mine[2], "type"), "BPF_PROG_TYPE_RAW_TRACEPOINT");
    let attach: Vec<&&Value> = all
        .iter()
        .filter(|e| e["eventName"] == "bpf_attach")
        .collect();
    assert_eq!(attach.len(), 2, "{all:#?}");
    let at = attach[0];
    assert_eq!(arg(at, "prog_type"), "BPF_PROG_TYPE_RAW_TRACEPOINT");
    assert_eq!(arg(at, "prog_name"), "tr_rawtp");
    assert_eq!(arg(at, "prog_id"), arg(mine[2], "id"));
    assert_eq!(arg(at, "symbol_name"), "sched_process_free");
    assert_eq!(arg(at, "attach_type"), "raw_tracepoint");
    let perf = attach[1];
    assert_eq!(arg(perf, "prog_type"), "BPF_PROG_TYPE_TRACEPOINT");
    assert_eq!(arg(perf, "prog_name"), "tr_perf");
    assert_eq!(arg(perf, "symbol_name"), "sched_process_free");
    assert_eq!(arg(perf, "attach_type"), "tracepoint");
    assert_eq!(perf["syscall"], "ioctl");
    // Unparsed, the bitmap's words, as Tracee prints them.
    let raw = json_of(stream, &[]);
    let load = raw.iter().find(|e| e["hostProcessId"] == pid).unwrap();
    assert_eq!(
        arg(load, "helpers"),
        &json!([(1u64 << 5) | (1 << 7), 0, 0, 0])
    );
    assert_eq!(arg(load, "type"), 1);
}

/// security_sb_umount of a tmpfs mounted for the test (root: an
/// unprivileged caller is refused before the kernel's check).
#[test]
fn an_unmount_names_its_mountpoint() {
    if !need_root("an_unmount_names_its_mountpoint") {
        return;
    }
    let dir = TempDir::new("sec-umount");
    let mnt = dir.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let script = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
assert libc.mount(b"none", b"mnt", b"tmpfs", ctypes.c_ulong(0), None) == 0, os.strerror(ctypes.get_errno())
assert libc.umount2(b"mnt", 0) == 0, os.strerror(ctypes.get_errno())
print(os.getpid())
"#;
    let d = dir.0.to_str().unwrap().to_string();
    let mut printed = String::new();
    let stream = collect_stream(&["-e", "security_sb_mount,security_sb_umount"], || {
        printed = stdout_of(
            std::process::Command::new("/usr/bin/python3").args(["-c", script, &d]),
            "mount and unmount",
        );
    });
    let pid: u64 = printed.trim().parse().unwrap();
    let evs = json_of(stream, &[]);
    let mine: Vec<&Value> = evs.iter().filter(|e| e["hostProcessId"] == pid).collect();
    let names: Vec<&str> = mine
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    assert_eq!(
        names,
        ["security_sb_mount", "security_sb_umount"],
        "{mine:#?}"
    );
    let u = mine[1];
    assert_eq!(u["syscall"], "umount2");
    assert_eq!(arg(u, "mountpoint"), mnt.to_str().unwrap());
    assert_eq!(arg(u, "flags"), 0);
    assert_eq!(
        u["args"][1]["fault"], true,
        "the type is gone with the mount"
    );
}

/// The start line says which stronger hooks the kernel offers (probed by
/// loading never-attached fentry and LSM programs) and that security
/// events are derived.
#[test]
fn the_start_line_says_which_hooks_the_kernel_offers() {
    if !need_root("the_start_line_says_which_hooks_the_kernel_offers") {
        return;
    }
    let c = Collector::start(&["-e", "security_file_open"], Stdio::null());
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("tracing 1 events"))
        .unwrap_or_else(|| panic!("no start line: {err}"));
    assert!(
        line.contains("security events are derived from syscall exits and tracepoints")
            && line.contains("stronger hooks: fentry ")
            && line.contains(", BPF-LSM ")
            && line.contains(", kprobes "),
        "{line}"
    );
}
