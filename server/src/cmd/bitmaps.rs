//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, on string values.
//!
//! Each parses into a read ([`Query`]) or a write ([`BitmapOp`]); none
//! reads the node. Arguments are checked here in Redis 7.0's order and
//! with its texts (`bitops.c`), including its bound on offsets: a bit
//! offset whose byte is at or past `proto-max-bulk-len` (512 MB) is
//! refused. Two exceptions wait for the key, because Redis 7.0 looks the
//! key up first: `BITCOUNT`'s range and `BITPOS`'s range (not its bit)
//! travel in the query as a `Result`, so a missing key answers 0 (or -1)
//! and another type WRONGTYPE whatever they say.
//!
//! `BITFIELD` with only `GET`s (and `BITFIELD_RO`) is a read; with a
//! `SET` or an `INCRBY` it is a write, applied in
//! `engine/src/bitmap/ops.rs`.

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{
    parse_i64_strict, BitOperation, BitUnit, BitmapOp, Error, FieldOp, FieldType, Overflow,
    PosRange, Query, WriteOp, STRING_BYTES_MAX,
};

use super::args::is;
use super::flags::{DENYOOM, FAST, READONLY, READS_KEYS, WRITE};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, (1, 1, 1), parse, "bitmap", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "setbit",
        4,
        WRITE | DENYOOM,
        setbit,
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
    )
    .since("2.2.0"),
    spec(
        "getbit",
        3,
        READONLY | FAST,
        getbit,
        "Returns a bit value by offset.",
    )
    .since("2.2.0"),
    spec(
        "bitcount",
        -2,
        READONLY,
        bitcount,
        "Counts the number of set bits (population counting) in a string.",
    )
    .since("2.6.0"),
    spec(
        "bitpos",
        -3,
        READONLY,
        bitpos,
        "Finds the first set (1) or clear (0) bit in a string.",
    )
    .since("2.8.7"),
    CommandSpec::keyspace(
        "bitop",
        -4,
        WRITE | DENYOOM,
        (2, -1, 1),
        bitop,
        "bitmap",
        "Performs bitwise operations on multiple strings, and stores the result.",
    )
    .since("2.6.0"),
    // A BITFIELD of only GETs answers as a read: it passes the read gate
    // (`READS_KEYS`), as SORT without STORE does.
    spec(
        "bitfield",
        -2,
        WRITE | DENYOOM | READS_KEYS,
        bitfield,
        "Performs arbitrary bitfield integer operations on strings.",
    )
    .since("3.2.0"),
    spec(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        bitfield_ro,
        "Performs arbitrary read-only bitfield integer operations on strings.",
    )
    .since("6.0.0"),
];

const BAD_OFFSET: Error = Error::Other("ERR bit offset is not an integer or out of range");
const BAD_BIT: Error = Error::Other("ERR bit is not an integer or out of range");
const BAD_TYPE: Error = Error::Other(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const BAD_OVERFLOW: Error = Error::Other("ERR Invalid OVERFLOW type specified");
const BAD_BITPOS_BIT: Error = Error::Other("ERR The bit argument must be 1 or 0.");
const NOT_ONE_SOURCE: Error =
    Error::Other("ERR BITOP NOT must be called with a single source key.");
const RO_WRITES: Error = Error::Other("ERR BITFIELD_RO only supports the GET subcommand");

/// A bit offset as Redis's `getBitOffsetFromArgument` reads it. With
/// `hash_bits` (`BITFIELD`), `#n` means `n` fields of that many bits, and
/// the product wraps as Redis's (64-bit) does. The offset's byte must be
/// below `proto-max-bulk-len`.
fn bit_offset(text: &[u8], hash_bits: Option<u8>) -> Result<u64, Error> {
    let (digits, scale) = match (text.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&text[1..], i64::from(bits)),
        _ => (text, 1),
    };
    let offset = parse_i64_strict(digits)
        .ok_or(BAD_OFFSET)?
        .wrapping_mul(scale);
    if offset < 0 || (offset >> 3) as u64 >= STRING_BYTES_MAX {
        return Err(BAD_OFFSET);
    }
    Ok(offset as u64)
}

