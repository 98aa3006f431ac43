//! Transactions and blocking pops in a 3-node cluster of real processes.
//!
//! What the tests hold the server to:
//! - An EXEC applies as one unit on every node: readers on the followers
//!   (after `READONLY`, so from each follower's own state) never see half
//!   of one, and every node ends with the same counters.
//! - A WATCH abort is decided the same way on every node: the counters on
//!   every node equal the number of EXECs the leader reported as run.
//! - Random pops in a transaction (SPOP) pop the same members on every
//!   node (their seed travels in the op), and its stores and refusals
//!   apply the same everywhere.
//! - A blocking pop sent to a follower is redirected like a write; sent to
//!   the leader, it blocks until a push from another client, replicated
//!   through Raft, wakes it, and the element is popped once on every node.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions};
use common::{render, Raw};
use redraft_server::resp::Frame;

fn int(frame: &Frame) -> i64 {
    match frame {
        Frame::Bulk(bytes) => std::str::from_utf8(bytes).unwrap().parse().unwrap(),
        Frame::Null | Frame::NullBulk => 0,
        other => panic!("expected a number, got {}", render(other)),
    }
}

/// `MGET a b` on `conn`, as numbers.
fn read_pair(conn: &mut Raw) -> (i64, i64) {
    match conn.command(&[b"MGET", b"a", b"b"]) {
        Frame::Array(values) => (int(&values[0]), int(&values[1])),
        other => panic!("MGET replied {}", render(&other)),
    }
}

fn readonly(cluster: &Cluster, id: u64) -> Raw {
    let mut conn = cluster.raw(id);
    assert_eq!(conn.command(&[b"READONLY"]), Frame::Simple("OK".into()));
    conn
}

