//! Growing and shrinking a cluster of real processes under a write load,
//! through the admin API (`POST /cluster/join`, `POST /cluster/leave`).
//!
//! One node starts alone; writer threads SET unique keys and INCR a counter
//! each, following `-MOVED` and moving on from `-CLUSTERDOWN`, and record
//! every acknowledged write. Nodes started with `join = true` are added one
//! at a time (one join sent to the leader, the others to a follower, which
//! forwards it), a follower leaves, and then the leader itself leaves
//! (through a follower). Then the load stops and the test holds the server
//! to:
//! - no acknowledged write lost, on every remaining member;
//! - no error but the documented ones (`MOVED`, `CLUSTERDOWN`, write
//!   outcome unknown);
//! - the same, expected membership on every remaining member, in
//!   `/cluster/members` and in `INFO raft`.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::admin;
use common::cluster::{number, Cluster, ClusterOptions, CATCH_UP_TIMEOUT};
use common::node::connect;
use common::wait::{until, until_count};

/// Writer threads.
const WRITERS: usize = 4;
/// Acknowledged writes to wait for between two membership steps, so each
/// step happens under load.
const WRITES_PER_STEP: u64 = 150;
/// How long writers may take to make that many writes.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a membership change may take, retries included.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(90);

/// What one writer saw.
#[derive(Debug, Default)]
struct WriterLog {
    /// Every acknowledged SET: key and value.
    sets: Vec<(String, String)>,
    /// Acknowledged INCRs and the last value one returned.
    incrs: u64,
    last_incr: i64,
    /// INCRs whose outcome the server said was unknown.
    incrs_unknown: u64,
}

/// Shared by the writers and the test.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Acknowledged writes so far, all writers.
    acked: AtomicU64,
    /// Client ports of every node started, to move on to after
    /// `CLUSTERDOWN`.
    ports: Mutex<Vec<u16>>,
    /// Errors other than the documented redirects.
    unexpected: Mutex<Vec<String>>,
    /// Documented redirects seen (for the report on failure).
    redirects: AtomicU64,
}

/// What a write's error tells the writer to do.
enum Next {
    /// `-MOVED`: to this port.
    MoveTo(u16),
    /// `-CLUSTERDOWN`: to another node.
    Elsewhere,
    /// The outcome is unknown; carry on.
    Unknown,
}

fn classify(load: &Load, error: &redis::RedisError) -> Next {
    if let Some((addr, _slot)) = error.redirect_node() {
        load.redirects.fetch_add(1, Ordering::Relaxed);
        let port = addr.rsplit(':').next().and_then(|port| port.parse().ok());
        return port.map_or(Next::Elsewhere, Next::MoveTo);
    }
    if error.code() == Some("CLUSTERDOWN") {
        load.redirects.fetch_add(1, Ordering::Relaxed);
        return Next::Elsewhere;
    }
    if error.to_string().contains("write outcome unknown") {
        return Next::Unknown;
    }
    load.unexpected.lock().unwrap().push(error.to_string());
    Next::Elsewhere
}

/// One writer: SET `m:<i>:<n>` and INCR `ctr:<i>` until told to stop.
fn writer(load: &Load, i: usize) -> WriterLog {
    let mut log = WriterLog::default();
    let mut port = load.ports.lock().unwrap()[0];
    let mut con = None;
    let mut turn = 0;
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let c = match con.as_mut() {
            Some(c) => c,
            None => match connect(port) {
                Ok(c) => con.insert(c),
                Err(error) => {
                    load.unexpected
                        .lock()
                        .unwrap()
                        .push(format!("connect {port}: {error}"));
                    return log;
                }
            },
        };
        let key = format!("m:{i}:{n}");
        let value = format!("v{i}-{n}");
        n += 1;
        let next = match redis::cmd("SET").arg(&key).arg(&value).query::<String>(c) {
            Ok(_) => {
                log.sets.push((key, value));
                load.acked.fetch_add(1, Ordering::Relaxed);
                match redis::cmd("INCR").arg(format!("ctr:{i}")).query::<i64>(c) {
                    Ok(v) => {
                        assert!(v > log.last_incr, "INCR went from {} to {v}", log.last_incr);
                        (log.incrs, log.last_incr) = (log.incrs + 1, v);
                        continue;
                    }
                    Err(error) => {
                        let next = classify(load, &error);
                        if matches!(next, Next::Unknown) {
                            log.incrs_unknown += 1;
                        }
                        next
                    }
                }
            }
            Err(error) => classify(load, &error),
        };
        match next {
            Next::MoveTo(to) => (port, con) = (to, None),
            Next::Elsewhere => {
                let ports = load.ports.lock().unwrap().clone();
                turn += 1;
                (port, con) = (ports[turn % ports.len()], None);
                // A pause between probes of a group that is electing.
                std::thread::sleep(Duration::from_millis(20));
            }
            Next::Unknown => {}
        }
    }
    log
}

