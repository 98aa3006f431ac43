//! Stream writes: the validated ops and their deterministic apply.
//!
//! An `*` ID is made here from the entry's time (`now_ms`, the replicated
//! clock, which never goes back) and the stream's last ID, so every node
//! gives the same ID; everything else an op needs was parsed on the
//! connection. Errors Redis reports before it looks at the key are the
//! parser's; those it reports after are carried in the op.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{NewId, ReadFrom, Stream, StreamId, Trim};
use crate::collection::{find_for_write, new_entry, Kind};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, Value};

/// Redis's `COUNT` of a blocked `XREAD` that gave none.
const BLOCKED_COUNT_DEFAULT: u64 = 1000;

/// Redis's limit on the bytes of one entry's fields and values.
const ENTRY_BYTES_MAX: usize = 1 << 30;

const EXHAUSTED: Error =
    Error::Other("ERR The stream has exhausted the last possible ID, unable to add more items");
const TOO_SMALL: Error = Error::Other(
    "ERR The ID specified in XADD is equal or smaller than the target stream top item",
);
const TOO_LARGE: Error = Error::Other("ERR Elements are too large to be stored");
const SETID_TOO_SMALL: Error =
    Error::Other("ERR The ID specified in XSETID is smaller than the target stream top item");
const SETID_ENTRIES_TOO_SMALL: Error = Error::Other(
    "ERR The entries_added specified in XSETID is smaller than the target stream length",
);

/// One validated stream write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamOp {
    /// `XADD`: the new ID (bulk), nil with `NOMKSTREAM` on a missing key.
    Add {
        key: Bytes,
        no_mkstream: bool,
        id: NewId,
        pairs: Vec<(Bytes, Bytes)>,
        trim: Option<Trim>,
    },
    /// `XDEL`: how many entries were deleted. An invalid ID is reported
    /// only once the key is found to be a stream.
    Del {
        key: Bytes,
        ids: Result<Vec<StreamId>, Error>,
    },
    /// `XTRIM`: how many entries were removed.
    Trim { key: Bytes, trim: Trim },
    /// `XREAD` as a blocking command's attempt (`XREAD BLOCK`, or inside
    /// `MULTI`): the streams with entries after their positions, or a
    /// null array. Errors of keys and IDs come as `XREAD`'s do.
    Read {
        keys: Vec<Bytes>,
        from: Vec<Result<ReadFrom, Error>>,
        /// 0: all.
        count: u64,
    },
    /// `XSETID`: `+OK`, or `ERR no such key`.
    SetId {
        key: Bytes,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted_id: Option<StreamId>,
    },
}

impl StreamOp {
    /// The key the op writes.
    pub fn key(&self) -> &Bytes {
        match self {
            StreamOp::Add { key, .. }
            | StreamOp::Del { key, .. }
            | StreamOp::Trim { key, .. }
            | StreamOp::SetId { key, .. } => key,
            StreamOp::Read { keys, .. } => &keys[0],
        }
    }

    /// A blocked `XREAD` as it waits: `$` fixed to each stream's last ID
    /// now (Redis resolves it when the command blocks), and no `COUNT`
    /// made Redis's 1000 for blocked reads.
    pub fn for_waiting(&self, engine: &Engine, db: usize, now_ms: u64) -> StreamOp {
        let StreamOp::Read { keys, from, count } = self else {
            return self.clone();
        };
        let from = match engine.xread_positions(db, keys, from, now_ms) {
            Ok(after) => after
                .into_iter()
                .map(|id| Ok(ReadFrom::After(id)))
                .collect(),
            Err(_) => from.clone(),
        };
        StreamOp::Read {
            keys: keys.clone(),
            from,
            count: if *count == 0 {
                BLOCKED_COUNT_DEFAULT
            } else {
                *count
            },
        }
    }

    /// This `XREAD` restricted to `key`, one of its keys.
    pub(crate) fn read_only(&self, key: &Bytes) -> StreamOp {
        let StreamOp::Read { keys, from, count } = self else {
            unreachable!("not a stream read: {self:?}")
        };
        let at = keys.iter().position(|k| k == key).expect("one of its keys");
        StreamOp::Read {
            keys: vec![key.clone()],
            from: vec![from[at].clone()],
            count: *count,
        }
    }
}

