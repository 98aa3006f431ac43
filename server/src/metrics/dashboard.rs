//! The admin port's human page (`GET /`): one static HTML file with a
//! small script (no build step, no external resources) that polls
//! `GET /dashboard.json` every second and draws this node's role, the
//! members (role, reachability, lag) and each command's recent latency
//! percentiles, busiest command first, every latency in microseconds.
//!
//! "Recent" is the last complete window of the command histograms
//! ([`super::commands::WINDOW`], 2 s), so the page shows what latency is
//! now, not since start-up; the totals since start-up come alongside.

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::shared::Shared;

/// The page itself.
pub const PAGE: &str = include_str!("dashboard.html");

/// Percentiles of a latency histogram, in microseconds.
#[derive(Serialize, Default, Debug, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Percentiles {
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            count: histogram.len(),
            p50_us: us(histogram.value_at_quantile(0.5)),
            p90_us: us(histogram.value_at_quantile(0.9)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
        }
    }
}

#[derive(Serialize)]
pub struct CommandReport {
    pub name: &'static str,
    pub calls: u64,
    pub failed: u64,
    pub rejected: u64,
    /// The last complete window; `None` if the command did not run in it.
    pub recent: Option<Percentiles>,
    /// Since start-up (or the last `CONFIG RESETSTAT`).
    pub total: Percentiles,
}

#[derive(Serialize)]
pub struct MemberReport {
    pub id: u64,
    pub host: String,
    pub port: u16,
    pub raft_port: u16,
    pub voter: bool,
    /// `leader`, `follower` (a voter that does not lead) or `learner`.
    pub role: &'static str,
    /// Whether this node reaches it (`None` before any exchange); this
    /// node itself is always reachable.
    pub reachable: Option<bool>,
    /// Milliseconds since this node last exchanged an RPC with it.
    pub last_contact_ms: Option<u64>,
    /// On the leader: the last log index the member is known to hold,
    /// and how many entries it is behind.
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
}

#[derive(Serialize)]
pub struct Report {
    pub node_id: u64,
    pub state: &'static str,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub ops_per_sec: u64,
    pub connected_clients: usize,
    pub used_memory_bytes: u64,
    pub window_ms: u64,
    pub members: Vec<MemberReport>,
    pub commands: Vec<CommandReport>,
}

/// What `/dashboard.json` answers.
pub fn report(shared: &Shared) -> Report {
    let view = shared.raft.view();
    let commands = shared.command_stats.read(|totals| {
        let mut commands: Vec<CommandReport> = totals
            .commands
            .iter()
            .map(|(index, figures)| CommandReport {
                name: totals.name(*index),
                calls: figures.calls,
                failed: figures.failed,
                rejected: figures.rejected,
                recent: totals.recent.get(index).map(Percentiles::of),
                total: Percentiles::of(&figures.latency_ns),
            })
            .collect();
        // Busiest first: by calls in the last window, then since start-up.
        commands.sort_unstable_by_key(|command| {
            (
                std::cmp::Reverse(command.recent.as_ref().map_or(0, |recent| recent.count)),
                std::cmp::Reverse(command.calls),
                command.name,
            )
        });
        commands
    });
    Report {
        node_id: view.node_id,
        state: view.state,
        term: view.term,
        leader_id: view.leader,
        commit_index: shared.raft.committed_index(),
        applied_index: view.applied_index,
        last_log_index: view.last_log_index,
        ops_per_sec: shared.ops_per_sec.load(Ordering::Relaxed),
        connected_clients: shared.clients.count(),
        used_memory_bytes: shared.engine.stats().used_memory_bytes,
        window_ms: super::commands::WINDOW.as_millis() as u64,
        members: view
            .members
            .iter()
            .map(|member| {
                let health = if member.id == view.node_id {
                    crate::raft::health::PeerReport::this_node()
                } else {
                    shared.raft.health.report(&member.id)
                };
                let role = if view.leader == Some(member.id) {
                    "leader"
                } else if member.voter {
                    "follower"
                } else {
                    "learner"
                };
                MemberReport {
                    id: member.id,
                    host: member.node.host.clone(),
                    port: member.node.port,
                    raft_port: member.node.raft_port,
                    voter: member.voter,
                    role,
                    reachable: health.reachable,
                    last_contact_ms: health.last_contact_ms,
                    matched_index: member.matched_index,
                    lag: member
                        .matched_index
                        .map(|matched| view.last_log_index.saturating_sub(matched)),
                }
            })
            .collect(),
        commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_microseconds() {
        let mut histogram = super::super::commands::new_histogram();
        for ns in [1_000, 2_000, 3_000, 4_000] {
            histogram.record(ns).unwrap();
        }
        let percentiles = Percentiles::of(&histogram);
        assert_eq!(percentiles.count, 4);
        // Two significant figures: within 1% above the value.
        assert!(
            (2.0..=2.02).contains(&percentiles.p50_us),
            "{percentiles:?}"
        );
        assert!(
            (4.0..=4.04).contains(&percentiles.max_us),
            "{percentiles:?}"
        );
        assert_eq!(
            Percentiles::of(&super::super::commands::new_histogram()).count,
            0
        );
    }
}
