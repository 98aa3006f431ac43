//! The packed encoding of small sorted sets (`OBJECT ENCODING` "listpack").
//!
//! Most sorted sets are small, and a million of them must not cost much
//! more than Redis's listpacks do. So a small set is one byte buffer of
//! entries in ascending (score, member) order, each laid out as
//!
//! ```text
//! score   8 bytes  f64, little-endian (never NaN)
//! len     1 byte   member length, at most MEMBER_MAX
//! member  len bytes
//! ```
//!
//! with nothing between entries: 9 bytes of overhead per element, and one
//! allocation per set. Every operation is a scan (at most `ENTRIES_MAX`
//! entries, a few KB), as in Redis. The same bytes are the run record of a
//! packed set, so a snapshot copies the buffer and a restore checks it.
//!
//! Invariants (checked by [`Packed::check_invariants`]):
//! - The buffer's capacity is `capacity_for` its length.
//! - `buf` is a sequence of well-formed entries, `len` of them, with no
//!   trailing bytes; `len <= ENTRIES_MAX`.
//! - Entries are strictly ascending in (score, member) order, so members
//!   are unique; no score is NaN; no member is longer than `MEMBER_MAX`.

use std::cmp::Ordering;

use super::compare;

/// The most elements a packed set holds (`zset-max-listpack-entries`).
pub(crate) const ENTRIES_MAX: usize = 128;
/// The longest member a packed set holds (`zset-max-listpack-value`).
pub(crate) const MEMBER_MAX: usize = 64;
/// Bytes of an entry besides its member: score and length.
const HEADER_BYTES: usize = 9;
/// Bytes malloc keeps before each block, for the memory estimate.
const MALLOC_HEADER_BYTES: usize = 8;

/// A small sorted set: see the module comment.
#[derive(Debug, Clone, Default)]
pub(super) struct Packed {
    /// The entries, back to back.
    buf: Vec<u8>,
    /// Entries in `buf`; at most `ENTRIES_MAX`, so a byte suffices.
    len: u8,
}

/// The entry starting at byte `at` of `buf`: (score, member, next entry's
/// offset).
#[inline]
fn entry_at(buf: &[u8], at: usize) -> (f64, &[u8], usize) {
    let score = f64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    let len = usize::from(buf[at + 8]);
    let start = at + HEADER_BYTES;
    (score, &buf[start..start + len], start + len)
}

/// The capacity a buffer of `len` bytes has: 0 when empty, else a size
/// class (multiples of 16 up to 128, then four classes per doubling),
/// less malloc's header. A pure function of the length, so a set restored
/// from a run holds exactly the memory it held before; and growth is
/// amortized without the doubling that would waste up to half the memory
/// of a million small sets.
fn capacity_for(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let block = len + MALLOC_HEADER_BYTES;
    let step = (block.next_power_of_two() / 8).max(16);
    block.div_ceil(step) * step - MALLOC_HEADER_BYTES
}

