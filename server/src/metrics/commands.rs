//! Per-command counters and latency histograms: what `INFO commandstats`,
//! `INFO latencystats`, `INFO errorstats`, `LATENCY HISTOGRAM` and
//! `/metrics` report.
//!
//! Each network thread records into its own [`Recorder`] (a thread-local):
//! - calls, failures, rejections and total time go to counters only that
//!   thread writes (relaxed atomics, a load and a store each: no lock and
//!   no read-modify-write), which readers sum, so they are exact at once;
//! - latencies go to plain histograms of the thread's own, handed to the
//!   node's totals at most every [`FLUSH_INTERVAL`] (the event loop wakes
//!   up for it) and whenever this thread reports, so the histograms of
//!   other threads' commands are behind by at most one interval;
//! - error replies are counted by their first word in a map behind a lock
//!   of the thread's own, taken only on an error reply and by readers.
//!
//! Invariants:
//! - `calls` counts commands that ran (their handler was called, or their
//!   write was proposed), whatever their reply; `failed` those of them
//!   whose reply was an error; `rejected` the commands refused before
//!   running (arity, authentication, a redirect), which are not timed, as
//!   in Redis 7.
//! - A latency is the time from the command's first attempt to run (its
//!   arrival, or the end of the previous command of its connection) to its
//!   reply being queued for the socket: for a write that includes its Raft
//!   commit and apply; for a blocking command, its time blocked.
//! - A reset (`CONFIG RESETSTAT`) bumps a generation: readers ignore a
//!   thread's counters until that thread has seen the new generation and
//!   zeroed them itself (only the owner writes its counters).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

/// How often, at most, a recorder hands its histograms to the node.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The span of the "recent" histograms the dashboard shows.
pub const WINDOW: Duration = Duration::from_secs(2);
/// Latencies are recorded in nanoseconds from 1 ns up to this; longer
/// ones (a blocking command waiting for minutes) count as this much.
const LATENCY_NS_MAX: u64 = 60_000_000_000;
/// Two significant digits: every value within 1% (Redis's precision).
const SIGNIFICANT_FIGURES: u8 = 2;

/// A new, empty latency histogram.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, SIGNIFICANT_FIGURES)
        .expect("the latency bounds are valid")
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It ran and replied without an error.
    Ok,
    /// It ran and its reply was an error.
    Failed,
    /// It was refused before running.
    Rejected,
}

/// One command's figures, as readers see them.
#[derive(Clone)]
pub struct Figures {
    /// Latencies flushed so far (empty when latency tracking is off).
    pub latency_ns: Histogram<u64>,
    /// Sum of the recorded latencies (exact, unlike the histogram's mean).
    pub total_ns: u64,
    pub calls: u64,
    pub failed: u64,
    pub rejected: u64,
}

impl Figures {
    fn new() -> Figures {
        Figures {
            latency_ns: new_histogram(),
            total_ns: 0,
            calls: 0,
            failed: 0,
            rejected: 0,
        }
    }
}

/// The command table as the figures see it: commands are numbered
/// `0..count` (the table's spec index, `cmd::spec_index`) and named by
/// `name`. The server passes its table's (`cmd::catalog`); the figures
/// know nothing else of commands.
#[derive(Clone, Copy)]
pub struct Catalog {
    pub count: usize,
    pub name: fn(usize) -> &'static str,
}

