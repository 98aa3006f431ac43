//! Load generator: durable appends per second from N concurrent producers,
//! side by side with a plain `std::fs` write + `sync_data` loop in the same
//! run and directory.
//!
//! ```text
//! raftlog-load [--producers N] [--entry-bytes B] [--seconds S] [--rounds R]
//!              [--producer-kind threads|tasks] [--syncs-in-flight N] [--dir PATH]
//! ```
//!
//! Each producer appends one entry at a time and waits for its completion
//! (a durable write), so concurrency comes only from the producers and the
//! flusher's group commit. With `--producer-kind threads` (the default) a
//! producer is an OS thread that parks until its append is durable; with
//! `tasks` it is a lightweight task, as on an async executor: its
//! completion callback appends its next entry, so no thread switch is
//! paid per entry. The run alternates R rounds of S seconds of the
//! raftlog and of each std loop, and prints the median and best round of
//! each, because a shared disk's latency moves a lot from second to second.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_raftlog::{Config, Entry, RaftLog};

/// Load before each measured window.
const WARM_UP: Duration = Duration::from_millis(300);

/// Which kind of producer appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProducerKind {
    /// An OS thread that parks until its append is durable.
    Threads,
    /// A task whose completion callback appends its next entry.
    Tasks,
}

/// Durable appends per second from N producers, beside a std loop.
#[derive(Debug, clap::Parser)]
#[command(name = "raftlog-load")]
struct Args {
    /// Concurrent producers, each with one append in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    producers: u64,
    /// Payload bytes per entry.
    #[arg(long, default_value_t = 128)]
    entry_bytes: usize,
    /// Length of one measured round, in seconds.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Rounds of each contestant (medians and bests are reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// fdatasyncs the flusher keeps in flight.
    #[arg(long, default_value_t = Config::default().syncs_in_flight_max)]
    syncs_in_flight: usize,
    #[arg(long, value_enum, default_value_t = ProducerKind::Threads)]
    producer_kind: ProducerKind,
    /// Directory for the log and the std loop's file (default: a new temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("raftlog-load-{}", std::process::id()))
    });
    let (producers, rounds) = (args.producers as usize, args.rounds as usize);
    let tasks = args.producer_kind == ProducerKind::Tasks;
    std::fs::create_dir_all(&dir).expect("create dir");
    let window = Duration::from_secs_f64(args.seconds);
    let config = Config {
        syncs_in_flight_max: args.syncs_in_flight,
        ..Config::default()
    };
    let log = Arc::new(RaftLog::open(dir.join("log"), config).expect("open log"));
    let next = Arc::new(Mutex::new(1u64));
    // The first segment and its spare are zero-filled (64 MiB each) right
    // after open; let that finish before measuring.
    run_raftlog(
        &log,
        &next,
        producers,
        args.entry_bytes,
        Duration::from_secs(1),
    );
    wait_for_spare(&dir.join("log"));
    let (mut raftlog, mut per_sync, mut grow, mut over) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (rate, entries_per_sync) = if tasks {
            run_tasks(&log, &next, producers, args.entry_bytes, window)
        } else {
            run_raftlog(&log, &next, producers, args.entry_bytes, window)
        };
        raftlog.push(rate);
        per_sync.push(entries_per_sync);
        grow.push(run_std(
            &dir.join("std-append"),
            args.entry_bytes,
            window,
            false,
        ));
        over.push(run_std(
            &dir.join("std-prewritten"),
            args.entry_bytes,
            window,
            true,
        ));
    }
    let (p, b) = (producers, args.entry_bytes);
    let kind = if tasks { "tasks" } else { "threads" };
    println!(
        "raftlog producers={p} ({kind}) entry_bytes={b}: {} durable appends/s, {} entries/fdatasync",
        summary(&mut raftlog),
        summary(&mut per_sync)
    );
    println!(
        "std write+sync_data, file grows    entry_bytes={b}: {} durable appends/s",
        summary(&mut grow)
    );
    println!(
        "std write+sync_data, zeroed file   entry_bytes={b}: {} durable appends/s",
        summary(&mut over)
    );
    drop(log);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// Waits (at most 60 s) until the background thread has a spare segment
/// ready, so its zero-fill does not compete with the measured rounds.
fn wait_for_spare(dir: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let ready = std::fs::read_dir(dir).expect("log dir").any(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        });
        if ready {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// "median M (best B) over N rounds".
fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let best = values[values.len() - 1];
    let fmt = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!(
        "median {} (best {}) over {} rounds",
        fmt(median),
        fmt(best),
        values.len()
    )
}

