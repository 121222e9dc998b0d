//! The tools on recorded streams, as any user: exit codes, bad input,
//! closed pipes.

use std::io::Read;
use std::process::{Command, Stdio};

use wire::build::{EventBuilder, name16};
use wire::preamble::{Alias, ArgDef, ArgType, Catalog, EventDef, Preamble, event_flags};
use wire::{EndBody, EventContext, LostBody};

use crate::util::*;

fn preamble() -> Preamble {
    let arg = |n: &str, t: &str, ty| ArgDef {
        name: n.into(),
        type_name: t.into(),
        ty,
    };
    Preamble {
        version: wire::VERSION,
        boot_epoch_ns: 1_700_000_000_000_000_000,
        start_mono_ns: 1,
        hostname: "rec".into(),
        kernel_release: "6.18".into(),
        catalog: Catalog::new(vec![EventDef {
            id: 257,
            name: "openat".into(),
            flags: event_flags::SYSCALL,
            args: vec![
                arg("dirfd", "int", ArgType::I32),
                arg("pathname", "const char*", ArgType::Str),
                arg("flags", "int", ArgType::I32),
                arg("mode", "mode_t", ArgType::U32),
            ],
        }])
        .with_aliases(vec![
            Alias {
                event: 257,
                arg: 0,
                name: "dfd".into(),
            },
            Alias {
                event: 257,
                arg: 1,
                name: "filename".into(),
            },
        ]),
    }
}

/// A recorded stream of `n` openat events by bash and sh, a lost notice and
/// an end record.
pub fn stream(n: usize) -> Vec<u8> {
    let mut s = preamble().to_bytes();
    for i in 0..n {
        let comm = if i % 2 == 0 { "bash" } else { "sh" };
        let ctx = EventContext {
            ts: i as u64,
            event_id: 257,
            syscall: 257,
            pid: 100 + (i % 2) as u32,
            tid: 100 + (i % 2) as u32,
            retval: if i % 3 == 0 { -2 } else { 3 },
            comm: name16(comm),
            ..Default::default()
        };
        let path = format!("/etc/file{i}");
        s.extend(
            EventBuilder::new(&ctx)
                .scalar(0, -100i64 as u64)
                .str(1, &path)
                .scalar(2, 0)
                .scalar(3, 0)
                .finish(),
        );
        if i == n / 2 {
            s.extend(
                LostBody {
                    cpu: 1,
                    reason: 0,
                    count: 5,
                    ts: 0,
                }
                .to_record(),
            );
        }
    }
    s.extend(
        EndBody {
            events: n as u64,
            lost: 5,
            ts: 9,
        }
        .to_record(),
    );
    s
}

#[test]
fn filter_forwards_kept_records_byte_for_byte() {
    let s = stream(10);
    let (rc, out, err) = run_with_input("tracee-filter", &["comm=bash"], s.clone());
    assert_eq!(rc, 0, "{err}");
    // Output is the preamble, the bash events, the lost and end records,
    // each byte-identical to the input.
    let (rc2, all, _) = run_with_input("tracee-filter", &[], s.clone());
    assert_eq!(rc2, 0);
    assert_eq!(all, s, "an empty filter forwards everything unchanged");
    assert!(out.len() < s.len());
    let (_, json, _) = run_with_input("tracee-fmt", &["json"], out);
    let evs = json_lines(&json);
    assert_eq!(evs.iter().filter(|e| e["eventName"] == "openat").count(), 5);
    assert!(
        evs.iter()
            .filter(|e| e["eventName"] == "openat")
            .all(|e| e["processName"] == "bash")
    );
    assert_eq!(
        evs.iter().filter(|e| e.get("lostEvents").is_some()).count(),
        1
    );
}

#[test]
fn filter_exits_1_when_nothing_matched() {
    let (rc, out, _) = run_with_input("tracee-filter", &["comm=zsh"], stream(4));
    assert_eq!(rc, 1);
    let (rc, _, _) = run_with_input("tracee-fmt", &["json"], out);
    assert_eq!(rc, 0, "the output is still a valid stream");
}

