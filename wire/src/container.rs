//! Containers: which cgroup paths are a container's (Tracee's rules), and
//! the container record (kind 5) that tells every reader of a stream who
//! a cgroup id belongs to. `wire/FORMAT.md` documents the bytes.

use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

use crate::bytes::{u32_at, u64_at};
use crate::{DecodeError, LenError, RecordHeader, RecordSlice, kind};

/// The runtime that owns a container, as Tracee names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Runtime {
    #[default]
    Unknown = 0,
    Docker = 1,
    Containerd = 2,
    Crio = 3,
    Podman = 4,
    Garden = 5,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Unknown => "unknown",
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Podman => "podman",
            Runtime::Garden => "garden",
        }
    }

    pub fn from_u8(v: u8) -> Runtime {
        match v {
            1 => Runtime::Docker,
            2 => Runtime::Containerd,
            3 => Runtime::Crio,
            4 => Runtime::Podman,
            5 => Runtime::Garden,
            _ => Runtime::Unknown,
        }
    }

    pub fn from_name(s: &str) -> Option<Runtime> {
        Some(match s {
            "docker" => Runtime::Docker,
            "containerd" => Runtime::Containerd,
            "crio" | "cri-o" => Runtime::Crio,
            "podman" => Runtime::Podman,
            "garden" => Runtime::Garden,
            _ => return None,
        })
    }
}

/// What a cgroup path says about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub runtime: Runtime,
    /// The container's own cgroup (the id is the path's last component),
    /// not one its processes made below it.
    pub root: bool,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Garden's ids: `8-4-4-4-4` hex groups.
fn is_garden(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts[0].len() == 8
        && parts[1..].iter().all(|p| p.len() == 4)
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The container a cgroup path (relative to the cgroup mount) belongs
/// to, by Tracee's rules: components are tried from the last one up, the
/// first match wins (the innermost container); a component shorter than 28
/// bytes is never one; `.scope` is dropped; then `docker-`, `crio-`,
/// `cri-containerd-`, `…:cri-containerd:`, `libpod-` prefixes name the
/// runtime, and a bare 64-hex id is a container under `docker/` or
/// `actions_job/` (docker), under `pod…/` (containerd), or elsewhere
/// (runtime unknown); Garden's dashed ids last. Unlike Tracee v0.24 (and
/// like its later releases), podman's and CRI-O's `conmon` cgroups are not
/// containers.
pub fn classify(path: &str) -> Option<Found> {
    let parts: Vec<&str> = path.split('/').collect();
    for i in (0..parts.len()).rev() {
        let pc = parts[i];
        if pc.len() < 28 {
            continue;
        }
        let root = i == parts.len() - 1;
        let id = pc.strip_suffix(".scope").unwrap_or(pc);
        let prefixed = if let Some(r) = id.strip_prefix("docker-") {
            Some((r, Runtime::Docker))
        } else if let Some(r) = id.strip_prefix("crio-") {
            if r.starts_with("conmon-") {
                continue;
            }
            Some((r, Runtime::Crio))
        } else if let Some(r) = id.strip_prefix("cri-containerd-") {
            Some((r, Runtime::Containerd))
        } else if let Some(at) = id.rfind(":cri-containerd:") {
            Some((&id[at + ":cri-containerd:".len()..], Runtime::Containerd))
        } else if let Some(r) = id.strip_prefix("libpod-") {
            if r.starts_with("conmon-") {
                continue;
            }
            Some((r, Runtime::Podman))
        } else {
            None
        };
        if let Some((id, runtime)) = prefixed {
            return Some(Found {
                id: id.into(),
                runtime,
                root,
            });
        }
        if is_hex64(id) && i > 0 {
            let prev = parts[i - 1];
            let runtime = if prev == "docker" || prev == "actions_job" {
                Runtime::Docker
            } else if prev.starts_with("pod") {
                Runtime::Containerd
            } else {
                Runtime::Unknown
            };
            return Some(Found {
                id: id.into(),
                runtime,
                root,
            });
        }
        if is_garden(id) {
            return Some(Found {
                id: id.into(),
                runtime: Runtime::Garden,
                root,
            });
        }
    }
    None
}

/// Bits of [`Container::flags`].
pub mod flags {
    /// Created after tracing began (`container=new`).
    pub const NEW: u32 = 1;
    /// The container's own cgroup, not one below it.
    pub const ROOT: u32 = 2;
    /// The runtime was asked; `lookup` says what it answered.
    pub const LOOKED_UP: u32 = 4;
    /// The runtime knew the container: the names are its answer.
    pub const NAMED: u32 = 8;
    /// The cgroup is gone.
    pub const REMOVED: u32 = 16;
    /// A Kubernetes pod's sandbox (pause) container.
    pub const POD_SANDBOX: u32 = 32;
}

/// One container record: who cgroup `cgroup_id` belongs to. Strings are
/// the bytes the runtime gave (not checked as UTF-8: a container's name is
/// its owner's choice, and readers escape what they print).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub cgroup_id: u64,
    /// When the container's cgroup was made (epoch ns; 0 if not known).
    pub ctime: u64,
    pub flags: u32,
    pub runtime: Runtime,
    pub id: Vec<u8>,
    pub name: Vec<u8>,
    pub image: Vec<u8>,
    pub image_digest: Vec<u8>,
    pub pod_name: Vec<u8>,
    pub pod_namespace: Vec<u8>,
    pub pod_uid: Vec<u8>,
    /// What the runtime lookup came to, in words: empty while it has not
    /// been tried; "ok: " and where the names came from, or why they are
    /// unknown.
    pub lookup: Vec<u8>,
}

