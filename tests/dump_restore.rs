//! DUMP, RESTORE and SORT ... STORE through the real binary: a payload
//! dumped on one server restores to an equal value on another (every type
//! and encoding, with its TTL options), and in a 3-node cluster RESTORE and
//! SORT ... STORE leave the same values on every node. redraft's payloads
//! are its own, so these run redraft against redraft (the error texts are
//! compared with Redis in `tests/scenarios/keys_dump_restore.txt`, and the
//! refusals that depend on the key, pipelined behind the writes that
//! decide them, here against redis-server).

mod common;

use common::cluster::{Cluster, ClusterOptions};
use common::render;
use redis::Connection;

/// Runs one command and returns its reply.
fn run(con: &mut Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `DUMP key`: the payload, or `None` for a missing key.
fn dump(con: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(con).unwrap()
}

/// `RESTORE key ttl payload options...`: `Ok(())` or the error text.
fn restore(
    con: &mut Connection,
    key: &str,
    ttl: i64,
    payload: &[u8],
    options: &[&str],
) -> Result<(), String> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for option in options {
        cmd.arg(*option);
    }
    cmd.query::<()>(con).map_err(|e| e.to_string())
}

/// What a key holds as a client sees it: its type, encoding and contents
/// in the order the server returns them.
fn describe(con: &mut Connection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let contents = match kind.as_str() {
        "string" => run(con, &["GET", key]),
        "list" => run(con, &["LRANGE", key, "0", "-1"]),
        "set" => run(con, &["SMEMBERS", key]),
        "zset" => run(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        "hash" => run(con, &["HGETALL", key]),
        _ => redis::Value::Nil,
    };
    let encoding = run(con, &["OBJECT", "ENCODING", key]);
    format!("{kind} {encoding:?} {contents:?}")
}

/// Fills `con`'s database with one key of each type and encoding.
fn fill(con: &mut Connection) -> Vec<&'static str> {
    let many: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let long = "x".repeat(100);
    run(con, &["SET", "str:int", "12345"]);
    run(con, &["SET", "str:embstr", "hello"]);
    run(con, &["SET", "str:raw", &long]);
    run(con, &["SET", "str:bin", "a\0b\u{ff}"]);
    run(con, &["RPUSH", "list", "a", "", "a", &long]);
    run(con, &["SADD", "set:intset", "5", "-3", "10"]);
    run(con, &["SADD", "set:listpack", "b", "a", "7"]);
    let mut sadd = vec!["SADD", "set:hashtable"];
    sadd.extend(many.iter().map(String::as_str));
    run(con, &sadd);
    run(
        con,
        &["ZADD", "zset:listpack", "2", "x", "1", "y", "inf", "z"],
    );
    let mut zadd = vec!["ZADD".to_string(), "zset:skiplist".to_string()];
    for (i, member) in many.iter().enumerate() {
        zadd.push(((i % 7) as f64 / 2.0).to_string());
        zadd.push(member.clone());
    }
    let zadd: Vec<&str> = zadd.iter().map(String::as_str).collect();
    run(con, &zadd);
    run(con, &["HSET", "hash:listpack", "f", "v", "g", ""]);
    let mut hset = vec!["HSET", "hash:hashtable"];
    for member in &many {
        hset.push(member);
        hset.push(member);
    }
    run(con, &hset);
    vec![
        "str:int",
        "str:embstr",
        "str:raw",
        "str:bin",
        "list",
        "set:intset",
        "set:listpack",
        "set:hashtable",
        "zset:listpack",
        "zset:skiplist",
        "hash:listpack",
        "hash:hashtable",
    ]
}

#[test]
fn every_type_restores_equal_on_another_server() {
    let (one, two) = (common::redraft(&[]), common::redraft(&[]));
    let (mut a, mut b) = (one.client(), two.client());
    for key in fill(&mut a) {
        let payload = dump(&mut a, key).expect("an existing key dumps");
        restore(&mut b, key, 0, &payload, &[]).unwrap();
        let original = describe(&mut a, key);
        assert_eq!(describe(&mut b, key), original, "{key} on the other server");
        restore(&mut a, &format!("{key}:copy"), 0, &payload, &[]).unwrap();
        assert_eq!(
            describe(&mut a, &format!("{key}:copy")),
            original,
            "{key} copied"
        );
        assert_eq!(
            dump(&mut b, key).as_deref(),
            Some(&payload[..]),
            "{key} dumps the same"
        );
        let pttl: i64 = redis::cmd("PTTL").arg(key).query(&mut b).unwrap();
        assert_eq!(pttl, -1, "{key}: TTL 0 is no expiry");
    }
    assert_eq!(dump(&mut a, "missing"), None);
}