/// Runs `producers` threads against `log` for a warm-up plus `window`;
/// returns (durable appends/s, entries per fdatasync) over the window.
fn run_raftlog(
    log: &Arc<RaftLog>,
    next: &Arc<Mutex<u64>>,
    producers: usize,
    entry_bytes: usize,
    window: Duration,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let payload = Bytes::from(vec![0x5a; entry_bytes]);
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let (log, next, stop, acked, payload) = (
                log.clone(),
                next.clone(),
                stop.clone(),
                acked.clone(),
                payload.clone(),
            );
            std::thread::spawn(move || {
                let me = std::thread::current();
                while !stop.load(Ordering::Relaxed) {
                    let done = Arc::new(AtomicBool::new(false));
                    let (flag, waker) = (done.clone(), me.clone());
                    {
                        let mut next = next.lock();
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
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(WARM_UP);
    let (before, acked_before, started) =
        (log.stats(), acked.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(window);
    let appended = acked.load(Ordering::Relaxed) - acked_before;
    let elapsed = started.elapsed().as_secs_f64();
    let after = log.stats();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("producer");
    }
    let fsyncs = (after.fsyncs - before.fsyncs).max(1);
    let entries = after.entries_durable - before.entries_durable;
    (appended as f64 / elapsed, entries as f64 / fsyncs as f64)
}

/// Runs `producers` task-like producers for a warm-up plus `window`: each
/// appends one entry and its completion callback appends the next.
fn run_tasks(
    log: &Arc<RaftLog>,
    next: &Arc<Mutex<u64>>,
    producers: usize,
    entry_bytes: usize,
    window: Duration,
) -> (f64, f64) {
    struct Task {
        log: Arc<RaftLog>,
        next: Arc<Mutex<u64>>,
        stop: Arc<AtomicBool>,
        acked: Arc<AtomicU64>,
        live: Arc<AtomicU64>,
        payload: Bytes,
    }
    fn step(task: Arc<Task>) {
        if task.stop.load(Ordering::Relaxed) {
            task.live.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let mut next = task.next.lock();
        let entry = Entry {
            index: *next,
            term: 1,
            payload: task.payload.clone(),
        };
        let again = task.clone();
        let callback = Box::new(move |result: Result<(), _>| {
            result.expect("durable append");
            again.acked.fetch_add(1, Ordering::Relaxed);
            step(again);
        });
        task.log.append([entry], callback).expect("append");
        *next += 1;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(producers as u64));
    for _ in 0..producers {
        step(Arc::new(Task {
            log: log.clone(),
            next: next.clone(),
            stop: stop.clone(),
            acked: acked.clone(),
            live: live.clone(),
            payload: Bytes::from(vec![0x5a; entry_bytes]),
        }));
    }
    std::thread::sleep(WARM_UP);
    let (before, acked_before, started) =
        (log.stats(), acked.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(window);
    let appended = acked.load(Ordering::Relaxed) - acked_before;
    let elapsed = started.elapsed().as_secs_f64();
    let after = log.stats();
    stop.store(true, Ordering::Relaxed);
    while live.load(Ordering::Acquire) > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let fsyncs = (after.fsyncs - before.fsyncs).max(1);
    let entries = after.entries_durable - before.entries_durable;
    (appended as f64 / elapsed, entries as f64 / fsyncs as f64)
}

/// A plain loop: write one entry, `sync_data`, repeat. With `prewritten`,
/// the file is zero-filled first and overwritten in place.
pub fn run_std(path: &Path, entry_bytes: usize, duration: Duration, prewritten: bool) -> f64 {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let region_bytes = 8u64 << 20;
    if prewritten {
        let zeros = vec![0u8; 1 << 20];
        for k in 0..(region_bytes >> 20) {
            file.write_all_at(&zeros, k << 20).expect("zero fill");
        }
        file.sync_all().expect("sync");
    }
    let payload = vec![0x5a; entry_bytes];
    let started = Instant::now();
    let mut count = 0u64;
    let mut offset = 0u64;
    while started.elapsed() < duration {
        if prewritten {
            file.write_all_at(&payload, offset % region_bytes)
                .expect("write");
            offset += entry_bytes as u64;
        } else {
            file.write_all(&payload).expect("write");
        }
        file.sync_data().expect("sync_data");
        count += 1;
    }
    count as f64 / started.elapsed().as_secs_f64()
}
