//! End-to-end tests of a 3-node Raft cluster of real processes on loopback:
//! replication to followers, redirects, leader failover, catch-up by
//! snapshot, whole-cluster crash and cluster-aware clients.
//!
//! What the tests hold the server to:
//! - A write acknowledged by the leader is committed: it survives the loss of
//!   the leader, of a follower, or of every node at once, and every node
//!   applies it.
//! - A follower never serves a write or a linearizable read; it answers
//!   `-MOVED <slot> <leader host:port>`. After `READONLY` it serves reads from
//!   its own state.
//! - A new leader is elected within 3 s of the old one being SIGKILLed.
//! - A node that missed purged log entries catches up by installing a
//!   snapshot, and then holds exactly the leader's data.
//! - A linearizable read never returns older data than an acknowledged write.
//!
//! Each test starts its own cluster on its own free ports and temp dirs, so
//! the tests run in parallel.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{number, Cluster, ClusterOptions};
use common::wait::{until, until_count};
use redis::Commands;
use redraft_server::resp::Frame;

/// How soon after the leader is SIGKILLed another node must lead. The
/// server's defaults (heartbeat 100 ms, election timeout 400..800 ms) are
/// chosen for it.
const ELECTION_MAX: Duration = Duration::from_secs(3);
/// How long writers may take to reach the point where a test kills.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Commands per pipeline when a test writes many keys.
const PIPELINE_LEN: usize = 50;

/// The value a test writes under `key`.
fn value_of(key: &str) -> String {
    format!("value-of-{key}")
}

/// Sets every key to `value_of(key)` through `con`, in pipelines.
fn set_keys(con: &mut redis::Connection, keys: &[String]) {
    for batch in keys.chunks(PIPELINE_LEN) {
        let mut pipe = redis::pipe();
        for key in batch {
            pipe.cmd("SET").arg(key).arg(value_of(key));
        }
        let replies: Vec<String> = pipe
            .query(con)
            .unwrap_or_else(|err| panic!("SET {}..: {err}", batch[0]));
        assert!(replies.iter().all(|reply| reply == "OK"), "{replies:?}");
    }
}

/// Keys `{prefix}:0` .. `{prefix}:{count - 1}`.
fn keys(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}:{i}")).collect()
}

