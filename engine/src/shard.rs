//! One shard of one database: its keys in layers, their expiry index and
//! its share of the memory estimate.
//!
//! All mutation goes through the methods here so that the side structures
//! never drift from the entries. A shard is always used under its
//! `parking_lot::Mutex` (see `engine.rs`); nothing here locks.
//!
//! The keys live in layers (see `layers.rs`): a mutable head, an ordered
//! hash [`Table`], over the frozen heads of snapshots in progress and the
//! run of the last snapshot. Reads look through the layers, newest first.
//! A write looks its key up once with [`Shard::find_for_write`] (which
//! removes the key if it has expired, and copies a key held only by a
//! lower layer up into the head) and then reads, replaces, inserts or
//! removes at the head handle it got back, so a `SET` or an `INCR` costs
//! one probe when there are no lower layers. Deleting a key a lower layer
//! holds leaves a tombstone in the head.
//!
//! Invariants (checked by [`Shard::check_invariants`]):
//! - `expiries` holds exactly one `(at, key)` for every live key (in any
//!   layer) whose expiry is `Some(at)`, and nothing else; `len` counts the
//!   live keys.
//! - `head_bytes` is the sum of [`entry_cost_bytes`] over the head's
//!   entries, `lower_bytes` the frozen layers' costs plus the run's
//!   archive size, `credit_bytes` is `min(shadowed_bytes, lower_bytes)`,
//!   and the engine-wide `Counters::used_memory_bytes` is the sum over
//!   shards of `head_bytes + lower_bytes - credit_bytes`.
//! - A key a lower layer holds that the head copied up (to write or to
//!   delete it) is charged once: its lower record stays in `lower_bytes`
//!   until the next run merges it away, so that record's charge (its
//!   entry's cost in a frozen table, the run's average per record in the
//!   run) is added to `shadowed_bytes`, which the estimate takes off. Without
//!   this, deleting or overwriting keys after a snapshot would lower the
//!   estimate by nothing until the next one, and eviction, which deletes
//!   until the estimate is under `maxmemory`, would empty the keyspace.
//! - The tables' own invariants hold (see `table.rs`): entries are in
//!   (hash, key bytes) order, which `SCAN` walks.
//! - The head never points into a run: what it copies up is copied.
//! - Every live key has an access time (`lru.rs`): in its entry, or for a
//!   key in the run in the run's side array. Reads set it through `&self`
//!   ([`Shard::get_live`]); a write sets it on the key it finds and on
//!   every entry it stores. Nothing else here reads it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::key::{KeyRef, StoredKey};
use crate::layers::{Frozen, Layers, Merged};
use crate::lru::{idle_seconds, lru_clock, lru_for_idle, Lru};
use crate::run::{Materialize, RunShard};
use crate::table::{entry_bytes, Found, Table, Vacant};
use crate::{Entry, SmallBytes, Value, INLINE_BYTES_MAX};

/// The fixed cost charged per key; `INFO` reports the sum over keys as
/// used memory. A key's table entry is 96 bytes (its hash, the key,
/// `Entry` and a short string's bytes, all inline, and the access time
/// with its padding), and the table's slot
/// array adds 8-byte slots at 1.2 to 2.4 a key as it doubles, 13 bytes a
/// key on average over the growth cycle (`table::entry_bytes`). Keys and
/// string values longer than `INLINE_BYTES_MAX` add their length (a heap
/// `Bytes`, charged its length, not its allocation), a collection its
/// `memory_bytes`.
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = entry_bytes::<Entry>();
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
    /// Keys deleted by the leader's `WriteOp::Evict` (Redis's
    /// `evicted_keys`).
    pub(crate) evicted_keys: AtomicU64,
}

/// The estimated cost of one stored key.
pub(crate) fn entry_cost_bytes(key_len: usize, entry: &Entry) -> u64 {
    let expiry = if entry.expires_at_ms().is_some() {
        EXPIRY_OVERHEAD_BYTES
    } else {
        0
    };
    ENTRY_OVERHEAD_BYTES + heap_len(key_len) + value_cost_bytes(&entry.value) + expiry
}

/// The part of a key's cost that its value holds outside the table entry.
fn value_cost_bytes(value: &Value) -> u64 {
    match value {
        Value::Str(bytes) => heap_len(bytes.len()),
        collection => collection.memory_bytes(),
    }
}

