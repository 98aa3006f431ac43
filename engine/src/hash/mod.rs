//! Hashes: a key's map of fields to values (`HSET`, `HGET`, ...).
//!
//! Iteration order is part of the replicated state: it is a pure function
//! of the writes applied, and a run records it, so a node restored from a
//! snapshot iterates (and picks "random" fields for writes) exactly as the
//! nodes that applied every write.
//!
//! Invariants:
//! - Field names are unique.
//! - `bytes` is the sum of field and value lengths (the memory estimate).

mod ops;
mod read;

use bytes::Bytes;

use crate::SmallBytes;

pub use ops::HashOp;

/// A hash value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {
    /// Fields with their values, in insertion order.
    pairs: Vec<(SmallBytes, SmallBytes)>,
    /// Sum of field and value lengths.
    bytes: u64,
}

impl Hash {
    /// A hash of `pairs` (fields must be unique), in this order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Bytes, Bytes)>) -> Hash {
        let mut hash = Hash::default();
        for (field, value) in pairs {
            let replaced = hash.insert(&field, SmallBytes::from(value));
            assert!(replaced.is_none(), "duplicate field in a stored hash");
        }
        hash
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Bytes held by fields and values, for the memory estimate.
    pub fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Every (field, value), in the hash's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.pairs
            .iter()
            .map(|(field, value)| (&field[..], &value[..]))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(stored, _)| &stored[..] == field)
            .map(|(_, value)| &value[..])
    }

    /// Sets `field` to `value`; returns the old value if there was one.
    pub fn insert(&mut self, field: &[u8], value: SmallBytes) -> Option<SmallBytes> {
        self.bytes += value.len() as u64;
        if let Some((_, stored)) = self.pairs.iter_mut().find(|(f, _)| &f[..] == field) {
            self.bytes -= stored.len() as u64;
            return Some(std::mem::replace(stored, value));
        }
        self.bytes += field.len() as u64;
        self.pairs.push((SmallBytes::from(field), value));
        None
    }

    /// Removes `field`; returns its value if it was there.
    pub fn remove(&mut self, field: &[u8]) -> Option<SmallBytes> {
        let index = self.pairs.iter().position(|(f, _)| &f[..] == field)?;
        let (field, value) = self.pairs.remove(index);
        self.bytes -= (field.len() + value.len()) as u64;
        Some(value)
    }

    /// The hash as a run record.
    pub(crate) fn to_record(&self) -> HashRecord {
        HashRecord {
            pairs: self
                .pairs
                .iter()
                .map(|(field, value)| (field.to_bytes(), value.to_bytes()))
                .collect(),
        }
    }

    /// The hash an archived record holds; `bytes` turns archived bytes
    /// into a `Bytes` (a slice of the mapping, or a copy).
    pub(crate) fn from_archived(
        record: &ArchivedHashRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> Hash {
        Hash::from_pairs(
            record
                .pairs
                .iter()
                .map(|pair| (bytes(&pair.0), bytes(&pair.1))),
        )
    }
}

/// A hash in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct HashRecord {
    /// (field, value) in the hash's order.
    pub(crate) pairs: Vec<(Bytes, Bytes)>,
}
