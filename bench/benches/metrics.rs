//! What recording one command's figures costs on a network thread: the
//! counters alone (latency tracking off), and the counters with the two
//! clock reads and the histogram update (tracking on, the default).
//! Compare with the per-command cost of the server as a whole (about
//! 1-2 µs of one core at a million commands per second on two cores).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use redraft_server::cmd;
use redraft_server::metrics::commands::{flush_if_due, record, CommandStats, Verdict};

fn bench_record(c: &mut Criterion) {
    let stats = CommandStats::new(cmd::catalog());
    let get = cmd::lookup(b"get").expect("GET is a command");
    let mut group = c.benchmark_group("metrics");
    group.bench_function("record_counters_only", |b| {
        // As the connection records: the spec's index, then the figures.
        b.iter(|| record(&stats, cmd::spec_index(black_box(get)), Verdict::Ok, None));
    });
    group.bench_function("record_timed", |b| {
        b.iter(|| {
            let started = Instant::now();
            let ended = Instant::now();
            let latency_ns = ended.saturating_duration_since(started).as_nanos() as u64;
            record(
                &stats,
                cmd::spec_index(black_box(get)),
                Verdict::Ok,
                Some(latency_ns + 1500),
            );
        });
    });
    // One tick's flush check, as the event loop runs it (the flush itself
    // happens at most every 100 ms).
    group.bench_function("flush_check", |b| {
        b.iter(|| flush_if_due(&stats, Instant::now));
    });
    group.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
