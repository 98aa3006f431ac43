//! A node of a stream: a run of consecutive entries packed in one byte
//! buffer, as Redis packs them in one listpack under a radix tree key.
//!
//! Entry layout, one after another, integers as LEB128 varints:
//! `flags` (1 byte: 0 live, 1 deleted), `ms - master.ms`, `seq`,
//! `field count`, then each field and value as a length and its bytes.
//! The master ID is the node's key in the stream's tree: the ID of the
//! first entry appended to it.
//!
//! Invariants:
//! - The first entry's ID is the master ID (it may be marked deleted), no
//!   ID is below it, and live IDs strictly increase across the stream.
//!   Deleted IDs may be out of order: `XSETID` may set the last ID below
//!   deleted entries (Redis checks it against the last live one), and the
//!   next `XADD`s then append IDs at or below them, as in Redis.
//! - `live + deleted` is the number of entries in `buf`; `live > 0` for a
//!   node the stream keeps (an emptied node is removed).

use bytes::Bytes;

use super::StreamId;

/// Redis's `stream-node-max-entries` default: entries (live or deleted)
/// before a new node is started.
pub(crate) const NODE_ENTRIES_MAX: u32 = 100;
/// Redis's `stream-node-max-bytes` default.
pub(crate) const NODE_BYTES_MAX: usize = 4096;

const DELETED: u8 = 1;

/// Entries packed in one buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Node {
    /// The packed entries (module docs).
    pub(crate) buf: Vec<u8>,
    /// Entries not marked deleted.
    pub(crate) live: u32,
    /// Entries marked deleted (by `XDEL` or an exact trim), still in `buf`.
    pub(crate) deleted: u32,
}

/// One decoded entry, borrowing the node's bytes.
#[derive(Debug, Clone)]
pub(crate) struct EntryRef<'a> {
    pub(crate) id: StreamId,
    pub(crate) deleted: bool,
    /// Where the flags byte is in the node's buffer.
    pub(crate) at: usize,
    /// The field count, then the fields and values (still packed).
    pub(crate) fields: &'a [u8],
    pub(crate) field_count: usize,
}

impl EntryRef<'_> {
    /// The (field, value) pairs.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut pos = 0;
        (0..self.field_count).map(move |_| {
            let field = read_bytes(self.fields, &mut pos).expect("checked node");
            let value = read_bytes(self.fields, &mut pos).expect("checked node");
            (field, value)
        })
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_varint(buf, pos)?).ok()?;
    let end = pos.checked_add(len)?;
    let bytes = buf.get(*pos..end)?;
    *pos = end;
    Some(bytes)
}

impl Node {
    /// Entries in the buffer, live or deleted.
    pub(crate) fn total(&self) -> u32 {
        self.live + self.deleted
    }

    /// Appends an entry (its ID above every ID in the node).
    pub(crate) fn push(&mut self, master: StreamId, id: StreamId, pairs: &[(Bytes, Bytes)]) {
        self.buf.push(0);
        put_varint(&mut self.buf, id.ms - master.ms);
        put_varint(&mut self.buf, id.seq);
        put_varint(&mut self.buf, pairs.len() as u64);
        for (field, value) in pairs {
            put_varint(&mut self.buf, field.len() as u64);
            self.buf.extend_from_slice(field);
            put_varint(&mut self.buf, value.len() as u64);
            self.buf.extend_from_slice(value);
        }
        self.live += 1;
    }

    /// Every entry in order, deleted ones included.
    pub(crate) fn entries(&self, master: StreamId) -> Entries<'_> {
        Entries {
            buf: &self.buf,
            pos: 0,
            master,
        }
    }

    /// Marks the entry whose flags byte is at `at` deleted.
    pub(crate) fn mark_deleted(&mut self, at: usize) {
        assert_eq!(self.buf[at], 0, "marking a live entry");
        self.buf[at] = DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    /// Checks a buffer read from a payload or a run: every entry whole,
    /// flags known, the first entry's ID the master, none below it, and
    /// the live IDs above `last_live` (the stream's last live ID before
    /// this node, which this moves on) and strictly increasing. Deleted
    /// IDs may be out of order (module docs). Returns (live, deleted).
    pub(crate) fn check(
        &self,
        master: StreamId,
        last_live: &mut Option<StreamId>,
    ) -> Option<(u32, u32)> {
        let mut entries = self.entries(master);
        let (mut live, mut deleted) = (0u32, 0u32);
        while entries.pos < self.buf.len() {
            let first = entries.pos == 0;
            let entry = entries.decode()?;
            if (first && entry.id != master) || entry.id < master {
                return None;
            }
            if entry.deleted {
                deleted += 1;
                continue;
            }
            if last_live.is_some_and(|last| entry.id <= last) {
                return None;
            }
            *last_live = Some(entry.id);
            live += 1;
        }
        (live + deleted > 0).then_some((live, deleted))
    }
}

/// Walks a node's entries.
pub(crate) struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    master: StreamId,
}

impl<'a> Entries<'a> {
    /// The entry at `pos`, moving past it; `None` on a malformed one.
    fn decode(&mut self) -> Option<EntryRef<'a>> {
        let at = self.pos;
        let flags = *self.buf.get(at)?;
        if flags > DELETED {
            return None;
        }
        self.pos += 1;
        let ms = self
            .master
            .ms
            .checked_add(read_varint(self.buf, &mut self.pos)?)?;
        let seq = read_varint(self.buf, &mut self.pos)?;
        let field_count = usize::try_from(read_varint(self.buf, &mut self.pos)?).ok()?;
        if field_count == 0 || field_count > self.buf.len() {
            return None;
        }
        let start = self.pos;
        for _ in 0..field_count * 2 {
            read_bytes(self.buf, &mut self.pos)?;
        }
        Some(EntryRef {
            id: StreamId::new(ms, seq),
            deleted: flags == DELETED,
            at,
            fields: &self.buf[start..self.pos],
            field_count,
        })
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = EntryRef<'a>;

    fn next(&mut self) -> Option<EntryRef<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        Some(self.decode().expect("checked node"))
    }
}
