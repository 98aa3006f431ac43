//! Typed values and the entries that hold them.
//!
//! Each collection type lives in its own module (`list/`, `hash/`, `set/`,
//! `zset/`) with its encodings, its run record and its commands; this file
//! only ties them into one [`Value`].

use crate::hash::Hash;
use crate::list::List;
use crate::lru::Lru;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;
use crate::SmallBytes;

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string; short ones are held inline, in the key's table slot.
    Str(SmallBytes),
    /// Boxed, like `Set`, so that `Value` stays 40 bytes (a `SmallBytes`
    /// and a tag): every key's table entry holds one, and a string key
    /// must not pay for the larger collection headers.
    List(Box<List>),
    Hash(Hash),
    Set(Box<Set>),
    ZSet(ZSet),
    /// Boxed for the same reason as `List`.
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Bytes the value holds beyond the key's fixed cost, for the memory
    /// estimate. O(1): collections keep a running total.
    pub fn memory_bytes(&self) -> u64 {
        match self {
            Value::Str(bytes) => bytes.len() as u64,
            Value::List(list) => list.memory_bytes(),
            Value::Hash(hash) => hash.memory_bytes(),
            Value::Set(set) => set.memory_bytes(),
            Value::ZSet(zset) => zset.memory_bytes(),
            Value::Stream(stream) => stream.memory_bytes(),
        }
    }

    /// Whether this is a collection with no elements. Redis never stores
    /// one: a write that empties a collection deletes its key. A stream
    /// is the exception: an empty one stays, so it is never "empty" here.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(list) => list.is_empty(),
            Value::Hash(hash) => hash.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
            Value::Stream(_) => false,
        }
    }
}

/// The stored expiry of a key that never expires. No command can set it:
/// an expiry is at most `i64::MAX` milliseconds, as in Redis.
const NEVER_MS: u64 = u64::MAX;

/// A key's value with its optional expiry, and when it was last accessed
/// on this node.
#[derive(Clone)]
pub struct Entry {
    pub value: Value,
    /// Unix time in milliseconds at which the key expires, `NEVER_MS` if
    /// never: a plain `u64` where an `Option<u64>` would take 16 bytes, in
    /// the table entry every key has.
    expires_at: u64,
    /// The last read or write of the key on this node (`lru.rs`): local
    /// metadata, never part of the replicated state, so not part of an
    /// entry's equality. 4 bytes, and 4 of padding after it (an entry is
    /// 56 bytes).
    pub(crate) lru: Lru,
}

/// Equal contents and expiry: the access time is not part of the state.
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.value == other.value && self.expires_at == other.expires_at
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("value", &self.value)
            .field("expires_at_ms", &self.expires_at_ms())
            .finish()
    }
}

impl Entry {
    /// An entry of `value` expiring at `expires_at_ms` (Unix time in
    /// milliseconds), or never. Its access time is set when a shard stores
    /// it.
    pub fn new(value: Value, expires_at_ms: Option<u64>) -> Entry {
        let mut entry = Entry {
            value,
            expires_at: NEVER_MS,
            lru: Lru::default(),
        };
        entry.set_expires_at_ms(expires_at_ms);
        entry
    }

    /// Unix time in milliseconds at which the key expires; `None` if never.
    pub fn expires_at_ms(&self) -> Option<u64> {
        (self.expires_at != NEVER_MS).then_some(self.expires_at)
    }

    /// Sets or clears the expiry.
    pub fn set_expires_at_ms(&mut self, expires_at_ms: Option<u64>) {
        assert_ne!(expires_at_ms, Some(NEVER_MS), "expiry past i64::MAX ms");
        self.expires_at = expires_at_ms.unwrap_or(NEVER_MS);
    }

    /// Whether the key is expired at `now_ms` (a key whose expiry equals now
    /// is expired, as in Redis).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms().is_some_and(|at| at <= now_ms)
    }
}
