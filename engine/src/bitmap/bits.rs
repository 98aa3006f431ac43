//! The bit arithmetic of the bitmap commands, on plain byte slices: no
//! keys, no locks, no replies. Each function is Redis 7.0's (`bitops.c`)
//! semantics, written for speed where a command may touch a whole string
//! (counting, searching, combining) and for clarity where it touches at
//! most 64 bits (`BITFIELD`).
//!
//! Bit 0 is the most significant bit of byte 0, as in Redis; a string reads
//! as if it were followed by zero bytes for ever.
//!
//! Invariants:
//! - Every function is a pure function of its arguments (apply relies on
//!   it: the same op gives the same bytes on every node).
//! - The fast paths (`popcount`, `first_bit`, `combine`) give exactly the
//!   results of the byte-at-a-time definitions they replace; the tests
//!   check them against those definitions.

use serde::{Deserialize, Serialize};

use super::{BitOperation, BitUnit, FieldType, Overflow};

/// The number of set bits in `bytes`.
///
/// On x86-64 the loop is compiled three times, for AVX2 (which LLVM turns
/// into a vector popcount), for the `popcnt` instruction, and for the
/// baseline, and the best the CPU supports is chosen at run time.
pub fn popcount(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { popcount_avx2(bytes) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT, checked just above.
            return unsafe { popcount_popcnt(bytes) };
        }
    }
    popcount_words(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn popcount_avx2(bytes: &[u8]) -> u64 {
    popcount_words(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
pub(super) unsafe fn popcount_popcnt(bytes: &[u8]) -> u64 {
    popcount_words(bytes)
}

/// Counts 32 bytes at a time as four independent u64 sums (so the CPU
/// overlaps them), then the tail byte by byte.
#[inline(always)]
pub(super) fn popcount_words(bytes: &[u8]) -> u64 {
    let mut sums = [0u64; 4];
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        for (sum, word) in sums.iter_mut().zip(chunk.chunks_exact(8)) {
            let word = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
            *sum += u64::from(word.count_ones());
        }
    }
    let tail: u64 = chunks
        .remainder()
        .iter()
        .map(|byte| u64::from(byte.count_ones()))
        .sum();
    sums.iter().sum::<u64>() + tail
}

/// `BITCOUNT`'s range, resolved against a string of `len` bytes as Redis
/// resolves it: the bytes `start..=end` to count, and the masks of the
/// bits of the first and last byte that lie outside a `BIT` range. `None`
/// for an empty range.
struct Span {
    start: usize,
    end: usize,
    first_outside: u8,
    last_outside: u8,
}

/// Resolves `start..=end` (negative: from the end) in `unit`s against a
/// string of `len` bytes, with Redis's clamping.
fn resolve(len: usize, start: i64, end: i64, unit: BitUnit) -> Option<Span> {
    let bits = unit == BitUnit::Bit;
    let total = if bits { (len as i64) << 3 } else { len as i64 };
    let start = if start < 0 { total + start } else { start }.max(0);
    let end = if end < 0 { total + end } else { end }.max(0);
    let end = end.min(total - 1);
    if start > end {
        return None;
    }
    if !bits {
        return Some(Span {
            start: start as usize,
            end: end as usize,
            first_outside: 0,
            last_outside: 0,
        });
    }
    Some(Span {
        start: (start >> 3) as usize,
        end: (end >> 3) as usize,
        first_outside: !(0xFFu8 >> (start & 7)),
        last_outside: ((1u16 << (7 - (end & 7))) - 1) as u8,
    })
}

/// `BITCOUNT`: the set bits of `bytes` in `range` (`None`: all of them),
/// where `range` is `(start, end, unit)` as the client gave it.
pub fn count(bytes: &[u8], range: Option<(i64, i64, BitUnit)>) -> i64 {
    let span = match range {
        None if bytes.is_empty() => return 0,
        None => Span {
            start: 0,
            end: bytes.len() - 1,
            first_outside: 0,
            last_outside: 0,
        },
        // Redis answers 0 at once for two negative indexes in the wrong
        // order (before it even reads the unit).
        Some((start, end, _)) if start < 0 && end < 0 && start > end => return 0,
        Some((start, end, unit)) => match resolve(bytes.len(), start, end, unit) {
            Some(span) => span,
            None => return 0,
        },
    };
    let total = popcount(&bytes[span.start..=span.end]);
    let outside = (bytes[span.start] & span.first_outside).count_ones()
        + (bytes[span.end] & span.last_outside).count_ones();
    (total - u64::from(outside)) as i64
}

/// `BITPOS`'s range as the client gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosRange {
    pub start: i64,
    /// `None`: to the end of the string, which then reads as followed by
    /// zeros (so a search for 0 always finds one).
    pub end: Option<i64>,
    pub unit: BitUnit,
}

/// `BITPOS`: the position of the first bit equal to `bit` in `range`
/// (`None`: the whole string), or -1.
pub fn position(bytes: &[u8], bit: bool, range: Option<PosRange>) -> i64 {
    let (span, end_given) = match range {
        None if bytes.is_empty() => return -1,
        None => (
            Span {
                start: 0,
                end: bytes.len() - 1,
                first_outside: 0,
                last_outside: 0,
            },
            false,
        ),
        Some(range) => {
            let end = range.end.unwrap_or(match range.unit {
                BitUnit::Byte => bytes.len() as i64 - 1,
                BitUnit::Bit => ((bytes.len() as i64) << 3) + 7,
            });
            match resolve(bytes.len(), range.start, end, range.unit) {
                Some(span) => (span, range.end.is_some()),
                None => return -1,
            }
        }
    };
    // Copy the edge bytes with their outside bits set to the value not
    // sought, so the search never stops on them.
    let not_sought = |byte: u8, outside: u8| if bit { byte & !outside } else { byte | outside };
    let searched = &bytes[span.start..=span.end];
    let found = if span.first_outside == 0 && span.last_outside == 0 {
        first_bit(searched, bit)
    } else {
        let mut first = not_sought(searched[0], span.first_outside);
        if searched.len() == 1 {
            first = not_sought(first, span.last_outside);
            first_bit(&[first], bit)
        } else {
            let last = not_sought(searched[searched.len() - 1], span.last_outside);
            first_bit(&[first], bit)
                .map(|at| at as u64)
                .or_else(|| {
                    first_bit(&searched[1..searched.len() - 1], bit).map(|at| at as u64 + 8)
                })
                .or_else(|| {
                    first_bit(&[last], bit).map(|at| at as u64 + (searched.len() as u64 - 1) * 8)
                })
                .map(|at| at as usize)
        }
    };
    match found {
        Some(at) => (span.start as i64) * 8 + at as i64,
        // Without an end, the string is followed by zeros: the first one
        // is just past it.
        None if !bit && !end_given => (span.end as i64 + 1) * 8,
        None => -1,
    }
}

/// The index of the first bit of `bytes` equal to `bit`, skipping whole
/// words that hold none.
pub fn first_bit(bytes: &[u8], bit: bool) -> Option<usize> {
    let skip_byte = if bit { 0x00 } else { 0xFF };
    let skip_word = u64::from_ne_bytes([skip_byte; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        if u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) != skip_word {
            break;
        }
        at += 8;
    }
    let byte_at = bytes[at..].iter().position(|&byte| byte != skip_byte)?;
    let byte = bytes[at + byte_at];
    let within = if bit {
        byte.leading_zeros()
    } else {
        byte.leading_ones()
    };
    Some((at + byte_at) * 8 + within as usize)
}

/// `BITOP`: `op` over `sources`, each read as followed by zeros, into a
/// string as long as the longest source (empty if all are).
pub fn combine(op: BitOperation, sources: &[&[u8]]) -> Vec<u8> {
    let len = sources.iter().map(|source| source.len()).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    let Some((first, rest)) = sources.split_first() else {
        return out;
    };
    out[..first.len()].copy_from_slice(first);
    match op {
        BitOperation::Not => out.iter_mut().for_each(|byte| *byte = !*byte),
        BitOperation::And => {
            for source in rest {
                // Past a source's end it reads as zeros, which clear the rest.
                out[source.len()..].fill(0);
                apply_words(&mut out, source, |a, b| a & b);
            }
        }
        BitOperation::Or => {
            for source in rest {
                apply_words(&mut out, source, |a, b| a | b);
            }
        }
        BitOperation::Xor => {
            for source in rest {
                apply_words(&mut out, source, |a, b| a ^ b);
            }
        }
    }
    out
}

/// `out[i] = f(out[i], source[i])` over `source`'s length, a word at a
/// time.
#[inline(always)]
fn apply_words(out: &mut [u8], source: &[u8], f: impl Fn(u64, u64) -> u64) {
    let out = &mut out[..source.len()];
    let mut out_words = out.chunks_exact_mut(8);
    let mut source_words = source.chunks_exact(8);
    for (a, b) in (&mut out_words).zip(&mut source_words) {
        let x = u64::from_ne_bytes((&*a).try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        a.copy_from_slice(&f(x, y).to_ne_bytes());
    }
    let tail = out_words.into_remainder();
    for (a, b) in tail.iter_mut().zip(source_words.remainder()) {
        *a = f(u64::from(*a), u64::from(*b)) as u8;
    }
}

/// The bit at `offset` (0 past the end).
pub fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes
        .get(byte)
        .is_some_and(|value| value & (0x80 >> (offset & 7)) != 0)
}

/// Sets the bit at `offset` to `on`; `bytes` must reach it.
pub fn set_bit(bytes: &mut [u8], offset: u64, on: bool) {
    let byte = &mut bytes[(offset >> 3) as usize];
    let mask = 0x80u8 >> (offset & 7);
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

/// The `ty.bits` bits at `offset`, as an unsigned number (the string
/// reads as followed by zeros).
fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |value, i| {
        (value << 1) | u64::from(get_bit(bytes, offset + i))
    })
}