fn setbit(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let offset = bit_offset(&args[1], None)?;
    let on = match LONG.parse(&args[2]) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(BAD_BIT),
    };
    Ok(KeyCommand::Write(WriteOp::Bitmaps(BitmapOp::SetBit {
        key: owned(&args[0]),
        offset,
        on,
    })))
}

fn getbit(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let offset = bit_offset(&args[1], None)?;
    Ok(KeyCommand::Read(Query::GetBit {
        key: args[0].clone(),
        offset,
    }))
}

/// `BIT` or `BYTE`, or a syntax error.
fn unit(arg: &[u8]) -> Result<BitUnit, Error> {
    if is(arg, "bit") {
        Ok(BitUnit::Bit)
    } else if is(arg, "byte") {
        Ok(BitUnit::Byte)
    } else {
        Err(Error::Syntax)
    }
}

/// `BITCOUNT`'s `start end [BYTE|BIT]`, checked in Redis 7.0's order.
fn count_range(rest: &[Bytes]) -> Result<Option<(i64, i64, BitUnit)>, Error> {
    match rest {
        [] => Ok(None),
        [start, end, unit_arg @ ..] if unit_arg.len() <= 1 => {
            let (start, end) = (LONG.parse(start)?, LONG.parse(end)?);
            // Two negative indexes in the wrong order count nothing, before
            // Redis reads the unit.
            if start < 0 && end < 0 && start > end {
                return Ok(Some((start, end, BitUnit::Byte)));
            }
            let unit = unit_arg
                .first()
                .map_or(Ok(BitUnit::Byte), |arg| unit(arg))?;
            Ok(Some((start, end, unit)))
        }
        _ => Err(Error::Syntax),
    }
}

fn bitcount(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::BitCount {
        key: args[0].clone(),
        range: count_range(&args[1..]),
    }))
}

/// `BITPOS`'s `[start [end [BYTE|BIT]]]`, checked in Redis 7.0's order
/// (the unit before the end).
fn pos_range(rest: &[Bytes]) -> Result<Option<PosRange>, Error> {
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() > 3 {
        return Err(Error::Syntax);
    }
    let start = LONG.parse(&rest[0])?;
    let unit = rest.get(2).map_or(Ok(BitUnit::Byte), |arg| unit(arg))?;
    let end = rest.get(1).map(|arg| LONG.parse(arg)).transpose()?;
    Ok(Some(PosRange { start, end, unit }))
}

fn bitpos(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let bit = match LONG.parse(&args[1])? {
        0 => false,
        1 => true,
        _ => return Err(BAD_BITPOS_BIT),
    };
    Ok(KeyCommand::Read(Query::BitPos {
        key: args[0].clone(),
        bit,
        range: pos_range(&args[2..]),
    }))
}

fn bitop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let name = &args[0];
    let op = if is(name, "and") {
        BitOperation::And
    } else if is(name, "or") {
        BitOperation::Or
    } else if is(name, "xor") {
        BitOperation::Xor
    } else if is(name, "not") {
        BitOperation::Not
    } else {
        return Err(Error::Syntax);
    };
    let sources = &args[2..];
    if op == BitOperation::Not && sources.len() != 1 {
        return Err(NOT_ONE_SOURCE);
    }
    Ok(KeyCommand::Write(WriteOp::Bitmaps(BitmapOp::BitOp {
        op,
        dst: owned(&args[1]),
        keys: sources.iter().map(owned).collect(),
    })))
}

/// A `BITFIELD` type as Redis's `getBitfieldTypeFromArgument` reads it:
/// `i` or `u` (lower case), then the width as a C string (up to a NUL).
fn field_type(text: &[u8]) -> Result<FieldType, Error> {
    let signed = match text.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD_TYPE),
    };
    let width = &text[1..];
    let width = &width[..width.iter().position(|&b| b == 0).unwrap_or(width.len())];
    let max = if signed { 64 } else { 63 };
    match parse_i64_strict(width) {
        Some(bits @ 1..) if bits <= max => Ok(FieldType {
            signed,
            bits: bits as u8,
        }),
        _ => Err(BAD_TYPE),
    }
}

