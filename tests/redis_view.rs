//! Redis's view of a Raft group, end to end: what `ROLE`, `INFO
//! replication`, `INFO persistence`, `INFO cluster`, `CONFIG GET
//! appendonly` and `CLUSTER NODES` say on a real 3-node cluster, and
//! `redis-cli --cluster check` / `info` run against it.
//!
//! What the tests hold the server to:
//! - The leader is a master whose replicas are the followers, with their
//!   client addresses and log indexes as offsets; a follower is a replica
//!   of the leader with its link up.
//! - INFO's replication and persistence fields are Redis's own names (the
//!   same set as a real redis-server master, less those with no meaning on
//!   a Raft log), plus `raft_*` fields.
//! - `redis-cli --cluster check` and `--cluster info` pass; on a lone node
//!   (no cluster) they refuse as they refuse a non-cluster Redis.
//! - A killed follower leaves the leader's replica list and is flagged
//!   `fail` in the leader's CLUSTER NODES and `fail?` in another
//!   follower's.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions};
use common::wait::until;

/// How long the group may take to notice a change (a peer down, a
/// follower's offset catching up).
const NOTICE_TIMEOUT: Duration = Duration::from_secs(10);

/// Redis fields of a master's INFO replication that a Raft log has no use
/// for: there is no backlog of bytes to resume a replica from.
const NOT_ON_RAFT: &[&str] = &[
    "repl_backlog_active",
    "repl_backlog_size",
    "repl_backlog_first_byte_offset",
    "repl_backlog_histlen",
];

/// The `field:value` lines of one INFO reply.
fn info(con: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query(con)
        .unwrap_or_else(|err| panic!("INFO {section}: {err}"));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(field, value)| (field.to_string(), value.to_string()))
        .collect()
}

/// Field names, with `slaveN` lines as `slaveN` once.
fn names(fields: &HashMap<String, String>) -> BTreeSet<String> {
    fields
        .keys()
        .map(|name| {
            if name.starts_with("slave") && name[5..].chars().all(|c| c.is_ascii_digit()) {
                "slaveN".to_string()
            } else {
                name.clone()
            }
        })
        .collect()
}

/// ROLE's reply as a redis value.
fn role(con: &mut redis::Connection) -> redis::Value {
    redis::cmd("ROLE").query(con).expect("ROLE")
}

fn text(value: &redis::Value) -> String {
    redis::from_redis_value(value).expect("a string")
}

fn int(value: &redis::Value) -> i64 {
    redis::from_redis_value(value).expect("an integer")
}

/// The leader's ROLE replicas as `(port, offset)`, or what it said.
fn role_replicas(con: &mut redis::Connection) -> Result<Vec<(u16, u64)>, String> {
    let redis::Value::Array(items) = role(con) else {
        return Err("ROLE is not an array".to_string());
    };
    if text(&items[0]) != "master" {
        return Err(format!("ROLE says {items:?}"));
    }
    let redis::Value::Array(replicas) = &items[2] else {
        return Err(format!("no replica list in {items:?}"));
    };
    Ok(replicas
        .iter()
        .map(|replica| {
            let redis::Value::Array(fields) = replica else {
                panic!("replica {replica:?} is not an array");
            };
            assert_eq!(text(&fields[0]), "127.0.0.1");
            (
                text(&fields[1]).parse().expect("port"),
                text(&fields[2]).parse().expect("offset"),
            )
        })
        .collect())
}

