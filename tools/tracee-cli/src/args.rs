//! The command line every tool shares: how it is parsed and how a tool
//! fails, the transport options, and the generated documentation.
//!
//! Each tool declares its options with clap's derive and flattens in the
//! groups below that it takes; [`main`] then parses, prints `--help`,
//! `--version`, `--completions SHELL` and `--man`, runs the tool, and turns
//! any error (a usage error included) into one line on stderr, prefixed
//! with the tool's name, and exit status 2.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;

use crate::ring::{self, WhenFull};

/// Shell completions and the man page, generated from the same
/// definitions as `--help`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DocArgs {
    /// Print a completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell) and exit
    #[arg(long, value_name = "SHELL", help_heading = "Documentation")]
    pub completions: Option<clap_complete::Shell>,
    /// Print the man page (roff; `man -l -` shows it) and exit
    #[arg(long, help_heading = "Documentation")]
    pub man: bool,
}

/// `--input`: where a tool reads its stream.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InputArgs {
    /// Read a shared-memory ring (written with --output ring:PATH) instead
    /// of stdin; - is stdin
    #[arg(long, value_name = "ring:PATH", help_heading = "Transport")]
    pub input: Option<String>,
}

impl InputArgs {
    /// Stdin, or the ring: waits up to [`ring::ATTACH_WAIT`] for its
    /// producer to make it, so the two sides may start in either order.
    pub fn open(&self) -> io::Result<Box<dyn Read>> {
        ring::open_input(self.input.as_deref())
    }
}

/// `--ring-size` and `--ring-full`: the shape of an output ring.
#[derive(clap::Args, Debug, Clone)]
pub struct RingArgs {
    /// Capacity of the output ring (a power of two from 128K to 4G; K/M/G)
    #[arg(long, value_name = "N", default_value = "16M", value_parser = ring_capacity, help_heading = "Transport")]
    pub ring_size: u64,
    /// When the output ring is full: drop events and count them in the
    /// stream (the kernel never waits), or block until the reader catches up
    #[arg(long, value_name = "drop|block", value_enum, default_value_t = WhenFull::Drop, help_heading = "Transport")]
    pub ring_full: WhenFull,
}

/// `--output ring:PATH` and the ring's shape: where a tool writes its
/// stream.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Write a shared-memory ring instead of stdout (read it with --input
    /// ring:PATH); - is stdout
    #[arg(long, value_name = "ring:PATH", value_parser = output_spec, help_heading = "Transport")]
    pub output: Option<String>,
    #[command(flatten)]
    pub ring: RingArgs,
}

impl OutputArgs {
    /// Stdout, or a new ring.
    pub fn open(&self) -> io::Result<crate::out::Out> {
        crate::out::Out::to_spec(
            self.output.as_deref(),
            self.ring.ring_size,
            self.ring.ring_full,
        )
    }
}

fn ring_capacity(s: &str) -> Result<u64, String> {
    ring::parse_capacity(s).ok_or_else(|| "a power of two from 128K to 4G".to_string())
}

fn output_spec(s: &str) -> Result<String, String> {
    if s == "-" || ring::parse_spec(s).is_some() {
        Ok(s.to_string())
    } else {
        Err("expected ring:PATH or - (stdout)".to_string())
    }
}

/// A tool's whole life: parses its command line into `C`, serves the
/// documentation flags, runs `body`, and reports an error as one line on
/// stderr (`tool: what went wrong: why`) with exit status 2.
pub fn main<C, F>(tool: &str, body: F) -> ExitCode
where
    C: clap::Parser,
    F: FnOnce(C) -> anyhow::Result<ExitCode>,
{
    let (cli, docs) = match parse::<C>(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(Parsed::Exit(code)) => return code,
        Err(Parsed::Usage(msg)) => {
            eprintln!("{tool}: {msg}");
            return ExitCode::from(2);
        }
    };
    let mut doc = Vec::new();
    if let Some(shell) = docs.completions {
        clap_complete::generate(shell, &mut command::<C>(), tool, &mut doc);
    } else if docs.man {
        // Rendering into memory cannot fail.
        let _ = clap_mangen::Man::new(command::<C>()).render(&mut doc);
    }
    if !doc.is_empty() {
        return match io::stdout().lock().write_all(&doc) {
            Err(e) if !crate::signals::is_broken_pipe(&e) => {
                fail(tool, &anyhow::Error::new(e).context("writing to stdout"))
            }
            _ => ExitCode::SUCCESS,
        };
    }
    match body(cli) {
        Ok(code) => code,
        Err(e) => fail(tool, &e),
    }
}

