//! The latency monitor (Redis's `LATENCY`): for each event class, the
//! latency spikes at or above `latency-monitor-threshold` milliseconds,
//! one sample per second (the worst of that second), the last
//! [`SAMPLES_PER_EVENT`] seconds that had a spike, and the worst ever.
//!
//! Event classes, as Redis names them where Redis has them:
//! - `command`: a command without the `fast` flag ran that long on its
//!   network thread (measured as the slow log measures it);
//! - `fast-command`: the same for a command with the `fast` flag;
//! - `raft-log-fsync`: redraft's own: one group commit of the Raft log
//!   (its write and fdatasync) took that long.
//!
//! Invariants:
//! - With the threshold at 0 (the default) nothing is recorded, and a
//!   command costs one relaxed atomic load here.
//! - Each class keeps at most [`SAMPLES_PER_EVENT`] samples, in a ring, and
//!   at most one per second (a later spike in the same second only raises
//!   that sample), so the monitor's memory is bounded.
//! - Classes are listed in name order (Redis lists them in hash order,
//!   which no client relies on).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

/// Samples one event class keeps (Redis's `LATENCY_TS_LEN`).
pub const SAMPLES_PER_EVENT: usize = 160;
/// Columns of a `LATENCY GRAPH` (Redis's `LATENCY_GRAPH_COLS`).
const GRAPH_COLUMNS: usize = 80;
/// Rows of a `LATENCY GRAPH`'s bars.
const GRAPH_ROWS: usize = 4;

/// The event class of a command without the `fast` flag.
pub const COMMAND: &str = "command";
/// The event class of a command with the `fast` flag.
pub const FAST_COMMAND: &str = "fast-command";
/// The event class of a slow Raft log group commit (write + fdatasync).
pub const RAFT_LOG_FSYNC: &str = "raft-log-fsync";

/// One second's worst spike; `time_s` 0 marks an unused slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sample {
    time_s: u64,
    latency_ms: u64,
}

/// One event class's samples.
struct Series {
    /// A ring: `next` is where the next new second goes.
    samples: [Sample; SAMPLES_PER_EVENT],
    next: usize,
    /// The worst latency ever recorded for the class.
    max_ms: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [Sample::default(); SAMPLES_PER_EVENT],
            next: 0,
            max_ms: 0,
        }
    }

    fn add(&mut self, latency_ms: u64, now_s: u64) {
        self.max_ms = self.max_ms.max(latency_ms);
        let prev = (self.next + SAMPLES_PER_EVENT - 1) % SAMPLES_PER_EVENT;
        if self.samples[prev].time_s == now_s {
            let sample = &mut self.samples[prev];
            sample.latency_ms = sample.latency_ms.max(latency_ms);
            return;
        }
        self.samples[self.next] = Sample {
            time_s: now_s,
            latency_ms,
        };
        self.next = (self.next + 1) % SAMPLES_PER_EVENT;
    }

    /// The used samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SAMPLES_PER_EVENT)
            .map(move |offset| self.samples[(self.next + offset) % SAMPLES_PER_EVENT])
            .filter(|sample| sample.time_s != 0)
    }

    fn latest(&self) -> Sample {
        self.samples[(self.next + SAMPLES_PER_EVENT - 1) % SAMPLES_PER_EVENT]
    }
}

/// `LATENCY LATEST`'s line for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub event: String,
    pub time_s: u64,
    pub latency_ms: u64,
    pub max_ms: u64,
}

/// The node's latency monitor.
#[derive(Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in milliseconds (0 to `i64::MAX`);
    /// 0: off.
    threshold_ms: AtomicI64,
    events: Mutex<BTreeMap<String, Series>>,
}

