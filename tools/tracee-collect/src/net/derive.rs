//! The `net_*` events, derived from the kernel's `net_packet_base` records
//! (and `net_tcp_connect` from `security_socket_connect`), with Tracee's
//! argument names and JSON shapes (v0.24, `types/trace/network_trace.go`).
//!
//! Beyond Tracee: TCP and UDP over IPv6 give `net_packet_tcp` and
//! `net_packet_udp`, DNS over TCP is parsed (one message per segment,
//! after its length prefix), every record type the DNS crate knows is
//! shown, and HTTP methods beyond the five Tracee knows are recognised.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use serde_json::{Value, json};
use simple_dns::rdata::RData;
use wire::build::EventBuilder;
use wire::event_id as id;
use wire::{EventSlice, item};

use super::pcap::is_dns;

/// Flows remembered at most (Tracee's LRU holds as many); past this the
/// oldest half is forgotten, and their ends are not reported.
const FLOWS_MAX: usize = 65535;

/// A `net_packet_base` record's arguments.
pub struct Base<'a> {
    pub ingress: bool,
    /// The packet's length on the wire.
    pub len: u32,
    /// Its first bytes (the whole packet unless `cut`).
    pub data: &'a [u8],
    pub cut: bool,
}

impl<'a> Base<'a> {
    pub fn of(ev: &EventSlice<'a>) -> Option<Base<'a>> {
        let ingress = ev.arg(0)?.scalar() != 0;
        let len = ev.arg(1)?.scalar() as u32;
        let d = ev.arg(2)?;
        Some(Base {
            ingress,
            len,
            data: d.data,
            cut: d.truncated,
        })
    }
}

/// A TCP connection by its endpoints, the initiator's first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    pid: u32,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

/// What derivation keeps between packets.
pub struct Deriver {
    want: BTreeSet<u32>,
    /// Open flows, and whether we saw them begin as "incoming".
    flows: HashMap<FlowKey, bool>,
    /// Packets no header could be read from.
    pub unparsed: u64,
}

/// The packet's addresses and ports, as the events show them.
struct Ends {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    /// 6 or 17 for TCP or UDP.
    proto: u8,
    /// The IP header's length field (IPv4: total; IPv6: payload).
    ip_len: u16,
}

impl Deriver {
    pub fn new(selected: &BTreeSet<u32>) -> Deriver {
        let want = selected
            .iter()
            .copied()
            .filter(|i| super::PACKET_EVENTS.contains(i) || *i == id::NET_TCP_CONNECT)
            .collect();
        Deriver {
            want,
            flows: HashMap::new(),
            unparsed: 0,
        }
    }

    fn wants(&self, i: u32) -> bool {
        self.want.contains(&i)
    }

