//! Network events and pcaps with the real eBPF and real packets, on
//! loopback and in network namespaces the tests make (never any other
//! address): DNS, TCP, UDP, ICMP, HTTP, IPv6, the pcap splits and snap
//! lengths read back with tcpdump and tshark, a container's own loopback,
//! and malformed packets from a raw socket.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::capture::Run;
use crate::util::*;

/// A run of `tracee-collect COLLECT --capture ... 3> >(tracee-capture)`
/// whose events are kept in a file.
struct NetRun {
    run: Run,
    events: PathBuf,
}

impl NetRun {
    fn start(collect: &[&str]) -> NetRun {
        let dir = TempDir::new("net");
        let events = dir.path("events.bin");
        let f = std::fs::File::create(&events).expect("events file");
        let run = Run::start_to(dir, collect, &[], Some(Stdio::from(f)));
        NetRun { run, events }
    }

    /// Stops; returns the events as JSON, the pcap directory (in the kept
    /// temporary directory), the index, and both tools' stderr.
    fn stop(self) -> (TempDir, Vec<Value>, PathBuf, Vec<Value>, String) {
        let events = self.events.clone();
        let pcap = self.run.out().join("pcap");
        let (dir, index, cap_err, col_err) = self.run.stop();
        let (code, json, ferr) = run_with_input(
            "tracee-fmt",
            &["json"],
            std::fs::read(&events).expect("the events"),
        );
        assert_eq!(code, 0, "tracee-fmt json: {ferr}");
        let evs = json_lines(&json);
        (dir, evs, pcap, index, format!("{col_err}\n{cap_err}"))
    }
}

/// `python3 -c SCRIPT ARGS` (the system python), its stdout piped.
fn py(script: &str, args: &[&str]) -> Child {
    Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3")
}

/// The first line a child prints (it says it is ready).
fn first_line(c: &mut Child) -> String {
    let mut r = BufReader::new(c.stdout.as_mut().expect("stdout"));
    let mut l = String::new();
    r.read_line(&mut l).expect("a line");
    l.trim().to_string()
}

fn wait_ok(mut c: Child, what: &str) {
    let st = c.wait().expect("wait");
    assert!(st.success(), "{what} failed: {st}");
}

fn named<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["eventName"] == name).collect()
}

fn arg<'a>(ev: &'a Value, name: &str) -> &'a Value {
    ev["args"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .map(|x| &x["value"])
        .unwrap_or_else(|| panic!("no argument {name} in {ev}"))
}

/// `tshark -r FILE ARGS`, its stdout; fails the test if tshark fails.
fn tshark(file: &Path, args: &[&str]) -> String {
    stdout_of(
        Command::new("tshark")
            .arg("-r")
            .arg(file)
            .args(args)
            .env("HOME", "/tmp"),
        "tshark",
    )
}

fn tcpdump(file: &Path) -> String {
    stdout_of(
        Command::new("tcpdump").arg("-nn").arg("-r").arg(file),
        "tcpdump -r",
    )
}

/// A DNS responder on 127.0.0.1:53 answering every A query with
/// 10.1.2.3 (an answer's data, never a destination); prints "ready",
/// serves one query, then exits.
const DNS_SERVER: &str = r#"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
q, peer = s.recvfrom(2048)
qid = q[:2]
i = 12
while q[i] != 0:
    i += q[i] + 1
question = q[12:i + 5]
hdr = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([10, 1, 2, 3])
s.sendto(hdr + question + ans, peer)
"#;

/// Sends one A query for argv[1] to 127.0.0.1:53 and waits for the
/// answer; prints its pid first.
const DNS_CLIENT: &str = r#"
import os, socket, struct, sys
print(os.getpid(), flush=True)
name = sys.argv[1]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for part in name.split("."):
    q += bytes([len(part)]) + part.encode()
q += b"\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, ("127.0.0.1", 53))
s.recvfrom(2048)
"#;

