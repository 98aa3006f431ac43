//! The openraft type configuration of redraft, and what one Raft entry
//! carries.
//!
//! One entry carries a batch of validated writes (the proposer merges every
//! write queued by the executors into one entry), stamped by the leader with
//! its wall-clock milliseconds. Apply uses that stamp, never a local clock,
//! for TTL arithmetic and expiry checks (DESIGN.md, "The write path and its
//! rules").
//!
//! Invariants:
//! - Only well-formed writes enter the log: each [`Command`] holds a
//!   validated [`WriteOp`] and a database index below `DB_COUNT`.
//! - A batch applies as a unit, in order, so a MULTI/EXEC block or a
//!   multi-key write placed in one entry applies atomically.

use serde::{Deserialize, Serialize};

use crate::raft::network::PeerNode;
use crate::raft::snapshot_data::SnapshotData;

openraft::declare_raft_types!(
    /// redraft's Raft types: node ids are `u64`, entries are openraft's
    /// default `Entry`, snapshots travel as [`SnapshotData`] (a shared
    /// slice of a run file when sent) and the runtime is tokio.
    pub TypeConfig:
        D = Request,
        R = Applied,
        Node = PeerNode,
        SnapshotData = SnapshotData,
);

/// A node's id in the Raft group.
pub type NodeId = u64;

/// The payload of one normal Raft entry: a batch of writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The leader's wall-clock Unix time in milliseconds when it proposed
    /// the entry; every node applies the batch at this time.
    pub stamp_ms: u64,
    /// Which run of which node proposed the entry: a value the proposer
    /// draws at start-up, different on every node and every restart. With
    /// `proposal` it names the entry, so the proposer recognises its own
    /// entries when they are applied and routes their replies (and a node
    /// that restarted never mistakes an old entry for a new one).
    pub origin: u64,
    /// The proposer's sequence number of this entry within its run.
    pub proposal: u64,
    /// The writes, applied in this order.
    pub commands: Vec<Command>,
}

/// One validated write and the database it targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The connection's selected database (`SELECT`), below `DB_COUNT`.
    pub db: u8,
    pub op: crate::route::Op,
}

/// What openraft hands back to the proposer for an applied entry: only its
/// index. The commands' replies do not travel through openraft (whose
/// response goes to one client-write caller, not to the many connections
/// whose writes share the entry); the state machine passes them to its
/// observer, which the proposer uses to route each reply to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The log index of the applied entry.
    pub index: u64,
}
