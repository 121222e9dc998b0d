//! The tracee-fmt tool: stream in, text out.

use std::io::{self, Read};

use tracee_cli::out::Out;
use tracee_cli::signals::{ignore_broken_pipe, is_broken_pipe, reader_gone};
use wire::reader::{StreamError, StreamReader};
use wire::{EndBody, EventSlice, LostBody, kind};

use crate::{Format, Printer};

/// Counts for the summary on stderr.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub lost: u64,
    /// Events whose arguments did not all decode (printed, marked).
    pub undecodable: u64,
    /// Container and process records that did not decode (said in the
    /// output).
    pub bad_records: u64,
    /// The collector's totals, if the stream ended cleanly.
    pub end: Option<EndBody>,
    /// The reader downstream went away.
    pub closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("write error: {0}")]
    Write(io::Error),
}

pub fn run<R: Read>(
    input: R,
    format: Format,
    parse_args: bool,
    out: &mut Out,
) -> Result<Summary, RunError> {
    let mut r = StreamReader::new(input)?;
    let mut p = Printer::new(format, parse_args, r.preamble().clone());
    let mut sum = Summary::default();
    let mut buf = Vec::with_capacity(4096);
    p.header(&mut buf);
    if reader_gone(out.write_unit(&buf)).map_err(RunError::Write)? {
        sum.closed = true;
        return Ok(sum);
    }
    loop {
        let mut flush = || ignore_broken_pipe(out.flush());
        let rec = match r.next_record(&mut flush) {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(StreamError::Output(e)) if is_broken_pipe(&e) => {
                sum.closed = true;
                return Ok(sum);
            }
            Err(StreamError::Output(e)) => return Err(RunError::Write(e)),
            Err(e) => {
                let _ = out.flush();
                return Err(e.into());
            }
        };
        buf.clear();
        match rec.kind() {
            kind::EVENT => {
                let ev = EventSlice::from_record(rec).map_err(StreamError::from)?;
                // Formatted straight into the output's buffer.
                let mut bad = None;
                let wrote = out.write_with(|b| bad = p.event(&ev, b));
                if bad.is_some() {
                    sum.undecodable += 1;
                }
                sum.events += 1;
                if reader_gone(wrote).map_err(RunError::Write)? {
                    sum.closed = true;
                    return Ok(sum);
                }
            }
            kind::LOST => {
                let l = LostBody::from_record(rec);
                sum.lost = sum.lost.saturating_add(l.count);
                p.lost(&l, &mut buf);
            }
            kind::END => sum.end = Some(EndBody::from_record(rec)),
            kind::PROCESS => match wire::process::Process::from_record(rec) {
                Ok(pr) => p.process(pr),
                Err(e) => {
                    sum.bad_records += 1;
                    p.bad_record(&e, &mut buf);
                }
            },
            kind::CONTAINER => match wire::container::Container::from_record(rec) {
                Ok(c) => p.container(c),
                Err(e) => {
                    sum.bad_records += 1;
                    p.bad_record(&e, &mut buf);
                }
            },
            _ => {}
        }
        if !buf.is_empty() && reader_gone(out.write_unit(&buf)).map_err(RunError::Write)? {
            sum.closed = true;
            return Ok(sum);
        }
    }
    if reader_gone(out.flush()).map_err(RunError::Write)? {
        sum.closed = true;
    }
    Ok(sum)
}
