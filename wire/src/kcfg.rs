//! The contract between tracee-collect and the eBPF programs: map value
//! layouts, global names and the meaning of their values. It is not part
//! of the stream; only the loader and the kernel programs read it.

/// How the kernel reads a syscall argument (a byte of [`EventCfg::kinds`]).
///
/// One numbering with the stream's item kinds ([`crate::item`]): each way
/// of reading has the number of the item it produces, so a number means
/// one thing on both sides. Two ways produce bytes; the second takes the
/// next number.
pub mod arg {
    use crate::item;

    /// Sent as its raw 64-bit register value.
    pub const SCALAR: u8 = item::SCALAR;
    /// A user string (read at exit, or at entry for the syscalls with
    /// [`flags::ENTRY`](super::flags::ENTRY)).
    pub const STR: u8 = item::STR;
    /// A NULL-terminated array of user strings (argv); only execve and
    /// execveat have one, read at entry.
    pub const STR_ARRAY: u8 = item::STR_ARRAY;
    /// A `struct sockaddr *` whose length is the next argument: bytes.
    pub const SOCKADDR_IN: u8 = item::BYTES;
    /// A `struct sockaddr *` filled by the kernel, whose length is behind
    /// the pointer in the next argument; read at exit: bytes.
    pub const SOCKADDR_OUT: u8 = item::BYTES + 1;
}

/// Bits of [`EventCfg::flags`].
pub mod flags {
    /// Emitted at entry: the call never returns (exit, exit_group) or
    /// its exit is not its own (rt_sigreturn).
    pub const AT_ENTRY: u8 = 1;
    /// Some argument is a pointer whose memory is read.
    pub const HAS_BLOB: u8 = 2;
    /// Some argument is read at exit.
    pub const HAS_OUT: u8 = 4;
    /// The `syscall_entry` program runs at this syscall's entry (its
    /// `syscalls/sys_enter_*` tracepoint) and keeps the arguments for
    /// sys_exit, or emits the event there with [`AT_ENTRY`]: execve and
    /// execveat, whose memory and registers a new image replaces.
    /// Without it only sys_exit runs, reading the arguments from the
    /// registers, which these syscalls leave as they were.
    pub const ENTRY: u8 = 8;
}

/// Per-event configuration, indexed by event id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCfg {
    pub enabled: u8,
    pub nargs: u8,
    pub flags: u8,
    /// A syscall's: non-zero if an event derived from its exit (a
    /// security event) is selected, whether or not the syscall is: the
    /// slot of the security program to run, plus one ([`derive`]).
    pub derive: u8,
    pub kinds: [u8; 6],
    pub _pad2: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<EventCfg>() == 16);

impl EventCfg {
    /// The map value bytes, for loaders that cannot name this type.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.enabled;
        b[1] = self.nargs;
        b[2] = self.flags;
        b[3] = self.derive;
        b[4..10].copy_from_slice(&self.kinds);
        b
    }
}

/// Values of [`EventCfg::derive`]: which security program a syscall's
/// exit is handed to.
pub mod derive {
    /// Opens, unlink, rename, symlink, mknod, mount.
    pub const FILES: u8 = 1;
    /// connect, bind, listen, accept.
    pub const NET: u8 = 2;
    /// Writes, mmap, mprotect, bpf.
    pub const MEMORY: u8 = 3;
}

/// Bits of the kernel's `NET_FLAGS` global: what the packet programs send.
pub mod net {
    /// Copy at least [`HTTP_SNAP`] bytes of a TCP packet whose payload
    /// starts like an HTTP request or response.
    pub const HTTP: u32 = 1;
    /// Copy a DNS packet (UDP or TCP port 53) whole, whatever `NET_SNAP`.
    pub const DNS_WHOLE: u32 = 2;
    /// Copy an ICMP or ICMPv6 packet whole.
    pub const ICMP_WHOLE: u32 = 4;
    /// What an HTTP packet's copy is (headers and the message's start).
    pub const HTTP_SNAP: u32 = 4096 + 120;
}

/// Entries of the CFG array map (event ids below this).
pub const CFG_ENTRIES: u32 = 2048;

