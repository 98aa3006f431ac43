//! The request decoder: bytes from a client in, one command's arguments out.
//!
//! A request is either a multibulk (`*<n>\r\n` then `n` times
//! `$<len>\r\n<payload>\r\n`, what every client library sends) or an inline
//! line (`SET a b\n`, what `telnet` sends). Like Redis, the first byte decides:
//! `*` means multibulk, anything else inline.
//!
//! This is a port of Redis 7.0.15's `processMultibulkBuffer` and
//! `processInlineBuffer` (networking.c), and it keeps their quirks on purpose,
//! because clients and tests depend on the exact behaviour:
//! - Lines are found with `strchr`, which stops at a NUL byte. So a count line
//!   or inline line with a NUL before its terminator never ends: the decoder
//!   waits until more than 64 KiB are buffered, then reports "too big ...".
//! - A count line ends at its first `\r`; the byte after it is skipped without
//!   being checked (Redis only waits until it has arrived). Likewise the two
//!   bytes after a bulk payload are skipped, not checked to be CRLF.
//! - `*<n>` with `n <= 0` (`*0`, `*-1`, `*-5`) is an empty command, as is a
//!   blank inline line; both return `Ok(true)` with no arguments.
//! - Numbers are Redis's strict `string2ll`: no `+`, no leading zeros, no
//!   spaces, no `-0`, at most 20 characters.
//! - The "too big" limits apply to whatever is buffered when the decoder is
//!   called. Redis reads 16 KiB at a time, so the exact line length at which
//!   it gives up depends on its reads; ours depends on the caller's.
//!
//! Where redraft is stricter than Redis: at most [`ARGS_MAX`] (1M) arguments
//! per command; Redis 7.0 accepts up to `INT_MAX`. A larger count gets Redis's
//! own "invalid multibulk length".
//!
//! Invariants:
//! - Between calls the caller only appends to `buf` (or drops the decoder);
//!   the decoder keeps offsets into it, and asserts that it did not shrink.
//! - On `Ok(false)` and on `Err` the buffer is untouched; on `Ok(true)` exactly
//!   the command's bytes have been removed from its front.
//! - Every byte of a multibulk's header lines is searched at most once (plus
//!   one byte when a line's `\r` is the last byte buffered), however many
//!   reads the command arrives in; payloads are skipped by length, not
//!   scanned.

use bytes::{Bytes, BytesMut};
use memchr::memchr2;

use super::ProtocolError;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest an inline request, or a count
/// line of a multibulk, may be while its terminator has not arrived.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Redis's default `proto-max-bulk-len` (512 MiB): the longest argument.
pub const BULK_MAX_BYTES: usize = 512 * 1024 * 1024;
/// The most arguments one command may have (DESIGN.md: "at most 1M").
pub const ARGS_MAX: usize = 1024 * 1024;
/// Redis refuses multibulks longer than this before AUTH.
const UNAUTH_ARGS_MAX: i64 = 10;
/// Redis refuses arguments longer than this before AUTH.
const UNAUTH_BULK_MAX_BYTES: i64 = 16 * 1024;
/// Redis checks counts against `INT_MAX` before the auth limit; we keep that
/// order so an unauthenticated `*100000000` gets Redis's text.
const REDIS_COUNT_MAX: i64 = i32::MAX as i64;
/// Spans reserved up front for a multibulk, whatever count it announces (as
/// Redis does), so `*1000000` alone cannot make us allocate 16 MB.
const SPANS_RESERVE_MAX: usize = 1024;
/// Above this many spans of capacity, the scratch is shrunk after a command,
/// so one huge command does not pin megabytes for the connection's life.
const SPANS_KEEP_MAX: usize = 64 * 1024;

