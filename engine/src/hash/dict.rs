//! The table encoding of a large hash (Redis's "hashtable"): fields in the
//! engine's ordered hash table, keyed by `key_hash(field)`.
//!
//! The table iterates in (hash, field bytes) order, a pure function of the
//! contents, so `HSCAN` cursors are hash positions that stay valid across
//! writes, and a restored node iterates exactly as one that applied every
//! write.
//!
//! Invariants:
//! - `heap_bytes` is the sum of [`heap_cost`] over every field and value.
//! - The table's own invariants hold (`table.rs`); its prefix is empty.

use crate::key_hash;
use crate::table::{estimated_bytes, Table};
use crate::{SmallBytes, INLINE_BYTES_MAX};

/// What a malloc'ed block of `len` bytes costs with glibc's allocator: the
/// size word, rounded up to 16 bytes, at least 32.
pub(crate) fn malloc_cost(len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    (len as u64 + 8).next_multiple_of(16).max(32)
}

/// Heap bytes a stored string of `len` bytes holds beyond its slot.
fn heap_cost(len: usize) -> u64 {
    if len > INLINE_BYTES_MAX {
        malloc_cost(len)
    } else {
        0
    }
}

/// A large hash.
#[derive(Debug)]
pub(crate) struct Dict {
    /// Field -> value, in (hash, field) order.
    table: Table<SmallBytes>,
    /// Heap bytes of fields and values too long to be inline.
    heap_bytes: u64,
}

impl Default for Dict {
    fn default() -> Dict {
        Dict {
            table: Table::new(0, 0),
            heap_bytes: 0,
        }
    }
}

impl Clone for Dict {
    fn clone(&self) -> Dict {
        let mut copy = Dict::default();
        for (field, value) in self.iter() {
            copy.insert(field, SmallBytes::from(value));
        }
        copy
    }
}

impl Dict {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// An estimate of the heap bytes: the table at the size it grows to
    /// for this many entries, plus the long strings. A function of the
    /// contents, so O(1) and the same on every node.
    pub(crate) fn memory_bytes(&self) -> u64 {
        estimated_bytes::<SmallBytes>(self.len()) + self.heap_bytes
    }

    /// Every (hash, field, value) whose hash is `>= from_hash`, in order.
    pub(crate) fn iter_from(&self, from_hash: u64) -> impl Iterator<Item = (u64, &[u8], &[u8])> {
        self.table
            .iter_from(from_hash)
            .map(|(hash, field, value)| (hash, &field[..], &value[..]))
    }

    /// Every (field, value) in (hash, field) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter_from(0).map(|(_, field, value)| (field, value))
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.table
            .get(key_hash(field), field)
            .map(|value| &value[..])
    }

    /// Sets `field` to `value`; returns whether the field is new.
    pub(crate) fn insert(&mut self, field: &[u8], value: SmallBytes) -> bool {
        self.heap_bytes += heap_cost(value.len());
        match self.table.find(key_hash(field), field) {
            Ok(found) => {
                let old = std::mem::replace(self.table.value_mut(found), value);
                self.heap_bytes -= heap_cost(old.len());
                false
            }
            Err(vacant) => {
                self.heap_bytes += heap_cost(field.len());
                self.table.insert_at(vacant, field, value);
                true
            }
        }
    }

    /// Removes `field`; returns whether it was there.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        let Ok(found) = self.table.find(key_hash(field), field) else {
            return false;
        };
        let ((field, value), _) = self.table.remove_at(found);
        self.heap_bytes -= heap_cost(field.len()) + heap_cost(value.len());
        true
    }

    /// Panics unless the invariants hold; O(n), for tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.table.check_invariants();
        let heap: u64 = self
            .iter()
            .map(|(field, value)| heap_cost(field.len()) + heap_cost(value.len()))
            .sum();
        assert_eq!(heap, self.heap_bytes, "heap bytes drifted");
    }
}
