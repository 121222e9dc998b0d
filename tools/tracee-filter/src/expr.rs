//! Parsing filter expressions. Parsing needs no catalog; names of events and
//! arguments are checked when the filter is compiled against a stream.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
        }
    }
}

/// Process and context fields that every event has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeKey {
    Comm,
    Pid,
    Tid,
    Ppid,
    Uid,
    Gid,
    MntNs,
    PidNs,
    Uts,
    Cgroup,
    Executable,
    Tree,
    /// `container` (any started container), `not-container`,
    /// `container=new`, `container=ID-PREFIX` (Tracee's scope).
    Container,
    ContainerId,
    ContainerName,
    ContainerImage,
}

impl ScopeKey {
    fn from_name(s: &str) -> Option<ScopeKey> {
        use ScopeKey::*;
        Some(match s {
            "comm" | "command" => Comm,
            "pid" | "hostpid" => Pid,
            "tid" | "hosttid" => Tid,
            "ppid" | "hostppid" => Ppid,
            "uid" => Uid,
            "gid" => Gid,
            "mntns" => MntNs,
            "pidns" => PidNs,
            "uts" => Uts,
            "cgroup" | "cgroupid" => Cgroup,
            "executable" | "exec" | "binary" | "bin" => Executable,
            "tree" => Tree,
            "container" => Container,
            "containerId" | "container.id" => ContainerId,
            "containerName" | "container.name" => ContainerName,
            "containerImage" | "container.image" => ContainerImage,
            _ => return None,
        })
    }

