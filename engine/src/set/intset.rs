//! The intset encoding: a set whose members are all integers in canonical
//! form, held as a sorted array of `i64` (Redis's `intset`).
//!
//! Invariants:
//! - `ints` is strictly ascending (so unique); a member's bytes are the
//!   decimal form of its integer, which `parse_i64_strict` maps back to it.
//! - `rendered` is either empty or the length-prefixed decimal forms of
//!   `ints`, in order; every change clears it.

use std::sync::OnceLock;

use super::packed::PackedIter;
use crate::parse_i64_strict;

/// A sorted array of integers.
#[derive(Debug, Clone, Default)]
pub(super) struct IntSet {
    /// The members, ascending.
    ints: Vec<i64>,
    /// The members' decimal forms, made on demand for [`super::Set::iter`]
    /// (which must hand out byte slices); cleared on every change.
    rendered: OnceLock<Box<[u8]>>,
}

impl PartialEq for IntSet {
    fn eq(&self, other: &IntSet) -> bool {
        self.ints == other.ints
    }
}

impl IntSet {
    /// An intset of `ints`, which must be strictly ascending.
    pub(super) fn from_sorted(ints: Vec<i64>) -> IntSet {
        assert!(
            ints.windows(2).all(|pair| pair[0] < pair[1]),
            "intset members out of order"
        );
        IntSet {
            ints,
            rendered: OnceLock::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ints.len()
    }

    /// The members, ascending.
    pub(super) fn ints(&self) -> &[i64] {
        &self.ints
    }

    pub(super) fn memory_bytes(&self) -> u64 {
        (self.ints.len() * std::mem::size_of::<i64>()) as u64
    }

    pub(super) fn contains_int(&self, value: i64) -> bool {
        self.ints.binary_search(&value).is_ok()
    }

    pub(super) fn contains(&self, member: &[u8]) -> bool {
        parse_i64_strict(member).is_some_and(|value| self.contains_int(value))
    }

    /// Adds `value`; returns whether it was new.
    pub(super) fn insert(&mut self, value: i64) -> bool {
        match self.ints.binary_search(&value) {
            Ok(_) => false,
            Err(index) => {
                self.ints.insert(index, value);
                self.rendered = OnceLock::new();
                true
            }
        }
    }

    /// Removes `member`; returns whether it was there.
    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        let Some(value) = parse_i64_strict(member) else {
            return false;
        };
        match self.ints.binary_search(&value) {
            Ok(index) => {
                self.remove_at(index);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes and returns the `index`-th smallest member.
    pub(super) fn remove_at(&mut self, index: usize) -> i64 {
        self.rendered = OnceLock::new();
        self.ints.remove(index)
    }

    /// The members' decimal forms as byte slices, rendered once.
    pub(super) fn rendered(&self) -> PackedIter<'_> {
        let buffer = self.rendered.get_or_init(|| {
            let mut buffer = Vec::with_capacity(self.ints.len() * 4);
            let mut digits = itoa::Buffer::new();
            for &value in &self.ints {
                let text = digits.format(value).as_bytes();
                buffer.push(text.len() as u8);
                buffer.extend_from_slice(text);
            }
            buffer.into_boxed_slice()
        });
        PackedIter::new(buffer)
    }
}
