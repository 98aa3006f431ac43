//! `GET /cluster/status` and `GET /cluster/members`: the group as this node
//! sees it, from openraft's latest metrics and the health monitor.
//!
//! `/cluster/status` is this node: role, term, leader, its log positions
//! and the membership. `/cluster/members` is a JSON array with one object
//! per member (voters first, each group by id): its addresses, role,
//! whether this node can reach it and when it last heard from it, and, on
//! the leader, how far its log lags.
//!
//! Invariants:
//! - Every figure comes from one metrics report, so the fields of one
//!   answer agree with each other.
//! - `lag` and `matched_index` are set only on the leader, the one node
//!   that knows them.

use axum::extract::State;
use axum::http::StatusCode;
use openraft::RaftMetrics;

use crate::raft::status::state_name;
use serde::{Deserialize, Serialize};

use super::{AdminState, Answer};
use crate::raft::health::{PeerHealth, PeerReport};
use crate::raft::network::PeerNode;
use crate::raft::types::NodeId;

/// A member's id and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub id: NodeId,
    pub host: String,
    /// Client (RESP) port.
    pub port: u16,
    pub raft_port: u16,
}

impl NodeAddr {
    pub fn new(id: NodeId, node: &PeerNode) -> NodeAddr {
        NodeAddr {
            id,
            host: node.host.clone(),
            port: node.port,
            raft_port: node.raft_port,
        }
    }
}

/// The membership configuration in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// The log index of the membership entry (`None` before any).
    pub log_index: Option<u64>,
    /// Whether a change is half-way (joint consensus: old and new voters).
    pub joint: bool,
    /// Voters of the newest configuration, ascending.
    pub voters: Vec<NodeId>,
    /// Members that receive the log but do not vote, ascending.
    pub learners: Vec<NodeId>,
}

/// `GET /cluster/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    pub term: u64,
    pub leader_id: Option<NodeId>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    pub membership: MembershipView,
}

/// One entry of `GET /cluster/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: NodeId,
    pub host: String,
    pub port: u16,
    pub raft_port: u16,
    /// `leader`, `follower` (a voter that does not lead) or `learner`.
    pub role: String,
    pub voter: bool,
    /// This entry is the node that answered.
    pub this_node: bool,
    /// `None` until this node has exchanged an RPC with it (or failed to).
    pub reachable: Option<bool>,
    /// Milliseconds since the last successful RPC to or from it.
    pub last_contact_ms: Option<u64>,
    /// Consecutive failed RPCs to it since the last success.
    pub failures: u64,
    /// Moving average of this node's AppendEntries round trips to it, µs.
    pub append_rtt_us: Option<u64>,
    /// On the leader: the last log index it is known to hold.
    pub matched_index: Option<u64>,
    /// On the leader: `last_log_index - matched_index`.
    pub lag: Option<u64>,
    /// While this node sends it a snapshot: the bytes it has taken, and
    /// the snapshot's size.
    pub snapshot_sent_bytes: Option<u64>,
    pub snapshot_total_bytes: Option<u64>,
}

/// The status part of a metrics report, with the commit index.
pub fn status_of(metrics: &RaftMetrics<NodeId, PeerNode>, commit_index: u64) -> ClusterStatus {
    ClusterStatus {
        node_id: metrics.id,
        role: state_name(metrics.state).to_string(),
        term: metrics.current_term,
        leader_id: metrics.current_leader,
        commit_index,
        applied_index: metrics.last_applied.map_or(0, |id| id.index),
        last_log_index: metrics.last_log_index.unwrap_or(0),
        snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
        purged_index: metrics.purged.map_or(0, |id| id.index),
        membership: membership_of(metrics),
    }
}

/// The membership of a metrics report.
pub fn membership_of(metrics: &RaftMetrics<NodeId, PeerNode>) -> MembershipView {
    let membership = metrics.membership_config.membership();
    let mut voters: Vec<NodeId> = membership.voter_ids().collect();
    voters.sort_unstable();
    let mut learners: Vec<NodeId> = membership.learner_ids().collect();
    learners.sort_unstable();
    MembershipView {
        log_index: metrics.membership_config.log_id().map(|id| id.index),
        joint: membership.get_joint_config().len() > 1,
        voters,
        learners,
    }
}

/// Every member as a metrics report and the health monitor describe it.
pub fn members_of(
    metrics: &RaftMetrics<NodeId, PeerNode>,
    health: &PeerHealth<NodeId>,
    snapshot_bytes: u64,
) -> Vec<MemberStatus> {
    let membership = metrics.membership_config.membership();
    let last_log_index = metrics.last_log_index.unwrap_or(0);
    let mut members: Vec<MemberStatus> = membership
        .nodes()
        .map(|(&id, node)| {
            let voter = membership.voter_ids().any(|voter| voter == id);
            let this_node = id == metrics.id;
            let report = if this_node {
                PeerReport::this_node()
            } else {
                health.report(&id)
            };
            let matched_index = metrics.replication.as_ref().and_then(|replication| {
                if this_node {
                    Some(last_log_index)
                } else {
                    replication
                        .get(&id)
                        .cloned()
                        .flatten()
                        .map(|log_id| log_id.index)
                }
            });
            let role = if metrics.current_leader == Some(id) {
                "leader"
            } else if voter {
                "follower"
            } else {
                "learner"
            };
            MemberStatus {
                id,
                host: node.host.clone(),
                port: node.port,
                raft_port: node.raft_port,
                role: role.to_string(),
                voter,
                this_node,
                reachable: report.reachable,
                last_contact_ms: report.last_contact_ms,
                failures: report.failures,
                append_rtt_us: report.append_rtt_us,
                matched_index,
                lag: matched_index.map(|matched| last_log_index.saturating_sub(matched)),
                snapshot_sent_bytes: report.snapshot_sent_bytes,
                snapshot_total_bytes: report.snapshot_sent_bytes.map(|_| snapshot_bytes),
            }
        })
        .collect();
    members.sort_by_key(|member| (!member.voter, member.id));
    members
}

