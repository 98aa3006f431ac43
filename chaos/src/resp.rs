//! A small blocking RESP2 client over `std::net::TcpStream`, made for
//! recording histories: every failure says whether the request may have
//! reached the server.
//!
//! - [`ClientError::NotSent`]: the connection could not be opened (or the
//!   write failed before a byte left): the request certainly did nothing.
//! - [`ClientError::Indeterminate`]: it was (or may have been) sent and no
//!   complete reply came: timeout, reset, close mid-reply.
//!
//! Invariants:
//! - One request in flight per connection; a connection that saw an error
//!   is never used again (the caller drops it).
//! - Every read and write has a deadline, so no call blocks for longer than
//!   the connection's timeout.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A reply, as RESP2 encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bulk string as text, if it is one.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Reply::Status(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// Why a call has no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    NotSent(String),
    Indeterminate(String),
}

/// One connection to one node.
pub struct Conn {
    reader: BufReader<TcpStream>,
    pub addr: SocketAddr,
}

/// Largest bulk or array accepted from a server (guards the client).
const ELEMENTS_MAX: i64 = 10_000_000;

impl Conn {
    /// Connects within `timeout`; replies must come within `timeout` too.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| ClientError::NotSent(format!("connect {addr}: {e}")))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| ClientError::NotSent(format!("socket options: {e}")))?;
        Ok(Conn {
            reader: BufReader::new(stream),
            addr,
        })
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        self.send(args)?;
        self.receive()
    }

    /// Sends several commands in one write, then reads one reply each
    /// (MULTI ... EXEC).
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, ClientError> {
        let mut out = Vec::new();
        for command in commands {
            encode(&mut out, command.iter().map(Vec::as_slice));
        }
        self.write_all(&out)?;
        commands.iter().map(|_| self.receive()).collect()
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), ClientError> {
        let mut out = Vec::new();
        encode(&mut out, args.iter().copied());
        self.write_all(&out)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        // A failed write may still have put bytes on the wire.
        self.reader
            .get_mut()
            .write_all(bytes)
            .map_err(|e| ClientError::Indeterminate(format!("write: {e}")))
    }

    fn receive(&mut self) -> Result<Reply, ClientError> {
        read_reply(&mut self.reader).map_err(ClientError::Indeterminate)
    }
}

fn encode<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = Vec::new();
    let read = reader
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("read: {e}"))?;
    if read == 0 || !line.ends_with(b"\r\n") {
        return Err("connection closed mid-reply".into());
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Reads one reply (recursively for arrays).
pub fn read_reply(reader: &mut impl BufRead) -> Result<Reply, String> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || -> Result<i64, String> {
        rest.parse::<i64>()
            .map_err(|_| format!("bad length or integer {rest:?}"))
    };
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            if len > ELEMENTS_MAX {
                return Err(format!("bulk of {len} bytes"));
            }
            let mut data = vec![0; len as usize + 2];
            reader
                .read_exact(&mut data)
                .map_err(|e| format!("read: {e}"))?;
            data.truncate(len as usize);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Array(None));
            }
            if len > ELEMENTS_MAX {
                return Err(format!("array of {len} elements"));
            }
            let items = (0..len)
                .map(|_| read_reply(reader))
                .collect::<Result<_, _>>()?;
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(format!("unexpected reply line {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_kind() {
        let cases: &[(&[u8], Reply)] = &[
            (b"+OK\r\n", Reply::Status("OK".into())),
            (
                b"-MOVED 1 127.0.0.1:7\r\n",
                Reply::Error("MOVED 1 127.0.0.1:7".into()),
            ),
            (b":-3\r\n", Reply::Int(-3)),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"$2\r\nab\r\n", Reply::Bulk(Some(b"ab".to_vec()))),
            (
                b"*2\r\n:1\r\n*0\r\n",
                Reply::Array(Some(vec![Reply::Int(1), Reply::Array(Some(vec![]))])),
            ),
            (b"*-1\r\n", Reply::Array(None)),
        ];
        for (bytes, want) in cases {
            assert_eq!(&read_reply(&mut &bytes[..]).unwrap(), want);
        }
    }

    #[test]
    fn a_cut_reply_is_an_error() {
        assert!(read_reply(&mut &b"$5\r\nab"[..]).is_err());
        assert!(read_reply(&mut &b"+OK"[..]).is_err());
    }
}
