//! RESP codec throughput: decoding a redis-benchmark-shaped pipeline of SET
//! commands, and encoding the replies GET and SET produce.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redraft_engine::ReplySink;
use redraft_server::resp::CommandDecoder;
use redraft_server::resp::ReplyWriter;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp_decode");
    for pipeline in [1usize, 16] {
        let input = redraft_bench::set_pipeline(pipeline, 3);
        group.throughput(Throughput::Elements(pipeline as u64));
        group.bench_function(format!("set_pipeline_{pipeline}"), |b| {
            let mut decoder = CommandDecoder::new();
            let mut args: Vec<Bytes> = Vec::with_capacity(8);
            b.iter_batched_ref(
                || BytesMut::from(&input[..]),
                |buf| {
                    let mut commands = 0;
                    while decoder.decode(buf, &mut args, true).unwrap() {
                        commands += args.len();
                    }
                    commands
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp_encode");
    group.throughput(Throughput::Elements(16));
    for resp3 in [false, true] {
        let name = if resp3 { "resp3" } else { "resp2" };
        group.bench_function(format!("ok_bulk_int_x16_{name}"), |b| {
            let mut out = BytesMut::with_capacity(4096);
            b.iter(|| {
                out.clear();
                let mut writer = ReplyWriter::new(&mut out, resp3);
                for i in 0..16 {
                    match i % 3 {
                        0 => writer.ok(),
                        1 => writer.bulk(b"xxx"),
                        _ => writer.int(i),
                    }
                }
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
