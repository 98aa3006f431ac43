//! INFO: the server, clients, memory, stats and keyspace sections, in
//! Redis's `field:value` layout; [`group`] has the sections that describe
//! the Raft group in Redis's terms (persistence, replication, cluster).

mod group;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use redraft_engine::DB_COUNT;

use crate::clock::unix_ms;
use crate::metrics::command_info;
use crate::shared::Shared;

/// The Redis version whose behaviour redraft follows; clients read it to
/// decide which commands they may use.
pub const REDIS_VERSION: &str = "7.0.15";

/// Appends one section's text.
type Section = fn(&Shared, &mut String);

/// The sections INFO knows, in output order, and whether each is in the
/// default set (as in Redis, the per-command sections are not).
const SECTIONS: &[(&str, Section, bool)] = &[
    ("server", server, true),
    ("clients", clients, true),
    ("memory", memory, true),
    ("persistence", group::persistence, true),
    ("stats", stats, true),
    ("replication", group::replication, true),
    ("commandstats", command_info::commandstats, false),
    ("errorstats", command_info::errorstats, true),
    ("latencystats", command_info::latencystats, false),
    ("cluster", group::cluster, true),
    ("keyspace", keyspace, true),
    ("raft", raft, true),
];

/// Renders the sections `args` asks for: none or `default` mean the
/// default sections, `all` and `everything` every section; names are
/// case-insensitive.
pub fn render(shared: &Shared, args: &[Bytes]) -> String {
    let asked = |name: &str| {
        args.iter()
            .any(|arg| arg.eq_ignore_ascii_case(name.as_bytes()))
    };
    let all = asked("all") || asked("everything");
    let default = args.is_empty() || asked("default");
    let mut text = String::with_capacity(2048);
    for (name, section, in_default) in SECTIONS {
        if all || (default && *in_default) || asked(name) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            section(shared, &mut text);
        }
    }
    text
}

fn server(shared: &Shared, out: &mut String) {
    let uptime_s = shared.started_at.elapsed().as_secs();
    let executable = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredraft_version:{}\r\nredis_mode:{}\r\n\
         os:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\n\
         tcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime_s}\r\nuptime_in_days:{}\r\n\
         hz:10\r\nexecutor_threads:{}\r\nexecutable:{executable}\r\n",
        env!("CARGO_PKG_VERSION"),
        redis_mode(shared),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        shared.run_id,
        shared.config.port,
        unix_ms() * 1000,
        uptime_s / 86400,
        shared.config.threads,
    );
}

/// Redis's `redis_mode` (and HELLO's `mode`): `cluster` for a group of
/// more than one member, else `standalone`.
pub fn redis_mode(shared: &Shared) -> &'static str {
    if group::cluster_enabled(shared) {
        "cluster"
    } else {
        "standalone"
    }
}

fn clients(shared: &Shared, out: &mut String) {
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:0\r\n",
        shared.clients.count(),
        shared.admission.maxclients(),
        shared.blocking.clients(),
    );
}

/// Formats bytes as Redis's `used_memory_human` does (e.g. `1.50M`).
fn human_bytes(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in UNITS {
        if bytes >= *size {
            return format!("{:.2}{unit}", bytes as f64 / *size as f64);
        }
    }
    format!("{bytes}B")
}

/// Resident set size from /proc/self/statm (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory(shared: &Shared, out: &mut String) {
    let used = shared.engine.stats().used_memory_bytes;
    let rss = rss_bytes();
    let limits = shared.memory.limits.get();
    // Nothing outside the keyspace is counted in used_memory (Redis counts
    // replication and AOF buffers there, and leaves them out for eviction).
    let not_counted = 0;
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
         mem_not_counted_for_evict:{not_counted}\r\nmem_allocator:libc\r\n",
        human_bytes(used),
        human_bytes(rss),
        limits.maxmemory_bytes,
        human_bytes(limits.maxmemory_bytes),
        limits.policy.name(),
    );
}

fn stats(shared: &Shared, out: &mut String) {
    let engine = shared.engine.stats();
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
         rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\n\
         keyspace_misses:{}\r\n",
        shared.clients.accepted_total.load(Ordering::Relaxed),
        shared.total(|stats| &stats.commands),
        shared.ops_per_sec.load(Ordering::Relaxed),
        shared.total(|stats| &stats.net_input_bytes),
        shared.total(|stats| &stats.net_output_bytes),
        shared.admission.rejected(),
        engine.expired_keys,
        engine.evicted_keys,
        engine.keyspace_hits,
        engine.keyspace_misses,
    );
}

fn keyspace(shared: &Shared, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for db in 0..DB_COUNT {
        let keys = shared.engine.dbsize(db);
        if keys > 0 {
            let expires = shared.engine.expires_count(db);
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

/// `# Raft`: this node's place in the group, its log, and batching.
fn raft(shared: &Shared, out: &mut String) {
    let status = &shared.raft;
    let view = status.view();
    let log = status.log.get().map(|log| log.stats()).unwrap_or_default();
    let entries = status.entries_proposed.load(Ordering::Relaxed);
    let commands = status.commands_proposed.load(Ordering::Relaxed);
    let per = |count: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        }
    };
    let _ = write!(
        out,
        "# Raft\r\nraft_node_id:{}\r\nraft_role:{}\r\nraft_term:{}\r\nraft_leader_id:{}\r\n\
         raft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_last_log_index:{}\r\n\
         raft_snapshot_index:{}\r\nraft_purged_index:{}\r\nraft_read_consistency:{}\r\n\
         raft_entries_proposed:{entries}\r\nraft_commands_proposed:{commands}\r\n\
         raft_commands_per_entry:{:.2}\r\nraft_log_entries_durable:{}\r\nraft_log_fsyncs:{}\r\n\
         raft_log_entries_per_fsync:{:.2}\r\nraft_log_sync_us_avg:{:.1}\r\nraft_members:{}\r\n\
         raft_writes_pending:{}\r\nraft_writes_pending_bytes:{}\r\nraft_removed:{}\r\n",
        view.node_id,
        view.state,
        view.term,
        view.leader.map_or(0, |id| id),
        status.committed_index(),
        view.applied_index,
        view.last_log_index,
        view.snapshot_index,
        view.purged_index,
        status.consistency.name(),
        per(commands, entries),
        log.entries_durable,
        log.fsyncs,
        per(log.entries_durable, log.fsyncs),
        per(log.sync_nanos_total, log.fsyncs) / 1000.0,
        view.members.len(),
        shared.total(|stats| &stats.pending_writes),
        shared.total(|stats| &stats.pending_write_bytes),
        u8::from(status.removed()),
    );
    let dash = || "-".to_string();
    for member in &view.members {
        // This node always reaches itself; others as the health monitor says.
        let health = if member.id == view.node_id {
            crate::raft::health::PeerReport::this_node()
        } else {
            status.health.report(&member.id)
        };
        let _ = write!(
            out,
            "raft_member_{}:host={},port={},raft_port={},voter={},matched={},reachable={},\
             last_contact_ms={},failures={},append_rtt_us={}\r\n",
            member.id,
            member.node.host,
            member.node.port,
            member.node.raft_port,
            u8::from(member.voter),
            member
                .matched_index
                .map_or_else(dash, |index| index.to_string()),
            health
                .reachable
                .map_or_else(dash, |up| u8::from(up).to_string()),
            health
                .last_contact_ms
                .map_or_else(dash, |ms| ms.to_string()),
            health.failures,
            health.append_rtt_us.map_or_else(dash, |us| us.to_string()),
        );
    }
}
