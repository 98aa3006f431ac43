//! Hashes: a key's map of fields to values (`HSET`, `HGET`, ...).
//!
//! Two encodings, as in Redis. A hash starts packed ([`Packed`], Redis's
//! "listpack": one byte buffer, insertion order) and is converted once, for
//! good, to a table ([`Dict`], Redis's "hashtable": (hash, field) order)
//! when it would hold more than `PACKED_ENTRIES_MAX` pairs or a field or
//! value longer than `PACKED_BYTES_MAX` bytes. It never converts back, even
//! when it shrinks, because Redis does not either.
//!
//! Iteration order is part of the replicated state: it is a pure function
//! of the writes applied (packed: insertion order; table: hash order), and a
//! run records the encoding with the pairs, so a node restored from a
//! snapshot iterates and scans exactly as the nodes that applied every
//! write.
//!
//! Invariants:
//! - Field names are unique.
//! - A packed hash holds at most `PACKED_ENTRIES_MAX` pairs, each field and
//!   value at most `PACKED_BYTES_MAX` bytes.
//! - `memory_bytes` is O(1) and a function of the contents and encoding.

mod dict;
mod ops;
mod packed;
mod read;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::SmallBytes;

use dict::{malloc_cost, Dict};
use packed::{Packed, PACKED_ENTRIES_MAX};

pub use ops::HashOp;

/// A hash value.
#[derive(Debug, Clone, PartialEq)]
pub struct Hash(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// Small hashes: one buffer, insertion order.
    Packed(Packed),
    /// Large hashes, boxed so a `Hash` stays as small as a packed one.
    Table(Box<Dict>),
}

impl PartialEq for Repr {
    /// Same encoding and the same pairs in the same order.
    fn eq(&self, other: &Repr) -> bool {
        match (self, other) {
            (Repr::Packed(a), Repr::Packed(b)) => a == b,
            (Repr::Table(a), Repr::Table(b)) => a.len() == b.len() && a.iter().eq(b.iter()),
            _ => false,
        }
    }
}

impl Default for Hash {
    fn default() -> Hash {
        Hash(Repr::Packed(Packed::default()))
    }
}

impl Hash {
    /// A hash of `pairs` (fields must be unique), in this order, packed if
    /// they fit.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Bytes, Bytes)>) -> Hash {
        let mut hash = Hash::default();
        for (field, value) in pairs {
            let added = hash.insert(&field, &value);
            assert!(added, "duplicate field in a stored hash");
        }
        hash
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Packed(packed) => packed.len(),
            Repr::Table(dict) => dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the encoding, for the memory estimate. O(1).
    pub fn memory_bytes(&self) -> u64 {
        match &self.0 {
            Repr::Packed(packed) => malloc_cost(packed.buffer().len()),
            Repr::Table(dict) => malloc_cost(std::mem::size_of::<Dict>()) + dict.memory_bytes(),
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Every (field, value), in the hash's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (packed, table) = match &self.0 {
            Repr::Packed(packed) => (Some(packed.iter()), None),
            Repr::Table(dict) => (None, Some(dict.iter())),
        };
        packed
            .into_iter()
            .flatten()
            .chain(table.into_iter().flatten())
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.0 {
            Repr::Packed(packed) => packed.get(field),
            Repr::Table(dict) => dict.get(field),
        }
    }

    /// Sets `field` to `value`, converting to a table first if the pair is
    /// too long to pack, or after if the hash grew past the packed limit
    /// (as Redis's `hashTypeSet`). Returns whether the field is new.
    pub fn insert(&mut self, field: &[u8], value: &Bytes) -> bool {
        match &mut self.0 {
            Repr::Packed(packed) if Packed::fits(field, value) => {
                let added = packed.insert(field, value);
                if packed.len() > PACKED_ENTRIES_MAX {
                    self.convert();
                }
                added
            }
            Repr::Packed(_) => {
                self.convert();
                self.insert(field, value)
            }
            Repr::Table(dict) => dict.insert(field, SmallBytes::from(value)),
        }
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Packed(packed) => packed.remove(field),
            Repr::Table(dict) => dict.remove(field),
        }
    }

    /// Converts a packed hash to a table (once: a table stays one).
    fn convert(&mut self) {
        let Repr::Packed(packed) = &self.0 else {
            return;
        };
        let mut dict = Dict::default();
        for (field, value) in packed.iter() {
            dict.insert(field, SmallBytes::from(value));
        }
        self.0 = Repr::Table(Box::new(dict));
    }

    /// The packed encoding, if this hash is packed.
    fn packed(&self) -> Option<&Packed> {
        match &self.0 {
            Repr::Packed(packed) => Some(packed),
            Repr::Table(_) => None,
        }
    }

    /// The table encoding, if this hash is a table.
    fn table(&self) -> Option<&Dict> {
        match &self.0 {
            Repr::Packed(_) => None,
            Repr::Table(dict) => Some(dict),
        }
    }

    /// The hash as a run record.
    pub(crate) fn to_record(&self) -> HashRecord {
        match &self.0 {
            Repr::Packed(packed) => HashRecord::Packed {
                len: packed.len() as u16,
                buffer: Bytes::copy_from_slice(packed.buffer()),
            },
            Repr::Table(dict) => HashRecord::Table {
                pairs: dict
                    .iter()
                    .map(|(field, value)| {
                        (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value))
                    })
                    .collect(),
            },
        }
    }

    /// The hash an archived record holds, in the same encoding and order;
    /// `bytes` turns archived bytes into a `Bytes` (a slice of the mapping,
    /// or a copy).
    pub(crate) fn from_archived(
        record: &ArchivedHashRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> Hash {
        match record {
            ArchivedHashRecord::Packed { len, buffer } => Hash(Repr::Packed(Packed::from_buffer(
                Box::from(&buffer[..]),
                len.to_native(),
            ))),
            ArchivedHashRecord::Table { pairs } => {
                let mut dict = Dict::default();
                for pair in pairs.iter() {
                    let added = dict.insert(&pair.0, SmallBytes::from(bytes(&pair.1)));
                    assert!(added, "duplicate field in a stored hash");
                }
                Hash(Repr::Table(Box::new(dict)))
            }
        }
    }
}

/// A hash in a run: its encoding, with its pairs in its order.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) enum HashRecord {
    /// A packed hash: its buffer as is (`packed.rs` gives the layout).
    Packed { len: u16, buffer: Bytes },
    /// A table: (field, value) in (hash, field) order.
    Table { pairs: Vec<(Bytes, Bytes)> },
}
