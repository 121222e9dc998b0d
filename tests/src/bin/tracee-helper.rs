//! Deterministic workloads for the end-to-end tests. Each mode waits for a
//! line on stdin before it starts (so the test can attach the tracer to its
//! pid first), unless the mode says otherwise.
//!
//!   tracee-helper acceptance PATH PORT   open/write/close/unlink PATH, connect
//!                                        to 127.0.0.1:PORT, exec /bin/true
//!   tracee-helper workload               a fixed syscall sequence (for strace)
//!   tracee-helper storm N                N getppid calls, no wait
//!   tracee-helper compat                 getpid through the i386 entry (int 0x80)
//!   tracee-helper spawn CMD              run `sh -c CMD` and wait for it
//!   tracee-helper ring-produce PATH N drop|block
//!                                        write a stream of N events of
//!                                        varied sizes (N = 0: until killed)
//!                                        into ring:PATH, no wait; prints the
//!                                        FNV-1a hash of the stream's bytes
//!   tracee-helper openloop N PATH        N rounds of open/read/close of PATH
//!   tracee-helper forkstorm N            N children that exit at once, one
//!                                        after the other
//!   tracee-helper multiply N < IN > OUT  the stream IN with its events
//!                                        repeated until there are N
//!   tracee-helper ctxchange              getpid; a new UTS namespace named
//!                                        tracee-uts-test; getpid; then a
//!                                        child that calls getppid before and
//!                                        after this process exits (prints
//!                                        the child's pid)
//!   tracee-helper writefile PATH SIZE    PATH gets SIZE bytes of a fixed
//!                                        pattern by write, pwrite64 at
//!                                        scattered offsets and writev
//!   tracee-helper readfile PATH          reads PATH by read, pread64, readv
//!   tracee-helper loadbpf OUT            loads a socket filter; its
//!                                        instructions go to OUT
//!   tracee-helper initmodule IMG         init_module(IMG's bytes); prints
//!                                        the errno
//!   tracee-helper jit OUT                maps RW, writes code, mprotects RX,
//!                                        runs it; the page goes to OUT
//!   tracee-helper renamed NAME PATH SIZE writefile under the process name NAME
//!   tracee-helper finitmodule FILE       finit_module(FILE); prints the errno
//!   tracee-helper security DIR UNIX      what the security events are made
//!                                        of: in DIR, openat("opened", O_WRONLY|
//!                                        O_CREAT|O_TRUNC) relative to the
//!                                        cwd; a TCP listener on 127.0.0.1
//!                                        (backlog 7) connected to and
//!                                        accepted; a unix listener bound to
//!                                        UNIX; unshare(CLONE_NEWUTS); then
//!                                        exec /bin/true sec-arg with
//!                                        SEC_ENV=1. Prints "FD PORT"
//!   tracee-helper seed PATH              the seed document's lines: openat
//!                                        (PATH, O_WRONLY|O_CREAT|O_TRUNC,
//!                                        0666), close, and a clone as bash
//!                                        makes it; prints "FD CHILD_TID_ADDR"
//! (these run at once, without waiting for a line)

use std::ffi::CString;
use std::io::BufRead;

