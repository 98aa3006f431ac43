//! The admin port's `/metrics` page, in Prometheus's text exposition
//! format (version 0.0.4): the node's counters, each command's calls,
//! errors and latency (a summary with quantiles, and a histogram whose
//! buckets add up across nodes), the Raft group as this node sees it, and
//! the standard `process_*` series.
//!
//! Invariants:
//! - Every family is written once, with its `# HELP` and `# TYPE` lines
//!   before its samples; names are `redraft_` plus snake case, counters end
//!   in `_total`, durations are in seconds.
//! - Label values are escaped (`\\`, `\"`, `\n`), so any command or error
//!   name yields a valid page.
//! - A summary's quantiles are over everything recorded since start-up
//!   (or the last `CONFIG RESETSTAT`); so are its `_sum` and `_count`.

use std::fmt::{Display, Write as _};
use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;
use redraft_engine::DB_COUNT;

use crate::raft::counters::RaftCounters;
use crate::shared::Shared;

/// The quantiles every summary reports.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];
/// The roles `redraft_raft_role` has a sample for, one of them 1.
const ROLES: [&str; 4] = ["leader", "follower", "candidate", "learner"];

/// The page as it is built.
struct Page {
    out: String,
}

impl Page {
    /// Starts a family: its help text and type.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    /// One sample of the current family.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"");
                escape_into(&mut self.out, text);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The samples of a latency summary in seconds for one label set
    /// (the family was started by the caller).
    fn summary(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        histogram: &Histogram<u64>,
        sum_ns: u64,
    ) {
        for quantile in QUANTILES {
            let quantile_text = quantile.to_string();
            let mut with_quantile = labels.to_vec();
            with_quantile.push(("quantile", &quantile_text));
            self.sample(
                name,
                &with_quantile,
                seconds(histogram.value_at_quantile(quantile)),
            );
        }
        self.sample(&format!("{name}_sum"), labels, seconds(sum_ns));
        self.sample(&format!("{name}_count"), labels, histogram.len());
    }
}

/// Upper bounds (ns) of the buckets of a command's latency histogram, from
/// a cached read to a write waiting out elections.
const COMMAND_BUCKETS_NS: [u64; 17] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];
/// Upper bounds (ns) of the buckets of the log's group-commit histogram.
const SYNC_BUCKETS_NS: [u64; 13] = [
    50_000,
    100_000,
    200_000,
    400_000,
    700_000,
    1_000_000,
    2_000_000,
    4_000_000,
    7_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    1_000_000_000,
];

impl Page {
    /// The samples of a histogram in seconds for one label set (the family
    /// was started by the caller): cumulative `_bucket`s for `bounds_ns`
    /// and `+Inf`, `_sum` and `_count`. A recorded value counts in the
    /// first bucket whose bound is at least the highest value it may
    /// stand for (hdrhistogram keeps values to a few significant digits).
    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        histogram: &Histogram<u64>,
        sum_ns: u64,
        bounds_ns: &[u64],
    ) {
        let mut counts = vec![0u64; bounds_ns.len() + 1];
        for value in histogram.iter_recorded() {
            let at = bounds_ns.partition_point(|&bound| bound < value.value_iterated_to());
            counts[at] += value.count_at_value();
        }
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = match bounds_ns.get(i) {
                Some(&bound) => seconds(bound).to_string(),
                None => "+Inf".to_string(),
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        self.sample(&format!("{name}_sum"), labels, seconds(sum_ns));
        self.sample(&format!("{name}_count"), labels, histogram.len());
    }
}

/// Nanoseconds as seconds.
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Escapes a label value.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The whole page.
pub fn render(shared: &Shared) -> String {
    let mut page = Page {
        out: String::with_capacity(16 * 1024),
    };
    server(shared, &mut page);
    commands(shared, &mut page);
    raft(shared, &mut page);
    process(&mut page);
    page.out
}

