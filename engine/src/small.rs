//! [`SmallBytes`]: an owned byte string that keeps short contents inline.
//!
//! Almost every key and string value a Redis workload stores is short
//! (`key:000000012345`, a counter, a flag). Held as a `Bytes`, each one is
//! a heap allocation of its own: storing it costs a malloc (and a free when
//! it goes), and reading it costs a cache miss after the miss on the table
//! slot that points to it. A `SmallBytes` of up to [`INLINE_BYTES_MAX`]
//! bytes lives inside the value itself, so a table slot holds its key's and
//! its string's bytes, and comparing a key never leaves the slot.
//!
//! Longer contents stay in a `Bytes`: converting the `Bytes` of a write op
//! shares its buffer instead of copying it, and `APPEND` can still grow a
//! uniquely held buffer in place.
//!
//! Invariants:
//! - Contents of at most `INLINE_BYTES_MAX` bytes are inline, longer ones
//!   on the heap; so the representation is a function of the contents.
//! - An inline `len` is at most `INLINE_BYTES_MAX`.
//! - Equality, order and hashing are those of the contents as `[u8]`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// The most bytes stored inline. With one byte for the length this fills
/// the 24 bytes that the heap variant's `Bytes` leaves before its vtable
/// pointer, whose null niche tells the variants apart: a `SmallBytes` is
/// no bigger than a `Bytes` (32 bytes).
pub const INLINE_BYTES_MAX: usize = 23;

/// An owned, immutable byte string; inline up to [`INLINE_BYTES_MAX`]
/// bytes, else a shared `Bytes`. Dereferences to `[u8]`.
#[derive(Clone)]
pub struct SmallBytes(Repr);

#[derive(Clone)]
enum Repr {
    /// Short contents: the first `len` bytes of `data`.
    Inline {
        len: u8,
        data: [u8; INLINE_BYTES_MAX],
    },
    /// Contents longer than `INLINE_BYTES_MAX`.
    Heap(Bytes),
}

impl SmallBytes {
    /// The empty string.
    pub const EMPTY: SmallBytes = SmallBytes(Repr::Inline {
        len: 0,
        data: [0; INLINE_BYTES_MAX],
    });

    /// Copies `bytes` inline, if it fits.
    #[inline]
    fn inline(bytes: &[u8]) -> Option<SmallBytes> {
        if bytes.len() > INLINE_BYTES_MAX {
            return None;
        }
        let mut data = [0; INLINE_BYTES_MAX];
        data[..bytes.len()].copy_from_slice(bytes);
        let len = bytes.len() as u8;
        Some(SmallBytes(Repr::Inline { len, data }))
    }

    /// `bytes` as a `SmallBytes`: copied if short, else sharing its buffer
    /// (a reference count, no copy).
    #[inline]
    pub fn from_shared(bytes: &Bytes) -> SmallBytes {
        SmallBytes::inline(bytes).unwrap_or_else(|| SmallBytes(Repr::Heap(bytes.clone())))
    }

    /// The contents.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }

    /// Whether the contents equal `other`. Short equal-length contents are
    /// compared a word at a time (overlapping words cover any length from
    /// 8 to 24), which is cheaper than the call to `bcmp` that slice
    /// equality makes; a key lookup does this once per hash match.
    #[inline]
    pub fn eq_slice(&self, other: &[u8]) -> bool {
        let this = self.as_slice();
        let len = this.len();
        if len != other.len() {
            return false;
        }
        let word = |bytes: &[u8], at: usize| {
            let word: [u8; 8] = bytes[at..at + 8].try_into().expect("8 bytes");
            u64::from_ne_bytes(word)
        };
        let same = |at: usize| word(this, at) == word(other, at);
        match len {
            8..=16 => same(0) && same(len - 8),
            17..=24 => same(0) && same(8) && same(len - 8),
            _ => this == other,
        }
    }

    /// Whether the contents are inline (not a heap allocation).
    #[inline]
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The contents as `Bytes`: a copy if inline, else the shared buffer.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self),
            Repr::Heap(bytes) => bytes.clone(),
        }
    }

    /// The contents as `Bytes`: a copy if inline, else the buffer itself
    /// (so a caller holding the only reference may reuse it).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(&self),
            Repr::Heap(bytes) => bytes,
        }
    }
}

