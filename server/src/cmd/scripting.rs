//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT
//! (LOAD, EXISTS, FLUSH, HELP).
//!
//! A script that may write is proposed as one log entry
//! (`Op::Script`: the body for `EVAL`, the SHA1 for `EVALSHA`, the keys,
//! the arguments, a seed) and runs at apply on every node (see
//! `crate::script`). `EVAL_RO`, `EVALSHA_RO` and a script whose shebang
//! says `flags=no-writes` run on this node as a read, behind the
//! connection's pending writes and the read gate, without an entry.
//! `SCRIPT LOAD` and `SCRIPT FLUSH` go through the log: the cache is
//! replicated state. `SCRIPT EXISTS` reads this node's copy of it.
//!
//! Invariants:
//! - Only a body that compiles is proposed (Redis caches only those), so
//!   apply never caches a script that cannot run.
//! - An `EVALSHA` entry carries the SHA1 only; the body is the cache's at
//!   apply, the same on every node.

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::flags::{MOVABLEKEYS, NOSCRIPT, READONLY, STALE};
use super::{Action, CommandSpec, Ctx};
use crate::apply::{
    sha1_hex, Op, Queued, ScriptCall, ScriptRun, Source, NOSCRIPT_ERROR, SCRIPT_INSTRUCTIONS_MAX,
    SCRIPT_MEMORY_MAX,
};
use crate::raft::status::ReadGate;

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, "scripting", summary)
}

const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "script|load",
        3,
        NOSCRIPT | STALE,
        script_load,
        "Loads a server-side Lua script to the script cache.",
    )
    .since("2.6.0"),
    spec(
        "script|exists",
        -3,
        NOSCRIPT,
        script_exists,
        "Determines whether server-side Lua scripts exist in the script cache.",
    )
    .since("2.6.0"),
    spec(
        "script|flush",
        -2,
        NOSCRIPT,
        script_flush,
        "Removes all server-side Lua scripts from the script cache.",
    )
    .since("2.6.0"),
    spec(
        "script|help",
        2,
        NOSCRIPT | STALE,
        script_help,
        "Returns helpful text about the different subcommands.",
    )
    .since("5.0.0"),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "eval",
        -3,
        NOSCRIPT | STALE | MOVABLEKEYS,
        eval,
        "Executes a server-side Lua script.",
    )
    .since("2.6.0"),
    spec(
        "evalsha",
        -3,
        NOSCRIPT | STALE | MOVABLEKEYS,
        evalsha,
        "Executes a server-side Lua script by SHA1 digest.",
    )
    .since("2.6.0"),
    spec(
        "eval_ro",
        -3,
        NOSCRIPT | STALE | MOVABLEKEYS | READONLY,
        eval_ro,
        "Executes a read-only server-side Lua script.",
    )
    .since("7.0.0"),
    spec(
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | MOVABLEKEYS | READONLY,
        evalsha_ro,
        "Executes a read-only server-side Lua script by SHA1 digest.",
    )
    .since("7.0.0"),
    spec(
        "script",
        -2,
        0,
        script,
        "A container for Lua scripts management commands.",
    )
    .since("2.6.0")
    .with_subcommands(SCRIPT_SUBCOMMANDS),
];

/// `EVAL`-style arguments (after the body or SHA1): the keys and args.
fn keys_and_args(args: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), &'static str> {
    let numkeys =
        super::args::parse_i64(&args[1]).ok_or("ERR value is not an integer or out of range")?;
    let rest = &args[2..];
    if numkeys > rest.len() as i64 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    let (keys, argv) = rest.split_at(numkeys as usize);
    Ok((keys.to_vec(), argv.to_vec()))
}

/// What an `EVAL*` runs: `None` once the reply is written (an error).
fn call(ctx: &mut Ctx<'_>, args: &[Bytes], source: Source) -> Option<ScriptCall> {
    match keys_and_args(args) {
        Ok((keys, args)) => Some(ScriptCall {
            source,
            keys,
            args,
            resp3: ctx.client.resp3,
            seed: ctx.random_seed(),
            read_only: false,
        }),
        Err(text) => {
            ctx.out.error_text(text);
            None
        }
    }
}

