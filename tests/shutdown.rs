//! Stopping a node on purpose: `SHUTDOWN` and its flags, SIGTERM and
//! SIGINT (`server/src/shutdown.rs`).
//!
//! What the tests hold the server to:
//! - SIGTERM, SIGINT and `SHUTDOWN` exit 0 after logging why, and a
//!   restart finds every acknowledged write.
//! - The start-up line names the version, commit, configuration, data
//!   directory, node id and every listening address, without Rust's
//!   `Some(..)` forms.
//! - `SHUTDOWN SAVE` takes a snapshot first: the restart starts from it.
//! - `SHUTDOWN ABORT` and bad flag sets answer Redis 7.0's errors and
//!   leave the node running (tests/scenarios/server.txt checks the same
//!   replies against redis-server).

mod common;

use std::process::ExitStatus;
use std::time::Duration;

use common::node::Node;
use common::wait::until;

/// How long a node may take to exit once asked.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Writes `count` keys and returns them.
fn write_keys(node: &Node, prefix: &str, count: usize) -> Vec<String> {
    let mut con = node.connect();
    let keys: Vec<String> = (0..count).map(|n| format!("{prefix}:{n}")).collect();
    for key in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(key)
            .query(&mut con)
            .expect("SET");
    }
    keys
}

/// Waits for the node's process to exit and returns its status.
fn wait_exit(node: &mut Node) -> ExitStatus {
    until(EXIT_TIMEOUT, "the node to exit", || {
        match node.process.child.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".to_string()),
            Err(error) => Err(error.to_string()),
        }
    })
}

fn signal(node: &Node, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(node.process.child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on our own, not yet reaped child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn log(node: &Node) -> String {
    std::fs::read_to_string(node.log()).expect("read the log")
}

/// Restarts the node and asserts every key reads as itself.
fn assert_kept(node: &mut Node, keys: &[String]) {
    node.restart();
    node.wait_leader();
    let mut con = node.connect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(keys).query(&mut con).expect("MGET");
    for (key, value) in keys.iter().zip(values) {
        assert_eq!(value.as_deref(), Some(key.as_str()), "{key} after restart");
    }
}

#[test]
fn sigterm_and_sigint_exit_0_and_keep_every_acknowledged_write() {
    let mut node = Node::start();
    let mut keys = write_keys(&node, "term", 200);
    signal(&node, libc::SIGTERM);
    let status = wait_exit(&mut node);
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = log(&node);
    assert!(text.contains("shutting down by=SIGTERM"), "{text}");
    assert!(text.contains("ready to exit"), "{text}");
    // The start-up line says what runs and where, in readable form.
    let client = format!("client=127.0.0.1:{}", node.port());
    let start = text
        .lines()
        .find(|line| line.contains("redraft starting"))
        .unwrap_or_else(|| panic!("no start-up line in {text}"));
    for field in [
        "version=",
        "commit=",
        "config=",
        "data_dir=",
        "node_id=1",
        "raft=",
        "admin=",
    ] {
        assert!(start.contains(field), "{field} in {start}");
    }
    assert!(start.contains(&client), "{start}");
    assert!(
        !text.contains("Some("),
        "a Rust Debug form in the log:\n{text}"
    );
    assert_kept(&mut node, &keys);

    keys.extend(write_keys(&node, "int", 50));
    signal(&node, libc::SIGINT);
    assert_eq!(wait_exit(&mut node).code(), Some(0));
    assert!(log(&node).contains("shutting down by=SIGINT"));
    assert_kept(&mut node, &keys);
}

#[test]
fn shutdown_exits_without_a_reply_and_save_takes_a_snapshot() {
    let mut node = Node::start();
    let keys = write_keys(&node, "save", 100);
    let mut con = node.connect();
    let abort: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("ABORT").query(&mut con);
    assert_eq!(
        abort.unwrap_err().to_string(),
        "An error was signalled by the server - ResponseError: No shutdown in progress."
    );
    for bad in [&["SAVE", "NOSAVE"][..], &["NOW", "ABORT"], &["LATER"]] {
        let reply: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg(bad).query(&mut con);
        assert!(
            reply.unwrap_err().to_string().contains("syntax error"),
            "{bad:?}"
        );
    }
    let snapshots_before = log(&node).matches("snapshot built").count();
    let reply: redis::RedisResult<redis::Value> = redis::cmd("SHUTDOWN")
        .arg("SAVE")
        .arg("NOW")
        .query(&mut con);
    assert!(reply.is_err(), "the connection closes: {reply:?}");
    assert_eq!(wait_exit(&mut node).code(), Some(0));
    let text = log(&node);
    assert!(
        text.contains("shutting down by=SHUTDOWN save=true"),
        "{text}"
    );
    assert_eq!(text.matches("snapshot built").count(), snapshots_before + 1);
    assert!(text.contains("snapshot saved before shutdown"), "{text}");
    assert_kept(&mut node, &keys);

    let mut con = node.connect();
    let reply: redis::RedisResult<redis::Value> =
        redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
    assert!(reply.is_err(), "{reply:?}");
    assert_eq!(wait_exit(&mut node).code(), Some(0));
    assert_kept(&mut node, &keys);
}