#[test]
fn exec_applies_atomically_on_every_node() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = cluster
        .followers()
        .into_iter()
        .map(|id| {
            let mut conn = readonly(&cluster, id);
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let (a, b) = read_pair(&mut conn);
                    assert_eq!(a, b, "node {id} showed half a transaction");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    // Two writers on the leader: each watches `a`, so a transaction
    // aborts when the other one's lands in between.
    let mut writers: Vec<Raw> = (0..2).map(|_| cluster.raw(leader)).collect();
    let mut ran = 0i64;
    for _ in 0..150 {
        for conn in writers.iter_mut() {
            conn.send(&common::encode_pipeline(&[
                &[b"WATCH", b"a"],
                &[b"GET", b"a"],
                &[b"MULTI"],
                &[b"INCR", b"a"],
                &[b"INCR", b"b"],
                &[b"EXEC"],
            ]));
        }
        for conn in writers.iter_mut() {
            for _ in 0..5 {
                conn.read_frame();
            }
            match conn.read_frame() {
                Frame::Array(replies) => {
                    assert_eq!(replies.len(), 2);
                    ran += 1;
                }
                Frame::NullArray => {}
                other => panic!("EXEC replied {}", render(&other)),
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert!(ran > 0, "no transaction ran");
    cluster.wait_all_applied();
    for id in cluster.ids() {
        let pair = read_pair(&mut readonly(&cluster, id));
        assert_eq!(pair, (ran, ran), "node {id}: counters after {ran} EXECs");
    }
}

#[test]
fn a_blocked_client_is_woken_by_a_push_through_raft() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let follower = cluster.followers()[0];
    // On a follower, a blocking pop is redirected like a write.
    let reply = cluster.raw(follower).command(&[b"BLPOP", b"jobs", b"0"]);
    let Frame::Error(error) = reply else {
        panic!("BLPOP on a follower replied {}", render(&reply));
    };
    assert!(
        error.starts_with(b"MOVED "),
        "BLPOP on a follower: {error:?}"
    );
    // On the leader it blocks until another client pushes.
    let mut blocked = cluster.raw(leader);
    blocked.send_command(&[b"BLPOP", b"jobs", b"0"]);
    let mut admin = cluster.raw(leader);
    common::wait::until(
        Duration::from_secs(10),
        "the client to block",
        || match admin.command(&[b"INFO", b"clients"]) {
            Frame::Bulk(info) if info.windows(17).any(|w| w == b"blocked_clients:1") => Ok(()),
            other => Err(render(&other)),
        },
    );
    let mut pusher = cluster.raw(leader);
    assert_eq!(
        pusher.command(&[b"RPUSH", b"jobs", b"j1", b"j2"]),
        Frame::Integer(2)
    );
    blocked.set_read_timeout(Duration::from_secs(10));
    assert_eq!(
        blocked.read_frame(),
        Frame::Array(vec![Frame::Bulk("jobs".into()), Frame::Bulk("j1".into())])
    );
    // WAIT counts the followers holding everything applied so far; on a
    // follower it is redirected.
    assert_eq!(
        pusher.command(&[b"WAIT", b"2", b"10000"]),
        Frame::Integer(2)
    );
    let reply = cluster.raw(follower).command(&[b"WAIT", b"1", b"0"]);
    assert!(
        matches!(&reply, Frame::Error(error) if error.starts_with(b"MOVED ")),
        "WAIT on a follower replied {}",
        render(&reply)
    );
    cluster.wait_all_applied();
    for id in cluster.ids() {
        let remaining = readonly(&cluster, id).command(&[b"LRANGE", b"jobs", b"0", b"-1"]);
        assert_eq!(
            remaining,
            Frame::Array(vec![Frame::Bulk("j2".into())]),
            "node {id}"
        );
    }
}

/// A pop that finds its key missing changes nothing, so the leader answers
/// it as a linearizable read, without a Raft entry (as Redis writes no AOF
/// record for it); a pop that finds something is replicated.
#[test]
fn pops_of_missing_keys_add_no_entry() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut conn = cluster.raw(leader);
    assert_eq!(
        conn.command(&[b"SET", b"marker", b"1"]),
        Frame::Simple("OK".into())
    );
    let last_before = cluster.raft_number(leader, "raft_last_log_index");
    for _ in 0..20 {
        assert_eq!(conn.command(&[b"LPOP", b"none"]), Frame::NullBulk);
        assert_eq!(conn.command(&[b"RPOP", b"none", b"2"]), Frame::NullArray);
        assert_eq!(conn.command(&[b"ZPOPMIN", b"none"]), Frame::Array(vec![]));
        assert_eq!(conn.command(&[b"SPOP", b"none"]), Frame::NullBulk);
    }
    // Pipelined behind a push of the same connection, a pop sees it.
    conn.send(&common::encode_pipeline(&[
        &[b"RPUSH", b"l", b"x"],
        &[b"LPOP", b"l"],
    ]));
    assert_eq!(conn.read_frame(), Frame::Integer(1));
    assert_eq!(conn.read_frame(), Frame::Bulk("x".into()));
    // The push and the pop that found something took entries; the empty
    // pops did not (a few blank or membership entries aside, none are
    // expected while the leader stays).
    let last_after = cluster.raft_number(leader, "raft_last_log_index");
    assert!(
        last_after - last_before <= 2,
        "80 empty pops and 2 writes took {} entries",
        last_after - last_before
    );
    // A wrong type is still an error.
    assert!(matches!(
        conn.command(&[b"LPOP", b"marker"]),
        Frame::Error(_)
    ));
}

/// The members of a set or the elements of an array reply, rendered and
/// sorted (a set's order is its hash table's).
fn sorted_members(frame: &Frame) -> Vec<String> {
    let (Frame::Array(items) | Frame::Set(items)) = frame else {
        panic!("not a collection: {}", render(frame));
    };
    let mut members: Vec<String> = items.iter().map(render).collect();
    members.sort();
    members
}

/// Random pops inside a transaction carry the seed the leader drew at
/// EXEC, so every node pops the same members; the stores of a
/// transaction (ZUNIONSTORE, SORT ... STORE) and its refusals apply the
/// same on every node.
#[test]
fn random_pops_and_stores_in_a_transaction_leave_every_node_the_same() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut conn = cluster.raw(leader);
    let members: Vec<Vec<u8>> = (0..200).map(|i| format!("m{i}").into_bytes()).collect();
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"s"];
    sadd.extend(members.iter().map(|member| &member[..]));
    assert_eq!(conn.command(&sadd), Frame::Integer(200));
    let mut popped = Vec::new();
    for round in 0..20 {
        let score = round.to_string();
        conn.send(&common::encode_pipeline(&[
            &[b"MULTI"],
            &[b"SPOP", b"s", b"3"],
            &[b"SPOP", b"s"],
            &[b"ZADD", b"z", score.as_bytes(), score.as_bytes()],
            &[
                b"ZUNIONSTORE",
                b"u",
                b"2",
                b"z",
                b"s",
                b"WEIGHTS",
                b"2",
                b"1",
            ],
            &[
                b"ZUNIONSTORE",
                b"u",
                b"2",
                b"z",
                b"str",
                b"WEIGHTS",
                b"x",
                b"1",
            ],
            &[
                b"SORT", b"s", b"ALPHA", b"LIMIT", b"0", b"5", b"STORE", b"l",
            ],
            &[b"EXEC"],
        ]));
        assert_eq!(conn.read_frame(), Frame::Simple("OK".into()));
        for _ in 0..6 {
            assert_eq!(conn.read_frame(), Frame::Simple("QUEUED".into()));
        }
        let Frame::Array(replies) = conn.read_frame() else {
            panic!("EXEC did not run");
        };
        assert_eq!(replies.len(), 6);
        popped.extend(sorted_members(&replies[0]));
        popped.push(render(&replies[1]));
        assert_eq!(
            replies[4],
            Frame::Error("ERR weight value is not a float".into())
        );
    }
    assert_eq!(popped.len(), 80);
    cluster.wait_all_applied();
    let state = |conn: &mut Raw| {
        (
            sorted_members(&conn.command(&[b"SMEMBERS", b"s"])),
            render(&conn.command(&[b"ZRANGE", b"u", b"0", b"-1", b"WITHSCORES"])),
            render(&conn.command(&[b"LRANGE", b"l", b"0", b"-1"])),
        )
    };
    let on_leader = state(&mut conn);
    assert_eq!(on_leader.0.len(), 120);
    assert!(popped.iter().all(|member| !on_leader.0.contains(member)));
    for id in cluster.followers() {
        assert_eq!(state(&mut readonly(&cluster, id)), on_leader, "node {id}");
    }
}
