//! The [`Engine`]: 16 databases of `SHARDS_PER_DB` locked shards each, and
//! the plumbing every command shares (picking and locking shards, stats).
//!
//! A key's shard is the top `SHARD_BITS` bits of its xxh3 hash, so walking a
//! database's shards in index order walks its keys in hash order; `SCAN`
//! relies on that.
//!
//! Invariants:
//! - A shard is touched only under its mutex, and no code path holds a
//!   shard lock while waiting on anything but another shard lock.
//! - Several shards are locked in ascending (db, shard) order, each at most
//!   once, so two multi-shard operations cannot deadlock.
//! - `stats()` counters only grow, except `used_memory_bytes`, which is the
//!   running sum of every shard's estimate.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::key::KeyRef;
use crate::shard::{Counters, Shard};
use crate::DB_COUNT;

/// log2 of [`SHARDS_PER_DB`].
pub(crate) const SHARD_BITS: u32 = 6;
/// Shards per database. A power of two; at most 64, because multi-key
/// operations track the shards they lock in a `u64` bit mask.
pub const SHARDS_PER_DB: usize = 1 << SHARD_BITS;
const _: () = assert!(SHARDS_PER_DB <= 64 && SHARDS_PER_DB.is_power_of_two());

/// Engine-wide counters, as `INFO` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Reads that found their key (Redis `keyspace_hits`).
    pub keyspace_hits: u64,
    /// Reads that did not (Redis `keyspace_misses`).
    pub keyspace_misses: u64,
    /// Keys removed because they had expired (Redis `expired_keys`).
    pub expired_keys: u64,
    /// Keys deleted to stay under `maxmemory` (Redis `evicted_keys`).
    pub evicted_keys: u64,
    /// Approximate bytes held by keys and values, kept up to date on every
    /// insert and removal.
    pub used_memory_bytes: u64,
}

/// One shard with its read counters. Aligned to a cache line so two
/// cores reading different shards do not contend on the counters.
#[repr(align(64))]
pub(crate) struct ShardSlot {
    pub(crate) shard: Mutex<Shard>,
    /// Hits counted by reads of this shard (summed by `stats`).
    hits: AtomicU64,
    /// Misses counted by reads of this shard.
    misses: AtomicU64,
}

impl ShardSlot {
    /// Counts one read lookup as a hit or a miss.
    #[inline]
    pub(crate) fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The keyspace. Shared by every thread through an `Arc`.
pub struct Engine {
    /// `DB_COUNT * SHARDS_PER_DB` shards; database `db`'s shard `s` is at
    /// `db * SHARDS_PER_DB + s`, so ascending index is ascending (db, s).
    slots: Box<[ShardSlot]>,
    /// Shared with every shard, which updates it as it changes.
    pub(crate) counters: Arc<Counters>,
    /// The slot where `expired_candidates` starts next, so that a shard
    /// with many due keys cannot starve the others. Local, not replicated:
    /// it only changes which keys the leader proposes first.
    pub(crate) expiry_cursor: AtomicUsize,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

/// The shard of a key hash within its database.
#[inline]
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// The first hash position of shard `shard`.
#[inline]
pub(crate) fn shard_start(shard: usize) -> u64 {
    (shard as u64) << (64 - SHARD_BITS)
}

impl Engine {
    /// An empty keyspace of `DB_COUNT` databases.
    pub fn new() -> Engine {
        let counters = Arc::new(Counters::default());
        let slots = (0..DB_COUNT * SHARDS_PER_DB)
            .map(|index| ShardSlot {
                shard: Mutex::new(Shard::new(
                    counters.clone(),
                    SHARD_BITS,
                    (index % SHARDS_PER_DB) as u64,
                )),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
            .collect();
        Engine {
            slots,
            counters,
            expiry_cursor: AtomicUsize::new(0),
        }
    }

    #[inline]
    pub(crate) fn slot(&self, db: usize, shard: usize) -> &ShardSlot {
        assert!(db < DB_COUNT, "db {db} out of range");
        &self.slots[db * SHARDS_PER_DB + shard]
    }

    /// The slot holding `key` in `db`.
    #[inline]
    pub(crate) fn slot_of(&self, db: usize, key: KeyRef<'_>) -> &ShardSlot {
        self.slot(db, shard_of(key.hash))
    }

    /// Every slot, in ascending (db, shard) order.
    pub(crate) fn slots(&self) -> &[ShardSlot] {
        &self.slots
    }

    /// Locks the shards of `db` that hold `keys`, in ascending order.
    pub(crate) fn lock_keys<'a, K: AsRef<[u8]> + 'a>(
        &self,
        db: usize,
        keys: impl Iterator<Item = &'a K>,
    ) -> ShardSet<'_> {
        let mask = keys.fold(0u64, |mask, key| {
            mask | 1 << shard_of(KeyRef::new(key.as_ref()).hash)
        });
        self.lock_mask(db, mask)
    }

    /// Locks the shards of `db` whose bits are set in `mask`, ascending.
    pub(crate) fn lock_mask(&self, db: usize, mask: u64) -> ShardSet<'_> {
        let mut guards: [Option<MutexGuard<'_, Shard>>; SHARDS_PER_DB] =
            std::array::from_fn(|_| None);
        for (shard, guard) in guards.iter_mut().enumerate() {
            if mask >> shard & 1 == 1 {
                *guard = Some(self.slot(db, shard).shard.lock());
            }
        }
        ShardSet {
            db,
            engine: self,
            guards,
        }
    }

    /// Locks the shards of two keys, possibly in different databases, in
    /// ascending (db, shard) order; one lock if they share a shard.
    pub(crate) fn lock_pair(
        &self,
        src_db: usize,
        src: KeyRef<'_>,
        dst_db: usize,
        dst: KeyRef<'_>,
    ) -> ShardPair<'_> {
        let a = src_db * SHARDS_PER_DB + shard_of(src.hash);
        let b = dst_db * SHARDS_PER_DB + shard_of(dst.hash);
        assert!(src_db < DB_COUNT && dst_db < DB_COUNT, "db out of range");
        if a == b {
            return ShardPair::One(self.slots[a].shard.lock());
        }
        if a < b {
            let first = self.slots[a].shard.lock();
            let second = self.slots[b].shard.lock();
            ShardPair::Two(first, second)
        } else {
            let first = self.slots[b].shard.lock();
            let second = self.slots[a].shard.lock();
            ShardPair::Two(second, first)
        }
    }

