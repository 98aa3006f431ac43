//! Accepting on one network thread's listener, so that running out of
//! descriptors (or memory) never stops the listener for good.
//!
//! The listener is registered edge-triggered: epoll reports it once when
//! connections arrive, and not again until another one does. A pass that
//! stops before the kernel's queue is empty must therefore arrange its own
//! next pass, or the queued connections wait forever, and once the queue
//! is full no new connection arrives to raise another edge. So a pass
//! ([`Acceptor::accept_pending`]) ends in one of three ways:
//! - the queue is empty (`WouldBlock`): the next edge comes with the next
//!   connection;
//! - the pass's budget ([`ACCEPTS_PER_PASS_MAX`], Redis's
//!   `MAX_ACCEPTS_PER_CALL`) is spent: the next pass runs at the next tick;
//! - accept keeps failing for want of resources: the next pass runs after
//!   [`RETRY_INTERVAL`], and again after each failure, never sooner (no
//!   busy loop).
//!
//! Out of descriptors (`EMFILE`/`ENFILE`), accept fails whether or not a
//! connection is queued, and the queued ones would sit there. As libev and
//! nginx do, the listener keeps one spare descriptor: it closes it, accepts
//! one connection, answers it Redis's `-ERR max number of clients reached`,
//! closes it and takes the spare back. The queue drains, every client gets
//! an answer at once, and a client that retries is served as soon as
//! descriptors are free again. With `maxclients` fitted to the limit
//! (`fd_limit.rs`) this is the last line of defence: it matters only when
//! something else has used the descriptors that were kept in reserve.
//!
//! While accept fails, the listener is reported as failing
//! (`admission.rs`, `/health`). It is reported recovered when an accept
//! succeeds without the spare, or when a probe (taking one more
//! descriptor, at each retry) finds one free again.
//!
//! Invariants:
//! - Every pass that does not end with `WouldBlock` leaves a retry time set.
//! - The spare is given up only to accept one connection, and taken back
//!   right after.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};

use crate::client::Client;
use crate::shared::Shared;

/// Most connections accepted in one pass, so a flood of connections does
/// not delay the thread's clients (Redis's `MAX_ACCEPTS_PER_CALL`).
pub const ACCEPTS_PER_PASS_MAX: usize = 1000;
/// How soon accept is tried again while it fails for want of resources:
/// short next to a client's connect timeout, long enough that a starved
/// thread wakes only ten times a second.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// What an accept error means for the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptError {
    /// The queue is empty.
    Drained,
    /// This connection failed (reset before it was accepted, a signal,
    /// a network error Linux reports on accept): go on with the next.
    Connection,
    /// No descriptor for a new connection, in the process or the system.
    NoDescriptors,
    /// Out of memory or buffers, or an error that should not happen: try
    /// again later.
    Resources,
}

fn classify(error: &io::Error) -> AcceptError {
    if error.kind() == io::ErrorKind::WouldBlock {
        return AcceptError::Drained;
    }
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => AcceptError::NoDescriptors,
        // accept(2): "Linux accept() passes already-pending network errors
        // on the new socket as an error code from accept()"; and EPERM is a
        // firewall's refusal of this connection.
        Some(
            libc::EINTR
            | libc::ECONNABORTED
            | libc::EPROTO
            | libc::EPERM
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH,
        ) => AcceptError::Connection,
        _ => AcceptError::Resources,
    }
}

/// One network thread's listener and its accept state.
pub struct Acceptor {
    listener: TcpListener,
    /// This thread's index, under which the listener's state is reported.
    executor: usize,
    /// A descriptor kept in reserve (a duplicate of the listener's), given
    /// up to accept and refuse one connection when descriptors run out.
    /// `None` while another thread or task holds the number it freed.
    spare: Option<OwnedFd>,
    /// When the next pass must run without an edge; `None` when the last
    /// pass emptied the queue.
    retry_at: Option<Instant>,
    /// Whether accept is failing (mirrors what `Admission` reports, so the
    /// shared state is touched only on a change).
    failing: bool,
}

impl Acceptor {
    pub fn new(listener: TcpListener, executor: usize) -> io::Result<Acceptor> {
        let spare = Some(listener.as_fd().try_clone_to_owned()?);
        Ok(Acceptor {
            listener,
            executor,
            spare,
            retry_at: None,
            failing: false,
        })
    }

    /// The listener, to register with the poller.
    pub fn listener_mut(&mut self) -> &mut TcpListener {
        &mut self.listener
    }

