//! The HyperLogLog sketch as Redis 7.0 stores it in a string, byte for
//! byte (`hyperloglog.c`): the header, the dense registers, the hash, the
//! cardinality estimate, and the merge of many sketches into one.
//!
//! Layout: a 16-byte header, `HYLL`, one encoding byte (0 dense, 1
//! sparse), three unused bytes, and the cached cardinality as a
//! little-endian u64 whose top bit set means "stale"; then the registers.
//! Dense registers are 16384 six-bit counters packed from the least
//! significant bit of each byte up (12288 bytes, 12304 in all). The sparse
//! form is in [`super::sparse`].
//!
//! Invariants:
//! - Nothing here panics on any bytes a client may have stored: a string
//!   that only looks like a sketch is read the way Redis reads it,
//!   including the byte one past the end (Redis reads its string's NUL
//!   terminator there), which reads as 0.
//! - Every function is a pure function of its inputs: the same bytes give
//!   the same result on every node.

use crate::Error;

/// Registers: 2^14.
pub const REGISTERS: usize = 1 << P;
/// Index bits of the hash.
const P: u32 = 14;
/// Hash bits left for the run of zeros.
const Q: usize = 64 - P as usize;
/// The largest value a six-bit register holds.
const REGISTER_MAX: u8 = 63;
/// Header bytes.
pub const HEADER_BYTES: usize = 16;
/// A dense sketch's length: header and 16384 six-bit registers.
pub const DENSE_BYTES: usize = HEADER_BYTES + (REGISTERS * 6).div_ceil(8);
/// The encoding byte of a dense sketch.
pub const DENSE: u8 = 0;
/// The encoding byte of a sparse sketch.
pub const SPARSE: u8 = 1;
/// MurmurHash64A's seed in Redis.
const SEED: u64 = 0xadc8_3b19;