#[test]
fn restore_options_and_refusals() {
    let server = common::redraft(&[]);
    let mut con = server.client();
    run(&mut con, &["RPUSH", "l", "a", "b"]);
    let payload = dump(&mut con, "l").unwrap();
    let busy = restore(&mut con, "l", 0, &payload, &[]).unwrap_err();
    assert!(busy.contains("BUSYKEY"), "{busy}");
    restore(&mut con, "l", 0, &payload, &["REPLACE"]).unwrap();
    restore(&mut con, "ttl", 5_000, &payload, &[]).unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("ttl").query(&mut con).unwrap();
    assert!((4_000..=5_000).contains(&pttl), "{pttl}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    restore(
        &mut con,
        "abs",
        now_ms + 60_000,
        &payload,
        &["ABSTTL", "IDLETIME", "10"],
    )
    .unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("abs").query(&mut con).unwrap();
    assert!((50_000..=60_000).contains(&pttl), "{pttl}");
    // A time already past replies OK and stores nothing; with REPLACE it
    // deletes the old key.
    restore(&mut con, "past", 1, &payload, &["ABSTTL", "FREQ", "3"]).unwrap();
    restore(&mut con, "l", 1, &payload, &["ABSTTL", "REPLACE"]).unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg("past")
        .arg("l")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, 0);
    for at in 0..payload.len() {
        let mut damaged = payload.clone();
        damaged[at] ^= 0x20;
        let error = restore(&mut con, "d", 0, &damaged, &[]).unwrap_err();
        assert!(
            error.contains("DUMP payload version or checksum are wrong"),
            "byte {at}: {error}"
        );
    }
}

/// A SORT read pipelined behind a write on the same connection sees it:
/// the connection does not hold write-flagged commands, so SORT waits.
#[test]
fn a_sort_sees_its_own_connections_writes() {
    let server = common::redraft(&[]);
    let mut raw = server.raw();
    let mut pipeline = Vec::new();
    for i in 0..50 {
        let item = i.to_string();
        pipeline.extend(common::encode_command(&[b"RPUSH", b"l", item.as_bytes()]));
        pipeline.extend(common::encode_command(&[
            b"SORT", b"l", b"DESC", b"LIMIT", b"0", b"1",
        ]));
    }
    raw.send(&pipeline);
    for i in 0..50 {
        assert_eq!(render(&raw.read_frame()), format!("(integer) {}", i + 1));
        assert_eq!(render(&raw.read_frame()), format!("1) \"{i}\""));
    }
}

#[test]
fn restore_and_sort_store_apply_the_same_on_every_node() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut con = cluster.connect(leader);
    let keys = fill(&mut con);
    for key in &keys {
        let payload = dump(&mut con, key).unwrap();
        restore(&mut con, &format!("{key}:copy"), 600_000, &payload, &[]).unwrap();
    }
    for i in 0..40 {
        run(
            &mut con,
            &["SET", &format!("w_m{i}"), &((i * 7) % 5).to_string()],
        );
    }
    run(
        &mut con,
        &[
            "SORT",
            "set:hashtable",
            "BY",
            "w_*",
            "GET",
            "#",
            "STORE",
            "sorted:by",
        ],
    );
    run(
        &mut con,
        &[
            "SORT",
            "set:hashtable",
            "BY",
            "nokey_*",
            "ALPHA",
            "LIMIT",
            "5",
            "20",
            "STORE",
            "sorted:ties",
        ],
    );
    run(
        &mut con,
        &[
            "SORT",
            "set:hashtable",
            "BY",
            "nosort",
            "STORE",
            "sorted:nosort",
        ],
    );
    run(
        &mut con,
        &[
            "SORT",
            "zset:skiplist",
            "ALPHA",
            "DESC",
            "STORE",
            "sorted:zset",
        ],
    );
    cluster.wait_all_applied();
    let mut expected = Vec::new();
    let mut all: Vec<String> = keys.iter().map(|key| format!("{key}:copy")).collect();
    all.extend(["sorted:by", "sorted:ties", "sorted:nosort", "sorted:zset"].map(String::from));
    for key in &all {
        expected.push(describe(&mut con, key));
    }
    for follower in cluster.followers() {
        let mut follower_con = cluster.connect_readonly(follower);
        for (key, expected) in all.iter().zip(&expected) {
            assert_eq!(
                &describe(&mut follower_con, key),
                expected,
                "{key} on node {follower}"
            );
            let pttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query(&mut follower_con)
                .unwrap();
            if key.ends_with(":copy") {
                assert!(
                    pttl > 500_000,
                    "{key} keeps its TTL on node {follower}: {pttl}"
                );
            }
        }
    }
}

