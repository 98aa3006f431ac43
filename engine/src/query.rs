//! Reads as values: every read of the keyspace, parsed and validated into
//! a [`Query`] that [`Engine::query`] answers.
//!
//! A read runs on the network thread that received it, against this
//! node's state. Inside `MULTI` it runs at apply instead, on every node,
//! between the transaction's writes; a transaction therefore travels
//! through the Raft log as a list of ops, never as command text, and apply
//! runs no command handler (DESIGN.md, "Rules that do not change").
//!
//! Invariants:
//! - A query carries everything its answer depends on besides the state
//!   and the time: its keys, its parsed options, and the seed of any
//!   random pick (`SRANDMEMBER`, `RANDOMKEY`), so the same query at the
//!   same time on the same state gives the same reply on every node.
//! - An argument error that Redis reports only after it has looked at the
//!   key (`HSCAN`'s options: a missing key answers an empty scan whatever
//!   they are) is carried in the query as that error, and reported where
//!   Redis reports it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    BitUnit, Engine, Error, FieldOp, GeoSearchArgs, HllDebug, LcsReply, PosRange, RandArgs,
    RangeArgs, RangeBy, ReadFrom, ReplySink, ScanArgs, SortArgs, StreamId,
};

/// One read of the keyspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Query {
    /// `GET`
    Get { key: Bytes },
    /// `MGET`
    MGet { keys: Vec<Bytes> },
    /// `STRLEN`
    StrLen { key: Bytes },
    /// `GETRANGE` (`SUBSTR`)
    GetRange { key: Bytes, start: i64, end: i64 },
    /// `EXISTS` (`touch`: `TOUCH`, which also counts as an access)
    Exists { keys: Vec<Bytes>, touch: bool },
    /// `TYPE`
    Type { key: Bytes },
    /// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`
    Ttl {
        key: Bytes,
        millis: bool,
        absolute: bool,
    },
    /// `KEYS`
    Keys { pattern: Bytes },
    /// `SCAN`
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
        type_name: Option<Bytes>,
    },
    /// `RANDOMKEY`
    RandomKey { seed: u64 },
    /// `DBSIZE`
    DbSize,
    /// `DUMP`
    Dump { key: Bytes },
    /// `OBJECT ENCODING`
    ObjectEncoding { key: Bytes },
    /// `OBJECT REFCOUNT`
    ObjectRefcount { key: Bytes },
    /// `MEMORY USAGE`
    MemoryUsage { key: Bytes },
    /// `SORT` without `STORE`, `SORT_RO`
    Sort { key: Bytes, args: SortArgs },
    /// `LRANGE`
    LRange { key: Bytes, start: i64, stop: i64 },
    /// `LLEN`
    LLen { key: Bytes },
    /// `LINDEX` (`None`: an index that is not an integer, reported after
    /// the key's type)
    LIndex { key: Bytes, index: Option<i64> },
    /// `LPOS`
    LPos {
        key: Bytes,
        element: Bytes,
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    },
    /// `HGET`
    HGet { key: Bytes, field: Bytes },
    /// `HMGET`
    HMGet { key: Bytes, fields: Vec<Bytes> },
    /// `HEXISTS`
    HExists { key: Bytes, field: Bytes },
    /// `HSTRLEN`
    HStrLen { key: Bytes, field: Bytes },
    /// `HLEN`
    HLen { key: Bytes },
    /// `HKEYS` (`values`: `HVALS`)
    HKeys { key: Bytes, values: bool },
    /// `HGETALL`
    HGetAll { key: Bytes },
    /// `HRANDFIELD`
    HRandField {
        key: Bytes,
        count: Option<i64>,
        with_values: bool,
        seed: u64,
    },
    /// `HSCAN`
    HScan {
        key: Bytes,
        cursor: u64,
        options: Result<ScanArgs, Error>,
    },
    /// `SMEMBERS`
    SMembers { key: Bytes },
    /// `SCARD`
    SCard { key: Bytes },
    /// `SISMEMBER`
    SIsMember { key: Bytes, member: Bytes },
    /// `SMISMEMBER`
    SMIsMember { key: Bytes, members: Vec<Bytes> },
    /// `SRANDMEMBER`
    SRandMember {
        key: Bytes,
        count: Option<i64>,
        seed: u64,
    },
    /// `SSCAN`
    SScan {
        key: Bytes,
        cursor: u64,
        options: Result<ScanArgs, Error>,
    },
    /// `SUNION`, `SINTER`, `SDIFF`
    SAlgebra { keys: Vec<Bytes>, op: SetAlgebra },
    /// `SINTERCARD`
    SInterCard { keys: Vec<Bytes>, limit: u64 },
    /// `ZSCORE`
    ZScore { key: Bytes, member: Bytes },
    /// `ZMSCORE`
    ZMScore { key: Bytes, members: Vec<Bytes> },
    /// `ZCARD`
    ZCard { key: Bytes },
    /// `ZCOUNT`, `ZLEXCOUNT`
    ZCount { key: Bytes, range: RangeBy },
    /// `ZRANK`, `ZREVRANK`
    ZRank {
        key: Bytes,
        member: Bytes,
        rev: bool,
        with_score: bool,
    },
    /// `ZRANGE` and its family
    ZRange { key: Bytes, args: RangeArgs },
    /// `ZRANDMEMBER`
    ZRandMember {
        key: Bytes,
        args: RandArgs,
        seed: u64,
    },
    /// `ZSCAN`
    ZScan {
        key: Bytes,
        cursor: u64,
        options: Result<ScanArgs, Error>,
    },
    /// `ZUNION`, `ZINTER`, `ZDIFF` (`card`: `ZINTERCARD`)
    ZAlgebra {
        args: crate::AlgebraArgs,
        card: bool,
    },
    /// A command whose arguments are invalid, but whose error Redis gives
    /// only once it has looked the key up (`GETEX`'s time, `LSET`'s index,
    /// `SETRANGE` past the largest string): a missing key answers
    /// `missing` (`None`: nil), a key holding a `kind` answers `error`, any
    /// other type WRONGTYPE. It changes nothing.
    Refused {
        key: Bytes,
        kind: KeyKind,
        missing: Option<Error>,
        error: Error,
    },
    /// A sorted set operation (`ZUNION`, `ZINTERSTORE`, ...) whose
    /// options are invalid: Redis reports their error only once it has
    /// found every key missing, a sorted set or a set, so a key of another
    /// type answers WRONGTYPE, and otherwise `error`. It changes nothing.
    ZAlgebraRefused { keys: Vec<Bytes>, error: Error },
    /// A `RESTORE` without `REPLACE` whose TTL or payload is invalid:
    /// Redis looks the key up (an access, as its `lookupKeyWrite`) before
    /// it checks them, so an existing key answers `BUSYKEY`, a missing one
    /// `error`. It changes nothing.
    RestoreRefused { key: Bytes, error: Error },
    /// `GETBIT` (the bitmap reads come last, like every new variant: a
    /// transaction's entry encodes its queries by variant index)
    GetBit { key: Bytes, offset: u64 },
    /// `BITCOUNT`: the range `(start, end, unit)`, `None` for the whole
    /// string, or its error (reported only for a string key).
    BitCount {
        key: Bytes,
        range: Result<Option<(i64, i64, BitUnit)>, Error>,
    },
    /// `BITPOS`: as `BitCount`, with the bit sought.
    BitPos {
        key: Bytes,
        bit: bool,
        range: Result<Option<PosRange>, Error>,
    },
    /// `BITFIELD` with only `GET`s, `BITFIELD_RO`
    BitField { key: Bytes, ops: Vec<FieldOp> },
    /// `PFCOUNT` of two keys or more (one key is `HllOp::Count`)
    PfCount { keys: Vec<Bytes> },
    /// `PFDEBUG DECODE|ENCODING`, or an unknown subcommand's error
    /// (reported once the key has passed its checks)
    PfDebug {
        key: Bytes,
        read: Result<HllDebug, Error>,
    },
    /// `GEOPOS` (the geo reads follow the bitmap ones, at the end)
    GeoPos { key: Bytes, members: Vec<Bytes> },
    /// `GEODIST` (`to_meters`: the unit's size in meters)
    GeoDist {
        key: Bytes,
        members: (Bytes, Bytes),
        to_meters: f64,
    },
    /// `GEOHASH`
    GeoHash { key: Bytes, members: Vec<Bytes> },
    /// `GEOSEARCH`, `GEORADIUS[BYMEMBER][_RO]` without `STORE`, and a
    /// search that would store but is refused whatever its key holds
    GeoSearch(GeoSearchArgs),
    /// `LCS` of the strings at `a` and `b`: its reply, or its options'
    /// error (reported only once neither key holds another type).
    Lcs {
        a: Bytes,
        b: Bytes,
        reply: Result<LcsReply, Error>,
    },
    /// `XLEN`
    XLen { key: Bytes },
    /// `XRANGE`, `XREVRANGE` (`rev`) over `start..=end`, exclusive bounds
    /// already stepped in; `count` `Some(0)` for a null array (a `COUNT`
    /// of 0 or below), `None` for all.
    XRange {
        key: Bytes,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: Option<u64>,
    },
    /// `XREAD` without `BLOCK` (or its first look): each key's position,
    /// or the error of its ID, reported after the key's type is checked;
    /// `count` 0 for all.
    XRead {
        keys: Vec<Bytes>,
        from: Vec<Result<ReadFrom, Error>>,
        count: u64,
    },
}

