//! A node whose Raft thread also serves clients (`clients_on_raft_thread`,
//! network loop 0 as a task of the Raft thread's runtime): what a client
//! sees is the same as with network threads of their own. Writes, reads
//! after them, pipelines, a blocking pop woken by another connection, a
//! transaction, pub/sub, WAIT, and acknowledged writes across SIGKILL.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::node::Node;
use redis::Commands;

/// Every client of a one-thread node is served on the Raft thread.
const ALL_ON_RAFT_THREAD: &str = "[server]\nthreads = 1\nclients_on_raft_thread = true\n";
/// Loop 0 on the Raft thread, loop 1 on its own: clients land on either.
const HALF_ON_RAFT_THREAD: &str = "[server]\nthreads = 2\nclients_on_raft_thread = true\n";

#[test]
fn a_node_serving_clients_on_its_raft_thread_answers_as_any_other() {
    for config in [ALL_ON_RAFT_THREAD, HALF_ON_RAFT_THREAD] {
        let node = Node::start_with_config(config);
        node.wait_leader();
        let mut con = node.connect();
        let _: () = con.set("k", "v").unwrap();
        assert_eq!(con.get::<_, String>("k").unwrap(), "v", "{config}");
        assert_eq!(con.incr::<_, _, i64>("n", 5).unwrap(), 5);

        // A pipeline of writes and reads interleaved: each read sees the
        // writes before it.
        let mut pipe = redis::pipe();
        for _ in 0..500 {
            pipe.incr("counter", 1).get("counter");
        }
        let replies: Vec<i64> = pipe.query(&mut con).unwrap();
        let expected: Vec<i64> = (1..=500).flat_map(|i| [i, i]).collect();
        assert_eq!(replies, expected, "{config}");

        // Several connections, so both loops of the two-loop node serve
        // some: a blocked pop on each is woken by a push from another.
        let mut blocked = Vec::new();
        for i in 0..4 {
            let mut stream = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let key = format!("queue{i}");
            let request = format!(
                "*3\r\n$5\r\nBLPOP\r\n${}\r\n{key}\r\n$1\r\n0\r\n",
                key.len()
            );
            stream.write_all(request.as_bytes()).unwrap();
            blocked.push((stream, key));
        }
        // The pops are blocked once CLIENT LIST shows them waiting.
        common::wait::until(Duration::from_secs(10), "4 blocked clients", || {
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
            let n = list.matches("cmd=blpop").count();
            if n >= 4 {
                Ok(())
            } else {
                Err(format!("{n} blocked"))
            }
        });
        for (mut stream, key) in blocked {
            let _: i64 = con.rpush(&key, "job").unwrap();
            let want = format!("*2\r\n${}\r\n{key}\r\n$3\r\njob\r\n", key.len());
            let mut got = vec![0; want.len()];
            stream.read_exact(&mut got).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), want, "{config}");
        }

        // A transaction.
        let (a, b): (i64, i64) = redis::pipe()
            .atomic()
            .incr("tx", 1)
            .incr("tx", 1)
            .query(&mut con)
            .unwrap();
        assert_eq!((a, b), (1, 2), "{config}");

        // Pub/sub: a message reaches a subscriber on another connection.
        let mut subscriber = node.connect();
        let mut pubsub = subscriber.as_pubsub();
        pubsub.subscribe("news").unwrap();
        pubsub
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let receivers: i64 = con.publish("news", "hello").unwrap();
        assert_eq!(receivers, 1, "{config}");
        let message = pubsub.get_message().unwrap();
        assert_eq!(message.get_payload::<String>().unwrap(), "hello");

        // WAIT on a single node: no replicas to wait for.
        let replicas: i64 = redis::cmd("WAIT").arg(0).arg(100).query(&mut con).unwrap();
        assert_eq!(replicas, 0, "{config}");
    }
}

#[test]
fn writes_acknowledged_on_the_raft_thread_survive_sigkill() {
    let mut node = Node::start_with_config(ALL_ON_RAFT_THREAD);
    node.wait_leader();
    let mut con = node.connect();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.set(format!("key{i}"), i).ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    drop(con);
    node.restart();
    node.wait_leader();
    let mut con = node.connect();
    for i in (0..2000).step_by(97) {
        let value: i64 = con.get(format!("key{i}")).unwrap();
        assert_eq!(value, i);
    }
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 2000);
}