fn wait_go() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("security") => {
            wait_go();
            security(&args[2], &args[3]);
        }
        Some("seed") => {
            wait_go();
            seed(&args[2]);
        }
        Some("acceptance") => acceptance(&args[2], args[3].parse().expect("port")),
        Some("workload") => {
            wait_go();
            workload();
        }
        Some("lifecycle") => {
            wait_go();
            lifecycle();
        }
        Some("storm") => {
            let n: u64 = args[2].parse().expect("count");
            for _ in 0..n {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
        }
        Some("compat") => {
            wait_go();
            let pid: i64;
            // SAFETY: i386 getpid (20) through int 0x80 touches no memory.
            unsafe { std::arch::asm!("int 0x80", inlateout("rax") 20i64 => pid, options(nostack)) };
            println!("{pid}");
        }
        Some("compat-exec") => {
            wait_go();
            compat_exec();
        }
        Some("ring-produce") => ring_produce(
            &args[2],
            args[3].parse().expect("count"),
            tracee_cli::ring::WhenFull::from_name(&args[4]).expect("drop or block"),
        ),
        Some("openloop") => {
            let n: u64 = args[2].parse().expect("count");
            let p = c(&args[3]);
            let mut buf = [0u8; 256];
            for _ in 0..n {
                // SAFETY: plain syscalls on a valid path and buffer.
                unsafe {
                    let fd = libc::open(p.as_ptr(), libc::O_RDONLY);
                    libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                    libc::close(fd);
                }
            }
        }
        Some("forkstorm") => {
            let n: u64 = args[2].parse().expect("count");
            for _ in 0..n {
                // SAFETY: the child only exits.
                unsafe {
                    let pid = libc::fork();
                    if pid == 0 {
                        libc::_exit(0);
                    }
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
        }
        Some("multiply") => multiply(args[2].parse().expect("count")),
        Some("ctxchange") => {
            wait_go();
            ctxchange();
        }
        Some("spawn") => {
            wait_go();
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(&args[2])
                .status()
                .expect("sh");
            std::process::exit(st.code().unwrap_or(1));
        }
        Some("writefile") => writefile(&args[2], args[3].parse().expect("size")),
        Some("readfile") => readfile(&args[2]),
        Some("loadbpf") => loadbpf(&args[2]),
        Some("initmodule") => {
            let img = std::fs::read(&args[2]).expect("module image");
            let params = c("");
            // SAFETY: a valid buffer and C string.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_init_module,
                    img.as_ptr(),
                    img.len(),
                    params.as_ptr(),
                )
            };
            let e = if r < 0 {
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
            } else {
                0
            };
            println!("{e}");
        }
        Some("jit") => jit(&args[2]),
        Some("finitmodule") => {
            let f = std::fs::File::open(&args[2]).expect("module file");
            let params = c("");
            // SAFETY: an open descriptor and a C string.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_finit_module,
                    std::os::fd::AsRawFd::as_raw_fd(&f),
                    params.as_ptr(),
                    0,
                )
            };
            let e = if r < 0 {
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
            } else {
                0
            };
            // Keep the file open a moment, as insmod would while it reports.
            std::thread::sleep(std::time::Duration::from_millis(300));
            println!("{e}");
        }
        Some("thread-exec") => {
            // After "go": a thread other than the leader execs
            // `args[2]` (with "from-thread" as its argument).
            wait_go();
            let path = c(&args[2]);
            let t = std::thread::spawn(move || {
                let argv = [path.as_ptr(), c"from-thread".as_ptr(), std::ptr::null()];
                // SAFETY: a path and a NULL-terminated argv of C strings
                // that outlive the call; execv returns only on failure.
                unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
                std::process::exit(3);
            });
            let _ = t.join();
        }
        Some("renamed") => {
            // The process name `args[2]`, then writefile PATH SIZE.
            let name = c(&args[2]);
            // SAFETY: PR_SET_NAME with a C string.
            unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
            writefile(&args[3], args[4].parse().expect("size"));
        }
        _ => {
            eprintln!("usage: tracee-helper acceptance|workload|storm|compat|spawn ...");
            std::process::exit(2);
        }
    }
}

/// A recorded stream's events repeated until there are `n`, for the
/// throughput benchmarks: the preamble once, the events over and over.
fn multiply(n: u64) {
    use std::io::Write;
    let mut r = wire::reader::StreamReader::new(std::io::stdin().lock()).expect("a stream");
    let pre = r.preamble_bytes().to_vec();
    let mut events = Vec::new();
    let mut count = 0u64;
    while let Some(rec) = r.next_record(&mut || Ok(())).expect("a record") {
        if rec.kind() == wire::kind::EVENT {
            events.extend_from_slice(rec.bytes());
            count += 1;
        }
    }
    assert!(count > 0, "no events to repeat");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    out.write_all(&pre).unwrap();
    let mut written = 0;
    while written < n {
        let mut i = 0;
        while i < events.len() && written < n {
            let len = u32::from_le_bytes(events[i..i + 4].try_into().unwrap()) as usize;
            out.write_all(&events[i..i + len]).unwrap();
            i += len;
            written += 1;
        }
    }
    let end = wire::EndBody {
        events: n,
        lost: 0,
        ts: 0,
    };
    out.write_all(&end.to_record()).unwrap();
    out.flush().unwrap();
}

