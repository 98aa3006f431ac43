//! MULTI/EXEC/WATCH across connections, against a real redis-server, and
//! the isolation of a transaction from concurrent readers.
//!
//! The script runs on two connections of each server, in RESP2 and RESP3:
//! one watches and executes, the other changes (or leaves alone) the
//! watched keys in between. Every reply must be the same as Redis's.
//! One-connection cases are in `tests/scenarios/transactions.txt`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{render, Raw};
use redraft_server::resp::Frame;

/// (connection, command): connection 0 runs transactions, 1 interferes.
const SCRIPT: &[(usize, &[&str])] = &[
    // A watched key changed by another client aborts EXEC.
    (0, &["SET", "x", "30"]),
    (0, &["WATCH", "x"]),
    (1, &["SET", "x", "40"]),
    (0, &["MULTI"]),
    (0, &["PING"]),
    (0, &["EXEC"]),
    // Watches are gone after an aborted EXEC.
    (0, &["MULTI"]),
    (0, &["GET", "x"]),
    (0, &["EXEC"]),
    // Another key changing does not.
    (0, &["WATCH", "x", "y"]),
    (1, &["SET", "z", "1"]),
    (0, &["MULTI"]),
    (0, &["INCR", "x"]),
    (0, &["EXEC"]),
    // One of several watched keys.
    (0, &["WATCH", "x", "y", "z"]),
    (1, &["DEL", "z"]),
    (0, &["MULTI"]),
    (0, &["INCR", "x"]),
    (0, &["EXEC"]),
    (0, &["GET", "x"]),
    // A missing key that another client creates.
    (0, &["WATCH", "new"]),
    (1, &["LPUSH", "new", "a"]),
    (0, &["MULTI"]),
    (0, &["LLEN", "new"]),
    (0, &["EXEC"]),
    // A watch in another database.
    (0, &["SELECT", "1"]),
    (0, &["WATCH", "x"]),
    (1, &["SET", "x", "changed in db 0"]),
    (0, &["MULTI"]),
    (0, &["SET", "x", "db1"]),
    (0, &["EXEC"]),
    (0, &["WATCH", "x"]),
    (1, &["SELECT", "1"]),
    (1, &["APPEND", "x", "!"]),
    (1, &["SELECT", "0"]),
    (0, &["MULTI"]),
    (0, &["GET", "x"]),
    (0, &["EXEC"]),
    (0, &["SELECT", "0"]),
    // A collection changed in place.
    (0, &["RPUSH", "list", "a", "b"]),
    (0, &["HSET", "hash", "f", "1"]),
    (0, &["WATCH", "list", "hash"]),
    (1, &["HINCRBY", "hash", "f", "1"]),
    (0, &["MULTI"]),
    (0, &["LPOP", "list"]),
    (0, &["EXEC"]),
    (0, &["WATCH", "list"]),
    (1, &["LSET", "list", "0", "A"]),
    (0, &["MULTI"]),
    (0, &["LPOP", "list"]),
    (0, &["EXEC"]),
    // An expiry set by another client.
    (0, &["WATCH", "x"]),
    (1, &["EXPIRE", "x", "1000"]),
    (0, &["MULTI"]),
    (0, &["TTL", "x"]),
    (0, &["EXEC"]),
    // FLUSHDB by another client touches the watched key that existed.
    (0, &["WATCH", "x"]),
    (1, &["FLUSHDB"]),
    (0, &["MULTI"]),
    (0, &["DBSIZE"]),
    (0, &["EXEC"]),
    // A transaction that succeeds while the other connection reads.
    (0, &["WATCH", "a", "b"]),
    (1, &["MGET", "a", "b"]),
    (0, &["MULTI"]),
    (0, &["INCR", "a"]),
    (0, &["INCR", "b"]),
    (0, &["MGET", "a", "b"]),
    (1, &["MGET", "a", "b"]),
    (0, &["EXEC"]),
    (1, &["MGET", "a", "b"]),
    // DISCARD forgets the watches too.
    (0, &["WATCH", "a"]),
    (0, &["MULTI"]),
    (0, &["DISCARD"]),
    (1, &["SET", "a", "9"]),
    (0, &["MULTI"]),
    (0, &["GET", "a"]),
    (0, &["EXEC"]),
    // An aborted transaction's SELECT never ran: the connection stays on
    // its database. An applied one's moves it.
    (0, &["SET", "w", "1"]),
    (0, &["WATCH", "w"]),
    (1, &["SET", "w", "2"]),
    (0, &["MULTI"]),
    (0, &["SELECT", "2"]),
    (0, &["EXEC"]),
    (0, &["GET", "w"]),
    (0, &["WATCH", "w"]),
    (0, &["MULTI"]),
    (0, &["SELECT", "2"]),
    (0, &["EXEC"]),
    (0, &["GET", "w"]),
    (0, &["SELECT", "0"]),
];

