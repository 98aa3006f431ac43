//! A transaction at apply: what one `EXEC` carries through the log
//! ([`Transaction`]) and how every node runs it ([`execute`]).
//!
//! If any watched key's stamp differs, the transaction does nothing and
//! replies a nil array; otherwise each op runs at the entry's time: a read
//! replies from the state as the transaction has left it so far, a write
//! is applied on the spot. The replies are encoded for the connection's
//! protocol into one array, with a hole for each command the connection's
//! node runs itself. A queued script runs at apply as an `EVAL` does.

use bytes::{Bytes, BytesMut};
use redraft_engine::{Engine, Query, ReplySink, WriteOp};
use serde::{Deserialize, Serialize};

use super::script::{run_at_apply, ScriptCache, ScriptCall, ScriptRunner};
use crate::resp::ReplyWriter;

/// A keyspace command as a transaction carries it to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyOp {
    Read(Query),
    Write(WriteOp),
}

/// One key under `WATCH`: its stamp when it was watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub db: u8,
    pub key: Bytes,
    /// `Engine::watch_stamp` at `WATCH` time (0: missing).
    pub stamp: u64,
}

/// One `EXEC` as it travels in a Raft entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Encode the replies in RESP3.
    pub resp3: bool,
    /// Abort unless every key still has its stamp.
    pub watches: Vec<Watch>,
    /// The queued commands, in order.
    pub commands: Vec<Queued>,
}

/// One queued command as apply sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Queued {
    /// A keyspace command, on database `db`.
    Key { db: u8, op: KeyOp },
    /// A command the connection's node runs once the entry has applied
    /// (`crate::cmd::multi::runs_locally`): apply leaves a hole for its
    /// reply.
    Local,
    /// A command whose arguments failed to parse at `EXEC`: its reply.
    Fail(redraft_engine::Error),
    /// `EVAL`/`EVALSHA` (and their `_RO` forms), on database `db`.
    Script { db: u8, call: Box<ScriptCall> },
    /// `SCRIPT LOAD`: caches the body; replies its SHA1.
    ScriptLoad(Bytes),
    /// `SCRIPT FLUSH`: empties the script cache.
    ScriptFlush,
    /// `SCRIPT EXISTS`: whether each SHA1 is cached at this point of the
    /// transaction (`None`: an argument that names no SHA1).
    ScriptExists(Vec<Option<String>>),
}

/// What a transaction's scripts run with.
pub struct Scripting<'a> {
    pub scripts: &'a ScriptCache,
    pub runner: Option<&'a ScriptRunner>,
}

/// What apply answers for a transaction: the `EXEC` reply, encoded, with
/// a hole for each command that runs locally.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecReply {
    /// The encoded array, without the replies of the local commands.
    pub encoded: Bytes,
    /// Where each local command's reply goes in `encoded`, in order (byte
    /// offsets, ascending); empty when the transaction was aborted.
    pub holes: Vec<usize>,
}

/// Runs `transaction` at apply (see the module docs) on `engine` at the
/// entry's time `now_ms`; `on_write` sees every write applied. The caller
/// isolates it from this node's readers.
pub fn execute(
    engine: &Engine,
    transaction: &Transaction,
    now_ms: u64,
    on_write: &mut dyn FnMut(usize, &redraft_engine::WriteOp),
    scripting: &Scripting<'_>,
) -> ExecReply {
    let mut reply = BytesMut::new();
    let mut holes = Vec::new();
    let mut out = ReplyWriter::new(&mut reply, transaction.resp3);
    let changed = transaction
        .watches
        .iter()
        .any(|watch| engine.watch_stamp(usize::from(watch.db), &watch.key, now_ms) != watch.stamp);
    if changed {
        out.nil_array();
        return ExecReply {
            encoded: reply.freeze(),
            holes,
        };
    }
    out.array(transaction.commands.len());
    for queued in &transaction.commands {
        let mut out = ReplyWriter::new(&mut reply, transaction.resp3);
        match queued {
            Queued::Key { db, op } => {
                let db = usize::from(*db);
                match op {
                    KeyOp::Read(query) => engine.query(db, query, now_ms, &mut out),
                    KeyOp::Write(op) => {
                        let applied = engine.apply(db, op, now_ms);
                        on_write(db, op);
                        applied.emit(&mut out);
                    }
                }
            }
            Queued::Local => holes.push(reply.len()),
            Queued::Fail(error) => out.error(error),
            Queued::Script { db, call } => {
                let encoded = run_at_apply(
                    scripting.scripts,
                    scripting.runner,
                    engine,
                    usize::from(*db),
                    call,
                    now_ms,
                    on_write,
                );
                out.encoded(&encoded);
            }
            Queued::ScriptLoad(body) => out.bulk(scripting.scripts.insert(body.clone()).as_bytes()),
            Queued::ScriptFlush => {
                scripting.scripts.clear();
                out.ok();
            }
            Queued::ScriptExists(shas) => {
                out.array(shas.len());
                for sha in shas {
                    let known = sha
                        .as_ref()
                        .is_some_and(|sha| scripting.scripts.contains(sha));
                    out.int(i64::from(known));
                }
            }
        }
    }
    ExecReply {
        encoded: reply.freeze(),
        holes,
    }
}
