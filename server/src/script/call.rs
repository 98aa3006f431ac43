//! `redis.call` and `redis.pcall`: one command run from a script, parsed by
//! the connection's own parsers (`crate::cmd::parse`) and run against the
//! engine at the script's time.
//!
//! Invariants:
//! - The command sees only its arguments, the script's database and
//!   protocol, the entry's time and seeds from the script's generator:
//!   the same call gives the same result on every node.
//! - A command Redis refuses in scripts (`noscript` flag) is refused with
//!   Redis's text; so is a write in a read-only script.
//! - A command that acts on the node or the connection rather than the
//!   keyspace is refused (except `PING`, `ECHO`, `TIME`, `SELECT`, which
//!   need neither): its answer would differ between nodes.

use bytes::{Bytes, BytesMut};
use redraft_engine::{Engine, Random, ReplySink, WriteOp};

use crate::cmd::{self, flags, KeyCommand, Parse};
use crate::resp::ReplyWriter;

/// What a script's commands run with.
pub struct CallCtx<'a> {
    pub engine: &'a Engine,
    /// The script's database (`SELECT` inside it changes this only).
    pub db: usize,
    pub now_ms: u64,
    /// `redis.setresp(3)` was called.
    pub resp3: bool,
    pub read_only: bool,
    /// Seeds of the commands that pick at random.
    pub random: Random,
    pub on_write: &'a mut dyn FnMut(usize, &WriteOp),
}

/// Runs `args` (command name first) and returns its reply encoded in the
/// script's protocol, or the error text (Redis's, without `-`) that
/// refused it before it ran.
pub fn run(ctx: &mut CallCtx<'_>, args: &[Bytes]) -> Result<BytesMut, String> {
    let name = &args[0];
    let Some(spec) = cmd::lookup(name) else {
        return Err("ERR Unknown Redis command called from script".into());
    };
    let spec = cmd::effective_spec(spec, args);
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.flags & flags::NOSCRIPT != 0 {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    if ctx.read_only && spec.flags & flags::WRITE != 0 {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    let mut out = BytesMut::new();
    let mut writer = ReplyWriter::new(&mut out, ctx.resp3);
    let Some(parse) = spec.parse else {
        node_free(ctx, spec.name, &args[1..], &mut writer)?;
        return Ok(out);
    };
    // A subcommand's parser takes the arguments after the subcommand.
    let skip = if spec.name.contains('|') { 2 } else { 1 };
    let (db, now_ms, resp3) = (ctx.db, ctx.now_ms, ctx.resp3);
    let random = &mut ctx.random;
    let mut seeds = || random.next_u64();
    let parsed = parse(
        &mut Parse::new(name, db, now_ms, resp3, &mut seeds),
        &args[skip..],
    );
    match parsed {
        Err(error) => writer.error(&error),
        Ok(KeyCommand::Read(query)) => ctx.engine.query(db, &query, now_ms, &mut writer),
        Ok(KeyCommand::Write(op)) | Ok(KeyCommand::Block { pop: op, .. }) => {
            if ctx.read_only {
                return Err("ERR Write commands are not allowed from read-only scripts.".into());
            }
            let reply = ctx.engine.apply(db, &op, now_ms);
            (ctx.on_write)(db, &op);
            reply.emit(&mut writer);
        }
    }
    Ok(out)
}

/// The commands without a parser that a script may run: they read
/// neither the node nor the connection.
fn node_free(
    ctx: &mut CallCtx<'_>,
    name: &str,
    args: &[Bytes],
    out: &mut ReplyWriter<'_>,
) -> Result<(), String> {
    match name {
        "ping" => match args {
            [] => out.simple("PONG"),
            [message] => out.bulk(message),
            _ => return Err("ERR wrong number of arguments for 'ping' command".into()),
        },
        "echo" => out.bulk(&args[0]),
        "time" => {
            // The entry's time: the same on every node.
            out.array(2);
            out.bulk((ctx.now_ms / 1000).to_string().as_bytes());
            out.bulk(((ctx.now_ms % 1000) * 1000).to_string().as_bytes());
        }
        "select" => match cmd::parse_db(&args[0]) {
            Ok(db) => {
                ctx.db = db;
                out.ok();
            }
            Err(error) => out.error(&error),
        },
        _ => {
            return Err(format!(
                "ERR redraft does not run '{name}' inside scripts (it answers from one node)"
            ))
        }
    }
    Ok(())
}
