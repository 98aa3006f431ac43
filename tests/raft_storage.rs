//! openraft's own storage conformance suite (`Suite::test_all`) against
//! our log store (`server/src/raft/log_store.rs` over `redraft-raftlog`),
//! each test on a fresh log directory.
//!
//! The suite needs a state machine too: `common/raft.rs` has a small
//! complete one that records what it applied, which is all the suite checks
//! of it. The log store is the part under test here.

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
        let (dir, log) = raft_common::small_raft_log("redraft-suite-");
        Ok((dir, LogStore::new(log), TestStateMachine::default()))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).unwrap();
}
