//! Hash reads: they stream into a sink under the shard lock.

use crate::collection::Kind;
use crate::{Engine, ReplySink, Value};

/// The hash in `value` (which `read_kind` checked).
fn hash_of(value: &Value) -> &super::Hash {
    match value {
        Value::Hash(hash) => hash,
        _ => unreachable!("read_kind checked the type"),
    }
}

impl Engine {
    /// `HGET`: the field's value, or nil.
    pub fn hget(
        &self,
        db: usize,
        key: &[u8],
        field: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::Hash, |value| {
            match value.and_then(|value| hash_of(value).get(field)) {
                Some(found) => sink.bulk(found),
                None => sink.nil(),
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `HGETALL`: a map of every field to its value (an empty one if the
    /// key is missing).
    pub fn hgetall(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let read = self.read_kind(db, key, now_ms, Kind::Hash, |value| {
            let Some(hash) = value.map(hash_of) else {
                sink.map(0);
                return;
            };
            sink.map(hash.len());
            for (field, value) in hash.iter() {
                sink.bulk(field);
                sink.bulk(value);
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }
}
