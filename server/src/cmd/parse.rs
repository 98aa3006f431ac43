//! Keyspace commands as values: a command that reads or writes keys is
//! parsed and validated into a [`KeyCommand`], with no access to the node.
//!
//! A read is then answered from this node's state ([`Engine::query`]), a
//! write goes to the Raft log as its `WriteOp`, and inside `MULTI` both
//! travel in the `EXEC` entry as [`KeyOp`]s that apply runs on every node.
//! Because parsing sees only its arguments and a [`Parse`] context, the
//! same command parses the same way wherever it is parsed: on a
//! connection, at `EXEC`, or (later) inside a script at apply.
//!
//! Invariants:
//! - A parser reads nothing but its arguments and its [`Parse`]: the
//!   connection's database and protocol, the time, and fresh random seeds.
//! - An error a parser returns is the command's whole reply; errors that
//!   depend on the state of a key are not parse errors but results of the
//!   op (a query or a write reports them where Redis does).
//!
//! [`Engine::query`]: redraft_engine::Engine::query

use bytes::Bytes;
use redraft_engine::{Error, Query, WriteOp};

pub use crate::apply::KeyOp;

/// What a keyspace command is, once parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCommand {
    /// A read of the keyspace.
    Read(Query),
    /// A write, for the Raft log.
    Write(WriteOp),
    /// A blocking pop (BLPOP and the like): `pop` at once if a key holds
    /// something, else wait on `keys` (see `crate::blocking`) for
    /// `timeout_ms` (`None`: for ever). Inside `MULTI` it runs once as
    /// `pop`, as in Redis.
    Block {
        pop: WriteOp,
        keys: Vec<Bytes>,
        timeout_ms: Option<u64>,
    },
}

impl KeyCommand {
    /// What this command does inside a transaction.
    pub fn into_op(self) -> KeyOp {
        match self {
            KeyCommand::Read(query) => KeyOp::Read(query),
            KeyCommand::Write(op) | KeyCommand::Block { pop: op, .. } => KeyOp::Write(op),
        }
    }
}

/// What a parser may know besides its arguments.
pub struct Parse<'a> {
    /// The command's name as the client typed it, for the errors that
    /// echo it (`GEOSEARCH`'s).
    pub name: &'a [u8],
    /// The connection's selected database.
    pub db: usize,
    /// The time reads and relative expiries are judged by (Unix ms).
    pub now_ms: u64,
    /// The connection speaks RESP3 (some ops reply in another shape).
    pub resp3: bool,
    /// Draws a fresh seed for a command that picks at random.
    seeds: &'a mut dyn FnMut() -> u64,
}

impl<'a> Parse<'a> {
    pub fn new(
        name: &'a [u8],
        db: usize,
        now_ms: u64,
        resp3: bool,
        seeds: &'a mut dyn FnMut() -> u64,
    ) -> Parse<'a> {
        Parse {
            name,
            db,
            now_ms,
            resp3,
            seeds,
        }
    }

    /// A fresh seed: a read draws from it, and a write carries it in its
    /// op so every node draws the same.
    pub fn random_seed(&mut self) -> u64 {
        (self.seeds)()
    }
}

/// A keyspace command's parser: the arguments exclude the command name
/// (and, for a subcommand, its name too).
pub type Parser = fn(&mut Parse<'_>, &[Bytes]) -> Result<KeyCommand, Error>;

/// Redis's reply for a wrong argument count that only the arguments'
/// contents reveal (MSET's odd count), for a parser to return.
pub fn arity(name: &'static str) -> Error {
    Error::Arity(name)
}
