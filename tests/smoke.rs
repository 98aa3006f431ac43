//! Smoke test: the real binary starts, answers redis-cli-style commands
//! and survives a protocol error on another connection.

mod common;

use redis::Commands;
use redraft_server::resp::Frame;

#[test]
fn set_then_get_through_a_real_client() {
    let server = common::redraft(&[]);
    let mut con = server.client();
    let _: () = con.set("a", "b").unwrap();
    let value: String = con.get("a").unwrap();
    assert_eq!(value, "b");
    let missing: Option<String> = con.get("nope").unwrap();
    assert_eq!(missing, None);
}

#[test]
fn protocol_error_closes_only_that_connection() {
    let server = common::redraft(&[]);
    let mut good = server.raw();
    good.roundtrip(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"+OK\r\n");
    let mut bad = server.raw();
    bad.roundtrip(
        b"*1\r\n$-5\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    assert!(bad.is_closed());
    good.roundtrip(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$1\r\nv\r\n");
}

/// Runs a second server with `flags` and returns its exit status and
/// stderr; it must refuse to start.
fn second_server(flags: &[&str]) -> (std::process::ExitStatus, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_redraft-server"))
        .args(flags)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run redraft-server");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_second_server_cannot_share_the_client_port_or_the_data_dir() {
    let first = common::redraft(&[]);
    let other_dir = common::temp_dir("second");
    let port = first.port.to_string();
    let free = common::free_port().to_string();
    let cases: [(&str, Vec<&str>, &str); 2] = [
        (
            "same client port",
            vec!["--port", &port, "--data-dir", other_dir.to_str().unwrap()],
            "Address already in use",
        ),
        (
            "same data dir",
            vec!["--port", &free, "--data-dir", first.dir.to_str().unwrap()],
            "is in use by another redraft-server",
        ),
    ];
    for (label, flags, expected) in cases {
        let mut flags = flags;
        let raft_port = common::free_port().to_string();
        flags.extend(["--raft-port", &raft_port, "--raft-log-segment-mb", "16"]);
        let (status, stderr) = second_server(&flags);
        assert!(!status.success(), "{label}: the second server started");
        assert!(stderr.contains(expected), "{label}: stderr was {stderr:?}");
    }
    // The first server is unaffected.
    let mut client = first.client();
    let pong: String = redis::cmd("PING").query(&mut client).unwrap();
    assert_eq!(pong, "PONG");
}

/// A read held behind a write while earlier replies still fill the socket
/// runs once the socket drains (it used to wait for the next input).
#[test]
fn a_held_read_runs_after_big_replies_drain() {
    let server = common::redraft(&[]);
    let mut raw = server.raw();
    let chunk = vec![b'x'; 3 << 20];
    for _ in 0..4 {
        raw.command(&[b"APPEND", b"big", &chunk]);
    }
    let mut request = Vec::new();
    for _ in 0..5 {
        request.extend(common::encode_command(&[b"GET", b"big"]));
    }
    request.extend(common::encode_command(&[b"SET", b"k", b"v"]));
    request.extend(common::encode_command(&[b"GET", b"k"]));
    raw.send(&request);
    raw.set_read_timeout(std::time::Duration::from_secs(20));
    for _ in 0..5 {
        match raw.read_frame() {
            Frame::Bulk(value) => assert_eq!(value.len(), 12 << 20),
            other => panic!("GET big answered {other:?}"),
        }
    }
    assert_eq!(raw.read_frame(), Frame::Simple("OK".into()));
    assert_eq!(raw.read_frame(), Frame::Bulk("v".into()));
}

/// Expiring keys whose names add up to more than one log entry may hold
/// are purged in several entries; the node stays up.
#[test]
fn purging_many_long_expired_keys_keeps_the_node_up() {
    let server = common::redraft(&[]);
    let mut raw = server.raw();
    let mut key = vec![b'k'; 1 << 20];
    for i in 0..9u8 {
        key[0] = b'0' + i;
        let reply = raw.command(&[b"SET", &key, b"v", b"PX", b"200"]);
        assert_eq!(reply, Frame::Simple("OK".into()));
    }
    common::wait::until(
        std::time::Duration::from_secs(10),
        "the expired keys to be purged",
        || {
            let reply = raw.command(&[b"DBSIZE"]);
            (reply == Frame::Integer(0))
                .then_some(())
                .ok_or_else(|| format!("{reply:?}"))
        },
    );
    assert_eq!(raw.command(&[b"PING"]), Frame::Simple("PONG".into()));
}
