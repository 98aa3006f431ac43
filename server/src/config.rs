//! Configuration: a TOML file (`--config FILE`) with command-line flags
//! overriding it, validated once at start-up.
//!
//! Invariants:
//! - A `Config` that `load` returns is valid: every field is in range, so the
//!   rest of the server never re-checks it.
//! - A bad value stops the server with one line naming the field and why.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

use crate::maxmemory::{self as policy, parse_memory, MemorySettings, Policy};

/// Command-line flags. Each one, when given, overrides the file.
#[derive(Debug, Parser, Default)]
#[command(
    name = "redraft-server",
    version,
    about = "A Redis-compatible server whose writes go through Raft."
)]
pub struct Flags {
    /// TOML configuration file (sections [server] and [raft]).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on for clients (default 127.0.0.1).
    #[arg(long)]
    pub bind: Option<String>,
    /// Client port (default 6379).
    #[arg(long)]
    pub port: Option<u16>,
    /// Admin HTTP port (default 8379).
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// Executor threads, one per core (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Whether the Raft thread serves clients too, as network loop 0
    /// (default false): a write from one of its connections is then
    /// proposed, made durable and answered without a thread hand-off,
    /// but on two cores it measured slower (docs/server.md).
    #[arg(long)]
    pub clients_on_raft_thread: Option<bool>,
    /// Directory for the Raft log and snapshots (default ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Password clients must give with AUTH (default: none).
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Most clients connected at once, as Redis's `maxclients` (default
    /// 10000; lowered at start to fit the open-files limit).
    #[arg(long)]
    pub maxclients: Option<u64>,
    /// Memory limit for the keyspace, as Redis's `maxmemory`: bytes or an
    /// amount with a unit (64mb, 1gb); 0 for none (default).
    #[arg(long)]
    pub maxmemory: Option<String>,
    /// What to do over `maxmemory`, as Redis's `maxmemory-policy`
    /// (default noeviction).
    #[arg(long)]
    pub maxmemory_policy: Option<String>,
    /// Log level: error, warn, info, debug or trace (default info).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Log format: text (default) or json (one JSON object per line).
    #[arg(long)]
    pub log_format: Option<String>,
    /// This node's Raft id (default 1).
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Port of the Raft peer transport (default: client port + 1000).
    #[arg(long)]
    pub raft_port: Option<u16>,
    /// Size of each Raft log segment file in MiB (default 64, at least 16).
    #[arg(long)]
    pub raft_log_segment_mb: Option<u64>,
    /// Start with a fresh data directory without forming a group: wait to
    /// be added to a running one with `POST /cluster/join` (docs/operations.md).
    #[arg(long)]
    pub join: bool,
}

/// The `[server]` section as written in the file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    bind: Option<String>,
    port: Option<u16>,
    admin_port: Option<u16>,
    threads: Option<usize>,
    clients_on_raft_thread: Option<bool>,
    data_dir: Option<PathBuf>,
    requirepass: Option<String>,
    maxclients: Option<u64>,
    /// Bytes (an integer) or Redis's text (`"64mb"`).
    maxmemory: Option<toml::Value>,
    maxmemory_policy: Option<String>,
    maxmemory_samples: Option<u64>,
    maxmemory_eviction_tenacity: Option<u64>,
    lfu_log_factor: Option<u64>,
    lfu_decay_time: Option<u64>,
    log_level: Option<String>,
    log_format: Option<String>,
}

/// One initial voter, as written in `[[raft.members]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: u64,
    /// Host or IP address peers and clients use to reach the node.
    pub host: String,
    /// Client (RESP) port, used in `-MOVED` redirects and CLUSTER replies.
    pub port: u16,
    /// Raft peer transport port.
    pub raft_port: u16,
}

/// The `[raft]` section as written in the file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RaftSection {
    node_id: Option<u64>,
    raft_port: Option<u16>,
    members: Option<Vec<Member>>,
    heartbeat_interval_ms: Option<u64>,
    election_timeout_min_ms: Option<u64>,
    election_timeout_max_ms: Option<u64>,
    snapshot_logs_since_last: Option<u64>,
    read_consistency: Option<String>,
    log_segment_mb: Option<u64>,
    join: Option<bool>,
}

