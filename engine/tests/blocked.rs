//! Blocked commands as replicated state: who is served, in what order,
//! with what, and that two nodes applying the same entries agree.

mod common;

use bytes::Bytes;
use common::render;
use redraft_engine::{
    AddOptions, Blocked, Engine, ListOp, Reply, WaiterId, WriteOp, ZSetOp, UNBLOCKED_ERROR,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn keys(names: &[&str]) -> Vec<Bytes> {
    names.iter().map(|name| bytes(name)).collect()
}

fn id(client: u64) -> WaiterId {
    WaiterId {
        origin: 7,
        client_id: client,
        seq: 0,
    }
}

/// An engine and its blocked commands, applied as the state machine does.
#[derive(Default)]
struct Node {
    engine: Engine,
    blocked: Blocked,
}

impl Node {
    /// A blocking command's first attempt: its reply, or "blocked".
    fn block(&mut self, client: u64, pop: WriteOp) -> String {
        let keys = match &pop {
            WriteOp::Lists(ListOp::PopFirst { keys, .. } | ListOp::MPop { keys, .. }) => {
                keys.clone()
            }
            WriteOp::Lists(ListOp::Move { from, .. }) => vec![from.clone()],
            WriteOp::ZSets(ZSetOp::PopFirst { keys, .. } | ZSetOp::MPop { keys, .. }) => {
                keys.clone()
            }
            other => panic!("not a blocking pop: {other:?}"),
        };
        let reply = self.engine.apply(0, &pop, NOW_MS);
        if matches!(reply, Reply::Nil | Reply::NilArray) {
            self.blocked.block(id(client), 0, &keys, &pop);
            return "blocked".to_string();
        }
        render(&reply)
    }

    /// Applies `ops` as one command (an EXEC when several), then serves;
    /// returns "client: reply" for each client served, in order.
    fn run(&mut self, ops: &[WriteOp]) -> Vec<String> {
        let mut ready = Vec::new();
        for op in ops {
            self.blocked.ready_after(0, op, &mut ready);
            self.engine.apply(0, op, NOW_MS);
        }
        self.blocked
            .serve(&self.engine, ready, NOW_MS)
            .into_iter()
            .map(|ended| format!("{}: {}", ended.id.client_id, render(&ended.reply)))
            .collect()
    }
}

fn blpop(names: &[&str]) -> WriteOp {
    WriteOp::Lists(ListOp::PopFirst {
        keys: keys(names),
        left: true,
    })
}

fn blmpop(names: &[&str], left: bool, count: u64) -> WriteOp {
    WriteOp::Lists(ListOp::MPop {
        keys: keys(names),
        left,
        count,
    })
}

fn blmove(from: &str, to: &str) -> WriteOp {
    WriteOp::Lists(ListOp::Move {
        from: bytes(from),
        to: bytes(to),
        from_left: false,
        to_left: true,
    })
}

fn bzpopmin(names: &[&str]) -> WriteOp {
    WriteOp::ZSets(ZSetOp::PopFirst {
        keys: keys(names),
        max: false,
    })
}

fn push(key: &str, items: &[&str]) -> WriteOp {
    WriteOp::Lists(ListOp::Push {
        key: bytes(key),
        items: keys(items),
        left: true,
        only_if_exists: false,
    })
}

fn zadd(key: &str, score: f64, member: &str) -> WriteOp {
    WriteOp::ZSets(ZSetOp::Add {
        key: bytes(key),
        options: AddOptions::default(),
        members: vec![(score, bytes(member))],
    })
}

fn set(key: &str) -> WriteOp {
    WriteOp::Set {
        key: bytes(key),
        value: bytes("v"),
        condition: redraft_engine::SetCondition::Always,
        ttl: redraft_engine::TtlChange::Clear,
        get: false,
    }
}

fn del(key: &str) -> WriteOp {
    WriteOp::Del { keys: keys(&[key]) }
}

#[test]
fn waiters_on_a_key_are_served_in_the_order_they_blocked() {
    let mut node = Node::default();
    assert_eq!(node.block(1, blpop(&["q"])), "blocked");
    assert_eq!(node.block(2, blpop(&["q"])), "blocked");
    assert_eq!(node.block(3, blpop(&["q"])), "blocked");
    assert_eq!(
        node.run(&[push("q", &["a", "b"])]),
        ["1: [\"q\", \"b\"]", "2: [\"q\", \"a\"]"]
    );
    assert_eq!(node.blocked.len(), 1);
    assert_eq!(node.run(&[push("q", &["c"])]), ["3: [\"q\", \"c\"]"]);
    assert!(node.blocked.is_empty());
}

#[test]
fn a_transaction_serves_against_its_final_state() {
    let mut node = Node::default();
    assert_eq!(node.block(1, blpop(&["k"])), "blocked");
    // Pushed, deleted and made a string: nobody is served.
    assert_eq!(
        node.run(&[push("k", &["a"]), del("k"), set("k")]),
        Vec::<String>::new()
    );
    assert_eq!(node.run(&[del("k")]), Vec::<String>::new());
    assert_eq!(node.run(&[push("k", &["b"])]), ["1: [\"k\", \"b\"]"]);
}

#[test]
fn keys_are_served_in_the_order_they_became_ready() {
    let mut node = Node::default();
    node.block(1, blmpop(&["blist", "blist2"], true, 1));
    node.block(2, blmpop(&["blist", "blist2"], false, 10));
    node.block(3, blmpop(&["blist", "blist2"], true, 10));
    node.block(4, blmpop(&["blist", "blist2"], false, 1));
    let served = node.run(&[
        push("blist", &["a", "b", "c", "d", "e"]),
        push("blist2", &["1", "2", "3", "4", "5"]),
    ]);
    assert_eq!(
        served,
        [
            "1: [\"blist\", [\"e\"]]",
            "2: [\"blist\", [\"a\", \"b\", \"c\", \"d\"]]",
            "3: [\"blist2\", [\"5\", \"4\", \"3\", \"2\", \"1\"]]",
        ]
    );
    assert_eq!(
        node.run(&[push("blist2", &["1", "2", "3"])]),
        ["4: [\"blist2\", [\"1\"]]"]
    );
}

#[test]
fn a_served_move_serves_the_next_waiter_in_the_same_pass() {
    let mut node = Node::default();
    node.block(1, blmove("list1", "list2"));
    node.block(2, blmove("list2", "list3"));
    assert_eq!(
        node.run(&[push("list1", &["foo"])]),
        ["1: \"foo\"", "2: \"foo\""]
    );
    let lrange = |node: &Node, key: &str| {
        common::record(|sink| node.engine.lrange(0, key.as_bytes(), 0, -1, NOW_MS, sink))
    };
    assert_eq!(render(&lrange(&node, "list1")), "[]");
    assert_eq!(render(&lrange(&node, "list2")), "[]");
    assert_eq!(render(&lrange(&node, "list3")), "[\"foo\"]");
    // Circular: each waiter is served once.
    node.block(3, blmove("c1", "c2"));
    node.block(4, blmove("c2", "c1"));
    assert_eq!(node.run(&[push("c1", &["x"])]), ["3: \"x\"", "4: \"x\""]);
    assert_eq!(render(&lrange(&node, "c1")), "[\"x\"]");
}

#[test]
fn a_waiter_is_served_only_from_a_key_of_its_type() {
    let mut node = Node::default();
    node.block(1, bzpopmin(&["k"]));
    node.block(2, blpop(&["k"]));
    // A list: only the list waiter, though it blocked second.
    assert_eq!(node.run(&[push("k", &["a"])]), ["2: [\"k\", \"a\"]"]);
    assert_eq!(
        node.run(&[zadd("k", 1.0, "m")]),
        ["1: [\"k\", \"m\", (double) 1]"]
    );
}

#[test]
fn a_move_to_a_key_of_another_type_fails_and_pops_nothing() {
    let mut node = Node::default();
    node.block(1, blmove("src", "dst"));
    node.run(&[set("dst")]);
    let served = node.run(&[push("src", &["a"])]);
    assert_eq!(served.len(), 1);
    assert!(served[0].starts_with("1: (error) WRONGTYPE"), "{served:?}");
    assert!(node.blocked.is_empty());
}

#[test]
fn unblock_and_a_new_term_end_waits() {
    let mut node = Node::default();
    assert!(node.blocked.enter_term(3).is_empty());
    node.block(1, blpop(&["a"]));
    node.block(2, blpop(&["a", "b"]));
    let ended = node.blocked.unblock(id(1)).expect("client 1 waits");
    assert_eq!(ended.reply, Reply::NilArray);
    assert_eq!(node.blocked.unblock(id(1)), None);
    assert!(node.blocked.enter_term(3).is_empty());
    let dropped = node.blocked.enter_term(4);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].id, id(2));
    assert_eq!(
        render(&dropped[0].reply),
        format!("(error) {UNBLOCKED_ERROR}")
    );
    assert!(!node.blocked.waits_on(0, b"b"));
    assert_eq!(node.run(&[push("b", &["x"])]), Vec::<String>::new());
}

