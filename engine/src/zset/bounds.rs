//! Score and lex bounds of the sorted set range commands, parsed with
//! Redis's exact rules, and their translation into rank ranges.
//!
//! Redis parses doubles in two ways, and both are kept here:
//! - A score or increment (`ZADD`, `ZINCRBY`, `WEIGHTS`) goes through
//!   `getDoubleFromObject`: C's `strtod` over the whole text, no leading
//!   space, and an overflow (`1e400`) or an underflow to zero (`1e-400`)
//!   is rejected, as is NaN.
//! - A range bound (`ZRANGEBYSCORE`, `ZCOUNT`, ...) goes through
//!   `zslParseRange`: an optional `(`, then `strtod` with no range check
//!   (so `1e400` is `inf`, leading spaces are skipped and an empty text is
//!   0), NaN rejected.
//!
//! Invariants:
//! - A [`ScoreRange`] or [`LexRange`] turns into a rank range with two
//!   `partition_point` calls (O(log n) on the final structure), never a
//!   walk; an empty range gives an empty rank range.
//! - A lex range assumes every score in the set is equal, as Redis does;
//!   otherwise the result is some rank range (Redis calls it unspecified).

use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ZSet;
use crate::parse_float;

/// C's `isspace` in the "C" locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Whether `text` (after an optional sign) is a hexadecimal float, which
/// Rust's parser does not read but `strtod` does.
fn is_hex(text: &[u8]) -> bool {
    let digits = match text.first() {
        Some(b'+' | b'-') => &text[1..],
        _ => text,
    };
    digits.len() > 1 && digits[0] == b'0' && (digits[1] | 0x20) == b'x'
}

/// `strtod` over the whole of `text`: the value (possibly infinite after
/// an overflow, or zero after an underflow) and whether it under- or
/// overflowed; `None` if `text` is not one whole number.
fn strtod_whole(text: &[u8]) -> Option<(f64, bool)> {
    if is_hex(text) {
        // Hex floats are rare: `parse_float` reads them (as long double).
        let value = parse_float(text)?;
        return Some((value, value.is_infinite()));
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let literal_inf = text
        .iter()
        .any(|byte| byte.is_ascii_alphabetic() && (byte | 0x20) == b'i');
    let mantissa = text
        .split(|byte| (byte | 0x20) == b'e')
        .next()
        .unwrap_or(text);
    let nonzero_digits = mantissa.iter().any(|byte| (b'1'..=b'9').contains(byte));
    let out_of_range = (value.is_infinite() && !literal_inf) || (value == 0.0 && nonzero_digits);
    Some((value, out_of_range))
}

/// A score, increment or weight as Redis's `getDoubleFromObject` reads
/// it; `None` where Redis replies "not a valid float".
pub(crate) fn parse_score(text: &[u8]) -> Option<f64> {
    if text.first().is_none_or(|&byte| is_c_space(byte)) {
        return None;
    }
    match strtod_whole(text)? {
        (value, false) if !value.is_nan() => Some(value),
        _ => None,
    }
}

/// One end of a score range as `zslParseRange` reads it: (value,
/// exclusive).
fn parse_score_bound(text: &[u8]) -> Option<(f64, bool)> {
    let (exclusive, text) = match text.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, text),
    };
    // C sees the text up to its first NUL.
    let text = text.split(|&byte| byte == 0).next().unwrap_or(text);
    if text.is_empty() {
        // strtod converts nothing and leaves the end at the NUL: accepted.
        return Some((0.0, exclusive));
    }
    let start = text.iter().position(|&byte| !is_c_space(byte))?;
    let (value, _) = strtod_whole(&text[start..])?;
    (!value.is_nan()).then_some((value, exclusive))
}

/// A range of scores, both ends inclusive unless marked exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// Parses `min` and `max`; `None` where Redis replies "min or max is
    /// not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_exclusive) = parse_score_bound(min)?;
        let (max, max_exclusive) = parse_score_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        })
    }

    /// Whether `score` lies before the range's start.
    fn below_min(&self, score: f64) -> bool {
        if self.min_exclusive {
            score <= self.min
        } else {
            score < self.min
        }
    }

    /// Whether `score` lies at or before the range's end.
    fn within_max(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }

    /// The ascending ranks of the elements in the range.
    pub(crate) fn ranks(&self, zset: &ZSet) -> Range<usize> {
        let start = zset.partition_point(|score, _| self.below_min(score));
        let end = zset.partition_point(|score, _| self.within_max(score));
        start..end.max(start)
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    /// `[member`
    Inclusive(Bytes),
    /// `(member`
    Exclusive(Bytes),
}

impl LexBound {
    /// Parses `-`, `+`, `[member` or `(member`.
    fn parse(text: &[u8]) -> Option<LexBound> {
        // Redis tests the byte after `+`/`-` against C's terminating NUL.
        let alone = |rest: &[u8]| rest.first().is_none_or(|&byte| byte == 0);
        match text.split_first()? {
            (b'+', rest) => alone(rest).then_some(LexBound::Max),
            (b'-', rest) => alone(rest).then_some(LexBound::Min),
            (b'[', rest) => Some(LexBound::Inclusive(Bytes::copy_from_slice(rest))),
            (b'(', rest) => Some(LexBound::Exclusive(Bytes::copy_from_slice(rest))),
            _ => None,
        }
    }
}