/// The ID `XADD` gives its entry, or its error.
fn new_id(stream: &Stream, id: NewId, now_ms: u64) -> Result<StreamId, Error> {
    let last = stream.last_id;
    let id = match id {
        NewId::Auto if now_ms > last.ms => StreamId::new(now_ms, 0),
        NewId::Auto => last.next().ok_or(EXHAUSTED)?,
        // Redis fails here without setting errno, so its reply is the
        // "too large" text, not the "equal or smaller" one.
        NewId::AutoSeq(ms) if ms == last.ms && last.seq == u64::MAX => return Err(TOO_LARGE),
        NewId::AutoSeq(ms) if ms == last.ms => StreamId::new(ms, last.seq + 1),
        NewId::AutoSeq(ms) => StreamId::new(ms, 0),
        NewId::Explicit(id) => id,
    };
    if id <= last {
        return Err(TOO_SMALL);
    }
    Ok(id)
}

impl Engine {
    pub(crate) fn apply_stream(
        &self,
        db: usize,
        op: &StreamOp,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        match op {
            StreamOp::Add {
                key,
                no_mkstream,
                id,
                pairs,
                trim,
            } => {
                let added = self.stream_write(db, key, now_ms, !no_mkstream, |stream| {
                    if stream.last_id == StreamId::MAX {
                        return Err(EXHAUSTED);
                    }
                    let id = new_id(stream, *id, now_ms)?;
                    let bytes: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
                    if bytes > ENTRY_BYTES_MAX {
                        return Err(TOO_LARGE);
                    }
                    stream.append(id, pairs);
                    if let Some(trim) = trim {
                        stream.trim(trim);
                    }
                    Ok(id)
                })?;
                Ok(match added {
                    Some(id) => Reply::Bulk(Bytes::from(id.to_text())),
                    None => Reply::Nil,
                })
            }
            StreamOp::Del { key, ids } => {
                let deleted = self.stream_write(db, key, now_ms, false, |stream| {
                    let ids = ids.as_ref().map_err(Clone::clone)?;
                    Ok(stream.delete_ids(ids))
                })?;
                Ok(Reply::Int(deleted.unwrap_or(0) as i64))
            }
            StreamOp::Trim { key, trim } => {
                let removed =
                    self.stream_write(db, key, now_ms, false, |stream| Ok(stream.trim(trim)))?;
                Ok(Reply::Int(removed.unwrap_or(0) as i64))
            }
            StreamOp::Read { keys, from, count } => {
                let after = self.xread_positions(db, keys, from, now_ms)?;
                Ok(self.xread_reply(db, keys, &after, *count, now_ms))
            }
            StreamOp::SetId {
                key,
                id,
                entries_added,
                max_deleted_id,
            } => {
                let done = self.stream_write(db, key, now_ms, false, |stream| {
                    stream.set_id(*id, *entries_added, *max_deleted_id)
                })?;
                done.map(|()| Reply::Ok).ok_or(Error::NoSuchKey)
            }
        }
    }

    /// Runs `change` on the stream at `key` under its shard's lock: an
    /// expired key is removed first, another type is WRONGTYPE, a missing
    /// key is created empty if `create` (else `change` is skipped and the
    /// result is `None`). A stream left empty stays, as in Redis.
    fn stream_write<R>(
        &self,
        db: usize,
        key: &Bytes,
        now_ms: u64,
        create: bool,
        change: impl FnOnce(&mut Stream) -> Result<R, Error>,
    ) -> Result<Option<R>, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::Stream)? {
            Ok(found) => found,
            Err(_) if !create => return Ok(None),
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::Stream(Box::default()))),
        };
        shard
            .update_value_at(found, |value| {
                let Value::Stream(stream) = value else {
                    unreachable!("checked to be a stream")
                };
                change(stream)
            })
            .map(Some)
    }
}

impl Stream {
    /// `XDEL`'s deletions, with Redis's bookkeeping of the first and the
    /// highest deleted IDs.
    pub(super) fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_gone = false;
        for &id in ids {
            if self.delete(id) {
                first_gone |= id == self.first_id;
                self.max_deleted_id = self.max_deleted_id.max(id);
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_gone {
                self.refresh_first_id();
            }
        }
        deleted
    }

    /// `XSETID`'s checks against the stream, then its change.
    pub(super) fn set_id(
        &mut self,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted_id: Option<StreamId>,
    ) -> Result<(), Error> {
        if self.length > 0 {
            let top = self
                .live_entries(StreamId::MIN, StreamId::MAX, true)
                .next()
                .expect("a live entry")
                .id;
            if id < top {
                return Err(SETID_TOO_SMALL);
            }
            if entries_added.is_some_and(|added| self.length > added) {
                return Err(SETID_ENTRIES_TOO_SMALL);
            }
        }
        self.last_id = id;
        if let Some(added) = entries_added {
            self.entries_added = added;
        }
        if let Some(max) = max_deleted_id.filter(|max| *max != StreamId::MIN) {
            self.max_deleted_id = max;
        }
        Ok(())
    }
}
