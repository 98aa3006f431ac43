//! The flusher thread: the only writer of segment files.
//!
//! Each round it takes every queued request (up to `batch_bytes_max` of
//! records) and encodes the appends into one buffer that mirrors the file
//! from the current end marker. It then writes the buffer, with a fresh
//! end marker, and an fdatasync linked behind the write, in one io_uring
//! submission (a group commit). When the fdatasync completes, the group's
//! record offsets are published and its callbacks handed, in order, to
//! the completer thread.
//!
//! Up to `syncs_in_flight_max` group commits may have their fdatasync in
//! flight at once: the next group is written while the previous one is
//! still syncing, so waking the producers of one group overlaps the disk
//! flush of the next. A group with nothing in flight before it and nothing
//! queued behind it is synced with a direct fdatasync call instead: an
//! io_uring fsync always runs on a kernel worker thread, and those two
//! thread switches would dominate a lone small append's latency. Writes still reach the page cache strictly in order
//! (each write completes before the next is submitted), and groups are
//! reaped strictly in order, so a callback never fires before every
//! earlier group is durable.
//!
//! Truncate, purge, vote and segment rolls are barriers: everything
//! before them is written and synced first ([`Flusher::settle`]), so the
//! disk sees every request in queue order.
//!
//! The encode buffer moves through [`Phase`]: Idle -> Encoding (records
//! added) -> Idle once submitted. Any I/O error fails the log for good:
//! pending callbacks get the error, nothing is acknowledged afterwards,
//! and the fsync is never retried.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::mem;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use crate::error::Error;
use crate::format::{
    encode_record, encode_segment_header, record_bytes, segment_file_name, END_MARKER_BYTES,
    SEGMENT_HEADER_BYTES,
};
use crate::meta::{self, encode_purged, Kind, PURGED_FILE, VOTE_FILE};
use crate::segment::{preallocate, Segment};
use crate::state::{Queued, Request, Shared, Status};
use crate::uring::Ring;
use crate::{Callback, Entry, Purged};

/// Bytes of zeros per write when wiping truncated records.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// Capacity the encode buffer keeps between group commits. It grows as a
/// group needs (up to `batch_bytes_max`, which the server sets to tens of
/// MiB); after one large group it gives the rest back, so a burst does not
/// leave that much memory resident for the life of the process.
const BUF_KEEP_BYTES: usize = 4 << 20;

/// Whether this is the chaos suite's deliberately broken build, which
/// acknowledges group commits before syncing them (see `chaos.rs`).
fn broken_ack() -> bool {
    #[cfg(feature = "chaos")]
    return crate::chaos::BROKEN_ACK;
    #[cfg(not(feature = "chaos"))]
    return false;
}

/// Groups with at most this many callbacks complete on the flusher thread
/// itself when the completer has nothing pending.
const INLINE_CALLBACKS_MAX: usize = 4;

/// Callbacks to run in order, all with the same result.
type Completion = (Vec<Callback>, Result<(), Error>);

/// Whether the encode buffer holds records not yet written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing buffered.
    Idle,
    /// Records buffered for the active segment, not yet written.
    Encoding,
}

/// What the flusher found when it looked for work.
enum Work {
    /// Requests were moved into `Flusher::batch`.
    Batch,
    /// No request queued, but group commits are in flight.
    Reap,
    /// Closing, queue drained, nothing in flight.
    Stop,
}

/// The segment being appended to.
struct Active {
    first_index: u64,
    path: PathBuf,
    file: Arc<std::fs::File>,
    /// Offset of the end marker: where buffered records will be written.
    end: u64,
    /// Index of the next record to encode.
    next_index: u64,
}

/// The fdatasync of a group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// The group wrote nothing (it only carries callbacks, e.g. a vote's).
    Nothing,
    /// Running on the ring under this token.
    Running(u64),
    /// Already done.
    Done,
}