/// A range of members by byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Parses `min` and `max`; `None` where Redis replies "min or max not
    /// valid string range item".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    /// Whether `member` lies at or after the range's start.
    fn reaches_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(bound) => member >= &bound[..],
            LexBound::Exclusive(bound) => member > &bound[..],
        }
    }

    /// Whether `member` lies at or before the range's end.
    fn within_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(bound) => member <= &bound[..],
            LexBound::Exclusive(bound) => member < &bound[..],
        }
    }

    /// The ascending ranks of the members in the range.
    pub(crate) fn ranks(&self, zset: &ZSet) -> Range<usize> {
        let start = zset.partition_point(|_, member| !self.reaches_min(member));
        let end = zset.partition_point(|_, member| self.within_max(member));
        start..end.max(start)
    }
}

/// Redis's clamping of a rank range `start..=stop` (negative from the
/// end) over `len` elements; empty if nothing is left.
pub(crate) fn clamp_ranks(start: i64, stop: i64, len: usize) -> Range<usize> {
    match crate::list::clamp_range(start, stop, len) {
        Some((first, last)) => first..last + 1,
        None => 0..0,
    }
}

/// `LIMIT offset count` applied to `ranks` (taken from the end when
/// `rev`): a negative offset selects nothing, a negative count everything
/// after the offset.
pub(crate) fn limit_ranks(
    ranks: Range<usize>,
    limit: Option<(i64, i64)>,
    rev: bool,
) -> Range<usize> {
    let Some((offset, count)) = limit else {
        return ranks;
    };
    let len = ranks.len();
    let Ok(offset) = usize::try_from(offset) else {
        return ranks.start..ranks.start;
    };
    if offset >= len {
        return ranks.start..ranks.start;
    }
    let take = usize::try_from(count).map_or(len - offset, |count| count.min(len - offset));
    if rev {
        ranks.end - offset - take..ranks.end - offset
    } else {
        ranks.start + offset..ranks.start + offset + take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_get_double_from_object() {
        let good: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-2.5", -2.5),
            ("+3", 3.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+INF", f64::INFINITY),
            ("0x10", 16.0),
            ("4.9e-324", 5e-324),
            ("0e500", 0.0),
        ];
        for (text, value) in good {
            assert_eq!(parse_score(text.as_bytes()), Some(*value), "{text:?}");
        }
        for bad in [
            "", " 1", "1 ", "nan", "abc", "1e400", "-1e400", "1e-400", "(1", "1e", ".", "1,5",
        ] {
            assert_eq!(parse_score(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn bounds_follow_zsl_parse_range() {
        let good: &[(&str, f64, bool)] = &[
            ("1", 1.0, false),
            ("(1.5", 1.5, true),
            ("", 0.0, false),
            ("(", 0.0, true),
            (" 2", 2.0, false),
            ("1e400", f64::INFINITY, false),
            ("-inf", f64::NEG_INFINITY, false),
            ("(+inf", f64::INFINITY, true),
        ];
        for (text, value, exclusive) in good {
            assert_eq!(
                parse_score_bound(text.as_bytes()),
                Some((*value, *exclusive)),
                "{text:?}"
            );
        }
        for bad in ["nan", "((1", "1 ", " ", "[1", "x"] {
            assert_eq!(parse_score_bound(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn lex_bounds() {
        assert_eq!(LexBound::parse(b"-"), Some(LexBound::Min));
        assert_eq!(LexBound::parse(b"+"), Some(LexBound::Max));
        assert_eq!(
            LexBound::parse(b"[a"),
            Some(LexBound::Inclusive(Bytes::from_static(b"a")))
        );
        assert_eq!(
            LexBound::parse(b"("),
            Some(LexBound::Exclusive(Bytes::new()))
        );
        for bad in ["", "a", "+a", "-a"] {
            assert_eq!(LexBound::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    fn sample() -> ZSet {
        ZSet::from_members(
            [(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d")]
                .map(|(score, member)| (score, Bytes::from_static(member.as_bytes()))),
        )
    }

    #[test]
    fn score_ranges_become_ranks() {
        let zset = sample();
        let ranks = |min: &str, max: &str| {
            ScoreRange::parse(min.as_bytes(), max.as_bytes())
                .unwrap()
                .ranks(&zset)
        };
        assert_eq!(ranks("-inf", "+inf"), 0..4);
        assert_eq!(ranks("2", "2"), 1..3);
        assert_eq!(ranks("(1", "(3"), 1..3);
        assert_eq!(ranks("(2", "(2"), 3..3);
        assert_eq!(ranks("3", "1"), 3..3);
    }

    #[test]
    fn limits() {
        assert_eq!(limit_ranks(2..8, Some((1, 2)), false), 3..5);
        assert_eq!(limit_ranks(2..8, Some((1, 2)), true), 5..7);
        assert_eq!(limit_ranks(2..8, Some((1, -1)), false), 3..8);
        assert_eq!(limit_ranks(2..8, Some((-1, 2)), false).len(), 0);
        assert_eq!(limit_ranks(2..8, Some((6, 2)), false).len(), 0);
        assert_eq!(clamp_ranks(0, -1, 4), 0..4);
        assert_eq!(clamp_ranks(-10, 1, 4), 0..2);
        assert_eq!(clamp_ranks(3, 1, 4).len(), 0);
        assert_eq!(clamp_ranks(0, -1, 0).len(), 0);
    }
}
