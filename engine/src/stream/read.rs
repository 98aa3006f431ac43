//! Stream reads: `XLEN`, `XRANGE`, `XREVRANGE` and `XREAD` (what it
//! answers at once; blocking is the server's).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{EntryRef, Stream, StreamId};
use crate::collection::Kind;
use crate::{Engine, Error, ReplySink, Value};

/// Where `XREAD` reads a stream from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadFrom {
    /// Entries above this ID.
    After(StreamId),
    /// `$`: entries above the stream's last ID when the read runs.
    Last,
}

/// Writes one entry: its ID, then its fields and values in one array.
fn emit_entry(entry: &EntryRef<'_>, sink: &mut impl ReplySink) {
    sink.array(2);
    sink.bulk(entry.id.to_text().as_bytes());
    sink.array(entry.field_count * 2);
    for (field, value) in entry.pairs() {
        sink.bulk(field);
        sink.bulk(value);
    }
}

/// Writes the entries of `stream` in `start..=end` (`count` 0: all).
fn emit_range(
    stream: &Stream,
    (start, end): (StreamId, StreamId),
    rev: bool,
    count: u64,
    sink: &mut impl ReplySink,
) {
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    let entries: Vec<EntryRef<'_>> = stream.live_entries(start, end, rev).take(limit).collect();
    sink.array(entries.len());
    entries.iter().for_each(|entry| emit_entry(entry, sink));
}

impl Stream {
    /// The highest live ID, if any (`streamLastValidID`).
    pub(crate) fn last_live_id(&self) -> Option<StreamId> {
        self.live_entries(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|entry| entry.id)
    }

    /// Whether `XREAD` from `from` has something to answer now.
    pub fn has_entries_after(&self, after: StreamId) -> bool {
        self.last_live_id().is_some_and(|top| top > after)
    }
}

