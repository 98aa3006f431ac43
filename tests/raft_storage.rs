//! openraft's own storage conformance suite (`Suite::test_all`) against
//! our log store (`server/src/raft/log_store.rs` over `redraft-raftlog`),
//! each test on a fresh log directory.
//!
//! The suite needs a state machine too: `common/raft.rs` has a small
//! complete one that records what it applied, which is all the suite checks
//! of it. The log store is the part under test here.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use redraft_server::raft::log_store::LogStore;

#[path = "common/raft.rs"]
mod raft_common;

use raft_common::{NodeId, TestConfig, TestStateMachine};

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
