//! `OBJECT IDLETIME` and `RESTORE ... IDLETIME` against a real
//! redis-server: what depends on the clock is compared with a second's
//! tolerance (the scenario files need exact replies; see
//! `tests/scenarios/keys_object_move.txt` for the exact ones). Each server
//! restores its own `DUMP` payload, since redraft's payloads are its own.
//! In a cluster, a write sets the access time on every node as it applies,
//! and a read on one node touches only that node's.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterOptions};
use common::Process;
use redis::Connection;

/// `OBJECT IDLETIME key`, `None` for nil.
fn idle(con: &mut Connection, key: &str) -> Option<u64> {
    redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg(key)
        .query(con)
        .unwrap()
}

/// Stores `value` under `key` with `RESTORE ... IDLETIME idle_s`, from a
/// payload this server dumped itself.
fn restore_idle(con: &mut Connection, key: &str, idle_s: u64) {
    let _: () = redis::cmd("SET").arg("source").arg("v").query(con).unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("source").query(con).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg(key)
        .arg(0)
        .arg(payload)
        .arg("REPLACE")
        .arg("IDLETIME")
        .arg(idle_s)
        .query(con)
        .unwrap();
}

/// Polls `OBJECT IDLETIME key` until it reaches `at_least` seconds.
fn wait_idle(con: &mut Connection, key: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(at_least + 5);
    loop {
        let seconds = idle(con, key).expect("the key exists");
        if seconds >= at_least {
            return seconds;
        }
        assert!(
            Instant::now() < deadline,
            "{key} stayed at {seconds} s idle"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The idle times one server reports, for the same script on both.
fn restored_idle_times(server: &Process) -> Vec<u64> {
    let mut con = server.client();
    [0, 1000, 100_000, 16_777_215, 100_000_000]
        .iter()
        .map(|&seconds| {
            let key = format!("r{seconds}");
            restore_idle(&mut con, &key, seconds);
            idle(&mut con, &key).expect("restored")
        })
        .collect()
}

/// RESTORE's IDLETIME sets the idle time as Redis's does, wraps of its
/// 24-bit LRU clock included: both servers count it from the Unix time.
#[test]
fn restore_idletime_matches_redis() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let expected = restored_idle_times(&redis);
    let got = restored_idle_times(&redraft);
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        // A second may tick between the two runs, or within one.
        assert!(
            got.abs_diff(*expected) <= 2 || got.abs_diff(*expected) >= (1 << 24) - 3,
            "redraft {got}, redis {expected}"
        );
    }
    assert!((1000..=1001).contains(&expected[1]), "{expected:?}");
}

/// An idle time just after an access: 0, or 1 when the clock's second
/// ticked between the access and the read (idle times are whole seconds).
fn assert_fresh(idle: Option<u64>, what: &str) {
    assert!(matches!(idle, Some(0 | 1)), "{what}: {idle:?}");
}

/// An idle key's idle time grows; reads and TOUCH reset it, the commands
/// Redis runs with `LOOKUP_NOTOUCH` do not.
fn idle_time_follows_accesses(server: &Process) {
    let mut con = server.client();
    assert_eq!(idle(&mut con, "missing"), None);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert_fresh(idle(&mut con, "k"), "a fresh key");

    restore_idle(&mut con, "k", 50);
    let before = idle(&mut con, "k").unwrap();
    assert!((50..=51).contains(&before), "{before}");
    for command in [
        &["TYPE", "k"][..],
        &["EXISTS", "k"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["OBJECT", "ENCODING", "k"],
        &["MEMORY", "USAGE", "k"],
        &["SCAN", "0"],
    ] {
        let mut cmd = redis::cmd(command[0]);
        command[1..].iter().for_each(|arg| {
            cmd.arg(*arg);
        });
        let _: redis::Value = cmd.query(&mut con).unwrap();
        let after = idle(&mut con, "k").unwrap();
        assert!(
            after >= before,
            "{command:?} reset the idle time to {after}"
        );
    }
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_fresh(idle(&mut con, "k"), "GET is an access");

    restore_idle(&mut con, "k", 50);
    let touched: i64 = redis::cmd("TOUCH")
        .arg("k")
        .arg("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!(touched, 1);
    assert_fresh(idle(&mut con, "k"), "TOUCH is an access");

    restore_idle(&mut con, "k", 50);
    let _: () = redis::cmd("SET").arg("k").arg("w").query(&mut con).unwrap();
    assert_fresh(idle(&mut con, "k"), "a write is an access");

    // Without RESTORE: a key left alone goes idle by the clock, and a read
    // of another type's command (HGET on a hash) resets it.
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let waited = wait_idle(&mut con, "h", 2);
    assert!((2..=4).contains(&waited), "{waited}");
    let _: Option<String> = redis::cmd("HGET")
        .arg("h")
        .arg("f")
        .query(&mut con)
        .unwrap();
    assert_fresh(idle(&mut con, "h"), "HGET is an access");
}

#[test]
fn idle_time_follows_accesses_on_redraft() {
    idle_time_follows_accesses(&common::redraft(&[]));
}

/// The same script on Redis, so that the test itself is checked.
#[test]
fn idle_time_follows_accesses_on_redis() {
    idle_time_follows_accesses(&common::redis(&[]));
}

/// Writes set the access time on every node at apply (with the entry's
/// timestamp, RESTORE's IDLETIME included); a read touches only the node
/// it runs on, since access times are local.
#[test]
fn writes_set_the_idle_time_on_every_node_and_reads_only_locally() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut con = cluster.connect(leader);
    restore_idle(&mut con, "old", 1000);
    let _: () = redis::cmd("SET")
        .arg("new")
        .arg("v")
        .query(&mut con)
        .unwrap();
    cluster.wait_all_applied();
    let follower = cluster.followers()[0];
    let mut on_follower = cluster.connect_readonly(follower);
    for id in cluster.ids() {
        let mut node = cluster.connect_readonly(id);
        let old = idle(&mut node, "old").expect("replicated");
        assert!((1000..=1003).contains(&old), "node {id}: {old}");
        let new = idle(&mut node, "new").expect("replicated");
        assert!(new <= 3, "node {id}: {new}");
    }
    let _: Option<String> = redis::cmd("GET")
        .arg("old")
        .query(&mut on_follower)
        .unwrap();
    assert_fresh(idle(&mut on_follower, "old"), "read on the follower");
    let on_leader = idle(&mut con, "old").unwrap();
    assert!(
        on_leader >= 1000,
        "the follower's read touched the leader: {on_leader}"
    );
}
