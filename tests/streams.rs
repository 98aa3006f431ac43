//! Streams on redraft alone: what a differential test cannot compare.
//!
//! - `*` IDs come from the entry's time and never go back.
//! - A stream survives SIGKILL and restart, from the log and from a
//!   snapshot (a run), with its nodes, so `~` trims the same after.
//! - `DUMP` / `RESTORE` round trip a stream, deleted entries and counters
//!   included; a damaged payload is refused.
//! - `XREAD BLOCK` times out with a null array.

mod common;

use std::time::{Duration, Instant};

use common::node::Node;
use common::wait::until;
use redis::Value;

fn entries(conn: &mut redis::Connection, key: &str) -> Value {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(conn)
        .unwrap()
}

/// Writes a stream with deleted entries and trims inside a node.
fn write_stream(conn: &mut redis::Connection, key: &str) {
    for i in 1..=350u64 {
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg(format!("{i}-1"))
            .arg("f")
            .arg(format!("v{i}"))
            .query(conn)
            .unwrap();
    }
    let _: i64 = redis::cmd("XDEL")
        .arg(key)
        .arg("120-1")
        .arg("7-1")
        .query(conn)
        .unwrap();
    let _: i64 = redis::cmd("XTRIM")
        .arg(key)
        .arg("MAXLEN")
        .arg("300")
        .query(conn)
        .unwrap();
}

/// What must survive: entries, length, and how `~` trims (nodes).
fn state(conn: &mut redis::Connection, key: &str) -> (Value, i64, i64) {
    let range = entries(conn, key);
    let len: i64 = redis::cmd("XLEN").arg(key).query(conn).unwrap();
    let copy = format!("{key}:copy");
    let _: i64 = redis::cmd("COPY")
        .arg(key)
        .arg(&copy)
        .arg("REPLACE")
        .query(conn)
        .unwrap();
    let trimmed: i64 = redis::cmd("XTRIM")
        .arg(&copy)
        .arg("MAXLEN")
        .arg("~")
        .arg("10")
        .query(conn)
        .unwrap();
    (range, len, trimmed)
}

