//! The number SORT sorts an element by, read exactly as Redis 7.0's
//! `sortCommandGeneric` reads it: C's `strtod` on the value's C string,
//! with the conversion refused when anything is left after the number,
//! when `errno` is `ERANGE`, or when the number is NaN.
//!
//! That differs from the other places Redis reads doubles:
//! - The text ends at its first NUL byte (C sees no further), so `"1\0x"`
//!   is 1.
//! - Leading white space is skipped (`" 5"` is 5), trailing is not.
//! - An empty text converts nothing, and the end pointer then sits on the
//!   terminating NUL: it counts as 0. A text of only spaces is refused,
//!   because the end pointer stays at its first space.
//! - glibc sets `ERANGE` on overflow, on an underflow to zero and on any
//!   inexact subnormal result (`1e-310`), but not on an exact subnormal
//!   (`0x1p-1070`); SORT refuses all three cases.
//!
//! Invariants:
//! - [`sort_score`] is a pure function of the bytes: the same on every
//!   node, with no locale or environment involved.

use crate::parse_float;

/// C's `isspace` in the "C" locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The score of `text` for SORT, or `None` where Redis answers "One or more
/// scores can't be converted into double".
pub(crate) fn sort_score(text: &[u8]) -> Option<f64> {
    let text = text.split(|&byte| byte == 0).next().unwrap_or(text);
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|&byte| !is_c_space(byte))?;
    let number = &text[start..];
    let (negative, digits) = match number[0] {
        b'-' => (true, &number[1..]),
        b'+' => (false, &number[1..]),
        _ => (false, number),
    };
    let value = if digits.len() > 2 && digits[0] == b'0' && (digits[1] | 0x20) == b'x' {
        let magnitude = hex(&digits[2..])?;
        if negative {
            -magnitude
        } else {
            magnitude
        }
    } else {
        decimal(number, digits)?
    };
    (!value.is_nan()).then_some(value)
}

/// A decimal (or `inf`, `infinity`, `nan`) whole number; `None` if it is
/// not one or if `strtod` would set `ERANGE`. `digits` is `number` after
/// its sign.
fn decimal(number: &[u8], digits: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(number).ok()?.parse().ok()?;
    if digits.first().is_some_and(u8::is_ascii_alphabetic) {
        // inf, infinity or nan: exact, never ERANGE.
        return Some(value);
    }
    let exact = Decimal::parse(digits)?;
    let magnitude = value.abs();
    let erange = if magnitude.is_infinite() {
        true
    } else if magnitude == 0.0 {
        !exact.is_zero()
    } else if magnitude < f64::MIN_POSITIVE {
        Decimal::of_double(magnitude) != exact
    } else {
        false
    };
    (!erange).then_some(value)
}

/// A non-negative decimal number as its significant digits (no leading or
/// trailing zeros) times a power of ten; zero has no digits.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Parses `digits[.digits][e[+-]digits]` (no sign); `None` if the text
    /// is not exactly that.
    fn parse(text: &[u8]) -> Option<Decimal> {
        let (mantissa, exponent) = match text.iter().position(|&b| (b | 0x20) == b'e') {
            Some(at) => (&text[..at], parse_exponent(&text[at + 1..])?),
            None => (text, 0),
        };
        let (integer, fraction) = match mantissa.iter().position(|&b| b == b'.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, &[][..]),
        };
        let all_digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        if integer.len() + fraction.len() == 0 || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        let digits: Vec<u8> = integer.iter().chain(fraction).copied().collect();
        let exponent = exponent.saturating_sub(fraction.len() as i64);
        Some(Decimal::normalized(&digits, exponent))
    }

    /// The exact decimal value of a finite, non-negative double.
    fn of_double(value: f64) -> Decimal {
        // A double's exact decimal expansion has at most 767 significant
        // digits; Rust prints exactly the digits asked for.
        let text = format!("{value:.800e}");
        let (mantissa, exponent) = text.split_once('e').expect("{:e} has an exponent");
        let exponent: i64 = exponent.parse().expect("{:e} exponent is an integer");
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        Decimal::normalized(&digits, exponent - 800)
    }

    /// `digits * 10^exponent` with the zeros at both ends removed.
    fn normalized(digits: &[u8], exponent: i64) -> Decimal {
        let first = digits.iter().position(|&d| d != b'0');
        let Some(first) = first else {
            return Decimal {
                digits: Vec::new(),
                exponent: 0,
            };
        };
        let last = digits
            .iter()
            .rposition(|&d| d != b'0')
            .expect("a nonzero digit");
        let trailing = (digits.len() - 1 - last) as i64;
        Decimal {
            digits: digits[first..=last].to_vec(),
            exponent: exponent.saturating_add(trailing),
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }
}