impl LatencyMonitor {
    pub fn threshold_ms(&self) -> i64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    pub fn set_threshold_ms(&self, ms: i64) {
        assert!(ms >= 0, "latency-monitor-threshold is validated");
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether a latency of `latency_ms` is a spike worth recording.
    pub fn is_spike(&self, latency_ms: u64) -> bool {
        let threshold = self.threshold_ms();
        threshold > 0 && latency_ms >= threshold as u64
    }

    /// Records a spike of `event` (call when [`LatencyMonitor::is_spike`]
    /// said so) at Unix second `now_s`.
    pub fn add(&self, event: &str, latency_ms: u64, now_s: u64) {
        let mut events = self.events.lock();
        if let Some(series) = events.get_mut(event) {
            series.add(latency_ms, now_s);
            return;
        }
        let mut series = Series::new();
        series.add(latency_ms, now_s);
        events.insert(event.to_string(), series);
    }

    /// `LATENCY LATEST`: each class's newest sample and worst ever.
    pub fn latest(&self) -> Vec<Latest> {
        let events = self.events.lock();
        events
            .iter()
            .map(|(event, series)| {
                let sample = series.latest();
                Latest {
                    event: event.clone(),
                    time_s: sample.time_s,
                    latency_ms: sample.latency_ms,
                    max_ms: series.max_ms,
                }
            })
            .collect()
    }

    /// `LATENCY HISTORY event`: (Unix second, latency ms), oldest first;
    /// empty for a class with no samples. The name must match exactly.
    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        let events = self.events.lock();
        let Some(series) = std::str::from_utf8(event)
            .ok()
            .and_then(|event| events.get(event))
        else {
            return Vec::new();
        };
        series
            .in_order()
            .map(|sample| (sample.time_s, sample.latency_ms))
            .collect()
    }

    /// `LATENCY RESET [event ...]`: drops the named classes (ignoring
    /// case), or all of them without names; returns how many it dropped.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        if names.is_empty() {
            events.clear();
        } else {
            events.retain(|event, _| {
                !names
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(event.as_bytes()))
            });
        }
        before - events.len()
    }

    /// `LATENCY GRAPH event`: Redis's ASCII sparkline of the class's
    /// samples, labelled with how long ago each was; `None` if the class
    /// has no samples.
    pub fn graph(&self, event: &[u8], now_s: u64) -> Option<String> {
        let events = self.events.lock();
        let (name, series) = events.iter().find(|(name, _)| name.as_bytes() == event)?;
        let samples: Vec<Sample> = series.in_order().collect();
        let high = samples.iter().map(|s| s.latency_ms).max().unwrap_or(0);
        let low = samples.iter().map(|s| s.latency_ms).min().unwrap_or(0);
        let mut graph = format!(
            "{name} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
            series.max_ms,
            "-".repeat(GRAPH_COLUMNS)
        );
        let points: Vec<(f64, String)> = samples
            .iter()
            .map(|sample| {
                let ago = now_s.saturating_sub(sample.time_s);
                (sample.latency_ms as f64, age_label(ago))
            })
            .collect();
        render_sparkline(&mut graph, &points);
        Some(graph)
    }

    /// Per-class figures for `LATENCY DOCTOR`, in class order.
    fn analyses(&self, now_s: u64) -> Vec<(String, Analysis)> {
        let events = self.events.lock();
        events
            .iter()
            .map(|(name, series)| (name.clone(), Analysis::of(series, now_s)))
            .collect()
    }

    /// `LATENCY DOCTOR`: Redis's report, with its advice for the classes
    /// redraft records. `slowlog_slower_than_us` is the slow log's
    /// threshold (the advice compares it with ours).
    pub fn doctor(&self, slowlog_slower_than_us: i64, now_s: u64) -> String {
        let threshold_ms = self.threshold_ms();
        let analyses = self.analyses(now_s);
        if analyses.is_empty() && threshold_ms == 0 {
            return DISABLED_REPORT.to_string();
        }
        let mut report = String::new();
        let mut advice = Advice::default();
        for (number, (event, analysis)) in analyses.iter().enumerate() {
            if number == 0 {
                report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let _ = writeln!(
                report,
                "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
                number + 1,
                analysis.samples,
                analysis.average_ms,
                analysis.deviation_ms,
                analysis.period_s as f64 / analysis.samples as f64,
                analysis.all_time_ms,
            );
            advice.note_event(event, slowlog_slower_than_us, threshold_ms);
        }
        if anon_huge_pages_in_use() {
            advice.disable_thp = true;
        }
        advice.write(&mut report, !analyses.is_empty(), threshold_ms);
        report
    }
}

/// What `LATENCY DOCTOR` says while the monitor is off and has nothing.
const DISABLED_REPORT: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";

