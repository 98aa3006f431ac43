//! A client connection as the network thread drives it: a transport (the
//! socket) and the session (`crate::session`) that turns its bytes into
//! replies. This file does the I/O and nothing else: it reads what the
//! transport has into the session, and writes the session's output.
//!
//! Invariants:
//! - A request costs one `recv`, one `send` and a share of one
//!   `epoll_wait`: reading stops at the first short read (the socket is
//!   drained; the edge-triggered poller reports new data), not at EAGAIN.
//! - Nothing more runs while output waits for the transport: the session
//!   runs its buffered commands only once its output is sent.

use std::io::{self, Read, Write};

use bytes::BytesMut;
use mio::net::TcpStream;

use crate::session::{Next, Session, Tick};
use crate::shared::ExecutorStats;

/// A byte stream a session is driven over: a socket, or the in-memory
/// pipe of the session's scenario tests.
pub trait Transport {
    /// Reads what is available into the spare capacity of `input`,
    /// extending it; returns how many bytes (0 at the end of the stream),
    /// or `WouldBlock` when nothing is available yet.
    fn recv(&mut self, input: &mut BytesMut) -> io::Result<usize>;
    /// Writes a prefix of `bytes`; returns how many, or `WouldBlock`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<usize>;
}

impl Transport for TcpStream {
    fn recv(&mut self, input: &mut BytesMut) -> io::Result<usize> {
        let spare = input.spare_capacity_mut();
        // SAFETY: the slice is only written by recv(2), which never reads
        // it, and only the bytes it reports as written are exposed by
        // `set_len`.
        let spare = unsafe { &mut *(spare as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
        let read = self.read(spare)?;
        assert!(read <= spare.len(), "read past the buffer");
        // SAFETY: recv(2) initialised exactly `read` bytes past the old length.
        unsafe { input.set_len(input.len() + read) };
        Ok(read)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write(bytes)
    }
}

/// One connection: its transport and its session.
pub struct Conn<T> {
    pub transport: T,
    pub session: Session,
    /// The poller watches for writability (output waits for the transport).
    pub writing: bool,
}

impl<T: Transport> Conn<T> {
    pub fn new(transport: T, session: Session) -> Conn<T> {
        Conn {
            transport,
            session,
            writing: false,
        }
    }

    /// Reads what the transport has, runs every complete command and tries
    /// to send the replies.
    ///
    /// The poller is edge-triggered: a read that fills the buffer may have
    /// left data behind, so it reads again; a short read means the socket
    /// was drained, and new data will raise a new edge. That keeps a
    /// request to one `recv` (no extra `recv` just to see EAGAIN). Input
    /// keeps being read while a command is held (up to the query buffer
    /// limit, as Redis does), so no edge is lost.
    ///
    /// `read_closed`: the poller says the peer has shut its side (the FIN
    /// may have come with the data, and no further edge will come for it),
    /// so reading goes on until it sees the end.
    pub fn on_readable(&mut self, tick: &mut Tick<'_>, read_closed: bool) -> Next {
        if self.session.peer_closed() {
            return self.flush(tick.stats);
        }
        loop {
            let input = self.session.input_for_read();
            let room = input.capacity() - input.len();
            let read = match self.transport.recv(input) {
                Ok(0) => return self.on_eof(tick.stats),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Next::Read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            };
            if !self.session.on_received(tick, read) {
                return Next::Close;
            }
            let next = self.flush(tick.stats);
            if next != Next::Read || (read < room && !read_closed) {
                return next;
            }
        }
    }

    /// The transport reached its end: close now, or once every command
    /// already received is answered.
    fn on_eof(&mut self, stats: &ExecutorStats) -> Next {
        if self.session.on_eof() {
            return Next::Close;
        }
        self.flush(stats)
    }

    /// After a write outcome, a read check or a timer: runs the held
    /// command if it may now run, then whatever input is buffered behind
    /// it, and sends what is ready.
    pub fn resume(&mut self, tick: &mut Tick<'_>) -> Next {
        self.session.prepare_resume(tick);
        if self.session.finished() {
            return Next::Close;
        }
        if self.writing {
            // The transport is full; the writable event drives us on.
            return Next::Write;
        }
        self.session.run_buffered(tick);
        self.drive(tick)
    }

    /// Flushes, then runs whatever may run now that the output drained (a
    /// command released while replies were waiting for the transport),
    /// until nothing more runs or the transport is full again.
    pub fn drive(&mut self, tick: &mut Tick<'_>) -> Next {
        loop {
            let next = self.flush(tick.stats);
            if next != Next::Read {
                return next;
            }
            self.session.run_buffered(tick);
            if self.session.output().is_empty() {
                return Next::Read;
            }
        }
    }

    /// Sends as much of the session's output as the transport takes.
    pub fn flush(&mut self, stats: &ExecutorStats) -> Next {
        self.session.note_output_peak();
        while !self.session.output().is_empty() {
            match self.transport.send(self.session.output()) {
                Ok(0) => return Next::Close,
                Ok(written) => self.session.on_sent(written, stats),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Next::Write,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        self.session.on_drained()
    }

    /// Publishes what `CLIENT LIST` shows of this connection.
    pub fn publish_figures(&self) {
        self.session.publish_figures(self.writing);
    }
}