/// A group commit whose write is done and whose fdatasync may still run.
struct Group {
    /// The fdatasync covering the group.
    sync: Sync,
    /// Segment written (first index) and its path, for errors.
    segment: u64,
    path: PathBuf,
    /// File offsets of the records written.
    offsets: Vec<u32>,
    /// End marker offset after the write.
    end: u64,
    /// Record bytes written.
    records_bytes: usize,
    /// Every request up to this sequence number is in this group or before.
    handled_seq: u64,
    /// Callbacks to fire once the group is durable.
    done: Vec<Callback>,
    /// When the write was submitted.
    started: Instant,
}

pub struct Flusher {
    shared: Arc<Shared>,
    ring: Ring,
    phase: Phase,
    active: Option<Active>,
    /// Encoded records for `active`, to be written at `active.end`; holds
    /// at most `BUF_KEEP_BYTES` of capacity between groups.
    buf: Vec<u8>,
    /// File offsets of the records in `buf`.
    unpublished: Vec<u32>,
    /// Callbacks of requests fully handled, for the next group.
    done: Vec<Callback>,
    /// Callback of the request being handled (it completes only after
    /// all of its records are synced).
    current: Option<Callback>,
    /// Requests of this round not handled yet.
    batch: VecDeque<Queued>,
    /// Group commits written, oldest first, not yet reaped.
    inflight: VecDeque<Group>,
    /// Sequence number of the last request fully handled.
    handled_seq: u64,
    /// The purge point as the flusher has applied it.
    purged_index: Option<u64>,
    /// Sends callbacks, with their result, to the completer thread.
    completer: Option<mpsc::Sender<Completion>>,
    /// Batches sent to the completer and not yet run by it.
    backlog: Arc<AtomicUsize>,
}

