//! Bitmaps: the bit commands on string values (`SETBIT`, `GETBIT`,
//! `BITCOUNT`, `BITPOS`, `BITOP`, `BITFIELD`, `BITFIELD_RO`), with Redis
//! 7.0's replies.
//!
//! A bitmap is not a type of its own: it is a string, read as bits from
//! the most significant bit of its first byte, and followed by zero bits
//! for ever. A write that reaches past the end grows the string with zero
//! bytes, as Redis does. The arithmetic is in [`bits`]; this module holds
//! the typed arguments the server parses into, the reads ([`read`]) and the
//! writes ([`ops`], as [`BitmapOp`]s in the Raft log).
//!
//! Invariants:
//! - Every offset in a query or an op has passed Redis's bound: its byte
//!   (`offset >> 3`) is below `STRING_BYTES_MAX`, so no write here builds
//!   a string longer than 512 MB.
//! - A `FieldType` is one Redis accepts: `i1`..`i64` or `u1`..`u63`.
//! - A `BitmapOp::BitField` holds at least one `SET` or `INCRBY` (one with
//!   only `GET`s is a read, `Query::BitField`).

pub mod bits;
mod ops;
mod read;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Whether a range counts bytes or bits (`BITCOUNT`/`BITPOS`'s last
/// argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitUnit {
    Byte,
    Bit,
}

/// A `BITFIELD` integer type: `i<bits>` (`signed`) or `u<bits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldType {
    pub signed: bool,
    /// 1 to 64 signed, 1 to 63 unsigned (Redis replies with a signed
    /// 64-bit integer, which cannot hold every u64).
    pub bits: u8,
}

/// What `BITFIELD` does when a `SET` or `INCRBY` does not fit its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// Keep the low bits (the default).
    Wrap,
    /// Store the type's largest or smallest value.
    Sat,
    /// Store nothing and reply nil for that operation.
    Fail,
}

/// One `BITFIELD` operation, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldOp {
    /// `GET type offset`: the field's value.
    Get { ty: FieldType, offset: u64 },
    /// `SET type offset value`: the old value; stores `value`.
    Set {
        ty: FieldType,
        offset: u64,
        value: i64,
        overflow: Overflow,
    },
    /// `INCRBY type offset increment`: the new value.
    IncrBy {
        ty: FieldType,
        offset: u64,
        increment: i64,
        overflow: Overflow,
    },
}

impl FieldOp {
    /// The last bit a `SET` or `INCRBY` writes (`None` for a `GET`).
    fn last_written_bit(&self) -> Option<u64> {
        match self {
            FieldOp::Get { .. } => None,
            FieldOp::Set { ty, offset, .. } | FieldOp::IncrBy { ty, offset, .. } => {
                Some(offset + u64::from(ty.bits) - 1)
            }
        }
    }
}

/// `BITOP`'s operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitOperation {
    And,
    Or,
    Xor,
    /// Takes exactly one source.
    Not,
}

/// A bitmap write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BitmapOp {
    /// `SETBIT`: the bit's old value.
    SetBit { key: Bytes, offset: u64, on: bool },
    /// `BITOP`: the length of the result, stored at `dst` (which is
    /// deleted when the result is empty).
    BitOp {
        op: BitOperation,
        dst: Bytes,
        keys: Vec<Bytes>,
    },
    /// `BITFIELD` with at least one `SET` or `INCRBY`: one reply per op.
    BitField { key: Bytes, ops: Vec<FieldOp> },
}
