//! `--capture` options, in Tracee's syntax (the sidecar they feed is
//! [`crate::sidecar`]).

use wire::capture::{artifact, ftype};
use wire::kcfg::{CAP_PATH_CAP, CAP_PATH_MAX, CAP_TYPE_ELF, CapFilter};

/// What to capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureCfg {
    /// Bits `1 << artifact::*`.
    pub mask: u32,
    /// For writes (0) and reads (1).
    pub filters: [CapFilter; 2],
    /// Network packets into pcaps (`network`, `pcap:...`).
    pub pcap: Option<crate::net::PcapCfg>,
}

impl CaptureCfg {
    pub fn wants(&self, a: u8) -> bool {
        self.mask & (1 << a) != 0
    }

    /// What the kernel's capture program captures: everything but
    /// packets, which come from the packet programs.
    pub fn kernel_mask(&self) -> u32 {
        self.mask & !(1 << artifact::PACKET)
    }
}

/// Parses the values of every `--capture` option.
pub fn parse(opts: &[String]) -> Result<CaptureCfg, String> {
    let mut c = CaptureCfg::default();
    for o in opts {
        if crate::net::PcapCfg::parse(&mut c.pcap, o)? {
            c.mask |= 1 << artifact::PACKET;
            continue;
        }
        let v = o.strip_prefix("artifact:").unwrap_or(o);
        let (dir, rest) = match v.split_once([':', '=']) {
            Some((d, r)) => (d, Some((&v[d.len()..d.len() + 1], r))),
            None => (v, None),
        };
        let a = match dir {
            "write" => artifact::WRITE,
            "read" => artifact::READ,
            "exec" | "mem" | "module" | "bpf" if rest.is_none() => {
                c.mask |= 1
                    << match dir {
                        "exec" => artifact::EXEC,
                        "mem" => artifact::MEM,
                        "module" => artifact::MODULE,
                        _ => artifact::BPF,
                    };
                continue;
            }
            "dir" | "clear-dir" => {
                return Err(format!(
                    "--capture {o}: the output directory is tracee-capture's (--dir, --clear-dir)"
                ));
            }
            _ => {
                return Err(format!(
                    "--capture {o}: unknown capture (write, read, exec, mem, module, bpf, network, pcap...)"
                ));
            }
        };
        c.mask |= 1 << a;
        let f = &mut c.filters[if a == artifact::WRITE { 0 } else { 1 }];
        let Some((sep, rest)) = rest else { continue };
        let (key, val) = if sep == "=" {
            ("path", rest)
        } else {
            rest.split_once('=')
                .ok_or_else(|| format!("--capture {o}: expected {dir}:KIND=VALUE"))?
        };
        match key {
            "path" => {
                let p = val.strip_suffix('*').unwrap_or(val);
                if p.is_empty() || p.len() > CAP_PATH_MAX || p.contains('*') {
                    return Err(format!(
                        "--capture {o}: a path filter is a prefix of 1 to {CAP_PATH_MAX} characters, optionally ending in *"
                    ));
                }
                let n = f.npaths as usize;
                if n == 3 {
                    return Err(format!("--capture {o}: at most 3 path filters for {dir}"));
                }
                let mut b = [0u8; CAP_PATH_CAP];
                b[..p.len()].copy_from_slice(p.as_bytes());
                f.paths[n] = b;
                f.path_len[n] = p.len() as u32;
                f.npaths += 1;
            }
            "type" => {
                f.types |= match val {
                    "regular" => 1 << ftype::REGULAR,
                    "pipe" => 1 << ftype::PIPE,
                    "socket" => 1 << ftype::SOCKET,
                    "elf" => CAP_TYPE_ELF,
                    _ => {
                        return Err(format!(
                            "--capture {o}: type is one of regular, pipe, socket, elf"
                        ));
                    }
                }
            }
            "fd" => {
                f.fds |= match val {
                    "stdin" => 1,
                    "stdout" => 2,
                    "stderr" => 4,
                    _ => return Err(format!("--capture {o}: fd is one of stdin, stdout, stderr")),
                }
            }
            _ => {
                return Err(format!(
                    "--capture {o}: unknown filter '{key}' (path, type, fd)"
                ));
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<CaptureCfg, String> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn tracee_syntax() {
        let c = p(&[
            "write=/tmp/*",
            "write:path=/etc/",
            "write:type=pipe",
            "write:type=elf",
            "read:fd=stdin",
            "artifact:exec",
            "bpf",
        ])
        .unwrap();
        assert!(c.wants(artifact::WRITE) && c.wants(artifact::READ));
        assert!(c.wants(artifact::EXEC) && c.wants(artifact::BPF) && !c.wants(artifact::MEM));
        let w = &c.filters[0];
        assert_eq!(w.npaths, 2);
        assert_eq!(&w.paths[0][..5], b"/tmp/");
        assert_eq!(w.path_len, [5, 5, 0]);
        assert_eq!(w.types, (1 << ftype::PIPE) | CAP_TYPE_ELF);
        assert_eq!(c.filters[1].fds, 1);
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        for (v, want) in [
            ("write=/a/*", ""),
            ("write:type=fifo", "type is one of"),
            ("read:fd=3", "fd is one of"),
            ("write:colour=red", "unknown filter"),
            ("exec=1", "unknown capture"),
            ("dir:/tmp/x", "tracee-capture"),
            ("network:x", "unknown capture"),
            ("write=", "prefix of 1 to"),
        ] {
            let r = p(&[v]);
            if want.is_empty() {
                assert!(r.is_ok(), "{v}");
            } else {
                assert!(r.unwrap_err().contains(want), "{v}");
            }
        }
        let long = format!("write={}*", "a".repeat(51));
        assert!(p(&[&long]).is_err());
        assert!(p(&["write=/a*", "write=/b*", "write=/c*", "write=/d*"]).is_err());
    }
}
