//! openraft's state machine (`RaftStateMachine`, storage-v2) over the
//! engine: applying an entry executes its writes on the [`Engine`].
//!
//! Apply itself is `crate::apply` ([`apply::apply_request`]); this module
//! holds what openraft needs around it. It runs each normal entry's
//! commands in order, at the entry's time, and hands the replies
//! (one per command) to an optional observer with the entry's log index;
//! the proposer routes them to the waiting connections. openraft itself
//! only gets [`Applied`] back.
//!
//! An entry's time is its leader stamp, or the latest time applied before
//! it if that is later: the replicated clock never goes back, even when a
//! new leader's wall clock is behind the old one's, so a TTL never grows
//! back and a key never comes back from expiry across a failover. That
//! clock is part of the state: snapshots carry it.
//!
//! A snapshot is a run (`redraft_engine::Run`): the engine's LSM-shaped
//! layers merged into one sorted rkyv file with a checksum, with the
//! snapshot's meta (last applied log id, membership, id) stored in it.
//! Building one:
//! 1. under the apply lock, `Engine::freeze` turns every shard's head into
//!    a frozen layer (O(shards), no copy) and the meta is taken: one
//!    consistent cut, and apply goes on at once;
//! 2. on a blocking thread, the frozen layers and the previous run are
//!    merged into `build-<n>.tmp`, synced, renamed to `snapshot.run`, and
//!    the directory synced;
//! 3. the engine adopts the new run as every shard's bottom layer (the
//!    frozen heads are freed; their keys are now read from the mapping).
//!
//! The state machine keeps its snapshot directory's `snapshot.run` as the
//! current snapshot and starts from it: the engine maps it and reads it in
//! place (no load), and `last_applied` is the snapshot's, so openraft
//! replays only the log after it. The log is purged behind a snapshot only
//! after `build_snapshot` returns, by which time the file is durable. A
//! snapshot from the leader is written to `received-<n>.tmp`, validated,
//! renamed into place and installed the same way. Snapshots are sent to
//! followers straight from the mapping.
//!
//! Invariants:
//! - Apply never reads the clock: time comes from the entries' stamps, and
//!   it never decreases from one entry to the next.
//! - Applied log indexes strictly increase (asserted).
//! - A snapshot's contents are one consistent cut: the freeze and the last
//!   applied id are taken under the same lock that apply holds.
//! - `snapshot.run` only ever moves forward in log order, and is complete
//!   and synced before it gets that name.
//! - A snapshot is installed only if its checksum, format and log id check
//!   out; otherwise the engine is left untouched.

// openraft's `StorageError` is large; its trait methods return it, so ours do.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, StorageError, StorageIOError,
    StoredMembership,
};
use parking_lot::Mutex;
use redraft_engine::{Blocked, Engine, Run, RunError, WaiterId};
use serde::{Deserialize, Serialize};

use crate::apply::{self, Isolate, Outcome, ScriptCache, ScriptRunner, Staged};
use crate::raft::counters::RaftCounters;
use crate::raft::network::PeerNode;
use crate::raft::snapshot_data::SnapshotData;
use crate::raft::types::{Applied, NodeId, Request, TypeConfig};

/// The current snapshot's file name in the snapshot directory.
pub const SNAPSHOT_FILE: &str = "snapshot.run";
/// Temporary files (builds and receptions in progress) end with this.
const TEMPORARY_SUFFIX: &str = ".tmp";

/// What one applied entry hands the observer.
pub struct AppliedEntry<'a> {
    /// The entry's log index.
    pub index: u64,
    /// The entry's batch of commands; `None` for a blank or membership
    /// entry.
    pub request: Option<&'a Request>,
    /// One outcome per command of `request`, in its order.
    pub replies: Vec<Outcome>,
    /// Blocked commands whose wait ended while the entry applied (served,
    /// unblocked, or dropped by a new term), in order, with their replies.
    pub waiters: Vec<(WaiterId, Outcome)>,
}

