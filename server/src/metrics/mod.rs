//! What the node measures about itself, for `INFO`, `LATENCY` and the
//! admin port's `/metrics`.
//!
//! - [`commands`]: per-command calls, errors and latency histograms,
//!   recorded by each network thread without locks.
//! - [`prometheus`]: the `/metrics` page in Prometheus's text format.
//! - [`dashboard`]: the human page at `/` and the JSON it polls.
//! - [`process`]: the process's CPU time, memory, descriptors and threads.

pub mod command_info;
pub mod commands;
pub mod dashboard;
pub mod process;
pub mod prometheus;
