//! Pub/sub against a real redis-server: the same script of commands on
//! three connections (two subscribers and a publisher) goes to both
//! servers, in RESP2 and in RESP3, and every frame each connection
//! receives (confirmations, messages, replies, errors) must be the same.
//!
//! After each step, every connection's frames from redis-server are read
//! until it has been quiet for a moment; redraft's connection must then
//! deliver exactly as many frames (messages travel between network threads
//! asynchronously, so they are awaited, not assumed) and the same ones.
//! Frames of one step are compared in order, except where Redis's own
//! order is a hash order (an UNSUBSCRIBE of everything, PUBSUB CHANNELS).
//! Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB
//! SHARDCHANNELS and SHARDNUMSUB) runs in the same script: its counts are
//! apart from the other subscriptions', and subscribed mode lasts while
//! either kind does.

mod common;

use std::time::Duration;

use common::render;
use redraft_server::resp::Frame;

/// (connection, sorted?, command): connection 0 and 1 subscribe, 2 publishes.
const SCRIPT: &[(usize, bool, &[&str])] = &[
    (0, false, &["SUBSCRIBE", "news", "sport"]),
    (1, false, &["PSUBSCRIBE", "n*", "s?ort"]),
    (1, false, &["SUBSCRIBE", "news"]),
    (2, false, &["PUBLISH", "news", "hello"]),
    (2, false, &["PUBLISH", "sport", "goal"]),
    (2, false, &["PUBLISH", "nothing", "x"]),
    (2, false, &["PUBLISH", "weather", "rain"]),
    (2, true, &["PUBSUB", "CHANNELS"]),
    (2, true, &["PUBSUB", "CHANNELS", "n*"]),
    (2, false, &["PUBSUB", "NUMSUB", "news", "sport", "none"]),
    (2, false, &["PUBSUB", "NUMPAT"]),
    (0, false, &["GET", "k"]),
    (0, false, &["PING"]),
    (0, false, &["PING", "hi"]),
    (0, false, &["SUBSCRIBE", "news"]),
    (0, false, &["UNSUBSCRIBE", "news", "never"]),
    (2, false, &["PUBLISH", "news", "again"]),
    (1, false, &["PUNSUBSCRIBE", "n*"]),
    (2, false, &["PUBLISH", "news", "third"]),
    (1, true, &["UNSUBSCRIBE"]),
    (1, true, &["PUNSUBSCRIBE"]),
    (1, false, &["PUNSUBSCRIBE"]),
    (1, false, &["UNSUBSCRIBE"]),
    (1, false, &["GET", "k"]),
    (2, false, &["PUBLISH", "sport", "last"]),
    (2, false, &["PUBSUB", "NUMPAT"]),
    (2, false, &["PUBSUB", "NOPE"]),
    (2, false, &["PUBLISH", "news"]),
    // Sharded pub/sub: a namespace and a count of its own.
    (1, false, &["SSUBSCRIBE", "news", "orders"]),
    (1, false, &["SSUBSCRIBE", "news"]),
    (1, false, &["PING"]),
    (1, false, &["GET", "k"]),
    (0, false, &["SSUBSCRIBE", "orders"]),
    (2, false, &["SPUBLISH", "orders", "one"]),
    (2, false, &["SPUBLISH", "news", "shard news"]),
    (2, false, &["PUBLISH", "orders", "not sharded"]),
    (2, false, &["SPUBLISH", "sport", "nobody"]),
    (2, true, &["PUBSUB", "SHARDCHANNELS"]),
    (2, true, &["PUBSUB", "SHARDCHANNELS", "o*"]),
    (
        2,
        false,
        &["PUBSUB", "SHARDNUMSUB", "orders", "news", "sport"],
    ),
    (2, false, &["PUBSUB", "SHARDNUMSUB"]),
    (2, false, &["PUBSUB", "NUMSUB", "orders"]),
    (2, true, &["PUBSUB", "CHANNELS"]),
    (2, false, &["PUBSUB", "SHARDCHANNELS", "a", "b"]),
    (2, false, &["PUBSUB", "channels", "a", "b"]),
    (2, false, &["PUBSUB", "HELP"]),
    (1, false, &["UNSUBSCRIBE"]),
    (1, false, &["GET", "k"]),
    (1, false, &["SUNSUBSCRIBE", "news", "never"]),
    (2, false, &["SPUBLISH", "news", "gone"]),
    (1, true, &["SUNSUBSCRIBE"]),
    (1, false, &["SUNSUBSCRIBE"]),
    (1, false, &["GET", "k"]),
    (2, false, &["SPUBLISH"]),
    (2, false, &["MULTI"]),
    (2, false, &["SSUBSCRIBE", "m"]),
    (2, false, &["EXEC"]),
    (2, false, &["PUBSUB", "SHARDNUMSUB", "m"]),
    // RESET leaves every subscription silently, and subscribed mode (and
    // RESP3: the replies after it are RESP2's).
    (0, false, &["PSUBSCRIBE", "s*"]),
    (0, false, &["RESET"]),
    (2, false, &["PUBLISH", "sport", "after reset"]),
    (2, false, &["SPUBLISH", "orders", "after reset"]),
    (2, false, &["PUBSUB", "SHARDNUMSUB", "orders"]),
    (2, false, &["PUBSUB", "NUMSUB", "sport"]),
    (2, false, &["PUBSUB", "NUMPAT"]),
    (0, false, &["GET", "k"]),
    (0, false, &["HGETALL", "k"]),
    (0, false, &["UNSUBSCRIBE"]),
];