/// Fixed part of a container record's body.
const FIXED: usize = 24;
const STRINGS: usize = 8;
/// The smallest container record: header, fixed part, eight empty strings.
pub const MIN_LEN: usize = RecordHeader::LEN + FIXED + 2 * STRINGS;
const _: () = assert!(MIN_LEN == crate::CONTAINER_MIN_LEN);
/// Longest string a record keeps (longer ones are cut when written).
pub const STR_MAX: usize = 4096;

impl Container {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    fn strings(&self) -> [&Vec<u8>; STRINGS] {
        [
            &self.id,
            &self.name,
            &self.image,
            &self.image_digest,
            &self.pod_name,
            &self.pod_namespace,
            &self.pod_uid,
            &self.lookup,
        ]
    }

    /// The whole record.
    pub fn to_record(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_LEN + 256);
        out.extend_from_slice(&[0; RecordHeader::LEN]);
        out.extend_from_slice(&self.cgroup_id.to_le_bytes());
        out.extend_from_slice(&self.ctime.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&[self.runtime as u8, 0, 0, 0]);
        for s in self.strings() {
            let s = &s[..s.len().min(STR_MAX)];
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s);
        }
        let len = out.len() as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out[4..6].copy_from_slice(&kind::CONTAINER.to_le_bytes());
        out
    }

    /// Decodes a container record.
    pub fn from_record(r: RecordSlice<'_>) -> Result<Container, DecodeError> {
        if r.kind() != kind::CONTAINER {
            return Err(DecodeError::UnknownRecordKind {
                kind: r.kind(),
                offset: r.offset(),
            });
        }
        // RecordSlice checked the length against MIN_LEN.
        let b = r.body();
        let mut c = Container {
            cgroup_id: u64_at(b, 0),
            ctime: u64_at(b, 8),
            flags: u32_at(b, 16),
            runtime: Runtime::from_u8(b[20]),
            ..Default::default()
        };
        let mut pos = FIXED;
        let mut take = || -> Result<Vec<u8>, LenError> {
            let short = |required_len: usize| LenError {
                what: "container record string",
                required_len,
                len: b.len() - pos.min(b.len()),
                offset: r.offset() + (RecordHeader::LEN + pos) as u64,
            };
            if b.len() < pos + 2 {
                return Err(short(2));
            }
            let n = u16::from_le_bytes([b[pos], b[pos + 1]]) as usize;
            if b.len() < pos + 2 + n {
                return Err(short(2 + n));
            }
            let s = b[pos + 2..pos + 2 + n].to_vec();
            pos += 2 + n;
            Ok(s)
        };
        c.id = take()?;
        c.name = take()?;
        c.image = take()?;
        c.image_digest = take()?;
        c.pod_name = take()?;
        c.pod_namespace = take()?;
        c.pod_uid = take()?;
        c.lookup = take()?;
        Ok(c)
    }
}

/// Most containers a reader keeps: a stream (from a file, say) can name
/// any number of them, and a reader's memory must stay bounded. When it is
/// reached, removed containers are forgotten, and if that is not an
/// eighth of the table, others too (tracee-collect never tells more than
/// this many live ones), so the cost of forgetting is spread over an
/// eighth of the table's inserts.
pub const TABLE_MAX: usize = 65536;

/// What a reader knows of containers, by cgroup id, from the container
/// records it has read.
#[derive(Default, Debug)]
pub struct Containers {
    by_cgroup: HashMap<u64, Container>,
}

impl Containers {
    /// Takes in a container record.
    pub fn apply(&mut self, c: Container) {
        if self.by_cgroup.len() >= TABLE_MAX && !self.by_cgroup.contains_key(&c.cgroup_id) {
            self.by_cgroup.retain(|_, v| !v.has(flags::REMOVED));
            let keep = TABLE_MAX - TABLE_MAX / 8;
            if self.by_cgroup.len() > keep {
                let extra: Vec<u64> = self
                    .by_cgroup
                    .keys()
                    .take(self.by_cgroup.len() - keep)
                    .copied()
                    .collect();
                for k in extra {
                    self.by_cgroup.remove(&k);
                }
            }
        }
        self.by_cgroup.insert(c.cgroup_id, c);
    }

