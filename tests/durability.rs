//! Durability of a single node across SIGKILL: the server acknowledges a
//! write only after its Raft entry is fsynced and applied, so killing the
//! process at any moment and starting it again on the same data directory
//! must bring back every acknowledged write.
//!
//! What the tests check, after every restart:
//! - Every write that got a reply is there, with its value; deleted keys stay
//!   deleted and overwritten keys keep their last value.
//! - A TTL is an absolute deadline: PEXPIRETIME is unchanged by the restart,
//!   and PTTL is positive and at most what was set.
//! - A write that got no reply may or may not be there, but the writes of one
//!   connection survive as a prefix: never a later one without an earlier one.
//! - A counter is never behind its last acknowledged value, nor ahead of the
//!   acknowledged plus the in-flight increments.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::node::Node;
use common::wait::{until, until_count};

/// How long writers may take to reach the point where the test kills.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Commands per pipeline, for the pipelined writers.
const PIPELINE_LEN: usize = 50;

/// How a key is written, cycled over key numbers so every writer mixes them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expiry {
    /// Plain `SET k v`.
    Never,
    /// `SET k v EX seconds`.
    Seconds(u64),
    /// `SET k v PX milliseconds`.
    Millis(u64),
}

/// The mix of writes. The TTLs are long enough never to run out during a
/// test, so every key must still be there after the restart.
const EXPIRIES: [Expiry; 5] = [
    Expiry::Never,
    Expiry::Seconds(3_600),
    Expiry::Millis(900_000),
    Expiry::Never,
    Expiry::Seconds(120),
];

impl Expiry {
    fn ttl_ms(self) -> Option<u64> {
        match self {
            Expiry::Never => None,
            Expiry::Seconds(seconds) => Some(seconds * 1000),
            Expiry::Millis(millis) => Some(millis),
        }
    }

    fn set_command(self, key: &str, value: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        match self {
            Expiry::Never => {}
            Expiry::Seconds(seconds) => {
                cmd.arg("EX").arg(seconds);
            }
            Expiry::Millis(millis) => {
                cmd.arg("PX").arg(millis);
            }
        }
        cmd
    }
}

/// What an acknowledged write left behind: `None` for a deleted key.
type Expected = BTreeMap<String, Option<(String, Option<u64>)>>;

/// Writes `count` keys for `writer` on a new connection, one command at a
/// time or in pipelines of `PIPELINE_LEN`, and returns what was acknowledged.
fn write_keys(node: &Node, writer: usize, count: usize, pipelined: bool) -> Expected {
    let mut con = node.connect();
    let keys: Vec<(String, String, Expiry)> = (0..count)
        .map(|i| {
            let key = format!("key:{writer}:{i}");
            let value = format!("value:{writer}:{i}:{}", "x".repeat(i % 40));
            (key, value, EXPIRIES[i % EXPIRIES.len()])
        })
        .collect();
    let batch_len = if pipelined { PIPELINE_LEN } else { 1 };
    for batch in keys.chunks(batch_len) {
        let mut pipe = redis::pipe();
        for (key, value, expiry) in batch {
            pipe.add_command(expiry.set_command(key, value));
        }
        let replies: Vec<String> = pipe
            .query(&mut con)
            .unwrap_or_else(|err| panic!("writer {writer}: SET batch: {err}"));
        assert!(replies.iter().all(|reply| reply == "OK"), "{replies:?}");
    }
    keys.into_iter()
        .map(|(key, value, expiry)| (key, Some((value, expiry.ttl_ms()))))
        .collect()
}

/// Overwrites every 10th key without a TTL and deletes every 10th key
/// offset by 5 (if present), updating `expected`.
fn overwrite_and_delete(node: &Node, expected: &mut Expected) {
    let mut con = node.connect();
    let keys: Vec<String> = expected.keys().cloned().collect();
    for (n, key) in keys.iter().enumerate() {
        if n % 10 == 0 {
            let value = format!("{key}:overwritten");
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg(&value)
                .query(&mut con)
                .unwrap();
            expected.insert(key.clone(), Some((value, None)));
        } else if n % 10 == 5 {
            let deleted: u64 = redis::cmd("DEL").arg(key).query(&mut con).unwrap();
            let present = expected[key].is_some();
            assert_eq!(deleted, u64::from(present), "DEL {key}");
            expected.insert(key.clone(), None);
        }
    }
}

