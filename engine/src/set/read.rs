//! Set reads: they stream into a sink under the shard lock.

use crate::collection::Kind;
use crate::{Engine, ReplySink, Value};

/// The set in `value` (which `read_kind` checked).
fn set_of(value: &Value) -> &super::Set {
    match value {
        Value::Set(set) => set,
        _ => unreachable!("read_kind checked the type"),
    }
}

impl Engine {
    /// `SMEMBERS`: every member (a RESP3 set).
    pub fn smembers(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let read = self.read_kind(db, key, now_ms, Kind::Set, |value| {
            let Some(set) = value.map(set_of) else {
                sink.set(0);
                return;
            };
            sink.set(set.len());
            for member in set.iter() {
                sink.bulk(member);
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }
}
