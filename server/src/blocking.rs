//! The node's side of the blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
//! BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP).
//!
//! Waiting is replicated state (`redraft_engine::Blocked`): a blocking
//! command is proposed as [`Op::Block`](crate::route::Op::Block); at apply
//! it pops at once, or registers a waiter and its connection is told
//! [`Outcome::Blocked`](crate::route::Outcome::Blocked) and keeps its reply
//! slot open. Apply serves waiters after each command, so every node pops
//! the same elements for the same clients, and the connection's node
//! delivers the reply as the outcome of the same write. A connection
//! whose timeout passes, or that closes, proposes
//! [`Op::Unblock`](crate::route::Op::Unblock); a new term ends every
//! waiter with `-UNBLOCKED`. See `docs/datatypes.md`, "Blocking commands".
//!
//! What stays on the node is the count of its connections that wait
//! (`blocked_clients` in INFO), kept by the proposer's router: a blocked
//! command counts from the moment apply registered its waiter until apply
//! ends the wait (a closed connection counts until its unblock applies).

use std::sync::atomic::{AtomicUsize, Ordering};

/// This node's blocked connections.
#[derive(Default)]
pub struct Blocking {
    /// Blocked commands of this node whose waiter is registered
    /// (`blocked_clients`).
    clients: AtomicUsize,
}

impl Blocking {
    /// A blocked command's waiter was registered.
    pub fn blocked(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    /// A registered waiter's wait ended.
    pub fn unblocked(&self) {
        let before = self.clients.fetch_sub(1, Ordering::Relaxed);
        assert!(before > 0, "more connections unblocked than blocked");
    }

    /// Connections blocked now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}
