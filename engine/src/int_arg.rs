//! Integer arguments, read the way Redis 7.0 reads them: the one parser for
//! every count, index, limit, database number and other integer a command
//! takes, in the server's command parsers and in the engine's argument
//! parsers alike.
//!
//! Redis reads such an argument with one of a family of functions
//! (`getLongFromObjectOrReply`, `getRangeLongFromObjectOrReply`,
//! `getPositiveLongFromObjectOrReply`, `getIntFromObjectOrReply` in
//! object.c). Each is an allowed range plus an optional message; an
//! [`IntRule`] is the same pair, and the rules commands share are named
//! constants here, so that two commands Redis reads alike are read alike.
//! A command's own checks after the range (SCAN's COUNT below 1 is a syntax
//! error, LPOS's RANK may not be 0) stay with the command.
//!
//! Texts, as Redis writes them:
//! - with a message, a non-integer and a value out of range both answer
//!   the message;
//! - without one, a non-integer answers `ERR value is not an integer or
//!   out of range` and a value out of range `ERR value is out of range,
//!   value must between MIN and MAX` (sic).
//!
//! Invariants:
//! - The text is read by `string2ll`'s rules ([`crate::parse_i64_strict`]).
//! - A value returned is within its rule's range.
//! - A count of repeated random picks that is returned by
//!   [`random_repeats`] is at most [`RANDOM_REPEATS_MAX`], so the reply it
//!   builds is bounded.

use crate::Error;

/// An allowed range and the error for text outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRule {
    pub min: i64,
    pub max: i64,
    /// Redis's `msg`: the one error for a non-integer and for a value out
    /// of range. `None`: the generic texts (see the module's doc).
    pub message: Option<&'static str>,
}

impl IntRule {
    /// Any long, generic texts (`getLongFromObjectOrReply(..., NULL)`).
    pub const fn long() -> IntRule {
        IntRule {
            min: i64::MIN,
            max: i64::MAX,
            message: None,
        }
    }

    /// `min..=max`, generic texts (`getRangeLongFromObjectOrReply`).
    pub const fn between(min: i64, max: i64) -> IntRule {
        assert!(min <= max);
        IntRule {
            min,
            max,
            message: None,
        }
    }

    /// The same range, with `message` (which includes its `ERR ` prefix)
    /// for every failure.
    pub const fn or(self, message: &'static str) -> IntRule {
        IntRule {
            message: Some(message),
            ..self
        }
    }

    /// Reads `arg` by this rule.
    pub fn parse(&self, arg: &[u8]) -> Result<i64, Error> {
        let Some(value) = crate::parse_i64_strict(arg) else {
            return Err(self.message.map_or(Error::NotInteger, Error::Other));
        };
        if value < self.min || value > self.max {
            return Err(match self.message {
                Some(message) => Error::Other(message),
                None => Error::OutOfRange {
                    min: self.min,
                    max: self.max,
                },
            });
        }
        Ok(value)
    }

    /// Reads `arg` by this rule, for a rule whose range is non-negative.
    pub fn parse_u64(&self, arg: &[u8]) -> Result<u64, Error> {
        assert!(self.min >= 0, "{self:?} allows negative values");
        self.parse(arg).map(|value| value as u64)
    }
}

/// Indexes, ranges, offsets, `LIMIT offset count`, `LREM`'s count, `LPOS`'s
/// RANK, `SCAN`'s COUNT (checked further by the command), increments,
/// expiry times.
pub const LONG: IntRule = IntRule::long();

/// A long that must not be negative, with Redis's one text for both
/// failures (`getPositiveLongFromObjectOrReply(..., NULL)`): the count of
/// `LPOP`, `RPOP`, `SPOP`, `ZPOPMIN`, `ZPOPMAX`.
pub const POP_COUNT: IntRule =
    IntRule::between(0, i64::MAX).or("ERR value is out of range, must be positive");

