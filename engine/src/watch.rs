//! `WATCH`'s view of a key: a stamp of its whole logical state.
//!
//! `EXEC` must fail if a watched key changed since `WATCH`, and the check
//! happens at apply, on every node, so it can only use replicated state.
//! The connection takes the key's stamp at `WATCH` (from its node's state,
//! after a linearizable check) and the `EXEC` entry carries it; apply takes
//! the stamp again and aborts the transaction if they differ.
//!
//! Invariants:
//! - The stamp is a pure function of the key's live contents (type,
//!   elements in stored order, expiry) at `now_ms`: two nodes with the same
//!   state compute the same stamp, so they agree on every abort. The key's
//!   access time, which is local to each node, is not part of it.
//! - A missing or expired key stamps 0; a present one never does.
//! - Any change of contents or expiry changes the stamp (up to a 64-bit
//!   hash collision). A change undone before `EXEC` (a value set and then
//!   set back) leaves the stamp as it was, where Redis would abort: the one
//!   difference, documented in `docs/datatypes.md`.

use xxhash_rust::xxh3::Xxh3;

use crate::key::KeyRef;
use crate::{Engine, Value};

/// Feeds one length-prefixed byte string, so that element boundaries are
/// part of the stamp.
fn feed(hasher: &mut Xxh3, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// The stamp of a live value with this expiry; never 0.
fn stamp(value: &Value, expires_at_ms: Option<u64>) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(
        &expires_at_ms
            .map_or(0, |at| at.wrapping_add(1))
            .to_le_bytes(),
    );
    match value {
        Value::Str(bytes) => {
            hasher.update(b"s");
            feed(&mut hasher, bytes);
        }
        Value::List(list) => {
            hasher.update(b"l");
            list.iter().for_each(|item| feed(&mut hasher, item));
        }
        Value::Hash(hash) => {
            hasher.update(b"h");
            for (field, value) in hash.iter() {
                feed(&mut hasher, field);
                feed(&mut hasher, value);
            }
        }
        Value::Set(set) => {
            hasher.update(b"e");
            set.iter().for_each(|member| feed(&mut hasher, member));
        }
        Value::Stream(stream) => {
            hasher.update(b"x");
            let mut body = Vec::new();
            crate::stream::encode_body(stream, &mut body);
            hasher.update(&body);
        }
        Value::ZSet(zset) => {
            hasher.update(b"z");
            for (score, member) in zset.iter() {
                hasher.update(&score.to_bits().to_le_bytes());
                feed(&mut hasher, member);
            }
        }
    }
    hasher.digest().max(1)
}

impl Engine {
    /// The stamp of `key` in `db` at `now_ms` (see the module docs); 0 if
    /// the key is missing or expired. Not counted as a keyspace hit or
    /// miss, and not an access of the key.
    pub fn watch_stamp(&self, db: usize, key: &[u8], now_ms: u64) -> u64 {
        let key_ref = KeyRef::new(key);
        let shard = self.slot_of(db, key_ref).shard.lock();
        let entry = shard.peek_live(key_ref, now_ms);
        entry.map_or(0, |entry| stamp(&entry.value, entry.expires_at_ms()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::{Engine, SetCondition, TtlChange, WriteOp};

    fn set(engine: &Engine, key: &str, value: &str, ttl: TtlChange) {
        let op = WriteOp::Set {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            condition: SetCondition::Always,
            ttl,
            get: false,
        };
        engine.apply(0, &op, 1_000);
    }

    #[test]
    fn stamps_follow_contents_and_expiry() {
        let engine = Engine::new();
        assert_eq!(engine.watch_stamp(0, b"k", 1_000), 0, "missing");
        set(&engine, "k", "a", TtlChange::Clear);
        let a = engine.watch_stamp(0, b"k", 1_000);
        assert_ne!(a, 0);
        assert_eq!(engine.watch_stamp(0, b"k", 1_000), a, "unchanged");
        assert_eq!(engine.watch_stamp(1, b"k", 1_000), 0, "other db");
        set(&engine, "k", "b", TtlChange::Clear);
        let b = engine.watch_stamp(0, b"k", 1_000);
        assert_ne!(b, a, "new value");
        set(&engine, "k", "b", TtlChange::InMs(500));
        let with_ttl = engine.watch_stamp(0, b"k", 1_000);
        assert_ne!(with_ttl, b, "expiry is part of the state");
        assert_eq!(engine.watch_stamp(0, b"k", 1_500), 0, "expired");
    }

    #[test]
    fn element_boundaries_count() {
        let engine = Engine::new();
        for (key, items) in [("x", &["ab", "c"][..]), ("y", &["a", "bc"][..])] {
            for item in items {
                let op = WriteOp::Lists(crate::ListOp::Push {
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    items: vec![Bytes::copy_from_slice(item.as_bytes())],
                    left: false,
                    only_if_exists: false,
                });
                engine.apply(0, &op, 1_000);
            }
        }
        assert_ne!(
            engine.watch_stamp(0, b"x", 1_000),
            engine.watch_stamp(0, b"y", 1_000)
        );
    }
}
