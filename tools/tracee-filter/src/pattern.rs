//! Tracee's wildcards, one matcher for every place that takes them (string
//! filters, `event=`, tracee-collect's `-e`): `*` at the start, the end or
//! both means suffix, prefix or contains; anywhere else it is literal.
//!
//! ```
//! use tracee_filter::Pattern;
//! assert!(Pattern::new("open*").matches(b"openat"));
//! assert!(Pattern::new("*at").matches(b"openat"));
//! assert!(Pattern::new("*pen*").matches(b"openat"));
//! assert!(!Pattern::new("o*t").matches(b"openat"));
//! ```

/// A compiled wildcard: `*` at either end makes a prefix, suffix or
/// contains match; otherwise the value must be equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Contains(Vec<u8>),
}

impl Pattern {
    pub fn new(v: &str) -> Pattern {
        let b = v.as_bytes();
        let (s, e) = (
            b.first() == Some(&b'*'),
            b.len() > 1 && b.last() == Some(&b'*'),
        );
        match (s, e) {
            (true, true) => Pattern::Contains(b[1..b.len() - 1].to_vec()),
            (true, false) => Pattern::Suffix(b[1..].to_vec()),
            (false, true) => Pattern::Prefix(b[..b.len() - 1].to_vec()),
            (false, false) => Pattern::Exact(b.to_vec()),
        }
    }
    /// Whether the pattern holds only of values that start a certain way
    /// (exact and prefix patterns).
    pub fn anchored(&self) -> bool {
        matches!(self, Pattern::Exact(_) | Pattern::Prefix(_))
    }
    #[inline]
    pub fn matches(&self, s: &[u8]) -> bool {
        match self {
            Pattern::Exact(p) => s == &p[..],
            Pattern::Prefix(p) => s.starts_with(p),
            Pattern::Suffix(p) => s.ends_with(p),
            Pattern::Contains(p) => p.is_empty() || s.windows(p.len()).any(|w| w == &p[..]),
        }
    }
}