/// The frames as redis-cli shows them; with `sort`, in sorted order, and
/// each array's elements sorted too (where Redis's order is a hash order).
fn shown(frames: &[Frame], sort: bool) -> Vec<String> {
    let show = |frame: &Frame| match frame {
        Frame::Array(items) if sort => {
            let mut items: Vec<String> = items.iter().map(render).collect();
            items.sort();
            items.join("\n")
        }
        _ => render(frame),
    };
    let mut shown: Vec<String> = frames.iter().map(show).collect();
    if sort {
        shown.sort();
    }
    shown
}

fn run(resp3: bool) {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut redis_conns, mut redraft_conns) = common::paired_conns(&redis, &redraft, 3, resp3);
    for (step, (who, sort, command)) in SCRIPT.iter().enumerate() {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        redis_conns[*who].send_command(&args);
        redraft_conns[*who].send_command(&args);
        for conn in 0..3 {
            let expected = redis_conns[conn].drain(Duration::from_millis(150));
            let got = redraft_conns[conn].read_n(expected.len());
            let sort = *sort && conn == *who;
            assert_eq!(
                shown(&got, sort),
                shown(&expected, sort),
                "step {step} ({}), connection {conn}, resp3 {resp3}",
                command.join(" ")
            );
            let extra = redraft_conns[conn].drain(Duration::from_millis(20));
            assert!(
                extra.is_empty(),
                "step {step}: redraft sent more on connection {conn}: {:?}",
                shown(&extra, false)
            );
        }
    }
}

#[test]
fn pubsub_matches_redis_in_resp2() {
    run(false);
}

#[test]
fn pubsub_matches_redis_in_resp3() {
    run(true);
}

#[test]
fn a_closed_subscriber_leaves_no_subscription_behind() {
    let redraft = common::redraft(&[]);
    let mut subscriber = redraft.raw();
    let _ = subscriber.command(&[b"SUBSCRIBE", b"a"]);
    subscriber.send_command(&[b"PSUBSCRIBE", b"b*"]);
    let _ = subscriber.read_frame();
    let mut publisher = redraft.raw();
    assert_eq!(
        publisher.command(&[b"PUBLISH", b"a", b"x"]),
        Frame::Integer(1)
    );
    drop(subscriber);
    // The close is handled by the subscriber's network thread; poll until
    // it has happened.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let channels = publisher.command(&[b"PUBSUB", b"NUMSUB", b"a"]);
        let patterns = publisher.command(&[b"PUBSUB", b"NUMPAT"]);
        if channels == Frame::Array(vec![Frame::Bulk("a".into()), Frame::Integer(0)])
            && patterns == Frame::Integer(0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscriptions outlived their connection"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        publisher.command(&[b"PUBLISH", b"a", b"x"]),
        Frame::Integer(0)
    );
}

/// Publishes 1 MB messages to a subscriber that never reads until the
/// server drops it (PUBLISH counts no receiver); returns how many it took.
fn publishes_until_dropped(server: &common::Process) -> usize {
    let mut subscriber = server.raw();
    assert_eq!(
        subscriber.command(&[b"SUBSCRIBE", b"firehose"]),
        Frame::Array(vec![
            Frame::Bulk("subscribe".into()),
            Frame::Bulk("firehose".into()),
            Frame::Integer(1)
        ])
    );
    let mut publisher = server.raw();
    let payload = vec![b'x'; 1 << 20];
    for published in 1..=256 {
        match publisher.command(&[b"PUBLISH", b"firehose", &payload]) {
            Frame::Integer(1) => {}
            Frame::Integer(0) => return published,
            other => panic!("PUBLISH answered {other:?}"),
        }
    }
    panic!("a subscriber that never reads was sent 256 MB and kept");
}

#[test]
fn a_subscriber_that_does_not_read_is_dropped_past_the_output_limit_as_in_redis() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let by_redis = publishes_until_dropped(&redis);
    let by_redraft = publishes_until_dropped(&redraft);
    // Both keep at most the 32 MB hard limit plus what the sockets hold.
    assert!(by_redis <= 64, "redis dropped it after {by_redis} MB");
    assert!(by_redraft <= 64, "redraft dropped it after {by_redraft} MB");
    assert!(
        by_redraft > 32,
        "redraft dropped it early, after {by_redraft} MB"
    );
    let mut probe = redraft.raw();
    let Frame::Bulk(list) = probe.command(&[b"CLIENT", b"LIST"]) else {
        panic!("CLIENT LIST");
    };
    let list = String::from_utf8_lossy(&list).into_owned();
    assert!(!list.contains("cmd=subscribe"), "{list}");
}