/// Decodes commands from a connection's read buffer, one at a time,
/// resuming where it stopped when a command arrives in pieces.
#[derive(Debug, Default)]
pub struct CommandDecoder {
    /// Where we are in the command at the front of the buffer.
    state: State,
    /// The `(start, end)` offsets, from the buffer's front, of the multibulk
    /// arguments parsed so far; reused from command to command.
    spans: Vec<(usize, usize)>,
    /// The parsed pieces of an inline request; reused from line to line.
    inline_args: Vec<InlineArg>,
    /// Where the search for the current line's terminator resumes (an offset
    /// from the buffer's front); everything before it has been searched.
    scan_from: usize,
    /// The search for the current line hit a NUL, where Redis's `strchr`
    /// stops: the line can never end, only grow too big.
    scan_hit_nul: bool,
    /// Bytes the current argument still needs, for [`Self::bytes_needed_hint`].
    needed_bytes: usize,
    /// The buffer's length when we last returned `Ok(false)`: the caller may
    /// only append, so the next call must see at least this many bytes.
    seen_len: usize,
    /// Total bytes searched for line terminators, so tests can assert that
    /// a command arriving in pieces is not rescanned.
    searched_bytes: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No part of the command at the front of the buffer has been parsed.
    #[default]
    Start,
    /// Inside a multibulk whose count line has been parsed.
    Multibulk {
        /// Arguments still to parse.
        remaining: usize,
        /// Offset of the first unparsed byte.
        pos: usize,
        /// The current argument's length, once its `$<len>` line is parsed.
        bulk_len: Option<usize>,
    },
}

/// One argument of an inline request.
#[derive(Debug)]
enum InlineArg {
    /// Unquoted: a slice of the line, so it can stay zero-copy.
    Span(usize, usize),
    /// Quoted: unescaped into its own bytes.
    Owned(Vec<u8>),
}

/// The result of searching for a line terminator.
enum Line {
    /// Found at this offset, with at least one byte after it.
    End(usize),
    /// Not (yet) found, or found as the very last byte buffered.
    Pending,
}

