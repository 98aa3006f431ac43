//! Segment files as the log tracks them, and the pool of spare segments.
//!
//! A segment is born as a spare: a file preallocated with `fallocate` and
//! then filled with zeros once, because on this class of machine an
//! fdatasync after overwriting already-written blocks is about twice as
//! fast as one that must also persist new extents. When the flusher rolls
//! to a new segment it takes a spare, writes and syncs the header, and
//! renames it to `<first index>.log`. When a purge retires a segment, the
//! file is renamed back into a spare (if the pool has room) and reused
//! without another zero-fill: its stale records all carry indexes below
//! any future segment's first index, so they can never pass for live ones
//! (see `format`).
//!
//! Spare file states, in order: `spare-<n>.tmp` (being zero-filled; deleted
//! on open) -> `spare-<n>.seg` (ready) -> `<index>.log` (live) -> back to
//! `spare-<n>.seg` (recycled) or deleted.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::meta::sync_dir;

/// Bytes of zeros written per call when filling a new segment.
const ZERO_CHUNK_BYTES: usize = 1 << 20;
/// How often the preparer tries again after it could not make a spare.
const SHORT_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A live segment file: where its durable records are.
pub struct Segment {
    /// Index of the first record; also the file's name.
    pub first_index: u64,
    /// The file's path, for error messages.
    pub path: PathBuf,
    /// Shared with readers, who `pread` durable records without the lock.
    pub file: Arc<File>,
    /// `offsets[i]` is where the record of `first_index + i` starts. Only
    /// durable records are listed.
    pub offsets: Vec<u32>,
    /// Offset just past the last durable record, where its end marker is.
    pub end: u32,
}

impl Segment {
    /// The index the next record of this segment would carry.
    pub fn next_index(&self) -> u64 {
        self.first_index + self.offsets.len() as u64
    }

    /// Byte range `[start, end)` of the durable records `[from, to)`.
    pub fn span(&self, from: u64, to: u64) -> (u64, u64) {
        assert!(
            self.first_index <= from && from < to && to <= self.next_index(),
            "span {from}..{to} outside segment {}..{}",
            self.first_index,
            self.next_index()
        );
        let start = self.offsets[(from - self.first_index) as usize];
        let end = self
            .offsets
            .get((to - self.first_index) as usize)
            .copied()
            .unwrap_or(self.end);
        (u64::from(start), u64::from(end))
    }
}

/// What the spare pool holds; guarded by [`SparePool::state`].
struct Spares {
    /// Spare files ready to become segments.
    ready: Vec<PathBuf>,
    /// Number for the next spare's name.
    next_id: u64,
    /// Set while the preparer thread is zero-filling a spare, so that a
    /// roll waits for it instead of zero-filling a second one.
    preparing: bool,
    /// Set when the log closes, to stop the preparer thread.
    closing: bool,
    /// Why the preparer could not make the spare it wanted (a full disk,
    /// most likely), until it makes one or the pool is full again.
    short: Option<String>,
}

/// Keeps up to `spare_segments_max` spare segment files ready, filled by a
/// background preparer thread and by recycling purged segments.
pub struct SparePool {
    dir: PathBuf,
    segment_bytes: u64,
    ready_max: usize,
    state: Mutex<Spares>,
    wake: Condvar,
    /// Mirrors `state.short.is_some()`, for the callers that ask on every
    /// write without taking the lock.
    short_now: AtomicBool,
}

