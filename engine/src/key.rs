//! Keys as a shard stores them in its expiry index, and borrowed keys with
//! their hash for lookups.
//!
//! A shard orders its keys by (hash, key bytes), where the hash is xxh3-64
//! of the key. That order is a pure function of the key set, so it is the
//! same on every node and after a snapshot restore; `SCAN` cursors are
//! positions in it. The key table (`table.rs`) keeps that order itself;
//! [`StoredKey`] carries it into the expiry index, where keys due at the
//! same time sort by it.
//!
//! Invariants:
//! - `StoredKey::hash == key_hash(&StoredKey::key)` and likewise for
//!   `KeyRef`; the constructors are the only way to build either.
//! - `Ord` of `StoredKey` is (hash, key bytes), the table's order.

use std::cmp::Ordering;

use crate::SmallBytes;

/// The stable 64-bit hash of a key. It picks the shard (top bits) and the
/// key's position in `SCAN` order.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// An owned key with its hash, as stored in a shard's expiry index.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    /// xxh3-64 of `key`, cached because every comparison starts with it.
    hash: u64,
    /// The key itself; inline when short, so most keys cost the index no
    /// allocation, and a shared `Bytes` when long, so cloning one from the
    /// table does not copy its bytes.
    key: SmallBytes,
}

impl StoredKey {
    /// Builds a stored key from `key`, whose hash the caller already has.
    #[inline]
    pub(crate) fn new(hash: u64, key: SmallBytes) -> StoredKey {
        debug_assert_eq!(hash, key_hash(&key), "stored key hash mismatch");
        StoredKey { hash, key }
    }

    #[inline]
    pub(crate) fn key(&self) -> &SmallBytes {
        &self.key
    }
}

/// A borrowed key with its hash, used for lookups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    /// xxh3-64 of `key`.
    pub(crate) hash: u64,
    /// The key's bytes, borrowed from the caller.
    pub(crate) key: &'a [u8],
}

impl<'a> KeyRef<'a> {
    #[inline]
    pub(crate) fn new(key: &'a [u8]) -> KeyRef<'a> {
        KeyRef {
            hash: key_hash(key),
            key,
        }
    }
}

impl PartialEq for StoredKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for StoredKey {}

impl PartialOrd for StoredKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StoredKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.hash
            .cmp(&other.hash)
            .then_with(|| self.key.cmp(&other.key))
    }
}
