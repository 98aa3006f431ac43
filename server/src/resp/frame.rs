//! A general RESP2/RESP3 value, for tests, a client side and round trips.
//!
//! The server never builds a [`Frame`] on its hot path (requests go through
//! the [`super::CommandDecoder`], replies through the [`super::ReplyWriter`]);
//! frames exist so tests can read back what the server wrote, and so the
//! encoder and decoders can be checked against each other.
//!
//! Decoding is strict, as a client should be: lines end in CRLF, numbers are
//! Redis's strict integers, lengths are bounded, and aggregates nest at most
//! [`FRAME_DEPTH_MAX`] deep. Running out of bytes is `Ok(None)`, never an
//! error.
//!
//! Invariants:
//! - `decode_frame(encode(f)) == Some((f, encoded length))` for every frame
//!   whose simple, error and big-number texts hold no CR or LF (encoding one
//!   that does is a bug and panics) and whose double is not NaN (NaN never
//!   equals itself).
//! - A decoded frame never holds more bytes than the input it came from:
//!   allocations are bounded by the input, not by announced lengths.

use bytes::{BufMut, Bytes, BytesMut};

use super::decode::{parse_i64, BULK_MAX_BYTES};
use super::encode::{format_double, put_header};
use super::ProtocolError;

/// How deep aggregates may nest before [`decode_frame`] gives up.
pub const FRAME_DEPTH_MAX: usize = 64;
/// The most elements one aggregate may announce.
const AGGREGATE_LEN_MAX: i64 = i32::MAX as i64;

/// One RESP2 or RESP3 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-text`
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len` and the bytes.
    Bulk(Bytes),
    /// `$-1`, RESP2's null bulk string.
    NullBulk,
    /// `*-1`, RESP2's null array.
    NullArray,
    /// `_`, RESP3's null.
    Null,
    /// `*n` and n frames.
    Array(Vec<Frame>),
    /// `%n` and n key-value pairs.
    Map(Vec<(Frame, Frame)>),
    /// `~n` and n frames.
    Set(Vec<Frame>),
    /// `>n` and n frames (out-of-band messages).
    Push(Vec<Frame>),
    /// `,text`: as `%.17g`, `inf`, `-inf` or `nan`.
    Double(f64),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(digits`
    BigNumber(Bytes),
    /// `=len` and `fmt:text`.
    Verbatim { format: [u8; 3], text: Bytes },
    /// `!len` and the bytes: an error that may hold any byte.
    BulkError(Bytes),
}

impl Frame {
    /// A command as clients send it: an array of bulk strings.
    pub fn command<I, A>(args: I) -> Frame
    where
        I: IntoIterator<Item = A>,
        A: Into<Bytes>,
    {
        Frame::Array(
            args.into_iter()
                .map(|arg| Frame::Bulk(arg.into()))
                .collect(),
        )
    }

    /// Appends this frame's RESP encoding to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Simple(text) => put_line(out, b'+', text),
            Frame::Error(text) => put_line(out, b'-', text),
            Frame::BigNumber(digits) => put_line(out, b'(', digits),
            Frame::Integer(value) => {
                out.put_u8(b':');
                out.put_slice(itoa::Buffer::new().format(*value).as_bytes());
                out.put_slice(b"\r\n");
            }
            Frame::Bulk(bytes) => put_blob(out, b'$', bytes),
            Frame::BulkError(bytes) => put_blob(out, b'!', bytes),
            Frame::NullBulk => out.put_slice(b"$-1\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Null => out.put_slice(b"_\r\n"),
            Frame::Array(items) => put_items(out, b'*', items),
            Frame::Set(items) => put_items(out, b'~', items),
            Frame::Push(items) => put_items(out, b'>', items),
            Frame::Map(pairs) => {
                put_header(out, b'%', pairs.len() as u64);
                for (key, value) in pairs {
                    key.encode(out);
                    value.encode(out);
                }
            }
            Frame::Double(value) => {
                out.put_u8(b',');
                out.put_slice(format_double(*value).as_bytes());
                out.put_slice(b"\r\n");
            }
            Frame::Boolean(value) => out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Verbatim { format, text } => {
                put_header(out, b'=', text.len() as u64 + 4);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
        }
    }
}

fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    assert!(
        memchr::memchr2(b'\r', b'\n', text).is_none(),
        "a line frame cannot hold CR or LF: {text:?}"
    );
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn put_blob(out: &mut BytesMut, prefix: u8, bytes: &[u8]) {
    put_header(out, prefix, bytes.len() as u64);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

fn put_items(out: &mut BytesMut, prefix: u8, items: &[Frame]) {
    put_header(out, prefix, items.len() as u64);
    for item in items {
        item.encode(out);
    }
}

/// Decodes one frame from the front of `buf`: `Ok(Some((frame, consumed)))`,
/// `Ok(None)` if `buf` holds only part of a frame, or an error if it is not
/// RESP.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut cursor = Cursor { buf, pos: 0 };
    Ok(cursor.frame(0)?.map(|frame| (frame, cursor.pos)))
}

/// A position in the input; every method returns `Ok(None)` when the input
/// ends first.
struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
}

type Parsed<T> = Result<Option<T>, ProtocolError>;

impl<'b> Cursor<'b> {
    fn frame(&mut self, depth: usize) -> Parsed<Frame> {
        if depth > FRAME_DEPTH_MAX {
            return Err(ProtocolError::FrameTooDeep);
        }
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let frame = match kind {
            b'+' => Frame::Simple(Bytes::copy_from_slice(line)),
            b'-' => Frame::Error(Bytes::copy_from_slice(line)),
            b'(' => Frame::BigNumber(Bytes::copy_from_slice(big_number(line)?)),
            b':' => Frame::Integer(parse_i64(line).ok_or(ProtocolError::FrameMalformed)?),
            b',' => Frame::Double(parse_double(line)?),
            b'#' => match line {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return Err(ProtocolError::FrameMalformed),
            },
            b'_' if line.is_empty() => Frame::Null,
            b'_' => return Err(ProtocolError::FrameMalformed),
            b'$' | b'!' | b'=' => match self.blob(kind, line)? {
                Some(frame) => frame,
                None => return Ok(None),
            },
            b'*' | b'~' | b'>' | b'%' => match self.aggregate(kind, line, depth)? {
                Some(frame) => frame,
                None => return Ok(None),
            },
            _ => return Err(ProtocolError::FrameType(kind)),
        };
        Ok(Some(frame))
    }

