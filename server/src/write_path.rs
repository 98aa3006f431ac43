//! The write path: the one way a validated write leaves a network thread.
//!
//! Every write command, and the leader's active-expiry deletions, go to the
//! Raft thread's proposer through [`WritePath`]: a crossbeam channel plus a
//! tokio `Notify` that wakes the proposer. A network thread sends one batch
//! per event-loop tick, not one message per command; the reply comes back
//! through the thread's inbox (`route.rs`) once the entry holding the write
//! is committed and applied.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::Notify;

use crate::route::{Proposal, ToRaft};

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

    fn send(&self, message: ToRaft) {
        // The proposer lives as long as the process; a send can only fail
        // while the process is exiting.
        if self.queue.send(message).is_ok() {
            self.notify.notify_one();
        }
    }
}
