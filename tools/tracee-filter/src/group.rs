//! The values one key is compared with: `=` values OR'd (exact ones in a
//! set, so a long list costs one lookup), `!=` values and comparisons AND'd.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;

use crate::expr::Op;
use crate::pattern::Pattern;

/// The value sets' hasher: foldhash's fast one, several times cheaper
/// per event than std's SipHash (its seed still random per process).
pub(crate) type FastHash = foldhash::fast::RandomState;

pub(crate) type FastSet<T> = HashSet<T, FastHash>;

/// Up to this many values are compared one by one: for the usual one or
/// two (`comm=bash`), a comparison costs less than hashing the value.
const FEW: usize = 4;

/// A set of exact values, looked up per event.
#[derive(Clone, Debug)]
pub(crate) struct ValueSet<T> {
    few: Vec<T>,
    /// Every value, once there are more than [`FEW`] (`few` is then empty).
    many: FastSet<T>,
}

impl<T> Default for ValueSet<T> {
    fn default() -> Self {
        ValueSet {
            few: Vec::new(),
            many: FastSet::default(),
        }
    }
}

impl<T: Eq + Hash> ValueSet<T> {
    pub(crate) fn insert(&mut self, v: T) {
        if !self.many.is_empty() {
            self.many.insert(v);
        } else if !self.few.contains(&v) {
            self.few.push(v);
            if self.few.len() > FEW {
                self.many.extend(self.few.drain(..));
            }
        }
    }
    #[inline(always)]
    pub(crate) fn contains<Q>(&self, q: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.many.is_empty() {
            self.few.iter().any(|v| v.borrow() == q)
        } else {
            self.many.contains(q)
        }
    }
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.few.is_empty() && self.many.is_empty()
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.few.iter().chain(self.many.iter())
    }
}

/// Values of one key: `=` values OR'd (exact ones in a set, so a long list
/// costs one lookup), `!=` values and comparisons AND'd.
#[derive(Clone, Debug)]
pub(crate) struct Group<T> {
    pub(crate) eq_set: ValueSet<T>,
    pub(crate) eq_pat: Vec<Pattern>,
    pub(crate) ne_set: ValueSet<T>,
    pub(crate) ne_pat: Vec<Pattern>,
    pub(crate) cmp: Vec<(Op, i128)>,
    /// The comparisons folded into one range, `lo..=hi` (empty if lo > hi).
    range: Option<(i128, i128)>,
}

impl<T> Default for Group<T> {
    fn default() -> Self {
        Group {
            eq_set: ValueSet::default(),
            eq_pat: Vec::new(),
            ne_set: ValueSet::default(),
            ne_pat: Vec::new(),
            cmp: Vec::new(),
            range: None,
        }
    }
}

