//! The LSM-shaped keyspace against a flat one: an engine that freezes,
//! writes runs, adopts them and restarts from them in the middle of a long
//! random write sequence must give exactly the replies, reads, SCAN order
//! and dumps of an engine that never snapshots.

mod common;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::{random_op, record, scan_all, Rng};
use redraft_engine::{Engine, FrozenKeyspace, Run, RunError, WriteOp};

const KEYS: u64 = 300;

/// Writes `frozen` as a run file in `dir` and maps it.
fn write_and_open(frozen: &FrozenKeyspace, dir: &Path, name: &str, meta: &[u8]) -> Arc<Run> {
    let path = dir.join(name);
    let summary = frozen.write_run(&path, meta).expect("write run");
    let run = Run::open(&path).expect("open run");
    assert_eq!(run.keys(), summary.keys);
    assert_eq!(run.bytes().len() as u64, summary.bytes);
    assert_eq!(run.meta(), meta);
    run
}

/// Everything a client could observe of db 0.
fn observe(engine: &Engine, now_ms: u64) -> impl PartialEq + std::fmt::Debug {
    let reads: Vec<_> = (0..KEYS)
        .map(|i| {
            let key = format!("k{i}");
            let value = record(|sink| engine.get(0, key.as_bytes(), now_ms, sink));
            let ttl = engine.ttl(0, key.as_bytes(), now_ms, true, true);
            (value, ttl)
        })
        .collect();
    (
        reads,
        scan_all(engine, now_ms),
        record(|sink| engine.keys(0, b"*", now_ms, sink)),
        engine.dbsize(0),
        engine.expires_count(0),
        engine.dump(),
    )
}

/// One seed's run: `steps` random writes, with a snapshot action every
/// `every` steps chosen by the generator.
fn layered_matches_flat(seed: u64, steps: usize, every: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let flat = Engine::new();
    let mut layered = Arc::new(Engine::new());
    let mut pending: Option<FrozenKeyspace> = None;
    let mut rng = Rng(seed);
    let mut now_ms = 1_700_000_000_000;
    for step in 0..steps {
        now_ms += rng.below(5);
        let op = if rng.below(50) == 0 {
            let keys: Vec<_> = layered
                .expired_candidates(now_ms, 20)
                .into_iter()
                .map(|(_, key)| key)
                .collect();
            WriteOp::PurgeExpired { keys }
        } else if rng.below(2000) == 0 {
            WriteOp::FlushDb
        } else {
            random_op(&mut rng, KEYS)
        };
        let expected = flat.apply(0, &op, now_ms);
        let actual = layered.apply(0, &op, now_ms);
        assert_eq!(actual, expected, "seed {seed} step {step}: {op:?}");
        if step % every != 0 {
            continue;
        }
        match rng.below(4) {
            // Freeze now; write and adopt at a later checkpoint, so writes
            // and reads meet frozen layers in between.
            0 if pending.is_none() => pending = Some(layered.freeze()),
            1 => {
                let frozen = pending.take().unwrap_or_else(|| layered.freeze());
                let run = write_and_open(&frozen, dir.path(), &format!("{step}.run"), b"m");
                layered.adopt_run(&frozen, &run);
            }
            // A restart: a fresh engine from the newest run only.
            2 => {
                let frozen = layered.freeze();
                let run = write_and_open(&frozen, dir.path(), &format!("{step}.run"), b"");
                let restarted = Engine::new();
                restarted.install_run(&run);
                layered = Arc::new(restarted);
                pending = None;
            }
            _ => {}
        }
        layered.check_invariants();
        assert_eq!(
            observe(&layered, now_ms),
            observe(&flat, now_ms),
            "seed {seed} step {step}"
        );
    }
    layered.check_invariants();
    assert_eq!(observe(&layered, now_ms), observe(&flat, now_ms));
}

#[test]
fn layered_engine_matches_a_flat_one() {
    for seed in [1, 0x2545_f491_4f6c_dd1d, 77, 0xdead_beef] {
        layered_matches_flat(seed, 6000, 150);
    }
}

#[test]
fn frequent_snapshots_match_a_flat_one() {
    layered_matches_flat(5, 3000, 7);
}

