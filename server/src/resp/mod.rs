//! RESP, the Redis serialization protocol: requests in, replies out.
//!
//! Three parts, one idea each:
//! - [`CommandDecoder`] (decode.rs) turns the bytes a client sent into
//!   commands. It is the hot path: arguments are zero-copy [`bytes::Bytes`]
//!   slices of the read buffer, and a command that arrives in many reads is
//!   validated once, not rescanned on every read. It follows Redis 7.0's
//!   `processMultibulkBuffer` / `processInlineBuffer` byte for byte, quirks
//!   included (they are listed on the decoder).
//! - [`ReplyWriter`] (encode.rs) implements the engine's
//!   [`redraft_engine::ReplySink`] and writes RESP2 or RESP3 replies straight
//!   into the connection's output buffer, without allocating per reply.
//! - [`Frame`] (frame.rs) is a general RESP2/RESP3 value with an encoder and a
//!   decoder, for tests, for a client side, and for round-trip properties.
//!
//! Invariants:
//! - A malformed request is a [`ProtocolError`], never a panic; the caller
//!   replies `-ERR <error>` and closes the connection (as Redis does).
//! - Between two decode calls the caller only appends to the read buffer;
//!   the decoder remembers offsets into it.
//! - Every reply the encoder writes is well-formed RESP: texts that would
//!   break a line (CR, LF) are replaced, never written raw.

mod decode;
mod encode;
mod frame;

use std::fmt;

use bytes::{BufMut, BytesMut};

pub use decode::{CommandDecoder, ARGS_MAX, BULK_MAX_BYTES, INLINE_MAX_BYTES};
pub use encode::{format_double, DoubleText, ReplyWriter};
pub use frame::{decode_frame, Frame, FRAME_DEPTH_MAX};

/// A malformed request (or, for the `Frame*` variants, a malformed reply seen
/// by [`decode_frame`]). `Display` is the text Redis 7.0 sends after `-ERR `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline request with no `\n` within 64 KiB.
    TooBigInlineRequest,
    /// An inline request whose quoting `sdssplitargs` rejects.
    UnbalancedQuotes,
    /// A `*<count>` line with no `\r` within 64 KiB.
    TooBigMultibulkCount,
    /// A `*<count>` that is not a strict integer, or more than [`ARGS_MAX`].
    InvalidMultibulkLength,
    /// A `*<count>` above 10 from a client that has not authenticated.
    UnauthenticatedMultibulkLength,
    /// A `$<len>` line with no `\r` within 64 KiB.
    TooBigBulkCount,
    /// An argument header that does not start with `$`; holds the byte seen.
    ExpectedDollar(u8),
    /// A `$<len>` that is not a strict integer, negative, or above
    /// [`BULK_MAX_BYTES`].
    InvalidBulkLength,
    /// A `$<len>` above 16384 from a client that has not authenticated.
    UnauthenticatedBulkLength,
    /// [`decode_frame`]: a frame starting with an unknown type byte.
    FrameType(u8),
    /// [`decode_frame`]: a bad length, number, boolean or line terminator.
    FrameMalformed,
    /// [`decode_frame`]: aggregates nested deeper than [`FRAME_DEPTH_MAX`].
    FrameTooDeep,
}

impl ProtocolError {
    /// The exact bytes Redis sends after `-ERR ` (without the CRLF).
    ///
    /// Differs from `Display` only for [`ProtocolError::ExpectedDollar`] with
    /// a byte above 0x7F: Redis writes that raw byte (`%c`), which is not
    /// UTF-8, so `Display` shows it as the Latin-1 character instead.
    pub fn write_message(&self, out: &mut BytesMut) {
        match *self {
            ProtocolError::ExpectedDollar(byte) => {
                out.put_slice(b"Protocol error: expected '$', got '");
                out.put_u8(reply_safe_byte(byte));
                out.put_u8(b'\'');
            }
            ProtocolError::FrameType(byte) => {
                out.put_slice(b"Protocol error: invalid frame type '");
                out.put_u8(reply_safe_byte(byte));
                out.put_u8(b'\'');
            }
            other => out.put_slice(other.static_text().as_bytes()),
        }
    }

    /// The text of every variant that carries no byte.
    fn static_text(&self) -> &'static str {
        match self {
            ProtocolError::TooBigInlineRequest => "Protocol error: too big inline request",
            ProtocolError::UnbalancedQuotes => "Protocol error: unbalanced quotes in request",
            ProtocolError::TooBigMultibulkCount => "Protocol error: too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "Protocol error: invalid multibulk length",
            ProtocolError::UnauthenticatedMultibulkLength => {
                "Protocol error: unauthenticated multibulk length"
            }
            ProtocolError::TooBigBulkCount => "Protocol error: too big bulk count string",
            ProtocolError::InvalidBulkLength => "Protocol error: invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => {
                "Protocol error: unauthenticated bulk length"
            }
            ProtocolError::FrameMalformed => "Protocol error: malformed frame",
            ProtocolError::FrameTooDeep => "Protocol error: frame nesting too deep",
            ProtocolError::ExpectedDollar(_) | ProtocolError::FrameType(_) => {
                unreachable!("variants with a byte have no static text")
            }
        }
    }
}

/// Redis's `addReplyErrorFormat` turns CR and LF into spaces so the error
/// stays on one line; every other byte is written as is.
fn reply_safe_byte(byte: u8) -> u8 {
    match byte {
        b'\r' | b'\n' => b' ',
        other => other,
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::ExpectedDollar(byte) => write!(
                f,
                "Protocol error: expected '$', got '{}'",
                char::from(reply_safe_byte(byte))
            ),
            ProtocolError::FrameType(byte) => write!(
                f,
                "Protocol error: invalid frame type '{}'",
                char::from(reply_safe_byte(byte))
            ),
            other => f.write_str(other.static_text()),
        }
    }
}

impl std::error::Error for ProtocolError {}