    pub fn is_string(self) -> bool {
        matches!(
            self,
            ScopeKey::Comm
                | ScopeKey::Uts
                | ScopeKey::Executable
                | ScopeKey::Container
                | ScopeKey::ContainerId
                | ScopeKey::ContainerName
                | ScopeKey::ContainerImage
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A scope key for every event, or (with `event`) for one event.
    Scope {
        event: Option<String>,
        key: ScopeKey,
    },
    /// `event=` selection.
    Event,
    RetVal {
        event: String,
    },
    Arg {
        event: String,
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    pub text: String,
    pub key: Key,
    pub op: Op,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Follow,
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad filter expression '{expr}' at position {pos}: {msg}")]
pub struct ParseError {
    pub expr: String,
    /// 1-based character position.
    pub pos: usize,
    pub msg: String,
}

fn err(expr: &str, pos: usize, msg: impl fmt::Display) -> ParseError {
    ParseError {
        expr: expr.to_string(),
        pos: pos + 1,
        msg: msg.to_string(),
    }
}

/// Parses one command-line expression.
pub fn parse(text: &str) -> Result<Term, ParseError> {
    let t = text.trim();
    if t == "follow" {
        return Ok(Term::Follow);
    }
    // Tracee's bare container scopes: no value means "any".
    if t == "container" || t == "not-container" {
        return Ok(Term::Expr(Expr {
            text: text.to_string(),
            key: Key::Scope {
                event: None,
                key: ScopeKey::Container,
            },
            op: if t == "container" { Op::Eq } else { Op::Ne },
            values: Vec::new(),
        }));
    }
    if t.is_empty() {
        return Err(err(text, 0, "empty expression"));
    }
    let (at, op, oplen) = find_op(t).ok_or_else(|| {
        err(
            text,
            t.len(),
            "expected an operator (=, !=, <, >, <=, >=) after the key",
        )
    })?;
    let key_text = &t[..at];
    if key_text.is_empty() {
        return Err(err(text, 0, "missing key before the operator"));
    }
    let key = parse_key(text, key_text)?;
    let vstart = at + oplen;
    let vtext = &t[vstart..];
    if vtext.is_empty() {
        return Err(err(text, vstart, "missing value after the operator"));
    }
    let mut values = Vec::new();
    let mut pos = vstart;
    for v in vtext.split(',') {
        if v.is_empty() {
            return Err(err(text, pos, "empty value in the list"));
        }
        check_value(text, pos, &key, op, v)?;
        values.push(v.to_string());
        pos += v.len() + 1;
    }
    Ok(Term::Expr(Expr {
        text: text.to_string(),
        key,
        op,
        values,
    }))
}

/// Parses every expression; the first bad one is the error.
pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Term>, ParseError> {
    texts.iter().map(|t| parse(t.as_ref())).collect()
}

fn find_op(t: &str) -> Option<(usize, Op, usize)> {
    let b = t.as_bytes();
    for i in 0..b.len() {
        let two = b.get(i + 1).copied();
        match (b[i], two) {
            (b'!', Some(b'=')) => return Some((i, Op::Ne, 2)),
            (b'<', Some(b'=')) => return Some((i, Op::Le, 2)),
            (b'>', Some(b'=')) => return Some((i, Op::Ge, 2)),
            (b'=', _) => return Some((i, Op::Eq, 1)),
            (b'<', _) => return Some((i, Op::Lt, 1)),
            (b'>', _) => return Some((i, Op::Gt, 1)),
            _ => {}
        }
    }
    None
}

fn parse_key(text: &str, k: &str) -> Result<Key, ParseError> {
    if k == "event" || k == "e" {
        return Ok(Key::Event);
    }
    if let Some(s) = ScopeKey::from_name(k) {
        return Ok(Key::Scope {
            event: None,
            key: s,
        });
    }
    let parts: Vec<&str> = k.split('.').collect();
    let bad_name = |name: &str| {
        name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    };
    match parts.as_slice() {
        [ev, "retval"] if !bad_name(ev) => Ok(Key::RetVal {
            event: ev.to_string(),
        }),
        [ev, "data" | "args", arg] if !bad_name(ev) && !bad_name(arg) => Ok(Key::Arg {
            event: ev.to_string(),
            name: arg.to_string(),
        }),
        [ev, "scope" | "context", key] if !bad_name(ev) => match ScopeKey::from_name(key) {
            Some(s) if s != ScopeKey::Tree => Ok(Key::Scope {
                event: Some(ev.to_string()),
                key: s,
            }),
            _ => Err(err(
                text,
                ev.len() + 1 + parts[1].len() + 1,
                format!("unknown scope key '{key}'"),
            )),
        },
        [_] => Err(err(text, 0, format!("unknown key '{k}'"))),
        _ => Err(err(
            text,
            0,
            format!("unknown key '{k}' (expected EVENT.retval, EVENT.data.ARG or EVENT.scope.KEY)"),
        )),
    }
}

fn check_value(text: &str, pos: usize, key: &Key, op: Op, v: &str) -> Result<(), ParseError> {
    let eq_only = |what: &str| -> Result<(), ParseError> {
        if matches!(op, Op::Eq | Op::Ne) {
            Ok(())
        } else {
            Err(err(
                text,
                pos - op.as_str().len(),
                format!("{what} takes only = or !="),
            ))
        }
    };
    match key {
        Key::Event => eq_only("event"),
        Key::Scope { key: s, .. } if s.is_string() => eq_only("a string key"),
        Key::Scope {
            key: ScopeKey::Pid, ..
        } if v == "new" => {
            if op == Op::Eq {
                Ok(())
            } else {
                Err(err(text, pos, "pid=new takes only ="))
            }
        }
        Key::Scope {
            key: ScopeKey::Tree,
            ..
        } => {
            eq_only("tree")?;
            v.parse::<u32>()
                .map(|_| ())
                .map_err(|_| err(text, pos, format!("'{v}' is not a pid")))
        }
        Key::Scope { .. } | Key::RetVal { .. } => parse_num(v)
            .map(|_| ())
            .ok_or_else(|| err(text, pos, format!("'{v}' is not a number"))),
        // Argument types are known only from the stream's catalog.
        Key::Arg { .. } => Ok(()),
    }
}

/// Decimal, or hex with 0x.
pub fn parse_num(v: &str) -> Option<i128> {
    let (neg, d) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let n = match d.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => d.parse::<i128>().ok()?,
    };
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: &str) -> Expr {
        match parse(t).unwrap() {
            Term::Expr(e) => e,
            Term::Follow => panic!(),
        }
    }

    #[test]
    fn parses_the_language() {
        assert_eq!(parse("follow").unwrap(), Term::Follow);
        let e = ex("comm=bash,sh");
        assert_eq!(
            e.key,
            Key::Scope {
                event: None,
                key: ScopeKey::Comm
            }
        );
        assert_eq!(e.values, ["bash", "sh"]);
        assert_eq!(ex("uid!=0").op, Op::Ne);
        assert_eq!(ex("uid<=1000").op, Op::Le);
        assert_eq!(ex("uid>=1000").op, Op::Ge);
        assert_eq!(ex("pid>5").op, Op::Gt);
        assert_eq!(
            ex("openat.retval<0").key,
            Key::RetVal {
                event: "openat".into()
            }
        );
        assert_eq!(ex("openat.retval<0").values, ["0"]);
        assert_eq!(
            ex("openat.data.pathname=/etc/*").key,
            Key::Arg {
                event: "openat".into(),
                name: "pathname".into()
            }
        );
        assert_eq!(
            ex("openat.scope.uid=0").key,
            Key::Scope {
                event: Some("openat".into()),
                key: ScopeKey::Uid
            }
        );
        assert_eq!(ex("event=openat,execve").key, Key::Event);
        assert_eq!(ex("pid=new").values, ["new"]);
        assert_eq!(
            ex("tree=1").key,
            Key::Scope {
                event: None,
                key: ScopeKey::Tree
            }
        );
        assert_eq!(ex("openat.retval=-2").values, ["-2"]);
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("comm").unwrap_err();
        assert_eq!(e.pos, 5);
        assert!(
            e.to_string()
                .starts_with("bad filter expression 'comm' at position 5")
        );
        assert_eq!(parse("=bash").unwrap_err().pos, 1);
        assert_eq!(parse("comm=").unwrap_err().pos, 6);
        assert_eq!(parse("comm=a,,b").unwrap_err().pos, 8);
        assert_eq!(parse("uid=abc").unwrap_err().pos, 5);
        assert_eq!(parse("uid=1,x").unwrap_err().pos, 7);
        assert!(parse("comm<bash").unwrap_err().msg.contains("only = or !="));
        assert!(parse("nosuch=1").unwrap_err().msg.contains("unknown key"));
        assert!(
            parse("openat.bogus.x=1")
                .unwrap_err()
                .msg
                .contains("unknown key")
        );
        assert!(
            parse("openat.scope.zz=1")
                .unwrap_err()
                .msg
                .contains("unknown scope key")
        );
        assert!(parse("tree=x").is_err());
        assert!(parse("pid!=new").is_err());
        assert!(parse("").is_err());
    }
}
