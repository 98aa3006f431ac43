//! The prober: pings each member this node has not heard from within a
//! probe interval, so followers know about each other too and a dead
//! member is noticed when nothing else talks to it (`raft::health` holds
//! what the pings find).

use std::sync::Arc;
use std::time::Duration;

use openraft::Raft;

use crate::raft::health::PeerHealth;
use crate::raft::network::Network;
use crate::raft::types::{NodeId, PeerNode, TypeConfig};

/// Pings, every `interval`, each member not heard from within it; forgets
/// peers that left the membership. Runs for the life of the node.
pub async fn probe_members(
    raft: Raft<TypeConfig>,
    network: Network<TypeConfig>,
    health: Arc<PeerHealth<NodeId>>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (me, members): (NodeId, Vec<(NodeId, PeerNode)>) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let nodes = metrics.membership_config.membership().nodes();
            (
                metrics.id,
                nodes.map(|(&id, node)| (id, node.clone())).collect(),
            )
        };
        // A node not yet added knows no members; the leader adding it
        // talks to it all the same, so forget nobody then.
        if !members.is_empty() {
            health.retain(|id| members.iter().any(|(member, _)| member == id));
        }
        let mut probes = tokio::task::JoinSet::new();
        for (id, node) in members {
            if id == me || health.heard_within(&id, interval) {
                continue;
            }
            let network = network.clone();
            // The outcome is recorded by the transport itself.
            probes.spawn(async move { network.ping(id, &node, interval).await });
        }
        while probes.join_next().await.is_some() {}
    }
}
