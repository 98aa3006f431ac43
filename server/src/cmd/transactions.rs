//! Transaction commands: MULTI, EXEC, DISCARD, WATCH and UNWATCH (see
//! `crate::cmd::multi` for how a transaction is queued, replicated and
//! applied).
//!
//! Queueing itself happens in the connection, before any handler runs:
//! inside `MULTI` only these commands (and QUIT) reach their handlers.

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::flags::{FAST, LOADING, NOSCRIPT, READS_KEYS, STALE};
use super::multi::{self, Exec, Transaction, Watch, EXECABORT_ERROR};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: super::Handler,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, handler, "transactions", summary).since(since)
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        multi,
        "Starts a transaction.",
        "1.2.0",
    ),
    spec(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        exec,
        "Executes all commands in a transaction.",
        "1.2.0",
    ),
    spec(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        discard,
        "Discards a transaction.",
        "2.0.0",
    ),
    spec(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | READS_KEYS,
        (1, -1, 1),
        watch,
        "Monitors changes to keys to determine the execution of a transaction.",
        "2.2.0",
    ),
    spec(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        unwatch,
        "Forgets about watched keys of a transaction.",
        "2.2.0",
    ),
];

fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    if ctx.client.multi.is_some() {
        ctx.out.error_text("ERR MULTI calls can not be nested");
    } else {
        ctx.client.multi = Some(multi::Multi::default());
        ctx.out.ok();
    }
    Action::Replied
}

fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    if ctx.client.multi.take().is_none() {
        ctx.out.error_text("ERR DISCARD without MULTI");
    } else {
        ctx.client.watches.clear();
        ctx.out.ok();
    }
    Action::Replied
}

fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let Some(multi) = ctx.client.multi.take() else {
        ctx.out.error_text("ERR EXEC without MULTI");
        return Action::Replied;
    };
    let watches = std::mem::take(&mut ctx.client.watches);
    if multi.failed {
        ctx.out.error_text(EXECABORT_ERROR);
        return Action::Replied;
    }
    if multi.commands.is_empty() && watches.is_empty() {
        ctx.out.array(0);
        return Action::Replied;
    }
    let (db, now_ms, resp3) = (ctx.client.db, ctx.now_ms, ctx.client.resp3);
    let commands = {
        let mut seeds = || ctx.random_seed();
        multi::parse_queue(&multi.commands, db, now_ms, resp3, &mut seeds)
    };
    // The connection's next commands run on the database the queue's
    // SELECTs leave it on (a write after EXEC is proposed before EXEC's
    // reply comes back). Under WATCH the transaction may abort, and then
    // its SELECTs never ran (as in Redis): the next commands wait for the
    // reply, and the SELECTs move the connection when they run there.
    let db_after = multi::db_after(db, &multi.commands);
    let db_after_reply = db_after != db && !watches.is_empty();
    if !db_after_reply {
        ctx.client.set_db(db_after);
    }
    Action::Exec(Box::new(Exec {
        transaction: Transaction {
            resp3,
            watches,
            commands,
        },
        db,
        queued: multi.commands,
        db_after_reply,
    }))
}

fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if ctx.client.multi.is_some() {
        ctx.out.error_text("ERR WATCH inside MULTI is not allowed");
        return Action::Replied;
    }
    let db = ctx.client.db;
    for key in args {
        let watched = ctx
            .client
            .watches
            .iter()
            .any(|watch| usize::from(watch.db) == db && watch.key == key);
        if !watched {
            let stamp = ctx.shared.engine.watch_stamp(db, key, ctx.now_ms);
            ctx.client.watches.push(Watch {
                db: db as u8,
                key: Bytes::copy_from_slice(key),
                stamp,
            });
        }
    }
    ctx.out.ok();
    Action::Replied
}

fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.client.watches.clear();
    ctx.out.ok();
    Action::Replied
}
