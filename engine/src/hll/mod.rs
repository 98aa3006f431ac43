//! HyperLogLog: `PFADD`, `PFCOUNT`, `PFMERGE`, `PFDEBUG` and `PFSELFTEST`,
//! bit-compatible with Redis 7.0.
//!
//! A HyperLogLog is not a type of its own: it is a string holding Redis's
//! sketch, byte for byte ([`sketch`] for the header, the dense registers
//! and the estimate; [`sparse`] for the run-length form), so `GET` returns
//! the bytes Redis would store and a value `SET` from Redis's bytes counts
//! the same. The writes are [`HllOp`]s in the Raft log ([`ops`]), the reads
//! [`Query`](crate::Query) variants ([`read`]).
//!
//! `PFCOUNT` of one key is a write in Redis too: when the header's cached
//! cardinality is stale it computes the count and stores it in the header
//! (and propagates the change). Here it is [`HllOp::Count`], which the
//! server answers as a read, without a Raft entry, when the cache is valid
//! (or there is nothing to store: a missing key, a value that is not a
//! sketch, a corrupt one); see [`Engine::pfcount_unless_writing`].
//!
//! Invariants:
//! - A sketch is edited only as Redis edits it, so two nodes (and Redis)
//!   given the same bytes and the same commands hold the same bytes.
//! - A `PFADD` that meets a corrupt sparse sketch replies `INVALIDOBJ` and
//!   keeps the registers raised before it met the corruption, as Redis
//!   does: the one write here that changes its key and replies an error.

pub mod opcodes;
mod ops;
mod read;
pub mod selftest;
pub mod sketch;
pub mod sparse;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Error;

/// `PFDEBUG`'s error for a missing key.
const NO_KEY: Error = Error::Other("ERR The specified key does not exist");

/// A HyperLogLog write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HllOp {
    /// `PFADD key element...`: 1 if a register changed or the key was
    /// created, else 0.
    Add { key: Bytes, elements: Vec<Bytes> },
    /// `PFCOUNT key` (one key): the estimate, stored in the header's cache
    /// if it was stale.
    Count { key: Bytes },
    /// `PFMERGE dst source...`: `+OK`; `dst`'s own registers are merged
    /// too.
    Merge { dst: Bytes, sources: Vec<Bytes> },
    /// `PFDEBUG GETREG key` (`registers`: the 16384 registers) and
    /// `PFDEBUG TODENSE key` (1 if it converted, else 0): both leave the
    /// sketch dense.
    ToDense { key: Bytes, registers: bool },
}

/// A `PFDEBUG` subcommand that only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HllDebug {
    /// `DECODE`: the sparse opcodes as text.
    Decode,
    /// `ENCODING`: `dense` or `sparse`.
    Encoding,
}
