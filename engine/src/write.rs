//! Write operations: the validated, typed form of every write command.
//!
//! The server parses and validates a write command (arity, syntax, number
//! formats) into a `WriteOp` before it is proposed; only well-formed writes
//! reach the log. [`crate::Engine::apply`] executes a `WriteOp` at a timestamp
//! chosen by the leader, so every node computes the same state and reply.
//!
//! Invariants:
//! - A `WriteOp` carries everything apply needs; apply never reads the local
//!   clock, the environment or a random source.
//! - Relative times (`EX 10`) stay relative here and become absolute at apply,
//!   using the entry's timestamp.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    BitmapOp, DumpValue, GeoSearchArgs, HashOp, HllOp, ListOp, SetOp, SortArgs, StreamOp, ZSetOp,
};

/// How a write changes the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlChange {
    /// Keep the current expiry (`SET ... KEEPTTL`, `GETEX` with no option).
    Keep,
    /// Remove any expiry (`SET` with no option, `GETEX PERSIST`).
    Clear,
    /// Expire this many milliseconds after the apply timestamp (`EX`, `PX`).
    /// Always positive: the server rejects zero and negative values.
    InMs(i64),
    /// Expire at this Unix time in milliseconds (`EXAT`, `PXAT`). Positive.
    AtMs(i64),
}

/// The condition of `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// The condition flag of `EXPIRE` and its siblings (Redis 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCondition {
    Always,
    /// `NX`: only if the key has no expiry.
    IfNoExpiry,
    /// `XX`: only if the key has an expiry.
    IfHasExpiry,
    /// `GT`: only if the new expiry is greater (no expiry counts as infinite).
    IfGreater,
    /// `LT`: only if the new expiry is less (no expiry counts as infinite).
    IfLess,
    /// `XX LT` (Redis 7 allows the pair): only if the key has an expiry and
    /// the new one is less. (`XX GT` needs no variant: it is `IfGreater`,
    /// since a key without expiry never passes `GT`.)
    IfHasExpiryAndLess,
}

/// Which of the four expire commands this is; it names the command in the
/// `invalid expire time in '...' command` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCommand {
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
}

impl ExpireCommand {
    /// The lower-case command name, as Redis writes it in errors.
    pub fn name(self) -> &'static str {
        match self {
            ExpireCommand::Expire => "expire",
            ExpireCommand::PExpire => "pexpire",
            ExpireCommand::ExpireAt => "expireat",
            ExpireCommand::PExpireAt => "pexpireat",
        }
    }
}

