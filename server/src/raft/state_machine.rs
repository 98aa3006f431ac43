//! openraft's state machine (`RaftStateMachine`, storage-v2) over the
//! engine: applying an entry executes its writes on the [`Engine`].
//!
//! Apply executes each normal entry's commands in order with
//! `Engine::apply`, at the entry's leader stamp, and hands the replies
//! (one per command) to an optional observer with the entry's log index;
//! the proposer routes them to the waiting connections. openraft itself
//! only gets [`Applied`] back.
//!
//! Snapshots, first step: a snapshot is a full dump of the keyspace (every
//! key of every database with its value and absolute expiry, in the engine's
//! deterministic order) with the last applied log id and membership,
//! serialized with postcard and sealed with a CRC32C. It is built on a
//! blocking thread, off the Raft thread; it holds apply off (and, since
//! apply then waits on the Raft thread, that thread too) for the length of
//! the dump, but not while it is encoded and written. The LSM-shaped
//! snapshot (freeze the
//! head in O(1), write a sorted rkyv run in the background) replaces this in
//! a later step.
//!
//! A state machine opened on a directory ([`StateMachine::open`]) keeps the
//! newest snapshot there as `snapshot.bin` (written to a temporary file,
//! fsynced, renamed, and the directory fsynced), and starts from it: the
//! engine is restored and `last_applied` is the snapshot's, so openraft
//! replays only the log after it. The log is purged behind a snapshot only
//! after `build_snapshot` returns, by which time the file is durable.
//!
//! Snapshot data format, in order:
//! - `version`: one byte, [`SNAPSHOT_VERSION`].
//! - `body`: postcard of [`SnapshotBody`] (last applied, membership, records).
//! - `crc`: CRC32C of `version` and `body`, 4 bytes little-endian.
//!
//! Invariants:
//! - Apply never reads the clock: time comes from the entry's stamp.
//! - Applied log indexes strictly increase (asserted).
//! - A snapshot's contents are one consistent cut: the dump and the last
//!   applied id are taken under the same lock that apply holds.
//! - A snapshot is installed only if its checksum, version and log id
//!   check out; otherwise the engine is left untouched.

// openraft's `StorageError` is large; its trait methods return it, so ours do.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, StorageError, StorageIOError,
    StoredMembership,
};
use parking_lot::Mutex;
use redraft_engine::{DumpRecord, Engine, Reply};
use serde::{Deserialize, Serialize};

use crate::raft::network::PeerNode;
use crate::raft::types::{Applied, NodeId, Request, TypeConfig};

/// The version byte that opens every snapshot this module writes.
pub const SNAPSHOT_VERSION: u8 = 1;
/// The snapshot file's name in the snapshot directory.
const SNAPSHOT_FILE: &str = "snapshot.bin";

/// Receives the replies of each applied normal entry: (log index, the
/// entry, one reply per command in the entry's order). Called on the apply
/// task, under the state machine's lock, so it must only hand the replies
/// off.
pub type ApplyObserver = Box<dyn FnMut(u64, &Request, Vec<Reply>) + Send + Sync>;

/// What a snapshot holds, serialized between the version byte and the CRC.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotBody {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, PeerNode>,
    /// Every key, in the engine's dump order.
    pub records: Vec<DumpRecord>,
}

/// The state machine. Cloning is cheap (two `Arc`s); a clone is also the
/// snapshot builder openraft runs on its own task.
#[derive(Clone)]
pub struct StateMachine {
    engine: Arc<Engine>,
    /// Held by apply for a whole batch and by the builder for a whole dump,
    /// so a snapshot never sees half an entry.
    inner: Arc<Mutex<Inner>>,
    /// The snapshot directory. Taken before `inner` when both are held, and
    /// held alone while a built snapshot is written, so apply goes on.
    files: Arc<Mutex<SnapshotFiles>>,
}

/// Where snapshots are kept on disk.
#[derive(Default)]
struct SnapshotFiles {
    /// The directory; `None` keeps snapshots in memory only.
    dir: Option<PathBuf>,
    /// The index of the snapshot in `dir`, so an older one never replaces it.
    persisted_index: Option<u64>,
}

struct Inner {
    /// The last entry applied; `None` before the first.
    last_applied: Option<LogId<NodeId>>,
    /// The membership of the last membership entry applied.
    membership: StoredMembership<NodeId, PeerNode>,
    /// The last snapshot built or installed, for `get_current_snapshot`.
    snapshot: Option<(SnapshotMeta<NodeId, PeerNode>, Vec<u8>)>,
    /// Snapshots built by this node, to make each snapshot id unique.
    snapshots_built: u64,
    /// Where apply hands the replies; `None` drops them.
    observer: Option<ApplyObserver>,
}

impl StateMachine {
    /// A state machine over `engine`, which must be empty: nothing has been
    /// applied yet.
    pub fn new(engine: Arc<Engine>) -> StateMachine {
        let inner = Inner {
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
            snapshots_built: 0,
            observer: None,
        };
        StateMachine {
            engine,
            inner: Arc::new(Mutex::new(inner)),
            files: Arc::default(),
        }
    }