fn server(shared: &Shared, page: &mut Page) {
    page.family(
        "redraft_info",
        "gauge",
        "Constant 1, labelled with the node's version and id.",
    );
    let node_id = shared.config.raft.node_id.to_string();
    page.sample(
        "redraft_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("redis_version", crate::info::REDIS_VERSION),
            ("node_id", &node_id),
            ("run_id", &shared.run_id),
        ],
        1,
    );
    page.single(
        "redraft_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        shared.started_at.elapsed().as_secs(),
    );
    page.single(
        "redraft_connected_clients",
        "gauge",
        "Client connections open now.",
        shared.clients.count(),
    );
    page.single(
        "redraft_blocked_clients",
        "gauge",
        "Clients waiting in a blocking command (BLPOP and the like).",
        shared.blocking.clients(),
    );
    page.single(
        "redraft_connections_received_total",
        "counter",
        "Client connections accepted.",
        shared.clients.accepted_total.load(Ordering::Relaxed),
    );
    page.single(
        "redraft_rejected_connections_total",
        "counter",
        "Client connections refused with -ERR max number of clients reached.",
        shared.admission.rejected(),
    );
    page.single(
        "redraft_maxclients",
        "gauge",
        "Clients allowed at once (maxclients, after fitting the open-files limit).",
        shared.admission.maxclients(),
    );
    page.single(
        "redraft_commands_processed_total",
        "counter",
        "Commands received (as INFO's total_commands_processed).",
        shared.total(|stats| &stats.commands),
    );
    page.single(
        "redraft_instantaneous_operations_per_second",
        "gauge",
        "Commands per second over the last sample (as INFO's instantaneous_ops_per_sec).",
        shared.ops_per_sec.load(Ordering::Relaxed),
    );
    page.single(
        "redraft_net_input_bytes_total",
        "counter",
        "Bytes read from clients.",
        shared.total(|stats| &stats.net_input_bytes),
    );
    page.single(
        "redraft_net_output_bytes_total",
        "counter",
        "Bytes written to clients.",
        shared.total(|stats| &stats.net_output_bytes),
    );
    let engine = shared.engine.stats();
    page.single(
        "redraft_memory_used_bytes",
        "gauge",
        "Bytes the dataset uses (as INFO's used_memory).",
        engine.used_memory_bytes,
    );
    page.single(
        "redraft_memory_rss_bytes",
        "gauge",
        "Resident set size of the process.",
        crate::info::rss_bytes(),
    );
    page.single(
        "redraft_memory_max_bytes",
        "gauge",
        "The memory limit (maxmemory); 0 for none.",
        shared.memory.limits.maxmemory_bytes(),
    );
    page.single(
        "redraft_expired_keys_total",
        "counter",
        "Keys deleted because they expired.",
        engine.expired_keys,
    );
    page.single(
        "redraft_evicted_keys_total",
        "counter",
        "Keys deleted to stay under maxmemory (INFO's evicted_keys).",
        engine.evicted_keys,
    );
    page.single(
        "redraft_keyspace_hits_total",
        "counter",
        "Key lookups that found the key.",
        engine.keyspace_hits,
    );
    page.single(
        "redraft_keyspace_misses_total",
        "counter",
        "Key lookups that did not find the key.",
        engine.keyspace_misses,
    );
    page.family(
        "redraft_db_keys",
        "gauge",
        "Keys in each logical database that has any.",
    );
    let mut expires = Vec::new();
    for db in 0..DB_COUNT {
        let keys = shared.engine.dbsize(db);
        if keys > 0 {
            let db_text = db.to_string();
            page.sample("redraft_db_keys", &[("db", &db_text)], keys);
            expires.push((db_text, shared.engine.expires_count(db)));
        }
    }
    page.family(
        "redraft_db_expires",
        "gauge",
        "Keys with an expiry in each logical database that has keys.",
    );
    for (db, count) in expires {
        page.sample("redraft_db_expires", &[("db", &db)], count);
    }
}

