//! Where a key lives: its database's shard is the top `SHARD_BITS` bits of
//! its hash, so walking a database's shards in index order walks its keys
//! in hash order (`SCAN` relies on that). Engine, runs and sorting all
//! place keys by these few functions.

/// log2 of [`SHARDS_PER_DB`].
pub(crate) const SHARD_BITS: u32 = 6;
/// Shards per database. A power of two; at most 64, because multi-key
/// operations track the shards they lock in a `u64` bit mask.
pub const SHARDS_PER_DB: usize = 1 << SHARD_BITS;
const _: () = assert!(SHARDS_PER_DB <= 64 && SHARDS_PER_DB.is_power_of_two());

/// The shard of a key hash within its database.
#[inline]
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// The first hash position of shard `shard`.
#[inline]
pub(crate) fn shard_start(shard: usize) -> u64 {
    (shard as u64) << (64 - SHARD_BITS)
}