/// The file's layout.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    raft: RaftSection,
}

/// How reads are served (DESIGN.md, "Reads and consistency").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadConsistency {
    /// The leader serves a read after a (batched) read-index check.
    Linearizable,
    /// The leader serves reads under its lease, without a round trip.
    Lease,
    /// Any node serves reads from its own state.
    Stale,
}

impl ReadConsistency {
    pub fn parse(text: &str) -> Option<ReadConsistency> {
        match text.to_ascii_lowercase().as_str() {
            "linearizable" => Some(ReadConsistency::Linearizable),
            "lease" => Some(ReadConsistency::Lease),
            "stale" => Some(ReadConsistency::Stale),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            ReadConsistency::Linearizable => "linearizable",
            ReadConsistency::Lease => "lease",
            ReadConsistency::Stale => "stale",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReadConsistency::Linearizable => "linearizable",
            ReadConsistency::Lease => "lease",
            ReadConsistency::Stale => "stale",
        }
    }
}

/// The validated `[raft]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RaftConfig {
    pub node_id: u64,
    pub raft_port: u16,
    /// The initial voters, this node included. A single member means a
    /// single-node cluster.
    pub members: Vec<Member>,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Entries applied since the last snapshot that trigger a new one.
    pub snapshot_logs_since_last: u64,
    pub read_consistency: ReadConsistency,
    /// Size of each Raft log segment file, preallocated.
    pub log_segment_bytes: u64,
    /// A fresh node never initializes a group: it waits until a member
    /// adds it (`POST /cluster/join`). `members` is then only this node.
    pub join: bool,
}

impl RaftConfig {
    /// Whether this node is the one that initializes a fresh cluster: the
    /// member with the lowest id, unless it was told to join a group.
    pub fn is_initializer(&self) -> bool {
        !self.join && self.members.iter().map(|member| member.id).min() == Some(self.node_id)
    }
}

/// Defaults chosen so a leader is replaced well within 3 s on a loaded
/// machine while heartbeats stay cheap.
const HEARTBEAT_INTERVAL_MS: u64 = 100;
const ELECTION_TIMEOUT_MIN_MS: u64 = 400;
const ELECTION_TIMEOUT_MAX_MS: u64 = 800;
const SNAPSHOT_LOGS_SINCE_LAST: u64 = 100_000;
const LOG_SEGMENT_MB: u64 = 64;
/// Smallest segment: one entry of the largest size must fit.
const LOG_SEGMENT_MB_MIN: u64 = 16;

