//! The client side of the Raft peer transport: openraft's
//! `RaftNetworkFactory` ([`Network`]) and `RaftNetwork` ([`PeerClient`])
//! over persistent TCP connections speaking the [`super::frame`] format.
//!
//! Connections. openraft makes a new client for every election round and
//! every replication stream, so connections cannot live in the client: the
//! factory keeps one `Peer` per target node id, shared by every client for
//! that target. A peer has one lane per RPC kind (append-entries, vote,
//! install-snapshot, and our own ping and forwarded admin request), each
//! with one lazily opened, reused connection. Separate lanes keep a vote or
//! a heartbeat from queueing behind a multi-megabyte snapshot chunk, and a
//! probe from queueing behind a forwarded join that waits for a catch-up. Within a lane a tokio mutex serializes
//! the rare concurrent callers (a new election round while the previous
//! round's vote is still out; a read-index heartbeat beside replication),
//! because a connection carries one exchange at a time.
//!
//! Failures. Every RPC runs under a deadline: openraft's soft TTL for the
//! call (3/4 of the hard TTL at which openraft drops the call), or
//! [`NetworkConfig::rpc_timeout_default`] when openraft gives none. Waiting
//! for the lane, connecting and the exchange all count against it. A
//! connection that fails or times out is dropped; the next RPC reconnects,
//! but not before the lane's backoff time (10 ms after a failure, doubling
//! to 1 s, reset by a successful exchange), so a dead peer sees at most one
//! connection attempt per lane per backoff step. An RPC that finds the lane
//! backing off past its deadline fails at once as `Unreachable`.
//!
//! Error mapping (see [`CallError`]): cannot connect, handshake refused,
//! backing off, or the connection reset / closed by the peer:
//! `RPCError::Unreachable` (openraft backs off, using [`PeerClient`]'s
//! `backoff()`, the same schedule as ours). Deadline passed:
//! `RPCError::Timeout`. Malformed or unexpected frames and other I/O
//! errors: `RPCError::Network`. An append-entries request over the frame
//! limit: `RPCError::PayloadTooLarge` with a hint, so openraft splits it.
//! The remote `Raft` call's own error: `RPCError::RemoteError`.
//!
//! Health. Every attempted call reports to the [`PeerHealth`] given with
//! [`Network::with_health`]: a reply (even the remote `Raft`'s error) is a
//! contact, anything else but "backing off" (no attempt made) a failure.
//!
//! Invariants:
//! - A connection stored in a lane is idle and in step with the server. It
//!   is taken out of the lane for an exchange and put back only after a
//!   complete response with the request's id. An exchange that fails or is
//!   cancelled (openraft drops RPC futures at the hard TTL) drops the
//!   connection with it, so a late response is never read as the answer to
//!   a later request.
//! - A lane never starts a connection attempt before its backoff time,
//!   except the single immediate retry when a reused idle connection turns
//!   out to have been closed by the peer (restart, idle timeout). Raft RPCs
//!   are idempotent, so that retry is safe even if the first copy arrived.

pub use crate::raft::types::PeerNode;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RaftTypeConfig;
use parking_lot::Mutex;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::frame::{
    self, AdminAnswer, AdminCall, ClientFrame, FrameError, Reply, Rpc, ServerFrame, Standing,
    PROTOCOL_VERSION,
};
use super::health::PeerHealth;

/// Tunables of the client side; the defaults suit loopback and a LAN.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Largest frame body sent or accepted; must match the peers'
    /// [`super::peer_server::PeerServerConfig::frame_bytes_max`].
    pub frame_bytes_max: usize,
    /// First reconnect delay after a failure.
    pub connect_backoff_min: Duration,
    /// Cap of the doubling reconnect delay.
    pub connect_backoff_max: Duration,
    /// Deadline of an RPC for which openraft gives a zero TTL.
    pub rpc_timeout_default: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            frame_bytes_max: frame::FRAME_BYTES_MAX_DEFAULT,
            connect_backoff_min: Duration::from_millis(10),
            connect_backoff_max: Duration::from_secs(1),
            rpc_timeout_default: Duration::from_secs(1),
        }
    }
}

