//! Server commands: PING, ECHO, INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL,
//! TIME, LASTSAVE.
//!
//! `DBSIZE`, `FLUSHDB` and `FLUSHALL` read or write the keyspace, so they
//! parse into a [`Query`] or a [`WriteOp`] like every keyspace command;
//! the others act on this node or connection and stay handlers.

use bytes::Bytes;
use redraft_engine::{glob_match, Error, Query, ReplySink, WriteOp};

use super::args::is;
use super::flags::{ADMIN, FAST, LOADING, NOSCRIPT, RANDOM, READONLY, STALE, WRITE};
use super::{Action, CommandSpec, Ctx, KeyCommand, Parse};
use crate::config::LogLevel;
use crate::maxmemory::{self as policy, Policy};
use crate::metrics::command_info::{format_percentile, parse_percentiles};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, group, summary)
}

/// A command on the whole keyspace (no key arguments).
const fn keyspace(
    name: &'static str,
    arity: i32,
    flags: u32,
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, (0, 0, 0), parse, "server", summary)
}

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config_get,
        "server",
        "Returns the effective values of configuration parameters.",
    ),
    spec(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config_set,
        "server",
        "Sets configuration parameters in-flight.",
    ),
    spec(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config_resetstat,
        "server",
        "Resets the server's statistics.",
    ),
    spec(
        "config|help",
        2,
        LOADING | STALE,
        config_help,
        "server",
        "Returns helpful text about the different subcommands.",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "ping",
        -1,
        FAST,
        ping,
        "connection",
        "Returns the server's liveliness response.",
    ),
    spec(
        "echo",
        2,
        FAST,
        echo,
        "connection",
        "Returns the given string.",
    ),
    spec(
        "info",
        -1,
        LOADING | STALE,
        info,
        "server",
        "Returns information and statistics about the server.",
    ),
    spec(
        "config",
        -2,
        0,
        config,
        "server",
        "A container for server configuration commands.",
    )
    .with_subcommands(CONFIG_SUBCOMMANDS),
    keyspace(
        "dbsize",
        1,
        READONLY | FAST,
        dbsize,
        "Returns the number of keys in the database.",
    ),
    keyspace(
        "flushdb",
        -1,
        WRITE,
        flushdb,
        "Removes all keys from the current database.",
    ),
    keyspace(
        "flushall",
        -1,
        WRITE,
        flushall,
        "Removes all keys from all databases.",
    ),
    spec(
        "time",
        1,
        LOADING | STALE | FAST | RANDOM,
        time,
        "server",
        "Returns the server time.",
    ),
    spec(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        shutdown,
        "server",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
    ),
    spec(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        lastsave,
        "server",
        "Get the UNIX time stamp of the last successful save to disk",
    ),
];

