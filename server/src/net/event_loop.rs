//! One network thread per core: its own SO_REUSEPORT listener and an epoll
//! loop (mio, edge-triggered) over its connections, in the style of Redis's
//! event loop.
//!
//! Why epoll and not glommio's io_uring streams: measured on this 2-core VM
//! with redis-benchmark (`-c 50 -P 1`), a minimal glommio PING server served
//! 48-56k requests/s, the same server on mio stopping at the first short
//! read 72-77k, and redis-server 66-78k in the same rounds (docs/server.md). glommio arms
//! an io_uring poll per read; epoll keeps each socket registered once,
//! which is what a one-request-per-round-trip workload needs.
//!
//! One pass of the loop is a tick: it handles every ready socket, then the
//! inbox (write outcomes and read checks from the Raft thread, which wakes
//! the poller through a `mio::Waker`), and ends by sending the tick's
//! writes to the proposer as one batch and asking for at most one read
//! check.
//!
//! Accepting (admission under `maxclients`, and surviving descriptor
//! exhaustion on an edge-triggered listener) is `accept.rs`.
//!
//! Invariants:
//! - A connection lives on the thread that accepted it, and only that thread
//!   touches it.
//! - A connection is registered for exactly one of readable or writable: it
//!   reads only when it has no unsent replies.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::client::Client;
use crate::clock::unix_ms;
use crate::metrics::commands::{self as command_metrics, FLUSH_INTERVAL};
use crate::net::accept::Acceptor;
use crate::net::conn::Conn;
use crate::route::{Delivery, Proposal};
use crate::session::{Next, Session, Tick};
use crate::shared::Shared;

/// The listener's token; connections use their slab index + 1.
const LISTENER: Token = Token(0);
/// The inbox waker's token.
const WAKER: Token = Token(usize::MAX);
/// Readiness events handled per `epoll_wait`.
const EVENTS_MAX: usize = 1024;
/// Pending connections the kernel queues for us (Redis's tcp-backlog).
const LISTEN_BACKLOG: i32 = 511;

/// Binds a non-blocking listener with SO_REUSEPORT, so every network thread
/// can have its own and the kernel spreads connections among them.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_with(addr, true)
}

/// Fails with `AddrInUse` if another process listens on `addr`. A second
/// server would otherwise join our SO_REUSEPORT group and silently take a
/// share of the connections; a socket without SO_REUSEPORT cannot bind
/// beside one that has it, so this probe fails whenever anyone listens.
pub fn ensure_port_free(addr: SocketAddr) -> io::Result<()> {
    drop(bind_with(addr, false)?);
    Ok(())
}

fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Runs one network thread's loop forever, on a thread of its own.
pub fn run(shared: Arc<Shared>, listener: TcpListener, executor: usize) -> io::Result<()> {
    let mut event_loop = EventLoop::new(shared, listener, executor)?;
    loop {
        let timeout = event_loop.timeout();
        event_loop.turn(timeout)?;
    }
}

/// Runs one network loop forever as a task of the current tokio runtime
/// (the Raft thread's): the runtime waits on the loop's epoll descriptor
/// beside its own work, so a write from a connection on this core is
/// proposed, made durable, applied and answered without leaving the
/// thread.
///
/// The epoll descriptor is watched edge-triggered: it becomes readable
/// again only when an event is added after the last `epoll_wait`, so a
/// turn that filled its event buffer is followed by another turn at once
/// (after letting the runtime's other tasks run), never by a wait.
pub async fn run_as_task(
    shared: Arc<Shared>,
    listener: TcpListener,
    executor: usize,
) -> io::Result<()> {
    let mut event_loop = EventLoop::new(shared, listener, executor)?;
    // SAFETY: the descriptor belongs to `event_loop.poll`, which outlives
    // `epoll` (declared after it, so dropped first) and is never replaced.
    let epoll = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(
            EpollFd(event_loop.poll.as_raw_fd()),
            tokio::io::Interest::READABLE,
        )
    }
    .map_err(io::Error::from)?;
    loop {
        let ready = match event_loop.timeout() {
            Some(timeout) => tokio::time::timeout(timeout, epoll.readable()).await.ok(),
            None => Some(epoll.readable().await),
        };
        if let Some(guard) = ready {
            guard?.clear_ready();
        }
        while event_loop.turn(Some(Duration::ZERO))? == EVENTS_MAX {
            tokio::task::yield_now().await;
        }
    }
}

