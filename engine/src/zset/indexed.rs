//! The large encoding of sorted sets (`OBJECT ENCODING` "skiplist", as
//! Redis calls its own): a member -> score hash index next to an
//! order-statistic tree of (score, member).
//!
//! The index answers `ZSCORE` and finds a member's current score (hence
//! its tree position) in O(1); the tree answers everything ordered in
//! O(log n). A member's bytes are held once when long (both sides share
//! one `Bytes`) and inline twice when short (no allocation at all).
//!
//! Invariants (checked by [`Indexed::check_invariants`]):
//! - The index and the tree hold the same members, with the same score
//!   (bit for bit).
//! - `heap_member_bytes` is the sum of the lengths of the members that
//!   are too long to be inline.

use std::cmp::Ordering;

use super::compare;
use super::tree::{Element, Iter, Tree};
use crate::table::{estimated_bytes, Table};
use crate::{key_hash, SmallBytes, INLINE_BYTES_MAX};

/// A large sorted set: see the module comment.
#[derive(Debug)]
pub(super) struct Indexed {
    /// member -> score, keyed by xxh3 of the member. Its (hash, member)
    /// order is never used: every ordered question goes to `tree`.
    scores: Table<f64>,
    /// (score, member) in order, with subtree counts for ranks.
    tree: Tree,
    /// Bytes of the members stored out of line, for the memory estimate.
    heap_member_bytes: u64,
}

impl Indexed {
    pub(super) fn new() -> Indexed {
        Indexed::with_tree(Tree::new())
    }

    /// An empty set over `tree` (tests pass one with small nodes).
    pub(super) fn with_tree(tree: Tree) -> Indexed {
        assert_eq!(tree.len(), 0, "the tree must start empty");
        Indexed {
            scores: Table::new(0, 0),
            tree,
            heap_member_bytes: 0,
        }
    }

    /// A large set of `sorted`, strictly ascending (score, member) pairs:
    /// each goes after the last, the tree's cheapest insert.
    pub(super) fn from_sorted<'a>(sorted: impl Iterator<Item = (f64, &'a [u8])>) -> Indexed {
        let mut indexed = Indexed::new();
        for (score, member) in sorted {
            indexed.add_new(score, SmallBytes::from(member));
        }
        indexed
    }

    /// Like [`Indexed::from_sorted`], for members already owned.
    pub(super) fn from_sorted_owned(sorted: impl Iterator<Item = (f64, SmallBytes)>) -> Indexed {
        let mut indexed = Indexed::new();
        for (score, member) in sorted {
            indexed.add_new(score, member);
        }
        indexed
    }

    pub(super) fn len(&self) -> usize {
        self.tree.len()
    }

    /// Heap bytes: tree, index (estimated from its length, since its
    /// slot count is private to it) and out-of-line members.
    pub(super) fn memory_bytes(&self) -> u64 {
        self.tree.memory_bytes() + estimated_bytes::<f64>(self.len()) + self.heap_member_bytes
    }

    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(key_hash(member), member).copied()
    }

    pub(super) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(
            self.tree
                .partition_point(|s, m| compare((s, m), (score, member)) == Ordering::Less),
        )
    }

    pub(super) fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Adds a member that is not in the set.
    fn add_new(&mut self, score: f64, member: SmallBytes) {
        match self.scores.find(key_hash(&member), &member) {
            Ok(_) => panic!("duplicate member in a sorted set"),
            Err(vacant) => {
                if member.len() > INLINE_BYTES_MAX {
                    self.heap_member_bytes += member.len() as u64;
                }
                self.scores.insert_at(vacant, member.clone(), score);
                self.tree.insert(score, member);
            }
        }
    }

    /// Sets `member`'s score; returns the old one.
    pub(super) fn insert(&mut self, score: f64, member: &[u8]) -> Option<f64> {
        match self.scores.find(key_hash(member), member) {
            Ok(found) => {
                let slot = self.scores.value_mut(found);
                let old = std::mem::replace(slot, score);
                if old.to_bits() != score.to_bits() {
                    let (_, stored) = self
                        .tree
                        .remove(old, member)
                        .expect("indexed member in tree");
                    self.tree.insert(score, stored);
                }
                Some(old)
            }
            Err(vacant) => {
                let member = SmallBytes::from(member);
                if member.len() > INLINE_BYTES_MAX {
                    self.heap_member_bytes += member.len() as u64;
                }
                self.scores.insert_at(vacant, member.clone(), score);
                self.tree.insert(score, member);
                None
            }
        }
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let found = self.scores.find(key_hash(member), member).ok()?;
        let ((_, score), _) = self.scores.remove_at(found);
        self.tree
            .remove(score, member)
            .expect("indexed member in tree");
        if member.len() > INLINE_BYTES_MAX {
            self.heap_member_bytes -= member.len() as u64;
        }
        Some(score)
    }

    /// Removes the element at `rank` (within `0..len`) and returns it.
    pub(super) fn remove_by_rank(&mut self, rank: usize) -> Element {
        let (score, member) = self.tree.element_by_rank(rank).clone();
        let removed = self.remove(&member).expect("ranked member indexed");
        assert_eq!(
            removed.to_bits(),
            score.to_bits(),
            "index and tree disagree"
        );
        (score, member)
    }

    pub(super) fn range(&self, ranks: std::ops::Range<usize>) -> Iter<'_> {
        self.tree.range(ranks)
    }

    /// Panics unless every invariant in the module comment (and those of
    /// the index and the tree) holds.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        self.tree.check_invariants();
        self.scores.check_invariants();
        assert_eq!(
            self.scores.len(),
            self.tree.len(),
            "index and tree sizes differ"
        );
        let mut heap = 0;
        for (score, member) in self.tree.iter() {
            let indexed = self.score(member).expect("tree member missing from index");
            assert_eq!(
                indexed.to_bits(),
                score.to_bits(),
                "index and tree scores differ"
            );
            if member.len() > INLINE_BYTES_MAX {
                heap += member.len() as u64;
            }
        }
        assert_eq!(heap, self.heap_member_bytes, "heap member bytes drifted");
    }
}

impl Clone for Indexed {
    /// The index has no `Clone`; rebuild both halves from the tree's
    /// order (an ascending rebuild, so leaves come out full).
    fn clone(&self) -> Indexed {
        Indexed::from_sorted(self.tree.iter())
    }
}
