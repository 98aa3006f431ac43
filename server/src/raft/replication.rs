//! Redis's replication view of the Raft group, for `INFO replication`,
//! `ROLE` and `CLUSTER NODES`: the leader is the master, every other
//! member one of its replicas, and a replication offset is a log index.
//!
//! Invariants:
//! - Only the leader is a master. A node with no known leader (an election,
//!   or cut off) is a replica whose link is down and whose master is
//!   unknown: it serves no writes, as a Redis replica does not.
//! - A replica's offset is the last index the leader knows it holds
//!   (openraft's matched index); this node's own offset is its applied
//!   index. Offsets never count bytes.
//! - The leader lists as connected replicas only the members its health
//!   monitor has in contact (`reachable` true): Redis lists only the
//!   replicas whose link is up.
//! - The replication id names the history: the leader's id and its term,
//!   so every member shows the same id in a term and a new leader (as a
//!   Redis failover) brings a new one.

use crate::raft::health::PeerReport;
use crate::raft::status::{MemberView, RaftStatus, StatusView};

/// A replica as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub host: String,
    pub port: u16,
    /// The last log index the leader knows it holds.
    pub offset: u64,
    /// Seconds since the leader last heard from it.
    pub lag_s: u64,
}

/// This node's master as a replica sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub host: String,
    pub port: u16,
    /// The health monitor has the leader in contact.
    pub link_up: bool,
    /// Seconds since the last exchange with the leader, if any.
    pub last_io_s: Option<u64>,
}

/// This node's part, in Redis's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Master {
        replicas: Vec<Replica>,
    },
    /// `master` is `None` while no leader is known.
    Replica {
        master: Option<Master>,
    },
}

/// Redis's view of the group from this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationView {
    pub part: Part,
    /// This node's applied index (`master_repl_offset`).
    pub offset: u64,
    /// 40 hex digits: the leader's id then the term, 20 each (zeros for
    /// the leader while none is known).
    pub replid: String,
}

impl ReplicationView {
    /// The view from `status` as of its latest metrics.
    pub fn of(status: &RaftStatus) -> ReplicationView {
        let view = status.view();
        Self::from_parts(&view, |member| status.health.report(&member.id))
    }

    /// The view from one status view, with `health` giving each other
    /// member's reachability.
    pub fn from_parts(
        view: &StatusView,
        health: impl Fn(&MemberView) -> PeerReport,
    ) -> ReplicationView {
        let leader = view.leader.and_then(|id| view.member(id));
        let part = match leader {
            Some(leader) if leader.id == view.node_id => Part::Master {
                replicas: view
                    .members
                    .iter()
                    .filter(|member| member.id != view.node_id)
                    .filter_map(|member| {
                        let report = health(member);
                        (report.reachable == Some(true)).then(|| Replica {
                            host: member.node.host.clone(),
                            port: member.node.port,
                            offset: member.matched_index.unwrap_or(0),
                            lag_s: report.last_contact_ms.unwrap_or(0) / 1000,
                        })
                    })
                    .collect(),
            },
            Some(leader) => {
                let report = health(leader);
                Part::Replica {
                    master: Some(Master {
                        host: leader.node.host.clone(),
                        port: leader.node.port,
                        link_up: report.reachable == Some(true),
                        last_io_s: report.last_contact_ms.map(|ms| ms / 1000),
                    }),
                }
            }
            None => Part::Replica { master: None },
        };
        ReplicationView {
            part,
            offset: view.applied_index,
            replid: format!("{:020x}{:020x}", view.leader.unwrap_or(0), view.term),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::network::PeerNode;

    fn member(id: u64, matched_index: Option<u64>) -> MemberView {
        MemberView {
            id,
            node: PeerNode {
                host: "127.0.0.1".to_string(),
                port: 7000 + id as u16,
                raft_port: 8000 + id as u16,
            },
            voter: true,
            matched_index,
        }
    }

    fn view(node_id: u64, leader: Option<u64>) -> StatusView {
        StatusView {
            node_id,
            state: "follower",
            term: 7,
            leader,
            applied_index: 42,
            members: vec![member(1, Some(42)), member(2, Some(40)), member(3, None)],
            ..StatusView::default()
        }
    }

    fn report(reachable: Option<bool>, last_contact_ms: Option<u64>) -> PeerReport {
        PeerReport {
            reachable,
            last_contact_ms,
            failures: 0,
            append_rtt_us: None,
            snapshot_sent_bytes: None,
        }
    }

    #[test]
    fn the_leader_is_master_of_the_members_in_contact() {
        let got = ReplicationView::from_parts(&view(1, Some(1)), |member| match member.id {
            2 => report(Some(true), Some(2500)),
            _ => report(Some(false), Some(9000)),
        });
        assert_eq!(
            got.part,
            Part::Master {
                replicas: vec![Replica {
                    host: "127.0.0.1".to_string(),
                    port: 7002,
                    offset: 40,
                    lag_s: 2,
                }]
            }
        );
        assert_eq!(got.offset, 42);
        assert_eq!(got.replid, format!("{:020x}{:020x}", 1, 7));
        assert_eq!(got.replid.len(), 40);
    }

    #[test]
    fn a_follower_is_replica_of_the_leader_and_without_one_of_nobody() {
        let got = ReplicationView::from_parts(&view(2, Some(1)), |_| report(Some(true), Some(300)));
        assert_eq!(
            got.part,
            Part::Replica {
                master: Some(Master {
                    host: "127.0.0.1".to_string(),
                    port: 7001,
                    link_up: true,
                    last_io_s: Some(0),
                })
            }
        );
        let unknown = ReplicationView::from_parts(&view(2, Some(1)), |_| report(None, None));
        assert!(matches!(
            unknown.part,
            Part::Replica {
                master: Some(Master {
                    link_up: false,
                    last_io_s: None,
                    ..
                })
            }
        ));
        let none = ReplicationView::from_parts(&view(2, None), |_| report(Some(true), Some(0)));
        assert_eq!(none.part, Part::Replica { master: None });
        assert_eq!(none.replid, format!("{:040x}", 7));
    }
}
