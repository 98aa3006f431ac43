//! Writes on whole keys: `DEL`, the `EXPIRE` family, `PERSIST`, `RENAME`,
//! `COPY`, `FLUSHDB`/`FLUSHALL` and the leader's `PurgeExpired` and
//! `Evict`.
//!
//! Invariants:
//! - Multi-key writes lock every shard they touch before changing any, in
//!   ascending (db, shard) order, so readers never see half of one.
//! - An expiry at or before `now_ms` means the key is gone: `EXPIRE` with a
//!   past time deletes (Redis 7), and `PurgeExpired` deletes only keys that
//!   are expired at `now_ms`, never a key written again since the leader
//!   chose it.
//! - Flushed tables are dropped after their locks are released.

use bytes::Bytes;

use crate::engine::SHARDS_PER_DB;
use crate::key::KeyRef;
use crate::lru::local_lru_clock;
use crate::shard::Shard;
use crate::{Engine, Entry, Error, ExpireCommand, ExpireCondition, Reply, DB_COUNT};

/// Converts an `EXPIRE`-family amount to an absolute Unix time in
/// milliseconds exactly as Redis 7.0's `expireGenericCommand` does, with
/// its overflow checks. The result may be negative (already past).
fn absolute_expiry_ms(amount: i64, command: ExpireCommand, now_ms: u64) -> Result<i64, Error> {
    let error = Error::InvalidExpire(command.name());
    let (seconds, base) = match command {
        ExpireCommand::Expire => (true, now_ms as i64),
        ExpireCommand::PExpire => (false, now_ms as i64),
        ExpireCommand::ExpireAt => (true, 0),
        ExpireCommand::PExpireAt => (false, 0),
    };
    let mut when = amount;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(error);
        }
        when *= 1000;
    }
    if when > i64::MAX - base {
        return Err(error);
    }
    Ok(when + base)
}

/// Whether an `EXPIRE` condition lets `when_ms` replace `current` (the
/// key's expiry; `None` counts as infinite).
fn expire_allowed(condition: ExpireCondition, current: Option<u64>, when_ms: i64) -> bool {
    let current = current.map(|at| at as i64);
    match condition {
        ExpireCondition::Always => true,
        ExpireCondition::IfNoExpiry => current.is_none(),
        ExpireCondition::IfHasExpiry => current.is_some(),
        ExpireCondition::IfGreater => current.is_some_and(|at| when_ms > at),
        ExpireCondition::IfLess => match current {
            None => true,
            Some(at) => when_ms < at,
        },
        ExpireCondition::IfHasExpiryAndLess => current.is_some_and(|at| when_ms < at),
    }
}

impl Engine {
    pub(crate) fn apply_del(&self, db: usize, keys: &[Bytes], now_ms: u64) -> Reply {
        let mut shards = self.lock_keys(db, keys.iter());
        let mut removed = 0;
        for key in keys {
            let key = KeyRef::new(key);
            let shard = shards.shard(key);
            if let Ok(found) = shard.find_for_write(key, now_ms) {
                shard.remove_at(found);
                removed += 1;
            }
        }
        Reply::Int(removed)
    }

    /// Deletes the leader's eviction victims that still exist (a key
    /// expired at `now_ms` counts as expired, not evicted) and counts them
    /// in `evicted_keys`.
    pub(crate) fn apply_evict(&self, db: usize, keys: &[Bytes], now_ms: u64) -> Reply {
        let Reply::Int(evicted) = self.apply_del(db, keys, now_ms) else {
            unreachable!("DEL replies an integer")
        };
        self.counters
            .evicted_keys
            .fetch_add(evicted as u64, std::sync::atomic::Ordering::Relaxed);
        Reply::Int(evicted)
    }

    pub(crate) fn apply_expire(
        &self,
        db: usize,
        key: &Bytes,
        amount: i64,
        command: ExpireCommand,
        condition: ExpireCondition,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let when_ms = absolute_expiry_ms(amount, command, now_ms)?;
        let key = KeyRef::new(key);
        let mut shard = self.slot_of(db, key).shard.lock();
        let Ok(found) = shard.find_for_write(key, now_ms) else {
            return Ok(Reply::Int(0));
        };
        if !expire_allowed(condition, shard.entry(found).expires_at_ms(), when_ms) {
            return Ok(Reply::Int(0));
        }
        if when_ms <= now_ms as i64 {
            shard.remove_at(found);
        } else {
            shard.set_expiry_at(found, Some(when_ms as u64));
        }
        Ok(Reply::Int(1))
    }

    pub(crate) fn apply_persist(&self, db: usize, key: &Bytes, now_ms: u64) -> Reply {
        let key = KeyRef::new(key);
        let mut shard = self.slot_of(db, key).shard.lock();
        let Ok(found) = shard.find_for_write(key, now_ms) else {
            return Reply::Int(0);
        };
        let had_expiry = shard.entry(found).expires_at_ms().is_some();
        if had_expiry {
            shard.set_expiry_at(found, None);
        }
        Reply::Int(i64::from(had_expiry))
    }