/// Which files' contents are captured: index 0 of the CAP_FILTER map
/// for writes, 1 for reads. Filter kinds AND; values of one kind OR;
/// a kind with no values passes everything.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapFilter {
    /// Bits `1 << capture::ftype::*`, and [`CAP_TYPE_ELF`].
    pub types: u32,
    /// Bits `1 << fd` for stdin, stdout, stderr.
    pub fds: u32,
    pub npaths: u32,
    pub path_len: [u32; 3],
    /// Path prefixes (a trailing `*` already removed).
    pub paths: [[u8; CAP_PATH_CAP]; 3],
}
/// The `elf` type: a regular file whose first bytes are ELF's magic.
pub const CAP_TYPE_ELF: u32 = 1 << 8;
/// Longest path prefix, as Tracee allows it.
pub const CAP_PATH_MAX: usize = 50;
pub const CAP_PATH_CAP: usize = 64;
impl Default for CapFilter {
    fn default() -> Self {
        CapFilter {
            types: 0,
            fds: 0,
            npaths: 0,
            path_len: [0; 3],
            paths: [[0; CAP_PATH_CAP]; 3],
        }
    }
}
const _: () = assert!(core::mem::size_of::<CapFilter>() == 24 + 3 * CAP_PATH_CAP);
/// Entries of the compat-number translation map.
pub const COMPAT_ENTRIES: u32 = 512;
/// Bytes of arguments read at entry per thread.
pub const BLOB_CAP: usize = 4096;
/// Longest user string read (bytes, NUL included).
pub const STR_MAX: usize = 1024;
/// Most argv elements read.
pub const ARGV_MAX: usize = 32;
/// Longest sockaddr read.
pub const SOCKADDR_MAX: usize = 128;

/// Bits of the SCOPE and SCOPE_NOT globals: which pushed-down filters
/// are active, and which of them exclude rather than include.
pub mod scope {
    pub const COMM: u32 = 1;
    pub const PID: u32 = 2;
    pub const TID: u32 = 4;
    pub const UID: u32 = 8;
    pub const MNTNS: u32 = 16;
    pub const PIDNS: u32 = 32;
    pub const CGROUP: u32 = 64;
    /// Containers: which kind is the `SCOPE_CONTAINER` global's
    /// [`super::container_scope`] value (never negated).
    pub const CONTAINER: u32 = 128;
}

/// The most values a pushed-down scope set (`F_COMM`, `F_PID`...) holds:
/// a key given more is judged in user space alone.
pub const SCOPE_SET_MAX: u32 = 1024;

/// Values of the `SCOPE_CONTAINER` global: which cgroups the pushed-down
/// container scope keeps.
pub mod container_scope {
    /// Any container's.
    pub const ANY: u32 = 1;
    /// No container's (the host's).
    pub const NONE: u32 = 2;
    /// Containers created after tracing began.
    pub const NEW: u32 = 3;
}

/// Bits of a `CGROUPS` map value: the kernel's record of cgroup v2
/// directories. The kernel adds every cgroup created while tracing as
/// `PENDING | NEW`; tracee-collect classifies it (a container or not, by
/// its path) and replaces the value, or removes a cgroup that is not a
/// container. Containers found at start are added by tracee-collect as
/// `CONTAINER`. A cgroup not in the map is the host's.
pub mod cgroup {
    /// Not classified yet: every container scope passes it, and user space
    /// decides.
    pub const PENDING: u32 = 1;
    pub const CONTAINER: u32 = 2;
    /// Created after tracing began.
    pub const NEW: u32 = 4;
    /// Entries of the CGROUPS and STARTED maps (allocated as used, not
    /// up front). Filling them takes that many cgroups at once, each of
    /// which costs kernel memory its maker is charged for. When CGROUPS is
    /// full the kernel sets the CGROUPS_FULL flag and stops judging
    /// containers (everything passes to user space), and a container made
    /// then is not seen to start (its events are not `container`'s).
    pub const ENTRIES: u32 = 1 << 20;
}

