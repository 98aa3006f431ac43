//! The command table: every command's name, Redis arity, flags, key
//! positions and its parser or handler, in one static list.
//!
//! A keyspace command (one that reads or writes replicated state) has a
//! parser ([`parse::Parser`]): it turns the arguments into a
//! [`KeyCommand`], a [`Query`](redraft_engine::Query) that a read answers
//! from the engine or a [`WriteOp`](redraft_engine::WriteOp) for the write
//! path, and never sees the node. Every other command has a handler, which
//! acts on this node or connection (`CLIENT`, `CONFIG`, `WAIT`, `OBJECT
//! IDLETIME`, ...) with a [`Ctx`]. Neither applies writes: the write path
//! is the one place a write enters the engine, and apply runs parsed ops
//! only (see `multi`). The table's tests check that every
//! command naming keys or flagged as a read or write has a parser, except
//! a short, commented list of node-local ones.
//!
//! Invariants:
//! - Names are lower case and unique; lookup is case-insensitive.
//! - Arity is Redis's: positive is exact, negative is a minimum, both
//!   counting the command name. The dispatcher checks it before the handler
//!   runs, so a handler may index the arguments the arity guarantees.

pub mod args;
mod bitmaps;
mod blocking;
mod cluster;
mod connection;
mod diag;
mod dump;
mod functions;
mod geo;
mod hashes;
mod hll;
mod inspect;
mod introspection;
mod key_specs;
mod keys;
mod latency_histogram;
mod lists;
pub mod multi;
pub mod parse;
mod pubsub;
mod replication;
pub mod scripting;
mod server;
mod sets;
mod sort;
mod streams;
mod strings;
mod transactions;
mod zsets;

pub use keys::parse_db;
pub use parse::{KeyCommand, KeyOp, Parse, Parser};

use std::sync::OnceLock;

use bytes::Bytes;
use redraft_engine::{Error, Random, Reply, ReplySink, WriteOp};
use rustc_hash::FxHashMap;

use crate::client::Client;
use crate::config::ReadConsistency;
use crate::raft::status::ReadGate;
use crate::resp::ReplyWriter;
use crate::shared::Shared;