impl Flusher {
    pub fn new(shared: Arc<Shared>, ring: Ring) -> Flusher {
        let (active, purged_index) = {
            let st = shared.state.lock();
            let active = st.segments.values().next_back().map(|s| Active {
                first_index: s.first_index,
                path: s.path.clone(),
                file: s.file.clone(),
                end: u64::from(s.end),
                next_index: s.next_index(),
            });
            (active, st.purged.as_ref().map(|p| p.index))
        };
        Flusher {
            shared,
            ring,
            phase: Phase::Idle,
            active,
            buf: Vec::new(),
            unpublished: Vec::new(),
            done: Vec::new(),
            current: None,
            batch: VecDeque::new(),
            inflight: VecDeque::new(),
            handled_seq: 0,
            purged_index,
            completer: None,
            backlog: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The thread body: rounds of group commit until closed or failed.
    /// Callbacks run on a helper thread (`raftlog-complete`), in order, so
    /// that waking their owners overlaps the next write and fdatasync
    /// (small groups run inline, see [`Flusher::complete`]).
    pub fn run(mut self) {
        self.shared
            .flusher_thread
            .set(std::thread::current().id())
            .expect("one flusher per log");
        let (tx, rx) = mpsc::channel::<Completion>();
        let backlog = self.backlog.clone();
        let completer = std::thread::Builder::new()
            .name("raftlog-complete".into())
            .spawn(move || {
                for (callbacks, result) in rx {
                    for callback in callbacks {
                        callback(result.clone());
                    }
                    backlog.fetch_sub(1, Ordering::AcqRel);
                }
            })
            .expect("spawn the raftlog completer thread");
        self.completer = Some(tx);
        if let Err(err) = self.serve() {
            self.fail(err);
        } else {
            let mut st = self.shared.state.lock();
            if st.status == Status::Closing {
                st.status.set(Status::Closed);
            }
        }
        self.completer = None;
        completer.join().expect("raftlog completer panicked");
    }

    fn serve(&mut self) -> Result<(), Error> {
        let in_flight_max = self.shared.config.syncs_in_flight_max;
        loop {
            match self.next_work() {
                Work::Batch => {
                    self.round()?;
                    self.submit()?;
                    while self.inflight.len() >= in_flight_max {
                        self.reap()?;
                    }
                }
                Work::Reap => self.reap()?,
                Work::Stop => return Ok(()),
            }
        }
    }

    /// Moves up to `batch_bytes_max` of queued requests into `self.batch`.
    /// Waits for requests only when no group commit is in flight.
    fn next_work(&mut self) -> Work {
        debug_assert!(self.batch.is_empty());
        let mut st = self.shared.state.lock();
        while st.queue.is_empty() {
            if !self.inflight.is_empty() {
                return Work::Reap;
            }
            if st.status != Status::Running {
                return Work::Stop;
            }
            self.shared.work.wait(&mut st);
        }
        let mut bytes = 0;
        while let Some(q) = st.queue.front() {
            if !self.batch.is_empty() && bytes + q.bytes > self.shared.config.batch_bytes_max {
                break;
            }
            bytes += q.bytes;
            self.batch
                .push_back(st.queue.pop_front().expect("front exists"));
        }
        st.queue_bytes -= bytes;
        drop(st);
        self.shared.space.notify_all();
        Work::Batch
    }

    /// Handles this round's requests in order.
    fn round(&mut self) -> Result<(), Error> {
        while let Some(queued) = self.batch.pop_front() {
            match queued.request {
                Request::Append { entries, done } => {
                    self.current = Some(done);
                    for entry in &entries {
                        self.encode(entry)?;
                    }
                    self.done.extend(self.current.take());
                }
                Request::Truncate { from } => {
                    self.settle()?;
                    self.truncate(from)?;
                }
                Request::Purge { purged } => {
                    self.settle()?;
                    self.purge(purged)?;
                }
                Request::Vote { vote, done } => {
                    self.settle()?;
                    self.current = Some(done);
                    meta::write(&self.shared.dir, VOTE_FILE, Kind::Vote, &vote)?;
                    self.done.extend(self.current.take());
                }
            }
            self.handled_seq = queued.seq;
        }
        Ok(())
    }

    /// Adds one record to the buffer, rolling to a new segment first when
    /// it does not fit or does not continue the active one.
    fn encode(&mut self, entry: &Entry) -> Result<(), Error> {
        let bytes = record_bytes(entry.payload.len());
        let segment_bytes = self.shared.config.segment_bytes;
        let fits = |a: &Active| {
            a.next_index == entry.index
                && a.end + (self.buf.len() + bytes + END_MARKER_BYTES) as u64 <= segment_bytes
        };
        if !self.active.as_ref().is_some_and(fits) {
            self.settle()?;
            self.roll(entry.index)?;
        }
        let active = self.active.as_mut().expect("rolled");
        assert_eq!(active.next_index, entry.index, "records must be contiguous");
        self.phase = Phase::Encoding;
        self.unpublished
            .push((active.end + self.buf.len() as u64) as u32);
        encode_record(&mut self.buf, entry.term, entry.index, &entry.payload);
        active.next_index += 1;
        if self.buf.len() >= self.shared.config.batch_bytes_max {
            self.submit()?;
            while self.inflight.len() >= self.shared.config.syncs_in_flight_max {
                self.reap()?;
            }
        }
        Ok(())
    }

    /// Writes the buffer (if any) with its end marker and starts its
    /// fdatasync, making it an in-flight group together with the
    /// callbacks of every request handled so far.
    fn submit(&mut self) -> Result<(), Error> {
        let mut group = Group {
            sync: Sync::Nothing,
            segment: 0,
            path: PathBuf::new(),
            offsets: mem::take(&mut self.unpublished),
            end: 0,
            records_bytes: 0,
            handled_seq: self.handled_seq,
            done: mem::take(&mut self.done),
            started: Instant::now(),
        };
        if self.phase == Phase::Encoding {
            let active = self
                .active
                .as_mut()
                .expect("records are buffered only for an active segment");
            group.records_bytes = self.buf.len();
            self.buf.extend_from_slice(&[0; END_MARKER_BYTES]);
            // Alone (nothing in flight, nothing queued), sync right here;
            // otherwise let the sync run while the next group is built.
            let alone = self.inflight.is_empty() && self.shared.state.lock().queue.is_empty();
            let fd = active.file.as_raw_fd();
            let written = if broken_ack() {
                // The chaos suite's broken build: no sync here at all.
                let written = self.ring.write_at(fd, &self.buf, active.end);
                written.map(|()| Sync::Done)
            } else if alone {
                let synced = self.ring.write_and_sync_here(fd, &self.buf, active.end);
                synced.map(|()| Sync::Done)
            } else {
                let started = self.ring.write_and_start_sync(fd, &self.buf, active.end);
                started.map(Sync::Running)
            };
            self.buf.clear();
            self.buf.shrink_to(BUF_KEEP_BYTES);
            self.phase = Phase::Idle;
            // On error the group still carries its callbacks, for `fail`.
            group.path = active.path.clone();
            match written {
                Ok(sync) => group.sync = sync,
                Err(e) => {
                    let err = Error::io(&active.path, &e);
                    self.done = group.done;
                    return Err(err);
                }
            }
            active.end += group.records_bytes as u64;
            group.segment = active.first_index;
            group.end = active.end;
        }
        debug_assert!(self.unpublished.is_empty() && self.buf.is_empty());
        if group.sync != Sync::Nothing || !group.done.is_empty() {
            self.inflight.push_back(group);
        }
        Ok(())
    }

    /// Waits for the oldest in-flight group to be durable, publishes its
    /// records, and hands its callbacks to the completer.
    fn reap(&mut self) -> Result<(), Error> {
        let group = self
            .inflight
            .pop_front()
            .expect("reap with a group in flight");
        if let Sync::Running(token) = group.sync {
            if let Err(e) = self.ring.finish_sync(token) {
                let err = Error::io(&group.path, &e);
                let sync = Sync::Nothing;
                self.inflight.push_front(Group { sync, ..group });
                return Err(err);
            }
        }
        let nanos = group.started.elapsed().as_nanos() as u64;
        {
            let mut st = self.shared.state.lock();
            if group.sync != Sync::Nothing {
                let segment = st
                    .segments
                    .get_mut(&group.segment)
                    .expect("a synced group's segment is live");
                segment.offsets.extend_from_slice(&group.offsets);
                segment.end = group.end as u32;
                st.stats.entries_durable += group.offsets.len() as u64;
                st.stats.fsyncs += 1;
                st.stats.bytes_written += group.records_bytes as u64;
                st.stats.sync_nanos_total += nanos;
                st.sync_latency_ns.saturating_record(nanos.max(1));
            }
            debug_assert!(
                st.durable_seq <= group.handled_seq,
                "groups are reaped in order"
            );
            st.durable_seq = group.handled_seq;
            st.evict(self.shared.config.cache_bytes_max);
        }
        #[cfg(feature = "chaos")]
        if group.sync != Sync::Nothing {
            if broken_ack() {
                crate::chaos::written_unsynced(&group.path, group.end);
            } else {
                crate::chaos::synced(&group.path, group.end);
            }
        }
        if group.sync != Sync::Nothing {
            let took = std::time::Duration::from_nanos(nanos);
            for observer in self.shared.sync_observers.lock().iter() {
                observer(took);
            }
        }
        if !group.done.is_empty() {
            self.complete(group.done, Ok(()));
        }
        Ok(())
    }

    /// Submits what is buffered and waits until every group is durable:
    /// the barrier before rolls, truncations, purges and votes.
    fn settle(&mut self) -> Result<(), Error> {
        self.submit()?;
        while !self.inflight.is_empty() {
            self.reap()?;
        }
        Ok(())
    }

    /// Hands callbacks to the completer thread, which runs them in order
    /// while the flusher goes on with the next group commit.
    /// A small group whose predecessors have all completed runs right
    /// here instead, saving a thread switch when concurrency is low.
    fn complete(&self, callbacks: Vec<Callback>, result: Result<(), Error>) {
        if callbacks.len() <= INLINE_CALLBACKS_MAX && self.backlog.load(Ordering::Acquire) == 0 {
            for callback in callbacks {
                callback(result.clone());
            }
            return;
        }
        let completer = self
            .completer
            .as_ref()
            .expect("completer runs while the flusher does");
        self.backlog.fetch_add(1, Ordering::AcqRel);
        completer
            .send((callbacks, result))
            .expect("completer outlives the flusher");
    }

    /// Starts a segment at `first_index` from a spare: header and end
    /// marker written and synced, then the rename made durable.
    fn roll(&mut self, first_index: u64) -> Result<(), Error> {
        debug_assert!(
            self.phase == Phase::Idle && self.inflight.is_empty(),
            "settle before rolling"
        );
        #[cfg(feature = "chaos")]
        crate::chaos::sync_pending();
        self.retire_empty_active()?;
        let dir = &self.shared.dir;
        let path = dir.join(segment_file_name(first_index));
        let spare = self.shared.spares.take()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&spare)
            .map_err(|e| Error::io(&spare, &e))?;
        if file.metadata().map_err(|e| Error::io(&spare, &e))?.len()
            < self.shared.config.segment_bytes
        {
            preallocate(&file, self.shared.config.segment_bytes)
                .map_err(|e| Error::io(&spare, &e))?;
        }
        let mut head = encode_segment_header(first_index).to_vec();
        head.extend_from_slice(&[0; END_MARKER_BYTES]);
        self.ring
            .write_and_sync(file.as_raw_fd(), &head, 0)
            .map_err(|e| Error::io(&spare, &e))?;
        fs::rename(&spare, &path).map_err(|e| Error::io(&path, &e))?;
        meta::sync_dir(dir)?;
        #[cfg(feature = "chaos")]
        crate::chaos::synced(&path, SEGMENT_HEADER_BYTES as u64);
        let file = Arc::new(file);
        let end = SEGMENT_HEADER_BYTES as u32;
        let segment = Segment {
            first_index,
            path: path.clone(),
            file: file.clone(),
            offsets: Vec::new(),
            end,
        };
        {
            let mut st = self.shared.state.lock();
            st.stats.fsyncs += 1;
            let clash = st.segments.insert(first_index, segment);
            assert!(clash.is_none(), "segment {first_index} already exists");
        }
        self.active = Some(Active {
            first_index,
            path,
            file,
            end: u64::from(end),
            next_index: first_index,
        });
        Ok(())
    }

    /// Deletes the active segment if it holds no record, so that rolling
    /// elsewhere leaves no empty segment (which would break contiguity).
    /// A non-empty active segment being left must end exactly where the
    /// new one starts, or lie wholly under the purge point.
    fn retire_empty_active(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        if active.next_index != active.first_index {
            return Ok(());
        }
        self.shared
            .state
            .lock()
            .segments
            .remove(&active.first_index);
        fs::remove_file(&active.path).map_err(|e| Error::io(&active.path, &e))
    }

    /// Removes records from `from` on: later segments are deleted (and the
    /// deletion made durable) before the records left in the segment that
    /// holds `from` are zeroed and synced, so a crash midway leaves a
    /// prefix of the old log, and no stale record can ever reappear behind
    /// a new one.
    fn truncate(&mut self, from: u64) -> Result<(), Error> {
        debug_assert!(
            self.phase == Phase::Idle && self.inflight.is_empty(),
            "settle before truncating"
        );
        if self.active.as_ref().is_none_or(|a| from >= a.next_index) {
            return Ok(());
        }
        let (removed, wipe, keep) = {
            let mut st = self.shared.state.lock();
            st.layout_epoch += 1;
            let removed: Vec<Segment> = st.segments.split_off(&from).into_values().collect();
            let mut wipe = None;
            let keep = st.segments.values_mut().next_back().map(|s| {
                if s.next_index() > from {
                    let (start, _) = s.span(from, s.next_index());
                    wipe = Some((start, u64::from(s.end) + END_MARKER_BYTES as u64));
                    s.offsets.truncate((from - s.first_index) as usize);
                    s.end = start as u32;
                }
                Active {
                    first_index: s.first_index,
                    path: s.path.clone(),
                    file: s.file.clone(),
                    end: u64::from(s.end),
                    next_index: s.next_index(),
                }
            });
            (removed, wipe, keep)
        };
        for segment in &removed {
            fs::remove_file(&segment.path).map_err(|e| Error::io(&segment.path, &e))?;
        }
        if !removed.is_empty() {
            meta::sync_dir(&self.shared.dir)?;
        }
        if let (Some((start, end)), Some(keep)) = (wipe, keep.as_ref()) {
            let zeros = vec![0u8; ZERO_CHUNK_BYTES.min((end - start) as usize)];
            let fd = keep.file.as_raw_fd();
            let mut at = start;
            while at < end {
                let len = (end - at).min(zeros.len() as u64) as usize;
                self.ring
                    .write_at(fd, &zeros[..len], at)
                    .map_err(|e| Error::io(&keep.path, &e))?;
                at += len as u64;
            }
            self.ring
                .fdatasync(fd)
                .map_err(|e| Error::io(&keep.path, &e))?;
            self.shared.state.lock().stats.fsyncs += 1;
            #[cfg(feature = "chaos")]
            crate::chaos::synced(&keep.path, start);
        }
        self.active = keep;
        Ok(())
    }

    /// Saves the purge point, then retires every non-active segment it
    /// wholly covers (recycled as a spare, or deleted).
    fn purge(&mut self, purged: Purged) -> Result<(), Error> {
        if self.purged_index.is_some_and(|p| purged.index <= p) {
            return Ok(());
        }
        meta::write(
            &self.shared.dir,
            PURGED_FILE,
            Kind::Purged,
            &encode_purged(&purged),
        )?;
        self.purged_index = Some(purged.index);
        let active_first = self.active.as_ref().map(|a| a.first_index);
        let retired: Vec<Segment> = {
            let mut st = self.shared.state.lock();
            let covered: Vec<u64> = st
                .segments
                .values()
                .filter(|s| {
                    s.next_index() <= purged.index + 1 && Some(s.first_index) != active_first
                })
                .map(|s| s.first_index)
                .collect();
            if !covered.is_empty() {
                st.layout_epoch += 1;
            }
            covered
                .iter()
                .filter_map(|first| st.segments.remove(first))
                .collect()
        };
        for segment in &retired {
            if !self.shared.spares.recycle(&segment.path)? {
                fs::remove_file(&segment.path).map_err(|e| Error::io(&segment.path, &e))?;
            }
        }
        if !retired.is_empty() {
            meta::sync_dir(&self.shared.dir)?;
        }
        Ok(())
    }

    /// Fails the log for good: every pending callback gets the error.
    fn fail(&mut self, err: Error) {
        let why = err.to_string();
        tracing::error!("raftlog: {why}; the log stops and acknowledges nothing more");
        let queued = {
            let mut st = self.shared.state.lock();
            st.status.set(Status::Failed(why.clone()));
            st.queue_bytes = 0;
            mem::take(&mut st.queue)
        };
        self.shared.space.notify_all();
        let inflight: Vec<Callback> = mem::take(&mut self.inflight)
            .into_iter()
            .flat_map(|g| g.done)
            .collect();
        let handled = inflight
            .into_iter()
            .chain(mem::take(&mut self.done))
            .chain(self.current.take());
        let batch = mem::take(&mut self.batch);
        let pending = batch
            .into_iter()
            .chain(queued)
            .filter_map(|q| match q.request {
                Request::Append { done, .. } | Request::Vote { done, .. } => Some(done),
                Request::Truncate { .. } | Request::Purge { .. } => None,
            });
        self.complete(handled.chain(pending).collect(), Err(Error::Failed(why)));
    }
}
