//! What the network threads know about the Raft group: whether this node
//! leads, where the leader is, and a view of the group for `INFO`,
//! `CLUSTER` and redirects.
//!
//! The Raft thread refreshes the role from openraft's metrics on every
//! change ([`RaftStatus::update`]); network threads read it per command
//! through one atomic, and take a lock only to redirect. Views for INFO and
//! CLUSTER are built on demand from openraft's latest metrics.
//!
//! Invariants:
//! - `update` writes the leader's address before the role, so a network
//!   thread that sees `Follower` also sees where to redirect.
//! - A follower redirects to the leader's client address as the membership
//!   gives it; with no known leader (or one missing from the membership),
//!   the group is down.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use openraft::{RaftMetrics, ServerState};
use parking_lot::{Mutex, RwLock};
use redraft_raftlog::RaftLog;
use tokio::sync::watch;

use crate::config::ReadConsistency;
use crate::raft::counters::RaftCounters;
use crate::raft::health::PeerHealth;
use crate::raft::network::PeerNode;
use crate::raft::types::NodeId;

/// This node's part in the group, as the network threads need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// No leader is known (election, or the node is cut off).
    NoLeader = 0,
    /// This node leads: it proposes writes.
    Leader = 1,
    /// Another node leads; writes are redirected to it.
    Follower = 2,
}

/// One member of the group, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: NodeId,
    pub node: PeerNode,
    /// A voter (rather than a learner).
    pub voter: bool,
    /// The last log index the leader knows this member holds (on the leader
    /// only).
    pub matched_index: Option<u64>,
}

/// The group as of the last metrics report.
#[derive(Debug, Clone, Default)]
pub struct StatusView {
    pub node_id: NodeId,
    /// openraft's server state: `leader`, `follower`, `candidate`,
    /// `learner` or `shutdown`.
    pub state: &'static str,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    /// Every member, voters first, each group by id.
    pub members: Vec<MemberView>,
}

impl StatusView {
    /// The member with `id`.
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|member| member.id == id)
    }
}

/// What the role is derived from.
type RoleKey = (ServerState, Option<NodeId>, Option<openraft::LogId<NodeId>>);

/// Shared between the Raft thread (writer) and the network threads.
pub struct RaftStatus {
    role: AtomicU8,
    /// More than one voter: reads need a leadership check.
    replicated: AtomicBool,
    /// On the leader, Unix ms until which a quorum has recently confirmed
    /// it (for `lease` reads); 0 otherwise.
    lease_until_ms: AtomicU64,
    /// The leader's client address (`host:port`) for redirects.
    leader_addr: RwLock<Option<String>>,
    /// openraft's metrics, read when a view is asked for.
    metrics: OnceLock<watch::Receiver<RaftMetrics<NodeId, PeerNode>>>,
    /// What the role and address were computed from: (state, leader,
    /// membership log id).
    last_key: Mutex<Option<RoleKey>>,
    node_id: NodeId,
    /// The last committed index, written by the log store.
    committed_index: Arc<AtomicU64>,
    /// How long a quorum acknowledgement keeps a lease valid.
    lease_ms: u64,
    pub consistency: ReadConsistency,
    /// The last log index and the term when this run started, and whether
    /// a leader's reads may trust its commit index yet (see
    /// [`RaftStatus::caught_up`]).
    boot_log_index: AtomicU64,
    boot_term: AtomicU64,
    caught_up: AtomicBool,
    /// Entries this node proposed (as leader), and the commands in them.
    pub entries_proposed: AtomicU64,
    pub commands_proposed: AtomicU64,
    /// The Raft log, for its counters; set once at start-up.
    pub log: OnceLock<Arc<RaftLog>>,
    /// Counts of Raft events (elections, snapshots...), for `/metrics`.
    pub counters: Arc<RaftCounters>,
    /// Each peer's reachability, kept by the peer transport.
    pub health: Arc<PeerHealth<NodeId>>,
    /// The log index of a membership a peer reported that leaves this
    /// node out, at least as new as this node's own; 0 while not removed
    /// (`raft::probe`).
    removed_at: AtomicU64,
}

impl RaftStatus {
    pub fn new(node_id: NodeId, lease_ms: u64, consistency: ReadConsistency) -> RaftStatus {
        let counters = Arc::new(RaftCounters::new(node_id));
        RaftStatus {
            health: Arc::new(PeerHealth::new(counters.clone())),
            counters,
            role: AtomicU8::new(Role::NoLeader as u8),
            replicated: AtomicBool::new(false),
            lease_until_ms: AtomicU64::new(0),
            leader_addr: RwLock::new(None),
            metrics: OnceLock::new(),
            last_key: Mutex::new(None),
            node_id,
            committed_index: Arc::default(),
            lease_ms,
            consistency,
            boot_log_index: AtomicU64::new(0),
            boot_term: AtomicU64::new(0),
            caught_up: AtomicBool::new(true),
            entries_proposed: AtomicU64::new(0),
            commands_proposed: AtomicU64::new(0),
            log: OnceLock::new(),
            removed_at: AtomicU64::new(0),
        }
    }

