//! Two engines applying the same ops at the same timestamps give the same
//! replies, the same SCAN order and the same KEYS order.

mod common;

use bytes::Bytes;
use common::record;
use redraft_engine::{
    Engine, ExpireCommand, ExpireCondition, Reply, SetCondition, TtlChange, WriteOp,
};

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(rng: &mut Rng) -> Bytes {
    Bytes::from(format!("k{}", rng.below(40)))
}

fn random_op(rng: &mut Rng) -> WriteOp {
    match rng.below(10) {
        0..=2 => WriteOp::Set {
            key: key(rng),
            value: Bytes::from(format!("{}", rng.below(1000))),
            condition: [
                SetCondition::Always,
                SetCondition::IfAbsent,
                SetCondition::IfPresent,
            ][rng.below(3) as usize],
            ttl: [
                TtlChange::Clear,
                TtlChange::Keep,
                TtlChange::InMs(rng.below(500) as i64 + 1),
            ][rng.below(3) as usize],
            get: rng.below(2) == 0,
        },
        3 => WriteOp::IncrBy {
            key: key(rng),
            delta: rng.below(10) as i64 - 5,
        },
        4 => WriteOp::IncrByFloat {
            key: key(rng),
            delta: Bytes::from_static(b"0.1"),
        },
        5 => WriteOp::Append {
            key: key(rng),
            value: Bytes::from_static(b"x"),
        },
        6 => WriteOp::Del {
            keys: vec![key(rng), key(rng)],
        },
        7 => WriteOp::Expire {
            key: key(rng),
            amount: rng.below(600) as i64 - 100,
            command: ExpireCommand::PExpire,
            condition: ExpireCondition::Always,
        },
        8 => WriteOp::Rename {
            from: key(rng),
            to: key(rng),
            only_if_absent: rng.below(2) == 0,
        },
        _ => WriteOp::Copy {
            from: key(rng),
            to: key(rng),
            to_db: 0,
            replace: rng.below(2) == 0,
        },
    }
}

/// The whole SCAN walk with COUNT 3, keys in the order returned.
fn scan_all(engine: &Engine, now_ms: u64) -> Vec<Reply> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let reply = record(|sink| engine.scan(0, cursor, None, 3, None, now_ms, sink));
        let Reply::Array(mut parts) = reply else {
            panic!("bad scan reply")
        };
        let Reply::Array(keys) = parts.pop().unwrap() else {
            panic!("bad scan keys")
        };
        out.extend(keys);
        let Some(Reply::Bulk(next)) = parts.pop() else {
            panic!("bad scan cursor")
        };
        cursor = std::str::from_utf8(&next).unwrap().parse().unwrap();
        if cursor == 0 {
            return out;
        }
    }
}

#[test]
fn same_ops_same_replies_and_order() {
    let (a, b) = (Engine::new(), Engine::new());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut now_ms = 1_700_000_000_000;
    for step in 0..5000 {
        now_ms += rng.below(20);
        let op = random_op(&mut rng);
        let reply_a = a.apply(0, &op, now_ms);
        let reply_b = b.apply(0, &op, now_ms);
        assert_eq!(reply_a, reply_b, "step {step}: {op:?}");
        if step % 500 == 0 {
            assert_eq!(scan_all(&a, now_ms), scan_all(&b, now_ms));
        }
    }
    assert_eq!(scan_all(&a, now_ms), scan_all(&b, now_ms));
    let keys_a = record(|sink| a.keys(0, b"*", now_ms, sink));
    let keys_b = record(|sink| b.keys(0, b"*", now_ms, sink));
    assert_eq!(keys_a, keys_b);
    assert_eq!(a.dbsize(0), b.dbsize(0));
    assert_eq!(a.expires_count(0), b.expires_count(0));
    assert_eq!(a.stats().used_memory_bytes, b.stats().used_memory_bytes);
    a.check_invariants();
    b.check_invariants();
}
