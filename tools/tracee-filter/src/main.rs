use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracee_cli::args::{InputArgs, OutputArgs};
use tracee_cli::signals::{ignore_broken_pipe, ignore_sigint_when_piped};
use tracee_filter::run::{Outcome, run};

/// Keeps the events of a tracee-rs stream that match every expression
/// (Tracee's filter language); other records pass.
#[derive(Parser)]
#[command(
    name = "tracee-filter",
    version,
    override_usage = "tracee-filter [OPTIONS] [EXPR]... < stream > stream",
    after_help = "Expressions:
  comm=bash,sh  pid=1234  pid=new  tid=  ppid=  uid>=1000  gid=  mntns=  pidns=
  uts=  cgroup=  executable=/usr/bin/*  tree=PID  follow
  event=openat,execve  openat.data.pathname=/etc/*  openat.retval<0
  openat.scope.uid=0

Exit: 0 something matched, 1 nothing matched, 2 error."
)]
struct Cli {
    /// Filter expressions; an event is kept if it matches all of them
    #[arg(value_name = "EXPR")]
    exprs: Vec<String>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    tracee_cli::args::main("tracee-filter", |cli: Cli| {
        let terms = tracee_filter::parse_all(&cli.exprs)?;
        ignore_sigint_when_piped();
        let input = cli.input.open()?;
        let mut out = cli.output.open().context("opening the output")?;
        let r = run(input, &terms, &mut out);
        // A reader that has gone needs no end.
        let ended = ignore_broken_pipe(out.end());
        match r? {
            Outcome::Done { matched: 0 } => Ok(ExitCode::from(1)),
            Outcome::Closed => Ok(ExitCode::SUCCESS),
            Outcome::Done { .. } => {
                ended.context("write error")?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