/// One validated write. Keys and values are owned `Bytes`, copied out of the
/// connection's read buffer, so an op can outlive the buffer it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOp {
    /// `SET`, `SETEX`, `PSETEX`, `GETSET` (`get: true`, `ttl: Clear`).
    /// Replies `+OK`, or nil when the condition fails; with `get`, the old
    /// value (or nil), and WRONGTYPE without writing if the old value is not
    /// a string.
    Set {
        key: Bytes,
        value: Bytes,
        condition: SetCondition,
        ttl: TtlChange,
        get: bool,
    },
    /// `SETNX`: replies `:1` if set, `:0` if the key existed.
    SetNx { key: Bytes, value: Bytes },
    /// `GETDEL`: the value (or nil), then the key is deleted.
    GetDel { key: Bytes },
    /// `GETEX`: the value (or nil) and the TTL change.
    GetEx { key: Bytes, ttl: TtlChange },
    /// `MSET`: replies `+OK`.
    MSet { pairs: Vec<(Bytes, Bytes)> },
    /// `MSETNX`: `:1` if every key was absent and all were set, else `:0`.
    MSetNx { pairs: Vec<(Bytes, Bytes)> },
    /// `APPEND`: the new length.
    Append { key: Bytes, value: Bytes },
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`: the new value.
    IncrBy { key: Bytes, delta: i64 },
    /// `INCRBYFLOAT`: the new value as a bulk string. `delta` is the
    /// client's text, already checked to parse as a finite float, kept as
    /// text so apply can compute at full precision.
    IncrByFloat { key: Bytes, delta: Bytes },
    /// `SETRANGE`: the new length.
    SetRange {
        key: Bytes,
        offset: u64,
        value: Bytes,
    },
    /// `DEL`, `UNLINK`: the number of keys removed.
    Del { keys: Vec<Bytes> },
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`: `:1` if the expiry was
    /// set (or the key deleted because the time is already past), `:0` if
    /// the key is missing or the condition failed. `amount` is seconds or
    /// milliseconds, relative or absolute, as `command` says.
    Expire {
        key: Bytes,
        amount: i64,
        command: ExpireCommand,
        condition: ExpireCondition,
    },
    /// `PERSIST`: `:1` if an expiry was removed.
    Persist { key: Bytes },
    /// `RENAME` (`+OK`, or `ERR no such key`) and `RENAMENX` (`:1`/`:0`).
    Rename {
        from: Bytes,
        to: Bytes,
        only_if_absent: bool,
    },
    /// `COPY`: `:1` if copied. `to_db` is the destination database (the
    /// current one unless `DB` was given).
    Copy {
        from: Bytes,
        to: Bytes,
        to_db: usize,
        replace: bool,
    },
    /// `MOVE`: `:1` if the key moved to database `to_db` (with its expiry),
    /// `:0` if it is missing or `to_db` already holds it. The server rejects
    /// `to_db` equal to the current database.
    Move { key: Bytes, to_db: usize },
    /// `SWAPDB`: `+OK`; databases `a` and `b` trade contents.
    SwapDb { a: usize, b: usize },
    /// `FLUSHDB`: `+OK`.
    FlushDb,
    /// `FLUSHALL`: `+OK`.
    FlushAll,
    /// Active expiry, proposed by the leader: deletes each key that is
    /// expired at the apply timestamp, and leaves any other alone (it may
    /// have been written again since). Replies the number deleted.
    PurgeExpired { keys: Vec<Bytes> },
    /// A list write.
    Lists(ListOp),
    /// A hash write.
    Hashes(HashOp),
    /// A set write.
    Sets(SetOp),
    /// A sorted set write.
    ZSets(ZSetOp),
    /// `SORT key ... STORE dst`: the sort runs again at apply; replies the
    /// number of items stored (the list at `dst`, deleted when empty), or
    /// WRONGTYPE, or the error of a weight that is not a number.
    SortStore {
        key: Bytes,
        dst: Bytes,
        args: SortArgs,
    },
    /// `RESTORE`: `+OK`, or BUSYKEY if `key` exists and not `replace`.
    /// `value` was decoded from a checked payload. `ttl_ms` is 0 for no
    /// expiry, else milliseconds from the apply timestamp, or with
    /// `absolute` a Unix time in milliseconds; never negative. An expiry
    /// already past stores nothing (deleting a key `replace` replaces) and
    /// still replies `+OK`. `idle_s` (`IDLETIME`, never negative) sets how
    /// long the key has been idle at the apply timestamp, as Redis does;
    /// without it the key is accessed at the apply timestamp.
    Restore {
        key: Bytes,
        value: DumpValue,
        ttl_ms: i64,
        absolute: bool,
        replace: bool,
        idle_s: Option<i64>,
    },
    /// A bitmap write (`SETBIT`, `BITOP`, `BITFIELD`). Last, like every
    /// new variant: an entry's ops are encoded by variant index.
    Bitmaps(BitmapOp),
    /// A HyperLogLog write (`PFADD`, `PFCOUNT` of one key, `PFMERGE`,
    /// `PFDEBUG GETREG|TODENSE`).
    Hll(HllOp),
    /// `GEOSEARCHSTORE`, `GEORADIUS[BYMEMBER] ... STORE|STOREDIST`: the
    /// search's points stored at `dst` (replacing it; deleted if none),
    /// replying how many, or the search's error without a write.
    GeoStore { dst: Bytes, search: GeoSearchArgs },
    /// Eviction, proposed by the leader when used memory is over
    /// `maxmemory` (the server's `evict/`): deletes each key that exists,
    /// whatever it holds, and counts it in `evicted_keys`. Replies the
    /// number deleted.
    Evict { keys: Vec<Bytes> },
    /// A stream write (`XADD`, `XDEL`, `XTRIM`, `XSETID`).
    Streams(StreamOp),
}

impl WriteOp {
    /// For a pop that changes nothing when its key is missing (`LPOP`,
    /// `RPOP`, `SPOP`, `ZPOPMIN`, `ZPOPMAX`): the key, and the reply it
    /// then gives. The server may answer such a pop as a read.
    pub fn reply_if_missing(&self) -> Option<(&Bytes, crate::Reply)> {
        use crate::Reply;
        match self {
            WriteOp::Lists(ListOp::Pop { key, count, .. }) => {
                let nothing = match count {
                    Some(_) => Reply::NilArray,
                    None => Reply::Nil,
                };
                Some((key, nothing))
            }
            WriteOp::Sets(SetOp::Pop { key, count, .. }) => {
                let nothing = match count {
                    Some(_) => Reply::Set(Vec::new()),
                    None => Reply::Nil,
                };
                Some((key, nothing))
            }
            WriteOp::ZSets(ZSetOp::Pop { key, .. }) => Some((key, Reply::Array(Vec::new()))),
            _ => None,
        }
    }
}