/// The epoll descriptor of a `mio::Poll`, borrowed for the runtime to
/// watch; the `EventLoop` owns and closes it.
struct EpollFd(RawFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// One network loop: its poller, listener and connections, and the
/// buffers a tick reuses.
struct EventLoop {
    shared: Arc<Shared>,
    executor: usize,
    poll: Poll,
    acceptor: Acceptor,
    events: Events,
    conns: Slab<Conn<TcpStream>>,
    proposals: Vec<Proposal>,
    deliveries: Vec<Delivery>,
    touched: Vec<usize>,
    read_waiters: Vec<(u32, u64, u64)>,
    read_ticket: u64,
    deadlines: BinaryHeap<Reverse<(u64, u32, u64, u64)>>,
    /// Command figures not yet handed to the node: wake up to hand them.
    unflushed: bool,
}

impl EventLoop {
    fn new(shared: Arc<Shared>, listener: TcpListener, executor: usize) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut acceptor = Acceptor::new(listener, executor)?;
        poll.registry()
            .register(acceptor.listener_mut(), LISTENER, Interest::READABLE)?;
        shared.inboxes[executor].set_waker(mio::Waker::new(poll.registry(), WAKER)?);
        Ok(EventLoop {
            shared,
            executor,
            poll,
            acceptor,
            events: Events::with_capacity(EVENTS_MAX),
            conns: Slab::new(),
            proposals: Vec::new(),
            deliveries: Vec::new(),
            touched: Vec::new(),
            read_waiters: Vec::new(),
            read_ticket: 1,
            deadlines: BinaryHeap::new(),
            unflushed: false,
        })
    }

    /// How long the loop may wait for readiness: until the next blocked
    /// client's deadline, figures to flush, or an accept retry.
    fn timeout(&self) -> Option<Duration> {
        let mut timeout = self.deadlines.peek().map(|Reverse((deadline_ms, ..))| {
            Duration::from_millis(deadline_ms.saturating_sub(unix_ms()))
        });
        if self.unflushed {
            timeout = Some(timeout.map_or(FLUSH_INTERVAL, |t| t.min(FLUSH_INTERVAL)));
        }
        if let Some(retry) = self.acceptor.timeout() {
            timeout = Some(timeout.map_or(retry, |t| t.min(retry)));
        }
        timeout
    }

    /// One tick: waits up to `timeout` for readiness, handles every ready
    /// socket, the inbox and due deadlines, and hands the tick's writes
    /// to the proposer. Returns how many readiness events it handled.
    fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let EventLoop {
            shared,
            executor,
            poll,
            acceptor,
            events,
            conns,
            proposals,
            deliveries,
            touched,
            read_waiters,
            read_ticket,
            deadlines,
            unflushed,
        } = self;
        let shared: &Arc<Shared> = shared;
        let executor = *executor;
        let inbox = &shared.inboxes[executor];
        let stats = &shared.executors[executor];
        if let Err(error) = poll.poll(events, timeout) {
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(error);
        }
        // No transaction applies while this tick runs (see `transaction`).
        let _tick_gate = shared.tx_gate.tick(executor);
        let mut tick = Tick {
            shared,
            stats,
            executor: executor as u16,
            proposals,
            read_ticket: *read_ticket,
            read_waiters,
            deadlines,
        };
        let mut woken = false;
        let mut accept_ready = false;
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    accept_ready = true;
                    continue;
                }
                WAKER => {
                    woken = true;
                    continue;
                }
                _ => {}
            }
            let index = event.token().0 - 1;
            let Some(conn) = conns.get_mut(index) else {
                continue;
            };
            let next = if event.is_writable() {
                conn.drive(&mut tick)
            } else {
                conn.on_readable(&mut tick, event.is_read_closed())
            };
            follow(shared, poll, conns, index, next, tick.proposals);
        }
        if accept_ready || acceptor.due() {
            acceptor.accept_pending(shared, |stream, client| {
                register(shared, poll, conns, executor as u16, stream, client);
            });
        }
        if woken {
            inbox.take(deliveries);
            for delivery in deliveries.drain(..) {
                match delivery {
                    Delivery::Write { route, outcome } => {
                        if let Some(conn) = conn_of(conns, route.conn, route.client_id) {
                            conn.session.on_outcome(route.seq, outcome, shared);
                            touched.push(route.conn as usize);
                        }
                    }
                    Delivery::Message { to, message } => {
                        if let Some(conn) = conn_of(conns, to.conn, to.client_id) {
                            let client = &conn.session.client;
                            let listening = match &message.pattern {
                                Some(pattern) => client.patterns.contains(pattern),
                                None if message.shard => {
                                    client.shard_channels.contains(&message.channel)
                                }
                                None => client.channels.contains(&message.channel),
                            };
                            if listening {
                                conn.session.on_message(&message);
                                touched.push(to.conn as usize);
                            }
                        }
                    }
                    Delivery::Monitor { to, line } => {
                        if let Some(conn) = conn_of(conns, to.conn, to.client_id) {
                            conn.session.on_monitor(&line);
                            touched.push(to.conn as usize);
                        }
                    }
                    Delivery::ReadIndex { ticket, leader } => {
                        tick.read_waiters.retain(|&(index, client_id, waits_for)| {
                            if waits_for > ticket {
                                return true;
                            }
                            if let Some(conn) = conn_of(conns, index, client_id) {
                                conn.session.on_read_checked(leader);
                                touched.push(index as usize);
                            }
                            false
                        });
                    }
                }
            }
        }
        // Blocked connections whose timeout is due.
        let now_ms = if tick.deadlines.is_empty() {
            0
        } else {
            unix_ms()
        };
        while let Some(&Reverse((deadline_ms, index, client_id, seq))) = tick.deadlines.peek() {
            if deadline_ms > now_ms {
                break;
            }
            tick.deadlines.pop();
            if let Some(conn) = conn_of(conns, index, client_id) {
                if let Some(next_ms) = conn.session.on_deadline(seq, shared, now_ms) {
                    tick.deadlines
                        .push(Reverse((next_ms, index, client_id, seq)));
                }
                touched.push(index as usize);
            }
        }
        if !touched.is_empty() {
            touched.sort_unstable();
            touched.dedup();
            for index in touched.drain(..) {
                let Some(conn) = conns.get_mut(index) else {
                    continue;
                };
                let next = conn.resume(&mut tick);
                follow(shared, poll, conns, index, next, tick.proposals);
            }
        }
        if tick
            .read_waiters
            .iter()
            .any(|&(_, _, ticket)| ticket == *read_ticket)
        {
            shared.write_path.read_index(executor as u16, *read_ticket);
            *read_ticket += 1;
        }
        if !proposals.is_empty() {
            shared.write_path.propose(std::mem::take(proposals));
        }
        *unflushed = command_metrics::flush_if_due(&shared.command_stats, Instant::now);
        Ok(events.iter().count())
    }
}

