//! MULTI/EXEC transactions on the connection's side: what a connection
//! queues, how `EXEC` turns the queue into the [`Transaction`] one entry
//! carries, and the commands its node runs itself afterwards. How apply
//! runs a transaction is `crate::apply` ([`execute`]).
//!
//! `MULTI` starts queueing: each later command is checked (known, arity,
//! allowed in a transaction) and queued with `+QUEUED`, or refused with its
//! error, which dooms the transaction (`EXECABORT` at `EXEC`). `WATCH`
//! takes each key's stamp (`Engine::watch_stamp`) from this node's state,
//! after the same linearizable check a read gets. `EXEC` parses the queue
//! into one [`Transaction`] of typed ops (a keyspace command becomes its
//! [`KeyOp`], on the database the queue's `SELECT`s leave it on; a parse
//! error becomes its reply) and proposes it as one command of one Raft
//! entry.
//!
//! At apply, every node runs [`execute`] (`crate::apply`): if any watched key's stamp
//! differs, the transaction does nothing and replies a nil array;
//! otherwise each op runs at the entry's time: a read replies from the
//! state as the transaction has left it so far, a write is applied on the
//! spot. The replies are encoded for the connection's protocol into one
//! array.
//!
//! Invariants:
//! - Apply is deterministic: ops carry everything but the state and the
//!   time (seeds of random picks were drawn at `EXEC`), so every node
//!   applies the same writes and reaches the same abort decision.
//! - A transaction is isolated: apply runs it holding `TxGate`
//!   exclusively (with the blocked commands it serves), and a network
//!   thread holds it shared for each whole tick, so no reader on this node
//!   sees a transaction half applied.
//! - Apply runs only keyspace ops: a queued command that has a parser
//!   (`CommandSpec::parse`) becomes a [`KeyOp`] (or its parse error), and
//!   apply sees nothing but the engine, the entry's time and the ops. Every
//!   other command Redis queues (`CONFIG`, `INFO`, `CLIENT`, `WAIT`,
//!   `PUBLISH`, `SELECT`, `OBJECT IDLETIME`, ...) acts on one node or one
//!   connection: apply leaves a hole for its reply, and the connection's
//!   node runs it when the entry has applied ([`runs_locally`]), so the
//!   node-local answer never comes from apply. (Every command that reads
//!   or writes replicated state has a parser: see the command table's
//!   test `every_keyspace_command_parses_but_the_node_local_ones`.)

use bytes::Bytes;
use redraft_engine::ReplySink;

pub use crate::apply::{execute, ExecReply, Queued, Transaction, Watch};
pub use crate::client::Multi;
use crate::cmd::{self, Action, CommandSpec, Ctx, Parse};

/// What `EXEC` hands the connection: the transaction to propose, and the
/// commands as they were queued (for the slow log, MONITOR, and the local
/// commands the connection runs itself).
#[derive(Debug)]
pub struct Exec {
    pub transaction: Transaction,
    /// The database `EXEC` ran on.
    pub db: usize,
    /// Each queued command's arguments, the name included.
    pub queued: Vec<Vec<Bytes>>,
    /// The database the connection ends on depends on whether the
    /// transaction aborts (a `SELECT` under `WATCH`): the connection's
    /// next commands wait for its reply.
    pub db_after_reply: bool,
}

impl Exec {
    /// The size of the transaction, as entries are bounded: the queued
    /// commands as sent, and the watched keys.
    pub fn bytes(&self) -> usize {
        let watches: usize = self
            .transaction
            .watches
            .iter()
            .map(|watch| watch.key.len() + 16)
            .sum();
        let commands: usize = self
            .queued
            .iter()
            .flat_map(|args| args.iter().map(|arg| arg.len() + 16))
            .sum();
        watches + commands
    }

    /// The queued commands this node runs itself once the entry applied,
    /// in order.
    pub fn locals(&self) -> Vec<Vec<Bytes>> {
        self.queued
            .iter()
            .zip(&self.transaction.commands)
            .filter(|(_, queued)| matches!(queued, Queued::Local))
            .map(|(args, _)| args.clone())
            .collect()
    }
}

/// Parses a queue at `EXEC` into a transaction's commands (see the module
/// docs), starting on database `db`: a keyspace command through its
/// parser, with fresh seeds from `seeds`.
pub fn parse_queue(
    queue: &[Vec<Bytes>],
    mut db: usize,
    now_ms: u64,
    resp3: bool,
    seeds: &mut dyn FnMut() -> u64,
) -> Vec<Queued> {
    queue
        .iter()
        .map(|args| {
            // Queueing checked that the command is known.
            let Some(spec) = cmd::lookup(&args[0]) else {
                let text = cmd::unknown_command_error(&args[0], &args[1..]);
                return Queued::Fail(redraft_engine::Error::Text(text.into()));
            };
            let effective = cmd::effective_spec(spec, args);
            if let Some(script) = cmd::scripting::queued(effective.name, args, db, resp3, seeds) {
                return script;
            }
            let Some(parse) = effective.parse else {
                // Runs locally (see `runs_locally`).
                if effective.name == "select" {
                    db = args
                        .get(1)
                        .and_then(|arg| cmd::parse_db(arg).ok())
                        .unwrap_or(db);
                }
                return Queued::Local;
            };
            // A subcommand's parser takes the arguments after its name.
            let skip = if std::ptr::eq(effective, spec) { 1 } else { 2 };
            match parse(
                &mut Parse::new(&args[0], db, now_ms, resp3, seeds),
                &args[skip..],
            ) {
                Ok(command) => Queued::Key {
                    db: db as u8,
                    op: command.into_op(),
                },
                Err(error) => Queued::Fail(error),
            }
        })
        .collect()
}

