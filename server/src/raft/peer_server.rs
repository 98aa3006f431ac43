//! The server side of the Raft peer transport: a TCP listener on the
//! node's raft port that reads [`super::frame`] requests, calls the local
//! `openraft::Raft` handle and writes each result back on the same
//! connection.
//!
//! One task per connection, each serving its requests strictly in order
//! (the client keeps one request outstanding per connection). All tasks
//! live in a `JoinSet` owned by the accept task, so stopping the server
//! (or dropping [`PeerServer`]) also closes every connection it accepted:
//! a stopped node neither accepts nor answers.
//!
//! Limits: at most `connections_max` connections (more are closed on
//! accept); the hello is read with a 4 KiB limit and must come within
//! `write_timeout`; later frames above `frame_bytes_max` are refused before
//! allocation, and a body's buffer grows only as its bytes arrive; a
//! connection idle for `idle_timeout` is closed (the client reconnects
//! transparently); a response that cannot be written within
//! `write_timeout` closes the connection. A malformed frame, a frame of the
//! wrong kind, or a refused hello closes the connection too: the stream
//! cannot be trusted after it.
//!
//! Hooks ([`PeerHooks`]): every request a peer sends counts as a contact
//! with it in the health monitor, and a forwarded admin API request
//! ([`Rpc::Admin`]) goes to the admin API's handler. Pings are answered
//! here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Raft, RaftTypeConfig};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::frame::{
    self, AdminAnswer, AdminCall, ClientFrame, FrameError, Reply, Rpc, ServerFrame, Standing,
    PROTOCOL_VERSION,
};
use super::health::PeerHealth;

/// Serves an admin API request a peer forwarded to this node.
pub type AdminHandler =
    Arc<dyn Fn(AdminCall) -> Pin<Box<dyn Future<Output = AdminAnswer> + Send>> + Send + Sync>;

/// What the server tells besides the local `Raft`.
pub struct PeerHooks<NID> {
    /// Told of every request received, as a contact with its sender.
    pub health: Option<Arc<PeerHealth<NID>>>,
    /// Serves forwarded admin requests; without one they get a 501.
    pub admin: Option<AdminHandler>,
}

impl<NID> Default for PeerHooks<NID> {
    fn default() -> Self {
        PeerHooks {
            health: None,
            admin: None,
        }
    }
}

impl<NID> Clone for PeerHooks<NID> {
    fn clone(&self) -> Self {
        PeerHooks {
            health: self.health.clone(),
            admin: self.admin.clone(),
        }
    }
}

/// Tunables of the server side.
#[derive(Debug, Clone)]
pub struct PeerServerConfig {
    /// Largest frame body accepted or sent; must match the peers'
    /// [`super::network::NetworkConfig::frame_bytes_max`].
    pub frame_bytes_max: usize,
    /// Connections served at once; a cluster needs five per peer.
    pub connections_max: usize,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Longest wait for the handshake and for writing one response.
    pub write_timeout: Duration,
}

