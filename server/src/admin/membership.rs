//! `POST /cluster/join` and `POST /cluster/leave`: membership changes.
//!
//! Join `{"id":N,"host":H,"port":P,"raft_port":R}` (and optionally
//! `"catch_up_timeout_ms"`): the leader adds the node as a learner
//! (openraft `add_learner`), waits until it has replicated to it every
//! entry up to the one that added it (at most [`CATCH_UP_TIMEOUT`]), and
//! only then promotes it to voter (`change_membership`, joint consensus: a joint
//! configuration, then the new one). Leave `{"id":N}`: the leader removes
//! the node from the voters and from the members (`retain = false`), or
//! only from the members if it is a learner. The leader may remove itself:
//! it steps down once the new configuration is committed, and the others
//! elect a leader among themselves.
//!
//! Any member accepts either request. A member that does not lead forwards
//! it to the leader over the peer transport (`Rpc::Admin`) and answers with
//! the leader's answer; the leader runs it. Answers:
//! - 200 `{"status":"ok","id":N,"changed":bool,"voters":[..],"learners":[..]}`:
//!   done, or already so (`changed: false`: joining a voter at the same
//!   address, leaving a non-member), so a retry is safe.
//! - 400: a malformed body. 409: refused (another address under that id,
//!   removing the last voter, another change in progress).
//! - 421 with `leader`: the node that got a forwarded request does not
//!   lead (leadership moved); 502 with `leader`: the leader could not be
//!   reached; 503: no leader. Send it again (to the leader, if known).
//! - 504: the new node did not catch up in time (it stays a learner; send
//!   the join again once it runs), or a change did not commit in time.
//!
//! Invariants:
//! - A forwarded request is run or refused where it lands, never forwarded
//!   again.
//! - Every wait is bounded ([`CATCH_UP_TIMEOUT`], [`CHANGE_TIMEOUT`]).

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::cluster::{membership_of, NodeAddr};
use super::{AdminState, Answer, ErrorBody};
use crate::raft::frame::{AdminAnswer, AdminCall};
use crate::raft::network::PeerNode;
use crate::raft::types::NodeId;

/// Longest wait for a new node to catch up before it is promoted.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a join logs its learner's progress while it catches up.
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(5);
/// Longest sleep between two looks at a catching-up learner.
const PROGRESS_POLL: Duration = Duration::from_millis(200);
/// Longest wait for one membership change (both joint-consensus steps).
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the leader's answer to a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(95);

pub const JOIN_PATH: &str = "/cluster/join";
pub const LEAVE_PATH: &str = "/cluster/leave";

/// The body of `POST /cluster/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub id: NodeId,
    /// Host or IP address others reach the node at (both ports).
    pub host: String,
    /// Client (RESP) port.
    pub port: u16,
    pub raft_port: u16,
    /// How long the new node may take to catch up before the join gives
    /// up with 504, leaving it a learner (default and most:
    /// [`CATCH_UP_TIMEOUT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up_timeout_ms: Option<u64>,
}

/// The body of `POST /cluster/leave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaveRequest {
    pub id: NodeId,
}

/// The answer to a change that is done (or was already so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReply {
    /// Always `ok`.
    pub status: String,
    /// The node joined or removed.
    pub id: NodeId,
    /// False when the membership already was as asked.
    pub changed: bool,
    /// The membership afterwards.
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

/// `POST /cluster/join`.
pub async fn join(State(state): State<AdminState>, body: Bytes) -> Answer {
    run_or_forward(&state, JOIN_PATH, &body, false).await
}

/// `POST /cluster/leave`.
pub async fn leave(State(state): State<AdminState>, body: Bytes) -> Answer {
    run_or_forward(&state, LEAVE_PATH, &body, false).await
}

/// Serves a request another member forwarded (the peer transport's hook).
pub async fn serve_forwarded(state: &AdminState, call: AdminCall) -> AdminAnswer {
    let answer = run_or_forward(state, &call.path, &call.body, true).await;
    AdminAnswer {
        status: answer.status.as_u16(),
        body: answer.body,
    }
}

