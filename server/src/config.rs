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
    /// Admin HTTP port (default 9121).
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// Executor threads, one per core (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory for the Raft log and snapshots (default ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Password clients must give with AUTH (default: none).
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Log level: error, warn, info, debug or trace (default info).
    #[arg(long)]
    pub log_level: Option<String>,
}

/// The `[server]` section as written in the file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    bind: Option<String>,
    port: Option<u16>,
    admin_port: Option<u16>,
    threads: Option<usize>,
    data_dir: Option<PathBuf>,
    requirepass: Option<String>,
    log_level: Option<String>,
}

/// The file's layout. `[raft]` is accepted as a table for now; its fields
/// are defined with Raft replication.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    raft: toml::Table,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub admin_port: u16,
    pub threads: usize,
    pub data_dir: PathBuf,
    pub requirepass: Option<String>,
    pub log_level: LogLevel,
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

/// Upper bound on `threads`: more executors than this only add contention.
const THREADS_MAX: usize = 256;

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
        let _raft = file.raft;
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
        let admin_port = flags.admin_port.or(server.admin_port).unwrap_or(9121);
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
        Ok(Config {
            bind,
            port,
            admin_port,
            threads,
            data_dir,
            requirepass,
            log_level,
        })
    }
}

fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|err| err.message().replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, flags: Flags) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("redraft-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", text.len()));
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
        assert_eq!(config.admin_port, 9121);
        assert!(config.threads >= 1);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.requirepass, None);
        assert_eq!(config.log_level, LogLevel::Info);
    }

    #[test]
    fn flags_override_the_file() {
        let text = "[server]\nport = 7000\nthreads = 3\nrequirepass = \"x\"\n";
        let config = load_text(
            text,
            Flags {
                port: Some(7001),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(config.port, 7001);
        assert_eq!(config.threads, 3);
        assert_eq!(config.requirepass.as_deref(), Some("x"));
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

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("[server]\nport = 0\n", "server.port"),
            ("[server]\nthreads = 0\n", "server.threads"),
            ("[server]\nbind = \"nowhere\"\n", "server.bind"),
            ("[server]\nlog_level = \"loud\"\n", "server.log_level"),
            ("[server]\nadmin_port = 6379\n", "server.admin_port"),
            ("[server]\nprot = 1\n", "unknown field `prot`"),
            ("[server]\nport = \"x\"\n", "invalid type"),
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
