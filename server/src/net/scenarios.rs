//! Scenario tests of a connection's session: each file in `net/scenarios/` is a
//! script of events (bytes from clients, entries applied, read checks,
//! transports that fill up or close) and the reply bytes each client must
//! have received by then. The sessions run over in-memory transports
//! (`Pipe`), driven by the same `net::conn::Conn` as sockets are, against a
//! real engine and node state; writes go through apply
//! (`apply::apply_request`), as the Raft thread applies them, with this
//! node the leader of its group.
//!
//! The language, one step a line (`#` starts a comment, `## title` starts a
//! new scenario on a fresh node):
//!
//! | step | meaning |
//! | --- | --- |
//! | `cN < WORD ...` | client N sends one command (a RESP array; `"a b"` quotes a word) |
//! | `cN <raw TEXT` | client N sends bytes (`\r`, `\n`, `\\` escapes) |
//! | `cN > FRAMES` | what client N received since its last check, one frame after another: `+OK`, `-ERR …`, `:1`, `"bulk"`, `nil`, `[…]`, `>[…]` (a push), `{k => v, …}` (a map) |
//! | `cN closed` | client N's connection was closed by the server |
//! | `cN eof` | client N shuts its side |
//! | `cN room B` | client N's transport takes only B more bytes (then it is full) |
//! | `cN drain` | client N's transport takes everything again (a writable event) |
//! | `apply` | the writes proposed so far form one entry, which applies |
//! | `pending N` | N writes are proposed and not yet applied |
//! | `replicated` | the group has three voters: strong reads need a read check |
//! | `check ok` / `check lost` | the read check confirms (or refutes) leadership |
//! | `checks N` | N connections wait for a read check |

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::io;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use openraft::{CommittedLeaderId, LogId, Membership, RaftMetrics, ServerState, StoredMembership};
use redraft_engine::{Blocked, WaiterId};

use crate::apply::{apply_request, Command, GroupState, Outcome, Request, Staged};
use crate::config::{Config, Flags};
use crate::net::conn::{Conn, Transport};
use crate::resp::{decode_frame, Frame};
use crate::route::{Delivery, Proposal, Route};
use crate::session::{Next, Session, Tick};
use crate::shared::Shared;

/// An in-memory transport: bytes the client sent and not yet read, and
/// what the session wrote.
#[derive(Default)]
struct Pipe {
    inbound: Vec<u8>,
    /// The client shut its side: once `inbound` is read, the end.
    eof: bool,
    outbound: Vec<u8>,
    /// Bytes it takes before it is full; `None`: no limit.
    room: Option<usize>,
}

impl Transport for Pipe {
    fn recv(&mut self, input: &mut BytesMut) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let take = self.inbound.len().min(input.capacity() - input.len());
        input.extend_from_slice(&self.inbound[..take]);
        self.inbound.drain(..take);
        Ok(take)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let take = bytes.len().min(self.room.unwrap_or(usize::MAX));
        if take == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if let Some(room) = self.room.as_mut() {
            *room -= take;
        }
        self.outbound.extend_from_slice(&bytes[..take]);
        Ok(take)
    }
}

const ORIGIN: u64 = 1;

/// One node with its clients: the network thread's state, and the group's
/// apply state.
struct Node {
    shared: Shared,
    conns: BTreeMap<u32, Conn<Pipe>>,
    closed: BTreeSet<u32>,
    proposals: Vec<Proposal>,
    read_waiters: Vec<(u32, u64, u64)>,
    deadlines: BinaryHeap<Reverse<(u64, u32, u64, u64)>>,
    read_ticket: u64,
    clock_ms: u64,
    blocked: Blocked,
    staged: Staged,
    next_proposal: u64,
    /// Blocked writes' routes by (client id, sequence number).
    waiting: HashMap<(u64, u64), Route>,
    /// What each client received and has not yet been checked.
    received: BTreeMap<u32, Vec<u8>>,
}

impl Node {
    fn new() -> Node {
        let config = Config::load(&Flags::default()).expect("default config");
        let (shared, _proposer_input) =
            Shared::new(config, Box::new(|_| {}), crate::cmd::catalog());
        let node = Node {
            shared,
            conns: BTreeMap::new(),
            closed: BTreeSet::new(),
            proposals: Vec::new(),
            read_waiters: Vec::new(),
            deadlines: BinaryHeap::new(),
            read_ticket: 0,
            clock_ms: 0,
            blocked: Blocked::default(),
            staged: Staged::default(),
            next_proposal: 0,
            waiting: HashMap::new(),
            received: BTreeMap::new(),
        };
        node.lead(1);
        node
    }

