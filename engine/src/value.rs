//! Typed values and the entries that hold them.

use bytes::Bytes;

use crate::SmallBytes;

/// A stored value. Strings are here now; the collection types are shaped for
/// the commands that will use them (lists, hashes, sets, sorted sets).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string; short ones are held inline, in the key's table slot.
    Str(SmallBytes),
    List(std::collections::VecDeque<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    Set(Vec<Bytes>),
    ZSet(Vec<(f64, Bytes)>),
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
        }
    }
}

/// A key's value with its optional expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Unix time in milliseconds at which the key expires; `None` if never.
    pub expires_at_ms: Option<u64>,
}

impl Entry {
    /// Whether the key is expired at `now_ms` (a key whose expiry equals now
    /// is expired, as in Redis).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}
