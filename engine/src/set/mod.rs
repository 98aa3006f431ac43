//! Sets: a key's collection of unique members (`SADD`, `SMEMBERS`, ...).
//!
//! A set has one of three encodings, as in Redis 7.2:
//! - intset ([`intset`]): every member an integer in canonical form, at
//!   most `INTSET_ENTRIES_MAX` of them, held sorted as `i64`s;
//! - packed ([`packed`], `OBJECT ENCODING` "listpack"): at most
//!   `PACKED_ENTRIES_MAX` members of at most `PACKED_VALUE_MAX` bytes, in
//!   one buffer, in insertion order;
//! - table ([`hashed`], "hashtable"): anything larger, in (hash, member)
//!   order.
//!
//! A set converts when an added member breaks its encoding's limits
//! (intset to packed or table, packed to table), once and never back, as
//! Redis does.
//!
//! Iteration order is part of the replicated state: it is a pure function
//! of the writes applied, and a run records the encoding and the order, so
//! a node restored from a snapshot picks the same "random" members for
//! `SPOP` (a pure function of contents, order and seed, see
//! [`Set::pop_random`]) as the nodes that applied every write.
//!
//! Invariants:
//! - Members are unique.
//! - The encoding is within its limits, except that removals never convert
//!   back (a table may hold few members).
//! - `memory_bytes()` is O(1) and a function of the contents.

mod algebra;
mod hashed;
mod intset;
mod ops;
mod packed;
mod read;
#[cfg(test)]
mod tests;

use std::ops::Deref;

use bytes::Bytes;

use crate::{parse_i64_strict, Random, SmallBytes};
use hashed::Hashed;
use intset::IntSet;
use packed::{Packed, PackedIter};

pub use ops::SetOp;

/// The most members an intset holds (`set-max-intset-entries`).
pub(crate) const INTSET_ENTRIES_MAX: usize = 512;
/// The most members a packed set holds (`set-max-listpack-entries`).
pub(crate) const PACKED_ENTRIES_MAX: usize = 128;
/// The longest member a packed set holds (`set-max-listpack-value`).
pub(crate) const PACKED_VALUE_MAX: usize = 64;

/// A set value.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    repr: Repr,
}

/// The encodings (module docs).
#[derive(Debug, Clone, PartialEq)]
enum Repr {
    Ints(IntSet),
    Packed(Packed),
    Table(Hashed),
}

impl Default for Set {
    /// An empty set, as an intset (Redis creates a set for its first
    /// member; an intset converts as soon as a member needs it).
    fn default() -> Set {
        Set {
            repr: Repr::Ints(IntSet::default()),
        }
    }
}

/// One member, as bytes: borrowed from the set, or an intset integer
/// rendered inline.
#[derive(Clone, Copy)]
pub(crate) struct Member<'a>(MemberRepr<'a>);

#[derive(Clone, Copy)]
enum MemberRepr<'a> {
    Slice(&'a [u8]),
    /// The decimal form of an integer: at most 20 bytes (`i64::MIN`).
    Int {
        len: u8,
        digits: [u8; 20],
    },
}

impl Member<'_> {
    fn int(value: i64) -> Member<'static> {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(value).as_bytes();
        let mut digits = [0; 20];
        digits[..text.len()].copy_from_slice(text);
        Member(MemberRepr::Int {
            len: text.len() as u8,
            digits,
        })
    }
}

impl<'a> Member<'a> {
    fn slice(member: &'a [u8]) -> Member<'a> {
        Member(MemberRepr::Slice(member))
    }
}

impl Deref for Member<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            MemberRepr::Slice(slice) => slice,
            MemberRepr::Int { len, digits } => &digits[..usize::from(*len)],
        }
    }
}

/// The members of a set, in its order.
pub(crate) enum Members<'a> {
    Ints(std::slice::Iter<'a, i64>),
    Packed(PackedIter<'a>),
    Table(Box<dyn Iterator<Item = &'a [u8]> + 'a>),
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Members::Ints(ints) => ints.next().map(|&value| Member::int(value)),
            Members::Packed(members) => members.next().map(Member::slice),
            Members::Table(members) => members.next().map(Member::slice),
        }
    }
}