    /// Makes this node (id 1) the leader of a group of `voters`.
    fn lead(&self, voters: u64) {
        let mut metrics = RaftMetrics::new_initial(1);
        metrics.state = ServerState::Leader;
        metrics.current_leader = Some(1);
        let ids: BTreeSet<u64> = (1..=voters).collect();
        let nodes = ids
            .iter()
            .map(|&id| (id, crate::raft::types::PeerNode::default()))
            .collect::<BTreeMap<_, _>>();
        metrics.membership_config = std::sync::Arc::new(
            // A log id of its own, so the status sees a new membership.
            StoredMembership::new(
                Some(LogId::new(CommittedLeaderId::new(1, 1), voters)),
                Membership::new(vec![ids], nodes),
            ),
        );
        let raft = &self.shared.raft;
        raft.set_boot_position(0, 0);
        raft.update(&metrics, crate::clock::unix_ms());
    }

    /// Runs `event` for connection `index` with this tick's state, then
    /// acts on what the connection asks for next.
    fn with_conn(
        &mut self,
        index: u32,
        event: impl FnOnce(&mut Conn<Pipe>, &mut Tick<'_>) -> Next,
    ) {
        let Some(conn) = self.conns.get_mut(&index) else {
            panic!("c{index} is not connected");
        };
        let mut tick = Tick {
            shared: &self.shared,
            stats: &self.shared.executors[0],
            executor: 0,
            proposals: &mut self.proposals,
            read_ticket: self.read_ticket,
            read_waiters: &mut self.read_waiters,
            deadlines: &mut self.deadlines,
        };
        let next = event(conn, &mut tick);
        match next {
            Next::Close => self.close(index),
            Next::Write => conn.writing = true,
            Next::Read => {
                conn.writing = false;
                conn.publish_figures();
            }
        }
        if self
            .read_waiters
            .iter()
            .any(|&(_, _, ticket)| ticket == self.read_ticket)
        {
            self.read_ticket += 1;
        }
    }

    fn close(&mut self, index: u32) {
        let mut conn = self.conns.remove(&index).expect("open");
        conn.session.on_close(&mut self.proposals, &self.shared);
        let client = &conn.session.client;
        self.shared.pubsub.forget(
            client.info.id,
            &client.channels,
            &client.patterns,
            &client.shard_channels,
        );
        if client.monitoring {
            self.shared.diag.monitors.remove(client.info.id);
        }
        self.shared.clients.disconnect(client.info.id);
        self.closed.insert(index);
        self.received
            .entry(index)
            .or_default()
            .append(&mut conn.transport.outbound);
    }

    /// Client `index`'s connection, made on first use.
    fn connect(&mut self, index: u32) {
        if self.conns.contains_key(&index) || self.closed.contains(&index) {
            return;
        }
        let addr = format!("127.0.0.1:{}", 40000 + index).parse().unwrap();
        let local = "127.0.0.1:6379".parse().unwrap();
        let client = self
            .shared
            .clients
            .connect_within(u64::MAX, addr, local, -1, true)
            .expect("admitted");
        let session = Session::new(client, index, 0);
        self.conns
            .insert(index, Conn::new(Pipe::default(), session));
    }

    /// Moves what each transport was sent into `received`, and hands the
    /// network thread's deliveries (messages, MONITOR lines) to their
    /// connections, until none is left.
    fn settle(&mut self) {
        loop {
            let mut deliveries = Vec::new();
            self.shared.inboxes[0].take(&mut deliveries);
            if deliveries.is_empty() {
                break;
            }
            let mut touched = BTreeSet::new();
            for delivery in deliveries {
                match delivery {
                    Delivery::Message { to, message } => {
                        if let Some(conn) = self.conns.get_mut(&to.conn) {
                            conn.session.on_message(&message);
                            touched.insert(to.conn);
                        }
                    }
                    Delivery::Monitor { to, line } => {
                        if let Some(conn) = self.conns.get_mut(&to.conn) {
                            conn.session.on_monitor(&line);
                            touched.insert(to.conn);
                        }
                    }
                    Delivery::Write { .. } | Delivery::ReadIndex { .. } => {
                        panic!("writes and read checks are the scenario's to answer")
                    }
                }
            }
            for index in touched {
                self.with_conn(index, |conn, tick| conn.resume(tick));
            }
        }
        for (index, conn) in &mut self.conns {
            self.received
                .entry(*index)
                .or_default()
                .append(&mut conn.transport.outbound);
        }
    }

    /// The writes proposed so far, as one entry through apply; each
    /// outcome goes to its connection, as the Raft thread's router sends it.
    fn apply(&mut self) {
        let proposals = std::mem::take(&mut self.proposals);
        let routes: Vec<Option<Route>> = proposals.iter().map(|p| p.route).collect();
        let request = Request {
            stamp_ms: crate::clock::unix_ms(),
            origin: ORIGIN,
            proposal: self.next_proposal,
            commands: proposals
                .into_iter()
                .map(|proposal| Command {
                    db: proposal.db,
                    op: proposal.op,
                })
                .collect(),
        };
        self.next_proposal += 1;
        let mut waiters: Vec<(WaiterId, Outcome)> = Vec::new();
        let outcomes = {
            let _gate = self.shared.tx_gate.exclusive();
            apply_request(
                &self.shared.engine,
                GroupState {
                    clock_ms: &mut self.clock_ms,
                    blocked: &mut self.blocked,
                    staged: &mut self.staged,
                    scripts: &self.shared.scripts,
                    runner: Some(&crate::script::runner()),
                },
                None,
                &request,
                &mut waiters,
            )
        };
        let mut deliveries = Vec::new();
        for (route, outcome) in routes.into_iter().zip(outcomes) {
            let Some(route) = route else { continue };
            if matches!(outcome, Outcome::Blocked) {
                self.waiting.insert((route.client_id, route.seq), route);
            }
            deliveries.push((route, outcome));
        }
        for (id, outcome) in waiters {
            assert_eq!(id.origin, ORIGIN);
            if let Some(route) = self.waiting.remove(&(id.client_id, id.seq)) {
                deliveries.push((route, outcome));
            }
        }
        let mut touched = BTreeSet::new();
        for (route, outcome) in deliveries {
            if let Some(conn) = self.conns.get_mut(&route.conn) {
                conn.session.on_outcome(route.seq, outcome, &self.shared);
                touched.insert(route.conn);
            }
        }
        for index in touched {
            self.with_conn(index, |conn, tick| conn.resume(tick));
        }
    }

    /// Answers every pending read check.
    fn check(&mut self, leader: bool) {
        let waiters = std::mem::take(&mut self.read_waiters);
        assert!(!waiters.is_empty(), "no connection waits for a read check");
        for (index, _, _) in waiters {
            if let Some(conn) = self.conns.get_mut(&index) {
                conn.session.on_read_checked(leader);
                self.with_conn(index, |conn, tick| conn.resume(tick));
            }
        }
    }

    /// Runs one step of a scenario.
    fn step(&mut self, line: &str) {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "apply" => self.apply(),
            "replicated" => self.lead(3),
            "check" => self.check(match rest {
                "ok" => true,
                "lost" => false,
                _ => panic!("check ok|lost, not {rest:?}"),
            }),
            "pending" => assert_eq!(self.proposals.len(), rest.parse::<usize>().unwrap()),
            "checks" => assert_eq!(self.read_waiters.len(), rest.parse::<usize>().unwrap()),
            client if client.starts_with('c') => {
                let index: u32 = client[1..].parse().expect("cN");
                self.client_step(index, rest);
            }
            _ => panic!("unknown step {line:?}"),
        }
        self.settle();
    }

