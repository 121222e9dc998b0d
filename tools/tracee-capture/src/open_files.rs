//! The artifact files open now: at most a bound (and a quarter of the
//! descriptors the process may have), the least recently used closed when
//! another is needed and reopened by name when it gets more bytes, so a
//! process that touches many files cannot exhaust descriptors.

use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io;

use nix::sys::resource::{Resource, getrlimit};

use crate::dir::Dir;

/// Open files by key, with when each was last used.
pub struct OpenFiles<K> {
    files: HashMap<K, (File, u64)>,
    clock: u64,
    max: usize,
}

impl<K: Hash + Eq + Copy> OpenFiles<K> {
    /// At most `most` files, and a quarter of the soft descriptor limit.
    pub fn new(most: usize) -> OpenFiles<K> {
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((0, 0));
        OpenFiles {
            files: HashMap::new(),
            clock: 0,
            max: (soft / 4).clamp(4, most as u64) as usize,
        }
    }

    /// Keeps `f` open as `key`'s, closing the least recently used if full.
    pub fn insert(&mut self, key: K, f: File) {
        if self.files.len() >= self.max
            && let Some(old) = self
                .files
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k)
        {
            self.files.remove(&old);
        }
        self.clock += 1;
        self.files.insert(key, (f, self.clock));
    }

    /// The open file of `key`, opening `name` in `dir` if it is not.
    pub fn get(&mut self, dir: &Dir, key: K, name: &str) -> io::Result<&File> {
        if !self.files.contains_key(&key) {
            self.insert(key, dir.file(name, false)?);
        }
        self.clock += 1;
        let e = self.files.get_mut(&key).expect("just inserted");
        e.1 = self.clock;
        Ok(&e.0)
    }

    /// Closes `key`'s file, if it is open.
    pub fn close(&mut self, key: &K) {
        self.files.remove(key);
    }
}