/// Command flags, as `COMMAND INFO` reports them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const ADMIN: u32 = 1 << 2;
    pub const FAST: u32 = 1 << 3;
    /// Allowed before AUTH when `requirepass` is set.
    pub const NO_AUTH: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    /// Grows memory (`denyoom` in Redis).
    pub const DENYOOM: u32 = 1 << 7;
    pub const NOSCRIPT: u32 = 1 << 8;
    pub const RANDOM: u32 = 1 << 9;
    pub const SORT_FOR_SCRIPT: u32 = 1 << 10;
    /// Not a Redis flag (never listed): the command reads keys and so
    /// passes the read gate (leadership check, redirect) like a read.
    pub const READS_KEYS: u32 = 1 << 16;
    pub const BLOCKING: u32 = 1 << 11;
    /// Keys beyond the fixed positions (`SORT ... STORE dst`).
    pub const MOVABLEKEYS: u32 = 1 << 12;
    /// Not a Redis flag (never listed): a command Redis flags `readonly`
    /// that may still write (`PFCOUNT` storing its cached count), so it
    /// is routed as a write and answered as a read only when it changes
    /// nothing (`Engine::answer_without_write`).
    pub const MAY_WRITE: u32 = 1 << 17;
    /// Not a Redis command flag (never listed): the key positions name
    /// channels, not keys (sharded pub/sub), as Redis's `not_key` key
    /// spec says; they are shown in `COMMAND INFO` for cluster clients and
    /// are no keys to `COMMAND GETKEYS`.
    pub const NOT_KEY: u32 = 1 << 18;

    /// Names in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (NOSCRIPT, "noscript"),
        (RANDOM, "random"),
        (SORT_FOR_SCRIPT, "sort_for_script"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (NO_AUTH, "no_auth"),
        (FAST, "fast"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// What a handler asks the connection to do next.
pub enum Action {
    /// The reply has been written.
    Replied,
    /// Apply this write through the write path and reply with its result.
    Write(WriteOp),
    /// Write the reply, then close the connection (QUIT).
    Close,
    /// Nothing was written: run this command again once the connection's
    /// pending writes are applied, because its reply depends on the state
    /// they leave (a write command whose error depends on a key).
    WaitForWrites,
    /// Propose `op`, a blocking command's pop: if it pops nothing, wait
    /// on `keys` until a write may have filled one (then propose it
    /// again) or for `timeout_ms` (`None`: for ever), then reply a null
    /// array.
    Block {
        op: WriteOp,
        keys: Vec<Bytes>,
        timeout_ms: Option<u64>,
    },
    /// `WAIT`: reply how many followers hold everything this node has
    /// applied, once `wanted` do or after `timeout_ms` (`None`: for ever).
    WaitReplicas {
        wanted: i64,
        timeout_ms: Option<u64>,
    },
    /// Nothing was written: run this command again once this node has
    /// passed a linearizable read check (see [`Ctx::answer_if_missing`]).
    CheckThenRetry,
    /// Propose this transaction (`EXEC`) and reply with its replies.
    Exec(Box<multi::Exec>),
    /// Propose `op` (a script, `SCRIPT LOAD`, `SCRIPT FLUSH`: commands
    /// Redis does not flag as writes, redirected by the connection) and
    /// reply with its outcome.
    Propose(crate::apply::Op),
}

/// The state a handler works with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    /// Unix milliseconds, read once per batch of commands (Redis's
    /// `commandTimeSnapshot`): reads judge expiry by it.
    pub now_ms: u64,
    pub client: &'a mut Client,
    pub out: ReplyWriter<'a>,
    /// This connection has writes proposed and not yet applied.
    pub writes_pending: bool,
    /// This connection as a pub/sub subscriber.
    pub subscriber: crate::pubsub::Subscriber,
    /// The result of the read check this command was held for, if any:
    /// `Some(true)` if this node was confirmed leader and up to date.
    pub read_checked: Option<bool>,
}

impl Ctx<'_> {
    /// Writes `error` as the reply and returns `Action::Replied`.
    pub fn fail(&mut self, error: Error) -> Action {
        self.out.error(&error);
        Action::Replied
    }

    /// For a write that changes nothing and answers `nothing` when `key`
    /// is missing (a pop): answers it now, as a linearizable read, without
    /// a Raft entry, when that is safe. Redis does not write such a command
    /// to its AOF either. Safe means this connection has no write pending
    /// (which could create the key) and this node may serve a
    /// linearizable read now; if it needs a read check first, the command
    /// is held for one and run again. `None`: propose the write.
    pub fn answer_if_missing(&mut self, key: &[u8], nothing: Reply) -> Option<Action> {
        if self.writes_pending
            || self
                .shared
                .engine
                .contains(self.client.db, key, self.now_ms)
        {
            return None;
        }
        // A pop answers for the leader's state: never from a stale one,
        // whatever the connection's or the node's read consistency.
        let level = match self.shared.raft.consistency {
            ReadConsistency::Stale => ReadConsistency::Linearizable,
            level => level,
        };
        let may_read = match self.read_checked {
            Some(checked) => checked,
            None => match self.shared.raft.read_gate(Some(level), || 0, self.now_ms) {
                ReadGate::Run => true,
                ReadGate::Check => return Some(Action::CheckThenRetry),
                ReadGate::Redirect(_) => false,
            },
        };
        if !may_read {
            return None;
        }
        nothing.emit(&mut self.out);
        Some(Action::Replied)
    }

    /// A fresh seed for a command that picks at random: a read draws from
    /// it, and a write carries it in its op so every node draws the same.
    /// Drawn on the connection's node (at `EXEC` for a transaction),
    /// never at apply.
    pub fn random_seed(&mut self) -> u64 {
        thread_local! {
            static SEEDS: std::cell::RefCell<Option<Random>> = const { std::cell::RefCell::new(None) };
        }
        SEEDS.with(|seeds| {
            let mut seeds = seeds.borrow_mut();
            let seeds = seeds.get_or_insert_with(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_nanos() as u64);
                Random::new(
                    nanos ^ u64::from(std::process::id()).rotate_left(32) ^ self.client.info.id,
                )
            });
            seeds.next_u64()
        })
    }
}