    fn client_step(&mut self, index: u32, rest: &str) {
        let (verb, arg) = rest.split_once(' ').unwrap_or((rest, ""));
        match verb {
            ">" => {
                // A frame cut by a full transport stays for the next check.
                let received = self.received.entry(index).or_default();
                let (frames, used) = render_all(received);
                received.drain(..used);
                assert_eq!(frames, arg, "what c{index} received");
            }
            "closed" => assert!(self.closed.contains(&index), "c{index} is open"),
            _ => {
                self.connect(index);
                match verb {
                    "<" => self.send(index, &encode_words(arg)),
                    "<raw" => self.send(index, &unescape(arg)),
                    "eof" => {
                        self.conns.get_mut(&index).unwrap().transport.eof = true;
                        self.with_conn(index, |conn, tick| conn.on_readable(tick, true));
                    }
                    "room" => {
                        let room = arg.parse().expect("room B");
                        self.conns.get_mut(&index).unwrap().transport.room = Some(room);
                    }
                    "drain" => {
                        let conn = self.conns.get_mut(&index).unwrap();
                        conn.transport.room = None;
                        self.with_conn(index, |conn, tick| conn.drive(tick));
                        // Watched for reading again, the socket reports
                        // what arrived meanwhile.
                        if self
                            .conns
                            .get(&index)
                            .is_some_and(|conn| !conn.writing && !conn.transport.inbound.is_empty())
                        {
                            self.with_conn(index, |conn, tick| conn.on_readable(tick, false));
                        }
                    }
                    _ => panic!("unknown client step {rest:?}"),
                }
            }
        }
    }

