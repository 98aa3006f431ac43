//! The Raft peer transport (`server/src/raft/{frame,network,peer_server}.rs`)
//! carrying a real 3-node openraft cluster over loopback TCP.
//!
//! Each node runs on its own thread with its own current_thread tokio
//! runtime (as the server's Raft thread does), with our log store over
//! raftlog in a temp dir and a small in-memory state machine that records
//! what it applied. Ports are picked by the OS (127.0.0.1:0), so the test
//! can run beside any other. The scenario: elect a leader, replicate
//! writes to all three, crash the leader (its Raft and its peer server),
//! elect a new leader and keep writing, restart the old leader on the same
//! port and log, and see it catch up. A second test checks the error
//! mapping against a dead port, a silent listener, a wrong node id and a
//! stopped Raft.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use openraft::error::RPCError;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{Config, Raft, ServerState, Vote};
use redraft_raftlog::RaftLog;
use redraft_server::raft::frame;
use redraft_server::raft::log_store::LogStore;
use redraft_server::raft::network::{Network, NetworkConfig, PeerNode};
use redraft_server::raft::peer_server::{PeerServer, PeerServerConfig};

#[path = "common/raft.rs"]
mod raft_common;

use raft_common::{NodeId, TestConfig, TestStateMachine};

/// How long any one expected event (election, replication, catch-up) may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(8);

// ---- a node: its own thread and runtime, Raft, peer server ----

/// A current_thread runtime on its own thread, like the server's Raft thread.
struct NodeRuntime {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread (and the runtime with its tasks).
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl NodeRuntime {
    fn start(id: NodeId) -> NodeRuntime {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("raft-{id}"))
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .unwrap();
        NodeRuntime {
            handle,
            _stop: stop,
        }
    }

    /// Runs `future` on this node's runtime and waits for its output.
    async fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .spawn(future)
            .await
            .expect("task on node runtime")
    }
}

struct Node {
    id: NodeId,
    runtime: NodeRuntime,
    /// The node's log directory, kept across a restart.
    dir: tempfile::TempDir,
    raft_port: u16,
    raft: Raft<TestConfig>,
    /// `None` while the node is down.
    server: Option<PeerServer>,
    /// Kept across a restart, as a durable state machine would be.
    state_machine: TestStateMachine,
    /// The open log, to know when a stopped node has released it.
    log: Weak<RaftLog>,
}