impl Packed {
    /// A packed set of the `(score, member)` pairs of `sorted`, which must
    /// be strictly ascending and within the limits.
    pub(super) fn from_sorted<'a>(sorted: impl Iterator<Item = (f64, &'a [u8])>) -> Packed {
        let mut packed = Packed::default();
        for (score, member) in sorted {
            packed.push(score, member);
        }
        packed.check_invariants();
        packed
    }

    /// The packed set a run record holds: its buffer, checked.
    pub(super) fn from_buffer(buf: &[u8]) -> Packed {
        let mut packed = Packed {
            buf: Vec::with_capacity(capacity_for(buf.len())),
            len: 0,
        };
        packed.buf.extend_from_slice(buf);
        let mut at = 0;
        while at < buf.len() {
            assert!(packed.len < ENTRIES_MAX as u8, "packed sorted set too long");
            at = entry_at(buf, at).2;
            packed.len += 1;
        }
        packed.check_invariants();
        packed
    }

    /// The buffer, as a run record stores it.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(super) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Heap bytes: the buffer's block.
    pub(super) fn memory_bytes(&self) -> u64 {
        match self.buf.capacity() {
            0 => 0,
            capacity => (capacity + MALLOC_HEADER_BYTES) as u64,
        }
    }

    /// Whether a new member of `member_len` bytes fits in this encoding.
    pub(super) fn fits_new(&self, member_len: usize) -> bool {
        self.len() < ENTRIES_MAX && member_len <= MEMBER_MAX
    }

    /// (offset, score, member) of each entry, ascending.
    fn entries(&self) -> impl Iterator<Item = (usize, f64, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at == self.buf.len() {
                return None;
            }
            let (score, member, next) = entry_at(&self.buf, at);
            let entry = (at, score, member);
            at = next;
            Some(entry)
        })
    }

    /// (rank, offset, score) of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, usize, f64)> {
        self.entries()
            .enumerate()
            .find(|(_, (_, _, stored))| *stored == member)
            .map(|(rank, (at, score, _))| (rank, at, score))
    }

    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|(_, _, score)| score)
    }

    pub(super) fn rank(&self, member: &[u8]) -> Option<usize> {
        self.find(member).map(|(rank, _, _)| rank)
    }

    /// How many leading elements satisfy `before`.
    pub(super) fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.entries()
            .take_while(|&(_, score, member)| before(score, member))
            .count()
    }

    pub(super) fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        let (_, score, member) = self.entries().nth(rank)?;
        Some((score, member))
    }

    /// The byte offset of entry `rank` (`len` for the end).
    fn offset_of_rank(&self, rank: usize) -> usize {
        self.entries()
            .nth(rank)
            .map_or(self.buf.len(), |(at, _, _)| at)
    }

    /// Sets `member`'s score; returns the old one. A new member must fit
    /// (`fits_new`).
    pub(super) fn insert(&mut self, score: f64, member: &[u8]) -> Option<f64> {
        let old = match self.find(member) {
            Some((_, at, old)) => {
                if self.stays_in_place(at, score, member) {
                    self.buf[at..at + 8].copy_from_slice(&score.to_le_bytes());
                    return Some(old);
                }
                // Not `remove_at`: the entry comes right back, so the
                // buffer keeps its capacity for it.
                self.buf.drain(at..at + HEADER_BYTES + member.len());
                self.len -= 1;
                Some(old)
            }
            None => {
                assert!(self.fits_new(member.len()), "packed sorted set overflow");
                None
            }
        };
        let at = self
            .entries()
            .find(|&(_, s, m)| compare((s, m), (score, member)) != Ordering::Less)
            .map_or(self.buf.len(), |(at, _, _)| at);
        // A moved entry keeps its length, so the capacity class holds.
        self.insert_at(at, score, member);
        old
    }

    /// Whether the entry of `member` at `at` keeps its place with `score`:
    /// its neighbours still bracket it.
    fn stays_in_place(&self, at: usize, score: f64, member: &[u8]) -> bool {
        let next = entry_at(&self.buf, at).2;
        let after_ok = next == self.buf.len() || {
            let (s, m, _) = entry_at(&self.buf, next);
            compare((score, member), (s, m)) == Ordering::Less
        };
        // The previous entry: the last one that starts before `at`.
        let before_ok = self
            .entries()
            .take_while(|&(start, _, _)| start < at)
            .last()
            .is_none_or(|(_, s, m)| compare((s, m), (score, member)) == Ordering::Less);
        after_ok && before_ok
    }

    /// Appends an entry that sorts after every other one.
    fn push(&mut self, score: f64, member: &[u8]) {
        self.insert_at(self.buf.len(), score, member);
    }

    /// Writes an entry at byte `at`, moving the later entries up.
    fn insert_at(&mut self, at: usize, score: f64, member: &[u8]) {
        assert!(member.len() <= MEMBER_MAX, "member too long to pack");
        let size = HEADER_BYTES + member.len();
        let end = self.buf.len();
        let capacity = capacity_for(end + size);
        if self.buf.capacity() < capacity {
            self.buf.reserve_exact(capacity - end);
        }
        self.buf.resize(end + size, 0);
        self.buf.copy_within(at..end, at + size);
        self.buf[at..at + 8].copy_from_slice(&score.to_le_bytes());
        self.buf[at + 8] = member.len() as u8;
        self.buf[at + HEADER_BYTES..at + size].copy_from_slice(member);
        self.len += 1;
    }

    /// Removes the entry at byte `at`, whose member is `member_len` long.
    fn remove_at(&mut self, at: usize, member_len: usize) {
        self.buf.drain(at..at + HEADER_BYTES + member_len);
        self.len -= 1;
        self.shrink_if_sparse();
    }

    /// Gives memory back down to the length's size class, as Redis's
    /// listpack does on every delete.
    fn shrink_if_sparse(&mut self) {
        let capacity = capacity_for(self.buf.len());
        if self.buf.capacity() > capacity {
            self.buf.shrink_to(capacity);
        }
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, at, score) = self.find(member)?;
        self.remove_at(at, member.len());
        Some(score)
    }

    /// Removes the elements with ranks in `ranks` (within `0..len`) with
    /// one move of the bytes after them.
    pub(super) fn remove_range(&mut self, ranks: std::ops::Range<usize>) {
        assert!(ranks.end <= self.len(), "rank range out of bounds");
        if ranks.is_empty() {
            return;
        }
        let start = self.offset_of_rank(ranks.start);
        let end = self.offset_of_rank(ranks.end);
        self.buf.drain(start..end);
        self.len -= (ranks.end - ranks.start) as u8;
        self.shrink_if_sparse();
    }

    /// The elements with ranks in `ranks` (within `0..len`), ascending.
    pub(super) fn range(&self, ranks: std::ops::Range<usize>) -> Iter<'_> {
        assert!(ranks.end <= self.len(), "rank range out of bounds");
        let mut starts = [0u16; ENTRIES_MAX + 1];
        let count = ranks.end.saturating_sub(ranks.start);
        let mut at = self.offset_of_rank(ranks.start);
        for start in starts.iter_mut().take(count + 1) {
            *start = at as u16;
            if at < self.buf.len() {
                at = entry_at(&self.buf, at).2;
            }
        }
        Iter {
            buf: &self.buf,
            starts,
            front: 0,
            back: count,
        }
    }

    /// Panics unless every invariant in the module comment holds.
    pub(super) fn check_invariants(&self) {
        assert!(self.len() <= ENTRIES_MAX, "packed sorted set too long");
        let mut previous: Option<(f64, &[u8])> = None;
        let mut count = 0;
        let mut at = 0;
        while at < self.buf.len() {
            assert!(
                at + HEADER_BYTES <= self.buf.len(),
                "truncated entry header"
            );
            let len = usize::from(self.buf[at + 8]);
            assert!(len <= MEMBER_MAX, "packed member too long");
            assert!(
                at + HEADER_BYTES + len <= self.buf.len(),
                "truncated member"
            );
            let (score, member, next) = entry_at(&self.buf, at);
            assert!(!score.is_nan(), "NaN score packed");
            if let Some(previous) = previous {
                let ordered = compare(previous, (score, member)) == Ordering::Less;
                assert!(ordered, "packed entries out of order");
            }
            previous = Some((score, member));
            count += 1;
            at = next;
        }
        assert_eq!(count, self.len(), "packed entry count drifted");
        let capacity = capacity_for(self.buf.len());
        assert_eq!(self.buf.capacity(), capacity, "capacity off its size class");
    }
}