/// The factory's peers by node id.
type PeerMap<C> = HashMap<<C as RaftTypeConfig>::NodeId, Arc<Peer<C>>>;

/// openraft's network factory: hands out [`PeerClient`]s that share one
/// set of connections per target node. Cloning shares the connections.
pub struct Network<C: RaftTypeConfig> {
    /// This node's id (sent in the hello, reported in timeouts).
    local_id: C::NodeId,
    config: Arc<NetworkConfig>,
    /// Every target ever asked for; replaced when its address changes.
    peers: Arc<Mutex<PeerMap<C>>>,
    /// Where calls report contacts and failures, if anywhere.
    health: Option<Arc<PeerHealth<C::NodeId>>>,
}

impl<C: RaftTypeConfig> Clone for Network<C> {
    fn clone(&self) -> Self {
        Network {
            local_id: self.local_id.clone(),
            config: self.config.clone(),
            peers: self.peers.clone(),
            health: self.health.clone(),
        }
    }
}

impl<C: RaftTypeConfig> Network<C> {
    pub fn new(local_id: C::NodeId, config: NetworkConfig) -> Network<C> {
        assert!(
            config.connect_backoff_min > Duration::ZERO
                && config.connect_backoff_min <= config.connect_backoff_max,
            "connect backoff must satisfy 0 < min <= max"
        );
        Network {
            local_id,
            config: Arc::new(config),
            peers: Arc::default(),
            health: None,
        }
    }

    /// Reports every call's outcome to `health`.
    pub fn with_health(mut self, health: Arc<PeerHealth<C::NodeId>>) -> Network<C> {
        self.health = Some(health);
        self
    }

    /// The shared connections to `target` at `node`, made (or remade, if
    /// the member moved) as needed. In-flight calls on a replaced peer
    /// finish on it; it is dropped with its last user.
    fn peer(&self, target: C::NodeId, node: &PeerNode) -> Arc<Peer<C>>
    where
        C: RaftTypeConfig<Node = PeerNode>,
    {
        let mut peers = self.peers.lock();
        let make = || {
            Arc::new(Peer::new(
                self.local_id.clone(),
                target.clone(),
                node.clone(),
                self.config.clone(),
                self.health.clone(),
            ))
        };
        let peer = peers.entry(target.clone()).or_insert_with(make);
        if peer.node != *node {
            *peer = make();
        }
        peer.clone()
    }

