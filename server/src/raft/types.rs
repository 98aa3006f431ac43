//! The openraft type configuration of redraft, and what one Raft entry
//! carries.
//!
//! One entry carries a batch of validated writes (the proposer merges every
//! write queued by the executors into one entry), stamped by the leader with
//! its wall-clock milliseconds. Apply uses that stamp, never a local clock,
//! for TTL arithmetic and expiry checks (DESIGN.md, "The write path and its
//! rules").
//!
//! The entry payload itself, [`Request`], is apply's vocabulary
//! (`crate::apply`).
//!
//! Invariants:
//! - Only well-formed writes enter the log: each [`Command`] holds a
//!   validated op and a database index below `DB_COUNT`.
//! - A batch applies as a unit, in order, so a MULTI/EXEC block or a
//!   multi-key write placed in one entry applies atomically.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::apply::{Command, Request};

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

/// A cluster member as openraft stores it in the membership config: where
/// its peer transport listens, and its client port (for `-MOVED` redirects
/// and `CLUSTER` replies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// Host name or IP address, shared by both ports.
    pub host: String,
    /// The peer transport's port (`raft::peer_server`).
    pub raft_port: u16,
    /// The Redis client port.
    pub port: u16,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} (raft {})", self.host, self.port, self.raft_port)
    }
}

/// A node's id in the Raft group.
pub type NodeId = u64;

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