/// Asserts that every key reads as `value_of(key)` through `con`.
fn assert_keys(con: &mut redis::Connection, keys: &[String], whom: &str) {
    let mut wrong = Vec::new();
    for batch in keys.chunks(PIPELINE_LEN) {
        let mut pipe = redis::pipe();
        for key in batch {
            pipe.cmd("GET").arg(key);
        }
        let values: Vec<Option<String>> = pipe
            .query(con)
            .unwrap_or_else(|err| panic!("{whom}: GET {}..: {err}", batch[0]));
        for (key, value) in batch.iter().zip(values) {
            if value.as_deref() != Some(value_of(key).as_str()) {
                wrong.push(format!("{key} = {value:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{whom}: {} of {} acknowledged keys missing or wrong, first: {:?}",
        wrong.len(),
        keys.len(),
        &wrong[..wrong.len().min(10)]
    );
}

fn dbsize(con: &mut redis::Connection) -> u64 {
    redis::cmd("DBSIZE").query(con).expect("DBSIZE")
}

#[test]
fn acknowledged_writes_reach_every_node() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let written = keys("replicated", 300);
    let mut con = cluster.connect(leader);
    // Half one at a time, half pipelined.
    for key in &written[..150] {
        let _: () = con.set(key, value_of(key)).unwrap();
    }
    set_keys(&mut con, &written[150..]);
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    for id in cluster.followers() {
        cluster.wait_applied(id, commit_index);
        let mut stale = cluster.connect_readonly(id);
        assert_keys(
            &mut stale,
            &written,
            &format!("follower {id} with READONLY"),
        );
        assert_eq!(dbsize(&mut stale), 300, "follower {id} DBSIZE");
    }
}

/// The reply to one command on a raw connection.
fn raw_reply(cluster: &Cluster, id: u64, args: &[&[u8]]) -> Frame {
    cluster.raw(id).command(args)
}

#[test]
fn follower_redirects_writes_and_strong_reads_to_the_leader() {
    // Slots from the Redis cluster tutorial: "foo" hashes to 12182 and
    // "hello" to 866.
    const CASES: [(&str, u16); 2] = [("foo", 12182), ("hello", 866)];
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut leader_con = cluster.connect(leader);
    for (key, _) in CASES {
        let _: () = leader_con.set(key, value_of(key)).unwrap();
    }
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    let follower = cluster.followers()[0];
    cluster.wait_applied(follower, commit_index);
    for (key, slot) in CASES {
        let moved = Frame::Error(format!("MOVED {slot} {}", cluster.addr(leader)).into());
        let set = raw_reply(&cluster, follower, &[b"SET", key.as_bytes(), b"other"]);
        assert_eq!(set, moved, "SET {key} on follower {follower}");
        let get = raw_reply(&cluster, follower, &[b"GET", key.as_bytes()]);
        assert_eq!(
            get, moved,
            "GET {key} (linearizable) on follower {follower}"
        );

        let mut raw = cluster.raw(follower);
        assert_eq!(raw.command(&[b"READONLY"]), Frame::Simple("OK".into()));
        let stale = raw.command(&[b"GET", key.as_bytes()]);
        assert_eq!(
            stale,
            Frame::Bulk(value_of(key).into()),
            "GET {key} after READONLY"
        );
        let write = raw.command(&[b"SET", key.as_bytes(), b"other"]);
        assert_eq!(write, moved, "SET {key} after READONLY is still a write");
        assert_eq!(raw.command(&[b"READWRITE"]), Frame::Simple("OK".into()));
        let again = raw.command(&[b"GET", key.as_bytes()]);
        assert_eq!(again, moved, "GET {key} after READWRITE");
    }
    let value: String = leader_con.get("foo").unwrap();
    assert_eq!(value, value_of("foo"), "the refused SETs changed nothing");
}

#[test]
fn a_node_without_a_leader_answers_clusterdown() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let _: () = cluster.connect(leader).set("foo", "bar").unwrap();
    cluster.wait_all_applied();
    let survivor = cluster.followers()[0];
    for id in cluster.ids() {
        if id != survivor {
            cluster.kill(id);
        }
    }
    let down = Frame::Error("CLUSTERDOWN The cluster is down".into());
    until(
        Duration::from_secs(10),
        format!("lone node {survivor} to answer SET with CLUSTERDOWN"),
        || match raw_reply(&cluster, survivor, &[b"SET", b"foo", b"baz"]) {
            reply if reply == down => Ok(()),
            reply => Err(format!("{reply:?}")),
        },
    );
    let get = raw_reply(&cluster, survivor, &[b"GET", b"foo"]);
    assert_eq!(get, down, "linearizable GET without a leader");
    let mut raw = cluster.raw(survivor);
    raw.command(&[b"READONLY"]);
    let stale = raw.command(&[b"GET", b"foo"]);
    assert_eq!(
        stale,
        Frame::Bulk("bar".into()),
        "READONLY GET without a leader"
    );
}

/// Writes `{prefix}:{i}` for i = 0, 1, ... through a connection to `port`
/// one at a time until a write fails; returns the acknowledged keys.
fn write_until_error(port: u16, prefix: &str, acked_count: &AtomicU64) -> Vec<String> {
    /// Bounds the loop if the kill never comes.
    const WRITES_MAX: usize = 100_000;
    let mut acked = Vec::new();
    let Ok(mut con) = common::node::connect(port) else {
        return acked;
    };
    for i in 0..WRITES_MAX {
        let key = format!("{prefix}:{i}");
        if con.set::<_, _, ()>(&key, value_of(&key)).is_err() {
            return acked;
        }
        acked.push(key);
        acked_count.fetch_add(1, Ordering::Relaxed);
    }
    panic!("wrote {WRITES_MAX} keys and the node was never killed");
}

/// After `old_leader` was killed at `killed_at`, polls the other nodes
/// until one reports `raft_role:leader` in a term after `old_term`; returns
/// it and how long that took.
fn wait_new_leader(
    cluster: &Cluster,
    old_leader: u64,
    old_term: u64,
    killed_at: Instant,
) -> (u64, Duration) {
    let candidates: Vec<u64> = cluster.running();
    assert!(!candidates.contains(&old_leader));
    until(Duration::from_secs(15), "a new leader", || {
        let mut seen = Vec::new();
        for &id in &candidates {
            let Ok(info) = cluster.try_info_raft(id) else {
                continue;
            };
            let term = number(&info, "raft_term")?;
            let role = info["raft_role"].clone();
            if role == "leader" && term > old_term {
                return Ok((id, killed_at.elapsed()));
            }
            seen.push(format!("node {id}: {role} in term {term}"));
        }
        Err(seen.join("; "))
    })
}

#[test]
fn leader_sigkill_elects_a_new_leader_that_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let old_leader = cluster.leader();
    let old_term = cluster.raft_number(old_leader, "raft_term");
    let acked_count = AtomicU64::new(0);
    let port = cluster.port(old_leader);
    let (acked, killed_at) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_until_error(port, "before", &acked_count));
        until_count(
            WRITE_TIMEOUT,
            &acked_count,
            200,
            "acknowledged writes to the first leader",
        );
        cluster.kill(old_leader);
        let killed_at = Instant::now();
        (writer.join().unwrap(), killed_at)
    });

    let (new_leader, elapsed) = wait_new_leader(&cluster, old_leader, old_term, killed_at);
    assert!(
        elapsed <= ELECTION_MAX,
        "node {new_leader} became leader {elapsed:?} after the SIGKILL; the bound is {ELECTION_MAX:?}"
    );
    let new_leader = {
        let agreed = cluster.leader();
        assert_eq!(agreed, new_leader, "the survivors agree on another leader");
        agreed
    };
    let mut con = cluster.connect(new_leader);
    assert_keys(&mut con, &acked, &format!("new leader {new_leader}"));

    let after = keys("after", 100);
    set_keys(&mut con, &after);
    cluster.restart(old_leader);
    let commit_index = cluster.raft_number(new_leader, "raft_commit_index");
    cluster.wait_applied(old_leader, commit_index);
    let mut stale = cluster.connect_readonly(old_leader);
    let whom = format!("restarted old leader {old_leader} with READONLY");
    assert_keys(&mut stale, &acked, &whom);
    assert_keys(&mut stale, &after, &whom);
    assert_eq!(
        cluster.leader(),
        new_leader,
        "the restarted node took leadership back"
    );
}