fn raft_config() -> Arc<Config> {
    let config = Config {
        cluster_name: "raft-transport-test".to_string(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        ..Config::default()
    };
    Arc::new(config.validate().unwrap())
}

fn open_log(dir: &std::path::Path) -> Result<RaftLog, redraft_raftlog::Error> {
    RaftLog::open(dir, raft_common::small_log_config())
}

/// Opens the log and starts a Raft on `runtime`.
async fn boot(
    runtime: &NodeRuntime,
    id: NodeId,
    dir: &std::path::Path,
    state_machine: TestStateMachine,
) -> (Raft<TestConfig>, Weak<RaftLog>) {
    let log = Arc::new(open_log(dir).expect("open raftlog"));
    let weak = Arc::downgrade(&log);
    let raft = runtime
        .run(async move {
            let network = Network::<TestConfig>::new(id, NetworkConfig::default());
            Raft::new(
                id,
                raft_config(),
                network,
                LogStore::new(log),
                state_machine,
            )
            .await
            .expect("start raft")
        })
        .await;
    (raft, weak)
}

impl Node {
    async fn start(id: NodeId) -> Node {
        let runtime = NodeRuntime::start(id);
        let dir = tempfile::Builder::new()
            .prefix("redraft-transport-")
            .tempdir()
            .unwrap();
        let state_machine = TestStateMachine::default();
        let (raft, log) = boot(&runtime, id, dir.path(), state_machine.clone()).await;
        let mut node = Node {
            id,
            runtime,
            dir,
            raft_port: 0,
            raft,
            server: None,
            state_machine,
            log,
        };
        node.serve(0).await;
        node.raft_port = node.server.as_ref().unwrap().local_addr().port();
        node
    }

    async fn serve(&mut self, port: u16) {
        let raft = self.raft.clone();
        let bind = PeerServer::bind(("127.0.0.1", port), raft, PeerServerConfig::default());
        self.server = Some(self.runtime.run(bind).await.expect("bind peer server"));
    }

    async fn stop_server(&mut self) {
        let server = self.server.take().expect("server running");
        self.runtime.run(server.shutdown()).await;
    }

    async fn stop_raft(&mut self) {
        let raft = self.raft.clone();
        self.runtime
            .run(async move { raft.shutdown().await.expect("raft shutdown") })
            .await;
    }

    /// Starts Raft again over the same log and state machine, and the peer
    /// server on the same port, as a restarted process would.
    async fn restart(&mut self) {
        poll_until("old raftlog released", || self.log.upgrade().is_none()).await;
        let (raft, log) = boot(
            &self.runtime,
            self.id,
            self.dir.path(),
            self.state_machine.clone(),
        )
        .await;
        (self.raft, self.log) = (raft, log);
        self.serve(self.raft_port).await;
    }

    fn peer_node(&self) -> PeerNode {
        PeerNode {
            host: "127.0.0.1".to_string(),
            raft_port: self.raft_port,
            port: 0,
        }
    }
}

/// Polls `condition` every 10 ms until it holds; panics after
/// [`EVENT_TIMEOUT`].
async fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < EVENT_TIMEOUT,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every node in `up` names the same leader, which is in `up`
/// and considers itself leader; returns its index in `nodes`.
async fn wait_for_leader(nodes: &[Node], up: &[usize]) -> usize {
    let mut leader = None;
    poll_until("a leader all live nodes agree on", || {
        let views: Vec<Option<NodeId>> = up
            .iter()
            .map(|&i| nodes[i].raft.metrics().borrow().current_leader)
            .collect();
        leader = views[0].and_then(|id| up.iter().copied().find(|&i| nodes[i].id == id));
        let agreed = views.iter().all(|view| *view == views[0]);
        agreed
            && leader.is_some_and(|i| nodes[i].raft.metrics().borrow().state == ServerState::Leader)
    })
    .await;
    leader.unwrap()
}

/// Writes `value` through whichever live node leads, retrying while a
/// leader change is under way. (A retried write may apply twice; the
/// checks below compare nodes with each other, and look for every value.)
async fn write(nodes: &[Node], up: &[usize], value: &str) {
    let start = Instant::now();
    loop {
        let leader = wait_for_leader(nodes, up).await;
        match nodes[leader].raft.client_write(value.to_string()).await {
            Ok(response) => {
                assert_eq!(response.data, value, "the state machine's reply comes back");
                return;
            }
            Err(e) => {
                assert!(start.elapsed() < EVENT_TIMEOUT, "write {value} failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Waits until every node in `up` has applied the same sequence, holding
/// every value of `expected`.
async fn wait_replicated(nodes: &[Node], up: &[usize], expected: &[String]) {
    poll_until("every live node applied the same writes", || {
        let first = nodes[up[0]].state_machine.applied();
        expected.iter().all(|value| first.contains(value))
            && up
                .iter()
                .all(|&i| nodes[i].state_machine.applied() == first)
    })
    .await;
}

/// Logs go to the test's output when `RUST_LOG` asks for them, e.g.
/// `RUST_LOG=redraft_server=debug,openraft=info`.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

#[tokio::test]
async fn three_nodes_elect_replicate_fail_over_and_catch_up() {
    init_logging();
    let started = Instant::now();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(Node::start(id).await);
    }
    let members: BTreeMap<NodeId, PeerNode> = nodes
        .iter()
        .map(|node| (node.id, node.peer_node()))
        .collect();
    nodes[0]
        .raft
        .initialize(members)
        .await
        .expect("initialize the cluster");

    let all = [0, 1, 2];
    let first_leader = wait_for_leader(&nodes, &all).await;
    let mut written = Vec::new();
    for i in 0..5 {
        let value = format!("before-{i}");
        write(&nodes, &all, &value).await;
        written.push(value);
    }
    wait_replicated(&nodes, &all, &written).await;

    // Crash the leader: no more RPCs in or out.
    nodes[first_leader].stop_server().await;
    nodes[first_leader].stop_raft().await;
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != first_leader).collect();
    let second_leader = wait_for_leader(&nodes, &survivors).await;
    assert_ne!(second_leader, first_leader);
    for i in 0..5 {
        let value = format!("during-{i}");
        write(&nodes, &survivors, &value).await;
        written.push(value);
    }
    wait_replicated(&nodes, &survivors, &written).await;

    // Restart it on the same port and log: the others reconnect to it and
    // it catches up, then takes part in new writes.
    nodes[first_leader].restart().await;
    wait_replicated(&nodes, &all, &written).await;
    for i in 0..3 {
        let value = format!("after-{i}");
        write(&nodes, &all, &value).await;
        written.push(value);
    }
    wait_replicated(&nodes, &all, &written).await;

    for node in &mut nodes {
        node.stop_server().await;
        node.stop_raft().await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

/// Sends `bytes` on a fresh connection to a peer server and checks the
/// server closes it (after at most a short refusal).
async fn assert_server_closes(raft_port: u16, bytes: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", raft_port))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(EVENT_TIMEOUT, stream.read_to_end(&mut reply)).await;
    let read = read.expect("server closes the connection");
    let closed = match read {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed && reply.len() < 256,
        "closed: {closed}, {} bytes back",
        reply.len()
    );
}

/// Runs one vote RPC from a throwaway node 9 to `target` at `raft_port`.
async fn probe_vote(
    network: &mut Network<TestConfig>,
    target: NodeId,
    raft_port: u16,
    ttl: Duration,
) -> Result<
    openraft::raft::VoteResponse<NodeId>,
    RPCError<NodeId, PeerNode, openraft::error::RaftError<NodeId>>,
> {
    let node = PeerNode {
        host: "127.0.0.1".to_string(),
        raft_port,
        port: 0,
    };
    let mut client = network.new_client(target, &node).await;
    // Term 0 loses to any vote a node holds, so probing a live node
    // never disturbs it.
    let request = VoteRequest::new(Vote::new(0, 9), None);
    client.vote(request, RPCOption::new(ttl)).await
}

#[tokio::test]
async fn transport_errors_map_to_openraft_errors() {
    init_logging();
    let mut network = Network::<TestConfig>::new(9, NetworkConfig::default());
    let ttl = Duration::from_millis(400);

    // Nothing listens: Unreachable, and quickly.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = probe_vote(&mut network, 1, dead_port, ttl).await;
    assert!(
        matches!(result, Err(RPCError::Unreachable(_))),
        "{result:?}"
    );
    // Right after a failure the lane backs off; a call whose deadline ends
    // first fails at once, without connecting.
    let result = probe_vote(&mut network, 1, dead_port, Duration::from_millis(4)).await;
    match result {
        Err(RPCError::Unreachable(e)) => assert!(e.to_string().contains("backing off"), "{e}"),
        other => panic!("expected Unreachable while backing off, got {other:?}"),
    }
    assert!(started.elapsed() < ttl, "refused connections fail fast");

    // A listener that accepts and never answers: Timeout at the soft TTL.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let result = probe_vote(&mut network, 2, silent.local_addr().unwrap().port(), ttl).await;
    assert!(matches!(result, Err(RPCError::Timeout(_))), "{result:?}");
    assert!(
        started.elapsed() < ttl,
        "gave up at the soft TTL, before openraft's hard TTL"
    );

    // A live node 1: a harmless vote is answered (and not granted); the
    // same address asked for as node 2 is refused in the handshake.
    let mut node = Node::start(1).await;
    let members = BTreeMap::from([(1, node.peer_node())]);
    node.raft.initialize(members).await.unwrap();
    let result = probe_vote(&mut network, 1, node.raft_port, ttl).await;
    assert!(!result.expect("vote answered").vote_granted);
    let result = probe_vote(&mut network, 2, node.raft_port, ttl).await;
    match result {
        Err(RPCError::Unreachable(e)) => assert!(e.to_string().contains("node 1"), "{e}"),
        other => panic!("expected a refused handshake, got {other:?}"),
    }

    // Bad input closes the connection: a header over the hello limit, a
    // request before the hello (answered with a refusal first), garbage.
    assert_server_closes(node.raft_port, &[0x00, 0x01, 0x00, 0x00]).await;
    let request = frame::ClientFrame::<TestConfig>::Request {
        id: 1,
        rpc: frame::Rpc::Vote(VoteRequest::new(Vote::new(0, 9), None)),
    };
    let request = frame::encode(&request, frame::FRAME_BYTES_MAX_DEFAULT).unwrap();
    assert_server_closes(node.raft_port, &request).await;
    assert_server_closes(node.raft_port, &[0, 0, 0, 3, 0xff, 0xff, 0xff]).await;
    // The node is unharmed.
    let result = probe_vote(&mut network, 1, node.raft_port, ttl).await;
    assert!(!result.expect("vote answered").vote_granted);

    // Its Raft stopped but its server up: the remote error comes back.
    node.stop_raft().await;
    let result = probe_vote(&mut network, 1, node.raft_port, ttl).await;
    assert!(
        matches!(result, Err(RPCError::RemoteError(_))),
        "{result:?}"
    );
    node.stop_server().await;
    drop(silent);
}