#[test]
fn auto_ids_follow_the_entry_time_and_never_go_back() {
    let node = Node::start();
    let mut conn = node.connect();
    let before_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut last = (0u64, 0u64);
    for _ in 0..200 {
        let id: String = redis::cmd("XADD")
            .arg("s")
            .arg("*")
            .arg("f")
            .arg("v")
            .query(&mut conn)
            .unwrap();
        let (ms, seq) = id.split_once('-').unwrap();
        let id = (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
        assert!(id > last, "{id:?} after {last:?}");
        assert!(id.0 + 5_000 >= before_ms, "{id:?} is not from the clock");
        last = id;
    }
    // Far in the future: `*` goes on from the last ID.
    let _: String = redis::cmd("XADD")
        .arg("f")
        .arg("99999999999999-7")
        .arg("a")
        .arg("b")
        .query(&mut conn)
        .unwrap();
    let id: String = redis::cmd("XADD")
        .arg("f")
        .arg("*")
        .arg("a")
        .arg("b")
        .query(&mut conn)
        .unwrap();
    assert_eq!(id, "99999999999999-8");
}

#[test]
fn streams_survive_sigkill_from_the_log_and_from_a_snapshot() {
    let mut node = Node::start_with_config("[raft]\nsnapshot_logs_since_last = 20\n");
    let mut conn = node.connect();
    write_stream(&mut conn, "s");
    let before = state(&mut conn, "s");
    assert_eq!(before.1, 300);
    until(Duration::from_secs(30), "a snapshot", || {
        let info = common::node::info_raft(node.port())?;
        match info.get("raft_snapshot_index").map(String::as_str) {
            Some("0") | None => Err("no snapshot yet".to_string()),
            Some(_) => Ok(()),
        }
    });
    // Written after the snapshot: replayed from the log.
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("400-1")
        .arg("after")
        .arg("snap")
        .query(&mut conn)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("t")
        .arg("1-1")
        .arg("only")
        .arg("log")
        .query(&mut conn)
        .unwrap();
    let before = state(&mut conn, "s");
    let before_t = entries(&mut conn, "t");
    drop(conn);
    node.kill();
    node.restart();
    node.wait_leader();
    let mut conn = node.connect();
    assert_eq!(state(&mut conn, "s"), before, "after SIGKILL and restart");
    assert_eq!(entries(&mut conn, "t"), before_t);
    let kind: String = redis::cmd("TYPE").arg("s").query(&mut conn).unwrap();
    assert_eq!(kind, "stream");
    // The last ID survived too: an ID at or below it is refused.
    let refused: redis::RedisResult<String> = redis::cmd("XADD")
        .arg("s")
        .arg("400-1")
        .arg("f")
        .arg("v")
        .query(&mut conn);
    assert!(refused.is_err());
}

#[test]
fn dump_and_restore_round_trip_a_stream() {
    let node = Node::start();
    let mut conn = node.connect();
    write_stream(&mut conn, "s");
    let _: () = redis::cmd("XSETID")
        .arg("s")
        .arg("999-0")
        .arg("ENTRIESADDED")
        .arg("5000")
        .arg("MAXDELETEDID")
        .arg("500-0")
        .query(&mut conn)
        .unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("s").query(&mut conn).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("r")
        .arg(0)
        .arg(&payload)
        .query(&mut conn)
        .unwrap();
    assert_eq!(state(&mut conn, "r"), state(&mut conn, "s"));
    let again: Vec<u8> = redis::cmd("DUMP").arg("r").query(&mut conn).unwrap();
    assert_eq!(again, payload, "the restored stream dumps the same bytes");
    // The last ID came along: 999-0 is taken.
    let refused: redis::RedisResult<String> = redis::cmd("XADD")
        .arg("r")
        .arg("999-0")
        .arg("f")
        .arg("v")
        .query(&mut conn);
    assert!(refused.is_err());
    // A payload cut short or with a byte changed is refused, never a crash.
    for cut in [1, 10, payload.len() / 2, payload.len() - 1] {
        let result: redis::RedisResult<()> = redis::cmd("RESTORE")
            .arg("bad")
            .arg(0)
            .arg(&payload[..cut])
            .query(&mut conn);
        assert!(result.is_err(), "a payload cut at {cut} was accepted");
    }
    // XSETID below a deleted entry (Redis allows it): still a valid dump.
    for command in [
        &["XADD", "low", "1", "f", "v"][..],
        &["XADD", "low", "2", "f", "v"],
        &["XDEL", "low", "2"],
        &["XSETID", "low", "1"],
    ] {
        let _: Value = redis::cmd(command[0])
            .arg(&command[1..])
            .query(&mut conn)
            .unwrap();
    }
    let low: Vec<u8> = redis::cmd("DUMP").arg("low").query(&mut conn).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("low2")
        .arg(0)
        .arg(&low)
        .query(&mut conn)
        .unwrap();
    assert_eq!(entries(&mut conn, "low2"), entries(&mut conn, "low"));
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn xread_block_times_out_with_a_null_array() {
    let node = Node::start();
    let mut conn = node.connect();
    let start = Instant::now();
    let reply: Value = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(200)
        .arg("STREAMS")
        .arg("s")
        .arg("$")
        .query(&mut conn)
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(reply, Value::Nil);
    assert!(
        waited >= Duration::from_millis(190),
        "answered after {waited:?}"
    );
    // Released: the connection serves the next command.
    let len: i64 = redis::cmd("XLEN").arg("s").query(&mut conn).unwrap();
    assert_eq!(len, 0);
}

/// In a 3-node cluster: an `XREAD BLOCK` on the leader is served by an
/// `XADD` applied on every node; one sent to a follower is redirected
/// to the leader (the default consistency), not left hanging.
#[test]
fn xread_block_in_a_cluster() {
    use common::cluster::{Cluster, ClusterOptions};
    use redraft_server::resp::Frame;

    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut blocked = cluster.raw(leader);
    blocked.send_command(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    // Wait until the waiter is registered before adding.
    until(Duration::from_secs(10), "a blocked client", || {
        let mut conn = cluster.raw(leader);
        match conn.command(&[b"INFO", b"clients"]) {
            Frame::Bulk(text) if String::from_utf8_lossy(&text).contains("blocked_clients:1") => {
                Ok(())
            }
            other => Err(common::render(&other)),
        }
    });
    let mut writer = cluster.raw(leader);
    writer.command(&[b"XADD", b"s", b"1-1", b"f", b"v"]);
    let served = common::render(&blocked.read_frame());
    assert!(served.contains("1-1"), "served {served}");
    let follower = cluster.followers()[0];
    let mut conn = cluster.raw(follower);
    let reply = common::render(&conn.command(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"0"]));
    eprintln!("follower: {reply}");
    assert!(
        reply.contains("MOVED") || reply.contains("1-1"),
        "follower answered {reply}"
    );
}