#[test]
fn the_language_works_on_recorded_streams() {
    let (rc, out, _) = run_with_input(
        "tracee-filter",
        &["openat.data.pathname=/etc/file1*", "openat.retval<0"],
        stream(20),
    );
    assert_eq!(rc, 0);
    // The kernel's name for the argument, an alias in the preamble,
    // selects the same events.
    let (rc, by_alias, _) = run_with_input(
        "tracee-filter",
        &["openat.data.filename=/etc/file1*", "openat.retval<0"],
        stream(20),
    );
    assert_eq!(rc, 0);
    assert_eq!(by_alias, out);
    let (_, json, _) = run_with_input("tracee-fmt", &["json"], out);
    let names: Vec<String> = json_lines(&json)
        .iter()
        .filter(|e| e["eventName"] == "openat")
        .map(|e| e["args"][1]["value"].as_str().unwrap().to_string())
        .collect();
    // file1, file10..file19 with i % 3 == 0: 12, 15, 18.
    assert_eq!(names, ["/etc/file12", "/etc/file15", "/etc/file18"]);
}

fn one_line_exit_2(name: &str, args: &[&str], input: Vec<u8>, want: &str) {
    let (rc, _, err) = run_with_input(name, args, input);
    assert_eq!(rc, 2, "{name} {args:?}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "exactly one line on stderr: {err:?}"
    );
    assert!(
        err.contains(want),
        "{name} {args:?}: {err:?} should mention {want:?}"
    );
    assert_eq!(err.matches(want).count(), 1, "said more than once: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let s = stream(10);
    let cut = s.len() - 30;
    for tool in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let args: Vec<&str> = tool.1.clone();
        one_line_exit_2(tool.0, &args, s[..cut].to_vec(), "truncated record");
        one_line_exit_2(
            tool.0,
            &args,
            b"definitely not a stream, just random text bytes".to_vec(),
            "bad magic",
        );
        one_line_exit_2(tool.0, &args, vec![], "empty input");
        // Random bytes after a good preamble.
        let mut r = preamble().to_bytes();
        let mut x: u32 = 12345;
        for _ in 0..4096 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            r.push((x >> 16) as u8);
        }
        let (rc, _, err) = run_with_input(tool.0, &args, r);
        assert_eq!(rc, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    one_line_exit_2(
        "tracee-filter",
        &["event=nosuch"],
        s.clone(),
        "unknown event 'nosuch'",
    );
    one_line_exit_2("tracee-filter", &["comm"], s.clone(), "at position 5");
    one_line_exit_2(
        "tracee-filter",
        &["uid=abc"],
        s.clone(),
        "'abc' is not a number",
    );
    one_line_exit_2(
        "tracee-filter",
        &["openat.data.nosuch=1"],
        s.clone(),
        "has no argument 'nosuch'",
    );
    one_line_exit_2("tracee-fmt", &["yaml"], s.clone(), "unknown format");
    one_line_exit_2(
        "tracee-collect",
        &["-e", "nosuch"],
        vec![],
        "unknown event or set 'nosuch'",
    );
    one_line_exit_2(
        "tracee-collect",
        &["comm<x"],
        vec![],
        "bad filter expression",
    );
}

/// Every tool's command line: bad usage is one line and exit 2, naming
/// what was wrong; --version, --completions and --man print and exit 0.
#[test]
fn every_tool_has_one_command_line_policy() {
    for (tool, opt) in [
        ("tracee-collect", "--buffer-size"),
        ("tracee-filter", "--ring-size"),
        ("tracee-fmt", "--parse-arguments"),
        ("tracee-capture", "--max-size"),
    ] {
        one_line_exit_2(tool, &["--nosuch"], vec![], "--nosuch");
        one_line_exit_2(tool, &["--input"], vec![], "--input");
        let (rc, out, err) = run_with_input(tool, &["--version"], vec![]);
        assert_eq!(rc, 0, "{tool}: {err}");
        assert!(String::from_utf8_lossy(&out).starts_with(&format!("{tool} ")));
        let (rc, out, err) = run_with_input(tool, &["--completions", "bash"], vec![]);
        assert_eq!(rc, 0, "{tool}: {err}");
        assert!(String::from_utf8_lossy(&out).contains(opt), "{tool}");
        let (rc, out, err) = run_with_input(tool, &["--man"], vec![]);
        assert_eq!(rc, 0, "{tool}: {err}");
        let man = String::from_utf8_lossy(&out);
        assert!(
            man.contains(".TH") && man.contains(&opt.replace('-', "\\-")),
            "{tool}: {man}"
        );
    }
    one_line_exit_2(
        "tracee-filter",
        &["--ring-size", "3"],
        vec![],
        "a power of two",
    );
    one_line_exit_2("tracee-filter", &["--ring-full", "maybe"], vec![], "maybe");
    one_line_exit_2("tracee-capture", &["--max-size", "1T"], vec![], "K, M or G");
    one_line_exit_2("tracee-collect", &["--capture-fd", "1"], vec![], "above 2");
    one_line_exit_2(
        "tracee-collect",
        &["--output", "/tmp/x"],
        vec![],
        "ring:PATH, none",
    );
}

#[test]
fn random_streams_never_panic_any_tool() {
    let good = stream(50);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..40 {
        let mut s = good.clone();
        for _ in 0..(1 + round % 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % s.len();
            s[i] = (x >> 32) as u8;
        }
        for (tool, args) in [
            ("tracee-fmt", vec!["json"]),
            ("tracee-fmt", vec!["table"]),
            ("tracee-filter", vec!["comm=bash"]),
        ] {
            let (rc, _, err) = run_with_input(tool, &args, s.clone());
            assert!(rc == 0 || rc == 1 || rc == 2, "{tool}: rc {rc}: {err}");
            assert!(!err.contains("panicked"), "{tool} panicked: {err}");
            if rc == 2 {
                assert_eq!(err.lines().count(), 1, "{tool}: {err}");
            }
        }
    }
}

#[test]
fn a_closed_pipe_ends_fmt_and_filter_quietly() {
    let s = stream(200_000);
    for (tool, args) in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let mut child = Command::new(bin(tool))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = s.clone();
        let w = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
        });
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        out.read_exact(&mut first).unwrap();
        drop(out);
        let st = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let _ = w.join();
        assert_eq!(st.code(), Some(0), "{tool}: {err}");
        assert!(err.is_empty(), "{tool} must stop quietly: {err}");
    }
}