impl SparePool {
    /// Adopts the ready spares found in `dir` and deletes half-made ones.
    pub fn open(dir: &Path, segment_bytes: u64, ready_max: usize) -> Result<Arc<SparePool>, Error> {
        let mut ready = Vec::new();
        let mut next_id = 0;
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("spare-") else {
                continue;
            };
            if let Some(id) = rest
                .strip_suffix(".seg")
                .and_then(|n| n.parse::<u64>().ok())
            {
                next_id = next_id.max(id + 1);
                ready.push(entry.path());
            } else if rest.ends_with(".tmp") {
                fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), &e))?;
            }
        }
        Ok(Arc::new(SparePool {
            dir: dir.to_path_buf(),
            segment_bytes,
            ready_max,
            state: Mutex::new(Spares {
                ready,
                next_id,
                preparing: false,
                closing: false,
                short: None,
            }),
            wake: Condvar::new(),
            short_now: AtomicBool::new(false),
        }))
    }

    /// Takes a ready spare, waits for the one being prepared, or makes
    /// one now.
    pub fn take(&self) -> Result<PathBuf, Error> {
        let mut spares = self.state.lock();
        let taken = loop {
            if let Some(path) = spares.ready.pop() {
                break Some(path);
            }
            if !spares.preparing {
                break None;
            }
            self.wake.wait(&mut spares);
        };
        drop(spares);
        self.wake.notify_all();
        match taken {
            Some(path) => Ok(path),
            None => self.create(),
        }
    }

    /// Turns a retired segment into a spare if the pool has room (returns
    /// true), otherwise leaves it for the caller to delete.
    pub fn recycle(&self, path: &Path) -> Result<bool, Error> {
        let mut spares = self.state.lock();
        if spares.ready.len() >= self.ready_max {
            return Ok(false);
        }
        let spare = self.dir.join(format!("spare-{}.seg", spares.next_id));
        spares.next_id += 1;
        fs::rename(path, &spare).map_err(|e| Error::io(path, &e))?;
        spares.ready.push(spare);
        Ok(true)
    }

    /// Stops the preparer thread.
    pub fn close(&self) {
        self.state.lock().closing = true;
        self.wake.notify_all();
    }

    /// Why a spare segment cannot be made now (the disk is full), if so:
    /// the log then has only its current segment and the spares it holds
    /// left, and its user should stop taking writes.
    pub fn short(&self) -> Option<String> {
        if !self.short_now.load(Ordering::Relaxed) {
            return None;
        }
        self.state.lock().short.clone()
    }

    /// The preparer thread: keeps the pool full until `close`. When it
    /// cannot make a spare it says so ([`SparePool::short`]) and tries
    /// again every [`SHORT_RETRY`], until it can or the pool is full again
    /// (recycled segments refill it).
    pub fn run_preparer(self: Arc<Self>) {
        loop {
            {
                let mut spares = self.state.lock();
                while !spares.closing && spares.ready.len() >= self.ready_max {
                    if let Some(why) = spares.short.take() {
                        self.short_now.store(false, Ordering::Relaxed);
                        tracing::info!(was = %why, "raftlog: spare segments are ready again");
                    }
                    self.wake.wait(&mut spares);
                }
                if spares.closing {
                    return;
                }
                spares.preparing = true;
            }
            let created = self.create();
            let mut spares = self.state.lock();
            spares.preparing = false;
            match &created {
                Ok(path) => {
                    spares.ready.push(path.clone());
                    if let Some(why) = spares.short.take() {
                        self.short_now.store(false, Ordering::Relaxed);
                        tracing::info!(was = %why, "raftlog: a spare segment was made again");
                    }
                }
                Err(err) => {
                    if spares.short.is_none() {
                        tracing::warn!(%err, "raftlog: could not prepare a spare segment");
                    }
                    spares.short = Some(err.to_string());
                    self.short_now.store(true, Ordering::Relaxed);
                }
            }
            drop(spares);
            self.wake.notify_all();
            if created.is_err() {
                let mut spares = self.state.lock();
                if !spares.closing {
                    self.wake.wait_for(&mut spares, SHORT_RETRY);
                }
            }
        }
    }

    /// Creates a zero-filled, synced spare and returns its path.
    fn create(&self) -> Result<PathBuf, Error> {
        let id = {
            let mut spares = self.state.lock();
            spares.next_id += 1;
            spares.next_id - 1
        };
        let tmp = self.dir.join(format!("spare-{id}.tmp"));
        let path = self.dir.join(format!("spare-{id}.seg"));
        if let Err(e) = zero_fill(&tmp, self.segment_bytes) {
            // Give back what a half-made spare took (a full disk).
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, &e));
        }
        fs::rename(&tmp, &path).map_err(|e| Error::io(&tmp, &e))?;
        sync_dir(&self.dir)?;
        Ok(path)
    }
}

/// Creates `path` as `bytes` of preallocated, written zeros, synced.
fn zero_fill(path: &Path, bytes: u64) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    preallocate(&file, bytes)?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut offset = 0;
    while offset < bytes {
        let len = (bytes - offset).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all_at(&zeros[..len], offset)?;
        // Sync chunk by chunk: a 64 MiB dirty backlog flushed at once
        // would sit in the device queue ahead of the log's own fdatasyncs.
        file.sync_data()?;
        offset += len as u64;
    }
    file.sync_all()
}

/// Makes `file` at least `bytes` long with allocated blocks.
pub fn preallocate(file: &File, bytes: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a valid descriptor.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, bytes as libc::off_t) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        // Some file systems (tmpfs on old kernels) lack fallocate.
        if file.metadata()?.len() < bytes {
            file.set_len(bytes)?;
        }
        return Ok(());
    }
    Err(err)
}