fn commands(shared: &Shared, page: &mut Page) {
    shared.command_stats.read(|totals| {
        let commands = totals.by_name();
        page.family(
            "redraft_command_calls_total",
            "counter",
            "Commands that ran, whatever their reply.",
        );
        for (name, figures) in &commands {
            page.sample("redraft_command_calls_total", &[("command", name)], figures.calls);
        }
        page.family(
            "redraft_command_failed_total",
            "counter",
            "Commands that ran and replied with an error.",
        );
        for (name, figures) in &commands {
            page.sample("redraft_command_failed_total", &[("command", name)], figures.failed);
        }
        page.family(
            "redraft_command_rejected_total",
            "counter",
            "Commands refused before running (arity, authentication, redirects).",
        );
        for (name, figures) in &commands {
            page.sample("redraft_command_rejected_total", &[("command", name)], figures.rejected);
        }
        page.family(
            "redraft_command_latency_seconds",
            "summary",
            "Time from a command's arrival to its reply (for writes: through Raft commit and apply).",
        );
        for (name, figures) in &commands {
            if !figures.latency_ns.is_empty() {
                page.summary(
                    "redraft_command_latency_seconds",
                    &[("command", name)],
                    &figures.latency_ns,
                    figures.total_ns,
                );
            }
        }
        page.family(
            "redraft_command_duration_seconds",
            "histogram",
            "Time from a command's arrival to its reply, in buckets that add up across nodes.",
        );
        for (name, figures) in &commands {
            if !figures.latency_ns.is_empty() {
                page.histogram(
                    "redraft_command_duration_seconds",
                    &[("command", name)],
                    &figures.latency_ns,
                    figures.total_ns,
                    &COMMAND_BUCKETS_NS,
                );
            }
        }
        page.family(
            "redraft_command_latency_max_seconds",
            "gauge",
            "Longest latency recorded for each command.",
        );
        for (name, figures) in &commands {
            if !figures.latency_ns.is_empty() {
                page.sample(
                    "redraft_command_latency_max_seconds",
                    &[("command", name)],
                    seconds(figures.latency_ns.max()),
                );
            }
        }
        page.family("redraft_errors_total", "counter", "Error replies by their first word.");
        let mut errors: Vec<_> = totals.errors.iter().collect();
        errors.sort_unstable();
        for (prefix, count) in errors {
            page.sample("redraft_errors_total", &[("error", prefix)], count);
        }
    });
}

