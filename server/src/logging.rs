//! Logging: `tracing` events to standard error, as text or JSON lines, at
//! a level `CONFIG SET loglevel` can change while running; openraft's own
//! events held to warnings; and openraft's per-RPC reports of a failing
//! peer, and of a peer's late answer it ignores after an election, left
//! out below `debug`.
//!
//! Why those reports are left out. openraft 0.9 logs one WARN or ERROR line
//! for every RPC to a peer that fails: each replication attempt and
//! heartbeat (several lines each, about one a second per unreachable peer
//! while replication backs off), each vote of an election round, each
//! snapshot chunk, and, worst, each follower that fails to confirm the
//! leader for a linearizable read (`timeout while confirming leadership for
//! read request`, ERROR, once per read check: thousands a second under
//! load while one follower of three is down, although the read itself is
//! answered as soon as a quorum confirms). Every one of those RPCs goes
//! through redraft's peer transport (`raft/network.rs`), which reports the
//! outcome of each attempt to the health monitor (`raft/health.rs`); the
//! monitor logs the peer's change of state (`peer down` once, WARN;
//! `peer still down` every 30 s while it lasts; `peer up`, INFO), and
//! `/cluster/members`, `INFO raft` and `/metrics` show it. So the per-RPC
//! lines say nothing the monitor does not, once per request instead of
//! once per change. They are matched on what identifies each callsite (its
//! module, level and message, listed in [`PEER_RPC_FAILURES`]) and pass
//! only when the log level is `debug` or `trace`, where per-request detail
//! belongs.
//!
//! Replacing openraft's read check with a read-index of our own would
//! also remove the per-read lines, but would put a hand-made leadership
//! check on the path that makes reads linearizable, to change what is only
//! a logging decision; openraft's check already returns as soon as a quorum
//! confirms (measured in docs/raft.md).
//!
//! Invariants:
//! - Only events listed in [`PEER_RPC_FAILURES`] are ever held back, and
//!   none at `debug` or `trace`; the same message at another level (a
//!   storage error logged with the replication error's text) passes.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::{prelude::*, reload};

use crate::config::{Config, LogFormat, LogLevel};
use crate::shared::SetLogLevel;