#[test]
fn a_flushed_shard_does_not_adopt_an_older_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new();
    // Enough keys that every shard of db 0 holds some.
    let pairs = (0..2000)
        .map(|i| (Bytes::from(format!("key:{i}")), Bytes::from_static(b"v")))
        .collect();
    engine.apply(0, &WriteOp::MSet { pairs }, 1_000);
    let frozen = engine.freeze();
    engine.apply(0, &WriteOp::FlushDb, 1_000);
    let run = write_and_open(&frozen, dir.path(), "old.run", b"");
    let adopted = engine.adopt_run(&frozen, &run);
    assert_eq!(
        adopted,
        redraft_engine::DB_COUNT * redraft_engine::SHARDS_PER_DB - 64
    );
    assert_eq!(engine.dbsize(0), 0, "the flush stays");
    engine.check_invariants();
}

#[test]
fn a_damaged_run_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new();
    let mut rng = Rng(3);
    for _ in 0..200 {
        engine.apply(0, &random_op(&mut rng, KEYS), 1_000);
    }
    let run = write_and_open(&engine.freeze(), dir.path(), "good.run", b"meta");
    let good = run.bytes().to_vec();
    for at in [0, 9, 20, good.len() / 2, good.len() - 13, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        let refused = Run::from_bytes(bad.into());
        assert!(
            matches!(refused, Err(RunError::Corrupt(_))),
            "byte {at} flipped: {refused:?}"
        );
    }
    for len in [0, 10, 36, good.len() - 1] {
        let refused = Run::from_bytes(good[..len].to_vec().into());
        assert!(matches!(refused, Err(RunError::Corrupt(_))), "cut at {len}");
    }
    let copy = Run::from_bytes(good.into()).expect("an intact copy opens");
    let restored = Engine::new();
    restored.install_run(&copy);
    assert_eq!(restored.dump(), engine.dump());
}

/// Deleting or overwriting keys that only the run holds lowers the memory
/// estimate at once (the run's records they hide are taken off), rather
/// than at the next snapshot; eviction depends on it.
#[test]
fn deleting_run_keys_lowers_the_estimate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new();
    let keys: Vec<Bytes> = (0..4000).map(|i| Bytes::from(format!("key:{i}"))).collect();
    let pairs = keys
        .iter()
        .map(|key| (key.clone(), Bytes::from(vec![b'v'; 100])))
        .collect();
    engine.apply(0, &WriteOp::MSet { pairs }, 1_000);
    let frozen = engine.freeze();
    let run = write_and_open(&frozen, dir.path(), "all.run", b"");
    engine.adopt_run(&frozen, &run);
    let full = engine.stats().used_memory_bytes;
    let half = keys[..2000].to_vec();
    let evicted = engine.apply(0, &WriteOp::Evict { keys: half.clone() }, 2_000);
    assert_eq!(evicted, redraft_engine::Reply::Int(2000));
    assert_eq!(engine.stats().evicted_keys, 2000);
    engine.check_invariants();
    let after = engine.stats().used_memory_bytes;
    assert!(
        after * 10 < full * 6,
        "estimate {full} -> {after} after deleting half the keys"
    );
    // Overwriting the other half with the same values leaves it about
    // where it was, rather than doubling it.
    let pairs = keys[2000..]
        .iter()
        .map(|key| (key.clone(), Bytes::from(vec![b'v'; 100])))
        .collect();
    engine.apply(0, &WriteOp::MSet { pairs }, 3_000);
    engine.check_invariants();
    let overwritten = engine.stats().used_memory_bytes;
    assert!(
        overwritten * 10 < after * 13,
        "estimate {after} -> {overwritten} after overwriting the rest"
    );
    // The next snapshot merges the hidden records away; the credit goes
    // with them.
    let frozen = engine.freeze();
    let run = write_and_open(&frozen, dir.path(), "next.run", b"");
    engine.adopt_run(&frozen, &run);
    engine.check_invariants();
    assert_eq!(engine.dbsize(0), 2000);
    // An evicted key that is gone already is not counted again.
    let again = engine.apply(0, &WriteOp::Evict { keys: half }, 4_000);
    assert_eq!(again, redraft_engine::Reply::Int(0));
    assert_eq!(engine.stats().evicted_keys, 2000);
}
