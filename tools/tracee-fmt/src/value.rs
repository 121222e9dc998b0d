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
        self.with_args(def, ev, |args, bad| (args.iter().collect(), bad))
    }

    /// Calls `f` with a view of the event's arguments, decoded one by one
    /// as `f` asks for them (printing needs no vector of them), and the
    /// error that ended reading them early, if one did.
    pub(crate) fn with_args<'a, T>(
        &'a self,
        def: &'a EventDef,
        ev: &EventSlice<'a>,
        f: impl FnOnce(&Args<'_, 'a>, Option<wire::DecodeError>) -> T,
    ) -> T {
        // Nearly every event has few arguments: a small table of items
        // is quicker to fill than the largest one.
        if def.args.len() <= 8 {
            let (items, bad) = items::<8>(ev);
            f(
                &Args {
                    p: self,
                    def,
                    items: &items,
                },
                bad,
            )
        } else {
            let (items, bad) = items::<MAX_ARGS>(ev);
            f(
                &Args {
                    p: self,
                    def,
                    items: &items,
                },
                bad,
            )
        }
    }
}

/// An event's arguments, by its catalog entry, from its items.
pub(crate) struct Args<'s, 'a> {
    p: &'a Printer,
    def: &'a EventDef,
    items: &'s [Option<wire::ArgItem<'a>>],
}

impl<'a> Args<'_, 'a> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = Arg<'a>> + '_ {
        (0..self.def.args.len()).map(|i| self.get(i))
    }

    /// Argument `i` (below the catalog's count).
    #[inline]
    fn get(&self, i: usize) -> Arg<'a> {
        let (p, def) = (self.p, self.def);
        let a = &def.args[i];
        let it = self.items.get(i).copied().flatten();
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
                let sym = if p.parse_args {
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
                    p.parse_args,
                    parse::bitmap_names(&def.name, &a.name, &words),
                ) {
                    (true, Some(names)) => Value::Syms(names),
                    _ => Value::Words(words),
                }
            }
            (_, Some(it)) => Value::Bytes(it.data),
        };
        Arg {
            name: &a.name,
            type_name: &a.type_name,
            value,
            truncated,
            fault,
        }
    }
}

/// Arguments an event may have at most.
const MAX_ARGS: usize = 32;

/// The event's items by argument index (below `N`: the event's catalog
/// entry has no argument beyond), a later item of an index replacing an
/// earlier one, and the error that ended reading them early, if one did.
fn items<'a, const N: usize>(
    ev: &EventSlice<'a>,
) -> ([Option<wire::ArgItem<'a>>; N], Option<wire::DecodeError>) {
    let mut items = [None; N];
    for it in ev.args() {
        match it {
            Ok(it) => {
                if let Some(slot) = items.get_mut(it.index as usize) {
                    *slot = Some(it);
                }
            }
            Err(e) => return (items, Some(e)),
        }
    }
    (items, None)
}

/// Writes `items` between `open` and `close`, `sep` between them, each by
/// `each`: the shape of a list or an object in every format.
pub(crate) fn push_list<T, S: crate::json::Text>(
    s: &mut S,
    (open, sep, close): (char, char, char),
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut S, T),
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
