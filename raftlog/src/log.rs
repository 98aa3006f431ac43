//! [`RaftLog`]: the public handle, the shared state, and reads.
//!
//! Callers mutate the in-memory view at call time (an appended entry is
//! readable at once; a truncation or purge hides entries at once) and
//! queue a request; the flusher thread applies the requests to disk in
//! queue order. The view and the disk therefore agree once the queue is
//! drained.
//!
//! Invariants (checked by assertions where cheap):
//! - The cache holds a contiguous run of entries ending at `next - 1`.
//! - Entries in `first..cache_first` are durable and listed in `segments`:
//!   the cache evicts an entry only once the flusher has published the
//!   request that wrote it (`seq <= durable_seq`).
//! - `status` moves Running -> Closing -> Closed, or to Failed from
//!   Running or Closing; Failed and Closed are final (`state.rs`).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::error::Error;
use crate::flusher::Flusher;
use crate::format::{decode_entry, record_bytes};
use crate::meta::META_PAYLOAD_BYTES_MAX;
use crate::recovery::{self, Recovered};
use crate::segment::SparePool;
use crate::state::{Cached, Request, Shared, State, Status};
use crate::uring::Ring;
use crate::{Callback, Entry, Purged, Stats, SyncObserver};

/// How many times a disk read retries when a concurrent purge or
/// truncation moved the bytes under it.
const READ_ATTEMPTS_MAX: usize = 3;
/// Longest group commit the latency histogram tells apart (60 s); a
/// longer one counts as this.
const SYNC_LATENCY_NS_MAX: u64 = 60_000_000_000;

/// The Raft log. `Send + Sync`: share it behind an `Arc`. Dropping it (or
/// calling [`RaftLog::close`]) drains the queue and stops the threads.
pub struct RaftLog {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    preparer: Mutex<Option<JoinHandle<()>>>,
}