/// FNV-1a, 64 bits: a checksum both sides of a test can compute.
pub fn fnv1a(h: u64, b: &[u8]) -> u64 {
    b.iter()
        .fold(h, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01b3))
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn ring_produce(path: &str, n: u64, when_full: tracee_cli::ring::WhenFull) {
    use wire::build::{EventBuilder, name16};
    use wire::preamble::{ArgDef, ArgType, Catalog, EventDef, Preamble, event_flags};
    let pre = Preamble {
        version: wire::VERSION,
        boot_epoch_ns: 1_700_000_000_000_000_000,
        start_mono_ns: 1,
        hostname: "ring".into(),
        kernel_release: "6.18".into(),
        catalog: Catalog::new(vec![EventDef {
            id: 257,
            name: "openat".into(),
            flags: event_flags::SYSCALL,
            args: vec![ArgDef {
                name: "filename".into(),
                type_name: "const char*".into(),
                ty: ArgType::Str,
            }],
        }]),
    };
    let mut w = tracee_cli::ring::RingWriter::create(
        std::path::Path::new(path),
        tracee_cli::ring::MIN_CAPACITY,
        when_full,
    )
    .unwrap_or_else(|e| {
        eprintln!("tracee-helper: {e}");
        std::process::exit(2)
    });
    let mut hash = FNV_START;
    let mut put = |w: &mut tracee_cli::ring::RingWriter, b: &[u8]| {
        if let Err(e) = w.write_unit(b) {
            eprintln!("tracee-helper: {e}");
            std::process::exit(2);
        }
        hash = fnv1a(hash, b);
    };
    put(&mut w, &pre.to_bytes());
    let path_chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = 0u64;
    while n == 0 || i < n {
        // Sizes from 128 to 128 + 250 bytes, in steps that are not a
        // divisor of the capacity, so records straddle the wrap anywhere.
        let len = (i * 7 % 251) as usize;
        let name: String = path_chars
            .chars()
            .cycle()
            .skip(i as usize % 36)
            .take(len)
            .collect();
        let ctx = wire::EventContext {
            ts: i,
            event_id: 257,
            syscall: 257,
            pid: 7,
            tid: 7,
            comm: name16("ring"),
            ..Default::default()
        };
        put(&mut w, &EventBuilder::new(&ctx).str(0, &name).finish());
        i += 1;
    }
    let end = wire::EndBody {
        events: n,
        lost: w.dropped(),
        ts: n,
    };
    put(&mut w, &end.to_record());
    w.end().expect("end the ring");
    println!("{hash:016x} {}", w.dropped());
}

/// The context fields the kernel side caches per thread, changed under it.
fn ctxchange() {
    // SAFETY: raw syscalls on valid buffers; the child only makes syscalls.
    unsafe {
        libc::syscall(libc::SYS_getpid);
        assert_eq!(libc::unshare(libc::CLONE_NEWUTS), 0, "unshare");
        let name = b"tracee-uts-test";
        assert_eq!(libc::sethostname(name.as_ptr().cast(), name.len()), 0);
        libc::syscall(libc::SYS_getpid);
        let me = libc::getpid();
        let mut p = [0i32; 2];
        assert_eq!(libc::pipe(p.as_mut_ptr()), 0, "pipe");
        let child = libc::fork();
        assert!(child >= 0, "fork");
        if child == 0 {
            libc::syscall(libc::SYS_getppid);
            // Now the parent may go.
            libc::write(p[1], b"x".as_ptr().cast(), 1);
            // Until the parent has gone and this process was reparented.
            while libc::syscall(libc::SYS_getppid) == me as i64 {
                libc::usleep(2000);
            }
            libc::syscall(libc::SYS_getppid);
            libc::_exit(0);
        }
        let mut b = [0u8; 1];
        libc::read(p[0], b.as_mut_ptr().cast(), 1);
        println!("{child}");
    }
}

