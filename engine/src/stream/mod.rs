//! Streams: a key's append-only log of entries, each an ID and a list of
//! field-value pairs (`XADD`, `XRANGE`, `XDEL`, `XTRIM`, ...).
//!
//! Entries are packed in nodes of up to 100 entries or about 4 KiB
//! (`node.rs`), held in an ordered tree keyed by each node's first ID, as
//! Redis holds listpacks in a radix tree. A deleted entry stays in its
//! node, marked, until the node empties and is dropped; an approximate
//! trim (`~`) drops whole nodes only. Node boundaries therefore decide
//! what `~` trims, so they are part of the replicated state: they are a
//! function of the writes applied, and a run or a `DUMP` payload records
//! them as they are (`codec.rs`).
//!
//! Invariants:
//! - Live IDs strictly increase across nodes and within them, and are at
//!   most `last_id`; deleted ones may be out of order and above `last_id`
//!   after `XSETID` (see `node.rs`).
//! - `length` is the sum of the nodes' live entries; no node is empty.
//! - `first_id` is the first live entry's ID, 0-0 when empty (Redis's
//!   `first_id`, kept the way Redis keeps it).
//! - `memory_bytes` is O(1), a function of the nodes' contents (not of
//!   their buffers' capacity), so equal streams have equal estimates.
//! - A stream may be empty (unlike other collections): `XDEL` and
//!   `XTRIM` leave the key, as in Redis.

mod codec;
mod id;
mod node;
mod ops;
mod read;
#[cfg(test)]
mod tests;
mod trim;

use std::collections::BTreeMap;

use bytes::Bytes;

pub(crate) use codec::{decode_body, encode_body};
pub use id::{parse_bound, parse_id, parse_new_id, strict_id, NewId, StreamId, INVALID_ID};
pub(crate) use node::EntryRef;
use node::{Node, NODE_BYTES_MAX, NODE_ENTRIES_MAX};
pub use ops::StreamOp;
pub use read::ReadFrom;
pub use trim::{Trim, TrimBy};

/// Fixed cost counted for each node: its tree slot and buffer header.
const NODE_OVERHEAD_BYTES: u64 = 64;

/// A stream value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    /// The nodes by master ID (the first ID appended to each).
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    length: u64,
    /// The highest ID ever added (or set by `XSETID`); new IDs exceed it.
    last_id: StreamId,
    /// The first live entry's ID, 0-0 when empty.
    first_id: StreamId,
    /// The highest ID deleted by `XDEL` (or set by `XSETID`).
    max_deleted_id: StreamId,
    /// Entries ever added (`XSETID ENTRIESADDED` may set it).
    entries_added: u64,
    /// The memory estimate, kept on every change.
    memory_bytes: u64,
}

impl Stream {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted_id
    }

    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Heap bytes held, for the memory estimate. O(1).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    fn node_cost(node: &Node) -> u64 {
        NODE_OVERHEAD_BYTES + node.buf.len() as u64
    }

    /// Appends an entry with `id` (above `last_id`; the caller checked).
    pub(crate) fn append(&mut self, id: StreamId, pairs: &[(Bytes, Bytes)]) {
        assert!(id > self.last_id, "stream IDs only grow");
        let fields_bytes: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        let start_new = match self.nodes.last_key_value() {
            None => true,
            Some((_, tail)) => {
                tail.buf.len() + fields_bytes >= NODE_BYTES_MAX || tail.total() >= NODE_ENTRIES_MAX
            }
        };
        if start_new {
            self.nodes.insert(id, Node::default());
            self.memory_bytes += NODE_OVERHEAD_BYTES;
        }
        let (&master, tail) = self.nodes.iter_mut().next_back().expect("a tail node");
        let before = tail.buf.len() as u64;
        tail.push(master, id, pairs);
        self.memory_bytes += tail.buf.len() as u64 - before;
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Deletes the live entry `id`; returns whether there was one.
    pub(crate) fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(at) = node
            .entries(master)
            .find(|entry| entry.id == id && !entry.deleted)
            .map(|entry| entry.at)
        else {
            return false;
        };
        node.mark_deleted(at);
        if node.live == 0 {
            let node = self.nodes.remove(&master).expect("found");
            self.memory_bytes -= Stream::node_cost(&node);
        }
        self.length -= 1;
        true
    }

    /// Sets `first_id` from the nodes (after deletions).
    fn refresh_first_id(&mut self) {
        let first = self
            .live_entries(StreamId::MIN, StreamId::MAX, false)
            .next()
            .map_or(StreamId::MIN, |entry| entry.id);
        self.first_id = first;
    }

    /// Live entries with IDs in `start..=end`, ascending or (`rev`)
    /// descending.
    pub(crate) fn live_entries(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = EntryRef<'_>> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let in_range =
            move |entry: &EntryRef<'_>| !entry.deleted && entry.id >= start && entry.id <= end;
        // The node holding `start` (if any) is the last one keyed at or
        // below it; nodes keyed above `end` hold nothing in range.
        let first = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(StreamId::MIN, |(&master, _)| master);
        let nodes = self.nodes.range(first..=end);
        if rev {
            return Box::new(nodes.rev().flat_map(move |(&master, node)| {
                let mut entries: Vec<EntryRef<'_>> =
                    node.entries(master).filter(in_range).collect();
                entries.reverse();
                entries
            }));
        }
        Box::new(nodes.flat_map(move |(&master, node)| node.entries(master).filter(in_range)))
    }
}