/// Sends a membership change to node `via` until it is answered 200
/// (retrying answers that say to try again: 421, 502, 503); returns the
/// voters it reports.
fn change(cluster: &Cluster, via: u64, path: &str, body: &str) -> Vec<u64> {
    let answer = until(
        CHANGE_TIMEOUT,
        format!("{path} {body} via node {via}"),
        || {
            let answer = admin::post(&cluster.admin_url(via), path, body)?;
            match answer.status {
                200 => Ok(answer.body),
                421 | 502 | 503 => Err(format!("{} {}", answer.status, answer.body)),
                status => panic!("{path} {body} via node {via}: {status} {}", answer.body),
            }
        },
    );
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["changed"], true, "{answer}");
    answer["voters"]
        .as_array()
        .expect("voters")
        .iter()
        .map(|id| id.as_u64().expect("a node id"))
        .collect()
}

/// Waits for `count` more acknowledged writes.
fn more_writes(load: &Load, count: u64) {
    let target = load.acked.load(Ordering::Relaxed) + count;
    until_count(WRITE_TIMEOUT, &load.acked, target, "acknowledged writes");
}

/// A member other than `not`.
fn other_than(members: &BTreeSet<u64>, not: u64) -> u64 {
    *members
        .iter()
        .find(|&&id| id != not)
        .expect("another member")
}

#[test]
fn grow_to_three_and_shrink_under_load_without_losing_writes() {
    let mut cluster = Cluster::start(1, ClusterOptions::default());
    let load = Arc::new(Load::default());
    load.ports.lock().unwrap().push(cluster.port(1));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let load = load.clone();
            std::thread::spawn(move || writer(&load, i))
        })
        .collect();
    let mut members = BTreeSet::from([1]);
    more_writes(&load, WRITES_PER_STEP);

    // Grow: node 2 through the leader, node 3 through a follower.
    for via_follower in [false, true] {
        let id = cluster.start_joiner();
        load.ports.lock().unwrap().push(cluster.port(id));
        let leader = cluster.leader_among(&Vec::from_iter(members.clone()));
        let via = if via_follower {
            other_than(&members, leader)
        } else {
            leader
        };
        members.insert(id);
        let voters = change(&cluster, via, "/cluster/join", &cluster.join_body(id));
        assert_eq!(
            voters,
            Vec::from_iter(members.clone()),
            "after node {id} joined"
        );
        more_writes(&load, WRITES_PER_STEP);
    }
    // A second join of a voter at the same address changes nothing.
    let again = admin::post(
        &cluster.admin_url(3),
        "/cluster/join",
        &cluster.join_body(3),
    )
    .unwrap();
    assert_eq!(
        (again.status, &again.body["changed"]),
        (200, &false.into()),
        "{}",
        again.body
    );

    // Shrink: a follower leaves (asked of the leader).
    let mut removed = Vec::new();
    let leader = cluster.leader_among(&Vec::from_iter(members.clone()));
    let follower = other_than(&members, leader);
    members.remove(&follower);
    removed.push(follower);
    let voters = change(
        &cluster,
        leader,
        "/cluster/leave",
        &format!(r#"{{"id":{follower}}}"#),
    );
    assert_eq!(voters, Vec::from_iter(members.clone()));
    more_writes(&load, WRITES_PER_STEP);

    // Back to three, then the leader leaves (asked of a follower).
    let id = cluster.start_joiner();
    load.ports.lock().unwrap().push(cluster.port(id));
    let leader = cluster.leader_among(&Vec::from_iter(members.clone()));
    members.insert(id);
    let voters = change(
        &cluster,
        other_than(&members, leader),
        "/cluster/join",
        &cluster.join_body(id),
    );
    assert_eq!(voters, Vec::from_iter(members.clone()));
    more_writes(&load, WRITES_PER_STEP);
    let via = *members
        .iter()
        .find(|&&m| m != leader && m != id)
        .unwrap_or(&id);
    members.remove(&leader);
    removed.push(leader);
    let voters = change(
        &cluster,
        via,
        "/cluster/leave",
        &format!(r#"{{"id":{leader}}}"#),
    );
    assert_eq!(voters, Vec::from_iter(members.clone()));
    let member_ids = Vec::from_iter(members.clone());
    let new_leader = cluster.leader_among(&member_ids);
    assert_ne!(new_leader, leader, "the leader that left still leads");
    more_writes(&load, WRITES_PER_STEP);

    load.stop.store(true, Ordering::Relaxed);
    let logs: Vec<WriterLog> = writers
        .into_iter()
        .map(|writer| writer.join().expect("writer thread"))
        .collect();
    let unexpected = load.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "errors other than redirects: {unexpected:?}"
    );
    for id in removed {
        cluster.kill(id);
    }

    // Every member has applied everything and holds every acknowledged write.
    let leader = cluster.leader_among(&member_ids);
    let commit_index = cluster.raft_number(leader, "raft_commit_index");
    for &id in &member_ids {
        cluster.wait_applied(id, commit_index);
        check_writes(&cluster, id, &logs);
        check_membership(&cluster, id, &member_ids);
    }
    eprintln!(
        "membership test: {} acknowledged writes, {} redirects",
        load.acked.load(Ordering::Relaxed),
        load.redirects.load(Ordering::Relaxed)
    );
}