impl Default for SmallBytes {
    fn default() -> SmallBytes {
        SmallBytes::EMPTY
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Borrow<[u8]> for SmallBytes {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for SmallBytes {
    #[inline]
    fn from(bytes: &[u8]) -> SmallBytes {
        SmallBytes::inline(bytes)
            .unwrap_or_else(|| SmallBytes(Repr::Heap(Bytes::copy_from_slice(bytes))))
    }
}

impl From<Bytes> for SmallBytes {
    /// Copies short contents inline (dropping `bytes`); keeps long ones.
    #[inline]
    fn from(bytes: Bytes) -> SmallBytes {
        SmallBytes::inline(&bytes).unwrap_or(SmallBytes(Repr::Heap(bytes)))
    }
}

impl From<&Bytes> for SmallBytes {
    #[inline]
    fn from(bytes: &Bytes) -> SmallBytes {
        SmallBytes::from_shared(bytes)
    }
}

impl From<SmallBytes> for Bytes {
    fn from(bytes: SmallBytes) -> Bytes {
        bytes.into_bytes()
    }
}

impl PartialEq for SmallBytes {
    #[inline]
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialEq<[u8]> for SmallBytes {
    #[inline]
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialOrd for SmallBytes {
    #[inline]
    fn partial_cmp(&self, other: &SmallBytes) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    #[inline]
    fn cmp(&self, other: &SmallBytes) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SmallBytes {
    /// As `[u8]` hashes, which `Borrow<[u8]>` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SmallBytes {
    /// As `Bytes` prints: `b"..."` with non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &byte in self.as_slice() {
            match byte {
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", byte as char)?,
                b'\0' => f.write_str("\\0")?,
                0x20..=0x7e => write!(f, "{}", byte as char)?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use proptest::prelude::*;

    use super::*;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn is_no_bigger_than_bytes() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 32);
        assert_eq!(
            std::mem::size_of::<SmallBytes>(),
            std::mem::size_of::<Bytes>()
        );
    }

    #[test]
    fn short_contents_are_inline_and_long_ones_shared() {
        let short = vec![7u8; INLINE_BYTES_MAX];
        let long = vec![7u8; INLINE_BYTES_MAX + 1];
        assert!(SmallBytes::from(&short[..]).is_inline());
        assert!(SmallBytes::from(Bytes::from(short.clone())).is_inline());
        assert!(!SmallBytes::from(&long[..]).is_inline());
        assert!(SmallBytes::EMPTY.is_inline());
        assert!(SmallBytes::EMPTY.is_empty());
        // A long `Bytes` is shared, not copied, both ways.
        let bytes = Bytes::from(long);
        let small = SmallBytes::from_shared(&bytes);
        assert_eq!(small.as_ptr(), bytes.as_ptr());
        assert_eq!(small.to_bytes().as_ptr(), bytes.as_ptr());
        assert_eq!(small.into_bytes().as_ptr(), bytes.as_ptr());
    }

    #[test]
    fn debug_prints_like_bytes() {
        let bytes = Bytes::from_static(b"a\"b\x00\xff\n\r\t\\'~");
        let small = SmallBytes::from(&bytes);
        assert_eq!(format!("{small:?}"), format!("{bytes:?}"));
    }

    fn contents() -> impl Strategy<Value = Vec<u8>> {
        // Lengths around the inline limit, and small alphabets so that
        // equal and prefix-sharing strings are common.
        let len = 0..INLINE_BYTES_MAX * 2 + 2;
        prop_oneof![
            proptest::collection::vec(0u8..2, len.clone()),
            proptest::collection::vec(any::<u8>(), len),
        ]
    }

    /// Every way of building a `SmallBytes` from `bytes`.
    fn built(bytes: &[u8]) -> [SmallBytes; 4] {
        let shared = Bytes::copy_from_slice(bytes);
        [
            SmallBytes::from(bytes),
            SmallBytes::from(shared.clone()),
            SmallBytes::from_shared(&shared),
            SmallBytes::from(&shared).clone(),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(a in contents(), b in contents()) {
            for (small_a, small_b) in built(&a).iter().zip(&built(&b)) {
                prop_assert_eq!(small_a.as_slice(), &a[..]);
                prop_assert_eq!(small_a.len(), a.len());
                prop_assert_eq!(small_a.is_inline(), a.len() <= INLINE_BYTES_MAX);
                prop_assert_eq!(small_a == small_b, a == b);
                prop_assert_eq!(small_a.eq_slice(&b), a == b);
                prop_assert_eq!(small_a.cmp(small_b), a.cmp(&b));
                prop_assert_eq!(small_a.partial_cmp(small_b), a.partial_cmp(&b));
                prop_assert_eq!(hash_of(small_a), hash_of(&a[..]));
                prop_assert_eq!(hash_of(small_a), hash_of(&a));
                prop_assert_eq!(&small_a.to_bytes()[..], &a[..]);
                prop_assert_eq!(&small_a.clone().into_bytes()[..], &a[..]);
                prop_assert_eq!(&Bytes::from(small_a.clone())[..], &a[..]);
            }
        }
    }
}
