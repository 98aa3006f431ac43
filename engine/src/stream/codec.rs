//! A stream as bytes, node by node: the body of its `DUMP` payload and of
//! its record in a run, so a restored stream has the very nodes (and so
//! trims with `~` exactly as) the stream it came from.
//!
//! Layout (integers little-endian): `length` u64, `last_id` (ms u64, seq
//! u64), `max_deleted_id` (same), `entries_added` u64, node count u32,
//! then each node: master ID (ms u64, seq u64), buffer length u32, the
//! buffer (`node.rs`); then the consumer group count u32 (always 0: groups
//! are not built yet).
//!
//! Invariants:
//! - [`decode_body`] accepts only what a stream could hold: every node
//!   whole and non-empty, nodes in master order, live IDs strictly
//!   increasing across nodes and at most `last_id` (deleted ones may be
//!   out of order, see `node.rs`), `length`
//!   equal to the live entries.

use super::node::Node;
use super::{Stream, StreamId};

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_u64(out, id.ms);
    put_u64(out, id.seq);
}

/// Appends `stream`'s body to `out`.
pub(crate) fn encode_body(stream: &Stream, out: &mut Vec<u8>) {
    put_u64(out, stream.length);
    put_id(out, stream.last_id);
    put_id(out, stream.max_deleted_id);
    put_u64(out, stream.entries_added);
    let count = u32::try_from(stream.nodes.len()).expect("fewer than 2^32 nodes");
    out.extend_from_slice(&count.to_le_bytes());
    for (&master, node) in &stream.nodes {
        put_id(out, master);
        let len = u32::try_from(node.buf.len()).expect("a node under 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&node.buf);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// A cursor over a body.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.u64()?, self.u64()?))
    }
}

/// The stream whose body is `bytes` (all of them), or `None` if they do
/// not hold a valid one.
pub(crate) fn decode_body(bytes: &[u8]) -> Option<Stream> {
    let mut reader = Reader { bytes, pos: 0 };
    let mut stream = Stream {
        length: reader.u64()?,
        last_id: reader.id()?,
        max_deleted_id: reader.id()?,
        entries_added: reader.u64()?,
        ..Stream::default()
    };
    let count = reader.u32()?;
    let mut live_total = 0u64;
    let mut previous_master: Option<StreamId> = None;
    let mut last_live: Option<StreamId> = None;
    for _ in 0..count {
        let master = reader.id()?;
        if previous_master.is_some_and(|previous| master <= previous) {
            return None;
        }
        previous_master = Some(master);
        let len = reader.u32()? as usize;
        let node = Node {
            buf: reader.take(len)?.to_vec(),
            live: 0,
            deleted: 0,
        };
        // Deleted entries may lie above `last_id` (`XSETID` checks only
        // the live ones), live ones never.
        let (live, deleted) = node.check(master, &mut last_live)?;
        if live == 0 || last_live.is_some_and(|id| id > stream.last_id) {
            return None;
        }
        live_total += u64::from(live);
        stream.memory_bytes += Stream::node_cost(&node);
        stream.nodes.insert(
            master,
            Node {
                live,
                deleted,
                ..node
            },
        );
    }
    if reader.u32()? != 0 || reader.pos != bytes.len() || live_total != stream.length {
        return None;
    }
    stream.refresh_first_id();
    Some(stream)
}