impl CommandDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tries to decode one command from the front of `buf`.
    ///
    /// - `Ok(true)`: `args` holds the command's arguments (it is cleared
    ///   first), as slices of the consumed bytes (quoted inline arguments are
    ///   copies), and `buf` has been advanced past the command. An empty
    ///   command (`*0`, `*-1`, a blank inline line) has no arguments.
    /// - `Ok(false)`: the command is incomplete; `buf` is untouched, and the
    ///   next call resumes where this one stopped.
    /// - `Err`: a protocol error; the caller replies `-ERR <error>` and closes
    ///   the connection. `buf` is untouched.
    ///
    /// `authenticated` is false while the server requires AUTH and the client
    /// has not passed it; Redis then caps counts and lengths much lower.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        args: &mut Vec<Bytes>,
        authenticated: bool,
    ) -> Result<bool, ProtocolError> {
        args.clear();
        assert!(
            buf.len() >= self.seen_len,
            "read buffer shrank between decode calls ({} < {})",
            buf.len(),
            self.seen_len
        );
        let result = match self.state {
            State::Start if buf.is_empty() => Ok(false),
            State::Start if buf[0] == b'*' => self.multibulk(buf, args, authenticated),
            State::Start => self.inline(buf, args),
            State::Multibulk { .. } => self.multibulk(buf, args, authenticated),
        };
        match result {
            Ok(false) => self.seen_len = buf.len(),
            Ok(true) => {}
            // The connection is closed after an error; reset anyway so the
            // decoder is never left pointing into a buffer it cannot trust.
            Err(_) => self.reset(),
        }
        result
    }

    /// At least how many more bytes the partial command at the front of the
    /// buffer needs: the rest of the argument being read, when its length is
    /// known. 0 when nothing is known (between commands, or inside a line).
    pub fn bytes_needed_hint(&self) -> usize {
        self.needed_bytes
    }

    /// Bytes searched for line terminators so far (tests only).
    #[cfg(test)]
    fn searched_bytes(&self) -> u64 {
        self.searched_bytes
    }

    fn reset(&mut self) {
        self.state = State::Start;
        self.spans.clear();
        if self.spans.capacity() > SPANS_KEEP_MAX {
            self.spans.shrink_to(SPANS_RESERVE_MAX);
        }
        self.inline_args.clear();
        self.seen_len = 0;
        self.start_line(0);
    }

    /// Starts searching for a new line's terminator at `pos`.
    fn start_line(&mut self, pos: usize) {
        self.scan_from = pos;
        self.scan_hit_nul = false;
        self.needed_bytes = 0;
    }

    /// Searches for `needle` from where the last search stopped, stopping at
    /// a NUL as C's `strchr` does.
    fn find(&mut self, buf: &[u8], needle: u8) -> Option<usize> {
        if self.scan_hit_nul {
            return None;
        }
        let from = self.scan_from;
        match memchr2(needle, 0, &buf[from..]) {
            Some(i) => {
                self.searched_bytes += i as u64 + 1;
                self.scan_from = from + i;
                if buf[from + i] == needle {
                    Some(from + i)
                } else {
                    self.scan_hit_nul = true;
                    None
                }
            }
            None => {
                self.searched_bytes += (buf.len() - from) as u64;
                self.scan_from = buf.len();
                None
            }
        }
    }

    /// Finds the `\r` ending a count line that starts at `line_start`.
    /// Like Redis, the line is complete only once one more byte (normally
    /// the `\n`, never checked) has arrived; with no `\r` and more than 64
    /// KiB buffered from `line_start`, it is `too_big`.
    fn count_line(
        &mut self,
        buf: &[u8],
        line_start: usize,
        too_big: ProtocolError,
    ) -> Result<Line, ProtocolError> {
        match self.find(buf, b'\r') {
            None if buf.len() - line_start > INLINE_MAX_BYTES => Err(too_big),
            None => Ok(Line::Pending),
            Some(cr) if cr + 1 == buf.len() => Ok(Line::Pending),
            Some(cr) => Ok(Line::End(cr)),
        }
    }

    fn multibulk(
        &mut self,
        buf: &mut BytesMut,
        args: &mut Vec<Bytes>,
        authenticated: bool,
    ) -> Result<bool, ProtocolError> {
        let (mut remaining, mut pos, mut bulk_len) = match self.state {
            State::Start => match self.multibulk_count(buf, authenticated)? {
                None => return Ok(false),
                Some((0, pos)) => return Ok(self.finish(buf, pos, args)),
                Some((count, pos)) => (count, pos, None),
            },
            State::Multibulk {
                remaining,
                pos,
                bulk_len,
            } => (remaining, pos, bulk_len),
        };
        while remaining > 0 {
            let len = match bulk_len {
                Some(len) => len,
                None => match self.bulk_header(buf, pos, authenticated)? {
                    Some((len, next)) => {
                        pos = next;
                        len
                    }
                    None => break,
                },
            };
            // +2: the CRLF after the payload, skipped without being checked.
            if buf.len() - pos < len + 2 {
                bulk_len = Some(len);
                self.needed_bytes = len + 2 - (buf.len() - pos);
                break;
            }
            self.spans.push((pos, pos + len));
            pos += len + 2;
            remaining -= 1;
            bulk_len = None;
            self.start_line(pos);
        }
        if remaining == 0 {
            return Ok(self.finish(buf, pos, args));
        }
        self.state = State::Multibulk {
            remaining,
            pos,
            bulk_len,
        };
        Ok(false)
    }

    /// Parses `*<count>\r?` at the buffer's front. Returns the count (0 for
    /// an empty command) and the offset after the line, or `None` if the
    /// line is incomplete.
    fn multibulk_count(
        &mut self,
        buf: &[u8],
        authenticated: bool,
    ) -> Result<Option<(usize, usize)>, ProtocolError> {
        let cr = match self.count_line(buf, 0, ProtocolError::TooBigMultibulkCount)? {
            Line::End(cr) => cr,
            Line::Pending => return Ok(None),
        };
        let count = match parse_i64(&buf[1..cr]) {
            Some(count) if count <= REDIS_COUNT_MAX => count,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if count > UNAUTH_ARGS_MAX && !authenticated {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        if count > ARGS_MAX as i64 {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        let pos = cr + 2;
        self.start_line(pos);
        let count = usize::try_from(count).unwrap_or(0);
        self.spans.clear();
        self.spans.reserve(count.min(SPANS_RESERVE_MAX));
        Ok(Some((count, pos)))
    }

    /// Parses `$<len>\r?` at `pos`. Returns the length and the offset of the
    /// payload, or `None` if the line is incomplete.
    fn bulk_header(
        &mut self,
        buf: &[u8],
        pos: usize,
        authenticated: bool,
    ) -> Result<Option<(usize, usize)>, ProtocolError> {
        let cr = match self.count_line(buf, pos, ProtocolError::TooBigBulkCount)? {
            Line::End(cr) => cr,
            Line::Pending => return Ok(None),
        };
        if buf[pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[pos]));
        }
        let len = match parse_i64(&buf[pos + 1..cr]) {
            Some(len) if (0..=BULK_MAX_BYTES as i64).contains(&len) => len,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        if len > UNAUTH_BULK_MAX_BYTES && !authenticated {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        Ok(Some((len as usize, cr + 2)))
    }

    /// Takes the command's `consumed` bytes off the buffer and hands out the
    /// parsed spans as slices of them. Always returns true (for `Ok(..)`).
    fn finish(&mut self, buf: &mut BytesMut, consumed: usize, args: &mut Vec<Bytes>) -> bool {
        assert!(consumed <= buf.len(), "command ends past the buffer");
        let command = buf.split_to(consumed).freeze();
        args.reserve(self.spans.len());
        args.extend(
            self.spans
                .iter()
                .map(|&(start, end)| command.slice(start..end)),
        );
        self.reset();
        true
    }

    fn inline(&mut self, buf: &mut BytesMut, args: &mut Vec<Bytes>) -> Result<bool, ProtocolError> {
        let Some(newline) = self.find(buf, b'\n') else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(false);
        };
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        self.inline_args.clear();
        split_inline(&buf[..line_end], &mut self.inline_args)?;
        let line = buf.split_to(newline + 1).freeze();
        args.reserve(self.inline_args.len());
        args.extend(self.inline_args.drain(..).map(|arg| match arg {
            InlineArg::Span(start, end) => line.slice(start..end),
            InlineArg::Owned(bytes) => Bytes::from(bytes),
        }));
        self.reset();
        Ok(true)
    }
}

/// C's `isspace` in the "C" locale (Redis never sets `LC_CTYPE`).
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis's `sdssplitargs`, on a line that holds no NUL (the line search
/// stops at one). Unquoted tokens end at space, tab, CR or LF (not at `\v` or
/// `\f`, which only count as blanks between tokens). A quote may start
/// mid-token (`ab"cd"` is `abcd`); the closing quote ends the token and must
/// be followed by a blank or the end of the line.
fn split_inline(line: &[u8], out: &mut Vec<InlineArg>) -> Result<(), ProtocolError> {
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(());
        }
        let start = p;
        while p < line.len() && !matches!(line[p], b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'') {
            p += 1;
        }
        match line.get(p) {
            Some(&quote @ (b'"' | b'\'')) => {
                let mut token = line[start..p].to_vec();
                p = if quote == b'"' {
                    unquote_double(line, p + 1, &mut token)?
                } else {
                    unquote_single(line, p + 1, &mut token)?
                };
                out.push(InlineArg::Owned(token));
            }
            _ => {
                out.push(InlineArg::Span(start, p));
                p = (p + 1).min(line.len());
            }
        }
    }
}