/// Runs the request on the leader, or forwards it there (once).
async fn run_or_forward(state: &AdminState, path: &str, body: &[u8], forwarded: bool) -> Answer {
    let request = match Change::parse(path, body) {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let (me, leader, leader_node) = {
        let metrics = state.raft.metrics().borrow().clone();
        let leader = metrics.current_leader;
        let node = leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .cloned()
        });
        (metrics.id, leader, node)
    };
    match (leader, leader_node) {
        (Some(leader), _) if leader == me => request.run(state).await,
        (Some(leader), Some(node)) if !forwarded => forward(state, leader, &node, path, body).await,
        (Some(leader), Some(node)) => with_leader(
            StatusCode::MISDIRECTED_REQUEST,
            format!("node {me} does not lead; send the request to node {leader}"),
            leader,
            &node,
        ),
        _ => Answer::error(StatusCode::SERVICE_UNAVAILABLE, "no leader"),
    }
}

/// Sends the request to the leader and returns its answer.
async fn forward(
    state: &AdminState,
    leader: NodeId,
    node: &PeerNode,
    path: &str,
    body: &[u8],
) -> Answer {
    let call = AdminCall {
        path: path.to_string(),
        body: body.to_vec(),
    };
    match state
        .network
        .admin(leader, node, call, FORWARD_TIMEOUT)
        .await
    {
        Ok(answer) => Answer {
            status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
            body: answer.body,
        },
        Err(error) => with_leader(
            StatusCode::BAD_GATEWAY,
            format!("cannot forward to the leader, node {leader}: {error}"),
            leader,
            node,
        ),
    }
}

/// An error answer that says where the leader is.
fn with_leader(status: StatusCode, message: String, leader: NodeId, node: &PeerNode) -> Answer {
    Answer::json(
        status,
        &ErrorBody {
            error: message,
            leader: Some(NodeAddr::new(leader, node)),
        },
    )
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Join(JoinRequest),
    Leave(LeaveRequest),
}

impl Change {
    fn parse(path: &str, body: &[u8]) -> Result<Change, Answer> {
        match path {
            JOIN_PATH => {
                let request: JoinRequest = parse_json(body)?;
                if request.id == 0
                    || request.host.is_empty()
                    || request.port == 0
                    || request.raft_port == 0
                {
                    return Err(Answer::error(
                        StatusCode::BAD_REQUEST,
                        "join needs a positive id, a host, a port and a raft_port",
                    ));
                }
                Ok(Change::Join(request))
            }
            LEAVE_PATH => Ok(Change::Leave(parse_json(body)?)),
            other => Err(Answer::error(
                StatusCode::NOT_FOUND,
                format!("no admin request {other}"),
            )),
        }
    }

    /// Runs the change on this node, the leader.
    async fn run(self, state: &AdminState) -> Answer {
        let result = match self {
            Change::Join(request) => run_join(state, request).await,
            Change::Leave(request) => run_leave(state, request).await,
        };
        result.unwrap_or_else(|answer| answer)
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Answer> {
    serde_json::from_slice(body).map_err(|error| {
        Answer::error(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {error}"),
        )
    })
}

/// The reply for `id` with the membership now in effect.
fn done(state: &AdminState, id: NodeId, changed: bool) -> Answer {
    let view = membership_of(&state.raft.metrics().borrow());
    Answer::json(
        StatusCode::OK,
        &ChangeReply {
            status: "ok".into(),
            id,
            changed,
            voters: view.voters,
            learners: view.learners,
        },
    )
}

async fn run_join(state: &AdminState, request: JoinRequest) -> Result<Answer, Answer> {
    let id = request.id;
    let node = PeerNode {
        host: request.host,
        raft_port: request.raft_port,
        port: request.port,
    };
    let (existing, voter, clash) = {
        let metrics = state.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let clash = membership.nodes().find(|(&other, at)| {
            other != id
                && at.host == node.host
                && (at.port == node.port || at.raft_port == node.raft_port)
        });
        (
            membership.get_node(&id).cloned(),
            membership.voter_ids().any(|voter| voter == id),
            clash.map(|(&other, _)| other),
        )
    };
    match existing {
        Some(at) if at != node => {
            return Err(Answer::error(
                StatusCode::CONFLICT,
                format!("node {id} is already a member at {at}; remove it first"),
            ))
        }
        Some(_) if voter => return Ok(done(state, id, false)),
        _ => {}
    }
    if let Some(other) = clash {
        return Err(Answer::error(
            StatusCode::CONFLICT,
            format!(
                "node {other} is already a member at {}:{} (raft {})",
                node.host, node.port, node.raft_port
            ),
        ));
    }
    let catch_up_timeout = request.catch_up_timeout_ms.map_or(CATCH_UP_TIMEOUT, |ms| {
        Duration::from_millis(ms).min(CATCH_UP_TIMEOUT)
    });
    tracing::info!(node_id = state.shared.config.raft.node_id, joining = id, at = %node, "adding a learner");
    // Not openraft's blocking add: it counts a learner within
    // `replication_lag_threshold` entries of the leader as caught up,
    // which on a young log is one that never answered.
    let added =
        match tokio::time::timeout(CHANGE_TIMEOUT, state.raft.add_learner(id, node, false)).await {
            Err(_elapsed) => {
                return Err(Answer::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "adding node {id} as a learner did not commit within {} s",
                        CHANGE_TIMEOUT.as_secs()
                    ),
                ))
            }
            Ok(result) => result.map_err(write_error)?,
        };
    wait_caught_up(state, id, added.log_id.index, catch_up_timeout).await?;
    tracing::info!(
        node_id = state.shared.config.raft.node_id,
        joining = id,
        "the learner caught up; promoting it to voter"
    );
    change(state, ChangeMembers::AddVoterIds(BTreeSet::from([id]))).await?;
    Ok(done(state, id, true))
}

