//! The events tracee-collect knows: every x86_64 syscall (schemas generated
//! from the kernel's tracepoint formats) and the process lifecycle, their
//! catalog for the stream preamble, and `-e` selection.

use std::collections::BTreeSet;

use wire::event_id;
use wire::kcfg::{self, EventCfg, arg, nr};
use wire::preamble::{Alias, ArgDef, ArgType, Catalog, EventDef, event_flags};

use crate::syscalls_gen::SYSCALLS;

pub struct ArgSpec {
    /// The name printed: Tracee's, where Tracee defines the argument.
    pub name: &'static str,
    /// The kernel's own name for it when Tracee's differs (else empty):
    /// filters accept it too.
    pub alias: &'static str,
    pub ty: &'static str,
    pub at: ArgType,
    /// How the kernel reads it (`wire::kcfg::arg`).
    pub kernel: u8,
}

pub struct SyscallSpec {
    pub nr: u32,
    pub name: &'static str,
    pub args: &'static [ArgSpec],
}

const fn a(name: &'static str, ty: &'static str, at: ArgType) -> ArgSpec {
    ArgSpec {
        name,
        alias: "",
        ty,
        at,
        kernel: arg::SCALAR,
    }
}

/// Non-syscall events, with Tracee's names and argument names.
pub static LIFECYCLE: &[SyscallSpec] = &[
    SyscallSpec {
        nr: event_id::SCHED_PROCESS_FORK,
        name: "sched_process_fork",
        args: &[
            a("parent_tid", "int", ArgType::I32),
            a("parent_ns_tid", "int", ArgType::I32),
            a("parent_pid", "int", ArgType::I32),
            a("parent_ns_pid", "int", ArgType::I32),
            a("child_tid", "int", ArgType::I32),
            a("child_ns_tid", "int", ArgType::I32),
            a("child_pid", "int", ArgType::I32),
            a("child_ns_pid", "int", ArgType::I32),
            a("start_time", "unsigned long", ArgType::U64),
        ],
    },
    SyscallSpec {
        nr: event_id::SCHED_PROCESS_EXEC,
        name: "sched_process_exec",
        // Tracee's (v0.24's list, with v0.22's C types).
        args: &[
            a("cmdpath", "const char*", ArgType::Str),
            a("pathname", "const char*", ArgType::Str),
            a("dev", "dev_t", ArgType::U32),
            a("inode", "unsigned long", ArgType::U64),
            a("ctime", "unsigned long", ArgType::U64),
            a("inode_mode", "umode_t", ArgType::U32),
            a("interpreter_pathname", "const char*", ArgType::Str),
            a("interpreter_dev", "dev_t", ArgType::U32),
            a("interpreter_inode", "unsigned long", ArgType::U64),
            a("interpreter_ctime", "unsigned long", ArgType::U64),
            a("argv", "const char**", ArgType::StrArray),
            a("interp", "const char*", ArgType::Str),
            a("stdin_type", "umode_t", ArgType::U32),
            a("stdin_path", "char*", ArgType::Str),
            a("invoked_from_kernel", "int", ArgType::I32),
            a("prev_comm", "const char*", ArgType::Str),
            a("env", "const char**", ArgType::StrArray),
            a("pwd", "char*", ArgType::Str),
        ],
    },
    SyscallSpec {
        nr: event_id::SCHED_PROCESS_EXIT,
        name: "sched_process_exit",
        args: &[
            a("exit_code", "long", ArgType::I64),
            a("signal_code", "int", ArgType::I32),
            a("process_group_exit", "bool", ArgType::Bool),
        ],
    },
    // The container events, with Tracee v0.24's (Go-style) type names.
    SyscallSpec {
        nr: event_id::CGROUP_MKDIR,
        name: "cgroup_mkdir",
        args: CGROUP_ARGS,
    },
    SyscallSpec {
        nr: event_id::CGROUP_RMDIR,
        name: "cgroup_rmdir",
        args: CGROUP_ARGS,
    },
    SyscallSpec {
        nr: event_id::CONTAINER_CREATE,
        name: "container_create",
        args: &[
            a("runtime", "string", ArgType::Str),
            a("container_id", "string", ArgType::Str),
            a("ctime", "uint64", ArgType::U64),
            a("container_image", "string", ArgType::Str),
            a("container_image_digest", "string", ArgType::Str),
            a("container_name", "string", ArgType::Str),
            a("pod_name", "string", ArgType::Str),
            a("pod_namespace", "string", ArgType::Str),
            a("pod_uid", "string", ArgType::Str),
            a("pod_sandbox", "bool", ArgType::Bool),
        ],
    },
    SyscallSpec {
        nr: event_id::CONTAINER_REMOVE,
        name: "container_remove",
        args: &[
            a("runtime", "string", ArgType::Str),
            a("container_id", "string", ArgType::Str),
        ],
    },
];