/// One class's figures, as Redis's `analyzeLatencyForEvent` computes them.
struct Analysis {
    samples: usize,
    average_ms: u64,
    /// Mean absolute deviation from the average.
    deviation_ms: u64,
    /// Seconds from the oldest sample to now (at least 1).
    period_s: u64,
    all_time_ms: u64,
}

impl Analysis {
    fn of(series: &Series, now_s: u64) -> Analysis {
        let samples: Vec<Sample> = series.in_order().collect();
        let count = samples.len().max(1) as u64;
        let average_ms = samples.iter().map(|s| s.latency_ms).sum::<u64>() / count;
        let deviation_ms = samples
            .iter()
            .map(|s| s.latency_ms.abs_diff(average_ms))
            .sum::<u64>()
            / count;
        let oldest_s = samples.iter().map(|s| s.time_s).min().unwrap_or(now_s);
        Analysis {
            samples: samples.len(),
            average_ms,
            deviation_ms,
            period_s: now_s.saturating_sub(oldest_s).max(1),
            all_time_ms: series.max_ms,
        }
    }
}

/// The pieces of advice `LATENCY DOCTOR` gives, as Redis words them.
#[derive(Default)]
struct Advice {
    slowlog_enable: bool,
    slowlog_tune: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    local_disk: bool,
    ssd: bool,
    disk_contention: bool,
    large_objects: bool,
    disable_thp: bool,
}

impl Advice {
    fn note_event(&mut self, event: &str, slowlog_slower_than_us: i64, threshold_ms: i64) {
        match event {
            COMMAND => {
                if slowlog_slower_than_us < 0 {
                    self.slowlog_enable = true;
                } else if slowlog_slower_than_us / 1000 > threshold_ms {
                    self.slowlog_tune = true;
                }
                self.slowlog_inspect = true;
                self.large_objects = true;
            }
            FAST_COMMAND => self.scheduler = true,
            // The advice Redis gives for a slow AOF write and fsync.
            RAFT_LOG_FSYNC => {
                self.local_disk = true;
                self.ssd = true;
                self.disk_contention = true;
            }
            _ => {}
        }
    }

    fn any(&self) -> bool {
        self.slowlog_enable
            || self.slowlog_tune
            || self.slowlog_inspect
            || self.scheduler
            || self.local_disk
            || self.ssd
            || self.disk_contention
            || self.large_objects
            || self.disable_thp
    }

