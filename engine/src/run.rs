//! A run: the immutable, sorted bottom layer of every shard, one file of
//! rkyv archives that is mapped into memory and read in place.
//!
//! A snapshot writes the keyspace's frozen layers, merged, as one run (see
//! `snapshot.rs`); a restart maps the newest run and serves reads from it
//! directly, without deserializing the dataset. A key read from a run is
//! handed out as a slice of the mapping (no copy); a key a write touches is
//! copied up into its shard's head (`shard.rs`), so the mutable layers
//! never point into a run and an old run's memory goes away with its last
//! reader. The keys' access times (`OBJECT IDLETIME`) are not in the file:
//! they are a side array of the [`RunShard`], set as reads happen.
//!
//! File format (all integers little-endian):
//! - header, 24 bytes: `magic` (8 bytes, [`RUN_MAGIC`]), `version` (u32,
//!   [`RUN_VERSION`]), `shard_count` (u32), `meta_len` (u64);
//! - `meta`: `meta_len` opaque bytes for the caller (the Raft snapshot
//!   meta), then zero padding to a multiple of 16;
//! - one rkyv archive of [`ShardRecords`] per shard, in (db, shard) order,
//!   each starting at a multiple of 16 and followed by zero padding to the
//!   next;
//! - the index: `shard_count` pairs of (offset u64, length u64), one per
//!   archive;
//! - the trailer, 12 bytes: `index_offset` (u64), then `crc` (u32), the
//!   CRC32C of every byte of the file before it.
//!
//! Invariants (checked by [`Run::from_bytes`] before anything is read):
//! - The CRC matches, the version is known, every archive lies inside the
//!   file and passes rkyv's validation.
//! - Within a shard, records are strictly increasing in (hash, key bytes),
//!   every hash belongs to the shard, `hashes[i]` is record `i`'s hash, and
//!   `expiring` lists, in order, exactly the records with an expiry.
//! - A run file is never written again once it is complete: the mapping
//!   relies on it.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::hash::{Hash, HashRecord};
use crate::list::{List, ListRecord};
use crate::lru::Lru;
use crate::placement::{shard_of, SHARDS_PER_DB};
use crate::set::{Set, SetRecord};
use crate::value::{Entry, Value};
use crate::zset::{ZSet, ZSetRecord};
use crate::{SmallBytes, DB_COUNT};

/// The first 8 bytes of every run file.
pub const RUN_MAGIC: [u8; 8] = *b"RDRFTRUN";
/// The format version this code writes and reads.
pub const RUN_VERSION: u32 = 2;
/// Shards in a run: one per (db, shard) of the engine.
pub(crate) const RUN_SHARDS: usize = DB_COUNT * SHARDS_PER_DB;
const HEADER_BYTES: usize = 24;
const TRAILER_BYTES: usize = 12;
/// Archives start at multiples of this, rkyv's strictest alignment.
const ALIGN: usize = 16;

/// One shard's keys, as archived in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct ShardRecords {
    /// Record `i`'s key hash, apart so a lookup searches a dense array.
    pub(crate) hashes: Vec<u64>,
    /// The keys in (hash, key bytes) order.
    pub(crate) records: Vec<Record>,
    /// The indexes of the records with an expiry, ascending.
    pub(crate) expiring: Vec<u32>,
}

/// One key with its value and absolute expiry.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct Record {
    pub(crate) key: Bytes,
    pub(crate) value: RecordValue,
    /// Unix time in milliseconds at which the key expires; `None` if never.
    pub(crate) expires_at_ms: Option<u64>,
}

/// A value in its archived form (see [`Value`]).
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) enum RecordValue {
    Str(Bytes),
    List(ListRecord),
    Hash(HashRecord),
    Set(SetRecord),
    ZSet(ZSetRecord),
    /// A stream's body (`stream/codec.rs`): its nodes as they are.
    Stream(Bytes),
}

