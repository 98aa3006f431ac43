//! The Raft thread: a tokio current_thread runtime that owns openraft, the
//! peer transport, the proposer, the status watcher and the admin HTTP
//! API, wired together from the parts in `crate::raft` and `crate::admin`.
//!
//! Start-up, in order:
//! 1. Open the log (`<data_dir>/raft`) and the state machine, which loads
//!    the newest snapshot (`<data_dir>/snapshot`).
//! 2. Start openraft, the admin HTTP API on `admin_port` and the peer
//!    listener on `raft_port`.
//! 3. If this node has never been part of a group and is the member with
//!    the lowest id (and was not started with `join`), initialize the group
//!    with the configured members. A node that has a vote, a log or a
//!    snapshot never initializes again; a fresh `join` node waits to be
//!    added by a member (`POST /cluster/join`).
//! 4. Wait until the entries known to be committed at the last run are
//!    applied (and, when this node is the group's only voter, until it
//!    leads), so the first client sees everything acknowledged before a
//!    restart. Whether it is alone is read from the membership stored in
//!    its log and snapshot (it may have grown or shrunk since the
//!    configuration file was written); a fresh node goes by the file.
//!
//! Beside the proposer, the Raft thread runs the status watcher (role for
//! the network threads, structured events) and the health prober.
//!
//! Invariants:
//! - A fatal Raft error (a failed write or fsync of the log) stops the
//!   process: serving on after losing durability would break the promise
//!   made by every acknowledgement.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use openraft::{Raft, ServerState, SnapshotPolicy};
use tokio::sync::Notify;

use crate::admin::{self, AdminState};
use crate::clock::unix_ms;
use crate::config::Config;
use crate::raft::events::EventWatcher;
use crate::raft::log_store::LogStore;
use crate::raft::network::{Network, NetworkConfig, PeerNode};
use crate::raft::peer_server::{PeerHooks, PeerServer, PeerServerConfig};
use crate::raft::probe::probe_members;
use crate::raft::proposer::{FlushSignal, Proposer, Router};
use crate::raft::state_machine::StateMachine;
use crate::raft::status::RaftStatus;
use crate::raft::types::TypeConfig;
use crate::route::ToRaft;
use crate::shared::Shared;

/// Most entries in one append-entries RPC. An entry is at most about
/// `ENTRY_BYTES_TARGET` plus one small write plus one part of an upload
/// (`crate::raft::upload`), about 3 MiB, so a full RPC stays well below
/// the peer transport's 64 MiB frame limit.
const REPLICATION_ENTRIES_MAX: u64 = 10;
/// Longest wait at start-up for the log replay and, alone, for leadership.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait at start-up for openraft to report the stored membership.
const MEMBERSHIP_LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A started Raft thread: a handle on its runtime, for tasks that are to
/// share it (a network loop) and for the main thread to drive `raft`
/// (a shutdown), and the Raft handle.
pub struct Started {
    pub runtime: tokio::runtime::Handle,
    pub raft: Raft<TypeConfig>,
}

/// Starts the Raft thread and returns once the node is ready to serve
/// clients (or could not start).
pub fn start(
    shared: Arc<Shared>,
    queue: Receiver<ToRaft>,
    notify: Arc<Notify>,
) -> Result<Started, String> {
    let (ready, booted) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("redraft-raft".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready.send(Err(format!("cannot start the Raft runtime: {error}")));
                    return;
                }
            };
            let handle = runtime.handle().clone();
            runtime.block_on(async move {
                match boot(&shared, queue, notify).await {
                    Ok(node) => {
                        let raft = node.raft.clone();
                        let _ = ready.send(Ok(Started {
                            runtime: handle,
                            raft,
                        }));
                        node.run().await;
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                    }
                }
            });
        })
        .map_err(|error| format!("cannot start the Raft thread: {error}"))?;
    booted
        .recv()
        .map_err(|_| "the Raft thread stopped during start-up".to_string())?
}

/// A started node.
struct Node {
    raft: Raft<TypeConfig>,
    /// The transport's client side, for the health prober.
    network: Network<TypeConfig>,
    /// How often members not heard from are pinged.
    probe_interval: Duration,
    status: Arc<RaftStatus>,
    notify: Arc<Notify>,
    /// Kept alive for the life of the node.
    _peer_server: PeerServer,
    /// Holds the data directory's lock for the life of the node.
    _lock: std::fs::File,
    proposer: Proposer,
}

impl Node {
    /// Runs the proposer and the status watcher until the process ends.
    async fn run(self) {
        tokio::spawn(watch_status(
            self.raft.clone(),
            self.status.clone(),
            self.notify.clone(),
        ));
        tokio::spawn(probe_members(
            self.raft.clone(),
            self.network.clone(),
            self.status.clone(),
            self.probe_interval,
        ));
        self.proposer.run().await;
    }
}

