//! Structured Raft events from openraft's metrics: one `tracing` event per
//! election started or won, leadership change, membership change and log
//! purge, each with `node_id` and `term` fields, and the matching
//! [`RaftCounters`]. Snapshot events come from the state machine, peer
//! up/down from the health monitor.
//!
//! The status watcher hands every metrics report to [`EventWatcher::observe`],
//! which compares it with the previous one. openraft's metrics channel
//! keeps only the latest report, so a state that lasted less than one
//! report (a candidacy that turned into leadership at once) is seen by its
//! outcome: an election this node started is recognised by a new term in
//! which it voted for itself, whether it was seen as candidate or leader.
//!
//! Invariants:
//! - Nothing is logged per entry: only a change of term, state, leader,
//!   membership or purge point makes an event.
//! - Each event is logged once: the watcher remembers what it last saw.

use std::sync::Arc;

use openraft::{LogId, RaftMetrics, ServerState};

use crate::raft::counters::RaftCounters;
use crate::raft::network::PeerNode;
use crate::raft::types::NodeId;

/// What the previous report said.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    term: u64,
    state: ServerState,
    leader: Option<NodeId>,
    membership: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
}

/// Turns successive metrics reports into events.
pub struct EventWatcher {
    counters: Arc<RaftCounters>,
    /// `None` before the first report.
    last: Option<Seen>,
}

impl EventWatcher {
    pub fn new(counters: Arc<RaftCounters>) -> EventWatcher {
        EventWatcher {
            counters,
            last: None,
        }
    }

    /// Logs and counts what changed since the previous report. The first
    /// report only sets the baseline (start-up logs its own line).
    pub fn observe(&mut self, metrics: &RaftMetrics<NodeId, PeerNode>) {
        let node_id = metrics.id;
        let term = metrics.current_term;
        self.counters.see_term(term);
        let seen = Seen {
            term,
            state: metrics.state,
            leader: metrics.current_leader,
            membership: *metrics.membership_config.log_id(),
            purged: metrics.purged,
        };
        let Some(last) = self.last.replace(seen.clone()) else {
            return;
        };
        if seen.term > last.term && metrics.vote.leader_id().voted_for() == Some(node_id) {
            RaftCounters::bump(&self.counters.elections_started);
            tracing::info!(node_id, term, "election started");
        }
        if seen.state == ServerState::Leader
            && (last.state != ServerState::Leader || seen.term > last.term)
        {
            RaftCounters::bump(&self.counters.elections_won);
            tracing::info!(node_id, term, "election won");
        }
        if seen.leader != last.leader {
            RaftCounters::bump(&self.counters.leader_changes);
            tracing::info!(node_id, term, leader = ?seen.leader, previous = ?last.leader, "leader changed");
        }
        if seen.membership != last.membership {
            RaftCounters::bump(&self.counters.membership_changes);
            let membership = metrics.membership_config.membership();
            let voters: Vec<NodeId> = membership.voter_ids().collect();
            let learners: Vec<NodeId> = membership.learner_ids().collect();
            tracing::info!(
                node_id,
                term,
                log_index = ?seen.membership.map(|id| id.index),
                ?voters,
                ?learners,
                joint = membership.get_joint_config().len() > 1,
                "membership changed"
            );
        }
        if seen.purged != last.purged {
            RaftCounters::bump(&self.counters.log_purges);
            tracing::info!(
                node_id,
                term,
                up_to = ?seen.purged.map(|id| id.index),
                "log purged"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::Ordering;

    use openraft::{CommittedLeaderId, Membership, StoredMembership, Vote};

    use super::*;

    fn report(
        term: u64,
        vote_for: NodeId,
        state: ServerState,
        leader: Option<NodeId>,
        membership_index: u64,
        purged: u64,
    ) -> RaftMetrics<NodeId, PeerNode> {
        let mut metrics = RaftMetrics::new_initial(1);
        metrics.current_term = term;
        metrics.vote = Vote::new(term, vote_for);
        metrics.state = state;
        metrics.current_leader = leader;
        let voters = BTreeSet::from([1, 2, 3]);
        let nodes: BTreeMap<NodeId, PeerNode> =
            voters.iter().map(|&id| (id, PeerNode::default())).collect();
        let membership = Membership::new(vec![voters], nodes);
        let log_id = LogId::new(CommittedLeaderId::new(1, 1), membership_index);
        metrics.membership_config = Arc::new(StoredMembership::new(Some(log_id), membership));
        metrics.purged = (purged > 0).then(|| LogId::new(CommittedLeaderId::new(1, 1), purged));
        metrics
    }

    /// Each step: a report, then the counters expected after it, as
    /// (elections started, won, leader changes, membership changes,
    /// purges).
    #[test]
    fn events_are_counted_once_per_change() {
        use ServerState::*;
        let steps = [
            (report(1, 2, Follower, Some(2), 1, 0), (0, 0, 0, 0, 0)),
            (report(1, 2, Follower, Some(2), 1, 0), (0, 0, 0, 0, 0)),
            (report(2, 1, Candidate, None, 1, 0), (1, 0, 1, 0, 0)),
            (report(2, 1, Leader, Some(1), 1, 0), (1, 1, 2, 0, 0)),
            (report(2, 1, Leader, Some(1), 5, 0), (1, 1, 2, 1, 0)),
            (report(2, 1, Leader, Some(1), 5, 100), (1, 1, 2, 1, 1)),
            // A lost candidacy, then one seen only by its outcome.
            (report(3, 1, Follower, None, 5, 100), (2, 1, 3, 1, 1)),
            (report(4, 1, Leader, Some(1), 5, 100), (3, 2, 4, 1, 1)),
            // Another node's election: no election of ours.
            (report(5, 3, Follower, Some(3), 5, 100), (3, 2, 5, 1, 1)),
        ];
        let counters = Arc::new(RaftCounters::new(1));
        let mut watcher = EventWatcher::new(counters.clone());
        for (n, (metrics, want)) in steps.iter().enumerate() {
            watcher.observe(metrics);
            let got = (
                counters.elections_started.load(Ordering::Relaxed),
                counters.elections_won.load(Ordering::Relaxed),
                counters.leader_changes.load(Ordering::Relaxed),
                counters.membership_changes.load(Ordering::Relaxed),
                counters.log_purges.load(Ordering::Relaxed),
            );
            assert_eq!(got, *want, "after step {n}");
        }
        assert_eq!(counters.term(), 5);
    }
}
