//! An exact software model of x86-64 `long double` (80-bit extended: a
//! 64-bit significand, exponents down to the 2^-16445 denormal), just enough
//! to reproduce Redis's `INCRBYFLOAT` byte for byte: `strtold` parsing with
//! Redis's `string2ld` acceptance rules, one correctly rounded addition, and
//! `printf("%.17Lf")` followed by Redis's trailing-zero stripping
//! (`LD_STR_HUMAN`). Every step rounds to nearest, ties to even, as glibc
//! does on x86-64; the intermediate exact values are computed with `Big`.
//!
//! Invariants:
//! - A finite value is `mantissa * 2^exp2` with `exp2 >= MIN_EXP2`; a
//!   nonzero normal value has bit 63 of `mantissa` set, a denormal has
//!   `exp2 == MIN_EXP2`.
//! - The top bit of a finite value is at most 2^MAX_TOP_EXP2.

use crate::bignum::Big;

/// Exponent of the lowest significand bit of the smallest denormal.
const MIN_EXP2: i64 = -16445;
/// Exponent of the top bit of the largest finite value.
const MAX_TOP_EXP2: i64 = 16383;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are rejected.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// A `long double` value (never NaN: Redis rejects NaN everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongDouble {
    negative: bool,
    infinite: bool,
    /// Significand; ignored when `infinite`.
    mantissa: u64,
    /// Exponent of the significand's lowest bit; ignored when `infinite`.
    exp2: i64,
}

impl LongDouble {
    pub(crate) const ZERO: LongDouble = LongDouble {
        negative: false,
        infinite: false,
        mantissa: 0,
        exp2: 0,
    };

    fn infinity(negative: bool) -> LongDouble {
        LongDouble {
            negative,
            infinite: true,
            mantissa: 0,
            exp2: 0,
        }
    }

    fn zero(negative: bool) -> LongDouble {
        LongDouble {
            negative,
            ..LongDouble::ZERO
        }
    }

    pub(crate) fn is_infinite(&self) -> bool {
        self.infinite
    }

    fn is_zero(&self) -> bool {
        !self.infinite && self.mantissa == 0
    }

    /// The exact value of `magnitude * 2^exp2` (plus something nonzero
    /// below its lowest bit if `sticky`), rounded to a `long double`.
    /// `sticky` needs `magnitude` to carry at least 66 significant bits.
    fn round(negative: bool, magnitude: &Big, exp2: i64, sticky: bool) -> LongDouble {
        if magnitude.is_zero() {
            return LongDouble::zero(negative);
        }
        let len = magnitude.bit_len() as i64;
        let mut low = (exp2 + len - 64).max(MIN_EXP2);
        let drop = low - exp2;
        let mut mantissa;
        if drop <= 0 {
            assert!(!sticky, "inexact value given too few bits to round");
            mantissa = magnitude.shl((-drop) as u64).to_u64();
        } else {
            let drop = drop as u64;
            mantissa = magnitude.shr(drop).to_u64();
            let half = magnitude.bit(drop - 1);
            let rest = sticky || magnitude.any_below(drop - 1);
            if half && (rest || mantissa & 1 == 1) {
                mantissa = mantissa.wrapping_add(1);
                if mantissa == 0 {
                    mantissa = 1 << 63;
                    low += 1;
                }
            }
        }
        if mantissa == 0 {
            return LongDouble::zero(negative);
        }
        let top = low + 63 - i64::from(mantissa.leading_zeros());
        if top > MAX_TOP_EXP2 {
            return LongDouble::infinity(negative);
        }
        LongDouble {
            negative,
            infinite: false,
            mantissa,
            exp2: low,
        }
    }