/// Bytes a key or string of `len` bytes holds outside its table entry:
/// none when inline.
fn heap_len(len: usize) -> u64 {
    if len > INLINE_BYTES_MAX {
        len as u64
    } else {
        0
    }
}

/// A run's charge per record: its archive size over its keys.
fn run_record_bytes(run: &RunShard) -> u64 {
    run.cost_bytes() / run.len().max(1) as u64
}

/// Where a write's key is ([`Found`]), or where it would be inserted
/// ([`Vacant`]); from [`Shard::find_for_write`].
pub(crate) type Place = Result<Found, Vacant>;

/// What a shard hands back when it is emptied or replaced, to be dropped
/// after its lock is released.
#[must_use = "dropped outside the shard lock"]
pub(crate) struct Contents {
    _entries: Table<Entry>,
    _tombstones: Table<()>,
    _frozen: Vec<Arc<Frozen>>,
    _base: Option<RunShard>,
    _expiries: BTreeSet<(u64, StoredKey)>,
}

/// A shard's lower layers as a snapshot froze them: the frozen tables
/// (newest first) and the run under them.
#[derive(Clone)]
pub(crate) struct FrozenShard {
    pub(crate) frozen: Vec<Arc<Frozen>>,
    pub(crate) base: Option<RunShard>,
}

impl FrozenShard {
    /// The layers to merge into the next run.
    pub(crate) fn layers(&self) -> Layers<'_> {
        Layers {
            head: None,
            frozen: &self.frozen,
            base: self.base.as_ref(),
        }
    }
}

/// The keys of one shard.
pub(crate) struct Shard {
    /// The head: every key written since the last freeze, in (hash, bytes)
    /// order, including keys that are expired but not yet removed.
    entries: Table<Entry>,
    /// Keys the head deleted that a lower layer still holds.
    tombstones: Table<()>,
    /// Frozen heads, newest first, until a run replaces them.
    frozen: Vec<Arc<Frozen>>,
    /// The run at the bottom, if a snapshot made or installed one.
    base: Option<RunShard>,
    /// Keys stored over all layers, expired or not.
    len: usize,
    /// `(expires_at_ms, key)` for each key with an expiry, in any layer, so
    /// active expiry finds due keys without a walk.
    expiries: BTreeSet<(u64, StoredKey)>,
    /// The head's part of the memory estimate.
    head_bytes: u64,
    /// The frozen tables' and the run's part of it.
    lower_bytes: u64,
    /// The cost, when copied up, of the keys copied up from a lower layer
    /// since the lower layers were last replaced whole: records that
    /// `lower_bytes` still counts but that no read sees (see the module
    /// docs). Recomputed when a run replaces every lower layer.
    shadowed_bytes: u64,
    /// What the published estimate takes off for them:
    /// `min(shadowed_bytes, lower_bytes)`, as last published.
    credit_bytes: u64,
    /// Where memory and expiry totals are published for `INFO`.
    counters: Arc<Counters>,
    /// The LRU clock of the write in progress, which the entries it stores
    /// get as their access time: set by `find_for_write`, since every write
    /// looks its key up first. From the apply timestamp, not the local
    /// clock (a local clock would do, since nothing replicated depends on
    /// access times, but the timestamp keeps apply clock-free).
    write_lru: u32,
}

impl Shard {
    /// An empty shard for keys whose hashes start with the `prefix_bits`
    /// bits `prefix` (the shard's index in its database).
    pub(crate) fn new(counters: Arc<Counters>, prefix_bits: u32, prefix: u64) -> Shard {
        Shard {
            entries: Table::new(prefix_bits, prefix),
            tombstones: Table::new(prefix_bits, prefix),
            frozen: Vec::new(),
            base: None,
            len: 0,
            expiries: BTreeSet::new(),
            head_bytes: 0,
            lower_bytes: 0,
            shadowed_bytes: 0,
            credit_bytes: 0,
            counters,
            write_lru: 0,
        }
    }

    /// Keys stored, expired or not (as Redis `DBSIZE`).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keys with an expiry.
    pub(crate) fn expires_len(&self) -> usize {
        self.expiries.len()
    }

    /// Whether any layer lies under the head.
    #[inline]
    fn has_lower(&self) -> bool {
        !self.frozen.is_empty() || self.base.is_some()
    }