/// Receives what each entry's apply answered: every normal entry, and any
/// other entry that ended waits. Called on the apply task, under the state
/// machine's lock, so it must only hand the replies off.
pub type ApplyObserver = Box<dyn FnMut(AppliedEntry<'_>) + Send + Sync>;

type Meta = SnapshotMeta<NodeId, PeerNode>;

/// The state machine. Cloning is cheap (`Arc`s); a clone is also the
/// snapshot builder openraft runs on its own task.
#[derive(Clone)]
pub struct StateMachine {
    engine: Arc<Engine>,
    /// Held by apply for a whole batch and by the builder for the freeze,
    /// so a snapshot never sees half an entry.
    inner: Arc<Mutex<Inner>>,
    /// The snapshot directory. Taken before `inner` when both are held, and
    /// held alone while a snapshot file is renamed into place.
    files: Arc<Mutex<SnapshotFiles>>,
}

/// Where snapshots are kept on disk.
struct SnapshotFiles {
    dir: PathBuf,
    /// The index of `snapshot.run`, so an older one never replaces it.
    persisted_index: Option<u64>,
    /// Temporary files made, to name each one apart.
    temporaries: u64,
}

struct Inner {
    /// The last entry applied; `None` before the first.
    last_applied: Option<LogId<NodeId>>,
    /// The membership of the last membership entry applied.
    membership: StoredMembership<NodeId, PeerNode>,
    /// The replicated clock: the latest entry time applied, Unix ms.
    clock_ms: u64,
    /// The newest snapshot built or installed, for `get_current_snapshot`.
    current: Option<(Meta, Arc<Run>)>,
    /// Snapshots built by this node, to make each snapshot id unique.
    snapshots_built: u64,
    /// Where apply hands the replies; `None` drops them.
    observer: Option<ApplyObserver>,
    /// Isolates a transaction, or a write and the blocked commands it
    /// serves, from this node's readers; without it they simply run.
    isolate: Option<Isolate>,
    /// The blocked commands of the group (replicated; in snapshots).
    blocked: Blocked,
    /// Counts snapshots and gives their events a node id and term.
    counters: Option<Arc<RaftCounters>>,
    /// Parts of large writes not yet assembled (replicated; in snapshots).
    staged: Staged,
    /// The script cache (replicated; in snapshots); shared with the
    /// node's connections once `set_scripting` hands it over.
    scripts: Arc<ScriptCache>,
    /// Runs scripts at apply; without one a script replies an error.
    runner: Option<ScriptRunner>,
}

impl StateMachine {
    /// A state machine over the empty `engine` that keeps its snapshots in
    /// `dir` (created if missing) and starts from the snapshot there, if
    /// any. A snapshot that fails its checks stops the node: it holds
    /// entries the log may no longer have.
    pub fn open(engine: Arc<Engine>, dir: &Path) -> Result<StateMachine, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        remove_temporaries(dir).map_err(|e| format!("cannot clean {}: {e}", dir.display()))?;
        let mut inner = Inner {
            last_applied: None,
            membership: StoredMembership::default(),
            clock_ms: 0,
            current: None,
            snapshots_built: 0,
            observer: None,
            isolate: None,
            blocked: Blocked::default(),
            counters: None,
            staged: Staged::default(),
            scripts: Arc::default(),
            runner: None,
        };
        let mut files = SnapshotFiles {
            dir: dir.to_path_buf(),
            persisted_index: None,
            temporaries: 0,
        };
        let path = dir.join(SNAPSHOT_FILE);
        if path.exists() {
            let run = Run::open(&path).map_err(|e| format!("snapshot {}: {e}", path.display()))?;
            let RunMeta {
                meta,
                clock_ms,
                blocked,
                staged,
                scripts,
            } = decode_meta(run.meta()).map_err(|e| format!("snapshot {}: {e}", path.display()))?;
            engine.install_run(&run);
            inner.last_applied = meta.last_log_id;
            inner.membership = meta.last_membership.clone();
            inner.clock_ms = clock_ms;
            inner.blocked = blocked;
            inner.staged = staged;
            inner.scripts.replace(scripts);
            files.persisted_index = meta.last_log_id.map(|id| id.index);
            tracing::info!(
                last_applied = %crate::log_field::Opt(meta.last_log_id.map(|id| id.index)),
                keys = run.keys(),
                bytes = run.bytes().len(),
                "mapped snapshot {}",
                path.display()
            );
            inner.current = Some((meta, run));
        }
        Ok(StateMachine {
            engine,
            inner: Arc::new(Mutex::new(inner)),
            files: Arc::new(Mutex::new(files)),
        })
    }

    /// The engine this state machine applies to.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Sets (or replaces) the observer that receives each entry's replies.
    pub fn set_observer(&self, observer: ApplyObserver) {
        self.inner.lock().observer = Some(observer);
    }

    /// Counts snapshots built and installed in `counters`, and records
    /// there when the snapshot this node started from was written.
    pub fn set_counters(&self, counters: Arc<RaftCounters>) {
        let files = self.files.lock();
        if files.persisted_index.is_some() {
            let written = fs::metadata(files.dir.join(SNAPSHOT_FILE)).and_then(|m| m.modified());
            if let Ok(since_epoch) = written.map(|at| at.duration_since(std::time::UNIX_EPOCH)) {
                counters.snapshot_saved(since_epoch.map_or(0, |since| since.as_secs()));
            }
        }
        drop(files);
        self.inner.lock().counters = Some(counters);
    }

    /// Hands apply the node's script cache (filled with what the state
    /// machine holds now) and the runner of scripts.
    pub fn set_scripting(&self, cache: Arc<ScriptCache>, runner: ScriptRunner) {
        let mut inner = self.inner.lock();
        cache.replace(inner.scripts.bodies());
        inner.scripts = cache;
        inner.runner = Some(runner);
    }

    /// Sets how a transaction, or a write with the blocked commands it
    /// serves, is kept from this node's readers.
    pub fn set_isolation(&self, isolate: Isolate) {
        self.inner.lock().isolate = Some(isolate);
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.inner.lock().last_applied
    }

    /// A fresh temporary path in the snapshot directory.
    fn temporary(&self, kind: &str) -> PathBuf {
        let mut files = self.files.lock();
        files.temporaries += 1;
        files
            .dir
            .join(format!("{kind}-{}{TEMPORARY_SUFFIX}", files.temporaries))
    }

    /// Makes the complete, synced run at `temporary` the current snapshot
    /// file unless the one there is newer (then it is just removed); the
    /// mapping `run` stays valid either way.
    fn persist(&self, temporary: &Path, index: Option<u64>) -> io::Result<()> {
        let mut files = self.files.lock();
        if files.persisted_index.is_some() && files.persisted_index >= index {
            return fs::remove_file(temporary);
        }
        fs::rename(temporary, files.dir.join(SNAPSHOT_FILE))?;
        fs::File::open(&files.dir)?.sync_all()?;
        files.persisted_index = index;
        drop(files);
        if let Some(counters) = &self.inner.lock().counters {
            counters.snapshot_saved(crate::clock::unix_ms() / 1000);
        }
        Ok(())
    }

    /// Records `run` as the current snapshot if it is the newest.
    fn set_current(inner: &mut Inner, meta: &Meta, run: &Arc<Run>) {
        let newer = match &inner.current {
            Some((current, _)) => current.last_log_id <= meta.last_log_id,
            None => true,
        };
        if newer {
            inner.current = Some((meta.clone(), run.clone()));
        }
    }

    /// Builds, persists and adopts a snapshot; runs on a blocking thread.
    fn build_blocking(&self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let started = std::time::Instant::now();
        // The cut: under the apply lock, only the freeze.
        let (frozen, meta, clock_ms, blocked, staged, scripts, counters) = {
            let mut inner = self.inner.lock();
            inner.snapshots_built += 1;
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
                snapshot_id: snapshot_id(inner.last_applied, inner.snapshots_built),
            };
            let counters = inner.counters.clone();
            let blocked = inner.blocked.clone();
            let staged = inner.staged.clone();
            let scripts = inner.scripts.bodies();
            (
                self.engine.freeze(),
                meta,
                inner.clock_ms,
                blocked,
                staged,
                scripts,
                counters,
            )
        };
        let failed = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                AnyError::error(e),
            ))
        };
        let temporary = self.temporary("build");
        let written = frozen
            .write_run(
                &temporary,
                &encode_meta(&meta, clock_ms, &blocked, &staged, &scripts),
            )
            .map_err(RunError::Io)
            .and_then(|summary| Ok((summary, Run::open(&temporary)?)));
        let (summary, run) = written.map_err(|e| {
            let _ = fs::remove_file(&temporary);
            failed(&e)
        })?;
        self.persist(&temporary, meta.last_log_id.map(|id| id.index))
            .map_err(|e| failed(&e))?;
        let adopted = self.engine.adopt_run(&frozen, &run);
        drop(frozen);
        let build_ms = started.elapsed().as_millis() as u64;
        let (node_id, term) = counters.as_ref().map_or((0, 0), |c| (c.node_id, c.term()));
        if let Some(counters) = &counters {
            counters.snapshot_built(run.bytes().len() as u64, build_ms);
        }
        tracing::info!(
            node_id,
            term,
            build_ms,
            snapshot = %meta.snapshot_id,
            keys = summary.keys,
            bytes = summary.bytes,
            shards_adopted = adopted,
            "snapshot built"
        );
        Self::set_current(&mut self.inner.lock(), &meta, &run);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotData::sending(run.bytes().clone())),
        })
    }

    /// Writes, validates, persists and installs a received snapshot; runs
    /// on a blocking thread.
    fn install_blocking(&self, meta: &Meta, data: &[u8]) -> Result<(), StorageError<NodeId>> {
        let counters = self.inner.lock().counters.clone();
        let _installing = counters.as_deref().map(RaftCounters::installing);
        let refuse = |e: AnyError| StorageIOError::read_snapshot(Some(meta.signature()), e);
        let temporary = self.temporary("received");
        let written = write_synced(&temporary, data).and_then(|()| {
            Run::open(&temporary).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        });
        let run = match written {
            Ok(run) => run,
            Err(error) => {
                let _ = fs::remove_file(&temporary);
                return Err(refuse(AnyError::error(error)).into());
            }
        };
        let stored = decode_meta(run.meta()).and_then(|stored| {
            if stored.meta.last_log_id == meta.last_log_id {
                Ok((
                    stored.clock_ms,
                    stored.blocked,
                    stored.staged,
                    stored.scripts,
                ))
            } else {
                Err(AnyError::error(format!(
                    "snapshot holds {:?} but its meta says {:?}",
                    stored.meta.last_log_id, meta.last_log_id
                )))
            }
        });
        let (clock_ms, blocked, staged, scripts) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                let _ = fs::remove_file(&temporary);
                return Err(refuse(error).into());
            }
        };
        self.persist(&temporary, meta.last_log_id.map(|id| id.index))
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let mut inner = self.inner.lock();
        self.engine.install_run(&run);
        let (node_id, term) = inner
            .counters
            .as_ref()
            .map_or((0, 0), |c| (c.node_id, c.term()));
        if let Some(counters) = &inner.counters {
            counters.snapshot_installed(data.len() as u64);
        }
        tracing::info!(
            node_id,
            term,
            snapshot = %meta.snapshot_id,
            bytes = data.len(),
            "snapshot installed"
        );
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.clock_ms = clock_ms;
        inner.blocked = blocked;
        inner.staged = staged;
        inner.scripts.replace(scripts);
        Self::set_current(&mut inner, meta, &run);
        Ok(())
    }
}

