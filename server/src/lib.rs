//! redraft-server: the network, the RESP codec, the command table and the
//! write path of redraft, a Redis-compatible server whose writes go through
//! Raft. `main.rs` only parses flags and calls [`server::run`].
//!
//! Its threads, layers, the path of a write and what apply may touch are
//! described in `docs/design.md`.

pub mod admin;
pub mod admission;
pub mod apply;
pub mod blocking;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod client;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod conn_figures;
pub mod diag;
pub mod evict;
pub mod fd_limit;
pub mod info;
pub mod log_field;
pub mod logging;
pub mod malloc;
pub mod maxmemory;
pub mod metrics;
pub mod net;
pub mod node;
pub mod pubsub;
pub mod raft;
pub mod resp;
pub mod route;
pub mod script;
pub mod server;
pub mod session;
pub mod shared;
pub mod shutdown;
pub mod tx_gate;
pub mod write_path;
