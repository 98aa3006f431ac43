//! Stream entry IDs: `<ms>-<seq>`, two unsigned 64-bit halves ordered as
//! one 128-bit number, and the ways commands write them.
//!
//! Invariants:
//! - The order of [`StreamId`] is (ms, seq), as Redis's `streamCompareID`.
//! - Parsing follows Redis 7.0's `streamGenericParseIDOrReply`: at most 127
//!   bytes, `-` and `+` only where allowed, digits as `string2ull` takes
//!   them, a missing sequence filled in by the caller's choice.

use serde::{Deserialize, Serialize};

use crate::Error;

/// A stream entry ID.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// Redis's error for any ID it cannot parse.
pub const INVALID_ID: Error =
    Error::Other("ERR Invalid stream ID specified as stream command argument");

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or `None` past the last one (`streamIncrID`).
    pub fn next(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, or `None` before 0-0 (`streamDecrID`).
    pub fn prev(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// `<ms>-<seq>`, as replies write it.
    pub fn to_text(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// The 16 bytes of the ID, big-endian (ms then seq).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

/// An ID as XADD was given it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewId {
    /// `*`: from the apply time and the stream's last ID.
    Auto,
    /// `<ms>-*`: this ms, the next free sequence.
    AutoSeq(u64),
    /// `<ms>` or `<ms>-<seq>` (a missing sequence is 0).
    Explicit(StreamId),
}

/// Redis's `string2ull`: an integer `string2ll` reads (negative ones
/// refused), else whatever C's `strtoull` reads to the end of the text:
/// leading white space, a sign (a minus wraps modulo 2^64), then digits,
/// overflow refused.
fn parse_u64(text: &[u8]) -> Option<u64> {
    if let Some(value) = crate::parse_i64_strict(text) {
        return u64::try_from(value).ok();
    }
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let (negative, digits) = match &text[start..] {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// The parts of `<ms>[-<seq>]`, the sequence `None` if absent.
fn split(text: &[u8]) -> Result<(u64, Option<&[u8]>), Error> {
    if text.len() > 127 {
        return Err(INVALID_ID);
    }
    // Redis copies the argument into a C string: a NUL ends it.
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    let (ms, seq) = match text.iter().position(|&b| b == b'-') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    Ok((parse_u64(ms).ok_or(INVALID_ID)?, seq))
}

/// An ID where `-` (0-0) and `+` (the last ID) are allowed; a missing
/// sequence is `missing_seq` (`streamParseIDOrReply`).
pub fn parse_id(text: &[u8], missing_seq: u64) -> Result<StreamId, Error> {
    match text {
        b"-" => return Ok(StreamId::MIN),
        b"+" => return Ok(StreamId::MAX),
        _ => {}
    }
    strict_id(text, missing_seq)
}

/// An ID where `-` and `+` are not allowed (`streamParseStrictIDOrReply`).
pub fn strict_id(text: &[u8], missing_seq: u64) -> Result<StreamId, Error> {
    if text == b"-" || text == b"+" {
        return Err(INVALID_ID);
    }
    let (ms, seq) = split(text)?;
    let seq = match seq {
        Some(seq) => parse_u64(seq).ok_or(INVALID_ID)?,
        None => missing_seq,
    };
    Ok(StreamId::new(ms, seq))
}

/// XADD's ID argument: `*`, `<ms>-*`, or a strict ID.
pub fn parse_new_id(text: &[u8]) -> Result<NewId, Error> {
    if text == b"*" {
        return Ok(NewId::Auto);
    }
    if text == b"-" || text == b"+" {
        return Err(INVALID_ID);
    }
    let (ms, seq) = split(text)?;
    match seq {
        Some(b"*") => Ok(NewId::AutoSeq(ms)),
        Some(seq) => Ok(NewId::Explicit(StreamId::new(
            ms,
            parse_u64(seq).ok_or(INVALID_ID)?,
        ))),
        None => Ok(NewId::Explicit(StreamId::new(ms, 0))),
    }
}

/// A range bound: `(` makes it exclusive (and then strict), else as
/// [`parse_id`]. Returns the ID and whether it is exclusive.
pub fn parse_bound(text: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Error> {
    if text.len() > 1 && text[0] == b'(' {
        return Ok((strict_id(&text[1..], missing_seq)?, true));
    }
    Ok((parse_id(text, missing_seq)?, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        let cases: &[(&str, Option<(u64, u64)>)] = &[
            ("0", Some((0, 7))),
            ("0-0", Some((0, 0))),
            ("1-2", Some((1, 2))),
            (
                "18446744073709551615-18446744073709551615",
                Some((u64::MAX, u64::MAX)),
            ),
            ("18446744073709551616", None),
            ("1-18446744073709551616", None),
            ("-1", None),
            ("1-", None),
            ("-", None),
            ("+", None),
            ("1-2-3", None),
            (" 1", Some((1, 7))),
            ("+1-+2", Some((1, 2))),
            ("1--1", None),
            ("1- -1", Some((1, u64::MAX))),
            ("1-2 ", None),
            ("1.5", None),
            ("", None),
            ("a-1", None),
            ("01-02", Some((1, 2))),
        ];
        for (text, expected) in cases {
            let parsed = strict_id(text.as_bytes(), 7).ok().map(|id| (id.ms, id.seq));
            assert_eq!(parsed, *expected, "{text:?}");
        }
        assert_eq!(strict_id(b"5", 7), Ok(StreamId::new(5, 7)));
        assert_eq!(parse_id(b"-", 7), Ok(StreamId::MIN));
        assert_eq!(parse_id(b"+", 0), Ok(StreamId::MAX));
        assert_eq!(parse_new_id(b"*"), Ok(NewId::Auto));
        assert_eq!(parse_new_id(b"5-*"), Ok(NewId::AutoSeq(5)));
        assert_eq!(parse_new_id(b"*-1"), Err(INVALID_ID));
        assert_eq!(parse_bound(b"(5", 0), Ok((StreamId::new(5, 0), true)));
        assert_eq!(parse_bound(b"(", 0), Err(INVALID_ID));
        assert_eq!(parse_bound(b"(-", 0), Err(INVALID_ID));
        assert_eq!(parse_new_id(&[b'1'; 128]), Err(INVALID_ID));
    }

    #[test]
    fn next_and_prev_wrap_as_redis_refuses() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
    }
}
