//! The health monitor: what this node knows of each peer's reachability.
//!
//! Every exchange on the peer transport reports here: an RPC this node sent
//! that got a reply (even a refusal from the remote `Raft`: the peer is up)
//! or failed, and every request a peer sent to this node. On top of
//! openraft's own traffic (the leader's heartbeats to every member, votes)
//! `raft::probe::probe_members` pings each member this node has not heard from within
//! a probe interval, so followers know about each other too and a dead
//! member is noticed when nothing else talks to it.
//!
//! A peer starts unknown, becomes up at its first contact and down after
//! [`DOWN_AFTER_FAILURES`] consecutive failed attempts; each transition is
//! logged once (`peer up` / `peer down`), never once per failed RPC, and a
//! peer that stays down is logged again (`peer still down`) at most every
//! [`STILL_DOWN_LOG_INTERVAL`]. openraft's own per-RPC lines about the same
//! failures are held back (`logging.rs`): these are the log's account of
//! a peer's trouble.
//!
//! Invariants:
//! - `failures` counts consecutive failed attempts since the last contact;
//!   any contact resets it. A call that was not attempted (the lane was
//!   backing off) is not a failure.
//! - A transition is logged exactly when the state changes; while a peer
//!   is down, at most one more line per [`STILL_DOWN_LOG_INTERVAL`].

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::raft::counters::RaftCounters;

/// Consecutive failed attempts after which a peer is down.
pub const DOWN_AFTER_FAILURES: u64 = 3;
/// How often a peer that stays down is logged again.
pub const STILL_DOWN_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// What a failed attempt changed in the log's account of the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// Nothing logged.
    Nothing,
    /// The peer went down (`peer down`).
    Down,
    /// The peer is still down after an interval (`peer still down`).
    StillDown,
}

/// A peer's state as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerReport {
    /// `None` until the first contact or enough failures to tell.
    pub reachable: Option<bool>,
    /// Milliseconds since the last successful exchange, either way.
    pub last_contact_ms: Option<u64>,
    /// Consecutive failed attempts since the last contact.
    pub failures: u64,
    /// The round trip of this node's AppendEntries to the peer (sending
    /// the entries, the peer's append and fsync, the reply), in µs, as a
    /// moving average of the last few; `None` before the first.
    pub append_rtt_us: Option<u64>,
    /// Bytes of a snapshot this node is sending it that the peer has
    /// taken so far; `None` when no snapshot is being sent.
    pub snapshot_sent_bytes: Option<u64>,
}

impl PeerReport {
    /// How a node reports itself: reachable, in contact now.
    pub fn this_node() -> PeerReport {
        PeerReport {
            reachable: Some(true),
            last_contact_ms: Some(0),
            failures: 0,
            append_rtt_us: None,
            snapshot_sent_bytes: None,
        }
    }
}

#[derive(Debug, Default)]
struct PeerState {
    last_contact: Option<Instant>,
    failures: u64,
    up: Option<bool>,
    /// While down: when that was last logged.
    down_logged_at: Option<Instant>,
    /// Moving average of AppendEntries round trips, in µs.
    append_rtt_us: Option<u64>,
    /// Bytes of the snapshot being sent that the peer has taken.
    snapshot_sent_bytes: Option<u64>,
}

/// Reachability of every peer this node has exchanged RPCs with, keyed by
/// node id. Shared by the transport's client and server sides, the prober
/// and the admin API.
pub struct PeerHealth<NID> {
    peers: Mutex<HashMap<NID, PeerState>>,
    /// This node's id and current term, for the events.
    counters: Arc<RaftCounters>,
}

impl<NID: Clone + Eq + Hash + Display> PeerHealth<NID> {
    pub fn new(counters: Arc<RaftCounters>) -> PeerHealth<NID> {
        PeerHealth {
            peers: Mutex::default(),
            counters,
        }
    }

    /// A successful exchange with `peer`, in either direction.
    pub fn contacted(&self, peer: &NID) {
        let mut peers = self.peers.lock();
        let state = peers.entry(peer.clone()).or_default();
        state.last_contact = Some(Instant::now());
        state.failures = 0;
        state.down_logged_at = None;
        if state.up != Some(true) {
            state.up = Some(true);
            tracing::info!(
                node_id = self.counters.node_id,
                term = self.counters.term(),
                peer = %peer,
                "peer up"
            );
        }
    }

    /// `peer` answered an AppendEntries after `rtt`. The average weighs
    /// the newest round trip 1/8, as TCP's smoothed RTT does.
    pub fn append_answered(&self, peer: &NID, rtt: Duration) {
        let rtt_us = rtt.as_micros().min(u128::from(u64::MAX)) as u64;
        let mut peers = self.peers.lock();
        let state = peers.entry(peer.clone()).or_default();
        state.append_rtt_us = Some(match state.append_rtt_us {
            None => rtt_us,
            Some(average) => (average * 7 + rtt_us) / 8,
        });
    }

    /// `peer` took a snapshot chunk ending at `sent_bytes`; `done`: the
    /// last one, the snapshot is installed.
    pub fn snapshot_sent(&self, peer: &NID, sent_bytes: u64, done: bool) {
        let mut peers = self.peers.lock();
        let state = peers.entry(peer.clone()).or_default();
        state.snapshot_sent_bytes = (!done).then_some(sent_bytes);
    }