/// The connection in slab slot `index`, if it is still client
/// `client_id` (a closed connection's slot may have been reused).
fn conn_of(
    conns: &mut Slab<Conn<TcpStream>>,
    index: u32,
    client_id: u64,
) -> Option<&mut Conn<TcpStream>> {
    conns
        .get_mut(index as usize)
        .filter(|conn| conn.session.client.info.id == client_id)
}

/// Acts on what a connection asked for after an event: close it, or watch
/// it for the readiness it now waits for. A closing connection's last
/// writes (an unblock) go into `proposals`.
fn follow(
    shared: &Shared,
    poll: &Poll,
    conns: &mut Slab<Conn<TcpStream>>,
    index: usize,
    next: Next,
    proposals: &mut Vec<Proposal>,
) {
    let conn = &mut conns[index];
    if next != Next::Close {
        conn.publish_figures();
    }
    match next {
        Next::Close => close(shared, poll, conns, index, proposals),
        Next::Write if !conn.writing => {
            conn.writing = true;
            reregister(poll, conn, index, Interest::WRITABLE);
        }
        Next::Read if conn.writing => {
            conn.writing = false;
            reregister(poll, conn, index, Interest::READABLE);
        }
        Next::Read | Next::Write => {}
    }
}

/// Watches a newly admitted connection and gives it a slot.
fn register(
    shared: &Shared,
    poll: &Poll,
    conns: &mut Slab<Conn<TcpStream>>,
    executor: u16,
    mut stream: TcpStream,
    client: Client,
) {
    let entry = conns.vacant_entry();
    let token = Token(entry.key() + 1);
    if poll
        .registry()
        .register(&mut stream, token, Interest::READABLE)
        .is_err()
    {
        shared.clients.disconnect(client.info.id);
        return;
    }
    let index = entry.key() as u32;
    entry.insert(Conn::new(stream, Session::new(client, index, executor)));
}

fn reregister(poll: &Poll, conn: &mut Conn<TcpStream>, index: usize, interest: Interest) {
    if poll
        .registry()
        .reregister(&mut conn.transport, Token(index + 1), interest)
        .is_err()
    {
        tracing::debug!(client = conn.session.client.info.id, "reregister failed");
    }
}

fn close(
    shared: &Shared,
    poll: &Poll,
    conns: &mut Slab<Conn<TcpStream>>,
    index: usize,
    proposals: &mut Vec<Proposal>,
) {
    let mut conn = conns.remove(index);
    let _ = poll.registry().deregister(&mut conn.transport);
    conn.session.on_close(proposals, shared);
    let client = &conn.session.client;
    shared.pubsub.forget(
        client.info.id,
        &client.channels,
        &client.patterns,
        &client.shard_channels,
    );
    if client.monitoring {
        shared.diag.monitors.remove(client.info.id);
    }
    shared.clients.disconnect(conn.session.client.info.id);
}
