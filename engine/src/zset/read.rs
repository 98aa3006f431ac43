//! Sorted set reads: they stream into a sink under the shard lock.

use crate::collection::Kind;
use crate::list::clamp_range;
use crate::{Engine, ReplySink, Value};

/// The sorted set in `value` (which `read_kind` checked).
fn zset_of(value: &Value) -> &super::ZSet {
    match value {
        Value::ZSet(zset) => zset,
        _ => unreachable!("read_kind checked the type"),
    }
}

impl Engine {
    /// `ZRANGE key start stop [WITHSCORES]` by rank. With scores, RESP3
    /// gets [member, score] pairs and RESP2 a flat list.
    #[allow(clippy::too_many_arguments)]
    pub fn zrange_by_rank(
        &self,
        db: usize,
        key: &[u8],
        start: i64,
        stop: i64,
        with_scores: bool,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let range = value
                .map(zset_of)
                .and_then(|zset| Some((zset, clamp_range(start, stop, zset.len())?)));
            let Some((zset, (first, last))) = range else {
                sink.array(0);
                return;
            };
            let count = last - first + 1;
            if with_scores && sink.is_resp3() {
                sink.array(count);
                for (score, member) in zset.iter().skip(first).take(count) {
                    sink.array(2);
                    sink.bulk(member);
                    sink.double(score);
                }
            } else if with_scores {
                sink.array(count * 2);
                for (score, member) in zset.iter().skip(first).take(count) {
                    sink.bulk(member);
                    sink.double(score);
                }
            } else {
                sink.array(count);
                for (_, member) in zset.iter().skip(first).take(count) {
                    sink.bulk(member);
                }
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }
}
