//! A parse cursor over a command's arguments, so every command parses the
//! same way: `next_*` take one argument, `finish` rejects extra ones.
//!
//! Numbers follow Redis's strict rules (`string2ll`: no sign `+`, no leading
//! zeros, no spaces), so a value Redis rejects is rejected here with the same
//! error text. Integer arguments with a range (counts, limits, database
//! indexes) are read by the engine's shared rules (`redraft_engine::int_arg`),
//! which the engine's own argument parsers use too.

use bytes::Bytes;
use redraft_engine::int_arg::{IntRule, LONG};
use redraft_engine::Error;

/// Walks the arguments after the command name.
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// `args` excludes the command name.
    pub fn new(args: &'a [Bytes]) -> Args<'a> {
        Args { args, pos: 0 }
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    /// The next argument, or `ERR syntax error` if there is none.
    pub fn next_bytes(&mut self) -> Result<&'a Bytes, Error> {
        let arg = self.args.get(self.pos).ok_or(Error::Syntax)?;
        self.pos += 1;
        Ok(arg)
    }

    /// The next argument if there is one.
    pub fn next_opt(&mut self) -> Option<&'a Bytes> {
        let arg = self.args.get(self.pos)?;
        self.pos += 1;
        Some(arg)
    }

    /// The next argument as a Redis integer.
    pub fn next_i64(&mut self) -> Result<i64, Error> {
        self.next_int(&LONG)
    }

    /// The next argument, read by `rule`.
    pub fn next_int(&mut self, rule: &IntRule) -> Result<i64, Error> {
        rule.parse(self.next_bytes()?)
    }

    /// The rest of the arguments.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let rest = &self.args[self.pos..];
        self.pos = self.args.len();
        rest
    }

    /// Fails with `ERR syntax error` if any argument is left.
    pub fn finish(&self) -> Result<(), Error> {
        if self.pos == self.args.len() {
            Ok(())
        } else {
            Err(Error::Syntax)
        }
    }
}

/// Parses a signed 64-bit integer the way Redis's `string2ll` does.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    redraft_engine::parse_i64_strict(text)
}

/// Parses a SCAN cursor as Redis 7.0 does, with C's `strtoul` in base 10:
/// an optional sign (a minus wraps modulo 2^64), then digits; leading
/// white space, trailing bytes and overflow are invalid, and an empty string
/// is cursor 0.
pub fn parse_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        // strtoul consumed nothing: the end pointer is the start, which is
        // valid only when the whole string is empty.
        return text.is_empty().then_some(0);
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

/// Case-insensitive comparison of an argument with a lower-case keyword.
pub fn is(arg: &[u8], keyword_lower: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword_lower.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0", None),
            ("1", Some(1)),
            ("-1", Some(-1)),
            ("+1", None),
            ("01", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("-9223372036854775809", None),
            ("1.5", None),
            ("99999999999999999999999", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_i64(text.as_bytes()), *expected, "{text:?}");
        }
    }

    #[test]
    fn cursors_parse_like_strtoul() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("-1", Some(u64::MAX)),
            ("+5", Some(5)),
            ("-", None),
            ("+", None),
            (" 1", None),
            ("1 ", None),
            ("0x10", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_cursor(text.as_bytes()), *expected, "{text:?}");
        }
    }
}