/// `LASTSAVE`: when this node last made a snapshot of its state durable
/// (see `RaftCounters::snapshot_saved_unix_s`). Every write is durable in
/// the Raft log before it is acknowledged; a snapshot is what lets the log
/// be cut, so it is this node's "save".
fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let counters = &ctx.shared.raft.counters;
    ctx.out.int(
        counters
            .snapshot_saved_unix_s
            .load(std::sync::atomic::Ordering::Relaxed) as i64,
    );
    Action::Replied
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]` (`shutdown.rs`): asks
/// the main thread to stop the node and waits; on success the process
/// exits and the connection closes with no reply, as in Redis. A client
/// served on the Raft thread (`clients_on_raft_thread`) cannot wait for
/// what that thread must do: its connection closes at once, and a failed
/// `SAVE` is only logged.
fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    use crate::shutdown::{Request, NO_SHUTDOWN, SHUTDOWN_FAILED};
    let flags = match crate::shutdown::parse(args) {
        Ok(flags) => flags,
        Err(error) => return ctx.fail(error),
    };
    if flags.abort {
        ctx.out.error_text(NO_SHUTDOWN);
        return Action::Replied;
    }
    let on_raft_thread = tokio::runtime::Handle::try_current().is_ok();
    let (answer, called_off) = std::sync::mpsc::channel();
    let request = Request {
        save: flags.save,
        force: flags.force,
        by: "SHUTDOWN",
        answer: (!on_raft_thread).then_some(answer),
    };
    if !ctx.shared.shutdown.request(request) {
        ctx.out.error_text(SHUTDOWN_FAILED);
        return Action::Replied;
    }
    if on_raft_thread {
        return Action::Close;
    }
    // The main thread exits the process, or says why it did not.
    match called_off.recv() {
        Ok(_) => {
            ctx.out.error_text(SHUTDOWN_FAILED);
            Action::Replied
        }
        Err(_) => Action::Close,
    }
}

fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if !ctx.out.is_resp3() && ctx.client.subscribed() && args.len() <= 1 {
        // In RESP2's subscribed mode Redis answers in the shape of a message.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out
            .bulk(args.first().map_or(&b""[..], |message| &message[..]));
        return Action::Replied;
    }
    match args {
        [] => ctx.out.simple("PONG"),
        [message] => ctx.out.bulk(message),
        _ => return super::arity_error(ctx, "ping"),
    }
    Action::Replied
}

fn echo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.out.bulk(&args[0]);
    Action::Replied
}

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let text = crate::info::render(ctx.shared, args);
    ctx.out.verbatim("txt", text.as_bytes());
    Action::Replied
}

fn config(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"config").expect("config is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// A parameter `CONFIG GET` reports.
struct Param {
    name: &'static str,
    /// Whether `CONFIG SET` may change it.
    mutable: bool,
}

const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        mutable: false,
    },
    Param {
        name: "port",
        mutable: false,
    },
    Param {
        name: "databases",
        mutable: false,
    },
    Param {
        name: "dir",
        mutable: false,
    },
    Param {
        name: "requirepass",
        mutable: true,
    },
    Param {
        name: "loglevel",
        mutable: true,
    },
    Param {
        name: "save",
        mutable: false,
    },
    Param {
        name: "appendonly",
        mutable: false,
    },
    Param {
        name: "appendfsync",
        mutable: false,
    },
    Param {
        name: "proto-max-bulk-len",
        mutable: false,
    },
    Param {
        name: "timeout",
        mutable: false,
    },
    Param {
        name: "slowlog-log-slower-than",
        mutable: true,
    },
    Param {
        name: "slowlog-max-len",
        mutable: true,
    },
    Param {
        name: "latency-monitor-threshold",
        mutable: true,
    },
    Param {
        name: "latency-tracking",
        mutable: true,
    },
    Param {
        name: "latency-tracking-info-percentiles",
        mutable: true,
    },
    Param {
        name: "maxclients",
        mutable: true,
    },
    // In the order Redis 7.0 lists them for `maxmemory*` and `lfu*`.
    Param {
        name: "maxmemory-policy",
        mutable: true,
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        mutable: true,
    },
    Param {
        name: "maxmemory",
        mutable: true,
    },
    Param {
        name: "maxmemory-samples",
        mutable: true,
    },
    // Client eviction is not built: reported as off, not settable.
    Param {
        name: "maxmemory-clients",
        mutable: false,
    },
    Param {
        name: "lfu-decay-time",
        mutable: true,
    },
    Param {
        name: "lfu-log-factor",
        mutable: true,
    },
];

/// The range of an integer parameter `CONFIG SET` may change.
fn integer_range(name: &str) -> Option<(i64, i64)> {
    match name {
        "slowlog-log-slower-than" => Some((-1, i64::MAX)),
        "slowlog-max-len" | "latency-monitor-threshold" => Some((0, i64::MAX)),
        "maxclients" => Some((
            *crate::config::MAXCLIENTS_RANGE.start() as i64,
            *crate::config::MAXCLIENTS_RANGE.end() as i64,
        )),
        "maxmemory-samples" => Some(policy::SAMPLES_RANGE),
        "maxmemory-eviction-tenacity" => Some(policy::TENACITY_RANGE),
        "lfu-log-factor" | "lfu-decay-time" => Some(policy::LFU_RANGE),
        _ => None,
    }
}

/// Checks an integer parameter's new value; `Err` is Redis's reason.
fn parse_integer(value: &str, (min, max): (i64, i64)) -> Result<i64, String> {
    let number = super::args::parse_i64(value.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if !(min..=max).contains(&number) {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(number)
}

fn param_value(ctx: &Ctx<'_>, name: &str) -> String {
    let config = &ctx.shared.config;
    let memory = ctx.shared.memory.limits.get();
    match name {
        "bind" => config.bind.to_string(),
        "port" => config.port.to_string(),
        "databases" => redraft_engine::DB_COUNT.to_string(),
        "dir" => std::fs::canonicalize(&config.data_dir)
            .unwrap_or_else(|_| config.data_dir.clone())
            .display()
            .to_string(),
        "requirepass" => ctx
            .shared
            .runtime
            .read()
            .requirepass
            .clone()
            .unwrap_or_default(),
        "loglevel" => ctx.shared.runtime.read().log_level_name.clone(),
        "save" => String::new(),
        // Every write is in the fsynced Raft log before it is acknowledged.
        "appendonly" => "yes".to_string(),
        "appendfsync" => "always".to_string(),
        "proto-max-bulk-len" => (512 * 1024 * 1024).to_string(),
        "timeout" => "0".to_string(),
        "latency-tracking" => yes_no(ctx.shared.command_stats.tracking()).to_string(),
        "latency-tracking-info-percentiles" => ctx
            .shared
            .command_stats
            .info_percentiles()
            .into_iter()
            .map(format_percentile)
            .collect::<Vec<_>>()
            .join(" "),
        "slowlog-log-slower-than" => ctx.shared.diag.slowlog.slower_than_us().to_string(),
        "slowlog-max-len" => ctx.shared.diag.slowlog.max_len().to_string(),
        "latency-monitor-threshold" => ctx.shared.diag.latency.threshold_ms().to_string(),
        "maxclients" => ctx.shared.admission.maxclients().to_string(),
        "maxmemory" => memory.maxmemory_bytes.to_string(),
        "maxmemory-policy" => memory.policy.name().to_string(),
        "maxmemory-samples" => memory.samples.to_string(),
        "maxmemory-clients" => "0".to_string(),
        "maxmemory-eviction-tenacity" => memory.tenacity.to_string(),
        "lfu-log-factor" => memory.lfu_log_factor.to_string(),
        "lfu-decay-time" => memory.lfu_decay_time_min.to_string(),
        _ => unreachable!("{name} is in PARAMS"),
    }
}

/// Whether a CONFIG GET argument is a glob pattern rather than a name.
fn is_pattern(arg: &[u8]) -> bool {
    arg.iter().any(|byte| matches!(byte, b'*' | b'?' | b'['))
}

fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // Each parameter is reported once, under the name the client asked for
    // when it asked by exact name (as Redis 7.0 does), else its own name.
    let mut found: Vec<(&'static str, Bytes)> = Vec::new();
    for arg in args {
        for param in PARAMS {
            let matched = if is_pattern(arg) {
                glob_match(arg, param.name.as_bytes(), true)
            } else {
                arg.eq_ignore_ascii_case(param.name.as_bytes())
            };
            if matched && !found.iter().any(|(name, _)| *name == param.name) {
                let shown = if is_pattern(arg) {
                    Bytes::from_static(param.name.as_bytes())
                } else {
                    arg.clone()
                };
                found.push((param.name, shown));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, shown) in found {
        ctx.out.bulk(&shown);
        ctx.out.bulk(param_value(ctx, name).as_bytes());
    }
    Action::Replied
}

fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if !args.len().is_multiple_of(2) {
        return super::arity_error(ctx, "config|set");
    }
    // Validate every pair before changing anything, as Redis does.
    let mut changes = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks_exact(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let Some(param) = PARAMS.iter().find(|param| param.name == name) else {
            ctx.out.error_text(&format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
            return Action::Replied;
        };
        if !param.mutable {
            ctx.out.error_text(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
            return Action::Replied;
        }
        if let Err(reason) = validate(param.name, &value) {
            ctx.out.error_text(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ));
            return Action::Replied;
        }
        if let Some(range) = integer_range(param.name) {
            if let Err(reason) = parse_integer(&value, range) {
                ctx.out.error_text(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
                ));
                return Action::Replied;
            }
        }
        changes.push((param.name, value));
    }
    // Once every value parses, as Redis applies them: a maxclients the
    // open-files limit cannot be raised for is refused, with the most it
    // can hold, and nothing changes.
    for (name, value) in &changes {
        if *name != "maxclients" {
            continue;
        }
        let range = integer_range(name).expect("an integer parameter");
        let requested = parse_integer(value, range).expect("validated above") as u64;
        if let Err(fitting) = ctx.shared.admission.set_maxclients(requested) {
            ctx.out.error_text(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - The operating \
                 system is not able to handle the specified number of clients, try with {fitting}"
            ));
            return Action::Replied;
        }
    }
    for (name, value) in changes {
        let integer = || {
            let range = integer_range(name).expect("an integer parameter");
            parse_integer(&value, range).expect("validated above")
        };
        let diag = &ctx.shared.diag;
        match name {
            "requirepass" => {
                ctx.shared.runtime.write().requirepass = Some(value).filter(|v| !v.is_empty());
            }
            "loglevel" => {
                let level = LogLevel::parse(&value).expect("validated above");
                let mut runtime = ctx.shared.runtime.write();
                runtime.log_level = level;
                runtime.log_level_name = value.to_ascii_lowercase();
                (ctx.shared.set_log_level)(level);
            }
            "latency-tracking" => ctx
                .shared
                .command_stats
                .set_tracking(parse_yes_no(&value) == Some(true)),
            "latency-tracking-info-percentiles" => ctx
                .shared
                .command_stats
                .set_info_percentiles(parse_percentiles(&value).expect("validated above")),
            "slowlog-log-slower-than" => diag.slowlog.set_slower_than_us(integer()),
            "slowlog-max-len" => diag.slowlog.set_max_len(integer()),
            "latency-monitor-threshold" => diag.latency.set_threshold_ms(integer()),
            // Set above, where it could be refused.
            "maxclients" => {}
            "maxmemory"
            | "maxmemory-policy"
            | "maxmemory-samples"
            | "maxmemory-eviction-tenacity"
            | "lfu-log-factor"
            | "lfu-decay-time" => set_memory(ctx, name, &value),
            _ => unreachable!("only mutable parameters reach here"),
        }
    }
    ctx.out.ok();
    Action::Replied
}

/// Stores one validated `maxmemory`-family value.
fn set_memory(ctx: &Ctx<'_>, name: &str, value: &str) {
    let mut settings = ctx.shared.memory.limits.get();
    let integer = || super::args::parse_i64(value.as_bytes()).expect("validated above") as u64;
    match name {
        "maxmemory" => {
            settings.maxmemory_bytes = policy::parse_memory(value).expect("validated above");
            let used = ctx.shared.engine.stats().used_memory_bytes;
            if settings.maxmemory_bytes != 0 && settings.maxmemory_bytes < used {
                tracing::warn!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than \
                     the current memory usage ({used}). This will result in key eviction \
                     and/or the inability to accept new write commands depending on the \
                     maxmemory-policy.",
                    settings.maxmemory_bytes
                );
            }
        }
        "maxmemory-policy" => settings.policy = Policy::parse(value).expect("validated above"),
        "maxmemory-samples" => settings.samples = integer(),
        "maxmemory-eviction-tenacity" => settings.tenacity = integer(),
        "lfu-log-factor" => settings.lfu_log_factor = integer(),
        "lfu-decay-time" => settings.lfu_decay_time_min = integer(),
        _ => unreachable!("{name} is a maxmemory parameter"),
    }
    ctx.shared.memory.set(settings);
}

/// Checks a new value for a mutable parameter; the error is Redis's text.
fn validate(name: &str, value: &str) -> Result<(), &'static str> {
    match name {
        "maxmemory" if policy::parse_memory(value).is_none() => Err(policy::MEMORY_ERROR),
        "maxmemory-policy" if Policy::parse(value).is_none() => Err(policy::POLICY_ERROR),
        "loglevel" if LogLevel::parse(value).is_none() => {
            Err("argument(s) must be one of the following: debug, verbose, notice, warning")
        }
        "latency-tracking" if parse_yes_no(value).is_none() => {
            Err("argument must be 'yes' or 'no'")
        }
        "latency-tracking-info-percentiles" => parse_percentiles(value).map(|_| ()),
        _ => Ok(()),
    }
}

fn yes_no(on: bool) -> &'static str {
    if on {
        "yes"
    } else {
        "no"
    }
}

/// A boolean parameter's value (`yes` or `no`, any case).
fn parse_yes_no(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if value.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.shared.reset_stats();
    ctx.out.ok();
    Action::Replied
}

fn config_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    )
}

fn dbsize(_parse: &mut Parse<'_>, _args: &[Bytes]) -> Result<KeyCommand, Error> {
    Ok(KeyCommand::Read(Query::DbSize))
}

/// FLUSHDB and FLUSHALL accept one optional ASYNC or SYNC.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args {
        [] => true,
        [mode] => is(mode, "async") || is(mode, "sync"),
        _ => false,
    }
}

fn flushdb(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    if !flush_mode_ok(args) {
        return Err(Error::Syntax);
    }
    Ok(KeyCommand::Write(WriteOp::FlushDb))
}

fn flushall(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    if !flush_mode_ok(args) {
        return Err(Error::Syntax);
    }
    Ok(KeyCommand::Write(WriteOp::FlushAll))
}

fn time(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut buffer = itoa::Buffer::new();
    ctx.out.array(2);
    ctx.out.bulk(buffer.format(now.as_secs()).as_bytes());
    ctx.out.bulk(buffer.format(now.subsec_micros()).as_bytes());
    Action::Replied
}
