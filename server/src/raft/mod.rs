//! The Raft side of the server: openraft 0.9 adapters over our own parts.
//!
//! - [`log_store`]: openraft's `RaftLogStorage` over `redraft-raftlog`.
//! - [`network`]: openraft's network factory and client: persistent TCP
//!   connections to each peer, with backoff and a timeout on every RPC.
//! - [`peer_server`]: the raft-port listener that hands peers' RPCs to the
//!   local `Raft`.
//! - [`frame`]: the peer transport's wire format, shared by both sides.
//! - [`types`]: openraft's type configuration and the entry payload.
//! - [`state_machine`]: openraft's `RaftStateMachine` over the engine.
//! - [`snapshot_data`]: the buffer a snapshot travels in.
//! - [`proposer`]: merges queued writes into entries and routes replies.
//! - [`status`]: the group as the network threads see it (role, leader).
//! - [`replication`]: the group in Redis's terms (master, replicas, offsets).
//! - [`counters`]: counts of Raft events (elections, snapshots) for metrics.
//! - [`events`]: structured events from openraft's metrics reports.
//! - [`health`]: each peer's reachability; [`probe`]: the prober.
//! - [`upload`]: large writes sent through the log in bounded parts.
//!
//! The Raft thread that wires these parts together (with the admin API)
//! is `crate::node`, above this module.

pub mod counters;
pub mod events;
pub mod frame;
pub mod health;
pub mod log_store;
pub mod network;
pub mod peer_server;
pub mod probe;
pub mod proposer;
pub mod replication;
pub mod snapshot_data;
pub mod state_machine;
pub mod status;
pub mod types;
pub mod upload;
