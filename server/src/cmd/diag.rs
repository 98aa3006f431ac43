//! SLOWLOG, LATENCY and MONITOR: the commands over `crate::diag` (the slow
//! log, the latency monitor and the monitors), with Redis 7.0's replies,
//! errors and help texts.
//!
//! LATENCY is a container with a subcommand table like CONFIG's, so a
//! subcommand (`LATENCY HISTOGRAM`) is one more entry in
//! [`LATENCY_SUBCOMMANDS`].

use bytes::Bytes;
use redraft_engine::int_arg::SLOWLOG_COUNT;
use redraft_engine::ReplySink;

use super::args::is;
use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, "server", summary)
}

const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        slowlog_get,
        "Get the slow log's entries",
    )
    .since("2.2.12"),
    spec(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        slowlog_len,
        "Get the slow log's length",
    )
    .since("2.2.12"),
    spec(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        slowlog_reset,
        "Clear all entries from the slow log",
    )
    .since("2.2.12"),
    spec(
        "slowlog|help",
        2,
        LOADING | STALE,
        slowlog_help,
        "Show helpful text about the different subcommands",
    )
    .since("6.2.0"),
];

/// LATENCY's subcommands.
pub const LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    super::latency_histogram::HISTOGRAM,
    spec(
        "latency|doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency_doctor,
        "Return a human readable latency analysis report.",
    )
    .since("2.8.13"),
    spec(
        "latency|graph",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency_graph,
        "Return a latency graph for the event.",
    )
    .since("2.8.13"),
    spec(
        "latency|history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency_history,
        "Return timestamp-latency samples for the event.",
    )
    .since("2.8.13"),
    spec(
        "latency|latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency_latest,
        "Return the latest latency samples for all events.",
    )
    .since("2.8.13"),
    spec(
        "latency|reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency_reset,
        "Reset latency data for one or more events.",
    )
    .since("2.8.13"),
    spec(
        "latency|help",
        2,
        LOADING | STALE,
        latency_help,
        "Show helpful text about the different subcommands.",
    )
    .since("2.8.13"),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "slowlog",
        -2,
        0,
        slowlog,
        "A container for slow log commands",
    )
    .since("2.2.12")
    .with_subcommands(SLOWLOG_SUBCOMMANDS),
    spec(
        "latency",
        -2,
        0,
        latency,
        "A container for latency diagnostics commands",
    )
    .since("2.8.13")
    .with_subcommands(LATENCY_SUBCOMMANDS),
    spec(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        monitor,
        "Listen for all requests received by the server in real time",
    ),
];

fn slowlog(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // SLOWLOG GET takes at most one argument; Redis names the subcommand
    // as it was typed in this error.
    if args.len() > 2 && is(&args[0], "get") {
        ctx.out.error_text(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
        ));
        return Action::Replied;
    }
    let container = super::lookup(b"slowlog").expect("slowlog is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// Entries `SLOWLOG GET` returns without a count.
const SLOWLOG_GET_DEFAULT: usize = 10;

fn slowlog_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = match args.first().map(|count| SLOWLOG_COUNT.parse(count)) {
        None => SLOWLOG_GET_DEFAULT,
        Some(Ok(-1)) => usize::MAX,
        Some(Ok(count)) => usize::try_from(count).unwrap_or(usize::MAX),
        Some(Err(error)) => return ctx.fail(error),
    };
    let entries = ctx.shared.diag.slowlog.newest(count);
    ctx.out.array(entries.len());
    for entry in entries {
        ctx.out.array(6);
        ctx.out.int(entry.id as i64);
        ctx.out.int(entry.time_s as i64);
        ctx.out.int(entry.duration_us as i64);
        ctx.out.array(entry.args.len());
        for arg in &entry.args {
            ctx.out.bulk(arg);
        }
        ctx.out.bulk(entry.peer.as_bytes());
        ctx.out.bulk(entry.name.as_bytes());
    }
    Action::Replied
}

fn slowlog_len(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.int(ctx.shared.diag.slowlog.len() as i64);
    Action::Replied
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.shared.diag.slowlog.reset();
    ctx.out.ok();
    Action::Replied
}

fn slowlog_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

fn latency(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"latency").expect("latency is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// Unix seconds now.
fn now_s() -> u64 {
    crate::clock::unix_ms() / 1000
}

fn latency_doctor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let diag = &ctx.shared.diag;
    let report = diag.latency.doctor(diag.slowlog.slower_than_us(), now_s());
    ctx.out.verbatim("txt", report.as_bytes());
    Action::Replied
}

fn latency_graph(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match ctx.shared.diag.latency.graph(&args[0], now_s()) {
        Some(graph) => ctx.out.verbatim("txt", graph.as_bytes()),
        None => ctx.out.error_text(&format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(&args[0])
        )),
    }
    Action::Replied
}

fn latency_history(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let samples = ctx.shared.diag.latency.history(&args[0]);
    ctx.out.array(samples.len());
    for (time_s, latency_ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time_s as i64);
        ctx.out.int(latency_ms as i64);
    }
    Action::Replied
}

fn latency_latest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let latest = ctx.shared.diag.latency.latest();
    ctx.out.array(latest.len());
    for line in latest {
        ctx.out.array(4);
        ctx.out.bulk(line.event.as_bytes());
        ctx.out.int(line.time_s as i64);
        ctx.out.int(line.latency_ms as i64);
        ctx.out.int(line.max_ms as i64);
    }
    Action::Replied
}

fn latency_reset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let names: Vec<&[u8]> = args.iter().map(|name| &name[..]).collect();
    let resets = ctx.shared.diag.latency.reset(&names);
    ctx.out.int(resets as i64);
    Action::Replied
}

fn latency_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

/// `MONITOR`: from now on this connection receives every command the node
/// runs (`crate::diag::monitor`). A second MONITOR gets no reply at all,
/// as in Redis.
fn monitor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    if ctx.client.monitoring {
        return Action::Replied;
    }
    ctx.client.monitoring = true;
    ctx.shared.diag.monitors.add(ctx.subscriber);
    ctx.out.ok();
    Action::Replied
}
