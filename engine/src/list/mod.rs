//! Lists: a key's sequence of elements (`LPUSH`, `LRANGE`, `LMOVE`, ...).
//!
//! A list is a `VecDeque` of [`SmallBytes`]: pushing and popping at either
//! end is O(1), and so is reaching an element by index (`LINDEX`, `LSET`,
//! the start of an `LRANGE`). Short elements live inline in the deque's
//! slots, so `LPUSH` of a short element allocates nothing per element
//! beyond the deque's own growth. Redis 7.0 stores every list as a
//! quicklist, so `OBJECT ENCODING` always answers `quicklist`.
//!
//! Invariants:
//! - `bytes` is the sum of the elements' lengths (the memory estimate);
//!   every mutation below keeps it so, and `check` (tests) recomputes it.
//! - A stored list is never empty: the writes that remove elements delete
//!   the key when they empty it (see `ops.rs`).

mod ops;
mod read;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::SmallBytes;

pub use ops::ListOp;
pub(crate) use read::clamp_range;

/// A list value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    /// The elements, head first.
    items: VecDeque<SmallBytes>,
    /// Sum of the elements' lengths.
    bytes: u64,
}

impl List {
    /// A list of `items`, head first.
    pub fn from_items(items: impl IntoIterator<Item = Bytes>) -> List {
        let mut list = List::default();
        for item in items {
            list.push_back(SmallBytes::from(item));
        }
        list
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held by the elements, for the memory estimate.
    pub fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// The elements, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.iter().map(|item| &item[..])
    }

    /// The elements from index `first` to `last` inclusive (both in range),
    /// reached without walking the ones before `first`.
    pub fn range(
        &self,
        first: usize,
        last: usize,
    ) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.range(first..=last).map(|item| &item[..])
    }

    /// The element at `index` (in range or not).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|item| &item[..])
    }

    pub fn push_front(&mut self, item: SmallBytes) {
        self.bytes += item.len() as u64;
        self.items.push_front(item);
    }

    pub fn push_back(&mut self, item: SmallBytes) {
        self.bytes += item.len() as u64;
        self.items.push_back(item);
    }

    /// Pushes `item` at the head (`left`) or the tail.
    pub fn push(&mut self, item: SmallBytes, left: bool) {
        if left {
            self.push_front(item);
        } else {
            self.push_back(item);
        }
    }

    /// Removes and returns the head (`left`) or tail element.
    pub fn pop(&mut self, left: bool) -> Option<SmallBytes> {
        let item = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }?;
        self.bytes -= item.len() as u64;
        Some(item)
    }

    /// Replaces the element at `index` (which must be in range).
    pub(crate) fn set(&mut self, index: usize, item: SmallBytes) {
        let slot = &mut self.items[index];
        self.bytes = self.bytes - slot.len() as u64 + item.len() as u64;
        *slot = item;
    }

    /// Inserts `item` before the element at `index` (`index == len`
    /// appends). O(min(index, len - index)).
    pub(crate) fn insert(&mut self, index: usize, item: SmallBytes) {
        self.bytes += item.len() as u64;
        self.items.insert(index, item);
    }

    /// The index of the first element equal to `item`, head first.
    pub(crate) fn position(&self, item: &[u8]) -> Option<usize> {
        self.items.iter().position(|each| each.eq_slice(item))
    }

    /// Keeps only the elements from `first` to `last` inclusive (both in
    /// range, `first <= last`). O(elements removed).
    pub(crate) fn keep_range(&mut self, first: usize, last: usize) {
        let tail: u64 = self.items.range(last + 1..).map(|i| i.len() as u64).sum();
        let head: u64 = self.items.range(..first).map(|i| i.len() as u64).sum();
        self.items.truncate(last + 1);
        self.items.drain(..first);
        self.bytes -= head + tail;
    }

    /// Removes every element.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    /// Removes the elements equal to `item`: the first `count` from the
    /// head if `count > 0`, the last `-count` from the tail if `count < 0`,
    /// every one if `count == 0`. Returns how many it removed. O(len).
    pub(crate) fn remove_matching(&mut self, item: &[u8], count: i64) -> usize {
        // The index range the removals are confined to: up to the
        // `count`-th match from the head, or from the `-count`-th match
        // from the tail, so one pass over the deque removes exactly those.
        let limit = count.unsigned_abs() as usize;
        let matches = |(_, each): &(usize, &SmallBytes)| each.eq_slice(item);
        let (low, high) = match count {
            0 => (0, usize::MAX),
            1.. => {
                let nth = self.items.iter().enumerate().filter(matches).nth(limit - 1);
                (0, nth.map_or(usize::MAX, |(at, _)| at))
            }
            _ => {
                let mut found = self.items.iter().enumerate().rev().filter(matches);
                (found.nth(limit - 1).map_or(0, |(at, _)| at), usize::MAX)
            }
        };
        let (mut at, mut removed, mut removed_bytes) = (0usize, 0usize, 0u64);
        self.items.retain(|each| {
            let remove = (low..=high).contains(&at) && each.eq_slice(item);
            at += 1;
            if remove {
                removed += 1;
                removed_bytes += each.len() as u64;
            }
            !remove
        });
        self.bytes -= removed_bytes;
        removed
    }

    /// Panics unless `bytes` is the sum of the elements' lengths.
    #[cfg(test)]
    fn check(&self) {
        let sum: u64 = self.items.iter().map(|item| item.len() as u64).sum();
        assert_eq!(self.bytes, sum, "list byte total drifted");
    }

    /// The list as a run record.
    pub(crate) fn to_record(&self) -> ListRecord {
        ListRecord {
            items: self.items.iter().map(SmallBytes::to_bytes).collect(),
        }
    }

    /// The list an archived record holds; `bytes` turns archived bytes
    /// into a `Bytes` (a slice of the mapping, or a copy).
    pub(crate) fn from_archived(
        record: &ArchivedListRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> List {
        List::from_items(record.items.iter().map(|item| bytes(item)))
    }
}

/// A list in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct ListRecord {
    /// The elements, head first.
    pub(crate) items: Vec<Bytes>,
}

#[cfg(test)]
mod tests;