    /// The rest of the current line, which must end in CRLF.
    fn line(&mut self) -> Parsed<&'b [u8]> {
        let buf: &'b [u8] = self.buf;
        let rest = &buf[self.pos..];
        let Some(cr) = memchr::memchr(b'\r', rest) else {
            return Ok(None);
        };
        match rest.get(cr + 1) {
            None => Ok(None),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(Some(&rest[..cr]))
            }
            Some(_) => Err(ProtocolError::FrameMalformed),
        }
    }

    /// A length-prefixed string whose length line is `line`.
    fn blob(&mut self, kind: u8, line: &[u8]) -> Parsed<Frame> {
        if kind == b'$' && line == b"-1" {
            return Ok(Some(Frame::NullBulk));
        }
        let len = match parse_i64(line) {
            Some(len) if (0..=BULK_MAX_BYTES as i64).contains(&len) => len as usize,
            _ => return Err(ProtocolError::FrameMalformed),
        };
        let rest = &self.buf[self.pos..];
        if rest.len() < len + 2 {
            return Ok(None);
        }
        if &rest[len..len + 2] != b"\r\n" {
            return Err(ProtocolError::FrameMalformed);
        }
        let bytes = &rest[..len];
        self.pos += len + 2;
        Ok(Some(match kind {
            b'$' => Frame::Bulk(Bytes::copy_from_slice(bytes)),
            b'!' => Frame::BulkError(Bytes::copy_from_slice(bytes)),
            _ => {
                if len < 4 || bytes[3] != b':' {
                    return Err(ProtocolError::FrameMalformed);
                }
                Frame::Verbatim {
                    format: [bytes[0], bytes[1], bytes[2]],
                    text: Bytes::copy_from_slice(&bytes[4..]),
                }
            }
        }))
    }

    /// An array, set, push or map whose count line is `line`.
    fn aggregate(&mut self, kind: u8, line: &[u8], depth: usize) -> Parsed<Frame> {
        if kind == b'*' && line == b"-1" {
            return Ok(Some(Frame::NullArray));
        }
        let len = match parse_i64(line) {
            Some(len) if (0..=AGGREGATE_LEN_MAX).contains(&len) => len as usize,
            _ => return Err(ProtocolError::FrameMalformed),
        };
        // Every element takes at least 3 bytes, so the input bounds what a
        // well-formed aggregate can hold; never trust the announced length.
        let reserve = len.min((self.buf.len() - self.pos) / 3);
        if kind == b'%' {
            let mut pairs = Vec::with_capacity(reserve / 2);
            for _ in 0..len {
                let Some(key) = self.frame(depth + 1)? else {
                    return Ok(None);
                };
                let Some(value) = self.frame(depth + 1)? else {
                    return Ok(None);
                };
                pairs.push((key, value));
            }
            return Ok(Some(Frame::Map(pairs)));
        }
        let mut items = Vec::with_capacity(reserve);
        for _ in 0..len {
            let Some(item) = self.frame(depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
        }
        Ok(Some(match kind {
            b'*' => Frame::Array(items),
            b'~' => Frame::Set(items),
            _ => Frame::Push(items),
        }))
    }
}

/// A big number's digits: an optional `-` and at least one digit.
fn big_number(line: &[u8]) -> Result<&[u8], ProtocolError> {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError::FrameMalformed);
    }
    Ok(line)
}