/// Unescapes a double-quoted string whose content starts at `p`, appending
/// it to `token`; returns the offset after the closing quote. Escapes:
/// `\xHH`, `\n \r \t \b \a`, and `\<c>` for any other `c` is `c`.
fn unquote_double(line: &[u8], mut p: usize, token: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(p) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'\\') if line.get(p + 1) == Some(&b'x') => {
                match (hex_value(line.get(p + 2)), hex_value(line.get(p + 3))) {
                    (Some(high), Some(low)) => {
                        token.push(high * 16 + low);
                        p += 4;
                    }
                    // Not a hex escape: `\x` is plain `x`.
                    _ => {
                        token.push(b'x');
                        p += 2;
                    }
                }
            }
            Some(b'\\') if p + 1 < line.len() => {
                token.push(match line[p + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                p += 2;
            }
            Some(b'"') => return close_quote(line, p),
            Some(&byte) => {
                token.push(byte);
                p += 1;
            }
        }
    }
}

/// Like [`unquote_double`] for single quotes, whose only escape is `\'`.
fn unquote_single(line: &[u8], mut p: usize, token: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(p) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'\\') if line.get(p + 1) == Some(&b'\'') => {
                token.push(b'\'');
                p += 2;
            }
            Some(b'\'') => return close_quote(line, p),
            Some(&byte) => {
                token.push(byte);
                p += 1;
            }
        }
    }
}