/// A rank range of a packed set. It records where each of its entries
/// starts (at most `ENTRIES_MAX`, so on the stack) so it can walk
/// backwards over entries that carry no back-pointers.
#[derive(Debug, Clone)]
pub(super) struct Iter<'a> {
    buf: &'a [u8],
    /// `starts[k]` is the offset of the range's `k`th entry; one past the
    /// last is the end of the last entry.
    starts: [u16; ENTRIES_MAX + 1],
    /// The next entry from the front, as an index into `starts`.
    front: usize,
    /// One past the next entry from the back.
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        let (score, member, _) = entry_at(self.buf, usize::from(self.starts[self.front]));
        self.front += 1;
        Some((score, member))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.back - self.front;
        (remaining, Some(remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        let (score, member, _) = entry_at(self.buf, usize::from(self.starts[self.back]));
        Some((score, member))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(f64, Vec<u8>),
        Remove(Vec<u8>),
        RemoveRange(usize, usize),
        Probe(f64, Vec<u8>),
        Range(usize, usize),
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => proptest::collection::vec(b'a'..b'd', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 0..=MEMBER_MAX),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let score = prop_oneof![
            (-3i32..3).prop_map(f64::from),
            Just(f64::INFINITY),
            Just(-0.0)
        ];
        prop_oneof![
            6 => (score.clone(), member()).prop_map(|(s, m)| Op::Insert(s, m)),
            2 => member().prop_map(Op::Remove),
            1 => (0usize..40, 0usize..4).prop_map(|(a, n)| Op::RemoveRange(a, n)),
            3 => (score, member()).prop_map(|(s, m)| Op::Probe(s, m)),
            2 => (0usize..40, 0usize..40).prop_map(|(a, b)| Op::Range(a, b)),
        ]
    }

    /// The model's elements in order, scores as bits.
    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut elements: Vec<_> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        elements.sort_by(|a, b| compare((a.0, &a.1), (b.0, &b.1)));
        elements
    }

    fn owned<'a>(iter: impl Iterator<Item = (f64, &'a [u8])>) -> Vec<(u64, Vec<u8>)> {
        iter.map(|(s, m)| (s.to_bits(), m.to_vec())).collect()
    }

    proptest! {
        #[test]
        fn packed_matches_model(ops in proptest::collection::vec(op(), 0..300)) {
            let mut packed = Packed::default();
            let mut model = BTreeMap::new();
            for op in ops {
                let elements = sorted(&model);
                match op {
                    Op::Insert(score, member) => {
                        if model.contains_key(&member) || packed.fits_new(member.len()) {
                            let old = packed.insert(score, &member).map(f64::to_bits);
                            prop_assert_eq!(old, model.insert(member, score).map(f64::to_bits));
                        }
                    }
                    Op::Remove(member) => {
                        let old = packed.remove(&member).map(f64::to_bits);
                        prop_assert_eq!(old, model.remove(&member).map(f64::to_bits));
                    }
                    Op::RemoveRange(start, count) => {
                        let start = start.min(elements.len());
                        let end = (start + count).min(elements.len());
                        packed.remove_range(start..end);
                        for (_, member) in &elements[start..end] {
                            model.remove(member);
                        }
                    }
                    Op::Probe(score, member) => {
                        let rank = elements.iter().position(|(_, m)| *m == member);
                        prop_assert_eq!(packed.rank(&member), rank);
                        let below = elements
                            .iter()
                            .filter(|(s, m)| compare((*s, m), (score, &member)).is_lt())
                            .count();
                        let point = packed.partition_point(|s, m| compare((s, m), (score, &member)).is_lt());
                        prop_assert_eq!(point, below);
                        let at = packed.get_by_rank(below).map(|(s, m)| (s.to_bits(), m.to_vec()));
                        prop_assert_eq!(at, elements.get(below).map(|(s, m)| (s.to_bits(), m.clone())));
                    }
                    Op::Range(a, b) => {
                        let (a, b) = (a.min(elements.len()), b.min(elements.len()));
                        let ranks = a.min(b)..a.max(b);
                        let expected = owned(elements[ranks.clone()].iter().map(|(s, m)| (*s, &m[..])));
                        prop_assert_eq!(packed.range(ranks.clone()).len(), ranks.len());
                        prop_assert_eq!(owned(packed.range(ranks.clone())), expected.clone());
                        let mut reversed = owned(packed.range(ranks).rev());
                        reversed.reverse();
                        prop_assert_eq!(reversed, expected);
                    }
                }
                packed.check_invariants();
                prop_assert_eq!(packed.len(), model.len());
            }
            let restored = Packed::from_buffer(packed.as_bytes());
            prop_assert_eq!(restored.as_bytes(), packed.as_bytes());
            prop_assert_eq!(restored.memory_bytes(), packed.memory_bytes());
        }
    }

    #[test]
    fn capacity_classes_cover_their_lengths() {
        let mut previous = 0;
        for len in 1..=ENTRIES_MAX * (HEADER_BYTES + MEMBER_MAX) {
            let capacity = capacity_for(len);
            assert!(capacity >= len, "class below its length");
            assert!(capacity >= previous, "classes not monotone");
            assert!(
                capacity <= len + len / 4 + 24,
                "class {capacity} wastes too much for {len}"
            );
            previous = capacity;
        }
    }
}