/// Prints `e` with its causes on one line and returns exit status 2.
pub fn fail(tool: &str, e: &anyhow::Error) -> ExitCode {
    let msg = format!("{e:#}");
    eprintln!("{tool}: {}", one_line(&msg));
    ExitCode::from(2)
}

fn one_line(s: &str) -> String {
    s.trim_end().replace('\n', " / ")
}

/// What parsing ended with when it did not give the options.
#[derive(Debug)]
pub enum Parsed {
    /// `--help` or `--version` was printed: exit with this.
    Exit(ExitCode),
    /// Bad usage, as one line without the tool's name.
    Usage(String),
}

/// A tool's command: its own options and the documentation flags, which
/// every tool takes without declaring them.
pub fn command<C: clap::CommandFactory>() -> clap::Command {
    <DocArgs as clap::Args>::augment_args(C::command())
}

/// Parses `args` (the program name first) into `C` and the documentation
/// flags.
pub fn parse<C: clap::Parser>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<(C, DocArgs), Parsed> {
    use clap::FromArgMatches;
    let mut cmd = command::<C>();
    let res = cmd.try_get_matches_from_mut(args).and_then(|m| {
        let docs = DocArgs::from_arg_matches(&m)?;
        Ok((C::from_arg_matches(&m)?, docs))
    });
    match res {
        Ok(parsed) => Ok(parsed),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                Err(Parsed::Exit(ExitCode::SUCCESS))
            }
            _ => {
                let e = e.with_cmd(&cmd);
                let text = e.to_string();
                let first = text.lines().next().unwrap_or("bad usage");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                Err(Parsed::Usage(format!("{first} (see --help)")))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "t", version)]
    struct Cli {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        output: OutputArgs,
        exprs: Vec<String>,
    }

    fn usage(args: &[&str]) -> String {
        match parse::<Cli>(std::iter::once("t").chain(args.iter().copied())) {
            Err(Parsed::Usage(m)) => m,
            r => panic!("{args:?}: {r:?}"),
        }
    }

    #[test]
    fn transport_options_parse_and_default() {
        let (c, docs) = parse::<Cli>(["t", "comm=bash"]).unwrap();
        assert!(docs.completions.is_none() && !docs.man);
        assert_eq!(c.output.ring.ring_size, ring::DEFAULT_CAPACITY);
        assert_eq!(c.output.ring.ring_full, WhenFull::Drop);
        assert_eq!(c.exprs, ["comm=bash"]);
        let (c, _) = parse::<Cli>([
            "t",
            "--input",
            "ring:/dev/shm/a",
            "--output",
            "ring:/dev/shm/b",
            "--ring-size",
            "1M",
            "--ring-full",
            "block",
        ])
        .unwrap();
        assert_eq!(c.input.input.as_deref(), Some("ring:/dev/shm/a"));
        assert_eq!(c.output.output.as_deref(), Some("ring:/dev/shm/b"));
        assert_eq!(c.output.ring.ring_size, 1 << 20);
        assert_eq!(c.output.ring.ring_full, WhenFull::Block);
    }

    #[test]
    fn bad_usage_is_one_line_naming_the_value() {
        for (args, want) in [
            (&["--ring-size", "3"][..], "a power of two from 128K to 4G"),
            (&["--ring-full", "maybe"], "maybe"),
            (&["--output", "/tmp/x"], "expected ring:PATH"),
            (&["--ring-size"], "--ring-size"),
            (&["--nosuch"], "--nosuch"),
        ] {
            let m = usage(args);
            assert!(m.contains(want) && !m.contains('\n'), "{args:?}: {m}");
        }
    }
}
