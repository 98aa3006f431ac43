//! Writes as large as Redis allows (`proto-max-bulk-len`, 512 MB), which
//! go through the Raft log in parts (`server/src/raft/upload.rs`): SET,
//! APPEND up to the limit, RESTORE, and a 100 MB MULTI, on a single node
//! across SIGKILL and on three nodes across the leader's SIGKILL, with
//! small writes from another client going on meanwhile.
//!
//! What the tests check:
//! - every acknowledged large write is there, byte for byte, after the
//!   restart (and on every node of the cluster);
//! - the limit is Redis's: an APPEND past 512 MB gets Redis's error;
//! - one client's writes keep their order around a large one;
//! - small writes of another client are acknowledged while large ones
//!   are transferred, and survive too.
//!
//! The tests of this file take the memory of several copies of 512 MB,
//! so they run one at a time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions};
use common::node::Node;
use common::wait::until;

/// Connection timeouts long enough for a 512 MB value on a debug build.
const LARGE_IO_TIMEOUT: Duration = Duration::from_secs(300);
const MB: usize = 1_000_000;
/// How long a new leader may refuse reads while it catches up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One test of this file at a time (memory).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A connection with [`LARGE_IO_TIMEOUT`].
fn connect(port: u16) -> redis::Connection {
    try_connect(port).unwrap_or_else(|err| panic!("connect to {port}: {err}"))
}

fn try_connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(LARGE_IO_TIMEOUT)?;
    con.set_read_timeout(Some(LARGE_IO_TIMEOUT))?;
    con.set_write_timeout(Some(LARGE_IO_TIMEOUT))?;
    Ok(con)
}

/// `len` bytes that differ from one `seed` to another and do not repeat
/// in any short period (xorshift).
fn value(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts that `key` holds exactly `expected` (without printing it). A
/// new leader refuses reads (`-CLUSTERDOWN`) until it has applied what it
/// committed, which after large writes takes a while: asked again then.
fn assert_holds(con: &mut redis::Connection, key: &str, expected: &[u8], where_: &str) {
    let got: Option<Vec<u8>> = until(READ_TIMEOUT, format!("GET {key} on {where_}"), || {
        redis::cmd("GET").arg(key).query(con).map_err(|err| {
            let err = err.to_string();
            assert!(err.contains("ClusterDown"), "GET {key} on {where_}: {err}");
            err
        })
    });
    let got = got.unwrap_or_else(|| panic!("{key} is missing on {where_}"));
    assert_eq!(got.len(), expected.len(), "length of {key} on {where_}");
    assert!(got == expected, "{key} differs on {where_}");
}

/// A client that INCRs a counter as fast as it is answered until stopped;
/// counts its acknowledged increments.
struct SmallWriter {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl SmallWriter {
    fn start(port: u16) -> SmallWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let mut con = common::node::connect(port).expect("connect the small writer");
        let thread = std::thread::spawn({
            let (stop, acked) = (stop.clone(), acked.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match redis::cmd("INCR").arg("small").query::<u64>(&mut con) {
                        Ok(value) => {
                            let before = acked.fetch_add(1, Ordering::Relaxed);
                            assert_eq!(value, before + 1, "INCR answers in order");
                        }
                        // The leader was killed: the test reads the count.
                        Err(_) => return,
                    }
                }
            }
        });
        SmallWriter {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    /// Stops the writer; returns its acknowledged increments.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("small writer");
        self.acked.load(Ordering::Relaxed)
    }
}

/// The large writes both tests make, and what they leave.
struct Written {
    keys: Vec<(String, Vec<u8>)>,
}

type Request<'a> = dyn Fn(&mut redis::Connection) -> redis::RedisResult<redis::Value> + 'a;

/// Where the large writes go.
trait Writer {
    /// `request`'s answer.
    fn run(&mut self, request: &Request<'_>) -> redis::RedisResult<redis::Value>;

    fn query<T: redis::FromRedisValue>(&mut self, request: &Request<'_>) -> T {
        let value = self.run(request).unwrap_or_else(|err| panic!("{err}"));
        redis::from_redis_value(&value).unwrap_or_else(|err| panic!("{err}: {value:?}"))
    }
}

/// One node: every request is answered there.
struct OneNode(redis::Connection);

impl Writer for OneNode {
    fn run(&mut self, request: &Request<'_>) -> redis::RedisResult<redis::Value> {
        request(&mut self.0)
    }
}

/// Whichever node of a cluster leads. On a debug build, applying a large
/// write can hold the Raft thread past the election timeout, so the
/// leader may change while the test writes: a request refused by a node
/// that no longer leads, or whose outcome is unknown, is sent again to
/// the new leader. Only idempotent requests go through here.
struct ClusterLeader<'a> {
    cluster: &'a Cluster,
    con: redis::Connection,
}

/// Attempts of one request on a cluster whose leader may change.
const ATTEMPTS_MAX: usize = 20;

impl Writer for ClusterLeader<'_> {
    fn run(&mut self, request: &Request<'_>) -> redis::RedisResult<redis::Value> {
        let mut attempt = 1;
        loop {
            match request(&mut self.con) {
                Err(err) if attempt < ATTEMPTS_MAX && leader_may_have_changed(&err) => {
                    eprintln!("attempt {attempt}: {err}; asking the leader again");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200));
                    // The node found leading may lose it (or die) before
                    // we connect: then the next attempt fails on the old
                    // connection and asks again.
                    match try_connect(self.cluster.port(self.cluster.leader())) {
                        Ok(con) => self.con = con,
                        Err(err) => eprintln!("attempt {attempt}: connect: {err}"),
                    }
                }
                answer => return answer,
            }
        }
    }
}

