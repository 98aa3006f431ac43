//! The reply encoder: engine replies in, RESP2 or RESP3 bytes out.
//!
//! [`ReplyWriter`] borrows the connection's output buffer and appends each
//! reply to it, so a batch of pipelined replies goes out in one write. It
//! implements the engine's [`ReplySink`] and adds the RESP3-only shapes
//! (map, set, push, boolean, verbatim, big number), each with the RESP2
//! form Redis 7.0 falls back to.
//!
//! Invariants:
//! - Writing a reply never allocates except to grow the output buffer:
//!   integers go through `itoa`, doubles through a stack buffer.
//! - Every reply is well-formed RESP: simple strings and errors never contain
//!   CR or LF (they are replaced by spaces, as Redis's `addReplyErrorFormat`
//!   does), and a verbatim format is exactly 3 bytes.
//! - Doubles are written as Redis 7.0 writes them: C's `%.17g`, with `inf`
//!   and `-inf` spelled out (and glibc's `nan` / `-nan`).

use std::fmt::{self, Write as _};

use bytes::{BufMut, BytesMut};
use redraft_engine::{Error, ReplySink};

use super::ProtocolError;

/// Appends replies to an output buffer in RESP2 or RESP3.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    /// The connection's output buffer; replies are appended.
    out: &'a mut BytesMut,
    /// Whether the client switched to RESP3 with `HELLO 3`.
    resp3: bool,
}

impl<'a> ReplyWriter<'a> {
    pub fn new(out: &'a mut BytesMut, resp3: bool) -> Self {
        ReplyWriter { out, resp3 }
    }

    /// Whether replies are written in RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    /// Switches the protocol for the replies that follow (`HELLO`).
    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    /// The header of a map of `len` pairs (RESP2: an array of `2 * len`).
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.header(b'%', len);
        } else {
            self.header(b'*', len * 2);
        }
    }

    /// The header of a set of `len` elements (RESP2: an array).
    pub fn set(&mut self, len: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, len);
    }

    /// The header of a push message of `len` elements (RESP2: an array, as
    /// pub/sub messages have always been).
    pub fn push(&mut self, len: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, len);
    }

    /// `#t` / `#f` (RESP2: `:1` / `:0`).
    pub fn boolean(&mut self, value: bool) {
        let bytes: &[u8] = match (self.resp3, value) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        };
        self.out.put_slice(bytes);
    }

    /// A verbatim string such as `=15\r\ntxt:Some string\r\n` (RESP2: a bulk
    /// string of `text` alone). `format` must be 3 bytes (`txt`, `mkd`).
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        assert!(
            format.len() == 3,
            "verbatim format must be 3 bytes: {format:?}"
        );
        if !self.resp3 {
            self.bulk(text);
            return;
        }
        self.header(b'=', text.len() + 4);
        self.out.put_slice(format.as_bytes());
        self.out.put_u8(b':');
        self.out.put_slice(text);
        self.out.put_slice(b"\r\n");
    }

    /// An error reply `-<text>\r\n`; `text` carries its own prefix (`ERR`,
    /// `WRONGTYPE`, `MOVED`...). Leading and trailing CR/LF are trimmed and
    /// inner ones become spaces, as in Redis's `addReplyErrorFormat`.
    /// Appends replies already encoded for this connection's protocol.
    pub fn encoded(&mut self, replies: &[u8]) {
        self.out.extend_from_slice(replies);
    }

    pub fn error_text(&mut self, text: &str) {
        let text = text.trim_matches(['\r', '\n']);
        self.out.put_u8(b'-');
        put_single_line(self.out, text.as_bytes());
        self.out.put_slice(b"\r\n");
    }

    /// `-ERR Protocol error: ...\r\n`, byte for byte as Redis sends it
    /// before closing the connection.
    pub fn protocol_error(&mut self, error: &ProtocolError) {
        self.out.put_slice(b"-ERR ");
        error.write_message(self.out);
        self.out.put_slice(b"\r\n");
    }

    /// A big number `(<digits>\r\n` (RESP2: a bulk string).
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3 {
            self.out.put_u8(b'(');
            put_single_line(self.out, digits.as_bytes());
            self.out.put_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// `<prefix><n>\r\n`.
    fn header(&mut self, prefix: u8, n: usize) {
        put_header(self.out, prefix, n as u64);
    }
}