/// i386 execve through int 0x80: first of a missing file (fails, ENOENT),
/// then of /bin/true with argv ["/bin/true", "x"]. Its arguments must be
/// below 4 GiB, so they live in a MAP_32BIT page.
fn compat_exec() {
    // SAFETY: the page is ours; the strings and the pointer array in it
    // are NUL- and NULL-terminated; a successful execve does not return.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED, "mmap");
        let base = page as usize;
        assert!(base < 1 << 32, "MAP_32BIT page above 4 GiB");
        let put = |off: usize, b: &[u8]| {
            std::ptr::copy_nonoverlapping(b.as_ptr(), (base + off) as *mut u8, b.len())
        };
        put(0, b"/nonexistent/tracee-rs\0");
        put(64, b"/bin/true\0");
        put(96, b"x\0");
        let argv = (base + 128) as *mut u32;
        *argv = (base + 64) as u32;
        *argv.add(1) = (base + 96) as u32;
        *argv.add(2) = 0;
        for path in [base, base + 64] {
            let ret: i64;
            // rbx is LLVM's: swap the path into it around the call.
            std::arch::asm!(
                "xchg {p}, rbx",
                "int 0x80",
                "xchg {p}, rbx",
                p = inout(reg) path as u64 => _,
                inlateout("rax") 11i64 => ret,
                in("rcx") (base + 128) as u64,
                in("rdx") 0u64,
                options(nostack),
            );
            println!("{ret}");
        }
    }
}

extern "C" fn on_usr1(_: libc::c_int) {}

/// A signal handled (rt_sigreturn), a child forked that exits with 7, then
/// exit_group(0): the syscalls traced at entry, and the fork family whose
/// child also returns from the call.
fn lifecycle() {
    // SAFETY: a handler that does nothing; the child only exits.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        libc::kill(libc::getpid(), libc::SIGUSR1);
        let child = libc::fork();
        assert!(child >= 0, "fork");
        if child == 0 {
            libc::syscall(libc::SYS_exit_group, 7);
        }
        println!("{child}");
        let mut st = 0;
        libc::waitpid(child, &mut st, 0);
        libc::syscall(libc::SYS_exit_group, 0);
    }
}

fn acceptance(path: &str, port: u16) {
    wait_go();
    let p = c(path);
    // SAFETY: plain syscalls on valid, NUL-terminated buffers.
    unsafe {
        let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600);
        assert!(fd >= 0, "open {path}");
        let n = libc::write(fd, b"hello".as_ptr().cast(), 5);
        assert_eq!(n, 5);
        libc::close(fd);
        libc::unlink(p.as_ptr());
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            s,
            (&addr as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(r, 0, "connect");
        libc::close(s);
        let prog = c("/bin/true");
        let argv = [prog.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null()];
        libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    panic!("execve /bin/true failed");
}

/// A fixed sequence of raw syscalls (no libc wrappers that add calls of
/// their own), with successes and failures.
fn workload() {
    let host = c("/etc/hostname");
    let missing = c("/nonexistent/tracee-rs");
    let mut buf = [0u8; 64];
    // SAFETY: raw syscalls on valid buffers.
    unsafe {
        libc::syscall(libc::SYS_getpid);
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            missing.as_ptr(),
            libc::O_RDONLY,
            0,
        );
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            host.as_ptr(),
            libc::O_RDONLY,
            0,
        );
        libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len());
        libc::syscall(libc::SYS_close, fd);
        libc::syscall(libc::SYS_close, 9999);
        for _ in 0..3 {
            libc::syscall(libc::SYS_getppid);
        }
        libc::syscall(libc::SYS_access, missing.as_ptr(), libc::R_OK);
        libc::syscall(libc::SYS_kill, 0x7fff_fff0, 0);
        libc::syscall(libc::SYS_exit_group, 0);
    }
}