/// A type of value, as `Query::Refused` expects one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl KeyKind {
    /// `TYPE`'s name for it.
    pub fn type_name(self) -> &'static str {
        match self {
            KeyKind::String => "string",
            KeyKind::List => "list",
            KeyKind::Hash => "hash",
            KeyKind::Set => "set",
            KeyKind::ZSet => "zset",
        }
    }
}

/// Which set algebra `Query::SAlgebra` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetAlgebra {
    Union,
    Inter,
    Diff,
}

impl Engine {
    /// Answers `query` on database `db` at `now_ms` into `sink`.
    pub fn query(&self, db: usize, query: &Query, now_ms: u64, sink: &mut impl ReplySink) {
        match query {
            Query::Get { key } => self.get(db, key, now_ms, sink),
            Query::MGet { keys } => self.mget(db, keys, now_ms, sink),
            Query::StrLen { key } => self.strlen(db, key, now_ms, sink),
            Query::GetRange { key, start, end } => {
                self.getrange(db, key, *start, *end, now_ms, sink)
            }
            Query::Exists { keys, touch: false } => sink.int(self.exists(db, keys, now_ms)),
            Query::Exists { keys, touch: true } => sink.int(self.touch(db, keys, now_ms)),
            Query::Type { key } => sink.simple(self.key_type(db, key, now_ms)),
            Query::Ttl {
                key,
                millis,
                absolute,
            } => sink.int(self.ttl(db, key, now_ms, *millis, *absolute)),
            Query::Keys { pattern } => self.keys(db, pattern, now_ms, sink),
            Query::Scan {
                cursor,
                pattern,
                count,
                type_name,
            } => self.scan(
                db,
                *cursor,
                pattern.as_deref(),
                *count,
                type_name.as_deref(),
                now_ms,
                sink,
            ),
            Query::RandomKey { seed } => self.random_key(db, now_ms, *seed, sink),
            Query::DbSize => sink.int(self.dbsize(db) as i64),
            Query::Dump { key } => self.dump_payload(db, key, now_ms, sink),
            Query::ObjectEncoding { key } => match self.object_encoding(db, key, now_ms) {
                Some(encoding) => sink.bulk(encoding.as_bytes()),
                None => sink.nil(),
            },
            Query::ObjectRefcount { key } => match self.object_refcount(db, key, now_ms) {
                Some(count) => sink.int(count),
                None => sink.nil(),
            },
            Query::MemoryUsage { key } => match self.memory_usage(db, key, now_ms) {
                Some(bytes) => sink.int(bytes as i64),
                None => sink.nil(),
            },
            Query::Sort { key, args } => self.sort(db, key, args, now_ms, sink),
            Query::LRange { key, start, stop } => self.lrange(db, key, *start, *stop, now_ms, sink),
            Query::LLen { key } => self.llen(db, key, now_ms, sink),
            Query::LIndex { key, index } => self.lindex(db, key, *index, now_ms, sink),
            Query::LPos {
                key,
                element,
                rank,
                count,
                maxlen,
            } => self.lpos(db, key, element, (*rank, *count, *maxlen), now_ms, sink),
            Query::HGet { key, field } => self.hget(db, key, field, now_ms, sink),
            Query::HMGet { key, fields } => self.hmget(db, key, fields, now_ms, sink),
            Query::HExists { key, field } => self.hexists(db, key, field, now_ms, sink),
            Query::HStrLen { key, field } => self.hstrlen(db, key, field, now_ms, sink),
            Query::HLen { key } => self.hlen(db, key, now_ms, sink),
            Query::HKeys { key, values } => self.hkeys_or_vals(db, key, *values, now_ms, sink),
            Query::HGetAll { key } => self.hgetall(db, key, now_ms, sink),
            Query::HRandField {
                key,
                count,
                with_values,
                seed,
            } => self.hrandfield(db, key, *count, *with_values, *seed, now_ms, sink),
            Query::HScan {
                key,
                cursor,
                options,
            } => self.hscan(db, key, *cursor, scan_options(options), now_ms, sink),
            Query::SMembers { key } => self.smembers(db, key, now_ms, sink),
            Query::SCard { key } => self.scard(db, key, now_ms, sink),
            Query::SIsMember { key, member } => self.sismember(db, key, member, now_ms, sink),
            Query::SMIsMember { key, members } => self.smismember(db, key, members, now_ms, sink),
            Query::SRandMember { key, count, seed } => {
                self.srandmember(db, key, *count, *seed, now_ms, sink)
            }
            Query::SScan {
                key,
                cursor,
                options,
            } => self.sscan(db, key, *cursor, scan_options(options), now_ms, sink),
            Query::SAlgebra { keys, op } => match op {
                SetAlgebra::Union => self.sunion(db, keys, now_ms, sink),
                SetAlgebra::Inter => self.sinter(db, keys, now_ms, sink),
                SetAlgebra::Diff => self.sdiff(db, keys, now_ms, sink),
            },
            Query::SInterCard { keys, limit } => self.sintercard(db, keys, *limit, now_ms, sink),
            Query::ZScore { key, member } => self.zscore(db, key, member, now_ms, sink),
            Query::ZMScore { key, members } => self.zmscore(db, key, members, now_ms, sink),
            Query::ZCard { key } => self.zcard(db, key, now_ms, sink),
            Query::ZCount { key, range } => self.zcount(db, key, range, now_ms, sink),
            Query::ZRank {
                key,
                member,
                rev,
                with_score,
            } => self.zrank(db, key, member, *rev, *with_score, now_ms, sink),
            Query::ZRange { key, args } => self.zrange(db, key, args, now_ms, sink),
            Query::ZRandMember { key, args, seed } => {
                self.zrandmember(db, key, *args, *seed, now_ms, sink)
            }
            Query::ZScan {
                key,
                cursor,
                options,
            } => self.zscan(db, key, *cursor, options.clone(), now_ms, sink),
            Query::ZAlgebra { args, card } => self.zalgebra(db, args, *card, now_ms, sink),
            Query::GetBit { key, offset } => self.getbit(db, key, *offset, now_ms, sink),
            Query::BitCount { key, range } => self.bitcount(db, key, range, now_ms, sink),
            Query::BitPos { key, bit, range } => self.bitpos(db, key, *bit, range, now_ms, sink),
            Query::BitField { key, ops } => self.bitfield_get(db, key, ops, now_ms, sink),
            Query::PfCount { keys } => self.pfcount(db, keys, now_ms, sink),
            Query::PfDebug { key, read } => self.pfdebug(db, key, read, now_ms, sink),
            Query::GeoPos { key, members } => self.geopos(db, key, members, now_ms, sink),
            Query::GeoDist {
                key,
                members: (a, b),
                to_meters,
            } => self.geodist(db, key, (a, b), *to_meters, now_ms, sink),
            Query::GeoHash { key, members } => self.geohash(db, key, members, now_ms, sink),
            Query::GeoSearch(args) => self.geosearch(db, args, now_ms, sink),
            Query::Lcs { a, b, reply } => self.lcs(db, [a, b], reply, now_ms, sink),
            Query::XLen { key } => self.xlen(db, key, now_ms, sink),
            Query::XRange {
                key,
                start,
                end,
                rev,
                count,
            } => self.xrange(db, key, (*start, *end), *rev, *count, now_ms, sink),
            Query::XRead { keys, from, count } => {
                match self.xread_positions(db, keys, from, now_ms) {
                    Ok(after) => self.xread(db, keys, &after, *count, now_ms, sink),
                    Err(error) => sink.error(&error),
                }
            }
            Query::Refused {
                key,
                kind,
                missing,
                error,
            } => match self.key_type(db, key, now_ms) {
                "none" => match missing {
                    Some(error) => sink.error(error),
                    None => sink.nil(),
                },
                found if found == kind.type_name() => sink.error(error),
                _ => sink.error(&Error::WrongType),
            },
            Query::ZAlgebraRefused { keys, error } => match self.zalgebra_check(db, keys, now_ms) {
                Ok(()) => sink.error(error),
                Err(wrong_type) => sink.error(&wrong_type),
            },
            Query::RestoreRefused { key, error } => {
                match self.touch(db, std::slice::from_ref(key), now_ms) {
                    0 => sink.error(error),
                    _ => sink.error(&crate::BUSY_KEY),
                }
            }
        }
    }
}

/// A `*SCAN`'s options as the hash and set scans take them.
fn scan_options(options: &Result<ScanArgs, Error>) -> Result<(Option<&[u8]>, usize), Error> {
    options
        .as_ref()
        .map(|options| (options.pattern.as_deref(), options.count))
        .map_err(Clone::clone)
}