#[test]
fn dns_query_and_answer_are_events_of_the_querier_and_in_the_pcap() {
    if !need_root("dns_query_and_answer_are_events_of_the_querier_and_in_the_pcap") {
        return;
    }
    let name = format!("q{}.tracee-rs.test", std::process::id());
    let run = NetRun::start(&[
        "-e",
        "net_packet_dns_request,net_packet_dns_response,net_packet_dns",
        "--capture",
        "network",
    ]);
    let mut server = py(DNS_SERVER, &[]);
    assert_eq!(first_line(&mut server), "ready");
    let mut client = py(DNS_CLIENT, &[&name]);
    let client_pid: u64 = first_line(&mut client).parse().unwrap();
    wait_ok(client, "the DNS client");
    wait_ok(server, "the DNS server");
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, evs, pcap, index, err) = run.stop();

    let mine = |n: &str| -> Vec<&Value> {
        named(&evs, n)
            .into_iter()
            .filter(|e| e["processId"] == client_pid)
            .collect()
    };
    let req = mine("net_packet_dns_request");
    assert_eq!(
        req.len(),
        1,
        "the query, sent by the client: {evs:?}\n{err}"
    );
    let q = &arg(req[0], "dns_questions")[0];
    assert_eq!(q["query"], name.as_str());
    assert_eq!(q["query_type"], "A");
    assert_eq!(q["query_class"], "IN");
    assert_eq!(arg(req[0], "metadata")["dst_port"], 53);
    // The answer, received by the client: attributed to it on ingress.
    let resp = mine("net_packet_dns_response");
    assert_eq!(resp.len(), 1, "{evs:?}");
    let r = &arg(resp[0], "dns_response")[0];
    assert_eq!(r["query_data"]["query"], name.as_str());
    assert_eq!(r["dns_answer"][0]["answer_type"], "A");
    assert_eq!(r["dns_answer"][0]["answer"], "10.1.2.3");
    assert_eq!(r["dns_answer"][0]["ttl"], 300);
    let dns = mine("net_packet_dns");
    let dirs: Vec<&Value> = dns
        .iter()
        .map(|e| &arg(e, "metadata")["direction"])
        .collect();
    assert!(
        dirs.contains(&&Value::from(1)) && dirs.contains(&&Value::from(2)),
        "the client's query out (2) and answer in (1): {dirs:?}"
    );
    let proto = arg(dns[0], "proto_dns");
    assert_eq!(proto["questions"][0]["name"], name.as_str());

    let single = pcap.join("single.pcap");
    let found = tshark(
        &single,
        &[
            "-Y",
            &format!("dns.qry.name == \"{name}\""),
            "-T",
            "fields",
            "-e",
            "dns.flags.response",
            "-e",
            "frame.comment",
        ],
    );
    let lines: Vec<&str> = found.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with('0')) && lines.iter().any(|l| l.starts_with('1')),
        "the query and the answer are in single.pcap: {found}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("pid {client_pid} "))),
        "each packet's comment names its process: {found}"
    );
    assert!(tcpdump(&single).contains(&name), "tcpdump reads it");
    let line = index
        .iter()
        .find(|l| l["path"] == "pcap/single.pcap")
        .unwrap_or_else(|| panic!("single.pcap is indexed: {index:?}"));
    assert_eq!(line["kind"], "pcap");
    assert_eq!(line["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(line["complete"], true);
}

/// A TCP server on 127.0.0.1 (argv[1] the payload size): prints its port,
/// accepts one connection, reads the payload, answers "done", closes.
const TCP_SERVER: &str = r#"
import os, socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], os.getpid(), flush=True)
c, _ = l.accept()
want, got = int(sys.argv[1]), 0
while got < want:
    b = c.recv(65536)
    if not b:
        break
    got += len(b)
c.sendall(b"done")
c.close()
"#;

