use wire::build::{EventBuilder, name16};
use wire::preamble::{ArgDef, ArgType, Catalog, EventDef, event_flags};
use wire::{EventContext, EventSlice, RecordSlice, event_id};

use crate::{Filter, Pushdown, parse_all};

const OPENAT: u32 = 257;
const EXECVE: u32 = 59;

fn cat() -> Catalog {
    let arg = |n: &str, t: &str, ty| ArgDef {
        name: n.into(),
        type_name: t.into(),
        ty,
    };
    Catalog::new(vec![
        EventDef {
            id: OPENAT,
            name: "openat".into(),
            flags: event_flags::SYSCALL,
            args: vec![
                arg("dirfd", "int", ArgType::I32),
                arg("pathname", "const char*", ArgType::Str),
                arg("flags", "int", ArgType::I32),
            ],
        },
        EventDef {
            id: EXECVE,
            name: "execve".into(),
            flags: event_flags::SYSCALL,
            args: vec![
                arg("pathname", "const char*", ArgType::Str),
                arg("argv", "const char*const*", ArgType::StrArray),
            ],
        },
        EventDef {
            id: event_id::SCHED_PROCESS_FORK,
            name: "sched_process_fork".into(),
            flags: 0,
            args: (0..8)
                .map(|i| arg(&format!("a{i}"), "int", ArgType::I32))
                .chain([arg("start_time", "unsigned long", ArgType::U64)])
                .collect(),
        },
        EventDef {
            id: event_id::SCHED_PROCESS_EXIT,
            name: "sched_process_exit".into(),
            flags: 0,
            args: vec![
                arg("exit_code", "long", ArgType::I64),
                arg("signal_code", "int", ArgType::I32),
                arg("process_group_exit", "bool", ArgType::Bool),
            ],
        },
    ])
    .with_aliases(vec![wire::preamble::Alias {
        event: OPENAT,
        arg: 1,
        name: "filename".into(),
    }])
}

fn ctx(id: u32, comm: &str, pid: u32, ppid: u32, uid: u32, ret: i64) -> EventContext {
    EventContext {
        event_id: id,
        comm: name16(comm),
        pid,
        tid: pid,
        ppid,
        uid,
        retval: ret,
        thread_start: 100,
        ..Default::default()
    }
}

fn openat(comm: &str, pid: u32, uid: u32, path: &str, ret: i64) -> Vec<u8> {
    EventBuilder::new(&ctx(OPENAT, comm, pid, 1, uid, ret))
        .scalar(0, -100i64 as u64)
        .str(1, path)
        .scalar(2, 0)
        .finish()
}

fn fork(pid: u32, child: u32) -> Vec<u8> {
    let mut b = EventBuilder::new(&ctx(event_id::SCHED_PROCESS_FORK, "x", pid, 1, 0, 0));
    for i in 0..8u8 {
        b = b.scalar(i, if i == 6 { child as u64 } else { 0 });
    }
    b.scalar(8, 0).finish()
}

fn exit(pid: u32, ppid: u32) -> Vec<u8> {
    EventBuilder::new(&ctx(event_id::SCHED_PROCESS_EXIT, "x", pid, ppid, 0, 0))
        .scalar(0, 0)
        .scalar(1, 0)
        .scalar(2, 1)
        .finish()
}

fn keep(f: &mut Filter, rec: &[u8]) -> bool {
    let (r, _) = RecordSlice::from_slice(rec, 0).unwrap();
    f.matches(&EventSlice::from_record(r).unwrap())
}

fn filter(exprs: &[&str]) -> Filter {
    Filter::compile(&parse_all(exprs).unwrap(), &cat(), 50).unwrap()
}