/// Waits until the leader has replicated to learner `id` every entry up
/// to `index` (the entry that added it), within `timeout`, logging its
/// progress at once and then every [`PROGRESS_LOG_INTERVAL`]. Fails with 504 if it does not
/// catch up (the node stays a learner), or 503 if this node stops leading
/// meanwhile.
async fn wait_caught_up(
    state: &AdminState,
    id: NodeId,
    index: u64,
    timeout: Duration,
) -> Result<(), Answer> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut metrics = state.raft.metrics();
    // When progress was last logged, and the matched index then.
    let mut logged: Option<(tokio::time::Instant, u64)> = None;
    loop {
        let (leading, matched, last_log_index) = {
            let now = metrics.borrow_and_update();
            let matched = now.replication.as_ref().and_then(|replication| {
                replication
                    .get(&id)
                    .and_then(|matched| matched.as_ref().map(|log_id| log_id.index))
            });
            (
                now.replication.is_some(),
                matched,
                now.last_log_index.unwrap_or(0),
            )
        };
        if !leading {
            return Err(Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this node stopped leading while node {id} caught up; it stays a learner: \
                     send the join again"
                ),
            ));
        }
        if matched.is_some_and(|matched| matched >= index) {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Answer::error(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "node {id} was added as a learner but did not catch up within {} s; \
                     it stays a learner: check that it runs and is reachable, then send the join again",
                    timeout.as_secs_f64()
                ),
            ));
        }
        if logged.is_none_or(|(at, _)| now.duration_since(at) >= PROGRESS_LOG_INTERVAL) {
            let matched_now = matched.unwrap_or(0);
            let entries_per_sec = logged.map_or(0.0, |(at, matched_then)| {
                let seconds = now.duration_since(at).as_secs_f64();
                (matched_now.saturating_sub(matched_then) as f64 / seconds).round()
            });
            let report = state.shared.raft.health.report(&id);
            tracing::info!(
                node_id = state.shared.config.raft.node_id,
                learner = id,
                matched = matched_now,
                behind = last_log_index.saturating_sub(matched_now),
                entries_per_sec,
                snapshot_sent_bytes = report.snapshot_sent_bytes.unwrap_or(0),
                snapshot_total_bytes = state
                    .shared
                    .raft
                    .counters
                    .snapshot_last_bytes
                    .load(std::sync::atomic::Ordering::Relaxed),
                waited_s = now.duration_since(started).as_secs(),
                "learner catching up"
            );
            logged = Some((now, matched_now));
        }
        // Woken by the next metrics change, or at least every
        // `PROGRESS_POLL`, so the deadline and the log are kept.
        if let Ok(Err(_closed)) =
            tokio::time::timeout(PROGRESS_POLL.min(deadline - now), metrics.changed()).await
        {
            return Err(Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the Raft node is shutting down",
            ));
        }
    }
}

