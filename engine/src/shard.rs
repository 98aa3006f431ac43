//! One shard of one database: its keys, their expiry index and its share of
//! the memory estimate.
//!
//! All mutation goes through the methods here so that the side structures
//! never drift from the entries. A shard is always used under its
//! `parking_lot::Mutex` (see `engine.rs`); nothing here locks.
//!
//! Invariants (checked by [`Shard::check_invariants`]):
//! - `expiries` holds exactly one `(at, key)` for every entry whose
//!   `expires_at_ms` is `Some(at)`, and nothing else.
//! - `used_bytes` is the sum of [`entry_cost_bytes`] over the entries, and
//!   the engine-wide `Counters::used_memory_bytes` is the sum over shards.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::key::{KeyLike, KeyRef, StoredKey};
use crate::{Entry, Value};

/// The fixed cost charged per key on top of its bytes: map node share,
/// `Entry`, `Bytes` headers. An estimate; `INFO` reports it as used memory.
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 80;
/// The extra cost of a key with an expiry (its expiry index node).
pub(crate) const EXPIRY_OVERHEAD_BYTES: u64 = 48;

/// Engine-wide counters that shards update as they change.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Sum of every shard's `used_bytes`.
    pub(crate) used_memory_bytes: AtomicU64,
    /// Keys removed because they were expired (active or lazy expiry).
    pub(crate) expired_keys: AtomicU64,
}

/// Bytes a value holds, for the memory estimate.
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

/// The keys of one shard.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Every stored key, in (hash, bytes) order, including keys that are
    /// expired but not yet removed.
    entries: BTreeMap<StoredKey, Entry>,
    /// `(expires_at_ms, key)` for each entry with an expiry, so active
    /// expiry finds due keys without a walk and `expires` is O(1).
    expiries: BTreeSet<(u64, StoredKey)>,
    /// This shard's part of the memory estimate.
    used_bytes: u64,
    /// Where memory and expiry totals are published for `INFO`.
    counters: Arc<Counters>,
}