#[test]
fn follower_behind_purged_logs_catches_up_by_snapshot() {
    /// Bounds the writes while waiting for the leader to purge its log.
    const ROUNDS_MAX: usize = 100;
    const KEYS_PER_ROUND: usize = 50;
    let options = ClusterOptions {
        snapshot_logs_since_last: Some(50),
    };
    let mut cluster = Cluster::start(3, options);
    let leader = cluster.leader();
    let lagging = cluster.followers()[0];
    let lagging_last_log = cluster.raft_number(lagging, "raft_last_log_index");
    cluster.kill(lagging);

    // One write per entry (no pipelining, so the proposer cannot coalesce
    // them), until the leader has purged entries the lagging node lacks.
    let mut con = cluster.connect(leader);
    let mut written = Vec::new();
    for round in 0..ROUNDS_MAX {
        for i in 0..KEYS_PER_ROUND {
            let key = format!("snap:{round}:{i}");
            let _: () = con.set(&key, value_of(&key)).unwrap();
            written.push(key);
        }
        if cluster.raft_number(leader, "raft_purged_index") > lagging_last_log + 100 {
            break;
        }
    }
    let purged = cluster.raft_number(leader, "raft_purged_index");
    assert!(
        purged > lagging_last_log,
        "after {} writes the leader purged only up to {purged}; node {lagging} has up to \
         {lagging_last_log}, so no snapshot is needed",
        written.len()
    );

    cluster.restart(lagging);
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    cluster.wait_applied(lagging, commit_index);
    let snapshot_index = cluster.raft_number(lagging, "raft_snapshot_index");
    assert!(
        snapshot_index >= purged,
        "node {lagging} caught up to {commit_index} but its snapshot index is {snapshot_index}, \
         below the leader's purged index {purged}: it cannot have replayed purged entries"
    );
    let mut stale = cluster.connect_readonly(lagging);
    assert_eq!(
        dbsize(&mut stale),
        dbsize(&mut con),
        "DBSIZE on node {lagging} vs the leader"
    );
    assert_keys(
        &mut stale,
        &written,
        &format!("node {lagging} after snapshot install"),
    );
}

/// What the client of the whole-cluster crash test saw.
#[derive(Debug, Default)]
struct CounterClient {
    /// Keys whose SET was acknowledged.
    keys: Vec<String>,
    /// The last INCR reply.
    counter: i64,
    /// Whether an INCR was sent without a reply.
    incr_in_flight: bool,
}

/// Alternates `SET crash:{i}` and `INCR counter` on `port` until a command
/// fails, or until `stop`.
fn counter_client(port: u16, acked_count: &AtomicU64, stop: &AtomicBool) -> CounterClient {
    let mut seen = CounterClient::default();
    let Ok(mut con) = common::node::connect(port) else {
        return seen;
    };
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("crash:{i}");
        if con.set::<_, _, ()>(&key, value_of(&key)).is_err() {
            break;
        }
        seen.keys.push(key);
        match con.incr::<_, _, i64>("counter", 1) {
            Ok(value) => seen.counter = value,
            Err(_) => {
                seen.incr_in_flight = true;
                break;
            }
        }
        acked_count.fetch_add(1, Ordering::Relaxed);
    }
    seen
}

