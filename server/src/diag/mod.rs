//! What Redis shows an operator about the commands a node runs: the slow
//! log (`SLOWLOG`), the latency monitor (`LATENCY`) and `MONITOR`, all
//! shared by the node's network threads.
//!
//! This module holds the node's state ([`Diag`]); the connection calls
//! `session::diag_hook::after_call` once per command that ran (Redis's `call()`): one
//! clock read and three relaxed atomic loads on the fast path; the locks,
//! copies and formatting happen only for a command that is slow enough to
//! log or while someone monitors.
//!
//! Invariants:
//! - A command is observed only if it ran: not if it was refused before
//!   its handler (unknown command or subcommand, wrong arity, NOAUTH, a
//!   redirect) or is held to run again (a read check, pending writes);
//!   a held command is observed once, when it finally runs.
//! - Secrets never leave the connection: AUTH's arguments, HELLO's AUTH
//!   pair and `CONFIG SET requirepass`'s value are replaced by
//!   `(redacted)` in the slow log and in MONITOR, as Redis 7.0 does.

pub mod latency;
pub mod monitor;
pub mod slowlog;

use std::sync::Arc;

/// The node's slow log, latency monitor and monitors.
#[derive(Default)]
pub struct Diag {
    pub slowlog: slowlog::SlowLog,
    /// Shared with the Raft log's flusher thread (`raft-log-fsync`).
    pub latency: Arc<latency::LatencyMonitor>,
    pub monitors: monitor::Monitors,
}

impl Diag {
    /// Records the Raft log's slow group commits as `raft-log-fsync`
    /// latency spikes. The check runs on the log's flusher thread after
    /// each group commit: one relaxed load while the monitor is off.
    pub fn watch_raft_log(&self, log: &redraft_raftlog::RaftLog) {
        let monitor = self.latency.clone();
        log.observe_syncs(Box::new(move |took| {
            let ms = took.as_millis() as u64;
            if monitor.is_spike(ms) {
                let now_s = crate::clock::unix_ms() / 1000;
                monitor.add(latency::RAFT_LOG_FSYNC, ms, now_s);
            }
        }));
    }
}
