//! `struct sockaddr` as Tracee shows it.

use crate::parse;

/// A `struct sockaddr` as Tracee shows it: family and the fields of that
/// family, as strings.
pub fn sockaddr(b: &[u8]) -> Vec<(&'static str, String)> {
    if b.len() < 2 {
        return vec![];
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    let port = |b: &[u8]| {
        if b.len() >= 4 {
            u16::from_be_bytes([b[2], b[3]]).to_string()
        } else {
            String::new()
        }
    };
    match family {
        2 => {
            let addr = if b.len() >= 8 {
                std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]).to_string()
            } else {
                String::new()
            };
            vec![
                ("sa_family", "AF_INET".into()),
                ("sin_port", port(b)),
                ("sin_addr", addr),
            ]
        }
        10 => {
            let mut a = [0u8; 16];
            let addr = if b.len() >= 24 {
                a.copy_from_slice(&b[8..24]);
                std::net::Ipv6Addr::from(a).to_string()
            } else {
                String::new()
            };
            let u32_at = |o: usize| {
                b.get(o..o + 4)
                    .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
            };
            let scope = b
                .get(24..28)
                .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
            vec![
                ("sa_family", "AF_INET6".into()),
                ("sin6_port", port(b)),
                ("sin6_flowinfo", u32_at(4).to_string()),
                ("sin6_addr", addr),
                ("sin6_scopeid", scope.to_string()),
            ]
        }
        1 => {
            let p = &b[2..];
            let path = match p.first() {
                // Abstract socket: a leading NUL, and a name of every byte
                // after it (NULs included), shown with '@' for each NUL as
                // ss(8) does.
                Some(0) if p.len() > 1 => {
                    let name: Vec<u8> = p[1..]
                        .iter()
                        .map(|&c| if c == 0 { b'@' } else { c })
                        .collect();
                    format!("@{}", String::from_utf8_lossy(&name))
                }
                _ => {
                    String::from_utf8_lossy(p.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
                }
            };
            vec![("sa_family", "AF_UNIX".into()), ("sun_path", path)]
        }
        f => vec![(
            "sa_family",
            parse::family_name(f as u64).unwrap_or_else(|| f.to_string()),
        )],
    }
}
