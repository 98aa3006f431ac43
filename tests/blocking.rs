//! The blocking pops against a real redis-server, and their timeouts.
//!
//! The script runs on three connections of each server, in RESP2 and
//! RESP3: after each step, every connection's frames from redis-server are
//! read until it is quiet, and redraft's connection must deliver exactly
//! as many, and the same. A blocked connection shows as no frame until a
//! push from another connection wakes it. Timeouts are checked on their
//! own, with bounds that hold on a loaded machine.

mod common;

use std::time::{Duration, Instant};

use common::{render, Raw};
use redraft_server::resp::Frame;

/// (connection, command).
const SCRIPT: &[(usize, &[&str])] = &[
    // A pop of a missing list blocks; a push wakes it.
    (0, &["BLPOP", "l1", "l2", "0"]),
    (2, &["RPUSH", "l2", "a", "b"]),
    (2, &["LRANGE", "l2", "0", "-1"]),
    // Data already there: no blocking.
    (0, &["BRPOP", "l2", "0"]),
    (0, &["BLPOP", "l2", "0"]),
    // Two clients blocked on one key, served one element each.
    (0, &["BLPOP", "q", "0"]),
    (1, &["BRPOP", "q", "0"]),
    (2, &["RPUSH", "q", "x"]),
    (2, &["RPUSH", "q", "y"]),
    (2, &["EXISTS", "q"]),
    // A pushed key of the wrong type is an error when the pop runs.
    (0, &["SET", "str", "v"]),
    (0, &["BLPOP", "str", "0"]),
    // BLMOVE and BRPOPLPUSH block on their source only.
    (0, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]),
    (2, &["LPUSH", "src", "m"]),
    (2, &["LRANGE", "dst", "0", "-1"]),
    (1, &["BRPOPLPUSH", "src", "dst", "0"]),
    (2, &["RPUSH", "src", "n", "o"]),
    (2, &["LRANGE", "dst", "0", "-1"]),
    // BLMPOP with a count.
    (0, &["BLMPOP", "0", "2", "e1", "e2", "RIGHT", "COUNT", "5"]),
    (2, &["RPUSH", "e2", "1", "2", "3"]),
    // Sorted sets.
    (0, &["BZPOPMIN", "z1", "z2", "0"]),
    (2, &["ZADD", "z2", "2", "b", "1", "a"]),
    (0, &["BZPOPMAX", "z2", "0"]),
    (1, &["BZMPOP", "0", "1", "z3", "MIN", "COUNT", "2"]),
    (2, &["ZADD", "z3", "3", "c", "1", "a", "2", "b"]),
    // A list that another client creates by renaming wakes too.
    (0, &["BLPOP", "renamed", "0"]),
    (2, &["RPUSH", "tmp", "r"]),
    (2, &["RENAME", "tmp", "renamed"]),
    // A write that does not fill the key leaves the client blocked.
    (0, &["BLPOP", "still", "0"]),
    (2, &["SET", "other", "1"]),
    (2, &["SADD", "still-not", "x"]),
    (2, &["LPUSH", "still", "finally"]),
    // Arguments are checked before anything blocks.
    (0, &["BLPOP", "l", "-1"]),
    (0, &["BLPOP", "l", "abc"]),
    (0, &["BLMPOP", "0", "0", "l", "LEFT"]),
    (0, &["BLMPOP", "x", "1", "l", "LEFT"]),
    (0, &["BLMOVE", "a", "b", "UP", "LEFT", "0"]),
    (0, &["BZMPOP", "0", "1", "z", "MIDDLE"]),
];

fn run(resp3: bool) {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut redis_conns, mut redraft_conns) = common::paired_conns(&redis, &redraft, 3, resp3);
    for (step, (who, command)) in SCRIPT.iter().enumerate() {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        redis_conns[*who].send_command(&args);
        redraft_conns[*who].send_command(&args);
        for conn in 0..3 {
            let expected = redis_conns[conn].drain(Duration::from_millis(100));
            let got = redraft_conns[conn].read_n(expected.len());
            let shown = |frames: &[Frame]| frames.iter().map(render).collect::<Vec<_>>();
            assert_eq!(
                shown(&got),
                shown(&expected),
                "step {step} ({}), connection {conn}, resp3 {resp3}",
                command.join(" ")
            );
            let extra = redraft_conns[conn].drain(Duration::from_millis(20));
            assert!(
                extra.is_empty(),
                "step {step}: redraft sent more on connection {conn}: {:?}",
                shown(&extra)
            );
        }
    }
}

#[test]
fn blocking_pops_match_redis_in_resp2() {
    run(false);
}

#[test]
fn blocking_pops_match_redis_in_resp3() {
    run(true);
}

/// `blocked_clients` from INFO.
fn blocked_clients(conn: &mut Raw) -> i64 {
    let Frame::Bulk(info) = conn.command(&[b"INFO", b"clients"]) else {
        panic!("INFO is a bulk string");
    };
    let text = String::from_utf8(info.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .trim()
        .parse()
        .unwrap()
}

/// Polls `blocked_clients` until it is `want` (or fails after 10 s).
fn await_blocked(conn: &mut Raw, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(conn) != want {
        assert!(
            Instant::now() < deadline,
            "blocked_clients never became {want}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn timeouts_answer_a_null_array_and_release_the_client() {
    let redraft = common::redraft(&[]);
    let mut admin = redraft.raw();
    let mut conn = redraft.raw();
    for (command, timeout) in [
        (&[&b"BLPOP"[..], b"k1", b"k2", b"0.3"][..], 0.3),
        (&[b"BLMOVE", b"k1", b"d", b"LEFT", b"LEFT", b"0.2"], 0.2),
        (&[b"BZMPOP", b"0.25", b"1", b"z", b"MAX"], 0.25),
    ] {
        let started = Instant::now();
        assert_eq!(conn.command(command), Frame::NullArray);
        let waited = started.elapsed().as_secs_f64();
        assert!(
            waited >= timeout - 0.005,
            "answered after {waited} s, timeout {timeout} s"
        );
        assert!(waited < timeout + 5.0, "answered after {waited} s");
    }
    // A command sent behind a blocked one waits for it.
    conn.send(&common::encode_pipeline(&[
        &[b"BLPOP", b"k", b"0.2"],
        &[b"PING"],
    ]));
    await_blocked(&mut admin, 1);
    assert_eq!(conn.read_frame(), Frame::NullArray);
    assert_eq!(conn.read_frame(), Frame::Simple("PONG".into()));
    await_blocked(&mut admin, 0);
}

#[test]
fn a_closed_blocked_client_leaves_nothing_behind() {
    let redraft = common::redraft(&[]);
    let mut admin = redraft.raw();
    let mut blocked = redraft.raw();
    blocked.send_command(&[b"BLPOP", b"k", b"0"]);
    await_blocked(&mut admin, 1);
    drop(blocked);
    await_blocked(&mut admin, 0);
    // Nothing pops the element for the closed client.
    assert_eq!(admin.command(&[b"RPUSH", b"k", b"v"]), Frame::Integer(1));
    assert_eq!(admin.command(&[b"LLEN", b"k"]), Frame::Integer(1));
}