/// A closing quote at `p` must be followed by a blank or the end.
fn close_quote(line: &[u8], p: usize) -> Result<usize, ProtocolError> {
    match line.get(p + 1) {
        Some(&next) if !is_c_space(next) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(p + 1),
    }
}

fn hex_value(byte: Option<&u8>) -> Option<u8> {
    match *byte? {
        digit @ b'0'..=b'9' => Some(digit - b'0'),
        letter @ b'a'..=b'f' => Some(letter - b'a' + 10),
        letter @ b'A'..=b'F' => Some(letter - b'A' + 10),
        _ => None,
    }
}

/// Redis's strict `string2ll`: an optional `-`, then `0` alone or a digit
/// 1-9 followed by digits; nothing else, at most 20 bytes, no overflow.
pub(crate) fn parse_i64(text: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: Redis rejects 21 bytes or more outright.
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        // -(i64::MIN) does not fit in an i64; go through i128.
        i64::try_from(-i128::from(value)).ok()
    } else {
        i64::try_from(value).ok()
    }
}

#[cfg(test)]
mod tests {
    //! The case table lives in testdata/decode.txt (format described there);
    //! each case is run whole, split at every offset, and byte by byte. The
    //! same table was replayed against redis-server 7.0.15 with
    //! testdata/check_against_redis.py: 100 cases agree on replies, MONITOR
    //! arguments, error bytes and connection close; the one case marked
    //! `redis-differs` (more than 1M arguments) is our deliberate limit.

    use bytes::{BufMut, Bytes, BytesMut};
    use proptest::prelude::*;

    use super::*;
    use crate::resp::Frame;

    /// What one decode call gave.
    #[derive(Clone, PartialEq, Eq)]
    enum Outcome {
        Command(Vec<Vec<u8>>),
        More,
        /// The exact bytes Redis would send after `-ERR `.
        Error(Vec<u8>),
    }

    /// Shows bytes escaped and cut to 40, so a failing 64 KiB case stays readable.
    fn show(bytes: &[u8]) -> String {
        let shown: String = bytes
            .iter()
            .take(40)
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        if bytes.len() > 40 {
            format!("\"{shown}\"...({} bytes)", bytes.len())
        } else {
            format!("\"{shown}\"")
        }
    }