    /// Keys stored in `db`, expired or not yet purged (as Redis `DBSIZE`).
    pub fn dbsize(&self, db: usize) -> usize {
        (0..SHARDS_PER_DB)
            .map(|shard| self.slot(db, shard).shard.lock().len())
            .sum()
    }

    /// Keys of `db` that have an expiry (`INFO keyspace` "expires=").
    pub fn expires_count(&self, db: usize) -> usize {
        (0..SHARDS_PER_DB)
            .map(|shard| self.slot(db, shard).shard.lock().expires_len())
            .sum()
    }

    /// The memory estimate alone (`stats().used_memory_bytes`), one atomic
    /// load: for checks on every command.
    pub fn used_memory_bytes(&self) -> u64 {
        self.counters.used_memory_bytes.load(Ordering::Relaxed)
    }

    /// The engine-wide counters.
    pub fn stats(&self) -> EngineStats {
        let (hits, misses) = self.slots.iter().fold((0, 0), |(hits, misses), slot| {
            (
                hits + slot.hits.load(Ordering::Relaxed),
                misses + slot.misses.load(Ordering::Relaxed),
            )
        });
        EngineStats {
            keyspace_hits: hits,
            keyspace_misses: misses,
            expired_keys: self.counters.expired_keys.load(Ordering::Relaxed),
            evicted_keys: self.counters.evicted_keys.load(Ordering::Relaxed),
            used_memory_bytes: self.counters.used_memory_bytes.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets (hits, misses, expired
    /// and evicted keys); the memory estimate is a level, not a counter, and stays.
    pub fn reset_stats(&self) {
        for slot in self.slots.iter() {
            slot.hits.store(0, Ordering::Relaxed);
            slot.misses.store(0, Ordering::Relaxed);
        }
        self.counters.expired_keys.store(0, Ordering::Relaxed);
        self.counters.evicted_keys.store(0, Ordering::Relaxed);
    }

    /// Panics unless every shard's expiry index and memory estimate agree
    /// with its entries, and the engine total with the shards. O(keys):
    /// for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let mut used = 0;
        for slot in self.slots.iter() {
            let shard = slot.shard.lock();
            shard.check_invariants();
            used += shard.used_bytes();
        }
        assert_eq!(
            used,
            self.counters.used_memory_bytes.load(Ordering::Relaxed),
            "engine memory estimate drifted from the shards"
        );
    }
}

/// A set of locked shards of one database (see [`Engine::lock_keys`]).
pub(crate) struct ShardSet<'a> {
    db: usize,
    engine: &'a Engine,
    guards: [Option<MutexGuard<'a, Shard>>; SHARDS_PER_DB],
}

impl<'a> ShardSet<'a> {
    /// The locked shard holding `key`; it must be one of the locked keys.
    #[inline]
    pub(crate) fn shard(&mut self, key: KeyRef<'_>) -> &mut Shard {
        self.guards[shard_of(key.hash)]
            .as_mut()
            .expect("key's shard was not locked")
    }

    /// The slot (for read counters) of `key`.
    #[inline]
    pub(crate) fn slot(&self, key: KeyRef<'_>) -> &'a ShardSlot {
        self.engine.slot_of(self.db, key)
    }
}

/// The shards of a source and a destination key, locked in order.
pub(crate) enum ShardPair<'a> {
    /// Both keys live in the same shard.
    One(MutexGuard<'a, Shard>),
    /// (source shard, destination shard).
    Two(MutexGuard<'a, Shard>, MutexGuard<'a, Shard>),
}

impl ShardPair<'_> {
    pub(crate) fn src(&mut self) -> &mut Shard {
        match self {
            ShardPair::One(shard) | ShardPair::Two(shard, _) => shard,
        }
    }

    pub(crate) fn dst(&mut self) -> &mut Shard {
        match self {
            ShardPair::One(shard) | ShardPair::Two(_, shard) => shard,
        }
    }
}
