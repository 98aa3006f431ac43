//! Starts the node: one glommio executor per configured thread, each with
//! its own SO_REUSEPORT listener on the client port, plus the cron task
//! (active expiry, ops/s sampling) on executor 0.
//!
//! Invariants:
//! - `run` returns an error (and starts nothing) if any executor cannot bind
//!   its listener; once it reports ready, every executor is accepting.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use redraft_engine::{WriteOp, DB_COUNT};

use crate::conn;
use crate::shared::{unix_ms, Shared};

/// How often the cron task runs (Redis's default `hz` is 10).
const CRON_INTERVAL_MS: u64 = 100;
/// Most expired keys one cron tick deletes, so a tick stays short.
const EXPIRE_KEYS_PER_TICK_MAX: usize = 1000;

/// Runs the server until the process is stopped. Returns an error if it
/// cannot start.
pub fn run(shared: Arc<Shared>) -> Result<(), String> {
    let addr = SocketAddr::new(shared.config.bind, shared.config.port);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(shared.config.threads);
    for executor in 0..shared.config.threads {
        let shared = shared.clone();
        let ready_tx = ready_tx.clone();
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("redraft-exec-{executor}"))
            .spawn(move || async move {
                let listener = match TcpListener::bind(addr) {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = ready_tx.send(Err(format!("cannot listen on {addr}: {error}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                drop(ready_tx);
                if executor == 0 {
                    glommio::spawn_local(cron(shared.clone())).detach();
                }
                accept_loop(shared, listener, executor).await;
            })
            .map_err(|error| format!("cannot start executor {executor}: {error}"))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..shared.config.threads {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err("an executor stopped while starting".into()),
        }
    }
    tracing::info!(%addr, threads = shared.config.threads, "ready to accept connections");
    for handle in handles {
        handle
            .join()
            .map_err(|error| format!("executor failed: {error}"))?;
    }
    Ok(())
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, executor: usize) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(conn::serve(shared.clone(), stream, executor)).detach();
            }
            Err(error) => {
                // Running out of file descriptors must not spin the loop.
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Periodic housekeeping, like Redis's serverCron: samples ops/s and
/// proposes the deletion of expired keys through the write path.
async fn cron(shared: Arc<Shared>) {
    let mut last_commands = shared.total(|stats| &stats.commands);
    loop {
        glommio::timer::sleep(Duration::from_millis(CRON_INTERVAL_MS)).await;
        let commands = shared.total(|stats| &stats.commands);
        let per_sec = commands.saturating_sub(last_commands) * (1000 / CRON_INTERVAL_MS);
        shared.ops_per_sec.store(per_sec, Ordering::Relaxed);
        last_commands = commands;
        expire_cycle(&shared);
    }
}

/// Proposes one `PurgeExpired` per database that has expired keys.
fn expire_cycle(shared: &Shared) {
    let candidates = shared
        .engine
        .expired_candidates(unix_ms(), EXPIRE_KEYS_PER_TICK_MAX);
    if candidates.is_empty() {
        return;
    }
    let mut per_db: Vec<Vec<bytes::Bytes>> = vec![Vec::new(); DB_COUNT];
    for (db, key) in candidates {
        per_db[db].push(key);
    }
    for (db, keys) in per_db
        .into_iter()
        .enumerate()
        .filter(|(_, keys)| !keys.is_empty())
    {
        shared
            .write_path
            .submit(db, &WriteOp::PurgeExpired { keys });
    }
}