/// A snapshot's id: the term and index it ends at, and a counter that
/// tells apart snapshots built at the same point.
fn snapshot_id(last_applied: Option<LogId<NodeId>>, count: u64) -> String {
    match last_applied {
        Some(id) => format!("{}-{}-{count}", id.leader_id.term, id.index),
        None => format!("0-0-{count}"),
    }
}

/// What a run stores besides the keys (postcard, in the run's meta).
#[derive(Debug, Serialize, Deserialize)]
struct RunMeta {
    meta: Meta,
    /// The replicated clock at the snapshot.
    clock_ms: u64,
    /// The blocked commands at the snapshot.
    blocked: Blocked,
    /// Parts of large writes not yet assembled at the snapshot.
    staged: Staged,
    /// The script cache's bodies, in SHA1 order.
    scripts: Vec<Bytes>,
}

fn encode_meta(
    meta: &Meta,
    clock_ms: u64,
    blocked: &Blocked,
    staged: &Staged,
    scripts: &[Bytes],
) -> Vec<u8> {
    let stored = RunMeta {
        meta: meta.clone(),
        clock_ms,
        blocked: blocked.clone(),
        staged: staged.clone(),
        scripts: scripts.to_vec(),
    };
    postcard::to_stdvec(&stored).expect("snapshot meta serializes")
}