impl Record {
    /// `entry` under `key`, in archivable form. Shares the entry's
    /// buffers where it can.
    pub(crate) fn new(key: &[u8], entry: &Entry) -> Record {
        let value = match &entry.value {
            Value::Str(bytes) => RecordValue::Str(bytes.to_bytes()),
            Value::List(list) => RecordValue::List(list.to_record()),
            Value::Hash(hash) => RecordValue::Hash(hash.to_record()),
            Value::Set(set) => RecordValue::Set(set.to_record()),
            Value::ZSet(zset) => RecordValue::ZSet(zset.to_record()),
            Value::Stream(stream) => {
                let mut body = Vec::new();
                crate::stream::encode_body(stream, &mut body);
                RecordValue::Stream(Bytes::from(body))
            }
        };
        Record {
            key: Bytes::copy_from_slice(key),
            value,
            expires_at_ms: entry.expires_at_ms(),
        }
    }
}

/// Why a run file was refused.
#[derive(Debug)]
pub enum RunError {
    /// Reading, writing or mapping the file failed.
    Io(io::Error),
    /// The file is not a complete, intact run of this version.
    Corrupt(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Io(error) => write!(f, "{error}"),
            RunError::Corrupt(reason) => write!(f, "corrupt run: {reason}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<io::Error> for RunError {
    fn from(error: io::Error) -> RunError {
        RunError::Io(error)
    }
}

fn corrupt(reason: impl Into<String>) -> RunError {
    RunError::Corrupt(reason.into())
}

/// A validated run, mapped (or held) in memory.
pub struct Run {
    /// The whole file.
    bytes: Bytes,
    /// Where the caller's meta bytes are in `bytes`.
    meta: Range<usize>,
    /// Where each shard's archive is in `bytes`, by (db, shard) index.
    shards: Box<[Range<usize>]>,
    /// Keys in the run, over all shards.
    keys: u64,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("bytes", &self.bytes.len())
            .field("keys", &self.keys)
            .finish()
    }
}

impl Run {
    /// Maps the run file at `path` and validates it.
    pub fn open(path: &Path) -> Result<Arc<Run>, RunError> {
        let file = File::open(path)?;
        // SAFETY: a run file is complete before it gets its final name and
        // is never written again (module invariant); a newer run replaces
        // it by rename, which leaves this mapping's inode untouched.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Run::from_bytes(Bytes::from_owner(map))
    }

    /// Validates `bytes` as a run file (copying them first if they are not
    /// aligned for rkyv).
    pub fn from_bytes(bytes: Bytes) -> Result<Arc<Run>, RunError> {
        let bytes = if (bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            bytes
        } else {
            let mut aligned = AlignedVec::<ALIGN>::with_capacity(bytes.len());
            aligned.extend_from_slice(&bytes);
            Bytes::from_owner(aligned)
        };
        let len = bytes.len();
        if len < HEADER_BYTES + TRAILER_BYTES {
            return Err(corrupt(format!("{len} bytes is too short")));
        }
        let (sealed, crc) = bytes.split_at(len - 4);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(sealed);
        if stored != computed {
            return Err(corrupt(format!(
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            )));
        }
        if bytes[..8] != RUN_MAGIC {
            return Err(corrupt("not a run file (bad magic)"));
        }
        let version = read_u32(&bytes, 8);
        if version != RUN_VERSION {
            return Err(corrupt(format!("unknown version {version}")));
        }
        let shard_count = read_u32(&bytes, 12) as usize;
        if shard_count != RUN_SHARDS {
            return Err(corrupt(format!(
                "{shard_count} shards, this build has {RUN_SHARDS}"
            )));
        }
        let meta_len = read_u64(&bytes, 16);
        let index_offset = read_u64(&bytes, len - TRAILER_BYTES);
        let index_end = len - TRAILER_BYTES;
        let meta = checked_range(HEADER_BYTES as u64, meta_len, index_end, "meta")?;
        if index_offset.checked_add((shard_count * 16) as u64) != Some(index_end as u64) {
            return Err(corrupt("index does not end at the trailer"));
        }
        let mut shards = Vec::with_capacity(shard_count);
        let mut keys = 0;
        for shard in 0..shard_count {
            let at = index_offset as usize + shard * 16;
            let range = checked_range(
                read_u64(&bytes, at),
                read_u64(&bytes, at + 8),
                index_offset as usize,
                "shard archive",
            )?;
            if range.start % ALIGN != 0 {
                return Err(corrupt(format!("shard {shard} is not aligned")));
            }
            let archived =
                rkyv::access::<ArchivedShardRecords, rancor::Error>(&bytes[range.clone()])
                    .map_err(|e| corrupt(format!("shard {shard}: {e}")))?;
            check_shard(archived, shard % SHARDS_PER_DB)
                .map_err(|reason| corrupt(format!("shard {shard}: {reason}")))?;
            keys += archived.records.len() as u64;
            shards.push(range);
        }
        Ok(Arc::new(Run {
            bytes,
            meta,
            shards: shards.into_boxed_slice(),
            keys,
        }))
    }