/// A handler: the arguments exclude the command name.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Action;

/// One command's entry in the table.
pub struct CommandSpec {
    /// Lower-case name (for a subcommand, `container|sub`).
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    /// First key's position (1-based, 0 if no keys), last key (negative
    /// counts from the end) and the step between keys.
    pub keys: (i32, i32, i32),
    /// Runs a command on this node or connection; for a keyspace command
    /// (`parse` set) it is never called.
    pub handler: Handler,
    /// Parses a keyspace command into the op every node runs.
    pub parse: Option<Parser>,
    /// `COMMAND DOCS` summary and group.
    pub summary: &'static str,
    pub group: &'static str,
    pub since: &'static str,
    /// Subcommands (CLIENT, CONFIG, COMMAND); empty otherwise.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command with no subcommands, documented as present since 1.0.0.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        handler: Handler,
        group: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            handler,
            parse: None,
            summary,
            group,
            since: "1.0.0",
            subcommands: &[],
        }
    }

    /// A keyspace command, run through `parse`.
    pub const fn keyspace(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        parse: Parser,
        group: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        CommandSpec {
            parse: Some(parse),
            ..CommandSpec::new(name, arity, flags, keys, parsed_only, group, summary)
        }
    }

    /// The same command, documented as present since `since`.
    pub const fn since(self, since: &'static str) -> CommandSpec {
        CommandSpec { since, ..self }
    }

    /// The same command, as a container of `subcommands`.
    pub const fn with_subcommands(self, subcommands: &'static [CommandSpec]) -> CommandSpec {
        CommandSpec {
            subcommands,
            ..self
        }
    }

    /// Whether the command may write (`WRITE`, or `MAY_WRITE`).
    pub fn is_write(&self) -> bool {
        self.flags & (flags::WRITE | flags::MAY_WRITE) != 0
    }

    /// Whether `argc` (including the name) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// Whether a RESP2 connection in subscribed mode may run `spec`.
pub fn allowed_when_subscribed(spec: &CommandSpec) -> bool {
    pubsub::allowed_when_subscribed(spec.name)
}

/// Every top-level command.
pub fn table() -> &'static [&'static CommandSpec] {
    static TABLE: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all: Vec<&'static CommandSpec> = Vec::new();
        for group in [
            strings::COMMANDS,
            bitmaps::COMMANDS,
            hll::COMMANDS,
            keys::COMMANDS,
            cluster::COMMANDS,
            server::COMMANDS,
            connection::COMMANDS,
            introspection::COMMANDS,
            inspect::COMMANDS,
            lists::COMMANDS,
            pubsub::COMMANDS,
            hashes::COMMANDS,
            sets::COMMANDS,
            zsets::COMMANDS,
            geo::COMMANDS,
            streams::COMMANDS,
            transactions::COMMANDS,
            blocking::COMMANDS,
            replication::COMMANDS,
            sort::COMMANDS,
            dump::COMMANDS,
            diag::COMMANDS,
            functions::COMMANDS,
            scripting::COMMANDS,
        ] {
            all.extend(group.iter());
        }
        all.sort_by_key(|spec| spec.name);
        for pair in all.windows(2) {
            assert!(
                pair[0].name != pair[1].name,
                "duplicate command {}",
                pair[0].name
            );
        }
        all
    })
}

/// Every command and subcommand, each once.
fn all_specs() -> &'static [&'static CommandSpec] {
    static ALL: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for spec in table() {
            all.push(*spec);
            all.extend(spec.subcommands.iter());
        }
        all
    })
}

