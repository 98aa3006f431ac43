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
    // XREAD BLOCK: `$` of a missing stream is 0-0; an XADD wakes it.
    (0, &["XREAD", "BLOCK", "0", "STREAMS", "st", "$"]),
    (2, &["XADD", "st", "1", "f", "v"]),
    // Two clients on one stream both get the entry (nothing is consumed),
    // each as much as its COUNT allows.
    (0, &["XREAD", "BLOCK", "0", "STREAMS", "st", "$"]),
    (
        1,
        &[
            "XREAD", "BLOCK", "0", "COUNT", "1", "STREAMS", "other", "st", "$", "1",
        ],
    ),
    (2, &["XADD", "st", "2", "a", "b"]),
    // Entries after the ID already there: no blocking.
    (0, &["XREAD", "BLOCK", "0", "STREAMS", "st", "0"]),
    // Woken by the second of two streams, with that stream alone.
    (
        0,
        &["XREAD", "BLOCK", "0", "STREAMS", "st3", "st4", "$", "$"],
    ),
    (2, &["XADD", "st4", "7-*", "x", "y"]),
    // An XADD below the waiter's position leaves it blocked; a
    // trim, a delete and another type's write do not wake it.
    (0, &["XREAD", "BLOCK", "0", "STREAMS", "st", "5"]),
    (2, &["XADD", "st", "3", "c", "d"]),
    (2, &["XTRIM", "st", "MAXLEN", "1"]),
    (2, &["XDEL", "st", "3"]),
    (2, &["XADD", "st", "6", "e", "f"]),
    (0, &["XREAD", "BLOCK", "0", "STREAMS", "str", "0"]),
    (0, &["XREAD", "BLOCK", "-1", "STREAMS", "st", "0"]),
    (0, &["XREAD", "BLOCK", "x", "STREAMS", "st", "0"]),
    // Arguments are checked before anything blocks.
    (0, &["BLPOP", "l", "-1"]),
    (0, &["BLPOP", "l", "abc"]),
    (0, &["BLMPOP", "0", "0", "l", "LEFT"]),
    (0, &["BLMPOP", "x", "1", "l", "LEFT"]),
    (0, &["BLMOVE", "a", "b", "UP", "LEFT", "0"]),
    (0, &["BZMPOP", "0", "1", "z", "MIDDLE"]),
];

