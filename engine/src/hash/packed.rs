//! The packed encoding of a small hash (Redis's "listpack"): every field
//! and value in one byte buffer, searched linearly, in insertion order.
//!
//! A hash of a few short fields is by far the most common hash, and a
//! million of them must fit in about the memory Redis needs. One exact-size
//! buffer costs one allocation per hash and two length bytes per pair, where
//! a vector of `SmallBytes` pairs would cost 64 bytes a pair.
//!
//! Layout: entries back to back, each `[field length: u8][field bytes]
//! [value length: u8][value bytes]`. One byte is enough for a length because
//! a packed hash holds only fields and values of at most
//! [`PACKED_BYTES_MAX`] bytes (the owner converts to a table before storing a
//! longer one).
//!
//! Invariants:
//! - `buf` is exactly a sequence of `len` well-formed entries (no trailing
//!   bytes), and its capacity is its length (a boxed slice).
//! - Every field and value is at most `PACKED_BYTES_MAX` bytes.
//! - Field names are unique.
//! - Replacing a value keeps the pair's position; a new pair goes last.

/// The longest field or value a packed hash holds (Redis's
/// `hash-max-listpack-value`).
pub(crate) const PACKED_BYTES_MAX: usize = 64;
/// The most pairs a packed hash holds (Redis's `hash-max-listpack-entries`).
pub(crate) const PACKED_ENTRIES_MAX: usize = 128;

/// A small hash in one buffer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Packed {
    /// The entries, back to back (module docs give the layout).
    buf: Box<[u8]>,
    /// How many pairs `buf` holds, so `HLEN` need not walk it.
    len: u16,
}

/// Where one pair sits in the buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Offset of the field length byte.
    start: usize,
    /// Offset of the value length byte.
    value_at: usize,
    /// Offset just past the value.
    end: usize,
}

impl Packed {
    /// A packed hash of `buf` holding `len` pairs, checked to be
    /// well-formed (it comes from a run).
    pub(crate) fn from_buffer(buf: Box<[u8]>, len: u16) -> Packed {
        let packed = Packed { buf, len };
        let counted = packed.spans().count();
        assert_eq!(counted, usize::from(len), "packed hash count mismatch");
        packed
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The encoded entries.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Whether a pair of these lengths may be stored packed.
    pub(crate) fn fits(field: &[u8], value: &[u8]) -> bool {
        field.len() <= PACKED_BYTES_MAX && value.len() <= PACKED_BYTES_MAX
    }

    /// Walks the buffer pair by pair.
    fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let buf = &self.buf[..];
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= buf.len() {
                return None;
            }
            let start = at;
            let field_len = usize::from(buf[at]);
            let value_at = at + 1 + field_len;
            let value_len = usize::from(*buf.get(value_at).expect("packed value length"));
            let end = value_at + 1 + value_len;
            assert!(end <= buf.len(), "packed entry runs past the buffer");
            assert!(
                field_len <= PACKED_BYTES_MAX && value_len <= PACKED_BYTES_MAX,
                "packed entry too long"
            );
            at = end;
            Some(Span {
                start,
                value_at,
                end,
            })
        })
    }

    fn field_of(&self, span: Span) -> &[u8] {
        &self.buf[span.start + 1..span.value_at]
    }

    fn value_of(&self, span: Span) -> &[u8] {
        &self.buf[span.value_at + 1..span.end]
    }

    fn find(&self, field: &[u8]) -> Option<Span> {
        self.spans().find(|&span| self.field_of(span) == field)
    }

    /// Every (field, value) in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans()
            .map(|span| (self.field_of(span), self.value_of(span)))
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field).map(|span| self.value_of(span))
    }

    /// Sets `field` to `value` (both must [`fits`](Packed::fits)); returns
    /// whether the field is new.
    pub(crate) fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        assert!(Packed::fits(field, value), "pair too long to pack");
        match self.find(field) {
            Some(span) => {
                let old = span.value_at + 1..span.end;
                if old.len() == value.len() {
                    self.buf[old].copy_from_slice(value);
                } else {
                    self.splice(span.value_at..span.end, &[&[value.len() as u8], value]);
                }
                false
            }
            None => {
                let end = self.buf.len();
                let parts: [&[u8]; 4] = [&[field.len() as u8], field, &[value.len() as u8], value];
                self.splice(end..end, &parts);
                self.len += 1;
                true
            }
        }
    }

    /// Removes `field`; returns whether it was there.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        let Some(span) = self.find(field) else {
            return false;
        };
        self.splice(span.start..span.end, &[]);
        self.len -= 1;
        true
    }

    /// Replaces `range` of the buffer with the concatenation of `parts`,
    /// into a new exact-size buffer (one allocation, as Redis's listpack
    /// reallocates on every change).
    fn splice(&mut self, range: std::ops::Range<usize>, parts: &[&[u8]]) {
        let added: usize = parts.iter().map(|part| part.len()).sum();
        let mut buf = Vec::with_capacity(self.buf.len() - range.len() + added);
        buf.extend_from_slice(&self.buf[..range.start]);
        for part in parts {
            buf.extend_from_slice(part);
        }
        buf.extend_from_slice(&self.buf[range.end..]);
        self.buf = buf.into_boxed_slice();
    }

    /// The pair at `index` (`< len`), by a walk.
    pub(crate) fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(index)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, Vec<u8>),
        Remove(Vec<u8>),
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(b'a'..b'd', 0..3),
            proptest::collection::vec(any::<u8>(), 0..=PACKED_BYTES_MAX),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (text(), text()).prop_map(|(f, v)| Op::Insert(f, v)),
            1 => text().prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The packed hash behaves as a vector of unique pairs in
        /// insertion order, replaced in place.
        #[test]
        fn behaves_like_an_ordered_model(ops in proptest::collection::vec(op(), 0..80)) {
            let mut packed = Packed::default();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(field, value) => {
                        let position = model.iter().position(|(f, _)| *f == field);
                        prop_assert_eq!(packed.insert(&field, &value), position.is_none());
                        match position {
                            Some(i) => model[i].1 = value,
                            None => model.push((field, value)),
                        }
                    }
                    Op::Remove(field) => {
                        let position = model.iter().position(|(f, _)| *f == field);
                        prop_assert_eq!(packed.remove(&field), position.is_some());
                        if let Some(i) = position {
                            model.remove(i);
                        }
                    }
                }
                prop_assert_eq!(packed.len(), model.len());
                let contents: Vec<_> = packed.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&contents, &model);
                for (field, value) in &model {
                    prop_assert_eq!(packed.get(field), Some(&value[..]));
                }
                let bytes: usize = model.iter().map(|(f, v)| f.len() + v.len() + 2).sum();
                prop_assert_eq!(packed.buffer().len(), bytes);
                let rebuilt = Packed::from_buffer(packed.buffer().into(), packed.len);
                prop_assert_eq!(&rebuilt, &packed);
            }
        }
    }
}