/// Connects to 127.0.0.1:argv[1], sends argv[2] bytes of a pattern, waits
/// for "done"; prints its pid first.
const TCP_CLIENT: &str = r#"
import os, socket, sys
print(os.getpid(), flush=True)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
pat = b"TRACEE-RS-PAYLOAD-"
n = int(sys.argv[2])
s.sendall((pat * (n // len(pat) + 1))[:n])
s.recv(16)
s.close()
"#;

/// Runs one TCP transfer of `n` bytes; returns (client pid, server pid).
fn tcp_transfer(n: usize) -> (u64, u64) {
    let mut server = py(TCP_SERVER, &[&n.to_string()]);
    let l = first_line(&mut server);
    let mut it = l.split(' ');
    let port = it.next().unwrap().to_string();
    let server_pid: u64 = it.next().unwrap().parse().unwrap();
    let mut client = py(TCP_CLIENT, &[&port, &n.to_string()]);
    let client_pid: u64 = first_line(&mut client).parse().unwrap();
    wait_ok(client, "the TCP client");
    wait_ok(server, "the TCP server");
    (client_pid, server_pid)
}

#[test]
fn a_tcp_transfer_is_seen_both_ways_with_its_flow_and_its_payload() {
    if !need_root("a_tcp_transfer_is_seen_both_ways_with_its_flow_and_its_payload") {
        return;
    }
    let run = NetRun::start(&[
        "-e",
        "net_packet_tcp,net_flow_tcp_begin,net_flow_tcp_end",
        "--capture",
        "network",
        "--capture",
        "pcap-snaplen:max",
    ]);
    let (client, server) = tcp_transfer(5000);
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, evs, pcap, _index, err) = run.stop();
    for pid in [client, server] {
        let tcp: Vec<&Value> = named(&evs, "net_packet_tcp")
            .into_iter()
            .filter(|e| e["processId"] == pid)
            .collect();
        for dir in [1, 2] {
            assert!(
                tcp.iter().any(|e| arg(e, "metadata")["direction"] == dir),
                "pid {pid} has TCP packets in direction {dir}: {tcp:?}\n{err}"
            );
        }
        let syn = tcp.iter().any(|e| arg(e, "proto_tcp")["SYN"] == 1);
        assert!(syn, "pid {pid} sees the handshake");
    }
    let begin = named(&evs, "net_flow_tcp_begin");
    let of = |pid: u64, dir: &str| {
        begin
            .iter()
            .any(|e| e["processId"] == pid && arg(e, "conn_direction") == dir)
    };
    assert!(of(client, "outgoing"), "the client's flow began: {begin:?}");
    assert!(of(server, "incoming"), "the server's flow began: {begin:?}");
    let end = named(&evs, "net_flow_tcp_end");
    assert!(
        end.iter().any(|e| e["processId"] == client)
            && end.iter().any(|e| e["processId"] == server),
        "both flows ended: {end:?}"
    );
    for e in begin.iter().chain(end.iter()) {
        assert_eq!(arg(e, "src"), "127.0.0.1");
    }
    // The whole payload is in the pcap, and nothing is malformed.
    let single = pcap.join("single.pcap");
    let raw = std::fs::read(&single).unwrap();
    let pat = b"TRACEE-RS-PAYLOAD-";
    let count = raw.windows(pat.len()).filter(|w| w == pat).count();
    assert!(
        count >= 2 * (5000 / pat.len()),
        "payload whole ({count} patterns)"
    );
    assert_eq!(
        tshark(
            &single,
            &["-Y", "_ws.malformed || _ws.expert.severity >= error"]
        ),
        ""
    );
    assert!(tcpdump(&single).contains("127.0.0.1"));

    // With the default snap length, payloads are cut to 96 bytes after the
    // headers, and the cut packets still read clean.
    let run = NetRun::start(&["-e", "net_packet_tcp", "--capture", "network"]);
    tcp_transfer(5000);
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, _evs, pcap, _index, _err) = run.stop();
    let single = pcap.join("single.pcap");
    let lens = tshark(
        &single,
        &["-T", "fields", "-e", "frame.cap_len", "-e", "tcp.len"],
    );
    let mut cut = 0;
    for l in lens.lines() {
        let f: Vec<u64> = l.split('\t').filter_map(|x| x.parse().ok()).collect();
        if f.len() == 2 {
            assert!(f[1] <= 96, "payload kept: {l}");
            cut += u64::from(f[1] == 96);
        }
    }
    assert!(cut > 0, "some payload was cut at 96 bytes: {lens}");
    assert_eq!(
        tshark(
            &single,
            &["-Y", "_ws.malformed || _ws.expert.severity >= error"]
        ),
        ""
    );
}

/// IPv6 TCP and UDP on ::1, an HTTP request and response on 127.0.0.1.
const V6_AND_HTTP: &str = r#"
import os, socket
print(os.getpid(), flush=True)
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.bind(("::1", 0)); l.listen(1)
c = socket.create_connection(("::1", l.getsockname()[1]))
a, _ = l.accept(); c.sendall(b"six"); a.recv(10); c.close(); a.close(); l.close()
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 0))
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.sendto(b"udp-six", ("::1", u.getsockname()[1])); u.recvfrom(100)
h = socket.socket(); h.bind(("127.0.0.1", 0)); h.listen(1)
c = socket.create_connection(("127.0.0.1", h.getsockname()[1]))
a, _ = h.accept()
c.sendall(b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: tracee-rs-test\r\nAccept: */*\r\n\r\n")
a.recv(4096)
a.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope")
c.recv(4096); c.close(); a.close()
"#;

#[test]
fn ipv6_icmp_and_http_give_their_events() {
    if !need_root("ipv6_icmp_and_http_give_their_events") {
        return;
    }
    let run = NetRun::start(&[
        "-e",
        "net_packet_ipv6,net_packet_tcp,net_packet_udp,net_packet_icmp,net_packet_icmpv6,\
         net_packet_http,net_packet_http_request,net_packet_http_response",
        "--capture",
        "network",
    ]);
    let mut p = py(V6_AND_HTTP, &[]);
    let pid: u64 = first_line(&mut p).parse().unwrap();
    wait_ok(p, "the IPv6 and HTTP script");
    stdout_of(
        Command::new("ping").args(["-c1", "-W2", "127.0.0.1"]),
        "ping",
    );
    stdout_of(
        Command::new("ping").args(["-6", "-c1", "-W2", "::1"]),
        "ping -6",
    );
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, evs, pcap, _index, err) = run.stop();
    let mine = |n: &str| -> Vec<&Value> {
        named(&evs, n)
            .into_iter()
            .filter(|e| e["processId"] == pid)
            .collect()
    };
    // Beyond Tracee: TCP and UDP over IPv6.
    assert!(
        mine("net_packet_tcp")
            .iter()
            .any(|e| arg(e, "src") == "::1"),
        "TCP over IPv6: {err}"
    );
    let udp = mine("net_packet_udp");
    assert!(
        udp.iter()
            .any(|e| arg(e, "dst") == "::1" && arg(e, "proto_udp")["length"] == 15)
    );
    assert!(
        mine("net_packet_ipv6")
            .iter()
            .any(|e| arg(e, "proto_ipv6")["nextHeader"] == "UDP")
    );
    // ICMP and ICMPv6 echo, of ping.
    let icmp = named(&evs, "net_packet_icmp");
    assert!(
        icmp.iter().any(
            |e| e["processName"] == "ping" && arg(e, "proto_icmp")["typeCode"] == "EchoRequest"
        ),
        "{icmp:?}"
    );
    assert!(
        icmp.iter()
            .any(|e| arg(e, "proto_icmp")["typeCode"] == "EchoReply")
    );
    let icmp6 = named(&evs, "net_packet_icmpv6");
    assert!(
        icmp6
            .iter()
            .any(|e| e["processName"] == "ping"
                && arg(e, "proto_icmpv6")["typeCode"] == "EchoRequest"),
        "{icmp6:?}"
    );
    // HTTP, headers parsed.
    let req = mine("net_packet_http_request");
    assert!(!req.is_empty(), "{err}");
    let r = arg(req[0], "http_request");
    assert_eq!(r["method"], "GET");
    assert_eq!(r["protocol"], "HTTP/1.1");
    assert_eq!(r["host"], "example.test");
    assert_eq!(r["uri_path"], "/index.html");
    assert_eq!(r["headers"]["User-Agent"][0], "tracee-rs-test");
    let resp = mine("net_packet_http_response");
    let r = arg(resp[0], "http_response");
    assert_eq!(r["status"], "404 Not Found");
    assert_eq!(r["status_code"], 404);
    assert_eq!(r["content_length"], 4);
    assert_eq!(r["headers"]["Content-Type"][0], "text/plain");
    let http = mine("net_packet_http");
    assert!(
        http.iter()
            .any(|e| arg(e, "proto_http")["direction"] == "request")
    );
    let single = pcap.join("single.pcap");
    assert!(
        tshark(&single, &["-Y", "icmpv6.type == 128"])
            .lines()
            .count()
            >= 1
    );
    assert!(
        tshark(&single, &["-Y", "http.request.method == \"GET\""])
            .lines()
            .count()
            >= 1
    );
}

#[test]
fn filtered_pcaps_keep_only_the_selected_events_packets() {
    if !need_root("filtered_pcaps_keep_only_the_selected_events_packets") {
        return;
    }
    let run = NetRun::start(&[
        "-e",
        "net_packet_dns",
        "--capture",
        "network",
        "--capture",
        "pcap-options:filtered",
    ]);
    let mut server = py(DNS_SERVER, &[]);
    assert_eq!(first_line(&mut server), "ready");
    let mut client = py(DNS_CLIENT, &["filtered.tracee-rs.test"]);
    first_line(&mut client);
    wait_ok(client, "the DNS client");
    wait_ok(server, "the DNS server");
    tcp_transfer(1000);
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, evs, pcap, _index, _err) = run.stop();
    assert!(!named(&evs, "net_packet_dns").is_empty());
    let single = pcap.join("single.pcap");
    let all = tshark(&single, &["-T", "fields", "-e", "frame.number"]);
    let dns = tshark(
        &single,
        &["-Y", "dns", "-T", "fields", "-e", "frame.number"],
    );
    assert!(all.lines().count() >= 4, "{all}");
    assert_eq!(all, dns, "only DNS packets in the filtered pcap");
}

#[test]
fn a_containers_packets_go_to_its_own_pcaps() {
    if !need_root("a_containers_packets_go_to_its_own_pcaps") {
        return;
    }
    let tag = std::process::id();
    let name = format!("tr-net-{tag}");
    let _g = crate::containers::Gone(name.clone());
    let run = NetRun::start(&[
        "-e",
        "net_packet_tcp",
        "--capture",
        "pcap:process,command,container",
    ]);
    let cidfile = run.run.dir.path("cid");
    // Its own loopback: a connection refused there is a SYN and a reset.
    let _ = crate::containers::podman_run(
        &name,
        &["--rm", "--cidfile", cidfile.to_str().unwrap()],
        &["/bin/busybox", "nc", "-w", "1", "127.0.0.1", "9"],
    )
    .stdin(Stdio::null())
    .output()
    .expect("podman run");
    let id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    tcp_transfer(100);
    std::thread::sleep(Duration::from_millis(300));
    let (_dir, evs, pcap, index, err) = run.stop();
    let theirs: Vec<&Value> = named(&evs, "net_packet_tcp")
        .into_iter()
        .filter(|e| e["containerId"] == id.as_str())
        .collect();
    assert!(
        !theirs.is_empty(),
        "the container's packets are its events: {err}"
    );
    let c = pcap.join("containers").join(format!("{id}.pcap"));
    let m = pcap.join("commands").join(&id).join("busybox.pcap");
    for f in [&c, &m] {
        let out = tshark(f, &["-T", "fields", "-e", "tcp.dstport"]);
        assert!(out.lines().any(|l| l == "9"), "{}: {out}", f.display());
    }
    let procs: Vec<_> = std::fs::read_dir(pcap.join("processes").join(&id))
        .expect("the container's process pcaps")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(procs.iter().any(|n| n.starts_with("busybox_")), "{procs:?}");
    // Host processes under host; no single.pcap when not asked for.
    assert!(pcap.join("containers/host.pcap").exists());
    assert!(pcap.join("commands/host/python3.pcap").exists());
    assert!(!pcap.join("single.pcap").exists());
    let host = tshark(
        &pcap.join("containers/host.pcap"),
        &["-T", "fields", "-e", "tcp.dstport"],
    );
    assert!(
        !host.lines().any(|l| l == "9"),
        "the container's packets are not the host's"
    );
    // The interface description says whose packets a file holds.
    let desc = tshark(
        &c,
        &[
            "-T",
            "fields",
            "-e",
            "frame.interface_description",
            "-c",
            "1",
        ],
    );
    assert!(desc.contains(&id), "{desc}");
    assert!(
        index
            .iter()
            .any(|l| l["path"] == format!("pcap/containers/{id}.pcap")
                && l["containerId"] == id.as_str())
    );
}

/// Sent as root from raw sockets inside a namespace of the test's own:
/// IPv4 headers whose lengths lie, truncated headers, a TCP header longer
/// than the packet, a DNS message whose name points at itself, an IPv6
/// header claiming more than it has; then one good UDP packet.
const MALFORMED: &str = r#"
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
def ip4(proto, payload, total=None, ihl=5, extra=b""):
    total = total if total is not None else 20 + len(extra) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total & 0xffff, 1, 0, 64, proto, 0,
                    bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return h + extra + payload
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def send(p):
    try:
        r.sendto(p, ("127.0.0.1", 0))
    except OSError:
        pass
loop = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
udp = lambda dport, data: struct.pack("!HHHH", 5353, dport, 8 + len(data), 0) + data
send(ip4(17, udp(53, loop)))
send(ip4(17, udp(53, b"\xff" * 3)))
send(ip4(17, struct.pack("!HHHH", 1, 53, 2000, 0) + b"x"))
send(ip4(6, struct.pack("!HHIIBBHHH", 1, 80, 0, 0, 0xf0, 2, 0, 0, 0)))
send(ip4(6, b"GET / HTTP/1.1\r\n" + b"X" * 40))
send(ip4(1, b"\x08"))
send(ip4(17, udp(9, b"a"), total=4000))
send(ip4(17, udp(9, b"a"), ihl=15))
send(b"\x45\x00")
send(b"\x60\x00\x00\x00\xff\xff\x11\x40" + b"\x00" * 16)
send(b"\xf0" * 40)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"still-alive", ("127.0.0.1", 9999))
print("sent", flush=True)
"#;

#[test]
fn malformed_packets_neither_crash_nor_stop_anything() {
    if !need_root("malformed_packets_neither_crash_nor_stop_anything") {
        return;
    }
    let ns = format!("trrs-bad-{}", std::process::id());
    stdout_of(
        Command::new("ip").args(["netns", "add", &ns]),
        "ip netns add",
    );
    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _ns = Ns(ns.clone());
    stdout_of(
        Command::new("ip").args(["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]),
        "lo up",
    );
    let run = NetRun::start(&[
        "-e",
        "network_events",
        "--capture",
        "network",
        "--capture",
        "pcap-snaplen:max",
    ]);
    let out = stdout_of(
        Command::new("ip").args(["netns", "exec", &ns, "/usr/bin/python3", "-c", MALFORMED]),
        "the malformed packets",
    );
    assert_eq!(out.trim(), "sent");
    std::thread::sleep(Duration::from_millis(300));
    let (_dir, evs, pcap, _index, err) = run.stop();
    assert!(
        named(&evs, "net_packet_udp")
            .iter()
            .any(|e| arg(e, "dst_port") == 9999),
        "the good packet after the bad ones is an event: {err}"
    );
    let single = pcap.join("single.pcap");
    assert!(tcpdump(&single).contains("9999"));
    tshark(&single, &["-T", "fields", "-e", "frame.number"]);
}

/// Sends 50 UDP datagrams to 127.0.0.1:9.
const UDP_BURST: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50):
    s.sendto(b"x" * 10, ("127.0.0.1", 9))
"#;

#[test]
fn the_scope_drops_other_processes_packets_in_the_kernel() {
    if !need_root("the_scope_drops_other_processes_packets_in_the_kernel") {
        return;
    }
    let mut c = Collector::start(
        &["-e", "net_packet_icmp,net_packet_udp", "comm=ping"],
        Stdio::piped(),
    );
    let out = read_stdout(&mut c.child);
    wait_ok(py(UDP_BURST, &[]), "the UDP burst");
    stdout_of(
        Command::new("ping").args(["-c1", "-W2", "127.0.0.1"]),
        "ping",
    );
    std::thread::sleep(Duration::from_millis(200));
    let (code, err) = c.stop();
    assert_eq!(code, 0, "{err}");
    let (fcode, json, ferr) = run_with_input("tracee-fmt", &["json"], out.join().unwrap());
    assert_eq!(fcode, 0, "{ferr}");
    let evs = json_lines(&json);
    assert!(!evs.is_empty(), "ping's packets: {err}");
    assert!(evs.iter().all(|e| e["processName"] == "ping"), "{evs:?}");
    // Pushed down: the kernel sent ping's packets only (its request out and
    // the reply in), not the 50 datagrams nor the kernel's own reply.
    let n: u64 = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("tracee-collect: ")?
                .split(" packets (")
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("a packet count: {err}"));
    assert!(n <= 4, "{n} packets reached user space: {err}");
}

/// The attacker, as nobody: A ("decoyA") makes a UDP and a TCP socket and
/// uses them, then hands both to B ("exfilB") over a unix socket; B sends
/// on them while A keeps touching the UDP one between B's sends (a recv),
/// to pin B's traffic on A. Then a DNS query behind an IPv6 segment
/// routing header (unprivileged), which pushes the UDP header out of a
/// fixed-size copy. Prints the pids and ports.
const HANDOFF: &str = r#"
import array, ctypes, json, os, socket, struct
libc = ctypes.CDLL(None)
rcv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rcv.bind(("127.0.0.1", 0))
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(5)
pa, pb = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
N = 50
b = os.fork()
if b == 0:
    libc.prctl(15, b"exfilB", 0, 0, 0)
    msg, anc, _, _ = pb.recvmsg(10, socket.CMSG_SPACE(8))
    fds = array.array("i"); fds.frombytes(anc[0][2][:8]); u, t = fds
    us = socket.socket(fileno=u); ts = socket.socket(fileno=t)
    for i in range(N):
        us.send(b"SECRET-FROM-B-%03d" % i)
        pb.send(b"k"); pb.recv(1)
    ts.sendall(b"TCPSECRET" * 2000)
    pb.send(b"done"); os._exit(0)
libc.prctl(15, b"decoyA", 0, 0, 0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(rcv.getsockname()); u.send(b"hello-from-A")
t = socket.socket(); t.connect(ls.getsockname()); c, _ = ls.accept(); t.send(b"A")
pa.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [u.fileno(), t.fileno()]).tobytes())])
for i in range(N):
    pa.recv(10)
    try: u.recv(10, socket.MSG_DONTWAIT)
    except BlockingIOError: pass
    pa.send(b"k")
pa.recv(10)
c.settimeout(2); got = 0
try:
    while got < 18000:
        d = c.recv(1 << 20); got += len(d)
        if not d: break
except Exception: pass
os.waitpid(b, 0)
seg = socket.inet_pton(socket.AF_INET6, "::1")
srh = struct.pack("BBBBBBH", 0, 2 * 40, 4, 0, 39, 0, 0) + seg * 40
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, 57, srh)
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x06hidden\x0ctracee-rs-rh\x04test\x00\x00\x01\x00\x01"
s6.sendto(q, ("::1", 53))
print(json.dumps({"a": os.getpid(), "b": b, "udp": u.getsockname()[1], "tcp": t.getsockname()[1]}), flush=True)
"#;

#[test]
fn a_handed_over_socket_and_extension_headers_do_not_hide_traffic() {
    if !need_root("a_handed_over_socket_and_extension_headers_do_not_hide_traffic") {
        return;
    }
    let run = NetRun::start(&[
        "-e",
        "net_packet_udp,net_packet_tcp,net_packet_dns_request",
        "--capture",
        "network",
    ]);
    let out = nobody_runs(HANDOFF, &[]);
    std::thread::sleep(Duration::from_millis(200));
    let (_dir, evs, _pcap, _index, err) = run.stop();
    let ids: Value = serde_json::from_str(out.trim()).expect("the attacker's pids");
    let egress = |name: &str, port: &Value| -> Vec<&Value> {
        named(&evs, name)
            .into_iter()
            .filter(|e| arg(e, "metadata")["direction"] == 2 && arg(e, "src_port") == port)
            .collect()
    };
    // B's 50 datagrams (17 bytes each) are B's, every one.
    let udp = egress("net_packet_udp", &ids["udp"]);
    let b_sent = udp
        .iter()
        .filter(|e| arg(e, "proto_udp")["length"] == 25)
        .collect::<Vec<_>>();
    assert_eq!(b_sent.len(), 50, "{} datagrams seen\n{err}", udp.len());
    let not_b = b_sent
        .iter()
        .filter(|e| e["processId"] != ids["b"] || e["processName"] != "exfilB")
        .count();
    assert_eq!(not_b, 0, "B's datagrams are B's");
    // B's TCP send is B's from its first segment: A owns only what it sent
    // before the handover (handshake, its byte, an ACK or two).
    let tcp = egress("net_packet_tcp", &ids["tcp"]);
    let of = |pid: &Value| tcp.iter().filter(|e| e["processId"] == *pid).count();
    assert!(of(&ids["b"]) >= 1, "{} TCP packets", tcp.len());
    assert!(
        of(&ids["a"]) <= 4,
        "A has {} of {} segments",
        of(&ids["a"]),
        tcp.len()
    );
    // The query behind 40 segments of routing header is seen and parsed.
    let q = named(&evs, "net_packet_dns_request");
    assert!(
        q.iter().any(
            |e| arg(e, "dns_questions")[0]["query"] == "hidden.tracee-rs-rh.test"
                && e["processId"] == ids["a"]
        ),
        "{} requests\n{err}",
        q.len()
    );
}
