//! redraft-raftlog: the Raft log of redraft, an append-only segmented log
//! with group commit over io_uring.
//!
//! Callers append batches of [`Entry`] values (opaque payloads with a term
//! and an index) and get a completion callback once the entries are on
//! disk. A single flusher thread owns an io_uring: it drains every pending
//! request, writes all their records and an fdatasync in one submission,
//! and only after that fdatasync completes are the callbacks of the whole
//! group fired (group commit), in order, by a small completer thread. The
//! next group may be written while the previous one's fdatasync is still
//! in flight (`Config::syncs_in_flight_max`). Entries are readable from
//! memory as soon as [`RaftLog::append`] returns; a bounded cache keeps
//! recent entries so replication and apply rarely read from disk.
//!
//! Threads: `raftlog-flusher` (all segment writes), `raftlog-complete`
//! (runs callbacks), `raftlog-prepare` (zero-fills the next spare segment
//! in the background). On-disk format: see the `format` module and
//! `docs/raftlog-format.md`.
//!
//! Truncation, purge and the vote go through the same request queue as
//! appends, so the flusher applies them in call order (openraft requires
//! serialized log I/O). [`RaftLog::save_vote`] returns only once the vote is
//! durable.
//!
//! The crate knows nothing of openraft, tokio or glommio; the server's
//! adapter maps openraft's `RaftLogStorage` onto this API.
//!
//! Invariants:
//! - Indexes are contiguous: the entries present are exactly
//!   `first_index..=last_index`, and each append continues at
//!   `last_index + 1` (or at the purge point + 1; an empty log that was
//!   never purged accepts any first index).
//! - A completion callback fires `Ok` only after an fdatasync that covers
//!   its entries and everything queued before them.
//! - After a write or fsync error the log is failed for good: it never
//!   acknowledges anything again and never retries the fsync.
//! - Every record on disk verifies (CRC32C, expected index) before it is
//!   served; recovery cuts only a torn tail of the last segment.
//! - Entries below the cache are durable, and their file offsets are known.

#[cfg(feature = "chaos")]
mod chaos;
mod config;
mod error;
mod flusher;
mod format;
mod log;
mod meta;
mod recovery;
mod segment;
mod state;
mod uring;

use bytes::Bytes;

pub use config::{Config, RecoveryMode};
pub use error::Error;
pub use format::{
    record_bytes, segment_file_name, END_MARKER_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
pub use log::RaftLog;

/// One log entry: the Raft term and index, and an opaque payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log.
    pub index: u64,
    /// Raft term of the leader that created the entry.
    pub term: u64,
    /// The entry itself, opaque to this crate.
    pub payload: Bytes,
}

/// The purge point: every entry up to and including `index` is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Last purged index.
    pub index: u64,
    /// Opaque identity of the last purged entry, kept for the caller (the
    /// openraft adapter stores its serialized `LogId` here).
    pub id: Bytes,
}

/// Completion callback of an append: called once, in append order, with
/// `Ok` after the entries are durable or with the error that stopped the
/// log. It runs on one of the log's own threads (the completer, or the
/// flusher for small groups), so it should be quick (later callbacks and
/// possibly the next group commit wait behind it) and must not call
/// [`RaftLog::save_vote`] or drop the last handle to the log (both wait
/// for those threads). Appending from it is fine.
pub type Callback = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// Told how long each group commit took, from the start of its write to
/// the end of its fdatasync ([`RaftLog::observe_syncs`]). It runs on the
/// flusher thread after every group commit, so it must be quick.
pub type SyncObserver = Box<dyn Fn(std::time::Duration) + Send + Sync>;

/// Counters since the log was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries made durable.
    pub entries_durable: u64,
    /// fdatasync calls on segment files (group commits, rolls, truncations).
    pub fsyncs: u64,
    /// Record bytes written to segment files.
    pub bytes_written: u64,
    /// Total time spent in write + fdatasync submissions of appends.
    pub sync_nanos_total: u64,
    /// Entries read back from disk because they had left the cache.
    pub entries_read_from_disk: u64,
}
