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