    /// A failed attempt to reach `peer`.
    pub fn failed(&self, peer: &NID, error: &dyn Display) {
        self.failed_at(peer, error, Instant::now());
    }

    /// A failed attempt to reach `peer`, at `now`; returns what was logged.
    pub fn failed_at(&self, peer: &NID, error: &dyn Display, now: Instant) -> Logged {
        let mut peers = self.peers.lock();
        let state = peers.entry(peer.clone()).or_default();
        state.failures += 1;
        let last_contact_ms = state
            .last_contact
            .map(|at| now.saturating_duration_since(at).as_millis() as u64);
        if state.failures >= DOWN_AFTER_FAILURES && state.up != Some(false) {
            state.up = Some(false);
            state.down_logged_at = Some(now);
            tracing::warn!(
                node_id = self.counters.node_id,
                term = self.counters.term(),
                peer = %peer,
                failures = state.failures,
                last_contact_ms = %crate::log_field::Opt(last_contact_ms),
                error = %error,
                "peer down"
            );
            return Logged::Down;
        }
        let due = state
            .down_logged_at
            .is_some_and(|at| now.saturating_duration_since(at) >= STILL_DOWN_LOG_INTERVAL);
        if state.up == Some(false) && due {
            state.down_logged_at = Some(now);
            tracing::warn!(
                node_id = self.counters.node_id,
                term = self.counters.term(),
                peer = %peer,
                failures = state.failures,
                last_contact_ms = %crate::log_field::Opt(last_contact_ms),
                error = %error,
                "peer still down"
            );
            return Logged::StillDown;
        }
        Logged::Nothing
    }

    /// What is known of `peer`.
    pub fn report(&self, peer: &NID) -> PeerReport {
        let peers = self.peers.lock();
        match peers.get(peer) {
            Some(state) => PeerReport {
                reachable: state.up,
                last_contact_ms: state.last_contact.map(|at| at.elapsed().as_millis() as u64),
                failures: state.failures,
                append_rtt_us: state.append_rtt_us,
                snapshot_sent_bytes: state.snapshot_sent_bytes,
            },
            None => PeerReport {
                reachable: None,
                last_contact_ms: None,
                failures: 0,
                append_rtt_us: None,
                snapshot_sent_bytes: None,
            },
        }
    }

    /// Forgets every peer `keep` rejects (members that left).
    pub fn retain(&self, mut keep: impl FnMut(&NID) -> bool) {
        self.peers.lock().retain(|id, _| keep(id));
    }

    /// Whether `peer` was heard from within `window`.
    pub fn heard_within(&self, peer: &NID, window: Duration) -> bool {
        self.peers
            .lock()
            .get(peer)
            .and_then(|state| state.last_contact)
            .is_some_and(|at| at.elapsed() < window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_goes_up_at_first_contact_and_down_after_consecutive_failures() {
        let health = PeerHealth::<u64>::new(Arc::new(RaftCounters::new(1)));
        assert_eq!(health.report(&2).reachable, None);
        health.failed(&2, &"refused");
        assert_eq!(
            health.report(&2).reachable,
            None,
            "one failure tells nothing"
        );
        health.contacted(&2);
        let report = health.report(&2);
        assert_eq!(report.reachable, Some(true));
        assert!(report.last_contact_ms.is_some());
        for n in 1..DOWN_AFTER_FAILURES {
            health.failed(&2, &"refused");
            assert_eq!(
                health.report(&2).reachable,
                Some(true),
                "after {n} failures"
            );
        }
        health.failed(&2, &"refused");
        let report = health.report(&2);
        assert_eq!(report.reachable, Some(false));
        assert_eq!(report.failures, DOWN_AFTER_FAILURES);
        health.contacted(&2);
        assert_eq!(health.report(&2).failures, 0);
        assert!(health.heard_within(&2, Duration::from_secs(5)));
        health.retain(|&id| id != 2);
        assert_eq!(health.report(&2).reachable, None);
    }

    #[test]
    fn a_peer_that_stays_down_is_logged_again_only_every_interval() {
        let health = PeerHealth::<u64>::new(Arc::new(RaftCounters::new(1)));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        health.contacted(&2);
        let mut logged = Vec::new();
        // A failed attempt every 100 ms for 65 s.
        for step in 0..650 {
            let outcome = health.failed_at(&2, &"refused", at(step * 100));
            if outcome != Logged::Nothing {
                logged.push((step * 100, outcome));
            }
        }
        assert_eq!(
            logged,
            [
                (200, Logged::Down),
                (30_200, Logged::StillDown),
                (60_200, Logged::StillDown)
            ]
        );
        // Back up, then down again: a new transition, logged at once.
        health.contacted(&2);
        let later = at(70_000);
        let outcomes: Vec<Logged> = (0..DOWN_AFTER_FAILURES)
            .map(|n| health.failed_at(&2, &"refused", later + Duration::from_millis(n)))
            .collect();
        assert_eq!(outcomes, [Logged::Nothing, Logged::Nothing, Logged::Down]);
    }
}