/// Slots of the OFFSETS global: kernel struct member offsets (and one
/// struct size) that tracee-collect reads from the running kernel's BTF.
/// Every slot has a name; the loader fills them by name and refuses to
/// load with a slot left unfilled ([`member::NAMES`] says which).
pub mod member {
    macro_rules! slots {
        ($($name:ident),* $(,)?) => {
            slots!(@at 0usize; $($name),*);
            /// How many slots there are.
            pub const COUNT: usize = [$(stringify!($name)),*].len();
            /// Each slot's name, by index: what an error names.
            pub const NAMES: [&str; COUNT] = [$(stringify!($name)),*];
        };
        (@at $i:expr; $name:ident $(, $rest:ident)*) => {
            pub const $name: usize = $i;
            slots!(@at $i + 1; $($rest),*);
        };
        (@at $i:expr;) => {};
    }
    slots!(
        TASK_REAL_PARENT,
        TASK_GROUP_LEADER,
        TASK_TGID,
        TASK_PID,
        TASK_START_TIME,
        TASK_NSPROXY,
        TASK_THREAD_PID,
        TASK_EXIT_CODE,
        TASK_TI_STATUS,
        TASK_MM,
        NSPROXY_MNT_NS,
        NSPROXY_UTS_NS,
        MNT_NS_INUM,
        PID_NS_INUM,
        UTS_NODENAME,
        PID_LEVEL,
        PID_NUMBERS,
        UPID_SIZE,
        UPID_NR,
        UPID_NS,
        BPRM_FILE,
        BPRM_FILENAME,
        BPRM_INTERP,
        FILE_F_PATH,
        FILE_F_INODE,
        PATH_MNT,
        PATH_DENTRY,
        INODE_I_MODE,
        INODE_I_INO,
        INODE_I_SB,
        SB_S_DEV,
        INODE_CTIME_SEC,
        INODE_CTIME_NSEC,
        DENTRY_D_NAME,
        DENTRY_D_PARENT,
        QSTR_LEN,
        QSTR_NAME,
        MOUNT_MNT,
        MOUNT_PARENT,
        MOUNT_MOUNTPOINT,
        VFSMOUNT_MNT_ROOT,
        MM_ARG_START,
        MM_ARG_END,
        TASK_FILES,
        FILES_FDT,
        FDT_FD,
        FDT_MAX_FDS,
        FILE_F_POS,
        TASK_FLAGS,
        TASK_COMM,
        TASK_CRED,
        CRED_UID,
        CRED_GID,
        TASK_CGROUPS,
        CSS_SET_DFL_CGRP,
        CGROUP_KN,
        KERNFS_NODE_ID,
        FILE_F_FLAGS,
        INODE_I_SIZE,
        CRED_CAP_EFFECTIVE,
        CGROUP_ROOT,
        CGROUP_ROOT_HIERARCHY_ID,
        FILE_PRIVATE_DATA,
        SOCKET_TYPE,
        SOCKET_SK,
        SKC_FAMILY,
        SKC_NUM,
        SKC_RCV_SADDR,
        SKC_V6_RCV_SADDR,
        UNIX_SOCK_ADDR,
        UNIX_ADDRESS_LEN,
        UNIX_ADDRESS_NAME,
        MM_ENV_START,
        MM_ENV_END,
        MM_SAVED_AUXV,
        VMA_VM_FILE,
        TASK_FS,
        FS_PWD,
        FS_UMASK,
        VMA_VM_FLAGS,
        VMA_VM_START,
        BPF_PROG_TYPE,
        BPF_PROG_AUX,
        BPF_PROG_AUX_ID,
        BPF_PROG_AUX_NAME,
        BPF_PROG_AUX_ATTACH_FUNC_NAME,
        PERF_EVENT_TP_EVENT,
        TRACE_EVENT_CALL_NAME,
        TRACE_EVENT_CALL_FLAGS,
        TRACEPOINT_NAME,
    );
}

/// The syscall numbers that kernel and user code single out, by name
/// (x86_64; i386 callers are translated to these through the COMPAT map).
pub mod nr {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const OPEN: u32 = 2;
    pub const IOCTL: u32 = 16;
    pub const MMAP: u32 = 9;
    pub const MPROTECT: u32 = 10;
    pub const BRK: u32 = 12;
    pub const RT_SIGRETURN: u32 = 15;
    pub const PREAD64: u32 = 17;
    pub const PWRITE64: u32 = 18;
    pub const READV: u32 = 19;
    pub const WRITEV: u32 = 20;
    pub const MREMAP: u32 = 25;
    pub const CONNECT: u32 = 42;
    pub const ACCEPT: u32 = 43;
    pub const BIND: u32 = 49;
    pub const LISTEN: u32 = 50;
    pub const CLONE: u32 = 56;
    pub const FORK: u32 = 57;
    pub const VFORK: u32 = 58;
    pub const EXECVE: u32 = 59;
    pub const EXIT: u32 = 60;
    pub const RENAME: u32 = 82;
    pub const CREAT: u32 = 85;
    pub const UNLINK: u32 = 87;
    pub const SYMLINK: u32 = 88;
    pub const MKNOD: u32 = 133;
    pub const MOUNT: u32 = 165;
    pub const UMOUNT2: u32 = 166;
    pub const SETHOSTNAME: u32 = 170;
    pub const SETDOMAINNAME: u32 = 171;
    pub const INIT_MODULE: u32 = 175;
    pub const EXIT_GROUP: u32 = 231;
    pub const OPENAT: u32 = 257;
    pub const MKNODAT: u32 = 259;
    pub const UNLINKAT: u32 = 263;
    pub const RENAMEAT: u32 = 264;
    pub const SYMLINKAT: u32 = 266;
    pub const UNSHARE: u32 = 272;
    pub const ACCEPT4: u32 = 288;
    pub const PREADV: u32 = 295;
    pub const PWRITEV: u32 = 296;
    pub const SETNS: u32 = 308;
    pub const FINIT_MODULE: u32 = 313;
    pub const BPF: u32 = 321;
    pub const EXECVEAT: u32 = 322;
    pub const RENAMEAT2: u32 = 316;
    pub const PREADV2: u32 = 327;
    pub const PWRITEV2: u32 = 328;
    pub const PKEY_MPROTECT: u32 = 329;
    pub const CLONE3: u32 = 435;
    pub const OPENAT2: u32 = 437;
}