    /// The caller's meta bytes, as given to the writer.
    pub fn meta(&self) -> &[u8] {
        &self.bytes[self.meta.clone()]
    }

    /// The whole file, shared (a snapshot sent to a follower is this).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Keys in the run.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Shard `index`'s archive.
    fn shard(&self, index: usize) -> &ArchivedShardRecords {
        let range = self.shards[index].clone();
        // SAFETY: `from_bytes` validated exactly these bytes with
        // `rkyv::access`, and `bytes` is immutable.
        unsafe { rkyv::access_unchecked::<ArchivedShardRecords>(&self.bytes[range]) }
    }
}

/// Checks the order and cross-references of a validated archive.
fn check_shard(shard: &ArchivedShardRecords, index_in_db: usize) -> Result<(), String> {
    if shard.hashes.len() != shard.records.len() {
        return Err("hash and record counts differ".into());
    }
    let mut expiring = shard
        .expiring
        .iter()
        .map(|index| index.to_native() as usize);
    let mut next_expiring = expiring.next();
    let mut previous: Option<(u64, &[u8])> = None;
    for (i, (hash, record)) in shard.hashes.iter().zip(shard.records.iter()).enumerate() {
        let hash = hash.to_native();
        if shard_of(hash) != index_in_db {
            return Err(format!("record {i} belongs to another shard"));
        }
        let key: &[u8] = &record.key;
        if previous.is_some_and(|before| before >= (hash, key)) {
            return Err(format!("record {i} is out of order"));
        }
        previous = Some((hash, key));
        if record.expires_at_ms.is_some() {
            if next_expiring != Some(i) {
                return Err(format!("record {i} has an expiry but is not listed"));
            }
            next_expiring = expiring.next();
        }
    }
    match next_expiring {
        None => Ok(()),
        Some(i) => Err(format!("expiring index {i} lists a record without one")),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// `start..start + len` if it lies within `..end`.
fn checked_range(start: u64, len: u64, end: usize, what: &str) -> Result<Range<usize>, RunError> {
    match start.checked_add(len) {
        Some(stop) if stop <= end as u64 => Ok(start as usize..stop as usize),
        _ => Err(corrupt(format!(
            "{what} at {start}+{len} lies outside the file"
        ))),
    }
}

/// One shard of a run, as a shard's bottom layer. Cloning shares the run
/// and the access times.
#[derive(Clone)]
pub(crate) struct RunShard {
    run: Arc<Run>,
    /// The shard's (db, shard) index in the run.
    index: usize,
    /// Record `i`'s access time (`lru.rs`), beside the read-only mapping:
    /// local metadata, never written to a run file. Allocated when a shard
    /// takes the run as its bottom layer, 4 bytes a key.
    lrus: Arc<[Lru]>,
}

/// How a value read from a run is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Materialize {
    /// As slices of the mapping: no copy, for a reply.
    Share,
    /// Copied to the heap: for the mutable layers, which must never keep a
    /// run alive.
    Copy,
}

impl RunShard {
    /// Shard `index` of `run`, every key's access time at LRU clock
    /// `clock` (a shard adopting the run then sets them to its merged
    /// layers' own: see `Shard::adopt`).
    pub(crate) fn new(run: Arc<Run>, index: usize, clock: u32) -> RunShard {
        assert!(index < run.shards.len(), "run shard {index} out of range");
        let len = run.shard(index).records.len();
        let lrus = (0..len).map(|_| Lru::new(clock)).collect();
        RunShard { run, index, lrus }
    }

    fn records(&self) -> &ArchivedShardRecords {
        self.run.shard(self.index)
    }

    /// Whether both are the same shard of the same run.
    pub(crate) fn same(&self, other: &RunShard) -> bool {
        Arc::ptr_eq(&self.run, &other.run) && self.index == other.index
    }

    /// Keys in this shard.
    pub(crate) fn len(&self) -> usize {
        self.records().records.len()
    }

    /// This layer's share of the memory estimate: the archive's size and
    /// 4 bytes a key of access times. A function of the run alone, the
    /// same on every node.
    pub(crate) fn cost_bytes(&self) -> u64 {
        let lrus = self.lrus.len() * std::mem::size_of::<Lru>();
        (self.run.shards[self.index].len() + lrus) as u64
    }

    /// The position and record of (`hash`, `key`), if the run has it.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<(usize, &ArchivedRecord)> {
        let shard = self.records();
        let start = shard.hashes.partition_point(|h| h.to_native() < hash);
        shard.hashes[start..]
            .iter()
            .take_while(|h| h.to_native() == hash)
            .zip(&shard.records[start..])
            .position(|(_, record)| record.key.as_slice() == key)
            .map(|at| (start + at, &shard.records[start + at]))
    }

    /// The record of (`hash`, `key`), if the run has it.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&ArchivedRecord> {
        self.find(hash, key).map(|(_, record)| record)
    }