#[test]
fn whole_cluster_sigkill_and_restart_loses_nothing_acknowledged() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let acked_count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let port = cluster.port(leader);
    let seen = std::thread::scope(|scope| {
        let client = scope.spawn(|| counter_client(port, &acked_count, &stop));
        until_count(
            WRITE_TIMEOUT,
            &acked_count,
            150,
            "acknowledged SET + INCR pairs",
        );
        // The leader first, so the client is cut off mid-stream; the
        // followers right after, before they can elect a new leader.
        cluster.kill(leader);
        for id in cluster.ids() {
            cluster.kill(id);
        }
        stop.store(true, Ordering::Relaxed);
        client.join().unwrap()
    });
    assert!(seen.counter > 0, "the client saw no INCR reply: {seen:?}");

    for id in cluster.ids() {
        cluster.restart(id);
    }
    let leader = cluster.leader();
    let mut con = cluster.connect(leader);
    let counter: i64 = con.get("counter").unwrap();
    let bound = seen.counter + i64::from(seen.incr_in_flight);
    assert!(
        (seen.counter..=bound).contains(&counter),
        "after restarting every node the counter reads {counter}; the last acknowledged INCR \
         returned {}, with {} in flight",
        seen.counter,
        u8::from(seen.incr_in_flight)
    );
    assert_keys(
        &mut con,
        &seen.keys,
        &format!("leader {leader} after full restart"),
    );

    // The INCR that was in flight may still be committed after that read
    // (its entry can sit uncommitted in the logs). A write in the new run
    // commits every entry before it, so after one all nodes must agree.
    let _: () = con.set("barrier", "1").unwrap();
    let settled: i64 = con.get("counter").unwrap();
    assert!(
        (counter..=bound).contains(&settled),
        "the counter read {counter} right after the restart and {settled} after a new write; \
         the last acknowledged INCR returned {}",
        seen.counter
    );
    cluster.wait_all_applied();
    for id in cluster.followers() {
        let mut stale = cluster.connect_readonly(id);
        let stale_counter: i64 = stale.get("counter").unwrap();
        assert_eq!(
            stale_counter, settled,
            "node {id} (READONLY) after catching up"
        );
    }
}

/// Runs `redis-cli -c -p port args...` and returns its trimmed stdout.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-c", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed (apt-get install redis-tools)");
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn cluster_aware_clients_follow_redirects_from_a_follower() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let follower = cluster.followers()[0];
    let port = cluster.port(follower);
    assert_eq!(
        redis_cli(port, &["SET", "foo", "bar"]),
        "OK",
        "redis-cli -c SET"
    );
    assert_eq!(redis_cli(port, &["GET", "foo"]), "bar", "redis-cli -c GET");

    let client = redis::cluster::ClusterClient::new(vec![cluster.url(follower)])
        .expect("cluster client from a follower's address");
    let mut con = client.get_connection().expect("cluster connection");
    let written = keys("cluster-client", 200);
    for key in &written {
        let _: () = con
            .set(key, value_of(key))
            .unwrap_or_else(|err| panic!("cluster client SET {key}: {err}"));
    }
    let mut wrong = Vec::new();
    for key in &written {
        let value: Option<String> = con
            .get(key)
            .unwrap_or_else(|err| panic!("cluster client GET {key}: {err}"));
        if value.as_deref() != Some(value_of(key).as_str()) {
            wrong.push((key.clone(), value));
        }
    }
    assert!(wrong.is_empty(), "cluster client read back {wrong:?}");
    let mut leader_con = cluster.connect(cluster.leader());
    assert_keys(
        &mut leader_con,
        &written,
        "leader, written by the cluster client",
    );
}

#[test]
fn linearizable_read_on_the_leader_sees_the_acknowledged_incr() {
    const ROUNDS: i64 = 100;
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut writer = cluster.connect(leader);
    let mut seen = BTreeMap::new();
    for round in 1..=ROUNDS {
        let acked: i64 = writer.incr("linear", 1).unwrap();
        assert_eq!(acked, round, "INCR reply");
        let read: i64 = cluster.connect(leader).get("linear").unwrap();
        if read != acked {
            seen.insert(round, read);
        }
    }
    assert!(
        seen.is_empty(),
        "a GET on a new connection to the leader right after INCR returned another value \
         (round -> value read): {seen:?}"
    );
}
