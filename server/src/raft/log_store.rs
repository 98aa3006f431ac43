//! openraft's log storage (`RaftLogStorage`, storage-v2) over
//! `redraft-raftlog`.
//!
//! Each openraft entry is serialized whole (log id and payload, with
//! postcard) into one raftlog record, whose term and index are the entry's.
//! The vote and the last purged log id, which openraft needs back exactly,
//! are serialized the same way into raftlog's vote slot and purge record.
//!
//! Invariants:
//! - `append` returns once the entries are readable; openraft's callback
//!   fires only after raftlog has made them durable (fdatasync). A failed
//!   write or fsync reaches openraft as an error, which stops this node: it
//!   is never retried (raftlog refuses every later write).
//! - The record's term and index always equal the serialized log id's
//!   (asserted when read back).

// openraft's `StorageError` is large; its trait methods return it, so ours do.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, Range, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, OptionalSend, RaftLogId, RaftTypeConfig, StorageError, StorageIOError,
    Vote,
};
use redraft_raftlog::RaftLog;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The log store. Cloning is cheap (one `Arc`); a clone is also the log
/// reader openraft hands to replication tasks.
pub struct LogStore<C> {
    log: Arc<RaftLog>,
    _config: PhantomData<C>,
}

impl<C> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        LogStore {
            log: self.log.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> LogStore<C> {
    pub fn new(log: Arc<RaftLog>) -> LogStore<C> {
        LogStore {
            log,
            _config: PhantomData,
        }
    }

    /// The raftlog underneath (stats, directory).
    pub fn raft_log(&self) -> &Arc<RaftLog> {
        &self.log
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(value)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Clamps an openraft range to `[start, end)` over u64 indexes.
fn to_range<RB: RangeBounds<u64>>(range: &RB) -> Range<u64> {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    start..end.max(start)
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    fn read_entries(&self, range: Range<u64>) -> Result<Vec<Entry<C>>, StorageError<C::NodeId>> {
        let first = self.log.first_index().unwrap_or(u64::MAX);
        let last = self.log.last_index().unwrap_or(0);
        let range = range.start.max(first)..range.end.min(last.saturating_add(1));
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let records = self
            .log
            .read(range)
            .map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
        records
            .iter()
            .map(|record| {
                let entry: Entry<C> = decode(&record.payload)
                    .map_err(|e| StorageIOError::read_log_at_index(record.index, &e))?;
                assert_eq!(
                    entry.get_log_id().index,
                    record.index,
                    "raftlog record index differs from its entry"
                );
                assert_eq!(
                    entry.get_log_id().leader_id.term,
                    record.term,
                    "raftlog record term differs from its entry"
                );
                Ok(entry)
            })
            .collect()
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.read_entries(to_range(&range))
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last_purged_log_id: Option<LogId<C::NodeId>> = match self.log.last_purged() {
            Some(purged) => Some(decode(&purged.id).map_err(|e| StorageIOError::read_logs(&e))?),
            None => None,
        };
        let last_log_id = match self.log.last_index() {
            Some(last) => self
                .read_entries(last..last + 1)?
                .pop()
                .map(|entry| entry.get_log_id().clone()),
            None => None,
        };
        let last_log_id = last_log_id.or_else(|| last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let bytes = encode(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        self.log
            .save_vote(&bytes)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        match self
            .log
            .read_vote()
            .map_err(|e| StorageIOError::read_vote(&e))?
        {
            Some(bytes) => Ok(Some(
                decode(&bytes).map_err(|e| StorageIOError::read_vote(&e))?,
            )),
            None => Ok(None),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Entries at or below the purge point are already in the state
        // machine's snapshot, and Raft never changes a committed entry, so
        // appending one again is a no-op. (openraft's own test suite does
        // it; a running node never does.)
        let purged_index = self.log.last_purged().map(|purged| purged.index);
        let mut records = Vec::new();
        for entry in entries {
            let (index, term) = (entry.get_log_id().index, entry.get_log_id().leader_id.term);
            if purged_index.is_some_and(|purged| index <= purged) {
                continue;
            }
            let payload = encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.get_log_id().clone(), &e))?;
            records.push(redraft_raftlog::Entry {
                index,
                term,
                payload: Bytes::from(payload),
            });
        }
        let done: redraft_raftlog::Callback = Box::new(move |result| {
            callback.log_io_completed(result.map_err(|e| io::Error::other(e.to_string())));
        });
        self.log
            .append(records, done)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.log
            .truncate_from(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let id = encode(&log_id).map_err(|e| StorageIOError::write_logs(&e))?;
        self.log
            .purge_upto(log_id.index, Bytes::from(id))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::to_range;

    #[test]
    fn ranges_clamp_to_half_open() {
        assert_eq!(to_range(&(3..7)), 3..7);
        assert_eq!(to_range(&(3..=7)), 3..8);
        assert_eq!(to_range(&(..5)), 0..5);
        assert_eq!(to_range(&(5..)), 5..u64::MAX);
        let (start, end) = (7, 3);
        assert_eq!(to_range(&(start..end)), 7..7);
        assert_eq!(to_range(&(..=u64::MAX)), 0..u64::MAX);
    }
}
