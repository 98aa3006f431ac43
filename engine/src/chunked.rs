//! [`Chunked`]: a vector stored in fixed-size chunks, so that it grows
//! without copying and without doubling.
//!
//! A `Vec` of a million 96-byte table entries doubles its capacity as it
//! grows: just after a doubling half of it is unused, and while it copies
//! itself the old and the new buffer are both alive, the old one then
//! left to the allocator as a hole the size of the whole keyspace. A
//! `Chunked` puts elements in chunks of [`CHUNK_LEN`]: a new chunk is
//! allocated when the last one is full, and elements never move when it
//! grows. Only the first chunk grows like a `Vec` (up to `CHUNK_LEN`), so
//! that a table of a few keys does not pay for a whole chunk.
//!
//! Removal is `swap_remove` (the last element fills the hole), so the
//! elements stay dense and an index is valid until the next removal.
//!
//! Invariants (checked by [`Chunked::check_invariants`]):
//! - Every chunk but the last is full (`CHUNK_LEN` elements); the last is
//!   not empty, unless it is the only chunk.
//! - Chunks after the first have a capacity of exactly `CHUNK_LEN`; the
//!   first has at most `CHUNK_LEN`.
//! - `len` is the number of elements, the element `i` being element
//!   `i % CHUNK_LEN` of chunk `i / CHUNK_LEN`.

/// log2 of [`CHUNK_LEN`].
const CHUNK_BITS: u32 = 9;
/// Elements per chunk: a power of two, so an index splits with a shift.
/// 512 entries of 96 bytes is 48 KiB: small against a large table, and
/// under glibc's mmap threshold, so a chunk comes from the heap.
pub(crate) const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// A dense sequence of `T` in fixed-size chunks (see the module comment).
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    /// The chunks, each full except the last.
    chunks: Vec<Vec<T>>,
    /// Elements stored.
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The element at `index` (`< len`).
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK_LEN - 1)]
    }

    /// The element at `index` (`< len`), to change in place.
    #[inline]
    pub(crate) fn get_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK_LEN - 1)]
    }

    /// Appends `value` and returns its index.
    pub(crate) fn push(&mut self, value: T) -> usize {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK_LEN => {
                // Only a first chunk can be short of room: it doubles, but
                // never past a whole chunk.
                if last.len() == last.capacity() {
                    let grown = (last.capacity() * 2).clamp(4, CHUNK_LEN);
                    last.reserve_exact(grown - last.len());
                }
                last.push(value);
            }
            _ => {
                let mut chunk = Vec::with_capacity(if self.len == 0 { 4 } else { CHUNK_LEN });
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        self.len - 1
    }

    /// Removes the element at `index` (`< len`) and returns it; the last
    /// element takes its place. A chunk left empty is freed.
    pub(crate) fn swap_remove(&mut self, index: usize) -> T {
        assert!(index < self.len, "chunked index out of range");
        let last_chunk = self.chunks.last_mut().expect("a chunk holds the element");
        let last = last_chunk.pop().expect("the last chunk is not empty");
        if last_chunk.is_empty() && self.chunks.len() > 1 {
            self.chunks.pop();
        }
        self.len -= 1;
        if index == self.len {
            last
        } else {
            std::mem::replace(self.get_mut(index), last)
        }
    }

    /// Gives back the first chunk's spare room once it holds less than a
    /// quarter of its capacity (the only chunk then), and everything when
    /// empty.
    pub(crate) fn shrink(&mut self) {
        if self.len == 0 {
            self.chunks = Vec::new();
        } else if let [only] = &mut self.chunks[..] {
            if only.len() * 4 < only.capacity() {
                only.shrink_to(only.len() * 2);
            }
        }
    }

    /// Bytes of element storage allocated (for tests of the layout).
    #[cfg(test)]
    pub(crate) fn capacity_bytes(&self) -> usize {
        let elements: usize = self.chunks.iter().map(Vec::capacity).sum();
        elements * std::mem::size_of::<T>()
    }

    /// Panics unless the invariants in the module comment hold.
    pub(crate) fn check_invariants(&self) {
        let count = self.chunks.len();
        for (i, chunk) in self.chunks.iter().enumerate() {
            if i + 1 < count {
                assert_eq!(chunk.len(), CHUNK_LEN, "chunk {i} of {count} is not full");
            } else {
                assert!(!chunk.is_empty() || count == 1, "empty last chunk");
            }
            if i > 0 {
                assert_eq!(chunk.capacity(), CHUNK_LEN, "chunk {i} capacity");
            } else {
                assert!(chunk.capacity() <= CHUNK_LEN, "first chunk too large");
            }
        }
        let len: usize = self.chunks.iter().map(Vec::len).sum();
        assert_eq!(len, self.len, "chunked length drifted");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(u32),
        SwapRemove(usize),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u32>().prop_map(Op::Push),
            3 => any::<usize>().prop_map(Op::SwapRemove),
            1 => Just(Op::Shrink),
        ]
    }

    proptest! {
        /// A `Chunked` holds what a `Vec` given the same operations holds,
        /// at the same indexes, across chunk boundaries both ways.
        #[test]
        fn behaves_like_a_vec(
            ops in proptest::collection::vec(op(), 1..3000),
        ) {
            let mut chunked = Chunked::default();
            let mut model: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(value) => {
                        prop_assert_eq!(chunked.push(value), model.len());
                        model.push(value);
                    }
                    Op::SwapRemove(at) if !model.is_empty() => {
                        let at = at % model.len();
                        prop_assert_eq!(chunked.swap_remove(at), model.swap_remove(at));
                    }
                    Op::SwapRemove(_) => {}
                    Op::Shrink => chunked.shrink(),
                }
                chunked.check_invariants();
                prop_assert_eq!(chunked.len(), model.len());
                for (i, value) in model.iter().enumerate() {
                    prop_assert_eq!(chunked.get(i), value);
                }
            }
        }
    }

    #[test]
    fn grows_by_whole_chunks_and_frees_them_when_emptied() {
        let mut chunked = Chunked::default();
        for i in 0..CHUNK_LEN as u64 {
            chunked.push(i);
        }
        // The first chunk grew like a Vec, to exactly one chunk.
        assert_eq!(chunked.capacity_bytes(), CHUNK_LEN * 8);
        for i in 0..(3 * CHUNK_LEN + 1) as u64 {
            chunked.push(i);
        }
        // Four full chunks and one element: five chunks, no spare room
        // beyond the last one.
        assert_eq!(chunked.capacity_bytes(), 5 * CHUNK_LEN * 8);
        for _ in 0..(3 * CHUNK_LEN + 1) {
            chunked.swap_remove(0);
        }
        assert_eq!(chunked.capacity_bytes(), CHUNK_LEN * 8);
        for _ in 0..CHUNK_LEN - 10 {
            chunked.swap_remove(0);
        }
        chunked.shrink();
        assert_eq!(chunked.capacity_bytes(), 20 * 8);
        for _ in 0..10 {
            chunked.swap_remove(0);
        }
        chunked.shrink();
        assert_eq!(chunked.capacity_bytes(), 0);
        chunked.check_invariants();
    }
}