/// A RESP3 double: what `%.17g` writes, plus `inf`, `-inf` and `nan`.
fn parse_double(line: &[u8]) -> Result<f64, ProtocolError> {
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError::FrameMalformed)?;
    match text {
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" | "-nan" => Ok(f64::NAN),
        _ if text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) =>
        {
            text.parse().map_err(|_| ProtocolError::FrameMalformed)
        }
        _ => Err(ProtocolError::FrameMalformed),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        out.to_vec()
    }

    fn line_text() -> impl Strategy<Value = Bytes> {
        prop::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..16,
        )
        .prop_map(Bytes::from)
    }

    fn blob() -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
    }

    fn any_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            line_text().prop_map(Frame::Simple),
            line_text().prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            blob().prop_map(Frame::Bulk),
            blob().prop_map(Frame::BulkError),
            Just(Frame::NullBulk),
            Just(Frame::NullArray),
            Just(Frame::Null),
            any::<f64>()
                .prop_filter("NaN never equals itself", |v| !v.is_nan())
                .prop_map(Frame::Double),
            Just(Frame::Double(f64::INFINITY)),
            Just(Frame::Double(f64::NEG_INFINITY)),
            any::<bool>().prop_map(Frame::Boolean),
            "-?[1-9][0-9]{0,40}".prop_map(|digits| Frame::BigNumber(Bytes::from(digits))),
            ("[a-z]{3}", blob()).prop_map(|(format, text)| Frame::Verbatim {
                format: format.as_bytes().try_into().unwrap(),
                text,
            }),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
                prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
                prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
                prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_frame_round_trips(frame in any_frame()) {
            let bytes = encoded(&frame);
            prop_assert_eq!(decode_frame(&bytes), Ok(Some((frame, bytes.len()))));
            // Every strict prefix is incomplete, never an error or a frame.
            for end in 0..bytes.len() {
                prop_assert_eq!(decode_frame(&bytes[..end]), Ok(None), "prefix of {}", end);
            }
        }

        #[test]
        fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_frame(&bytes);
        }
    }

    #[test]
    fn decodes_what_redis_sends() {
        let cases: &[(&[u8], Frame)] = &[
            (b"+OK\r\n", Frame::Simple(Bytes::from_static(b"OK"))),
            (b"-ERR x\r\n", Frame::Error(Bytes::from_static(b"ERR x"))),
            (b":-1\r\n", Frame::Integer(-1)),
            (b"$-1\r\n", Frame::NullBulk),
            (b"*-1\r\n", Frame::NullArray),
            (b"_\r\n", Frame::Null),
            (b",inf\r\n", Frame::Double(f64::INFINITY)),
            (b",0.10000000000000001\r\n", Frame::Double(0.1)),
            (b",1e+17\r\n", Frame::Double(1e17)),
            (
                b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
                Frame::Array(vec![
                    Frame::Bulk(Bytes::from_static(b"a")),
                    Frame::Array(vec![Frame::Integer(1)]),
                ]),
            ),
            (
                b"%1\r\n+k\r\n#t\r\n",
                Frame::Map(vec![(
                    Frame::Simple(Bytes::from_static(b"k")),
                    Frame::Boolean(true),
                )]),
            ),
            (
                b"=8\r\ntxt:abcd\r\n",
                Frame::Verbatim {
                    format: *b"txt",
                    text: Bytes::from_static(b"abcd"),
                },
            ),
        ];
        for (bytes, frame) in cases {
            assert_eq!(
                decode_frame(bytes),
                Ok(Some((frame.clone(), bytes.len()))),
                "{bytes:?}"
            );
        }
        let nan = decode_frame(b",nan\r\n").unwrap().unwrap().0;
        assert!(matches!(nan, Frame::Double(value) if value.is_nan()));
    }

    #[test]
    fn rejects_malformed_frames() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"?x\r\n", ProtocolError::FrameType(b'?')),
            (b"+OK\rX", ProtocolError::FrameMalformed),
            (b":01\r\n", ProtocolError::FrameMalformed),
            (b":+1\r\n", ProtocolError::FrameMalformed),
            (b"$-2\r\n", ProtocolError::FrameMalformed),
            (b"$1\r\nabc", ProtocolError::FrameMalformed),
            (b"*-2\r\n", ProtocolError::FrameMalformed),
            (b"%-1\r\n", ProtocolError::FrameMalformed),
            (b"#x\r\n", ProtocolError::FrameMalformed),
            (b"_x\r\n", ProtocolError::FrameMalformed),
            (b",1.5x\r\n", ProtocolError::FrameMalformed),
            (b"(12a\r\n", ProtocolError::FrameMalformed),
            (b"=3\r\ntxt\r\n", ProtocolError::FrameMalformed),
            (b"*1\r\n$1\r\nab\r\n", ProtocolError::FrameMalformed),
        ];
        for &(bytes, error) in cases {
            let got = decode_frame(bytes);
            // The last case is complete as one frame; the garbage after it
            // only fails when decoded on its own.
            if let Ok(Some((_, used))) = got {
                assert_eq!(
                    decode_frame(&bytes[used..]).map(|_| ()),
                    Ok(()),
                    "{bytes:?}"
                );
                continue;
            }
            assert_eq!(got, Err(error), "{bytes:?}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |levels: usize| {
            let mut bytes = b"*1\r\n".repeat(levels);
            bytes.extend_from_slice(b":1\r\n");
            bytes
        };
        assert!(decode_frame(&deep(FRAME_DEPTH_MAX)).unwrap().is_some());
        assert_eq!(
            decode_frame(&deep(FRAME_DEPTH_MAX + 1)),
            Err(ProtocolError::FrameTooDeep)
        );
    }

    #[test]
    fn huge_announced_lengths_do_not_allocate() {
        // Incomplete, not an allocation of two billion slots.
        assert_eq!(decode_frame(b"*2147483647\r\n:1\r\n"), Ok(None));
        assert_eq!(decode_frame(b"$536870912\r\nab"), Ok(None));
    }
}
