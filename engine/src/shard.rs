//! One shard of one database: its keys, their expiry index and its share of
//! the memory estimate.
//!
//! All mutation goes through the methods here so that the side structures
//! never drift from the entries. A shard is always used under its
//! `parking_lot::Mutex` (see `engine.rs`); nothing here locks.
//!
//! The keys live in an ordered hash [`Table`]. A write looks its key up
//! once with [`Shard::find_for_write`] (which also removes the key if it has
//! expired) and then reads, replaces, inserts or removes at the handle it
//! got back, so a `SET` or an `INCR` costs one probe.
//!
//! Invariants (checked by [`Shard::check_invariants`]):
//! - `expiries` holds exactly one `(at, key)` for every entry whose
//!   `expires_at_ms` is `Some(at)`, and nothing else.
//! - `used_bytes` is the sum of [`entry_cost_bytes`] over the entries, and
//!   the engine-wide `Counters::used_memory_bytes` is the sum over shards.
//! - The table's own invariants hold (see `table.rs`): entries are in
//!   (hash, key bytes) order, which `SCAN` walks.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::key::{KeyRef, StoredKey};
use crate::table::{Found, Table, Vacant};
use crate::{Entry, SmallBytes, Value};

/// The fixed cost charged per key on top of its key and value bytes; `INFO`
/// reports the sum as used memory. A table slot is 96 bytes (an 8-byte
/// hash, then the key, `Entry` and a short string's bytes, all inline),
/// and the table's load runs from 0.425 (just grown) to 0.85, so a key
/// costs 113 to 226 bytes of slots, 163 on average over the growth cycle.
/// Measured: 1M keys of 16 bytes with 3-byte values grow the RSS by 204
/// bytes a key at load 0.48, and 1.4M by 146 at load 0.67. So a short key
/// and value cost 163 in all, which is 144 plus their 19 bytes. A long key
/// or value (a heap `Bytes`) is charged its length, not its allocation.
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 144;
/// The extra cost of a key with an expiry: its `(at, hash, key)` of 48
/// bytes in the expiry index's B-tree, whose nodes are partly empty.
/// Measured: 75 bytes a key when expiries arrive in random order, 94 when
/// they arrive in ascending order (one TTL for all keys).
pub(crate) const EXPIRY_OVERHEAD_BYTES: u64 = 80;

/// Engine-wide counters that shards update as they change.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Sum of every shard's `used_bytes`.
    pub(crate) used_memory_bytes: AtomicU64,
    /// Keys removed because they were expired (active or lazy expiry).
    pub(crate) expired_keys: AtomicU64,
}

/// Bytes a value holds, for the memory estimate.
#[inline]
pub(crate) fn value_bytes(value: &Value) -> u64 {
    let total = match value {
        Value::Str(bytes) => bytes.len(),
        Value::List(items) => items.iter().map(Bytes::len).sum(),
        Value::Hash(pairs) => pairs.iter().map(|(f, v)| f.len() + v.len()).sum(),
        Value::Set(items) => items.iter().map(Bytes::len).sum(),
        Value::ZSet(items) => items.iter().map(|(_, m)| m.len() + 8).sum(),
    };
    total as u64
}

/// The estimated cost of one stored key.
pub(crate) fn entry_cost_bytes(key_len: usize, entry: &Entry) -> u64 {
    let expiry = if entry.expires_at_ms.is_some() {
        EXPIRY_OVERHEAD_BYTES
    } else {
        0
    };
    key_len as u64 + value_bytes(&entry.value) + ENTRY_OVERHEAD_BYTES + expiry
}

/// Where a write's key is ([`Found`]), or where it would be inserted
/// ([`Vacant`]); from [`Shard::find_for_write`].
pub(crate) type Place = Result<Found, Vacant>;

/// The keys of one shard.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Every stored key, in (hash, bytes) order, including keys that are
    /// expired but not yet removed.
    entries: Table<Entry>,
    /// `(expires_at_ms, key)` for each entry with an expiry, so active
    /// expiry finds due keys without a walk and `expires` is O(1).
    expiries: BTreeSet<(u64, StoredKey)>,
    /// This shard's part of the memory estimate.
    used_bytes: u64,
    /// Where memory and expiry totals are published for `INFO`.
    counters: Arc<Counters>,
}

impl Shard {
    /// An empty shard for keys whose hashes start with the `prefix_bits`
    /// bits `prefix` (the shard's index in its database).
    pub(crate) fn new(counters: Arc<Counters>, prefix_bits: u32, prefix: u64) -> Shard {
        Shard {
            entries: Table::new(prefix_bits, prefix),
            expiries: BTreeSet::new(),
            used_bytes: 0,
            counters,
        }
    }

    /// Keys stored, expired or not (as Redis `DBSIZE`).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys with an expiry.
    pub(crate) fn expires_len(&self) -> usize {
        self.expiries.len()
    }

    /// The entry of `key`, even if it is expired.
    #[inline]
    pub(crate) fn get(&self, key: KeyRef<'_>) -> Option<&Entry> {
        self.entries.get(key.hash, key.key)
    }

