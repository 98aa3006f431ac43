//! COMMAND: the command table as clients see it (`COMMAND`, `COUNT`,
//! `INFO`, `DOCS`, `LIST`), enough for redis-cli's hints and for cluster
//! clients that read key positions, and the keys of a command line
//! (`GETKEYS`, `GETKEYSANDFLAGS`, by Redis's key specs: `key_specs`).

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::args::is;
use super::flags::{LOADING, STALE};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        LOADING | STALE,
        (0, 0, 0),
        handler,
        "server",
        summary,
    )
    .since("2.8.13")
}

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "command|count",
        2,
        command_count,
        "Returns a count of commands.",
    ),
    spec(
        "command|info",
        -2,
        command_info,
        "Returns information about one, multiple or all commands.",
    ),
    spec(
        "command|docs",
        -2,
        command_docs,
        "Returns documentary information about one, multiple or all commands.",
    ),
    spec(
        "command|list",
        -2,
        command_list,
        "Returns a list of command names.",
    ),
    spec(
        "command|getkeys",
        -4,
        command_getkeys,
        "Extract keys given a full Redis command",
    ),
    spec(
        "command|getkeysandflags",
        -4,
        command_getkeysandflags,
        "Extract keys and access flags given a full Redis command",
    )
    .since("7.0.0"),
    spec(
        "command|help",
        2,
        command_help,
        "Returns helpful text about the different subcommands.",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[spec(
    "command",
    -1,
    command,
    "Returns detailed information about all commands.",
)
.with_subcommands(COMMAND_SUBCOMMANDS)];

fn command(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.is_empty() {
        let all = super::table();
        ctx.out.array(all.len());
        for spec in all {
            emit_info(ctx, spec);
        }
        return Action::Replied;
    }
    let container = super::lookup(b"command").expect("command is in the table");
    super::dispatch_sub(ctx, container, args)
}

fn command_count(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.int(super::table().len() as i64);
    Action::Replied
}

/// Finds a command or `container|sub` by its full name.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&byte| byte == b'|') {
        Some(bar) => super::lookup(&name[..bar])
            .and_then(|container| super::lookup_sub(container, &name[bar + 1..])),
        None => super::lookup(name),
    }
}

/// One command's `COMMAND INFO` entry (Redis 7's ten fields).
fn emit_info(ctx: &mut Ctx<'_>, spec: &CommandSpec) {
    ctx.out.array(10);
    ctx.out.bulk(spec.name.as_bytes());
    ctx.out.int(i64::from(spec.arity));
    let flag_names: Vec<&str> = super::flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    ctx.out.set(flag_names.len());
    for name in flag_names {
        ctx.out.simple(name);
    }
    let (first, last, step) = spec.keys;
    ctx.out.int(i64::from(first));
    ctx.out.int(i64::from(last));
    ctx.out.int(i64::from(step));
    ctx.out.set(1);
    ctx.out.simple(&format!("@{}", spec.group));
    ctx.out.array(0);
    emit_key_specs(ctx, spec);
    ctx.out.array(spec.subcommands.len());
    for sub in spec.subcommands {
        emit_info(ctx, sub);
    }
}

/// Redis 7 key specs derived from (first, last, step): one range spec.
fn emit_key_specs(ctx: &mut Ctx<'_>, spec: &CommandSpec) {
    let (first, last, step) = spec.keys;
    if first == 0 {
        ctx.out.array(0);
        return;
    }
    let access = if spec.flags & super::flags::NOT_KEY != 0 {
        "not_key"
    } else if spec.is_write() {
        "RW"
    } else {
        "RO"
    };
    ctx.out.array(1);
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(1);
    ctx.out.simple(access);
    ctx.out.bulk(b"begin_search");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    ctx.out.bulk(b"index");
    ctx.out.bulk(b"spec");
    ctx.out.map(1);
    ctx.out.bulk(b"index");
    ctx.out.int(i64::from(first));
    ctx.out.bulk(b"find_keys");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    ctx.out.bulk(b"range");
    ctx.out.bulk(b"spec");
    ctx.out.map(3);
    ctx.out.bulk(b"lastkey");
    ctx.out
        .int(i64::from(if last < 0 { last } else { last - first }));
    ctx.out.bulk(b"keystep");
    ctx.out.int(i64::from(step));
    ctx.out.bulk(b"limit");
    ctx.out.int(0);
}

fn command_info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.is_empty() {
        return command(ctx, &[]);
    }
    ctx.out.array(args.len());
    for name in args {
        match find(name) {
            Some(spec) => emit_info(ctx, spec),
            None => ctx.out.nil_array(),
        }
    }
    Action::Replied
}

fn emit_docs(ctx: &mut Ctx<'_>, spec: &CommandSpec) {
    let has_subcommands = !spec.subcommands.is_empty();
    ctx.out.bulk(spec.name.as_bytes());
    ctx.out.map(3 + usize::from(has_subcommands));
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.as_bytes());
    if has_subcommands {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            emit_docs(ctx, sub);
        }
    }
}

fn command_docs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let specs: Vec<&CommandSpec> = if args.is_empty() {
        super::table().to_vec()
    } else {
        args.iter().filter_map(|name| find(name)).collect()
    };
    ctx.out.map(specs.len());
    for spec in specs {
        emit_docs(ctx, spec);
    }
    Action::Replied
}

fn command_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let pattern = match args {
        [] => None,
        [filter, kind, value] if is(filter, "filterby") && is(kind, "pattern") => Some(value),
        [filter, _, _] if is(filter, "filterby") => {
            ctx.out.error_text("ERR syntax error");
            return Action::Replied;
        }
        _ => return ctx.fail(redraft_engine::Error::Syntax),
    };
    let names: Vec<&str> = super::table()
        .iter()
        .map(|spec| spec.name)
        .filter(|name| pattern.is_none_or(|p| redraft_engine::glob_match(p, name.as_bytes(), true)))
        .collect();
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name.as_bytes());
    }
    Action::Replied
}

fn command_getkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    getkeys(ctx, args, false)
}

fn command_getkeysandflags(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    getkeys(ctx, args, true)
}

/// The command a command line runs, as Redis's `lookupCommand` finds it:
/// a container's subcommand when one follows (`None` if it is unknown).
fn line_spec(line: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = super::lookup(&line[0])?;
    match line.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => super::lookup_sub(spec, sub),
        _ => Some(spec),
    }
}

/// `COMMAND GETKEYS|GETKEYSANDFLAGS <command line>`, with Redis's checks
/// in its order: a known command, one with keys, its arity, then keys
/// its specs find in the line.
fn getkeys(ctx: &mut Ctx<'_>, line: &[Bytes], with_flags: bool) -> Action {
    let Some(spec) = line_spec(line) else {
        ctx.out.error_text("ERR Invalid command specified");
        return Action::Replied;
    };
    if !super::key_specs::has_keys(spec) {
        ctx.out.error_text("ERR The command has no key arguments");
        return Action::Replied;
    }
    if !spec.arity_ok(line.len()) {
        ctx.out
            .error_text("ERR Invalid number of arguments specified for command");
        return Action::Replied;
    }
    let Some(keys) = super::key_specs::keys(spec, line) else {
        ctx.out
            .error_text("ERR Invalid arguments specified for command");
        return Action::Replied;
    };
    ctx.out.array(keys.len());
    for key in keys {
        if with_flags {
            ctx.out.array(2);
        }
        ctx.out.bulk(&line[key.position]);
        if with_flags {
            ctx.out.set(key.flags.len());
            for flag in key.flags {
                ctx.out.simple(flag);
            }
        }
    }
    Action::Replied
}

fn command_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}