    /// Why the Raft log cannot grow now (a full disk), if so: writes are
    /// then refused (`-MISCONF`) until it can.
    pub fn log_space_short(&self) -> Option<String> {
        self.log.get()?.space_short()
    }

    /// Whether a peer has told this node that the group removed it.
    pub fn removed(&self) -> bool {
        self.removed_at.load(Ordering::Relaxed) != 0
    }

    /// The log index of the membership that removed this node, or 0.
    pub fn removed_at(&self) -> u64 {
        self.removed_at.load(Ordering::Relaxed)
    }

    /// Records that this node was removed by the membership at `index`
    /// (0: it is a member again).
    pub fn set_removed_at(&self, index: u64) {
        self.removed_at.store(index, Ordering::Relaxed);
    }

    /// This node's role as of the last report.
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Acquire) {
            1 => Role::Leader,
            2 => Role::Follower,
            _ => Role::NoLeader,
        }
    }

    /// Whether the group has more than one voter.
    pub fn replicated(&self) -> bool {
        self.replicated.load(Ordering::Relaxed)
    }

    /// Whether the leader's lease covers `now_ms`.
    pub fn lease_valid(&self, now_ms: u64) -> bool {
        now_ms < self.lease_until_ms.load(Ordering::Relaxed)
    }

    /// The group as of openraft's latest metrics.
    pub fn view(&self) -> StatusView {
        match self.metrics.get() {
            Some(metrics) => view_of(&metrics.borrow()),
            None => StatusView {
                node_id: self.node_id,
                state: "learner",
                ..StatusView::default()
            },
        }
    }

    /// The last committed index.
    pub fn committed_index(&self) -> u64 {
        self.committed_index.load(Ordering::Relaxed)
    }

    /// The committed index for the log store to keep up to date.
    pub fn committed_index_cell(&self) -> Arc<AtomicU64> {
        self.committed_index.clone()
    }

    /// The error line that sends a client elsewhere: `MOVED <slot> <addr>`
    /// on a follower that knows its leader, `CLUSTERDOWN` otherwise. `None`
    /// on the leader.
    pub fn redirect(&self, slot: u16) -> Option<String> {
        match self.role() {
            Role::Leader => None,
            Role::Follower => match self.leader_addr.read().as_deref() {
                Some(addr) => Some(format!("MOVED {slot} {addr}")),
                None => Some(CLUSTER_DOWN.to_string()),
            },
            Role::NoLeader => Some(CLUSTER_DOWN.to_string()),
        }
    }

    /// Records where the log ended at start-up. Until this node has applied
    /// that far (or a later term began), its saved commit index may be
    /// behind what it acknowledged before a power loss (the commit index
    /// file is not fsynced), so a leader that resumed in the same term must
    /// not serve reads by it.
    pub fn set_boot_position(&self, last_log_index: u64, term: u64) {
        self.boot_log_index.store(last_log_index, Ordering::Relaxed);
        self.boot_term.store(term, Ordering::Relaxed);
        self.caught_up.store(last_log_index == 0, Ordering::Release);
    }

    /// Whether this run has applied its whole boot-time log, or seen a
    /// later term (whose leader commits a fresh entry before reads).
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// The last log index at start-up.
    pub fn boot_log_index(&self) -> u64 {
        self.boot_log_index.load(Ordering::Relaxed)
    }

    /// The last log index this node has applied (0 before start-up ends).
    pub fn applied_index(&self) -> u64 {
        self.metrics.get().map_or(0, |metrics| {
            metrics.borrow().last_applied.map_or(0, |id| id.index)
        })
    }

    /// How many other members hold the log up to `index`, as this node's
    /// replication metrics say: 0 unless this node leads.
    pub fn followers_holding(&self, index: u64) -> usize {
        let Some(metrics) = self.metrics.get() else {
            return 0;
        };
        let metrics = metrics.borrow();
        metrics.replication.as_ref().map_or(0, |replication| {
            replication
                .iter()
                .filter(|(id, matched)| {
                    **id != metrics.id && matched.is_some_and(|log_id| log_id.index >= index)
                })
                .count()
        })
    }

    /// Gives `view` the live metrics to read from; called once at start-up.
    pub fn set_metrics(&self, metrics: watch::Receiver<RaftMetrics<NodeId, PeerNode>>) {
        let _ = self.metrics.set(metrics);
    }

    /// The error for a write or strong read this node will not serve:
    /// [`RaftStatus::redirect`], or `CLUSTERDOWN` if this node believes it
    /// leads but could not act as leader.
    pub fn refusal(&self, slot: u16) -> String {
        self.redirect(slot)
            .unwrap_or_else(|| CLUSTER_DOWN.to_string())
    }

    /// Refreshes the role, redirect address and lease from one metrics
    /// report, at `now_ms`. Called on every report (several per entry), so
    /// the common case (nothing but indexes changed) allocates nothing.
    pub fn update(&self, metrics: &RaftMetrics<NodeId, PeerNode>, now_ms: u64) {
        let key = (
            metrics.state,
            metrics.current_leader,
            *metrics.membership_config.log_id(),
        );
        if !self.caught_up() {
            let applied = metrics.last_applied.map_or(0, |id| id.index);
            if applied >= self.boot_log_index()
                || metrics.current_term > self.boot_term.load(Ordering::Relaxed)
            {
                self.caught_up.store(true, Ordering::Release);
            }
        }
        let mut last_key = self.last_key.lock();
        if last_key.as_ref() != Some(&key) {
            let membership = metrics.membership_config.membership();
            let voters = membership.voter_ids().count();
            let leader_node = metrics
                .current_leader
                .and_then(|leader| membership.get_node(&leader));
            let role = match (metrics.state, leader_node) {
                (ServerState::Leader, _) => Role::Leader,
                (_, Some(_)) if metrics.current_leader != Some(metrics.id) => Role::Follower,
                _ => Role::NoLeader,
            };
            *self.leader_addr.write() =
                leader_node.map(|node| format!("{}:{}", node.host, node.port));
            self.replicated.store(voters > 1, Ordering::Relaxed);
            self.role.store(role as u8, Ordering::Release);
            *last_key = Some(key);
        }
        // A lease holds only once this leader has applied an entry of its
        // own term: before that, entries the previous leader acknowledged
        // may be committed but not yet applied here.
        let applied_own_term = metrics
            .last_applied
            .is_some_and(|id| id.leader_id.term == metrics.current_term);
        let lease_until_ms = match (self.role(), metrics.millis_since_quorum_ack) {
            (Role::Leader, Some(since_ms)) if self.replicated() && applied_own_term => {
                (now_ms + self.lease_ms).saturating_sub(since_ms)
            }
            _ => 0,
        };
        self.lease_until_ms.store(lease_until_ms, Ordering::Relaxed);
    }
}