    /// Probes `target`: what it knows of this node, if it answered within
    /// `timeout`.
    pub async fn ping(
        &self,
        target: C::NodeId,
        node: &PeerNode,
        timeout: Duration,
    ) -> Result<Standing, String>
    where
        C: RaftTypeConfig<Node = PeerNode>,
    {
        match self.peer(target, node).call(Rpc::Ping, timeout).await {
            Ok(Reply::Pong(standing)) => Ok(standing),
            Ok(_) => Err(CallError::WrongReply.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends an admin API request to `target` (the leader) and returns its
    /// answer, or why none came within `timeout`.
    pub async fn admin(
        &self,
        target: C::NodeId,
        node: &PeerNode,
        call: AdminCall,
        timeout: Duration,
    ) -> Result<AdminAnswer, String>
    where
        C: RaftTypeConfig<Node = PeerNode>,
    {
        match self
            .peer(target, node)
            .call(Rpc::Admin(call), timeout)
            .await
        {
            Ok(Reply::Admin(answer)) => Ok(answer),
            Ok(_) => Err(CallError::WrongReply.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl<C> RaftNetworkFactory<C> for Network<C>
where
    C: RaftTypeConfig<Node = PeerNode>,
{
    type Network = PeerClient<C>;

    async fn new_client(&mut self, target: C::NodeId, node: &PeerNode) -> PeerClient<C> {
        PeerClient {
            peer: self.peer(target, node),
        }
    }
}

/// openraft's per-target network client. Cheap: a handle on the shared
/// connections to one peer.
pub struct PeerClient<C: RaftTypeConfig> {
    peer: Arc<Peer<C>>,
}

impl<C> RaftNetwork<C> for PeerClient<C>
where
    C: RaftTypeConfig<Node = PeerNode>,
{
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C::NodeId>, RPCError<C::NodeId, PeerNode, RaftError<C::NodeId>>>
    {
        let entries = rpc.entries.len() as u64;
        match self
            .peer
            .call(Rpc::AppendEntries(rpc), self.peer.timeout(&option))
            .await
        {
            Ok(Reply::AppendEntries(result)) => result.map_err(|e| self.peer.remote_error(e)),
            Ok(_) => Err(self
                .peer
                .rpc_error(RPCTypes::AppendEntries, CallError::WrongReply)),
            Err(CallError::RequestTooLarge { len, max }) => {
                // Ask openraft to resend fewer entries, scaled to fit.
                let hint = (u128::from(entries) * max as u128 / len.max(1) as u128).max(1) as u64;
                Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(hint),
                ))
            }
            Err(e) => Err(self.peer.rpc_error(RPCTypes::AppendEntries, e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<C>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<C::NodeId>,
        RPCError<C::NodeId, PeerNode, RaftError<C::NodeId, InstallSnapshotError>>,
    > {
        match self
            .peer
            .call(Rpc::InstallSnapshot(rpc), self.peer.timeout(&option))
            .await
        {
            Ok(Reply::InstallSnapshot(result)) => result.map_err(|e| self.peer.remote_error(e)),
            Ok(_) => Err(self
                .peer
                .rpc_error(RPCTypes::InstallSnapshot, CallError::WrongReply)),
            Err(e) => Err(self.peer.rpc_error(RPCTypes::InstallSnapshot, e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C::NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<C::NodeId>, RPCError<C::NodeId, PeerNode, RaftError<C::NodeId>>> {
        match self
            .peer
            .call(Rpc::Vote(rpc), self.peer.timeout(&option))
            .await
        {
            Ok(Reply::Vote(result)) => result.map_err(|e| self.peer.remote_error(e)),
            Ok(_) => Err(self.peer.rpc_error(RPCTypes::Vote, CallError::WrongReply)),
            Err(e) => Err(self.peer.rpc_error(RPCTypes::Vote, e)),
        }
    }

    /// openraft's pause after `Unreachable`: our reconnect schedule.
    fn backoff(&self) -> Backoff {
        let (min, max) = (
            self.peer.config.connect_backoff_min,
            self.peer.config.connect_backoff_max,
        );
        Backoff::new(std::iter::successors(Some(min), move |step| {
            Some((*step * 2).min(max))
        }))
    }
}

/// A connection: reads are buffered (a small response arrives in one
/// syscall), writes go straight through (each frame is one `write_all`).
type Conn = BufReader<TcpStream>;

/// The connections to one target node, shared by all its clients.
struct Peer<C: RaftTypeConfig> {
    local_id: C::NodeId,
    target: C::NodeId,
    /// Where the target listens; fixed for the life of this `Peer`.
    node: PeerNode,
    config: Arc<NetworkConfig>,
    /// One lane per RPC kind, indexed by [`lane_index`].
    lanes: [tokio::sync::Mutex<Lane>; LANES],
    /// Where call outcomes are reported.
    health: Option<Arc<PeerHealth<C::NodeId>>>,
    /// Request ids, unique per peer (ids only need to differ between
    /// consecutive exchanges on one connection).
    next_request_id: AtomicU64,
}

/// One RPC kind's connection to a peer and its reconnect backoff.
#[derive(Default)]
struct Lane {
    /// The idle connection, if one is open and in step.
    conn: Option<Conn>,
    /// No connect attempt before this instant; `None` when the last
    /// exchange succeeded.
    retry_at: Option<Instant>,
    /// The delay armed by the last attempt; zero after a success.
    backoff: Duration,
    /// Why the last attempt failed, reported while backing off.
    last_error: Option<String>,
}

impl Lane {
    /// Called before every attempt: if the attempt fails, or is cancelled
    /// at the deadline, the backoff is already in place.
    fn arm(&mut self, config: &NetworkConfig) {
        self.backoff = if self.backoff.is_zero() {
            config.connect_backoff_min
        } else {
            (self.backoff * 2).min(config.connect_backoff_max)
        };
        self.retry_at = Some(Instant::now() + self.backoff);
        self.last_error = Some("the previous call did not complete".to_string());
    }

    /// Waits for the backoff time, or fails at once if that is past the
    /// deadline.
    async fn wait_for_retry(&self, deadline: Instant) -> Result<(), CallError> {
        let Some(retry_at) = self.retry_at else {
            return Ok(());
        };
        if retry_at >= deadline {
            let last_error = self.last_error.clone().unwrap_or_default();
            return Err(CallError::BackingOff {
                delay: self.backoff,
                last_error,
            });
        }
        tokio::time::sleep_until(retry_at).await;
        Ok(())
    }

    fn succeeded(&mut self) {
        self.retry_at = None;
        self.backoff = Duration::ZERO;
        self.last_error = None;
    }
}

/// Lanes per peer: one per [`Rpc`] kind.
pub const LANES: usize = 5;

fn lane_index<C: RaftTypeConfig>(rpc: &Rpc<C>) -> usize {
    match rpc {
        Rpc::AppendEntries(_) => 0,
        Rpc::Vote(_) => 1,
        Rpc::InstallSnapshot(_) => 2,
        Rpc::Ping => 3,
        Rpc::Admin(_) => 4,
    }
}

impl<C: RaftTypeConfig> Peer<C> {
    fn new(
        local_id: C::NodeId,
        target: C::NodeId,
        node: PeerNode,
        config: Arc<NetworkConfig>,
        health: Option<Arc<PeerHealth<C::NodeId>>>,
    ) -> Peer<C> {
        Peer {
            local_id,
            target,
            node,
            config,
            health,
            lanes: Default::default(),
            next_request_id: AtomicU64::new(1),
        }
    }

    /// The deadline of an openraft call: its soft TTL, or our default.
    fn timeout(&self, option: &RPCOption) -> Duration {
        match option.soft_ttl() {
            ttl if ttl.is_zero() => self.config.rpc_timeout_default,
            ttl => ttl,
        }
    }

    /// Sends one RPC on its lane and waits for the reply within `timeout`,
    /// and reports the outcome to the health monitor.
    async fn call(&self, rpc: Rpc<C>, timeout: Duration) -> Result<Reply<C>, CallError> {
        let append = matches!(rpc, Rpc::AppendEntries(_));
        // A snapshot chunk: where it ends, and whether it is the last.
        let snapshot_chunk = match &rpc {
            Rpc::InstallSnapshot(request) => {
                Some((request.offset + request.data.len() as u64, request.done))
            }
            _ => None,
        };
        let started = Instant::now();
        let result = self.attempt(rpc, timeout).await;
        if let Some(health) = &self.health {
            match &result {
                Ok(_) => {
                    health.contacted(&self.target);
                    if append {
                        health.append_answered(&self.target, started.elapsed());
                    }
                    if let Some((sent_bytes, done)) = snapshot_chunk {
                        health.snapshot_sent(&self.target, sent_bytes, done);
                    }
                }
                Err(CallError::BackingOff { .. } | CallError::RequestTooLarge { .. }) => {}
                Err(e) => health.failed(&self.target, e),
            }
        }
        result
    }

    /// [`Peer::call`] without the report.
    async fn attempt(&self, rpc: Rpc<C>, timeout: Duration) -> Result<Reply<C>, CallError> {
        let lane = &self.lanes[lane_index(&rpc)];
        let id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let request = frame::encode(
            &ClientFrame::Request { id, rpc },
            self.config.frame_bytes_max,
        )
        .map_err(|e| match e {
            FrameError::TooLarge { len, max } => CallError::RequestTooLarge { len, max },
            e => CallError::Frame(e),
        })?;
        let deadline = Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, self.call_on_lane(lane, &request, id, deadline))
            .await
        {
            Ok(result) => result,
            Err(_elapsed) => Err(CallError::Timeout(timeout)),
        }
    }

    async fn call_on_lane(
        &self,
        lane: &tokio::sync::Mutex<Lane>,
        request: &[u8],
        id: u64,
        deadline: Instant,
    ) -> Result<Reply<C>, CallError> {
        let mut lane = lane.lock().await;
        let mut reused = lane.conn.is_some();
        if !reused {
            lane.wait_for_retry(deadline).await?;
        }
        // Armed before the attempt, so that a failure, or a cancellation at
        // the deadline, leaves the backoff in place.
        lane.arm(&self.config);
        let mut conn = match lane.conn.take() {
            Some(conn) => conn,
            None => self.connect(&mut lane).await?,
        };
        loop {
            match self.exchange(&mut conn, request, id).await {
                Ok(reply) => {
                    lane.conn = Some(conn);
                    lane.succeeded();
                    return Ok(reply);
                }
                Err(e) if reused && e.is_stale_connection() => {
                    tracing::debug!(target = %self.target, error = %e, "idle peer connection was closed; reconnecting");
                    reused = false;
                    conn = self.connect(&mut lane).await?;
                }
                Err(e) => {
                    lane.last_error = Some(e.to_string());
                    return Err(e);
                }
            }
        }
    }

    /// Connects and shakes hands; any failure is a `Connect` error.
    async fn connect(&self, lane: &mut Lane) -> Result<Conn, CallError> {
        match self.open().await {
            Ok(conn) => {
                tracing::debug!(target = %self.target, node = %self.node, "connected to raft peer");
                Ok(conn)
            }
            Err(e) => {
                let e = CallError::Connect(e.to_string());
                lane.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    async fn open(&self) -> Result<Conn, CallError> {
        let (host, port) = (self.node.host.clone(), self.node.raft_port);
        // Test builds of the chaos suite reach each peer through a proxy.
        #[cfg(feature = "chaos")]
        let (host, port) = crate::chaos::peer_addr(&host, port);
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| CallError::Frame(FrameError::Io(e)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| CallError::Frame(FrameError::Io(e)))?;
        let mut conn = BufReader::new(stream);
        let hello = ClientFrame::<C>::Hello {
            version: PROTOCOL_VERSION,
            from: self.local_id.clone(),
            target: self.target.clone(),
        };
        let hello = frame::encode(&hello, self.config.frame_bytes_max).map_err(CallError::Frame)?;
        frame::write_frame(&mut conn, &hello)
            .await
            .map_err(CallError::Frame)?;
        match frame::read_frame::<_, ServerFrame<C>>(&mut conn, frame::HELLO_BYTES_MAX).await {
            Ok(Some(ServerFrame::Hello(Ok(())))) => Ok(conn),
            Ok(Some(ServerFrame::Hello(Err(why)))) => Err(CallError::Refused(why)),
            Ok(Some(ServerFrame::Response { .. })) => Err(CallError::WrongReply),
            Ok(None) => Err(CallError::Closed),
            Err(e) => Err(CallError::Frame(e)),
        }
    }

    /// One request and its response on an open connection.
    async fn exchange(
        &self,
        conn: &mut Conn,
        request: &[u8],
        id: u64,
    ) -> Result<Reply<C>, CallError> {
        frame::write_frame(conn, request)
            .await
            .map_err(CallError::Frame)?;
        match frame::read_frame::<_, ServerFrame<C>>(conn, self.config.frame_bytes_max).await {
            Ok(Some(ServerFrame::Response { id: got, reply })) if got == id => Ok(reply),
            Ok(Some(ServerFrame::Response { id: got, .. })) => {
                Err(CallError::WrongId { got, want: id })
            }
            Ok(Some(ServerFrame::Hello(_))) => Err(CallError::WrongReply),
            Ok(None) => Err(CallError::Closed),
            Err(e) => Err(CallError::Frame(e)),
        }
    }

    fn remote_error<E: std::error::Error>(&self, e: E) -> RPCError<C::NodeId, PeerNode, E>
    where
        C: RaftTypeConfig<Node = PeerNode>,
    {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target.clone(),
            self.node.clone(),
            e,
        ))
    }

    /// Maps a transport failure to the `RPCError` openraft acts on.
    fn rpc_error<E: std::error::Error>(
        &self,
        action: RPCTypes,
        e: CallError,
    ) -> RPCError<C::NodeId, PeerNode, E>
    where
        C: RaftTypeConfig<Node = PeerNode>,
    {
        match e {
            CallError::Timeout(timeout) => RPCError::Timeout(Timeout {
                action,
                id: self.local_id.clone(),
                target: self.target.clone(),
                timeout,
            }),
            e if e.is_unreachable() => RPCError::Unreachable(Unreachable::new(&e)),
            e => RPCError::Network(NetworkError::new(&e)),
        }
    }
}

/// Why an RPC did not get a reply from the remote `Raft`.
#[derive(Debug)]
enum CallError {
    /// Connecting or the handshake failed (refused, no route, reset...).
    Connect(String),
    /// The server refused the handshake (wrong node id or version).
    Refused(String),
    /// The lane is backing off after failures until past the deadline.
    BackingOff { delay: Duration, last_error: String },
    /// The peer closed the connection at a frame boundary.
    Closed,
    /// The request frame would exceed the frame limit; nothing was sent.
    RequestTooLarge { len: usize, max: usize },
    /// Reading or writing a frame failed (I/O or malformed frame).
    Frame(FrameError),
    /// A response for another request id.
    WrongId { got: u64, want: u64 },
    /// A frame of the wrong kind (hello mid-stream, reply to another RPC).
    WrongReply,
    /// The call's deadline passed.
    Timeout(Duration),
}

impl CallError {
    /// The peer is down, going down, or not the node we want: openraft
    /// should back off rather than retry at once.
    fn is_unreachable(&self) -> bool {
        match self {
            CallError::Connect(_)
            | CallError::Refused(_)
            | CallError::BackingOff { .. }
            | CallError::Closed => true,
            CallError::Frame(FrameError::Io(e)) => is_disconnect(e),
            _ => false,
        }
    }

    /// The peer closed a connection while it sat idle in the lane: the
    /// request never reached a live server, so a fresh connection may retry.
    fn is_stale_connection(&self) -> bool {
        match self {
            CallError::Closed => true,
            CallError::Frame(FrameError::Io(e)) => is_disconnect(e),
            _ => false,
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
    )
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "cannot connect: {e}"),
            CallError::Refused(why) => write!(f, "peer refused the connection: {why}"),
            CallError::BackingOff { delay, last_error } => {
                write!(
                    f,
                    "backing off {delay:?} before reconnecting (last error: {last_error})"
                )
            }
            CallError::Closed => write!(f, "peer closed the connection"),
            CallError::RequestTooLarge { len, max } => write!(
                f,
                "request of {len} bytes exceeds the {max} byte frame limit"
            ),
            CallError::Frame(e) => write!(f, "{e}"),
            CallError::WrongId { got, want } => {
                write!(f, "response for request {got}, expected {want}")
            }
            CallError::WrongReply => write!(f, "peer sent a frame of the wrong kind"),
            CallError::Timeout(timeout) => write!(f, "no reply within {timeout:?}"),
        }
    }
}

impl std::error::Error for CallError {}
