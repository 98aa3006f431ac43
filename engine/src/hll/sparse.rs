//! The sparse sketch: Redis 7.0's run-length opcodes over the 16384
//! registers, and the edits `PFADD` and `PFMERGE` make to them in place.
//!
//! The opcodes (`ZERO`, `XZERO`, `VAL`) are read by `opcodes.rs`.
//!
//! A register raised past 32, or an edit that would make the sketch longer
//! than `hll-sparse-max-bytes`, turns it dense ([`to_dense`]).
//! [`raise`] follows `hllSparseSet` step by step (where it splits a run,
//! how it merges neighbours, how far it scans), because the bytes it
//! leaves are visible to `GET` and must be Redis's.
//!
//! Invariants:
//! - Any bytes are read without panicking, as Redis reads them (an
//!   `XZERO` cut short by the end reads a zero low byte).
//! - A sketch that comes out of [`raise`] or [`to_dense`] is as long as
//!   Redis's would be, byte for byte.

use bytes::BytesMut;

use super::opcodes::{opcode_at, opcodes, Kind};
use super::sketch::{self, CORRUPT, DENSE, DENSE_BYTES, HEADER_BYTES, REGISTERS};
use crate::Error;

/// Redis's `hll-sparse-max-bytes` default: a sparse sketch that would grow
/// past it turns dense.
pub const SPARSE_BYTES_MAX: usize = 3000;
/// The largest value a `VAL` opcode holds.
const VAL_MAX: u8 = 32;
/// The longest run of a `VAL` opcode.
const VAL_RUN_MAX: u32 = 4;
/// The longest run of a `ZERO` opcode.
const ZERO_RUN_MAX: usize = 64;
/// The longest run of an `XZERO` opcode.
const XZERO_RUN_MAX: usize = 16384;

/// A `VAL` opcode byte: `value` 1..=32, `run` 1..=4.
fn val(value: u8, run: u32) -> u8 {
    0x80 | ((value - 1) << 2) | (run - 1) as u8
}

/// The opcode bytes for a run of `run` zero registers: `ZERO` up to 64,
/// else `XZERO`.
fn zeros(run: usize, out: &mut Vec<u8>) {
    if run > ZERO_RUN_MAX {
        let run = run - 1;
        out.extend([0x40 | (run >> 8) as u8, (run & 0xff) as u8]);
    } else {
        out.push((run - 1) as u8);
    }
}

/// A new, empty sketch: sparse, all registers zero, cached cardinality 0
/// (`createHLLObject`).
pub fn empty() -> BytesMut {
    let mut bytes = BytesMut::zeroed(HEADER_BYTES);
    bytes[..4].copy_from_slice(b"HYLL");
    bytes[4] = sketch::SPARSE;
    let mut left = REGISTERS;
    let mut ops = Vec::new();
    while left > 0 {
        let run = left.min(XZERO_RUN_MAX);
        // Always XZERO, even for a short run, as Redis writes it.
        let encoded = run - 1;
        ops.extend([0x40 | (encoded >> 8) as u8, (encoded & 0xff) as u8]);
        left -= run;
    }
    bytes.extend_from_slice(&ops);
    bytes
}

/// The dense form of a checked sparse sketch, header kept but for the
/// encoding (`hllSparseToDense`), or [`CORRUPT`] if its registers do not
/// add up to 16384.
pub fn to_dense(bytes: &[u8]) -> Result<BytesMut, Error> {
    let mut dense = BytesMut::zeroed(DENSE_BYTES);
    dense[..HEADER_BYTES].copy_from_slice(&bytes[..HEADER_BYTES]);
    dense[4] = DENSE;
    let registers = &mut dense[HEADER_BYTES..];
    let mut at = 0usize;
    for op in opcodes(&bytes[HEADER_BYTES..]) {
        let run = op.run as usize;
        if op.kind != Kind::Val {
            at += run;
            continue;
        }
        if at + run > REGISTERS {
            break;
        }
        for index in at..at + run {
            sketch::set_register(registers, index, op.value);
        }
        at += run;
    }
    if at != REGISTERS {
        return Err(CORRUPT);
    }
    Ok(dense)
}

