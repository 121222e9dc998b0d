//! Argument values: the items of an event record decoded by the catalog's
//! types, borrowed from the record where they can be.

use wire::EventSlice;
use wire::preamble::{ArgType, EventDef};

use crate::{Printer, parse};

/// One argument's value, borrowed from the record where it can be.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Int(i128),
    Ptr(u64),
    Bool(bool),
    Str(&'a [u8]),
    Strs(Vec<&'a [u8]>),
    Sockaddr(&'a [u8]),
    Bytes(&'a [u8]),
    /// An array of 64-bit words (`unsigned long[]`: a bitmap).
    Words(Vec<u64>),
    /// A flag or enum rendered by `--parse-arguments`.
    Sym(String),
    /// A list rendered by `--parse-arguments` (a bitmap's names).
    Syms(Vec<String>),
    /// A JSON value (a network event's protocol fields), as the record
    /// carries its text; printed as JSON if it is JSON, else as a string.
    Json(&'a [u8]),
}

pub struct Arg<'a> {
    pub name: &'a str,
    pub type_name: &'a str,
    pub value: Value<'a>,
    pub truncated: bool,
    /// The kernel could not read it (a page not yet faulted in, a bad
    /// pointer); the value is empty.
    pub fault: bool,
}

impl Printer {
    /// The decoded arguments of `ev`, in catalog order, and the error that
    /// ended decoding them early, if one did: the items before it are
    /// kept, the arguments after it show as absent.
    pub fn args<'a>(
        &'a self,
        def: &'a EventDef,
        ev: &EventSlice<'a>,
    ) -> (Vec<Arg<'a>>, Option<wire::DecodeError>) {
        let mut items: [Option<wire::ArgItem<'a>>; 32] = [None; 32];
        let mut bad = None;
        for it in ev.args() {
            let it = match it {
                Ok(it) => it,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            };
            if let Some(slot) = items.get_mut(it.index as usize) {
                *slot = Some(it);
            }
        }
        let mut v = Vec::with_capacity(def.args.len());
        for (i, a) in def.args.iter().enumerate() {
            let it = items.get(i).copied().flatten();
            let truncated = it.is_some_and(|it| it.truncated);
            let fault = it.is_some_and(|it| it.fault);
            let value = match (a.ty, it) {
                (_, None) => match a.ty {
                    ArgType::Str => Value::Str(b""),
                    ArgType::StrArray => Value::Strs(vec![]),
                    ArgType::Sockaddr | ArgType::Bytes => Value::Bytes(b""),
                    ArgType::Ptr => Value::Ptr(0),
                    ArgType::Bool => Value::Bool(false),
                    ArgType::Json => Value::Json(b"null"),
                    _ => Value::Int(0),
                },
                (t, Some(it)) if t.is_scalar() => {
                    let raw = it.scalar();
                    let sym = if self.parse_args {
                        parse::symbolic(&def.name, &a.name, raw)
                    } else {
                        None
                    };
                    match (sym, t) {
                        (Some(s), _) => Value::Sym(s),
                        (None, ArgType::Ptr) => Value::Ptr(raw),
                        (None, ArgType::Bool) => Value::Bool(raw != 0),
                        (None, t) => Value::Int(t.number(raw)),
                    }
                }
                (ArgType::Str, Some(it)) => Value::Str(it.data),
                (ArgType::Json, Some(it)) => Value::Json(it.data),
                (ArgType::StrArray, Some(it)) => Value::Strs(it.strings().collect()),
                (ArgType::Sockaddr, Some(it)) => Value::Sockaddr(it.data),
                (ArgType::Bytes, Some(it)) if a.type_name == "unsigned long[]" => {
                    let words: Vec<u64> = it
                        .data
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                        .collect();
                    match (
                        self.parse_args,
                        parse::bitmap_names(&def.name, &a.name, &words),
                    ) {
                        (true, Some(names)) => Value::Syms(names),
                        _ => Value::Words(words),
                    }
                }
                (_, Some(it)) => Value::Bytes(it.data),
            };
            v.push(Arg {
                name: &a.name,
                type_name: &a.type_name,
                value,
                truncated,
                fault,
            });
        }
        (v, bad)
    }
}

/// Writes `items` between `open` and `close`, `sep` between them, each by
/// `each`: the shape of a list or an object in every format.
pub(crate) fn push_list<T>(
    s: &mut String,
    (open, sep, close): (char, char, char),
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut String, T),
) {
    s.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(sep);
        }
        each(s, item);
    }
    s.push(close);
}
