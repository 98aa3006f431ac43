//! Lists: a key's sequence of elements (`LPUSH`, `LRANGE`, ...).
//!
//! Invariants:
//! - `bytes` is the sum of the elements' lengths (the memory estimate).

mod ops;
mod read;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::SmallBytes;

pub use ops::ListOp;
pub(crate) use read::clamp_range;

/// A list value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    items: VecDeque<SmallBytes>,
    /// Sum of the elements' lengths.
    bytes: u64,
}

impl List {
    /// A list of `items`, head first.
    pub fn from_items(items: impl IntoIterator<Item = Bytes>) -> List {
        let mut list = List::default();
        for item in items {
            list.push_back(SmallBytes::from(item));
        }
        list
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held by the elements, for the memory estimate.
    pub fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// The elements, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.iter().map(|item| &item[..])
    }

    pub fn push_front(&mut self, item: SmallBytes) {
        self.bytes += item.len() as u64;
        self.items.push_front(item);
    }

    pub fn push_back(&mut self, item: SmallBytes) {
        self.bytes += item.len() as u64;
        self.items.push_back(item);
    }

    /// The list as a run record.
    pub(crate) fn to_record(&self) -> ListRecord {
        ListRecord {
            items: self.items.iter().map(SmallBytes::to_bytes).collect(),
        }
    }

    /// The list an archived record holds; `bytes` turns archived bytes
    /// into a `Bytes` (a slice of the mapping, or a copy).
    pub(crate) fn from_archived(
        record: &ArchivedListRecord,
        bytes: impl Fn(&[u8]) -> Bytes,
    ) -> List {
        List::from_items(record.items.iter().map(|item| bytes(item)))
    }
}

/// A list in a run.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct ListRecord {
    /// The elements, head first.
    pub(crate) items: Vec<Bytes>,
}
