//! Engine GET and SET on a populated keyspace, the work one command does
//! after parsing: a SET apply and a GET streamed into a RESP2 writer.
//! `get_hit_1m` repeats `get_hit` over a keyspace ten times larger, where
//! the key map no longer fits in cache.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redraft_engine::{Engine, SetCondition, TtlChange, WriteOp};
use redraft_server::resp::ReplyWriter;

const KEYS: u64 = 100_000;
const KEYS_LARGE: u64 = 1_000_000;
const NOW_MS: u64 = 1_700_000_000_000;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

fn populated(keys: u64) -> Engine {
    let engine = Engine::new();
    for i in 0..keys {
        let op = set_op(i);
        engine.apply(0, &op, NOW_MS);
    }
    engine
}

fn set_op(i: u64) -> WriteOp {
    WriteOp::Set {
        key: key(i),
        value: Bytes::from_static(b"xxx"),
        condition: SetCondition::Always,
        ttl: TtlChange::Clear,
        get: false,
    }
}

/// A cheap deterministic key sequence (an LCG), so the bench measures the
/// engine, not a random number generator.
fn next_index(state: &mut u64, keys: u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) % keys
}

/// GETs of random existing keys of `engine`, which holds `key(0..keys)`.
fn bench_get_hit(b: &mut criterion::Bencher<'_>, engine: &Engine, keys: u64) {
    let names: Vec<Bytes> = (0..keys).map(key).collect();
    let mut out = BytesMut::with_capacity(1 << 16);
    let mut state = 1;
    b.iter(|| {
        if out.len() > 60_000 {
            out.clear();
        }
        let index = next_index(&mut state, keys) as usize;
        engine.get(
            0,
            &names[index],
            NOW_MS,
            &mut ReplyWriter::new(&mut out, false),
        );
    });
}

fn engine(c: &mut Criterion) {
    let engine = populated(KEYS);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_hit", |b| bench_get_hit(b, &engine, KEYS));
    group.bench_function("set_overwrite", |b| {
        let mut state = 2;
        let ops: Vec<WriteOp> = (0..4096).map(set_op).collect();
        b.iter(|| {
            let index = next_index(&mut state, KEYS) as usize % ops.len();
            engine.apply(0, &ops[index], NOW_MS)
        });
    });
    drop(engine);
    let large = populated(KEYS_LARGE);
    group.bench_function("get_hit_1m", |b| bench_get_hit(b, &large, KEYS_LARGE));
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
