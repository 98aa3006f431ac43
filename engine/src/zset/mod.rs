//! Sorted sets: a key's members, each with a score, ordered by (score,
//! member bytes) (`ZADD`, `ZRANGE`, ...).
//!
//! Invariants:
//! - Members are unique; no score is NaN.
//! - Members are in ascending (score, member bytes) order.
//! - `bytes` is the sum of the members' lengths plus 8 per score (the
//!   memory estimate).

mod algebra;
mod bounds;
mod ops;
mod parse;
mod read;

use std::cmp::Ordering;

use bytes::Bytes;

use crate::SmallBytes;

pub use ops::ZSetOp;

/// A sorted set value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    members: Vec<(f64, SmallBytes)>,
    /// Sum of the members' lengths plus 8 per score.
    bytes: u64,
}

/// Redis's order of sorted set elements: by score, then member bytes.
pub(crate) fn compare(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .expect("no NaN score is stored")
        .then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    /// A sorted set of `members` (unique, no NaN score), in any order.
    pub fn from_members(members: impl IntoIterator<Item = (f64, Bytes)>) -> ZSet {
        let mut zset = ZSet::default();
        for (score, member) in members {
            assert!(!score.is_nan(), "NaN score in a stored sorted set");
            assert!(
                zset.insert(score, &member).is_none(),
                "duplicate member in a stored sorted set"
            );
        }
        zset
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Bytes held by members and scores, for the memory estimate.
    pub fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    /// Every (score, member) in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (f64, &[u8])> + ExactSizeIterator + '_ {
        self.members
            .iter()
            .map(|(score, member)| (*score, &member[..]))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.members
            .iter()
            .find(|(_, stored)| &stored[..] == member)
            .map(|(score, _)| *score)
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.partition_point(|s, m| compare((s, m), (score, member)) == Ordering::Less))
    }

    /// How many leading elements (in ascending order) satisfy `before`,
    /// which must hold for a prefix of the elements and fail for the rest
    /// (a score or lex bound): the rank where that prefix ends.
    pub fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.members
            .partition_point(|(score, member)| before(*score, member))
    }

    /// The element at ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        self.members
            .get(rank)
            .map(|(score, member)| (*score, &member[..]))
    }

    /// The elements with ascending ranks in `ranks` (which must lie within
    /// `0..len`), in ascending order; reverse it for descending.
    pub fn range(
        &self,
        ranks: std::ops::Range<usize>,
    ) -> impl DoubleEndedIterator<Item = (f64, &[u8])> + ExactSizeIterator + '_ {
        assert!(ranks.end <= self.len(), "rank range out of bounds");
        self.members[ranks]
            .iter()
            .map(|(score, member)| (*score, &member[..]))
    }

    /// Sets `member`'s score; returns its old score if it was there.
    pub fn insert(&mut self, score: f64, member: &[u8]) -> Option<f64> {
        assert!(!score.is_nan(), "NaN score");
        let old = self.remove(member);
        let at = self
            .members
            .partition_point(|(s, m)| compare((*s, m), (score, member)) == Ordering::Less);
        self.members.insert(at, (score, SmallBytes::from(member)));
        self.bytes += member.len() as u64 + 8;
        old
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let index = self.members.iter().position(|(_, m)| &m[..] == member)?;
        let (score, member) = self.members.remove(index);
        self.bytes -= member.len() as u64 + 8;
        Some(score)
    }

    /// The sorted set as a run record.
    pub(crate) fn to_record(&self) -> ZSetRecord {
        ZSetRecord {
            members: self
                .members
                .iter()
                .map(|(score, member)| (*score, member.to_bytes()))
                .collect(),
        }
    }

    /// The sorted set an archived record holds; `bytes` turns archived
    /// bytes into a `Bytes` (a slice of the mapping, or a copy).
    pub(crate) fn from_archived(
        record: &ArchivedZSetRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> ZSet {
        ZSet::from_members(
            record
                .members
                .iter()
                .map(|pair| (pair.0.to_native(), bytes(&pair.1))),
        )
    }
}

/// A sorted set in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct ZSetRecord {
    /// (score, member) in ascending order.
    pub(crate) members: Vec<(f64, Bytes)>,
}
