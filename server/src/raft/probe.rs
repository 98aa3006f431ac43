//! The prober: pings each member this node has not heard from within a
//! probe interval, so followers know about each other too and a dead
//! member is noticed when nothing else talks to it (`raft::health` holds
//! what the pings find).
//!
//! A ping's answer also says whether the pinged node counts this one as a
//! member. A node removed while it was down, or before the final
//! configuration reached it, still believes in its old membership and
//! would campaign forever, each election a higher term, as nobody answers
//! it. When a peer whose newest membership is at least as new as this
//! node's own says it is not a member, this node stops campaigning
//! (openraft's `elect(false)`), stops pinging and reports itself removed
//! (`/health`, `INFO raft`); it campaigns again once a membership newer
//! than the one that removed it includes it (it was added back).

use std::sync::Arc;
use std::time::Duration;

use openraft::Raft;

use crate::raft::frame::Standing;
use crate::raft::network::Network;
use crate::raft::status::RaftStatus;
use crate::raft::types::{NodeId, PeerNode, TypeConfig};

/// Pings, every `interval`, each member not heard from within it; forgets
/// peers that left the membership. Runs for the life of the node.
pub async fn probe_members(
    raft: Raft<TypeConfig>,
    network: Network<TypeConfig>,
    status: Arc<RaftStatus>,
    interval: Duration,
) {
    let health = status.health.clone();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (me, leaderless, member, membership_index, members) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let config = &metrics.membership_config;
            let nodes = config.membership().nodes();
            let members: Vec<(NodeId, PeerNode)> =
                nodes.map(|(&id, node)| (id, node.clone())).collect();
            (
                metrics.id,
                metrics.current_leader.is_none(),
                config.membership().get_node(&metrics.id).is_some(),
                config.log_id().as_ref().map_or(0, |id| id.index),
                members,
            )
        };
        let removed_at = status.removed_at();
        if removed_at != 0 && member && membership_index > removed_at {
            tracing::info!(
                node_id = me,
                membership_index,
                "added back to the group; campaigning again"
            );
            status.set_removed_at(0);
            raft.runtime_config().elect(true);
        }
        // Removed, it has nobody to ask: being added back reaches it as
        // the leader's entries, and its pings would only be noise in the
        // members' logs.
        if status.removed() {
            continue;
        }
        // A node not yet added knows no members; the leader adding it
        // talks to it all the same, so forget nobody then.
        if !members.is_empty() {
            health.retain(|id| members.iter().any(|(member, _)| member == id));
        }
        let mut probes = tokio::task::JoinSet::new();
        for (id, node) in members {
            // Without a leader, every member is asked: the answers to a
            // campaign's vote requests count as contact, but only a ping
            // says whether this node is still a member.
            if id == me || (!leaderless && health.heard_within(&id, interval)) {
                continue;
            }
            let network = network.clone();
            // Reachability is recorded by the transport itself.
            probes.spawn(async move { (id, network.ping(id, &node, interval).await) });
        }
        while let Some(probe) = probes.join_next().await {
            let Ok((peer, Ok(standing))) = probe else {
                continue;
            };
            if removal(member, membership_index, standing) && !status.removed() {
                tracing::warn!(
                    node_id = me,
                    peer,
                    membership_index = standing.membership_index,
                    "removed from the group (a peer's membership leaves this node out); \
                     no longer campaigning"
                );
                status.set_removed_at(standing.membership_index.max(1));
                raft.runtime_config().elect(false);
            }
        }
    }
}

/// Whether a peer's answer means this node was removed: the peer's
/// membership leaves it out and is at least as new as the one this node
/// has (`membership_index`), or this node's own leaves it out too.
fn removal(member: bool, membership_index: u64, standing: Standing) -> bool {
    !standing.member && (standing.membership_index >= membership_index || !member)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_membership_at_least_as_new_as_ours_removes_us() {
        let answer = |member, membership_index| Standing {
            member,
            membership_index,
        };
        // (we are a member, our membership's index, the peer's answer, removed?)
        let cases = [
            (true, 10, answer(false, 12), true),
            (true, 10, answer(false, 10), true),
            // The peer lags: it has not seen the entry that added us.
            (true, 10, answer(false, 8), false),
            (true, 10, answer(true, 12), false),
            // Our own membership already leaves us out.
            (false, 10, answer(false, 8), true),
        ];
        for (member, index, standing, want) in cases {
            assert_eq!(
                removal(member, index, standing),
                want,
                "{member} {index} {standing:?}"
            );
        }
    }
}