impl Set {
    /// A set of `members` (which must be unique) whose order is theirs: an
    /// intset if they are ascending integers within its limits, else a
    /// packed set if they fit one, else a table (whose order is its own).
    /// So a set dumped in its order is restored in that order. A run keeps
    /// the exact encoding instead (see [`Set::from_archived`]).
    pub fn from_members(members: impl IntoIterator<Item = Bytes>) -> Set {
        let members: Vec<Bytes> = members.into_iter().collect();
        let ints: Option<Vec<i64>> = members.iter().map(|m| parse_i64_strict(m)).collect();
        let ascending = |ints: &[i64]| ints.windows(2).all(|pair| pair[0] < pair[1]);
        let repr = match ints {
            Some(ints) if ints.len() <= INTSET_ENTRIES_MAX && ascending(&ints) => {
                Repr::Ints(IntSet::from_sorted(ints))
            }
            _ if members.len() <= PACKED_ENTRIES_MAX
                && members.iter().all(|m| m.len() <= PACKED_VALUE_MAX) =>
            {
                Repr::Packed(Packed::default())
            }
            _ => Repr::Table(Hashed::default()),
        };
        let mut set = Set { repr };
        if !matches!(set.repr, Repr::Ints(_)) {
            for member in &members {
                assert!(set.insert(member), "duplicate member in a stored set");
            }
        }
        set
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(ints) => ints.len(),
            Repr::Packed(packed) => packed.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the members, for the memory estimate. O(1).
    pub fn memory_bytes(&self) -> u64 {
        match &self.repr {
            Repr::Ints(ints) => ints.memory_bytes(),
            Repr::Packed(packed) => packed.memory_bytes(),
            Repr::Table(table) => table.memory_bytes(),
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Every member, in the set's order, as byte slices. An intset renders
    /// its integers once for this (and keeps them until it changes); the
    /// commands use [`Set::members`], which does not.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        match &self.repr {
            Repr::Ints(ints) => SliceIter::Packed(ints.rendered()),
            Repr::Packed(packed) => SliceIter::Packed(packed.iter()),
            Repr::Table(table) => SliceIter::Table(Box::new(table.iter())),
        }
    }

    /// Every member, in the set's order.
    pub(crate) fn members(&self) -> Members<'_> {
        match &self.repr {
            Repr::Ints(ints) => Members::Ints(ints.ints().iter()),
            Repr::Packed(packed) => Members::Packed(packed.iter()),
            Repr::Table(table) => Members::Table(Box::new(table.iter())),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(ints) => ints.contains(member),
            Repr::Packed(packed) => packed.contains(member),
            Repr::Table(table) => table.contains(member),
        }
    }