/// The openraft configuration from ours.
fn openraft_config(config: &Config) -> Result<openraft::Config, String> {
    let raft = &config.raft;
    let keep = raft.snapshot_logs_since_last.min(1000);
    openraft::Config {
        cluster_name: "redraft".into(),
        heartbeat_interval: raft.heartbeat_interval_ms,
        election_timeout_min: raft.election_timeout_min_ms,
        election_timeout_max: raft.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(raft.snapshot_logs_since_last),
        max_in_snapshot_log_to_keep: keep,
        max_payload_entries: REPLICATION_ENTRIES_MAX,
        replication_lag_threshold: keep.max(1),
        install_snapshot_timeout: 30_000,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|error| format!("raft: {error}"))
}

/// Payload bytes of recent entries the Raft log keeps in memory. Its
/// readers want only the newest entries: apply reads an entry just after
/// its commit, and replication the entries just appended, at most
/// `REPLICATION_ENTRIES_MAX` of about `ENTRY_BYTES_TARGET` each; older
/// ones are read back from the log file. The cache is a fixed cost every
/// node pays whatever its dataset (raftlog's default of 64 MiB came to 64
/// bytes a key at a million keys), so it holds one full replication batch
/// (about 10 MiB) plus the entries in flight, and no more.
const LOG_CACHE_BYTES: usize = 16 << 20;

/// The raftlog configuration for `segment_bytes` segments.
pub fn log_config(segment_bytes: u64) -> redraft_raftlog::Config {
    redraft_raftlog::Config {
        segment_bytes,
        entry_bytes_max: 8 << 20,
        batch_bytes_max: (segment_bytes as usize * 3 / 4).max(9 << 20),
        cache_bytes_max: LOG_CACHE_BYTES,
        ..redraft_raftlog::Config::default()
    }
}

async fn boot(
    shared: &Arc<Shared>,
    queue: Receiver<ToRaft>,
    notify: Arc<Notify>,
) -> Result<Node, String> {
    let config = &shared.config;
    let node_id = config.raft.node_id;
    let lock = lock_data_dir(&config.data_dir)?;
    let log_dir = config.data_dir.join("raft");
    let log = redraft_raftlog::RaftLog::open(&log_dir, log_config(config.raft.log_segment_bytes))
        .map_err(|error| {
        format!("cannot open the Raft log in {}: {error}", log_dir.display())
    })?;
    let log = Arc::new(log);
    let _ = shared.raft.log.set(log.clone());
    let flushed = Arc::new(FlushSignal::default());
    let flush_signal = flushed.clone();
    let committed_path = config.data_dir.join("committed");
    let log_store = LogStore::with_committed_file(
        log.clone(),
        &committed_path,
        shared.raft.committed_index_cell(),
    )
    .map_err(|error| format!("cannot open {}: {error}", committed_path.display()))?
    .with_flush_hook(Arc::new(move || flush_signal.raise()));
    let state_machine =
        StateMachine::open(shared.engine.clone(), &config.data_dir.join("snapshot"))?;
    state_machine.set_counters(shared.raft.counters.clone());
    state_machine.set_scripting(shared.scripts.clone(), crate::script::runner());
    let router = Arc::new(Router::new(
        make_origin(node_id),
        shared.inboxes.clone(),
        shared.blocking.clone(),
    ));
    let observer_router = router.clone();
    state_machine.set_observer(Box::new(move |entry| observer_router.applied(entry)));
    let weak = Arc::downgrade(shared);
    state_machine.set_isolation(Arc::new(move |body| {
        let shared = weak.upgrade().expect("the shared state outlives apply");
        let _alone = shared.tx_gate.exclusive();
        body();
    }));
    let last_index_at_boot = log.last_index().unwrap_or(0);
    let fresh = log.last_index().is_none()
        && log.read_vote().map_err(|e| e.to_string())?.is_none()
        && state_machine.last_applied().is_none();
    let network =
        Network::new(node_id, NetworkConfig::default()).with_health(shared.raft.health.clone());
    let admin_listener = admin::bind(SocketAddr::new(config.bind, config.admin_port)).await?;
    let raft = Raft::new(
        node_id,
        Arc::new(openraft_config(config)?),
        network.clone(),
        log_store,
        state_machine,
    )
    .await
    .map_err(|error| format!("cannot start Raft: {error}"))?;
    let admin_state = AdminState::new(shared.clone(), raft.clone(), network.clone());
    let hooks = PeerHooks {
        health: Some(shared.raft.health.clone()),
        admin: Some(admin::forward_handler(admin_state.clone())),
    };
    let peer_addr = SocketAddr::new(config.bind, config.raft.raft_port);
    let peer_server =
        PeerServer::bind_with(peer_addr, raft.clone(), PeerServerConfig::default(), hooks)
            .await
            .map_err(|error| format!("cannot listen on {peer_addr} (raft_port): {error}"))?;
    admin::serve(admin_listener, admin::router(admin_state));
    if fresh && config.raft.is_initializer() {
        let members: BTreeMap<u64, PeerNode> = config
            .raft
            .members
            .iter()
            .map(|member| {
                let node = PeerNode {
                    host: member.host.clone(),
                    raft_port: member.raft_port,
                    port: member.port,
                };
                (member.id, node)
            })
            .collect();
        tracing::info!(
            node_id,
            members = members.len(),
            "initializing a new Raft group"
        );
        raft.initialize(members)
            .await
            .map_err(|error| format!("cannot initialize the Raft group: {error}"))?;
    }
    let alone = is_alone(&raft, config, fresh).await;
    // Alone, every entry in the log was committed by this node (or will be
    // the moment it leads again): wait for all of them, not only for the
    // saved commit index, which a power loss may have left behind.
    let mut committed = shared.raft.committed_index();
    if alone {
        committed = committed.max(last_index_at_boot);
    }
    if committed > 0 {
        raft.wait(Some(BOOT_TIMEOUT))
            .applied_index_at_least(Some(committed), "replay the committed log")
            .await
            .map_err(|error| format!("replaying the log up to {committed}: {error}"))?;
    }
    if alone {
        raft.wait(Some(BOOT_TIMEOUT))
            .state(ServerState::Leader, "lead the single-node group")
            .await
            .map_err(|error| format!("waiting to lead the single-node group: {error}"))?;
    }
    shared
        .raft
        .set_boot_position(last_index_at_boot, raft.metrics().borrow().current_term);
    shared.raft.set_metrics(raft.metrics());
    shared.raft.update(&raft.metrics().borrow(), unix_ms());
    let metrics = raft.metrics().borrow().clone();
    tracing::info!(
        node_id,
        state = %crate::raft::status::state_name(metrics.state),
        term = metrics.current_term,
        applied = metrics.last_applied.map_or(0, |id| id.index),
        "raft ready"
    );
    Ok(Node {
        raft: raft.clone(),
        network,
        // Well inside the election timeout, so a silent member is probed
        // before anyone would call it gone.
        probe_interval: Duration::from_millis(config.raft.election_timeout_min_ms / 2),
        status: shared.raft.clone(),
        notify: notify.clone(),
        _peer_server: peer_server,
        _lock: lock,
        proposer: Proposer {
            raft,
            router,
            status: shared.raft.clone(),
            queue,
            notify,
            flushed,
        },
    })
}

