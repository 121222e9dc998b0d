//! The tracee-filter tool: stream in, kept records out.

use std::io::{self, Read};

use tracee_cli::out::Out;
use tracee_cli::signals::{ignore_broken_pipe, is_broken_pipe, reader_gone};
use wire::reader::{StreamError, StreamReader};
use wire::{EventSlice, kind};

use crate::{Filter, Term};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Compile(#[from] crate::CompileError),
    #[error("write error: {0}")]
    Write(io::Error),
}

/// How a run ended.
pub enum Outcome {
    /// Input ended; how many events were kept.
    Done { matched: u64 },
    /// The reader downstream went away.
    Closed,
}

/// Filters the stream from `input` to `out`.
pub fn run<R: Read>(input: R, terms: &[Term], out: &mut Out) -> Result<Outcome, RunError> {
    let mut r = StreamReader::new(input)?;
    let pre = r.preamble().clone();
    let mut filter = Filter::compile(terms, &pre.catalog, pre.start_mono_ns)?;
    if reader_gone(out.write_unit(r.preamble_bytes())).map_err(RunError::Write)? {
        return Ok(Outcome::Closed);
    }
    loop {
        let mut flush = || ignore_broken_pipe(out.flush());
        let rec = match r.next_record(&mut flush) {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(StreamError::Output(e)) if is_broken_pipe(&e) => return Ok(Outcome::Closed),
            Err(StreamError::Output(e)) => return Err(RunError::Write(e)),
            Err(e) => {
                // Keep what was already accepted before reporting.
                let _ = out.flush();
                return Err(e.into());
            }
        };
        let keep = match rec.kind() {
            kind::EVENT => {
                let ev = EventSlice::from_record(rec).map_err(StreamError::from)?;
                filter.matches(&ev)
            }
            kind::PROCESS => {
                if let Ok(p) = wire::process::Process::from_record(rec) {
                    filter.process(p);
                }
                true
            }
            kind::CONTAINER => {
                // One whose content does not decode goes on as it is:
                // tracee-fmt counts it.
                if let Ok(c) = wire::container::Container::from_record(rec) {
                    filter.container(c);
                }
                true
            }
            _ => true,
        };
        if keep && reader_gone(out.write_unit(rec.bytes())).map_err(RunError::Write)? {
            return Ok(Outcome::Closed);
        }
    }
    if reader_gone(out.flush()).map_err(RunError::Write)? {
        return Ok(Outcome::Closed);
    }
    Ok(Outcome::Done {
        matched: filter.matched(),
    })
}
