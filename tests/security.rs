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