/// Every key's `(GET, PTTL, PEXPIRETIME)`, read in pipelines.
fn read_state(node: &Node, keys: &[String]) -> Vec<(Option<String>, i64, i64)> {
    let mut con = node.connect();
    let mut out = Vec::with_capacity(keys.len());
    for batch in keys.chunks(PIPELINE_LEN) {
        let mut pipe = redis::pipe();
        for key in batch {
            pipe.cmd("GET").arg(key);
            pipe.cmd("PTTL").arg(key);
            pipe.cmd("PEXPIRETIME").arg(key);
        }
        let replies: Vec<(Option<String>, i64, i64)> = pipe.query(&mut con).unwrap();
        out.extend(replies);
    }
    out
}

/// Why a key's state after the restart is wrong, if it is.
fn key_problem(
    expected: &Option<(String, Option<u64>)>,
    before_expire_ms: i64,
    (value, pttl_ms, expire_ms): &(Option<String>, i64, i64),
) -> Option<String> {
    match expected {
        None if value.is_some() => Some(format!("deleted but GET gives {value:?}")),
        None => None,
        Some((want, _)) if value.as_ref() != Some(want) => {
            Some(format!("GET gives {value:?}, acknowledged {want:?}"))
        }
        Some((_, None)) if *pttl_ms != -1 => Some(format!("no TTL was set, PTTL {pttl_ms}")),
        Some((_, Some(ttl_ms))) if *pttl_ms <= 0 || *pttl_ms > *ttl_ms as i64 => {
            Some(format!("PTTL {pttl_ms}, set with {ttl_ms} ms"))
        }
        Some(_) if *expire_ms != before_expire_ms => Some(format!(
            "PEXPIRETIME {expire_ms} after restart, {before_expire_ms} before"
        )),
        Some(_) => None,
    }
}

#[test]
fn acknowledged_keys_and_ttls_survive_sigkill() {
    const WRITERS: usize = 4;
    const KEYS_PER_WRITER: usize = 500;
    let mut node = Node::start();
    let mut expected: Expected = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let node = &node;
                scope.spawn(move || write_keys(node, writer, KEYS_PER_WRITER, writer % 2 == 1))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    overwrite_and_delete(&node, &mut expected);
    let keys: Vec<String> = expected.keys().cloned().collect();
    let before = read_state(&node, &keys);

    node.kill();
    node.restart();
    node.wait_leader();

    assert_restored(&node, &expected, &before, "after SIGKILL and restart");
}

