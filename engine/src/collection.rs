//! What every collection command shares: finding a key of the right type
//! for a read or a write, and deleting a collection a write has emptied.
//!
//! Invariants:
//! - A key of another type answers WRONGTYPE and is left untouched (the
//!   lookup of a write still removes it first if it has expired, as
//!   Redis's `lookupKeyWrite` does).
//! - No empty collection is ever stored: a write that empties one removes
//!   its key ([`remove_if_empty`]), as Redis does.

use std::borrow::Cow;

use crate::key::KeyRef;
use crate::shard::{Place, Shard};
use crate::table::Found;
use crate::{Engine, Entry, Error, ReplySink, Value};

/// A value type, for type checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl Kind {
    pub(crate) fn of(value: &Value) -> Kind {
        match value {
            Value::Str(_) => Kind::Str,
            Value::List(_) => Kind::List,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Stream(_) => Kind::Stream,
        }
    }
}

/// Looks `key` up for a write on a value of `kind`: expired keys are
/// removed first; `Err(WrongType)` if it holds another type.
pub(crate) fn find_for_write(
    shard: &mut Shard,
    key: KeyRef<'_>,
    now_ms: u64,
    kind: Kind,
) -> Result<Place, Error> {
    let place = shard.find_for_write(key, now_ms);
    if let Ok(found) = place {
        if Kind::of(&shard.entry(found).value) != kind {
            return Err(Error::WrongType);
        }
    }
    Ok(place)
}

/// Removes the key at `found` if its collection is empty; returns whether
/// it did.
pub(crate) fn remove_if_empty(shard: &mut Shard, found: Found) -> bool {
    if shard.entry(found).value.is_empty_collection() {
        shard.remove_at(found);
        true
    } else {
        false
    }
}

/// A new entry holding `value`, without expiry.
/// Writes the head of an `HSCAN`, `SSCAN` or `ZSCAN` reply: the next
/// cursor (0 when the scan is done; a missing key is an empty, finished
/// scan), then the header of an array of `len` items, which the caller
/// writes.
pub(crate) fn scan_reply_head(sink: &mut impl ReplySink, next_cursor: u64, len: usize) {
    sink.array(2);
    sink.bulk(itoa::Buffer::new().format(next_cursor).as_bytes());
    sink.array(len);
}

pub(crate) fn new_entry(value: Value) -> Entry {
    Entry::new(value, None)
}

impl Engine {
    /// Runs `read` on the live value of `key` in `db` (`None` if missing),
    /// under its shard's lock, counting a keyspace hit or miss.
    /// `Err(WrongType)` if the key holds a value of another kind.
    pub(crate) fn read_kind<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        kind: Kind,
        read: impl FnOnce(Option<&Value>) -> R,
    ) -> Result<R, Error> {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry: Option<Cow<'_, Entry>> = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        match entry.as_deref() {
            Some(entry) if Kind::of(&entry.value) != kind => Err(Error::WrongType),
            entry => Ok(read(entry.map(|entry| &entry.value))),
        }
    }
}