/// An exponent: an optional sign, then at least one digit; saturated.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// A hexadecimal float's magnitude (the text after `0x`); `None` if it is
/// not one or if `strtod` would set `ERANGE`.
fn hex(body: &[u8]) -> Option<f64> {
    let mut text = b"0x".to_vec();
    text.extend_from_slice(body);
    // The value, rounded through a long double (exact for every hex float
    // of up to 64 significant bits).
    let value = parse_float(&text)?;
    let (mantissa, exponent) = match body.iter().position(|&b| (b | 0x20) == b'p') {
        Some(at) => (&body[..at], parse_exponent(&body[at + 1..])?),
        None => (body, 0),
    };
    let (integer, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let nibbles: Vec<u8> = integer.iter().chain(fraction).copied().collect();
    let exponent = exponent.saturating_sub(4 * fraction.len() as i64);
    let nonzero = nibbles.iter().any(|&n| n != b'0');
    if value.is_infinite() || (value == 0.0 && nonzero) {
        return None;
    }
    if value != 0.0 && value < f64::MIN_POSITIVE && !hex_exact_subnormal(&nibbles, exponent) {
        return None;
    }
    Some(value)
}

/// Whether `nibbles * 2^exponent` (hex digits, a subnormal value) is a
/// multiple of the smallest subnormal, 2^-1074: then it converts exactly.
fn hex_exact_subnormal(nibbles: &[u8], exponent: i64) -> bool {
    let start = nibbles
        .iter()
        .position(|&n| n != b'0')
        .unwrap_or(nibbles.len());
    let end = nibbles
        .iter()
        .rposition(|&n| n != b'0')
        .map_or(start, |at| at + 1);
    let significant = &nibbles[start..end];
    // More than 32 hex digits with nonzero ends cannot fit 53 bits.
    if significant.len() > 32 {
        return false;
    }
    let Some(value) = std::str::from_utf8(significant)
        .ok()
        .and_then(|text| u128::from_str_radix(text, 16).ok())
    else {
        return false;
    };
    let zeros = value.trailing_zeros();
    let low_exponent = exponent
        .saturating_add(4 * (nibbles.len() - end) as i64)
        .saturating_add(i64::from(zeros));
    low_exponent >= -1074
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each text with the score Redis 7.0.15's SORT gives it (checked on
    /// redis-server), or `None` where it answers "can't be converted".
    #[test]
    fn scores_read_as_redis_sort_reads_them() {
        let cases: &[(&[u8], Option<f64>)] = &[
            (b"1", Some(1.0)),
            (b"-2.5", Some(-2.5)),
            (b"", Some(0.0)),
            (b" 1", Some(1.0)),
            (b"\t\n7", Some(7.0)),
            (b"1 ", None),
            (b"  ", None),
            (b"+5", Some(5.0)),
            (b".5", Some(0.5)),
            (b"5.", Some(5.0)),
            (b"1e1", Some(10.0)),
            (b"1E+2", Some(100.0)),
            (b"e5", None),
            (b"1e", None),
            (b"1e+", None),
            (b"- 1", None),
            (b".", None),
            (b"abc", None),
            (b"1\0x", Some(1.0)),
            (b"\0", Some(0.0)),
            (b"inf", Some(f64::INFINITY)),
            (b"INF", Some(f64::INFINITY)),
            (b"-Infinity", Some(f64::NEG_INFINITY)),
            (b"infinity", Some(f64::INFINITY)),
            (b"nan", None),
            (b"-nan", None),
            (b"0x10", Some(16.0)),
            (b"0x", None),
            (b"1e308", Some(1e308)),
            (b"1.7976931348623158e308", Some(f64::MAX)),
            (b"1.7976931348623159e308", None),
            (b"1e400", None),
            (b"1e-400", None),
            (b"0e-999", Some(0.0)),
            (b"-0", Some(-0.0)),
            (b"2.2250738585072014e-308", Some(f64::MIN_POSITIVE)),
            (b"1e-310", None),
            (b"1e-320", None),
            (b"4e-320", None),
            (b"0x1p-1070", Some(f64::from_bits(16))),
            (b"0x1.8p-1070", Some(f64::from_bits(24))),
            (b"0x1p1024", None),
            (b"0x1.fffffffffffff8p1023", None),
        ];
        for (text, expected) in cases {
            let got = sort_score(text);
            assert_eq!(
                got.map(f64::to_bits),
                expected.map(f64::to_bits),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn exact_subnormals_are_accepted() {
        // The smallest subnormal written out exactly is exact; one digit
        // more is not.
        let smallest = format!("{:.800e}", f64::from_bits(1));
        assert_eq!(sort_score(smallest.as_bytes()), Some(f64::from_bits(1)));
        let nudged = format!("{}1e-324", &smallest[..smallest.find('e').unwrap()]);
        assert_eq!(sort_score(nudged.as_bytes()), None);
    }
}
