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
//! Elections that keep failing (no quorum answers: most of the group is
//! down or cut off) start a new term every election timeout. The first
//! election of such a streak is logged (`election started`, INFO), the
//! second says the streak is on (`elections failing`, WARN, with the
//! elections started and the time since a leader was last known), and
//! later ones are counted and logged again at most every
//! [`FAILING_LOG_INTERVAL`]; the `leader changed` line ends the streak.
//!
//! Invariants:
//! - Nothing is logged per entry: only a change of term, state, leader,
//!   membership or purge point makes an event.
//! - Each event is logged once: the watcher remembers what it last saw.
//! - While no leader is known, elections add at most one line per
//!   [`FAILING_LOG_INTERVAL`] after the first two; every one is counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{LogId, RaftMetrics, ServerState};

use crate::log_field::Opt;
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

/// How often elections that keep failing are logged again.
pub const FAILING_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// What to log for an election this node started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionLine {
    /// The first of a streak: `election started`.
    Started,
    /// The second without a leader in between: `elections failing`.
    Failing,
    /// A later one, a while after the last line: `elections still failing`.
    StillFailing,
    /// Counted, not logged.
    Quiet,
}

/// Elections started since a leader was last known.
#[derive(Debug, Default)]
pub struct ElectionStreak {
    /// Elections started in the streak.
    elections: u64,
    /// When the streak's first election started.
    since: Option<Instant>,
    /// When the streak was last logged.
    logged_at: Option<Instant>,
}

impl ElectionStreak {
    /// This node started an election at `now`.
    pub fn started(&mut self, now: Instant) -> ElectionLine {
        self.elections += 1;
        self.since.get_or_insert(now);
        let line = match (self.elections, self.logged_at) {
            (1, _) => ElectionLine::Started,
            (2, _) => ElectionLine::Failing,
            (_, Some(at)) if now.saturating_duration_since(at) >= FAILING_LOG_INTERVAL => {
                ElectionLine::StillFailing
            }
            _ => ElectionLine::Quiet,
        };
        if line != ElectionLine::Quiet {
            self.logged_at = Some(now);
        }
        line
    }

    /// A leader is known: the streak is over.
    pub fn leader_known(&mut self) {
        *self = ElectionStreak::default();
    }

    /// Elections in the streak and how long it has lasted at `now`.
    fn figures(&self, now: Instant) -> (u64, u64) {
        let since_ms = self.since.map_or(0, |since| {
            now.saturating_duration_since(since).as_millis() as u64
        });
        (self.elections, since_ms)
    }
}

/// Turns successive metrics reports into events.
pub struct EventWatcher {
    counters: Arc<RaftCounters>,
    /// `None` before the first report.
    last: Option<Seen>,
    /// Elections started while no leader is known.
    streak: ElectionStreak,
}

impl EventWatcher {
    pub fn new(counters: Arc<RaftCounters>) -> EventWatcher {
        EventWatcher {
            counters,
            last: None,
            streak: ElectionStreak::default(),
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
            let now = Instant::now();
            let line = self.streak.started(now);
            let (elections, no_leader_ms) = self.streak.figures(now);
            match line {
                ElectionLine::Started => tracing::info!(node_id, term, "election started"),
                ElectionLine::Failing => tracing::warn!(
                    node_id,
                    term,
                    elections,
                    no_leader_ms,
                    "elections failing: no leader elected"
                ),
                ElectionLine::StillFailing => tracing::warn!(
                    node_id,
                    term,
                    elections,
                    no_leader_ms,
                    "elections still failing: no leader elected"
                ),
                ElectionLine::Quiet => {}
            }
        }
        if seen.leader.is_some() {
            self.streak.leader_known();
        }
        if seen.state == ServerState::Leader
            && (last.state != ServerState::Leader || seen.term > last.term)
        {
            RaftCounters::bump(&self.counters.elections_won);
            tracing::info!(node_id, term, "election won");
        }
        if seen.leader != last.leader {
            RaftCounters::bump(&self.counters.leader_changes);
            tracing::info!(node_id, term, leader = %Opt(seen.leader), previous = %Opt(last.leader), "leader changed");
        }
        if seen.membership != last.membership {
            RaftCounters::bump(&self.counters.membership_changes);
            let membership = metrics.membership_config.membership();
            let voters: Vec<NodeId> = membership.voter_ids().collect();
            let learners: Vec<NodeId> = membership.learner_ids().collect();
            tracing::info!(
                node_id,
                term,
                log_index = %Opt(seen.membership.map(|id| id.index)),
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
                up_to = %Opt(seen.purged.map(|id| id.index)),
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

    /// Elections every 600 ms for 70 s without a leader: logged at the
    /// first, the second, then every 30 s; a leader ends the streak.
    #[test]
    fn failing_elections_are_logged_at_most_every_interval() {
        let start = Instant::now();
        let mut streak = ElectionStreak::default();
        let mut logged = Vec::new();
        for n in 0..117u64 {
            let at_ms = n * 600;
            let line = streak.started(start + Duration::from_millis(at_ms));
            if line != ElectionLine::Quiet {
                logged.push((at_ms, line));
            }
        }
        assert_eq!(
            logged,
            [
                (0, ElectionLine::Started),
                (600, ElectionLine::Failing),
                (30_600, ElectionLine::StillFailing),
                (60_600, ElectionLine::StillFailing),
            ]
        );
        assert_eq!(
            streak.figures(start + Duration::from_secs(70)),
            (117, 70_000)
        );
        streak.leader_known();
        let later = start + Duration::from_secs(80);
        assert_eq!(streak.started(later), ElectionLine::Started);
    }
}