    impl std::fmt::Debug for Outcome {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Outcome::Command(args) => {
                    let args: Vec<String> = args.iter().map(|arg| show(arg)).collect();
                    write!(f, "ok {}", args.join(" "))
                }
                Outcome::More => f.write_str("more"),
                Outcome::Error(text) => write!(f, "err {}", show(text)),
            }
        }
    }

    #[derive(Debug)]
    struct Case {
        /// Line of the case's first input line in decode.txt.
        line: usize,
        input: Vec<u8>,
        authenticated: bool,
        expected: Vec<Outcome>,
    }

    /// Unescapes \r \n \t \0 \\ \" \xHH and \{N*c}.
    fn unescape(text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'\\' {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
            match bytes[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                b'{' => {
                    let end = i + text[i..].find('}').unwrap();
                    let (count, byte) = text[i + 2..end].split_once('*').unwrap();
                    assert_eq!(byte.len(), 1, "repeat one character: {text}");
                    let count: usize = count.parse().unwrap();
                    out.extend(std::iter::repeat_n(byte.as_bytes()[0], count));
                    i = end - 1;
                }
                other => out.push(other),
            }
            i += 2;
        }
        out
    }

    /// `"a" "b c"` -> [a, b c].
    fn parse_args(text: &str) -> Vec<Vec<u8>> {
        let mut args = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            assert!(rest.starts_with('"'), "argument must be quoted: {rest}");
            let bytes = rest.as_bytes();
            let mut end = 1;
            while bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            args.push(unescape(&rest[1..end]));
            rest = rest[end + 1..].trim_start();
        }
        args
    }

    fn cases() -> Vec<Case> {
        let mut cases: Vec<Case> = Vec::new();
        let mut expecting = false;
        for (index, line) in include_str!("testdata/decode.txt").lines().enumerate() {
            if line.is_empty() || line.starts_with('#') || line == "redis-differs" {
                continue;
            }
            let input = line
                .strip_prefix("> ")
                .map(|rest| (rest, true))
                .or_else(|| line.strip_prefix("u> ").map(|rest| (rest, false)));
            if let Some((bytes, authenticated)) = input {
                if expecting || cases.is_empty() {
                    cases.push(Case {
                        line: index + 1,
                        input: Vec::new(),
                        authenticated,
                        expected: Vec::new(),
                    });
                }
                expecting = false;
                cases.last_mut().unwrap().input.extend(unescape(bytes));
                continue;
            }
            expecting = true;
            let case = cases.last_mut().expect("expectation before any input");
            let outcome = if line == "more" {
                Outcome::More
            } else if let Some(text) = line.strip_prefix("err ") {
                Outcome::Error(unescape(text))
            } else if let Some(args) = line.strip_prefix("ok") {
                Outcome::Command(parse_args(args))
            } else {
                panic!("decode.txt:{}: bad line {line:?}", index + 1);
            };
            case.expected.push(outcome);
        }
        assert!(cases.len() > 100, "decode.txt has {} cases", cases.len());
        cases
    }

    /// Decodes until the buffer is empty, incomplete or bad, checking that
    /// `Ok(false)` and `Err` leave the buffer untouched.
    fn drain(decoder: &mut CommandDecoder, buf: &mut BytesMut, auth: bool) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let mut args = Vec::new();
        loop {
            let before = buf.clone();
            match decoder.decode(buf, &mut args, auth) {
                Ok(true) => {
                    outcomes.push(Outcome::Command(args.iter().map(|a| a.to_vec()).collect()));
                    if buf.is_empty() {
                        return outcomes;
                    }
                }
                Ok(false) => {
                    assert_eq!(*buf, before, "Ok(false) changed the buffer");
                    outcomes.push(Outcome::More);
                    return outcomes;
                }
                Err(error) => {
                    assert_eq!(*buf, before, "Err changed the buffer");
                    let mut message = BytesMut::new();
                    error.write_message(&mut message);
                    outcomes.push(Outcome::Error(message.to_vec()));
                    return outcomes;
                }
            }
        }
    }

    /// Feeds `input` in `pieces`, decoding after each; the `More` of every
    /// piece but the last is dropped, since more input was still to come.
    fn feed(input: &[u8], cuts: &[usize], auth: bool) -> Vec<Outcome> {
        let mut decoder = CommandDecoder::new();
        let mut buf = BytesMut::new();
        let mut outcomes = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain([&input.len()]) {
            buf.put_slice(&input[start..end]);
            start = end;
            if outcomes.last() == Some(&Outcome::More) {
                outcomes.pop();
            }
            if matches!(outcomes.last(), Some(Outcome::Error(_))) {
                break;
            }
            if !buf.is_empty() {
                outcomes.extend(drain(&mut decoder, &mut buf, auth));
            }
        }
        outcomes
    }

    #[test]
    fn table_whole() {
        for case in cases() {
            let outcomes = feed(&case.input, &[], case.authenticated);
            assert_eq!(outcomes, case.expected, "decode.txt:{}", case.line);
        }
    }

    #[test]
    fn table_split_at_every_offset() {
        for case in cases().iter().filter(|case| case.input.len() <= 4096) {
            for cut in 0..case.input.len() {
                let outcomes = feed(&case.input, &[cut], case.authenticated);
                assert_eq!(
                    outcomes, case.expected,
                    "decode.txt:{} cut at {cut}",
                    case.line
                );
            }
        }
    }

    /// Byte by byte, a line longer than 64 KiB is rejected before its end
    /// arrives (the limits apply to what is buffered), so the cases that
    /// accept such a line are skipped.
    #[test]
    fn table_byte_by_byte() {
        let chunking_free = |case: &Case| {
            case.input.len() <= INLINE_MAX_BYTES
                || !matches!(case.expected.last(), Some(Outcome::Command(_)))
        };
        for case in cases().into_iter().filter(chunking_free) {
            let cuts: Vec<usize> = (1..case.input.len()).collect();
            let outcomes = feed(&case.input, &cuts, case.authenticated);
            assert_eq!(
                outcomes, case.expected,
                "decode.txt:{} byte by byte",
                case.line
            );
        }
    }

    #[test]
    fn display_matches_redis_text() {
        // Display is what the connection logs; write_message is what it sends.
        assert_eq!(
            ProtocolError::ExpectedDollar(b':').to_string(),
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(b'\n').to_string(),
            "Protocol error: expected '$', got ' '"
        );
        assert_eq!(
            ProtocolError::InvalidMultibulkLength.to_string(),
            "Protocol error: invalid multibulk length"
        );
    }

    #[test]
    fn args_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let start = buf.as_ptr() as usize;
        let mut args = Vec::new();
        assert_eq!(
            CommandDecoder::new().decode(&mut buf, &mut args, true),
            Ok(true)
        );
        assert_eq!(args[0].as_ptr() as usize, start + 8, "GET was copied");
        assert_eq!(args[1].as_ptr() as usize, start + 17, "key was copied");
    }

    #[test]
    fn hint_is_the_rest_of_the_current_argument() {
        let mut decoder = CommandDecoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$100000\r\nab"[..]);
        let mut args = Vec::new();
        assert_eq!(decoder.decode(&mut buf, &mut args, true), Ok(false));
        assert_eq!(decoder.bytes_needed_hint(), 100_000 + 2 - 2);
        buf.put_slice(&[b'x'; 100_000]);
        assert_eq!(decoder.decode(&mut buf, &mut args, true), Ok(true));
        assert_eq!(decoder.bytes_needed_hint(), 0);
        assert_eq!(args[1].len(), 100_000);
    }

    /// A 100k-argument command arriving in 4 KiB reads is searched once:
    /// the decoder resumes where it stopped instead of rescanning (a
    /// rescanning decoder would search about 100k * 1.2 MB / 2 bytes here).
    #[test]
    fn resumes_without_rescanning() {
        let args: Vec<Vec<u8>> = (0..100_000)
            .map(|i| format!("arg{i}").into_bytes())
            .collect();
        let mut encoded = BytesMut::new();
        Frame::command(args.iter().map(|arg| Bytes::copy_from_slice(arg))).encode(&mut encoded);
        let mut decoder = CommandDecoder::new();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut calls = 0u64;
        for piece in encoded.chunks(4096) {
            buf.put_slice(piece);
            calls += 1;
            if decoder.decode(&mut buf, &mut decoded, true).unwrap() {
                break;
            }
        }
        assert!(buf.is_empty());
        assert_eq!(decoded.len(), args.len());
        assert!(decoded
            .iter()
            .zip(&args)
            .all(|(got, want)| got == &want[..]));
        // Each header byte once, plus one byte per call that stopped on a CR.
        let searched = decoder.searched_bytes();
        assert!(
            searched <= encoded.len() as u64 + calls,
            "searched {searched} bytes of {} in {calls} calls",
            encoded.len()
        );
    }

    #[test]
    fn strict_integers() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"7", Some(7)),
            (b"-7", Some(-7)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"", None),
            (b"-", None),
            (b"-0", None),
            (b"00", None),
            (b"01", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1a", None),
            (b"000000000000000000001", None),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_i64(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    proptest! {
        /// Any arguments, sent as clients send them and split anywhere,
        /// come back unchanged.
        #[test]
        fn any_args_round_trip(
            args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut encoded = BytesMut::new();
            Frame::command(args.iter().map(|arg| Bytes::copy_from_slice(arg))).encode(&mut encoded);
            let outcomes = feed(&encoded, &[cut.index(encoded.len())], true);
            prop_assert_eq!(outcomes, vec![Outcome::Command(args)]);
        }

        /// Whatever the bytes, the decoder never panics, and what it
        /// reports is consistent with feeding the same bytes byte by byte.
        #[test]
        fn any_bytes_decode_the_same_in_pieces(
            input in prop::collection::vec(
                prop_oneof![
                    Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'"'),
                    Just(b'\''), Just(b'\\'), Just(b' '), Just(b'1'), Just(b'-'), any::<u8>(),
                ],
                0..64,
            ),
            auth in any::<bool>(),
        ) {
            let whole = feed(&input, &[], auth);
            let cuts: Vec<usize> = (1..input.len()).collect();
            prop_assert_eq!(feed(&input, &cuts, auth), whole);
        }
    }
}
