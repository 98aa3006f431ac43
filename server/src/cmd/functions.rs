//! `FUNCTION`: Redis 7's function libraries. redraft has no Lua engine
//! yet, so it has no libraries: `FUNCTION FLUSH` (which Redis's own test
//! harness sends before every server block) empties the set of libraries,
//! which is already empty, and answers as Redis does. The other
//! subcommands arrive with scripting.

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::args::is;
use super::flags::{LOADING, NOSCRIPT, STALE};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, "scripting", summary).since("7.0.0")
}

const SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "function|flush",
        -2,
        NOSCRIPT,
        flush,
        "Deleting all functions",
    ),
    spec(
        "function|help",
        2,
        LOADING | STALE,
        help,
        "Show helpful text about the different subcommands",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[spec(
    "function",
    -2,
    0,
    function,
    "A container for function commands",
)
.with_subcommands(SUBCOMMANDS)];

fn function(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // FUNCTION FLUSH takes at most one argument; Redis names the
    // subcommand as it was typed in this error.
    if args.len() > 2 && is(&args[0], "flush") {
        ctx.out.error_text(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&args[0])
        ));
        return Action::Replied;
    }
    let container = super::lookup(b"function").expect("function is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: there are no libraries to delete.
fn flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match args {
        [] => {}
        [mode] if is(mode, "async") || is(mode, "sync") => {}
        _ => {
            ctx.out
                .error_text("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            return Action::Replied;
        }
    }
    ctx.out.simple("OK");
    Action::Replied
}

fn help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "FUNCTION",
        &[
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries. redraft has none yet: function libraries arrive",
            "    with Lua scripting.",
        ],
    )
}
