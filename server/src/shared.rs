//! State shared by every executor of a node.
//!
//! Invariants:
//! - Per-executor counters are written only by their own executor (relaxed
//!   atomics on their own cache line) and summed on read, so the hot path
//!   never contends on a shared counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use redraft_engine::Engine;

use crate::client::Registry;
use crate::config::{Config, LogLevel};
use crate::raft::status::RaftStatus;
use crate::route::Inbox;
use crate::write_path::{ProposerInput, WritePath};

/// Counters one executor keeps; padded so executors never share a line.
#[repr(align(128))]
#[derive(Default)]
pub struct ExecutorStats {
    pub commands: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Bytes (as sent) of this executor's writes proposed and not yet
    /// answered, over all its connections.
    pub pending_write_bytes: AtomicU64,
    /// This executor's writes (commands) proposed and not yet answered.
    pub pending_writes: AtomicU64,
}

impl ExecutorStats {
    /// Adds to a counter that only this executor writes.
    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.store(counter.load(Ordering::Relaxed) + amount, Ordering::Relaxed);
    }

    /// Takes from a counter that only this executor writes.
    pub fn sub(counter: &AtomicU64, amount: u64) {
        let value = counter.load(Ordering::Relaxed);
        debug_assert!(value >= amount, "{amount} taken from {value}");
        counter.store(value.saturating_sub(amount), Ordering::Relaxed);
    }
}

/// Settings that `CONFIG SET` may change while running.
pub struct Runtime {
    pub requirepass: Option<String>,
    pub log_level: LogLevel,
    /// The level's name as last given, which `CONFIG GET loglevel` reports
    /// (Redis's own names when a client set one).
    pub log_level_name: String,
}

/// Changes the log level of the running process (`CONFIG SET loglevel`).
pub type SetLogLevel = Box<dyn Fn(LogLevel) + Send + Sync>;

/// Everything the executors share.
pub struct Shared {
    pub config: Config,
    pub runtime: RwLock<Runtime>,
    pub engine: Arc<Engine>,
    pub write_path: WritePath,
    /// Each network thread's inbox, by executor index.
    pub inboxes: Arc<[Inbox]>,
    /// What this node knows of its Raft group.
    pub raft: Arc<RaftStatus>,
    pub clients: Registry,
    /// `maxclients`, refused connections and the listeners' state.
    pub admission: crate::admission::Admission,
    /// This node's pub/sub subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// Keeps transactions isolated from network-thread ticks.
    pub tx_gate: crate::tx_gate::TxGate,
    /// The replicated script cache (changed at apply; read by `SCRIPT
    /// EXISTS` and the read-only scripts).
    pub scripts: Arc<crate::apply::ScriptCache>,
    /// Connections blocked on keys (BLPOP and the like).
    pub blocking: Arc<crate::blocking::Blocking>,
    pub executors: Box<[ExecutorStats]>,
    /// Per-command calls, errors and latencies.
    pub command_stats: crate::metrics::commands::CommandStats,
    pub started_at: Instant,
    /// 40 hex characters identifying this run (`run_id` in INFO).
    pub run_id: String,
    /// Operations per second, sampled by the cron task (`instantaneous_ops_per_sec`).
    pub ops_per_sec: AtomicU64,
    pub set_log_level: SetLogLevel,
    /// The slow log, the latency monitor and the MONITOR connections.
    pub diag: crate::diag::Diag,
    /// `maxmemory` and eviction (`evict/`).
    pub memory: crate::evict::Memory,
    /// Where SHUTDOWN sends its request (`shutdown.rs`).
    pub shutdown: crate::shutdown::Shutdown,
}

impl Shared {
    /// The shared state, and the proposer's end of the write path.
    /// `commands` is the command table the per-command figures count.
    pub fn new(
        config: Config,
        set_log_level: SetLogLevel,
        commands: crate::metrics::commands::Catalog,
    ) -> (Shared, ProposerInput) {
        let engine = Arc::new(Engine::new());
        let runtime = RwLock::new(Runtime {
            requirepass: config.requirepass.clone(),
            log_level: config.log_level,
            log_level_name: config.log_level.redis_name().to_string(),
        });
        let executors = (0..config.threads)
            .map(|_| ExecutorStats::default())
            .collect();
        let (write_path, proposer_input) = WritePath::new();
        let inboxes = (0..config.threads).map(|_| Inbox::default()).collect();
        // Half the shortest election timeout: a margin for the time between
        // openraft's report and our reading of it, and for clock rates.
        let lease_ms = config.raft.election_timeout_min_ms / 2;
        let raft = Arc::new(RaftStatus::new(
            config.raft.node_id,
            lease_ms,
            config.raft.read_consistency,
        ));
        let admission = crate::admission::Admission::new(
            config.maxclients,
            crate::fd_limit::reserved_descriptors(
                config.threads,
                config.raft.members.len(),
                crate::raft::network::LANES,
            ),
            config.threads,
        );
        let shared = Shared {
            admission,
            write_path,
            inboxes,
            raft,
            engine,
            runtime,
            clients: Registry::default(),
            pubsub: crate::pubsub::PubSub::default(),
            tx_gate: crate::tx_gate::TxGate::new(config.threads),
            shutdown: crate::shutdown::Shutdown::default(),
            scripts: Arc::default(),
            blocking: Arc::default(),
            executors,
            command_stats: crate::metrics::commands::CommandStats::new(commands),
            started_at: Instant::now(),
            run_id: make_run_id(),
            ops_per_sec: AtomicU64::new(0),
            set_log_level,
            diag: crate::diag::Diag::default(),
            memory: crate::evict::Memory::new(config.memory),
            config,
        };
        (shared, proposer_input)
    }

    /// What eviction uses of the node (`evict/`).
    pub fn evict_node(&self) -> crate::evict::Node<'_> {
        crate::evict::Node {
            memory: &self.memory,
            engine: &self.engine,
            raft: &self.raft,
            write_path: &self.write_path,
        }
    }

    /// `CONFIG RESETSTAT`: zeroes the counters INFO reports.
    pub fn reset_stats(&self) {
        for stats in self.executors.iter() {
            stats.commands.store(0, Ordering::Relaxed);
            stats.net_input_bytes.store(0, Ordering::Relaxed);
            stats.net_output_bytes.store(0, Ordering::Relaxed);
        }
        self.clients.accepted_total.store(0, Ordering::Relaxed);
        self.admission.reset_stats();
        self.engine.reset_stats();
        self.command_stats.reset();
    }

    /// Sum of a per-executor counter.
    pub fn total(&self, counter: impl Fn(&ExecutorStats) -> &AtomicU64) -> u64 {
        self.executors
            .iter()
            .map(|stats| counter(stats).load(Ordering::Relaxed))
            .sum()
    }
}

fn make_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::with_capacity(40);
    let mut salt = crate::clock::unix_ms() ^ u64::from(std::process::id());
    while id.len() < 40 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        salt = hasher.finish();
        id.push_str(&format!("{salt:016x}"));
    }
    id.truncate(40);
    id
}