/// The count of `SRANDMEMBER`, `HRANDFIELD` and `ZRANDMEMBER`: any long but
/// `LONG_MIN`, whose magnitude does not fit a long.
pub const RANDOM_COUNT: IntRule = IntRule::between(-i64::MAX, i64::MAX);

/// A C `int` (`getIntFromObjectOrReply`): database indexes of `SELECT`,
/// `MOVE` and `COPY ... DB`.
pub const INT: IntRule = IntRule::between(i32::MIN as i64, i32::MAX as i64);

/// `SWAPDB`'s indexes, each with its own text.
pub const SWAPDB_FIRST: IntRule = INT.or("ERR invalid first DB index");
pub const SWAPDB_SECOND: IntRule = INT.or("ERR invalid second DB index");

/// `numkeys` of `LMPOP`, `BLMPOP`, `ZMPOP`, `BZMPOP` and `SINTERCARD`.
pub const NUMKEYS: IntRule =
    IntRule::between(1, i64::MAX).or("ERR numkeys should be greater than 0");

/// `COUNT` of `LMPOP`, `BLMPOP`, `ZMPOP` and `BZMPOP`.
pub const MPOP_COUNT: IntRule =
    IntRule::between(1, i64::MAX).or("ERR count should be greater than 0");

/// `LIMIT` of `SINTERCARD` and `ZINTERCARD`.
pub const INTERCARD_LIMIT: IntRule =
    IntRule::between(0, i64::MAX).or("ERR LIMIT can't be negative");

/// `LPOS`'s `COUNT` and `MAXLEN`.
pub const LPOS_COUNT: IntRule = IntRule::between(0, i64::MAX).or("ERR COUNT can't be negative");
pub const LPOS_MAXLEN: IntRule = IntRule::between(0, i64::MAX).or("ERR MAXLEN can't be negative");

/// `SLOWLOG GET`'s count (-1: every entry).
pub const SLOWLOG_COUNT: IntRule =
    IntRule::between(-1, i64::MAX).or("ERR count should be greater than or equal to -1");

/// A timeout in milliseconds (`WAIT`), before its own check for a negative
/// value.
pub const TIMEOUT_MS: IntRule = LONG.or("ERR timeout is not an integer or out of range");

/// A client ID of `CLIENT LIST ID`: any long.
pub const CLIENT_ID: IntRule = LONG.or("ERR Invalid client ID");

/// `HELLO`'s protocol version.
pub const PROTOCOL_VERSION: IntRule =
    LONG.or("ERR Protocol version is not an integer or out of range");

/// The further check of `HRANDFIELD ... WITHVALUES` and `ZRANDMEMBER ...
/// WITHSCORES` on a [`RANDOM_COUNT`]: the reply holds two items per pick,
/// so Redis allows only half the range.
pub fn check_random_pairs(count: i64) -> Result<(), Error> {
    let half = i64::MAX / 2;
    if (-half..=half).contains(&count) {
        Ok(())
    } else {
        Err(Error::Other("ERR value is out of range"))
    }
}

/// The COUNT of `SCAN`, `SSCAN`, `HSCAN` and `ZSCAN`: a long, and below 1
/// a syntax error (Redis's `scanGenericCommand`).
pub fn scan_count(arg: &[u8]) -> Result<usize, Error> {
    match LONG.parse(arg)? {
        count if count < 1 => Err(Error::Syntax),
        count => Ok(usize::try_from(count).unwrap_or(usize::MAX)),
    }
}

/// The most elements a negative count of `SRANDMEMBER`, `HRANDFIELD` or
/// `ZRANDMEMBER` may ask for (each pick may repeat). Redis has no limit:
/// it builds the whole reply and runs out of memory on a count like
/// -2^40. Here a read holds a shard lock while it writes its reply, so the
/// reply must be bounded: at 2^24 picks of a short member it stays within
/// a few hundred MiB.
pub const RANDOM_REPEATS_MAX: u64 = 1 << 24;

