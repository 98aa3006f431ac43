//! Durable appends of 128-byte entries to the raftlog, from 1 and from 64
//! concurrent producers (each appends one entry and waits for its
//! completion, so every measured append is durable), side by side with a
//! plain `std::fs` write + `sync_data` loop in the same directory. After
//! each raftlog run it prints entries per fdatasync (group commit).
//!
//! `threads_N`: N OS threads, each parking until its append is durable.
//! `tasks_64`: 64 task-like producers, as on an async executor: a
//! completion appends that producer's next entry (no thread switch per
//! entry; on 2 cores the 64-thread variant mostly measures the scheduler).
//!
//! `cargo bench -p redraft-bench --bench raftlog`. The load binary
//! `raftlog-load` (in the raftlog crate) measures the same thing over a
//! fixed time instead.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redraft_raftlog::{Config, Entry, RaftLog};

const ENTRY_BYTES: usize = 128;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redraft-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Appends `total` entries from `producers` threads, each waiting for its
/// own append to be durable before the next; returns the elapsed time.
fn durable_appends(
    log: &Arc<RaftLog>,
    next: &Arc<Mutex<u64>>,
    producers: u64,
    total: u64,
) -> Duration {
    let payload = Bytes::from(vec![0x5a; ENTRY_BYTES]);
    let started = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let (log, next, payload) = (log.clone(), next.clone(), payload.clone());
            let count = total / producers + u64::from(p < total % producers);
            std::thread::spawn(move || {
                let me = std::thread::current();
                for _ in 0..count {
                    let done = Arc::new(AtomicBool::new(false));
                    let (flag, waker) = (done.clone(), me.clone());
                    {
                        let mut next = next.lock().expect("index lock");
                        let entry = Entry {
                            index: *next,
                            term: 1,
                            payload: payload.clone(),
                        };
                        let callback = Box::new(move |result: Result<(), _>| {
                            result.expect("durable append");
                            flag.store(true, Ordering::Release);
                            waker.unpark();
                        });
                        log.append([entry], callback).expect("append");
                        *next += 1;
                    }
                    while !done.load(Ordering::Acquire) {
                        std::thread::park();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    started.elapsed()
}

/// Shared state of the task-like producers.
struct Tasks {
    log: Arc<RaftLog>,
    next: Arc<Mutex<u64>>,
    /// Appends still to start.
    to_start: AtomicI64,
    /// Appends completed, and the waiter for the last one.
    completed: Mutex<u64>,
    all_done: Condvar,
    total: u64,
    payload: Bytes,
}

/// One step of a task: append, and from the completion, the next step.
fn task_step(tasks: Arc<Tasks>) {
    if tasks.to_start.fetch_sub(1, Ordering::AcqRel) <= 0 {
        return;
    }
    let mut next = tasks.next.lock().expect("index lock");
    let entry = Entry {
        index: *next,
        term: 1,
        payload: tasks.payload.clone(),
    };
    let again = tasks.clone();
    let callback = Box::new(move |result: Result<(), _>| {
        result.expect("durable append");
        let mut completed = again.completed.lock().expect("count lock");
        *completed += 1;
        if *completed == again.total {
            again.all_done.notify_all();
        }
        drop(completed);
        task_step(again);
    });
    tasks.log.append([entry], callback).expect("append");
    *next += 1;
}

/// Appends `total` entries from `producers` task-like producers (as on an
/// async executor: each completion appends that producer's next entry, so
/// no thread switch is paid per entry); returns the elapsed time.
fn task_appends(
    log: &Arc<RaftLog>,
    next: &Arc<Mutex<u64>>,
    producers: u64,
    total: u64,
) -> Duration {
    let tasks = Arc::new(Tasks {
        log: log.clone(),
        next: next.clone(),
        to_start: AtomicI64::new(total as i64),
        completed: Mutex::new(0),
        all_done: Condvar::new(),
        total,
        payload: Bytes::from(vec![0x5a; ENTRY_BYTES]),
    });
    let started = Instant::now();
    for _ in 0..producers {
        task_step(tasks.clone());
    }
    let mut completed = tasks.completed.lock().expect("count lock");
    while *completed < total {
        completed = tasks.all_done.wait(completed).expect("count lock");
    }
    started.elapsed()
}

fn raftlog_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("raftlog_durable_append_128b");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    type Run = fn(&Arc<RaftLog>, &Arc<Mutex<u64>>, u64, u64) -> Duration;
    let runs: [(&str, u64, Run); 3] = [
        ("threads", 1, durable_appends),
        ("threads", 64, durable_appends),
        ("tasks", 64, task_appends),
    ];
    for (kind, producers, run) in runs {
        let dir = scratch_dir(&format!("raftlog-{kind}-{producers}"));
        let log = Arc::new(RaftLog::open(&dir, Config::default()).expect("open"));
        let next = Arc::new(Mutex::new(1u64));
        // Let the first segment and its spare finish their zero-fill.
        run(&log, &next, producers, 1000);
        std::thread::sleep(Duration::from_secs(1));
        let before = log.stats();
        group.bench_function(format!("{kind}_{producers}"), |b| {
            b.iter_custom(|iters| run(&log, &next, producers, iters))
        });
        let after = log.stats();
        let syncs = (after.fsyncs - before.fsyncs).max(1);
        eprintln!(
            "raftlog {kind}_{producers}: {:.1} entries per fdatasync, {:.0} us per write+fdatasync",
            (after.entries_durable - before.entries_durable) as f64 / syncs as f64,
            (after.sync_nanos_total - before.sync_nanos_total) as f64 / 1e3 / syncs as f64
        );
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let dir = scratch_dir("std");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("plain.log"))
        .expect("open");
    let payload = vec![0x5a; ENTRY_BYTES];
    group.bench_function("std_write_sync_data", |b| {
        b.iter(|| {
            file.write_all(&payload).expect("write");
            file.sync_data().expect("sync_data");
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, raftlog_appends);
criterion_main!(benches);