/// Whether this node is its group's only voter (and so must lead before
/// serving). A fresh node goes by its configuration; any other by the
/// membership openraft loaded from its log and snapshot.
async fn is_alone(raft: &Raft<TypeConfig>, config: &Config, fresh: bool) -> bool {
    let node_id = config.raft.node_id;
    if fresh && !config.raft.is_initializer() {
        return false;
    }
    let loaded = raft
        .wait(Some(MEMBERSHIP_LOAD_TIMEOUT))
        .metrics(
            |metrics| metrics.membership_config.log_id().is_some(),
            "load the membership",
        )
        .await;
    match loaded {
        Ok(metrics) => {
            let mut voters = metrics.membership_config.membership().voter_ids();
            voters.next() == Some(node_id) && voters.next().is_none()
        }
        // A vote but no membership entry: not alone in any group.
        Err(_) => false,
    }
}

/// Keeps the shared status in step with openraft's metrics; wakes the
/// proposer when the role changes; stops the process on a fatal error
/// (returns when a shutdown stops Raft);
/// logs and counts Raft events.
async fn watch_status(raft: Raft<TypeConfig>, status: Arc<RaftStatus>, notify: Arc<Notify>) {
    let mut metrics = raft.metrics();
    let mut last_role = status.role();
    let mut events = EventWatcher::new(status.counters.clone());
    loop {
        {
            let current = metrics.borrow_and_update();
            if let Err(fatal) = &current.running_state {
                // Only a shutdown (`server.rs`) stops Raft normally; the
                // main thread exits the process once the log is closed.
                if matches!(fatal, openraft::error::Fatal::Stopped) {
                    return;
                }
                tracing::error!(error = %fatal, "raft stopped; exiting");
                std::process::exit(1);
            }
            status.update(&current, unix_ms());
            events.observe(&current);
        }
        let role = status.role();
        if role != last_role {
            last_role = role;
            notify.notify_one();
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Creates the data directory if needed and takes its lock, so two
/// servers never share a log.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        return Err(format!(
            "data directory {} is in use by another redraft-server",
            dir.display()
        ));
    }
    Ok(file)
}

/// A value that differs across nodes and restarts (see `Request::origin`).
fn make_origin(node_id: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    xorshift(nanos ^ node_id.rotate_left(48) ^ u64::from(std::process::id()).rotate_left(24))
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
