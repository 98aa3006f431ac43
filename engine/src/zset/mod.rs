//! Sorted sets: a key's members, each with a score, ordered by (score,
//! member bytes) (`ZADD`, `ZRANGE`, ...).
//!
//! Two encodings, as in Redis, chosen by size alone:
//! - packed ([`packed`], "listpack"): one byte buffer of entries in order,
//!   while the set has at most [`packed::ENTRIES_MAX`] members of at most
//!   [`packed::MEMBER_MAX`] bytes each. Operations scan it.
//! - indexed ([`indexed`], "skiplist"): a member -> score hash index and an
//!   order-statistic B+tree ([`tree`]); O(1) score lookups, O(log n)
//!   inserts, removals, ranks and selects, O(log n + k) range walks.
//!
//! Adding a member that does not fit converts a packed set to the indexed
//! encoding, once: it never goes back, even when it shrinks (as in Redis).
//! The order is a pure function of the contents, so both encodings iterate
//! the same way; the encoding is still recorded in a run, so `OBJECT
//! ENCODING` and the memory estimate are the same after a restart.
//!
//! Invariants:
//! - Members are unique; no score is NaN.
//! - Members are in ascending (score, member bytes) order.
//! - A packed set is within the packed limits (an indexed one may be of
//!   any size).
//! - `memory_bytes` is O(1) and close to the heap bytes the set holds.

mod algebra;
mod bounds;
mod indexed;
mod ops;
mod packed;
mod parse;
mod read;
#[cfg(test)]
mod tests;
mod tree;

use std::cmp::Ordering;

use bytes::Bytes;

use crate::SmallBytes;
use indexed::Indexed;
use packed::Packed;

pub use bounds::{LexBound, LexRange, ScoreRange};
pub(crate) use ops::store_result;
pub use ops::ZSetOp;
pub use parse::{
    AddOptions, Aggregate, Algebra, AlgebraArgs, AlgebraError, RandArgs, RangeArgs, RangeBy,
    RangeQuery, ScanArgs,
};

/// A sorted set value.
#[derive(Debug, Clone)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Small sets: see `packed.rs`.
    Packed(Packed),
    /// Large sets: see `indexed.rs`. Boxed so a `ZSet` stays as small as
    /// a packed one (a table slot holds it).
    Indexed(Box<Indexed>),
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet {
            repr: Repr::Packed(Packed::default()),
        }
    }
}

impl PartialEq for ZSet {
    /// Same encoding and same elements (scores bit for bit).
    fn eq(&self, other: &ZSet) -> bool {
        self.encoding() == other.encoding()
            && self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0.to_bits() == b.0.to_bits() && a.1 == b.1)
    }
}