#[test]
fn fmt_prints_lost_notices_in_place_and_sums_them() {
    let (rc, out, err) = run_with_input("tracee-fmt", &["table"], stream(10));
    assert_eq!(rc, 0);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TIME"));
    let lost_at = lines
        .iter()
        .position(|l| l.starts_with("LOST 5 events on cpu 1"))
        .expect("lost line");
    assert!(
        lost_at > 1 && lost_at < lines.len() - 1,
        "in place, between events"
    );
    assert_eq!(err.trim(), "tracee-fmt: 10 events, 5 lost");
    let (rc, out, err) = run_with_input("tracee-fmt", &["none"], stream(10));
    assert_eq!(rc, 0);
    assert!(out.is_empty());
    assert_eq!(err.trim(), "tracee-fmt: 10 events, 5 lost");
}

#[test]
fn ctrl_c_on_the_pipeline_does_not_cut_downstream_output() {
    // Ctrl-C reaches every process of a terminal pipeline; the tools after
    // the collector must keep reading until it ends the stream.
    for (tool, args) in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let mut child = Command::new(bin(tool))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Signalled once it is ready for it, not after a guessed delay.
        wait_ignoring_sigint(child.id());
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&stream(10)).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tool == "tracee-fmt" {
            assert_eq!(
                json_lines(&out.stdout).len(),
                11,
                "10 events and a lost notice"
            );
        } else {
            assert_eq!(out.stdout, stream(10));
        }
    }
}

#[test]
fn output_on_a_pipe_does_not_wait_for_more_input() {
    // Block-buffered, but nothing waits for the buffer to fill: with the
    // input pipe still open and idle, what was read is written. (The bound
    // here is generous; the design bound is 100 ms.)
    for (tool, args) in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let mut child = Command::new(bin(tool))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let s = stream(1);
        {
            use std::io::Write;
            stdin.write_all(&s).unwrap();
            stdin.flush().unwrap();
        }
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            let n = out.read(&mut b).unwrap_or(0);
            let _ = tx.send(n);
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(2));
        drop(stdin);
        let _ = child.wait();
        assert!(
            matches!(got, Ok(n) if n > 0),
            "{tool} held its output while input was idle"
        );
    }
}