fn leader_may_have_changed(err: &redis::RedisError) -> bool {
    let text = err.to_string();
    matches!(
        err.kind(),
        redis::ErrorKind::ClusterDown
            | redis::ErrorKind::Moved
            | redis::ErrorKind::IoError
            | redis::ErrorKind::TryAgain
            | redis::ErrorKind::BusyLoadingError
    ) || text.contains("write not applied")
        || text.contains("write outcome unknown")
}

/// Writes 5 MB and 64 MB values, RESTOREs a 64 MB DUMP, and a MULTI of
/// 100 x 1 MB; on a single node, also a 3 MB APPEND pipelined between
/// small writes and a 512 MB value by SET and APPEND (not idempotent).
fn write_large(writer: &mut impl Writer, single_node: bool) -> Written {
    let mut keys = Vec::new();
    for (key, seed, len) in [("v5", 1, 5 * MB), ("v64", 2, 64 * MB)] {
        let data = value(seed, len);
        let reply: String = writer.query(&|con| redis::cmd("SET").arg(key).arg(&data).query(con));
        assert_eq!(reply, "OK", "SET {key}");
        keys.push((key.to_string(), data));
    }

    let dump: Vec<u8> = writer.query(&|con| redis::cmd("DUMP").arg("v64").query(con));
    assert!(dump.len() > 64 * MB);
    let reply: String = writer.query(&|con| {
        redis::cmd("RESTORE")
            .arg("restored")
            .arg(0)
            .arg(&dump)
            .arg("REPLACE")
            .query(con)
    });
    assert_eq!(reply, "OK", "RESTORE of {} bytes", dump.len());
    keys.push(("restored".to_string(), keys[1].1.clone()));

    let mut multi = redis::pipe();
    multi.atomic();
    for i in 0..100 {
        let data = value(100 + i, MB);
        multi.cmd("SET").arg(format!("m{i}")).arg(&data);
        keys.push((format!("m{i}"), data));
    }
    let replies: Vec<String> = writer.query(&|con| multi.query(con));
    assert_eq!(replies, vec!["OK"; 100], "the 100 MB transaction");

    if !single_node {
        return Written { keys };
    }

    // One client's writes keep their order around a large one.
    let big = value(7, 3 * MB);
    let (before, appended, after, read): (String, i64, i64, Vec<u8>) = writer.query(&|con| {
        redis::pipe()
            .cmd("SET")
            .arg("order")
            .arg("first")
            .cmd("APPEND")
            .arg("order")
            .arg(&big)
            .cmd("STRLEN")
            .arg("order")
            .cmd("GETRANGE")
            .arg("order")
            .arg(0)
            .arg(4)
            .query(con)
    });
    assert_eq!(before, "OK");
    assert_eq!(appended as usize, 5 + 3 * MB, "APPEND's length");
    assert_eq!(after as usize, 5 + 3 * MB, "STRLEN after the APPEND");
    assert_eq!(read, b"first");
    let mut order = b"first".to_vec();
    order.extend_from_slice(&big);
    keys.push(("order".to_string(), order));

    let half = 256 * 1024 * 1024;
    let first = value(11, half);
    let second = value(12, half);
    let reply: String = writer.query(&|con| redis::cmd("SET").arg("v512").arg(&first).query(con));
    assert_eq!(reply, "OK");
    let len: usize = writer.query(&|con| redis::cmd("APPEND").arg("v512").arg(&second).query(con));
    assert_eq!(len, 512 * 1024 * 1024, "APPEND up to proto-max-bulk-len");
    let error = writer
        .run(&|con| redis::cmd("APPEND").arg("v512").arg("x").query(con))
        .expect_err("an APPEND past 512 MB is refused");
    assert_eq!(
        (error.code(), error.detail()),
        (
            Some("ERR"),
            Some("string exceeds maximum allowed size (proto-max-bulk-len)")
        ),
        "Redis's error"
    );
    let mut whole = first;
    whole.extend_from_slice(&second);
    keys.push(("v512".to_string(), whole));
    Written { keys }
}