fn run(resp3: bool) {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut redis_conns, mut redraft_conns) = common::paired_conns(&redis, &redraft, 2, resp3);
    for (step, (who, command)) in SCRIPT.iter().enumerate() {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        let expected = render(&redis_conns[*who].command(&args));
        let got = render(&redraft_conns[*who].command(&args));
        assert_eq!(
            got,
            expected,
            "step {step} ({}) on connection {who}, resp3 {resp3}",
            command.join(" ")
        );
    }
}

#[test]
fn watch_across_connections_matches_redis_in_resp2() {
    run(false);
}

#[test]
fn watch_across_connections_matches_redis_in_resp3() {
    run(true);
}

/// The integer in a bulk reply.
fn int(frame: &Frame) -> i64 {
    match frame {
        Frame::Bulk(bytes) => std::str::from_utf8(bytes).unwrap().parse().unwrap(),
        other => panic!("expected a number, got {}", render(other)),
    }
}

/// Writers increment two counters in one transaction each; readers on
/// other connections (so, possibly, other network threads) read both with
/// one MGET and must never see one incremented without the other.
#[test]
fn readers_never_see_half_a_transaction() {
    let redraft = common::redraft(&[]);
    let mut setup = redraft.raw();
    assert_eq!(
        setup.command(&[b"MSET", b"a", b"0", b"b", b"0"]),
        Frame::Simple("OK".into())
    );
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut conn = redraft.raw();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) {
                    match conn.command(&[b"MGET", b"a", b"b"]) {
                        Frame::Array(values) => {
                            let (a, b) = (int(&values[0]), int(&values[1]));
                            assert_eq!(a, b, "a reader saw half a transaction");
                        }
                        other => panic!("MGET replied {}", render(&other)),
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut writers: Vec<Raw> = (0..4).map(|_| redraft.raw()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let rounds = 300;
    for _ in 0..rounds {
        // Pipeline one transaction on each writer, then read the replies.
        for conn in writers.iter_mut() {
            conn.send(&common::encode_pipeline(&[
                &[b"MULTI"],
                &[b"INCR", b"a"],
                &[b"INCR", b"b"],
                &[b"EXEC"],
            ]));
        }
        for conn in writers.iter_mut() {
            for _ in 0..3 {
                conn.read_frame();
            }
            match conn.read_frame() {
                Frame::Array(replies) => {
                    assert_eq!(int_reply(&replies[0]), int_reply(&replies[1]));
                }
                other => panic!("EXEC replied {}", render(&other)),
            }
        }
        assert!(Instant::now() < deadline, "transactions too slow");
    }
    done.store(true, Ordering::Relaxed);
    let reads: u64 = readers
        .into_iter()
        .map(|reader| reader.join().unwrap())
        .sum();
    assert!(reads > 0);
    let total = (rounds * writers.len()) as i64;
    match setup.command(&[b"MGET", b"a", b"b"]) {
        Frame::Array(values) => {
            assert_eq!((int(&values[0]), int(&values[1])), (total, total));
        }
        other => panic!("MGET replied {}", render(&other)),
    }
}

fn int_reply(frame: &Frame) -> i64 {
    match frame {
        Frame::Integer(value) => *value,
        other => panic!("expected an integer, got {}", render(other)),
    }
}