/// An event whose body does not decode (an argument running past its
/// record) is one event's problem: printed with what decoded and marked,
/// counted, and the stream goes on, in every format; filter forwards it.
#[test]
fn an_undecodable_event_is_marked_and_the_stream_goes_on() {
    let mut s = preamble().to_bytes();
    let ctx = EventContext {
        event_id: 257,
        comm: name16("bad"),
        ..Default::default()
    };
    let mut bad = EventBuilder::new(&ctx)
        .scalar(0, 1)
        .str(1, "/etc/cut")
        .finish();
    // The second item claims 4000 bytes it does not have.
    let second = wire::ARGS_OFFSET + wire::ArgHeader::LEN + 8;
    bad[second + 2..second + 4].copy_from_slice(&4000u16.to_le_bytes());
    s.extend(&bad);
    let rest = stream(3);
    s.extend(&rest[preamble().to_bytes().len()..]);
    let (rc, kept, err) = run_with_input("tracee-filter", &["comm=bad,bash"], s.clone());
    assert_eq!(rc, 0, "{err}");
    let (rc, json, err) = run_with_input("tracee-fmt", &["json"], kept);
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("1 with arguments that did not decode"),
        "{err}"
    );
    let evs = json_lines(&json);
    assert_eq!(evs[0]["processName"], "bad");
    assert_eq!(evs[0]["args"][0]["value"], 1);
    assert!(
        evs[0]["decodeError"]
            .as_str()
            .unwrap()
            .contains("truncated argument")
    );
    assert_eq!(evs.iter().filter(|e| e["processName"] == "bash").count(), 2);
    let (rc, table, _) = run_with_input("tracee-fmt", &["table"], s);
    assert_eq!(rc, 0);
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.lines().nth(1).unwrap().contains("[decode error: "),
        "{table}"
    );
}

/// A full disk under stdout is a write error, not a read error.
#[test]
fn a_full_stdout_is_a_write_error() {
    for (tool, args) in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let mut cmd = Command::new(bin(tool));
        cmd.args(&args).stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
        let mut child = cmd
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let s = stream(20_000);
        let w = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&s);
        });
        let out = child.wait_with_output().unwrap();
        let _ = w.join();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool}: {err}");
        assert!(
            err.contains("write error") && !err.contains("read error"),
            "{tool}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{tool}: {err}");
    }
}

/// A preamble length beyond the bound is said as such (it once printed
/// the record limit), and is refused before anything is allocated.
#[test]
fn preamble_lengths_out_of_range_say_so() {
    for len in [8u32, 16 << 20, u32::MAX] {
        let mut s = preamble().to_bytes();
        s[12..16].copy_from_slice(&len.to_le_bytes());
        one_line_exit_2(
            "tracee-fmt",
            &["json"],
            s,
            &format!("preamble length {len} (at byte 12) is out of range: 16 to 1048576 bytes"),
        );
    }
}

/// The largest catalog a preamble may carry, made of the smallest
/// possible arguments, costs a reader bounded memory (a 16 MiB one once
/// cost 385 MB).
#[test]
fn the_largest_catalog_costs_bounded_memory() {
    let mut events = Vec::new();
    let mut size = 64;
    let mut id = 0;
    while size < wire::MAX_PREAMBLE_LEN - 2000 {
        let args: Vec<ArgDef> = (0..255)
            .map(|_| ArgDef {
                name: String::new(),
                type_name: String::new(),
                ty: ArgType::U64,
            })
            .collect();
        size += 4 + 2 + 2 + 255 * 5;
        events.push(EventDef {
            id,
            name: String::new(),
            flags: 0,
            args,
        });
        id += 1;
    }
    let mut pre = preamble();
    pre.catalog = Catalog::new(events);
    let s = pre.to_bytes();
    assert!(s.len() > wire::MAX_PREAMBLE_LEN - 4000 && s.len() <= wire::MAX_PREAMBLE_LEN);
    // One event after it: once the tool has written something for it, the
    // catalog is parsed and in use. Its peak is read while it still runs
    // (VmHWM belongs to the tool's own image, unlike wait4's maxrss, which
    // keeps the test process's peak across the fork and exec).
    let ev = stream(1);
    let ev = &ev[preamble().to_bytes().len()..];
    for (tool, args) in [("tracee-fmt", vec!["json"]), ("tracee-filter", vec![])] {
        let mut child = Command::new(bin(tool))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feed = {
            let mut b = s.clone();
            b.extend_from_slice(ev);
            std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(&b).unwrap();
                stdin
            })
        };
        let mut first = [0u8; 1];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let peak_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap();
        drop(feed.join().unwrap());
        let mut rest = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut rest).unwrap();
        assert!(child.wait().unwrap().success());
        eprintln!(
            "{tool}: peak RSS {peak_kib} KiB with a {} byte catalog",
            s.len()
        );
        assert!(
            peak_kib < 48 * 1024,
            "{tool}: {peak_kib} KiB for a 1 MiB catalog"
        );
    }
}