/// `WRONGTYPE` for a string that is not a sketch.
pub const NOT_HLL: Error = Error::Other("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// A sketch whose sparse registers do not add up to 16384.
pub const CORRUPT: Error = Error::Other("INVALIDOBJ Corrupted HLL object detected");

/// Whether `bytes` is a sketch as Redis's `isHLLObjectOrReply` checks one:
/// long enough for the header, the magic, a known encoding, and exactly
/// [`DENSE_BYTES`] if dense. (The sparse registers are checked only when
/// read.)
pub fn check(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != b"HYLL" || bytes[4] > SPARSE {
        return Err(NOT_HLL);
    }
    if bytes[4] == DENSE && bytes.len() != DENSE_BYTES {
        return Err(NOT_HLL);
    }
    Ok(())
}

/// Whether a checked sketch is dense.
pub fn is_dense(bytes: &[u8]) -> bool {
    bytes[4] == DENSE
}

/// The cached cardinality, if it is valid (its top bit clear).
pub fn cached(bytes: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    (card >> 63 == 0).then_some(card)
}

/// Stores `card` as the valid cached cardinality.
pub fn set_cached(bytes: &mut [u8], card: u64) {
    bytes[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale (`HLL_INVALIDATE_CACHE`).
pub fn invalidate(bytes: &mut [u8]) {
    bytes[15] |= 0x80;
}

/// Redis's `MurmurHash64A`, reading 8-byte blocks little-endian.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= u64::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// An element's register and the length of its hash's `000..1` pattern
/// (1 to 51), as Redis's `hllPatLen`.
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The bit past the last one used stops the count at Q + 1.
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The dense register `index` of `registers` (the bytes after the header).
pub fn get_register(registers: &[u8], index: usize) -> u8 {
    let byte = index * 6 / 8;
    let shift = index * 6 % 8;
    let b0 = u16::from(registers[byte]);
    let b1 = u16::from(registers.get(byte + 1).copied().unwrap_or(0));
    (((b0 | (b1 << 8)) >> shift) as u8) & REGISTER_MAX
}

/// Sets the dense register `index` to `value` (at most 63).
pub fn set_register(registers: &mut [u8], index: usize, value: u8) {
    debug_assert!(value <= REGISTER_MAX, "a register holds six bits");
    let byte = index * 6 / 8;
    let shift = index * 6 % 8;
    let mask = u16::from(REGISTER_MAX) << shift;
    let bits = u16::from(value) << shift;
    registers[byte] = (registers[byte] & !(mask as u8)) | bits as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        *next = (*next & !((mask >> 8) as u8)) | (bits >> 8) as u8;
    }
}

/// Raises the dense register `index` to `count` if it is lower; whether
/// it did (`hllDenseSet`).
pub fn dense_raise(registers: &mut [u8], index: usize, count: u8) -> bool {
    if count > get_register(registers, index) {
        set_register(registers, index, count);
        true
    } else {
        false
    }
}

/// Dense registers four at a time: every 3 bytes hold 4 registers,
/// packed from the least significant bit up. The fast path of the dense
/// histogram and merge (Redis unrolls the same loop).
fn dense_quads(registers: &[u8]) -> impl Iterator<Item = [u8; 4]> + '_ {
    registers[..REGISTERS * 6 / 8].chunks_exact(3).map(|bytes| {
        let word = u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16;
        std::array::from_fn(|k| ((word >> (6 * k)) & u32::from(REGISTER_MAX)) as u8)
    })
}

/// How many registers hold each value (0 to 63).
pub type Histogram = [u32; 64];

/// The histogram of a checked sketch's registers, or [`CORRUPT`] if its
/// sparse registers do not add up to 16384.
pub fn histogram(bytes: &[u8]) -> Result<Histogram, Error> {
    let mut histogram = [0; 64];
    let registers = &bytes[HEADER_BYTES..];
    if is_dense(bytes) {
        for quad in dense_quads(registers) {
            for value in quad {
                histogram[usize::from(value)] += 1;
            }
        }
        return Ok(histogram);
    }
    let mut covered = 0usize;
    for op in super::opcodes::opcodes(registers) {
        histogram[usize::from(op.value)] += op.run;
        covered += op.run as usize;
    }
    if covered != REGISTERS {
        return Err(CORRUPT);
    }
    Ok(histogram)
}

/// The histogram of one byte per register (a merge's result).
pub fn raw_histogram(registers: &[u8; REGISTERS]) -> Histogram {
    let mut histogram = [0; 64];
    for &value in registers {
        histogram[usize::from(value)] += 1;
    }
    histogram
}

/// Ertl's sigma (arXiv:1702.01284), as Redis computes it.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau, as Redis computes it.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The estimated cardinality from a register histogram (Redis's
/// `hllCount`, Ertl's improved estimator).
pub fn estimate(histogram: &Histogram) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Raises `max` to a checked sketch's registers (`hllMerge`), or
/// [`CORRUPT`] if its sparse registers do not add up to 16384.
pub fn merge_into(max: &mut [u8; REGISTERS], bytes: &[u8]) -> Result<(), Error> {
    let registers = &bytes[HEADER_BYTES..];
    if is_dense(bytes) {
        for (quad, slots) in dense_quads(registers).zip(max.chunks_exact_mut(4)) {
            for (slot, value) in slots.iter_mut().zip(quad) {
                *slot = (*slot).max(value);
            }
        }
        return Ok(());
    }
    let mut at = 0usize;
    for op in super::opcodes::opcodes(registers) {
        let run = op.run as usize;
        if op.value == 0 {
            at += run;
            continue;
        }
        // Redis stops at a run of values past the last register (and so
        // ignores values after a full count of registers).
        if at + run > REGISTERS {
            break;
        }
        for slot in &mut max[at..at + run] {
            *slot = (*slot).max(op.value);
        }
        at += run;
    }
    if at != REGISTERS {
        return Err(CORRUPT);
    }
    Ok(())
}