impl Engine {
    /// Runs `read` on the stream at `key` (`None` if missing).
    fn read_stream<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        read: impl FnOnce(Option<&Stream>) -> R,
    ) -> Result<R, Error> {
        self.read_kind(db, key, now_ms, Kind::Stream, |value| {
            read(value.map(|value| match value {
                Value::Stream(stream) => &**stream,
                _ => unreachable!("checked to be a stream"),
            }))
        })
    }

    /// `XLEN`
    pub(crate) fn xlen(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        match self.read_stream(db, key, now_ms, |stream| stream.map_or(0, Stream::len)) {
            Ok(len) => sink.int(len as i64),
            Err(error) => sink.error(&error),
        }
    }

    /// `XRANGE` / `XREVRANGE` over `start..=end` (already made inclusive);
    /// `count` `None` for all, `Some(0)` (or a negative one) for a null
    /// array once the key is found.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn xrange(
        &self,
        db: usize,
        key: &[u8],
        bounds: (StreamId, StreamId),
        rev: bool,
        count: Option<u64>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let result = self.read_stream(db, key, now_ms, |stream| match (stream, count) {
            (None, _) => sink.array(0),
            (Some(_), Some(0)) => sink.nil_array(),
            (Some(stream), count) => emit_range(stream, bounds, rev, count.unwrap_or(0), sink),
        });
        if let Err(error) = result {
            sink.error(&error);
        }
    }

    /// Resolves `XREAD`'s positions in order, with Redis's order of
    /// checks: key `i`'s type, then position `i`'s parse error. `$` on a
    /// missing key is 0-0.
    pub fn xread_positions(
        &self,
        db: usize,
        keys: &[Bytes],
        from: &[Result<ReadFrom, Error>],
        now_ms: u64,
    ) -> Result<Vec<StreamId>, Error> {
        keys.iter()
            .zip(from)
            .map(|(key, from)| {
                let last =
                    self.peek_stream(db, key, now_ms, |stream| stream.map(Stream::last_id))?;
                match from.clone()? {
                    ReadFrom::After(id) => Ok(id),
                    ReadFrom::Last => Ok(last.unwrap_or(StreamId::MIN)),
                }
            })
            .collect()
    }

    /// Runs `read` on the stream at `key` without counting a hit or an
    /// access; WRONGTYPE for another type.
    pub(crate) fn peek_stream<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        read: impl FnOnce(Option<&Stream>) -> R,
    ) -> Result<R, Error> {
        self.inspect(db, key, now_ms, |entry, _| {
            match entry.map(|entry| &entry.value) {
                None => Ok(read(None)),
                Some(Value::Stream(stream)) => Ok(read(Some(stream))),
                Some(_) => Err(Error::WrongType),
            }
        })
    }

    /// Whether any of `keys` has entries after its position (what wakes a
    /// blocked `XREAD`).
    pub fn xread_ready(&self, db: usize, keys: &[Bytes], after: &[StreamId], now_ms: u64) -> bool {
        keys.iter().zip(after).any(|(key, after)| {
            self.peek_stream(db, key, now_ms, |stream| {
                stream.is_some_and(|stream| stream.has_entries_after(*after))
            })
            .unwrap_or(true)
        })
    }

    /// `XREAD` from resolved positions as an owned reply (at apply).
    pub(crate) fn xread_reply(
        &self,
        db: usize,
        keys: &[Bytes],
        after: &[StreamId],
        count: u64,
        now_ms: u64,
    ) -> crate::Reply {
        use crate::Reply;
        let ready = self.xread_entries(db, keys, after, count, now_ms);
        if ready.is_empty() {
            return Reply::NilArray;
        }
        let bulk = |bytes: &[u8]| Reply::Bulk(Bytes::copy_from_slice(bytes));
        Reply::Keyed(
            ready
                .into_iter()
                .map(|(key, entries)| {
                    let entries = entries.into_iter().map(|entry| {
                        let pairs = entry.pairs.iter().flat_map(|(f, v)| [bulk(f), bulk(v)]);
                        Reply::Array(vec![
                            Reply::Bulk(Bytes::from(entry.id.to_text())),
                            Reply::Array(pairs.collect()),
                        ])
                    });
                    (bulk(key), Reply::Array(entries.collect()))
                })
                .collect(),
        )
    }

    /// Each stream with entries after its position, with up to `count`
    /// of them (0: all), copied out under its own lock.
    fn xread_entries<'k>(
        &self,
        db: usize,
        keys: &'k [Bytes],
        after: &[StreamId],
        count: u64,
        now_ms: u64,
    ) -> Vec<(&'k Bytes, Vec<Owned>)> {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count).unwrap_or(usize::MAX)
        };
        let mut ready = Vec::new();
        for (key, after) in keys.iter().zip(after) {
            let entries = self.read_stream(db, key, now_ms, |stream| {
                let Some(start) = after.next() else {
                    return Vec::new();
                };
                stream.map_or_else(Vec::new, |stream| {
                    stream
                        .live_entries(start, StreamId::MAX, false)
                        .take(limit)
                        .map(|entry| Owned::of(&entry))
                        .collect()
                })
            });
            match entries {
                Ok(entries) if !entries.is_empty() => ready.push((key, entries)),
                _ => {}
            }
        }
        ready
    }

    /// `XREAD` from resolved positions: the streams with entries after
    /// theirs (a null array if none), each with up to `count` (0: all).
    /// Each stream is copied out under its own lock, so a write between
    /// two of them changes nothing already read.
    pub fn xread(
        &self,
        db: usize,
        keys: &[Bytes],
        after: &[StreamId],
        count: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.xread_reply(db, keys, after, count, now_ms).emit(sink);
    }
}

/// An entry copied out of its stream.
struct Owned {
    id: StreamId,
    pairs: Vec<(Bytes, Bytes)>,
}

impl Owned {
    fn of(entry: &EntryRef<'_>) -> Owned {
        Owned {
            id: entry.id,
            pairs: entry
                .pairs()
                .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }
}
