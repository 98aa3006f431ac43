//! `Query::ZAlgebraRefused`: a sorted set operation whose options Redis
//! refuses only after its type checks answers WRONGTYPE when a key holds
//! another type, and the option error otherwise, changing nothing.

mod common;

use bytes::Bytes;
use common::{record, render};
use redraft_engine::{Engine, Error, Query, SetOp, WriteOp, ZSetOp};

const NOW_MS: u64 = 1_700_000_000_000;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

#[test]
fn a_refused_set_operation_answers_wrongtype_before_its_option_error() {
    let engine = Engine::new();
    let zadd = ZSetOp::parse_zadd(&[b("z"), b("1"), b("a")]).expect("valid ZADD");
    engine.apply(0, &WriteOp::ZSets(zadd), NOW_MS);
    engine.apply(
        0,
        &WriteOp::Sets(SetOp::Add {
            key: b("s"),
            members: vec![b("a")],
        }),
        NOW_MS,
    );
    engine.apply(
        0,
        &WriteOp::Set {
            key: b("str"),
            value: b("x"),
            condition: redraft_engine::SetCondition::Always,
            ttl: redraft_engine::TtlChange::Clear,
            get: false,
        },
        NOW_MS,
    );
    let cases: &[(&[&str], &str)] = &[
        (&["z", "s", "missing"], "(error) ERR syntax error"),
        (&["z"], "(error) ERR syntax error"),
        (
            &["z", "str"],
            "(error) WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["str", "missing"],
            "(error) WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ];
    let before = engine.dbsize(0);
    for (keys, want) in cases {
        let query = Query::ZAlgebraRefused {
            keys: keys.iter().map(|key| b(key)).collect(),
            error: Error::Syntax,
        };
        let reply = record(|sink| engine.query(0, &query, NOW_MS, sink));
        assert_eq!(render(&reply), *want, "{keys:?}");
    }
    assert_eq!(engine.dbsize(0), before);
    assert_eq!(engine.key_type(0, b"missing", NOW_MS), "none");
}
