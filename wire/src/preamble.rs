//! The stream preamble: who wrote the stream, when, and the catalog that
//! names every event and argument, so a saved stream stays readable after
//! the catalog of a later build grows.

use std::string::String;
use std::vec::Vec;

use crate::{DecodeError, LenError, MAGIC, MAX_PREAMBLE_LEN, VERSION};

/// How an argument's bytes are to be read and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ArgType {
    I32 = 1,
    U32 = 2,
    I64 = 3,
    U64 = 4,
    /// A user or kernel address, shown in hex.
    Ptr = 5,
    Str = 6,
    StrArray = 7,
    Sockaddr = 8,
    Bytes = 9,
    Bool = 10,
    /// A string item holding a JSON value (a protocol's fields, as
    /// Tracee's network events carry them); printed as JSON.
    Json = 11,
}

impl ArgType {
    pub fn from_u8(v: u8) -> Option<ArgType> {
        use ArgType::*;
        Some(match v {
            1 => I32,
            2 => U32,
            3 => I64,
            4 => U64,
            5 => Ptr,
            6 => Str,
            7 => StrArray,
            8 => Sockaddr,
            9 => Bytes,
            10 => Bool,
            11 => Json,
            _ => return None,
        })
    }
    /// A raw 64-bit scalar as the number this type means (sign-extended
    /// or truncated as the C type would be).
    pub fn number(self, raw: u64) -> i128 {
        match self {
            ArgType::I32 => raw as u32 as i32 as i128,
            ArgType::U32 => raw as u32 as i128,
            ArgType::I64 => raw as i64 as i128,
            _ => raw as i128,
        }
    }

    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            ArgType::I32
                | ArgType::U32
                | ArgType::I64
                | ArgType::U64
                | ArgType::Ptr
                | ArgType::Bool
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    /// The C type as the kernel names it, e.g. `const char*`.
    pub type_name: String,
    pub ty: ArgType,
}

/// Bits of [`EventDef::flags`].
pub mod event_flags {
    pub const SYSCALL: u8 = 1;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDef {
    pub id: u32,
    pub name: String,
    pub flags: u8,
    pub args: Vec<ArgDef>,
}

impl EventDef {
    pub fn is_syscall(&self) -> bool {
        self.flags & event_flags::SYSCALL != 0
    }
    pub fn arg_index(&self, name: &str) -> Option<usize> {
        self.args.iter().position(|a| a.name == name)
    }
}

/// Events by id, with a dense index for the ids the kernel uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    events: Vec<EventDef>,
    by_id: Vec<u32>,
    aliases: Vec<Alias>,
}

/// Another name an argument is known by (the kernel's, where the printed
/// name is Tracee's): filters accept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub event: u32,
    pub arg: u8,
    pub name: String,
}

const NONE: u32 = u32::MAX;

