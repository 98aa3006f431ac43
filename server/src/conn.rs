//! One client connection: read, decode every complete command, execute in
//! order, and write all their replies with one write per batch.
//!
//! Invariants:
//! - Commands run in the order they arrived and their replies go out in the
//!   same order.
//! - Replies for a batch of pipelined commands are flushed once, after the
//!   batch, so a pipeline of N commands costs one write.
//! - A protocol error gets `-ERR Protocol error: ...` and closes only this
//!   connection; nothing a client sends can panic the server.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::client::Client;
use crate::cmd::{self, flags, Action, Ctx};
use crate::resp::CommandDecoder;
use crate::resp::ReplyWriter;
use crate::shared::{ExecutorStats, Shared};

/// Bytes to make room for before each read.
const READ_BYTES_MIN: usize = 16 * 1024;
/// Redis's `client-query-buffer-limit`: a client whose unparsed input grows
/// past this is disconnected.
const QUERY_BUFFER_BYTES_MAX: usize = 1024 * 1024 * 1024;

/// Serves one connection until the client leaves, sends QUIT, or breaks
/// the protocol.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, executor: usize) {
    let (Ok(addr), Ok(local_addr)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    // Small replies must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let authenticated = shared.runtime.read().requirepass.is_none();
    let mut client = shared
        .clients
        .connect(addr, local_addr, stream.as_raw_fd(), authenticated);
    let id = client.info.id;
    if let Err(error) = run(&shared, &mut stream, &mut client, executor).await {
        tracing::debug!(client = id, %error, "connection closed");
    }
    shared.clients.disconnect(id);
}

async fn run(
    shared: &Shared,
    stream: &mut TcpStream,
    client: &mut Client,
    executor: usize,
) -> std::io::Result<()> {
    let stats = &shared.executors[executor];
    let mut input = BytesMut::with_capacity(READ_BYTES_MIN);
    let mut output = BytesMut::with_capacity(READ_BYTES_MIN);
    let mut decoder = CommandDecoder::new();
    let mut args: Vec<Bytes> = Vec::with_capacity(8);
    loop {
        input.reserve(READ_BYTES_MIN.max(decoder.bytes_needed_hint()));
        let read = read_some(stream, &mut input).await?;
        if read == 0 {
            return Ok(());
        }
        ExecutorStats::add(&stats.net_input_bytes, read as u64);
        let mut close = false;
        loop {
            match decoder.decode(&mut input, &mut args, client.authenticated) {
                Ok(true) if args.is_empty() => continue,
                Ok(true) => {
                    ExecutorStats::add(&stats.commands, 1);
                    if execute(shared, client, &args, &mut output) {
                        close = true;
                        break;
                    }
                }
                Ok(false) => break,
                Err(error) => {
                    let mut out = ReplyWriter::new(&mut output, client.resp3);
                    out.error_text(&format!("ERR {error}"));
                    close = true;
                    break;
                }
            }
        }
        args.clear();
        if !output.is_empty() {
            stream.write_all(&output).await?;
            ExecutorStats::add(&stats.net_output_bytes, output.len() as u64);
            output.clear();
        }
        if close {
            return Ok(());
        }
        if input.len() > QUERY_BUFFER_BYTES_MAX {
            tracing::warn!(
                client = client.info.id,
                "closing client that reached max query buffer length"
            );
            return Ok(());
        }
    }
}

/// Reads into the spare capacity of `input`, returning the bytes read.
async fn read_some(stream: &mut TcpStream, input: &mut BytesMut) -> std::io::Result<usize> {
    let spare = input.spare_capacity_mut();
    // SAFETY: the slice is only written by recv(2), which never reads it, and
    // only the `read` bytes it reports as written are exposed by `set_len`.
    let spare = unsafe { &mut *(spare as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
    let read = stream.read(spare).await?;
    assert!(read <= spare.len(), "read past the buffer");
    // SAFETY: recv(2) initialised exactly `read` bytes past the old length.
    unsafe { input.set_len(input.len() + read) };
    Ok(read)
}

/// Runs one command and writes its reply into `output`. Returns true if
/// the connection must close after the replies are flushed.
fn execute(shared: &Shared, client: &mut Client, args: &[Bytes], output: &mut BytesMut) -> bool {
    let resp3 = client.resp3;
    let Some((index, spec)) = cmd::lookup_indexed(&args[0]) else {
        let mut out = ReplyWriter::new(output, resp3);
        out.error_text(&cmd::unknown_command_error(&args[0], &args[1..]));
        return false;
    };
    client.info.last_command.store(index + 1, Ordering::Relaxed);
    client.info.last_command_ms.store(
        client.info.connected_at.elapsed().as_millis() as u64,
        Ordering::Relaxed,
    );
    let mut ctx = Ctx {
        shared,
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
            let reply = shared.write_path.submit(ctx.client.db, &op);
            reply.emit(&mut ctx.out);
            false
        }
        Action::Close => true,
    }
}