#[test]
fn large_writes_survive_sigkill_on_a_single_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut node = Node::start();
    node.wait_leader();
    let small = SmallWriter::start(node.port());
    let written = write_large(&mut OneNode(connect(node.port())), true);
    let acked = small.stop();
    assert!(acked > 0, "small writes went on beside the large ones");

    node.sigkill();
    node.restart();
    node.wait_leader();
    let mut con = connect(node.port());
    for (key, expected) in &written.keys {
        assert_holds(&mut con, key, expected, "the restarted node");
    }
    let count: u64 = redis::cmd("GET").arg("small").query(&mut con).unwrap();
    assert_eq!(count, acked, "every acknowledged small write survived");
}

#[test]
fn large_writes_survive_a_leader_kill_on_three_nodes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let small = SmallWriter::start(cluster.port(leader));
    let mut writer = ClusterLeader {
        cluster: &cluster,
        con: connect(cluster.port(leader)),
    };
    let written = write_large(&mut writer, false);
    drop(writer);
    let leader = cluster.leader();
    cluster.kill(leader);
    let acked = small.stop();
    assert!(acked > 0, "small writes went on beside the large ones");

    let survivors = cluster.running();
    let new_leader = cluster.leader_among(&survivors);
    let mut con = connect(cluster.port(new_leader));
    for (key, expected) in &written.keys {
        assert_holds(&mut con, key, expected, "the new leader");
    }
    let count: u64 = redis::cmd("GET").arg("small").query(&mut con).unwrap();
    assert!(
        count >= acked,
        "small writes: {count} < {acked} acknowledged"
    );

    // The killed leader comes back and catches up, then holds the same.
    cluster.restart(leader);
    cluster.wait_all_applied();
    let mut con = connect(cluster.port(leader));
    let reply: String = redis::cmd("READONLY").query(&mut con).unwrap();
    assert_eq!(reply, "OK");
    for (key, expected) in &written.keys {
        assert_holds(&mut con, key, expected, "the restarted old leader");
    }
}

/// The node's count of pending writes and their bytes (`raft_writes_pending`,
/// `raft_writes_pending_bytes`),
/// which bounds the network -> Raft queue, returns to zero once every
/// write was answered, also when clients close with writes in flight.
#[test]
fn pending_writes_return_to_zero() {
    use std::io::Write as _;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::start();
    node.wait_leader();
    // (writes, bytes) pending.
    let pending = || -> (u64, u64) {
        let info = common::node::info_raft(node.port()).expect("INFO raft");
        (
            info["raft_writes_pending"].parse().expect("a number"),
            info["raft_writes_pending_bytes"].parse().expect("a number"),
        )
    };
    assert_eq!(pending(), (0, 0));
    let mut pipeline = Vec::new();
    for i in 0..2_000 {
        let value = if i % 500 == 0 { 2 * MB } else { 100 };
        let value = "x".repeat(value);
        let key = format!("k{i}");
        pipeline.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    let mut seen_max = (0, 0);
    let mut kept = Vec::new();
    for client in 0..6 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", node.port())).unwrap();
        stream.write_all(&pipeline).unwrap();
        seen_max = seen_max.max(pending());
        if client % 2 == 0 {
            // Gone with its writes in flight.
            drop(stream);
        } else {
            kept.push(stream);
        }
    }
    assert!(
        seen_max.0 > 0 && seen_max.1 > 0,
        "writes were pending while the pipelines ran"
    );
    // The kept clients read every reply; the count then drains to zero.
    for mut stream in kept {
        use std::io::Read as _;
        let mut replies = 0;
        let mut buf = vec![0; 1 << 16];
        while replies < 2_000 {
            let read = stream.read(&mut buf).unwrap();
            assert!(read > 0, "the server closed the connection");
            replies += buf[..read].iter().filter(|&&b| b == b'\n').count();
        }
    }
    until(READ_TIMEOUT, "no write pending", || match pending() {
        (0, 0) => Ok(()),
        (writes, bytes) => Err(format!(
            "raft_writes_pending:{writes} raft_writes_pending_bytes:{bytes}"
        )),
    });
    let mut con = node.connect();
    let value: String = redis::cmd("GET").arg("k1").query(&mut con).unwrap();
    assert_eq!(value.len(), 100);
}