    fn send(&mut self, index: u32, bytes: &[u8]) {
        let conn = self.conns.get_mut(&index).expect("connected");
        conn.transport.inbound.extend_from_slice(bytes);
        if conn.writing {
            // Its poller waits for writability; the bytes wait in the socket.
            return;
        }
        self.with_conn(index, |conn, tick| conn.on_readable(tick, false));
    }
}

/// A command line as a RESP array: words split at spaces, `"…"` keeping
/// spaces in a word.
fn encode_words(line: &str) -> Vec<u8> {
    let mut words: Vec<String> = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    let frame = Frame::command(words.iter().map(|word| Bytes::from(word.clone())));
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b'\\') => b'\\',
            other => panic!("unknown escape \\{other:?}"),
        });
    }
    out
}

/// The whole frames at the front of `bytes`, rendered compactly and
/// joined by spaces, and the bytes they take.
fn render_all(bytes: &[u8]) -> (String, usize) {
    let mut frames = Vec::new();
    let mut used = 0;
    while let Ok(Some((frame, size))) = decode_frame(&bytes[used..]) {
        frames.push(render(&frame));
        used += size;
    }
    (frames.join(" "), used)
}

fn render(frame: &Frame) -> String {
    let list = |items: &[Frame]| items.iter().map(render).collect::<Vec<_>>().join(" ");
    match frame {
        Frame::Simple(text) => format!("+{}", without_time(&String::from_utf8_lossy(text))),
        Frame::Error(text) => format!("-{}", String::from_utf8_lossy(text)),
        Frame::Integer(value) => format!(":{value}"),
        Frame::Bulk(bytes) => format!("\"{}\"", bytes.escape_ascii()),
        Frame::NullBulk | Frame::NullArray | Frame::Null => "nil".to_owned(),
        Frame::Array(items) => format!("[{}]", list(items)),
        Frame::Push(items) => format!(">[{}]", list(items)),
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(key, value)| format!("{} => {}", render(key), render(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

/// A MONITOR line with its time as `T`: `1796470914.481869 [0 …` is
/// `T [0 …`.
fn without_time(text: &str) -> String {
    match text.split_once(' ') {
        Some((time, rest))
            if rest.starts_with('[') && time.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            format!("T {rest}")
        }
        _ => text.to_owned(),
    }
}

/// Runs every scenario of one file; a failure names the file, the
/// scenario and the line.
fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path).expect("scenario file");
    let mut node: Option<Node> = None;
    let mut title = String::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(heading) = line.strip_prefix("## ") {
            if let Some(done) = node.take() {
                done.finish(&title);
            }
            title = heading.to_owned();
            node = Some(Node::new());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let node = node.get_or_insert_with(Node::new);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.step(line)));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default();
            panic!(
                "{}:{}: {title}: {line}\n{message}",
                path.display(),
                number + 1
            );
        }
    }
    if let Some(done) = node {
        done.finish(&title);
    }
}

impl Node {
    /// A scenario ends with every reply checked.
    fn finish(self, title: &str) {
        for (index, bytes) in &self.received {
            assert!(
                bytes.is_empty(),
                "{title}: c{index} received {:?} unchecked",
                bytes.escape_ascii().to_string()
            );
        }
    }
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/net/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenario folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());
    for path in files {
        run_file(&path);
    }
}