    /// Parses `text` as Redis's `string2ld` does: the whole input must be
    /// one `strtold` number (decimal, hex, `inf`/`infinity`), with no
    /// leading space, not NaN, and not out of range (overflow, or underflow
    /// to zero). Returns `None` where Redis says "not a valid float".
    pub(crate) fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::infinity(negative));
        }
        let value = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(negative, &body[2..])?
        } else {
            parse_decimal(negative, body)?
        };
        // strtold reports ERANGE for overflow and for underflow to zero;
        // string2ld rejects both.
        if value.infinite {
            return None;
        }
        Some(value)
    }

    /// `self + other`, rounded; `None` for NaN (infinities of both signs).
    pub(crate) fn add(self, other: LongDouble) -> Option<LongDouble> {
        if self.infinite || other.infinite {
            if self.infinite && other.infinite && self.negative != other.negative {
                return None;
            }
            let negative = if self.infinite {
                self.negative
            } else {
                other.negative
            };
            return Some(LongDouble::infinity(negative));
        }
        if self.is_zero() && other.is_zero() {
            return Some(LongDouble::zero(self.negative && other.negative));
        }
        if self.is_zero() {
            return Some(other);
        }
        if other.is_zero() {
            return Some(self);
        }
        let base = self.exp2.min(other.exp2);
        let a = Big::from_u64(self.mantissa).shl((self.exp2 - base) as u64);
        let b = Big::from_u64(other.mantissa).shl((other.exp2 - base) as u64);
        if self.negative == other.negative {
            return Some(LongDouble::round(self.negative, &a.add(&b), base, false));
        }
        let (mut larger, smaller, negative) = match a.cmp(&b) {
            std::cmp::Ordering::Equal => return Some(LongDouble::ZERO),
            std::cmp::Ordering::Greater => (a, b, self.negative),
            std::cmp::Ordering::Less => (b, a, other.negative),
        };
        larger.sub_assign(&smaller);
        Some(LongDouble::round(negative, &larger, base, false))
    }

    /// `printf("%.17Lf")` then Redis's `LD_STR_HUMAN` clean-up: trailing
    /// zeros and a trailing '.' removed, "-0" written as "0".
    pub(crate) fn to_human_string(self) -> String {
        if self.infinite {
            return if self.negative { "-inf" } else { "inf" }.to_string();
        }
        let mut digits = if self.exp2 >= 0 {
            let mut text = Big::from_u64(self.mantissa)
                .shl(self.exp2 as u64)
                .to_decimal();
            text.push_str(&"0".repeat(17));
            text
        } else {
            let mut scaled = Big::from_u64(self.mantissa);
            scaled.mul_pow10(17);
            let shift = (-self.exp2) as u64;
            let mut rounded = scaled.shr(shift);
            let half = scaled.bit(shift - 1);
            let rest = scaled.any_below(shift - 1);
            if half && (rest || rounded.bit(0)) {
                rounded.add_small(1);
            }
            rounded.to_decimal()
        };
        if digits.len() < 18 {
            digits.insert_str(0, &"0".repeat(18 - digits.len()));
        }
        let point = digits.len() - 17;
        let (integer, fraction) = digits.split_at(point);
        let fraction = fraction.trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        if self.negative {
            text.push('-');
        }
        text.push_str(integer);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text = "0".to_string();
        }
        text
    }

    /// The nearest `f64` (infinite if out of its range).
    pub(crate) fn to_f64(self) -> f64 {
        let sign = if self.negative { -1.0 } else { 1.0 };
        if self.infinite {
            return sign * f64::INFINITY;
        }
        // Exact rounding is not needed here: this only serves callers that
        // want an approximate magnitude.
        let mut value = self.mantissa as f64;
        let mut exp2 = self.exp2;
        while exp2 > 0 {
            let step = exp2.min(1000);
            value *= 2f64.powi(step as i32);
            exp2 -= step;
        }
        while exp2 < 0 {
            let step = (-exp2).min(1000);
            value /= 2f64.powi(step as i32);
            exp2 += step;
        }
        sign * value
    }
}