    /// The entry of `key` unless it is missing or expired at `now_ms`.
    #[inline]
    pub(crate) fn get_live(&self, key: KeyRef<'_>, now_ms: u64) -> Option<&Entry> {
        self.get(key).filter(|entry| !entry.is_expired(now_ms))
    }

    /// Looks `key` up for a write at `now_ms`, in one probe: if it is
    /// stored but expired, it is removed first (as every write does before
    /// it looks at a key), and the result is where it would go.
    #[inline]
    pub(crate) fn find_for_write(&mut self, key: KeyRef<'_>, now_ms: u64) -> Place {
        let found = self.entries.find(key.hash, key.key)?;
        self.purge_found(found, now_ms)
    }

    /// Removes `key` if it is expired at `now_ms`. Returns whether it
    /// removed it.
    pub(crate) fn purge_if_expired(&mut self, key: KeyRef<'_>, now_ms: u64) -> bool {
        let place = self.entries.find(key.hash, key.key);
        place.is_ok_and(|found| self.purge_found(found, now_ms).is_err())
    }

    /// Removes the entry at `found` if it is expired at `now_ms`.
    fn purge_found(&mut self, found: Found, now_ms: u64) -> Place {
        if !self.entry(found).is_expired(now_ms) {
            return Ok(found);
        }
        let (_, vacant) = self.remove_at(found);
        self.counters.expired_keys.fetch_add(1, Ordering::Relaxed);
        Err(vacant)
    }

    /// The entry at `found`.
    #[inline]
    pub(crate) fn entry(&self, found: Found) -> &Entry {
        self.entries.value(found)
    }

    /// Stores `entry` under `key` (whose owned bytes are `owned`),
    /// replacing and returning any old entry.
    pub(crate) fn insert(&mut self, key: KeyRef<'_>, owned: &Bytes, entry: Entry) -> Option<Entry> {
        debug_assert_eq!(key.key, &owned[..], "insert key mismatch");
        let place = self.entries.find(key.hash, key.key);
        self.put(place, owned, entry)
    }

    /// Stores `entry` at `place`: replaces the entry found there, or
    /// inserts `key` where it was missing. Returns the replaced entry.
    #[inline]
    pub(crate) fn put(&mut self, place: Place, key: &Bytes, entry: Entry) -> Option<Entry> {
        match place {
            Ok(found) => Some(self.replace_at(found, entry)),
            Err(vacant) => {
                self.insert_at(vacant, key, entry);
                None
            }
        }
    }

    /// Inserts the missing `key` at `vacant`. A short key is copied into
    /// the table slot; a long one shares the caller's buffer.
    pub(crate) fn insert_at(&mut self, vacant: Vacant, key: &Bytes, entry: Entry) -> Found {
        debug_assert_eq!(vacant.hash(), crate::key_hash(key), "insert key mismatch");
        let key = SmallBytes::from_shared(key);
        self.add_cost(entry_cost_bytes(key.len(), &entry));
        if let Some(at) = entry.expires_at_ms {
            let stored = StoredKey::new(vacant.hash(), key.clone());
            let added = self.expiries.insert((at, stored));
            assert!(added, "expiry index already had a new key");
        }
        self.entries.insert_at(vacant, key, entry)
    }

    /// Replaces the entry at `found`, returning the old one.
    pub(crate) fn replace_at(&mut self, found: Found, entry: Entry) -> Entry {
        let key_len = self.entries.slot(found).1.len();
        let new_cost = entry_cost_bytes(key_len, &entry);
        let new_expiry = entry.expires_at_ms;
        let old = std::mem::replace(self.entries.value_mut(found), entry);
        self.reindex_expiry(found, old.expires_at_ms, new_expiry);
        self.adjust_cost(entry_cost_bytes(key_len, &old), new_cost);
        old
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: KeyRef<'_>) -> Option<Entry> {
        let found = self.entries.find(key.hash, key.key).ok()?;
        Some(self.remove_at(found).0)
    }

    /// Removes the entry at `found`, returning it and where its key would
    /// go again.
    pub(crate) fn remove_at(&mut self, found: Found) -> (Entry, Vacant) {
        let ((key, entry), vacant) = self.entries.remove_at(found);
        self.sub_cost(entry_cost_bytes(key.len(), &entry));
        if let Some(at) = entry.expires_at_ms {
            let removed = self
                .expiries
                .remove(&(at, StoredKey::new(vacant.hash(), key)));
            assert!(removed, "expiry index lost a key");
        }
        (entry, vacant)
    }

    /// Sets or clears the expiry of the entry at `found`.
    pub(crate) fn set_expiry_at(&mut self, found: Found, expires_at_ms: Option<u64>) {
        let old = self.entry(found).expires_at_ms;
        self.reindex_expiry(found, old, expires_at_ms);
        let cost = |expiry: Option<u64>| expiry.map_or(0, |_| EXPIRY_OVERHEAD_BYTES);
        self.adjust_cost(cost(old), cost(expires_at_ms));
        self.entries.value_mut(found).expires_at_ms = expires_at_ms;
    }

