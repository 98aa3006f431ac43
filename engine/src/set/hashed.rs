//! The table encoding: a large set's members in the engine's ordered hash
//! table ([`Table`]), keyed by their xxh3 hash (Redis's `hashtable`).
//!
//! The table iterates in (hash, member) order, a pure function of the
//! members, whatever the table's capacity history; so do `SSCAN` cursors
//! (a cursor is the hash to resume from) and the random picks of `SPOP`
//! (the first member at or after a random hash, wrapping around).
//!
//! Invariants:
//! - Every member is stored under `key_hash(member)`.
//! - `heap_bytes` is the sum of the lengths of the members too long to be
//!   held inline in their slot.

use crate::table::{estimated_bytes, Table};
use crate::{key_hash, SmallBytes, INLINE_BYTES_MAX};

/// Members in an ordered hash table.
#[derive(Debug)]
pub(super) struct Hashed {
    /// The members, with no values.
    table: Table<()>,
    /// Bytes of the members held on the heap (longer than inline).
    heap_bytes: u64,
}

impl Default for Hashed {
    fn default() -> Hashed {
        Hashed {
            table: Table::new(0, 0),
            heap_bytes: 0,
        }
    }
}

impl Clone for Hashed {
    fn clone(&self) -> Hashed {
        let mut copy = Hashed::default();
        for (_, member, ()) in self.table.iter() {
            copy.insert(member);
        }
        copy
    }
}

impl PartialEq for Hashed {
    fn eq(&self, other: &Hashed) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// The heap bytes `member` costs when stored.
fn heap_cost(member: &[u8]) -> u64 {
    if member.len() > INLINE_BYTES_MAX {
        member.len() as u64
    } else {
        0
    }
}

impl Hashed {
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn memory_bytes(&self) -> u64 {
        estimated_bytes::<()>(self.table.len()) + self.heap_bytes
    }

    /// Every member, in (hash, member) order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.table.iter().map(|(_, member, ())| &member[..])
    }

    pub(super) fn contains(&self, member: &[u8]) -> bool {
        self.table.get(key_hash(member), member).is_some()
    }

    /// Adds `member`; returns whether it was new.
    pub(super) fn insert(&mut self, member: &[u8]) -> bool {
        match self.table.find(key_hash(member), member) {
            Ok(_) => false,
            Err(vacant) => {
                self.heap_bytes += heap_cost(member);
                self.table.insert_at(vacant, SmallBytes::from(member), ());
                true
            }
        }
    }

    /// Adds `member`, sharing its buffer if it is long; returns whether it
    /// was new.
    pub(super) fn insert_shared(&mut self, member: &bytes::Bytes) -> bool {
        match self.table.find(key_hash(member), member) {
            Ok(_) => false,
            Err(vacant) => {
                self.heap_bytes += heap_cost(member);
                self.table
                    .insert_at(vacant, SmallBytes::from_shared(member), ());
                true
            }
        }
    }

    /// Removes `member`; returns whether it was there.
    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        match self.table.find(key_hash(member), member) {
            Ok(found) => {
                self.heap_bytes -= heap_cost(member);
                self.table.remove_at(found);
                true
            }
            Err(_) => false,
        }
    }

    /// The member a random draw of `hash` picks: the first at or after
    /// `hash`, wrapping around to the first member. The set is not empty.
    pub(super) fn at_hash(&self, hash: u64) -> &[u8] {
        let (_, member, ()) = self
            .table
            .iter_from(hash)
            .next()
            .or_else(|| self.table.iter().next())
            .expect("a random pick from an empty table");
        member
    }

    /// Removes the member `at_hash(hash)` picks and returns it.
    pub(super) fn remove_at_hash(&mut self, hash: u64) -> SmallBytes {
        let member = SmallBytes::from(self.at_hash(hash));
        assert!(self.remove(&member), "picked member vanished");
        member
    }

    /// `SSCAN` from `cursor`: visits members in (hash, member) order until
    /// `count` are examined, never stopping inside a run of equal hashes;
    /// returns the hash to resume from, or 0 when done.
    pub(super) fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        let mut last_hash = None;
        for (examined, (hash, member, ())) in self.table.iter_from(cursor).enumerate() {
            if examined >= count && last_hash != Some(hash) {
                return hash;
            }
            last_hash = Some(hash);
            visit(member);
        }
        0
    }
}