    /// Adds `member`; returns whether it was new. Converts the encoding
    /// when `member` does not fit it (module docs).
    pub fn insert(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => match parse_i64_strict(member) {
                Some(value) => {
                    if !ints.insert(value) {
                        return false;
                    }
                    if ints.len() > INTSET_ENTRIES_MAX {
                        self.convert_to_table();
                    }
                    true
                }
                None => {
                    if ints.len() < PACKED_ENTRIES_MAX && member.len() <= PACKED_VALUE_MAX {
                        self.convert_to_packed();
                    } else {
                        self.convert_to_table();
                    }
                    self.insert(member)
                }
            },
            Repr::Packed(packed) => {
                if packed.contains(member) {
                    return false;
                }
                if packed.len() < PACKED_ENTRIES_MAX && member.len() <= PACKED_VALUE_MAX {
                    packed.push(member);
                    return true;
                }
                self.convert_to_table();
                self.insert(member)
            }
            Repr::Table(table) => table.insert(member),
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => ints.remove(member),
            Repr::Packed(packed) => packed.remove(member),
            Repr::Table(table) => table.remove(member),
        }
    }

    /// An intset becomes a packed set, its members in ascending order.
    fn convert_to_packed(&mut self) {
        let Repr::Ints(ints) = &self.repr else {
            unreachable!("only an intset converts to packed")
        };
        let mut packed = Packed::default();
        for member in self.members() {
            packed.push(&member);
        }
        debug_assert_eq!(packed.len(), ints.len());
        self.repr = Repr::Packed(packed);
    }

    /// Any encoding becomes a table.
    fn convert_to_table(&mut self) {
        let mut table = Hashed::default();
        for member in self.members() {
            table.insert(&member);
        }
        self.repr = Repr::Table(table);
    }

    /// A member drawn with `random` (the set is not empty): a uniform
    /// index for an intset or packed set, the first member at or after a
    /// random hash for a table.
    pub(crate) fn random_member(&self, random: &mut Random) -> Member<'_> {
        assert!(!self.is_empty(), "a random member of an empty set");
        match &self.repr {
            Repr::Ints(ints) => Member::int(ints.ints()[random.below(ints.len())]),
            Repr::Packed(packed) => Member::slice(packed.nth(random.below(packed.len()))),
            Repr::Table(table) => Member::slice(table.at_hash(random.next_u64())),
        }
    }

    /// Removes and returns the member [`Set::random_member`] would draw.
    /// Which one is a pure function of the set's contents, encoding and
    /// order and of `random`'s state.
    pub(crate) fn pop_random(&mut self, random: &mut Random) -> SmallBytes {
        assert!(!self.is_empty(), "a pop from an empty set");
        match &mut self.repr {
            Repr::Ints(ints) => {
                let value = ints.remove_at(random.below(ints.len()));
                SmallBytes::from(&*Member::int(value))
            }
            Repr::Packed(packed) => packed.remove_nth(random.below(packed.len())),
            Repr::Table(table) => table.remove_at_hash(random.next_u64()),
        }
    }

    /// `SSCAN` from `cursor`, visiting at least `count` members (a table)
    /// or all of them (the compact encodings, as Redis); returns the next
    /// cursor, 0 when done.
    pub(crate) fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Table(table) => table.scan(cursor, count, visit),
            _ => {
                for member in self.members() {
                    visit(&member);
                }
                0
            }
        }
    }

    /// The set as a run record: its encoding and its members in order.
    pub(crate) fn to_record(&self) -> SetRecord {
        let (encoding, ints, members) = match &self.repr {
            Repr::Ints(ints) => (RecordEncoding::IntSet, ints.ints().to_vec(), Vec::new()),
            Repr::Packed(packed) => (
                RecordEncoding::Packed,
                Vec::new(),
                packed.iter().map(Bytes::copy_from_slice).collect(),
            ),
            Repr::Table(table) => (
                RecordEncoding::Table,
                Vec::new(),
                table.iter().map(Bytes::copy_from_slice).collect(),
            ),
        };
        SetRecord {
            encoding,
            ints,
            members,
        }
    }

    /// The set an archived record holds, in the same encoding and order;
    /// `bytes` turns archived bytes into a `Bytes` (a slice of the mapping,
    /// or a copy).
    pub(crate) fn from_archived(record: &ArchivedSetRecord, bytes: impl Fn(&[u8]) -> Bytes) -> Set {
        let repr = match record.encoding {
            ArchivedRecordEncoding::IntSet => {
                let ints = record.ints.iter().map(|value| value.to_native()).collect();
                Repr::Ints(IntSet::from_sorted(ints))
            }
            ArchivedRecordEncoding::Packed => {
                let mut packed = Packed::default();
                for member in record.members.iter() {
                    packed.push(member);
                }
                Repr::Packed(packed)
            }
            ArchivedRecordEncoding::Table => {
                let mut table = Hashed::default();
                for member in record.members.iter() {
                    let member = bytes(member);
                    assert!(
                        table.insert_shared(&member),
                        "duplicate member in a stored set"
                    );
                }
                Repr::Table(table)
            }
        };
        Set { repr }
    }
}

/// [`Set::iter`]'s iterator.
enum SliceIter<'a> {
    Packed(PackedIter<'a>),
    Table(Box<dyn Iterator<Item = &'a [u8]> + 'a>),
}

impl<'a> Iterator for SliceIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            SliceIter::Packed(members) => members.next(),
            SliceIter::Table(members) => members.next(),
        }
    }
}

/// Which encoding a recorded set had.
#[derive(rkyv::Archive, rkyv::Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordEncoding {
    IntSet,
    Packed,
    Table,
}

/// A set in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct SetRecord {
    /// The encoding to rebuild, so order and random picks stay the same.
    pub(crate) encoding: RecordEncoding,
    /// An intset's members, ascending; empty otherwise.
    pub(crate) ints: Vec<i64>,
    /// A packed set's members in insertion order, or a table's in (hash,
    /// member) order; empty for an intset.
    pub(crate) members: Vec<Bytes>,
}