/// Runs `redis-cli --cluster <what> 127.0.0.1:<port>`; (success, output).
fn redis_cli_cluster(what: &str, port: u16) -> (bool, String) {
    let output = Command::new("redis-cli")
        .args(["--cluster", what, &format!("127.0.0.1:{port}")])
        .output()
        .expect("run redis-cli");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// A real redis-server master with one replica, once the link is up:
/// their INFO replication and persistence field names.
fn redis_field_names() -> (BTreeSet<String>, BTreeSet<String>) {
    let master = common::redis(&["--appendonly", "yes", "--appendfsync", "always"]);
    let port = master.port.to_string();
    let replica = common::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut master_con = master.client();
    let mut replica_con = replica.client();
    until(NOTICE_TIMEOUT, "the redis replica's link", || {
        let fields = info(&mut replica_con, "replication");
        match fields.get("master_link_status").map(String::as_str) {
            Some("up") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    until(NOTICE_TIMEOUT, "redis to list its replica", || {
        let fields = info(&mut master_con, "replication");
        (fields.get("connected_slaves").map(String::as_str) == Some("1"))
            .then_some(())
            .ok_or_else(|| format!("{fields:?}"))
    });
    (
        names(&info(&mut master_con, "replication")),
        names(&info(&mut master_con, "persistence")),
    )
}

#[test]
fn a_raft_group_looks_like_a_redis_master_and_its_replicas() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let followers = cluster.followers();
    let mut con = cluster.connect(leader);
    for n in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{n}"))
            .arg(n)
            .query(&mut con)
            .expect("SET");
    }
    let applied = cluster.wait_all_applied();

    // The leader: a master whose replicas are the followers, at the
    // applied index once the leader knows they hold it.
    let mut want: Vec<(u16, u64)> = followers
        .iter()
        .map(|&id| (cluster.port(id), applied))
        .collect();
    want.sort();
    until(NOTICE_TIMEOUT, "ROLE to list both followers", || {
        let mut got = role_replicas(&mut con)?;
        got.sort();
        (got == want).then_some(()).ok_or(format!("{got:?}"))
    });
    let redis::Value::Array(items) = role(&mut con) else {
        panic!("ROLE is not an array");
    };
    assert_eq!(int(&items[1]) as u64, applied);
    let replication = info(&mut con, "replication");
    assert_eq!(replication["role"], "master");
    assert_eq!(replication["connected_slaves"], "2");
    assert_eq!(replication["master_repl_offset"], applied.to_string());
    let slave0 = format!(
        "ip=127.0.0.1,port={},state=online,offset={applied},lag=0",
        cluster.port(followers[0])
    );
    assert!(
        [&replication["slave0"], &replication["slave1"]].contains(&&slave0),
        "{replication:?}"
    );
    let leader_replid = replication["master_replid"].clone();
    assert_eq!(leader_replid.len(), 40);

    // A follower: a replica of the leader, link up, at the applied index.
    let mut follower = cluster.connect(followers[0]);
    let redis::Value::Array(items) = role(&mut follower) else {
        panic!("ROLE is not an array");
    };
    assert_eq!(text(&items[0]), "slave");
    assert_eq!(text(&items[1]), "127.0.0.1");
    assert_eq!(int(&items[2]), i64::from(cluster.port(leader)));
    assert_eq!(text(&items[3]), "connected");
    assert_eq!(int(&items[4]) as u64, applied);
    let replica = info(&mut follower, "replication");
    assert_eq!(replica["role"], "slave");
    assert_eq!(replica["master_host"], "127.0.0.1");
    assert_eq!(replica["master_port"], cluster.port(leader).to_string());
    assert_eq!(replica["master_link_status"], "up");
    assert_eq!(replica["master_sync_in_progress"], "0");
    assert_eq!(replica["slave_repl_offset"], applied.to_string());
    assert_eq!(replica["master_replid"], leader_replid);

    // The same field names as a real redis-server, less the backlog.
    let (redis_replication, redis_persistence) = redis_field_names();
    let ours = names(&replication);
    let missing: Vec<_> = redis_replication
        .iter()
        .filter(|name| !ours.contains(*name) && !NOT_ON_RAFT.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "redis has, redraft lacks: {missing:?}");
    let extra: Vec<_> = ours.difference(&redis_replication).collect();
    assert!(extra.is_empty(), "not Redis's: {extra:?}");
    let persistence = info(&mut con, "persistence");
    let unknown: Vec<_> = names(&persistence)
        .into_iter()
        .filter(|name| !name.starts_with("raft_") && !redis_persistence.contains(name))
        .collect();
    assert!(unknown.is_empty(), "not Redis's: {unknown:?}");
    assert_eq!(persistence["aof_enabled"], "1");
    assert_eq!(persistence["loading"], "0");
    assert_eq!(info(&mut con, "cluster")["cluster_enabled"], "1");
    assert_eq!(info(&mut con, "server")["redis_mode"], "cluster");
    let config: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("append*")
        .query(&mut con)
        .expect("CONFIG GET");
    assert_eq!(config["appendonly"], "yes");
    assert_eq!(config["appendfsync"], "always");

    // redis-cli's cluster manager accepts the group, from any member.
    for id in [leader, followers[1]] {
        let (ok, output) = redis_cli_cluster("check", cluster.port(id));
        assert!(ok, "--cluster check via node {id}:\n{output}");
        assert!(output.contains("[OK] All 16384 slots covered."), "{output}");
        assert!(output.contains("2 additional replica(s)"), "{output}");
        let (ok, output) = redis_cli_cluster("info", cluster.port(id));
        assert!(ok, "--cluster info via node {id}:\n{output}");
        assert!(output.contains("16384 slots | 2 slaves."), "{output}");
    }
}

/// The CLUSTER NODES line of the node whose client port is `port`.
fn nodes_line(con: &mut redis::Connection, port: u16) -> String {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(con)
        .expect("CLUSTER NODES");
    let addr = format!(" 127.0.0.1:{port}@");
    text.lines()
        .find(|line| line.contains(&addr))
        .unwrap_or_else(|| panic!("no {addr} in {text}"))
        .to_string()
}

#[test]
fn a_killed_follower_leaves_the_replicas_and_is_flagged_failed() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let followers = cluster.followers();
    let (dead, alive) = (followers[0], followers[1]);
    let dead_port = cluster.port(dead);
    let mut con = cluster.connect(leader);
    let mut other = cluster.connect(alive);
    assert!(
        nodes_line(&mut con, dead_port).ends_with(" connected"),
        "{}",
        nodes_line(&mut con, dead_port)
    );
    cluster.kill(dead);
    until(
        NOTICE_TIMEOUT,
        "the leader to drop the dead replica",
        || {
            let replicas = role_replicas(&mut con)?;
            let fields = info(&mut con, "replication");
            let line = nodes_line(&mut con, dead_port);
            let flags = line.split(' ').nth(2).unwrap_or_default().to_string();
            (replicas == [(cluster.port(alive), replicas[0].1)]
                && fields["connected_slaves"] == "1"
                && flags == "slave,fail"
                && line.ends_with(" disconnected"))
            .then_some(())
            .ok_or(format!("{replicas:?} {line}"))
        },
    );
    until(NOTICE_TIMEOUT, "a follower to suspect the dead one", || {
        let line = nodes_line(&mut other, dead_port);
        (line.split(' ').nth(2) == Some("slave,fail?"))
            .then_some(())
            .ok_or(line)
    });
    let (ok, output) = redis_cli_cluster("check", cluster.port(leader));
    assert!(ok, "--cluster check with a member down:\n{output}");
    assert!(output.contains("1 additional replica(s)"), "{output}");
}

#[test]
fn a_lone_node_is_not_a_cluster() {
    let node = common::redraft(&[]);
    let mut con = node.client();
    assert_eq!(info(&mut con, "cluster")["cluster_enabled"], "0");
    assert_eq!(info(&mut con, "server")["redis_mode"], "standalone");
    let replication = info(&mut con, "replication");
    assert_eq!(replication["role"], "master");
    assert_eq!(replication["connected_slaves"], "0");
    let (ok, output) = redis_cli_cluster("check", node.port);
    assert!(!ok, "{output}");
    assert!(
        output.contains("is not configured as a cluster node"),
        "{output}"
    );
}
