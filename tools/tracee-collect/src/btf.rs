//! Just enough of a BTF reader to find struct member offsets in the running
//! kernel (`/sys/kernel/btf/vmlinux`). The eBPF programs are written in Rust,
//! which cannot emit CO-RE relocations, so the collector resolves the
//! offsets here and hands them to the programs as a global.

use std::collections::HashMap;

use wire::kcfg::member;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not BTF data: {0}")]
    Format(&'static str),
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF has no member {member} in struct {ty}")]
    NoMember { ty: String, member: String },
    #[error("offset slot {0} was left unfilled (a new slot needs its line in kernel_offsets)")]
    Unfilled(&'static str),
}

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Clone, Debug)]
struct Member {
    name: u32,
    ty: u32,
    /// Bit offset.
    bits: u32,
}

#[derive(Clone, Debug)]
struct Type {
    name: u32,
    kind: u32,
    /// Size for structs and ints, referenced type for modifiers and pointers.
    size_or_type: u32,
    members: Vec<Member>,
}

pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        let path = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.into(),
            source,
        })?;
        Btf::parse(&data)
    }

    pub fn parse(d: &[u8]) -> Result<Btf, BtfError> {
        let u32_at = |o: usize| -> Result<u32, BtfError> {
            d.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(BtfError::Format("truncated"))
        };
        if d.len() < 24 || d[0] != 0x9f || d[1] != 0xeb {
            return Err(BtfError::Format("bad magic"));
        }
        let hdr_len = u32_at(4)? as usize;
        let type_off = u32_at(8)? as usize;
        let type_len = u32_at(12)? as usize;
        let str_off = u32_at(16)? as usize;
        let str_len = u32_at(20)? as usize;
        let tstart = hdr_len + type_off;
        let sstart = hdr_len + str_off;
        let strings = d
            .get(sstart..sstart + str_len)
            .ok_or(BtfError::Format("strings out of range"))?
            .to_vec();
        let mut types = vec![Type {
            name: 0,
            kind: 0,
            size_or_type: 0,
            members: vec![],
        }];
        let mut p = tstart;
        let end = tstart + type_len;
        while p < end {
            let name = u32_at(p)?;
            let info = u32_at(p + 4)?;
            let size_or_type = u32_at(p + 8)?;
            p += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 != 0;
            let mut members = vec![];
            match kind {
                KIND_INT => p += 4,
                KIND_ARRAY => p += 12,
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let q = p + i * 12;
                        let off = u32_at(q + 8)?;
                        let bits = if kind_flag { off & 0xff_ffff } else { off };
                        members.push(Member {
                            name: u32_at(q)?,
                            ty: u32_at(q + 4)?,
                            bits,
                        });
                    }
                    p += vlen * 12;
                }
                KIND_ENUM => p += vlen * 8,
                KIND_FUNC_PROTO => p += vlen * 8,
                KIND_VAR => p += 4,
                KIND_DATASEC => p += vlen * 12,
                KIND_DECL_TAG => p += 4,
                KIND_ENUM64 => p += vlen * 12,
                _ => {}
            }
            types.push(Type {
                name,
                kind,
                size_or_type,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            structs: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            if t.kind == KIND_STRUCT && !t.members.is_empty() {
                let n = btf.name(t.name).to_string();
                btf.structs.entry(n).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    fn name(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..n]).unwrap_or("")
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.types.get(id as usize) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    /// Byte offset of `member` in struct `ty`, looking inside anonymous
    /// structs and unions.
    pub fn offset(&self, ty: &str, member: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs
            .get(ty)
            .ok_or_else(|| BtfError::NoStruct(ty.into()))?;
        self.find(id, member)
            .map(|(bits, _)| bits / 8)
            .ok_or_else(|| BtfError::NoMember {
                ty: ty.into(),
                member: member.into(),
            })
    }

    /// Byte size of struct `ty`.
    pub fn size(&self, ty: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs
            .get(ty)
            .ok_or_else(|| BtfError::NoStruct(ty.into()))?;
        Ok(self.types[id as usize].size_or_type)
    }

    fn find(&self, id: u32, member: &str) -> Option<(u32, u32)> {
        let t = self.types.get(id as usize)?;
        for m in &t.members {
            let name = self.name(m.name);
            if name == member {
                return Some((m.bits, m.ty));
            }
            if name.is_empty() {
                let inner = self.resolve(m.ty);
                if matches!(
                    self.types.get(inner as usize).map(|t| t.kind),
                    Some(KIND_STRUCT | KIND_UNION)
                ) && let Some((bits, ty)) = self.find(inner, member)
                {
                    return Some((m.bits + bits, ty));
                }
            }
        }
        None
    }

    /// Offset of a path of members, e.g. `["name", "nodename"]` in
    /// `uts_namespace`: each step must be an embedded struct.
    pub fn path_offset(&self, ty: &str, path: &[&str]) -> Result<u32, BtfError> {
        let mut id = *self
            .structs
            .get(ty)
            .ok_or_else(|| BtfError::NoStruct(ty.into()))?;
        let mut total = 0;
        for m in path {
            let (bits, mty) = self.find(id, m).ok_or_else(|| BtfError::NoMember {
                ty: ty.into(),
                member: path.join("."),
            })?;
            total += bits / 8;
            id = self.resolve(mty);
        }
        Ok(total)
    }
}

/// The OFFSETS table being filled: a slot is set once, by name, and a
/// slot left unset is an error that names it.
struct Slots([Option<u32>; member::COUNT]);

impl Slots {
    fn set(&mut self, slot: usize, v: u32) {
        debug_assert!(self.0[slot].is_none(), "{} set twice", member::NAMES[slot]);
        self.0[slot] = Some(v);
    }
    fn check(self) -> Result<[u32; member::COUNT], BtfError> {
        let mut o = [0u32; member::COUNT];
        for (i, v) in self.0.into_iter().enumerate() {
            o[i] = v.ok_or(BtfError::Unfilled(member::NAMES[i]))?;
        }
        Ok(o)
    }
}

/// Resolves every offset the programs need from the running kernel.
pub fn kernel_offsets(btf: &Btf) -> Result<[u32; member::COUNT], BtfError> {
    let mut o = Slots([None; member::COUNT]);
    let f = |t: &str, m: &str| btf.offset(t, m);
    o.set(member::TASK_REAL_PARENT, f("task_struct", "real_parent")?);
    o.set(member::TASK_GROUP_LEADER, f("task_struct", "group_leader")?);
    o.set(member::TASK_TGID, f("task_struct", "tgid")?);
    o.set(member::TASK_PID, f("task_struct", "pid")?);
    o.set(member::TASK_START_TIME, f("task_struct", "start_time")?);
    o.set(member::TASK_NSPROXY, f("task_struct", "nsproxy")?);
    o.set(member::TASK_THREAD_PID, f("task_struct", "thread_pid")?);
    o.set(member::TASK_EXIT_CODE, f("task_struct", "exit_code")?);
    o.set(
        member::TASK_TI_STATUS,
        btf.path_offset("task_struct", &["thread_info", "status"])?,
    );
    o.set(member::TASK_MM, f("task_struct", "mm")?);
    o.set(member::NSPROXY_MNT_NS, f("nsproxy", "mnt_ns")?);
    o.set(member::NSPROXY_UTS_NS, f("nsproxy", "uts_ns")?);
    o.set(
        member::MNT_NS_INUM,
        btf.path_offset("mnt_namespace", &["ns", "inum"])?,
    );
    o.set(
        member::PID_NS_INUM,
        btf.path_offset("pid_namespace", &["ns", "inum"])?,
    );
    o.set(
        member::UTS_NODENAME,
        btf.path_offset("uts_namespace", &["name", "nodename"])?,
    );
    o.set(member::PID_LEVEL, f("pid", "level")?);
    o.set(member::PID_NUMBERS, f("pid", "numbers")?);
    o.set(member::UPID_SIZE, btf.size("upid")?);
    o.set(member::UPID_NR, f("upid", "nr")?);
    o.set(member::UPID_NS, f("upid", "ns")?);
    o.set(member::BPRM_FILE, f("linux_binprm", "file")?);
    o.set(member::BPRM_FILENAME, f("linux_binprm", "filename")?);
    o.set(member::BPRM_INTERP, f("linux_binprm", "interp")?);
    o.set(member::FILE_F_PATH, f("file", "f_path")?);
    o.set(member::FILE_F_INODE, f("file", "f_inode")?);
    o.set(member::PATH_MNT, f("path", "mnt")?);
    o.set(member::PATH_DENTRY, f("path", "dentry")?);
    o.set(member::INODE_I_MODE, f("inode", "i_mode")?);
    o.set(member::INODE_I_INO, f("inode", "i_ino")?);
    o.set(member::INODE_I_SB, f("inode", "i_sb")?);
    o.set(member::SB_S_DEV, f("super_block", "s_dev")?);
    // ctime moved: i_ctime_sec/i_ctime_nsec since 6.11, __i_ctime before.
    match (f("inode", "i_ctime_sec"), f("inode", "i_ctime_nsec")) {
        (Ok(s), Ok(n)) => {
            o.set(member::INODE_CTIME_SEC, s);
            o.set(member::INODE_CTIME_NSEC, n);
        }
        _ => {
            let base = f("inode", "__i_ctime").or_else(|_| f("inode", "i_ctime"))?;
            o.set(member::INODE_CTIME_SEC, base + f("timespec64", "tv_sec")?);
            o.set(member::INODE_CTIME_NSEC, base + f("timespec64", "tv_nsec")?);
        }
    }
    o.set(member::DENTRY_D_NAME, f("dentry", "d_name")?);
    o.set(member::DENTRY_D_PARENT, f("dentry", "d_parent")?);
    o.set(member::QSTR_LEN, f("qstr", "len")?);
    o.set(member::QSTR_NAME, f("qstr", "name")?);
    o.set(member::MOUNT_MNT, f("mount", "mnt")?);
    o.set(member::MOUNT_PARENT, f("mount", "mnt_parent")?);
    o.set(member::MOUNT_MOUNTPOINT, f("mount", "mnt_mountpoint")?);
    o.set(member::VFSMOUNT_MNT_ROOT, f("vfsmount", "mnt_root")?);
    o.set(member::MM_ARG_START, f("mm_struct", "arg_start")?);
    o.set(member::MM_ARG_END, f("mm_struct", "arg_end")?);
    o.set(member::TASK_FILES, f("task_struct", "files")?);
    o.set(member::CGROUP_ROOT, f("cgroup", "root")?);
    o.set(
        member::CGROUP_ROOT_HIERARCHY_ID,
        f("cgroup_root", "hierarchy_id")?,
    );
    o.set(member::FILES_FDT, f("files_struct", "fdt")?);
    o.set(member::FDT_FD, f("fdtable", "fd")?);
    o.set(member::FDT_MAX_FDS, f("fdtable", "max_fds")?);
    o.set(member::FILE_F_POS, f("file", "f_pos")?);
    o.set(member::TASK_FLAGS, f("task_struct", "flags")?);
    o.set(member::TASK_COMM, f("task_struct", "comm")?);
    o.set(member::TASK_CRED, f("task_struct", "cred")?);
    o.set(member::CRED_UID, f("cred", "uid")?);
    o.set(member::CRED_GID, f("cred", "gid")?);
    o.set(member::TASK_CGROUPS, f("task_struct", "cgroups")?);
    o.set(member::CSS_SET_DFL_CGRP, f("css_set", "dfl_cgrp")?);
    o.set(member::CGROUP_KN, f("cgroup", "kn")?);
    o.set(member::KERNFS_NODE_ID, f("kernfs_node", "id")?);
    o.set(member::FILE_F_FLAGS, f("file", "f_flags")?);
    o.set(member::INODE_I_SIZE, f("inode", "i_size")?);
    o.set(member::CRED_CAP_EFFECTIVE, f("cred", "cap_effective")?);
    o.set(member::FILE_PRIVATE_DATA, f("file", "private_data")?);
    o.set(member::SOCKET_TYPE, f("socket", "type")?);
    o.set(member::SOCKET_SK, f("socket", "sk")?);
    // A struct sock's address fields, in its struct sock_common.
    let common = f("sock", "__sk_common")?;
    o.set(member::SKC_FAMILY, common + f("sock_common", "skc_family")?);
    o.set(member::SKC_NUM, common + f("sock_common", "skc_num")?);
    o.set(
        member::SKC_RCV_SADDR,
        common + f("sock_common", "skc_rcv_saddr")?,
    );
    o.set(
        member::SKC_V6_RCV_SADDR,
        common + f("sock_common", "skc_v6_rcv_saddr")?,
    );
    o.set(member::UNIX_SOCK_ADDR, f("unix_sock", "addr")?);
    o.set(member::UNIX_ADDRESS_LEN, f("unix_address", "len")?);
    o.set(member::UNIX_ADDRESS_NAME, f("unix_address", "name")?);
    o.set(member::MM_ENV_START, f("mm_struct", "env_start")?);
    o.set(member::MM_ENV_END, f("mm_struct", "env_end")?);
    o.set(member::MM_SAVED_AUXV, f("mm_struct", "saved_auxv")?);
    o.set(member::VMA_VM_FILE, f("vm_area_struct", "vm_file")?);
    o.set(member::BPF_PROG_TYPE, f("bpf_prog", "type")?);
    o.set(member::BPF_PROG_AUX, f("bpf_prog", "aux")?);
    o.set(member::BPF_PROG_AUX_ID, f("bpf_prog_aux", "id")?);
    o.set(member::BPF_PROG_AUX_NAME, f("bpf_prog_aux", "name")?);
    o.set(
        member::BPF_PROG_AUX_ATTACH_FUNC_NAME,
        f("bpf_prog_aux", "attach_func_name")?,
    );
    o.set(member::PERF_EVENT_TP_EVENT, f("perf_event", "tp_event")?);
    o.set(
        member::TRACE_EVENT_CALL_NAME,
        f("trace_event_call", "name")?,
    );
    o.set(
        member::TRACE_EVENT_CALL_FLAGS,
        f("trace_event_call", "flags")?,
    );
    o.set(member::TRACEPOINT_NAME, f("tracepoint", "name")?);
    o.set(member::VMA_VM_FLAGS, f("vm_area_struct", "vm_flags")?);
    o.set(member::VMA_VM_START, f("vm_area_struct", "vm_start")?);
    o.set(member::TASK_FS, f("task_struct", "fs")?);
    o.set(member::FS_PWD, f("fs_struct", "pwd")?);
    o.set(member::FS_UMASK, f("fs_struct", "umask")?);
    o.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-type BTF blob: struct s { int a; union { int b; int c; }; }.
    fn sample() -> Vec<u8> {
        let strings = b"\0s\0a\0b\0c\0int\0".to_vec();
        let mut t = Vec::new();
        let push = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&v.to_le_bytes());
        // 1: int
        push(&mut t, 9);
        push(&mut t, KIND_INT << 24);
        push(&mut t, 4);
        push(&mut t, 32);
        // 2: anonymous union { b, c }
        push(&mut t, 0);
        push(&mut t, KIND_UNION << 24 | 2);
        push(&mut t, 4);
        for n in [5, 7] {
            push(&mut t, n);
            push(&mut t, 1);
            push(&mut t, 0);
        }
        // 3: struct s { a; <union> }
        push(&mut t, 1);
        push(&mut t, KIND_STRUCT << 24 | 2);
        push(&mut t, 8);
        push(&mut t, 3);
        push(&mut t, 1);
        push(&mut t, 0);
        push(&mut t, 0);
        push(&mut t, 2);
        push(&mut t, 32);
        let mut d = vec![0x9f, 0xeb, 1, 0];
        for v in [
            24u32,
            0,
            t.len() as u32,
            t.len() as u32,
            strings.len() as u32,
        ] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&t);
        d.extend_from_slice(&strings);
        d
    }

    #[test]
    fn finds_members_through_anonymous_unions() {
        let b = Btf::parse(&sample()).unwrap();
        assert_eq!(b.offset("s", "a").unwrap(), 0);
        assert_eq!(b.offset("s", "c").unwrap(), 4);
        assert_eq!(b.size("s").unwrap(), 8);
        assert!(matches!(
            b.offset("s", "zz"),
            Err(BtfError::NoMember { .. })
        ));
        assert!(matches!(b.offset("nope", "a"), Err(BtfError::NoStruct(_))));
    }

    #[test]
    fn truncated_btf_is_an_error_not_a_panic() {
        let d = sample();
        for n in 0..d.len() {
            let _ = Btf::parse(&d[..n]);
        }
    }

    #[test]
    fn running_kernel_offsets_resolve() {
        let b = Btf::from_sys_fs().unwrap();
        let o = kernel_offsets(&b).unwrap();
        assert_eq!(o[member::UPID_SIZE], 16);
        assert_eq!(o[member::QSTR_LEN], 4);
    }

    #[test]
    fn an_unfilled_slot_is_an_error_that_names_it() {
        let mut o = Slots([Some(8); member::COUNT]);
        o.0[member::CGROUP_KN] = None;
        let e = o.check().unwrap_err();
        assert!(e.to_string().contains("CGROUP_KN"), "{e}");
        assert_eq!(member::NAMES[member::CGROUP_KN], "CGROUP_KN");
        assert_eq!(member::NAMES.len(), member::COUNT);
    }
}