/// The node's figures, as [`CommandStats::read`] lends them.
pub struct Totals {
    /// Names the commands of these figures.
    catalog: Catalog,
    /// By command (its index in the [`Catalog`]): every command with a
    /// call or a rejection.
    pub commands: FxHashMap<usize, Figures>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`, `MOVED`).
    pub errors: FxHashMap<String, u64>,
    /// Latencies of the last complete [`WINDOW`], by command.
    pub recent: FxHashMap<usize, Histogram<u64>>,
    /// Latencies of the window in progress, by command.
    current: FxHashMap<usize, Histogram<u64>>,
    current_started: Option<Instant>,
}

impl Totals {
    fn new(catalog: Catalog) -> Totals {
        Totals {
            catalog,
            commands: FxHashMap::default(),
            errors: FxHashMap::default(),
            recent: FxHashMap::default(),
            current: FxHashMap::default(),
            current_started: None,
        }
    }

    /// Rotates the windows if the current one is over.
    fn rotate(&mut self, now: Instant) {
        let started = *self.current_started.get_or_insert(now);
        if now.duration_since(started) < WINDOW {
            return;
        }
        self.recent.clear();
        if now.duration_since(started) < 2 * WINDOW {
            // The window that just ended becomes the recent one; one that
            // ended longer ago saw nothing since, so recent stays empty.
            std::mem::swap(&mut self.recent, &mut self.current);
        }
        self.current.clear();
        self.current_started = Some(now);
    }

    /// The commands with figures, sorted by name (a stable order for
    /// every report).
    pub fn by_name(&self) -> Vec<(&'static str, &Figures)> {
        let mut commands: Vec<_> = self
            .commands
            .iter()
            .map(|(&index, figures)| (self.name(index), figures))
            .collect();
        commands.sort_unstable_by_key(|(name, _)| *name);
        commands
    }

    /// The name of command `index`.
    pub fn name(&self, index: usize) -> &'static str {
        (self.catalog.name)(index)
    }
}

/// One command's counters on one thread.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    total_ns: AtomicU64,
}

/// Adds to a counter only this thread writes.
fn bump(counter: &AtomicU64, amount: u64) {
    counter.store(counter.load(Ordering::Relaxed) + amount, Ordering::Relaxed);
}

/// The counters one thread writes and readers sum.
struct ThreadCounters {
    /// The reset generation the counters belong to.
    generation: AtomicU64,
    /// By command index.
    commands: Box<[Counters]>,
    errors: Mutex<FxHashMap<String, u64>>,
}

/// The node's per-command figures.
pub struct CommandStats {
    /// The commands counted.
    catalog: Catalog,
    /// Flushed histograms, and the view readers get.
    totals: Mutex<Totals>,
    /// Every recording thread's counters.
    threads: Mutex<Vec<Arc<ThreadCounters>>>,
    /// Bumped by every reset.
    generation: AtomicU64,
    /// `latency-tracking`: whether commands are timed at all.
    tracking: AtomicBool,
    /// `latency-tracking-info-percentiles`: what INFO latencystats shows.
    info_percentiles: Mutex<Vec<f64>>,
}

impl CommandStats {
    /// No figures yet, for the commands of `catalog`.
    pub fn new(catalog: Catalog) -> CommandStats {
        CommandStats {
            catalog,
            totals: Mutex::new(Totals::new(catalog)),
            threads: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            tracking: AtomicBool::new(true),
            info_percentiles: Mutex::new(vec![50.0, 99.0, 99.9]),
        }
    }
}

impl CommandStats {
    /// Whether commands are timed (`CONFIG SET latency-tracking`).
    pub fn tracking(&self) -> bool {
        self.tracking.load(Ordering::Relaxed)
    }

    pub fn set_tracking(&self, on: bool) {
        self.tracking.store(on, Ordering::Relaxed);
    }

    /// The percentiles `INFO latencystats` shows.
    pub fn info_percentiles(&self) -> Vec<f64> {
        self.info_percentiles.lock().clone()
    }

    pub fn set_info_percentiles(&self, percentiles: Vec<f64>) {
        *self.info_percentiles.lock() = percentiles;
    }

    /// `CONFIG RESETSTAT`: forgets every figure.
    pub fn reset(&self) {
        let mut totals = self.totals.lock();
        self.generation.fetch_add(1, Ordering::Relaxed);
        *totals = Totals::new(totals.catalog);
    }

    /// Runs `read` over the totals, after handing this thread's own
    /// histograms over (so a client sees its own commands at once).
    pub fn read<R>(&self, read: impl FnOnce(&Totals) -> R) -> R {
        flush_now(self);
        let mut totals = self.totals.lock();
        totals.rotate(Instant::now());
        self.sum_counters(&mut totals);
        read(&totals)
    }

    /// Writes every thread's current counters and errors into `totals`.
    fn sum_counters(&self, totals: &mut Totals) {
        for figures in totals.commands.values_mut() {
            (
                figures.calls,
                figures.failed,
                figures.rejected,
                figures.total_ns,
            ) = (0, 0, 0, 0);
        }
        totals.errors.clear();
        let generation = self.generation.load(Ordering::Relaxed);
        for thread in self.threads.lock().iter() {
            if thread.generation.load(Ordering::Acquire) != generation {
                continue; // reset since; the thread has not zeroed them yet
            }
            for (index, counters) in thread.commands.iter().enumerate() {
                let calls = counters.calls.load(Ordering::Relaxed);
                let rejected = counters.rejected.load(Ordering::Relaxed);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let figures = totals.commands.entry(index).or_insert_with(Figures::new);
                figures.calls += calls;
                figures.rejected += rejected;
                figures.failed += counters.failed.load(Ordering::Relaxed);
                figures.total_ns += counters.total_ns.load(Ordering::Relaxed);
            }
            for (prefix, count) in thread.errors.lock().iter() {
                *totals.errors.entry(prefix.clone()).or_insert(0) += count;
            }
        }
    }

    /// Adds a recorder's histograms to the totals.
    fn absorb(&self, recorder: &mut Recorder, now: Instant) {
        let mut totals = self.totals.lock();
        if recorder.generation != self.generation.load(Ordering::Relaxed) {
            // A reset came after these were recorded; the next record
            // zeroes the counters too.
            recorder.clear_histograms();
            return;
        }
        totals.rotate(now);
        let Totals {
            commands, current, ..
        } = &mut *totals;
        for index in recorder.dirty.drain(..) {
            let Some(local) = recorder.histograms[index].as_mut() else {
                continue;
            };
            commands
                .entry(index)
                .or_insert_with(Figures::new)
                .latency_ns
                .add(&*local)
                .expect("histograms of the same bounds add");
            current
                .entry(index)
                .or_insert_with(new_histogram)
                .add(&*local)
                .expect("histograms of the same bounds add");
            local.reset();
        }
    }
}

/// What one network thread records.
pub struct Recorder {
    counters: Arc<ThreadCounters>,
    /// Latencies not yet flushed, by command index,
    /// made on a command's first timed call.
    histograms: Box<[Option<Histogram<u64>>]>,
    /// Spec indexes whose histogram has something to flush.
    dirty: Vec<usize>,
    /// The reset generation this recorder's figures belong to.
    generation: u64,
    last_flush: Instant,
}

impl Recorder {
    /// A recorder whose counters `stats` sums.
    fn new(stats: &CommandStats) -> Recorder {
        let generation = stats.generation.load(Ordering::Relaxed);
        let counters = Arc::new(ThreadCounters {
            generation: AtomicU64::new(generation),
            commands: (0..stats.catalog.count)
                .map(|_| Counters::default())
                .collect(),
            errors: Mutex::new(FxHashMap::default()),
        });
        stats.threads.lock().push(counters.clone());
        Recorder {
            counters,
            histograms: (0..stats.catalog.count).map(|_| None).collect(),
            dirty: Vec::new(),
            generation,
            last_flush: Instant::now(),
        }
    }

    /// Zeroes everything if a reset happened since the last record.
    fn follow_resets(&mut self, stats: &CommandStats) {
        let generation = stats.generation.load(Ordering::Relaxed);
        if generation == self.generation {
            return;
        }
        for counters in self.counters.commands.iter() {
            for counter in [
                &counters.calls,
                &counters.failed,
                &counters.rejected,
                &counters.total_ns,
            ] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        self.counters.errors.lock().clear();
        self.clear_histograms();
        self.generation = generation;
        self.counters
            .generation
            .store(generation, Ordering::Release);
    }

    fn clear_histograms(&mut self) {
        for index in self.dirty.drain(..) {
            if let Some(histogram) = self.histograms[index].as_mut() {
                histogram.reset();
            }
        }
    }
}

thread_local! {
    /// This thread's recorder, made on its first command.
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's recorder, following resets first.
fn with_recorder<R>(stats: &CommandStats, f: impl FnOnce(&mut Recorder) -> R) -> R {
    RECORDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let recorder = slot.get_or_insert_with(|| Recorder::new(stats));
        recorder.follow_resets(stats);
        f(recorder)
    })
}

/// Records one call of command `index` (of the [`Catalog`]): `latency_ns`
/// is `None` when it was not timed (latency tracking off, or rejected).
pub fn record(stats: &CommandStats, index: usize, verdict: Verdict, latency_ns: Option<u64>) {
    with_recorder(stats, |recorder| {
        let counters = &recorder.counters.commands[index];
        if verdict == Verdict::Rejected {
            bump(&counters.rejected, 1);
            return;
        }
        bump(&counters.calls, 1);
        if verdict == Verdict::Failed {
            bump(&counters.failed, 1);
        }
        if let Some(latency_ns) = latency_ns {
            bump(&counters.total_ns, latency_ns);
            let histogram = recorder.histograms[index].get_or_insert_with(new_histogram);
            if histogram.is_empty() {
                recorder.dirty.push(index);
            }
            histogram.saturating_record(latency_ns.max(1));
        }
    });
}

/// Counts an error reply by its first word.
pub fn record_error(stats: &CommandStats, reply_text: &[u8]) {
    let prefix = String::from_utf8_lossy(error_prefix(reply_text));
    with_recorder(stats, |recorder| {
        let mut errors = recorder.counters.errors.lock();
        match errors.get_mut(prefix.as_ref()) {
            Some(count) => *count += 1,
            None => {
                errors.insert(prefix.into_owned(), 1);
            }
        }
    });
}

/// The first word of an error reply's text (after its `-` type byte, if
/// given), as Redis's errorstats keys it.
pub fn error_prefix(text: &[u8]) -> &[u8] {
    let text = match text.first() {
        Some(b'-') => &text[1..],
        _ => text,
    };
    let end = memchr::memchr2(b' ', b'\r', text).unwrap_or(text.len());
    &text[..end.min(128)]
}

/// Hands this thread's histograms to the node if the last flush was at
/// least [`FLUSH_INTERVAL`] ago (`now` is asked only if there is something
/// to flush). Returns whether something is left to flush (so the caller's
/// poll should wake up within the interval).
pub fn flush_if_due(stats: &CommandStats, now: impl FnOnce() -> Instant) -> bool {
    RECORDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(recorder) = slot.as_mut() else {
            return false;
        };
        if recorder.dirty.is_empty() {
            return false;
        }
        let now = now();
        if now.duration_since(recorder.last_flush) < FLUSH_INTERVAL {
            return true;
        }
        recorder.last_flush = now;
        stats.absorb(recorder, now);
        false
    })
}

/// Hands this thread's histograms to the node now.
fn flush_now(stats: &CommandStats) {
    RECORDER.with(|cell| {
        if let Some(recorder) = cell.borrow_mut().as_mut() {
            let now = Instant::now();
            recorder.last_flush = now;
            stats.absorb(recorder, now);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands 0 and 1 of a small catalog.
    const GET: usize = 0;
    const SET: usize = 1;

    fn stats() -> CommandStats {
        CommandStats::new(Catalog {
            count: 2,
            name: |index| ["get", "set"][index],
        })
    }

    #[test]
    fn records_flush_and_reset() {
        let stats = stats();
        let (get, set) = (GET, SET);
        record(&stats, get, Verdict::Ok, Some(1_000));
        record(&stats, get, Verdict::Failed, Some(3_000));
        record(&stats, get, Verdict::Rejected, None);
        record(&stats, set, Verdict::Ok, None);
        record_error(&stats, b"-WRONGTYPE Operation against a key");
        record_error(&stats, b"ERR syntax error");
        record_error(&stats, b"ERR x");
        stats.read(|totals| {
            let figures = &totals.commands[&get];
            assert_eq!(
                (
                    figures.calls,
                    figures.failed,
                    figures.rejected,
                    figures.total_ns
                ),
                (2, 1, 1, 4_000)
            );
            assert_eq!(figures.latency_ns.len(), 2);
            assert!(figures.latency_ns.max() >= 3_000);
            let set_figures = &totals.commands[&set];
            assert_eq!((set_figures.calls, set_figures.latency_ns.len()), (1, 0));
            assert_eq!(totals.errors["ERR"], 2);
            assert_eq!(totals.errors["WRONGTYPE"], 1);
        });
        // Flushed figures are not counted twice.
        record(&stats, get, Verdict::Ok, Some(2_000));
        stats.read(|totals| assert_eq!(totals.commands[&get].calls, 3));
        record(&stats, get, Verdict::Ok, Some(2_000));
        stats.reset();
        stats.read(|totals| assert!(totals.commands.is_empty() && totals.errors.is_empty()));
        record(&stats, get, Verdict::Ok, Some(2_000));
        stats.read(|totals| assert_eq!(totals.commands[&get].calls, 1));
    }

    #[test]
    fn error_prefixes() {
        for (text, prefix) in [
            (&b"-ERR syntax error"[..], &b"ERR"[..]),
            (b"MOVED 3999 127.0.0.1:6381", b"MOVED"),
            (b"-NOAUTH\r\n", b"NOAUTH"),
            (b"", b""),
        ] {
            assert_eq!(error_prefix(text), prefix);
        }
    }

    #[test]
    fn flush_waits_for_the_interval() {
        let stats = stats();
        let start = Instant::now();
        record(&stats, GET, Verdict::Ok, Some(10));
        // Too soon after the recorder was made: still pending.
        assert!(flush_if_due(&stats, || start));
        assert!(!flush_if_due(&stats, || start + FLUSH_INTERVAL * 2));
        assert!(!flush_if_due(&stats, || start + FLUSH_INTERVAL * 3));
        stats.read(|totals| assert_eq!(totals.commands.len(), 1));
    }
}