/// The commands that control a transaction and so run at once, even
/// inside `MULTI` (as in Redis).
pub fn controls_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Whether `spec` (the effective spec, for a subcommand) may be queued:
/// all but Redis's `no-multi` commands.
pub fn allowed_in_multi(spec: &CommandSpec) -> bool {
    !matches!(spec.name, "save" | "shutdown" | "sync" | "psync")
}

/// Whether a queued command (its effective spec) runs on the node that
/// serves the connection once `EXEC`'s entry has applied, instead of at
/// apply on every node: the commands without a parser, which act on one
/// node or one connection (`CONFIG`, `INFO`, `CLIENT`, `TIME`, `PUBLISH`,
/// `SUBSCRIBE`, `WAIT`, `SELECT`, `PING`, `OBJECT IDLETIME`, ...) and so
/// cannot run in apply, which sees only replicated state. (A queued
/// `SELECT` also moves the database the commands after it are parsed
/// for.)
pub fn runs_locally(spec: &CommandSpec) -> bool {
    spec.parse.is_none()
        && !matches!(
            spec.name,
            "eval"
                | "evalsha"
                | "eval_ro"
                | "evalsha_ro"
                | "script|load"
                | "script|flush"
                | "script|exists"
        )
}

/// Redis's error for a command refused inside `MULTI`.
pub const NOT_ALLOWED_ERROR: &str = "ERR Command not allowed inside a transaction";
/// Redis's reply to `EXEC` after a refused command.
pub const EXECABORT_ERROR: &str = "EXECABORT Transaction discarded because of previous errors.";

/// The database the connection has selected after the queue's `SELECT`s
/// run, starting from `db`: each valid `SELECT` moves it, as it will when
/// the transaction has applied.
pub fn db_after(db: usize, commands: &[Vec<Bytes>]) -> usize {
    commands
        .iter()
        .rev()
        .filter(|args| args.len() == 2 && args[0].eq_ignore_ascii_case(b"select"))
        .find_map(|args| cmd::parse_db(&args[1]).ok())
        .unwrap_or(db)
}