/// Raises register `index` of the sparse sketch in `bytes` to `count` if
/// it is lower (`hllSparseSet`): whether it changed, or [`CORRUPT`]. The
/// sketch may turn dense, when `count` exceeds 32 or the edit would make
/// it longer than `max_bytes`.
pub fn raise(
    bytes: &mut BytesMut,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Error> {
    if count > VAL_MAX {
        return promote(bytes, index, count);
    }
    // Step 1: the opcode covering `index`, its first register, and the
    // opcode before it.
    let end = bytes.len();
    let (mut at, mut first, mut prev) = (HEADER_BYTES, 0usize, None);
    let mut op = None;
    while at < end {
        let here = opcode_at(bytes, at);
        if index < first + here.run as usize {
            op = Some(here);
            break;
        }
        prev = Some(at);
        at += here.len();
        first += here.run as usize;
    }
    let Some(op) = op else {
        return Err(CORRUPT);
    };
    let run = op.run as usize;
    // Step 2: a value already as high changes nothing; a run of one is
    // rewritten in place; anything else is split.
    if op.kind == Kind::Val && op.value >= count {
        return Ok(false);
    }
    if op.run == 1 && op.kind != Kind::XZero {
        bytes[at] = val(count, 1);
    } else {
        let last = first + run - 1;
        let mut seq = Vec::with_capacity(5);
        if op.kind == Kind::Val {
            if index != first {
                seq.push(val(op.value, (index - first) as u32));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(op.value, (last - index) as u32));
            }
        } else {
            if index != first {
                zeros(index - first, &mut seq);
            }
            seq.push(val(count, 1));
            if index != last {
                zeros(last - index, &mut seq);
            }
        }
        // Step 3: the new sequence replaces the opcode.
        let new_len = (end + seq.len()).checked_sub(op.len()).expect("seq has 1+");
        if new_len > end && new_len > max_bytes {
            return promote(bytes, index, count);
        }
        let next = at + op.len();
        let tail = if next < end {
            bytes[next..].to_vec()
        } else {
            Vec::new()
        };
        bytes.truncate(at);
        bytes.extend_from_slice(&seq);
        bytes.extend_from_slice(&tail);
        // An XZERO cut short by the end leaves one byte less than Redis
        // wrote: its length counts the missing byte.
        bytes.truncate(new_len);
    }
    merge_neighbours(bytes, prev.unwrap_or(HEADER_BYTES));
    sketch::invalidate(bytes);
    Ok(true)
}

/// Step 4 of `hllSparseSet`: from `at`, scanning at most five opcodes,
/// merges each pair of adjacent `VAL`s of the same value whose runs fit
/// one opcode.
fn merge_neighbours(bytes: &mut BytesMut, mut at: usize) {
    let mut scans = 5;
    while at < bytes.len() && scans > 0 {
        scans -= 1;
        let here = opcode_at(bytes, at);
        if here.kind != Kind::Val {
            at += here.len();
            continue;
        }
        if at + 1 < bytes.len() {
            let next = opcode_at(bytes, at + 1);
            let run = here.run + next.run;
            if next.kind == Kind::Val && next.value == here.value && run <= VAL_RUN_MAX {
                bytes[at + 1] = val(here.value, run);
                let len = bytes.len();
                bytes.copy_within(at + 1..len, at);
                bytes.truncate(len - 1);
                // Try the merged opcode with the one after it.
                continue;
            }
        }
        at += 1;
    }
}

/// Turns the sketch dense and raises register `index` to `count`, which
/// must change it (the sparse form could not hold the change).
fn promote(bytes: &mut BytesMut, index: usize, count: u8) -> Result<bool, Error> {
    let mut dense = to_dense(bytes)?;
    let raised = sketch::dense_raise(&mut dense[HEADER_BYTES..], index, count);
    assert!(raised, "a register that forces promotion is raised");
    *bytes = dense;
    Ok(true)
}

/// `PFDEBUG DECODE`'s text: `z:<run>`, `Z:<run>` and `v:<value>,<run>`
/// for each opcode, separated by spaces.
pub fn decode(registers: &[u8]) -> String {
    let words: Vec<String> = opcodes(registers)
        .map(|op| match op.kind {
            Kind::Zero => format!("z:{}", op.run),
            Kind::XZero => format!("Z:{}", op.run),
            Kind::Val => format!("v:{},{}", op.value, op.run),
        })
        .collect();
    words.join(" ")
}