fn raft_config(
    section: RaftSection,
    flags: &Flags,
    bind: IpAddr,
    port: u16,
) -> Result<RaftConfig, String> {
    let node_id = flags.node_id.or(section.node_id).unwrap_or(1);
    if node_id == 0 {
        return Err("raft.node_id: must be positive".into());
    }
    let default_raft_port = port
        .checked_add(1000)
        .ok_or("raft.raft_port: client port + 1000 overflows; set raft_port")?;
    let raft_port = flags
        .raft_port
        .or(section.raft_port)
        .unwrap_or(default_raft_port);
    if raft_port == 0 || raft_port == port {
        return Err("raft.raft_port: must be between 1 and 65535 and differ from port".into());
    }
    let members = section.members.unwrap_or_else(|| {
        vec![Member {
            id: node_id,
            host: bind.to_string(),
            port,
            raft_port,
        }]
    });
    validate_members(&members, node_id)?;
    let heartbeat_interval_ms = section
        .heartbeat_interval_ms
        .unwrap_or(HEARTBEAT_INTERVAL_MS);
    let election_timeout_min_ms = section
        .election_timeout_min_ms
        .unwrap_or(ELECTION_TIMEOUT_MIN_MS);
    let election_timeout_max_ms = section
        .election_timeout_max_ms
        .unwrap_or(ELECTION_TIMEOUT_MAX_MS);
    if heartbeat_interval_ms == 0 {
        return Err("raft.heartbeat_interval_ms: must be positive".into());
    }
    if election_timeout_min_ms <= heartbeat_interval_ms {
        return Err("raft.election_timeout_min_ms: must exceed heartbeat_interval_ms".into());
    }
    if election_timeout_max_ms <= election_timeout_min_ms {
        return Err("raft.election_timeout_max_ms: must exceed election_timeout_min_ms".into());
    }
    let snapshot_logs_since_last = section
        .snapshot_logs_since_last
        .unwrap_or(SNAPSHOT_LOGS_SINCE_LAST);
    if snapshot_logs_since_last == 0 {
        return Err("raft.snapshot_logs_since_last: must be positive".into());
    }
    let consistency_text = section
        .read_consistency
        .unwrap_or_else(|| "linearizable".into());
    let read_consistency = ReadConsistency::parse(&consistency_text).ok_or_else(|| {
        format!(
            "raft.read_consistency: '{consistency_text}' is not one of linearizable, lease, stale"
        )
    })?;
    let log_segment_mb = flags
        .raft_log_segment_mb
        .or(section.log_segment_mb)
        .unwrap_or(LOG_SEGMENT_MB);
    if !(LOG_SEGMENT_MB_MIN..=4095).contains(&log_segment_mb) {
        return Err(format!(
            "raft.log_segment_mb: must be between {LOG_SEGMENT_MB_MIN} and 4095"
        ));
    }
    let join = flags.join || section.join.unwrap_or(false);
    Ok(RaftConfig {
        join,
        log_segment_bytes: log_segment_mb << 20,
        node_id,
        raft_port,
        members,
        heartbeat_interval_ms,
        election_timeout_min_ms,
        election_timeout_max_ms,
        snapshot_logs_since_last,
        read_consistency,
    })
}

