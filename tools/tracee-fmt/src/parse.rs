//! `--parse-arguments`: flags and enums as the names C programmers write,
//! errnos as names.

use std::fmt::Write as _;

type Names = &'static [(u64, &'static str)];

const OPEN_FLAGS: Names = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "FASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

const PROT: Names = &[
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

const CLONE_FLAGS: Names = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
];

const AF: Names = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (3, "AF_AX25"),
    (4, "AF_IPX"),
    (5, "AF_APPLETALK"),
    (6, "AF_NETROM"),
    (7, "AF_BRIDGE"),
    (8, "AF_ATMPVC"),
    (9, "AF_X25"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (29, "AF_CAN"),
    (31, "AF_BLUETOOTH"),
    (38, "AF_ALG"),
    (40, "AF_VSOCK"),
    (44, "AF_XDP"),
];

const SOCK_TYPE: Names = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];

const PTRACE: Names = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
    (0x420c, "PTRACE_SECCOMP_GET_FILTER"),
    (0x420d, "PTRACE_SECCOMP_GET_METADATA"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
];

const BPF_CMD: Names = &[
    (0, "BPF_MAP_CREATE"),
    (1, "BPF_MAP_LOOKUP_ELEM"),
    (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"),
    (4, "BPF_MAP_GET_NEXT_KEY"),
    (5, "BPF_PROG_LOAD"),
    (6, "BPF_OBJ_PIN"),
    (7, "BPF_OBJ_GET"),
    (8, "BPF_PROG_ATTACH"),
    (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"),
    (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"),
    (13, "BPF_PROG_GET_FD_BY_ID"),
    (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"),
    (16, "BPF_PROG_QUERY"),
    (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"),
    (19, "BPF_BTF_GET_FD_BY_ID"),
    (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
    (22, "BPF_MAP_FREEZE"),
    (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"),
    (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"),
    (27, "BPF_MAP_DELETE_BATCH"),
    (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"),
    (30, "BPF_LINK_GET_FD_BY_ID"),
    (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"),
    (33, "BPF_ITER_CREATE"),
    (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
    (36, "BPF_TOKEN_CREATE"),
];

/// In Tracee's order.
const ACCESS: Names = &[(1, "X_OK"), (2, "W_OK"), (4, "R_OK")];
const FACCESSAT_FLAGS: Names = &[
    (0x200, "AT_EACCESS"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x100, "AT_SYMLINK_NOFOLLOW"),
];
const FCHMODAT_FLAGS: Names = &[(0x100, "AT_SYMLINK_NOFOLLOW")];
const EXECVEAT_FLAGS: Names = &[(0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")];

/// Capabilities by number (linux/capability.h).
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// mem_prot_alert's alerts, as Tracee words them.
const MEM_PROT_ALERTS: &[&str] = &[
    "Unknown alert",
    "Mmaped region with W+E permissions!",
    "Protection changed to Executable!",
    "Protection changed from E to W+E!",
    "Protection changed from W to E!",
];

/// File types of an inode mode, in Tracee's order.
const FILE_TYPES: Names = &[
    (0o140000, "S_IFSOCK"),
    (0o120000, "S_IFLNK"),
    (0o100000, "S_IFREG"),
    (0o060000, "S_IFBLK"),
    (0o040000, "S_IFDIR"),
    (0o020000, "S_IFCHR"),
    (0o010000, "S_IFIFO"),
];

const PRCTL: Names = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (8, "PR_SET_KEEPCAPS"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (47, "PR_CAP_AMBIENT"),
];

const ERRNO: &[&str] = &[
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// The errno name for a negative return value.
pub fn errno_name(ret: i64) -> Option<&'static str> {
    if !(-4095..0).contains(&ret) {
        return None;
    }
    ERRNO
        .get((-ret) as usize)
        .copied()
        .filter(|s| !s.is_empty())
}

fn bits(v: u64, names: Names, out: &mut String) -> u64 {
    let mut rest = v;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    rest
}

fn finish(mut s: String, rest: u64) -> String {
    if rest != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        let _ = write!(s, "0x{rest:x}");
    }
    s
}

fn name_of(v: u64, names: Names) -> Option<String> {
    names
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, s)| s.to_string())
}

fn open_flags(v: u64) -> String {
    let mut s = String::from(match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let rest = bits(v & !3, OPEN_FLAGS, &mut s);
    finish(s, rest)
}

fn flag_set(v: u64, names: Names, zero: &str) -> String {
    if v == 0 {
        return zero.to_string();
    }
    let mut s = String::new();
    let rest = bits(v, names, &mut s);
    finish(s, rest)
}

/// An address family's name, if it has one.
pub fn family_name(v: u64) -> Option<String> {
    name_of(v, AF)
}

/// `flag_set` with Tracee's empty string for 0 and the number when no
/// known bit is set.
fn flags_or_number(v: u64, names: Names) -> String {
    if v == 0 {
        return String::new();
    }
    let mut s = String::new();
    let rest = bits(v, names, &mut s);
    if s.is_empty() {
        return v.to_string();
    }
    finish(s, rest)
}

/// An inode mode as Tracee writes it: the file type, then the owner's,
/// group's and others' permissions, a whole `S_IRWX?` where all three are
/// set (the set-id and sticky bits are not shown).
fn inode_mode(v: u64) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(&(_, t)) = FILE_TYPES.iter().find(|(b, _)| v & b == *b) {
        parts.push(t);
    }
    let who: [(u64, &str, [&str; 3]); 3] = [
        (6, "S_IRWXU", ["S_IRUSR", "S_IWUSR", "S_IXUSR"]),
        (3, "S_IRWXG", ["S_IRGRP", "S_IWGRP", "S_IXGRP"]),
        (0, "S_IRWXO", ["S_IROTH", "S_IWOTH", "S_IXOTH"]),
    ];
    for (shift, all, each) in who {
        let p = (v >> shift) & 7;
        if p == 7 {
            parts.push(all);
        } else {
            for (i, name) in each.iter().enumerate() {
                if p & (4 >> i) != 0 {
                    parts.push(name);
                }
            }
        }
    }
    parts.join("|")
}

fn socket_type(v: u64) -> String {
    let mut s = name_of(v & 0xf, SOCK_TYPE).unwrap_or_else(|| (v & 0xf).to_string());
    let rest = bits(
        v & !0xf,
        &[(0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")],
        &mut s,
    );
    finish(s, rest)
}

/// The symbolic form of scalar argument `arg` of `event`, if it has one:
/// the arguments Tracee's `--parse-arguments` turns into strings, and no
/// others. Unknown bits of a flag set are kept as `0x...` (Tracee drops
/// them); an enum's unknown value is its number.
pub fn symbolic(event: &str, arg: &str, raw: u64) -> Option<String> {
    let v32 = raw as u32 as u64;
    let or_number = |names: Names| name_of(v32, names).unwrap_or_else(|| v32.to_string());
    Some(match (event, arg) {
        ("open" | "openat" | "security_file_open", "flags") => open_flags(v32),
        ("mmap" | "mprotect" | "pkey_mprotect", "prot")
        | ("mem_prot_alert", "prot" | "prev_prot") => flag_set(v32, PROT, "PROT_NONE"),
        ("mem_prot_alert", "alert") => MEM_PROT_ALERTS
            .get(v32 as usize)
            .copied()
            .unwrap_or(MEM_PROT_ALERTS[0])
            .to_string(),
        ("cap_capable", "cap") => CAPS
            .get(v32 as usize)
            .map_or_else(|| (raw as i32).to_string(), |c| c.to_string()),
        ("clone", "flags") => {
            // The exit signal in the low byte is not shown.
            let mut s = String::new();
            let rest = bits(raw & !0xff, CLONE_FLAGS, &mut s);
            if s.is_empty() {
                raw.to_string()
            } else {
                finish(s, rest)
            }
        }
        ("socket", "domain") => or_number(AF),
        ("socket" | "security_socket_connect", "type") => socket_type(v32),
        ("ptrace", "request") => name_of(raw, PTRACE).unwrap_or_else(|| raw.to_string()),
        ("bpf", "cmd") => or_number(BPF_CMD),
        ("access" | "faccessat", "mode") => {
            if v32 == 0 {
                "F_OK".into()
            } else {
                let mut s = String::new();
                let rest = bits(v32, ACCESS, &mut s);
                if s.is_empty() {
                    v32.to_string()
                } else {
                    finish(s, rest)
                }
            }
        }
        ("faccessat", "flags") => flags_or_number(v32, FACCESSAT_FLAGS),
        ("fchmodat", "flags") => flags_or_number(v32, FCHMODAT_FLAGS),
        ("execveat", "flags") => flags_or_number(v32, EXECVEAT_FLAGS),
        ("prctl", "option") => or_number(PRCTL),
        (
            "mknod" | "mknodat" | "security_inode_mknod" | "chmod" | "fchmod" | "fchmodat",
            "mode",
        )
        | ("sched_process_exec", "stdin_type") => inode_mode(v32),
        ("bpf_attach", "attach_type") => match v32 {
            0 => "raw_tracepoint",
            1 => "tracepoint",
            2 => "kprobe",
            3 => "kretprobe",
            4 => "uprobe",
            5 => "uretprobe",
            _ => return Some(v32.to_string()),
        }
        .to_string(),
        ("security_bpf_prog", "type") | ("bpf_attach", "prog_type") => crate::bpf_names::PROG_TYPES
            .get(v32 as usize)
            .map_or_else(|| v32.to_string(), |t| t.to_string()),
        _ => return None,
    })
}

/// The names a bitmap argument stands for (security_bpf_prog's helpers:
/// bit n is helper n), as Tracee lists them; an id without a name is its
/// number.
pub fn bitmap_names(event: &str, arg: &str, words: &[u64]) -> Option<Vec<String>> {
    if (event, arg) != ("security_bpf_prog", "helpers") {
        return None;
    }
    let mut v = Vec::new();
    for (w, &word) in words.iter().enumerate() {
        for b in 0..64 {
            if word & (1 << b) != 0 {
                let id = w * 64 + b;
                v.push(
                    crate::bpf_names::HELPERS
                        .get(id)
                        .map_or_else(|| id.to_string(), |n| n.to_string()),
                );
            }
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_like_c() {
        assert_eq!(
            symbolic("openat", "flags", 0o1101).unwrap(),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(symbolic("openat", "flags", 0).unwrap(), "O_RDONLY");
        assert_eq!(
            symbolic("security_file_open", "flags", 0o2000000).unwrap(),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(symbolic("mmap", "prot", 5).unwrap(), "PROT_READ|PROT_EXEC");
        assert_eq!(symbolic("mprotect", "prot", 0).unwrap(), "PROT_NONE");
        // Tracee's choices: mmap's flags, signals, dirfd stay numbers.
        assert!(symbolic("mmap", "flags", 0x22).is_none());
        assert!(symbolic("kill", "sig", 9).is_none());
        assert!(symbolic("openat", "dirfd", -100i64 as u64).is_none());
        // The seed's clone line: the exit signal is not shown.
        assert_eq!(
            symbolic("clone", "flags", 0x1200011).unwrap(),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"
        );
        assert_eq!(symbolic("clone", "flags", 17).unwrap(), "17");
        assert_eq!(symbolic("socket", "domain", 2).unwrap(), "AF_INET");
        assert_eq!(
            symbolic("socket", "type", 1 | 0o2000000).unwrap(),
            "SOCK_STREAM|SOCK_CLOEXEC"
        );
        assert_eq!(symbolic("ptrace", "request", 16).unwrap(), "PTRACE_ATTACH");
        assert_eq!(symbolic("bpf", "cmd", 5).unwrap(), "BPF_PROG_LOAD");
        assert_eq!(symbolic("bpf", "cmd", 999).unwrap(), "999");
        assert_eq!(symbolic("access", "mode", 6).unwrap(), "W_OK|R_OK");
        assert_eq!(symbolic("access", "mode", 0).unwrap(), "F_OK");
        assert_eq!(symbolic("execveat", "flags", 0).unwrap(), "");
        assert_eq!(
            symbolic("execveat", "flags", 0x1100).unwrap(),
            "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"
        );
        assert_eq!(symbolic("cap_capable", "cap", 21).unwrap(), "CAP_SYS_ADMIN");
        assert_eq!(symbolic("cap_capable", "cap", 41).unwrap(), "41");
        assert_eq!(
            symbolic("mem_prot_alert", "alert", 1).unwrap(),
            "Mmaped region with W+E permissions!"
        );
        assert_eq!(
            symbolic("mem_prot_alert", "alert", 9).unwrap(),
            "Unknown alert"
        );
        assert_eq!(
            symbolic("chmod", "mode", 0o755).unwrap(),
            "S_IRWXU|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH"
        );
        assert_eq!(
            symbolic("sched_process_exec", "stdin_type", 0o20620).unwrap(),
            "S_IFCHR|S_IRUSR|S_IWUSR|S_IWGRP"
        );
        assert_eq!(symbolic("mknod", "mode", 0).unwrap(), "");
        assert_eq!(
            symbolic("openat", "flags", 0x8000_0001).unwrap(),
            "O_WRONLY|0x80000000"
        );
        assert!(symbolic("read", "fd", 3).is_none());
    }

    #[test]
    fn errnos() {
        assert_eq!(errno_name(-2), Some("ENOENT"));
        assert_eq!(errno_name(-111), Some("ECONNREFUSED"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-5000), None);
    }
}
