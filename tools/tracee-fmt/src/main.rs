use std::process::ExitCode;

use clap::Parser;
use tracee_cli::args::InputArgs;
use tracee_fmt::Format;
use tracee_fmt::run::run;

/// Prints a tracee-rs stream as a table or as Tracee's JSON; counts on
/// stderr.
#[derive(Parser)]
#[command(
    name = "tracee-fmt",
    version,
    override_usage = "tracee-fmt [OPTIONS] [FORMAT] < stream"
)]
struct Cli {
    /// table (default), table-verbose, json, or none (counts only, on stderr)
    #[arg(value_name = "FORMAT", value_parser = format)]
    format: Option<Format>,
    /// The format, as Tracee's --output takes it (--output=json)
    #[arg(long = "output", value_name = "FORMAT", value_parser = format, conflicts_with = "format")]
    output: Option<Format>,
    /// Render flags and enums symbolically (on for table and table-verbose)
    #[arg(long, overrides_with = "no_parse_arguments")]
    parse_arguments: bool,
    /// Print flags and enums as numbers
    #[arg(long, overrides_with = "parse_arguments")]
    no_parse_arguments: bool,
    #[command(flatten)]
    input: InputArgs,
}

fn format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| "unknown format (table, table-verbose, json, none)".into())
}

fn main() -> ExitCode {
    tracee_cli::args::main("tracee-fmt", |cli: Cli| {
        let format = cli.format.or(cli.output).unwrap_or(Format::Table);
        let parse = if cli.parse_arguments || cli.no_parse_arguments {
            cli.parse_arguments
        } else {
            matches!(format, Format::Table | Format::TableVerbose)
        };
        tracee_cli::signals::ignore_sigint_when_piped();
        let mut out = tracee_cli::out::Out::stdout();
        let input = cli.input.open()?;
        let s = run(input, format, parse, &mut out)?;
        if !s.closed {
            let bad = if s.undecodable > 0 {
                format!(
                    " ({} with arguments that did not decode, marked)",
                    s.undecodable
                )
            } else {
                String::new()
            };
            let bad = if s.bad_records > 0 {
                format!(
                    "{bad} ({} container or process records that did not decode, said in place)",
                    s.bad_records
                )
            } else {
                bad
            };
            eprintln!("tracee-fmt: {} events{bad}, {} lost", s.events, s.lost);
        }
        Ok(ExitCode::SUCCESS)
    })
}
