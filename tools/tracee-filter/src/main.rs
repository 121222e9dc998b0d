use std::process::ExitCode;

use anyhow::Context;
use tracee_cli::signals::{ignore_broken_pipe, ignore_sigint_when_piped};
use tracee_filter::cli::Cli;
use tracee_filter::run::{Outcome, run};

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