    /// The events packet `ev` (a `net_packet_base`) gives, as records.
    pub fn packet(&mut self, ev: &EventSlice<'_>, out: &mut Vec<Vec<u8>>) {
        let Some(b) = Base::of(ev) else {
            self.unparsed += 1;
            return;
        };
        let Ok(p) = LaxSlicedPacket::from_ip(b.data) else {
            self.unparsed += 1;
            return;
        };
        let meta = json!({ "direction": if b.ingress { 1 } else { 2 } });
        let ev_of = |i: u32| EventBuilder::derived(ev, i);
        let (src, dst, ip_len) = match &p.net {
            Some(LaxNetSlice::Ipv4(s)) => {
                let h = s.header();
                let (src, dst) = (h.source_addr(), h.destination_addr());
                if self.wants(id::NET_PACKET_IPV4) {
                    let flags = u8::from(h.more_fragments()) | u8::from(h.dont_fragment()) << 1;
                    let proto = json!({
                        "version": h.version(),
                        "IHL": h.ihl(),
                        "TOS": h.slice()[1],
                        "length": h.total_len(),
                        "id": h.identification(),
                        "flags": flags,
                        "fragOffset": h.fragments_offset().value(),
                        "TTL": h.ttl(),
                        "protocol": proto_name(h.protocol()),
                        "checksum": h.header_checksum(),
                        "srcIP": src.to_string(),
                        "dstIP": dst.to_string(),
                    });
                    out.push(addrs(
                        ev_of(id::NET_PACKET_IPV4),
                        &src.to_string(),
                        &dst.to_string(),
                        &meta,
                        &proto,
                    ));
                }
                (IpAddr::V4(src), IpAddr::V4(dst), h.total_len())
            }
            Some(LaxNetSlice::Ipv6(s)) => {
                let h = s.header();
                let (src, dst) = (h.source_addr(), h.destination_addr());
                if self.wants(id::NET_PACKET_IPV6) {
                    let proto = json!({
                        "version": h.version(),
                        "trafficClass": h.traffic_class(),
                        "flowLabel": h.flow_label().value(),
                        "length": h.payload_length(),
                        "nextHeader": proto_name(h.next_header()),
                        "hopLimit": h.hop_limit(),
                        "srcIP": src.to_string(),
                        "dstIP": dst.to_string(),
                    });
                    out.push(addrs(
                        ev_of(id::NET_PACKET_IPV6),
                        &src.to_string(),
                        &dst.to_string(),
                        &meta,
                        &proto,
                    ));
                }
                (IpAddr::V6(src), IpAddr::V6(dst), h.payload_length())
            }
            _ => {
                self.unparsed += 1;
                return;
            }
        };
        let (s, d) = (src.to_string(), dst.to_string());
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                let ends = Ends {
                    src,
                    dst,
                    sport: t.source_port(),
                    dport: t.destination_port(),
                    proto: 6,
                    ip_len,
                };
                if self.wants(id::NET_PACKET_TCP) {
                    let proto = json!({
                        "srcPort": t.source_port(),
                        "dstPort": t.destination_port(),
                        "seq": t.sequence_number(),
                        "ack": t.acknowledgment_number(),
                        "dataOffset": t.data_offset(),
                        "FIN": u8::from(t.fin()),
                        "SYN": u8::from(t.syn()),
                        "RST": u8::from(t.rst()),
                        "PSH": u8::from(t.psh()),
                        "ACK": u8::from(t.ack()),
                        "URG": u8::from(t.urg()),
                        "ECE": u8::from(t.ece()),
                        "CWR": u8::from(t.cwr()),
                        "NS": u8::from(t.ns()),
                        "window": t.window_size(),
                        "checksum": t.checksum(),
                        "urgent": t.urgent_pointer(),
                    });
                    out.push(ports(
                        ev_of(id::NET_PACKET_TCP),
                        &s,
                        &d,
                        &ends,
                        &meta,
                        &proto,
                    ));
                }
                self.flow(ev, &b, &ends, t.syn(), t.ack(), t.fin() || t.rst(), out);
                let payload = t.payload();
                if is_dns(ends.sport, ends.dport) {
                    // DNS over TCP: a message after its two-byte length.
                    if payload.len() > 2 {
                        let n = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
                        if n <= payload.len() - 2 {
                            self.dns(ev, &payload[2..2 + n], &s, &d, &ends, &meta, out);
                        }
                    }
                } else {
                    self.http(ev, payload, &s, &d, &ends, &meta, out);
                }
            }
            Some(TransportSlice::Udp(u)) => {
                let ends = Ends {
                    src,
                    dst,
                    sport: u.source_port(),
                    dport: u.destination_port(),
                    proto: 17,
                    ip_len,
                };
                if self.wants(id::NET_PACKET_UDP) {
                    let proto = json!({
                        "srcPort": u.source_port(),
                        "dstPort": u.destination_port(),
                        "length": u.length(),
                        "checksum": u.checksum(),
                    });
                    out.push(ports(
                        ev_of(id::NET_PACKET_UDP),
                        &s,
                        &d,
                        &ends,
                        &meta,
                        &proto,
                    ));
                }
                if is_dns(ends.sport, ends.dport) {
                    self.dns(ev, u.payload(), &s, &d, &ends, &meta, out);
                }
            }
            Some(TransportSlice::Icmpv4(i)) if self.wants(id::NET_PACKET_ICMP) => {
                let b58 = i.bytes5to8();
                let echo = matches!(i.type_u8(), 0 | 8 | 13 | 14 | 15 | 16);
                let (ident, seq) = if echo {
                    (
                        u16::from_be_bytes([b58[0], b58[1]]),
                        u16::from_be_bytes([b58[2], b58[3]]),
                    )
                } else {
                    (0, 0)
                };
                let proto = json!({
                    "typeCode": icmp4_name(i.type_u8(), i.code_u8()),
                    "checksum": i.checksum(),
                    "id": ident,
                    "seq": seq,
                });
                out.push(addrs(ev_of(id::NET_PACKET_ICMP), &s, &d, &meta, &proto));
            }
            Some(TransportSlice::Icmpv6(i)) if self.wants(id::NET_PACKET_ICMPV6) => {
                let proto = json!({
                    "typeCode": icmp6_name(i.type_u8(), i.code_u8()),
                    "checksum": i.checksum(),
                });
                out.push(addrs(ev_of(id::NET_PACKET_ICMPV6), &s, &d, &meta, &proto));
            }
            _ => {}
        }
    }

    /// Flow begin (the SYN-ACK) and end (the first FIN or RST of a flow
    /// seen begin), src being the side that opened the connection.
    #[allow(clippy::too_many_arguments)]
    fn flow(
        &mut self,
        ev: &EventSlice<'_>,
        b: &Base<'_>,
        e: &Ends,
        syn: bool,
        ack: bool,
        end: bool,
        out: &mut Vec<Vec<u8>>,
    ) {
        let (begin_w, end_w) = (
            self.wants(id::NET_FLOW_TCP_BEGIN),
            self.wants(id::NET_FLOW_TCP_END),
        );
        if !begin_w && !end_w {
            return;
        }
        let pid = ev.pid();
        // The SYN-ACK comes from the side that was connected to.
        let fwd = FlowKey {
            pid,
            src: e.src,
            dst: e.dst,
            sport: e.sport,
            dport: e.dport,
        };
        let rev = FlowKey {
            pid,
            src: e.dst,
            dst: e.src,
            sport: e.dport,
            dport: e.sport,
        };
        let (key, incoming, which) = if syn && ack {
            // Received: we connected (outgoing); sent: we were connected to.
            let incoming = !b.ingress;
            if self.flows.len() >= FLOWS_MAX {
                let drop: Vec<FlowKey> = self.flows.keys().take(FLOWS_MAX / 2).copied().collect();
                for k in drop {
                    self.flows.remove(&k);
                }
            }
            if self.flows.insert(rev, incoming).is_some() {
                return;
            }
            (rev, incoming, id::NET_FLOW_TCP_BEGIN)
        } else if end {
            match (self.flows.remove(&fwd), self.flows.remove(&rev)) {
                (Some(i), _) => (fwd, i, id::NET_FLOW_TCP_END),
                (_, Some(i)) => (rev, i, id::NET_FLOW_TCP_END),
                _ => return,
            }
        } else {
            return;
        };
        if (which == id::NET_FLOW_TCP_BEGIN && !begin_w)
            || (which == id::NET_FLOW_TCP_END && !end_w)
        {
            return;
        }
        out.push(
            EventBuilder::derived(ev, which)
                .str(0, if incoming { "incoming" } else { "outgoing" })
                .str(1, &key.src.to_string())
                .str(2, &key.dst.to_string())
                .scalar(3, u64::from(key.sport))
                .scalar(4, u64::from(key.dport))
                .strs(5, &[])
                .strs(6, &[])
                .finish(),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn dns(
        &mut self,
        ev: &EventSlice<'_>,
        msg: &[u8],
        s: &str,
        d: &str,
        e: &Ends,
        meta: &Value,
        out: &mut Vec<Vec<u8>>,
    ) {
        let want = [
            id::NET_PACKET_DNS,
            id::NET_PACKET_DNS_REQUEST,
            id::NET_PACKET_DNS_RESPONSE,
        ];
        if !want.iter().any(|&i| self.wants(i)) || msg.len() < 12 {
            return;
        }
        let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
        let (flags, qd, an) = (word(2), word(4), word(6));
        let qr = flags >> 15;
        let records: u32 = [4, 6, 8, 10].iter().map(|&i| u32::from(word(i))).sum();
        let header = |questions: Value, answers: Value, authorities: Value, additionals: Value| {
            json!({
                "ID": word(0),
                "QR": qr,
                "opCode": opcode_name((flags >> 11) & 0xf),
                "AA": (flags >> 10) & 1,
                "TC": (flags >> 9) & 1,
                "RD": (flags >> 8) & 1,
                "RA": (flags >> 7) & 1,
                "Z": (flags >> 4) & 7,
                "responseCode": rcode_name(flags & 0xf),
                "QDCount": qd,
                "ANCount": an,
                "NSCount": word(8),
                "ARCount": word(10),
                "questions": questions,
                "answers": answers,
                "authorities": authorities,
                "additionals": additionals,
            })
        };
        if records > DNS_RECORDS_MAX {
            // Parsing names costs up to the number of records per name
            // (compression pointers chain back): a message claiming more
            // is shown by its header alone, said so.
            if self.wants(id::NET_PACKET_DNS) {
                let mut proto = header(json!([]), json!([]), json!([]), json!([]));
                proto["recordsNotParsed"] = json!(records);
                out.push(ports(
                    EventBuilder::derived(ev, id::NET_PACKET_DNS),
                    s,
                    d,
                    e,
                    meta,
                    &proto,
                ));
            }
            return;
        }
        let Ok(p) = simple_dns::Packet::parse(msg) else {
            return;
        };
        let questions: Vec<Value> = p
            .questions
            .iter()
            .map(|q| {
                json!({
                    "name": q.qname.to_string(),
                    "type": qtype_name(q.qtype),
                    "class": qclass_name(q.qclass),
                })
            })
            .collect();
        if self.wants(id::NET_PACKET_DNS) {
            let mut additionals: Vec<Value> = p.additional_records.iter().map(rr).collect();
            if let Some(opt) = p.opt() {
                additionals.push(json!({
                    "name": "",
                    "type": "OPT",
                    "class": "Unknown",
                    "TTL": 0,
                    "OPT": opt.opt_codes.iter().map(|o| json!({
                        "code": o.code.to_string(),
                        "data": String::from_utf8_lossy(&o.data),
                    })).collect::<Vec<_>>(),
                }));
            }
            let mut proto = header(
                json!(questions),
                json!(p.answers.iter().map(rr).collect::<Vec<_>>()),
                json!(p.name_servers.iter().map(rr).collect::<Vec<_>>()),
                json!(additionals),
            );
            fit(&mut proto, |v| {
                let Value::Object(o) = v else { return vec![] };
                o.iter_mut()
                    .filter(|(k, _)| {
                        matches!(k.as_str(), "answers" | "authorities" | "additionals")
                    })
                    .map(|(_, v)| v)
                    .collect()
            });
            out.push(ports(
                EventBuilder::derived(ev, id::NET_PACKET_DNS),
                s,
                d,
                e,
                meta,
                &proto,
            ));
        }
        if p.questions.len() != 1 || usize::from(qd) != 1 {
            return;
        }
        let query = json!({
            "query": p.questions[0].qname.to_string(),
            "query_type": qtype_name(p.questions[0].qtype),
            "query_class": qclass_name(p.questions[0].qclass),
        });
        let pkt_meta = pkt_meta(e);
        if qr == 0 && self.wants(id::NET_PACKET_DNS_REQUEST) {
            out.push(
                EventBuilder::derived(ev, id::NET_PACKET_DNS_REQUEST)
                    .json(0, &pkt_meta)
                    .json(1, &json!([query]))
                    .finish(),
            );
        }
        if qr == 1 && self.wants(id::NET_PACKET_DNS_RESPONSE) {
            let answers: Vec<Value> = p
                .answers
                .iter()
                .map(|a| {
                    json!({
                        "answer_type": rtype_name(&a.rdata),
                        "ttl": a.ttl,
                        "answer": answer_text(&a.rdata),
                    })
                })
                .collect();
            let mut resp = json!([{ "query_data": query, "dns_answer": answers }]);
            fit(&mut resp, |v| {
                v[0].get_mut("dns_answer").into_iter().collect()
            });
            out.push(
                EventBuilder::derived(ev, id::NET_PACKET_DNS_RESPONSE)
                    .json(0, &pkt_meta)
                    .json(1, &resp)
                    .finish(),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn http(
        &mut self,
        ev: &EventSlice<'_>,
        payload: &[u8],
        s: &str,
        d: &str,
        e: &Ends,
        meta: &Value,
        out: &mut Vec<Vec<u8>>,
    ) {
        let want = [
            id::NET_PACKET_HTTP,
            id::NET_PACKET_HTTP_REQUEST,
            id::NET_PACKET_HTTP_RESPONSE,
        ];
        if payload.len() < 7 || !want.iter().any(|&i| self.wants(i)) {
            return;
        }
        // Leading empty lines are allowed before a message (RFC 9112 2.2).
        let mut payload = payload;
        while let Some(rest) = payload.strip_prefix(b"\r\n") {
            payload = rest;
        }
        if payload.len() < 7 {
            return;
        }
        let is_resp = payload.starts_with(b"HTTP/");
        let is_req = [
            &b"GET "[..],
            b"POST ",
            b"PUT ",
            b"DELETE ",
            b"HEAD ",
            b"PATCH ",
            b"OPTIONS ",
        ]
        .iter()
        .any(|m| payload.starts_with(m));
        if !is_resp && !is_req {
            return;
        }
        // As many header slots as the payload has lines: every header is
        // parsed, however many a sender puts in.
        let lines = payload.iter().filter(|&&b| b == b'\n').count() + 1;
        let mut headers = vec![httparse::EMPTY_HEADER; lines];
        let (mut fields, hdrs) = if is_req {
            let mut r = httparse::Request::new(&mut headers);
            if r.parse(payload).is_err() {
                return;
            }
            let path = r.path.unwrap_or("");
            let uri_path = path.split(['?', '#']).next().unwrap_or("");
            let f = json!({
                "direction": "request",
                "method": r.method.unwrap_or(""),
                "protocol": format!("HTTP/1.{}", r.version.unwrap_or(1)),
                "host": "",
                "uri_path": uri_path,
                "status": "",
                "status_code": 0,
            });
            (f, header_map(r.headers))
        } else {
            let mut r = httparse::Response::new(&mut headers);
            if r.parse(payload).is_err() {
                return;
            }
            let code = r.code.unwrap_or(0);
            let f = json!({
                "direction": "response",
                "method": "",
                "protocol": format!("HTTP/1.{}", r.version.unwrap_or(1)),
                "host": "",
                "uri_path": "",
                "status": format!("{code} {}", r.reason.unwrap_or("")),
                "status_code": code,
            });
            (f, header_map(r.headers))
        };
        // Go's reader takes Host out of the headers into its own field.
        let (mut hdrs, host) = hdrs;
        if is_req {
            fields["host"] = Value::String(host.unwrap_or_default());
        }
        let content_length = hdrs
            .get("Content-Length")
            .and_then(|v| v.first())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(if is_req { 0 } else { -1 });
        fields["content_length"] = json!(content_length);
        if is_req {
            hdrs.remove("Host");
        }
        fields["headers"] = json!(hdrs);
        if self.wants(id::NET_PACKET_HTTP) {
            out.push(ports(
                EventBuilder::derived(ev, id::NET_PACKET_HTTP),
                s,
                d,
                e,
                meta,
                &fields,
            ));
        }
        let pm = pkt_meta(e);
        let pick = |keys: &[&str]| {
            let mut m = serde_json::Map::new();
            for k in keys {
                m.insert(k.to_string(), fields[*k].clone());
            }
            Value::Object(m)
        };
        if is_req && self.wants(id::NET_PACKET_HTTP_REQUEST) {
            let r = pick(&[
                "method",
                "protocol",
                "host",
                "uri_path",
                "headers",
                "content_length",
            ]);
            out.push(
                EventBuilder::derived(ev, id::NET_PACKET_HTTP_REQUEST)
                    .json(0, &pm)
                    .json(1, &r)
                    .finish(),
            );
        }
        if is_resp && self.wants(id::NET_PACKET_HTTP_RESPONSE) {
            let r = pick(&[
                "status",
                "status_code",
                "protocol",
                "headers",
                "content_length",
            ]);
            out.push(
                EventBuilder::derived(ev, id::NET_PACKET_HTTP_RESPONSE)
                    .json(0, &pm)
                    .json(1, &r)
                    .finish(),
            );
        }
    }

    /// `net_tcp_connect` from a `security_socket_connect` record: a stream
    /// socket connecting to an IPv4 or IPv6 address.
    pub fn tcp_connect(&self, ev: &EventSlice<'_>) -> Option<Vec<u8>> {
        if !self.wants(id::NET_TCP_CONNECT) {
            return None;
        }
        const SOCK_STREAM: u64 = 1;
        if ev.arg(1)?.scalar() & 0xf != SOCK_STREAM {
            return None;
        }
        let sa = ev.arg(2)?.data;
        let family = u16::from_le_bytes([*sa.first()?, *sa.get(1)?]);
        let (addr, port) = match family {
            2 if sa.len() >= 8 => (
                IpAddr::V4(Ipv4Addr::new(sa[4], sa[5], sa[6], sa[7])),
                u16::from_be_bytes([sa[2], sa[3]]),
            ),
            10 if sa.len() >= 24 => {
                let a: [u8; 16] = sa[8..24].try_into().ok()?;
                (
                    IpAddr::V6(Ipv6Addr::from(a)),
                    u16::from_be_bytes([sa[2], sa[3]]),
                )
            }
            _ => return None,
        };
        Some(
            EventBuilder::derived(ev, id::NET_TCP_CONNECT)
                .str(0, &addr.to_string())
                .scalar(1, u64::from(port))
                .strs(2, &[])
                .finish(),
        )
    }
}

/// Records a DNS message may claim and still be parsed whole.
const DNS_RECORDS_MAX: u32 = 256;
/// The longest JSON argument (an item's length is 16 bits).
const JSON_MAX: usize = u16::MAX as usize;

/// Makes `v` fit an item: halves the longest of the lists `lists` picks
/// until it does, and says so (`"truncated": true` in the object, or in
/// the first element of an array), so that the rest (a DNS message's
/// questions) is never lost to its answers' size.
fn fit(v: &mut Value, lists: impl Fn(&mut Value) -> Vec<&mut Value>) {
    let mut cut = false;
    while v.to_string().len() > JSON_MAX {
        let mut ls = lists(v);
        let Some(longest) = ls
            .iter_mut()
            .filter_map(|l| l.as_array_mut())
            .filter(|a| !a.is_empty())
            .max_by_key(|a| a.len())
        else {
            break;
        };
        let n = longest.len() / 2;
        longest.truncate(n);
        cut = true;
    }
    if cut {
        match v {
            Value::Array(a) => {
                if let Some(Value::Object(o)) = a.first_mut() {
                    o.insert("truncated".into(), Value::Bool(true));
                }
            }
            Value::Object(o) => {
                o.insert("truncated".into(), Value::Bool(true));
            }
            _ => {}
        }
    }
}

/// Adds a JSON argument to an event being built.
trait JsonArg {
    fn json(self, index: u8, v: &Value) -> Self;
}

impl JsonArg for EventBuilder {
    fn json(self, index: u8, v: &Value) -> Self {
        let s = v.to_string();
        if s.len() > usize::from(u16::MAX) {
            // Never seen (a packet is at most 64 KiB): said, not cut into
            // invalid JSON.
            return self.item(index, item::STR | item::TRUNCATED, b"null");
        }
        self.item(index, item::STR, s.as_bytes())
    }
}

/// src, dst, metadata, then the protocol's object.
fn addrs(b: EventBuilder, s: &str, d: &str, meta: &Value, proto: &Value) -> Vec<u8> {
    b.str(0, s).str(1, d).json(2, meta).json(3, proto).finish()
}

/// src, dst, src_port, dst_port, metadata, then the protocol's object.
fn ports(b: EventBuilder, s: &str, d: &str, e: &Ends, meta: &Value, proto: &Value) -> Vec<u8> {
    b.str(0, s)
        .str(1, d)
        .scalar(2, u64::from(e.sport))
        .scalar(3, u64::from(e.dport))
        .json(4, meta)
        .json(5, proto)
        .finish()
}

/// Tracee's `PktMeta`.
fn pkt_meta(e: &Ends) -> Value {
    json!({
        "src_ip": e.src.to_string(),
        "dst_ip": e.dst.to_string(),
        "src_port": e.sport,
        "dst_port": e.dport,
        "protocol": e.proto,
        "packet_len": e.ip_len,
        "iface": "any",
    })
}

/// Headers as Go's `http.Header` (canonical keys, values in order), and
/// the Host header's value.
fn header_map(
    h: &[httparse::Header<'_>],
) -> (
    std::collections::BTreeMap<String, Vec<String>>,
    Option<String>,
) {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut host = None;
    for x in h.iter().filter(|x| !x.name.is_empty()) {
        let key = canonical(x.name);
        let val = String::from_utf8_lossy(x.value).into_owned();
        if key == "Host" && host.is_none() {
            host = Some(val.clone());
        }
        m.entry(key).or_default().push(val);
    }
    (m, host)
}

/// A MIME header key as Go canonicalises it: `content-length` →
/// `Content-Length`.
fn canonical(k: &str) -> String {
    let mut up = true;
    k.chars()
        .map(|c| {
            let r = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            r
        })
        .collect()
}

fn proto_name(p: IpNumber) -> String {
    match p.0 {
        1 => "ICMPv4".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPv6".into(),
        _ => p
            .keyword_str()
            .map_or_else(|| p.0.to_string(), str::to_string),
    }
}

/// gopacket's DNS opcode names, lowercased (Tracee's).
fn opcode_name(o: u16) -> String {
    match o {
        0 => "query".into(),
        1 => "iquery".into(),
        2 => "status".into(),
        4 => "notify".into(),
        5 => "update".into(),
        _ => format!("unknown opcode ({o})"),
    }
}

fn rcode_name(r: u16) -> String {
    match r {
        0 => "no error",
        1 => "format error",
        2 => "server failure",
        3 => "non-existent domain",
        4 => "not implemented",
        5 => "query refused",
        _ => return format!("unknown({r})"),
    }
    .into()
}

fn qtype_name(q: simple_dns::QTYPE) -> String {
    match q {
        simple_dns::QTYPE::TYPE(t) => type_name(t),
        other => format!("{other:?}"),
    }
}

fn type_name(t: simple_dns::TYPE) -> String {
    let s = format!("{t:?}");
    if s.starts_with("Unknown") {
        "Unknown".into()
    } else {
        s
    }
}

fn qclass_name(c: simple_dns::QCLASS) -> String {
    match c {
        simple_dns::QCLASS::CLASS(c) => format!("{c:?}"),
        other => format!("{other:?}"),
    }
}

fn rtype_name(r: &RData<'_>) -> String {
    type_name(r.type_code())
}

/// A resource record as Tracee's `ProtoDNSResourceRecord`, with `data`
/// (beyond Tracee) rendering record types Tracee has no field for.
fn rr(r: &simple_dns::ResourceRecord<'_>) -> Value {
    let mut v = json!({
        "name": r.name.to_string(),
        "type": rtype_name(&r.rdata),
        "class": format!("{:?}", r.class),
        "TTL": r.ttl,
        "IP": "",
        "NS": "",
        "CNAME": "",
        "PTR": "",
        "TXTs": [],
        "SOA": {"MName": "", "RName": "", "serial": 0, "refresh": 0, "retry": 0, "expire": 0, "minimum": 0},
        "SRV": {"priority": 0, "weight": 0, "port": 0, "name": ""},
        "MX": {"preference": 0, "name": ""},
        "OPT": [],
        "URI": {"priority": 0, "weight": 0, "target": ""},
        "TXT": "",
    });
    match &r.rdata {
        RData::A(a) => v["IP"] = json!(Ipv4Addr::from(a.address).to_string()),
        RData::AAAA(a) => v["IP"] = json!(Ipv6Addr::from(a.address).to_string()),
        RData::NS(n) => v["NS"] = json!(n.0.to_string()),
        RData::CNAME(n) => v["CNAME"] = json!(n.0.to_string()),
        RData::PTR(n) => v["PTR"] = json!(n.0.to_string()),
        RData::MX(m) => {
            v["MX"] = json!({"preference": m.preference, "name": m.exchange.to_string()})
        }
        RData::SRV(s) => {
            v["SRV"] = json!({"priority": s.priority, "weight": s.weight, "port": s.port, "name": s.target.to_string()})
        }
        RData::SOA(s) => {
            v["SOA"] = json!({
                "MName": s.mname.to_string(), "RName": s.rname.to_string(), "serial": s.serial,
                "refresh": s.refresh, "retry": s.retry, "expire": s.expire, "minimum": s.minimum,
            })
        }
        RData::TXT(t) => {
            let parts: Vec<String> = t
                .iter_raw()
                .map(|(k, val)| match val {
                    Some(val) => format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(val)
                    ),
                    None => String::from_utf8_lossy(k).into_owned(),
                })
                .collect();
            v["TXT"] = json!(parts.concat());
            v["TXTs"] = json!(parts);
        }
        other => v["data"] = json!(format!("{other:?}")),
    }
    v
}

/// `dns_answer.answer`: Tracee's for A, AAAA, NS, CNAME, PTR, MX and TXT;
/// the crate's rendering of any other type (Tracee says "not implemented").
fn answer_text(r: &RData<'_>) -> String {
    match r {
        RData::A(a) => Ipv4Addr::from(a.address).to_string(),
        RData::AAAA(a) => Ipv6Addr::from(a.address).to_string(),
        RData::NS(n) => n.0.to_string(),
        RData::CNAME(n) => n.0.to_string(),
        RData::PTR(n) => n.0.to_string(),
        RData::MX(m) => m.exchange.to_string(),
        RData::TXT(t) => t
            .iter_raw()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect(),
        other => format!("{other:?}"),
    }
}

/// gopacket's names for ICMPv4 types and codes.
fn icmp4_name(t: u8, c: u8) -> String {
    let name = match t {
        0 => "EchoReply",
        3 => "DestinationUnreachable",
        4 => "SourceQuench",
        5 => "Redirect",
        8 => "EchoRequest",
        9 => "RouterAdvertisement",
        10 => "RouterSolicitation",
        11 => "TimeExceeded",
        12 => "ParameterProblem",
        13 => "TimestampRequest",
        14 => "TimestampReply",
        15 => "InfoRequest",
        16 => "InfoReply",
        17 => "AddressMaskRequest",
        18 => "AddressMaskReply",
        _ => return format!("{t}({c})"),
    };
    let code = match (t, c) {
        (3, 0) => "Net",
        (3, 1) => "Host",
        (3, 2) => "Protocol",
        (3, 3) => "Port",
        (3, 4) => "FragmentationNeeded",
        (3, 5) => "SourceRoutingFailed",
        (3, 13) => "CommAdminProhibited",
        (11, 0) => "TTLExceeded",
        (11, 1) => "FragmentReassemblyTimeExceeded",
        (5, 0) => "Network",
        (5, 1) => "Host",
        (_, 0) => return name.into(),
        _ => return format!("{name}(Code: {c})"),
    };
    format!("{name}({code})")
}

/// gopacket's names for ICMPv6 types and codes.
fn icmp6_name(t: u8, c: u8) -> String {
    let name = match t {
        1 => "DestinationUnreachable",
        2 => "PacketTooBig",
        3 => "TimeExceeded",
        4 => "ParameterProblem",
        128 => "EchoRequest",
        129 => "EchoReply",
        133 => "RouterSolicitation",
        134 => "RouterAdvertisement",
        135 => "NeighborSolicitation",
        136 => "NeighborAdvertisement",
        137 => "Redirect",
        143 => "MLDv2MulticastListenerReportMessageV2",
        _ => return format!("{t}({c})"),
    };
    let code = match (t, c) {
        (1, 0) => "NoRouteToDst",
        (1, 1) => "AdminProhibited",
        (1, 3) => "Unreachable",
        (1, 4) => "PortUnreachable",
        (3, 0) => "HopLimitExceeded",
        (_, 0) => return name.into(),
        _ => return format!("{name}(Code: {c})"),
    };
    format!("{name}({code})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::EventContext;

    /// The events a packet (an IPv4 packet, sent) gives with every
    /// network event selected, as (id, arguments' JSON or text).
    fn derive(pkt: &[u8]) -> Vec<(u32, Vec<String>)> {
        let ctx = EventContext {
            event_id: id::NET_PACKET_BASE,
            ..Default::default()
        };
        let rec = EventBuilder::new(&ctx)
            .scalar(0, 0)
            .scalar(1, pkt.len() as u64)
            .item(2, item::BYTES, pkt)
            .finish();
        let (r, _) = wire::RecordSlice::from_slice(&rec, 0).unwrap();
        let ev = EventSlice::from_record(r).unwrap();
        let mut d = Deriver::new(&super::super::PACKET_EVENTS.into_iter().collect());
        let mut out = Vec::new();
        d.packet(&ev, &mut out);
        out.iter()
            .map(|o| {
                let (r, _) = wire::RecordSlice::from_slice(o, 0).unwrap();
                let e = EventSlice::from_record(r).unwrap();
                let args = e
                    .args()
                    .map(|a| String::from_utf8_lossy(a.unwrap().data).into_owned())
                    .collect();
                (e.event_id(), args)
            })
            .collect()
    }

    fn udp4(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let b =
            etherparse::PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64).udp(sport, dport);
        let mut v = Vec::new();
        b.write(&mut v, data).unwrap();
        v
    }

    fn tcp4(data: &[u8]) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 8080, 1, 1000);
        let mut v = Vec::new();
        b.write(&mut v, data).unwrap();
        v
    }

    /// A DNS message: header, then `q` questions named "a.test", each
    /// after the first a pointer to the one before (a chain a parser walks
    /// whole for every name), then `an` A answers to the first.
    fn dns(qr: bool, q: u16, an: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, if qr { 0x81 } else { 0x01 }, 0x80];
        for n in [q, an, 0, 0] {
            m.extend_from_slice(&n.to_be_bytes());
        }
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        let mut prev = 12u16;
        for _ in 1..q {
            let here = m.len() as u16;
            m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
            m.extend_from_slice(b"\x00\x01\x00\x01");
            prev = here;
        }
        for i in 0..an {
            m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04");
            m.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
        }
        m
    }

    #[test]
    fn a_dns_query_and_answer_in_tracees_shapes() {
        let evs = derive(&udp4(40000, 53, &dns(false, 1, 0)));
        let req = evs
            .iter()
            .find(|e| e.0 == id::NET_PACKET_DNS_REQUEST)
            .unwrap();
        let q: Value = serde_json::from_str(&req.1[1]).unwrap();
        assert_eq!(q[0]["query"], "a.test");
        assert_eq!(q[0]["query_type"], "A");
        let evs = derive(&udp4(53, 40000, &dns(true, 1, 2)));
        let resp = evs
            .iter()
            .find(|e| e.0 == id::NET_PACKET_DNS_RESPONSE)
            .unwrap();
        let r: Value = serde_json::from_str(&resp.1[1]).unwrap();
        assert_eq!(r[0]["dns_answer"][1]["answer"], "10.0.0.1");
        let all = evs.iter().find(|e| e.0 == id::NET_PACKET_DNS).unwrap();
        let p: Value = serde_json::from_str(&all.1[5]).unwrap();
        assert_eq!(p["opCode"], "query");
        assert_eq!(p["responseCode"], "no error");
        assert_eq!(p["ANCount"], 2);
    }

    /// A message claiming thousands of records (a chain of pointers each
    /// name walks whole) is shown by its header, not parsed: the cost per
    /// packet stays bounded.
    #[test]
    fn a_dns_pointer_chain_bomb_is_not_parsed() {
        let m = dns(false, 3000, 0);
        let evs = derive(&udp4(40000, 53, &m[..m.len().min(65000)]));
        let all = evs.iter().find(|e| e.0 == id::NET_PACKET_DNS).unwrap();
        let p: Value = serde_json::from_str(&all.1[5]).unwrap();
        assert_eq!(p["QDCount"], 3000);
        assert_eq!(p["recordsNotParsed"], 3000);
        assert_eq!(p["questions"], json!([]));
        assert!(!evs.iter().any(|e| e.0 == id::NET_PACKET_DNS_REQUEST));
    }

    /// Answers too many for one argument are cut, said so, and the
    /// question stays.
    #[test]
    fn a_dns_answer_too_large_for_an_argument_keeps_its_question() {
        let evs = derive(&udp4(53, 40000, &dns(true, 1, 250)));
        let resp = evs
            .iter()
            .find(|e| e.0 == id::NET_PACKET_DNS_RESPONSE)
            .unwrap();
        let r: Value = serde_json::from_str(&resp.1[1]).unwrap();
        assert_eq!(r[0]["query_data"]["query"], "a.test");
        let all = evs.iter().find(|e| e.0 == id::NET_PACKET_DNS).unwrap();
        let p: Value = serde_json::from_str(&all.1[5]).unwrap();
        assert_eq!(p["questions"][0]["name"], "a.test");
        assert_eq!(p["truncated"], true);
        assert!(p["answers"].as_array().unwrap().len() < 250);
    }

    /// Many headers, and empty lines before the request line.
    #[test]
    fn http_with_many_headers_or_leading_empty_lines_is_parsed() {
        let mut req = b"\r\n\r\nGET /x HTTP/1.1\r\nHost: h.test\r\n".to_vec();
        for i in 0..100 {
            req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let evs = derive(&tcp4(&req));
        let r = evs
            .iter()
            .find(|e| e.0 == id::NET_PACKET_HTTP_REQUEST)
            .unwrap();
        let h: Value = serde_json::from_str(&r.1[1]).unwrap();
        assert_eq!(h["host"], "h.test");
        assert_eq!(h["uri_path"], "/x");
        assert_eq!(h["headers"]["X-H99"][0], "v");
    }
}
