//! List reads: they stream into a sink under the shard lock.

use crate::collection::Kind;
use crate::{Engine, ReplySink, Value};

/// The list in `value` (which `read_kind` checked).
fn list_of(value: &Value) -> &super::List {
    match value {
        Value::List(list) => list,
        _ => unreachable!("read_kind checked the type"),
    }
}

/// The inclusive index range `LRANGE start stop` selects in a list of
/// `len`, with negative indexes counting from the end; `None` if empty.
pub(crate) fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

impl Engine {
    /// `LRANGE`: the elements from `start` to `stop` inclusive.
    pub fn lrange(
        &self,
        db: usize,
        key: &[u8],
        start: i64,
        stop: i64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::List, |value| {
            let Some(list) = value.map(list_of) else {
                sink.array(0);
                return;
            };
            let Some((first, last)) = clamp_range(start, stop, list.len()) else {
                sink.array(0);
                return;
            };
            sink.array(last - first + 1);
            for item in list.iter().skip(first).take(last - first + 1) {
                sink.bulk(item);
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }
}