/// Node `id`'s own state holds every acknowledged SET, and each counter
/// counts every acknowledged INCR (and no more than were sent).
fn check_writes(cluster: &Cluster, id: u64, logs: &[WriterLog]) {
    let mut con = cluster.connect_readonly(id);
    for (i, log) in logs.iter().enumerate() {
        for chunk in log.sets.chunks(200) {
            let keys: Vec<&str> = chunk.iter().map(|(key, _)| key.as_str()).collect();
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut con)
                .unwrap_or_else(|err| panic!("MGET on node {id}: {err}"));
            for ((key, want), got) in chunk.iter().zip(values) {
                assert_eq!(got.as_deref(), Some(want.as_str()), "node {id} lost {key}");
            }
        }
        let counter: i64 = redis::cmd("GET")
            .arg(format!("ctr:{i}"))
            .query::<Option<i64>>(&mut con)
            .unwrap()
            .unwrap_or(0);
        assert!(
            counter >= log.last_incr && counter as u64 >= log.incrs,
            "node {id}: ctr:{i} is {counter}, but INCR acknowledged {} (up to {})",
            log.incrs,
            log.last_incr
        );
        assert!(
            counter as u64 <= log.incrs + log.incrs_unknown,
            "node {id}: ctr:{i} is {counter}, more than the {} INCRs sent",
            log.incrs + log.incrs_unknown
        );
    }
}

/// Node `id` reports exactly `members` as voters, each reachable, in
/// `/cluster/members` and in `INFO raft`.
fn check_membership(cluster: &Cluster, id: u64, members: &[u64]) {
    until(
        CATCH_UP_TIMEOUT,
        format!("node {id} to report members {members:?}"),
        || {
            let answer = admin::get(&cluster.admin_url(id), "/cluster/members")?;
            let list = answer.body.as_array().cloned().unwrap_or_default();
            let ids: Vec<u64> = list.iter().filter_map(|m| m["id"].as_u64()).collect();
            let all_good = list
                .iter()
                .all(|m| m["voter"] == true && m["reachable"] == true);
            if ids == members && all_good {
                Ok(())
            } else {
                Err(answer.body.to_string())
            }
        },
    );
    let info = cluster.info_raft(id);
    assert_eq!(number(&info, "raft_members").unwrap(), members.len() as u64);
    for member in members {
        let line = info
            .get(&format!("raft_member_{member}"))
            .unwrap_or_else(|| panic!("node {id}: INFO raft has no raft_member_{member}"));
        assert!(
            line.contains("voter=1") && line.contains("reachable=1"),
            "node {id}: raft_member_{member}:{line}"
        );
        // The leader has replicated to every follower: it knows the
        // round trip (a number of µs).
        let rtt = line
            .split(',')
            .find_map(|field| field.strip_prefix("append_rtt_us="))
            .unwrap_or_else(|| panic!("node {id}: raft_member_{member}:{line}"));
        let leads = info.get("raft_role").map(String::as_str) == Some("leader");
        if leads && *member != id {
            assert!(
                rtt.parse::<u64>().is_ok(),
                "node {id}: raft_member_{member}:{line}"
            );
        }
    }
}