/// `BITFIELD`'s operations, in Redis's order of checks; and whether they
/// are all `GET`s.
fn field_ops(args: &[Bytes]) -> Result<(Vec<FieldOp>, bool), Error> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut read_only = true;
    let mut at = 0;
    while at < args.len() {
        let name = &args[at];
        let remaining = args.len() - at - 1;
        let writes = if is(name, "get") && remaining >= 2 {
            false
        } else if (is(name, "set") || is(name, "incrby")) && remaining >= 3 {
            true
        } else if is(name, "overflow") && remaining >= 1 {
            let kind = &args[at + 1];
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(BAD_OVERFLOW);
            };
            at += 2;
            continue;
        } else {
            return Err(Error::Syntax);
        };
        let ty = field_type(&args[at + 1])?;
        let offset = bit_offset(&args[at + 2], Some(ty.bits))?;
        if !writes {
            ops.push(FieldOp::Get { ty, offset });
            at += 3;
            continue;
        }
        read_only = false;
        let value = LONG.parse(&args[at + 3])?;
        ops.push(if is(name, "set") {
            FieldOp::Set {
                ty,
                offset,
                value,
                overflow,
            }
        } else {
            FieldOp::IncrBy {
                ty,
                offset,
                increment: value,
                overflow,
            }
        });
        at += 4;
    }
    Ok((ops, read_only))
}

fn bitfield(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (ops, read_only) = field_ops(&args[1..])?;
    if read_only {
        return Ok(KeyCommand::Read(Query::BitField {
            key: args[0].clone(),
            ops,
        }));
    }
    Ok(KeyCommand::Write(WriteOp::Bitmaps(BitmapOp::BitField {
        key: owned(&args[0]),
        ops,
    })))
}

fn bitfield_ro(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (ops, read_only) = field_ops(&args[1..])?;
    if !read_only {
        return Err(RO_WRITES);
    }
    Ok(KeyCommand::Read(Query::BitField {
        key: args[0].clone(),
        ops,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_bounded_as_redis_bounds_them() {
        let cases: &[(&str, Option<u8>, Option<u64>)] = &[
            ("0", None, Some(0)),
            ("4294967295", None, Some(4_294_967_295)),
            ("4294967296", None, None),
            ("-1", None, None),
            ("01", None, None),
            ("#1", None, None),
            ("#1", Some(8), Some(8)),
            ("#536870911", Some(8), Some(4_294_967_288)),
            ("#536870912", Some(8), None),
            ("##1", Some(8), None),
            ("#-1", Some(8), None),
            // 2^58 fields of 64 bits wrap to offset 0 in Redis's arithmetic.
            ("#288230376151711744", Some(64), Some(0)),
        ];
        for (text, hash_bits, expected) in cases {
            assert_eq!(
                bit_offset(text.as_bytes(), *hash_bits).ok(),
                *expected,
                "{text} {hash_bits:?}"
            );
        }
    }

    #[test]
    fn field_types_are_i1_to_i64_and_u1_to_u63() {
        /// (text, `Some((signed, bits))` if valid)
        type Case = (&'static [u8], Option<(bool, u8)>);
        let cases: &[Case] = &[
            (b"i1", Some((true, 1))),
            (b"i64", Some((true, 64))),
            (b"u63", Some((false, 63))),
            (b"u64", None),
            (b"i65", None),
            (b"u0", None),
            (b"U8", None),
            (b"u08", None),
            (b"u", None),
            (b"", None),
            (b"u8\0x", Some((false, 8))),
        ];
        for (text, expected) in cases {
            let parsed = field_type(text).ok().map(|ty| (ty.signed, ty.bits));
            assert_eq!(parsed, *expected, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
