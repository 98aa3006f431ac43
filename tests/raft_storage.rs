//! openraft's own storage conformance suite (`Suite::test_all`) against
//! our log store (`server/src/raft/log_store.rs` over `redraft-raftlog`),
//! each test on a fresh log directory.
//!
//! The suite needs a state machine too. The real one (the engine, with
//! snapshots) arrives with Raft replication; until then this file carries a
//! small complete one that records what it applied, which is all the suite
//! checks of it. The log store is the part under test here.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{Entry, EntryPayload, LogId, StorageError, StorageIOError, StoredMembership};
use redraft_server::raft::log_store::LogStore;

openraft::declare_raft_types!(
    pub TestConfig:
        D = String,
        R = String,
);

type NodeId = u64;
type Node = openraft::BasicNode;

/// What the test state machine holds: the last applied id, the membership
/// and every applied payload (so a snapshot round trip can be checked).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct State {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, Node>,
    applied: Vec<String>,
}

#[derive(Default)]
struct Inner {
    state: State,
    snapshot: Option<(SnapshotMeta<NodeId, Node>, Vec<u8>)>,
    snapshot_count: u64,
}

#[derive(Clone, Default)]
struct TestStateMachine {
    inner: Arc<Mutex<Inner>>,
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
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Node>), StorageError<NodeId>> {
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
        meta: &SnapshotMeta<NodeId, Node>,
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

/// Builds a log store on a fresh directory with small segments (so the
/// suite's many stores stay cheap and segment rolls are exercised).
struct Builder;

impl StoreBuilder<TestConfig, LogStore<TestConfig>, TestStateMachine, tempfile::TempDir>
    for Builder
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<TestConfig>, TestStateMachine), StorageError<NodeId>>
    {
        let dir = tempfile::Builder::new()
            .prefix("redraft-suite-")
            .tempdir()
            .unwrap();
        let config = redraft_raftlog::Config {
            segment_bytes: 1 << 20,
            entry_bytes_max: 64 << 10,
            batch_bytes_max: 256 << 10,
            spare_segments_max: 0,
            ..redraft_raftlog::Config::default()
        };
        let log = redraft_raftlog::RaftLog::open(dir.path(), config).expect("open raftlog");
        Ok((
            dir,
            LogStore::new(Arc::new(log)),
            TestStateMachine::default(),
        ))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).unwrap();
}
