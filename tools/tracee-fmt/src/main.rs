use std::process::ExitCode;

use tracee_fmt::Format;
use tracee_fmt::run::run;

const USAGE: &str = "usage: tracee-fmt [FORMAT] [--parse-arguments|--no-parse-arguments] < stream

FORMAT: table (default), table-verbose, json, none (counts only, on stderr).
--parse-arguments renders flags and enums symbolically (on for table).";

fn main() -> ExitCode {
    let mut format = Format::Table;
    let mut parse: Option<bool> = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--parse-arguments" => parse = Some(true),
            "--no-parse-arguments" => parse = Some(false),
            f => match Format::from_name(f.strip_prefix("--output=").unwrap_or(f)) {
                Some(f) => format = f,
                None => {
                    eprintln!(
                        "tracee-fmt: unknown format or option '{a}' (table, table-verbose, json, none)"
                    );
                    return ExitCode::from(2);
                }
            },
        }
    }
    let parse = parse.unwrap_or(matches!(format, Format::Table | Format::TableVerbose));
    wire::out::ignore_sigint_when_piped();
    let mut out = wire::out::Out::stdout();
    match run(std::io::stdin().lock(), format, parse, &mut out) {
        Ok(s) => {
            if !s.closed {
                eprintln!("tracee-fmt: {} events, {} lost", s.events, s.lost);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tracee-fmt: {e:#}");
            ExitCode::from(2)
        }
    }
}