impl ReplySink for ReplyWriter<'_> {
    fn ok(&mut self) {
        self.out.put_slice(b"+OK\r\n");
    }

    fn simple(&mut self, text: &str) {
        self.out.put_u8(b'+');
        put_single_line(self.out, text.as_bytes());
        self.out.put_slice(b"\r\n");
    }

    fn int(&mut self, value: i64) {
        self.out.put_u8(b':');
        self.out
            .put_slice(itoa::Buffer::new().format(value).as_bytes());
        self.out.put_slice(b"\r\n");
    }

    fn bulk(&mut self, value: &[u8]) {
        self.out.reserve(value.len() + 16);
        self.header(b'$', value.len());
        self.out.put_slice(value);
        self.out.put_slice(b"\r\n");
    }

    fn nil(&mut self) {
        self.out
            .put_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    fn nil_array(&mut self) {
        self.out
            .put_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// Redis 7.0's `addReplyDouble`: RESP2 a bulk string, RESP3 `,<text>`.
    fn double(&mut self, value: f64) {
        let text = format_double(value);
        if self.resp3 {
            self.out.put_u8(b',');
            self.out.put_slice(text.as_bytes());
            self.out.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    fn double_text(&mut self, text: &str) {
        if self.resp3 {
            self.out.put_u8(b',');
            put_single_line(self.out, text.as_bytes());
            self.out.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    fn map(&mut self, len: usize) {
        ReplyWriter::map(self, len);
    }

    fn set(&mut self, len: usize) {
        ReplyWriter::set(self, len);
    }

    fn is_resp3(&self) -> bool {
        ReplyWriter::is_resp3(self)
    }

    fn error(&mut self, error: &Error) {
        self.out.put_u8(b'-');
        // Writing into BytesMut cannot fail.
        let _ = write!(SingleLine(self.out), "{error}");
        self.out.put_slice(b"\r\n");
    }
}

/// `<prefix><n>\r\n`, the header of a bulk string or an aggregate.
pub(super) fn put_header(out: &mut BytesMut, prefix: u8, n: u64) {
    out.put_u8(prefix);
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// Appends `text` with every CR and LF replaced by a space.
fn put_single_line(out: &mut BytesMut, text: &[u8]) {
    let mut rest = text;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        out.put_slice(&rest[..i]);
        out.put_u8(b' ');
        rest = &rest[i + 1..];
    }
    out.put_slice(rest);
}

/// A `fmt::Write` into an output buffer that keeps the text on one line.
struct SingleLine<'b>(&'b mut BytesMut);

impl fmt::Write for SingleLine<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        put_single_line(self.0, text.as_bytes());
        Ok(())
    }
}

/// A double formatted by [`format_double`], held on the stack.
#[derive(Clone, Copy)]
pub struct DoubleText {
    /// The longest `%.17g` is 24 bytes (`-1.2345678901234567e-308`).
    bytes: [u8; 32],
    len: usize,
}

impl DoubleText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("a formatted double is ASCII")
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn push_all(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl fmt::Debug for DoubleText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Write for DoubleText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.len + text.len() > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.push_all(text.as_bytes());
        Ok(())
    }
}

/// Significant digits of `%.17g`: enough for every double to round-trip.
const DOUBLE_DIGITS: usize = 17;

/// Formats `value` exactly as glibc's `printf("%.17g")`, which is what Redis
/// 7.0 sends for doubles (`inf`, `-inf`, `nan`, `-nan`, `0`, `-0`, `0.10000000000000001`,
/// `1.0000000000000001e+20`).
///
/// Rust's `{:.16e}` gives the same correctly rounded (ties to even) 17
/// digits as glibc; this function only rearranges them the way `%g` does:
/// scientific notation when the exponent is below -4 or at least 17,
/// trailing zeros removed, and an exponent of at least two digits.
pub fn format_double(value: f64) -> DoubleText {
    let mut text = DoubleText {
        bytes: [0; 32],
        len: 0,
    };
    if value.is_nan() {
        text.push_all(if value.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return text;
    }
    if value.is_infinite() {
        text.push_all(if value < 0.0 { b"-inf" } else { b"inf" });
        return text;
    }
    let mut scientific = DoubleText {
        bytes: [0; 32],
        len: 0,
    };
    write!(scientific, "{:.*e}", DOUBLE_DIGITS - 1, value.abs()).expect("fits in 32 bytes");
    let (mantissa, exponent) = split_scientific(scientific.as_bytes());
    if value.is_sign_negative() {
        text.push(b'-');
    }
    // The 17 significant digits, without the point and trailing zeros.
    let mut digits = [0u8; DOUBLE_DIGITS];
    let mut count = 0;
    for &byte in mantissa.iter().filter(|byte| byte.is_ascii_digit()) {
        digits[count] = byte;
        count += 1;
    }
    assert!(
        count == DOUBLE_DIGITS,
        "expected {DOUBLE_DIGITS} digits in {scientific:?}"
    );
    while count > 1 && digits[count - 1] == b'0' {
        count -= 1;
    }
    let digits = &digits[..count];
    if exponent < -4 || exponent >= DOUBLE_DIGITS as i32 {
        text.push(digits[0]);
        if digits.len() > 1 {
            text.push(b'.');
            text.push_all(&digits[1..]);
        }
        text.push(b'e');
        text.push(if exponent < 0 { b'-' } else { b'+' });
        if exponent.abs() < 10 {
            text.push(b'0');
        }
        text.push_all(itoa::Buffer::new().format(exponent.abs()).as_bytes());
    } else if exponent < 0 {
        text.push_all(b"0.");
        for _ in 0..(-exponent - 1) {
            text.push(b'0');
        }
        text.push_all(digits);
    } else {
        // exponent + 1 digits before the point, padded with zeros if the
        // trailing zeros we removed were among them.
        let int_len = exponent as usize + 1;
        for i in 0..int_len {
            text.push(digits.get(i).copied().unwrap_or(b'0'));
        }
        if digits.len() > int_len {
            text.push(b'.');
            text.push_all(&digits[int_len..]);
        }
    }
    text
}

/// Splits Rust's `d.ddde<exp>` into the mantissa and the exponent.
fn split_scientific(text: &[u8]) -> (&[u8], i32) {
    let e = text
        .iter()
        .position(|&byte| byte == b'e')
        .expect("{:e} has an 'e'");
    let exponent = std::str::from_utf8(&text[e + 1..])
        .ok()
        .and_then(|exp| exp.parse().ok())
        .expect("{:e} has a decimal exponent");
    (&text[..e], exponent)
}

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, c_int, CStr};

    use proptest::prelude::*;

    use super::*;

    /// Runs `write` against a RESP2 and a RESP3 writer.
    fn both(write: impl Fn(&mut ReplyWriter<'_>)) -> (Vec<u8>, Vec<u8>) {
        let mut resp2 = BytesMut::new();
        write(&mut ReplyWriter::new(&mut resp2, false));
        let mut resp3 = BytesMut::new();
        write(&mut ReplyWriter::new(&mut resp3, true));
        (resp2.to_vec(), resp3.to_vec())
    }

    #[test]
    fn exact_bytes_per_method() {
        type Case = (
            &'static str,
            fn(&mut ReplyWriter<'_>),
            &'static [u8],
            &'static [u8],
        );
        let cases: &[Case] = &[
            ("ok", |w| w.ok(), b"+OK\r\n", b"+OK\r\n"),
            ("simple", |w| w.simple("PONG"), b"+PONG\r\n", b"+PONG\r\n"),
            (
                "simple CRLF",
                |w| w.simple("a\r\nb"),
                b"+a  b\r\n",
                b"+a  b\r\n",
            ),
            ("int", |w| w.int(-42), b":-42\r\n", b":-42\r\n"),
            (
                "int min",
                |w| w.int(i64::MIN),
                b":-9223372036854775808\r\n",
                b":-9223372036854775808\r\n",
            ),
            (
                "bulk",
                |w| w.bulk(b"a\r\nb"),
                b"$4\r\na\r\nb\r\n",
                b"$4\r\na\r\nb\r\n",
            ),
            ("bulk empty", |w| w.bulk(b""), b"$0\r\n\r\n", b"$0\r\n\r\n"),
            ("nil", |w| w.nil(), b"$-1\r\n", b"_\r\n"),
            ("nil_array", |w| w.nil_array(), b"*-1\r\n", b"_\r\n"),
            ("array", |w| w.array(3), b"*3\r\n", b"*3\r\n"),
            ("array empty", |w| w.array(0), b"*0\r\n", b"*0\r\n"),
            ("double", |w| w.double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
            (
                "double 0.1",
                |w| w.double(0.1),
                b"$19\r\n0.10000000000000001\r\n",
                b",0.10000000000000001\r\n",
            ),
            (
                "double inf",
                |w| w.double(f64::INFINITY),
                b"$3\r\ninf\r\n",
                b",inf\r\n",
            ),
            (
                "double -inf",
                |w| w.double(f64::NEG_INFINITY),
                b"$4\r\n-inf\r\n",
                b",-inf\r\n",
            ),
            ("double int", |w| w.double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
            (
                "error",
                |w| w.error(&Error::WrongType),
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (
                "error formatted",
                |w| w.error(&Error::InvalidExpire("set")),
                b"-ERR invalid expire time in 'set' command\r\n",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "error CRLF",
                |w| w.error(&Error::Other("ERR a\r\nb")),
                b"-ERR a  b\r\n",
                b"-ERR a  b\r\n",
            ),
            ("map", |w| w.map(2), b"*4\r\n", b"%2\r\n"),
            ("set", |w| w.set(2), b"*2\r\n", b"~2\r\n"),
            ("push", |w| w.push(3), b"*3\r\n", b">3\r\n"),
            ("true", |w| w.boolean(true), b":1\r\n", b"#t\r\n"),
            ("false", |w| w.boolean(false), b":0\r\n", b"#f\r\n"),
            (
                "verbatim",
                |w| w.verbatim("txt", b"Some string"),
                b"$11\r\nSome string\r\n",
                b"=15\r\ntxt:Some string\r\n",
            ),
            (
                "error_text",
                |w| w.error_text("ERR unknown command"),
                b"-ERR unknown command\r\n",
                b"-ERR unknown command\r\n",
            ),
            (
                "error_text CRLF",
                |w| w.error_text("\r\nERR a\nb\r\n"),
                b"-ERR a b\r\n",
                b"-ERR a b\r\n",
            ),
            (
                "big_number",
                |w| w.big_number("-3492890328409238509324850943850943825024385"),
                b"$44\r\n-3492890328409238509324850943850943825024385\r\n",
                b"(-3492890328409238509324850943850943825024385\r\n",
            ),
            (
                "protocol_error",
                |w| w.protocol_error(&ProtocolError::ExpectedDollar(0xff)),
                b"-ERR Protocol error: expected '$', got '\xff'\r\n",
                b"-ERR Protocol error: expected '$', got '\xff'\r\n",
            ),
            (
                "protocol_error text",
                |w| w.protocol_error(&ProtocolError::InvalidBulkLength),
                b"-ERR Protocol error: invalid bulk length\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
        ];
        for &(name, write, resp2, resp3) in cases {
            let (got2, got3) = both(write);
            assert_eq!(
                got2,
                resp2,
                "{name} in RESP2: {:?}",
                String::from_utf8_lossy(&got2)
            );
            assert_eq!(
                got3,
                resp3,
                "{name} in RESP3: {:?}",
                String::from_utf8_lossy(&got3)
            );
        }
    }

    #[test]
    fn reply_sequence_appends() {
        let mut out = BytesMut::new();
        let mut writer = ReplyWriter::new(&mut out, false);
        writer.array(2);
        writer.bulk(b"k");
        writer.int(1);
        writer.ok();
        assert_eq!(&out[..], b"*2\r\n$1\r\nk\r\n:1\r\n+OK\r\n");
    }

    #[test]
    fn double_texts() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.10000000000000001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e-300, "1e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            // An exact tie at the 17th digit: glibc rounds half to even.
            (1e15 + 0.25, "1000000000000000.2"),
            (1e15 + 0.75, "1000000000000000.8"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
        ];
        for &(value, want) in cases {
            assert_eq!(format_double(value).as_str(), want, "{value:e}");
        }
    }

    extern "C" {
        fn snprintf(buf: *mut c_char, len: usize, format: *const c_char, ...) -> c_int;
    }

    /// What the C library (the one Redis uses) prints for `%.17g`.
    fn libc_g17(value: f64) -> String {
        let mut buf = [0 as c_char; 64];
        // SAFETY: the buffer is 64 bytes and snprintf writes at most that,
        // NUL included; the format takes exactly one double.
        unsafe {
            snprintf(buf.as_mut_ptr(), buf.len(), c"%.17g".as_ptr(), value);
            CStr::from_ptr(buf.as_ptr()).to_str().unwrap().to_owned()
        }
    }

    proptest! {
        #[test]
        fn double_matches_libc(bits in any::<u64>()) {
            let value = f64::from_bits(bits);
            prop_assert_eq!(format_double(value).as_str().to_owned(), libc_g17(value));
        }

        #[test]
        fn double_matches_libc_near_powers_of_ten(mantissa in 1u64..100_000, exponent in -30i32..30) {
            let value = mantissa as f64 * 10f64.powi(exponent);
            prop_assert_eq!(format_double(value).as_str().to_owned(), libc_g17(value));
        }
    }
}