/// Two nodes applying the same random entries, one of them restarted
/// from a snapshot of the other's blocked commands halfway, serve the same
/// clients with the same replies and end in the same state.
#[test]
fn nodes_applying_the_same_entries_agree() {
    let mut rng = common::Rng(11);
    let mut first = Node::default();
    let mut second = Node::default();
    let names = ["a", "b", "c"];
    let pick = |rng: &mut common::Rng| names[rng.below(3) as usize];
    for step in 0..2000u64 {
        if step == 1000 {
            // A snapshot carries the blocked commands.
            let bytes = postcard::to_stdvec(&first.blocked).unwrap();
            second.blocked = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(second.blocked, first.blocked);
        }
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let op = match rng.below(6) {
            0 => blpop(&[a, b]),
            1 => blmove(a, b),
            2 => bzpopmin(&[a]),
            3 => push(a, &["x", "y"]),
            4 => zadd(a, rng.below(10) as f64, b),
            _ => del(a),
        };
        let pop = matches!(
            op,
            WriteOp::Lists(ListOp::PopFirst { .. } | ListOp::Move { .. })
                | WriteOp::ZSets(ZSetOp::PopFirst { .. })
        );
        if pop {
            let client = step + 100;
            assert_eq!(first.block(client, op.clone()), second.block(client, op));
        } else {
            assert_eq!(first.run(std::slice::from_ref(&op)), second.run(&[op]));
        }
        assert_eq!(first.blocked, second.blocked, "step {step}");
    }
    assert_eq!(
        common::scan_all(&first.engine, NOW_MS),
        common::scan_all(&second.engine, NOW_MS)
    );
}
