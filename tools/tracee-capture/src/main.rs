use std::path::PathBuf;
use std::process::ExitCode;

use tracee_capture::{Options, run};

const USAGE: &str = "usage: tracee-capture [--dir DIR] [--clear-dir] [--max-size SIZE] < sidecar

Reads the capture sidecar of `tracee-collect --capture ...` and writes the
artifacts under DIR/out/ (default DIR /tmp/tracee), with DIR/out/index.jsonl
listing each one. --clear-dir empties DIR/out first; --max-size (K/M/G
suffixes) stops capturing once that many bytes are written.
--input ring:PATH reads a shared-memory ring instead of stdin.";

fn size(v: &str) -> Option<u64> {
    let (num, mul) = match v.char_indices().last()? {
        (i, 'K' | 'k') => (&v[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&v[..i], 1 << 20),
        (i, 'G' | 'g') => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn main() -> ExitCode {
    let mut o = Options {
        dir: PathBuf::from("/tmp/tracee"),
        clear: false,
        max_size: None,
    };
    let mut input = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            let v = args.next();
            if v.is_none() {
                eprintln!("tracee-capture: {name} needs a value");
            }
            v
        };
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--dir" => match value("--dir") {
                Some(v) => o.dir = PathBuf::from(v),
                None => return ExitCode::from(2),
            },
            "--clear-dir" => o.clear = true,
            "--max-size" => match value("--max-size").as_deref().map(|v| (v, size(v))) {
                Some((_, Some(n))) => o.max_size = Some(n),
                Some((v, None)) => {
                    eprintln!(
                        "tracee-capture: --max-size '{v}': expected bytes with an optional K, M or G"
                    );
                    return ExitCode::from(2);
                }
                None => return ExitCode::from(2),
            },
            "--input" => match value("--input") {
                Some(v) => input = Some(v),
                None => return ExitCode::from(2),
            },
            _ => {
                eprintln!("tracee-capture: unknown option '{a}'\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    wire::out::ignore_sigint_when_piped();
    let input = match wire::ring::open_input(input.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tracee-capture: {e}");
            return ExitCode::from(2);
        }
    };
    match run(input, &o) {
        Ok(s) => {
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tracee-capture: {e}");
            ExitCode::from(2)
        }
    }
}
