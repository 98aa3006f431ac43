//! `GET /health`: whether this node can serve its part of the group now.
//!
//! 200 `{"status":"ok",...}` when all of these hold, else 503
//! `{"status":"unavailable","reason":...}` naming the first that fails:
//! - every client listener can accept connections (one that cannot, out of
//!   descriptors for instance, is reported with the error while that lasts:
//!   `net/accept.rs`);
//! - this node is a member of a group (a node started with `--join` is not,
//!   until it has been added);
//! - it knows a leader (`no leader` during an election or when cut off);
//! - it can reach that leader: it is the leader and a quorum acknowledged
//!   it within the election timeout (`election_timeout_max_ms`), or the
//!   leader exchanged an RPC with it within the election timeout;
//! - it has applied what it knows to be committed: apply may trail the
//!   commit index by the entries in flight, so this fails only when a
//!   commit index seen more than one election timeout ago is still not
//!   applied ([`ApplyWatch`]), which a busy but healthy node never shows.
//!
//! Invariants:
//! - The verdict is a pure function of one [`HealthInput`]; the handler
//!   only gathers the input.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{AdminState, Answer};
use crate::raft::types::NodeId;

/// What the verdict is drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthInput {
    /// Why a client listener cannot accept connections, while one cannot.
    pub listener_problem: Option<String>,
    /// Why the Raft log cannot grow (a full disk), while it cannot.
    pub log_space_short: Option<String>,
    pub node_id: NodeId,
    /// Whether the membership in effect includes this node.
    pub member: bool,
    /// Whether this node has ever seen a membership (a joining node has not).
    pub initialized: bool,
    pub leader: Option<NodeId>,
    /// Voters in the membership.
    pub voters: usize,
    /// On the leader: ms since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// On a follower: ms since the last RPC to or from the leader.
    pub leader_contact_ms: Option<u64>,
    pub applied_index: u64,
    pub commit_index: u64,
    /// Whether a commit index seen long ago is still not applied.
    pub apply_stalled: bool,
    pub election_timeout_ms: u64,
}

/// Why a node is not healthy, or `Ok`.
pub fn verdict(input: &HealthInput) -> Result<(), String> {
    if let Some(problem) = &input.listener_problem {
        return Err(problem.clone());
    }
    if let Some(why) = &input.log_space_short {
        return Err(format!(
            "disk full: the Raft log cannot grow ({why}); writes are refused until it can"
        ));
    }
    if !input.initialized {
        return Err(
            "not a member of any group yet (waiting to be added with POST /cluster/join)".into(),
        );
    }
    if !input.member {
        return Err("not a member of the group (removed)".into());
    }
    let Some(leader) = input.leader else {
        return Err("no leader".into());
    };
    let timeout = input.election_timeout_ms;
    if leader == input.node_id {
        if input.voters > 1 {
            match input.millis_since_quorum_ack {
                None => return Err("leader not yet acknowledged by a quorum".into()),
                Some(ms) if ms > timeout => {
                    return Err(format!("leader without a quorum for {ms} ms"))
                }
                Some(_) => {}
            }
        }
    } else {
        match input.leader_contact_ms {
            None => return Err(format!("leader {leader} unreachable (never contacted)")),
            Some(ms) if ms > timeout => {
                return Err(format!("leader {leader} unreachable for {ms} ms"))
            }
            Some(_) => {}
        }
    }
    if input.apply_stalled && input.applied_index < input.commit_index {
        return Err(format!(
            "applying: applied {} < committed {}",
            input.applied_index, input.commit_index
        ));
    }
    Ok(())
}

/// Tells a stalled apply from one that trails the commit index by the
/// entries in flight: remembers a commit index and when it was seen, and
/// reports a stall only if that index is still not applied `grace` later.
#[derive(Debug, Default)]
pub struct ApplyWatch {
    /// A commit index not yet applied when seen, and when.
    target: Option<(u64, Instant)>,
}

impl ApplyWatch {
    /// Whether apply is stalled, given the indexes now.
    pub fn stalled(&mut self, applied: u64, committed: u64, now: Instant, grace: Duration) -> bool {
        if applied >= committed {
            self.target = None;
            return false;
        }
        match self.target {
            Some((target, since)) if applied < target => now.duration_since(since) > grace,
            // Nothing watched, or the watched index was applied: watch
            // the current one.
            _ => {
                self.target = Some((committed, now));
                false
            }
        }
    }
}

/// The body of every `/health` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBody {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why not `ok`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub node_id: NodeId,
    pub role: String,
    pub term: u64,
    pub leader_id: Option<NodeId>,
    pub applied_index: u64,
    pub commit_index: u64,
}

