//! Blocked commands in a three-node group: the pops that serve them apply
//! on every node, and a change of leader ends every wait with Redis's
//! `-UNBLOCKED` (a primary that turned replica), popping nothing for it.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::wait::until;
use common::{render, Raw};
use redraft_server::resp::Frame;

fn blocked_clients(conn: &mut Raw) -> u64 {
    let Frame::Bulk(info) = conn.command(&[b"INFO", b"clients"]) else {
        panic!("INFO is a bulk string");
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

fn await_blocked(conn: &mut Raw, want: u64) {
    until(Duration::from_secs(10), "blocked_clients", || {
        let count = blocked_clients(conn);
        if count == want {
            Ok(())
        } else {
            Err(format!("blocked_clients:{count}"))
        }
    });
}

/// `LRANGE key 0 -1` on every running node's own state, once each has
/// applied what the leader committed.
fn lists_everywhere(cluster: &Cluster, key: &[u8]) -> Vec<String> {
    cluster.wait_all_applied();
    cluster
        .running()
        .into_iter()
        .map(|id| {
            let mut conn = cluster.raw(id);
            conn.command(&[b"READONLY"]);
            render(&conn.command(&[b"LRANGE", key, b"0", b"-1"]))
        })
        .collect()
}

#[test]
fn blocked_pops_apply_everywhere_and_a_new_leader_ends_waits() {
    let mut cluster = Cluster::start(3, Default::default());
    let leader = cluster.leader();
    let mut admin = cluster.raw(leader);

    // Served on the leader; every node pops the same element.
    let mut waiter = cluster.raw(leader);
    waiter.send_command(&[b"BLPOP", b"q", b"0"]);
    await_blocked(&mut admin, 1);
    assert_eq!(
        admin.command(&[b"RPUSH", b"q", b"a", b"b"]),
        Frame::Integer(2)
    );
    assert_eq!(render(&waiter.read_frame()), "1) \"q\"\n2) \"a\"");
    await_blocked(&mut admin, 0);
    assert_eq!(lists_everywhere(&cluster, b"q"), vec!["1) \"b\""; 3]);

    // The leader pauses, another is elected; when the old one runs again
    // it applies the new term and ends its client's wait.
    let mut stranded = cluster.raw(leader);
    stranded.send_command(&[b"BRPOPLPUSH", b"w", b"dst", b"0"]);
    await_blocked(&mut admin, 1);
    cluster.pause(leader);
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    let new_leader = cluster.leader_among(&others);
    cluster.resume(leader);
    stranded.set_read_timeout(Duration::from_secs(20));
    assert_eq!(
        stranded.read_frame(),
        Frame::Error(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
                .into()
        )
    );
    assert!(stranded.is_closed(), "the unblocked connection is closed");
    await_blocked(&mut admin, 0);
    // Nothing pops for the ended wait.
    let mut conn = cluster.raw(new_leader);
    assert_eq!(conn.command(&[b"RPUSH", b"w", b"x"]), Frame::Integer(1));
    assert_eq!(lists_everywhere(&cluster, b"w"), vec!["1) \"x\""; 3]);
    assert_eq!(lists_everywhere(&cluster, b"dst"), vec!["(empty array)"; 3]);
}