/// A run's meta as builds before scripts were replicated wrote it: read
/// as having no scripts cached.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct RunMetaWithoutScripts {
    meta: Meta,
    clock_ms: u64,
    blocked: Blocked,
    staged: Staged,
}

/// A run's meta as builds before large writes were uploaded in parts
/// wrote it: read as having nothing staged.
#[derive(Deserialize)]
struct RunMetaWithoutStaged {
    meta: Meta,
    clock_ms: u64,
    blocked: Blocked,
}

/// A run's meta as builds before blocked commands were replicated wrote
/// it: read as having no waiters.
#[derive(Deserialize)]
struct RunMetaWithoutBlocked {
    meta: Meta,
    clock_ms: u64,
}

/// Decodes `bytes` as a whole `T` (postcard ignores what follows a value,
/// so a shorter format could match the start of a longer one).
fn decode_whole<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

fn decode_meta(bytes: &[u8]) -> Result<RunMeta, AnyError> {
    if let Some(stored) = decode_whole::<RunMeta>(bytes) {
        return Ok(stored);
    }
    if let Some(old) = decode_whole::<RunMetaWithoutScripts>(bytes) {
        return Ok(RunMeta {
            meta: old.meta,
            clock_ms: old.clock_ms,
            blocked: old.blocked,
            staged: old.staged,
            scripts: Vec::new(),
        });
    }
    if let Some(old) = decode_whole::<RunMetaWithoutStaged>(bytes) {
        return Ok(RunMeta {
            meta: old.meta,
            clock_ms: old.clock_ms,
            blocked: old.blocked,
            staged: Staged::default(),
            scripts: Vec::new(),
        });
    }
    if let Some(old) = decode_whole::<RunMetaWithoutBlocked>(bytes) {
        return Ok(RunMeta {
            meta: old.meta,
            clock_ms: old.clock_ms,
            blocked: Blocked::default(),
            staged: Staged::default(),
            scripts: Vec::new(),
        });
    }
    Err(AnyError::error(format!(
        "snapshot meta of {} bytes matches no known format",
        bytes.len()
    )))
}

