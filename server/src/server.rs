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
//! - `run` returns `Ok` only for a shutdown asked for (SHUTDOWN, SIGTERM,
//!   SIGINT; `shutdown.rs`), after Raft has stopped and its log is
//!   closed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redraft_engine::WriteOp;

use crate::clock::unix_ms;
use crate::net::event_loop;
use crate::node::Started;
use crate::raft::proposer::ENTRY_BYTES_TARGET;
use crate::raft::status::Role;
use crate::shared::Shared;
use crate::shutdown::{Request, Stop};
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
    let started = crate::node::start(shared.clone(), proposer_input.queue, proposer_input.notify)?;
    let raft_runtime = started.runtime.clone();
    if let Some(log) = shared.raft.log.get() {
        shared.diag.watch_raft_log(log);
    }
    let mut listeners = Vec::with_capacity(shared.config.threads);
    for _ in 0..shared.config.threads {
        listeners.push(
            event_loop::bind(addr).map_err(|error| format!("cannot listen on {addr}: {error}"))?,
        );
    }
    // Every network loop reports here if it ever stops, and shutdown
    // requests come here.
    let (stopped_tx, stopped) = std::sync::mpsc::channel::<Stop>();
    shared.shutdown.listen(stopped_tx.clone());
    crate::shutdown::watch_signals(stopped_tx.clone())
        .map_err(|error| format!("cannot start the signal thread: {error}"))?;
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
    loop {
        match stopped.recv() {
            Err(_) => return Err("every network loop stopped".into()),
            Ok(Stop::Failed(error)) => return Err(error),
            Ok(Stop::Requested(request)) => match shut_down(&shared, &started, &request) {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(by = %request.by, %error, "shutdown called off");
                    if let Some(answer) = request.answer {
                        let _ = answer.send(error);
                    }
                }
            },
        }
    }
}

/// Longest a `SHUTDOWN SAVE` waits for its snapshot.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest the main thread waits for Raft to stop.
const RAFT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the snapshot a request asks for, then stops Raft and closes the
/// log. `Err` (the shutdown is called off) only if the snapshot failed
/// without `FORCE`.
fn shut_down(shared: &Shared, started: &Started, request: &Request) -> Result<(), String> {
    tracing::info!(by = %request.by, save = request.save, "shutting down");
    if request.save {
        let target = shared.raft.applied_index();
        let raft = started.raft.clone();
        let saved = started.runtime.block_on(async move {
            raft.trigger()
                .snapshot()
                .await
                .map_err(|error| error.to_string())?;
            raft.wait(Some(SAVE_TIMEOUT))
                .metrics(
                    |metrics| metrics.snapshot.is_some_and(|id| id.index >= target),
                    "a snapshot for SHUTDOWN SAVE",
                )
                .await
                .map_err(|error| error.to_string())
        });
        match saved {
            Ok(_) => tracing::info!(index = target, "snapshot saved before shutdown"),
            Err(error) if request.force => {
                tracing::warn!(%error, "snapshot failed; shutting down anyway (FORCE)");
            }
            Err(error) => {
                tracing::error!(%error, "snapshot before shutdown failed");
                return Err(error);
            }
        }
    }
    let raft = started.raft.clone();
    let stopped = started
        .runtime
        .block_on(async move { tokio::time::timeout(RAFT_STOP_TIMEOUT, raft.shutdown()).await });
    if let Err(error) = stopped {
        tracing::warn!(%error, "Raft did not stop in time");
    }
    if let Some(log) = shared.raft.log.get() {
        if let Err(error) = log.close() {
            tracing::error!(%error, "closing the Raft log failed");
        }
    }
    tracing::info!(by = %request.by, "Raft log closed; ready to exit");
    Ok(())
}

/// Tells `run` that a network loop ended: how it returned, or, if it is
/// dropped unsent (the loop panicked), that it panicked. A loop runs
/// until the process ends, so any report stops the server.
struct StopReport {
    executor: usize,
    to: Option<std::sync::mpsc::Sender<Stop>>,
}

impl StopReport {
    fn send(mut self, result: std::io::Result<()>) {
        let executor = self.executor;
        let text = match result {
            Ok(()) => format!("network loop {executor} stopped"),
            Err(error) => format!("network loop {executor} failed: {error}"),
        };
        if let Some(to) = self.to.take() {
            let _ = to.send(Stop::Failed(text));
        }
    }
}

impl Drop for StopReport {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(Stop::Failed(format!(
                "network loop {} panicked",
                self.executor
            )));
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