/// A spec's identity as a number: its address, which is fixed because every
/// spec is a `static`. Recording it costs one store per command; turning it
/// back into a name ([`name_by_address`]) is for the cold CLIENT LIST path.
pub fn spec_address(spec: &'static CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

/// Every command and subcommand has a dense index, for per-command
/// counters kept in arrays: its position in the table.
pub fn spec_count() -> usize {
    all_specs().len()
}

/// The index of `spec` (see [`spec_count`]).
pub fn spec_index(spec: &'static CommandSpec) -> usize {
    static INDEX: OnceLock<FxHashMap<usize, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        all_specs()
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec_address(spec), i))
            .collect()
    });
    index[&spec_address(spec)]
}

/// The spec with index `index`.
pub fn spec_at(index: usize) -> &'static CommandSpec {
    all_specs()[index]
}

/// The name (`client|list`) of the spec at `address`, if any.
pub fn name_by_address(address: usize) -> Option<&'static str> {
    all_specs()
        .iter()
        .find(|spec| spec_address(spec) == address)
        .map(|spec| spec.name)
}

/// The spec a command line runs: the subcommand's for a container whose
/// subcommand exists, else the command's own.
pub fn effective_spec(spec: &'static CommandSpec, args: &[Bytes]) -> &'static CommandSpec {
    match args.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => lookup_sub(spec, sub).unwrap_or(spec),
        _ => spec,
    }
}

/// Finds a command by name, ignoring case, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    static INDEX: OnceLock<FxHashMap<&'static [u8], &'static CommandSpec>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        table()
            .iter()
            .map(|spec| (spec.name.as_bytes(), *spec))
            .collect()
    });
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

/// Finds `container|sub` among a container's subcommands, ignoring case.
pub fn lookup_sub(container: &CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let prefix_len = container.name.len() + 1;
    container
        .subcommands
        .iter()
        .find(|spec| spec.name.as_bytes()[prefix_len..].eq_ignore_ascii_case(sub))
}

/// The command table as the per-command figures count it: commands by
/// their spec index ([`spec_index`]), named by their spec's name.
pub fn catalog() -> crate::metrics::commands::Catalog {
    crate::metrics::commands::Catalog {
        count: spec_count(),
        name: |index| spec_at(index).name,
    }
}

/// The handler of a keyspace command, which runs through its parser.
fn parsed_only(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    unreachable!("a keyspace command runs through its parser, not a handler")
}

/// Runs `spec` on `args` (without the command `name`, as typed): through
/// its parser for a keyspace command, else its handler.
pub fn run(ctx: &mut Ctx<'_>, spec: &'static CommandSpec, name: &[u8], args: &[Bytes]) -> Action {
    match spec.parse {
        Some(parse) => run_parsed(ctx, spec, parse, name, args),
        None => (spec.handler)(ctx, args),
    }
}

/// Runs a keyspace command on a connection: a read is answered from this
/// node's state; a write or a blocking pop goes back to the connection to
/// propose. A pop of a missing key is answered as a read when that is
/// safe ([`Ctx::answer_if_missing`]).
fn run_parsed(
    ctx: &mut Ctx<'_>,
    spec: &CommandSpec,
    parse: Parser,
    name: &[u8],
    args: &[Bytes],
) -> Action {
    let (db, now_ms, resp3) = (ctx.client.db, ctx.now_ms, ctx.client.resp3);
    let parsed = {
        let mut seeds = || ctx.random_seed();
        parse(&mut Parse::new(name, db, now_ms, resp3, &mut seeds), args)
    };
    match parsed {
        Err(error) => ctx.fail(error),
        // A write command that reads after all (SORT without STORE, an
        // error that depends on the key) reads what its connection's own
        // writes left: it runs again once they are applied.
        Ok(KeyCommand::Read(_)) if spec.is_write() && ctx.writes_pending => Action::WaitForWrites,
        Ok(KeyCommand::Read(query)) => {
            ctx.shared.engine.query(db, &query, now_ms, &mut ctx.out);
            Action::Replied
        }
        Ok(KeyCommand::Write(op)) => {
            // A write that changes nothing now (PFCOUNT with a valid
            // cache) answers as a read, behind no write of its connection.
            if !ctx.writes_pending
                && ctx
                    .shared
                    .engine
                    .answer_without_write(db, &op, now_ms, &mut ctx.out)
            {
                return Action::Replied;
            }
            if let Some((key, nothing)) = op.reply_if_missing() {
                if let Some(answered) = ctx.answer_if_missing(key, nothing) {
                    return answered;
                }
            }
            Action::Write(op)
        }
        Ok(KeyCommand::Block {
            pop,
            keys,
            timeout_ms,
        }) => Action::Block {
            op: pop,
            keys,
            timeout_ms,
        },
    }
}