impl Group<Vec<u8>> {
    #[inline]
    pub(crate) fn add_str(&mut self, op: Op, v: &str) {
        let p = Pattern::new(v);
        match (op, p) {
            (Op::Eq, Pattern::Exact(b)) => self.eq_set.insert(b),
            (Op::Eq, p) => self.eq_pat.push(p),
            (_, Pattern::Exact(b)) => self.ne_set.insert(b),
            (_, p) => self.ne_pat.push(p),
        }
    }
    #[inline(always)]
    pub(crate) fn has_eq(&self) -> bool {
        !self.eq_set.is_empty() || !self.eq_pat.is_empty()
    }
    #[inline(always)]
    pub(crate) fn eq_one(&self, s: &[u8]) -> bool {
        self.eq_set.contains(s) || self.eq_pat.iter().any(|p| p.matches(s))
    }
    #[inline(always)]
    pub(crate) fn ne_one(&self, s: &[u8]) -> bool {
        self.ne_set.contains(s) || self.ne_pat.iter().any(|p| p.matches(s))
    }
    #[inline(always)]
    pub(crate) fn matches_str(&self, s: &[u8]) -> bool {
        (!self.has_eq() || self.eq_one(s)) && !self.ne_one(s)
    }
    /// A string the kernel cut, which keeps its end: its start is unknown,
    /// so exact and prefix patterns say nothing of it (an `=` does not
    /// hold, a `!=` does not exclude it); suffix and contains patterns
    /// look at what is there.
    #[inline(always)]
    pub(crate) fn matches_cut(&self, s: &[u8]) -> bool {
        let free = |ps: &[Pattern]| ps.iter().any(|p| !p.anchored() && p.matches(s));
        (!self.has_eq() || free(&self.eq_pat)) && !free(&self.ne_pat)
    }
    /// A string value, whole or cut.
    #[inline(always)]
    pub(crate) fn matches_value(&self, s: &[u8], cut: bool) -> bool {
        if cut {
            self.matches_cut(s)
        } else {
            self.matches_str(s)
        }
    }
    /// On an array (argv): `=` holds if some element matches one of its
    /// values, `!=` if no element matches any of its values, so an empty
    /// or unreadable array passes every `!=` and no `=`. In an array the
    /// kernel cut, the last element may be cut too (elements keep their
    /// start): only prefix and contains patterns judge it, and elements
    /// past the cut, unseen, make no `=` hold and no `!=` exclude.
    #[inline]
    pub(crate) fn matches_list<'a>(
        &self,
        items: impl Iterator<Item = &'a [u8]>,
        cut: bool,
    ) -> bool {
        let mut items = items.peekable();
        let mut eq = !self.has_eq();
        while let Some(s) = items.next() {
            let (eq_here, ne_here) = if cut && items.peek().is_none() {
                let head = |ps: &[Pattern]| {
                    ps.iter().any(|p| {
                        matches!(p, Pattern::Prefix(_) | Pattern::Contains(_)) && p.matches(s)
                    })
                };
                (head(&self.eq_pat), head(&self.ne_pat))
            } else {
                (self.eq_one(s), self.ne_one(s))
            };
            if ne_here {
                return false;
            }
            eq = eq || eq_here;
        }
        eq
    }
}

impl Group<i128> {
    #[inline]
    pub(crate) fn add_num(&mut self, op: Op, v: i128) {
        match op {
            Op::Eq => self.eq_set.insert(v),
            Op::Ne => self.ne_set.insert(v),
            _ => {
                self.cmp.push((op, v));
                let (lo, hi) = self.range.unwrap_or((i128::MIN, i128::MAX));
                // `< MIN` and `> MAX` hold of nothing: an empty range.
                self.range = Some(match op {
                    Op::Lt => (lo, v.checked_sub(1).map_or(i128::MIN, |v| hi.min(v))),
                    Op::Le => (lo, hi.min(v)),
                    Op::Gt => (v.checked_add(1).map_or(i128::MAX, |v| lo.max(v)), hi),
                    _ => (lo.max(v), hi),
                });
                if matches!((op, v), (Op::Lt, i128::MIN) | (Op::Gt, i128::MAX)) {
                    self.range = Some((i128::MAX, i128::MIN));
                }
            }
        }
    }
    /// The range `lo..=hi` this group is, if it is only comparisons (no
    /// `=` or `!=` values).
    pub(crate) fn as_range(&self) -> Option<(i128, i128)> {
        if !self.eq_set.is_empty() || !self.ne_set.is_empty() {
            return None;
        }
        Some(self.range.unwrap_or((i128::MIN, i128::MAX)))
    }
    #[inline(always)]
    pub(crate) fn matches_num(&self, n: i128) -> bool {
        if !self.eq_set.is_empty() && !self.eq_set.contains(&n) {
            return false;
        }
        if self.ne_set.contains(&n) {
            return false;
        }
        self.range.is_none_or(|(lo, hi)| lo <= n && n <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::{FEW, ValueSet};

    #[test]
    fn a_value_set_holds_the_same_values_few_or_many() {
        for n in [1, FEW, FEW + 1, 50] {
            let mut s = ValueSet::default();
            for i in 0..n {
                s.insert(format!("v{i}").into_bytes());
                s.insert(format!("v{i}").into_bytes());
            }
            assert_eq!(s.iter().count(), n, "{n} values, each inserted twice");
            for i in 0..n {
                assert!(s.contains(format!("v{i}").as_bytes()));
            }
            assert!(!s.contains(b"v".as_slice()) && !s.contains(format!("v{n}").as_bytes()));
        }
        assert!(ValueSet::<i128>::default().is_empty());
    }
}