/// Redis serves blocked clients after the whole command or `EXEC`, against
/// the keys' final state, keys in the order they became ready, and a
/// served BLMOVE's push serves the next client before any other command
/// runs.
const SERVED_AFTER_THE_COMMAND: &[(usize, &[&str])] = &[
    // A key pushed then deleted and made a string in one EXEC: still blocked.
    (0, &["BLPOP", "k", "0"]),
    (4, &["MULTI"]),
    (4, &["LPUSH", "k", "a"]),
    (4, &["DEL", "k"]),
    (4, &["SET", "k", "foo"]),
    (4, &["EXEC"]),
    (4, &["DEL", "k"]),
    (4, &["LPUSH", "k", "b"]),
    // The same for the sorted-set pops and the counted pops.
    (1, &["BZPOPMIN", "z", "0"]),
    (2, &["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"]),
    (3, &["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "2"]),
    (4, &["MULTI"]),
    (4, &["ZADD", "z", "1", "a"]),
    (4, &["DEL", "z"]),
    (4, &["RPUSH", "l", "x"]),
    (4, &["SET", "l", "str"]),
    (4, &["ZADD", "z2", "1", "a", "2", "b"]),
    (4, &["ZREM", "z2", "a", "b"]),
    (4, &["EXEC"]),
    (4, &["DEL", "l"]),
    (4, &["ZADD", "z", "5", "m"]),
    (4, &["RPUSH", "l", "1", "2", "3"]),
    (4, &["ZADD", "z2", "1", "a", "2", "b", "3", "c"]),
    // A transaction's pushes serve the waiter with its final state.
    (0, &["BLPOP", "list", "0"]),
    (4, &["MULTI"]),
    (4, &["LPUSH", "list", "a"]),
    (4, &["LPUSH", "list", "b"]),
    (4, &["LPUSH", "list", "c"]),
    (4, &["EXEC"]),
    (4, &["LRANGE", "list", "0", "-1"]),
    // Keys in the order they became ready.
    (
        0,
        &["BLMPOP", "0", "2", "blist", "blist2", "LEFT", "COUNT", "1"],
    ),
    (
        1,
        &[
            "BLMPOP", "0", "2", "blist", "blist2", "RIGHT", "COUNT", "10",
        ],
    ),
    (
        2,
        &["BLMPOP", "0", "2", "blist", "blist2", "LEFT", "COUNT", "10"],
    ),
    (
        3,
        &["BLMPOP", "0", "2", "blist", "blist2", "RIGHT", "COUNT", "1"],
    ),
    (4, &["MULTI"]),
    (4, &["LPUSH", "blist", "a", "b", "c", "d", "e"]),
    (4, &["LPUSH", "blist2", "1", "2", "3", "4", "5"]),
    (4, &["EXEC"]),
    (4, &["LPUSH", "blist2", "1", "2", "3"]),
    // Linked LMOVEs complete before the pushing client's next command.
    (0, &["BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0"]),
    (1, &["BLMOVE", "list2", "list3", "LEFT", "RIGHT", "0"]),
    (4, &["RPUSH", "list1", "foo"]),
    (4, &["LRANGE", "list1", "0", "-1"]),
    (4, &["LRANGE", "list2", "0", "-1"]),
    (4, &["LRANGE", "list3", "0", "-1"]),
    // Circular and self-referential BRPOPLPUSH.
    (0, &["BRPOPLPUSH", "c1", "c2", "0"]),
    (1, &["BRPOPLPUSH", "c2", "c1", "0"]),
    (4, &["RPUSH", "c1", "foo"]),
    (4, &["LRANGE", "c1", "0", "-1"]),
    (4, &["LRANGE", "c2", "0", "-1"]),
    (0, &["BRPOPLPUSH", "self", "self", "0"]),
    (4, &["RPUSH", "self", "bar"]),
    (4, &["LRANGE", "self", "0", "-1"]),
    // A served BLMOVE whose destination is not a list gets WRONGTYPE and
    // pops nothing.
    (0, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]),
    (4, &["SET", "dst", "x"]),
    (4, &["RPUSH", "src", "a"]),
    (4, &["LRANGE", "src", "0", "-1"]),
    // A sorted-set waiter stays blocked when its key becomes a list.
    (1, &["BZPOPMIN", "kk", "0"]),
    (4, &["LPUSH", "kk", "a"]),
    (4, &["DEL", "kk"]),
    (4, &["ZADD", "kk", "1", "m"]),
    // A push made by a served BRPOPLPUSH changes a watched key; a waiter
    // still blocked changes nothing.
    (4, &["SET", "somekey", "v"]),
    (0, &["BRPOPLPUSH", "srclist", "dstlist", "0"]),
    (3, &["WATCH", "dstlist"]),
    (3, &["MULTI"]),
    (3, &["GET", "somekey"]),
    (4, &["LPUSH", "srclist", "element"]),
    (3, &["EXEC"]),
    (0, &["BRPOPLPUSH", "srclist2", "dstlist2", "0"]),
    (3, &["WATCH", "dstlist2"]),
    (3, &["MULTI"]),
    (3, &["GET", "somekey"]),
    (3, &["EXEC"]),
    (4, &["LPUSH", "srclist2", "element"]),
];

fn run(resp3: bool) {
    run_script(SCRIPT, 3, resp3);
    run_script(SERVED_AFTER_THE_COMMAND, 5, resp3);
}

/// Runs `script` on `conns` connections of each server (see the module
/// docs).
fn run_script(script: &[(usize, &[&str])], conns: usize, resp3: bool) {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut redis_conns, mut redraft_conns) = common::paired_conns(&redis, &redraft, conns, resp3);
    for (step, (who, command)) in script.iter().enumerate() {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        redis_conns[*who].send_command(&args);
        redraft_conns[*who].send_command(&args);
        // redis-server answers the sender after it has served any client
        // the command woke, so once the sender's reply is in (or it has
        // blocked, silent), every frame of the step has been sent.
        let mut expected: Vec<Vec<Frame>> = vec![Vec::new(); conns];
        redis_conns[*who].set_read_timeout(Duration::from_millis(100));
        expected[*who].extend(redis_conns[*who].read_frame_or_eof());
        for (conn, frames) in expected.iter_mut().enumerate() {
            frames.extend(redis_conns[conn].drain(Duration::from_millis(5)));
        }
        for (conn, frames) in expected.iter().enumerate() {
            let got = redraft_conns[conn].read_n(frames.len());
            let shown = |frames: &[Frame]| frames.iter().map(render).collect::<Vec<_>>();
            assert_eq!(
                shown(&got),
                shown(frames),
                "step {step} ({}), connection {conn}, resp3 {resp3}",
                command.join(" ")
            );
        }
        for (conn, redraft_conn) in redraft_conns.iter_mut().enumerate() {
            let extra = redraft_conn.drain(Duration::from_millis(10));
            assert!(
                extra.is_empty(),
                "step {step} ({}): redraft sent more on connection {conn}: {:?}",
                command.join(" "),
                extra.iter().map(render).collect::<Vec<_>>()
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