/// Joining a node that never starts must not make it a voter: the join
/// answers 504 once its catch-up time is over, the node stays a learner,
/// and the group keeps its quorum (a real voter can die and writes go on).
/// An address already in use by a member is refused.
#[test]
fn a_node_that_never_starts_stays_a_learner_and_costs_no_quorum() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let [port, raft_port]: [u16; 2] = common::node::free_ports(2).try_into().unwrap();
    let body = format!(
        r#"{{"id":4,"host":"127.0.0.1","port":{port},"raft_port":{raft_port},"catch_up_timeout_ms":1500}}"#
    );
    let answer = admin::post(&cluster.admin_url(leader), "/cluster/join", &body).unwrap();
    assert_eq!(answer.status, 504, "{}", answer.body);
    let error = answer.body["error"].as_str().unwrap_or_default();
    assert!(error.contains("stays a learner"), "{error}");
    let status = admin::get(&cluster.admin_url(leader), "/cluster/status").unwrap();
    let membership = &status.body["membership"];
    assert_eq!(
        membership["voters"],
        serde_json::json!([1, 2, 3]),
        "{status:?}"
    );
    assert_eq!(membership["learners"], serde_json::json!([4]), "{status:?}");
    // The wait was reported, with the learner's progress.
    let log = cluster.log(leader);
    assert!(
        log.lines()
            .any(|line| line.contains("learner catching up") && line.contains("learner=4")),
        "{log}"
    );

    // Another member's address under a new id is refused.
    let taken = format!(
        r#"{{"id":5,"host":"127.0.0.1","port":{},"raft_port":{}}}"#,
        cluster.port(leader),
        raft_port + 1
    );
    let answer = admin::post(&cluster.admin_url(leader), "/cluster/join", &taken).unwrap();
    assert_eq!(answer.status, 409, "{}", answer.body);

    // Three voters, one down: two still make a quorum.
    let follower = cluster.followers()[0];
    cluster.kill(follower);
    let leader = cluster.leader_among(&cluster.running());
    let mut con = cluster.connect(leader);
    for i in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("after-kill-{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap_or_else(|error| panic!("write {i} with one voter down: {error}"));
    }

    // The learner that never came is removed as any member is.
    let voters = change(&cluster, leader, "/cluster/leave", r#"{"id":4}"#);
    assert_eq!(voters, [1, 2, 3]);
}

/// A node removed while it was down comes back believing in its old
/// membership: it must learn from its peers that it was removed, stop
/// campaigning (its term stops rising) and say so in `/health` and
/// `INFO raft`, while the group goes on undisturbed.
#[test]
fn a_node_removed_while_down_stops_campaigning_and_says_removed() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let gone = cluster.followers()[0];
    cluster.kill(gone);
    let voters = change(
        &cluster,
        leader,
        "/cluster/leave",
        &format!(r#"{{"id":{gone}}}"#),
    );
    assert!(!voters.contains(&gone), "{voters:?}");
    let leader_term = cluster.raft_number(leader, "raft_term");
    cluster.restart(gone);

    until(
        Duration::from_secs(20),
        "the removed node to say so",
        || {
            let info = cluster.try_info_raft(gone)?;
            match info.get("raft_removed").map(String::as_str) {
                Some("1") => Ok(()),
                other => Err(format!("raft_removed:{other:?}")),
            }
        },
    );
    let health = admin::get(&cluster.admin_url(gone), "/health").unwrap();
    assert_eq!(health.status, 503, "{}", health.body);
    let reason = health.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("removed"), "{reason}");

    // No more elections: the term holds over several election timeouts
    // (400-800 ms in these clusters).
    let term = cluster.raft_number(gone, "raft_term");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        cluster.raft_number(gone, "raft_term"),
        term,
        "still campaigning"
    );
    // The group did not notice.
    let now_leader = cluster.leader_among(&voters);
    assert_eq!(now_leader, leader);
    assert_eq!(cluster.raft_number(leader, "raft_term"), leader_term);
    let mut con = cluster.connect(leader);
    let _: () = redis::cmd("SET")
        .arg("still")
        .arg("writing")
        .query(&mut con)
        .unwrap();
    // And the leader's log does not fill with the removed node coming and
    // going (it once logged "peer up" for it every 400 ms).
    let noise = format!("term={leader_term} peer={gone}");
    let log = cluster.log(leader);
    let lines = log.lines().filter(|line| line.contains(&noise)).count();
    assert!(lines <= 1, "{lines} lines about node {gone}:\n{log}");
}