    /// The entry of `key`, even if it is expired, with its access time.
    /// One in the run is materialized sharing the mapping's bytes.
    #[inline]
    fn lookup(&self, key: KeyRef<'_>) -> Option<(Cow<'_, Entry>, &Lru)> {
        if let Some(entry) = self.entries.get(key.hash, key.key) {
            return Some((Cow::Borrowed(entry), &entry.lru));
        }
        if !self.has_lower() {
            return None;
        }
        self.lookup_lower(key, Materialize::Share)
    }

    /// The entry of `key`, even if it is expired. One in the run is
    /// materialized sharing the mapping's bytes.
    #[inline]
    pub(crate) fn get(&self, key: KeyRef<'_>) -> Option<Cow<'_, Entry>> {
        self.lookup(key).map(|(entry, _)| entry)
    }

    /// The entry of `key` unless it is missing or expired at `now_ms`, for
    /// a read: it records an access at `now_ms` (Redis's `lookupKeyRead`).
    /// A key in a lower layer stays there; only its access time changes.
    #[inline]
    pub(crate) fn get_live(&self, key: KeyRef<'_>, now_ms: u64) -> Option<Cow<'_, Entry>> {
        let (entry, lru) = self.lookup(key)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        lru.touch(lru_clock(now_ms));
        Some(entry)
    }

    /// [`Shard::get_live`] without recording an access (Redis's
    /// `LOOKUP_NOTOUCH`: `TYPE`, `TTL`, `EXISTS`, `OBJECT`, `WATCH`).
    #[inline]
    pub(crate) fn peek_live(&self, key: KeyRef<'_>, now_ms: u64) -> Option<Cow<'_, Entry>> {
        self.get(key).filter(|entry| !entry.is_expired(now_ms))
    }

    /// Seconds since `key` was last accessed, by the LRU clock of `now_ms`
    /// (`OBJECT IDLETIME`); `None` if it is missing or expired. Not itself
    /// an access.
    pub(crate) fn idle_seconds(&self, key: KeyRef<'_>, now_ms: u64) -> Option<u64> {
        let (entry, lru) = self.lookup(key)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        Some(idle_seconds(lru_clock(now_ms), lru.get()))
    }

    /// The access time and LFU counter of `key` (unless it is missing), in
    /// one lookup that is not itself an access: for eviction's samples.
    pub(crate) fn access(&self, key: KeyRef<'_>) -> Option<&Lru> {
        self.lookup(key).map(|(_, lru)| lru)
    }

    /// The LFU counter of `key` decayed to `now_ms` by `decay_time_min`
    /// (`OBJECT FREQ`); `None` if it is missing or expired. Not itself an
    /// access.
    pub(crate) fn frequency(
        &self,
        key: KeyRef<'_>,
        now_ms: u64,
        decay_time_min: u64,
    ) -> Option<u8> {
        let (entry, lru) = self.lookup(key)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        Some(lru.frequency(lru_clock(now_ms), decay_time_min))
    }

    /// Makes the live `key` `idle_s` seconds idle at `now_ms`, as `RESTORE
    /// ... IDLETIME` does (see `lru::lru_for_idle`).
    pub(crate) fn set_idle(&mut self, key: KeyRef<'_>, idle_s: i64, now_ms: u64) {
        let (_, lru) = self.lookup(key).expect("the key was just stored");
        lru.set_clock(lru_for_idle(lru_clock(now_ms), idle_s));
    }

    /// Sets the LRU clock that the entries stored next get as their access
    /// time, for stores that do not go through `find_for_write` (a dump
    /// loaded with [`crate::Engine::restore_entry`]).
    pub(crate) fn set_write_lru(&mut self, clock: u32) {
        self.write_lru = clock;
    }

    /// The entry a layer under the head holds for `key`, unless the head
    /// deleted it, with its access time.
    fn lookup_lower(&self, key: KeyRef<'_>, how: Materialize) -> Option<(Cow<'_, Entry>, &Lru)> {
        if self.tombstones.len() > 0 && self.tombstones.get(key.hash, key.key).is_some() {
            return None;
        }
        for frozen in &self.frozen {
            if let Some(said) = frozen.lookup(key.hash, key.key) {
                return said.map(|entry| (Cow::Borrowed(entry), &entry.lru));
            }
        }
        let base = self.base.as_ref()?;
        let (position, record) = base.find(key.hash, key.key)?;
        Some((Cow::Owned(base.entry(record, how)), base.lru(position)))
    }

    /// Whether a layer under the head holds `key` (the head's own
    /// tombstones aside).
    fn lower_holds(&self, key: KeyRef<'_>) -> bool {
        for frozen in &self.frozen {
            if let Some(said) = frozen.lookup(key.hash, key.key) {
                return said.is_some();
            }
        }
        self.base
            .as_ref()
            .is_some_and(|base| base.get(key.hash, key.key).is_some())
    }

    /// Looks `key` up for a write at `now_ms`, in one probe of the head: if
    /// it is stored but expired, it is removed first (as every write does
    /// before it looks at a key), and the result is where it would go. A
    /// key held only by a lower layer is first copied up into the head.
    /// A key found is accessed at `now_ms` (Redis's `lookupKeyWrite`), and
    /// so is whatever this write stores next.
    #[inline]
    pub(crate) fn find_for_write(&mut self, key: KeyRef<'_>, now_ms: u64) -> Place {
        self.write_lru = lru_clock(now_ms);
        let found = self.find(key)?;
        let found = self.purge_found(found, now_ms)?;
        self.entry(found).lru.touch(self.write_lru);
        Ok(found)
    }

    /// Where `key` is in the head, copying it up from a lower layer if
    /// only one holds it.
    #[inline]
    fn find(&mut self, key: KeyRef<'_>) -> Place {
        let vacant = match self.entries.find(key.hash, key.key) {
            Ok(found) => return Ok(found),
            Err(vacant) if !self.has_lower() => return Err(vacant),
            Err(vacant) => vacant,
        };
        match self.lookup_lower(key, Materialize::Copy) {
            None => Err(vacant),
            Some((entry, lru)) => {
                let mut entry = entry.into_owned();
                entry.lru = lru.clone();
                Ok(self.copy_up(vacant, key, entry))
            }
        }
    }

    /// Puts a lower layer's `entry` of `key` in the head, shadowing it. The
    /// key was already counted and indexed.
    #[cold]
    fn copy_up(&mut self, vacant: Vacant, key: KeyRef<'_>, entry: Entry) -> Found {
        let hidden = self.lower_record_bytes(key, &entry);
        let key = SmallBytes::from(key.key);
        self.add_head_cost(entry_cost_bytes(key.len(), &entry));
        self.shadowed_bytes += hidden;
        self.publish_credit();
        self.entries.insert_at(vacant, key, entry)
    }

    /// Removes `key` if it is expired at `now_ms`. Returns whether it
    /// removed it.
    pub(crate) fn purge_if_expired(&mut self, key: KeyRef<'_>, now_ms: u64) -> bool {
        let expired = self.get(key).is_some_and(|entry| entry.is_expired(now_ms));
        if expired {
            let purged = self.find_for_write(key, now_ms);
            assert!(purged.is_err(), "an expired key survived its purge");
        }
        expired
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
        let place = self.find(key);
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

    /// Inserts the missing `key` at `vacant`, accessed now (the write's
    /// clock). A short key is copied into the table slot; a long one shares
    /// the caller's buffer.
    pub(crate) fn insert_at(&mut self, vacant: Vacant, key: &Bytes, mut entry: Entry) -> Found {
        entry.lru = Lru::new(self.write_lru);
        debug_assert_eq!(vacant.hash(), crate::key_hash(key), "insert key mismatch");
        let key = SmallBytes::from_shared(key);
        self.add_head_cost(entry_cost_bytes(key.len(), &entry));
        if let Some(at) = entry.expires_at_ms() {
            let stored = StoredKey::new(vacant.hash(), key.clone());
            let added = self.expiries.insert((at, stored));
            assert!(added, "expiry index already had a new key");
        }
        if self.tombstones.len() > 0 {
            if let Ok(dead) = self.tombstones.find(vacant.hash(), &key) {
                self.tombstones.remove_at(dead);
            }
        }
        self.len += 1;
        self.entries.insert_at(vacant, key, entry)
    }

    /// Replaces the entry at `found`, returning the old one. The new entry
    /// is accessed now (the write's clock) and keeps the old one's LFU
    /// counter, as Redis's `dbOverwrite` does.
    pub(crate) fn replace_at(&mut self, found: Found, mut entry: Entry) -> Entry {
        entry.lru = Lru::new(self.write_lru);
        entry.lru.copy_from(&self.entries.value(found).lru);
        entry.lru.set_clock(self.write_lru);
        let key_len = self.entries.slot(found).1.len();
        let new_cost = entry_cost_bytes(key_len, &entry);
        let new_expiry = entry.expires_at_ms();
        let old = std::mem::replace(self.entries.value_mut(found), entry);
        self.reindex_expiry(found, old.expires_at_ms(), new_expiry);
        self.adjust_cost(entry_cost_bytes(key_len, &old), new_cost);
        old
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: KeyRef<'_>) -> Option<Entry> {
        let found = self.find(key).ok()?;
        Some(self.remove_at(found).0)
    }

    /// Removes the entry at `found`, returning it and where its key would
    /// go again.
    pub(crate) fn remove_at(&mut self, found: Found) -> (Entry, Vacant) {
        let ((key, entry), vacant) = self.entries.remove_at(found);
        self.sub_head_cost(entry_cost_bytes(key.len(), &entry));
        self.len -= 1;
        let hash = vacant.hash();
        if let Some(at) = entry.expires_at_ms() {
            let removed = self
                .expiries
                .remove(&(at, StoredKey::new(hash, key.clone())));
            assert!(removed, "expiry index lost a key");
        }
        if self.has_lower() && self.lower_holds(KeyRef { hash, key: &key }) {
            let place = self.tombstones.find(hash, &key);
            let dead = place.expect_err("a head key also had a tombstone");
            self.tombstones.insert_at(dead, key, ());
        }
        (entry, vacant)
    }

    /// Sets or clears the expiry of the entry at `found`.
    pub(crate) fn set_expiry_at(&mut self, found: Found, expires_at_ms: Option<u64>) {
        let old = self.entry(found).expires_at_ms();
        self.reindex_expiry(found, old, expires_at_ms);
        let cost = |expiry: Option<u64>| expiry.map_or(0, |_| EXPIRY_OVERHEAD_BYTES);
        self.adjust_cost(cost(old), cost(expires_at_ms));
        self.entries
            .value_mut(found)
            .set_expires_at_ms(expires_at_ms);
    }

    /// Changes the value at `found` in place (its expiry is kept), keeping
    /// the memory estimate right.
    pub(crate) fn update_value_at<R>(
        &mut self,
        found: Found,
        change: impl FnOnce(&mut Value) -> R,
    ) -> R {
        let entry = self.entries.value_mut(found);
        let before = value_cost_bytes(&entry.value);
        let result = change(&mut entry.value);
        let after = value_cost_bytes(&entry.value);
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

    /// Every layer, newest first.
    fn layers(&self) -> Layers<'_> {
        Layers {
            head: Some((&self.entries, &self.tombstones)),
            frozen: &self.frozen,
            base: self.base.as_ref(),
        }
    }

    /// Keys from hash position `hash` onwards, in (hash, bytes) order, as
    /// (hash, key, entry).
    pub(crate) fn range_from(&self, hash: u64) -> Merged<'_> {
        Merged::new(self.layers(), hash)
    }

    /// Every key in (hash, bytes) order, as (hash, key, entry).
    pub(crate) fn iter(&self) -> Merged<'_> {
        self.range_from(0)
    }

    /// The `index`-th key of the expiry index, earliest first, with its
    /// expiry: O(index), for eviction's random draws.
    pub(crate) fn expiring(&self, index: usize) -> (u64, &SmallBytes) {
        let (at, key) = self
            .expiries
            .iter()
            .nth(index)
            .expect("an index below expires_len");
        (*at, key.key())
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
    pub(crate) fn take_all(&mut self) -> Contents {
        self.shadowed_bytes = 0;
        self.sub_lower_cost(self.lower_bytes);
        self.sub_head_cost(self.head_bytes);
        self.len = 0;
        Contents {
            _entries: self.entries.take(),
            _tombstones: self.tombstones.take(),
            _frozen: std::mem::take(&mut self.frozen),
            _base: self.base.take(),
            _expiries: std::mem::take(&mut self.expiries),
        }
    }

    /// Freezes the head in O(1): it becomes the newest frozen layer and an
    /// empty head takes its place. Returns the lower layers, which a
    /// snapshot merges into a run.
    pub(crate) fn freeze(&mut self) -> FrozenShard {
        if self.entries.len() > 0 || self.tombstones.len() > 0 {
            let frozen = Frozen {
                entries: self.entries.take(),
                tombstones: self.tombstones.take(),
                cost_bytes: self.head_bytes,
            };
            self.sub_head_cost(frozen.cost_bytes);
            self.add_lower_cost(frozen.cost_bytes);
            self.frozen.insert(0, Arc::new(frozen));
        }
        FrozenShard {
            frozen: self.frozen.clone(),
            base: self.base.clone(),
        }
    }

    /// Replaces the layers `merged` froze with `run`, their merge, if they
    /// are still this shard's lowest layers (a flush or an installed
    /// snapshot may have replaced them meanwhile). Returns what it
    /// replaced, to be dropped after the lock.
    pub(crate) fn adopt(&mut self, merged: &FrozenShard, run: RunShard) -> Option<Contents> {
        let kept = self.frozen.len().checked_sub(merged.frozen.len())?;
        let same_frozen = self.frozen[kept..]
            .iter()
            .zip(&merged.frozen)
            .all(|(ours, theirs)| Arc::ptr_eq(ours, theirs));
        let same_base = match (&self.base, &merged.base) {
            (None, None) => true,
            (Some(ours), Some(theirs)) => ours.same(theirs),
            _ => false,
        };
        if !same_frozen || !same_base {
            return None;
        }
        debug_assert_eq!(
            run.len(),
            Merged::new(merged.layers(), 0).count(),
            "a run holds exactly its layers' keys"
        );
        // The run's keys keep the access times they had in the layers it
        // merged, reads since the freeze included; the merge yields them
        // in the run's order.
        for (lru, (_, _, view)) in run.lrus().iter().zip(Merged::new(merged.layers(), 0)) {
            lru.copy_from(view.lru());
        }
        let replaced: Vec<_> = self.frozen.drain(kept..).collect();
        let old_bytes = replaced.iter().map(|frozen| frozen.cost_bytes).sum::<u64>()
            + self.base.as_ref().map_or(0, RunShard::cost_bytes);
        self.sub_lower_cost(old_bytes);
        self.add_lower_cost(run.cost_bytes());
        let old_base = self.base.replace(run);
        if self.frozen.is_empty() {
            self.shadowed_bytes = self.head_shadow_bytes();
            self.publish_credit();
        }
        Some(Contents {
            _entries: Table::new(0, 0),
            _tombstones: Table::new(0, 0),
            _frozen: replaced,
            _base: old_base,
            _expiries: BTreeSet::new(),
        })
    }

    /// Replaces everything with `run` (an installed snapshot; its keys'
    /// access times are whatever `run` was made with). Returns the old
    /// contents, to be dropped after the lock.
    pub(crate) fn install(&mut self, run: RunShard) -> Contents {
        let old = self.take_all();
        for (at, hash, key) in run.expiring() {
            let stored = StoredKey::new(hash, SmallBytes::from(key));
            let added = self.expiries.insert((at, stored));
            assert!(added, "a run listed a key twice");
        }
        self.len = run.len();
        self.add_lower_cost(run.cost_bytes());
        self.base = Some(run);
        old
    }

    fn add_head_cost(&mut self, bytes: u64) {
        self.head_bytes += bytes;
        self.publish_added(bytes);
    }

    fn sub_head_cost(&mut self, bytes: u64) {
        assert!(self.head_bytes >= bytes, "shard memory estimate underflow");
        self.head_bytes -= bytes;
        self.publish_removed(bytes);
    }

    fn add_lower_cost(&mut self, bytes: u64) {
        self.lower_bytes += bytes;
        self.publish_added(bytes);
        self.publish_credit();
    }

    fn sub_lower_cost(&mut self, bytes: u64) {
        assert!(self.lower_bytes >= bytes, "shard memory estimate underflow");
        self.lower_bytes -= bytes;
        self.publish_removed(bytes);
        self.publish_credit();
    }

    /// Brings the published credit for shadowed lower records up to date
    /// with `shadowed_bytes` and `lower_bytes`.
    fn publish_credit(&mut self) {
        let credit = self.shadowed_bytes.min(self.lower_bytes);
        match credit.cmp(&self.credit_bytes) {
            std::cmp::Ordering::Greater => self.publish_removed(credit - self.credit_bytes),
            std::cmp::Ordering::Less => self.publish_added(self.credit_bytes - credit),
            std::cmp::Ordering::Equal => {}
        }
        self.credit_bytes = credit;
    }

    /// What `lower_bytes` charges for the record of `key` (whose entry is
    /// `entry`) in the newest lower layer holding it: its entry's cost in
    /// a frozen table, the run's average per record in the run (a run is
    /// charged its archive size, not per key).
    fn lower_record_bytes(&self, key: KeyRef<'_>, entry: &Entry) -> u64 {
        for frozen in &self.frozen {
            if frozen.lookup(key.hash, key.key).is_some() {
                return entry_cost_bytes(key.key.len(), entry);
            }
        }
        self.base.as_ref().map_or(0, run_record_bytes)
    }

    /// What the head hides of the run under it (no frozen layer left): the
    /// run's average per record for each head key or tombstone the run
    /// holds (every tombstone does).
    fn head_shadow_bytes(&self) -> u64 {
        let Some(base) = self.base.as_ref() else {
            return 0;
        };
        let hidden = self
            .entries
            .iter()
            .filter(|(hash, key, _)| base.get(*hash, key).is_some())
            .count()
            + self.tombstones.len();
        hidden as u64 * run_record_bytes(base)
    }

    fn publish_added(&self, bytes: u64) {
        self.counters
            .used_memory_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    fn publish_removed(&self, bytes: u64) {
        self.counters
            .used_memory_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Replaces `before` bytes of the head's estimate with `after`, touching
    /// the shared counter only if they differ (an overwrite of the same
    /// size, the common case, costs nothing).
    fn adjust_cost(&mut self, before: u64, after: u64) {
        match after.cmp(&before) {
            std::cmp::Ordering::Greater => self.add_head_cost(after - before),
            std::cmp::Ordering::Less => self.sub_head_cost(before - after),
            std::cmp::Ordering::Equal => {}
        }
    }

    /// Panics if the layers, the expiry index, the key count or the memory
    /// estimate disagree. O(n): for tests and debugging.
    pub(crate) fn check_invariants(&self) {
        self.entries.check_invariants();
        self.tombstones.check_invariants();
        let head_cost: u64 = self
            .entries
            .iter()
            .map(|(_, key, entry)| entry_cost_bytes(key.len(), entry))
            .sum();
        assert_eq!(head_cost, self.head_bytes, "shard memory estimate drifted");
        let lower_cost = self.frozen.iter().map(|f| f.cost_bytes).sum::<u64>()
            + self.base.as_ref().map_or(0, RunShard::cost_bytes);
        assert_eq!(
            lower_cost, self.lower_bytes,
            "lower layers' estimate drifted"
        );
        assert_eq!(
            self.credit_bytes,
            self.shadowed_bytes.min(self.lower_bytes),
            "shadowed lower records' credit drifted"
        );
        for (hash, key, ()) in self.tombstones.iter() {
            let key = KeyRef { hash, key };
            assert!(
                self.entries.get(hash, key.key).is_none(),
                "{key:?} is live and dead"
            );
            assert!(self.lower_holds(key), "tombstone {key:?} shadows nothing");
        }
        let mut live = 0;
        let mut with_expiry = 0;
        for (hash, key, entry) in self.iter() {
            live += 1;
            if let Some(at) = entry.expires_at_ms() {
                with_expiry += 1;
                let stored = StoredKey::new(hash, SmallBytes::from(key));
                assert!(
                    self.expiries.contains(&(at, stored)),
                    "key {key:?} with expiry {at} missing from the expiry index"
                );
            }
        }
        assert_eq!(live, self.len, "shard key count drifted");
        assert_eq!(
            with_expiry,
            self.expiries.len(),
            "stale expiry index entries"
        );
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.head_bytes + self.lower_bytes - self.credit_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-key cost follows the table's layout: a 96-byte entry and
    /// 8-byte slots at 1.698 slots a key on average.
    #[test]
    fn entry_overhead_matches_the_table_layout() {
        assert_eq!(std::mem::size_of::<Entry>(), 56);
        assert_eq!(ENTRY_OVERHEAD_BYTES, 96 + 13);
    }
}
