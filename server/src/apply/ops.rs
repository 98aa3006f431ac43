//! The vocabulary of the log: what one entry carries (a [`Request`] of
//! [`Command`]s, each an [`Op`]), and what applying a command gives
//! ([`Outcome`]).

use bytes::Bytes;
use redraft_engine::{Reply, WriteOp};
use serde::{Deserialize, Serialize};

use super::script::ScriptCall;
use super::transaction::{ExecReply, Transaction};

/// The payload of one normal Raft entry: a batch of writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The leader's wall-clock Unix time in milliseconds when it proposed
    /// the entry; every node applies the batch at this time.
    pub stamp_ms: u64,
    /// Which run of which node proposed the entry: a value the proposer
    /// draws at start-up, different on every node and every restart. With
    /// `proposal` it names the entry, so the proposer recognises its own
    /// entries when they are applied and routes their replies (and a node
    /// that restarted never mistakes an old entry for a new one).
    pub origin: u64,
    /// The proposer's sequence number of this entry within its run.
    pub proposal: u64,
    /// The writes, applied in this order.
    pub commands: Vec<Command>,
}

/// One validated write and the database it targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The connection's selected database (`SELECT`), below `DB_COUNT`.
    pub db: u8,
    pub op: crate::route::Op,
}

/// What one command of an entry does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// One validated write.
    Write(WriteOp),
    /// A whole `EXEC`, applied as one unit.
    Exec(Box<Transaction>),
    /// A blocking pop (`BLPOP` and the like): pops at once if a key holds
    /// something, else its client waits on `keys` as a replicated waiter
    /// named by the entry's origin, `client_id` and `seq` (the command's
    /// write sequence number on its connection); see
    /// `redraft_engine::Blocked`.
    Block {
        pop: WriteOp,
        keys: Vec<Bytes>,
        client_id: u64,
        seq: u64,
    },
    /// Ends the wait of this node's blocked command (`client_id`, `seq`),
    /// if it still waits: its timeout passed (it replies a null array) or
    /// its client left.
    Unblock { client_id: u64, seq: u64 },
    /// `bytes` at `offset` of an encoded large write of `total` bytes,
    /// upload `upload` of the entry's origin (see `crate::raft::upload`).
    Part {
        upload: u64,
        offset: u64,
        total: u64,
        bytes: Bytes,
    },
    /// Upload `upload` of the entry's origin is complete at `total` bytes:
    /// apply the write it holds.
    Assembled { upload: u64, total: u64 },
    /// `EVAL`/`EVALSHA`: runs the script at apply (see `super::script`);
    /// its reply is an `Outcome::Exec` without holes.
    Script(Box<ScriptCall>),
    /// `SCRIPT LOAD`: caches the body; replies its SHA1.
    ScriptLoad(Bytes),
    /// `SCRIPT FLUSH`: empties the script cache.
    ScriptFlush,
}

/// What happened to a write (or a read check), as a connection sees it.
#[derive(Debug)]
pub enum Outcome {
    /// The write was committed and applied with this reply.
    Applied(Reply),
    /// An `EXEC` was committed and applied: its replies, encoded for the
    /// connection's protocol, with holes for the commands the
    /// connection's node runs itself. A script's reply comes encoded the
    /// same way, without holes.
    Exec(ExecReply),
    /// The write was not applied, or its fate is unknown; the full error
    /// line to send, without the leading `-` (for example `MOVED 0 h:p`).
    Failed(String),
    /// The blocking command found nothing and now waits as a replicated
    /// waiter: its reply comes later, as another outcome for the same
    /// write.
    Blocked,
}
