//! Shared by the Raft tests (`raft_storage.rs`, `raft_transport.rs`): a
//! type config and a small, complete in-memory state machine that records
//! every payload it applies, with snapshots that round-trip that record.
//! The real state machine (the engine) is tested on its own; these tests are
//! about the log store and the transport.

#![allow(dead_code)]

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{Entry, EntryPayload, LogId, StorageError, StorageIOError, StoredMembership};
use redraft_server::raft::network::PeerNode;

openraft::declare_raft_types!(
    pub TestConfig:
        D = String,
        R = String,
        Node = PeerNode,
);

pub type NodeId = u64;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, PeerNode>,
    applied: Vec<String>,
}

#[derive(Default)]
pub struct Inner {
    state: State,
    snapshot: Option<(SnapshotMeta<NodeId, PeerNode>, Vec<u8>)>,
    snapshot_count: u64,
}

#[derive(Clone, Default)]
pub struct TestStateMachine {
    inner: Arc<Mutex<Inner>>,
}

impl TestStateMachine {
    pub fn applied(&self) -> Vec<String> {
        self.inner.lock().unwrap().state.applied.clone()
    }
}

impl RaftSnapshotBuilder<TestConfig> for TestStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TestConfig>, StorageError<NodeId>> {
        let mut inner = self.inner.lock().unwrap();
        let data = postcard::to_allocvec(&inner.state)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        inner.snapshot_count += 1;
        let meta = SnapshotMeta {
            last_log_id: inner.state.last_applied,
            last_membership: inner.state.membership.clone(),
            snapshot_id: format!("snapshot-{}", inner.snapshot_count),
        };
        inner.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TestConfig> for TestStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, PeerNode>), StorageError<NodeId>>
    {
        let inner = self.inner.lock().unwrap();
        Ok((inner.state.last_applied, inner.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<String>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TestConfig>> + Send,
    {
        let mut inner = self.inner.lock().unwrap();
        let mut replies = Vec::new();
        for entry in entries {
            inner.state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => replies.push(String::new()),
                EntryPayload::Normal(data) => {
                    inner.state.applied.push(data.clone());
                    replies.push(data);
                }
                EntryPayload::Membership(membership) => {
                    inner.state.membership = StoredMembership::new(Some(entry.log_id), membership);
                    replies.push(String::new());
                }
            }
        }
        Ok(replies)
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
        let state: State = postcard::from_bytes(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let mut inner = self.inner.lock().unwrap();
        inner.state = state;
        inner.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TestConfig>>, StorageError<NodeId>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}

/// raftlog limits for tests: small segments, so the many logs a test
/// opens stay cheap and segment rolls are exercised.
pub fn small_log_config() -> redraft_raftlog::Config {
    redraft_raftlog::Config {
        segment_bytes: 1 << 20,
        entry_bytes_max: 64 << 10,
        batch_bytes_max: 256 << 10,
        spare_segments_max: 0,
        ..redraft_raftlog::Config::default()
    }
}

/// A raftlog with [`small_log_config`] in a fresh temp directory, which
/// lives as long as the returned guard.
pub fn small_raft_log(prefix: &str) -> (tempfile::TempDir, Arc<redraft_raftlog::RaftLog>) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let log = redraft_raftlog::RaftLog::open(dir.path(), small_log_config()).expect("open raftlog");
    (dir, Arc::new(log))
}