    pub(crate) fn apply_rename(
        &self,
        db: usize,
        from: &Bytes,
        to: &Bytes,
        only_if_absent: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let (src, dst) = (KeyRef::new(from), KeyRef::new(to));
        let mut pair = self.lock_pair(db, src, db, dst);
        if pair.src().find_for_write(src, now_ms).is_err() {
            return Err(Error::NoSuchKey);
        }
        let done = if only_if_absent {
            Reply::Int(1)
        } else {
            Reply::Ok
        };
        if from == to {
            return Ok(if only_if_absent { Reply::Int(0) } else { done });
        }
        let dst_live = pair.dst().find_for_write(dst, now_ms).is_ok();
        if only_if_absent && dst_live {
            return Ok(Reply::Int(0));
        }
        let entry = pair.src().remove(src).expect("key vanished under the lock");
        let replaced = pair.dst().insert(dst, to, entry);
        drop(pair);
        drop(replaced);
        Ok(done)
    }

    pub(crate) fn apply_copy(
        &self,
        db: usize,
        from: &Bytes,
        to_db: usize,
        to: &Bytes,
        replace: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        if db == to_db && from == to {
            return Err(Error::Other(
                "ERR source and destination objects are the same",
            ));
        }
        let (src, dst) = (KeyRef::new(from), KeyRef::new(to));
        let mut pair = self.lock_pair(db, src, to_db, dst);
        let Ok(found) = pair.src().find_for_write(src, now_ms) else {
            return Ok(Reply::Int(0));
        };
        let entry = pair.src().entry(found).clone();
        let place = pair.dst().find_for_write(dst, now_ms);
        if !replace && place.is_ok() {
            return Ok(Reply::Int(0));
        }
        // The source and destination may share a shard, but copying a key
        // onto itself was rejected above and the source was only read, so
        // `place` is still valid.
        let replaced = pair.dst().put(place, to, entry);
        drop(pair);
        drop(replaced);
        Ok(Reply::Int(1))
    }

    pub(crate) fn apply_move(&self, db: usize, key: &Bytes, to_db: usize, now_ms: u64) -> Reply {
        assert_ne!(
            db, to_db,
            "MOVE within one database is rejected by the server"
        );
        let key_ref = KeyRef::new(key);
        let mut pair = self.lock_pair(db, key_ref, to_db, key_ref);
        let Ok(found) = pair.src().find_for_write(key_ref, now_ms) else {
            return Reply::Int(0);
        };
        let Err(vacant) = pair.dst().find_for_write(key_ref, now_ms) else {
            return Reply::Int(0);
        };
        let (entry, _) = pair.src().remove_at(found);
        pair.dst().insert_at(vacant, key, entry);
        Reply::Int(1)
    }

    /// `SWAPDB`: locks every shard of both databases (ascending), then
    /// swaps each pair of shards whole, layers and all. A snapshot in
    /// progress is not confused: a shard adopts a new run only if it still
    /// holds the layers that run merged.
    pub(crate) fn apply_swapdb(&self, a: usize, b: usize) -> Reply {
        if a == b {
            return Reply::Ok;
        }
        let (low, high) = (a.min(b), a.max(b));
        let slots = self.slots();
        let mut lows: Vec<_> = slots[low * SHARDS_PER_DB..(low + 1) * SHARDS_PER_DB]
            .iter()
            .map(|slot| slot.shard.lock())
            .collect();
        let mut highs: Vec<_> = slots[high * SHARDS_PER_DB..(high + 1) * SHARDS_PER_DB]
            .iter()
            .map(|slot| slot.shard.lock())
            .collect();
        for (low, high) in lows.iter_mut().zip(highs.iter_mut()) {
            std::mem::swap(&mut **low, &mut **high);
        }
        Reply::Ok
    }

    /// `FLUSHDB` (`Some(db)`) or `FLUSHALL` (`None`): locks every shard
    /// concerned, empties them, and frees the contents after unlocking.
    pub(crate) fn apply_flush(&self, db: Option<usize>) -> Reply {
        let dbs = match db {
            Some(db) => db..db + 1,
            None => 0..DB_COUNT,
        };
        let slots = &self.slots()[dbs.start * SHARDS_PER_DB..dbs.end * SHARDS_PER_DB];
        let mut guards: Vec<_> = slots.iter().map(|slot| slot.shard.lock()).collect();
        let contents: Vec<_> = guards.iter_mut().map(|shard| shard.take_all()).collect();
        drop(guards);
        drop(contents);
        Reply::Ok
    }

    /// Stores `entry` under `key` as is, replacing any old entry: for
    /// loading a snapshot, and for tests that need values of the types no
    /// write creates yet. Not a command: it bypasses every check.
    /// The key counts as accessed now, by the local clock.
    pub fn restore_entry(&self, db: usize, key: Bytes, entry: Entry) {
        let key_ref = KeyRef::new(&key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        shard.set_write_lru(local_lru_clock());
        let replaced = shard.insert(key_ref, &key, entry);
        drop(shard);
        drop(replaced);
    }

    pub(crate) fn apply_purge(&self, db: usize, keys: &[Bytes], now_ms: u64) -> Reply {
        let mut shards = self.lock_keys(db, keys.iter());
        let mut purged = 0;
        for key in keys {
            let key = KeyRef::new(key);
            let shard: &mut Shard = shards.shard(key);
            purged += i64::from(shard.purge_if_expired(key, now_ms));
        }
        Reply::Int(purged)
    }
}