    /// A state machine over the empty `engine` that keeps its snapshots in
    /// `dir` (created if missing) and starts from the snapshot there, if
    /// any. A snapshot that fails its checks stops the node: it holds
    /// entries the log may no longer have.
    pub fn open(engine: Arc<Engine>, dir: &Path) -> Result<StateMachine, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let machine = StateMachine::new(engine);
        let path = dir.join(SNAPSHOT_FILE);
        let mut files = machine.files.lock();
        let mut inner = machine.inner.lock();
        files.dir = Some(dir.to_path_buf());
        match fs::read(&path) {
            Ok(data) => {
                let body = decode_snapshot(&data)
                    .map_err(|e| format!("snapshot {}: {e}", path.display()))?;
                let meta = SnapshotMeta {
                    last_log_id: body.last_applied,
                    last_membership: body.membership.clone(),
                    snapshot_id: snapshot_id(body.last_applied, 0),
                };
                machine.engine.restore(body.records);
                inner.last_applied = body.last_applied;
                inner.membership = body.membership;
                files.persisted_index = body.last_applied.map(|id| id.index);
                inner.snapshot = Some((meta, data));
                tracing::info!(
                    last_applied = ?inner.last_applied,
                    "loaded snapshot {}",
                    path.display()
                );
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        }
        drop(inner);
        drop(files);
        Ok(machine)
    }

    /// The engine this state machine applies to.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Sets (or replaces) the observer that receives each entry's replies.
    pub fn set_observer(&self, observer: ApplyObserver) {
        self.inner.lock().observer = Some(observer);
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.inner.lock().last_applied
    }

    /// Executes one batch of writes at its leader stamp.
    fn execute(&self, request: &Request) -> Vec<Reply> {
        request
            .commands
            .iter()
            .map(|command| {
                self.engine
                    .apply(usize::from(command.db), &command.op, request.stamp_ms)
            })
            .collect()
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

/// Makes `data` the snapshot in `dir`, durably, unless the one there is
/// newer: a temporary file, fsync, rename over the old one, fsync the
/// directory.
fn persist_snapshot(files: &mut SnapshotFiles, index: Option<u64>, data: &[u8]) -> io::Result<()> {
    let Some(dir) = files.dir.as_ref() else {
        return Ok(());
    };
    if files.persisted_index.is_some() && files.persisted_index >= index {
        return Ok(());
    }
    let temporary = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(SNAPSHOT_FILE))?;
    fs::File::open(dir)?.sync_all()?;
    files.persisted_index = index;
    Ok(())
}

/// Seals a snapshot body: version byte, postcard body, CRC32C.
fn encode_snapshot(body: &SnapshotBody) -> Result<Vec<u8>, postcard::Error> {
    let mut data = vec![SNAPSHOT_VERSION];
    data = postcard::to_extend(body, data)?;
    let crc = crc32c::crc32c(&data);
    data.extend_from_slice(&crc.to_le_bytes());
    Ok(data)
}

/// Checks a snapshot's CRC and version and decodes its body.
fn decode_snapshot(data: &[u8]) -> Result<SnapshotBody, AnyError> {
    if data.len() < 5 {
        return Err(AnyError::error(format!(
            "snapshot of {} bytes is too short",
            data.len()
        )));
    }
    let (sealed, crc) = data.split_at(data.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let actual = crc32c::crc32c(sealed);
    if crc != actual {
        return Err(AnyError::error(format!(
            "snapshot checksum mismatch: stored {crc:#010x}, computed {actual:#010x}"
        )));
    }
    if sealed[0] != SNAPSHOT_VERSION {
        return Err(AnyError::error(format!(
            "unknown snapshot version {}",
            sealed[0]
        )));
    }
    postcard::from_bytes(&sealed[1..]).map_err(|e| AnyError::new(&e))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // Off the Raft thread: only the dump holds apply back; encoding and
        // writing the file let heartbeats, apply and proposals go on.
        let machine = self.clone();
        tokio::task::spawn_blocking(move || machine.build_blocking())
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?
    }
}

impl StateMachine {
    /// Builds, persists and records a snapshot; runs on a blocking thread.
    fn build_blocking(&self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // The cut: under the apply lock, only the dump.
        let (body, meta) = {
            let mut inner = self.inner.lock();
            inner.snapshots_built += 1;
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
                snapshot_id: snapshot_id(inner.last_applied, inner.snapshots_built),
            };
            let body = SnapshotBody {
                last_applied: inner.last_applied,
                membership: inner.membership.clone(),
                records: self.engine.dump(),
            };
            (body, meta)
        };
        let data = encode_snapshot(&body).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        drop(body);
        let index = meta.last_log_id.map(|id| id.index);
        let mut files = self.files.lock();
        persist_snapshot(&mut files, index, &data)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(
            snapshot = %meta.snapshot_id,
            bytes = data.len(),
            "snapshot built"
        );
        let mut inner = self.inner.lock();
        let newer = match &inner.snapshot {
            Some((current, _)) => current.last_log_id <= meta.last_log_id,
            None => true,
        };
        if newer {
            inner.snapshot = Some((meta.clone(), data.clone()));
        }
        drop(inner);
        drop(files);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
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
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(request) => {
                    let replies = self.execute(&request);
                    if let Some(observer) = inner.observer.as_mut() {
                        observer(index, &request, replies);
                    }
                }
                EntryPayload::Membership(membership) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), membership);
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
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, PeerNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let refuse = |e: AnyError| StorageIOError::read_snapshot(Some(meta.signature()), e);
        let body = decode_snapshot(&data).map_err(refuse)?;
        if body.last_applied != meta.last_log_id {
            return Err(refuse(AnyError::error(format!(
                "snapshot holds {:?} but its meta says {:?}",
                body.last_applied, meta.last_log_id
            )))
            .into());
        }
        let mut files = self.files.lock();
        let mut inner = self.inner.lock();
        let index = body.last_applied.map(|id| id.index);
        persist_snapshot(&mut files, index, &data)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.engine.restore(body.records);
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "snapshot installed");
        inner.last_applied = body.last_applied;
        inner.membership = body.membership;
        inner.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.inner.lock();
        Ok(inner.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}
