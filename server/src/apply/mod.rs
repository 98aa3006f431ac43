//! Apply: what every node runs for each committed entry, and the
//! vocabulary of the log it reads.
//!
//! An entry is a [`Request`]: the leader's time stamp, the proposing run's
//! origin, and [`Command`]s, each an [`Op`] on a database. Applying it
//! ([`apply_request`]) runs the commands in order at the entry's time on
//! the engine and on the group's replicated state besides the keys
//! ([`GroupState`]: the replicated clock, the clients blocked on keys, the
//! parts of large writes not yet assembled), and gives one [`Outcome`] per
//! command.
//!
//! What apply may touch is this module's imports: the engine, the RESP
//! encoder (a transaction's replies are encoded here), and the node's
//! isolation ([`Isolate`], a closure: hold readers back while a
//! transaction applies). No network state, no configuration, no clock, no
//! random source: time comes from the entry, random picks from seeds drawn
//! when the command was parsed.
//!
//! Invariants:
//! - Deterministic: the same entries applied to the same state give the
//!   same state and the same outcomes on every node.
//! - The replicated clock never goes back: an entry applies at its stamp
//!   or at the latest time applied before it, whichever is later.
//! - A failed condition, WRONGTYPE or a refused upload is an outcome, not
//!   an error of apply.

mod entry;
mod ops;
mod script;
mod staged;
mod transaction;

pub use entry::{apply_request, GroupState, Isolate};
pub use ops::{Command, Op, Outcome, Request};
pub use script::{
    sha1_hex, ScriptCache, ScriptCall, ScriptRun, ScriptRunner, Source, NOSCRIPT_ERROR,
    SCRIPT_INSTRUCTIONS_MAX, SCRIPT_MEMORY_MAX,
};
pub use staged::{Staged, INCOMPLETE_ERROR};
pub use transaction::{execute, ExecReply, KeyOp, Queued, Scripting, Transaction, Watch};
