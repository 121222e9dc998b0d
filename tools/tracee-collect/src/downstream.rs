//! Pushdown across the pipe: when the only reader of our stdout is a
//! tracee-filter (the one beside this tracee-collect), the part of its
//! expressions the kernel can evaluate exactly is evaluated there too, as
//! if it had been given to us. `tracee-collect | tracee-filter comm=bash`
//! then costs what `tracee-collect comm=bash` costs, and writes the same
//! bytes the filter would have kept: what the kernel drops, the filter
//! would have dropped.
//!
//! Only the kernel's share is taken: tracee-collect's user space still
//! applies only its own expressions, and the filter downstream applies
//! all of its own, as it always does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::FromArgMatches;
use tracee_cli::args::{DocArgs, command};
use tracee_filter::cli::Cli;
use tracee_filter::{Filter, Pushdown};
use wire::preamble::Preamble;

use crate::peers::{Unknown, pipe_of, pipe_readers};

/// What was found reading our stdout.
pub enum Found {
    /// Not a tracee-filter of ours, or no pipe: nothing to say.
    Nothing,
    /// A tracee-filter whose expressions the kernel takes a share of.
    Filter {
        pid: u32,
        exprs: Vec<String>,
        push: Box<Pushdown>,
    },
    /// A tracee-filter (if it was found) whose expressions stay
    /// downstream, and why.
    Kept { pid: Option<u32>, why: String },
}

impl Found {
    /// The line tracee-collect's stderr gets, if any.
    pub fn line(&self) -> Option<String> {
        match self {
            Found::Filter { pid, exprs, push } => Some(describe(*pid, exprs, push)),
            Found::Kept { pid: None, why } => Some(format!(
                "tracee-collect: nothing pushed down: {}",
                shown(why)
            )),
            Found::Kept {
                pid: Some(pid),
                why,
            } => Some(format!(
                "tracee-collect: nothing pushed down from tracee-filter (pid {pid}): {}",
                shown(why)
            )),
            Found::Nothing => None,
        }
    }
}

/// How long a reader may take to become a tracee-filter, from its start.
/// tracee-collect looks once it has read the kernel's BTF, by which time
/// the processes started with it are this old.
const EXEC_WAIT: Duration = Duration::from_millis(200);

/// How long one look at every process's descriptors may take: past it,
/// nothing is pushed down (a machine with very many of them, or a user
/// making them to hold up the start, costs only the pushdown).
const SCAN_LIMIT: Duration = Duration::from_millis(300);

/// Looks at the process reading our stdout. `own` is tracee-collect's own
/// filter: when it follows processes (follow, tree=, executable=), the
/// kernel keeps every process's events for it and nothing is pushed.
/// `refused` says why nothing may be pushed in this run, if so.
pub fn find(pre: &Preamble, own: &Filter, refused: Option<&str>) -> Found {
    let pid = match sole_reader() {
        Ok(Some(pid)) => pid,
        Ok(None) => return Found::Nothing,
        Err(Unknown::NotAPipe) => return Found::Nothing,
        Err(Unknown::TooLong) => {
            return Found::Kept {
                pid: None,
                why: format!(
                    "looking at every process's descriptors for the readers of stdout took \
                     over {} ms",
                    SCAN_LIMIT.as_millis()
                ),
            };
        }
    };
    let started = tracee_cli::procfs::start_time(pid);
    let Some(exe) = exe_after_exec(pid) else {
        return Found::Nothing;
    };
    if exe.file_name().is_none_or(|n| n != "tracee-filter") {
        return Found::Nothing;
    }
    let kept = |why: String| Found::Kept {
        pid: Some(pid),
        why,
    };
    // The same file, not the same path: another mount namespace may have
    // something else at it.
    let ours = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.join("tracee-filter")));
    let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    };
    match (
        std::fs::metadata(format!("/proc/{pid}/exe")),
        ours.as_ref().map(std::fs::metadata),
    ) {
        (Ok(a), Some(Ok(b))) if same(&a, &b) => {}
        _ => {
            return kept(format!(
                "it runs {}, not the tracee-filter beside this tracee-collect",
                exe.display()
            ));
        }
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Found::Nothing;
    };
    let argv = split_cmdline(&cmdline);
    // The process may have ended and its pid been reused meanwhile: the
    // same start, and still reading our pipe.
    if started.is_none()
        || tracee_cli::procfs::start_time(pid) != started
        || pipe_of(&pid.to_string(), 0) != pipe_of("self", 1)
    {
        return Found::Nothing;
    }
    let Some(cli) = parse_cli(&argv) else {
        return kept("its command line does not parse".into());
    };
    if !cli.reads_stdin() || cli.exprs.is_empty() {
        return Found::Nothing;
    }
    let filter = match tracee_filter::parse_all(&cli.exprs)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            Filter::compile(&t, &pre.catalog, pre.start_mono_ns).map_err(|e| e.to_string())
        }) {
        Ok(f) => f,
        Err(e) => return kept(format!("its expressions do not compile here: {e}")),
    };
    if filter.needs_lifecycle() || own.needs_lifecycle() {
        return kept("follow, tree= and executable= need every process's events".into());
    }
    if let Some(why) = refused {
        return kept(why.into());
    }
    let push = filter.pushdown();
    if push.is_empty() {
        return kept("none of its expressions can be evaluated in the kernel".into());
    }
    Found::Filter {
        pid,
        exprs: cli.exprs,
        push: Box::new(push),
    }
}