fn validate_members(members: &[Member], node_id: u64) -> Result<(), String> {
    let mut ids: Vec<u64> = members.iter().map(|member| member.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("raft.members: ids must be unique".into());
    }
    if !ids.contains(&node_id) {
        return Err(format!(
            "raft.members: must include this node (node_id {node_id})"
        ));
    }
    for member in members {
        if member.id == 0 || member.port == 0 || member.raft_port == 0 || member.host.is_empty() {
            return Err(format!(
                "raft.members: member {} needs a positive id, a host, port and raft_port",
                member.id
            ));
        }
    }
    Ok(())
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub admin_port: u16,
    pub threads: usize,
    /// Network loop 0 runs on the Raft thread, not a thread of its own
    /// (`net/event_loop.rs`, `run_as_task`).
    pub clients_on_raft_thread: bool,
    pub data_dir: PathBuf,
    pub requirepass: Option<String>,
    /// Clients allowed at once, as asked for; the server may lower it at
    /// start to fit its open-files limit (see `fd_limit`).
    pub maxclients: u64,
    /// `maxmemory` and the eviction settings (`evict/`).
    pub memory: MemorySettings,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub raft: RaftConfig,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing's human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format), for
    /// log collectors.
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The log levels `--log-level` and `CONFIG SET loglevel` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Parses our names and Redis's `loglevel` names (`warning`,
    /// `notice`, `verbose`).
    pub fn parse(text: &str) -> Option<LogLevel> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Some(LogLevel::Error),
            "warn" | "warning" => Some(LogLevel::Warn),
            "info" | "notice" => Some(LogLevel::Info),
            "debug" | "verbose" => Some(LogLevel::Debug),
            "trace" => Some(LogLevel::Trace),
            _ => None,
        }
    }

    /// The closest of Redis's `loglevel` names.
    pub fn redis_name(self) -> &'static str {
        match self {
            LogLevel::Error | LogLevel::Warn => "warning",
            LogLevel::Info => "notice",
            LogLevel::Debug | LogLevel::Trace => "debug",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// The admin HTTP API's port unless configured. Not 9121, which is
/// redis_exporter's (a Redis host often runs one): no common Redis tool
/// listens on 8379.
pub const ADMIN_PORT_DEFAULT: u16 = 8379;

/// Upper bound on `threads`: more executors than this only add contention.
const THREADS_MAX: usize = 256;
/// Redis's default `maxclients`.
pub const MAXCLIENTS_DEFAULT: u64 = 10_000;
/// Redis's range for `maxclients` (an unsigned int, at least 1).
pub const MAXCLIENTS_RANGE: std::ops::RangeInclusive<u64> = 1..=u32::MAX as u64;

impl Config {
    /// Reads the file named by `--config` (if any), applies the flags over
    /// it and validates the result. The error is one line naming the field.
    pub fn load(flags: &Flags) -> Result<Config, String> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| format!("config: cannot read {}: {err}", path.display()))?;
                parse_file(&text).map_err(|err| format!("config {}: {err}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let server = file.server;
        let bind_text = flags
            .bind
            .clone()
            .or(server.bind)
            .unwrap_or_else(|| "127.0.0.1".into());
        let bind = bind_text
            .parse::<IpAddr>()
            .map_err(|_| format!("server.bind: '{bind_text}' is not an IP address"))?;
        let port = flags.port.or(server.port).unwrap_or(6379);
        if port == 0 {
            return Err("server.port: must be between 1 and 65535".into());
        }
        let admin_port = flags
            .admin_port
            .or(server.admin_port)
            .unwrap_or(ADMIN_PORT_DEFAULT);
        if admin_port == 0 || admin_port == port {
            return Err(
                "server.admin_port: must be between 1 and 65535 and differ from port".into(),
            );
        }
        let default_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = flags.threads.or(server.threads).unwrap_or(default_threads);
        if threads == 0 || threads > THREADS_MAX {
            return Err(format!(
                "server.threads: must be between 1 and {THREADS_MAX}, got {threads}"
            ));
        }
        let clients_on_raft_thread = flags
            .clients_on_raft_thread
            .or(server.clients_on_raft_thread)
            .unwrap_or(false);
        let data_dir = flags
            .data_dir
            .clone()
            .or(server.data_dir)
            .unwrap_or_else(|| "./data".into());
        if data_dir.as_os_str().is_empty() {
            return Err("server.data_dir: must not be empty".into());
        }
        let requirepass = flags
            .requirepass
            .clone()
            .or(server.requirepass)
            .filter(|p| !p.is_empty());
        let maxclients = flags
            .maxclients
            .or(server.maxclients)
            .unwrap_or(MAXCLIENTS_DEFAULT);
        if !MAXCLIENTS_RANGE.contains(&maxclients) {
            return Err(format!(
                "server.maxclients: must be between {} and {}, got {maxclients}",
                MAXCLIENTS_RANGE.start(),
                MAXCLIENTS_RANGE.end()
            ));
        }
        let memory = memory_settings(
            flags,
            MemoryFields {
                maxmemory: server.maxmemory,
                policy: server.maxmemory_policy,
                samples: server.maxmemory_samples,
                tenacity: server.maxmemory_eviction_tenacity,
                lfu_log_factor: server.lfu_log_factor,
                lfu_decay_time: server.lfu_decay_time,
            },
        )?;
        let level_text = flags
            .log_level
            .clone()
            .or(server.log_level)
            .unwrap_or_else(|| "info".into());
        let log_level = LogLevel::parse(&level_text).ok_or_else(|| {
            format!(
                "server.log_level: '{level_text}' is not one of error, warn, info, debug, trace"
            )
        })?;
        let format_text = flags
            .log_format
            .clone()
            .or(server.log_format)
            .unwrap_or_else(|| "text".into());
        let log_format = LogFormat::parse(&format_text).ok_or_else(|| {
            format!("server.log_format: '{format_text}' is not one of text, json")
        })?;
        let raft = raft_config(file.raft, flags, bind, port)?;
        Ok(Config {
            bind,
            port,
            admin_port,
            threads,
            clients_on_raft_thread,
            data_dir,
            requirepass,
            maxclients,
            memory,
            log_level,
            log_format,
            raft,
        })
    }
}

/// The `maxmemory` family as written in `[server]`.
struct MemoryFields {
    maxmemory: Option<toml::Value>,
    policy: Option<String>,
    samples: Option<u64>,
    tenacity: Option<u64>,
    lfu_log_factor: Option<u64>,
    lfu_decay_time: Option<u64>,
}

fn memory_settings(flags: &Flags, fields: MemoryFields) -> Result<MemorySettings, String> {
    let defaults = MemorySettings::default();
    let maxmemory = flags
        .maxmemory
        .clone()
        .map(toml::Value::String)
        .or(fields.maxmemory);
    let maxmemory_bytes = match maxmemory {
        None => defaults.maxmemory_bytes,
        Some(toml::Value::Integer(bytes)) if bytes >= 0 => bytes as u64,
        Some(toml::Value::String(text)) if parse_memory(&text).is_some() => {
            parse_memory(&text).expect("checked")
        }
        Some(other) => return Err(format!("server.maxmemory: {other} is not a memory amount")),
    };
    let policy = match flags.maxmemory_policy.clone().or(fields.policy) {
        None => defaults.policy,
        Some(text) => Policy::parse(&text).ok_or_else(|| {
            format!(
                "server.maxmemory_policy: '{text}' is not one of {}",
                policy::POLICY_ERROR
                    .trim_start_matches("argument(s) must be one of the following: ")
            )
        })?,
    };
    let ranged = |name: &str, value: Option<u64>, default: u64, (min, max): (i64, i64)| {
        let value = value.unwrap_or(default);
        if (min as u64..=max as u64).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "server.{name}: must be between {min} and {max}, got {value}"
            ))
        }
    };
    Ok(MemorySettings {
        maxmemory_bytes,
        policy,
        samples: ranged(
            "maxmemory_samples",
            fields.samples,
            defaults.samples,
            policy::SAMPLES_RANGE,
        )?,
        tenacity: ranged(
            "maxmemory_eviction_tenacity",
            fields.tenacity,
            defaults.tenacity,
            policy::TENACITY_RANGE,
        )?,
        lfu_log_factor: ranged(
            "lfu_log_factor",
            fields.lfu_log_factor,
            defaults.lfu_log_factor,
            policy::LFU_RANGE,
        )?,
        lfu_decay_time_min: ranged(
            "lfu_decay_time",
            fields.lfu_decay_time,
            defaults.lfu_decay_time_min,
            policy::LFU_RANGE,
        )?,
    })
}

fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|err| {
        let message = err.message().replace('\n', " ");
        match err.span().map(|span| place(text, span.start)) {
            Some((line, Some(field))) => format!("{field} (line {line}): {message}"),
            Some((line, None)) => format!("line {line}: {message}"),
            None => message,
        }
    })
}

/// Where byte `offset` of a TOML text is: its line (from 1), and the
/// `section.key` whose value is on that line, if the line holds one.
fn place(text: &str, offset: usize) -> (usize, Option<String>) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(key, _)| key.trim().trim_matches('"').to_string())
        .filter(|key| !key.is_empty() && !key.starts_with('['));
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|header| header.trim_matches(|c| c == '[' || c == ']').to_string());
    let field = key.map(|key| match section {
        Some(section) => format!("{section}.{key}"),
        None => key,
    });
    (line, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, flags: Flags) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("redraft-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.toml"));
        std::fs::write(&path, text).unwrap();
        Config::load(&Flags {
            config: Some(path),
            ..flags
        })
    }

    #[test]
    fn defaults_without_a_file() {
        let config = Config::load(&Flags::default()).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1");
        assert_eq!(config.port, 6379);
        assert_eq!(config.admin_port, 8379);
        assert!(config.threads >= 1);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.requirepass, None);
        assert_eq!(config.maxclients, 10_000);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_override_the_file() {
        let text =
            "[server]\nport = 7000\nthreads = 3\nrequirepass = \"x\"\nlog_format = \"text\"\nmaxclients = 50\n";
        let config = load_text(
            text,
            Flags {
                port: Some(7001),
                log_format: Some("JSON".into()),
                maxclients: Some(60),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.port, 7001);
        assert_eq!(config.threads, 3);
        assert_eq!(config.maxclients, 60);
        assert_eq!(config.requirepass.as_deref(), Some("x"));
    }

    #[test]
    fn raft_defaults_make_a_single_node_cluster() {
        let config = Config::load(&Flags {
            port: Some(7000),
            ..Flags::default()
        })
        .unwrap();
        let raft = &config.raft;
        assert_eq!(raft.node_id, 1);
        assert_eq!(raft.raft_port, 8000);
        assert_eq!(raft.members.len(), 1);
        assert_eq!(raft.members[0].port, 7000);
        assert!(raft.is_initializer());
        assert_eq!(raft.read_consistency, ReadConsistency::Linearizable);
    }

    #[test]
    fn the_lowest_member_id_initializes() {
        let text = "[raft]\nnode_id = 2\n\
                    [[raft.members]]\nid = 1\nhost = \"127.0.0.1\"\nport = 7001\nraft_port = 8001\n\
                    [[raft.members]]\nid = 2\nhost = \"127.0.0.1\"\nport = 7002\nraft_port = 8002\n";
        let config = load_text(text, Flags::default()).unwrap();
        assert!(!config.raft.is_initializer());
        let config = load_text(
            text,
            Flags {
                node_id: Some(1),
                ..Flags::default()
            },
        )
        .unwrap();
        assert!(config.raft.is_initializer());
    }

    #[test]
    fn a_joining_node_never_initializes() {
        let config = load_text("[raft]\njoin = true\n", Flags::default()).unwrap();
        assert!(config.raft.join);
        assert!(!config.raft.is_initializer());
        let config = Config::load(&Flags {
            join: true,
            ..Flags::default()
        })
        .unwrap();
        assert!(config.raft.join && !config.raft.is_initializer());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conf/redraft.toml");
        let config = Config::load(&Flags {
            config: Some(path),
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(config.port, 6379);
        assert_eq!(config.bind.to_string(), "127.0.0.1");
    }

    /// The configurations the Debian package and the container recipe
    /// ship load, and say what their comments say.
    #[test]
    fn the_packaged_configurations_are_valid() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging");
        let load = |file: &str| {
            Config::load(&Flags {
                config: Some(root.join(file)),
                ..Flags::default()
            })
            .unwrap_or_else(|error| panic!("{file}: {error}"))
        };
        let deb = load("deb/redraft.toml");
        assert_eq!(deb.data_dir, PathBuf::from("/var/lib/redraft"));
        assert_eq!(deb.bind.to_string(), "127.0.0.1");
        for id in 1..=3u64 {
            let node = load(&format!("container/node{id}.toml"));
            assert_eq!(node.raft.node_id, id);
            assert_eq!(node.raft.members.len(), 3);
            assert_eq!(node.data_dir, PathBuf::from("/var/lib/redraft"));
        }
    }

    /// `maxmemory` as bytes or Redis's text, the policy by name, the
    /// numbers in range; a flag overrides the file.
    #[test]
    fn memory_settings_from_the_file_and_flags() {
        let text = "[server]\nmaxmemory = \"64mb\"\nmaxmemory_policy = \"ALLKEYS-LFU\"\n\
                    maxmemory_samples = 10\nmaxmemory_eviction_tenacity = 100\n\
                    lfu_log_factor = 0\nlfu_decay_time = 0\n";
        let config = load_text(text, Flags::default()).unwrap();
        let memory = config.memory;
        assert_eq!(memory.maxmemory_bytes, 64 << 20);
        assert_eq!(memory.policy, Policy::AllKeysLfu);
        assert_eq!((memory.samples, memory.tenacity), (10, 100));
        assert_eq!((memory.lfu_log_factor, memory.lfu_decay_time_min), (0, 0));
        let config = load_text("[server]\nmaxmemory = 1000\n", Flags::default()).unwrap();
        assert_eq!(config.memory.maxmemory_bytes, 1000);
        assert_eq!(config.memory.policy, Policy::NoEviction);
        let flags = Flags {
            maxmemory: Some("2gb".into()),
            maxmemory_policy: Some("volatile-ttl".into()),
            ..Flags::default()
        };
        let config = load_text(text, flags).unwrap();
        assert_eq!(config.memory.maxmemory_bytes, 2 << 30);
        assert_eq!(config.memory.policy, Policy::VolatileTtl);
        let config = load_text("", Flags::default()).unwrap();
        assert_eq!(config.memory, MemorySettings::default());
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("[server]\nport = 0\n", "server.port"),
            ("[server]\nthreads = 0\n", "server.threads"),
            ("[server]\nbind = \"nowhere\"\n", "server.bind"),
            ("[server]\nlog_level = \"loud\"\n", "server.log_level"),
            ("[server]\nlog_format = \"xml\"\n", "server.log_format"),
            ("[server]\nadmin_port = 6379\n", "server.admin_port"),
            ("[server]\nmaxclients = 0\n", "server.maxclients"),
            ("[server]\nmaxclients = 4294967296\n", "server.maxclients"),
            ("[server]\nmaxmemory = \"1.5mb\"\n", "server.maxmemory"),
            ("[server]\nmaxmemory = -1\n", "server.maxmemory"),
            ("[server]\nmaxmemory = 1.5\n", "server.maxmemory"),
            ("[server]\nmaxmemory_policy = \"lru\"\n", "server.maxmemory_policy"),
            ("[server]\nmaxmemory_samples = 0\n", "server.maxmemory_samples"),
            ("[server]\nmaxmemory_eviction_tenacity = 101\n", "server.maxmemory_eviction_tenacity"),
            ("[server]\nlfu_log_factor = 2147483648\n", "server.lfu_log_factor"),
            ("[server]\nlfu_decay_time = 2147483648\n", "server.lfu_decay_time"),
            ("[server]\nprot = 1\n", "unknown field `prot`"),
            ("[server]\nport = \"x\"\n", "server.port (line 2): invalid type"),
            ("[server]\nbind = \"127.0.0.1\"\n\n[raft]\nnode_id = \"one\"\n", "raft.node_id (line 5): invalid type"),
            ("[server]\nthreads = [1]\n", "server.threads (line 2): invalid type"),
            ("[raft]\nnode_id = 0\n", "raft.node_id"),
            ("[raft]\nraft_port = 6379\n", "raft.raft_port"),
            ("[raft]\nelection_timeout_min_ms = 50\n", "raft.election_timeout_min_ms"),
            ("[raft]\nelection_timeout_max_ms = 400\n", "raft.election_timeout_max_ms"),
            ("[raft]\nsnapshot_logs_since_last = 0\n", "raft.snapshot_logs_since_last"),
            ("[raft]\nread_consistency = \"eventual\"\n", "raft.read_consistency"),
            ("[raft]\nnode_id = 4\n[[raft.members]]\nid = 1\nhost = \"127.0.0.1\"\nport = 7001\nraft_port = 8001\n", "must include this node"),
            ("[[raft.members]]\nid = 1\nhost = \"a\"\nport = 1\nraft_port = 2\n[[raft.members]]\nid = 1\nhost = \"b\"\nport = 3\nraft_port = 4\n", "unique"),
        ];
        for (text, needle) in cases {
            let err = load_text(text, Flags::default()).unwrap_err();
            assert!(
                err.contains(needle),
                "{text:?} gave {err:?}, expected {needle:?}"
            );
            assert!(!err.contains('\n'), "error must be one line: {err:?}");
        }
    }
}
