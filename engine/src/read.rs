//! Point reads. They run on the caller's thread with the caller's clock:
//! an expired key reads as absent but is never deleted here (deleting is a
//! replicated write). Replies stream into the sink while the shard lock is
//! held, so no value is copied.
//!
//! Invariants:
//! - Reads never change a shard's contents; they take `&Shard` under the
//!   lock. A key
//!   read from a run is handed out as slices of the mapping, not copied.
//! - Each looked-up key counts one keyspace hit or miss, as Redis's
//!   `lookupKeyRead` does (a WRONGTYPE reply still counts a hit).
//! - A read of a key records an access (its access time, local metadata
//!   the reads may set through `&Shard`: `lru.rs`), except where Redis
//!   reads with `LOOKUP_NOTOUCH`: `EXISTS`, `TYPE`, the `TTL` family.

use bytes::Bytes;

use crate::key::KeyRef;
use crate::{Engine, Error, ReplySink, Value};

impl Engine {
    /// `GET`: bulk, nil, or WRONGTYPE.
    pub fn get(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        match entry.as_deref().map(|entry| &entry.value) {
            None => sink.nil(),
            Some(Value::Str(value)) => sink.bulk(value),
            Some(_) => sink.error(&Error::WrongType),
        }
    }

    /// `MGET`: an array with each key's string value, nil for a missing
    /// key or a key of another type. Atomic: all the keys' shards are
    /// locked together.
    pub fn mget(&self, db: usize, keys: &[Bytes], now_ms: u64, sink: &mut impl ReplySink) {
        let mut shards = self.lock_keys(db, keys.iter());
        sink.array(keys.len());
        for key in keys {
            let key = KeyRef::new(key);
            let entry = shards.shard(key).get_live(key, now_ms);
            let hit = entry.is_some();
            match entry.as_deref().map(|entry| &entry.value) {
                Some(Value::Str(value)) => sink.bulk(value),
                _ => sink.nil(),
            }
            shards.slot(key).count(hit);
        }
    }

    /// `STRLEN`: the length, 0 if missing, or WRONGTYPE.
    pub fn strlen(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        match entry.as_deref().map(|entry| &entry.value) {
            None => sink.int(0),
            Some(Value::Str(value)) => sink.int(value.len() as i64),
            Some(_) => sink.error(&Error::WrongType),
        }
    }

    /// `GETRANGE`: the bytes from `start` to `end` inclusive, negative
    /// indexes counting from the end, clamped as Redis clamps them; an
    /// empty bulk for a missing key.
    pub fn getrange(
        &self,
        db: usize,
        key: &[u8],
        start: i64,
        end: i64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        match entry.as_deref().map(|entry| &entry.value) {
            None => sink.bulk(b""),
            Some(Value::Str(value)) => sink.bulk(substring(value, start, end)),
            Some(_) => sink.error(&Error::WrongType),
        }
    }

    /// `EXISTS`: how many of `keys` exist, counting repeats. Not an access
    /// (Redis looks them up with `LOOKUP_NOTOUCH`).
    pub fn exists(&self, db: usize, keys: &[Bytes], now_ms: u64) -> i64 {
        self.count_live(db, keys, now_ms, false)
    }

    /// `TOUCH`: [`Engine::exists`], but an access of every key found.
    pub fn touch(&self, db: usize, keys: &[Bytes], now_ms: u64) -> i64 {
        self.count_live(db, keys, now_ms, true)
    }

    fn count_live(&self, db: usize, keys: &[Bytes], now_ms: u64, touch: bool) -> i64 {
        let mut shards = self.lock_keys(db, keys.iter());
        let mut count = 0;
        for key in keys {
            let key = KeyRef::new(key);
            let shard = shards.shard(key);
            let hit = if touch {
                shard.get_live(key, now_ms).is_some()
            } else {
                shard.peek_live(key, now_ms).is_some()
            };
            shards.slot(key).count(hit);
            count += i64::from(hit);
        }
        count
    }

    /// `TYPE`: "none", "string", "list", "hash", "set" or "zset". Not an
    /// access (`LOOKUP_NOTOUCH`).
    pub fn key_type(&self, db: usize, key: &[u8], now_ms: u64) -> &'static str {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.peek_live(key, now_ms);
        slot.count(entry.is_some());
        entry.map_or("none", |entry| entry.value.type_name())
    }

    /// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`: -2 if the key is
    /// missing, -1 if it has no expiry, else the remaining time (`absolute`:
    /// the Unix expiry time) in milliseconds (`millis`) or seconds, which
    /// Redis rounds to nearest. Not an access (`LOOKUP_NOTOUCH`).
    pub fn ttl(&self, db: usize, key: &[u8], now_ms: u64, millis: bool, absolute: bool) -> i64 {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.peek_live(key, now_ms);
        slot.count(entry.is_some());
        let Some(entry) = entry else {
            return -2;
        };
        let Some(at_ms) = entry.expires_at_ms() else {
            return -1;
        };
        let ms = if absolute {
            at_ms
        } else {
            at_ms.saturating_sub(now_ms)
        };
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        if millis {
            ms
        } else {
            // Redis: (ttl + 500) / 1000 in long long arithmetic.
            ms.saturating_add(500) / 1000
        }
    }
}

/// The part of `value` that `GETRANGE start end` returns.
pub(crate) fn substring(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return b"";
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0);
    let end = end.min(len - 1);
    if start > end || len == 0 {
        return b"";
    }
    &value[start as usize..=end as usize]
}
