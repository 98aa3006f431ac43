//! Property: whatever writes happen, each shard's expiry index matches its
//! entries, `expired_candidates` returns exactly the due keys, and purging
//! them leaves only live keys.

mod common;

use bytes::Bytes;
use common::record;
use proptest::prelude::*;
use redraft_engine::{
    Engine, ExpireCommand, ExpireCondition, Reply, SetCondition, TtlChange, WriteOp,
};

fn key() -> impl Strategy<Value = Bytes> {
    (0u8..12).prop_map(|i| Bytes::from(format!("k{i}")))
}

fn ttl() -> impl Strategy<Value = TtlChange> {
    prop_oneof![
        Just(TtlChange::Clear),
        Just(TtlChange::Keep),
        (1i64..300).prop_map(TtlChange::InMs),
        (1_699_999_999_900i64..1_700_000_001_000).prop_map(TtlChange::AtMs),
    ]
}

fn condition() -> impl Strategy<Value = ExpireCondition> {
    prop_oneof![
        Just(ExpireCondition::Always),
        Just(ExpireCondition::IfNoExpiry),
        Just(ExpireCondition::IfHasExpiry),
        Just(ExpireCondition::IfGreater),
        Just(ExpireCondition::IfLess),
        Just(ExpireCondition::IfHasExpiryAndLess),
    ]
}

fn op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        (key(), ttl(), any::<bool>()).prop_map(|(key, ttl, get)| WriteOp::Set {
            key,
            value: Bytes::from_static(b"12"),
            condition: SetCondition::Always,
            ttl,
            get,
        }),
        (key(), ttl()).prop_map(|(key, ttl)| WriteOp::GetEx { key, ttl }),
        key().prop_map(|key| WriteOp::GetDel { key }),
        key().prop_map(|key| WriteOp::Persist { key }),
        key().prop_map(|key| WriteOp::IncrBy { key, delta: 1 }),
        key().prop_map(|key| WriteOp::Append {
            key,
            value: Bytes::from_static(b"3")
        }),
        (key(), key()).prop_map(|(from, to)| WriteOp::Rename {
            from,
            to,
            only_if_absent: false
        }),
        (key(), key(), 0usize..2).prop_map(|(from, to, to_db)| WriteOp::Copy {
            from,
            to,
            to_db,
            replace: true
        }),
        (key(), -50i64..400, condition()).prop_map(|(key, amount, condition)| {
            WriteOp::Expire {
                key,
                amount,
                command: ExpireCommand::PExpire,
                condition,
            }
        }),
        proptest::collection::vec(key(), 1..4).prop_map(|keys| WriteOp::Del { keys }),
        proptest::collection::vec(key(), 1..4).prop_map(|keys| WriteOp::PurgeExpired { keys }),
        proptest::collection::vec((key(), key()), 1..3).prop_map(|pairs| WriteOp::MSet { pairs }),
        Just(WriteOp::FlushDb),
    ]
}

proptest! {
    #[test]
    fn expiry_index_stays_consistent(
        steps in proptest::collection::vec((op(), 0u64..80, 0usize..2), 1..120)
    ) {
        let engine = Engine::new();
        let mut now_ms = 1_700_000_000_000;
        for (op, advance_ms, db) in steps {
            now_ms += advance_ms;
            engine.apply(db, &op, now_ms);
            engine.check_invariants();
        }
        // Every candidate is due; purging them all leaves only live keys.
        let candidates = engine.expired_candidates(now_ms, usize::MAX);
        for (db, key) in &candidates {
            prop_assert_eq!(engine.ttl(*db, key, now_ms, true, false), -2);
        }
        for db in 0..2 {
            let keys = candidates
                .iter()
                .filter(|(at, _)| *at == db)
                .map(|(_, key)| key.clone())
                .collect();
            engine.apply(db, &WriteOp::PurgeExpired { keys }, now_ms);
            let Reply::Array(live) = record(|sink| engine.keys(db, b"*", now_ms, sink)) else {
                panic!("KEYS is an array")
            };
            prop_assert_eq!(live.len(), engine.dbsize(db));
        }
        prop_assert!(engine.expired_candidates(now_ms, usize::MAX).is_empty());
        engine.check_invariants();
    }
}
