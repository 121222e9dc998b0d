//! What every tracee-rs tool shares, so that a tool's `main` only says what
//! is particular to it (the way ripgrep's `grep-cli` and uutils' `uucore`
//! serve their tools):
//!
//! - the transports: [`out::Out`] (stdout, block-buffered on a pipe and
//!   line-buffered on a terminal, or a ring) and [`ring`], the
//!   shared-memory ring with its [`sigbus`] guard;
//! - their command-line options ([`args::InputArgs`], [`args::OutputArgs`]),
//!   sizes with suffixes ([`size`]), and the one way a tool starts and
//!   fails ([`args::main`]: clap, `--completions`, `--man`, one line on
//!   stderr and exit 2);
//! - signal and broken-pipe policy ([`signals`]) and clocks ([`clock`]);
//! - sparse-file extents ([`sparse`]), for the tools that copy files;
//! - a process's start and age from /proc ([`procfs`]).
//!
//! ```no_run
//! use clap::Parser;
//! use std::process::ExitCode;
//!
//! /// Copies a stream.
//! #[derive(Parser)]
//! #[command(name = "tracee-copy", version)]
//! struct Cli {
//!     #[command(flatten)]
//!     input: tracee_cli::args::InputArgs,
//! }
//!
//! fn main() -> ExitCode {
//!     tracee_cli::args::main("tracee-copy", |cli: Cli| {
//!         let mut input = cli.input.open()?;
//!         std::io::copy(&mut input, &mut std::io::stdout())?;
//!         Ok(ExitCode::SUCCESS)
//!     })
//! }
//! ```

pub mod args;
pub mod clock;
pub mod out;
pub mod procfs;
pub mod ring;
pub mod sigbus;
pub mod signals;
pub mod size;
pub mod sparse;