#[test]
fn combination_rules() {
    // Several = values of one key OR.
    let mut f = filter(&["comm=bash,sh"]);
    assert!(keep(&mut f, &openat("bash", 1, 0, "/a", 0)));
    assert!(keep(&mut f, &openat("sh", 1, 0, "/a", 0)));
    assert!(!keep(&mut f, &openat("zsh", 1, 0, "/a", 0)));
    // Repeating the key adds values, still OR.
    let mut f = filter(&["comm=bash", "comm=sh"]);
    assert!(keep(&mut f, &openat("sh", 1, 0, "/a", 0)));
    // Different keys AND.
    let mut f = filter(&["comm=bash", "uid=1000"]);
    assert!(keep(&mut f, &openat("bash", 1, 1000, "/a", 0)));
    assert!(!keep(&mut f, &openat("bash", 1, 0, "/a", 0)));
    // != values AND.
    let mut f = filter(&["uid!=0,1000"]);
    assert!(!keep(&mut f, &openat("a", 1, 0, "/a", 0)));
    assert!(!keep(&mut f, &openat("a", 1, 1000, "/a", 0)));
    assert!(keep(&mut f, &openat("a", 1, 5, "/a", 0)));
    // Comparisons.
    let mut f = filter(&["uid>=1000", "uid<2000"]);
    assert!(keep(&mut f, &openat("a", 1, 1500, "/a", 0)));
    assert!(!keep(&mut f, &openat("a", 1, 2000, "/a", 0)));
    assert!(!keep(&mut f, &openat("a", 1, 999, "/a", 0)));
}

#[test]
fn string_patterns() {
    let mut f = filter(&["comm=ba*"]);
    assert!(keep(&mut f, &openat("bash", 1, 0, "/", 0)));
    assert!(!keep(&mut f, &openat("zsh", 1, 0, "/", 0)));
    let mut f = filter(&["comm=*sh"]);
    assert!(keep(&mut f, &openat("zsh", 1, 0, "/", 0)));
    let mut f = filter(&["comm=*as*"]);
    assert!(keep(&mut f, &openat("bash", 1, 0, "/", 0)));
    assert!(!keep(&mut f, &openat("zsh", 1, 0, "/", 0)));
    let mut f = filter(&["comm!=ba*"]);
    assert!(!keep(&mut f, &openat("bash", 1, 0, "/", 0)));
    assert!(keep(&mut f, &openat("zsh", 1, 0, "/", 0)));
}