/// The group as one metrics report describes it.
fn view_of(metrics: &RaftMetrics<NodeId, PeerNode>) -> StatusView {
    let membership = metrics.membership_config.membership();
    let matched = |id: NodeId| {
        metrics
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&id).cloned().flatten())
            .map(|log_id| log_id.index)
    };
    let mut members: Vec<MemberView> = membership
        .nodes()
        .map(|(&id, node)| MemberView {
            id,
            node: node.clone(),
            voter: membership.voter_ids().any(|voter| voter == id),
            matched_index: matched(id),
        })
        .collect();
    members.sort_by_key(|member| (!member.voter, member.id));
    StatusView {
        node_id: metrics.id,
        state: state_name(metrics.state),
        term: metrics.current_term,
        leader: metrics.current_leader,
        last_log_index: metrics.last_log_index.unwrap_or(0),
        applied_index: metrics.last_applied.map_or(0, |id| id.index),
        snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
        purged_index: metrics.purged.map_or(0, |id| id.index),
        members,
    }
}

/// The error a node with no leader gives for writes and strong reads.
pub const CLUSTER_DOWN: &str = "CLUSTERDOWN The cluster is down";

/// openraft's server state as INFO, /metrics and the admin API name it.
pub fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// How a read may be served on this node.
pub enum ReadGate {
    Run,
    Check,
    Redirect(String),
}

impl RaftStatus {
    /// Whether a read command may run here now, given the node's role and
    /// the connection's consistency (`None`: the node's). The key slot
    /// (for a redirect) is computed only when redirecting.
    pub fn read_gate(
        &self,
        consistency: Option<ReadConsistency>,
        slot: impl FnOnce() -> u16,
        now_ms: u64,
    ) -> ReadGate {
        let consistency = consistency.unwrap_or(self.consistency);
        if consistency == ReadConsistency::Stale {
            return ReadGate::Run;
        }
        match self.role() {
            // Until caught up, only a check (which waits for the boot-time
            // log to apply) may serve a read.
            Role::Leader if !self.caught_up() => ReadGate::Check,
            Role::Leader if !self.replicated() => ReadGate::Run,
            Role::Leader if consistency == ReadConsistency::Lease && self.lease_valid(now_ms) => {
                ReadGate::Run
            }
            Role::Leader => ReadGate::Check,
            Role::Follower | Role::NoLeader => match self.redirect(slot()) {
                Some(error) => ReadGate::Redirect(error),
                // Became leader since the role was read: check.
                None => ReadGate::Check,
            },
        }
    }
}
