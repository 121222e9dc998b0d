//! Packets: what the kernel's packet programs are told to send, the
//! `net_*` events derived from the `net_packet_base` records they send
//! ([`derive`]), and the packets handed to tracee-capture for pcaps
//! ([`pcap`]).
//!
//! The kernel (`ebpf/src/net.rs`) sends every IPv4 and IPv6 packet of the
//! processes in scope, attributed to its socket's owner, with as many of
//! its first bytes as something selected needs: the L3 and L4 headers for
//! the header events and flows, DNS and ICMP packets whole, the first
//! [`kcfg::net::HTTP_SNAP`] bytes of HTTP, and what the pcap snap length
//! keeps. Everything is parsed here, with `etherparse` (headers),
//! `simple-dns` (DNS) and `httparse` (HTTP).

pub mod derive;
pub mod pcap;

use std::collections::BTreeSet;

use wire::event_id as id;
use wire::kcfg;

pub use self::derive::Deriver;
pub use self::pcap::PcapCfg;

/// The events derived from packets.
pub const PACKET_EVENTS: [u32; 14] = [
    id::NET_PACKET_IPV4,
    id::NET_PACKET_IPV6,
    id::NET_PACKET_TCP,
    id::NET_PACKET_UDP,
    id::NET_PACKET_ICMP,
    id::NET_PACKET_ICMPV6,
    id::NET_PACKET_DNS,
    id::NET_PACKET_DNS_REQUEST,
    id::NET_PACKET_DNS_RESPONSE,
    id::NET_PACKET_HTTP,
    id::NET_PACKET_HTTP_REQUEST,
    id::NET_PACKET_HTTP_RESPONSE,
    id::NET_FLOW_TCP_BEGIN,
    id::NET_FLOW_TCP_END,
];

/// Bytes of a packet that hold its L3 and L4 headers: an IPv4 header with
/// options (60) and a TCP header with options (60); an IPv6 header (40)
/// leaves room for 20 bytes of extension headers.
pub const HEADERS: u32 = 120;

/// What the kernel's packet programs send: `NET_SNAP` and `NET_FLAGS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kernel {
    pub snap: u32,
    pub flags: u32,
}

/// What the kernel must send for the selected `events` and the pcap
/// options; None when nothing needs packets (the programs stay detached).
pub fn kernel(events: &BTreeSet<u32>, pcap: Option<&PcapCfg>) -> Option<Kernel> {
    let has = |ids: &[u32]| ids.iter().any(|i| events.contains(i));
    let packets = has(&PACKET_EVENTS);
    if !packets && pcap.is_none() {
        return None;
    }
    let mut k = Kernel::default();
    if has(&[
        id::NET_PACKET_IPV4,
        id::NET_PACKET_IPV6,
        id::NET_PACKET_TCP,
        id::NET_PACKET_UDP,
        id::NET_FLOW_TCP_BEGIN,
        id::NET_FLOW_TCP_END,
    ]) {
        k.snap = HEADERS;
    }
    if has(&[
        id::NET_PACKET_DNS,
        id::NET_PACKET_DNS_REQUEST,
        id::NET_PACKET_DNS_RESPONSE,
    ]) {
        k.flags |= kcfg::net::DNS_WHOLE;
    }
    if has(&[id::NET_PACKET_ICMP, id::NET_PACKET_ICMPV6]) {
        k.flags |= kcfg::net::ICMP_WHOLE;
    }
    if has(&[
        id::NET_PACKET_HTTP,
        id::NET_PACKET_HTTP_REQUEST,
        id::NET_PACKET_HTTP_RESPONSE,
    ]) {
        k.flags |= kcfg::net::HTTP;
    }
    if let Some(p) = pcap {
        if !p.filtered {
            // Every packet, DNS and ICMP whole (Tracee's snap lengths).
            k.snap = k.snap.max(p.kernel_snap());
            k.flags |= kcfg::net::DNS_WHOLE | kcfg::net::ICMP_WHOLE;
        } else if k.snap > 0 {
            // Only the packets a selected event comes from: those the
            // events take at all, as long as the snap length keeps them.
            k.snap = k.snap.max(p.kernel_snap());
        }
    }
    Some(k)
}