/// Writes `data` to a new file at `path` and syncs it.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    io::Write::write_all(&mut file, data)?;
    file.sync_all()
}

/// Removes what an interrupted build or reception left in `dir`.
fn remove_temporaries(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(TEMPORARY_SUFFIX) {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // Off the Raft thread: only the freeze holds apply back.
        let machine = self.clone();
        tokio::task::spawn_blocking(move || machine.build_blocking())
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, PeerNode>), StorageError<NodeId>>
    {
        let inner = self.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock();
        let mut applied = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            assert!(
                inner.last_applied.map(|last| last.index) < Some(index),
                "applied entry {index} is not after the last applied {:?}",
                inner.last_applied
            );
            inner.last_applied = Some(entry.log_id);
            inner.staged.enter_term(entry.log_id.leader_id.term);
            let mut waiters: Vec<(WaiterId, Outcome)> = inner
                .blocked
                .enter_term(entry.log_id.leader_id.term)
                .into_iter()
                .map(|ended| (ended.id, Outcome::Applied(ended.reply)))
                .collect();
            let (request, replies) = match entry.payload {
                EntryPayload::Blank => (None, Vec::new()),
                EntryPayload::Normal(request) => {
                    let replies = {
                        let inner = &mut *inner;
                        apply::apply_request(
                            &self.engine,
                            apply::GroupState {
                                clock_ms: &mut inner.clock_ms,
                                blocked: &mut inner.blocked,
                                staged: &mut inner.staged,
                                scripts: &inner.scripts,
                                runner: inner.runner.as_ref(),
                            },
                            inner.isolate.as_ref(),
                            &request,
                            &mut waiters,
                        )
                    };
                    (Some(request), replies)
                }
                EntryPayload::Membership(membership) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), membership);
                    (None, Vec::new())
                }
            };
            if request.is_some() || !waiters.is_empty() {
                if let Some(observer) = inner.observer.as_mut() {
                    observer(AppliedEntry {
                        index,
                        request: request.as_ref(),
                        replies,
                        waiters,
                    });
                }
            }
            applied.push(Applied { index });
        }
        Ok(applied)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<SnapshotData>, StorageError<NodeId>> {
        Ok(Box::new(SnapshotData::receiving()))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_bytes();
        let machine = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || machine.install_blocking(&meta, &data))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.inner.lock();
        Ok(inner.current.as_ref().map(|(meta, run)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(SnapshotData::sending(run.bytes().clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use redraft_engine::WriteOp;

    /// Snapshots written before blocked commands were replicated, and
    /// before large writes were staged, still open (with no waiters and
    /// nothing staged); one written now keeps both.
    #[test]
    fn snapshot_meta_of_every_format_decodes() {
        #[derive(Serialize)]
        struct WithoutBlocked {
            meta: Meta,
            clock_ms: u64,
        }
        #[derive(Serialize)]
        struct WithoutStaged {
            meta: Meta,
            clock_ms: u64,
            blocked: Blocked,
        }
        let meta = Meta::default();
        let oldest = postcard::to_stdvec(&WithoutBlocked {
            meta: meta.clone(),
            clock_ms: 42,
        })
        .unwrap();
        let decoded = decode_meta(&oldest).unwrap();
        assert_eq!(
            (decoded.clock_ms, decoded.blocked, decoded.staged),
            (42, Blocked::default(), Staged::default())
        );

        let mut blocked = Blocked::default();
        let id = WaiterId {
            origin: 1,
            client_id: 2,
            seq: 3,
        };
        let pop = WriteOp::Lists(redraft_engine::ListOp::PopFirst {
            keys: vec![Bytes::from_static(b"k")],
            left: true,
        });
        blocked.block(id, 0, &[Bytes::from_static(b"k")], &pop);
        let older = postcard::to_stdvec(&WithoutStaged {
            meta: meta.clone(),
            clock_ms: 9,
            blocked: blocked.clone(),
        })
        .unwrap();
        let decoded = decode_meta(&older).unwrap();
        assert_eq!(
            (decoded.clock_ms, &decoded.blocked, decoded.staged),
            (9, &blocked, Staged::default())
        );

        let mut staged = Staged::default();
        staged.part(5, 1, 0, 10, b"abc");
        let older = postcard::to_stdvec(&RunMetaWithoutScripts {
            meta: meta.clone(),
            clock_ms: 8,
            blocked: blocked.clone(),
            staged: staged.clone(),
        })
        .unwrap();
        let decoded = decode_meta(&older).unwrap();
        assert_eq!(
            (decoded.clock_ms, &decoded.staged, decoded.scripts.len()),
            (8, &staged, 0)
        );

        let scripts = vec![Bytes::from_static(b"return 1")];
        let encoded = encode_meta(&meta, 7, &blocked, &staged, &scripts);
        let decoded = decode_meta(&encoded).unwrap();
        assert_eq!(
            (
                decoded.clock_ms,
                decoded.blocked,
                decoded.staged,
                decoded.scripts
            ),
            (7, blocked, staged, scripts)
        );
        assert!(decode_meta(b"\xff\xff").is_err());
    }
}