impl Shard {
    pub(crate) fn new(counters: Arc<Counters>) -> Shard {
        Shard {
            entries: BTreeMap::new(),
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
        self.entries.get(&key as &dyn KeyLike)
    }

    /// The entry of `key` unless it is missing or expired at `now_ms`.
    #[inline]
    pub(crate) fn get_live(&self, key: KeyRef<'_>, now_ms: u64) -> Option<&Entry> {
        self.get(key).filter(|entry| !entry.is_expired(now_ms))
    }

    /// Removes `key` if it is expired at `now_ms`, as every write does
    /// before it looks at a key. Returns whether it removed it.
    pub(crate) fn purge_if_expired(&mut self, key: KeyRef<'_>, now_ms: u64) -> bool {
        let expired = self.get(key).is_some_and(|entry| entry.is_expired(now_ms));
        if expired {
            self.remove(key);
            self.counters.expired_keys.fetch_add(1, Ordering::Relaxed);
        }
        expired
    }

    /// Stores `entry` under `key` (whose owned bytes are `owned`),
    /// replacing and returning any old entry. An existing key is updated in
    /// place, so overwriting costs one lookup.
    pub(crate) fn insert(&mut self, key: KeyRef<'_>, owned: &Bytes, entry: Entry) -> Option<Entry> {
        debug_assert_eq!(key.key, &owned[..], "insert key mismatch");
        let new_cost = entry_cost_bytes(owned.len(), &entry);
        let new_expiry = entry.expires_at_ms;
        let old = match self.entries.get_mut(&key as &dyn KeyLike) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                let stored = StoredKey::new(key.hash, owned.clone());
                self.entries.insert(stored, entry);
                None
            }
        };
        let old_expiry = old.as_ref().and_then(|entry| entry.expires_at_ms);
        if old_expiry != new_expiry {
            let stored = StoredKey::new(key.hash, owned.clone());
            if let Some(at) = old_expiry {
                let removed = self.expiries.remove(&(at, stored.clone()));
                assert!(removed, "expiry index lost a key");
            }
            if let Some(at) = new_expiry {
                self.expiries.insert((at, stored));
            }
        }
        if let Some(old) = &old {
            self.sub_cost(entry_cost_bytes(owned.len(), old));
        }
        self.add_cost(new_cost);
        old
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: KeyRef<'_>) -> Option<Entry> {
        let (stored, entry) = self.entries.remove_entry(&key as &dyn KeyLike)?;
        if let Some(at) = entry.expires_at_ms {
            let removed = self.expiries.remove(&(at, stored.clone()));
            assert!(removed, "expiry index lost a key");
        }
        self.sub_cost(entry_cost_bytes(stored.key().len(), &entry));
        Some(entry)
    }

    /// Sets or clears the expiry of an existing key. Returns false if the
    /// key is missing.
    pub(crate) fn set_expiry(&mut self, key: KeyRef<'_>, expires_at_ms: Option<u64>) -> bool {
        let Some((stored, entry)) = self.entries.get_key_value(&key as &dyn KeyLike) else {
            return false;
        };
        let old = entry.expires_at_ms;
        if old == expires_at_ms {
            return true;
        }
        let stored = stored.clone();
        if let Some(at) = old {
            let removed = self.expiries.remove(&(at, stored.clone()));
            assert!(removed, "expiry index lost a key");
            self.sub_cost(EXPIRY_OVERHEAD_BYTES);
        }
        if let Some(at) = expires_at_ms {
            self.expiries.insert((at, stored.clone()));
            self.add_cost(EXPIRY_OVERHEAD_BYTES);
        }
        let entry = self
            .entries
            .get_mut(&stored as &dyn KeyLike)
            .expect("key vanished under the lock");
        entry.expires_at_ms = expires_at_ms;
        true
    }

    /// Changes the value of an existing key in place (its expiry is kept),
    /// keeping the memory estimate right. Returns `None` if the key is
    /// missing.
    pub(crate) fn update_value<R>(
        &mut self,
        key: KeyRef<'_>,
        change: impl FnOnce(&mut Value) -> R,
    ) -> Option<R> {
        let entry = self.entries.get_mut(&key as &dyn KeyLike)?;
        let before = value_bytes(&entry.value);
        let result = change(&mut entry.value);
        let after = value_bytes(&entry.value);
        self.sub_cost(before);
        self.add_cost(after);
        Some(result)
    }

    /// Keys from hash position `hash` onwards, in (hash, bytes) order.
    pub(crate) fn range_from(&self, hash: u64) -> impl Iterator<Item = (&StoredKey, &Entry)> + '_ {
        let start = KeyRef::position(hash);
        self.entries
            .range::<dyn KeyLike, _>((Bound::Included(&start as &dyn KeyLike), Bound::Unbounded))
    }

    /// Every key in (hash, bytes) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&StoredKey, &Entry)> + '_ {
        self.entries.iter()
    }

    /// Keys whose expiry is `<= now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: u64) -> impl Iterator<Item = &Bytes> + '_ {
        self.expiries
            .iter()
            .take_while(move |(at, _)| *at <= now_ms)
            .map(|(_, key)| key.key())
    }

    /// Empties the shard and hands back its maps, so the caller can drop
    /// them after releasing the lock.
    pub(crate) fn take_all(&mut self) -> (BTreeMap<StoredKey, Entry>, BTreeSet<(u64, StoredKey)>) {
        let used = std::mem::take(&mut self.used_bytes);
        self.counters
            .used_memory_bytes
            .fetch_sub(used, Ordering::Relaxed);
        (
            std::mem::take(&mut self.entries),
            std::mem::take(&mut self.expiries),
        )
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

    /// Panics if the expiry index or the memory estimate disagree with the
    /// entries. O(n): for tests and debugging.
    pub(crate) fn check_invariants(&self) {
        let mut with_expiry = 0;
        let mut used = 0;
        for (key, entry) in &self.entries {
            used += entry_cost_bytes(key.key().len(), entry);
            if let Some(at) = entry.expires_at_ms {
                with_expiry += 1;
                assert!(
                    self.expiries.contains(&(at, key.clone())),
                    "key {:?} with expiry {at} missing from the expiry index",
                    key.key()
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