    /// How long the poller may sleep before the next pass is due, if one
    /// is.
    pub fn timeout(&self) -> Option<Duration> {
        self.retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether a pass is due without an edge.
    pub fn due(&self) -> bool {
        self.retry_at.is_some_and(|at| at <= Instant::now())
    }

    /// Accepts the queued connections: each one `shared` admits (under
    /// `maxclients`) goes to `admit` with its client state; the others are
    /// refused with Redis's error.
    pub fn accept_pending(&mut self, shared: &Shared, mut admit: impl FnMut(TcpStream, Client)) {
        self.retry_at = None;
        if self.spare.is_none() {
            self.spare = self.listener.as_fd().try_clone_to_owned().ok();
        }
        for _ in 0..ACCEPTS_PER_PASS_MAX {
            let error = match self.listener.accept() {
                Ok((stream, addr)) => {
                    self.recovered(shared);
                    take(shared, stream, addr, &mut admit);
                    continue;
                }
                Err(error) => error,
            };
            match classify(&error) {
                AcceptError::Drained => {
                    self.probe(shared);
                    return;
                }
                AcceptError::Connection => {}
                AcceptError::NoDescriptors => {
                    self.fail(shared, &error);
                    match self.refuse_with_spare(shared) {
                        Ok(true) => {}
                        Ok(false) => return self.retry_later(),
                        Err(error) => {
                            self.fail(shared, &error);
                            return self.retry_later();
                        }
                    }
                }
                AcceptError::Resources => {
                    self.fail(shared, &error);
                    return self.retry_later();
                }
            }
        }
        // Connections may still be queued, and no edge will come for them.
        self.retry_at = Some(Instant::now());
    }

    /// Gives up the spare to accept one connection and refuse it. `Ok(true)`
    /// if one was refused, `Ok(false)` if none was queued (the queue is
    /// drained; a probe is due later) or there was no spare.
    fn refuse_with_spare(&mut self, shared: &Shared) -> io::Result<bool> {
        let Some(spare) = self.spare.take() else {
            return Ok(false);
        };
        drop(spare);
        let outcome = match self.listener.accept() {
            Ok((stream, _)) => {
                shared.admission.refuse(&stream);
                // Closed before the spare is taken back: it needs the
                // number this connection holds.
                drop(stream);
                Ok(true)
            }
            Err(error) => match classify(&error) {
                AcceptError::Drained => Ok(false),
                AcceptError::Connection => Ok(true),
                AcceptError::NoDescriptors | AcceptError::Resources => Err(error),
            },
        };
        self.spare = self.listener.as_fd().try_clone_to_owned().ok();
        outcome
    }

    /// The queue is empty. If accept was failing, checks whether a
    /// descriptor is free now (beside the spare); if not, probes again later.
    fn probe(&mut self, shared: &Shared) {
        if !self.failing {
            return;
        }
        if self.spare.is_some() {
            if let Ok(probe) = self.listener.as_fd().try_clone_to_owned() {
                drop(probe);
                self.recovered(shared);
                return;
            }
        }
        self.retry_later();
    }

    fn retry_later(&mut self) {
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
    }

    fn fail(&mut self, shared: &Shared, error: &io::Error) {
        self.failing = true;
        shared.admission.listener_failing(self.executor, error);
    }

    fn recovered(&mut self, shared: &Shared) {
        if self.failing {
            self.failing = false;
            shared.admission.listener_recovered(self.executor);
        }
    }
}

/// Admits `stream` as a new client if `maxclients` allows it, else
/// refuses it.
fn take(
    shared: &Shared,
    stream: TcpStream,
    addr: SocketAddr,
    admit: &mut impl FnMut(TcpStream, Client),
) {
    use std::os::fd::AsRawFd;
    let authenticated = shared.runtime.read().requirepass.is_none();
    let local_addr = stream.local_addr().unwrap_or(addr);
    let maxclients = shared.admission.maxclients();
    let client = shared.clients.connect_within(
        maxclients,
        addr,
        local_addr,
        stream.as_raw_fd(),
        authenticated,
    );
    match client {
        Some(client) => {
            // Small replies must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            admit(stream, client);
        }
        None => shared.admission.refuse(&stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_classified() {
        let cases = [
            (libc::EAGAIN, AcceptError::Drained),
            (libc::EMFILE, AcceptError::NoDescriptors),
            (libc::ENFILE, AcceptError::NoDescriptors),
            (libc::ECONNABORTED, AcceptError::Connection),
            (libc::EINTR, AcceptError::Connection),
            (libc::EPERM, AcceptError::Connection),
            (libc::ENOBUFS, AcceptError::Resources),
            (libc::ENOMEM, AcceptError::Resources),
            (libc::EBADF, AcceptError::Resources),
        ];
        for (errno, want) in cases {
            let error = io::Error::from_raw_os_error(errno);
            assert_eq!(classify(&error), want, "{error}");
        }
    }
}