/// `GET /cluster/status`.
pub async fn status(State(state): State<AdminState>) -> Answer {
    let metrics = state.raft.metrics().borrow().clone();
    let commit_index = state.shared.raft.committed_index();
    Answer::json(StatusCode::OK, &status_of(&metrics, commit_index))
}

/// `GET /cluster/members`.
pub async fn members(State(state): State<AdminState>) -> Answer {
    let metrics = state.raft.metrics().borrow().clone();
    Answer::json(
        StatusCode::OK,
        &members_of(
            &metrics,
            &state.shared.raft.health,
            state
                .shared
                .raft
                .counters
                .snapshot_last_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    use std::time::Duration;

    use openraft::{CommittedLeaderId, LogId, Membership, ServerState, StoredMembership};
    use serde_json::json;

    use super::*;
    use crate::raft::counters::RaftCounters;

    fn log_id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(2, 1), index)
    }

    /// Node 1 leads voters {1, 2}; 3 is a learner; 2 has been contacted.
    fn leader_metrics() -> RaftMetrics<NodeId, PeerNode> {
        let mut metrics = RaftMetrics::new_initial(1);
        metrics.state = ServerState::Leader;
        metrics.current_term = 2;
        metrics.current_leader = Some(1);
        metrics.last_log_index = Some(10);
        metrics.last_applied = Some(log_id(9));
        let nodes: BTreeMap<NodeId, PeerNode> = (1..=3)
            .map(|id| {
                let node = PeerNode {
                    host: "127.0.0.1".into(),
                    port: 7000 + id as u16,
                    raft_port: 8000 + id as u16,
                };
                (id, node)
            })
            .collect();
        let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes);
        metrics.membership_config = Arc::new(StoredMembership::new(Some(log_id(4)), membership));
        metrics.replication = Some(BTreeMap::from([
            (1, Some(log_id(10))),
            (2, Some(log_id(7))),
            (3, None),
        ]));
        metrics
    }

    #[test]
    fn status_json_shape() {
        let value = serde_json::to_value(status_of(&leader_metrics(), 9)).unwrap();
        assert_eq!(
            value,
            json!({
                "node_id": 1, "role": "leader", "term": 2, "leader_id": 1,
                "commit_index": 9, "applied_index": 9, "last_log_index": 10,
                "snapshot_index": 0, "purged_index": 0,
                "membership": {"log_index": 4, "joint": false, "voters": [1, 2], "learners": [3]}
            })
        );
    }

    #[test]
    fn members_json_shape() {
        let health = PeerHealth::new(Arc::new(RaftCounters::new(1)));
        health.contacted(&2);
        health.append_answered(&2, Duration::from_micros(1600));
        health.append_answered(&2, Duration::from_micros(800));
        health.snapshot_sent(&3, 4096, false);
        let members = members_of(&leader_metrics(), &health, 10_000);
        let mut value = serde_json::to_value(&members).unwrap();
        // The contact time depends on the clock; it is a small number.
        let contact = value[1]["last_contact_ms"].take();
        assert!(contact.as_u64().is_some_and(|ms| ms < 5_000), "{contact}");
        assert_eq!(
            value,
            json!([
                {"id": 1, "host": "127.0.0.1", "port": 7001, "raft_port": 8001, "role": "leader",
                 "voter": true, "this_node": true, "reachable": true, "last_contact_ms": 0,
                 "failures": 0, "append_rtt_us": null, "matched_index": 10, "lag": 0,
                 "snapshot_sent_bytes": null, "snapshot_total_bytes": null},
                {"id": 2, "host": "127.0.0.1", "port": 7002, "raft_port": 8002, "role": "follower",
                 "voter": true, "this_node": false, "reachable": true, "last_contact_ms": null,
                 "failures": 0, "append_rtt_us": 1500, "matched_index": 7, "lag": 3,
                 "snapshot_sent_bytes": null, "snapshot_total_bytes": null},
                {"id": 3, "host": "127.0.0.1", "port": 7003, "raft_port": 8003, "role": "learner",
                 "voter": false, "this_node": false, "reachable": null, "last_contact_ms": null,
                 "failures": 0, "append_rtt_us": null, "matched_index": null, "lag": null,
                 "snapshot_sent_bytes": 4096, "snapshot_total_bytes": 10000}
            ])
        );
        let back: Vec<MemberStatus> = serde_json::from_value(value).unwrap();
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn a_follower_reports_no_lag() {
        let mut metrics = leader_metrics();
        metrics.id = 2;
        metrics.state = ServerState::Follower;
        metrics.replication = None;
        let health = PeerHealth::new(Arc::new(RaftCounters::new(2)));
        let members = members_of(&metrics, &health, 0);
        assert!(members
            .iter()
            .all(|m| m.lag.is_none() && m.matched_index.is_none()));
        assert!(members[1].this_node && members[0].role == "leader");
    }
}
