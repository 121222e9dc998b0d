use std::process::ExitCode;

use tracee_fmt::Format;
use tracee_fmt::run::run;

const USAGE: &str = "usage: tracee-fmt [FORMAT] [--parse-arguments|--no-parse-arguments] < stream

FORMAT: table (default), table-verbose, json, none (counts only, on stderr).
--input ring:PATH reads a shared-memory ring written by tracee-collect or
tracee-filter (--output ring:PATH) instead of stdin.
--parse-arguments renders flags and enums symbolically (on for table).";

fn main() -> ExitCode {
    let mut format = Format::Table;
    let mut parse: Option<bool> = None;
    let mut input: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--input" => match args.next() {
                Some(v) => input = Some(v),
                None => {
                    eprintln!("tracee-fmt: --input needs a value");
                    return ExitCode::from(2);
                }
            },
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
    let input = match wire::ring::open_input(input.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tracee-fmt: {e}");
            return ExitCode::from(2);
        }
    };
    match run(input, format, parse, &mut out) {
        Ok(s) => {
            if !s.closed {
                let bad = if s.undecodable > 0 {
                    format!(
                        " ({} with arguments that did not decode, marked)",
                        s.undecodable
                    )
                } else {
                    String::new()
                };
                eprintln!("tracee-fmt: {} events{bad}, {} lost", s.events, s.lost);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tracee-fmt: {e:#}");
            ExitCode::from(2)
        }
    }
}
