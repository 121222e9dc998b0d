use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracee_cli::args::RingArgs;
use tracee_collect::{events, run};

/// Traces the whole machine and writes the tracee-rs stream to stdout
/// (needs root).
#[derive(Parser)]
#[command(
    name = "tracee-collect",
    version,
    override_usage = "tracee-collect [-e EVENTS]... [OPTIONS] [EXPR]... | tracee-fmt",
    after_help = "Capture payloads go to descriptor 3 (or --capture-fd N) for tracee-capture:
  tracee-collect --capture exec 3> >(tracee-capture) | tracee-fmt"
)]
struct Cli {
    /// tracee-filter expressions, evaluated in the kernel where possible
    #[arg(value_name = "EXPR")]
    exprs: Vec<String>,
    /// Events: names, wildcards (open*, *at), sets (default, syscalls, fs, net, containers,
    /// proc, all) and exclusions (-close); comma-separated or repeated.
    /// Without -e: the default set
    #[arg(
        short = 'e',
        long = "events",
        value_name = "LIST",
        allow_hyphen_values = true
    )]
    events: Vec<String>,
    /// Kernel ring buffer size in bytes (a power of two, at least 4096; K/M/G)
    #[arg(long, value_name = "N", default_value = "8M", value_parser = kernel_buffer)]
    buffer_size: u32,
    /// When stdout is a pipe, it is grown to hold N bytes (K/M/G): a burst
    /// waits there, not lost, while the pipeline catches up; its pages
    /// are taken only while the reader lags
    #[arg(long, value_name = "N", default_value = "16M", value_parser = pipe_buffer)]
    pipe_buffer: u32,
    /// ring:PATH writes a shared-memory ring (read it with --input
    /// ring:PATH); none writes no events (capture only); - is stdout
    #[arg(long, value_name = "ring:PATH|none|-", value_parser = output)]
    output: Option<String>,
    #[command(flatten)]
    ring: RingArgs,
    /// Capture artifacts, in Tracee's syntax: write[=/prefix*],
    /// read[=/prefix*], write:type=regular|pipe|socket|elf,
    /// write:fd=stdin|stdout|stderr (and read:...), exec, mem, module, bpf;
    /// repeatable
    #[arg(long, value_name = "WHAT")]
    capture: Vec<String>,
    /// The descriptor for capture payloads
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = capture_fd)]
    capture_fd: i32,
    /// Kernel ring buffer for capture payloads (a power of two, at least
    /// 4096; K/M/G)
    #[arg(long, value_name = "N", default_value = "64M", value_parser = kernel_buffer)]
    capture_buffer: u32,
    /// Evaluate filter expressions only in user space: ours, and those of
    /// a tracee-filter reading our stdout (by default the kernel evaluates
    /// what it exactly can of both)
    #[arg(long)]
    no_pushdown: bool,
    /// Also trace the processes reading this output (by default they are
    /// left out: their events would feed back)
    #[arg(long)]
    trace_pipeline: bool,
    /// sched_process_exec carries the new image's environment (`env`), as
    /// Tracee's `--output option:exec-env` does
    #[arg(long)]
    exec_env: bool,
    /// Containers, in Tracee's syntax: enrich=true|false (ask the runtime
    /// for names), sockets.RUNTIME=PATH (docker, podman; replaces the
    /// default sockets), cgroupfs.path=PATH; repeatable
    #[arg(long, value_name = "OPT")]
    containers: Vec<String>,
    /// Print the events and their arguments, then exit
    #[arg(long)]
    list: bool,
}

fn pipe_buffer(v: &str) -> Result<u32, String> {
    bytes_power_of_two(v, 1 << 30, "1G")
}

fn kernel_buffer(v: &str) -> Result<u32, String> {
    bytes_power_of_two(v, 1 << 31, "2G")
}

/// A size in bytes: a power of two from 4K to `max` (named `max_name`).
fn bytes_power_of_two(v: &str, max: u64, max_name: &str) -> Result<u32, String> {
    tracee_cli::size::power_of_two(v, 4096, max)
        .map(|n| n as u32)
        .ok_or_else(|| format!("a power of two from 4K to {max_name}"))
}

fn capture_fd(v: &str) -> Result<i32, String> {
    v.parse::<i32>()
        .ok()
        .filter(|&n| n > 2)
        .ok_or_else(|| "a descriptor above 2".into())
}

fn output(v: &str) -> Result<String, String> {
    if v == "none" || v == "-" || tracee_cli::ring::parse_spec(v).is_some() {
        Ok(v.to_string())
    } else {
        Err("expected ring:PATH, none or - (stdout)".into())
    }
}

fn main() -> ExitCode {
    tracee_cli::args::main("tracee-collect", collect)
}

fn collect(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.list {
        for s in events::all() {
            let a: Vec<String> = s
                .args
                .iter()
                .map(|a| format!("{} {}", a.ty, a.name))
                .collect();
            println!("{} {}({})", s.nr, s.name, a.join(", "));
            if let Some(how) = events::derivation(s.nr) {
                println!("    {how}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let capture = tracee_collect::capture::parse(&cli.capture).map_err(anyhow::Error::msg)?;
    let containers =
        tracee_collect::containers::parse_options(&cli.containers).map_err(anyhow::Error::msg)?;
    let no_events = cli.output.as_deref() == Some("none");
    let output = cli.output.filter(|o| o != "none" && o != "-");
    if no_events {
        // The stream goes nowhere; only the sidecar carries anything.
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .context("opening /dev/null")?;
        nix::unistd::dup2_stdout(&null).context("pointing stdout at /dev/null")?;
    }
    if output.is_none() && nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
        anyhow::bail!(
            "stdout is a terminal: the stream is binary; pipe it into tracee-fmt or redirect it to a file"
        );
    }
    let events = events::select(&cli.events)?;
    let terms = tracee_filter::parse_all(&cli.exprs)?;
    let totals = run::run(run::Config {
        trace_pipeline: cli.trace_pipeline,
        exec_env: cli.exec_env,
        events,
        terms,
        pushdown: !cli.no_pushdown,
        ring_bytes: cli.buffer_size,
        pipe_bytes: cli.pipe_buffer,
        output,
        ring_size: cli.ring.ring_size,
        ring_full: cli.ring.ring_full,
        no_events,
        capture,
        capture_fd: cli.capture_fd,
        capture_bytes: cli.capture_buffer,
        containers,
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
    if totals.packets > 0 {
        eprintln!(
            "tracee-collect: {} packets ({} of an unknown owner, {} with no IP header read)",
            totals.packets, totals.packets_unknown, totals.packets_unparsed
        );
    }
    Ok(ExitCode::SUCCESS)
}