#[test]
fn event_filters() {
    let mut f = filter(&["openat.data.pathname=/etc/*"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/etc/passwd", 3)));
    assert!(!keep(&mut f, &openat("a", 1, 0, "/tmp/x", 3)));
    let mut f = filter(&["openat.retval<0"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/x", -2)));
    assert!(!keep(&mut f, &openat("a", 1, 0, "/x", 3)));
    let mut f = filter(&["openat.scope.uid=0"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/x", 3)));
    assert!(!keep(&mut f, &openat("a", 1, 7, "/x", 3)));
    let mut f = filter(&["openat.data.dirfd=-100"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/x", 3)));
    // The kernel's name for an argument is an alias of Tracee's.
    let mut f = filter(&["openat.data.filename=/etc/*"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/etc/passwd", 3)));
    assert!(!keep(&mut f, &openat("a", 1, 0, "/tmp/x", 3)));
    let mut f = filter(&["event=execve"]);
    assert!(!keep(&mut f, &openat("a", 1, 0, "/x", 3)));
    let mut f = filter(&["event!=execve"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/x", 3)));
    let mut f = filter(&["event=open*"]);
    assert!(keep(&mut f, &openat("a", 1, 0, "/x", 3)));
}

#[test]
fn compile_errors_name_what_is_wrong() {
    let c = cat();
    let e = Filter::compile(&parse_all(&["event=nosuch"]).unwrap(), &c, 0)
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "unknown event 'nosuch' in 'event=nosuch'");
    let e = Filter::compile(&parse_all(&["openat.data.zz=1"]).unwrap(), &c, 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("has no argument 'zz'"));
    let e = Filter::compile(&parse_all(&["openat.data.dirfd=abc"]).unwrap(), &c, 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a number"));
}

#[test]
fn follow_tracks_descendants_and_forgets_the_dead() {
    let mut f = filter(&["comm=parent", "follow"]);
    assert!(keep(&mut f, &openat("parent", 10, 0, "/", 0)));
    // A fork by the parent makes the child followed before it runs.
    assert!(!keep(&mut f, &openat("other", 99, 0, "/", 0)));
    keep(&mut f, &fork(10, 11));
    assert!(keep(&mut f, &openat("sh", 11, 0, "/", 0)));
    // A grandchild known only by its ppid.
    let mut rec = openat("grandchild", 12, 0, "/", 0);
    rec[wire::off::PPID..wire::off::PPID + 4].copy_from_slice(&11u32.to_le_bytes());
    assert!(keep(&mut f, &rec));
    // Without follow the same events do not match.
    let mut g = filter(&["comm=parent"]);
    assert!(!keep(&mut g, &openat("sh", 11, 0, "/", 0)));
    // Process exit removes the entries: state stays bounded.
    for pid in [10, 11, 12] {
        keep(&mut f, &exit(pid, 1));
    }
    assert_eq!(f.tracked(), 0);
}

#[test]
fn pid_new_and_tree() {
    let mut f = filter(&["pid=new"]);
    assert!(
        keep(&mut f, &openat("a", 1, 0, "/", 0)),
        "thread_start 100 >= start 50"
    );
    let mut f = filter(&["tree=10"]);
    assert!(keep(&mut f, &openat("a", 10, 0, "/", 0)));
    keep(&mut f, &fork(10, 20));
    assert!(keep(&mut f, &openat("b", 20, 0, "/", 0)));
    assert!(!keep(&mut f, &openat("c", 30, 0, "/", 0)));
}

#[test]
fn pushdown_is_only_what_the_kernel_can_do_exactly() {
    let p = filter(&["comm=bash,sh", "uid=0", "event=openat"]).pushdown();
    let (neg, mut comms) = p.comm.unwrap();
    comms.sort();
    assert!(!neg);
    assert_eq!(comms, vec![b"bash".to_vec(), b"sh".to_vec()]);
    assert_eq!(p.uid, Some((false, vec![0])));
    assert_eq!(p.events, Some([OPENAT].into_iter().collect()));
    // Patterns, comparisons and follow stay in user space.
    assert_eq!(filter(&["comm=ba*"]).pushdown().comm, None);
    assert_eq!(filter(&["uid>0"]).pushdown().uid, None);
    assert_eq!(filter(&["comm=bash", "follow"]).pushdown().comm, None);
    assert_eq!(filter(&["pid!=1"]).pushdown().pid, Some((true, vec![1])));
}

/// Two filters in a row (tracee-collect's own and a tracee-filter's): the
/// kernel may drop only what one of them drops, so every event both keep
/// passes the combination (tests/live.rs runs it against the kernel).
#[test]
fn pushdowns_of_two_filters_combine_to_what_both_keep() {
    let own = filter(&["uid=0", "event=openat,execve"]).pushdown();
    let down = filter(&["comm=bash", "uid=1000", "event=openat,sched_process_fork"]).pushdown();
    let p = own.clone().and(down.clone());
    // The events both select; the fields either constrains, our own
    // where both do (either is exact for its filter).
    assert_eq!(p.events, Some([OPENAT].into_iter().collect()));
    assert_eq!(p.comm, Some((false, vec![b"bash".to_vec()])));
    assert_eq!(p.uid, Some((false, vec![0])));
    assert_eq!(p.pid, None);
    assert!(Pushdown::default().is_empty() && !p.is_empty());
    assert_eq!(Pushdown::default().and(down.clone()), down);
    assert_eq!(down.clone().and(Pushdown::default()), down);
    assert_eq!(p.describe(), "comm=1 name, uid=1 id, event=1 event");
    assert_eq!(filter(&["pid!=1,2"]).pushdown().describe(), "pid!=2 ids");
    assert_eq!(Pushdown::default().describe(), "nothing");
}

/// More values than the kernel's scope sets hold stay in user space (the
/// sets would refuse them, and tracee-collect would not start).
#[test]
fn a_key_with_more_values_than_the_kernel_holds_is_not_pushed_down() {
    let max = wire::kcfg::SCOPE_SET_MAX as usize;
    let values = |n: usize, f: &dyn Fn(usize) -> String| -> String {
        (0..n).map(f).collect::<Vec<_>>().join(",")
    };
    for (n, pushed) in [(max, true), (max + 1, false)] {
        let comm = format!("comm={}", values(n, &|i| format!("c{i}")));
        let pid = format!("pid!={}", values(n, &|i| (i + 1).to_string()));
        let p = filter(&[&comm, &pid]).pushdown();
        assert_eq!(p.comm.is_some(), pushed, "{n} names");
        assert_eq!(p.pid.is_some(), pushed, "{n} pids");
    }
}

fn execve(argv: Option<&[&str]>, fault: bool) -> Vec<u8> {
    let b = EventBuilder::new(&ctx(EXECVE, "sh", 1, 0, 0, 0)).str(0, "/bin/true");
    match argv {
        Some(v) if !fault => b.strs(1, v),
        _ if fault => b.item(1, wire::item::STR_ARRAY | wire::item::FAULT, b""),
        _ => b,
    }
    .finish()
}

/// On an array, `=` holds if some element matches and `!=` if none does:
/// an empty, missing or unreadable argv (which the traced process
/// controls) passes every `!=` and no `=`.
#[test]
fn array_arguments_match_by_element() {
    let cases: [(Option<&[&str]>, bool); 6] = [
        (Some(&["X"]), false),
        (Some(&["a", "X"]), false),
        (Some(&["Y"]), false),
        (Some(&[]), false),
        (None, false),
        (None, true),
    ];
    let run = |exprs: &[&str]| -> Vec<bool> {
        let mut f = filter(exprs);
        cases
            .iter()
            .map(|(a, fault)| keep(&mut f, &execve(*a, *fault)))
            .collect()
    };
    assert_eq!(
        run(&["execve.data.argv!=X"]),
        [false, false, true, true, true, true]
    );
    assert_eq!(
        run(&["execve.data.argv=X"]),
        [true, true, false, false, false, false]
    );
    assert_eq!(
        run(&["execve.data.argv=Y,X"]),
        [true, true, true, false, false, false]
    );
    assert_eq!(
        run(&["execve.data.argv!=X,Y"]),
        [false, false, false, true, true, true]
    );
    assert_eq!(
        run(&["execve.data.argv=a*", "execve.data.argv!=X"]),
        [false; 6]
    );
    assert_eq!(
        run(&["execve.data.argv!=*"]),
        [false, false, false, true, true, true]
    );
}

/// A string the kernel cut keeps its end: its start is unknown, so exact
/// and prefix patterns say nothing of it (a cut path that happens to begin
/// `/usr/bin/` proves nothing), while suffix patterns see the end.
#[test]
fn cut_strings_match_only_by_what_they_keep() {
    let cut = |path: &str| {
        EventBuilder::new(&ctx(OPENAT, "a", 1, 0, 0, 3))
            .item(1, wire::item::STR | wire::item::TRUNCATED, path.as_bytes())
            .finish()
    };
    let whole = |path: &str| openat("a", 1, 0, path, 3);
    let run = |exprs: &[&str], rec: &[u8]| keep(&mut filter(exprs), rec);
    let fake = "usr/bin/c/c/sudo";
    assert!(run(
        &["openat.data.pathname=/usr/bin/*"],
        &whole("/usr/bin/sudo")
    ));
    assert!(!run(&["openat.data.pathname=usr/bin/*"], &cut(fake)));
    assert!(!run(&["openat.data.pathname=usr/bin/c/c/sudo"], &cut(fake)));
    assert!(run(&["openat.data.pathname!=usr/bin/*"], &cut(fake)));
    assert!(run(&["openat.data.pathname=*/sudo"], &cut(fake)));
    assert!(!run(&["openat.data.pathname!=*/sudo"], &cut(fake)));
    assert!(run(&["openat.data.pathname=*c/c*"], &cut(fake)));
}

/// A cut argv's last element may itself be cut (elements keep their
/// start), and what came after it is unseen: only prefix and contains
/// patterns judge that element.
#[test]
fn a_cut_array_s_last_element_is_judged_by_its_start() {
    let cut = |v: &[&str]| {
        let mut d = Vec::new();
        for s in v {
            d.extend_from_slice(s.as_bytes());
            d.push(0);
        }
        d.pop();
        EventBuilder::new(&ctx(EXECVE, "sh", 1, 0, 0, 0))
            .str(0, "/bin/true")
            .item(1, wire::item::STR_ARRAY | wire::item::TRUNCATED, &d)
            .finish()
    };
    let run = |exprs: &[&str], rec: &[u8]| keep(&mut filter(exprs), rec);
    // "--helpEVILPAYLOAD" cut to "--help": not a whole "--help".
    let rec = cut(&["a", "--help"]);
    assert!(!run(&["execve.data.argv=--help"], &rec));
    assert!(run(&["execve.data.argv!=--help"], &rec));
    assert!(run(&["execve.data.argv=--he*"], &rec));
    assert!(!run(&["execve.data.argv!=--he*"], &rec));
    // Whole elements before it are judged as ever.
    assert!(run(&["execve.data.argv=a"], &rec));
    assert!(!run(&["execve.data.argv!=a"], &rec));
}

/// A child runs its parent's executable until it execs itself.
#[test]
fn a_forked_child_has_its_parent_s_executable() {
    let exec = EventBuilder::new(&ctx(event_id::SCHED_PROCESS_EXEC, "evil", 10, 1, 0, 0))
        .str(0, "/tmp/evil")
        .str(1, "/tmp/evil")
        .finish();
    let mut f = filter(&["executable=/tmp/evil", "event=openat"]);
    assert!(!keep(&mut f, &exec));
    assert!(keep(&mut f, &openat("evil", 10, 0, "/etc/hostname", 3)));
    assert!(!keep(&mut f, &fork(10, 11)));
    assert!(keep(&mut f, &openat("evil", 11, 0, "/etc/passwd", 3)));
    assert!(!keep(&mut f, &openat("sh", 12, 0, "/etc/passwd", 3)));
}

/// An openat from cgroup `cgroup`, flagged started or not.
fn openat_in(cgroup: u64, started: bool) -> Vec<u8> {
    let mut c = ctx(OPENAT, "sh", 7, 1, 0, 0);
    c.cgroup_id = cgroup;
    if started {
        c.flags |= wire::ctx_flags::CONTAINER_STARTED;
    }
    EventBuilder::new(&c)
        .scalar(0, 0)
        .str(1, "/x")
        .scalar(2, 0)
        .finish()
}

fn with_containers(exprs: &[&str]) -> Filter {
    use wire::container::{Container, Runtime, flags};
    let mut f = filter(exprs);
    for (cgroup, id, name, new) in [
        (10u64, "aaaa1111", "web", false),
        (11, "bbbb2222", "db\x1b[31m", true),
    ] {
        f.container(Container {
            cgroup_id: cgroup,
            flags: flags::ROOT | if new { flags::NEW } else { 0 },
            runtime: Runtime::Podman,
            id: id.into(),
            name: name.into(),
            image: b"localhost/img:1".to_vec(),
            ..Default::default()
        });
    }
    f
}

#[test]
fn container_scopes() {
    let host = openat_in(1, false);
    let web = openat_in(10, true);
    let db = openat_in(11, true);
    // A container's cgroup before its first exec (runc init): Tracee's
    // "container-init", neither a started container nor the host's.
    let init = openat_in(11, false);
    // Started, but no record names the cgroup: not a container.
    let unknown = openat_in(12, true);
    let cases: &[(&[&str], [bool; 5])] = &[
        (&["container"], [false, true, true, false, false]),
        (&["not-container"], [true, false, false, true, true]),
        (&["container=new"], [false, false, true, false, false]),
        (&["container!=new"], [false, true, false, false, false]),
        (&["container=aaaa"], [false, true, false, false, false]),
        (
            &["container=aaaa,bbbb2222"],
            [false, true, true, false, false],
        ),
        (&["container!=aaaa"], [false, false, true, false, false]),
        (&["containerId=bbbb2222"], [false, false, true, true, false]),
        (&["containerName=web"], [false, true, false, false, false]),
        (&["containerName!=web"], [true, false, true, true, true]),
        (
            &["containerImage=localhost/*"],
            [false, true, true, true, false],
        ),
        (
            &["container", "comm=bash"],
            [false, false, false, false, false],
        ),
    ];
    for (exprs, want) in cases {
        let mut f = with_containers(exprs);
        let got: Vec<bool> = [&host, &web, &db, &init, &unknown]
            .iter()
            .map(|r| keep(&mut f, r))
            .collect();
        assert_eq!(got, want, "{exprs:?}");
    }
    // Tracee's syntax errors.
    assert!(parse_all(&["container<3"]).is_err());
    assert!(parse_all(&["containerName>a"]).is_err());
}

#[test]
fn container_pushdown_is_a_superset_the_kernel_can_judge() {
    use wire::kcfg::container_scope as cs;
    let p = |e: &[&str]| filter(e).pushdown().container;
    assert_eq!(p(&["container"]), Some(cs::ANY));
    assert_eq!(p(&["not-container"]), Some(cs::NONE));
    assert_eq!(p(&["container=new"]), Some(cs::NEW));
    assert_eq!(p(&["container!=new"]), Some(cs::ANY));
    assert_eq!(p(&["container=abc"]), Some(cs::ANY));
    assert_eq!(p(&["container!=abc"]), Some(cs::ANY));
    assert_eq!(p(&["containerName=web"]), None);
    assert_eq!(p(&["comm=bash"]), None);
    assert_eq!(p(&["container", "follow"]), None);
}
