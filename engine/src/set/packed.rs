//! The packed encoding: a small set's members in one byte buffer, each
//! prefixed by its length, in insertion order (Redis 7.2's `listpack` set).
//!
//! One allocation holds the whole set, and a lookup is a linear walk over
//! at most `PACKED_ENTRIES_MAX` short members, which is about as fast as a
//! hash probe at this size.
//!
//! Invariants:
//! - `buffer` is a sequence of `[len: u8][len bytes]` records, nothing
//!   else; `len` counts them; members are unique and at most
//!   `PACKED_VALUE_MAX` bytes long (so a length fits in the `u8`).

use super::PACKED_VALUE_MAX;

/// Length-prefixed members in one buffer.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Packed {
    /// The records, in insertion order.
    buffer: Vec<u8>,
    /// Records in `buffer`.
    len: usize,
}

impl Packed {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn memory_bytes(&self) -> u64 {
        self.buffer.len() as u64
    }

    pub(super) fn iter(&self) -> PackedIter<'_> {
        PackedIter::new(&self.buffer)
    }

    /// The byte offset of `member`'s record.
    fn find(&self, member: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < self.buffer.len() {
            let len = usize::from(self.buffer[at]);
            if &self.buffer[at + 1..at + 1 + len] == member {
                return Some(at);
            }
            at += 1 + len;
        }
        None
    }

    pub(super) fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Appends `member`, which must be absent and short enough.
    pub(super) fn push(&mut self, member: &[u8]) {
        assert!(member.len() <= PACKED_VALUE_MAX, "packed member too long");
        debug_assert!(!self.contains(member), "duplicate packed member");
        self.buffer.push(member.len() as u8);
        self.buffer.extend_from_slice(member);
        self.len += 1;
    }

    /// Removes `member`; returns whether it was there.
    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        let Some(at) = self.find(member) else {
            return false;
        };
        self.remove_record(at);
        true
    }

    fn remove_record(&mut self, at: usize) {
        let len = usize::from(self.buffer[at]);
        self.buffer.drain(at..at + 1 + len);
        self.len -= 1;
    }

    /// The offset of the `index`-th record.
    fn offset_of(&self, index: usize) -> usize {
        assert!(index < self.len, "packed index out of range");
        let mut at = 0;
        for _ in 0..index {
            at += 1 + usize::from(self.buffer[at]);
        }
        at
    }

    /// The `index`-th member.
    pub(super) fn nth(&self, index: usize) -> &[u8] {
        let at = self.offset_of(index);
        let len = usize::from(self.buffer[at]);
        &self.buffer[at + 1..at + 1 + len]
    }

    /// Removes and returns the `index`-th member.
    pub(super) fn remove_nth(&mut self, index: usize) -> crate::SmallBytes {
        let at = self.offset_of(index);
        let len = usize::from(self.buffer[at]);
        let member = crate::SmallBytes::from(&self.buffer[at + 1..at + 1 + len]);
        self.remove_record(at);
        member
    }
}

/// Walks a buffer of length-prefixed records.
#[derive(Debug, Clone)]
pub(crate) struct PackedIter<'a> {
    rest: &'a [u8],
}

impl<'a> PackedIter<'a> {
    pub(super) fn new(buffer: &'a [u8]) -> PackedIter<'a> {
        PackedIter { rest: buffer }
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.rest.split_first()?;
        let (member, rest) = rest.split_at(usize::from(len));
        self.rest = rest;
        Some(member)
    }
}