/// The fixed content of a test file: every byte depends on its offset.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i >> 20) as u8)
        .collect()
}

/// Writes `pattern(size)` to `path` in chunks of 64 KiB + 3 bytes, taking
/// them in a scattered order and each by one of write (after lseek),
/// pwrite64 and writev (two halves).
fn writefile(path: &str, size: usize) {
    use std::os::fd::AsRawFd;
    let data = pattern(size);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .expect("open for writing");
    let fd = f.as_raw_fd();
    if size == 0 {
        // SAFETY: a zero-length write.
        unsafe { libc::write(fd, data.as_ptr().cast(), 0) };
        return;
    }
    const CHUNK: usize = 65536 + 3;
    let n = size.div_ceil(CHUNK);
    // Odd chunks first, from the end, then even ones.
    let order: Vec<usize> = (0..n)
        .rev()
        .filter(|i| i % 2 == 1)
        .chain((0..n).filter(|i| i % 2 == 0))
        .collect();
    for i in order {
        let at = i * CHUNK;
        let part = &data[at..(at + CHUNK).min(size)];
        // SAFETY: valid buffers within `data`; results checked.
        let done = unsafe {
            match i % 3 {
                0 => {
                    libc::lseek(fd, at as i64, libc::SEEK_SET);
                    libc::write(fd, part.as_ptr().cast(), part.len())
                }
                1 => libc::pwrite64(fd, part.as_ptr().cast(), part.len(), at as i64),
                _ => {
                    libc::lseek(fd, at as i64, libc::SEEK_SET);
                    let half = part.len() / 2;
                    let iov = [
                        libc::iovec {
                            iov_base: part.as_ptr() as *mut _,
                            iov_len: half,
                        },
                        libc::iovec {
                            iov_base: part[half..].as_ptr() as *mut _,
                            iov_len: part.len() - half,
                        },
                    ];
                    libc::writev(fd, iov.as_ptr(), 2)
                }
            }
        };
        assert_eq!(done, part.len() as isize, "short write");
    }
}

/// Reads `path` whole, by read, pread64 and readv in turn.
fn readfile(path: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open for reading");
    let fd = f.as_raw_fd();
    let mut buf = vec![0u8; 70000];
    let mut at = 0i64;
    let mut i = 0;
    loop {
        // SAFETY: valid buffers; results checked.
        let n = unsafe {
            match i % 3 {
                0 => {
                    libc::lseek(fd, at, libc::SEEK_SET);
                    libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
                }
                1 => libc::pread64(fd, buf.as_mut_ptr().cast(), buf.len(), at),
                _ => {
                    libc::lseek(fd, at, libc::SEEK_SET);
                    let (a, b) = buf.split_at_mut(1000);
                    let iov = [
                        libc::iovec {
                            iov_base: a.as_mut_ptr().cast(),
                            iov_len: a.len(),
                        },
                        libc::iovec {
                            iov_base: b.as_mut_ptr().cast(),
                            iov_len: b.len(),
                        },
                    ];
                    libc::readv(fd, iov.as_ptr(), 2)
                }
            }
        };
        assert!(n >= 0, "read failed");
        if n == 0 {
            break;
        }
        at += n as i64;
        i += 1;
    }
}

/// Loads `r0 = <pid>; r0 += 1; exit` as a socket filter named
/// "tracee_rs_test" and writes its instruction bytes to `out`.
fn loadbpf(out: &str) {
    let pid = std::process::id() as i32;
    let insn = |code: u8, regs: u8, off: i16, imm: i32| {
        let mut b = [0u8; 8];
        b[0] = code;
        b[1] = regs;
        b[2..4].copy_from_slice(&off.to_le_bytes());
        b[4..8].copy_from_slice(&imm.to_le_bytes());
        b
    };
    let prog: Vec<u8> = [
        insn(0xb7, 0, 0, pid), // mov r0, pid
        insn(0x07, 0, 0, 1),   // add r0, 1
        insn(0x95, 0, 0, 0),   // exit
    ]
    .concat();
    std::fs::write(out, &prog).expect("write the instructions");
    let license = c("GPL");
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_le_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&3u32.to_le_bytes());
    attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_le_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_le_bytes());
    attr[48..62].copy_from_slice(b"tracee_rs_test");
    // SAFETY: a valid bpf_attr for BPF_PROG_LOAD.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    assert!(
        fd >= 0,
        "BPF_PROG_LOAD: {}",
        std::io::Error::last_os_error()
    );
}