/// Splits `digits [ '.' digits ]` off the front of `text`, returning
/// (integer digits, fraction digits, rest).
fn split_mantissa(text: &[u8], is_digit: fn(u8) -> bool) -> (&[u8], &[u8], &[u8]) {
    let int_len = text.iter().take_while(|&&c| is_digit(c)).count();
    let (integer, rest) = text.split_at(int_len);
    if rest.first() != Some(&b'.') {
        return (integer, b"", rest);
    }
    let rest = &rest[1..];
    let frac_len = rest.iter().take_while(|&&c| is_digit(c)).count();
    let (fraction, rest) = rest.split_at(frac_len);
    (integer, fraction, rest)
}

/// Parses an exponent `[+-]digits` that must be all of `text`, saturating
/// far beyond any meaningful range.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in digits {
        value = (value * 10 + i64::from(digit - b'0')).min(1 << 40);
    }
    Some(if negative { -value } else { value })
}

fn parse_decimal(negative: bool, body: &[u8]) -> Option<LongDouble> {
    let (integer, fraction, rest) = split_mantissa(body, |c| c.is_ascii_digit());
    if integer.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = match rest.first() {
        None => 0,
        Some(b'e' | b'E') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let mut exp10 = exponent - fraction.len() as i64;
    let all = integer.iter().chain(fraction.iter());
    let mut digits: Vec<u8> = all.skip_while(|&&c| c == b'0').copied().collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp10 += 1;
    }
    if digits.is_empty() {
        return Some(LongDouble::zero(negative));
    }
    let magnitude = digits.len() as i64 + exp10;
    if magnitude > 4933 {
        return Some(LongDouble::infinity(negative));
    }
    if magnitude < -4950 {
        return None;
    }
    let mut value = Big::zero();
    for chunk in digits.chunks(9) {
        let mut part = 0u32;
        for &digit in chunk {
            part = part * 10 + u32::from(digit - b'0');
        }
        value.mul_pow10(chunk.len() as u32);
        value.add_small(part);
    }
    let result = if exp10 >= 0 {
        value.mul_pow10(exp10 as u32);
        LongDouble::round(negative, &value, 0, false)
    } else {
        let mut divisor = Big::pow10((-exp10) as u32);
        let shift = 66 + divisor.bit_len() as i64 - value.bit_len() as i64;
        if shift >= 0 {
            value = value.shl(shift as u64);
        } else {
            divisor = divisor.shl((-shift) as u64);
        }
        let (quotient, inexact) = value.div_rem(&divisor);
        LongDouble::round(negative, &quotient, -shift, inexact)
    };
    nonzero(result)
}

