//! Sets: a key's collection of unique members (`SADD`, `SMEMBERS`, ...).
//!
//! Iteration order is part of the replicated state: it is a pure function
//! of the writes applied, and a run records it, so a node restored from a
//! snapshot picks the same "random" members for `SPOP` as the nodes that
//! applied every write.
//!
//! Invariants:
//! - Members are unique.
//! - `bytes` is the sum of the members' lengths (the memory estimate).

mod ops;
mod read;

use bytes::Bytes;

use crate::SmallBytes;

pub use ops::SetOp;

/// A set value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Set {
    members: Vec<SmallBytes>,
    /// Sum of the members' lengths.
    bytes: u64,
}

impl Set {
    /// A set of `members` (which must be unique), in this order.
    pub fn from_members(members: impl IntoIterator<Item = Bytes>) -> Set {
        let mut set = Set::default();
        for member in members {
            assert!(set.insert(&member), "duplicate member in a stored set");
        }
        set
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Bytes held by the members, for the memory estimate.
    pub fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Every member, in the set's order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.members.iter().map(|member| &member[..])
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.iter().any(|stored| &stored[..] == member)
    }

    /// Adds `member`; returns whether it was new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        self.bytes += member.len() as u64;
        self.members.push(SmallBytes::from(member));
        true
    }

    /// The set as a run record.
    pub(crate) fn to_record(&self) -> SetRecord {
        SetRecord {
            members: self.members.iter().map(SmallBytes::to_bytes).collect(),
        }
    }

    /// The set an archived record holds; `bytes` turns archived bytes into
    /// a `Bytes` (a slice of the mapping, or a copy).
    pub(crate) fn from_archived(record: &ArchivedSetRecord, bytes: impl Fn(&[u8]) -> Bytes) -> Set {
        Set::from_members(record.members.iter().map(|member| bytes(member)))
    }
}

/// A set in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct SetRecord {
    /// The members, in the set's order.
    pub(crate) members: Vec<Bytes>,
}
