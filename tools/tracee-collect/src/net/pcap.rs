//! `--capture` network options (Tracee's), and each packet cut to the
//! snap length as it goes to tracee-capture.

use etherparse::{IpNumber, Ipv4Header, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use wire::capture::pcap_split;

use super::HEADERS;

/// What goes into pcaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapCfg {
    /// Which files (`wire::capture::pcap_split` bits).
    pub split: u8,
    /// Only the packets a selected event (that passed the filter) comes
    /// from (`pcap-options:filtered`).
    pub filtered: bool,
    /// Payload bytes kept after the L4 header (DNS and ICMP are kept
    /// whole); None keeps every packet whole (`max`).
    pub payload: Option<u32>,
}

impl Default for PcapCfg {
    fn default() -> Self {
        PcapCfg {
            split: pcap_split::SINGLE,
            filtered: false,
            payload: Some(96),
        }
    }
}

/// The largest packet kept (a packet record's bound).
const MAX: u32 = wire::capture::MAX_PACKET as u32;

impl PcapCfg {
    /// The bytes the kernel copies of every packet for this snap length:
    /// the headers and the payload kept (the cut to the exact header
    /// length is made here).
    pub fn kernel_snap(&self) -> u32 {
        match self.payload {
            None => MAX,
            Some(n) => (HEADERS + n).min(MAX),
        }
    }