    /// The access time of the record at `position`.
    #[inline]
    pub(crate) fn lru(&self, position: usize) -> &Lru {
        &self.lrus[position]
    }

    /// Every record's access time, by position.
    pub(crate) fn lrus(&self) -> &[Lru] {
        &self.lrus
    }

    /// Records whose hash is `>= from_hash`, in order, as (position, hash,
    /// key, record).
    pub(crate) fn iter_from(
        &self,
        from_hash: u64,
    ) -> impl Iterator<Item = (usize, u64, &[u8], &ArchivedRecord)> {
        let shard = self.records();
        let start = shard.hashes.partition_point(|h| h.to_native() < from_hash);
        shard.hashes[start..]
            .iter()
            .zip(&shard.records[start..])
            .enumerate()
            .map(move |(at, (hash, record))| {
                (start + at, hash.to_native(), record.key.as_slice(), record)
            })
    }

    /// (expires_at_ms, hash, key) of every record with an expiry.
    pub(crate) fn expiring(&self) -> impl Iterator<Item = (u64, u64, &[u8])> {
        let shard = self.records();
        shard.expiring.iter().map(move |index| {
            let index = index.to_native() as usize;
            let record = &shard.records[index];
            let at = record
                .expires_at_ms
                .as_ref()
                .expect("validated")
                .to_native();
            (at, shard.hashes[index].to_native(), record.key.as_slice())
        })
    }