/// How a callsite's message is recognised.
#[derive(Debug, Clone, Copy)]
pub enum Text {
    /// The message starts with this.
    Prefix(&'static str),
    /// The message contains this (it starts with a type name that may
    /// change between versions).
    Contains(&'static str),
}

impl Text {
    fn matches(self, message: &str) -> bool {
        match self {
            Text::Prefix(prefix) => message.starts_with(prefix),
            Text::Contains(needle) => message.contains(needle),
        }
    }
}

/// An openraft event reporting one failed RPC to a peer.
#[derive(Debug, Clone, Copy)]
pub struct PeerRpcFailure {
    /// The event's target (openraft's module path).
    pub target: &'static str,
    pub level: Level,
    pub text: Text,
}

const fn failure(target: &'static str, level: Level, text: Text) -> PeerRpcFailure {
    PeerRpcFailure {
        target,
        level,
        text,
    }
}

/// openraft 0.9.25's per-RPC peer failure events (file and line there).
pub const PEER_RPC_FAILURES: &[PeerRpcFailure] = &[
    // core/raft_core.rs:383: a follower did not confirm a read check.
    failure(
        "openraft::core::raft_core",
        Level::ERROR,
        Text::Prefix("timeout while confirming leadership for read request"),
    ),
    // core/raft_core.rs:1099 and 1112: a vote request timed out or failed.
    failure(
        "openraft::core::raft_core",
        Level::ERROR,
        Text::Prefix("timeout"),
    ),
    failure(
        "openraft::core::raft_core",
        Level::ERROR,
        Text::Prefix("while requesting vote"),
    ),
    // replication/mod.rs:258 and 284: a replication RPC (or heartbeat)
    // failed; 596: replication waits out its backoff.
    failure(
        "openraft::replication",
        Level::WARN,
        Text::Prefix("error replication to target="),
    ),
    failure(
        "openraft::replication",
        Level::ERROR,
        Text::Prefix("RPCError"),
    ),
    failure(
        "openraft::replication",
        Level::WARN,
        Text::Contains("backoff mode: drain events without processing them"),
    ),
    // engine/handler/replication_handler/mod.rs:287 and 294: the same
    // failure, as seen by the leader's progress tracking.
    failure(
        "openraft::engine::handler::replication_handler",
        Level::WARN,
        Text::Prefix("update progress error"),
    ),
    failure(
        "openraft::engine::handler::replication_handler",
        Level::WARN,
        Text::Prefix("heartbeat error: "),
    ),
    // core/raft_core.rs:1554 and 1577: a peer's late answer to a request
    // from before the last vote or membership change, ignored; seen at
    // every election.
    failure(
        "openraft::core::raft_core",
        Level::WARN,
        Text::Prefix("A message will be ignored because vote changed"),
    ),
    failure(
        "openraft::core::raft_core",
        Level::WARN,
        Text::Prefix("membership_log_id changed"),
    ),
    // network/snapshot_transport.rs:207 and 217: a snapshot chunk failed.
    failure(
        "openraft::network::snapshot_transport",
        Level::WARN,
        Text::Prefix("InstallSnapshot RPC timed out"),
    ),
    failure(
        "openraft::network::snapshot_transport",
        Level::WARN,
        Text::Prefix("error sending InstallSnapshot RPC"),
    ),
];

/// The first bytes of an event's message: enough to tell the callsites
/// apart, without allocating.
struct MessageHead {
    bytes: [u8; MessageHead::CAPACITY],
    len: usize,
}

impl MessageHead {
    const CAPACITY: usize = 256;

    fn of(event: &Event<'_>) -> MessageHead {
        let mut head = MessageHead {
            bytes: [0; MessageHead::CAPACITY],
            len: 0,
        };
        event.record(&mut head);
        head
    }

    fn as_str(&self) -> &str {
        // The writer keeps whole characters only.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for MessageHead {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for ch in text.chars() {
            let mut buffer = [0; 4];
            let encoded = ch.encode_utf8(&mut buffer).as_bytes();
            if self.len + encoded.len() > MessageHead::CAPACITY {
                // Stop formatting: the head is full.
                return Err(fmt::Error);
            }
            self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

impl Visit for MessageHead {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" && self.len == 0 {
            let _ = write!(self, "{value:?}");
        }
    }
}

/// Whether `event` is one of [`PEER_RPC_FAILURES`].
pub fn is_peer_rpc_failure(event: &Event<'_>) -> bool {
    let metadata = event.metadata();
    if !metadata.target().starts_with("openraft") {
        return false;
    }
    let mut candidates = PEER_RPC_FAILURES
        .iter()
        .filter(|failure| failure.target == metadata.target() && failure.level == *metadata.level())
        .peekable();
    if candidates.peek().is_none() {
        return false;
    }
    let head = MessageHead::of(event);
    candidates.any(|failure| failure.text.matches(head.as_str()))
}

/// The layer that holds back [`PEER_RPC_FAILURES`] unless the level is
/// `debug` or `trace`.
pub struct PeerRpcNoise {
    /// Whether the level is `debug` or `trace` (kept in step by the
    /// level changer `init` returns).
    verbose: Arc<AtomicBool>,
}

impl PeerRpcNoise {
    pub fn new(verbose: Arc<AtomicBool>) -> PeerRpcNoise {
        PeerRpcNoise { verbose }
    }
}

impl<S: Subscriber> Layer<S> for PeerRpcNoise {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        self.verbose.load(Ordering::Relaxed) || !is_peer_rpc_failure(event)
    }
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

fn is_verbose(level: LogLevel) -> bool {
    matches!(level, LogLevel::Debug | LogLevel::Trace)
}

/// Installs the process's subscriber for `config` and returns what changes
/// its level (`CONFIG SET loglevel`).
pub fn init(config: &Config) -> SetLogLevel {
    let (filter, handle) = reload::Layer::new(level_filter(config.log_level));
    let verbose = Arc::new(AtomicBool::new(is_verbose(config.log_level)));
    // openraft reports every vote and election at INFO; keep its chatter
    // to warnings (our own events cover elections and leader changes).
    let quiet_openraft = Targets::new()
        .with_target("openraft", LevelFilter::WARN)
        .with_default(LevelFilter::TRACE);
    // One of the two layers is present: `Option<Layer>` is a layer that
    // does nothing when `None`.
    let json = config.log_format == LogFormat::Json;
    let text_layer = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour codes only for a terminal, not for log files.
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json_layer = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(quiet_openraft)
        .with(PeerRpcNoise::new(verbose.clone()))
        .with(text_layer)
        .with(json_layer)
        .init();
    Box::new(move |level: LogLevel| {
        verbose.store(is_verbose(level), Ordering::Relaxed);
        let _ = handle.modify(|filter| *filter = level_filter(level));
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Collects what the fmt layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Emits, with openraft's targets, levels and messages, the events
    /// openraft logs for a failed peer RPC and a few it logs otherwise;
    /// returns the lines written with `verbose` as given.
    fn logged(verbose: bool) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(PeerRpcNoise::new(Arc::new(AtomicBool::new(verbose))))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            let (peer, error) = (3, "Unreachable node: cannot connect");
            tracing::error!(target: "openraft::core::raft_core", target = peer, error, "timeout while confirming leadership for read request");
            tracing::error!(target: "openraft::core::raft_core", error, target = peer, "timeout");
            tracing::error!(target: "openraft::core::raft_core", error, target = peer, "while requesting vote");
            tracing::warn!(target: "openraft::replication", error, "error replication to target={peer}");
            tracing::error!(target: "openraft::replication", err = error, "RPCError");
            tracing::warn!(target: "openraft::replication", interval = "1s", "{} backoff mode: drain events without processing them", "openraft::replication::ReplicationCore<_, _, _>::backoff_drain_events");
            tracing::warn!(target: "openraft::engine::handler::replication_handler", request_id = "HeartBeat", result = error, "update progress error");
            tracing::warn!(target: "openraft::engine::handler::replication_handler", "heartbeat error: {error}, no update to inflight data");
            tracing::warn!(target: "openraft::network::snapshot_transport", error, "InstallSnapshot RPC timed out");
            tracing::warn!(target: "openraft::network::snapshot_transport", error, "error sending InstallSnapshot RPC");
            tracing::warn!(target: "openraft::core::raft_core", "A message will be ignored because vote changed: msg sent by vote: T2-N1:uncommitted; current my vote: None; when (VoteResponse)");
            tracing::warn!(target: "openraft::core::raft_core", "membership_log_id changed: msg sent by: Some(T2-N1-2); curr: Some(T2-N1-3); ignore when (UpdateReplicationMatched)");
            // Kept: not a peer RPC failure, or a failure at another level.
            tracing::error!(target: "openraft::replication", error = "disk", "error replication to target={peer}");
            tracing::error!(target: "openraft::core::raft_core", error = "fatal", "quit RaftCore::main on error");
            tracing::warn!(target: "redraft_server::raft::health", peer, "peer down");
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn peer_rpc_failures_are_held_back_below_debug() {
        let text = logged(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("ERROR") && lines[0].contains("error replication to target=3"));
        assert!(lines[1].contains("quit RaftCore::main on error"));
        assert!(lines[2].contains("peer down"));
    }

    #[test]
    fn peer_rpc_failures_pass_at_debug() {
        assert_eq!(logged(true).lines().count(), 15);
    }
}
