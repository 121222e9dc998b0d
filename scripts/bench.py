#!/usr/bin/env python3
"""The tracee-rs benchmark suite (B1-B9). Run as root through
`bash scripts/bench.sh`, which installs the peers and builds first.

Every comparison is measured side by side in the same run (traced and
untraced runs alternate) and reported as a ratio; each figure is the median
of RUNS runs with min and max. Writes BENCHMARKS.md."""

import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LOOP = int(os.environ.get("BENCH_LOOP", "1000000"))
STRACE_LOOP = 20000
STREAM_EVENTS = int(os.environ.get("BENCH_EVENTS", "5000000"))
TMP = tempfile.mkdtemp(prefix="tracee-bench-")


def b(name):
    return os.path.join(BIN, name)


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


# Figures whose runs spread more than this (max/min) are marked as noisy.
SPREAD_WARN = 1.5
NOISY = []


def fmt3(xs, unit="", digits=0):
    m, lo, hi = med(xs)
    f = f"{{:,.{digits}f}}"
    text = f"{f.format(m)}{unit} ({f.format(lo)}–{f.format(hi)})"
    if lo > 0 and hi / lo > SPREAD_WARN:
        NOISY.append(text)
        text += f" ⚠ spread {hi / lo:.1f}x"
    return text


def hwm_kib(pid):
    """VmHWM (peak RSS) of a live process, in KiB; 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_rss(*procs, nudge=None):
    """Waits for children; returns their peak RSS in KiB, sampled from
    /proc until each exits. (wait4's ru_maxrss would report Python's own
    size: the child's high-water mark is carried across exec.) `nudge`
    is called every 3 s while some child lives."""
    peak = [0] * len(procs)
    live = set(range(len(procs)))
    last = time.time()
    while live:
        if nudge is not None and time.time() - last > 3:
            nudge()
            last = time.time()
        for i in list(live):
            p = procs[i]
            peak[i] = max(peak[i], hwm_kib(p.pid))
            r = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if r is not None:
                p.wait()
                live.discard(i)
        if live:
            time.sleep(0.01)
    return peak


# --- workloads ---------------------------------------------------------

SMALL = os.path.join(TMP, "small.txt")
with open(SMALL, "w") as f:
    f.write("tracee-rs benchmark file\n" * 4)

WORKLOADS = {
    "getppid": lambda n: [b("tracee-helper"), "storm", str(n)],
    "open/read/close": lambda n: [b("tracee-helper"), "openloop", str(n // 4), SMALL],
}
CALLS = {"getppid": lambda n: n, "open/read/close": lambda n: 3 * (n // 4)}


# On this two-CPU machine the traced workload runs on CPU 1 and every
# tracer's user-space side on CPU 0, so the figures measure what tracing
# costs the workload, not which process the scheduler happened to share a
# CPU with (unpinned, the same run varied by 3x).
WORK_CPU = ["taskset", "-c", "1"]
TRACER_CPU = ["taskset", "-c", "0"]


def run_loop(work, n, prefix=()):
    cmd = list(prefix) + WORK_CPU + WORKLOADS[work](n)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1e9 / CALLS[work](n)


# --- tracers -----------------------------------------------------------


class Tracer:
    """Starts a tracing setup, waits until it is attached, stops it."""

    def __init__(self, name):
        self.name = name
        self.procs = []
        self.rss = {}
        self.lost = None

    def wait_line(self, path, pattern, timeout=60):
        t = time.time()
        while time.time() - t < timeout:
            try:
                with open(path, errors="replace") as f:
                    if re.search(pattern, f.read()):
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: not ready after {timeout}s ({path})")


class Collect(Tracer):
    """tracee-collect -e syscalls [| stages...]; stages: list of argv."""

    def __init__(self, name, stages=(), ring=False, events="syscalls", args=()):
        super().__init__(name)
        self.err = os.path.join(TMP, f"collect-{len(name)}-{abs(hash(name))}.err")
        ring_path = f"/dev/shm/tracee-bench-{os.getpid()}"
        out_args = ["--output", f"ring:{ring_path}"] if ring else []
        ef = open(self.err, "w")
        c = subprocess.Popen(
            TRACER_CPU + [b("tracee-collect"), "-e", events] + out_args + list(args),
            stdout=subprocess.DEVNULL if (ring or not stages) else subprocess.PIPE,
            stderr=ef,
        )
        self.procs.append(("tracee-collect", c))
        prev = c.stdout
        for i, st in enumerate(stages):
            last = i == len(stages) - 1
            argv = TRACER_CPU + list(st)
            if ring and i == 0:
                argv += ["--input", f"ring:{ring_path}"]
            p = subprocess.Popen(
                argv,
                stdin=prev if prev is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            if prev is not None:
                prev.close()
            prev = p.stdout
            self.procs.append((os.path.basename(st[0]), p))
        self.wait_line(self.err, r"tracing \d+ events")
        time.sleep(0.3)

    def stop(self):
        self.procs[0][1].send_signal(signal.SIGINT)
        peaks = wait_rss(*[p for _, p in self.procs])
        for (name, _), rss in zip(self.procs, peaks):
            self.rss[name] = max(self.rss.get(name, 0), rss)
        with open(self.err) as f:
            m = re.findall(r"(\d+) lost", f.read())
        self.lost = int(m[-1]) if m else None


class Bpftrace(Tracer):
    def __init__(self, name, prog):
        super().__init__(name)
        before = max(bpf_prog_ids(), default=0)
        # Output to /dev/null, as for tracee-collect; lost-event notices go
        # to stderr.
        self.errf = os.path.join(TMP, f"bt-{abs(hash(name))}.err")
        self.p = subprocess.Popen(
            TRACER_CPU + ["bpftrace", "-e", prog],
            stdout=subprocess.DEVNULL,
            stderr=open(self.errf, "w"),
        )
        t = time.time()
        while max(bpf_prog_ids(), default=0) <= before:
            if time.time() - t > 60:
                raise RuntimeError("bpftrace did not attach")
            time.sleep(0.05)
        time.sleep(0.5)

    def stop(self):
        # bpftrace 0.17 can miss a SIGINT that arrives while it is still
        # setting up (a bench run hung on it): repeat it until it exits.
        self.p.send_signal(signal.SIGINT)
        (rss,) = wait_rss(self.p, nudge=lambda: self.p.send_signal(signal.SIGINT))
        self.rss["bpftrace"] = rss
        with open(self.errf, errors="replace") as f:
            m = re.findall(r"Lost (\d+) events", f.read())
        self.lost = sum(int(x) for x in m)


def bpf_prog_ids():
    """IDs of the loaded BPF programs. IDs only grow, so a new program is
    one above the highest ID seen before (a count would be fooled by the
    previous tracer's programs still being freed)."""
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return [int(m.group(1)) for m in re.finditer(r"^(\d+):", out, re.M)]


def strace_overhead(work):
    base = run_loop(work, STRACE_LOOP)
    traced = run_loop(work, STRACE_LOOP, TRACER_CPU + ["strace", "-f", "-o", "/dev/null"])
    return traced - base


# --- B1 / B3 (live) ------------------------------------------------------

NONE_EXPR = "comm=no-such-comm-xyz"
SETUPS = [
    ("tracee-collect > /dev/null", lambda: Collect("collect")),
    (
        "tracee-collect | tracee-filter (matching nothing)",
        lambda: Collect("collect|filter", [[b("tracee-filter"), NONE_EXPR]]),
    ),
    (
        "tracee-collect --no-pushdown | tracee-filter (matching nothing)",
        lambda: Collect("collect|filter,no-pushdown", [[b("tracee-filter"), NONE_EXPR]], args=["--no-pushdown"]),
    ),
    (
        "tracee-collect | tracee-filter | tracee-fmt json > /dev/null",
        lambda: Collect(
            "collect|filter|json", [[b("tracee-filter")], [b("tracee-fmt"), "json"]]
        ),
    ),
    (
        "tracee-collect --output ring: | tracee-filter --input ring: (matching nothing)",
        lambda: Collect("ring", [[b("tracee-filter"), NONE_EXPR]], ring=True),
    ),
    (
        "bpftrace counting in the kernel",
        lambda: Bpftrace("bt-count", "tracepoint:raw_syscalls:sys_enter { @c = count(); }"),
    ),
    (
        "bpftrace printing every event",
        lambda: Bpftrace(
            "bt-print",
            'tracepoint:raw_syscalls:sys_enter { printf("%d %d %s %d\\n", pid, tid, comm, args->id); }',
        ),
    ),
]


def overhead(work, name, start, rss):
    """RUNS times: the loop untraced, then traced by `start()`. Returns the
    ns added per call and the events lost, run by run; records the
    tracer's peak RSS in `rss` by (name, process)."""
    over, lost = [], []
    for _ in range(RUNS):
        base = run_loop(work, LOOP)
        t = start()
        try:
            traced = run_loop(work, LOOP)
        finally:
            t.stop()
        over.append(traced - base)
        lost.append(t.lost)
        for k, v in t.rss.items():
            rss[(name, k)] = max(rss.get((name, k), 0), v)
    return over, lost


def b1():
    res = {}
    rss = {}
    for work in WORKLOADS:
        for name, start in SETUPS:
            over, lost = overhead(work, name, start, rss)
            res[(work, name)] = (over, lost)
            print(f"B1 {work:16} {name:60} +{fmt3(over, ' ns')} lost {lost}", flush=True)
        over = [strace_overhead(work) for _ in range(max(1, RUNS // 2))]
        res[(work, "strace -f -o /dev/null")] = (over, [None] * len(over))
        print(f"B1 {work:16} strace +{fmt3(over, ' ns')}", flush=True)
    return res, rss


# --- B8 burst through the everyday pipeline ------------------------------

# The storm's process name, which the filter keeps.
B8_COMM = "tracee-helper"
B8_SETUPS = [
    ("pipe", False),
    ("shared-memory ring", True),
]


def b8():
    """LOOP getppid calls from B8_COMM with every syscall traced, through
    collect | filter comm=B8_COMM | fmt json at default settings, RUNS
    times: the events lost in each run (the collector's count, which
    includes what a lagging ring dropped)."""
    res = {}
    for label, ring in B8_SETUPS:
        lost, over = [], []
        for _ in range(RUNS):
            base = run_loop("getppid", LOOP)
            c = Collect(
                f"b8-{label}",
                [[b("tracee-filter"), f"comm={B8_COMM}"], [b("tracee-fmt"), "json"]],
                ring=ring,
            )
            try:
                traced = run_loop("getppid", LOOP)
            finally:
                c.stop()
            lost.append(c.lost)
            over.append(traced - base)
        res[label] = (over, lost)
        print(f"B8 {label:20} +{fmt3(over, ' ns')} lost {lost}", flush=True)
    return res


# --- B9 security_file_open ---------------------------------------------

B9_SETUPS = [
    (
        "tracee-collect -e security_file_open > /dev/null",
        lambda: Collect("sfo", events="security_file_open"),
    ),
    (
        "tracee-collect -e security_file_open | tracee-fmt json > /dev/null",
        lambda: Collect("sfo|json", [[b("tracee-fmt"), "json"]], events="security_file_open"),
    ),
    (
        "bpftrace printing every openat with its path",
        lambda: Bpftrace(
            "bt-open",
            "tracepoint:syscalls:sys_enter_openat { @p[tid] = args->filename; } "
            "tracepoint:syscalls:sys_exit_openat /@p[tid]/ { "
            'printf("%d %d %s %s %d\\n", pid, tid, comm, str(@p[tid]), args->ret); '
            "delete(@p[tid]); }",
        ),
    ),
]


def b9():
    """The open/read/close loop with security_file_open traced, against
    bpftrace printing each openat's path."""
    res = {}
    for name, start in B9_SETUPS:
        over, lost = overhead("open/read/close", name, start, {})
        res[name] = (over, lost)
        print(f"B9 {name:70} +{fmt3(over, ' ns')} lost {lost}", flush=True)
    return res


# --- B2 / B3 / B5 (recorded stream) --------------------------------------


def record_stream():
    """A real recording of mixed activity, multiplied to STREAM_EVENTS."""
    raw = os.path.join(TMP, "raw.bin")
    with open(raw, "wb") as out, open(os.path.join(TMP, "rec.err"), "w") as err:
        c = subprocess.Popen([b("tracee-collect"), "-e", "all"], stdout=out, stderr=err)
        time.sleep(2)
        sh = (
            "for i in 1 2 3 4 5 6 7 8; do ls -la /usr/bin > /dev/null; "
            "find /usr/share/doc -maxdepth 2 -name '*.gz' > /dev/null; "
            "cat /etc/passwd /etc/hostname > /dev/null; sh -c 'echo hi; true' > /dev/null; "
            "stat /etc/os-release > /dev/null; done"
        )
        subprocess.run(["sh", "-c", sh], check=True)
        time.sleep(0.5)
        c.send_signal(signal.SIGINT)
        c.wait()
    big = os.path.join(TMP, "stream.bin")
    with open(raw, "rb") as i, open(big, "wb") as o:
        subprocess.run([b("tracee-helper"), "multiply", str(STREAM_EVENTS)], stdin=i, stdout=o, check=True)
    return big


def through_pipe(stream, argv):
    """cat STREAM | argv > /dev/null: seconds and the stage's peak RSS."""
    t0 = time.perf_counter()
    cat = subprocess.Popen(TRACER_CPU + ["cat", stream], stdout=subprocess.PIPE)
    p = subprocess.Popen(WORK_CPU + argv, stdin=cat.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cat.stdout.close()
    (rss,) = wait_rss(p)
    code = p.returncode
    cat.wait()
    dt = time.perf_counter() - t0
    if code not in (0, 1):
        raise RuntimeError(f"{argv} exit {code}")
    return dt, rss


def ten_predicates():
    return [
        "uid>=0",
        "pid>0",
        "tid>0",
        "comm!=no-such-comm",
        "mntns>0",
        "pidns>0",
        "event!=kexec_load",
        "cgroup>=0",
        "gid>=0",
        "ppid>=0",
    ]


def b2(stream):
    size = os.path.getsize(stream)
    stages = [
        ("cat", ["cat"]),
        ("tracee-filter (matching none)", [b("tracee-filter"), NONE_EXPR]),
        ("tracee-filter (matching all)", [b("tracee-filter"), "uid>=0"]),
        ("tracee-filter (10 predicates)", [b("tracee-filter")] + ten_predicates()),
        ("tracee-fmt json", [b("tracee-fmt"), "json"]),
        ("tracee-fmt table", [b("tracee-fmt"), "table"]),
    ]
    res = {name: ([], 0) for name, _ in stages}
    for _ in range(RUNS):
        for name, argv in stages:
            dt, rss = through_pipe(stream, argv)
            ts, r = res[name]
            ts.append(dt)
            res[name] = (ts, max(r, rss))
    for name, (ts, rss) in res.items():
        print(f"B2 {name:32} {fmt3([STREAM_EVENTS / t for t in ts], ' ev/s')} rss {rss} KiB", flush=True)
    return res, size


def b3_transport(stream):
    """tracee-filter (all) -> tracee-filter (none), through a pipe and a ring;
    and each side alone on its CPU, from the file to /dev/null: no transport
    can carry more than the slower side does with none."""
    pipe, ring, alone = [], [], []
    for _ in range(RUNS):
        sides = []
        for cpu, args in ((TRACER_CPU, []), (WORK_CPU, [NONE_EXPR])):
            t0 = time.perf_counter()
            with open(stream, "rb") as i:
                code = subprocess.run(cpu + [b("tracee-filter")] + args, stdin=i, stdout=subprocess.DEVNULL).returncode
            if code not in (0, 1):
                raise RuntimeError(f"tracee-filter {args} alone: exit {code}")
            sides.append(STREAM_EVENTS / (time.perf_counter() - t0))
        alone.append(min(sides))
        t0 = time.perf_counter()
        with open(stream, "rb") as i:
            a = subprocess.Popen(TRACER_CPU + [b("tracee-filter")], stdin=i, stdout=subprocess.PIPE)
            z = subprocess.Popen(WORK_CPU + [b("tracee-filter"), NONE_EXPR], stdin=a.stdout, stdout=subprocess.DEVNULL)
            a.stdout.close()
            a.wait()
            z.wait()
        pipe.append(STREAM_EVENTS / (time.perf_counter() - t0))
        path = f"/dev/shm/tracee-bench-b3-{os.getpid()}"
        t0 = time.perf_counter()
        with open(stream, "rb") as i:
            a = subprocess.Popen(
                TRACER_CPU + [b("tracee-filter"), "--output", f"ring:{path}", "--ring-full", "block"],
                stdin=i,
                stdout=subprocess.DEVNULL,
            )
            z = subprocess.Popen(
                WORK_CPU + [b("tracee-filter"), "--input", f"ring:{path}", NONE_EXPR], stdout=subprocess.DEVNULL
            )
            a.wait()
            z.wait()
        ring.append(STREAM_EVENTS / (time.perf_counter() - t0))
    print(f"B3 pipe {fmt3(pipe, ' ev/s')}  ring {fmt3(ring, ' ev/s')}  slower side alone {fmt3(alone, ' ev/s')}", flush=True)
    return pipe, ring, alone


def b5(stream):
    res = {}
    comms = [f"nomatch{i}" for i in range(1000)]
    names = (
        "read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction "
        "rt_sigprocmask ioctl pread64 pwrite64 readv writev access pipe select sched_yield mremap "
        "msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm "
        "setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown "
        "bind listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork "
        "execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl "
        "flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir "
        "creat link unlink symlink readlink chmod fchmod chown fchown lchown umask gettimeofday "
        "getrlimit getrusage sysinfo times ptrace getuid syslog getgid setuid setgid geteuid getegid"
    ).split()[:100]
    cases = [(f"comm= {n} values", [b("tracee-filter"), "comm=" + ",".join(comms[:n])]) for n in (1, 10, 100, 1000)]
    cases += [(f"event= {n} events", [b("tracee-filter"), "event=" + ",".join(names[:n])]) for n in (1, 10, 100)]
    for _ in range(RUNS):
        for name, argv in cases:
            res.setdefault(name, []).append(STREAM_EVENTS / through_pipe(stream, argv)[0])
    for name, v in res.items():
        print(f"B5 {name:22} {fmt3(v, ' ev/s')}", flush=True)
    return res


def b4_follow():
    """Peak RSS of tracee-filter follow while N processes come and go."""
    out = {}
    for n in (10000, 100000):
        c = Collect(f"follow-{n}", [[b("tracee-filter"), "comm=tracee-helper", "follow"]])
        subprocess.run([b("tracee-helper"), "forkstorm", str(n)], check=True)
        time.sleep(0.5)
        c.stop()
        out[n] = c.rss.get("tracee-filter", 0)
        print(f"B4 follow {n} processes: tracee-filter peak RSS {out[n]} KiB", flush=True)
    return out


# --- B6 capture ------------------------------------------------------------

CAPTURE_MB = int(os.environ.get("BENCH_CAPTURE_MB", "1024"))


def dd(path):
    t0 = time.perf_counter()
    subprocess.run(
        WORK_CPU + ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={CAPTURE_MB}", "status=none"],
        check=True,
    )
    return time.perf_counter() - t0


def b6_capture():
    """dd of CAPTURE_MB MiB without and with `--capture write`, with the
    default kernel buffer and with one that holds the whole burst."""
    import json
    import shutil
    # On tmpfs: disk writeback would time the disk, not the tracer.
    shm = tempfile.mkdtemp(prefix="tracee-bench-b6-", dir="/dev/shm")
    res = {}
    for label, extra in (("default buffer (64M)", ""), ("--capture-buffer 1G", "--capture-buffer 1G")):
        plain, traced, got, complete = [], [], [], []
        for i in range(RUNS):
            d = os.path.join(shm, "files")
            os.makedirs(d, exist_ok=True)
            f = os.path.join(d, "file")
            plain.append(dd(f))
            os.unlink(f)
            out = os.path.join(shm, "out")
            err = os.path.join(TMP, "b6-collect.err")
            cerr = os.path.join(TMP, "b6-capture.err")
            for x in (err, cerr):
                if os.path.exists(x):
                    os.unlink(x)
            cmd = (
                f"exec taskset -c 0 {b('tracee-collect')} --output none {extra} --capture 'write={d}/*' "
                f"3> >(exec taskset -c 0 {b('tracee-capture')} --dir {out} --clear-dir 2>{cerr}) 2>{err}"
            )
            c = subprocess.Popen(["bash", "-c", cmd])
            Tracer("b6").wait_line(err, r"tracing \d+ events")
            traced.append(dd(f))
            c.send_signal(signal.SIGINT)
            c.wait()
            Tracer("b6").wait_line(cerr, r"artifacts,")
            size = os.path.getsize(f)
            with open(os.path.join(out, "out", "index.jsonl")) as ix:
                lines = [json.loads(l) for l in ix if l.strip()]
            art = [l for l in lines if l.get("kind") == "write" and l.get("comm") == "dd"]
            captured = 0
            ok = False
            if art:
                a = os.path.join(out, "out", art[0]["path"])
                captured = os.stat(a).st_blocks * 512
                ok = art[0]["complete"] and os.path.getsize(a) == size
                if ok:
                    ok = subprocess.run(["cmp", "-s", a, f]).returncode == 0
            got.append(captured)
            complete.append(ok)
            os.unlink(f)
            shutil.rmtree(out, ignore_errors=True)
        res[label] = (plain, traced, got, complete)
        ratio = [t / p for p, t in zip(plain, traced)]
        print(f"B6 {label}: dd x{fmt3(ratio, '', 2)} with capture, complete {complete}", flush=True)
    shutil.rmtree(shm, ignore_errors=True)
    return res



# --- B7 network ------------------------------------------------------------

IPERF_SECS = int(os.environ.get("BENCH_IPERF_SECS", "5"))


def iperf(port):
    """TCP throughput over loopback (bits/s): an iperf3 server on CPU 1
    and its client on CPU 1, IPERF_SECS seconds."""
    import json
    srv = subprocess.Popen(
        WORK_CPU + ["iperf3", "-s", "-1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    out = subprocess.run(
        WORK_CPU + ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(IPERF_SECS), "-J"],
        capture_output=True, text=True, check=True,
    ).stdout
    srv.wait()
    return json.loads(out)["end"]["sum_received"]["bits_per_second"]


def progs():
    """The loaded BPF programs: id -> (name, run_cnt), run counts with
    kernel.bpf_stats_enabled."""
    import json
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return {p["id"]: (p.get("name"), p.get("run_cnt", 0)) for p in json.loads(out or "[]")}


def run_counts(names, ids):
    """Summed run counts of the programs `ids` named in `names`."""
    return sum(c for i, (n, c) in progs().items() if i in ids and n in names)


def b7():
    """iperf3 over loopback: untraced, with `tracee-collect --capture
    network` into tracee-capture (default snap length), and with tcpdump
    writing a file (-s 160); then net_packet_tcp events into tracee-fmt
    json. Packets the hooks saw come from the programs' run counts."""
    import json
    import shutil
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    res = {"untraced": [], "tracee-rs": [], "tcpdump": [], "counts": [], "tcpdump_counts": [], "events": []}
    port = 15201
    for i in range(RUNS):
        port += 1
        res["untraced"].append(iperf(port))

        shm = tempfile.mkdtemp(prefix="tracee-bench-b7-", dir="/dev/shm")
        err, cerr = os.path.join(TMP, "b7-collect.err"), os.path.join(TMP, "b7-capture.err")
        for x in (err, cerr):
            if os.path.exists(x):
                os.unlink(x)
        cmd = (
            f"exec taskset -c 0 {b('tracee-collect')} --output none --capture network "
            f"3> >(exec taskset -c 0 {b('tracee-capture')} --dir {shm} --clear-dir 2>{cerr}) 2>{err}"
        )
        old = set(progs())
        c = subprocess.Popen(["bash", "-c", cmd])
        Tracer("b7").wait_line(err, r"tracing \d+ events")
        # This collector's packet programs: the ones it loaded.
        names = {"net_egress", "net_ingress"}
        ours = set(progs()) - old
        before = run_counts(names, ours)
        port += 1
        res["tracee-rs"].append(iperf(port))
        seen = run_counts(names, ours) - before
        c.send_signal(signal.SIGINT)
        c.wait()
        Tracer("b7").wait_line(cerr, r"packets into pcaps|artifacts,")
        with open(err) as f:
            e = f.read()
        m = re.search(r"(\d+) packets \((\d+) of an unknown owner", e)
        sent = int(m.group(1)) if m else 0
        lost = re.search(r"events written.*?, (\d+) lost", e)
        with open(os.path.join(shm, "out", "index.jsonl")) as ix:
            idx = [json.loads(l) for l in ix if l.strip()]
        single = [l for l in idx if l.get("path") == "pcap/single.pcap"]
        captured = single[0]["packets"] if single else 0
        with open(cerr) as f:
            ce = f.read()
        res["counts"].append((seen, sent, captured, int(lost.group(1)) if lost else -1))
        shutil.rmtree(shm, ignore_errors=True)

        pcap = os.path.join(TMP, "b7.pcap")
        terr = os.path.join(TMP, "b7-tcpdump.err")
        tf = open(terr, "w")
        t = subprocess.Popen(
            TRACER_CPU + ["tcpdump", "-i", "any", "-w", pcap, "-s", "160"],
            stdout=subprocess.DEVNULL, stderr=tf,
        )
        Tracer("b7").wait_line(terr, r"listening on")
        port += 1
        res["tcpdump"].append(iperf(port))
        t.send_signal(signal.SIGINT)
        t.wait()
        with open(terr) as f:
            te = f.read()
        cap = re.search(r"(\d+) packets? captured", te)
        drop = re.search(r"(\d+) packets? dropped by kernel", te)
        res["tcpdump_counts"].append((int(cap.group(1)) if cap else -1, int(drop.group(1)) if drop else -1))
        os.unlink(pcap)

        # Events: net_packet_tcp into tracee-fmt json.
        err = os.path.join(TMP, "b7-events.err")
        cmd = (
            f"taskset -c 0 {b('tracee-collect')} -e net_packet_tcp 2>{err} | "
            f"taskset -c 0 {b('tracee-fmt')} json > /dev/null 2>/dev/null"
        )
        c = subprocess.Popen(["bash", "-c", cmd], start_new_session=True)
        Tracer("b7").wait_line(err, r"tracing \d+ events")
        t0 = time.perf_counter()
        port += 1
        iperf(port)
        took = time.perf_counter() - t0
        os.killpg(c.pid, signal.SIGINT)
        c.wait()
        with open(err) as f:
            e = f.read()
        w = re.search(r"(\d+) events written.*?, (\d+) lost", e)
        written, lost = (int(w.group(1)), int(w.group(2))) if w else (0, -1)
        res["events"].append((written / took, written, lost))
        print(
            f"B7 run {i}: untraced {res['untraced'][-1]/1e9:.1f} Gbit/s, tracee-rs {res['tracee-rs'][-1]/1e9:.1f}, "
            f"tcpdump {res['tcpdump'][-1]/1e9:.1f}; hooks saw {seen}, sent {sent}, captured {captured}; "
            f"tcpdump {res['tcpdump_counts'][-1]}; events {written} ({written/took:,.0f}/s) lost {lost}",
            flush=True,
        )
    return res

# --- report ------------------------------------------------------------


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (tracee-collect and bpftrace load eBPF)")
    started = time.time()
    b1res, b1rss = b1()
    stream = record_stream()
    b2res, size = b2(stream)
    pipe, ring, alone = b3_transport(stream)
    b5res = b5(stream)
    follow = b4_follow()
    b6 = b6_capture()
    b7res = b7()
    b8res = b8()
    b9res = b9()
    write_report(
        b1res, b1rss, b2res, size, (pipe, ring, alone), b5res, follow, b6, b7res, b8res, b9res,
        time.time() - started,
    )


def cell(s):
    """A table cell: pipes in shell commands must not split it."""
    return s.replace("|", "\\|")


def verdict(ok, *series):
    """PASS or MISS; NOISY before it when a series the comparison rests on
    spread more than SPREAD_WARN across its runs: not a result to go by."""
    v = "PASS" if ok else "MISS"
    if any(noisy(xs) for xs in series):
        return f"NOISY {v}"
    return v


def noisy(xs):
    _, lo, hi = med(xs)
    return lo > 0 and hi / lo > SPREAD_WARN


def clocksource():
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            return f.read().strip()
    except OSError:
        return "?"


def write_report(b1res, b1rss, b2res, size, b3res, b5res, follow, b6, b7res, b8res, b9res, took):
    NOISY.clear()
    pipe, ring, alone = b3res
    L = []
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    L += [
        "# tracee-rs benchmarks",
        "",
        "Written by `bash scripts/bench.sh` (do not edit by hand). Each figure is the",
        f"median of {RUNS} runs, with (min–max). Comparisons are measured side by side",
        "in the same run and given as ratios, since absolute times drift on shared machines.",
        "",
        f"- Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs, {cpu}, "
        f"clock source {clocksource()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; suite took {took/60:.1f} min",
        f"- Peers: {subprocess.run(['bpftrace', '--version'], capture_output=True, text=True).stdout.strip()}, "
        f"{subprocess.run(['strace', '-V'], capture_output=True, text=True).stdout.splitlines()[0]}",
        "",
        "## B1 traced-syscall overhead",
        "",
        f"Loops of {LOOP:,} calls (`tracee-helper storm` for getppid; `tracee-helper openloop`",
        f"for open/read/close of a small file; strace on {STRACE_LOOP:,}). Every syscall is traced",
        "(`tracee-collect -e syscalls`). Overhead = ns per call traced minus untraced, the two",
        "measured one after the other in each run.",
        "",
        "| workload | tracer | added ns per syscall | vs bpftrace counting | events lost |",
        "|---|---|---|---|---|",
    ]
    for work in WORKLOADS:
        cnt = med(b1res[(work, "bpftrace counting in the kernel")][0])[0]
        for name in [s[0] for s in SETUPS] + ["strace -f -o /dev/null"]:
            over, lost = b1res[(work, name)]
            lost_s = "n/a" if lost[0] is None else ", ".join(str(x) for x in lost)
            L.append(f"| {work} | {cell(name)} | {fmt3(over)} | {med(over)[0]/cnt:.2f}x | {lost_s} |")
    g = lambda n: med(b1res[("getppid", n)][0])[0]
    gs = lambda n: b1res[("getppid", n)][0]
    collect_s, count_s = gs("tracee-collect > /dev/null"), gs("bpftrace counting in the kernel")
    collect = g("tracee-collect > /dev/null")
    bt_print = g("bpftrace printing every event")
    bt_count = g("bpftrace counting in the kernel")
    json = g("tracee-collect | tracee-filter | tracee-fmt json > /dev/null")
    pushed = g("tracee-collect | tracee-filter (matching nothing)")
    not_pushed = g("tracee-collect --no-pushdown | tracee-filter (matching nothing)")
    lost0 = all(x == 0 for x in b1res[("getppid", "tracee-collect > /dev/null")][1])
    L += [
        "",
        "Targets (getppid, the worst case):",
        "",
        f"- {verdict(collect < bt_print, collect_s, gs('bpftrace printing every event'))} tracee-collect adds less than bpftrace printing every event: {collect:.0f} vs {bt_print:.0f} ns",
        f"- {verdict(collect <= 2 * bt_count, collect_s, count_s)} tracee-collect adds at most 2x bpftrace counting: {collect/bt_count:.2f}x",
        f"- {verdict(lost0)} zero events lost at default settings (tracee-collect > /dev/null, every run)",
        f"- {verdict(json <= 1.5 * collect, collect_s, gs('tracee-collect | tracee-filter | tracee-fmt json > /dev/null'))} the full json pipeline adds at most 1.5x tracee-collect alone: {json/collect:.2f}x",
        f"- {verdict(collect <= 1.3 * bt_count, collect_s, count_s)} (stretch) tracee-collect adds at most 1.3x bpftrace counting: {collect/bt_count:.2f}x",
        "",
        f"Pushdown across the pipe: `tracee-collect | tracee-filter {NONE_EXPR}` adds {pushed:.0f} ns, as the",
        f"filter's `comm=` is evaluated in the kernel too; with `--no-pushdown`, {not_pushed:.0f} ns.",
    ]
    json_lost = b1res[("getppid", "tracee-collect | tracee-filter | tracee-fmt json > /dev/null")][1]
    if any(x for x in json_lost):
        L += [
            "",
            "The json pipeline lost events in this storm (counted in the stream and on stderr): the",
            "traced loop makes more events per second than tracee-fmt json formats (B2) on the one CPU",
            "it shares with tracee-collect and tracee-filter. The kernel side is the same as above.",
        ]
    L += [
        "",
        "## B2 stage throughput",
        "",
        f"A real recording (`tracee-collect -e all` during ls, find, cat, sh, stat) repeated to",
        f"{STREAM_EVENTS:,} events ({size/1e6:.0f} MB), fed by `cat FILE |` into each stage, output to /dev/null.",
        "",
        "| stage | events/s | vs cat | peak RSS |",
        "|---|---|---|---|",
    ]
    cat_t = med(b2res["cat"][0])[0]
    for name, (ts, rss) in b2res.items():
        L.append(f"| {name} | {fmt3([STREAM_EVENTS / t for t in ts])} | {cat_t / med(ts)[0]:.2f}x | {rss/1024:.1f} MiB |")
    vs_cat = lambda n: cat_t / med(b2res[n][0])[0]
    b2s = lambda n: b2res[n][0]
    filters = [n for n in b2res if n.startswith("tracee-filter")]
    filt = min(vs_cat(n) for n in b2res if n.startswith("tracee-filter"))
    json_cat, table_cat = vs_cat("tracee-fmt json"), vs_cat("tracee-fmt table")
    L += [
        "",
        f"- {verdict(filt >= 0.5, b2s('cat'), *[b2s(n) for n in filters])} tracee-filter at least 0.5x of cat in every case (slowest {filt:.2f}x)",
        f"- {verdict(json_cat >= 0.3, b2s('cat'), b2s('tracee-fmt json'))} tracee-fmt json at least 0.3x of cat: {json_cat:.2f}x",
        f"- {verdict(table_cat >= 0.25, b2s('cat'), b2s('tracee-fmt table'))} tracee-fmt table at least 0.25x of cat: {table_cat:.2f}x",
        "",
        "## B3 transport",
        "",
        "Saturation: `tracee-filter < FILE` (keeps all) into `tracee-filter` (keeps none), through",
        "a pipe and through `--output ring:/dev/shm/X --ring-full block` / `--input ring:...`.",
        "",
        f"- pipe: {fmt3(pipe, ' events/s')}",
        f"- ring: {fmt3(ring, ' events/s')}",
        f"- each side alone, from the file to /dev/null (the slower of the two, run by run): {fmt3(alone, ' events/s')}",
        f"- {verdict(med(ring)[0] >= 2 * med(pipe)[0], pipe, ring)} the ring moves at least 2x the events/s of the pipe: {med(ring)[0]/med(pipe)[0]:.2f}x",
        "",
        f"No transport can carry more than its slower side does alone, here {med(alone)[0]/med(pipe)[0]:.2f}x the pipe; "
        f"the ring reaches {med(ring)[0]/med(alone)[0]:.0%} of that, the pipe {med(pipe)[0]/med(alone)[0]:.0%}.",
        "",
        "Live (B1 overhead, getppid): collect | filter (no pushdown, which a ring's reader does not get) through a pipe "
        f"{g('tracee-collect --no-pushdown | tracee-filter (matching nothing)'):.0f} ns, through the ring "
        f"{g('tracee-collect --output ring: | tracee-filter --input ring: (matching nothing)'):.0f} ns.",
        "",
        "## B4 memory",
        "",
        "| during | process | peak RSS |",
        "|---|---|---|",
    ]
    worst = 0
    for (name, proc), kib in sorted(b1rss.items()):
        if proc.startswith("tracee"):
            worst = max(worst, kib)
        L.append(f"| B1: {cell(name)} | {proc} | {kib/1024:.1f} MiB |")
    for name, (ts, rss) in b2res.items():
        if name.startswith("tracee"):
            worst = max(worst, rss)
    grow = follow[100000] - follow[10000]
    L += [
        f"| B2 | (see B2 table) | |",
        "",
        f"`tracee-filter comm=tracee-helper follow` while `tracee-helper forkstorm N` starts and",
        f"reaps N processes: peak RSS {follow[10000]/1024:.1f} MiB for 10,000, {follow[100000]/1024:.1f} MiB for 100,000.",
        "",
        f"- {verdict(worst < 64 * 1024)} every tool under 64 MiB RSS (largest {worst/1024:.1f} MiB)",
        f"- {verdict(grow < 2 * 1024)} follow tracking bounded as processes exit (10x the processes: +{grow/1024:.1f} MiB)",
        "",
        "## B5 scaling",
        "",
        "| tracee-filter | events/s |",
        "|---|---|",
    ]
    for name, v in b5res.items():
        L.append(f"| {name} | {fmt3(v)} |")
    c1, c1000 = med(b5res["comm= 1 values"])[0], med(b5res["comm= 1000 values"])[0]
    e1, e100 = med(b5res["event= 1 events"])[0], med(b5res["event= 100 events"])[0]
    L += [
        "",
        f"- {verdict(c1 / c1000 <= 1.5)} 1,000 comm values cost at most 1.5x of one: {c1/c1000:.2f}x",
        f"- {verdict(e1 / e100 <= 3)} 100 event filters cost at most 3x of one: {e1/e100:.2f}x",
        "",
    ]
    L += [
        "## B6 capture",
        "",
        f"`dd if=/dev/zero of=FILE bs=1M count={CAPTURE_MB}` (FILE and the artifacts on tmpfs) on CPU 1, alone and while",
        "`tracee-collect --output none --capture write=DIR/* 3> >(tracee-capture ...)` runs on CPU 0.",
        "Complete = the artifact is indexed complete and `cmp` equals the file.",
        "",
        "| kernel capture buffer | dd alone (s) | dd captured (s) | ratio | bytes on disk / written | complete |",
        "|---|---|---|---|---|---|",
    ]
    for label, (plain, traced, got, complete) in b6.items():
        ratio = [t / p for p, t in zip(plain, traced)]
        frac = [g / (CAPTURE_MB << 20) for g in got]
        L.append(
            f"| {label} | {fmt3(plain, '', 2)} | {fmt3(traced, '', 2)} | {fmt3(ratio, 'x', 2)} | "
            f"{fmt3(frac, '', 2)} | {sum(complete)}/{len(complete)} |"
        )
    L += [
        "",
        "With the default buffer a burst faster than the sidecar drains loses chunks; the",
        "artifact is then indexed `complete: false`, never silently short.",
        "",
    ]
    un, ours, td = b7res["untraced"], b7res["tracee-rs"], b7res["tcpdump"]
    our_loss = [1 - o / u for u, o in zip(un, ours)]
    td_loss = [1 - t / u for u, t in zip(un, td)]
    L += [
        "## B7 network",
        "",
        f"`iperf3` TCP over loopback for {IPERF_SECS} s (client and server on CPU 1), alone, while",
        "`tracee-collect --output none --capture network 3> >(tracee-capture ...)` runs on CPU 0 (default snap",
        "length: headers and 96 bytes of payload), and while `tcpdump -i any -w FILE -s 160` runs on CPU 0.",
        "",
        "| setup | throughput (Gbit/s) | throughput lost |",
        "|---|---|---|",
        f"| untraced | {fmt3([x / 1e9 for x in un], '', 1)} | |",
        f"| tracee-rs --capture network | {fmt3([x / 1e9 for x in ours], '', 1)} | {fmt3([x * 100 for x in our_loss], ' %', 1)} |",
        f"| tcpdump -s 160 | {fmt3([x / 1e9 for x in td], '', 1)} | {fmt3([x * 100 for x in td_loss], ' %', 1)} |",
        "",
        "Packets, per run: seen by the packet programs (their run count: every packet of the machine, each",
        "loopback packet once leaving and once arriving), sent to user space (collect's count), written to",
        "`single.pcap` (the index), and the stream's lost count; tcpdump's captured and dropped.",
        "",
        "| run | hooks saw | sent | in single.pcap | lost (stream) | tcpdump captured | tcpdump dropped |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, ((seen, sent, cap, lost), (tc, tdrop)) in enumerate(zip(b7res["counts"], b7res["tcpdump_counts"])):
        L.append(f"| {i} | {seen:,} | {sent:,} | {cap:,} | {lost:,} | {tc:,} | {tdrop:,} |")
    ev = b7res["events"]
    L += [
        "",
        "`tracee-collect -e net_packet_tcp | tracee-fmt json > /dev/null` (both on CPU 0) during the same iperf3",
        f"run: {fmt3([e[0] for e in ev], ' events/s')}, lost per run: {', '.join(str(e[2]) for e in ev)}.",
        "",
        f"- {verdict(med(our_loss)[0] <= med(td_loss)[0])} throughput lost with tracee-rs at most tcpdump's: "
        f"{med(our_loss)[0]*100:.1f} % vs {med(td_loss)[0]*100:.1f} % (medians)",
        f"- {verdict(all(s + l >= c for (_, s, c, l) in b7res['counts']) and all(c == s for (_, s, c, l) in b7res['counts']))} "
        "every packet sent is in single.pcap (else the shortfall is in the stream's lost count and the index)",
        "",
    ]
    L += [
        "## B8 burst through the everyday pipeline",
        "",
        f"`tracee-helper storm {LOOP:,}` ({LOOP:,} getppid calls, on CPU 1) while",
        f"`tracee-collect -e syscalls | tracee-filter comm={B8_COMM} | tracee-fmt json > /dev/null`",
        "runs at default settings (every stage on CPU 0), through a pipe and through the shared-memory",
        "ring (`--output ring:PATH` / `--input ring:PATH`). Every call is an event the filter keeps.",
        "",
        "| transport | added ns per syscall | events lost, per run |",
        "|---|---|---|",
    ]
    b8_ok = True
    for label, (over, lost) in b8res.items():
        b8_ok &= all(x is not None and x <= LOOP / 100 for x in lost)
        L.append(f"| {label} | {fmt3(over)} | {', '.join(str(x) for x in lost)} |")
    L += [
        "",
        f"- {verdict(b8_ok)} at most 1% of the burst lost, every run, through both",
        "",
    ]
    L += [
        "## B9 security_file_open",
        "",
        f"The open/read/close loop ({LOOP:,} calls, `tracee-helper openloop`) with `security_file_open`",
        "traced (the file's resolved path, flags, device, inode, change time and the caller's path,",
        "derived at each open's exit), against bpftrace printing each openat's path and result",
        "(`syscalls:sys_enter_openat` keeps the path, `sys_exit_openat` prints it). Added ns per",
        "syscall of the loop, as in B1.",
        "",
        "| tracer | added ns per syscall | events lost |",
        "|---|---|---|",
    ]
    for name, (over, lost) in b9res.items():
        lost_s = "n/a" if lost[0] is None else ", ".join(str(x) for x in lost)
        L.append(f"| {cell(name)} | {fmt3(over)} | {lost_s} |")
    sfo = med(b9res[B9_SETUPS[0][0]][0])[0]
    sfo_json = med(b9res[B9_SETUPS[1][0]][0])[0]
    bt_open = med(b9res[B9_SETUPS[2][0]][0])[0]
    L += [
        "",
        f"- {verdict(sfo < bt_open)} tracee-collect adds less than bpftrace printing: {sfo:.0f} vs {bt_open:.0f} ns",
        f"- (with tracee-fmt json printing every event: {sfo_json:.0f} ns, {sfo_json/bt_open:.2f}x bpftrace printing)",
        "",
    ]
    head = L.index("## B1 traced-syscall overhead")
    if NOISY:
        L[head:head] = [
            f"⚠ {len(NOISY)} figures below spread more than {SPREAD_WARN}x (max/min) across runs and are",
            "marked: the machine was noisy while they ran, so read them as such, not as results.",
            "A target resting on such a figure says NOISY before its PASS or MISS.",
            "",
        ]
    else:
        L[head:head] = [f"No figure spread more than {SPREAD_WARN}x (max/min) across its runs.", ""]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path, "w") as f:
        f.write("\n".join(L))
    print(f"bench: wrote {path}")


if __name__ == "__main__":
    main()