/// A scripting command queued in `MULTI` (`args` with the command's name;
/// `name` the effective spec's), as the transaction carries it: `None` if
/// it is none of `EVAL*`, `SCRIPT LOAD|FLUSH|EXISTS`. They run at apply
/// with the transaction, `EVAL_RO` and `EVALSHA_RO` refusing writes there.
pub fn queued(
    name: &str,
    args: &[Bytes],
    db: usize,
    resp3: bool,
    seeds: &mut dyn FnMut() -> u64,
) -> Option<Queued> {
    let fail = |text: String| Some(Queued::Fail(redraft_engine::Error::Text(text.into())));
    let read_only = match name {
        "eval" | "evalsha" => false,
        "eval_ro" | "evalsha_ro" => true,
        "script|load" => {
            return match crate::script::check(&args[2]) {
                Ok(_) => Some(Queued::ScriptLoad(args[2].clone())),
                Err(text) => fail(text),
            };
        }
        "script|exists" => {
            let shas = args[2..].iter().map(|arg| sha_of(arg)).collect();
            return Some(Queued::ScriptExists(shas));
        }
        "script|flush" => {
            return match flush_mode_ok(&args[2..]) {
                true => Some(Queued::ScriptFlush),
                false => fail(FLUSH_MODE_ERROR.to_string()),
            };
        }
        _ => return None,
    };
    let source = if name.starts_with("evalsha") {
        match sha_of(&args[1]) {
            Some(sha) => Source::Sha(sha),
            None => return fail(NOSCRIPT_ERROR.to_string()),
        }
    } else {
        if let Err(text) = crate::script::check(&args[1]) {
            return fail(text);
        }
        Source::Body(args[1].clone())
    };
    let (keys, argv) = match keys_and_args(&args[1..]) {
        Ok(split) => split,
        Err(text) => return fail(text.to_string()),
    };
    Some(Queued::Script {
        db: db as u8,
        call: Box::new(ScriptCall {
            source,
            keys,
            args: argv,
            resp3,
            seed: seeds(),
            read_only,
        }),
    })
}

/// The body an `EVALSHA` names, from this node's cache (for one that may
/// run as a read); `None` if this node lacks it.
fn cached(ctx: &Ctx<'_>, sha: &str) -> Option<Bytes> {
    ctx.shared.scripts.get(sha)
}

fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let body = args[0].clone();
    let shebang = match ensure_compiles(ctx, &body) {
        Ok(shebang) => shebang,
        Err(text) => {
            ctx.out.error_text(&text);
            return Action::Replied;
        }
    };
    let Some(call) = call(ctx, args, Source::Body(body.clone())) else {
        return Action::Replied;
    };
    if shebang.no_writes {
        return read_here(ctx, &body, call);
    }
    Action::Propose(Op::Script(Box::new(call)))
}

fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(sha) = sha_of(&args[0]) else {
        ctx.out.error_text(NOSCRIPT_ERROR);
        return Action::Replied;
    };
    let Some(call) = call(ctx, args, Source::Sha(sha.clone())) else {
        return Action::Replied;
    };
    // A no-writes script this node holds runs here; any other goes
    // through the log, where the cache at apply decides (NOSCRIPT too).
    if let Some(body) = cached(ctx, &sha) {
        if crate::script::parse_shebang(&body).is_ok_and(|s| s.no_writes) {
            return read_here(ctx, &body, call);
        }
    }
    Action::Propose(Op::Script(Box::new(call)))
}

fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let body = args[0].clone();
    if let Err(text) = ensure_compiles(ctx, &body) {
        ctx.out.error_text(&text);
        return Action::Replied;
    }
    let Some(call) = call(ctx, args, Source::Body(body.clone())) else {
        return Action::Replied;
    };
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    run_here(ctx, &body, call)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // As Redis: the SHA1's length, then the key count, then the cache.
    let Some(sha) = sha_of(&args[0]) else {
        ctx.out.error_text(NOSCRIPT_ERROR);
        return Action::Replied;
    };
    if let Err(text) = keys_and_args(args) {
        ctx.out.error_text(text);
        return Action::Replied;
    }
    if ctx.writes_pending {
        // A pending SCRIPT LOAD of this connection may add it.
        return Action::WaitForWrites;
    }
    let Some(body) = cached(ctx, &sha) else {
        ctx.out.error_text(NOSCRIPT_ERROR);
        return Action::Replied;
    };
    let Some(call) = call(ctx, args, Source::Sha(sha)) else {
        return Action::Replied;
    };
    run_here(ctx, &body, call)
}

/// Runs a `no-writes` script (which `EVAL`, not `EVAL_RO`, names, so the
/// dispatcher's read gate has not run) as a read: behind the
/// connection's pending writes and this node's read check.
fn read_here(ctx: &mut Ctx<'_>, body: &Bytes, call: ScriptCall) -> Action {
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    let raft = &ctx.shared.raft;
    match ctx.read_checked {
        Some(true) => {}
        Some(false) => {
            ctx.out.error_text(&raft.refusal(0));
            return Action::Replied;
        }
        None => match raft.read_gate(ctx.client.consistency, || 0, ctx.now_ms) {
            ReadGate::Run => {}
            ReadGate::Check => return Action::CheckThenRetry,
            ReadGate::Redirect(error) => {
                ctx.out.error_text(&error);
                return Action::Replied;
            }
        },
    }
    run_here(ctx, body, call)
}

/// Runs a read-only script on this node, against its state at the
/// connection's time; a write inside fails with Redis's error.
fn run_here(ctx: &mut Ctx<'_>, body: &Bytes, call: ScriptCall) -> Action {
    let mut on_write = |_: usize, _: &redraft_engine::WriteOp| {
        unreachable!("a read-only script refuses writes before they run")
    };
    let encoded = crate::script::run(&mut ScriptRun {
        engine: &ctx.shared.engine,
        db: ctx.client.db,
        body,
        call: &call,
        now_ms: ctx.now_ms,
        read_only: true,
        on_write: &mut on_write,
        instructions_max: SCRIPT_INSTRUCTIONS_MAX,
        memory_max: SCRIPT_MEMORY_MAX,
    });
    ctx.out.encoded(&encoded);
    Action::Replied
}

/// The lower-case SHA1 an `EVALSHA` names, if it can name one.
fn sha_of(arg: &[u8]) -> Option<String> {
    if arg.len() != 40 {
        return None;
    }
    Some(String::from_utf8_lossy(arg).to_ascii_lowercase())
}

/// Checks that `body` compiles, unless this node already caches it.
fn ensure_compiles(ctx: &Ctx<'_>, body: &Bytes) -> Result<crate::script::Shebang, String> {
    if ctx.shared.scripts.contains(&sha1_hex(body)) {
        return crate::script::parse_shebang(body);
    }
    crate::script::check(body)
}

fn script(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"script").expect("SCRIPT is in the table");
    super::dispatch_sub(ctx, container, args)
}

fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let body = args[0].clone();
    if let Err(text) = ensure_compiles(ctx, &body) {
        ctx.out.error_text(&text);
        return Action::Replied;
    }
    Action::Propose(Op::ScriptLoad(body))
}

fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    ctx.out.array(args.len());
    for arg in args {
        let known = sha_of(arg).is_some_and(|sha| ctx.shared.scripts.contains(&sha));
        ctx.out.int(i64::from(known));
    }
    Action::Replied
}

/// Redis's reply to a `SCRIPT FLUSH` mode it does not know.
const FLUSH_MODE_ERROR: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";

/// Whether `args` (after `SCRIPT FLUSH`) is a mode Redis accepts.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args {
        [] => true,
        [mode] => mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async"),
        _ => false,
    }
}

fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if !flush_mode_ok(args) {
        ctx.out.error_text(FLUSH_MODE_ERROR);
        return Action::Replied;
    }
    Action::Propose(Op::ScriptFlush)
}

fn script_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}