    fn write(&self, report: &mut String, had_events: bool, threshold_ms: i64) {
        if !had_events && !self.any() {
            report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
            return;
        }
        if !self.any() {
            report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
            return;
        }
        let suggested_us = threshold_ms.saturating_mul(1000);
        report.push_str("\nI have a few advices for you:\n\n");
        if self.slowlog_enable {
            let _ = writeln!(report, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {suggested_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.");
        }
        if self.slowlog_tune {
            let _ = writeln!(report, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {suggested_us}'.");
        }
        if self.slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if self.scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if self.local_disk {
            report.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
        }
        if self.ssd {
            report.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage and smaller final AOF rewrite buffer flushes). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
        }
        if self.disk_contention {
            report.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
        }
        if self.large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if self.disable_thp {
            report.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
        }
    }
}

/// Whether this process has transparent huge pages mapped (Linux's
/// `AnonHugePages` in /proc/self/smaps_rollup), which Redis's doctor
/// warns about.
fn anon_huge_pages_in_use() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return false;
    };
    text.lines()
        .filter_map(|line| line.strip_prefix("AnonHugePages:"))
        .filter_map(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .any(|kb| kb > 0)
}

/// How long ago a sample was, as the graph labels it: `12s`, `5m`, `3h`,
/// `2d`.
fn age_label(ago_s: u64) -> String {
    match ago_s {
        0..=59 => format!("{ago_s}s"),
        60..=3599 => format!("{}m", ago_s / 60),
        3600..=86_399 => format!("{}h", ago_s / 3600),
        _ => format!("{}d", ago_s / 86_400),
    }
}

/// Appends Redis's filled sparkline of `points` (value, label): up to
/// [`GRAPH_COLUMNS`] points per block, each block [`GRAPH_ROWS`] rows of
/// bars (`_o#` steps, `|` below the top of a bar), a blank row, then the
/// labels written downwards, one character per row.
fn render_sparkline(out: &mut String, points: &[(f64, String)]) {
    let min = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    for (block, chunk) in points.chunks(GRAPH_COLUMNS).enumerate() {
        if block > 0 {
            out.push('\n');
        }
        render_block(out, chunk, min, max);
    }
}

fn render_block(out: &mut String, points: &[(f64, String)], min: f64, max: f64) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    // As Redis computes it: the scaled value is truncated before the
    // division, and the quotient again.
    let step_of = |value: f64| {
        let step = ((value - min) * steps as f64).trunc() / range;
        (step as i64).clamp(0, steps - 1)
    };
    for row in 0..GRAPH_ROWS as i64 {
        let line: String = points
            .iter()
            .map(|(value, _)| {
                let index = step_of(*value) - (GRAPH_ROWS as i64 - row - 1) * FILL.len() as i64;
                match index {
                    0..=2 => FILL[index as usize],
                    3.. => '|',
                    _ => ' ',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    // A blank row between the bars and the labels.
    out.push_str(&" ".repeat(points.len()));
    out.push('\n');
    let longest = points
        .iter()
        .map(|(_, label)| label.len())
        .max()
        .unwrap_or(0);
    for row in 0..longest {
        let line: String = points
            .iter()
            .map(|(_, label)| label.as_bytes().get(row).map_or(' ', |&byte| byte as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_a_ring_of_160() {
        let monitor = LatencyMonitor::default();
        assert!(!monitor.is_spike(u64::MAX), "off by default");
        monitor.set_threshold_ms(5);
        assert!(!monitor.is_spike(4) && monitor.is_spike(5));
        monitor.add(COMMAND, 50, 100);
        monitor.add(COMMAND, 10, 100);
        monitor.add(COMMAND, 70, 100);
        monitor.add(COMMAND, 20, 101);
        assert_eq!(monitor.history(b"command"), [(100, 70), (101, 20)]);
        assert_eq!(monitor.history(b"COMMAND"), [], "history matches exactly");
        let latest = &monitor.latest()[0];
        assert_eq!(
            (latest.time_s, latest.latency_ms, latest.max_ms),
            (101, 20, 70)
        );
        for second in 0..200 {
            monitor.add(FAST_COMMAND, second + 1, 1000 + second);
        }
        let history = monitor.history(b"fast-command");
        assert_eq!(history.len(), SAMPLES_PER_EVENT);
        assert_eq!(history[0], (1040, 41), "the oldest 40 were overwritten");
        assert_eq!(history[159], (1199, 200));
        assert_eq!(monitor.reset(&[b"nosuch", b"FAST-command"]), 1);
        assert_eq!(monitor.reset(&[]), 1);
        assert!(monitor.latest().is_empty());
    }

    #[test]
    fn doctor_reports_like_redis() {
        let monitor = LatencyMonitor::default();
        assert_eq!(monitor.doctor(10_000, 10), DISABLED_REPORT);
        monitor.set_threshold_ms(1);
        monitor.add(COMMAND, 50, 1000);
        let report = monitor.doctor(10_000, 1000);
        assert!(report.starts_with("Dave, I have observed latency spikes"));
        assert!(report.contains("1. command: 1 latency spikes (average 50ms, mean deviation 0ms, period 1.00 sec). Worst all time event 50ms.\n"));
        assert!(report.contains("'CONFIG SET slowlog-log-slower-than 1000'"));
    }

    #[test]
    fn graph_matches_redis_for_one_sample() {
        let monitor = LatencyMonitor::default();
        monitor.set_threshold_ms(1);
        monitor.add(COMMAND, 50, 1000);
        let graph = monitor.graph(b"command", 1000).unwrap();
        let expected = format!(
            "command - high 50 ms, low 50 ms (all time high 50 ms)\n{}\n \n \n \n_\n \n0\ns\n",
            "-".repeat(80)
        );
        assert_eq!(graph, expected);
        assert!(monitor.graph(b"fast-command", 1000).is_none());
        monitor.add(COMMAND, 10, 1001);
        monitor.add(COMMAND, 30, 1002);
        let graph = monitor.graph(b"command", 1062).unwrap();
        let bars: Vec<&str> = graph.lines().skip(2).collect();
        assert_eq!(bars, ["#  ", "| _", "| |", "|_|", "   ", "111", "mmm"]);
    }
}
