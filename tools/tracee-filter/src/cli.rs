//! tracee-filter's command line, in the library: tracee-collect parses the
//! command line of a tracee-filter reading its output with the same
//! definition, to push its expressions down (see `tracee-collect`'s
//! `downstream` module).

use clap::Parser;
use tracee_cli::args::{InputArgs, OutputArgs};

/// Keeps the events of a tracee-rs stream that match every expression
/// (Tracee's filter language); other records pass.
#[derive(Parser, Debug)]
#[command(
    name = "tracee-filter",
    version,
    override_usage = "tracee-filter [OPTIONS] [EXPR]... < stream > stream",
    after_help = "Expressions:
  comm=bash,sh  pid=1234  pid=new  tid=  ppid=  uid>=1000  gid=  mntns=  pidns=
  uts=  cgroup=  executable=/usr/bin/*  tree=PID  follow
  event=openat,execve  openat.data.pathname=/etc/*  openat.retval<0
  openat.scope.uid=0

When tracee-filter reads tracee-collect's stdout directly, tracee-collect
evaluates the expressions it can (comm, pid, tid, uid, mntns, pidns, cgroup,
container, event) in the kernel as well (tracee-collect --no-pushdown: not).

Exit: 0 something matched, 1 nothing matched, 2 error."
)]
pub struct Cli {
    /// Filter expressions; an event is kept if it matches all of them
    #[arg(value_name = "EXPR")]
    pub exprs: Vec<String>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Cli {
    /// Whether this command line reads standard input.
    pub fn reads_stdin(&self) -> bool {
        matches!(self.input.input.as_deref(), None | Some("-"))
    }
}