/// `GET /health`.
pub async fn get(State(state): State<AdminState>) -> Answer {
    let metrics = state.raft.metrics().borrow().clone();
    let status = &state.shared.raft;
    let election_timeout_ms = state.shared.config.raft.election_timeout_max_ms;
    let membership = metrics.membership_config.membership();
    let applied_index = metrics.last_applied.map_or(0, |id| id.index);
    let commit_index = status.committed_index();
    let apply_stalled = state.apply_watch.lock().stalled(
        applied_index,
        commit_index,
        Instant::now(),
        Duration::from_millis(election_timeout_ms),
    );
    let input = HealthInput {
        listener_problem: state.shared.admission.listener_problem(),
        log_space_short: status.log_space_short(),
        node_id: metrics.id,
        member: membership.get_node(&metrics.id).is_some() && !status.removed(),
        initialized: metrics.membership_config.log_id().is_some(),
        leader: metrics.current_leader,
        voters: membership.voter_ids().count(),
        millis_since_quorum_ack: metrics.millis_since_quorum_ack,
        leader_contact_ms: metrics
            .current_leader
            .and_then(|leader| status.health.report(&leader).last_contact_ms),
        applied_index,
        commit_index,
        apply_stalled,
        election_timeout_ms,
    };
    let result = verdict(&input);
    let body = HealthBody {
        status: if result.is_ok() { "ok" } else { "unavailable" }.into(),
        reason: result.err(),
        node_id: metrics.id,
        role: crate::raft::status::state_name(metrics.state).into(),
        term: metrics.current_term,
        leader_id: metrics.current_leader,
        applied_index,
        commit_index,
    };
    let code = if body.reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Answer::json(code, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy_follower() -> HealthInput {
        HealthInput {
            listener_problem: None,
            log_space_short: None,
            node_id: 2,
            member: true,
            initialized: true,
            leader: Some(1),
            voters: 3,
            millis_since_quorum_ack: None,
            leader_contact_ms: Some(50),
            applied_index: 10,
            commit_index: 10,
            apply_stalled: false,
            election_timeout_ms: 800,
        }
    }

    /// Each case: a change to a healthy follower's input, and the verdict.
    #[test]
    fn verdicts() {
        type Change = fn(&mut HealthInput);
        let cases: &[(&str, Change, Result<(), &str>)] = &[
            ("healthy follower", |_| {}, Ok(())),
            (
                "joining",
                |i| (i.initialized, i.member) = (false, false),
                Err("not a member of any group yet (waiting to be added with POST /cluster/join)"),
            ),
            (
                "removed",
                |i| i.member = false,
                Err("not a member of the group (removed)"),
            ),
            ("election", |i| i.leader = None, Err("no leader")),
            (
                "disk full",
                |i| i.log_space_short = Some("No space left on device".into()),
                Err("disk full: the Raft log cannot grow (No space left on device); writes are refused until it can"),
            ),
            (
                "leader silent",
                |i| i.leader_contact_ms = Some(1200),
                Err("leader 1 unreachable for 1200 ms"),
            ),
            (
                "leader never heard",
                |i| i.leader_contact_ms = None,
                Err("leader 1 unreachable (never contacted)"),
            ),
            (
                "apply stalled",
                |i| (i.applied_index, i.apply_stalled) = (7, true),
                Err("applying: applied 7 < committed 10"),
            ),
            ("apply trailing", |i| i.applied_index = 7, Ok(())),
            (
                "leader with quorum",
                |i| (i.leader, i.millis_since_quorum_ack) = (Some(2), Some(30)),
                Ok(()),
            ),
            (
                "leader cut off",
                |i| (i.leader, i.millis_since_quorum_ack) = (Some(2), Some(5000)),
                Err("leader without a quorum for 5000 ms"),
            ),
            (
                "single-node leader",
                |i| (i.leader, i.voters) = (Some(2), 1),
                Ok(()),
            ),
            (
                "listener out of descriptors",
                |i| {
                    i.listener_problem = Some(
                        "client listener cannot accept connections for 40 ms: \
                         Too many open files (os error 24)"
                            .into(),
                    )
                },
                Err("client listener cannot accept connections for 40 ms: \
                     Too many open files (os error 24)"),
            ),
        ];
        for (name, change, want) in cases {
            let mut input = healthy_follower();
            change(&mut input);
            let got = verdict(&input);
            assert_eq!(
                got.as_ref().map(|_| ()).map_err(String::as_str),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn apply_watch_reports_only_an_index_left_unapplied_past_the_grace() {
        let grace = Duration::from_millis(800);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut watch = ApplyWatch::default();
        // Trailing under load: each time the watched index is applied.
        assert!(!watch.stalled(5, 10, at(0), grace));
        assert!(!watch.stalled(12, 20, at(900), grace));
        assert!(!watch.stalled(22, 30, at(1800), grace));
        // Stuck: 30 is not applied after the grace.
        assert!(!watch.stalled(25, 30, at(2000), grace));
        assert!(watch.stalled(25, 30, at(2700), grace));
        // Caught up: all clear.
        assert!(!watch.stalled(30, 30, at(2800), grace));
    }

    #[test]
    fn body_json_shape() {
        let body = HealthBody {
            status: "unavailable".into(),
            reason: Some("no leader".into()),
            node_id: 3,
            role: "candidate".into(),
            term: 7,
            leader_id: None,
            applied_index: 4,
            commit_index: 4,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"status": "unavailable", "reason": "no leader", "node_id": 3,
                "role": "candidate", "term": 7, "leader_id": null, "applied_index": 4,
                "commit_index": 4})
        );
    }
}
