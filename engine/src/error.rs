//! The engine's one error enum: every variant is a deterministic command
//! result that goes back to the client as a RESP error, with Redis 7's exact
//! text (without the leading `-`).

use std::fmt;

/// A deterministic command failure. Two nodes applying the same entry return
/// the same `Error`, so it is a reply value, never a reason to stop applying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    WrongType,
    /// `ERR value is not an integer or out of range`
    NotInteger,
    /// `ERR value is not a valid float`
    NotFloat,
    /// `ERR increment or decrement would overflow`
    Overflow,
    /// `ERR increment would produce NaN or Infinity`
    NanOrInfinity,
    /// `ERR no such key`
    NoSuchKey,
    /// `ERR syntax error`
    Syntax,
    /// `ERR invalid expire time in '<command>' command`
    InvalidExpire(&'static str),
    /// `ERR string exceeds maximum allowed size (proto-max-bulk-len)`
    StringTooLong,
    /// `ERR offset is out of range`
    OffsetOutOfRange,
    /// `ERR DB index is out of range`
    DbIndexOutOfRange,
    /// `ERR value is out of range, value must between MIN and MAX`: an
    /// integer argument outside its range (see `int_arg`).
    OutOfRange { min: i64, max: i64 },
    /// Any other fixed error text, written exactly as Redis writes it
    /// (including its prefix, e.g. `ERR ...`).
    Other(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            Error::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            Error::NotFloat => f.write_str("ERR value is not a valid float"),
            Error::Overflow => f.write_str("ERR increment or decrement would overflow"),
            Error::NanOrInfinity => f.write_str("ERR increment would produce NaN or Infinity"),
            Error::NoSuchKey => f.write_str("ERR no such key"),
            Error::Syntax => f.write_str("ERR syntax error"),
            Error::InvalidExpire(cmd) => write!(f, "ERR invalid expire time in '{cmd}' command"),
            Error::StringTooLong => {
                f.write_str("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            Error::OffsetOutOfRange => f.write_str("ERR offset is out of range"),
            Error::DbIndexOutOfRange => f.write_str("ERR DB index is out of range"),
            Error::OutOfRange { min, max } => write!(
                f,
                "ERR value is out of range, value must between {min} and {max}"
            ),
            Error::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}