/// The one process reading our stdout as its stdin, if there is one. While
/// a reader is young, a second one is waited past, for up to [`EXEC_WAIT`]:
/// whoever started the pipeline may still hold the read end it handed on
/// (a shell's fork, Python's Popen). Not when another of our tools reads
/// it too: the filter will not be alone.
fn sole_reader() -> Result<Option<u32>, Unknown> {
    let until = Instant::now() + EXEC_WAIT;
    loop {
        let readers = pipe_readers(1, Instant::now() + SCAN_LIMIT)?;
        if let [(pid, true)] = readers.as_slice() {
            return Ok(Some(*pid));
        }
        let another_tool = readers.iter().any(|&(p, _)| {
            exe_name(p).is_some_and(|n| n.starts_with("tracee-") && n != "tracee-filter")
        });
        let young = readers.iter().any(|&(p, _)| is_young(p));
        if another_tool || !young || Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The file name of what `pid` runs.
fn exe_name(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

fn is_young(pid: u32) -> bool {
    tracee_cli::procfs::age(pid).is_some_and(|a| a < EXEC_WAIT)
}

/// `/proc/PID/exe`, given a young process a moment to exec: the reader
/// may still be its shell's fork, or a launcher (taskset, nice, env)
/// about to exec the filter. One of our own tools is taken at once.
fn exe_after_exec(pid: u32) -> Option<PathBuf> {
    let deadline = Instant::now() + EXEC_WAIT;
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let ours = exe
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tracee-"));
        if ours || !is_young(pid) || Instant::now() >= deadline {
            return Some(exe);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// /proc/PID/cmdline's NUL-separated arguments.
fn split_cmdline(b: &[u8]) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let b = b.strip_suffix(b"\0").unwrap_or(b);
    b.split(|&c| c == 0)
        .map(|a| std::ffi::OsStr::from_bytes(a).to_os_string())
        .collect()
}

/// tracee-filter's command line as tracee-filter parses it; None for one
/// that would not run a filter (bad usage, --help, --man...).
fn parse_cli(argv: &[std::ffi::OsString]) -> Option<Cli> {
    let m = command::<Cli>().try_get_matches_from(argv).ok()?;
    let docs = DocArgs::from_arg_matches(&m).ok()?;
    if docs.completions.is_some() || docs.man {
        return None;
    }
    Cli::from_arg_matches(&m).ok()
}

/// The stderr line that says what was pushed down, and from where.
fn describe(pid: u32, exprs: &[String], push: &Pushdown) -> String {
    format!(
        "tracee-collect: pushed down from tracee-filter (pid {pid}, reading stdout: {}): \
         {} evaluated in the kernel as well (--no-pushdown: not)",
        shown(&exprs.join(" ")),
        push.describe()
    )
}

/// Another process's words, safe on a terminal: control and bidi
/// characters escaped, and at most [`SHOWN_MAX`] characters.
fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push_str("...");
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The most characters of another process's words a line shows.
const SHOWN_MAX: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn a_filter_command_line_is_read_as_tracee_filter_reads_it() {
        let c = parse_cli(&argv(&["tracee-filter", "comm=bash", "--", "uid=0"])).unwrap();
        assert_eq!(c.exprs, ["comm=bash", "uid=0"]);
        assert!(c.reads_stdin());
        let c = parse_cli(&argv(&["tracee-filter", "--input", "-", "pid=1"])).unwrap();
        assert!(c.reads_stdin());
        let c = parse_cli(&argv(&[
            "tracee-filter",
            "--input",
            "ring:/dev/shm/x",
            "pid=1",
        ]));
        assert!(!c.unwrap().reads_stdin());
        for no in [
            &["tracee-filter", "--help"][..],
            &["tracee-filter", "--man"],
            &["tracee-filter", "--completions", "bash"],
            &["tracee-filter", "--no-such-option"],
        ] {
            assert!(parse_cli(&argv(no)).is_none(), "{no:?}");
        }
    }

    #[test]
    fn long_words_are_cut_and_bidi_controls_escaped() {
        let s = shown(&"a\u{202e}b".repeat(200));
        assert!(!s.contains('\u{202e}') && s.contains("\\u{202e}"), "{s}");
        assert!(s.ends_with("...") && s.chars().count() < SHOWN_MAX * 9);
    }

    #[test]
    fn expressions_are_shown_without_control_characters() {
        let line = describe(7, &["comm=a\x1b[2Jb\n".into()], &Pushdown::default());
        assert!(line.contains("comm=a\\u{1b}[2Jb\\n"), "{line}");
        assert!(!line.contains('\x1b') && !line.contains('\n'));
    }

    #[test]
    fn cmdline_arguments_split_on_nul() {
        assert_eq!(
            split_cmdline(b"tracee-filter\0comm=a b\0\0x\0"),
            argv(&["tracee-filter", "comm=a b", "", "x"])
        );
    }
}
