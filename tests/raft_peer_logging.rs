//! What a leader logs while one follower of three is down: the follower's
//! going down, once, and nothing per request. With one follower killed,
//! 2,000 linearizable GETs on the leader are all answered (the read check
//! needs a quorum, not every follower) and add fewer than
//! [`LINES_MAX`] lines to the leader's log, where openraft alone would log
//! an ERROR per read (`timeout while confirming leadership for read
//! request`) and several lines per replication retry.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterOptions};
use common::wait::until;

/// GETs on the leader while the follower is down.
const READS: usize = 2000;
/// Lines the leader may log meanwhile: far below one per read, room for
/// the odd line that is not about the dead peer.
const LINES_MAX: usize = 20;
/// How long the leader may take to call the follower down: a few failed
/// heartbeats or probes.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_follower_down_is_logged_once_not_once_per_read() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let follower = cluster.followers()[0];
    let mut con = cluster.connect(leader);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    cluster.kill(follower);
    let down = format!("peer down node_id={leader}");
    let peer = format!("peer={follower}");
    until(
        NOTICE_TIMEOUT,
        "the leader to log the follower down",
        || {
            let log = cluster.log(leader);
            if log
                .lines()
                .any(|line| line.contains(&down) && line.contains(&peer))
            {
                Ok(())
            } else {
                Err("no 'peer down' line yet".into())
            }
        },
    );
    let before = cluster.log(leader).lines().count();
    let start = Instant::now();
    for n in 0..READS {
        let value: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(value, "v", "read {n}");
    }
    let elapsed = start.elapsed();
    let log = cluster.log(leader);
    let added: Vec<&str> = log.lines().skip(before).collect();
    eprintln!(
        "{READS} GETs in {elapsed:?}; the leader logged {} lines meanwhile",
        added.len()
    );
    assert!(
        added.len() < LINES_MAX,
        "{} lines logged during {READS} reads, the first:\n{}",
        added.len(),
        added[..added.len().min(10)].join("\n")
    );
    assert_eq!(
        log.lines()
            .filter(|line| line.contains(&down) && line.contains(&peer))
            .count(),
        1,
        "the follower's going down is logged once"
    );
}
