//! Read consistency per connection on a 3-node cluster of real processes:
//! `CONSISTENCY linearizable|lease|stale`, `READONLY` (stale) and
//! `READWRITE` (the node's `read_consistency`, linearizable by default).
//!
//! What the tests hold the server to (docs/raft.md, "Reads and
//! consistency"):
//! - `stale`: a follower serves reads from its own state.
//! - `linearizable` and `lease`: a follower answers
//!   `-MOVED <slot> <leader host:port>`.
//! - `linearizable` on the leader: a read never returns a value older than
//!   a write acknowledged before the read was sent, while writes go on.
//! - The command's replies and errors are the documented ones.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterOptions};
use redraft_server::resp::Frame;

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

fn bulk(text: &str) -> Frame {
    Frame::Bulk(text.to_string().into())
}

#[test]
fn each_level_reads_where_it_says_on_a_follower() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut writer = cluster.raw(leader);
    assert_eq!(writer.command(&[b"SET", b"foo", b"bar"]), ok());
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    let follower = cluster.followers()[0];
    cluster.wait_applied(follower, commit_index);
    // "foo" hashes to slot 12182.
    let moved = Frame::Error(format!("MOVED 12182 {}", cluster.addr(leader)).into());

    let mut raw = cluster.raw(follower);
    let steps: &[(&[&[u8]], Frame)] = &[
        (&[b"CONSISTENCY"], bulk("linearizable")),
        (&[b"GET", b"foo"], moved.clone()),
        (&[b"CONSISTENCY", b"stale"], ok()),
        (&[b"CONSISTENCY"], bulk("stale")),
        (&[b"GET", b"foo"], bulk("bar")),
        (&[b"SET", b"foo", b"other"], moved.clone()),
        (&[b"CONSISTENCY", b"LEASE"], ok()),
        (&[b"CONSISTENCY"], bulk("lease")),
        (&[b"GET", b"foo"], moved.clone()),
        // ASKING answers OK and changes nothing: the level stays.
        (&[b"ASKING"], ok()),
        (&[b"CONSISTENCY"], bulk("lease")),
        (&[b"READONLY"], ok()),
        (&[b"CONSISTENCY"], bulk("stale")),
        (&[b"GET", b"foo"], bulk("bar")),
        (&[b"READWRITE"], ok()),
        (&[b"CONSISTENCY"], bulk("linearizable")),
        (&[b"GET", b"foo"], moved.clone()),
        (&[b"CONSISTENCY", b"Linearizable"], ok()),
        (&[b"GET", b"foo"], moved.clone()),
        (
            &[b"CONSISTENCY", b"eventual"],
            Frame::Error(
                "ERR unknown consistency level 'eventual', expected linearizable, lease or stale"
                    .into(),
            ),
        ),
        (
            &[b"CONSISTENCY", b"stale", b"now"],
            Frame::Error("ERR syntax error".into()),
        ),
        // A refused level leaves the connection as it was.
        (&[b"CONSISTENCY"], bulk("linearizable")),
        // RESET drops the connection's level: back to the node's.
        (&[b"CONSISTENCY", b"stale"], ok()),
        (&[b"RESET"], Frame::Simple("RESET".into())),
        (&[b"CONSISTENCY"], bulk("linearizable")),
        (&[b"GET", b"foo"], moved.clone()),
        (&[b"READONLY"], ok()),
        (&[b"RESET"], Frame::Simple("RESET".into())),
        (&[b"GET", b"foo"], moved.clone()),
    ];
    for (args, expected) in steps {
        let shown: Vec<String> = args
            .iter()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        assert_eq!(
            &raw.command(args),
            expected,
            "{} on follower {follower}",
            shown.join(" ")
        );
    }
    // HELLO names a follower's role as Redis names a replica's, and the
    // leader's as a master's.
    let role = |id: u64| -> Frame {
        let Frame::Array(fields) = cluster.raw(id).command(&[b"HELLO", b"2"]) else {
            panic!("HELLO 2 on node {id} is not an array");
        };
        let at = fields.iter().position(|field| *field == bulk("role"));
        fields[at.expect("a role field") + 1].clone()
    };
    assert_eq!(role(follower), bulk("replica"), "HELLO on a follower");
    assert_eq!(role(leader), bulk("master"), "HELLO on the leader");
    // On the leader every level serves the read.
    let mut on_leader = cluster.raw(leader);
    for level in [&b"linearizable"[..], b"lease", b"stale"] {
        assert_eq!(on_leader.command(&[b"CONSISTENCY", level]), ok());
        assert_eq!(on_leader.command(&[b"GET", b"foo"]), bulk("bar"));
    }
}

/// How long the writer writes while readers check.
const MONOTONIC_RUN: Duration = Duration::from_secs(3);
/// Readers checking at the same time, each on its own connection.
const READERS: usize = 3;

#[test]
fn linearizable_reads_on_the_leader_never_go_back_behind_acknowledged_writes() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = cluster.raw(leader);
    let writer_acked = acked.clone();
    let writer_stop = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut value = 0u64;
        while !writer_stop.load(Ordering::SeqCst) {
            value += 1;
            let text = value.to_string();
            let reply = writer.command(&[b"SET", b"counter", text.as_bytes()]);
            assert_eq!(reply, ok(), "SET counter {value}");
            writer_acked.store(value, Ordering::SeqCst);
        }
        value
    });
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let mut reader = cluster.raw(leader);
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                assert_eq!(reader.command(&[b"CONSISTENCY", b"linearizable"]), ok());
                let mut reads = 0u64;
                let mut last = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let floor = acked.load(Ordering::SeqCst);
                    let read = match reader.command(&[b"GET", b"counter"]) {
                        Frame::Bulk(text) => String::from_utf8_lossy(&text).parse::<u64>().unwrap(),
                        Frame::NullBulk => 0,
                        other => panic!("GET counter: {other:?}"),
                    };
                    assert!(
                        read >= floor,
                        "read {read} after the write of {floor} was acknowledged"
                    );
                    assert!(read >= last, "read {read} after reading {last}");
                    last = read;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < MONOTONIC_RUN {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().expect("writer");
    let reads: u64 = readers
        .into_iter()
        .map(|reader| reader.join().expect("reader"))
        .sum();
    assert!(written > 10, "only {written} writes");
    assert!(reads > 10, "only {reads} reads");
}