impl Default for PeerServerConfig {
    fn default() -> Self {
        PeerServerConfig {
            frame_bytes_max: frame::FRAME_BYTES_MAX_DEFAULT,
            connections_max: 64,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A running peer transport listener. Dropping it stops the server and
/// closes its connections (asynchronously); [`PeerServer::shutdown`] does
/// the same and waits until the port and connections are closed.
pub struct PeerServer {
    local_addr: SocketAddr,
    /// Tells the accept task to stop; `None` once sent.
    stop: Option<oneshot::Sender<()>>,
    /// The accept task, owner of the listener and of every connection;
    /// `None` once shut down.
    task: Option<JoinHandle<()>>,
}

impl PeerServer {
    /// Binds `addr` and serves peers' RPCs with `raft`, on the current
    /// tokio runtime (the Raft thread's). Must be called inside a runtime.
    pub async fn bind<C, A>(
        addr: A,
        raft: Raft<C>,
        config: PeerServerConfig,
    ) -> io::Result<PeerServer>
    where
        C: RaftTypeConfig,
        A: ToSocketAddrs,
    {
        Self::bind_with(addr, raft, config, PeerHooks::default()).await
    }

    /// [`PeerServer::bind`], with `hooks` told of requests.
    pub async fn bind_with<C, A>(
        addr: A,
        raft: Raft<C>,
        config: PeerServerConfig,
        hooks: PeerHooks<C::NodeId>,
    ) -> io::Result<PeerServer>
    where
        C: RaftTypeConfig,
        A: ToSocketAddrs,
    {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let node_id = raft.metrics().borrow().id.clone();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, raft, node_id, config, hooks, stopped));
        tracing::info!(addr = %local_addr, "raft peer server listening");
        Ok(PeerServer {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address actually bound (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection, and returns once the
    /// listener and all connection tasks are gone.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        // Aborting drops the accept task's JoinSet, which aborts every
        // connection task.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn accept_loop<C: RaftTypeConfig>(
    listener: TcpListener,
    raft: Raft<C>,
    node_id: C::NodeId,
    config: PeerServerConfig,
    hooks: PeerHooks<C::NodeId>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer_addr)) => {
                    if conns.len() >= config.connections_max {
                        tracing::warn!(%peer_addr, max = config.connections_max, "too many raft peer connections; closing");
                        continue;
                    }
                    let (raft, node_id, config) = (raft.clone(), node_id.clone(), config.clone());
                    let hooks = hooks.clone();
                    conns.spawn(async move {
                        if let Err(e) = serve_connection(stream, raft, node_id, config, hooks).await {
                            tracing::warn!(%peer_addr, error = %e, "raft peer connection closed");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of
                    // spinning; established connections keep being served.
                    tracing::warn!(error = %e, "raft peer accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

/// Why a connection was closed other than by the peer or an idle timeout.
#[derive(Debug)]
enum ConnError {
    Frame(FrameError),
    /// The hello was refused; the reason was sent to the peer.
    Refused(String),
    /// A frame that is valid but not allowed here.
    Unexpected(&'static str),
    /// Writing a response did not finish in time.
    WriteTimeout,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Frame(e) => write!(f, "{e}"),
            ConnError::Refused(why) => write!(f, "refused: {why}"),
            ConnError::Unexpected(what) => write!(f, "protocol error: {what}"),
            ConnError::WriteTimeout => write!(f, "peer did not read its response in time"),
        }
    }
}

impl From<FrameError> for ConnError {
    fn from(e: FrameError) -> Self {
        ConnError::Frame(e)
    }
}

async fn serve_connection<C: RaftTypeConfig>(
    stream: TcpStream,
    raft: Raft<C>,
    node_id: C::NodeId,
    config: PeerServerConfig,
    hooks: PeerHooks<C::NodeId>,
) -> Result<(), ConnError> {
    stream.set_nodelay(true).map_err(FrameError::Io)?;
    let mut conn = BufReader::new(stream);
    let hello = match tokio::time::timeout(
        config.write_timeout,
        read(&mut conn, frame::HELLO_BYTES_MAX),
    )
    .await
    {
        Ok(Ok(Some(hello))) => hello,
        Ok(Ok(None)) | Err(_) => return Ok(()),
        Ok(Err(e)) => return Err(e),
    };
    let verdict = check_hello::<C>(hello, &node_id);
    send(
        &mut conn,
        &ServerFrame::<C>::Hello(verdict.clone().map(|_| ())),
        &config,
    )
    .await?;
    let from = verdict.map_err(ConnError::Refused)?;
    loop {
        let (id, rpc) = match tokio::time::timeout(
            config.idle_timeout,
            read(&mut conn, config.frame_bytes_max),
        )
        .await
        {
            Ok(Ok(Some(ClientFrame::Request { id, rpc }))) => (id, rpc),
            Ok(Ok(Some(ClientFrame::Hello { .. }))) => {
                return Err(ConnError::Unexpected("second hello"))
            }
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) => return Err(e),
        };
        if let Some(health) = &hooks.health {
            health.contacted(&from);
        }
        let reply = dispatch(&raft, rpc, &hooks, &from).await;
        send(&mut conn, &ServerFrame::Response { id, reply }, &config).await?;
    }
}

/// The sender's id if the hello is acceptable, else why not.
fn check_hello<C: RaftTypeConfig>(
    hello: ClientFrame<C>,
    node_id: &C::NodeId,
) -> Result<C::NodeId, String> {
    match hello {
        ClientFrame::Hello {
            version, target, ..
        } if version != PROTOCOL_VERSION || target != *node_id => Err(format!(
            "this is node {node_id} speaking protocol {PROTOCOL_VERSION}; \
             the client wants node {target} with protocol {version}"
        )),
        ClientFrame::Hello { from, .. } => {
            tracing::debug!(%from, "raft peer connected");
            Ok(from)
        }
        ClientFrame::Request { .. } => Err("expected a hello first".to_string()),
    }
}

async fn read<C: RaftTypeConfig>(
    conn: &mut BufReader<TcpStream>,
    frame_bytes_max: usize,
) -> Result<Option<ClientFrame<C>>, ConnError> {
    Ok(frame::read_frame(conn, frame_bytes_max).await?)
}

async fn send<C: RaftTypeConfig>(
    conn: &mut BufReader<TcpStream>,
    message: &ServerFrame<C>,
    config: &PeerServerConfig,
) -> Result<(), ConnError> {
    let bytes = frame::encode(message, config.frame_bytes_max)?;
    match tokio::time::timeout(config.write_timeout, frame::write_frame(conn, &bytes)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnError::WriteTimeout),
    }
}

/// Hands the request to the local Raft; its error, if any, is the reply.
async fn dispatch<C: RaftTypeConfig>(
    raft: &Raft<C>,
    rpc: Rpc<C>,
    hooks: &PeerHooks<C::NodeId>,
    from: &C::NodeId,
) -> Reply<C> {
    match rpc {
        Rpc::AppendEntries(req) => Reply::AppendEntries(raft.append_entries(req).await),
        Rpc::Vote(req) => Reply::Vote(raft.vote(req).await),
        Rpc::InstallSnapshot(req) => Reply::InstallSnapshot(raft.install_snapshot(req).await),
        Rpc::Ping => {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let membership = &metrics.membership_config;
            let membership_index = membership.log_id().as_ref().map_or(0, |id| id.index);
            // A membership not yet applied (so maybe not committed) may
            // still be truncated: it removes nobody yet.
            let decided = metrics
                .last_applied
                .as_ref()
                .is_some_and(|applied| applied.index >= membership_index);
            Reply::Pong(Standing {
                member: !decided || membership.membership().get_node(from).is_some(),
                membership_index,
            })
        }
        Rpc::Admin(call) => Reply::Admin(match &hooks.admin {
            Some(handler) => handler(call).await,
            None => AdminAnswer {
                status: 501,
                body: br#"{"error":"this node serves no admin requests"}"#.to_vec(),
            },
        }),
    }
}