/// Redis's order of sorted set elements: by score, then member bytes.
pub(crate) fn compare(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .expect("no NaN score is stored")
        .then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    /// A sorted set of `members` (unique, no NaN score), in any order.
    /// Packed if it fits, else indexed: the encoding inserting them one by
    /// one would reach.
    pub fn from_members(members: impl IntoIterator<Item = (f64, Bytes)>) -> ZSet {
        let mut members: Vec<(f64, Bytes)> = members.into_iter().collect();
        assert!(
            members.iter().all(|(score, _)| !score.is_nan()),
            "NaN score in a stored sorted set"
        );
        members.sort_unstable_by(|a, b| compare((a.0, &a.1), (b.0, &b.1)));
        let fits = members.len() <= packed::ENTRIES_MAX
            && members.iter().all(|(_, m)| m.len() <= packed::MEMBER_MAX);
        let zset = if fits {
            // A duplicate member with a tied score breaks the packed
            // order check; one with another score, `check_unique` below.
            let sorted = members.iter().map(|(s, m)| (*s, &m[..]));
            ZSet {
                repr: Repr::Packed(Packed::from_sorted(sorted)),
            }
        } else {
            let sorted = members
                .iter()
                .map(|(s, m)| (*s, SmallBytes::from_shared(m)));
            ZSet {
                repr: Repr::Indexed(Box::new(Indexed::from_sorted_owned(sorted))),
            }
        };
        zset.check_unique();
        zset
    }

    /// Panics if a member appears twice (with different scores, which the
    /// order does not put side by side). The indexed encoding checks this
    /// as it builds; a packed set is small enough to check by sorting.
    fn check_unique(&self) {
        if let Repr::Packed(packed) = &self.repr {
            // On the stack: this runs for every packed set a restore reads.
            let mut members: [&[u8]; packed::ENTRIES_MAX] = [&[]; packed::ENTRIES_MAX];
            let members = &mut members[..packed.len()];
            for (slot, (_, member)) in members.iter_mut().zip(packed.range(0..packed.len())) {
                *slot = member;
            }
            members.sort_unstable();
            let unique = members.windows(2).all(|pair| pair[0] != pair[1]);
            assert!(unique, "duplicate member in a stored sorted set");
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(packed) => packed.len(),
            Repr::Indexed(indexed) => indexed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the set, for the memory estimate. O(1).
    pub fn memory_bytes(&self) -> u64 {
        match &self.repr {
            Repr::Packed(packed) => packed.memory_bytes(),
            Repr::Indexed(indexed) => size_of::<Indexed>() as u64 + indexed.memory_bytes(),
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Indexed(_) => "skiplist",
        }
    }

    /// Every (score, member) in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (f64, &[u8])> + ExactSizeIterator + '_ {
        self.range(0..self.len())
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(packed) => packed.score(member),
            Repr::Indexed(indexed) => indexed.score(member),
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Packed(packed) => packed.rank(member),
            Repr::Indexed(indexed) => indexed.rank(member),
        }
    }

    /// How many leading elements (in ascending order) satisfy `before`,
    /// which must hold for a prefix of the elements and fail for the rest
    /// (a score or lex bound): the rank where that prefix ends.
    pub fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(packed) => packed.partition_point(before),
            Repr::Indexed(indexed) => indexed.tree().partition_point(before),
        }
    }

    /// The element at ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        match &self.repr {
            Repr::Packed(packed) => packed.get_by_rank(rank),
            Repr::Indexed(indexed) => indexed.tree().get_by_rank(rank),
        }
    }

    /// The elements with ascending ranks in `ranks` (which must lie within
    /// `0..len`), in ascending order; reverse it for descending.
    pub fn range(
        &self,
        ranks: std::ops::Range<usize>,
    ) -> impl DoubleEndedIterator<Item = (f64, &[u8])> + ExactSizeIterator + '_ {
        assert!(ranks.end <= self.len(), "rank range out of bounds");
        match &self.repr {
            Repr::Packed(packed) => Iter::Packed(packed.range(ranks)),
            Repr::Indexed(indexed) => Iter::Indexed(indexed.range(ranks)),
        }
    }

    /// Sets `member`'s score; returns its old score if it was there.
    /// Adding a member the packed encoding cannot hold converts the set.
    pub fn insert(&mut self, score: f64, member: &[u8]) -> Option<f64> {
        assert!(!score.is_nan(), "NaN score");
        if let Repr::Packed(packed) = &self.repr {
            if !packed.fits_new(member.len()) && packed.score(member).is_none() {
                self.convert_to_indexed();
            }
        }
        match &mut self.repr {
            Repr::Packed(packed) => packed.insert(score, member),
            Repr::Indexed(indexed) => indexed.insert(score, member),
        }
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Packed(packed) => packed.remove(member),
            Repr::Indexed(indexed) => indexed.remove(member),
        }
    }

    /// Removes the elements with ranks in `ranks` (within `0..len`), for
    /// `ZREMRANGEBY*` after a `partition_point` or two: one byte move when
    /// packed, O(k log n) when indexed.
    pub fn remove_range(&mut self, ranks: std::ops::Range<usize>) {
        assert!(ranks.end <= self.len(), "rank range out of bounds");
        match &mut self.repr {
            Repr::Packed(packed) => packed.remove_range(ranks),
            Repr::Indexed(indexed) => {
                for _ in ranks.clone() {
                    indexed.remove_by_rank(ranks.start);
                }
            }
        }
    }

    /// Removes and returns the lowest element (`ZPOPMIN`): O(log n).
    pub fn pop_first(&mut self) -> Option<(f64, SmallBytes)> {
        self.pop_at(0)
    }

    /// Removes and returns the highest element (`ZPOPMAX`): O(log n).
    pub fn pop_last(&mut self) -> Option<(f64, SmallBytes)> {
        self.pop_at(self.len().checked_sub(1)?)
    }

    /// Removes and returns the element at `rank`, if any.
    fn pop_at(&mut self, rank: usize) -> Option<(f64, SmallBytes)> {
        if rank >= self.len() {
            return None;
        }
        match &mut self.repr {
            Repr::Packed(packed) => {
                let (score, member) = packed.get_by_rank(rank).expect("rank within the set");
                let popped = (score, SmallBytes::from(member));
                packed.remove_range(rank..rank + 1);
                Some(popped)
            }
            Repr::Indexed(indexed) => Some(indexed.remove_by_rank(rank)),
        }
    }

    /// Moves a packed set to the indexed encoding.
    fn convert_to_indexed(&mut self) {
        if let Repr::Packed(packed) = &self.repr {
            let indexed = Indexed::from_sorted(packed.range(0..packed.len()));
            self.repr = Repr::Indexed(Box::new(indexed));
        }
    }

    /// Panics unless the invariants of the module and of the encoding
    /// hold. O(n): for tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        match &self.repr {
            Repr::Packed(packed) => packed.check_invariants(),
            Repr::Indexed(indexed) => indexed.check_invariants(),
        }
        self.check_unique();
    }

    /// The sorted set as a run record: the packed buffer as it is, or the
    /// indexed set's elements in order.
    pub(crate) fn to_record(&self) -> ZSetRecord {
        match &self.repr {
            Repr::Packed(packed) => ZSetRecord {
                packed: Some(Bytes::copy_from_slice(packed.as_bytes())),
                members: Vec::new(),
            },
            Repr::Indexed(indexed) => ZSetRecord {
                packed: None,
                members: indexed
                    .range(0..indexed.len())
                    .map(|(score, member)| (score, Bytes::copy_from_slice(member)))
                    .collect(),
            },
        }
    }

    /// The sorted set an archived record holds, in the encoding it was
    /// recorded in; `bytes` turns archived bytes into a `Bytes` (a slice
    /// of the mapping, or a copy). A corrupt record panics.
    pub(crate) fn from_archived(
        record: &ArchivedZSetRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> ZSet {
        let repr = match record.packed.as_ref() {
            Some(buffer) => {
                assert!(record.members.is_empty(), "packed record with members");
                Repr::Packed(Packed::from_buffer(buffer))
            }
            None => {
                let members = record.members.iter().map(|pair| {
                    let score = pair.0.to_native();
                    assert!(!score.is_nan(), "NaN score in a recorded sorted set");
                    (score, SmallBytes::from_shared(&bytes(&pair.1)))
                });
                Repr::Indexed(Box::new(Indexed::from_sorted_owned(members)))
            }
        };
        // Checked here: the packed order alone allows a member twice with
        // two scores (the index catches that for the indexed encoding).
        let zset = ZSet { repr };
        zset.check_unique();
        zset
    }
}

/// A rank range of either encoding. The packed one carries its entry
/// offsets (a few hundred bytes) on the stack; boxing it would cost an
/// allocation per range, which is what it exists to avoid.
#[allow(clippy::large_enum_variant)]
enum Iter<'a> {
    Packed(packed::Iter<'a>),
    Indexed(tree::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(iter) => iter.next(),
            Iter::Indexed(iter) => iter.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Packed(iter) => iter.size_hint(),
            Iter::Indexed(iter) => iter.size_hint(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(iter) => iter.next_back(),
            Iter::Indexed(iter) => iter.next_back(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// A sorted set in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct ZSetRecord {
    /// The packed encoding's buffer (format in `packed.rs`), when packed.
    pub(crate) packed: Option<Bytes>,
    /// (score, member) in ascending order, when indexed; empty otherwise.
    pub(crate) members: Vec<(f64, Bytes)>,
}
