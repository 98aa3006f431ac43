//! `stats()`: hit/miss counting, expired keys, and the running memory
//! estimate returning to zero.

mod common;

use bytes::Bytes;
use common::record;
use redraft_engine::{Engine, SetCondition, TtlChange, WriteOp};

const NOW_MS: u64 = 1_700_000_000_000;

fn set(key: &'static [u8], value: &'static [u8], ttl: TtlChange) -> WriteOp {
    WriteOp::Set {
        key: Bytes::from_static(key),
        value: Bytes::from_static(value),
        condition: SetCondition::Always,
        ttl,
        get: false,
    }
}

#[test]
fn hits_misses_and_expired_keys() {
    let engine = Engine::new();
    engine.apply(0, &set(b"a", b"1", TtlChange::Clear), NOW_MS);
    engine.apply(0, &set(b"b", b"1", TtlChange::InMs(5)), NOW_MS);
    record(|sink| engine.get(0, b"a", NOW_MS, sink));
    record(|sink| engine.get(0, b"nokey", NOW_MS, sink));
    record(|sink| {
        engine.mget(
            0,
            &[Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            NOW_MS + 5,
            sink,
        )
    });
    let stats = engine.stats();
    assert_eq!((stats.keyspace_hits, stats.keyspace_misses), (2, 2));
    assert_eq!(stats.expired_keys, 0);
    let purge = WriteOp::PurgeExpired {
        keys: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
    };
    assert_eq!(
        engine.apply(0, &purge, NOW_MS + 5),
        redraft_engine::Reply::Int(1)
    );
    assert_eq!(engine.stats().expired_keys, 1);
}

#[test]
fn memory_estimate_tracks_writes() {
    let engine = Engine::new();
    assert_eq!(engine.stats().used_memory_bytes, 0);
    engine.apply(0, &set(b"k", b"value", TtlChange::Clear), NOW_MS);
    let one = engine.stats().used_memory_bytes;
    assert!(one > 6, "{one}");
    let append = WriteOp::Append {
        key: Bytes::from_static(b"k"),
        value: Bytes::from(vec![b'x'; 1000]),
    };
    engine.apply(0, &append, NOW_MS);
    // The value no longer fits inline in its entry: all of its 1005 bytes
    // are now on the heap.
    assert_eq!(engine.stats().used_memory_bytes, one + 1005);
    engine.apply(3, &set(b"k", b"v", TtlChange::InMs(100)), NOW_MS);
    assert!(engine.stats().used_memory_bytes > one + 1005);
    engine.check_invariants();
    engine.apply(
        0,
        &WriteOp::Del {
            keys: vec![Bytes::from_static(b"k")],
        },
        NOW_MS,
    );
    engine.apply(0, &WriteOp::FlushAll, NOW_MS);
    assert_eq!(engine.stats().used_memory_bytes, 0);
    assert_eq!(engine.expires_count(3), 0);
    engine.check_invariants();
}

#[test]
fn engine_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    let engine = std::sync::Arc::new(Engine::new());
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let pairs = vec![
                        (
                            Bytes::from(format!("a{}", i % 50)),
                            Bytes::from(format!("{t}")),
                        ),
                        (
                            Bytes::from(format!("b{}", i % 37)),
                            Bytes::from(format!("{t}")),
                        ),
                    ];
                    engine.apply(0, &WriteOp::MSet { pairs }, NOW_MS);
                    let from = Bytes::from(format!("a{}", i % 50));
                    let to = Bytes::from(format!("b{}", (i + t) % 37));
                    let copy = WriteOp::Copy {
                        from,
                        to,
                        to_db: t % 2,
                        replace: true,
                    };
                    engine.apply(0, &copy, NOW_MS);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    engine.check_invariants();
}
