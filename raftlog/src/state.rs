//! What the log's handle ([`crate::log::RaftLog`]), its flusher thread and
//! its preparer share: the status, the queue of requests, the cache of
//! recent entries and the segments, all behind one lock ([`State`] in
//! [`Shared`]).
//!
//! Invariants (see `log.rs` for the cache's): requests are numbered in
//! queue order, and `durable_seq` only grows; `status` moves Running ->
//! Closing -> Closed, or to Failed from Running or Closing.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use bytes::Bytes;
use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::error::Error;
use crate::segment::{Segment, SparePool};
use crate::{Callback, Entry, Purged, Stats, SyncObserver};

/// Where the log is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Accepting requests.
    Running,
    /// `close` was called: the flusher drains the queue, then stops.
    Closing,
    /// Closed cleanly; final.
    Closed,
    /// A write or fsync failed; final. Holds the error message.
    Failed(String),
}

impl Status {
    /// Moves to `next`, asserting the transition is one of the documented ones.
    pub fn set(&mut self, next: Status) {
        debug_assert!(
            matches!(
                (&*self, &next),
                (Status::Running, Status::Closing)
                    | (Status::Running | Status::Closing, Status::Failed(_))
                    | (Status::Closing, Status::Closed)
            ),
            "bad raftlog status transition {self:?} -> {next:?}"
        );
        *self = next;
    }

    pub fn check(&self) -> Result<(), Error> {
        match self {
            Status::Running => Ok(()),
            Status::Closing | Status::Closed => Err(Error::Closed),
            Status::Failed(why) => Err(Error::Failed(why.clone())),
        }
    }
}

/// A request for the flusher, in the order callers made them.
pub enum Request {
    Append { entries: Vec<Entry>, done: Callback },
    Truncate { from: u64 },
    Purge { purged: Purged },
    Vote { vote: Bytes, done: Callback },
}

/// A queued request with its sequence number and queue weight.
pub struct Queued {
    pub seq: u64,
    pub bytes: usize,
    pub request: Request,
}

/// A cached entry and the sequence number of the request that wrote it.
pub struct Cached {
    pub seq: u64,
    pub entry: Entry,
}

/// Everything behind the one lock.
pub struct State {
    pub status: Status,
    /// Requests not yet taken by the flusher.
    pub queue: VecDeque<Queued>,
    /// Sum of `bytes` over `queue`.
    pub queue_bytes: usize,
    /// Sequence number of the last queued request.
    pub seq_last: u64,
    /// Every request up to this sequence number is durable.
    pub durable_seq: u64,
    /// First index present (meaningless while the log is empty).
    pub first: u64,
    /// Index the next append must carry (when anchored).
    pub next: u64,
    /// False while the log is empty and was never purged: then the next
    /// append may start at any index.
    pub anchored: bool,
    pub purged: Option<Purged>,
    pub vote: Option<Bytes>,
    /// Recent entries, see the module invariants.
    pub cache: VecDeque<Cached>,
    pub cache_bytes: usize,
    /// Live segments by first index, with their durable record offsets.
    pub segments: BTreeMap<u64, Segment>,
    /// Bumped whenever the flusher removes or rewrites durable records, so
    /// a reader that raced with it knows to retry.
    pub layout_epoch: u64,
    pub stats: Stats,
    /// Duration of each group commit's write + fdatasync, in nanoseconds.
    pub sync_latency_ns: Histogram<u64>,
}

impl State {
    /// Drops cached entries from the front while over `bytes_max`, but
    /// only durable ones.
    pub fn evict(&mut self, bytes_max: usize) {
        while self.cache_bytes > bytes_max {
            match self.cache.front() {
                Some(c) if c.seq <= self.durable_seq => {
                    self.cache_bytes -= c.entry.payload.len();
                    self.cache.pop_front();
                }
                _ => break,
            }
        }
    }

    pub fn cache_first(&self) -> u64 {
        self.cache.front().map_or(self.next, |c| c.entry.index)
    }

    pub fn enqueue(&mut self, bytes: usize, request: Request) -> u64 {
        self.seq_last += 1;
        self.queue.push_back(Queued {
            seq: self.seq_last,
            bytes,
            request,
        });
        self.queue_bytes += bytes;
        self.seq_last
    }
}

/// What the handle, the flusher and the preparer share.
pub struct Shared {
    pub dir: PathBuf,
    pub config: Config,
    pub state: Mutex<State>,
    /// Wakes the flusher when work arrives or the log closes.
    pub work: Condvar,
    /// Wakes producers blocked on a full queue.
    pub space: Condvar,
    /// The flusher thread, which runs small groups' callbacks itself: an
    /// append from such a callback must not wait for queue space.
    pub flusher_thread: OnceLock<ThreadId>,
    pub spares: Arc<SparePool>,
    /// Holds the directory's `LOCK` flock until the log is closed.
    pub lock: Mutex<Option<File>>,
    /// Told each group commit's duration (`RaftLog::observe_syncs`).
    pub sync_observers: Mutex<Vec<SyncObserver>>,
}