impl Catalog {
    pub fn new(events: Vec<EventDef>) -> Catalog {
        let mut by_id = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let id = e.id as usize;
            // Ids are small (syscall numbers and 1000-range events); a huge
            // id from a corrupt stream is simply not indexed.
            if id < 1 << 16 {
                if by_id.len() <= id {
                    by_id.resize(id + 1, NONE);
                }
                by_id[id] = i as u32;
            }
        }
        Catalog {
            events,
            by_id,
            aliases: Vec::new(),
        }
    }
    /// The catalog with these argument aliases.
    pub fn with_aliases(mut self, aliases: Vec<Alias>) -> Catalog {
        self.aliases = aliases;
        self
    }
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }
    /// The index of argument `name` of `def`, by its name or an alias.
    pub fn arg_index(&self, def: &EventDef, name: &str) -> Option<usize> {
        def.arg_index(name).or_else(|| {
            self.aliases
                .iter()
                .find(|a| a.event == def.id && a.name == name)
                .map(|a| a.arg as usize)
                .filter(|&i| i < def.args.len())
        })
    }
    pub fn get(&self, id: u32) -> Option<&EventDef> {
        match self.by_id.get(id as usize) {
            Some(&i) if i != NONE => self.events.get(i as usize),
            _ => None,
        }
    }
    pub fn by_name(&self, name: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.name == name)
    }
    pub fn events(&self) -> &[EventDef] {
        &self.events
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preamble {
    pub version: u16,
    /// Epoch nanoseconds at CLOCK_MONOTONIC zero: add to event times.
    pub boot_epoch_ns: u64,
    /// CLOCK_MONOTONIC when the collector started.
    pub start_mono_ns: u64,
    pub hostname: String,
    pub kernel_release: String,
    pub catalog: Catalog,
}

/// Fixed part: magic, version, reserved, total preamble length.
pub const FIXED_LEN: usize = crate::PREAMBLE_FIXED_LEN;

impl Preamble {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
        out.extend_from_slice(&self.boot_epoch_ns.to_le_bytes());
        out.extend_from_slice(&self.start_mono_ns.to_le_bytes());
        put_str(&mut out, &self.hostname);
        put_str(&mut out, &self.kernel_release);
        let events = self.catalog.events();
        out.extend_from_slice(&(events.len() as u32).to_le_bytes());
        for e in events {
            out.extend_from_slice(&e.id.to_le_bytes());
            put_str(&mut out, &e.name);
            out.push(e.flags);
            out.push(e.args.len() as u8);
            for a in &e.args {
                put_str(&mut out, &a.name);
                put_str(&mut out, &a.type_name);
                out.push(a.ty as u8);
            }
        }
        // Appended after the catalog, so a reader that predates them
        // (which ignores what follows the catalog) reads the stream still.
        let aliases = self.catalog.aliases();
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for a in aliases {
            out.extend_from_slice(&a.event.to_le_bytes());
            out.push(a.arg);
            put_str(&mut out, &a.name);
        }
        let len = out.len() as u32;
        out[12..16].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Reads the total preamble length from its fixed part, so a reader
    /// knows how many bytes to gather before calling [`Preamble::from_slice`].
    pub fn total_len(fixed: &[u8]) -> Result<usize, DecodeError> {
        if fixed.len() < FIXED_LEN {
            return Err(LenError {
                what: "preamble",
                required_len: FIXED_LEN,
                len: fixed.len(),
                offset: 0,
            }
            .into());
        }
        if fixed[..8] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]) as usize;
        if !(FIXED_LEN..=MAX_PREAMBLE_LEN).contains(&len) {
            return Err(DecodeError::BadPreambleLen { len });
        }
        Ok(len)
    }

    /// Decodes a whole preamble; returns it and the bytes after it.
    pub fn from_slice(b: &[u8]) -> Result<(Preamble, &[u8]), DecodeError> {
        let total = Preamble::total_len(b)?;
        if b.len() < total {
            return Err(LenError {
                what: "preamble",
                required_len: total,
                len: b.len(),
                offset: 0,
            }
            .into());
        }
        let mut c = Cursor {
            b: &b[..total],
            pos: FIXED_LEN,
        };
        let boot_epoch_ns = c.u64()?;
        let start_mono_ns = c.u64()?;
        let hostname = c.string("host name")?;
        let kernel_release = c.string("kernel release")?;
        let n = c.u32()? as usize;
        let mut events = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let id = c.u32()?;
            let name = c.string("event name")?;
            let flags = c.u8()?;
            let nargs = c.u8()? as usize;
            let mut args = Vec::with_capacity(nargs);
            for _ in 0..nargs {
                let name = c.string("argument name")?;
                let type_name = c.string("argument type")?;
                let at = c.pos;
                let tyv = c.u8()?;
                let ty = ArgType::from_u8(tyv).ok_or(DecodeError::UnknownArgType {
                    ty: tyv,
                    offset: at as u64,
                })?;
                args.push(ArgDef {
                    name,
                    type_name,
                    ty,
                });
            }
            events.push(EventDef {
                id,
                name,
                flags,
                args,
            });
        }
        // The aliases, if the writer sent them.
        let mut aliases = Vec::new();
        if c.pos < total {
            let n = c.u32()? as usize;
            aliases.reserve(n.min(4096));
            for _ in 0..n {
                let event = c.u32()?;
                let arg = c.u8()?;
                let name = c.string("argument alias")?;
                aliases.push(Alias { event, arg, name });
            }
        }
        let p = Preamble {
            version: VERSION,
            boot_epoch_ns,
            start_mono_ns,
            hostname,
            kernel_release,
            catalog: Catalog::new(events).with_aliases(aliases),
        };
        Ok((p, &b[total..]))
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], LenError> {
        let rest = &self.b[self.pos..];
        if rest.len() < n {
            return Err(LenError {
                what,
                required_len: n,
                len: rest.len(),
                offset: self.pos as u64,
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }
    fn u8(&mut self) -> Result<u8, LenError> {
        Ok(self.take(1, "preamble field")?[0])
    }
    fn u32(&mut self) -> Result<u32, LenError> {
        let s = self.take(4, "preamble field")?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, LenError> {
        let s = self.take(8, "preamble field")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let l = self.take(2, what)?;
        let n = u16::from_le_bytes([l[0], l[1]]) as usize;
        let at = self.pos as u64;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::BadUtf8 { what, offset: at })
    }
}
