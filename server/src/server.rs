//! Starts the node: fits the open-files limit to `maxclients` (as Redis
//! does first thing; `fd_limit.rs`), the Raft thread (node.rs), then
//! one network thread
//! per configured thread, each with its own SO_REUSEPORT listener on the
//! client port (net/event_loop.rs), plus the cron thread (active expiry, ops/s
//! sampling, returning free memory to the system).
//!
//! Invariants:
//! - Clients are accepted only once the Raft node has replayed what was
//!   committed before a restart, so no client sees a keyspace older than an
//!   acknowledged write.
//! - `run` returns an error if the Raft node or any listener cannot start;
//!   once it reports ready, every network thread is accepting.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redraft_engine::WriteOp;

use crate::clock::unix_ms;
use crate::net::event_loop;
use crate::raft::proposer::ENTRY_BYTES_TARGET;
use crate::raft::status::Role;
use crate::shared::Shared;
use crate::write_path::ProposerInput;

/// How often the cron task runs (Redis's default `hz` is 10).
const CRON_INTERVAL_MS: u64 = 100;
/// Most expired keys one cron tick deletes, so a tick stays short.
const EXPIRE_KEYS_PER_TICK_MAX: usize = 1000;

/// Runs the server until the process is stopped. Returns an error if it
/// cannot start.
pub fn run(shared: Arc<Shared>, proposer_input: ProposerInput) -> Result<(), String> {
    // Before anything opens many files, as Redis does at start.
    shared.admission.fit_open_files_limit()?;
    let addr = SocketAddr::new(shared.config.bind, shared.config.port);
    event_loop::ensure_port_free(addr)
        .map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    let raft_runtime =
        crate::node::start(shared.clone(), proposer_input.queue, proposer_input.notify)?;
    if let Some(log) = shared.raft.log.get() {
        shared.diag.watch_raft_log(log);
    }
    let mut listeners = Vec::with_capacity(shared.config.threads);
    for _ in 0..shared.config.threads {
        listeners.push(
            event_loop::bind(addr).map_err(|error| format!("cannot listen on {addr}: {error}"))?,
        );
    }
    // Every network loop reports here if it ever stops.
    let (stopped_tx, stopped) = std::sync::mpsc::channel::<String>();
    for (executor, listener) in listeners.into_iter().enumerate() {
        let shared = shared.clone();
        let report = StopReport {
            executor,
            to: Some(stopped_tx.clone()),
        };
        if executor == 0 && shared.config.clients_on_raft_thread {
            raft_runtime.spawn(async move {
                report.send(event_loop::run_as_task(shared, listener, executor).await);
            });
            continue;
        }
        std::thread::Builder::new()
            .name(format!("redraft-net-{executor}"))
            .spawn(move || report.send(event_loop::run(shared, listener, executor)))
            .map_err(|error| format!("cannot start network thread {executor}: {error}"))?;
    }
    drop(stopped_tx);
    let evict_shared = shared.clone();
    std::thread::Builder::new()
        .name("redraft-evict".into())
        .spawn(move || crate::evict::cycle::run(evict_shared.evict_node()))
        .map_err(|error| format!("cannot start the evictor thread: {error}"))?;
    let cron_shared = shared.clone();
    std::thread::Builder::new()
        .name("redraft-cron".into())
        .spawn(move || cron(&cron_shared))
        .map_err(|error| format!("cannot start the cron thread: {error}"))?;
    tracing::info!(%addr, threads = shared.config.threads, "ready to accept connections");
    Err(stopped
        .recv()
        .unwrap_or_else(|_| "every network loop stopped".into()))
}

/// Tells `run` that a network loop ended: how it returned, or, if it is
/// dropped unsent (the loop panicked), that it panicked. A loop runs
/// until the process ends, so any report stops the server.
struct StopReport {
    executor: usize,
    to: Option<std::sync::mpsc::Sender<String>>,
}

impl StopReport {
    fn send(mut self, result: std::io::Result<()>) {
        let executor = self.executor;
        let text = match result {
            Ok(()) => format!("network loop {executor} stopped"),
            Err(error) => format!("network loop {executor} failed: {error}"),
        };
        if let Some(to) = self.to.take() {
            let _ = to.send(text);
        }
    }
}

impl Drop for StopReport {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(format!("network loop {} panicked", self.executor));
        }
    }
}

/// Periodic housekeeping, like Redis's serverCron: samples ops/s,
/// proposes the deletion of expired keys through the write path and gives
/// free memory back to the system (`malloc.rs`).
fn cron(shared: &Shared) {
    let mut last_commands = shared.total(|stats| &stats.commands);
    let mut trimmer = crate::malloc::Trimmer::default();
    loop {
        std::thread::sleep(Duration::from_millis(CRON_INTERVAL_MS));
        let commands = shared.total(|stats| &stats.commands);
        let per_sec = commands.saturating_sub(last_commands) * (1000 / CRON_INTERVAL_MS);
        shared.ops_per_sec.store(per_sec, Ordering::Relaxed);
        last_commands = commands;
        expire_cycle(shared);
        trimmer.tick();
    }
}

/// On the leader, proposes one `PurgeExpired` per database that has
/// expired keys (followers delete them when the leader's entry applies).
fn expire_cycle(shared: &Shared) {
    // Nor while the log cannot grow: expired keys read as missing anyway.
    if shared.raft.role() != Role::Leader || shared.raft.log_space_short().is_some() {
        return;
    }
    let now_ms = unix_ms();
    let candidates = shared
        .engine
        .expired_candidates(now_ms, EXPIRE_KEYS_PER_TICK_MAX);
    shared
        .write_path
        .propose_deletions(candidates, ENTRY_BYTES_TARGET, |keys| {
            WriteOp::PurgeExpired { keys }
        });
}
