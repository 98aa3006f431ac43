//! Number parsing and formatting with Redis's exact rules.
//!
//! - [`parse_i64_strict`] is Redis's `string2ll`: optional '-', no '+', no
//!   spaces, no leading zeros, no "-0", must fit in i64.
//! - [`parse_float`] is Redis's `string2ld` (see `ldouble.rs`), used to
//!   validate `INCRBYFLOAT`'s increment.
//! - [`format_double`] is the `"%.17g"` that Redis 7.0 uses for doubles.

use crate::ldouble::LongDouble;

/// Parses `text` as Redis's `string2ll` does; `None` where Redis replies
/// "value is not an integer or out of range".
pub fn parse_i64_strict(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    match digits {
        [] => return None,
        [b'0'] => return (!negative).then_some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulate negatively so i64::MIN parses without overflow.
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_sub(i64::from(digit - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Parses `text` with Redis's string-to-`long double` rules (`string2ld`):
/// the whole text is one `strtold` number (decimal or hex, `inf` and
/// `infinity` accepted, any case), with no leading or trailing space, not
/// NaN, and neither overflowing nor underflowing to zero in `long double`.
/// Returns the value rounded to `f64`, which may be infinite for inputs
/// Redis accepts (`inf`, or `1e400`, which fits a `long double`): test
/// `is_some()` to validate.
pub fn parse_float(text: &[u8]) -> Option<f64> {
    LongDouble::parse(text).map(LongDouble::to_f64)
}

/// Formats `value` as C's `printf("%.17g")`, which Redis 7.0 uses for
/// doubles in replies; infinities are "inf" and "-inf" as Redis writes them.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return if value.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
        .to_string();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's exact formatting rounds the exact binary value half to even,
    // like glibc's printf; it gives the 17 significant digits and the
    // decimal exponent that %g then lays out.
    let scientific = format!("{:.16e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    debug_assert_eq!(digits.len(), 17);
    let mut text = String::with_capacity(24);
    if value < 0.0 {
        text.push('-');
    }
    if !(-4..17).contains(&exponent) {
        push_trimmed(&mut text, &digits[..1], &digits[1..]);
        text.push('e');
        text.push(if exponent < 0 { '-' } else { '+' });
        text.push_str(&format!("{:02}", exponent.unsigned_abs()));
    } else if exponent >= 0 {
        let point = exponent as usize + 1;
        push_trimmed(&mut text, &digits[..point], &digits[point..]);
    } else {
        let zeros = "0".repeat((-exponent - 1) as usize);
        push_trimmed(&mut text, "0", &format!("{zeros}{digits}"));
    }
    text
}

/// Appends `integer[.fraction]` with the fraction's trailing zeros removed
/// (and the point too if nothing is left), as %g does.
fn push_trimmed(text: &mut String, integer: &str, fraction: &str) {
    text.push_str(integer);
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        text.push('.');
        text.push_str(fraction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-12"), Some(-12));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "-0",
            "+1",
            " 1",
            "1 ",
            "01",
            "00",
            "9223372036854775808",
            "-9223372036854775809",
            "1.0",
            "1e3",
            "0x1",
        ] {
            assert_eq!(parse_i64_strict(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles_like_printf() {
        let cases: [(f64, &str); 12] = [
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (-2.5, "-2.5"),
            (1e300, "1.0000000000000001e+300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            // A tie at the 17th digit rounds to even, as glibc does.
            (1_234_567_890_123_456.0 + 0.25, "1234567890123456.2"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_double(value), expected, "{value}");
        }
    }

    extern "C" {
        fn snprintf(buf: *mut u8, len: usize, format: *const std::ffi::c_char, ...) -> i32;
    }

    /// Compares with the C library's own `%.17g` on many values.
    #[test]
    fn doubles_match_libc() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = match i % 3 {
                0 => f64::from_bits(state),
                1 => (state % 1_000_000) as f64 / 64.0,
                _ => (state >> 11) as f64 * 2f64.powi((state % 40) as i32 - 20),
            };
            if !value.is_finite() {
                continue;
            }
            let mut buf = [0u8; 64];
            // SAFETY: buf is 64 bytes, the format is NUL-terminated and
            // takes one double.
            let len = unsafe { snprintf(buf.as_mut_ptr(), buf.len(), c"%.17g".as_ptr(), value) };
            let expected = std::str::from_utf8(&buf[..len as usize]).unwrap();
            assert_eq!(
                format_double(value),
                expected,
                "bits {:#x}",
                value.to_bits()
            );
        }
    }
}
