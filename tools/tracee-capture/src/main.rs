use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracee_capture::{Options, run};
use tracee_cli::args::InputArgs;

/// Reads the capture sidecar of `tracee-collect --capture ...` and writes
/// the artifacts under DIR/out/, with DIR/out/index.jsonl listing each one.
#[derive(Parser)]
#[command(
    name = "tracee-capture",
    version,
    override_usage = "tracee-capture [OPTIONS] < sidecar"
)]
struct Cli {
    /// Where the artifacts go (under DIR/out/)
    #[arg(long, value_name = "DIR", default_value = "/tmp/tracee")]
    dir: PathBuf,
    /// Empty DIR/out first
    #[arg(long)]
    clear_dir: bool,
    /// Stop capturing once this many bytes are written (K/M/G suffixes)
    #[arg(long, value_name = "SIZE", value_parser = max_size)]
    max_size: Option<u64>,
    #[command(flatten)]
    input: InputArgs,
}

fn max_size(v: &str) -> Result<u64, String> {
    tracee_cli::size::parse(v).ok_or_else(|| "expected bytes with an optional K, M or G".into())
}

fn main() -> ExitCode {
    tracee_cli::args::main("tracee-capture", |cli: Cli| {
        let o = Options {
            dir: cli.dir,
            clear: cli.clear_dir,
            max_size: cli.max_size,
        };
        tracee_cli::signals::ignore_sigint_when_piped();
        let input = cli.input.open()?;
        let s = run(input, &o)?;
        let trouble = if s.skipped + s.failed > 0 {
            format!(
                ", {} skipped and {} failed to write (see above)",
                s.skipped, s.failed
            )
        } else {
            String::new()
        };
        eprintln!(
            "tracee-capture: {} artifacts, {} bytes, {} incomplete ({} chunks lost in the kernel){trouble}{} in {}/out",
            s.artifacts,
            s.bytes,
            s.incomplete,
            s.lost_chunks,
            if s.stopped {
                ", capture stopped at --max-size"
            } else {
                ""
            },
            o.dir.display()
        );
        if s.packets > 0 {
            eprintln!(
                "tracee-capture: {} packets into pcaps ({} of an unknown owner, {} not written: --max-size or the pcap file limit)",
                s.packets, s.packets_unknown, s.packets_dropped
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
