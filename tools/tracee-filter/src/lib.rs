//! Tracee-style filter expressions over the tracee-rs stream.
//!
//! Expressions are parsed once ([`parse_all`]), compiled against the
//! catalog in the stream's preamble ([`Filter::compile`]), then evaluated on
//! each event record in place; kept records are forwarded byte for byte.
//!
//! ```
//! use tracee_filter::{parse_all, Filter};
//! use wire::preamble::Catalog;
//! let terms = parse_all(&["comm=bash,sh", "uid!=0"]).unwrap();
//! let f = Filter::compile(&terms, &Catalog::default(), 0).unwrap();
//! assert_eq!(f.matched(), 0);
//! ```
pub mod cli;
pub mod eval;
pub mod expr;
mod group;
pub mod pattern;
pub mod pushdown;
pub mod run;

pub use eval::{CompileError, Filter};
pub use expr::{ParseError, Term, parse, parse_all};
pub use pattern::Pattern;
pub use pushdown::Pushdown;

#[cfg(test)]
mod tests;