/// A write command whose error depends on the key (RESTORE's BUSYKEY
/// before a bad TTL or payload, LSET's bad index, a sorted set store's
/// WRONGTYPE before its option error, SORT's WRONGTYPE) answers for the
/// key as the connection's own pipelined writes leave it, or inside MULTI
/// as the transaction's writes leave it, as redis-server does.
#[test]
fn refusals_that_depend_on_the_key_see_the_connections_writes() {
    let (redis, redraft) = (common::redis(&[]), common::redraft(&[]));
    let script: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["RESTORE", "k", "0", "xxx"],
        &["RESTORE", "k", "-1", "xxx"],
        &["DEL", "k"],
        &["RESTORE", "k", "0", "xxx"],
        &["RESTORE", "k", "abc", "xxx"],
        &["RPUSH", "l", "a"],
        &["LSET", "l", "x", "b"],
        &["DEL", "l"],
        &["LSET", "l", "x", "b"],
        &["SET", "l", "s"],
        &["LSET", "l", "x", "b"],
        &["DEL", "l"],
        // In a transaction, at apply, after the transaction's own writes.
        &["MULTI"],
        &["SET", "k", "v"],
        &["RESTORE", "k", "0", "xxx"],
        &["DEL", "k"],
        &["RESTORE", "k", "0", "xxx"],
        &["RPUSH", "l", "a"],
        &["LSET", "l", "x", "b"],
        &["EXEC"],
        &["DEL", "l"],
        // Sorted set operations: WRONGTYPE before the option error.
        &["ZADD", "z", "1", "a", "2", "b"],
        &["SADD", "s", "a", "c"],
        &["SET", "str", "v"],
        &["ZUNIONSTORE", "d", "2", "z", "str", "WEIGHTS", "x"],
        &["ZUNIONSTORE", "d", "2", "z", "s", "WEIGHTS", "x"],
        &["ZINTERSTORE", "d", "2", "z", "str", "AGGREGATE", "avg"],
        &["ZDIFFSTORE", "d", "2", "z", "str", "bogus"],
        &["ZINTER", "2", "z", "str", "bogus"],
        &["ZUNION", "2", "z", "s", "bogus"],
        &["DEL", "str"],
        &["ZUNIONSTORE", "d", "2", "z", "str", "WEIGHTS", "x"],
        &["SORT", "str"],
        &["SET", "str", "v"],
        &["SORT", "str"],
        &["SORT", "str", "STORE", "d"],
        &["SORT", "s", "ALPHA", "STORE", "d"],
        &["LRANGE", "d", "0", "-1"],
        // The same inside a transaction.
        &["MULTI"],
        &["DEL", "str"],
        &["ZUNIONSTORE", "d", "2", "z", "str", "WEIGHTS", "x"],
        &["SORT", "str"],
        &["SET", "str", "v"],
        &["ZUNIONSTORE", "d", "2", "z", "str", "WEIGHTS", "x"],
        &["ZINTER", "2", "z", "str", "bogus"],
        &["ZINTERCARD", "2", "z", "str", "LIMIT", "-1"],
        &["SORT", "str"],
        &["ZUNIONSTORE", "d", "2", "z", "s", "WEIGHTS", "2", "3"],
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        &["SORT", "s", "ALPHA", "DESC"],
        &["SPOP", "z"],
        &["SREM", "s", "c"],
        &["SPOP", "s"],
        &["SCARD", "s"],
        &["OBJECT", "ENCODING", "z"],
        &["EXEC"],
        &["DEL", "z", "s", "str", "d"],
    ];
    let mut pipeline = Vec::new();
    for _ in 0..20 {
        for command in script {
            let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
            pipeline.extend(common::encode_command(&args));
        }
    }
    let (mut want, mut got) = (redis.raw(), redraft.raw());
    want.send(&pipeline);
    got.send(&pipeline);
    for round in 0..20 {
        for command in script {
            let (want, got) = (render(&want.read_frame()), render(&got.read_frame()));
            assert_eq!(got, want, "round {round}: {command:?}");
        }
    }
}
