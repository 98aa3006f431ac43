//! Scripts on a 3-node group:
//!
//! - `SCRIPT LOAD` and an `EVAL` on the leader, SIGKILL the leader: the
//!   new leader runs both by `EVALSHA` (the cache is replicated state).
//! - Scripts that use `TIME`, `math.random`, and commands that pick at
//!   random (`SPOP`, `SRANDMEMBER`) leave identical keys and expiry
//!   times on every node.
//! - A follower that missed the `SCRIPT LOAD` and whose log was purged
//!   catches up by snapshot and holds the script.

mod common;

use common::cluster::{Cluster, ClusterOptions};
use redis::Commands;

const COUNTER: &str = "return redis.call('incrby', KEYS[1], ARGV[1])";
const EVALED: &str = "return redis.call('get', KEYS[1])";

#[test]
fn evalsha_runs_on_a_new_leader_after_failover() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let old_leader = cluster.leader();
    let mut con = cluster.connect(old_leader);
    let loaded: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(COUNTER)
        .query(&mut con)
        .unwrap();
    let _: Option<String> = redis::cmd("EVAL")
        .arg(EVALED)
        .arg(1)
        .arg("counter")
        .query(&mut con)
        .unwrap();
    let counter: i64 = redis::cmd("EVALSHA")
        .arg(&loaded)
        .arg(1)
        .arg("counter")
        .arg(3)
        .query(&mut con)
        .unwrap();
    assert_eq!(counter, 3);
    cluster.kill(old_leader);
    let new_leader = cluster.leader();
    assert_ne!(new_leader, old_leader, "another node leads");
    let mut con = cluster.connect(new_leader);
    let evaled = redraft_server::apply::sha1_hex(EVALED.as_bytes());
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&loaded)
        .arg(&evaled)
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, [1, 1], "the new leader holds both scripts");
    let counter: i64 = redis::cmd("EVALSHA")
        .arg(&loaded)
        .arg(1)
        .arg("counter")
        .arg(4)
        .query(&mut con)
        .unwrap();
    assert_eq!(counter, 7, "EVALSHA of the loaded script on the new leader");
    let value: String = redis::cmd("EVALSHA")
        .arg(&evaled)
        .arg(1)
        .arg("counter")
        .query(&mut con)
        .unwrap();
    assert_eq!(value, "7", "EVALSHA of the EVALed script on the new leader");
}

/// Stores what nondeterministic sources give a script into its keys.
const RANDOM_SCRIPT: &str = r#"
local t = redis.call('time')
redis.call('set', KEYS[1], t[1] .. '.' .. t[2])
redis.call('pexpire', KEYS[1], 100000)
redis.call('set', KEYS[2], tostring(math.random()) .. ',' .. math.random(1000) .. ',' .. math.random(5, 9))
for i = 1, 20 do redis.call('sadd', KEYS[3], 'm' .. i) end
local popped = redis.call('spop', KEYS[3], 3)
redis.call('rpush', KEYS[4], unpack(popped))
redis.call('rpush', KEYS[4], unpack(redis.call('srandmember', KEYS[3], -5)))
math.randomseed(ARGV[1])
redis.call('set', KEYS[5], tostring(math.random()))
return redis.call('get', KEYS[2])
"#;

#[test]
fn time_and_random_in_scripts_leave_identical_state_on_every_node() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut con = cluster.connect(leader);
    let mut keys = Vec::new();
    let mut randoms = Vec::new();
    for run in 0..10 {
        let names: Vec<String> = (0..5).map(|k| format!("r{run}:{k}")).collect();
        let random: String = redis::cmd("EVAL")
            .arg(RANDOM_SCRIPT)
            .arg(5)
            .arg(&names)
            .arg(run)
            .query(&mut con)
            .unwrap();
        randoms.push(random);
        keys.extend(names);
    }
    randoms.sort();
    randoms.dedup();
    assert!(
        randoms.len() > 1,
        "math.random differs between runs: {randoms:?}"
    );
    cluster.wait_all_applied();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expected = cluster.dumps(leader, &keys);
    assert!(expected.iter().all(Option::is_some), "every key is written");
    let expiry = |id: u64| -> Vec<i64> {
        let mut con = cluster.connect_readonly(id);
        keys.iter()
            .map(|key| redis::cmd("PEXPIRETIME").arg(key).query(&mut con).unwrap())
            .collect()
    };
    let leader_expiry = expiry(leader);
    for follower in cluster.followers() {
        assert_eq!(
            cluster.dumps(follower, &keys),
            expected,
            "node {follower}'s keys vs the leader's"
        );
        assert_eq!(
            expiry(follower),
            leader_expiry,
            "node {follower}'s expiry times vs the leader's"
        );
    }
}

#[test]
fn a_follower_gets_the_script_cache_by_snapshot() {
    /// Bounds the writes while waiting for the leader to purge its log.
    const ROUNDS_MAX: usize = 100;
    const WRITES_PER_ROUND: usize = 50;
    let options = ClusterOptions {
        snapshot_logs_since_last: Some(50),
    };
    let mut cluster = Cluster::start(3, options);
    let leader = cluster.leader();
    let lagging = cluster.followers()[0];
    let lagging_last_log = cluster.raft_number(lagging, "raft_last_log_index");
    cluster.kill(lagging);
    let mut con = cluster.connect(leader);
    let loaded: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(COUNTER)
        .query(&mut con)
        .unwrap();
    // One write per entry until the leader purged what the lagging node
    // lacks, the SCRIPT LOAD among it.
    for _ in 0..ROUNDS_MAX {
        for _ in 0..WRITES_PER_ROUND {
            let _: i64 = con.incr("filler", 1).unwrap();
        }
        if cluster.raft_number(leader, "raft_purged_index") > lagging_last_log + 100 {
            break;
        }
    }
    let purged = cluster.raft_number(leader, "raft_purged_index");
    assert!(
        purged > lagging_last_log,
        "the leader purged only up to {purged}"
    );
    cluster.restart(lagging);
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    cluster.wait_applied(lagging, commit_index);
    assert!(
        cluster.raft_number(lagging, "raft_snapshot_index") >= purged,
        "node {lagging} caught up by snapshot"
    );
    let mut con = cluster.connect(lagging);
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&loaded)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        exists,
        [1],
        "node {lagging} holds the script from the snapshot"
    );
}
