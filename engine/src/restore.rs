//! `DUMP` and `RESTORE` on the keyspace; the payload format is in
//! `payload/`.
//!
//! Invariants:
//! - `DUMP` reads like any read: an expired key is missing (nil).
//! - `RESTORE` applies a payload the server has already checked, so apply
//!   only decides what depends on the state and the time: `BUSYKEY`, and
//!   whether the expiry is already past (then nothing is stored, an old key
//!   replaced is deleted, and the reply is still `+OK`, as in Redis).
//! - The restored value is built by [`payload::into_value`], the same on
//!   every node. `IDLETIME` sets only the key's access time, local
//!   metadata that no reply depends on.

use bytes::Bytes;

use crate::key::KeyRef;
use crate::payload;
use crate::{DumpValue, Engine, Entry, Error, Reply, ReplySink};

/// `RESTORE` onto an existing key without `REPLACE` (Redis's words).
pub const BUSY_KEY: Error = Error::Other("BUSYKEY Target key name already exists.");

impl Engine {
    /// `DUMP`: the key's payload as a bulk string, or nil if it is missing.
    pub fn dump_payload(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        let payload = entry.map(|entry| payload::encode(&entry.value));
        drop(shard);
        match payload {
            Some(payload) => sink.bulk(&payload),
            None => sink.nil(),
        }
    }

    /// `RESTORE`: stores `value` at `key` with the expiry `ttl_ms` gives
    /// (0: none; else milliseconds from `now_ms`, or with `absolute` a Unix
    /// time in milliseconds), `idle_s` seconds idle if given.
    pub(crate) fn apply_restore(
        &self,
        db: usize,
        key: &Bytes,
        value: &DumpValue,
        (ttl_ms, absolute): (i64, bool),
        (replace, idle_s): (bool, Option<i64>),
        now_ms: u64,
    ) -> Result<Reply, Error> {
        assert!(ttl_ms >= 0, "the server refuses a negative RESTORE ttl");
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let place = shard.find_for_write(key_ref, now_ms);
        if place.is_ok() && !replace {
            return Err(BUSY_KEY);
        }
        let expires_at_ms = match ttl_ms {
            0 => None,
            ttl if absolute => Some(ttl),
            // Redis adds without an overflow check; a sum that wraps is in
            // the past, so the key is not created.
            ttl => Some((now_ms as i64).wrapping_add(ttl)),
        };
        if expires_at_ms.is_some_and(|at| at <= now_ms as i64) {
            if let Ok(found) = place {
                shard.remove_at(found);
            }
            return Ok(Reply::Ok);
        }
        let entry = Entry::new(
            payload::into_value(value.clone()),
            expires_at_ms.map(|at| at as u64),
        );
        let replaced = shard.put(place, key, entry);
        if let Some(idle_s) = idle_s {
            shard.set_idle(key_ref, idle_s, now_ms);
        }
        drop(shard);
        drop(replaced);
        Ok(Reply::Ok)
    }
}
