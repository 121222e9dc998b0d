use std::process::ExitCode;

use tracee_filter::run::{Outcome, run};

const USAGE: &str = "usage: tracee-filter [EXPR...] < stream > stream

Keeps the events that match every expression (Tracee's filter language):
  comm=bash,sh  pid=1234  pid=new  tid=  ppid=  uid>=1000  gid=  mntns=  pidns=
  uts=  cgroup=  executable=/usr/bin/*  tree=PID  follow
  event=openat,execve  openat.data.pathname=/etc/*  openat.retval<0
  openat.scope.uid=0
Exit: 0 something matched, 1 nothing matched, 2 error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let terms = match tracee_filter::parse_all(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tracee-filter: {e}");
            return ExitCode::from(2);
        }
    };
    wire::out::ignore_sigint_when_piped();
    let mut out = wire::out::Out::stdout();
    match run(std::io::stdin().lock(), &terms, &mut out) {
        Ok(Outcome::Done { matched: 0 }) => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracee-filter: {e:#}");
            ExitCode::from(2)
        }
    }
}