fn raft(shared: &Shared, page: &mut Page) {
    let status = &shared.raft;
    let view = status.view();
    page.family(
        "redraft_raft_role",
        "gauge",
        "1 for this node's Raft state, 0 for the others.",
    );
    for role in ROLES {
        page.sample(
            "redraft_raft_role",
            &[("role", role)],
            u8::from(view.state == role),
        );
    }
    page.single(
        "redraft_raft_term",
        "gauge",
        "Current Raft term.",
        view.term,
    );
    page.single(
        "redraft_raft_leader_id",
        "gauge",
        "Id of the leader this node knows (0: none).",
        view.leader.unwrap_or(0),
    );
    page.single(
        "redraft_raft_commit_index",
        "gauge",
        "Last log index known committed.",
        status.committed_index(),
    );
    page.single(
        "redraft_raft_applied_index",
        "gauge",
        "Last log index applied to the state machine.",
        view.applied_index,
    );
    page.single(
        "redraft_raft_last_log_index",
        "gauge",
        "Last index in this node's log.",
        view.last_log_index,
    );
    page.single(
        "redraft_raft_snapshot_index",
        "gauge",
        "Last log index covered by this node's snapshot.",
        view.snapshot_index,
    );
    page.single(
        "redraft_raft_purged_index",
        "gauge",
        "Last log index purged from this node's log.",
        view.purged_index,
    );
    page.single(
        "redraft_raft_members",
        "gauge",
        "Members of the group (voters and learners).",
        view.members.len(),
    );
    page.family(
        "redraft_raft_follower_matched_index",
        "gauge",
        "On the leader: the last log index each other member is known to hold.",
    );
    let mut lags = Vec::new();
    for member in &view.members {
        if let (Some(matched), true) = (member.matched_index, member.id != view.node_id) {
            let id = member.id.to_string();
            page.sample(
                "redraft_raft_follower_matched_index",
                &[("follower", &id)],
                matched,
            );
            lags.push((id, view.last_log_index.saturating_sub(matched)));
        }
    }
    page.family(
        "redraft_raft_follower_lag_entries",
        "gauge",
        "On the leader: entries each other member is behind this node's log.",
    );
    for (id, lag) in lags {
        page.sample(
            "redraft_raft_follower_lag_entries",
            &[("follower", &id)],
            lag,
        );
    }
    page.family(
        "redraft_raft_peer_reachable",
        "gauge",
        "1 if this node's last RPC with the member succeeded, 0 if it failed, absent if none yet.",
    );
    let mut contacts = Vec::new();
    for member in view
        .members
        .iter()
        .filter(|member| member.id != view.node_id)
    {
        let report = status.health.report(&member.id);
        let id = member.id.to_string();
        if let Some(reachable) = report.reachable {
            page.sample(
                "redraft_raft_peer_reachable",
                &[("peer", &id)],
                u8::from(reachable),
            );
        }
        contacts.push((id, report.last_contact_ms, report.failures));
    }
    page.family(
        "redraft_raft_peer_last_contact_seconds",
        "gauge",
        "Seconds since the last successful RPC with each member.",
    );
    for (id, last_contact_ms, _) in &contacts {
        if let Some(ms) = last_contact_ms {
            page.sample(
                "redraft_raft_peer_last_contact_seconds",
                &[("peer", id)],
                *ms as f64 / 1000.0,
            );
        }
    }
    page.family(
        "redraft_raft_peer_failures",
        "gauge",
        "Consecutive failed RPCs with each member.",
    );
    for (id, _, failures) in &contacts {
        page.sample("redraft_raft_peer_failures", &[("peer", id)], failures);
    }
    raft_counters(&status.counters, page);
    let entries = status.entries_proposed.load(Ordering::Relaxed);
    let commands = status.commands_proposed.load(Ordering::Relaxed);
    page.single(
        "redraft_raft_entries_proposed_total",
        "counter",
        "Log entries this node proposed as leader.",
        entries,
    );
    page.single(
        "redraft_raft_commands_proposed_total",
        "counter",
        "Commands in the entries this node proposed.",
        commands,
    );
    page.single(
        "redraft_raft_commands_per_entry",
        "gauge",
        "Average commands per proposed entry since start-up.",
        ratio(commands, entries),
    );
    let Some(log) = status.log.get() else {
        return;
    };
    let stats = log.stats();
    page.single(
        "redraft_raft_log_entries_durable_total",
        "counter",
        "Log entries made durable (written and fdatasynced).",
        stats.entries_durable,
    );
    page.single(
        "redraft_raft_log_fsyncs_total",
        "counter",
        "fdatasync calls on the log's segment files.",
        stats.fsyncs,
    );
    page.single(
        "redraft_raft_log_entries_per_fsync",
        "gauge",
        "Average entries made durable per fdatasync since start-up.",
        ratio(stats.entries_durable, stats.fsyncs),
    );
    page.single(
        "redraft_raft_log_written_bytes_total",
        "counter",
        "Record bytes written to the log.",
        stats.bytes_written,
    );
    let sync_ns = log.sync_latency_ns();
    page.family(
        "redraft_raft_log_sync_seconds",
        "summary",
        "Duration of each group commit of the log (write and fdatasync).",
    );
    page.summary(
        "redraft_raft_log_sync_seconds",
        &[],
        &sync_ns,
        stats.sync_nanos_total,
    );
    page.family(
        "redraft_raft_log_sync_duration_seconds",
        "histogram",
        "Duration of each group commit of the log (write and fdatasync), in buckets.",
    );
    page.histogram(
        "redraft_raft_log_sync_duration_seconds",
        &[],
        &sync_ns,
        stats.sync_nanos_total,
        &SYNC_BUCKETS_NS,
    );
}

