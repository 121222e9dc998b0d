use std::process::ExitCode;

use tracee_filter::run::{Outcome, run};
use wire::ring::WhenFull;

const USAGE: &str = "usage: tracee-filter [OPTIONS] [EXPR...] < stream > stream

  --input ring:PATH     read a shared-memory ring instead of stdin
  --output ring:PATH    write a shared-memory ring instead of stdout
  --ring-size N         capacity of the output ring (power of two, K/M/G; default 16M)
  --ring-full drop|block  when the output ring is full: drop events and count
                        them in the stream (default), or wait for the reader

Keeps the events that match every expression (Tracee's filter language):
  comm=bash,sh  pid=1234  pid=new  tid=  ppid=  uid>=1000  gid=  mntns=  pidns=
  uts=  cgroup=  executable=/usr/bin/*  tree=PID  follow
  event=openat,execve  openat.data.pathname=/etc/*  openat.retval<0
  openat.scope.uid=0
Exit: 0 something matched, 1 nothing matched, 2 error.";

/// Options of the transport, common to the tools that read and write streams.
struct Io {
    input: Option<String>,
    output: Option<String>,
    ring_size: u64,
    ring_full: WhenFull,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tracee-filter: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let mut exprs = Vec::new();
    let mut io = Io {
        input: None,
        output: None,
        ring_size: wire::ring::DEFAULT_CAPACITY,
        ring_full: WhenFull::Drop,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--input" => io.input = Some(value()?),
            "--output" => io.output = Some(value()?),
            "--ring-size" => {
                let v = value()?;
                io.ring_size = wire::ring::parse_capacity(&v).ok_or_else(|| {
                    format!("bad --ring-size '{v}': a power of two from 128K to 4G")
                })?;
            }
            "--ring-full" => {
                let v = value()?;
                io.ring_full = WhenFull::from_name(&v)
                    .ok_or_else(|| format!("bad --ring-full '{v}': drop or block"))?;
            }
            _ => exprs.push(a),
        }
    }
    let terms = tracee_filter::parse_all(&exprs).map_err(|e| e.to_string())?;
    wire::out::ignore_sigint_when_piped();
    let input = wire::ring::open_input(io.input.as_deref()).map_err(|e| e.to_string())?;
    let mut out = wire::out::Out::to_spec(io.output.as_deref(), io.ring_size, io.ring_full)
        .map_err(|e| e.to_string())?;
    let r = run(input, &terms, &mut out);
    // A reader that has gone needs no end.
    let ended = match out.end() {
        Err(e) if wire::out::is_broken_pipe(&e) => Ok(()),
        r => r,
    };
    match r {
        Ok(Outcome::Done { matched: 0 }) => Ok(ExitCode::from(1)),
        Ok(Outcome::Closed) => Ok(ExitCode::SUCCESS),
        Ok(Outcome::Done { .. }) => {
            ended.map_err(|e| format!("write error: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!("{e:#}")),
    }
}