async fn run_leave(state: &AdminState, request: LeaveRequest) -> Result<Answer, Answer> {
    let id = request.id;
    let (member, voters) = {
        let metrics = state.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        (membership.get_node(&id).is_some(), voters)
    };
    if !member {
        return Ok(done(state, id, false));
    }
    let changes = if voters.contains(&id) {
        if voters.len() == 1 {
            return Err(Answer::error(
                StatusCode::CONFLICT,
                format!("node {id} is the last voter; a group cannot remove its last voter"),
            ));
        }
        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
    };
    tracing::info!(
        node_id = state.shared.config.raft.node_id,
        leaving = id,
        "removing a member"
    );
    change(state, changes).await?;
    Ok(done(state, id, true))
}

/// One membership change, both joint-consensus steps, within
/// [`CHANGE_TIMEOUT`]. Removed members are dropped, not kept as learners.
async fn change(
    state: &AdminState,
    changes: ChangeMembers<NodeId, PeerNode>,
) -> Result<(), Answer> {
    match tokio::time::timeout(CHANGE_TIMEOUT, state.raft.change_membership(changes, false)).await {
        Err(_elapsed) => Err(Answer::error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the membership change did not commit within {} s; see GET /cluster/status",
                CHANGE_TIMEOUT.as_secs()
            ),
        )),
        Ok(result) => result.map(|_| ()).map_err(write_error),
    }
}

/// The answer for a failed membership write.
fn write_error(error: RaftError<NodeId, ClientWriteError<NodeId, PeerNode>>) -> Answer {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            match (forward.leader_id, forward.leader_node) {
                (Some(leader), Some(node)) => with_leader(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!("leadership moved to node {leader} during the change; send it again"),
                    leader,
                    &node,
                ),
                _ => Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "leadership was lost during the change; send it again",
                ),
            }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(error)) => {
            Answer::error(StatusCode::CONFLICT, error.to_string())
        }
        RaftError::Fatal(fatal) => {
            Answer::error(StatusCode::INTERNAL_SERVER_ERROR, fatal.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_parse_and_bad_bodies_are_400() {
        let join = br#"{"id":4,"host":"127.0.0.1","port":7004,"raft_port":8004}"#;
        assert_eq!(
            Change::parse(JOIN_PATH, join),
            Ok(Change::Join(JoinRequest {
                id: 4,
                host: "127.0.0.1".into(),
                port: 7004,
                raft_port: 8004,
                catch_up_timeout_ms: None,
            }))
        );
        assert_eq!(
            Change::parse(LEAVE_PATH, br#"{"id":2}"#),
            Ok(Change::Leave(LeaveRequest { id: 2 }))
        );
        let bad: &[(&str, &[u8], &str)] = &[
            (JOIN_PATH, b"{", "malformed request body"),
            (JOIN_PATH, br#"{"id":4}"#, "missing field `host`"),
            (
                JOIN_PATH,
                br#"{"id":0,"host":"h","port":1,"raft_port":2}"#,
                "positive id",
            ),
            (
                LEAVE_PATH,
                br#"{"id":2,"extra":1}"#,
                "unknown field `extra`",
            ),
            (LEAVE_PATH, br#"{"id":-1}"#, "malformed request body"),
        ];
        for (path, body, needle) in bad {
            let answer = Change::parse(path, body).unwrap_err();
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body:?}");
            let error: ErrorBody = serde_json::from_slice(&answer.body).unwrap();
            assert!(error.error.contains(needle), "{path}: {:?}", error.error);
        }
        let answer = Change::parse("/cluster/nothing", b"{}").unwrap_err();
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn reply_and_error_json_shapes() {
        let reply = ChangeReply {
            status: "ok".into(),
            id: 4,
            changed: true,
            voters: vec![1, 2, 4],
            learners: vec![],
        };
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"status": "ok", "id": 4, "changed": true, "voters": [1, 2, 4], "learners": []})
        );
        let node = PeerNode {
            host: "127.0.0.1".into(),
            raft_port: 8001,
            port: 7001,
        };
        let answer = with_leader(StatusCode::MISDIRECTED_REQUEST, "not me".into(), 1, &node);
        assert_eq!(answer.status.as_u16(), 421);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&answer.body).unwrap(),
            json!({"error": "not me",
                   "leader": {"id": 1, "host": "127.0.0.1", "port": 7001, "raft_port": 8001}})
        );
        let plain = Answer::error(StatusCode::SERVICE_UNAVAILABLE, "no leader");
        assert_eq!(plain.body, br#"{"error":"no leader"}"#);
    }
}