/// Asserts that the restarted `node` holds `expected` (see `key_problem`;
/// `before` is `read_state` of the same keys before the kill) and nothing
/// else.
fn assert_restored(
    node: &Node,
    expected: &Expected,
    before: &[(Option<String>, i64, i64)],
    when: &str,
) {
    let keys: Vec<String> = expected.keys().cloned().collect();
    let after = read_state(node, &keys);
    let problems: Vec<String> = keys
        .iter()
        .zip(before.iter().zip(&after))
        .filter_map(|(key, (before, after))| {
            key_problem(&expected[key], before.2, after).map(|why| format!("{key}: {why}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} keys wrong {when}, first ones:\n{}",
        problems.len(),
        keys.len(),
        problems[..problems.len().min(10)].join("\n")
    );
    let present = expected.values().filter(|entry| entry.is_some()).count() as u64;
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut node.connect()).unwrap();
    assert_eq!(dbsize, present, "DBSIZE {when}");
}

#[test]
fn keys_survive_restarts_from_a_snapshot_and_the_log_after_it() {
    // Snapshots every 20 entries: the restarts below start from a mapped
    // run plus a log tail, and the run is merged with new writes (copied-up
    // overwrites, tombstones for deletes) before the next one.
    let mut node = Node::start_with_config("[raft]\nsnapshot_logs_since_last = 20\n");
    let mut expected = Expected::new();
    for round in 0..3 {
        let written = write_keys(&node, round, 300, round % 2 == 0);
        expected.extend(written);
        overwrite_and_delete(&node, &mut expected);
        until(WRITE_TIMEOUT, "a snapshot", || {
            let info = common::node::info_raft(node.port())?;
            match info.get("raft_snapshot_index").map(String::as_str) {
                Some("0") | None => Err("no snapshot yet".to_string()),
                Some(_) => Ok(()),
            }
        });
        let keys: Vec<String> = expected.keys().cloned().collect();
        let before = read_state(&node, &keys);
        node.kill();
        let run = node.process.dir.join("data/snapshot/snapshot.run");
        assert!(run.exists(), "no snapshot file at {}", run.display());
        node.restart();
        node.wait_leader();
        let info = common::node::info_raft(node.port()).unwrap();
        assert_ne!(
            info["raft_snapshot_index"], "0",
            "restarted without its snapshot"
        );
        let when = format!("after restart {round} from a snapshot");
        assert_restored(&node, &expected, &before, &when);
    }
}

/// The Unix time in seconds, by this machine's clock.
fn unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The snapshot file's modification time in Unix seconds.
fn written_s(path: &std::path::Path) -> i64 {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn lastsave_is_when_the_last_snapshot_was_made_durable() {
    let before_start_s = unix_s();
    let mut node = Node::start_with_config("[raft]\nsnapshot_logs_since_last = 20\n");
    let lastsave =
        |node: &Node| -> i64 { redis::cmd("LASTSAVE").query(&mut node.connect()).unwrap() };
    // No snapshot yet: the node's start, as Redis counts its data saved
    // when it starts.
    let started_s = lastsave(&node);
    assert!(
        (before_start_s..=unix_s()).contains(&started_s),
        "LASTSAVE {started_s} at start"
    );
    // A second later, writes until a snapshot is made: LASTSAVE moves to
    // the time its file was written.
    std::thread::sleep(Duration::from_millis(1100));
    // One write at a time, stopping just after a snapshot, so the restart
    // below (which adds an entry or two) is far from making another.
    let mut con = node.connect();
    let mut written = 0;
    until(WRITE_TIMEOUT, "a snapshot just made", || {
        let _: () = redis::cmd("SET")
            .arg(format!("k{written}"))
            .arg(written)
            .query(&mut con)
            .unwrap();
        written += 1;
        let info = common::node::info_raft(node.port())?;
        let index = |name: &str| -> u64 { info[name].parse().unwrap() };
        let snapshot = index("raft_snapshot_index");
        match index("raft_applied_index") - snapshot {
            behind if snapshot > 0 && behind < 5 => Ok(()),
            behind => Err(format!("snapshot {snapshot}, {behind} entries after it")),
        }
    });
    let saved_s = lastsave(&node);
    let run = node.process.dir.join("data/snapshot/snapshot.run");
    assert!(saved_s > started_s, "LASTSAVE {saved_s} after a snapshot");
    assert!(
        (saved_s - written_s(&run)).abs() <= 1,
        "LASTSAVE {saved_s}, snapshot written at {}",
        written_s(&run)
    );
    // Restarted a second later, it reports the snapshot it started from,
    // not its new start.
    node.kill();
    std::thread::sleep(Duration::from_millis(1100));
    node.restart();
    node.wait_leader();
    assert_eq!(lastsave(&node), written_s(&run), "LASTSAVE after a restart");
    assert!(lastsave(&node) <= saved_s, "LASTSAVE after a restart");
}

/// What one writer did before the server died: keys `0..acked` got `OK`,
/// keys `acked..sent` were sent without a reply.
#[derive(Debug)]
struct Outcome {
    writer: usize,
    acked: usize,
    sent: usize,
}

/// Upper bound on writes per writer, so a kill that never comes ends the
/// loop (the test then fails on its own deadline first).
const WRITES_PER_WRITER_MAX: usize = 200_000;

/// Sets `w:{writer}:{i}` = `i` for i = 0, 1, ... in batches of `batch_len`
/// until a command fails (the server was killed), counting acknowledged
/// writes into `acked_total`.
fn write_until_error(
    node: &Node,
    writer: usize,
    batch_len: usize,
    acked_total: &AtomicU64,
) -> Outcome {
    let mut con = node.connect();
    let mut acked = 0;
    while acked < WRITES_PER_WRITER_MAX {
        let mut pipe = redis::pipe();
        for i in acked..acked + batch_len {
            pipe.cmd("SET").arg(format!("w:{writer}:{i}")).arg(i);
        }
        match pipe.query::<Vec<String>>(&mut con) {
            Ok(replies) if replies.iter().all(|reply| reply == "OK") => {
                acked += batch_len;
                acked_total.fetch_add(batch_len as u64, Ordering::Relaxed);
            }
            _ => {
                return Outcome {
                    writer,
                    acked,
                    sent: acked + batch_len,
                }
            }
        }
    }
    panic!("writer {writer} wrote {acked} keys and the server was never killed");
}

/// Whether each of the keys `w:{writer}:{range}` exists with its value:
/// `Some(true)` yes, `Some(false)` absent, `None` present with a wrong value.
fn key_states(
    node: &Node,
    writer: usize,
    range: std::ops::Range<usize>,
) -> Vec<(usize, Option<bool>)> {
    let mut con = node.connect();
    let indexes: Vec<usize> = range.collect();
    let mut out = Vec::with_capacity(indexes.len());
    for batch in indexes.chunks(500) {
        let mut pipe = redis::pipe();
        for i in batch {
            pipe.cmd("GET").arg(format!("w:{writer}:{i}"));
        }
        let values: Vec<Option<String>> = pipe.query(&mut con).unwrap();
        out.extend(batch.iter().zip(values).map(|(&i, value)| match value {
            None => (i, Some(false)),
            Some(value) => (i, (value == i.to_string()).then_some(true)),
        }));
    }
    out
}

/// Asserts that every key `outcome.writer` got `OK` for reads back.
fn assert_acked_present(node: &Node, outcome: &Outcome) {
    let lost: Vec<usize> = key_states(node, outcome.writer, 0..outcome.acked)
        .into_iter()
        .filter(|(_, state)| *state != Some(true))
        .map(|(i, _)| i)
        .collect();
    assert!(
        lost.is_empty(),
        "{outcome:?}: {} acknowledged keys missing or wrong after restart, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Checks one writer's keys once the log has settled: every acknowledged
/// key is there, the unacknowledged ones that survived are a prefix of what
/// was sent, and nothing past that exists. Returns how many of its keys
/// exist.
fn check_outcome(node: &Node, outcome: &Outcome) -> usize {
    assert_acked_present(node, outcome);
    let unacked = key_states(node, outcome.writer, outcome.acked..outcome.sent + 1);
    assert!(
        unacked.iter().all(|(_, state)| state.is_some()),
        "{outcome:?}: an unacknowledged key has a wrong value: {unacked:?}"
    );
    let present: Vec<bool> = unacked
        .iter()
        .map(|(_, state)| *state == Some(true))
        .collect();
    assert!(
        present.windows(2).all(|pair| pair[0] || !pair[1]),
        "{outcome:?}: unacknowledged writes from one connection survived out of order \
         (present flags for keys {}..): {present:?}",
        outcome.acked
    );
    assert!(
        !present[present.len() - 1],
        "{outcome:?}: key {} exists but was never sent",
        outcome.sent
    );
    outcome.acked + present.iter().filter(|&&p| p).count()
}

#[test]
fn every_acknowledged_write_survives_a_kill_mid_stream() {
    /// Writer `w` sends batches of `BATCH_LENS[w]` commands.
    const BATCH_LENS: [usize; 4] = [1, 1, 20, PIPELINE_LEN];
    /// Acknowledged writes, over all writers, before the kill.
    const ACKED_BEFORE_KILL: u64 = 1_500;
    let mut node = Node::start();
    let acked_total = AtomicU64::new(0);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = BATCH_LENS
            .iter()
            .enumerate()
            .map(|(writer, &batch_len)| {
                let (node, acked_total) = (&node, &acked_total);
                scope.spawn(move || write_until_error(node, writer, batch_len, acked_total))
            })
            .collect();
        until_count(
            WRITE_TIMEOUT,
            &acked_total,
            ACKED_BEFORE_KILL,
            "acknowledged writes",
        );
        // Kill from the scope, while the writers are mid-stream.
        node.sigkill();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    node.restart();
    node.wait_leader();

    // Right after the restart, every acknowledged write must already read
    // back; a new write then commits whatever else survived in the log, so
    // the checks after it see the final state.
    for outcome in &outcomes {
        assert_acked_present(&node, outcome);
    }
    let _: () = redis::cmd("SET")
        .arg("barrier")
        .arg(1)
        .query(&mut node.connect())
        .unwrap();
    let present_total: usize = outcomes
        .iter()
        .map(|outcome| check_outcome(&node, outcome))
        .sum::<usize>()
        + 1;
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut node.connect()).unwrap();
    assert_eq!(
        dbsize, present_total as u64,
        "DBSIZE (writers' keys and the barrier) vs the keys found; outcomes {outcomes:?}"
    );
}

/// What one `INCR` client saw before the server died.
#[derive(Debug, Default)]
struct IncrOutcome {
    /// Increments that got a reply.
    acked: u64,
    /// The largest reply.
    max_reply: i64,
    /// Whether the last increment was sent without a reply.
    in_flight: bool,
}

/// INCRs `counter` until a command fails, counting replies into `acked_total`.
fn incr_until_error(node: &Node, acked_total: &AtomicU64) -> IncrOutcome {
    let mut outcome = IncrOutcome::default();
    let Ok(mut con) = common::node::connect(node.port()) else {
        return outcome;
    };
    for _ in 0..WRITES_PER_WRITER_MAX {
        match redis::cmd("INCR").arg("counter").query::<i64>(&mut con) {
            Ok(value) => {
                outcome.acked += 1;
                outcome.max_reply = outcome.max_reply.max(value);
                acked_total.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                outcome.in_flight = true;
                return outcome;
            }
        }
    }
    panic!("the server was never killed");
}

#[test]
fn counter_survives_repeated_kill_and_restart() {
    const CYCLES: usize = 5;
    const CLIENTS: usize = 3;
    /// Acknowledged increments per cycle before the kill.
    const ACKED_PER_CYCLE: u64 = 150;
    let mut node = Node::start();
    let mut value: i64 = 0;
    for cycle in 0..CYCLES {
        let acked_total = AtomicU64::new(0);
        let outcomes: Vec<IncrOutcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (node, acked_total) = (&node, &acked_total);
                    scope.spawn(move || incr_until_error(node, acked_total))
                })
                .collect();
            let what = format!("acknowledged INCRs in cycle {cycle}");
            until_count(WRITE_TIMEOUT, &acked_total, ACKED_PER_CYCLE, &what);
            node.sigkill();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        node.restart();
        node.wait_leader();

        let acked: i64 = outcomes.iter().map(|o| o.acked as i64).sum();
        let in_flight = outcomes.iter().filter(|o| o.in_flight).count() as i64;
        let max_reply = outcomes.iter().map(|o| o.max_reply).max().unwrap_or(0);
        let mut con = node.connect();
        let now = read_counter(&mut con);
        let context = format!(
            "cycle {cycle}: counter was {value}, then {acked} acknowledged INCRs (largest reply \
             {max_reply}) and {in_flight} in flight; after restart it reads {now}"
        );
        assert!(
            now >= max_reply,
            "behind the last acknowledged value: {context}"
        );
        assert!(
            now >= value + acked,
            "lost acknowledged increments: {context}"
        );
        // An in-flight INCR's entry may still commit after that read; a new
        // write commits everything before it, so the value then is final.
        let _: () = redis::cmd("SET")
            .arg("barrier")
            .arg(cycle)
            .query(&mut con)
            .unwrap();
        let settled = read_counter(&mut con);
        assert!(
            (now..=value + acked + in_flight).contains(&settled),
            "{context}, and {settled} after a new write"
        );
        value = settled;
    }
}

fn read_counter(con: &mut redis::Connection) -> i64 {
    let value: Option<i64> = redis::cmd("GET").arg("counter").query(con).unwrap();
    value.unwrap_or(0)
}