impl RaftLog {
    /// Opens (creating if needed) the log in `dir`, verifying every record
    /// and repairing a torn tail as `config.recovery` allows.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<RaftLog, Error> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, &e))?;
        let lock = lock_dir(&dir)?;
        let spares = SparePool::open(&dir, config.segment_bytes, config.spare_segments_max)?;
        let recovered = recovery::recover(&dir, &config)?;
        let ring = Ring::new(config.ring_entries).map_err(|e| Error::io(&dir, &e))?;
        let state = initial_state(recovered);
        let shared = Arc::new(Shared {
            dir,
            config,
            state: Mutex::new(state),
            work: Condvar::new(),
            space: Condvar::new(),
            flusher_thread: OnceLock::new(),
            spares: spares.clone(),
            lock: Mutex::new(Some(lock)),
            sync_observers: Mutex::new(Vec::new()),
        });
        let flusher = Flusher::new(shared.clone(), ring);
        let flusher = std::thread::Builder::new()
            .name("raftlog-flusher".into())
            .spawn(move || flusher.run())
            .map_err(|e| Error::io(&shared.dir, &e))?;
        let preparer = std::thread::Builder::new()
            .name("raftlog-prepare".into())
            .spawn(move || spares.run_preparer())
            .map_err(|e| Error::io(&shared.dir, &e))?;
        Ok(RaftLog {
            shared,
            flusher: Mutex::new(Some(flusher)),
            preparer: Mutex::new(Some(preparer)),
        })
    }

    /// Appends `entries` (which must continue the log without a gap) and
    /// returns at once; they are readable immediately. `done` fires with
    /// `Ok` once they and everything queued before them are durable. Blocks
    /// while the request queue is full. On `Err`, nothing was queued and
    /// `done` is dropped uncalled.
    pub fn append(
        &self,
        entries: impl IntoIterator<Item = Entry>,
        done: Callback,
    ) -> Result<(), Error> {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let config = &self.shared.config;
        let mut bytes = 0;
        for entry in &entries {
            if entry.payload.len() > config.entry_bytes_max {
                let why = format!(
                    "entry {} has {} bytes, over entry_bytes_max",
                    entry.index,
                    entry.payload.len()
                );
                return Err(Error::Invalid(why));
            }
            bytes += record_bytes(entry.payload.len());
        }
        let mut st = self.shared.state.lock();
        loop {
            st.status.check()?;
            let fits = st.queue_bytes + bytes <= config.queue_bytes_max
                && st.queue.len() < config.queue_requests_max;
            let on_flusher = self.shared.flusher_thread.get() == Some(&std::thread::current().id());
            if fits || st.queue.is_empty() || on_flusher {
                break;
            }
            self.shared.space.wait(&mut st);
        }
        let start = match entries.first() {
            Some(first) if !st.anchored => first.index,
            _ => st.next,
        };
        for (k, entry) in entries.iter().enumerate() {
            if entry.index != start + k as u64 {
                return Err(Error::Invalid(format!(
                    "entry {} appended where {} was expected",
                    entry.index,
                    start + k as u64
                )));
            }
        }
        if !entries.is_empty() {
            if !st.anchored {
                (st.first, st.next, st.anchored) = (start, start, true);
            }
            let seq = st.seq_last + 1;
            for entry in &entries {
                st.cache_bytes += entry.payload.len();
                st.cache.push_back(Cached {
                    seq,
                    entry: entry.clone(),
                });
            }
            st.next = start + entries.len() as u64;
        }
        st.enqueue(bytes, Request::Append { entries, done });
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Reads the entries present in `range` (a contiguous run, empty if
    /// none): from the cache, or verified from disk.
    pub fn read(&self, range: Range<u64>) -> Result<Vec<Entry>, Error> {
        for _ in 0..READ_ATTEMPTS_MAX {
            let (plan, cached, epoch) = {
                let st = self.shared.state.lock();
                st.status.check()?;
                if !st.anchored || st.first >= st.next {
                    return Ok(Vec::new());
                }
                let (lo, hi) = (range.start.max(st.first), range.end.min(st.next));
                if lo >= hi {
                    return Ok(Vec::new());
                }
                let cache_first = st.cache_first();
                let from_cache = lo.max(cache_first);
                let cached: Vec<Entry> = (from_cache..hi)
                    .map(|i| st.cache[(i - cache_first) as usize].entry.clone())
                    .collect();
                (
                    plan_disk_reads(&st, lo, hi.min(cache_first)),
                    cached,
                    st.layout_epoch,
                )
            };
            let mut entries = Vec::new();
            match read_spans(&plan, &mut entries) {
                Ok(()) => {
                    let mut st = self.shared.state.lock();
                    st.stats.entries_read_from_disk += entries.len() as u64;
                    entries.extend(cached);
                    return Ok(entries);
                }
                Err(err) if self.shared.state.lock().layout_epoch == epoch => return Err(err),
                Err(_) => continue,
            }
        }
        Err(Error::Invalid(
            "read kept racing with truncation or purge".into(),
        ))
    }

    /// Removes every entry after `index`. Applied to disk in call order;
    /// a later append's completion implies it is durable.
    pub fn truncate_after(&self, index: u64) -> Result<(), Error> {
        self.truncate_from(
            index
                .checked_add(1)
                .ok_or_else(|| Error::Invalid("truncate after u64::MAX".into()))?,
        )
    }

    /// Removes every entry at `index` and after (openraft's `truncate`).
    pub fn truncate_from(&self, index: u64) -> Result<(), Error> {
        let mut st = self.shared.state.lock();
        st.status.check()?;
        if let Some(purged) = st.purged.as_ref().filter(|p| index <= p.index) {
            return Err(Error::Invalid(format!(
                "truncate from {index} at or below the purge point {}",
                purged.index
            )));
        }
        if !st.anchored || index >= st.next {
            return Ok(());
        }
        let from = index.max(st.first);
        while st.cache.back().is_some_and(|c| c.entry.index >= from) {
            let c = st.cache.pop_back().expect("checked");
            st.cache_bytes -= c.entry.payload.len();
        }
        st.next = from;
        st.anchored = st.purged.is_some() || st.first < st.next;
        st.enqueue(0, Request::Truncate { from });
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Removes every entry up to and including `index` (which may lie past
    /// the last entry, after a snapshot install: the log then continues at
    /// `index + 1`). `id` is kept with it, see [`Purged`]. A purge point at
    /// or below the current one is ignored. Applied in call order.
    pub fn purge_upto(&self, index: u64, id: Bytes) -> Result<(), Error> {
        if id.len() + 8 > META_PAYLOAD_BYTES_MAX {
            return Err(Error::Invalid("purged id too long".into()));
        }
        let mut st = self.shared.state.lock();
        st.status.check()?;
        if st.purged.as_ref().is_some_and(|p| index <= p.index) {
            return Ok(());
        }
        while st.cache.front().is_some_and(|c| c.entry.index <= index) {
            let c = st.cache.pop_front().expect("checked");
            st.cache_bytes -= c.entry.payload.len();
        }
        if !st.anchored || index >= st.next {
            (st.first, st.next) = (index + 1, index + 1);
        } else {
            st.first = st.first.max(index + 1);
        }
        st.anchored = true;
        let purged = Purged { index, id };
        st.purged = Some(purged.clone());
        st.enqueue(0, Request::Purge { purged });
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Saves the vote; returns once it (and everything queued before it)
    /// is durable.
    pub fn save_vote(&self, vote: &[u8]) -> Result<(), Error> {
        if vote.len() > META_PAYLOAD_BYTES_MAX {
            return Err(Error::Invalid("vote too long".into()));
        }
        let vote = Bytes::copy_from_slice(vote);
        let (tx, rx) = mpsc::sync_channel(1);
        let done: Callback = Box::new(move |result| {
            let _ = tx.send(result);
        });
        {
            let mut st = self.shared.state.lock();
            st.status.check()?;
            st.enqueue(
                0,
                Request::Vote {
                    vote: vote.clone(),
                    done,
                },
            );
        }
        self.shared.work.notify_one();
        let result = rx
            .recv()
            .unwrap_or_else(|_| Err(Error::Failed("flusher stopped".into())));
        result?;
        self.shared.state.lock().vote = Some(vote);
        Ok(())
    }

    /// The last saved vote.
    pub fn read_vote(&self) -> Result<Option<Bytes>, Error> {
        let st = self.shared.state.lock();
        st.status.check()?;
        Ok(st.vote.clone())
    }

    /// Index of the first entry present, `None` if the log is empty.
    pub fn first_index(&self) -> Option<u64> {
        let st = self.shared.state.lock();
        (st.anchored && st.first < st.next).then_some(st.first)
    }

    /// Index of the last entry present, `None` if the log is empty.
    pub fn last_index(&self) -> Option<u64> {
        let st = self.shared.state.lock();
        (st.anchored && st.first < st.next).then(|| st.next - 1)
    }

    /// The purge point, if anything was ever purged.
    pub fn last_purged(&self) -> Option<Purged> {
        self.shared.state.lock().purged.clone()
    }

    /// `Ok` while the log accepts requests; the fatal error once it failed.
    pub fn check(&self) -> Result<(), Error> {
        self.shared.state.lock().status.check()
    }

    /// Calls `observer` with the duration of every later group commit
    /// (write and fdatasync of appended entries), on the flusher thread.
    pub fn observe_syncs(&self, observer: SyncObserver) {
        self.shared.sync_observers.lock().push(observer);
    }

    /// Why the log cannot make its next segment now (the disk is full),
    /// if so. Appends still go into the current segment and the spares
    /// already made, but a caller that goes on appending will use them up
    /// and the log will then fail: stop taking writes while this is
    /// `Some` (it clears by itself once a spare can be made again).
    pub fn space_short(&self) -> Option<String> {
        self.shared.spares.short()
    }

    /// Counters since open.
    pub fn stats(&self) -> Stats {
        self.shared.state.lock().stats
    }

    /// The distribution of group-commit durations (write + fdatasync of
    /// appends) since open, in nanoseconds (two significant figures).
    pub fn sync_latency_ns(&self) -> Histogram<u64> {
        self.shared.state.lock().sync_latency_ns.clone()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Drains the queue, stops the threads, releases the directory lock,
    /// and returns the log's fatal error if it failed. Idempotent; `Drop`
    /// calls it too.
    pub fn close(&self) -> Result<(), Error> {
        {
            let mut st = self.shared.state.lock();
            if st.status == Status::Running {
                st.status.set(Status::Closing);
            }
        }
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        if let Some(handle) = self.flusher.lock().take() {
            handle.join().expect("raftlog flusher panicked");
        }
        self.shared.spares.close();
        if let Some(handle) = self.preparer.lock().take() {
            handle.join().expect("raftlog preparer panicked");
        }
        // Only now may another handle open the directory.
        self.shared.lock.lock().take();
        match &self.shared.state.lock().status {
            Status::Failed(why) => Err(Error::Failed(why.clone())),
            _ => Ok(()),
        }
    }
}

impl Drop for RaftLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Builds the in-memory view from what recovery found.
fn initial_state(recovered: Recovered) -> State {
    let Recovered {
        segments,
        tail,
        vote,
        purged,
    } = recovered;
    let purged_next = purged.as_ref().map(|p| p.index + 1);
    let (mut first, mut next) = match (segments.values().next(), segments.values().next_back()) {
        (Some(a), Some(z)) => (a.first_index, z.next_index()),
        _ => (0, 0),
    };
    if let Some(purged_next) = purged_next {
        first = first.max(purged_next);
        if next < first {
            next = first;
        }
    }
    let anchored = purged.is_some() || first < next;
    assert!(
        tail.back().is_none_or(|e| e.index + 1 == next)
            && tail.front().is_none_or(|e| e.index >= first),
        "recovered cache must be a suffix of the log"
    );
    let cache_bytes = tail.iter().map(|e| e.payload.len()).sum();
    let cache = tail
        .into_iter()
        .map(|entry| Cached { seq: 0, entry })
        .collect();
    State {
        status: Status::Running,
        queue: VecDeque::new(),
        queue_bytes: 0,
        seq_last: 0,
        durable_seq: 0,
        first,
        next,
        anchored,
        purged,
        vote,
        cache,
        cache_bytes,
        segments,
        layout_epoch: 0,
        stats: Stats::default(),
        sync_latency_ns: Histogram::new_with_bounds(1, SYNC_LATENCY_NS_MAX, 2)
            .expect("the sync latency bounds are valid"),
    }
}

/// One disk read: a byte span of a segment holding consecutive records.
struct Span {
    file: Arc<File>,
    path: PathBuf,
    start: u64,
    end: u64,
    first: u64,
    count: u64,
}

/// Splits `lo..hi` (all durable) into per-segment byte spans.
fn plan_disk_reads(st: &State, lo: u64, hi: u64) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut index = lo;
    while index < hi {
        let (_, segment) = st
            .segments
            .range(..=index)
            .next_back()
            .expect("durable entries lie in a segment");
        let to = hi.min(segment.next_index());
        assert!(
            to > index,
            "entry {index} is below the cache but not on disk"
        );
        let (start, end) = segment.span(index, to);
        spans.push(Span {
            file: segment.file.clone(),
            path: segment.path.clone(),
            start,
            end,
            first: index,
            count: to - index,
        });
        index = to;
    }
    spans
}

/// Reads and verifies the spans, appending their entries.
fn read_spans(spans: &[Span], entries: &mut Vec<Entry>) -> Result<(), Error> {
    for span in spans {
        let mut buf = vec![0u8; (span.end - span.start) as usize];
        span.file
            .read_exact_at(&mut buf, span.start)
            .map_err(|e| Error::io(&span.path, &e))?;
        let mut offset = 0;
        for index in span.first..span.first + span.count {
            let (entry, next) = decode_entry(&buf, offset, index)
                .map_err(|why| Error::corrupt(&span.path, span.start + offset as u64, why))?;
            entries.push(entry);
            offset = next;
        }
    }
    Ok(())
}

/// Takes an exclusive flock on `dir/LOCK`, so two processes never open
/// the same log.
fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, &e))?;
    // SAFETY: plain syscall on a valid descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::io(&path, &std::io::Error::last_os_error()));
    }
    Ok(file)
}
