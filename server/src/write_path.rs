//! The write path: the one place a validated write enters the engine.
//!
//! Every write command, and the leader's active-expiry deletions, come
//! through [`WritePath::submit`]. Today it applies the write directly, stamped
//! with this node's wall clock (the single node is its own leader). With Raft
//! this function becomes the hand-off to the proposer, and the reply comes
//! back once the entry is committed and applied; nothing else in the server
//! changes.

use std::sync::Arc;

use redraft_engine::{Engine, Reply, WriteOp};

/// Hands writes to the engine.
pub struct WritePath {
    engine: Arc<Engine>,
}

impl WritePath {
    pub fn new(engine: Arc<Engine>) -> WritePath {
        WritePath { engine }
    }

    /// Applies `op` to database `db`, stamped `now_ms`, and returns its
    /// reply. (With Raft the proposer stamps the entry instead.)
    pub fn submit(&self, db: usize, op: &WriteOp, now_ms: u64) -> Reply {
        self.engine.apply(db, op, now_ms)
    }
}
