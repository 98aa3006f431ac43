//! The write path: the one way a validated write leaves a network thread.
//!
//! Every write command, and the leader's active-expiry deletions, go to the
//! Raft thread's proposer through [`WritePath`]: a crossbeam channel plus a
//! tokio `Notify` that wakes the proposer. A network thread sends one batch
//! per event-loop tick, not one message per command; the reply comes back
//! through the thread's inbox (`route.rs`) once the entry holding the write
//! is committed and applied.

use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use redraft_engine::{WriteOp, DB_COUNT};
use tokio::sync::Notify;

use crate::route::{Op, Proposal, ToRaft};

/// The sending side, shared by every network thread.
pub struct WritePath {
    queue: Sender<ToRaft>,
    notify: Arc<Notify>,
}

/// The proposer's side of the write path.
pub struct ProposerInput {
    pub queue: Receiver<ToRaft>,
    pub notify: Arc<Notify>,
}

impl WritePath {
    /// A connected pair: the network threads' side and the proposer's.
    pub fn new() -> (WritePath, ProposerInput) {
        let (queue, receiver) = crossbeam_channel::unbounded();
        let notify = Arc::new(Notify::new());
        let input = ProposerInput {
            queue: receiver,
            notify: notify.clone(),
        };
        (WritePath { queue, notify }, input)
    }

    /// Hands a batch of writes, in order, to the proposer.
    pub fn propose(&self, batch: Vec<Proposal>) {
        debug_assert!(!batch.is_empty());
        self.send(ToRaft::Writes(batch));
    }

    /// Asks for a leadership check covering every read `executor` queued
    /// up to `ticket`.
    pub fn read_index(&self, executor: u16, ticket: u64) {
        self.send(ToRaft::ReadIndex { executor, ticket });
    }

    /// Proposes the server's own deletion of `keys` (database, key): the
    /// leader's expiry purge and its evictions. One `op(keys)` per
    /// database, split so that none is much over `entry_bytes_target`
    /// (keys can be megabytes long, and an entry over the log's limit
    /// would be fatal). Proposes nothing for no keys.
    pub fn propose_deletions(
        &self,
        keys: impl IntoIterator<Item = (usize, Bytes)>,
        entry_bytes_target: usize,
        op: impl Fn(Vec<Bytes>) -> WriteOp,
    ) {
        let mut per_db: Vec<Vec<Bytes>> = vec![Vec::new(); DB_COUNT];
        for (db, key) in keys {
            per_db[db].push(key);
        }
        let proposal = |db: usize, keys: Vec<Bytes>, bytes: usize| Proposal {
            route: None,
            db: db as u8,
            bytes: bytes as u32,
            op: Op::Write(op(keys)),
        };
        let mut batch = Vec::new();
        for (db, keys) in per_db.into_iter().enumerate() {
            let mut chunk = Vec::new();
            let mut bytes = 0usize;
            for key in keys {
                let size = key.len() + 16;
                if !chunk.is_empty() && bytes + size > entry_bytes_target {
                    batch.push(proposal(db, std::mem::take(&mut chunk), bytes));
                    bytes = 0;
                }
                bytes += size;
                chunk.push(key);
            }
            if !chunk.is_empty() {
                batch.push(proposal(db, chunk, bytes));
            }
        }
        if !batch.is_empty() {
            self.propose(batch);
        }
    }

    fn send(&self, message: ToRaft) {
        // The proposer lives as long as the process; a send can only fail
        // while the process is exiting.
        if self.queue.send(message).is_ok() {
            self.notify.notify_one();
        }
    }
}