/// Writes x86-64 code (`mov eax, 42; ret`, then a pattern) into a RW page,
/// makes it RX, calls it, and writes the page to `out`.
fn jit(out: &str) {
    // SAFETY: an anonymous private mapping, used only here.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let page = std::slice::from_raw_parts_mut(p.cast::<u8>(), 4096);
        page.copy_from_slice(&pattern(4096));
        page[..6].copy_from_slice(&[0xb8, 42, 0, 0, 0, 0xc3]);
        assert_eq!(
            libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC),
            0
        );
        let f: extern "C" fn() -> i32 = std::mem::transmute(p);
        assert_eq!(f(), 42);
        std::fs::write(out, std::slice::from_raw_parts(p.cast::<u8>(), 4096))
            .expect("write the page");
    }
}

/// openat, close and clone as bash calls them in the seed's example.
fn seed(path: &str) {
    let p = c(path);
    // SAFETY: plain syscalls on a NUL-terminated path, a descriptor this
    // process owns, and a fork-like clone (no CLONE_VM: the child has its
    // own copy of this stack) whose child only exits.
    unsafe {
        let fd = libc::openat(
            libc::AT_FDCWD,
            p.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o666,
        );
        assert!(fd >= 0, "openat {path}");
        libc::close(fd);
        let mut child_tid: libc::c_int = 0;
        let tid_addr = &mut child_tid as *mut libc::c_int;
        let flags = (libc::CLONE_CHILD_CLEARTID | libc::CLONE_CHILD_SETTID | libc::SIGCHLD) as u64;
        let pid = libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            std::ptr::null_mut::<libc::c_int>(),
            tid_addr,
            0usize,
        );
        if pid == 0 {
            libc::_exit(0);
        }
        assert!(pid > 0, "clone");
        libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
        println!("{fd} {:#x}", tid_addr as usize);
    }
}

/// The operations the security events are derived from (see the usage).
fn security(dir: &str, unix_path: &str) {
    use std::os::unix::io::AsRawFd;
    std::env::set_current_dir(dir).expect("chdir");
    let name = c("opened");
    // SAFETY: plain syscalls on valid, NUL-terminated buffers and
    // descriptors this process owns.
    unsafe {
        let fd = libc::openat(
            libc::AT_FDCWD,
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        );
        assert!(fd >= 0, "openat");
        let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let alen = size_of::<libc::sockaddr_in>() as u32;
        assert_eq!(
            libc::bind(l, (&addr as *const libc::sockaddr_in).cast(), alen),
            0
        );
        assert_eq!(libc::listen(l, 7), 0);
        let mut len = alen;
        libc::getsockname(l, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len);
        let port = u16::from_be(addr.sin_port);
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert_eq!(
            libc::connect(s, (&addr as *const libc::sockaddr_in).cast(), alen),
            0
        );
        let a = libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut());
        assert!(a >= 0, "accept");
        let u = std::os::unix::net::UnixListener::bind(unix_path).expect("unix bind");
        let _ = u.as_raw_fd();
        assert_eq!(libc::unshare(libc::CLONE_NEWUTS), 0, "unshare");
        println!("{fd} {port}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let prog = c("/bin/true");
        let arg = c("sec-arg");
        let env = c("SEC_ENV=1");
        let argv = [prog.as_ptr(), arg.as_ptr(), std::ptr::null()];
        let envp = [env.as_ptr(), std::ptr::null()];
        libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    panic!("execve /bin/true failed");
}
