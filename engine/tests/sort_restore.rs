//! `SORT ... STORE` and `RESTORE` applied to an engine, and `SORT` and
//! `DUMP` read from one: the parts that depend on the keyspace (locking
//! every pattern key's shard, expiry, the destination, BUSYKEY, TTLs).

mod common;

use bytes::Bytes;
use common::{record, render};
use redraft_engine::{
    decode_payload, Engine, Error, HashOp, ListOp, Query, Reply, SetCondition, SetOp, SortArgs,
    TtlChange, WriteOp,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn set_string(engine: &Engine, key: &str, value: &str, ttl: TtlChange) {
    let op = WriteOp::Set {
        key: b(key),
        value: b(value),
        condition: SetCondition::Always,
        ttl,
        get: false,
    };
    assert_eq!(engine.apply(0, &op, NOW_MS), Reply::Ok);
}

fn rpush(engine: &Engine, key: &str, items: &[&str]) {
    let op = WriteOp::Lists(ListOp::Push {
        key: b(key),
        items: items.iter().map(|item| b(item)).collect(),
        left: false,
        only_if_exists: false,
    });
    engine.apply(0, &op, NOW_MS);
}

fn args(options: &str) -> SortArgs {
    let options: Vec<Bytes> = options.split_whitespace().map(b).collect();
    SortArgs::parse(&options, true).unwrap().0
}

fn sort_store(engine: &Engine, key: &str, options: &str, dst: &str, now_ms: u64) -> String {
    let op = WriteOp::SortStore {
        key: b(key),
        dst: b(dst),
        args: args(options),
    };
    render(&engine.apply(0, &op, now_ms))
}

fn sort(engine: &Engine, key: &str, options: &str, now_ms: u64) -> String {
    render(&record(|sink| {
        engine.sort(0, key.as_bytes(), &args(options), now_ms, sink)
    }))
}

fn lrange(engine: &Engine, key: &str) -> String {
    render(&record(|sink| {
        engine.lrange(0, key.as_bytes(), 0, -1, NOW_MS, sink)
    }))
}

fn pttl(engine: &Engine, key: &str, now_ms: u64) -> i64 {
    engine.ttl(0, key.as_bytes(), now_ms, true, false)
}

/// A list of ids, with weights and hash fields under many other keys (so in
/// many shards), sorted and stored.
#[test]
fn sort_store_reads_pattern_keys_in_every_shard() {
    let engine = Engine::new();
    let ids: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    rpush(&engine, "ids", &id_refs);
    for (i, id) in ids.iter().enumerate() {
        set_string(
            &engine,
            &format!("w_{id}"),
            &((i * 37) % 100).to_string(),
            TtlChange::Clear,
        );
        let op = WriteOp::Hashes(HashOp::Set {
            key: b(&format!("h_{id}")),
            pairs: vec![(b("name"), b(&format!("n{id}")))],
            ok: false,
        });
        engine.apply(0, &op, NOW_MS);
    }
    assert_eq!(
        sort_store(
            &engine,
            "ids",
            "by w_* get h_*->name limit 0 3",
            "dst",
            NOW_MS
        ),
        "(integer) 3"
    );
    // Weights (i * 37) % 100: 0 for id 0, 1 for id 73, 2 for id 46.
    assert_eq!(lrange(&engine, "dst"), r#"["n0", "n73", "n46"]"#);
    assert_eq!(
        sort(&engine, "ids", "by w_* get # limit 0 3", NOW_MS),
        r#"["0", "73", "46"]"#
    );
    engine.check_invariants();
}

#[test]
fn sort_store_replaces_deletes_or_keeps_the_destination() {
    let engine = Engine::new();
    rpush(&engine, "l", &["3", "1", "2"]);
    set_string(&engine, "dst", "old", TtlChange::InMs(10_000));
    assert_eq!(sort_store(&engine, "l", "", "dst", NOW_MS), "(integer) 3");
    assert_eq!(lrange(&engine, "dst"), r#"["1", "2", "3"]"#);
    assert_eq!(
        pttl(&engine, "dst", NOW_MS),
        -1,
        "the stored list has no expiry"
    );
    // An error stores nothing.
    rpush(&engine, "bad", &["x"]);
    let error = "(error) ERR One or more scores can't be converted into double";
    assert_eq!(sort_store(&engine, "bad", "", "dst", NOW_MS), error);
    set_string(&engine, "s", "x", TtlChange::Clear);
    let wrongtype = "(error) WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(sort_store(&engine, "s", "", "dst", NOW_MS), wrongtype);
    assert_eq!(lrange(&engine, "dst"), r#"["1", "2", "3"]"#);
    // An empty result deletes the destination.
    assert_eq!(
        sort_store(&engine, "l", "limit 5 1", "dst", NOW_MS),
        "(integer) 0"
    );
    assert_eq!(engine.key_type(0, b"dst", NOW_MS), "none");
    // Missing GET values are stored as empty strings.
    assert_eq!(
        sort_store(&engine, "l", "get # get nokey_*", "dst", NOW_MS),
        "(integer) 6"
    );
    assert_eq!(lrange(&engine, "dst"), r#"["1", "", "2", "", "3", ""]"#);
    // The source may be the destination.
    assert_eq!(sort_store(&engine, "l", "desc", "l", NOW_MS), "(integer) 3");
    assert_eq!(lrange(&engine, "l"), r#"["3", "2", "1"]"#);
    engine.check_invariants();
}

#[test]
fn expired_keys_sort_as_missing() {
    let engine = Engine::new();
    rpush(&engine, "l", &["1", "2"]);
    set_string(&engine, "w_1", "9", TtlChange::InMs(100));
    set_string(&engine, "w_2", "5", TtlChange::Clear);
    assert_eq!(sort(&engine, "l", "by w_*", NOW_MS), r#"["2", "1"]"#);
    let later = NOW_MS + 100;
    assert_eq!(sort(&engine, "l", "by w_*", later), r#"["1", "2"]"#);
    assert_eq!(sort(&engine, "l", "get w_*", later), r#"[(nil), "5"]"#);
    let op = WriteOp::Expire {
        key: b("l"),
        amount: 50,
        command: redraft_engine::ExpireCommand::PExpire,
        condition: redraft_engine::ExpireCondition::Always,
    };
    engine.apply(0, &op, NOW_MS);
    set_string(&engine, "dst", "old", TtlChange::Clear);
    assert_eq!(sort_store(&engine, "l", "", "dst", later), "(integer) 0");
    assert_eq!(engine.key_type(0, b"dst", later), "none");
    engine.check_invariants();
}

/// Ties under `BY ... ALPHA` keep the set's order, which a node restored
/// from a snapshot shares: both nodes store the same list.
#[test]
fn sorting_a_set_stores_the_same_list_on_a_restored_node() {
    let engine = Engine::new();
    let members: Vec<Bytes> = (0..300).map(|i| b(&format!("m{i}"))).collect();
    engine.apply(
        0,
        &WriteOp::Sets(SetOp::Add {
            key: b("s"),
            members,
        }),
        NOW_MS,
    );
    let restored = Engine::new();
    restored.restore(engine.dump());
    for options in [
        "by nokey_* alpha",
        "by nokey_* alpha limit 10 5",
        "by nosort",
        "alpha desc",
    ] {
        let a = sort_store(&engine, "s", options, "dst", NOW_MS);
        let b = sort_store(&restored, "s", options, "dst", NOW_MS);
        assert_eq!(a, b, "{options}");
        assert_eq!(
            lrange(&engine, "dst"),
            lrange(&restored, "dst"),
            "{options}"
        );
    }
    // BY nosort with STORE sorts a set (ALPHA) so its order never shows.
    sort_store(&engine, "s", "by nosort limit 0 3", "dst", NOW_MS);
    assert_eq!(lrange(&engine, "dst"), r#"["m0", "m1", "m10"]"#);
}

fn dump(engine: &Engine, key: &str, now_ms: u64) -> Reply {
    record(|sink| engine.dump_payload(0, key.as_bytes(), now_ms, sink))
}

fn restore(
    engine: &Engine,
    key: &str,
    payload: &[u8],
    ttl: (i64, bool),
    replace: bool,
    now_ms: u64,
) -> String {
    let op = WriteOp::Restore {
        key: b(key),
        value: decode_payload(payload).expect("a good payload"),
        ttl_ms: ttl.0,
        absolute: ttl.1,
        replace,
        idle_s: None,
    };
    render(&engine.apply(0, &op, now_ms))
}

#[test]
fn restore_applies_busykey_and_ttls_as_redis() {
    let engine = Engine::new();
    rpush(&engine, "l", &["a", "b"]);
    assert_eq!(dump(&engine, "missing", NOW_MS), Reply::Nil);
    let Reply::Bulk(payload) = dump(&engine, "l", NOW_MS) else {
        panic!("DUMP of a list is a bulk string")
    };
    let busy = "(error) BUSYKEY Target key name already exists.";
    assert_eq!(
        restore(&engine, "l", &payload, (0, false), false, NOW_MS),
        busy
    );
    assert_eq!(
        restore(&engine, "l", &payload, (0, false), true, NOW_MS),
        "OK"
    );
    assert_eq!(
        restore(&engine, "n", &payload, (0, false), false, NOW_MS),
        "OK"
    );
    assert_eq!(lrange(&engine, "n"), r#"["a", "b"]"#);
    assert_eq!(pttl(&engine, "n", NOW_MS), -1);
    assert_eq!(
        restore(&engine, "rel", &payload, (5_000, false), false, NOW_MS),
        "OK"
    );
    assert_eq!(pttl(&engine, "rel", NOW_MS), 5_000);
    let at = NOW_MS as i64 + 7_000;
    assert_eq!(
        restore(&engine, "abs", &payload, (at, true), false, NOW_MS),
        "OK"
    );
    assert_eq!(pttl(&engine, "abs", NOW_MS), 7_000);
    // An expiry already past: OK, and nothing is stored; with REPLACE the
    // old key is deleted. Now itself counts as past.
    assert_eq!(
        restore(&engine, "past", &payload, (1, true), false, NOW_MS),
        "OK"
    );
    assert_eq!(engine.key_type(0, b"past", NOW_MS), "none");
    assert_eq!(
        restore(&engine, "n", &payload, (NOW_MS as i64, true), true, NOW_MS),
        "OK"
    );
    assert_eq!(engine.key_type(0, b"n", NOW_MS), "none");
    // A relative TTL whose sum wraps is past too, as in Redis.
    assert_eq!(
        restore(&engine, "wrap", &payload, (i64::MAX, false), false, NOW_MS),
        "OK"
    );
    assert_eq!(engine.key_type(0, b"wrap", NOW_MS), "none");
    // An expired key is no obstacle.
    set_string(&engine, "e", "x", TtlChange::InMs(1));
    assert_eq!(
        restore(&engine, "e", &payload, (0, false), false, NOW_MS + 1),
        "OK"
    );
    assert_eq!(lrange(&engine, "e"), r#"["a", "b"]"#);
    engine.check_invariants();
}

/// A RESTORE refused for its TTL or payload (without REPLACE) answers
/// BUSYKEY for a live key, whatever its type, and its own error for a
/// missing or expired one; the lookup is an access, as Redis's.
#[test]
fn a_refused_restore_answers_busykey_for_a_live_key() {
    let engine = Engine::new();
    set_string(&engine, "s", "x", TtlChange::Clear);
    rpush(&engine, "l", &["a"]);
    set_string(&engine, "e", "x", TtlChange::InMs(1_000));
    let invalid_ttl = Error::Other("ERR Invalid TTL value, must be >= 0");
    let later_ms = NOW_MS + 10_000;
    let cases = [
        ("s", "(error) BUSYKEY Target key name already exists."),
        ("l", "(error) BUSYKEY Target key name already exists."),
        ("e", "(error) ERR Invalid TTL value, must be >= 0"),
        ("missing", "(error) ERR Invalid TTL value, must be >= 0"),
    ];
    for (key, want) in cases {
        let query = Query::RestoreRefused {
            key: b(key),
            error: invalid_ttl.clone(),
        };
        let reply = record(|sink| engine.query(0, &query, later_ms, sink));
        assert_eq!(render(&reply), want, "{key}");
    }
    for key in ["s", "l"] {
        assert_eq!(
            engine.object_idletime(0, key.as_bytes(), later_ms),
            Some(0),
            "{key}"
        );
    }
    assert_eq!(engine.key_type(0, b"missing", later_ms), "none");
}

#[test]
fn dump_of_every_type_restores_equal_on_another_engine() {
    let engine = Engine::new();
    rpush(&engine, "list", &["a", "", "a"]);
    set_string(&engine, "string", "12345", TtlChange::Clear);
    let small: Vec<Bytes> = ["3", "1", "2"].into_iter().map(b).collect();
    engine.apply(
        0,
        &WriteOp::Sets(SetOp::Add {
            key: b("ints"),
            members: small,
        }),
        NOW_MS,
    );
    let many: Vec<Bytes> = (0..200).map(|i| b(&format!("m{i}"))).collect();
    engine.apply(
        0,
        &WriteOp::Sets(SetOp::Add {
            key: b("set"),
            members: many.clone(),
        }),
        NOW_MS,
    );
    let pairs = many.iter().map(|m| (m.clone(), m.clone())).collect();
    engine.apply(
        0,
        &WriteOp::Hashes(HashOp::Set {
            key: b("hash"),
            pairs,
            ok: false,
        }),
        NOW_MS,
    );
    let zadd = |key: &str, members: Vec<(f64, Bytes)>| {
        WriteOp::ZSets(redraft_engine::ZSetOp::Add {
            key: b(key),
            options: Default::default(),
            members,
        })
    };
    engine.apply(
        0,
        &zadd("small", vec![(2.0, b("x")), (1.0, b("y"))]),
        NOW_MS,
    );
    let scored = many
        .iter()
        .enumerate()
        .map(|(i, m)| ((i % 7) as f64, m.clone()))
        .collect();
    engine.apply(0, &zadd("zset", scored), NOW_MS);
    let other = Engine::new();
    for key in ["list", "string", "ints", "set", "hash", "small", "zset"] {
        let Reply::Bulk(payload) = dump(&engine, key, NOW_MS) else {
            panic!("{key} dumps")
        };
        assert_eq!(
            restore(&other, key, &payload, (0, false), false, NOW_MS),
            "OK"
        );
        assert_eq!(dump(&other, key, NOW_MS), Reply::Bulk(payload), "{key}");
    }
    // Every key, value and order is the same on both engines.
    assert_eq!(other.dump(), engine.dump());
    other.check_invariants();
}