fn parse_hex(negative: bool, body: &[u8]) -> Option<LongDouble> {
    let (integer, fraction, rest) = split_mantissa(body, |c| c.is_ascii_hexdigit());
    if integer.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = match rest.first() {
        None => 0,
        Some(b'p' | b'P') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let mut value = Big::zero();
    for &digit in integer.iter().chain(fraction.iter()) {
        value.mul_small(16);
        value.add_small((digit as char).to_digit(16).expect("hex digit"));
    }
    if value.is_zero() {
        return Some(LongDouble::zero(negative));
    }
    let exp2 = exponent - 4 * fraction.len() as i64;
    let top = exp2 + value.bit_len() as i64;
    if top > MAX_TOP_EXP2 + 2 {
        return Some(LongDouble::infinity(negative));
    }
    if top < MIN_EXP2 - 2 {
        return None;
    }
    nonzero(LongDouble::round(negative, &value, exp2, false))
}

/// A nonzero input that rounded to zero underflowed: strtold sets ERANGE
/// and Redis rejects it.
fn nonzero(value: LongDouble) -> Option<LongDouble> {
    if value.is_zero() {
        None
    } else {
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(start: &str, delta: &str) -> Option<String> {
        let a = LongDouble::parse(start.as_bytes())?;
        let b = LongDouble::parse(delta.as_bytes())?;
        let sum = a.add(b)?;
        (!sum.is_infinite()).then(|| sum.to_human_string())
    }

    #[test]
    fn parse_accepts_what_strtold_accepts_in_full() {
        for ok in [
            "1",
            "-1",
            "+1",
            "1.",
            ".5",
            "1e5",
            "1E+5",
            "1e-5",
            "0x10",
            "0X1p4",
            "0x.8",
            "inf",
            "-Infinity",
            "00012",
            "1e-4950",
            "0e99999999999999",
        ] {
            assert!(
                LongDouble::parse(ok.as_bytes()).is_some(),
                "{ok} should parse"
            );
        }
        for bad in [
            "", " 1", "1 ", "nan", "-nan", "1e", "1e+", ".", "0x", "0xp1", "0x1p", "1e5000",
            "1e-5000", "abc", "1.2.3", "--1", "+-1", "1\0", "infinit",
        ] {
            assert!(
                LongDouble::parse(bad.as_bytes()).is_none(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn incrbyfloat_matches_redis() {
        // Each expected value was produced by redis-server 7.0.15.
        let cases = [
            ("10.5", "0.1", "10.6"),
            ("0.1", "0.2", "0.3"),
            ("0", "5.0e3", "5000"),
            ("3.0e3", "2.0e2", "3200"),
            ("1e-20", "0", "0"),
            ("0x10", "1", "17"),
        ];
        for (start, delta, expected) in cases {
            assert_eq!(
                incr(start, delta).as_deref(),
                Some(expected),
                "{start} + {delta}"
            );
        }
    }

    #[test]
    fn nan_and_infinity_are_none() {
        assert_eq!(incr("inf", "-inf"), None);
        assert_eq!(incr("1", "inf"), None);
        assert_eq!(incr("1e4932", "1e4932"), None);
    }

    /// Cases generated by a C program running Redis's own `string2ld`,
    /// `+` and `%.17Lf` clean-up on x86-64 glibc (200,000 random pairs
    /// agreed when this was written; these are a sample).
    #[test]
    fn matches_glibc_long_double() {
        let sums = [
            ("75.5", "-0xa2f1.f4p17", "-5467531188.5"),
            ("0.5359e-11", "99e-4396", "0.000000000005359"),
            ("60615.805311", "0.000000000873", "60615.80531100087300089"),
            ("0.00000727", "-0.000646", "-0.00063873"),
            ("97.5", "727641", "727738.5"),
            ("-2.19259e-19", "7.33754e19", "73375400000000000000"),
            ("77938.518807", "814714", "892652.51880699999998114"),
            ("-0x7a87.179dp-91", "-1.26915e-30", "0"),
            ("-19", "37075.885856", "37056.88585600000000042"),
            (
                "0x11934.22b9p-46",
                "526971979007908580666717379532",
                "526971979007908580667823226880",
            ),
            (
                "-6497636248.2898515193722682",
                "14.5",
                "-6497636233.78985151927918196",
            ),
            ("0.00326", "73972.231183", "73972.23444299999999885"),
            ("14.5", "99479.732079", "99494.23207899999999881"),
            ("09709.587017874186", "131112", "140821.58701787418600304"),
            ("0.000214", "3.72522e-19", "0.000214"),
            (
                "4.68992e-27",
                "0xe5f2.1e56p93",
                "582981800385324952998966118580224",
            ),
            (
                "1108848125.8469294242064119690",
                "-0.59302e19",
                "-5930199998891151874",
            ),
            ("77e-2383", "0.326", "0.326"),
            ("51808.529136", "-47445.670711", "4362.85842500000000044"),
            (
                "026588978209448795551",
                "4258914104",
                "26588978213707709656",
            ),
            ("14e-1123", "467780", "467780"),
            (
                "-8750310101511322816647.104711421021169085",
                "0.0000663",
                "-8750310101511322816512",
            ),
            (
                "92180.478291",
                "-0x9374.1efcp-32",
                "92180.47828221108068192",
            ),
            ("0x815d.12b6p78", "-90.5", "10009021182020446861874167808"),
            ("51.5", "0.00000000000000000821", "51.50000000000000001"),
            ("5.1218e4", "0xbd0b.21d9p-51", "51218.00000000002149037"),
            ("-67206.923987", "-0.0000282", "-67206.92401519999999948"),
            ("14398841186283265", "0x18d2.2311p-84", "14398841186283265"),
            ("897900", "41005.393854", "938905.39385399999997617"),
            (
                "-72.5",
                "7.60775e38",
                "760774999999999999979690222782573969408",
            ),
            ("0.000289", "-51562", "-51561.99971100000000135"),
            ("19445.453649", "28085.297477", "47530.75112599999999929"),
            ("0.00000929", "0.000000000000785", "0.000009290000785"),
            ("89622.509277", "8.903e-18", "89622.50927699999999732"),
            (
                "0501053732112506573585",
                "4.55614e24",
                "4556641053732112506552320",
            ),
            (
                "33753845521707738941030128879",
                "-971376",
                "33753845521707738940368224256",
            ),
            ("-71.5", "-632866", "-632937.5"),
            ("-755810", "130964", "-624846"),
            ("55.5", "0.00835", "55.50835"),
            ("-27160.885117", "17071", "-10089.88511699999999927"),
        ];
        for (a, b, expected) in sums {
            assert_eq!(incr(a, b).as_deref(), Some(expected), "{a} + {b}");
        }
        // (input, Some(prefix of the %.17Lf output) or None if rejected)
        let singles: [(&str, Option<&str>); 41] = [
            ("1e-4950", Some("0")),
            ("1e-4951", None),
            ("3.6e-4951", Some("0")),
            ("1.8e-4951", None),
            ("1.9e-4951", Some("0")),
            (
                "1.18e4932",
                Some("118000000000000000000065281291809369920269043714016047172983"),
            ),
            ("1.19e4932", None),
            ("0x1p-16445", Some("0")),
            ("0x1p-16446", None),
            ("0x1.8p-16446", Some("0")),
            (
                "0x1p16383",
                Some("594865747678615882542879663314003565381722343548255118736337"),
            ),
            ("0x1p16384", None),
            ("infinit", None),
            ("nan(123)", None),
            ("1e+", None),
            ("1.e5", Some("100000")),
            (".e5", None),
            ("0x.p1", None),
            ("0x1.", Some("1")),
            ("0x.1", Some("0.0625")),
            ("1\t", None),
            ("0.000003814697265625", Some("0.00000381469726562")),
            ("-0", Some("0")),
            ("-0.0", Some("0")),
            ("0x", None),
            ("1e-20", Some("0")),
            ("0.000000000000000005", Some("0")),
            ("0.000000000000000015", Some("0.00000000000000002")),
            ("0.000000000000000025", Some("0.00000000000000002")),
            (
                "1e4931",
                Some("100000000000000000000601894938796389132383777425453311477378"),
            ),
            ("99999999999999999999", Some("100000000000000000000")),
            ("0X1p3", Some("8")),
            ("1e999999999999999999999", None),
            ("1e-999999999999999999999", None),
            ("0e999999999999999999999", Some("0")),
            ("00000.0000e5", Some("0")),
            ("+", None),
            ("-", None),
            (".", None),
            ("0x1p-3", Some("0.125")),
            ("1_0", None),
        ];
        for (input, expected) in singles {
            let parsed = LongDouble::parse(input.as_bytes()).map(LongDouble::to_human_string);
            match (parsed, expected) {
                (Some(text), Some(prefix)) => assert!(text.starts_with(prefix), "{input}: {text}"),
                (parsed, expected) => assert_eq!(parsed.is_some(), expected.is_some(), "{input}"),
            }
        }
    }
}