/// The standard `process_*` series of Prometheus's client libraries,
/// read from `/proc/self` (a series that cannot be read is left out).
fn process(page: &mut Page) {
    let Some(process) = super::process::Process::read() else {
        return;
    };
    page.single(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        process.cpu_seconds,
    );
    page.single(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        process.resident_bytes,
    );
    page.single(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        process.virtual_bytes,
    );
    page.single(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        process.start_time_seconds,
    );
    if let Some(open) = process.open_fds {
        page.single(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            open,
        );
    }
    if let Some(max) = process.max_fds {
        page.single(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    page.single(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        process.threads,
    );
}

/// The Raft event counters.
fn raft_counters(counters: &RaftCounters, page: &mut Page) {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    for (name, kind, help, value) in [
        (
            "redraft_raft_elections_started_total",
            "counter",
            "Elections this node started (terms it stood as candidate in).",
            load(&counters.elections_started),
        ),
        (
            "redraft_raft_elections_won_total",
            "counter",
            "Elections this node won.",
            load(&counters.elections_won),
        ),
        (
            "redraft_raft_leader_changes_total",
            "counter",
            "Changes of the leader this node knows (to another node, to none, to itself).",
            load(&counters.leader_changes),
        ),
        (
            "redraft_raft_membership_changes_total",
            "counter",
            "Membership configurations this node has seen take effect.",
            load(&counters.membership_changes),
        ),
        (
            "redraft_raft_snapshots_built_total",
            "counter",
            "Snapshots this node built from its own state.",
            load(&counters.snapshots_built),
        ),
        (
            "redraft_raft_snapshots_installed_total",
            "counter",
            "Snapshots received from a leader and installed.",
            load(&counters.snapshots_installed),
        ),
        (
            "redraft_raft_snapshot_last_bytes",
            "gauge",
            "Size of the last snapshot built or installed.",
            load(&counters.snapshot_last_bytes),
        ),
        (
            "redraft_raft_log_purges_total",
            "counter",
            "Times the log was purged behind a snapshot.",
            load(&counters.log_purges),
        ),
    ] {
        page.single(name, kind, help, value);
    }
    page.single(
        "redraft_raft_snapshot_last_build_seconds",
        "gauge",
        "How long the last snapshot build took (freeze, merge, write, fsync, rename).",
        load(&counters.snapshot_last_build_ms) as f64 / 1000.0,
    );
}

/// `count / total`, 0 when nothing was counted.
fn ratio(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut page = Page { out: String::new() };
        page.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(page.out, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn summaries_report_quantiles_sum_and_count() {
        let mut histogram = super::super::commands::new_histogram();
        for ns in [1_000, 2_000, 3_000, 1_000_000] {
            histogram.record(ns).unwrap();
        }
        let mut page = Page { out: String::new() };
        page.summary("s", &[("command", "get")], &histogram, 1_006_000);
        let lines: Vec<&str> = page.out.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with("s{command=\"get\",quantile=\"0.5\"} 0.000002"));
        assert!(lines[3].starts_with("s{command=\"get\",quantile=\"0.999\"} 0.001"));
        assert_eq!(lines[4], "s_sum{command=\"get\"} 0.001006");
        assert_eq!(lines[5], "s_count{command=\"get\"} 4");
    }

    #[test]
    fn histograms_report_cumulative_buckets_sum_and_count() {
        let mut histogram = super::super::commands::new_histogram();
        // 40 µs and 90 µs fall in the first two buckets; 3 ms twice in the
        // 5 ms one; 20 s past every bound.
        for ns in [40_000, 90_000, 3_000_000, 3_000_000, 20_000_000_000] {
            histogram.record(ns).unwrap();
        }
        let mut page = Page { out: String::new() };
        page.histogram(
            "h",
            &[("command", "set")],
            &histogram,
            20_006_130_000,
            &[50_000, 100_000, 5_000_000],
        );
        assert_eq!(
            page.out,
            "h_bucket{command=\"set\",le=\"0.00005\"} 1\n\
             h_bucket{command=\"set\",le=\"0.0001\"} 2\n\
             h_bucket{command=\"set\",le=\"0.005\"} 4\n\
             h_bucket{command=\"set\",le=\"+Inf\"} 5\n\
             h_sum{command=\"set\"} 20.00613\n\
             h_count{command=\"set\"} 5\n"
        );
    }
}