/// How many picks a negative random count asks for, or `ERR value is out
/// of range` past [`RANDOM_REPEATS_MAX`] (only for a count Redis would take
/// and could not answer).
pub fn random_repeats(count: i64) -> Result<usize, Error> {
    assert!(count < 0, "a count of repeated picks is negative: {count}");
    let picks = count.unsigned_abs();
    if picks > RANDOM_REPEATS_MAX {
        return Err(Error::Other("ERR value is out of range"));
    }
    Ok(picks as usize)
}

#[cfg(test)]
mod tests {
    //! Data-driven: `int_arg_cases.txt` lists, per rule, inputs and what
    //! each reads as.

    use super::*;

    /// The rule a case names.
    fn rule(name: &str) -> IntRule {
        match name {
            "LONG" => LONG,
            "POP_COUNT" => POP_COUNT,
            "RANDOM_COUNT" => RANDOM_COUNT,
            "INT" => INT,
            "SWAPDB_FIRST" => SWAPDB_FIRST,
            "SWAPDB_SECOND" => SWAPDB_SECOND,
            "NUMKEYS" => NUMKEYS,
            "MPOP_COUNT" => MPOP_COUNT,
            "INTERCARD_LIMIT" => INTERCARD_LIMIT,
            "LPOS_COUNT" => LPOS_COUNT,
            "LPOS_MAXLEN" => LPOS_MAXLEN,
            "SLOWLOG_COUNT" => SLOWLOG_COUNT,
            "PROTOCOL_VERSION" => PROTOCOL_VERSION,
            "TIMEOUT_MS" => TIMEOUT_MS,
            "CLIENT_ID" => CLIENT_ID,
            other => panic!("unknown rule {other}"),
        }
    }

    /// Each line: `RULE input => value` or `RULE input => -ERROR TEXT`;
    /// `""` is the empty input.
    #[test]
    fn rules_read_like_redis() {
        let cases = include_str!("int_arg_cases.txt");
        let mut checked = 0;
        for (number, line) in cases.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (case, expected) = line
                .split_once(" => ")
                .unwrap_or_else(|| panic!("line {}: no ` => `", number + 1));
            let (name, input) = case.split_once(' ').expect("RULE input");
            let input = if input == "\"\"" { "" } else { input };
            let got = match rule(name).parse(input.as_bytes()) {
                Ok(value) => value.to_string(),
                Err(error) => format!("-{error}"),
            };
            assert_eq!(got, expected, "line {}: {name} {input:?}", number + 1);
            checked += 1;
        }
        assert!(checked > 50, "only {checked} cases");
    }

    #[test]
    fn random_pairs_take_half_the_range() {
        let half = i64::MAX / 2;
        for count in [0, 1, -1, half, -half] {
            assert_eq!(check_random_pairs(count), Ok(()), "{count}");
        }
        for count in [half + 1, -half - 1, i64::MAX, -i64::MAX] {
            assert_eq!(
                check_random_pairs(count),
                Err(Error::Other("ERR value is out of range")),
                "{count}"
            );
        }
    }

    #[test]
    fn scan_counts_are_positive_longs() {
        let cases: &[(&str, Result<usize, Error>)] = &[
            ("1", Ok(1)),
            ("10", Ok(10)),
            ("9223372036854775807", Ok(i64::MAX as usize)),
            ("0", Err(Error::Syntax)),
            ("-1", Err(Error::Syntax)),
            ("-9223372036854775808", Err(Error::Syntax)),
            ("9223372036854775808", Err(Error::NotInteger)),
            ("x", Err(Error::NotInteger)),
        ];
        for (text, expected) in cases {
            assert_eq!(&scan_count(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn random_repeats_are_bounded() {
        assert_eq!(random_repeats(-1), Ok(1));
        assert_eq!(
            random_repeats(-(RANDOM_REPEATS_MAX as i64)),
            Ok(RANDOM_REPEATS_MAX as usize)
        );
        for count in [
            -(RANDOM_REPEATS_MAX as i64) - 1,
            -(1 << 32),
            -i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                random_repeats(count),
                Err(Error::Other("ERR value is out of range")),
                "{count}"
            );
        }
    }
}