/// Runs, on the connection's node once its `EXEC` has applied, a queued
/// command that [`runs_locally`], writing its reply to `ctx.out`.
pub fn run_local(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(spec) = cmd::lookup(&args[0]) else {
        ctx.out
            .error_text(&cmd::unknown_command_error(&args[0], &args[1..]));
        return;
    };
    if spec.name == "monitor" {
        // As in Redis, whose EXEC runs its commands as a client that
        // expects one reply per command.
        ctx.out
            .error_text("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if spec.name == "ssubscribe" {
        // Redis 7.0 lets SUBSCRIBE run in a transaction (for old clients)
        // but not SSUBSCRIBE.
        ctx.out
            .error_text("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    match cmd::run(ctx, spec, &args[0], &args[1..]) {
        Action::Replied => {}
        // As in Redis, WAIT inside a transaction does not wait: it counts
        // the followers that hold what this node has applied.
        Action::WaitReplicas { .. } => {
            let raft = &ctx.shared.raft;
            let holding = raft.followers_holding(raft.applied_index());
            ctx.out.int(holding as i64);
        }
        Action::Write(_)
        | Action::Block { .. }
        | Action::Close
        | Action::WaitForWrites
        | Action::Exec(_)
        | Action::Propose(_)
        | Action::CheckThenRetry => ctx.out.error_text(NOT_ALLOWED_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::KeyOp;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|word| Bytes::copy_from_slice(word.as_bytes()))
            .collect()
    }

    #[test]
    fn db_after_follows_valid_selects() {
        let cases: &[(&[&[&str]], usize)] = &[
            (&[], 3),
            (&[&["set", "a", "b"]], 3),
            (&[&["select", "5"]], 5),
            (&[&["SELECT", "5"], &["select", "x"]], 5),
            (&[&["select", "16"]], 3),
            (&[&["select", "1"], &["get", "a"], &["select", "0"]], 0),
        ];
        for (queue, want) in cases {
            let queue: Vec<Vec<Bytes>> = queue.iter().map(|words| args(words)).collect();
            assert_eq!(db_after(3, &queue), *want, "{queue:?}");
        }
    }

    #[test]
    fn a_queue_parses_into_ops_on_the_database_its_selects_leave() {
        let queue: Vec<Vec<Bytes>> = [
            &["get", "k"][..],
            &["select", "2"],
            &["GET", "k"],
            &["select", "99"],
            &["incrby", "k", "x"],
            &["config", "get", "maxclients"],
        ]
        .iter()
        .map(|words| args(words))
        .collect();
        let mut seeds = || 7;
        let parsed = parse_queue(&queue, 1, 0, false, &mut seeds);
        let get = |db| Queued::Key {
            db,
            op: KeyOp::Read(redraft_engine::Query::Get {
                key: Bytes::from_static(b"k"),
            }),
        };
        assert_eq!(
            parsed,
            vec![
                get(1),
                Queued::Local,
                get(2),
                Queued::Local,
                Queued::Fail(redraft_engine::Error::NotInteger),
                Queued::Local,
            ]
        );
    }

    #[test]
    fn commands_that_touch_no_key_run_on_the_connections_node() {
        let cases: &[(&[&str], bool)] = &[
            (&["get", "k"], false),
            (&["set", "k", "v"], false),
            (&["ping"], true),
            (&["select", "1"], true),
            (&["unwatch"], true),
            (&["object", "encoding", "k"], false),
            (&["memory", "usage", "k"], false),
            // Idle times are this node's, never apply's.
            (&["object", "idletime", "k"], true),
            (&["object", "freq", "k"], true),
            (&["object", "help"], true),
            (&["sadd", "s", "a"], false),
            (&["zunionstore", "d", "1", "z"], false),
            (&["sort", "k"], false),
            (&["dbsize"], false),
            (&["flushall"], false),
            (&["config", "set", "maxclients", "10"], true),
            (&["info"], true),
            (&["time"], true),
            (&["wait", "0", "0"], true),
            (&["publish", "c", "m"], true),
            (&["client", "setname", "x"], true),
            // Scripts run at apply with the transaction.
            (&["eval", "return 1", "0"], false),
            (&["evalsha_ro", "x", "0"], false),
            (&["script", "load", "return 1"], false),
            (&["script", "flush"], false),
            (&["script", "exists", "x"], false),
            (&["script", "help"], true),
        ];
        for (words, local) in cases {
            let args = args(words);
            let spec = cmd::lookup(&args[0]).expect("known");
            let effective = cmd::effective_spec(spec, &args);
            assert_eq!(runs_locally(effective), *local, "{words:?}");
        }
    }

    #[test]
    fn set_sorted_set_and_sort_commands_queue_as_ops() {
        let queue: Vec<Vec<Bytes>> = [
            &["sadd", "s", "a"][..],
            &["spop", "s"],
            &["zadd", "z", "1", "a"],
            &["zunionstore", "d", "1", "z", "weights", "x"],
            &["zinter", "2", "z", "s", "bogus"],
            &["sort", "s", "store", "d"],
            &["sort", "s", "limit"],
            &["object", "encoding", "s"],
            &["eval", "return 1", "0"],
            &["evalsha_ro", "short", "0"],
            &["flushdb"],
        ]
        .iter()
        .map(|words| args(words))
        .collect();
        let mut seeds = || 7;
        let parsed = parse_queue(&queue, 0, 0, false, &mut seeds);
        let kinds: Vec<&str> = parsed
            .iter()
            .map(|queued| match queued {
                Queued::Key {
                    op: KeyOp::Read(redraft_engine::Query::ZAlgebraRefused { .. }),
                    ..
                } => "refused",
                Queued::Key {
                    op: KeyOp::Read(_), ..
                } => "read",
                Queued::Key {
                    op: KeyOp::Write(_),
                    ..
                } => "write",
                Queued::Local => "local",
                Queued::Fail(_) => "fail",
                Queued::Script { .. }
                | Queued::ScriptLoad(_)
                | Queued::ScriptFlush
                | Queued::ScriptExists(_) => "script",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "write", "write", "write", "refused", "refused", "write", "fail", "read", "script",
                "fail", "write"
            ]
        );
        let Queued::Key {
            op: KeyOp::Write(redraft_engine::WriteOp::Sets(redraft_engine::SetOp::Pop { seed, .. })),
            ..
        } = &parsed[1]
        else {
            panic!("SPOP is a pop: {:?}", parsed[1]);
        };
        assert_eq!(*seed, 7, "SPOP carries the seed drawn at EXEC");
    }

    #[test]
    fn every_command_but_no_multi_ones_queues() {
        let cases = [
            ("get", true),
            ("set", true),
            ("blpop", true),
            ("flushall", true),
            ("ping", true),
            ("select", true),
            ("unwatch", true),
            ("wait", true),
            ("hello", true),
            ("subscribe", true),
            ("client", true),
            ("info", true),
            ("config", true),
        ];
        for (name, allowed) in cases {
            let spec = cmd::lookup(name.as_bytes()).expect(name);
            assert_eq!(allowed_in_multi(spec), allowed, "{name}");
        }
    }
}
