//! Keys as a shard stores them, and the zero-allocation way to look them up.
//!
//! A shard orders its keys by (hash, key bytes), where the hash is xxh3-64
//! of the key. That order is a pure function of the key set, so it is the
//! same on every node and after a snapshot restore; `SCAN` cursors are
//! positions in it.
//!
//! The map's key type is [`StoredKey`] (an owned `Bytes` plus its hash). To
//! look a key up by a borrowed `&[u8]` without building a `StoredKey`, both
//! it and [`KeyRef`] implement [`KeyLike`], and `StoredKey` borrows as
//! `dyn KeyLike`, whose ordering is the same (hash, bytes) order.
//!
//! Invariants:
//! - `StoredKey::hash == key_hash(&StoredKey::key)` and likewise for
//!   `KeyRef`; the constructors are the only way to build either.
//! - `Ord` of `StoredKey` and of `dyn KeyLike` agree, which `Borrow` needs.

use std::borrow::Borrow;
use std::cmp::Ordering;

use bytes::Bytes;

/// The stable 64-bit hash of a key. It picks the shard (top bits) and the
/// key's position in `SCAN` order.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Something that has a key's hash and bytes: either the stored key or a
/// borrowed one being looked up.
pub(crate) trait KeyLike {
    fn hash(&self) -> u64;
    fn bytes(&self) -> &[u8];
}

/// An owned key with its hash, as stored in a shard's maps.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    /// xxh3-64 of `key`, cached because every comparison starts with it.
    hash: u64,
    /// The key itself; a `Bytes` handle, so cloning it into the expiry
    /// index or a `SCAN` reply does not copy the bytes.
    key: Bytes,
}

impl StoredKey {
    /// Builds a stored key from `key`, whose hash the caller already has.
    #[inline]
    pub(crate) fn new(hash: u64, key: Bytes) -> StoredKey {
        debug_assert_eq!(hash, key_hash(&key), "stored key hash mismatch");
        StoredKey { hash, key }
    }

    #[inline]
    pub(crate) fn key(&self) -> &Bytes {
        &self.key
    }

    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.hash
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

    /// The smallest possible key at hash position `hash`: a range starting
    /// here includes every key whose hash is `>= hash`.
    #[inline]
    pub(crate) fn position(hash: u64) -> KeyRef<'static> {
        KeyRef { hash, key: b"" }
    }
}

impl KeyLike for StoredKey {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.key
    }
}

impl KeyLike for KeyRef<'_> {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.key
    }
}

impl PartialEq for dyn KeyLike + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash() == other.hash() && self.bytes() == other.bytes()
    }
}

impl Eq for dyn KeyLike + '_ {}

impl PartialOrd for dyn KeyLike + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyLike + '_ {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.hash()
            .cmp(&other.hash())
            .then_with(|| self.bytes().cmp(other.bytes()))
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
        (self as &dyn KeyLike).cmp(other as &dyn KeyLike)
    }
}

impl<'a> Borrow<dyn KeyLike + 'a> for StoredKey {
    #[inline]
    fn borrow(&self) -> &(dyn KeyLike + 'a) {
        self
    }
}
