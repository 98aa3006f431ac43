//! One client connection as a state machine driven by the event loop:
//! read what the socket has, execute every complete command in order, and
//! write all their replies with one write per batch.
//!
//! Invariants:
//! - Commands run in the order they arrived and their replies go out in the
//!   same order.
//! - A request costs one `recv`, one `send` and a share of one
//!   `epoll_wait`: reading stops at the first short read (the socket is
//!   drained; the edge-triggered poller reports new data), not at EAGAIN.
//! - While replies are waiting for the socket to drain, no more input is
//!   processed, so a client that does not read cannot grow our buffers.
//! - A protocol error gets `-ERR Protocol error: ...` and closes only this
//!   connection; nothing a client sends can panic the server.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use mio::net::TcpStream;

use crate::client::Client;
use crate::cmd::{self, flags, Action, Ctx};
use crate::resp::{CommandDecoder, ReplyWriter};
use crate::shared::{unix_ms, ExecutorStats, Shared};

/// Bytes to make room for before each read (Redis's PROTO_IOBUF_LEN).
const READ_BYTES_MIN: usize = 16 * 1024;
/// Redis's `client-query-buffer-limit`: a client whose unparsed input grows
/// past this is disconnected.
const QUERY_BUFFER_BYTES_MAX: usize = 1024 * 1024 * 1024;
/// Output buffers larger than this are released once drained, so one big
/// reply does not pin memory for the life of the connection.
const OUTPUT_BYTES_KEEP_MAX: usize = 64 * 1024;

/// What the event loop should do with the connection after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait for more input.
    Read,
    /// Replies are waiting for the socket to accept them.
    Write,
    /// Close the connection (after the replies have been flushed).
    Close,
}

/// A client connection and its buffers.
pub struct Conn {
    pub stream: TcpStream,
    pub client: Client,
    input: BytesMut,
    output: BytesMut,
    decoder: CommandDecoder,
    /// Arguments of the command being executed; reused to avoid allocating.
    args: Vec<Bytes>,
    /// Set by QUIT or a protocol error: close once the output is flushed.
    closing: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, client: Client) -> Conn {
        Conn {
            stream,
            client,
            input: BytesMut::with_capacity(READ_BYTES_MIN),
            output: BytesMut::with_capacity(READ_BYTES_MIN),
            decoder: CommandDecoder::new(),
            args: Vec::with_capacity(8),
            closing: false,
        }
    }

    /// Reads what the socket has, executes every complete command and
    /// tries to send the replies.
    ///
    /// The poller is edge-triggered: a read that fills the buffer may have
    /// left data behind, so it reads again; a short read means the socket was
    /// drained, and new data will raise a new edge. That keeps a request to
    /// one `recv` (no extra `recv` just to see EAGAIN).
    pub fn on_readable(&mut self, shared: &Shared, stats: &ExecutorStats) -> Next {
        loop {
            self.input
                .reserve(READ_BYTES_MIN.max(self.decoder.bytes_needed_hint()));
            let room = self.input.capacity() - self.input.len();
            let read = match read_some(&mut self.stream, &mut self.input) {
                Ok(0) => return Next::Close,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Next::Read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            };
            ExecutorStats::add(&stats.net_input_bytes, read as u64);
            self.execute_buffered(shared, stats, unix_ms());
            if !self.closing && self.input.len() > QUERY_BUFFER_BYTES_MAX {
                tracing::warn!(
                    client = self.client.info.id,
                    "closing client that reached max query buffer length"
                );
                return Next::Close;
            }
            let next = self.on_writable(stats);
            if next != Next::Read || read < room {
                return next;
            }
        }
    }

    /// Executes every complete command in the input buffer.
    fn execute_buffered(&mut self, shared: &Shared, stats: &ExecutorStats, now_ms: u64) {
        while !self.closing {
            match self
                .decoder
                .decode(&mut self.input, &mut self.args, self.client.authenticated)
            {
                Ok(true) if self.args.is_empty() => {}
                Ok(true) => {
                    ExecutorStats::add(&stats.commands, 1);
                    self.closing = execute(
                        shared,
                        &mut self.client,
                        &self.args,
                        &mut self.output,
                        now_ms,
                    );
                }
                Ok(false) => break,
                Err(error) => {
                    ReplyWriter::new(&mut self.output, self.client.resp3).protocol_error(&error);
                    self.closing = true;
                }
            }
        }
        self.args.clear();
    }

    /// Sends as much of the pending output as the socket takes.
    pub fn on_writable(&mut self, stats: &ExecutorStats) -> Next {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return Next::Close,
                Ok(written) => {
                    ExecutorStats::add(&stats.net_output_bytes, written as u64);
                    let _ = self.output.split_to(written);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Next::Write,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        if self.output.capacity() > OUTPUT_BYTES_KEEP_MAX {
            self.output = BytesMut::with_capacity(READ_BYTES_MIN);
        }
        if self.closing {
            Next::Close
        } else {
            Next::Read
        }
    }
}

/// Reads once into the spare capacity of `input`, returning the bytes read.
fn read_some(stream: &mut TcpStream, input: &mut BytesMut) -> io::Result<usize> {
    let spare = input.spare_capacity_mut();
    // SAFETY: the slice is only written by recv(2), which never reads it, and
    // only the bytes it reports as written are exposed by `set_len`.
    let spare = unsafe { &mut *(spare as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
    let read = stream.read(spare)?;
    assert!(read <= spare.len(), "read past the buffer");
    // SAFETY: recv(2) initialised exactly `read` bytes past the old length.
    unsafe { input.set_len(input.len() + read) };
    Ok(read)
}

/// Runs one command and writes its reply into `output`. Returns true if
/// the connection must close after the replies are flushed.
fn execute(
    shared: &Shared,
    client: &mut Client,
    args: &[Bytes],
    output: &mut BytesMut,
    now_ms: u64,
) -> bool {
    let resp3 = client.resp3;
    let Some(spec) = cmd::lookup(&args[0]) else {
        let mut out = ReplyWriter::new(output, resp3);
        out.error_text(&cmd::unknown_command_error(&args[0], &args[1..]));
        return false;
    };
    let address = cmd::spec_address(cmd::effective_spec(spec, args));
    client.info.last_command.store(address, Ordering::Relaxed);
    client.info.last_command_ms.store(now_ms, Ordering::Relaxed);
    let mut ctx = Ctx {
        shared,
        now_ms,
        client,
        out: ReplyWriter::new(output, resp3),
    };
    if !spec.arity_ok(args.len()) {
        cmd::arity_error(&mut ctx, spec.name);
        return false;
    }
    if !ctx.client.authenticated && spec.flags & flags::NO_AUTH == 0 {
        ctx.out.error_text("NOAUTH Authentication required.");
        return false;
    }
    match (spec.handler)(&mut ctx, &args[1..]) {
        Action::Replied => false,
        Action::Write(op) => {
            let reply = shared.write_path.submit(ctx.client.db, &op, now_ms);
            reply.emit(&mut ctx.out);
            false
        }
        Action::Close => true,
    }
}