    /// Changes the value at `found` in place (its expiry is kept), keeping
    /// the memory estimate right.
    pub(crate) fn update_value_at<R>(
        &mut self,
        found: Found,
        change: impl FnOnce(&mut Value) -> R,
    ) -> R {
        let entry = self.entries.value_mut(found);
        let before = value_bytes(&entry.value);
        let result = change(&mut entry.value);
        let after = value_bytes(&entry.value);
        self.adjust_cost(before, after);
        result
    }

    /// Moves the key at `found` in the expiry index from `old` to `new`.
    /// Inline, since most writes leave the expiry alone.
    #[inline]
    fn reindex_expiry(&mut self, found: Found, old: Option<u64>, new: Option<u64>) {
        if old != new {
            self.move_expiry(found, old, new);
        }
    }

    /// `reindex_expiry` for a changed expiry.
    fn move_expiry(&mut self, found: Found, old: Option<u64>, new: Option<u64>) {
        let (hash, key, _) = self.entries.slot(found);
        let stored = StoredKey::new(hash, key.clone());
        if let Some(at) = old {
            let removed = self.expiries.remove(&(at, stored.clone()));
            assert!(removed, "expiry index lost a key");
        }
        if let Some(at) = new {
            let added = self.expiries.insert((at, stored));
            assert!(added, "expiry index listed a key twice");
        }
    }

    /// Keys from hash position `hash` onwards, in (hash, bytes) order, as
    /// (hash, key, entry).
    pub(crate) fn range_from(&self, hash: u64) -> impl Iterator<Item = (u64, &SmallBytes, &Entry)> {
        self.entries.iter_from(hash)
    }

    /// Every key in (hash, bytes) order, as (hash, key, entry).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &SmallBytes, &Entry)> {
        self.entries.iter()
    }

    /// Keys whose expiry is `<= now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: u64) -> impl Iterator<Item = &SmallBytes> + '_ {
        self.expiries
            .iter()
            .take_while(move |(at, _)| *at <= now_ms)
            .map(|(_, key)| key.key())
    }

    /// Empties the shard and hands back its contents, so the caller can
    /// drop them after releasing the lock.
    pub(crate) fn take_all(&mut self) -> (Table<Entry>, BTreeSet<(u64, StoredKey)>) {
        let used = std::mem::take(&mut self.used_bytes);
        self.counters
            .used_memory_bytes
            .fetch_sub(used, Ordering::Relaxed);
        (self.entries.take(), std::mem::take(&mut self.expiries))
    }

    fn add_cost(&mut self, bytes: u64) {
        self.used_bytes += bytes;
        self.counters
            .used_memory_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub_cost(&mut self, bytes: u64) {
        assert!(self.used_bytes >= bytes, "shard memory estimate underflow");
        self.used_bytes -= bytes;
        self.counters
            .used_memory_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Replaces `before` bytes of the estimate with `after`, touching the
    /// shared counter only if they differ (an overwrite of the same size,
    /// the common case, costs nothing).
    fn adjust_cost(&mut self, before: u64, after: u64) {
        match after.cmp(&before) {
            std::cmp::Ordering::Greater => self.add_cost(after - before),
            std::cmp::Ordering::Less => self.sub_cost(before - after),
            std::cmp::Ordering::Equal => {}
        }
    }

    /// Panics if the table, the expiry index or the memory estimate
    /// disagree with the entries. O(n): for tests and debugging.
    pub(crate) fn check_invariants(&self) {
        self.entries.check_invariants();
        let mut with_expiry = 0;
        let mut used = 0;
        for (hash, key, entry) in self.entries.iter() {
            used += entry_cost_bytes(key.len(), entry);
            if let Some(at) = entry.expires_at_ms {
                with_expiry += 1;
                assert!(
                    self.expiries
                        .contains(&(at, StoredKey::new(hash, key.clone()))),
                    "key {key:?} with expiry {at} missing from the expiry index"
                );
            }
        }
        assert_eq!(
            with_expiry,
            self.expiries.len(),
            "stale expiry index entries"
        );
        assert_eq!(used, self.used_bytes, "shard memory estimate drifted");
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ENTRY_OVERHEAD_BYTES` was measured with 96-byte slots; a change of
    /// layout should come with a new measurement.
    #[test]
    fn entry_overhead_matches_the_slot_size() {
        let slot_bytes = crate::table::slot_bytes::<Entry>() as u64;
        assert_eq!(slot_bytes, 96, "re-measure ENTRY_OVERHEAD_BYTES");
        // Average load over the growth cycle: 1 / ln 2 * (1/0.425 - 1/0.85).
        let average_slots_per_key = 1.698;
        let short_key_and_value = (slot_bytes as f64 * average_slots_per_key) as u64;
        assert_eq!(short_key_and_value, ENTRY_OVERHEAD_BYTES + 19);
    }
}
