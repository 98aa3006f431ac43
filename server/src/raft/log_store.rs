//! openraft's log storage (`RaftLogStorage`, storage-v2) over
//! `redraft-raftlog`.
//!
//! Each openraft entry is serialized whole (log id and payload, with
//! postcard) into one raftlog record, whose term and index are the entry's.
//! The vote and the last purged log id, which openraft needs back exactly,
//! are serialized the same way into raftlog's vote slot and purge record.
//!
//! The last committed log id (`save_committed`) is kept in a small file
//! beside the log, written without fsync: it only saves work at restart
//! (entries up to it are applied before the node serves), and losing it is
//! safe because every entry it covers is already durable in the log.
//! Format: postcard of the log id, then its CRC32C (4 bytes
//! little-endian); a file that fails the check reads as absent.
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
use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, Range, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Where `save_committed` writes; `None` keeps the committed id only in
    /// memory (openraft's default behaviour).
    committed_file: Option<Arc<File>>,
    /// The last committed index saved, 0 before any (for INFO).
    committed_index: Arc<AtomicU64>,
    /// Called after each append is durable (and openraft told), so the
    /// proposer can form the next entry just as the log becomes free.
    on_flushed: Option<FlushHook>,
    _config: PhantomData<C>,
}

/// A hook run on raftlog's completion thread after each durable append.
pub type FlushHook = Arc<dyn Fn() + Send + Sync>;

impl<C> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        LogStore {
            log: self.log.clone(),
            committed_file: self.committed_file.clone(),
            committed_index: self.committed_index.clone(),
            on_flushed: self.on_flushed.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> LogStore<C> {
    pub fn new(log: Arc<RaftLog>) -> LogStore<C> {
        LogStore {
            log,
            committed_file: None,
            committed_index: Arc::default(),
            on_flushed: None,
            _config: PhantomData,
        }
    }

    /// Runs `hook` after every durable append.
    pub fn with_flush_hook(self, hook: FlushHook) -> LogStore<C> {
        LogStore {
            on_flushed: Some(hook),
            ..self
        }
    }

    /// A log store that also keeps the committed log id in `path`, and its
    /// index in `committed_index`.
    pub fn with_committed_file(
        log: Arc<RaftLog>,
        path: &Path,
        committed_index: Arc<AtomicU64>,
    ) -> io::Result<LogStore<C>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(LogStore {
            committed_file: Some(Arc::new(file)),
            committed_index,
            ..LogStore::new(log)
        })
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

/// Decodes a value followed by its CRC32C; `None` if the bytes are empty,
/// torn or corrupt.
fn read_sealed<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).ok()?;
    let used = bytes.len() - rest.len();
    let crc = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    (crc32c::crc32c(&bytes[..used]) == crc).then_some(value)
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

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let Some(committed) = committed else {
            return Ok(());
        };
        self.committed_index
            .store(committed.index, Ordering::Relaxed);
        let Some(file) = self.committed_file.as_ref() else {
            return Ok(());
        };
        let mut bytes = encode(&committed).map_err(|e| StorageIOError::write_logs(&e))?;
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        file.write_all_at(&bytes, 0)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        let Some(file) = self.committed_file.as_ref() else {
            return Ok(None);
        };
        let mut bytes = vec![0; 64];
        let read = file
            .read_at(&mut bytes, 0)
            .map_err(|e| StorageIOError::read_logs(&e))?;
        bytes.truncate(read);
        let committed = read_sealed::<LogId<C::NodeId>>(&bytes);
        // Never past the log's own end: entries after it are not here.
        let last = self.log.last_index();
        let committed = committed.filter(|id| Some(id.index) <= last);
        if let Some(id) = committed.as_ref() {
            self.committed_index.store(id.index, Ordering::Relaxed);
        }
        Ok(committed)
    }

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
            let mut payload = encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.get_log_id().clone(), &e))?;
            // raftlog keeps recent payloads in its read cache, which it
            // bounds by their length; the encoder's doubling growth leaves
            // up to as much again unused behind each one. Shrinking is a
            // realloc in place, not a copy.
            payload.shrink_to_fit();
            records.push(redraft_raftlog::Entry {
                index,
                term,
                payload: Bytes::from(payload),
            });
        }
        let on_flushed = self.on_flushed.clone();
        let done: redraft_raftlog::Callback = Box::new(move |result| {
            callback.log_io_completed(result.map_err(|e| io::Error::other(e.to_string())));
            if let Some(hook) = on_flushed {
                hook();
            }
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
