//! List reads: they stream into a sink under the shard lock.

use super::ops::index_in;
use crate::collection::Kind;
use crate::{Engine, Error, ReplySink, Value};

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
            for item in list.range(first, last) {
                sink.bulk(item);
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `LLEN`: the length, 0 if the key is missing.
    pub fn llen(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        match self.read_kind(db, key, now_ms, Kind::List, |value| {
            value.map_or(0, |value| list_of(value).len())
        }) {
            Ok(len) => sink.int(len as i64),
            Err(error) => sink.error(&error),
        }
    }

    /// `LINDEX`: the element at `index` (negative: from the tail), or nil.
    /// `index` is `None` when the argument is not an integer, which Redis
    /// reports only once it has found a list at the key.
    pub fn lindex(
        &self,
        db: usize,
        key: &[u8],
        index: Option<i64>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::List, |value| {
            let Some(list) = value.map(list_of) else {
                sink.nil();
                return Ok(());
            };
            let index = index.ok_or(Error::NotInteger)?;
            match index_in(index, list.len()).and_then(|at| list.get(at)) {
                Some(item) => sink.bulk(item),
                None => sink.nil(),
            }
            Ok(())
        });
        if let Err(error) = read.and_then(|read| read) {
            sink.error(&error);
        }
    }

    /// `LPOS key element [RANK rank] [COUNT count] [MAXLEN maxlen]`, with
    /// the options parsed (see [`LposSearch`] for their meaning; `rank` is
    /// 1 and `maxlen` 0 when absent). Without `count`: the index of the
    /// match, or nil; with it, an array of up to `count` indexes.
    pub fn lpos(
        &self,
        db: usize,
        key: &[u8],
        element: &[u8],
        (rank, count, maxlen): (i64, Option<u64>, u64),
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let search = LposSearch {
            rank,
            count,
            maxlen,
        };
        let read = self.read_kind(db, key, now_ms, Kind::List, |value| {
            let found = value.map_or_else(Vec::new, |value| search.run(list_of(value), element));
            match search.count {
                Some(_) => {
                    sink.array(found.len());
                    for at in found {
                        sink.int(at as i64);
                    }
                }
                None => match found.first() {
                    Some(&at) => sink.int(at as i64),
                    None => sink.nil(),
                },
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }
}

/// The options of one `LPOS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LposSearch {
    /// Which match to start from: the `rank`-th from the head, or from the
    /// tail if negative. Never 0.
    pub(crate) rank: i64,
    /// `COUNT`: how many matches to return (0: all); `None` for a single
    /// index (or nil) rather than an array.
    pub(crate) count: Option<u64>,
    /// `MAXLEN`: how many elements to compare at most (0: all).
    pub(crate) maxlen: u64,
}

impl LposSearch {
    /// The indexes of the matches `self` selects in `list`, in the order
    /// the search meets them.
    pub(crate) fn run(&self, list: &super::List, element: &[u8]) -> Vec<usize> {
        assert!(self.rank != 0, "LPOS rank 0 is rejected by the parser");
        // Redis 7.0 negates a negative rank in a C long, so a rank of
        // i64::MIN stays negative: every match then counts as past the
        // rank, and the count limit (which subtracts the rank) never ends
        // the search. Replies match it exactly.
        let unbounded_rank = self.rank == i64::MIN;
        let skip = if unbounded_rank {
            0
        } else {
            self.rank.unsigned_abs() - 1
        };
        let limit = match self.count {
            None => 1,
            Some(0) => u64::MAX,
            Some(_) if unbounded_rank => u64::MAX,
            Some(count) => count,
        };
        let compared = match self.maxlen {
            0 => list.len(),
            maxlen => maxlen.min(list.len() as u64) as usize,
        };
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let matches = |(_, item): &(usize, &[u8])| *item == element;
        let at = |(at, _): (usize, &[u8])| at;
        let items = list.iter().enumerate();
        if self.rank < 0 {
            let from_tail = items.rev().take(compared).filter(matches);
            from_tail.skip(skip).take(limit).map(at).collect()
        } else {
            let from_head = items.take(compared).filter(matches);
            from_head.skip(skip).take(limit).map(at).collect()
        }
    }
}