    /// Decodes and takes in a container record.
    pub fn apply_record(&mut self, r: RecordSlice<'_>) -> Result<(), DecodeError> {
        self.apply(Container::from_record(r)?);
        Ok(())
    }

    pub fn get(&self, cgroup_id: u64) -> Option<&Container> {
        self.by_cgroup.get(&cgroup_id)
    }

    pub fn len(&self) -> usize {
        self.by_cgroup.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_cgroup.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Container> {
        self.by_cgroup.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::{format, vec};

    const ID: &str = "178298951e4bc031fc8e074fc0eb0949fd0f270a276baa3ad7fa90e68e4ca0b3";

    fn found(path: &str) -> Option<(String, Runtime, bool)> {
        classify(path).map(|f| (f.id, f.runtime, f.root))
    }

    #[test]
    fn tracee_paths() {
        let id = ID.to_string();
        for (path, rt, root) in [
            (format!("/libpod_parent/libpod-{ID}"), Runtime::Podman, true),
            (
                format!("/libpod_parent/libpod-{ID}/sub"),
                Runtime::Podman,
                false,
            ),
            (
                format!("/system.slice/docker-{ID}.scope"),
                Runtime::Docker,
                true,
            ),
            (format!("/docker/{ID}"), Runtime::Docker, true),
            (format!("/actions_job/{ID}"), Runtime::Docker, true),
            (
                format!("/kubepods/besteffort/pod1234/{ID}"),
                Runtime::Containerd,
                true,
            ),
            (
                format!("/kubepods.slice/kubepods-pod12.slice/cri-containerd-{ID}.scope"),
                Runtime::Containerd,
                true,
            ),
            (
                format!("/kubepods-burstable-pod9.slice:cri-containerd:{ID}"),
                Runtime::Containerd,
                true,
            ),
            (
                format!("/kubepods.slice/crio-{ID}.scope"),
                Runtime::Crio,
                true,
            ),
            (format!("/machine/{ID}"), Runtime::Unknown, true),
        ] {
            assert_eq!(found(&path), Some((id.clone(), rt, root)), "{path}");
        }
        assert_eq!(
            found("/garden/0123abcd-0123-4567-89ab-cdef"),
            Some(("0123abcd-0123-4567-89ab-cdef".into(), Runtime::Garden, true))
        );
    }

    #[test]
    fn not_containers() {
        for path in [
            "/".to_string(),
            "/user.slice/user-1000.slice/session-3.scope".into(),
            format!("/libpod_parent/libpod-conmon-{ID}"),
            format!("/system.slice/crio-conmon-{ID}.scope"),
            ID.to_string(),
            "/short-libpod-x".into(),
            format!("/x/{}", &ID[..63]),
        ] {
            assert_eq!(found(&path), None, "{path}");
        }
    }

    #[test]
    fn innermost_wins() {
        let inner = "a".repeat(64);
        assert_eq!(
            found(&format!("/libpod_parent/libpod-{ID}/docker/{inner}")),
            Some((inner, Runtime::Docker, true))
        );
    }

    #[test]
    fn record_round_trip_with_odd_bytes() {
        let c = Container {
            cgroup_id: 77,
            ctime: 5,
            flags: flags::NEW | flags::ROOT | flags::LOOKED_UP,
            runtime: Runtime::Podman,
            id: ID.into(),
            name: b"na\xffme\n\"x".to_vec(),
            image: vec![0; 3],
            lookup: b"runtime socket timed out".to_vec(),
            ..Default::default()
        };
        let rec = c.to_record();
        let (r, rest) = RecordSlice::from_slice(&rec, 0).unwrap();
        assert!(rest.is_empty());
        assert_eq!(Container::from_record(r).unwrap(), c);
    }

    #[test]
    fn a_string_past_the_record_is_an_error() {
        let mut rec = Container::default().to_record();
        // The first string claims 9 bytes the record does not have.
        let at = RecordHeader::LEN + FIXED;
        rec[at] = 9;
        let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
        let e = Container::from_record(r).unwrap_err();
        assert!(e.to_string().contains("container record string"), "{e}");
    }

    #[test]
    fn table_stays_bounded() {
        let mut t = Containers::default();
        for i in 0..(TABLE_MAX as u64 + 10) {
            t.apply(Container {
                cgroup_id: i,
                flags: if i % 2 == 0 { flags::REMOVED } else { 0 },
                ..Default::default()
            });
        }
        assert!(t.len() <= TABLE_MAX);
        assert!(t.get(TABLE_MAX as u64 + 9).is_some());
        // Live ones past the bound: forgetting is spread out, not paid on
        // every insert (this would take minutes otherwise).
        let mut t = Containers::default();
        for i in 0..(TABLE_MAX as u64 * 3) {
            t.apply(Container {
                cgroup_id: i,
                ..Default::default()
            });
        }
        assert!(t.len() <= TABLE_MAX);
        assert!(t.get(TABLE_MAX as u64 * 3 - 1).is_some());
    }
}
