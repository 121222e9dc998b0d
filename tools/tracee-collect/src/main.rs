use std::process::ExitCode;

use tracee_collect::{events, run};

const USAGE: &str =
    "usage: tracee-collect [-e EVENTS]... [--buffer-size BYTES] [--no-pushdown] [EXPR...]

Traces the whole machine and writes the tracee-rs stream to stdout (needs root).
  -e, --events LIST   names, globs (open*), sets (default, syscalls, fs, net, proc, all)
                      and exclusions (-close); comma-separated or repeated.
                      Without -e: the default set.
  --buffer-size N     kernel ring buffer size in bytes (power of two, K/M/G suffix; default 8M)
  --output ring:PATH  write into a shared-memory ring (read with --input ring:PATH)
  --output none       write no events (capture only)
  --capture WHAT      capture artifacts, in Tracee's syntax: write[=/prefix*],
                      read[=/prefix*], write:type=regular|pipe|socket|elf,
                      write:fd=stdin|stdout|stderr (and read:...), exec, mem,
                      module, bpf; repeatable. The payloads go to descriptor 3
                      (or --capture-fd N) for tracee-capture:
                        tracee-collect --capture exec 3> >(tracee-capture) | tracee-fmt
  --capture-fd N      the descriptor for capture payloads (default 3)
  --capture-buffer N  kernel ring buffer for capture payloads (default 64M)
  --ring-size N       capacity of that ring (power of two, K/M/G; default 16M)
  --ring-full drop|block  when the ring is full: drop events and count them in
                      the stream (default; the kernel never waits), or wait
  --no-pushdown       evaluate filter expressions only in user space
  --trace-pipeline    also trace the processes reading this output (by default
                      they are left out: their events would feed back)
  --list              print the events and their arguments, then exit
  EXPR                tracee-filter expressions, evaluated in the kernel where possible";

fn parse_size(s: &str) -> Option<u32> {
    let (n, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = n.parse::<u32>().ok()?.checked_mul(mul)?;
    (v >= 4096 && v.is_power_of_two()).then_some(v)
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tracee-collect: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let mut sel = Vec::new();
    let mut exprs = Vec::new();
    let mut pushdown = true;
    let mut trace_pipeline = false;
    let mut ring_bytes = 8 << 20;
    let mut output = None;
    let mut ring_size = wire::ring::DEFAULT_CAPACITY;
    let mut ring_full = wire::ring::WhenFull::Drop;
    let mut captures: Vec<String> = Vec::new();
    let mut capture_fd = 3;
    let mut capture_bytes = 64 << 20;
    let mut no_events = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--list" => {
                for s in events::all() {
                    let a: Vec<String> = s
                        .args
                        .iter()
                        .map(|a| format!("{} {}", a.ty, a.name))
                        .collect();
                    println!("{} {}({})", s.nr, s.name, a.join(", "));
                }
                return Ok(ExitCode::SUCCESS);
            }
            "-e" | "--events" => sel.push(
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?,
            ),
            "--no-pushdown" => pushdown = false,
            "--output" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                if v == "none" {
                    no_events = true;
                    continue;
                }
                if wire::ring::parse_spec(&v).is_none() && v != "-" {
                    anyhow::bail!("--output '{v}': expected ring:PATH, none or - (stdout)");
                }
                output = (v != "-").then_some(v);
            }
            "--ring-size" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                ring_size = wire::ring::parse_capacity(&v).ok_or_else(|| {
                    anyhow::anyhow!("bad --ring-size '{v}': a power of two from 128K to 4G")
                })?;
            }
            "--ring-full" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                ring_full = wire::ring::WhenFull::from_name(&v)
                    .ok_or_else(|| anyhow::anyhow!("bad --ring-full '{v}': drop or block"))?;
            }
            "--trace-pipeline" => trace_pipeline = true,
            "--capture" => captures.push(
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?,
            ),
            "--capture-fd" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                capture_fd = v.parse::<i32>().ok().filter(|&n| n > 2).ok_or_else(|| {
                    anyhow::anyhow!("bad --capture-fd '{v}': a descriptor above 2")
                })?;
            }
            "--capture-buffer" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                capture_bytes = parse_size(&v).ok_or_else(|| {
                    anyhow::anyhow!("bad --capture-buffer '{v}': a power of two of at least 4096")
                })?;
            }
            "--buffer-size" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                ring_bytes = parse_size(&v).ok_or_else(|| {
                    anyhow::anyhow!("bad --buffer-size '{v}': a power of two of at least 4096")
                })?;
            }
            _ if a.starts_with("--events=") => sel.push(a["--events=".len()..].to_string()),
            _ if a.starts_with('-') && a.len() > 1 && !a.contains('=') => {
                anyhow::bail!("unknown option '{a}' (see --help)")
            }
            _ => exprs.push(a),
        }
    }
    let capture = tracee_collect::capture::parse(&captures).map_err(anyhow::Error::msg)?;
    if no_events {
        if output.is_some() {
            anyhow::bail!("--output none and --output ring: exclude each other");
        }
        // The stream goes nowhere; only the sidecar carries anything.
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        // SAFETY: both descriptors are valid; fd 1 is replaced.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) };
    }
    // SAFETY: isatty only inspects the descriptor.
    if output.is_none() && unsafe { libc::isatty(1) } == 1 {
        anyhow::bail!(
            "stdout is a terminal: the stream is binary; pipe it into tracee-fmt or redirect it to a file"
        );
    }
    let events = events::select(&sel)?;
    let terms = tracee_filter::parse_all(&exprs)?;
    let totals = run::run(run::Config {
        trace_pipeline,
        events,
        terms,
        pushdown,
        ring_bytes,
        output,
        ring_size,
        ring_full,
        no_events,
        capture,
        capture_fd,
        capture_bytes,
    })?;
    let cat = events::catalog();
    let mut kinds: Vec<(u64, &str)> = totals
        .per_event
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(id, n)| cat.get(id as u32).map(|d| (*n, d.name.as_str())))
        .collect();
    kinds.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    // Per kind only when the output dropped nothing: which kinds a ring
    // dropped is not known, and the kinds must add up to what was written.
    let list: Vec<String> = if totals.output_dropped == 0 {
        kinds.iter().map(|(n, k)| format!("{k} {n}")).collect()
    } else {
        vec![]
    };
    eprintln!(
        "tracee-collect: {} events written{}{}, {} lost",
        totals.events,
        if list.is_empty() { "" } else { ": " },
        list.join(", "),
        totals.lost
    );
    Ok(ExitCode::SUCCESS)
}