/// Security events, with Tracee's names, argument names and (v0.22, C)
/// types, derived in the kernel from syscall exits and tracepoints
/// (`ebpf/src/security.rs`).
pub static SECURITY: &[SyscallSpec] = &[
    SyscallSpec {
        nr: event_id::SECURITY_FILE_OPEN,
        name: "security_file_open",
        args: &[
            a("pathname", "const char*", ArgType::Str),
            a("flags", "int", ArgType::I32),
            a("dev", "dev_t", ArgType::U32),
            a("inode", "unsigned long", ArgType::U64),
            a("ctime", "unsigned long", ArgType::U64),
            a("syscall_pathname", "const char*", ArgType::Str),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_BPRM_CHECK,
        name: "security_bprm_check",
        args: &[
            a("pathname", "const char*", ArgType::Str),
            a("dev", "dev_t", ArgType::U32),
            a("inode", "unsigned long", ArgType::U64),
            a("argv", "const char*const*", ArgType::StrArray),
            a("envp", "const char*const*", ArgType::StrArray),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SOCKET_CONNECT,
        name: "security_socket_connect",
        args: &[
            a("sockfd", "int", ArgType::I32),
            a("type", "int", ArgType::I32),
            a("remote_addr", "struct sockaddr*", ArgType::Sockaddr),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SOCKET_BIND,
        name: "security_socket_bind",
        args: &[
            a("sockfd", "int", ArgType::I32),
            a("local_addr", "struct sockaddr*", ArgType::Sockaddr),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SOCKET_LISTEN,
        name: "security_socket_listen",
        args: &[
            a("sockfd", "int", ArgType::I32),
            a("local_addr", "struct sockaddr*", ArgType::Sockaddr),
            a("backlog", "int", ArgType::I32),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SOCKET_ACCEPT,
        name: "security_socket_accept",
        args: &[
            a("sockfd", "int", ArgType::I32),
            a("local_addr", "struct sockaddr*", ArgType::Sockaddr),
        ],
    },
    SyscallSpec {
        nr: event_id::CAP_CAPABLE,
        name: "cap_capable",
        args: &[a("cap", "int", ArgType::I32)],
    },
    SyscallSpec {
        nr: event_id::SECURITY_INODE_UNLINK,
        name: "security_inode_unlink",
        args: &[
            a("pathname", "const char*", ArgType::Str),
            a("inode", "unsigned long", ArgType::U64),
            a("dev", "dev_t", ArgType::U32),
            a("ctime", "u64", ArgType::U64),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_INODE_RENAME,
        name: "security_inode_rename",
        args: &[
            a("old_path", "const char*", ArgType::Str),
            a("new_path", "const char*", ArgType::Str),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_INODE_SYMLINK,
        name: "security_inode_symlink",
        args: &[
            a("linkpath", "const char*", ArgType::Str),
            a("target", "const char*", ArgType::Str),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_INODE_MKNOD,
        name: "security_inode_mknod",
        args: &[
            a("file_name", "const char*", ArgType::Str),
            a("mode", "umode_t", ArgType::U32),
            a("dev", "dev_t", ArgType::U32),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SB_UMOUNT,
        name: "security_sb_umount",
        args: &[
            a("mountpoint", "const char*", ArgType::Str),
            a("type", "const char*", ArgType::Str),
            a("flags", "int", ArgType::I32),
        ],
    },
    SyscallSpec {
        nr: event_id::MAGIC_WRITE,
        name: "magic_write",
        args: &[
            a("pathname", "const char*", ArgType::Str),
            a("bytes", "bytes", ArgType::Bytes),
            a("dev", "dev_t", ArgType::U32),
            a("inode", "unsigned long", ArgType::U64),
        ],
    },
    SyscallSpec {
        nr: event_id::MEM_PROT_ALERT,
        name: "mem_prot_alert",
        args: &[
            a("alert", "u32", ArgType::U32),
            a("addr", "void*", ArgType::Ptr),
            a("len", "size_t", ArgType::U64),
            a("prot", "int", ArgType::I32),
            a("prev_prot", "int", ArgType::I32),
            a("pathname", "const char*", ArgType::Str),
            a("dev", "dev_t", ArgType::U32),
            a("inode", "unsigned long", ArgType::U64),
            a("ctime", "u64", ArgType::U64),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_BPF_PROG,
        name: "security_bpf_prog",
        args: &[
            a("type", "int", ArgType::I32),
            a("name", "const char*", ArgType::Str),
            a("helpers", "unsigned long[]", ArgType::Bytes),
            a("id", "u32", ArgType::U32),
            a("load", "bool", ArgType::Bool),
        ],
    },
    SyscallSpec {
        nr: event_id::BPF_ATTACH,
        name: "bpf_attach",
        args: &[
            a("prog_type", "int", ArgType::I32),
            a("prog_name", "const char*", ArgType::Str),
            a("prog_id", "u32", ArgType::U32),
            a("prog_helpers", "unsigned long[]", ArgType::Bytes),
            a("symbol_name", "const char*", ArgType::Str),
            a("symbol_addr", "u64", ArgType::U64),
            a("attach_type", "int", ArgType::I32),
        ],
    },
    SyscallSpec {
        nr: event_id::SECURITY_SB_MOUNT,
        name: "security_sb_mount",
        args: &[
            a("dev_name", "const char*", ArgType::Str),
            a("path", "const char*", ArgType::Str),
            a("type", "const char*", ArgType::Str),
            a("flags", "unsigned long", ArgType::U64),
        ],
    },
];

/// Network events, derived in user space from the packets the kernel's
/// cgroup_skb programs send (and `net_tcp_connect` from
/// `security_socket_connect`), with Tracee's names, ids, argument names and
/// types; the protocol arguments are JSON objects in Tracee's shapes.
pub static NETWORK: &[SyscallSpec] = &[
    SyscallSpec {
        nr: event_id::NET_PACKET_IPV4,
        name: "net_packet_ipv4",
        args: &[
            a("src", "string", ArgType::Str),
            a("dst", "string", ArgType::Str),
            a("metadata", "trace.PacketMetadata", ArgType::Json),
            a("proto_ipv4", "trace.ProtoIPv4", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_IPV6,
        name: "net_packet_ipv6",
        args: &[
            a("src", "string", ArgType::Str),
            a("dst", "string", ArgType::Str),
            a("metadata", "trace.PacketMetadata", ArgType::Json),
            a("proto_ipv6", "trace.ProtoIPv6", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_TCP,
        name: "net_packet_tcp",
        args: PORTS_TCP,
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_UDP,
        name: "net_packet_udp",
        args: PORTS_UDP,
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_ICMP,
        name: "net_packet_icmp",
        args: &[
            a("src", "string", ArgType::Str),
            a("dst", "string", ArgType::Str),
            a("metadata", "trace.PacketMetadata", ArgType::Json),
            a("proto_icmp", "trace.ProtoICMP", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_ICMPV6,
        name: "net_packet_icmpv6",
        args: &[
            a("src", "string", ArgType::Str),
            a("dst", "string", ArgType::Str),
            a("metadata", "trace.PacketMetadata", ArgType::Json),
            a("proto_icmpv6", "trace.ProtoICMPv6", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_DNS,
        name: "net_packet_dns",
        args: PORTS_DNS,
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_DNS_REQUEST,
        name: "net_packet_dns_request",
        args: &[
            a("metadata", "trace.PktMeta", ArgType::Json),
            a("dns_questions", "[]trace.DnsQueryData", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_DNS_RESPONSE,
        name: "net_packet_dns_response",
        args: &[
            a("metadata", "trace.PktMeta", ArgType::Json),
            a("dns_response", "[]trace.DnsResponseData", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_HTTP,
        name: "net_packet_http",
        args: PORTS_HTTP,
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_HTTP_REQUEST,
        name: "net_packet_http_request",
        args: &[
            a("metadata", "trace.PktMeta", ArgType::Json),
            a("http_request", "trace.ProtoHTTPRequest", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_PACKET_HTTP_RESPONSE,
        name: "net_packet_http_response",
        args: &[
            a("metadata", "trace.PktMeta", ArgType::Json),
            a("http_response", "trace.ProtoHTTPResponse", ArgType::Json),
        ],
    },
    SyscallSpec {
        nr: event_id::NET_FLOW_TCP_BEGIN,
        name: "net_flow_tcp_begin",
        args: FLOW_ARGS,
    },
    SyscallSpec {
        nr: event_id::NET_FLOW_TCP_END,
        name: "net_flow_tcp_end",
        args: FLOW_ARGS,
    },
    SyscallSpec {
        nr: event_id::NET_TCP_CONNECT,
        name: "net_tcp_connect",
        args: &[
            a("dst", "string", ArgType::Str),
            a("dst_port", "int32", ArgType::I32),
            a("dst_dns", "[]string", ArgType::StrArray),
        ],
    },
];

macro_rules! ports_args {
    ($name:ident, $proto:literal, $ty:literal) => {
        const $name: &[ArgSpec] = &[
            a("src", "string", ArgType::Str),
            a("dst", "string", ArgType::Str),
            a("src_port", "uint16", ArgType::U32),
            a("dst_port", "uint16", ArgType::U32),
            a("metadata", "trace.PacketMetadata", ArgType::Json),
            a($proto, $ty, ArgType::Json),
        ];
    };
}
ports_args!(PORTS_TCP, "proto_tcp", "trace.ProtoTCP");
ports_args!(PORTS_UDP, "proto_udp", "trace.ProtoUDP");
ports_args!(PORTS_DNS, "proto_dns", "trace.ProtoDNS");
ports_args!(PORTS_HTTP, "proto_http", "trace.ProtoHTTP");

const FLOW_ARGS: &[ArgSpec] = &[
    a("conn_direction", "string", ArgType::Str),
    a("src", "string", ArgType::Str),
    a("dst", "string", ArgType::Str),
    a("src_port", "uint16", ArgType::U32),
    a("dst_port", "uint16", ArgType::U32),
    a("src_dns", "[]string", ArgType::StrArray),
    a("dst_dns", "[]string", ArgType::StrArray),
];

/// How each security event is derived here, and what can race: what
/// `--list` says of it.
pub fn derivation(id: u32) -> Option<&'static str> {
    Some(match id {
        event_id::SECURITY_FILE_OPEN => {
            "derived from the exit of a successful open, openat, openat2 or creat (the file the new descriptor holds) and from sched_process_exec (the file it runs); not emitted for opens that failed. Races: the file is looked up by the new descriptor at exit, and a thread sharing the descriptor table can replace it in between (the event then names the replacement; a descriptor already closed leaves pathname empty and marked unreadable); syscall_pathname is read from the caller's memory at exit. O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC (which the kernel drops from the open file) come from the call's flags argument, and are not shown for openat2, whose flags the caller can rewrite"
        }
        event_id::SECURITY_BPRM_CHECK => {
            "derived from sched_process_exec: emitted for execs that succeeded; argv and envp are the new image's"
        }
        event_id::SECURITY_SOCKET_CONNECT | event_id::SECURITY_SOCKET_BIND => {
            "derived from the syscall's exit, unless the kernel refused it before its check (EBADF, ENOTSOCK, EFAULT, a length outside 0..128). Race: the address is read from the caller's memory at exit, which another thread of the caller can rewrite after the kernel read it; the socket's type is looked up by descriptor at exit (left out if a thread replaced it)"
        }
        event_id::SECURITY_SOCKET_LISTEN | event_id::SECURITY_SOCKET_ACCEPT => {
            "derived from the syscall's exit, unless the kernel refused it before its check (EBADF, ENOTSOCK, EFAULT); local_addr is the socket's own, read from the kernel by descriptor at exit (marked unreadable if a thread sharing the descriptor table replaced it)"
        }
        event_id::CAP_CAPABLE => {
            "from the capability:cap_capable tracepoint, after the check: returnValue is its result (0 or -EPERM); the CAP_SYS_ADMIN checks of memory accounting during mmap, brk, mremap, mprotect and exec are left out (unaudited checks, which Tracee leaves out too; this tracepoint does not say which checks are unaudited)"
        }
        event_id::SECURITY_INODE_UNLINK => {
            "derived from the exit of a successful unlink or unlinkat (not rmdir); the path is the caller's, joined to its working directory or dirfd's path as given (not normalised). The file is gone by then: inode, dev and ctime are not known here and are marked unreadable (a kernel with LSM BPF gives them)"
        }
        event_id::SECURITY_INODE_RENAME => {
            "derived from the exit of a successful rename, renameat or renameat2; both paths the caller's, joined to the working directory or the dirfd's path as given"
        }
        event_id::SECURITY_INODE_SYMLINK => {
            "derived from the exit of a successful symlink or symlinkat; linkpath joined to the working directory or dirfd's path, target as given"
        }
        event_id::SECURITY_INODE_MKNOD => {
            "derived from the exit of a successful mknod or mknodat; file_name joined to the working directory or dirfd's path; mode with the caller's umask applied (as the kernel applies it unless the directory has a default ACL); dev as the kernel encodes it"
        }
        event_id::SECURITY_SB_MOUNT => {
            "derived from the exit of mount(2), refused mounts included (the kernel's check comes before the permission check), unless finding its arguments failed (EFAULT, ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP); path joined to the working directory. The strings are read from the caller's memory at exit"
        }
        event_id::SECURITY_SB_UMOUNT => {
            "derived from the exit of umount2 the kernel's check saw (not for a caller refused by the permission check before it, nor a path not found); mountpoint joined to the working directory; the file system's type is gone with the mount and is marked unreadable (Tracee's type is the v0.24 name, the string type here)"
        }
        event_id::MAGIC_WRITE => {
            "derived from the exit of write, writev, pwrite64, pwritev and pwritev2 that wrote at offset 0 of a regular file; bytes are the first 20 written (for the vectored calls, of the first iovec), read from the caller's buffer at exit, which another thread of the caller can rewrite after the kernel read it"
        }
        event_id::MEM_PROT_ALERT => {
            "derived from the exit of mmap (writable and executable at once) and of mprotect and pkey_mprotect, whose region's protection before the call is read at its entry (sys_enter_mprotect): made executable when it was writable, made writable when executable, or no longer writable but still executable. The region's file is the mapping's at the start address"
        }
        event_id::SECURITY_BPF_PROG => {
            "derived from the exit of bpf(BPF_PROG_LOAD) (load true) and bpf(BPF_PROG_GET_FD_BY_ID) (load false): type, name and id from the kernel's program behind the returned descriptor (a thread sharing the descriptor table can replace it first); helpers from the instructions the caller passed, read from its memory at exit (the first 32768; unknown, and marked so, for GET_FD_BY_ID)"
        }
        event_id::BPF_ATTACH => {
            "derived from the exit of bpf(BPF_RAW_TRACEPOINT_OPEN) (attach_type raw_tracepoint; symbol_name the tracepoint named, or the function a tp_btf or fentry program's load named) and of a program's attachment to a perf event, by ioctl(PERF_EVENT_IOC_SET_BPF) or bpf(BPF_LINK_CREATE) (tracepoint: its name; kprobe, uprobe: the probe event's name); prog_helpers and symbol_addr are not known here and are marked unreadable; other link types (tracing, cgroup, XDP...) are not seen. The descriptors are looked up at exit: a thread sharing the table can replace them first"
        }
        event_id::SCHED_PROCESS_EXEC => {
            "from the sched_process_exec tracepoint; interpreter_* is the ELF interpreter (the mapping at auxv's AT_BASE), interp the kernel's interpreter name (a script's); env only with --exec-env"
        }
        event_id::NET_TCP_CONNECT => {
            "derived in user space from security_socket_connect of a stream socket to an IPv4 or IPv6 address (the address read from the caller's memory at exit); dst_dns is empty (no DNS cache)"
        }
        id if NETWORK.iter().any(|s| s.nr == id) => {
            "derived in user space from the packets of the cgroup_skb programs on the cgroup v2 root, each attributed to its socket's owner (kept from the socket's creation and every send and receive; an accepted socket starts with its listener's owner; unknown, with an empty context, for kernel sockets and for sockets made before tracing until used); a loopback packet is seen leaving and arriving"
        }
        _ => return None,
    })
}

/// The security program (`kcfg::derive`) that derives event `id` from
/// syscall exits, if one does.
pub fn derive_group(id: u32) -> Option<u8> {
    use kcfg::derive::*;
    Some(match id {
        event_id::SECURITY_FILE_OPEN
        | event_id::SECURITY_INODE_UNLINK
        | event_id::SECURITY_INODE_RENAME
        | event_id::SECURITY_INODE_SYMLINK
        | event_id::SECURITY_INODE_MKNOD
        | event_id::SECURITY_SB_MOUNT
        | event_id::SECURITY_SB_UMOUNT => FILES,
        event_id::SECURITY_SOCKET_CONNECT
        | event_id::SECURITY_SOCKET_BIND
        | event_id::SECURITY_SOCKET_LISTEN
        | event_id::SECURITY_SOCKET_ACCEPT => NET,
        event_id::MAGIC_WRITE
        | event_id::MEM_PROT_ALERT
        | event_id::SECURITY_BPF_PROG
        | event_id::BPF_ATTACH => MEMORY,
        _ => return None,
    })
}

/// The syscalls whose exit a security event is derived from.
pub fn derived_from(id: u32) -> &'static [u32] {
    match id {
        event_id::SECURITY_FILE_OPEN => &[nr::OPEN, nr::OPENAT, nr::OPENAT2, nr::CREAT],
        event_id::SECURITY_SOCKET_CONNECT => &[nr::CONNECT],
        event_id::SECURITY_SOCKET_BIND => &[nr::BIND],
        event_id::SECURITY_SOCKET_LISTEN => &[nr::LISTEN],
        event_id::SECURITY_SOCKET_ACCEPT => &[nr::ACCEPT, nr::ACCEPT4],
        event_id::SECURITY_INODE_UNLINK => &[nr::UNLINK, nr::UNLINKAT],
        event_id::SECURITY_INODE_RENAME => &[nr::RENAME, nr::RENAMEAT, nr::RENAMEAT2],
        event_id::SECURITY_INODE_SYMLINK => &[nr::SYMLINK, nr::SYMLINKAT],
        event_id::SECURITY_INODE_MKNOD => &[nr::MKNOD, nr::MKNODAT],
        event_id::SECURITY_SB_MOUNT => &[nr::MOUNT],
        event_id::SECURITY_SB_UMOUNT => &[nr::UMOUNT2],
        event_id::MAGIC_WRITE => &[
            nr::WRITE,
            nr::WRITEV,
            nr::PWRITE64,
            nr::PWRITEV,
            nr::PWRITEV2,
        ],
        event_id::MEM_PROT_ALERT => &[nr::MMAP, nr::MPROTECT, nr::PKEY_MPROTECT],
        event_id::SECURITY_BPF_PROG => &[nr::BPF],
        event_id::BPF_ATTACH => &[nr::BPF, nr::IOCTL],
        _ => &[],
    }
}

const CGROUP_ARGS: &[ArgSpec] = &[
    a("cgroup_id", "uint64", ArgType::U64),
    a("cgroup_path", "string", ArgType::Str),
    a("hierarchy_id", "uint32", ArgType::U32),
];

/// Events tracee-collect makes in user space (from other events and the
/// container runtime); the kernel has no program for them.
pub fn is_derived(id: u32) -> bool {
    matches!(id, event_id::CONTAINER_CREATE | event_id::CONTAINER_REMOVE)
        || NETWORK.iter().any(|s| s.nr == id)
}

pub fn all() -> impl Iterator<Item = &'static SyscallSpec> {
    SYSCALLS
        .iter()
        .chain(LIFECYCLE)
        .chain(SECURITY)
        .chain(NETWORK)
}

pub fn by_name(name: &str) -> Option<&'static SyscallSpec> {
    all().find(|s| s.name == name)
}

/// Syscall events have their x86_64 numbers; every other event an id of
/// 700 or more (Tracee's ranges).
pub fn is_syscall(id: u32) -> bool {
    id < 700
}

/// The catalog written into every stream's preamble.
pub fn catalog() -> Catalog {
    Catalog::new(
        all()
            .map(|s| EventDef {
                id: s.nr,
                name: s.name.to_string(),
                flags: if is_syscall(s.nr) {
                    event_flags::SYSCALL
                } else {
                    0
                },
                args: s
                    .args
                    .iter()
                    .map(|a| ArgDef {
                        name: a.name.to_string(),
                        type_name: a.ty.to_string(),
                        ty: a.at,
                    })
                    .collect(),
            })
            .collect(),
    )
    .with_aliases(
        all()
            .flat_map(|s| {
                s.args
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| !a.alias.is_empty())
                    .map(|(i, a)| Alias {
                        event: s.nr,
                        arg: i as u8,
                        name: a.alias.to_string(),
                    })
            })
            .collect(),
    )
}

/// What the kernel needs to know to trace event `s`.
pub fn kernel_cfg(s: &SyscallSpec) -> EventCfg {
    let mut c = EventCfg {
        enabled: 1,
        nargs: s.args.len().min(6) as u8,
        ..Default::default()
    };
    for (i, a) in s.args.iter().take(6).enumerate() {
        c.kinds[i] = a.kernel;
        match a.kernel {
            arg::STR | arg::STR_ARRAY | arg::SOCKADDR_IN => c.flags |= kcfg::flags::HAS_BLOB,
            arg::SOCKADDR_OUT => c.flags |= kcfg::flags::HAS_OUT,
            _ => {}
        }
    }
    // exit and exit_group never return, and rt_sigreturn's exit carries
    // the interrupted context's registers (orig_ax -1): emit them at entry.
    if matches!(s.nr, nr::RT_SIGRETURN | nr::EXIT | nr::EXIT_GROUP) {
        c.flags |= kcfg::flags::AT_ENTRY;
    }
    // execve, execveat: a new image replaces the memory the arguments point
    // to and the registers. Every other syscall is read at exit alone.
    if c.flags & kcfg::flags::AT_ENTRY != 0 || matches!(s.nr, nr::EXECVE | nr::EXECVEAT) {
        c.flags |= kcfg::flags::ENTRY;
    }
    c
}

const PROC: &[&str] = &[
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tkill",
    "tgkill",
    "prctl",
    "ptrace",
    "setsid",
    "setpgid",
    "pidfd_open",
    "pidfd_send_signal",
    "process_vm_readv",
    "process_vm_writev",
];
const FS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "mount",
    "umount2",
    "stat",
    "lstat",
    "fstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "chdir",
    "fchdir",
    "chroot",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "mknod",
    "mknodat",
    "utime",
    "utimes",
    "utimensat",
    "memfd_create",
    "name_to_handle_at",
    "open_by_handle_at",
    "sendfile",
    "splice",
    "copy_file_range",
];
const SECURITY_SET: &[&str] = &[
    "security_file_open",
    "security_bprm_check",
    "security_socket_connect",
    "security_socket_bind",
    "security_socket_listen",
    "security_socket_accept",
    "cap_capable",
    "security_inode_unlink",
    "security_inode_rename",
    "security_inode_symlink",
    "security_inode_mknod",
    "security_sb_mount",
    "security_sb_umount",
    "magic_write",
    "mem_prot_alert",
    "security_bpf_prog",
    "bpf_attach",
];
const NET: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
];
/// Tracee's default set (v0.24: the events whose sets include "default",
/// what `tracee` traces with no `--events`), as far as tracee-rs has them:
/// its signatures are not part of tracee-rs.
const DEFAULT: &[&str] = &[
    "chmod",
    "chown",
    "creat",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "finit_module",
    "init_module",
    "lchown",
    "memfd_create",
    "move_mount",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setns",
    "setpgid",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setuid",
    "sched_process_exec",
    "security_inode_unlink",
    "security_sb_mount",
    "security_sb_umount",
    "security_socket_accept",
    "security_socket_bind",
    "security_socket_connect",
    "container_create",
    "container_remove",
    "net_packet_icmp",
    "net_packet_icmpv6",
    "net_packet_dns_request",
    "net_packet_dns_response",
    "net_packet_http_request",
    "net_packet_http_response",
    "net_tcp_connect",
];
const CONTAINERS: &[&str] = &[
    "cgroup_mkdir",
    "cgroup_rmdir",
    "container_create",
    "container_remove",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("unknown event or set '{0}' in -e (see --list)")]
    Unknown(String),
    #[error("empty name in -e '{0}'")]
    Empty(String),
}

/// Event ids of a named set, or None if `name` is not a set.
fn set(name: &str) -> Option<Vec<u32>> {
    let ids = |names: &[&str]| {
        names
            .iter()
            .filter_map(|n| by_name(n))
            .map(|s| s.nr)
            .collect()
    };
    Some(match name {
        "default" => ids(DEFAULT),
        "syscalls" => SYSCALLS.iter().map(|s| s.nr).collect(),
        "proc" => ids(PROC),
        "fs" => ids(FS),
        "net" => ids(NET),
        "containers" => ids(CONTAINERS),
        "security" => ids(SECURITY_SET),
        // Tracee's sets of the network events.
        "network_events" => NETWORK
            .iter()
            .filter(|s| s.nr != event_id::NET_TCP_CONNECT)
            .map(|s| s.nr)
            .collect(),
        "flows" => vec![
            event_id::NET_FLOW_TCP_BEGIN,
            event_id::NET_FLOW_TCP_END,
            event_id::NET_TCP_CONNECT,
        ],
        "all" => all().map(|s| s.nr).collect(),
        _ => return None,
    })
}

/// Resolves `-e` values: names, globs (`open*`), sets, and exclusions
/// (`-close`), comma-separated or repeated. Without any positive term the
/// default set is the start.
pub fn select(specs: &[String]) -> Result<BTreeSet<u32>, SelectError> {
    let mut add = BTreeSet::new();
    let mut remove = BTreeSet::new();
    let mut positive = false;
    for spec in specs {
        for term in spec.split(',') {
            let term = term.trim();
            let (neg, name) = match term.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, term),
            };
            if name.is_empty() {
                return Err(SelectError::Empty(spec.clone()));
            }
            let ids: Vec<u32> = if let Some(ids) = set(name) {
                ids
            } else {
                let p = tracee_filter::Pattern::new(name);
                all()
                    .filter(|s| p.matches(s.name.as_bytes()))
                    .map(|s| s.nr)
                    .collect()
            };
            if ids.is_empty() {
                return Err(SelectError::Unknown(name.to_string()));
            }
            if neg {
                remove.extend(ids);
            } else {
                positive = true;
                add.extend(ids);
            }
        }
    }
    if !positive {
        add.extend(set("default").unwrap_or_default());
    }
    Ok(add.difference(&remove).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(n: &str) -> u32 {
        by_name(n).unwrap().nr
    }

    #[test]
    fn selection() {
        let s = select(&["openat,execve".into()]).unwrap();
        assert_eq!(s, [nr("openat"), nr("execve")].into_iter().collect());
        let s = select(&["open*".into(), "-openat2".into()]).unwrap();
        assert!(
            s.contains(&nr("open")) && s.contains(&nr("openat")) && !s.contains(&nr("openat2"))
        );
        let s = select(&["syscalls,-close".into()]).unwrap();
        assert!(s.contains(&nr("read")) && !s.contains(&nr("close")));
        assert!(!s.contains(&event_id::SCHED_PROCESS_EXEC));
        // Tracee's default set.
        let d = select(&[]).unwrap();
        assert!(
            d.contains(&event_id::SCHED_PROCESS_EXEC)
                && d.contains(&event_id::SECURITY_SOCKET_CONNECT)
                && d.contains(&nr("setuid"))
                && d.contains(&event_id::CONTAINER_CREATE)
                && !d.contains(&nr("execve"))
                && !d.contains(&nr("read"))
        );
        assert_eq!(d.len(), DEFAULT.len(), "every default event exists");
        let d = select(&["-setuid".into()]).unwrap();
        assert!(!d.contains(&nr("setuid")) && d.contains(&nr("setgid")));
        assert_eq!(
            select(&["nosuch".into()]),
            Err(SelectError::Unknown("nosuch".into()))
        );
        assert_eq!(
            select(&["openat,".into()]),
            Err(SelectError::Empty("openat,".into()))
        );
    }

    #[test]
    fn globs() {
        let glob = |p: &str, s: &str| tracee_filter::Pattern::new(p).matches(s.as_bytes());
        assert!(glob("open*", "openat"));
        assert!(glob("*at", "openat"));
        assert!(glob("*pen*", "openat"));
        // Tracee's wildcards: only at the ends, as in event= filters.
        assert!(!glob("o*e*t", "openat"));
        assert!(!glob("open*", "close"));
        assert!(!glob("*atat", "at"));
    }

    /// Every syscall Tracee defines prints Tracee's argument names and
    /// types (the committed table), for each argument this kernel's
    /// syscall has; the kernel's own name stays an alias in the catalog.
    #[test]
    fn syscalls_carry_tracees_names_and_types() {
        let table = include_str!("../tracee-syscalls.tsv");
        let cat = catalog();
        let mut shared = 0;
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let (name, args) = line.split_once('\t').unwrap();
            let Some(def) = cat.by_name(name) else {
                continue; // i386-only syscalls, or ones newer than this table
            };
            shared += 1;
            let theirs: Vec<(&str, &str)> = args
                .split(',')
                .filter(|a| !a.is_empty())
                .map(|a| a.rsplit_once(' ').unwrap())
                .collect();
            for (i, ((ty, n), ours)) in theirs.iter().zip(&def.args).enumerate() {
                assert_eq!(
                    (ours.name.as_str(), ours.type_name.as_str()),
                    (*n, *ty),
                    "{name} argument {i}"
                );
            }
            if def.args.len() != theirs.len() {
                // Tracee's count differs only where the kernel's syscall
                // differs from Tracee's idea of it.
                assert!(
                    [
                        "sysfs",
                        "fchmodat",
                        "faccessat",
                        "eventfd",
                        "membarrier",
                        "io_uring_enter",
                        "close_range",
                        "epoll_pwait2"
                    ]
                    .contains(&name),
                    "{name}: {} arguments, Tracee has {}",
                    def.args.len(),
                    theirs.len()
                );
            }
        }
        assert!(shared > 350, "only {shared} syscalls matched the table");
        let o = cat.by_name("openat").unwrap();
        assert_eq!(cat.arg_index(o, "filename"), cat.arg_index(o, "pathname"));
        assert_eq!(cat.arg_index(o, "dfd"), Some(0));
        let c = cat.by_name("clone").unwrap();
        assert_eq!(cat.arg_index(c, "clone_flags"), Some(0));
    }

    /// A syscall feeds one security program: the events derived from it
    /// agree on which.
    #[test]
    fn each_syscall_has_one_security_program() {
        let mut group = std::collections::BTreeMap::new();
        for s in SECURITY {
            for &n in derived_from(s.nr) {
                let g = derive_group(s.nr).expect("a derived event has a program");
                assert_eq!(*group.entry(n).or_insert(g), g, "syscall {n}");
            }
        }
        assert!(group.len() > 20);
    }

    #[test]
    fn how_the_kernel_reads_them() {
        let o = by_name("openat").unwrap();
        assert_eq!(o.args[1].kernel, arg::STR);
        let c = by_name("connect").unwrap();
        assert_eq!(c.args[1].kernel, arg::SOCKADDR_IN);
        let acc = by_name("accept").unwrap();
        assert_eq!(acc.args[1].kernel, arg::SOCKADDR_OUT);
        let w = by_name("write").unwrap();
        assert_eq!(
            w.args[1].at,
            ArgType::Ptr,
            "buffers are sent as addresses, not read"
        );
        let e = by_name("execve").unwrap();
        assert_eq!(e.args[1].kernel, arg::STR_ARRAY);
        assert!(kernel_cfg(by_name("exit_group").unwrap()).flags & kcfg::flags::AT_ENTRY != 0);
    }
}
