//! Smoke test: the real binary starts, answers redis-cli-style commands
//! and survives a protocol error on another connection.

mod common;

use redis::Commands;

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