    /// `record` (one of this shard's) as an entry.
    pub(crate) fn entry(&self, record: &ArchivedRecord, how: Materialize) -> Entry {
        let bytes = |archived: &[u8]| match how {
            Materialize::Share => self.run.bytes.slice_ref(archived),
            Materialize::Copy => Bytes::copy_from_slice(archived),
        };
        let value = match &record.value {
            ArchivedRecordValue::Str(value) => Value::Str(SmallBytes::from(bytes(value))),
            ArchivedRecordValue::List(list) => {
                Value::List(Box::new(List::from_archived(list, bytes)))
            }
            ArchivedRecordValue::Hash(hash) => Value::Hash(Hash::from_archived(hash, bytes)),
            ArchivedRecordValue::Set(set) => Value::Set(Box::new(Set::from_archived(set, bytes))),
            ArchivedRecordValue::ZSet(zset) => Value::ZSet(ZSet::from_archived(zset, bytes)),
            ArchivedRecordValue::Stream(body) => Value::Stream(Box::new(
                crate::stream::decode_body(body).expect("a run's stream (checked by its CRC)"),
            )),
        };
        Entry::new(
            value,
            record.expires_at_ms.as_ref().map(|at| at.to_native()),
        )
    }
}

/// The `TYPE` name of an archived value, without materializing it.
pub(crate) fn record_type_name(record: &ArchivedRecord) -> &'static str {
    match record.value {
        ArchivedRecordValue::Str(_) => "string",
        ArchivedRecordValue::List(_) => "list",
        ArchivedRecordValue::Hash(_) => "hash",
        ArchivedRecordValue::Set(_) => "set",
        ArchivedRecordValue::ZSet(_) => "zset",
        ArchivedRecordValue::Stream(_) => "stream",
    }
}

/// Writes a run file shard by shard (module docs give the format). The
/// caller renames the finished file into place.
pub(crate) struct RunWriter {
    out: BufWriter<File>,
    /// Bytes written so far.
    offset: u64,
    /// CRC32C of the bytes written so far.
    crc: u32,
    /// (offset, length) of each archive written.
    index: Vec<(u64, u64)>,
    /// Reused for each shard's archive.
    buffer: AlignedVec<ALIGN>,
}

impl RunWriter {
    /// Creates (or truncates) `path` and writes the header and `meta`.
    pub(crate) fn create(path: &Path, meta: &[u8]) -> io::Result<RunWriter> {
        let mut writer = RunWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            offset: 0,
            crc: 0,
            index: Vec::with_capacity(RUN_SHARDS),
            buffer: AlignedVec::new(),
        };
        let shard_count = u32::try_from(RUN_SHARDS).expect("shard count fits in u32");
        writer.write(&RUN_MAGIC)?;
        writer.write(&RUN_VERSION.to_le_bytes())?;
        writer.write(&shard_count.to_le_bytes())?;
        writer.write(&(meta.len() as u64).to_le_bytes())?;
        writer.write(meta)?;
        writer.pad()?;
        Ok(writer)
    }

    /// Appends the next shard's archive.
    pub(crate) fn add_shard(&mut self, shard: &ShardRecords) -> io::Result<()> {
        assert!(self.index.len() < RUN_SHARDS, "more shards than a run has");
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let buffer = rkyv::api::high::to_bytes_in::<_, rancor::Error>(shard, buffer)
            .map_err(io::Error::other)?;
        self.index.push((self.offset, buffer.len() as u64));
        self.write(&buffer)?;
        self.buffer = buffer;
        self.pad()
    }

    /// Writes the index and trailer and syncs the file. Returns its size.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        assert_eq!(self.index.len(), RUN_SHARDS, "a run has every shard");
        let index_offset = self.offset;
        for (offset, len) in std::mem::take(&mut self.index) {
            self.write(&offset.to_le_bytes())?;
            self.write(&len.to_le_bytes())?;
        }
        self.write(&index_offset.to_le_bytes())?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.offset + 4)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.crc = crc32c::crc32c_append(self.crc, data);
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Zeros up to the next multiple of `ALIGN`.
    fn pad(&mut self) -> io::Result<()> {
        let padding = (ALIGN - self.offset as usize % ALIGN) % ALIGN;
        self.write(&[0; ALIGN][..padding])
    }
}