/// Reads the field of type `ty` at `offset`: sign-extended if signed.
pub fn get_field(bytes: &[u8], offset: u64, ty: FieldType) -> i64 {
    check_type(ty);
    let bits = u32::from(ty.bits);
    let value = get_unsigned(bytes, offset, bits);
    if ty.signed && bits < 64 && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Panics unless `ty` is a type Redis accepts (the server parses only
/// those, so another is a bug).
fn check_type(ty: FieldType) {
    let max = if ty.signed { 64 } else { 63 };
    assert!(
        (1..=max).contains(&ty.bits),
        "BITFIELD type {}{} reached the engine",
        if ty.signed { 'i' } else { 'u' },
        ty.bits
    );
}

/// Writes the low `ty.bits` bits of `value` at `offset`; `bytes` must
/// reach the field's last bit.
pub fn set_field(bytes: &mut [u8], offset: u64, ty: FieldType, value: i64) {
    let bits = u64::from(ty.bits);
    for i in 0..bits {
        let on = (value as u64) >> (bits - 1 - i) & 1 == 1;
        set_bit(bytes, offset + i, on);
    }
}

/// What a `BITFIELD` `SET` or `INCRBY` stores: `value + incr` if it fits
/// in `ty`, else what `overflow` makes of it (`None`: `FAIL`, store
/// nothing). Redis's `check{Unsigned,Signed}BitfieldOverflow`, including
/// its reading of a negative `SET` value as a huge unsigned one.
pub fn fit(value: i64, incr: i64, ty: FieldType, overflow: Overflow) -> Option<i64> {
    check_type(ty);
    let bits = u32::from(ty.bits);
    let (over, under, max, min) = if ty.signed {
        let max = if bits == 64 {
            i64::MAX
        } else {
            (1i64 << (bits - 1)) - 1
        };
        let min = -max - 1;
        let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
        let min_incr = min.wrapping_sub(value);
        let over = value > max
            || (bits != 64 && incr > max_incr)
            || (value >= 0 && incr > 0 && incr > max_incr);
        let under = value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr);
        (over, under, max, min)
    } else {
        let max = (1u64 << bits) - 1;
        let unsigned = value as u64;
        let max_incr = max.wrapping_sub(unsigned) as i64;
        let min_incr = unsigned.wrapping_neg() as i64;
        let over = unsigned > max || (incr > 0 && incr > max_incr);
        let under = incr < 0 && incr < min_incr;
        (over, under, max as i64, 0)
    };
    if !over && !under {
        return Some(value.wrapping_add(incr));
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat if over => Some(max),
        Overflow::Sat => Some(min),
        Overflow::Wrap => Some(wrap(value.wrapping_add(incr) as u64, ty)),
    }
}

/// `value` wrapped into `ty`: its low bits, sign-extended if signed.
fn wrap(value: u64, ty: FieldType) -> i64 {
    let bits = u32::from(ty.bits);
    if bits == 64 {
        return value as i64;
    }
    let high = u64::MAX << bits;
    if ty.signed && value & (1 << (bits - 1)) != 0 {
        (value | high) as i64
    } else {
        (value & !high) as i64
    }
}
