//! Introspection of one key: `OBJECT ENCODING`, `OBJECT REFCOUNT` and
//! `MEMORY USAGE`.
//!
//! Invariants:
//! - Each answer is computed from the stored value, never assumed: the
//!   encoding is the one the value is held in (for strings, the one Redis
//!   would give the same contents), and the memory usage is the same
//!   per-key estimate that `INFO`'s `used_memory` sums.

use crate::key::KeyRef;
use crate::number::parse_i64_strict;
use crate::shard::entry_cost_bytes;
use crate::{Engine, Entry, Value};

/// Redis's `OBJ_SHARED_REFCOUNT`: the refcount it reports for the shared
/// small integers (0 to 9999), which are never freed.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_BYTES_MAX: usize = 44;

/// The `OBJECT ENCODING` of a string with these contents, as Redis's
/// `tryObjectEncoding` would choose it when storing them with `SET`.
fn string_encoding(bytes: &[u8]) -> &'static str {
    if bytes.len() <= 20 && parse_i64_strict(bytes).is_some() {
        "int"
    } else if bytes.len() <= EMBSTR_BYTES_MAX {
        "embstr"
    } else {
        "raw"
    }
}

impl Engine {
    /// Runs `read` on the live entry of `key` (or `None`), without counting
    /// a keyspace hit or miss: introspection is not an access (Redis looks
    /// these keys up with `LOOKUP_NOTOUCH`).
    fn inspect<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        read: impl FnOnce(Option<&Entry>, usize) -> R,
    ) -> R {
        let key_ref = KeyRef::new(key);
        let shard = self.slot_of(db, key_ref).shard.lock();
        let entry = shard.get_live(key_ref, now_ms);
        read(entry.as_deref(), key.len())
    }

    /// `OBJECT ENCODING`: the encoding's name, or `None` if the key is
    /// missing.
    pub fn object_encoding(&self, db: usize, key: &[u8], now_ms: u64) -> Option<&'static str> {
        self.inspect(db, key, now_ms, |entry, _| {
            entry.map(|entry| match &entry.value {
                Value::Str(bytes) => string_encoding(bytes),
                Value::List(list) => list.encoding(),
                Value::Hash(hash) => hash.encoding(),
                Value::Set(set) => set.encoding(),
                Value::ZSet(zset) => zset.encoding(),
            })
        })
    }

    /// `OBJECT REFCOUNT`: 1 for a value only this key holds, Redis's shared
    /// refcount for the small integers it shares; `None` if missing.
    pub fn object_refcount(&self, db: usize, key: &[u8], now_ms: u64) -> Option<i64> {
        self.inspect(db, key, now_ms, |entry, _| {
            entry.map(|entry| match &entry.value {
                Value::Str(bytes) if matches!(parse_i64_strict(bytes), Some(0..=9999)) => {
                    SHARED_REFCOUNT
                }
                _ => 1,
            })
        })
    }

    /// Whether `key` holds a live value, without counting a keyspace hit or
    /// miss (a write's look at its key, as Redis's `lookupKeyWrite`).
    pub fn contains(&self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.inspect(db, key, now_ms, |entry, _| entry.is_some())
    }

    /// `MEMORY USAGE`: the estimated bytes the key and its value cost, or
    /// `None` if missing. Exact for the estimate, so Redis's `SAMPLES`
    /// option changes nothing.
    pub fn memory_usage(&self, db: usize, key: &[u8], now_ms: u64) -> Option<u64> {
        self.inspect(db, key, now_ms, |entry, key_len| {
            entry.map(|entry| entry_cost_bytes(key_len, entry))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::string_encoding;

    #[test]
    fn strings_are_encoded_as_redis_stores_them() {
        let cases: &[(&[u8], &str)] = &[
            (b"0", "int"),
            (b"-12345", "int"),
            (b"9223372036854775807", "int"),
            (b"9223372036854775808", "embstr"),
            (b"007", "embstr"),
            (b"", "embstr"),
            (&[b'x'; 44], "embstr"),
            (&[b'x'; 45], "raw"),
        ];
        for (bytes, encoding) in cases {
            assert_eq!(string_encoding(bytes), *encoding, "{bytes:?}");
        }
    }
}