/// Lost counts from a stream are summed without wrapping.
#[test]
fn lost_counts_add_up_without_wrapping() {
    let mut s = preamble().to_bytes();
    for _ in 0..3 {
        s.extend(
            LostBody {
                cpu: 0,
                reason: 0,
                count: u64::MAX / 2,
                ts: 0,
            }
            .to_record(),
        );
    }
    let (rc, _, err) = run_with_input("tracee-fmt", &["none"], s);
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains(&format!("0 events, {} lost", u64::MAX)),
        "{err}"
    );
}

/// Container records: what filter and fmt know of a cgroup, also when
/// read later, as any user; one whose strings run past its record is said
/// in place and counted, and the stream goes on.
#[test]
fn container_records_name_events_and_a_bad_one_is_said() {
    use wire::container::{Container, Runtime, flags};
    let mut s = preamble().to_bytes();
    s.extend(
        Container {
            cgroup_id: 77,
            flags: flags::ROOT | flags::NAMED | flags::LOOKED_UP,
            runtime: Runtime::Podman,
            id: b"c0ffee".repeat(10),
            name: b"web\x1b[2J".to_vec(),
            image: b"localhost/img:1".to_vec(),
            lookup: b"ok".to_vec(),
            ..Default::default()
        }
        .to_record(),
    );
    let mut ctx = EventContext {
        event_id: 257,
        comm: name16("bash"),
        cgroup_id: 77,
        flags: wire::ctx_flags::CONTAINER_STARTED,
        ..Default::default()
    };
    s.extend(EventBuilder::new(&ctx).scalar(0, 1).finish());
    let mut bad = Container::default().to_record();
    // The first string claims 9 bytes the record does not have.
    bad[wire::RecordHeader::LEN + 24] = 9;
    s.extend(&bad);
    ctx.cgroup_id = 1;
    ctx.flags = 0;
    s.extend(EventBuilder::new(&ctx).scalar(0, 2).finish());
    let (rc, kept, err) = run_with_input("tracee-filter", &["container"], s.clone());
    assert_eq!(rc, 0, "{err}");
    let (rc, json, err) = run_with_input("tracee-fmt", &["json"], kept);
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("1 container or process records that did not decode"),
        "{err}"
    );
    let lines = json_lines(&json);
    let evs: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|e| e.get("eventName").is_some())
        .collect();
    assert_eq!(evs.len(), 1, "only the container's event is kept");
    assert_eq!(evs[0]["containerId"], "c0ffee".repeat(10));
    assert_eq!(evs[0]["container"]["name"], "web\u{1b}[2J");
    assert_eq!(evs[0]["container"]["image"], "localhost/img:1");
    assert_eq!(evs[0]["contextFlags"]["containerStarted"], true);
    assert!(lines.iter().any(|e| {
        e["decodeError"]
            .as_str()
            .is_some_and(|m| m.contains("container record string"))
    }));
    let (rc, table, _) = run_with_input("tracee-fmt", &["table-verbose"], s);
    assert_eq!(rc, 0);
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("c0ffeec0ffee"), "{table}");
    assert!(!table.contains('\u{1b}'));
}
