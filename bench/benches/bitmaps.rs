//! BITCOUNT's counting path: `popcount` over 1 MB (the run-time dispatched
//! build, and the baseline build every x86-64 CPU runs, for comparison),
//! and a whole `BITCOUNT` of a 1 MB key streamed into a RESP2 writer.
//! Redis 7.0's own loop (`redisPopcount`: 28 bytes at a time in 32-bit
//! lanes) is what `bench/side_by_side.py`'s `bitcount_1mb` test sets it
//! against over the network.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redraft_engine::{popcount, BitmapOp, Engine, Query, WriteOp};
use redraft_server::resp::ReplyWriter;

const NOW_MS: u64 = 1_700_000_000_000;
const BYTES: usize = 1 << 20;

/// 1 MB of bytes from an LCG, so every count sees mixed bits.
fn random_bytes() -> Vec<u8> {
    let mut state = 1u64;
    (0..BYTES)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

/// The same sum as `popcount`, without the CPU-specific builds.
fn popcount_baseline(bytes: &[u8]) -> u64 {
    bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from(u64::from_ne_bytes(word).count_ones())
        })
        .sum()
}

fn bitmaps(c: &mut Criterion) {
    let bytes = random_bytes();
    let expected = popcount_baseline(&bytes);
    assert_eq!(popcount(&bytes), expected, "the builds disagree");

    let mut group = c.benchmark_group("bitcount");
    group.throughput(Throughput::Bytes(BYTES as u64));
    group.bench_function("popcount_1mb", |b| {
        b.iter(|| popcount(std::hint::black_box(&bytes)))
    });
    group.bench_function("popcount_1mb_baseline", |b| {
        b.iter(|| popcount_baseline(std::hint::black_box(&bytes)))
    });

    let engine = Engine::new();
    let key = Bytes::from_static(b"bitmap");
    engine.apply(
        0,
        &WriteOp::Set {
            key: key.clone(),
            value: Bytes::from(bytes.clone()),
            condition: redraft_engine::SetCondition::Always,
            ttl: redraft_engine::TtlChange::Clear,
            get: false,
        },
        NOW_MS,
    );
    let query = Query::BitCount {
        key: key.clone(),
        range: Ok(None),
    };
    let mut out = BytesMut::with_capacity(1 << 16);
    group.bench_function("bitcount_key_1mb", |b| {
        b.iter(|| {
            out.clear();
            engine.query(0, &query, NOW_MS, &mut ReplyWriter::new(&mut out, false));
        })
    });
    group.finish();

    let mut offset = 0u64;
    c.bench_function("setbit_1mb_key", |b| {
        b.iter(|| {
            offset = (offset + 7919) % (BYTES as u64 * 8);
            let op = WriteOp::Bitmaps(BitmapOp::SetBit {
                key: key.clone(),
                offset,
                on: true,
            });
            engine.apply(0, &op, NOW_MS)
        })
    });
}

criterion_group!(benches, bitmaps);
criterion_main!(benches);