/// The reply for a wrong argument count.
pub fn arity_error(ctx: &mut Ctx<'_>, name: &str) -> Action {
    ctx.out.error_text(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
    Action::Replied
}

/// Runs a container's subcommand (`CLIENT SETNAME ...`): looks it up, checks
/// its arity and calls its handler with the arguments after the subcommand.
pub fn dispatch_sub(ctx: &mut Ctx<'_>, container: &'static CommandSpec, args: &[Bytes]) -> Action {
    let Some(sub) = args.first() else {
        return arity_error(ctx, container.name);
    };
    let Some(spec) = lookup_sub(container, sub) else {
        let text = format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(&sub[..sub.len().min(128)]),
            container.name.to_ascii_uppercase()
        );
        ctx.out.error_text(&text);
        return Action::Replied;
    };
    if !spec.arity_ok(args.len() + 1) {
        return arity_error(ctx, spec.name);
    }
    run(ctx, spec, sub, &args[1..])
}

/// The reply for a command name that is not in the table, in Redis's words.
pub fn unknown_command_error(name: &[u8], args: &[Bytes]) -> String {
    let mut listed = String::new();
    for arg in args {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(&arg[..arg.len().min(room)]);
        listed.push('\'');
        listed.push_str(&text);
        listed.push_str("' ");
    }
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    format!("ERR unknown command '{name}', with args beginning with: {listed}")
}

/// Replies to `<CONTAINER> HELP` in Redis's layout.
pub fn help(ctx: &mut Ctx<'_>, container: &str, lines: &[&str]) -> Action {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
    Action::Replied
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands that name keys or read or write the keyspace, yet stay
    /// handlers, because they answer from this node or this connection,
    /// never from replicated state; inside `MULTI` they run on the
    /// connection's node once `EXEC` has applied
    /// (`multi::runs_locally`), never at apply.
    const NODE_LOCAL: &[&str] = &[
        // The time since the key's last access on this node: per-node
        // metadata, not replicated.
        "object|idletime",
        // Answers from the (node-local) eviction policy.
        "object|freq",
        // Takes its keys' stamps for this connection's next EXEC; it is
        // never queued (it controls the transaction, like EXEC itself).
        "watch",
        // Scripts name their keys but run through the Lua interpreter
        // (`crate::script`), whose redis.call uses the parsers.
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
    ];

    /// Whether `spec` names keys or is flagged as reading or writing data.
    fn touches_keyspace(spec: &CommandSpec) -> bool {
        let data = flags::MOVABLEKEYS | flags::WRITE | flags::READONLY | flags::READS_KEYS;
        (spec.keys.0 > 0 && spec.flags & flags::NOT_KEY == 0) || spec.flags & data != 0
    }

    #[test]
    fn every_keyspace_command_parses_but_the_node_local_ones() {
        let missing: Vec<&str> = all_specs()
            .iter()
            .filter(|spec| touches_keyspace(spec) && spec.parse.is_none())
            .map(|spec| spec.name)
            .filter(|name| !NODE_LOCAL.contains(name))
            .collect();
        assert!(
            missing.is_empty(),
            "keyspace commands without a parser: {missing:?}"
        );
    }
}
