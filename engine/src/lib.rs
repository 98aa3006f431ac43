//! redraft-engine: the in-memory keyspace.
//!
//! The keyspace is 16 logical databases, each partitioned into shards by a
//! stable hash of the key (xxh3). A shard is touched only under its own lock,
//! and no lock is ever held across an await (this crate knows nothing of
//! async runtimes, openraft or glommio).
//!
//! Writes arrive as validated [`WriteOp`]s and are executed by
//! [`Engine::apply`] at a timestamp chosen by the Raft leader: apply is
//! deterministic, so every node reaches the same state and the same replies.
//! Reads run on the caller's thread with the local clock and stream their
//! reply into a [`ReplySink`]; they hide expired keys but never delete them
//! (deleting is a write, proposed by the leader as [`WriteOp::PurgeExpired`]).
//!
//! Invariants:
//! - Within a shard, keys are ordered by (hash, key bytes); this order is a
//!   pure function of the keys, so it survives snapshot and restore, and it
//!   is what `SCAN` cursors walk.
//! - `apply` never reads the clock, the environment or a random source.
//! - A key's access time (`lru.rs`, for `OBJECT IDLETIME`) is local
//!   metadata: reads set it by the local clock, writes by the apply
//!   timestamp, and no replicated outcome (a reply of apply, a `WATCH`
//!   stamp, a `DUMP` payload, a run file, an entry's equality) depends on
//!   it.
//! - Every command failure is a deterministic [`Error`] reply value.
//! - Each shard's expiry index lists exactly its keys that have an expiry.

mod apply;
mod bignum;
mod bitmap;
mod blocked;
mod chunked;
mod collection;
mod dump;
mod engine;
mod error;
mod geo;
mod glob;
mod hash;
mod hll;
pub mod int_arg;
mod key;
mod keyspace;
mod layers;
mod lcs;
mod ldouble;
mod list;
mod lru;
mod number;
mod object;
mod payload;
mod placement;
mod query;
mod random;
mod read;
mod reply;
mod restore;
mod run;
mod sample;
mod scan;
mod set;
mod shard;
mod small;
mod snapshot;
mod sort;
mod stream;
mod table;
mod value;
mod watch;
mod write;
mod zset;

pub use apply::STRING_BYTES_MAX;
pub use bitmap::bits::{popcount, PosRange};
pub use bitmap::{BitOperation, BitUnit, BitmapOp, FieldOp, FieldType, Overflow};
pub use blocked::{Blocked, Ended, WaiterId, UNBLOCKED_ERROR};
pub use dump::{DumpRecord, DumpValue};
pub use engine::{Engine, EngineStats, SHARDS_PER_DB};
pub use error::Error;
pub use geo::{
    score as geo_score, GeoFrom, GeoOrder, GeoRefused, GeoSearch, GeoSearchArgs, GeoShape,
};
pub use glob::glob_match;
pub use hash::{Hash, HashOp};
pub use hll::{selftest::run as hll_selftest, HllDebug, HllOp};
pub use key::key_hash;
pub use lcs::LcsReply;
pub use list::{List, ListOp};
pub use lru::{lfu_settings, set_lfu};
pub use number::{format_double, parse_float, parse_i64_strict};
pub use payload::{decode as decode_payload, encode as encode_payload, PAYLOAD_VERSION};
pub use query::{KeyKind, Query, SetAlgebra};
pub use random::Random;
pub use reply::{Reply, ReplySink};
pub use restore::BUSY_KEY;
pub use run::{Run, RunError, RUN_MAGIC, RUN_VERSION};
pub use sample::Candidate;
pub use set::{Set, SetOp};
pub use small::{SmallBytes, INLINE_BYTES_MAX};
pub use snapshot::{FrozenKeyspace, RunSummary};
pub use sort::{SortArgs, SortBy};
pub use stream::{
    parse_bound, parse_id, parse_new_id, strict_id, NewId, ReadFrom, Stream, StreamId, StreamOp,
    Trim, TrimBy, INVALID_ID,
};
pub use value::{Entry, Value};
pub use write::{ExpireCommand, ExpireCondition, SetCondition, TtlChange, WriteOp};
pub use zset::{
    AddOptions, Aggregate, Algebra, AlgebraArgs, AlgebraError, LexBound, LexRange, RandArgs,
    RangeArgs, RangeBy, RangeQuery, ScanArgs, ScoreRange, ZSet, ZSetOp,
};

/// Number of logical databases (`SELECT 0` to `SELECT 15`).
pub const DB_COUNT: usize = 16;