    /// Parses one `--capture` value if it is a network one: Ok(false) if
    /// it is not.
    pub fn parse(pcap: &mut Option<PcapCfg>, o: &str) -> Result<bool, String> {
        let (key, val) = match o.split_once(':') {
            Some((k, v)) => (k, Some(v)),
            None => (o, None),
        };
        match (key, val) {
            ("network" | "net" | "pcap", None) => {
                pcap.get_or_insert_with(PcapCfg::default);
            }
            ("pcap", Some(list)) => {
                let p = pcap.get_or_insert_with(PcapCfg::default);
                let mut split = 0;
                for f in list.split(',') {
                    split |= match f {
                        "single" => pcap_split::SINGLE,
                        "process" => pcap_split::PROCESS,
                        "container" => pcap_split::CONTAINER,
                        "command" => pcap_split::COMMAND,
                        _ => {
                            return Err(format!(
                                "--capture {o}: '{f}' is not a pcap split (single, process, container, command)"
                            ));
                        }
                    };
                }
                p.split = split;
            }
            ("pcap-options", Some(v)) => {
                let p = pcap.get_or_insert_with(PcapCfg::default);
                p.filtered = match v.to_ascii_lowercase().as_str() {
                    "none" => false,
                    "filtered" => true,
                    _ => return Err(format!("--capture {o}: pcap-options is none or filtered")),
                };
            }
            ("pcap-snaplen", Some(v)) => {
                let p = pcap.get_or_insert_with(PcapCfg::default);
                p.payload = snaplen(v).ok_or_else(|| {
                    format!(
                        "--capture {o}: pcap-snaplen is default, headers, max, <N>b or <N>kb (up to 65535 bytes)"
                    )
                })?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Tracee's snap lengths: the payload kept after the headers, None for
/// the whole packet.
fn snaplen(v: &str) -> Option<Option<u32>> {
    let v = v.to_ascii_lowercase();
    Some(match v.as_str() {
        "default" => Some(96),
        "headers" => Some(0),
        "max" => None,
        _ => {
            let (n, unit) = if let Some(n) = v.strip_suffix("kb") {
                (n, 1024)
            } else if let Some(n) = v.strip_suffix('b') {
                (n, 1)
            } else {
                return None;
            };
            let n: u64 = n.parse().ok()?;
            let bytes = n.checked_mul(unit)?;
            if bytes > u64::from(MAX) {
                return None;
            }
            Some(bytes as u32)
        }
    })
}

/// How many bytes of `pkt` (an IPv4 or IPv6 packet, perhaps already cut
/// by the kernel) the snap length keeps: the L3 and L4 headers and
/// `payload` bytes; DNS and ICMP whole; everything for `None`.
pub fn keep(pkt: &[u8], payload: Option<u32>) -> usize {
    let Some(payload) = payload else {
        return pkt.len();
    };
    let Ok(p) = LaxSlicedPacket::from_ip(pkt) else {
        return pkt.len().min(payload as usize);
    };
    let l3 = match &p.net {
        Some(LaxNetSlice::Ipv4(s)) => pkt.len() - s.payload().payload.len(),
        Some(LaxNetSlice::Ipv6(s)) => pkt.len() - s.payload().payload.len(),
        _ => return pkt.len().min(payload as usize),
    };
    let headers = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            if is_dns(t.source_port(), t.destination_port()) {
                return pkt.len();
            }
            l3 + t.header_slice().len()
        }
        Some(TransportSlice::Udp(u)) => {
            if is_dns(u.source_port(), u.destination_port()) {
                return pkt.len();
            }
            l3 + 8
        }
        Some(TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_)) => return pkt.len(),
        _ => l3,
    };
    (headers + payload as usize).min(pkt.len())
}

pub(crate) fn is_dns(sport: u16, dport: u16) -> bool {
    sport.min(dport) == 53
}

/// Cuts `pkt` to `keep` bytes and rewrites the length fields of the IP
/// header (and its checksum) and of a UDP header to what was kept, so
/// that a reader sees a whole, shorter packet, not a malformed one.
pub fn cut(pkt: &[u8], keep: usize) -> Vec<u8> {
    let kept = &pkt[..keep.min(pkt.len())];
    let mut out = kept.to_vec();
    let Ok(p) = LaxSlicedPacket::from_ip(kept) else {
        return out;
    };
    let n = out.len();
    let (l3, udp) = match &p.net {
        Some(LaxNetSlice::Ipv4(s)) => {
            let h = s.header();
            if usize::from(h.total_len()) <= n {
                return out;
            }
            (
                n - s.payload().payload.len(),
                s.payload().ip_number == IpNumber::UDP,
            )
        }
        Some(LaxNetSlice::Ipv6(s)) => {
            let h = s.header();
            if usize::from(h.payload_length()) + 40 <= n {
                return out;
            }
            (
                n - s.payload().payload.len(),
                s.payload().ip_number == IpNumber::UDP,
            )
        }
        _ => return out,
    };
    match out[0] >> 4 {
        4 => {
            if let Ok((mut h, _)) = Ipv4Header::from_slice(&out) {
                h.total_len = n as u16;
                h.header_checksum = h.calc_header_checksum();
                let hb = h.to_bytes();
                out[..hb.len()].copy_from_slice(&hb);
            }
        }
        _ => {
            let len = ((n - 40) as u16).to_be_bytes();
            out[4..6].copy_from_slice(&len);
        }
    }
    if udp && n >= l3 + 8 {
        let len = ((n - l3) as u16).to_be_bytes();
        out[l3 + 4..l3 + 6].copy_from_slice(&len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_tracee_reads_them() {
        let mut p = None;
        assert_eq!(PcapCfg::parse(&mut p, "write"), Ok(false));
        assert_eq!(PcapCfg::parse(&mut p, "net"), Ok(true));
        assert_eq!(p, Some(PcapCfg::default()));
        PcapCfg::parse(&mut p, "pcap:process,command").unwrap();
        PcapCfg::parse(&mut p, "pcap-options:FILTERED").unwrap();
        PcapCfg::parse(&mut p, "pcap-snaplen:2kb").unwrap();
        let c = p.unwrap();
        assert_eq!(c.split, pcap_split::PROCESS | pcap_split::COMMAND);
        assert!(c.filtered);
        assert_eq!(c.payload, Some(2048));
        for (v, want) in [
            ("default", Some(Some(96))),
            ("headers", Some(Some(0))),
            ("max", Some(None)),
            ("100b", Some(Some(100))),
            ("64kb", None),
            ("65535b", Some(Some(65535))),
            ("65536b", None),
            ("12", None),
            ("kb", None),
            ("-1b", None),
        ] {
            assert_eq!(snaplen(v), want, "{v}");
        }
        for bad in ["pcap:all", "pcap-options:some", "pcap-snaplen:huge"] {
            assert!(PcapCfg::parse(&mut None, bad).is_err(), "{bad}");
        }
    }

    /// An IPv4 UDP packet to port `dport` with `n` payload bytes.
    fn udp4(dport: u16, n: usize) -> Vec<u8> {
        let b =
            etherparse::PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64).udp(40000, dport);
        let mut v = Vec::new();
        b.write(&mut v, &vec![7u8; n]).unwrap();
        v
    }

    #[test]
    fn a_cut_packet_has_lengths_that_say_so() {
        let pkt = udp4(9999, 500);
        let k = keep(&pkt, Some(96));
        assert_eq!(k, 20 + 8 + 96);
        let c = cut(&pkt, k);
        assert_eq!(c.len(), k);
        let h = Ipv4Header::from_slice(&c).unwrap().0;
        assert_eq!(usize::from(h.total_len), k);
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(u16::from_be_bytes([c[24], c[25]]), 8 + 96);
        // DNS, ICMP and max are kept whole; headers keeps the headers.
        assert_eq!(keep(&udp4(53, 500), Some(0)), 528);
        assert_eq!(keep(&pkt, None), pkt.len());
        assert_eq!(keep(&pkt, Some(0)), 28);
        // Garbage is cut, never panics.
        assert_eq!(cut(&[0x45, 1, 2], 2), vec![0x45, 1]);
        assert_eq!(keep(&[0x60; 3], Some(1)), 1);
    }
}
