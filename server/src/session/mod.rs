//! One client connection's session: the state machine between the bytes a
//! client sent and the bytes it is sent back. It never touches a socket:
//! its driver (`net::conn`) reads into [`Session::input_for_read`], calls
//! [`Session::on_received`], and writes [`Session::output`], reporting what
//! the socket took with [`Session::on_sent`]; outcomes of writes, read
//! checks, published messages and timers come in from the network thread,
//! and writes go out as proposals in the [`Tick`]. So it runs the same
//! under any transport, and under the in-memory one of its scenario tests
//! (`net/scenarios/`).
//!
//! Writes do not reply at once: each is queued for the proposer (one batch
//! per event-loop tick) and its reply arrives through the executor's inbox
//! once its Raft entry is committed and applied ([`Session::on_outcome`]).
//! Until then the session keeps an ordered queue of reply slots: a
//! pending write, or bytes of replies that came after it.
//!
//! Invariants:
//! - Commands run in the order they arrived and their replies go out in the
//!   same order, writes included.
//! - A command that is not a write waits (is held, with its arguments)
//!   while a write of this connection is pending, so a read sees every
//!   earlier write of its connection. Writes after writes are proposed at
//!   once, so a pipeline of writes shares entries.
//! - A read that needs a leadership check (linearizable, on the leader of
//!   a replicated group) is held until the executor's batched check for it
//!   is done. The check also covers every command that was already in the
//!   input buffer when the read was held (they arrived before the check
//!   began), so a pipeline of reads costs one check, not one each.
//! - While replies are waiting for the transport to drain, no more input
//!   is processed (the driver runs nothing until [`Session::output`] is
//!   sent), so a client that does not read cannot grow our buffers.
//! - A protocol error gets `-ERR Protocol error: ...` and closes only this
//!   connection; nothing a client sends can panic the server.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use redraft_engine::{Reply, ReplySink};

use crate::apply::ExecReply;
use crate::client::Client;
use crate::clock::unix_ms;
use crate::cmd::multi;
use crate::cmd::{self, CommandSpec, Ctx};
use crate::config::ReadConsistency;
use crate::conn_figures;
use crate::metrics::commands::{self as command_metrics, Verdict};
use crate::resp::{CommandDecoder, ReplyWriter};
use crate::route::{Op, Outcome, Proposal, Route};
use crate::shared::{ExecutorStats, Shared};

mod diag_hook;
mod dispatch;

use dispatch::{execute, Step};

/// Bytes to make room for before each read (Redis's PROTO_IOBUF_LEN).
const READ_BYTES_MIN: usize = 16 * 1024;
/// Redis's `client-query-buffer-limit`: a client whose unparsed input grows
/// past this is disconnected.
const QUERY_BUFFER_BYTES_MAX: usize = 1024 * 1024 * 1024;
/// Output buffers larger than this are released once drained, so one big
/// reply does not pin memory for the life of the connection.
const OUTPUT_BYTES_KEEP_MAX: usize = 64 * 1024;
/// `rbp` is the output's peak over about this long, as Redis's is.
const OUTPUT_PEAK_WINDOW_MS: u64 = 5_000;
/// Writes, and bytes of writes, one connection may have pending; past
/// either its next command waits, which bounds the memory a pipelining
/// client can pin in the proposer's queue.
const WRITES_PENDING_MAX: u64 = 64 * 1024;
const WRITES_PENDING_BYTES_MAX: usize = 64 << 20;
/// Bytes of writes one network thread may have proposed and not yet
/// answered, over all its connections, before a connection that already
/// waits for a write of its own stops taking commands: the bound of the
/// network -> Raft queue, short of one command per connection.
const EXECUTOR_WRITES_PENDING_BYTES_MAX: u64 = 256 << 20;
/// The same bound in commands (a proposal costs about 200 bytes of memory
/// whatever its size on the wire).
const EXECUTOR_WRITES_PENDING_MAX: u64 = 256 * 1024;
/// Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`: a subscriber
/// whose unsent output passes the hard limit, or stays past the soft one
/// for the soft time, is disconnected, so one that does not read cannot
/// grow the node's memory.
const PUBSUB_OUTPUT_HARD_BYTES: usize = 32 << 20;
const PUBSUB_OUTPUT_SOFT_BYTES: usize = 8 << 20;
const PUBSUB_OUTPUT_SOFT_MS: u64 = 60_000;
/// Reply slots kept allocated once the queue drains.
const SLOTS_KEEP_MAX: usize = 1024;

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

/// What a connection needs from its network thread while it executes.
pub struct Tick<'a> {
    pub shared: &'a Shared,
    pub stats: &'a ExecutorStats,
    pub executor: u16,
    /// Writes to send to the proposer at the end of the tick.
    pub proposals: &'a mut Vec<Proposal>,
    /// The read check that reads held during this tick wait for.
    pub read_ticket: u64,
    /// Connections holding a read: (slab slot, client id, ticket).
    pub read_waiters: &'a mut Vec<(u32, u64, u64)>,
    /// Blocked commands' timeouts: (Unix ms, slab slot, client id, the
    /// command's write sequence number).
    pub deadlines: &'a mut BinaryHeap<Reverse<(u64, u32, u64, u64)>>,
}

/// A blocking command (BLPOP and the like) in progress: its reply slot
/// stays pending until apply answers it (see `crate::blocking`).
struct Blocked {
    /// The command's write sequence number.
    seq: u64,
    /// Propose an unblock at the next `resume`: its timeout passed.
    unblock: bool,
}

/// How long a connection whose timeout passed waits for its unblock to
/// apply before proposing it again (the proposal may have been refused or
/// lost, say while this node briefly did not lead; a repeated unblock is
/// harmless).
const UNBLOCK_RETRY_MS: u64 = 1000;

/// What a command's latency is recorded against, and since when.
#[derive(Clone, Copy)]
struct Timing {
    spec: &'static CommandSpec,
    /// When it first tried to run; `None` if latency tracking is off.
    started: Option<Instant>,
}

impl Timing {
    /// Records the command's end (at `ended`, or now), with `reply` its
    /// reply's first bytes (an error starts with `-`).
    fn finish(self, shared: &Shared, reply: &[u8], ended: Option<Instant>) {
        let stats = &shared.command_stats;
        let latency_ns = self.started.map(|started| {
            let ended = ended.unwrap_or_else(Instant::now);
            ended.saturating_duration_since(started).as_nanos() as u64
        });
        let verdict = if reply.first() == Some(&b'-') {
            command_metrics::record_error(stats, reply);
            Verdict::Failed
        } else {
            Verdict::Ok
        };
        command_metrics::record(stats, cmd::spec_index(self.spec), verdict, latency_ns);
    }
}

/// How far a command got, for its counters.
#[derive(Clone, Copy)]
enum Ran {
    /// Not a known command.
    Unknown,
    /// Refused before running (arity, authentication, a redirect).
    Rejected(&'static CommandSpec),
    /// Queued inside MULTI (or refused there).
    Queued,
    /// Its handler ran.
    Handled(&'static CommandSpec),
    /// It is counted when it is answered (a proposed write, a blocking
    /// command, `WAIT`).
    Deferred,
}

/// One item of the ordered reply queue.
enum Slot {
    /// The reply of the write with this sequence number, its size as
    /// sent (counted in `pending_bytes` until answered), its timing, and
    /// (for an `EXEC`) the queued commands this node runs itself once it
    /// has applied (`cmd::multi::runs_locally`).
    Write(u64, u32, Timing, Vec<Vec<Bytes>>),
    /// Replies already made, to send after the slots before them.
    Ready(BytesMut),
}

/// Why the held command waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// For this connection's pending writes.
    Writes,
    /// For the executor's read check with this ticket.
    ReadCheck(u64),
}

/// A client connection and its buffers.
pub struct Session {
    pub client: Client,
    /// This connection's slot in its executor's slab.
    index: u32,
    /// The network thread (executor) that owns the connection.
    executor: u16,
    input: BytesMut,
    output: BytesMut,
    decoder: CommandDecoder,
    /// Arguments of the command being executed, or of the held command;
    /// reused to avoid allocating.
    args: Vec<Bytes>,
    /// Set by QUIT or a protocol error: close once every reply is flushed.
    closing: bool,
    /// The peer shut its side: read no more; close once every command
    /// already received has been answered and flushed.
    peer_closed: bool,
    /// Replies after the first pending write, in order; empty when no
    /// write is pending.
    slots: VecDeque<Slot>,
    /// Sequence number of this connection's next write.
    write_seq_next: u64,
    /// Bytes (as sent) of the writes proposed and not yet answered.
    pending_bytes: usize,
    /// Sequence number of the next write reply to emit.
    reply_seq_next: u64,
    /// Write outcomes that arrived ahead of an earlier one.
    early: BTreeMap<u64, Outcome>,
    /// The command in `args` waits for this; `None` if nothing is held.
    held: Option<Hold>,
    /// Every command waits for the pending writes (an `EXEC` whose
    /// `SELECT`s move the connection only if it does not abort).
    hold_all: bool,
    /// The held read passed its check (or, if false with `read_checked`
    /// set, this node turned out not to lead).
    read_checked: Option<bool>,
    /// Bytes of input buffered when the held read began to wait: what its
    /// check covers once it passes.
    read_check_covers: usize,
    /// Bytes of input still covered by a passed check; `None` when the
    /// next command is not covered.
    covered_bytes: Option<usize>,
    /// The blocking command this connection waits on; nothing after it
    /// runs until it is answered.
    blocked: Option<Blocked>,
    /// Blocked commands (by write sequence number) whose waiters to end
    /// with an unblock at the next chance.
    unblock_later: Vec<u64>,
    /// The `WAIT` this connection waits on; nothing after it runs until
    /// it is answered.
    replica_wait: Option<ReplicaWait>,
    /// When the command in `args` first tried to run (it may have been
    /// held since), if latency tracking is on.
    started: Option<Instant>,
    /// When its handler returned: the end of an immediate reply.
    handler_ended: Option<Instant>,
    /// Bytes (as received) of the command in `args`.
    command_bytes: usize,
    /// The most the output held since `output_peak_since_ms` (`rbp`).
    output_peak: usize,
    output_peak_since_ms: u64,
    /// Since when a subscriber's unsent output has been past the soft
    /// limit (Unix ms); `None` while it is not.
    pubsub_over_soft_since_ms: Option<u64>,
}

/// A `WAIT` that has not yet seen enough followers.
struct ReplicaWait {
    /// The log index the followers must hold.
    index: u64,
    wanted: i64,
    /// When to answer anyway; `None`: never.
    deadline_ms: Option<u64>,
    timing: Timing,
}

/// The sequence number that marks a `WAIT` check in `Tick::deadlines`.
pub const REPLICA_CHECK: u64 = u64::MAX;
/// How often a `WAIT` looks at the followers again.
const REPLICA_CHECK_MS: u64 = 5;

impl Session {
    pub fn new(client: Client, index: u32, executor: u16) -> Session {
        Session {
            client,
            index,
            executor,
            input: BytesMut::with_capacity(READ_BYTES_MIN),
            output: BytesMut::with_capacity(READ_BYTES_MIN),
            decoder: CommandDecoder::new(),
            args: Vec::with_capacity(8),
            closing: false,
            peer_closed: false,
            slots: VecDeque::new(),
            write_seq_next: 0,
            pending_bytes: 0,
            reply_seq_next: 0,
            early: BTreeMap::new(),
            held: None,
            hold_all: false,
            read_checked: None,
            read_check_covers: 0,
            covered_bytes: None,
            blocked: None,
            unblock_later: Vec::new(),
            replica_wait: None,
            started: None,
            handler_ended: None,
            command_bytes: 0,
            output_peak: 0,
            output_peak_since_ms: 0,
            pubsub_over_soft_since_ms: None,
        }
    }

    /// Publishes what `CLIENT LIST` shows of this connection.
    pub fn publish_figures(&self, writing: bool) {
        let client = &self.client;
        let mut flags = 0;
        for (set, flag) in [
            (client.monitoring, conn_figures::MONITOR),
            (client.subscribed(), conn_figures::PUBSUB),
            (client.multi.is_some(), conn_figures::MULTI),
            (self.parked(), conn_figures::BLOCKED),
            (self.closing, conn_figures::CLOSE_AFTER_REPLY),
            (
                client.consistency == Some(ReadConsistency::Stale),
                conn_figures::READONLY,
            ),
        ] {
            if set {
                flags |= flag;
            }
        }
        let (multi, multi_bytes) = match &client.multi {
            Some(multi) => (multi.commands.len() as i64, multi.bytes),
            None => (-1, 0),
        };
        let argv_bytes: usize = self.args.iter().map(Bytes::len).sum();
        let command_bytes = if self.args.is_empty() {
            0
        } else {
            self.command_bytes
        };
        let (mut held_replies, mut held_reply_bytes, mut held_capacity) = (0, 0, 0);
        for slot in &self.slots {
            if let Slot::Ready(bytes) = slot {
                held_replies += 1;
                held_reply_bytes += bytes.len();
                held_capacity += bytes.capacity();
            }
        }
        let total_bytes = std::mem::size_of::<Session>()
            + self.input.capacity()
            + self.output.capacity()
            + held_capacity
            + argv_bytes
            + multi_bytes;
        self.client.info.figures.publish(&conn_figures::Snapshot {
            flags,
            channels: client.channels.len() as u32,
            patterns: client.patterns.len() as u32,
            shard_channels: client.shard_channels.len() as u32,
            multi,
            query_bytes: (self.input.len() + command_bytes) as u64,
            query_free_bytes: (self.input.capacity() - self.input.len()) as u64,
            argv_bytes: argv_bytes as u64,
            multi_bytes: multi_bytes as u64,
            reply_buffer_bytes: self.output.capacity() as u64,
            reply_peak_bytes: self.output_peak.max(self.output.len()) as u64,
            output_bytes: self.output.len() as u64,
            held_replies,
            held_reply_bytes: held_reply_bytes as u64,
            total_bytes: total_bytes as u64,
            writing,
        });
    }

    /// A blocking command or `WAIT` is waiting: nothing after it runs.
    fn parked(&self) -> bool {
        self.blocked.is_some() || self.replica_wait.is_some()
    }

    /// Writes proposed and not yet answered.
    fn writes_pending(&self) -> u64 {
        self.write_seq_next - self.reply_seq_next
    }

    /// The input buffer, with room for the next read made: the driver
    /// reads into its spare capacity, then calls [`Session::on_received`].
    pub fn input_for_read(&mut self) -> &mut BytesMut {
        self.input
            .reserve(READ_BYTES_MIN.max(self.decoder.bytes_needed_hint()));
        &mut self.input
    }

    /// `read` bytes arrived in the input buffer: runs every complete
    /// command that may run. Returns false if the connection must close
    /// now (its unparsed input passed the query buffer limit).
    pub fn on_received(&mut self, tick: &mut Tick<'_>, read: usize) -> bool {
        ExecutorStats::add(&tick.stats.net_input_bytes, read as u64);
        self.execute_buffered(tick, unix_ms());
        if !self.closing && self.input.len() > QUERY_BUFFER_BYTES_MAX {
            tracing::warn!(
                client = self.client.info.id,
                "closing client that reached max query buffer length"
            );
            return false;
        }
        true
    }

    /// The peer shut its side. As Redis does, every complete command it
    /// sent before is answered (here: once its write has applied, for a
    /// write) and the connection then closes; a blocked command or a
    /// `WAIT` ends at once (its client cannot be waiting for it). Returns
    /// true if the connection must close now, without sending more.
    pub fn on_eof(&mut self) -> bool {
        if self.parked() {
            return true;
        }
        self.peer_closed = true;
        false
    }

    /// The session is closing with nothing left to send (its replies are
    /// sent, or a subscriber's or monitor's output was dropped past its
    /// limit): close now, even if the transport is full.
    pub fn finished(&self) -> bool {
        self.closing && self.output.is_empty() && self.slots.is_empty()
    }

    /// The peer has shut its side: read no more.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Runs the held command if it may now run, then whatever input is
    /// buffered behind it.
    pub fn run_buffered(&mut self, tick: &mut Tick<'_>) {
        self.execute_buffered(tick, unix_ms());
    }

    /// After a write outcome, a read check or a timer: proposes the
    /// unblocks they asked for (before anything runs).
    pub fn prepare_resume(&mut self, tick: &mut Tick<'_>) {
        self.request_unblocks(tick);
    }

    /// Reply bytes ready to be sent, in order.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// The transport took the first `written` bytes of [`Session::output`].
    pub fn on_sent(&mut self, written: usize, stats: &ExecutorStats) {
        ExecutorStats::add(&stats.net_output_bytes, written as u64);
        let _ = self.output.split_to(written);
    }

    /// Every byte of [`Session::output`] was sent: gives a large output
    /// buffer back, and says whether the connection is finished (closing,
    /// or the peer gone with nothing left to answer).
    pub fn on_drained(&mut self) -> Next {
        debug_assert!(self.output.is_empty(), "drained with output left");
        if self.output.capacity() > OUTPUT_BYTES_KEEP_MAX {
            self.output = BytesMut::with_capacity(READ_BYTES_MIN);
        }
        let finished = self.closing || (self.peer_closed && self.held.is_none());
        if finished && self.slots.is_empty() {
            Next::Close
        } else {
            Next::Read
        }
    }

    /// Notes the output's size before it is sent, for `rbp`.
    pub fn note_output_peak(&mut self) {
        self.output_peak = self.output_peak.max(self.output.len());
    }

    /// The read check this connection's held read waits for is done.
    pub fn on_read_checked(&mut self, leader: bool) {
        if matches!(self.held, Some(Hold::ReadCheck(_))) {
            self.read_checked = Some(leader);
            self.covered_bytes = leader.then_some(self.read_check_covers);
            self.held = None;
        }
    }

    /// The outcome of this connection's write `seq` arrived.
    pub fn on_outcome(&mut self, seq: u64, outcome: Outcome, shared: &Shared) {
        if seq != self.reply_seq_next {
            assert!(seq > self.reply_seq_next, "write {seq} answered twice");
            self.early.insert(seq, outcome);
            return;
        }
        self.settle(outcome, shared);
        while let Some(outcome) = self.early.remove(&self.reply_seq_next) {
            self.settle(outcome, shared);
        }
        if self.slots.is_empty() {
            self.hold_all = false;
            if self.held == Some(Hold::Writes) {
                self.held = None;
            }
            // A long pipeline of writes grew the queue: give the room back.
            if self.slots.capacity() > SLOTS_KEEP_MAX {
                self.slots = VecDeque::new();
            }
        }
    }

    /// Answers the oldest pending write with `outcome`, unless it is the
    /// blocking command and apply made it wait: then it goes on waiting.
    fn settle(&mut self, outcome: Outcome, shared: &Shared) {
        let next = self.reply_seq_next;
        if self
            .blocked
            .as_ref()
            .is_none_or(|blocked| blocked.seq != next)
        {
            self.emit_outcome(outcome, shared);
            return;
        }
        if matches!(outcome, Outcome::Blocked) {
            return;
        }
        if let Outcome::Failed(_) = outcome {
            // Its fate may be unknown: if apply did register it, its next
            // entry ends it (a refused write never registered anything).
            self.unblock_later.push(next);
        }
        if let Outcome::Applied(Reply::Error(redraft_engine::Error::Other(text))) = &outcome {
            // A new term ended every wait; Redis closes such a connection.
            if *text == redraft_engine::UNBLOCKED_ERROR {
                self.closing = true;
            }
        }
        self.blocked = None;
        self.emit_outcome(outcome, shared);
    }

    /// Where the reply of this connection's write `seq`, on hash slot
    /// `slot`, goes.
    fn route(&self, slot: u16, seq: u64) -> Route {
        Route {
            executor: self.executor,
            slot,
            conn: self.index,
            client_id: self.client.info.id,
            seq,
        }
    }

    /// This connection as the blocking registry and pub/sub name it.
    fn subscriber(&self) -> crate::pubsub::Subscriber {
        crate::pubsub::Subscriber {
            executor: self.executor,
            conn: self.index,
            client_id: self.client.info.id,
        }
    }

    /// A timer of this connection is due at `now_ms`: blocking command
    /// `seq`'s timeout, or ([`REPLICA_CHECK`]) its `WAIT`'s next look at
    /// the followers. Returns when to look again, if the `WAIT` goes on.
    pub fn on_deadline(&mut self, seq: u64, shared: &Shared, now_ms: u64) -> Option<u64> {
        if seq == REPLICA_CHECK {
            return self.check_replicas(shared, now_ms);
        }
        self.on_timeout(seq, now_ms)
    }

    /// Answers the `WAIT` if enough followers hold its index or its time
    /// is up; otherwise returns when to look again.
    fn check_replicas(&mut self, shared: &Shared, now_ms: u64) -> Option<u64> {
        let wait = self.replica_wait.as_ref()?;
        let holding = shared.raft.followers_holding(wait.index);
        let expired = wait
            .deadline_ms
            .is_some_and(|deadline_ms| now_ms >= deadline_ms);
        if holding as i64 >= wait.wanted || expired {
            wait.timing.finish(shared, b":", None);
            self.replica_wait = None;
            let resp3 = self.client.resp3;
            ReplyWriter::new(reply_buffer(&mut self.output, &mut self.slots), resp3)
                .int(holding as i64);
            return None;
        }
        let next_ms = now_ms + REPLICA_CHECK_MS;
        Some(
            wait.deadline_ms
                .map_or(next_ms, |deadline_ms| next_ms.min(deadline_ms)),
        )
    }

    /// The timeout of blocking command `seq` is due (or, once it was,
    /// its unblock has not applied yet): asks for an unblock at the next
    /// `resume`, and returns when to ask again.
    fn on_timeout(&mut self, seq: u64, now_ms: u64) -> Option<u64> {
        let blocked = self.blocked.as_mut().filter(|blocked| blocked.seq == seq)?;
        blocked.unblock = true;
        Some(now_ms + UNBLOCK_RETRY_MS)
    }

    /// The connection closes: a blocked command's waiter must end too, and
    /// its pending writes leave the executor's count (their replies will
    /// find no connection).
    pub fn on_close(&mut self, proposals: &mut Vec<Proposal>, shared: &Shared) {
        let stats = &shared.executors[usize::from(self.executor)];
        ExecutorStats::sub(&stats.pending_write_bytes, self.pending_bytes as u64);
        ExecutorStats::sub(&stats.pending_writes, self.writes_pending());
        self.pending_bytes = 0;
        if let Some(blocked) = self.blocked.take() {
            self.unblock_later.push(blocked.seq);
        }
        self.propose_unblocks(proposals);
    }

    /// Proposes the unblocks asked for: a timed-out blocked command's, and
    /// those that clean up after a blocking command whose fate was unknown.
    fn request_unblocks(&mut self, tick: &mut Tick<'_>) {
        if let Some(blocked) = self.blocked.as_mut().filter(|blocked| blocked.unblock) {
            blocked.unblock = false;
            self.unblock_later.push(blocked.seq);
        }
        self.propose_unblocks(tick.proposals);
    }

    fn propose_unblocks(&mut self, proposals: &mut Vec<Proposal>) {
        let client_id = self.client.info.id;
        let db = self.client.db as u8;
        proposals.extend(self.unblock_later.drain(..).map(|seq| Proposal {
            route: None,
            db,
            op: Op::Unblock { client_id, seq },
            bytes: 64,
        }));
    }

    /// Writes a published message as a push (RESP3) or an array (RESP2).
    /// It goes straight to the output: a push may sit between any two
    /// replies, so it need not wait behind pending writes.
    pub fn on_message(&mut self, message: &crate::pubsub::Message) {
        if self.closing || self.over_pubsub_limit(message.payload.len()) {
            return;
        }
        let mut out = ReplyWriter::new(&mut self.output, self.client.resp3);
        match &message.pattern {
            Some(pattern) => {
                out.push(4);
                out.bulk(b"pmessage");
                out.bulk(pattern);
            }
            None => {
                out.push(3);
                out.bulk(if message.shard {
                    &b"smessage"[..]
                } else {
                    b"message"
                });
            }
        }
        out.bulk(&message.channel);
        out.bulk(&message.payload);
    }

    /// Whether a message of about `adding` bytes takes this subscriber's
    /// unsent output past Redis's pub/sub limits: then the output is
    /// dropped and the connection closes, as Redis closes it.
    fn over_pubsub_limit(&mut self, adding: usize) -> bool {
        let unsent = self.output.len() + adding;
        let over = if unsent > PUBSUB_OUTPUT_HARD_BYTES {
            true
        } else if unsent > PUBSUB_OUTPUT_SOFT_BYTES {
            let now_ms = unix_ms();
            let since_ms = *self.pubsub_over_soft_since_ms.get_or_insert(now_ms);
            now_ms.saturating_sub(since_ms) >= PUBSUB_OUTPUT_SOFT_MS
        } else {
            self.pubsub_over_soft_since_ms = None;
            false
        };
        if over {
            tracing::warn!(
                client = self.client.info.id,
                unsent_bytes = unsent,
                "closing a subscriber past the pub/sub output buffer limits"
            );
            self.output.clear();
            self.closing = true;
        }
        over
    }

    /// Writes a MONITOR line. Like a push it goes straight to the output
    /// (a monitor cannot write, so no reply of its own is pending). A
    /// monitor that lets [`crate::diag::monitor::OUTPUT_BYTES_MAX`] pile
    /// up is closed, as Redis closes a replica past its output limit.
    pub fn on_monitor(&mut self, line: &[u8]) {
        if self.closing {
            return;
        }
        if self.output.len() + line.len() > crate::diag::monitor::OUTPUT_BYTES_MAX {
            tracing::warn!(
                client = self.client.info.id,
                "closing a MONITOR client that does not read its output"
            );
            self.output.clear();
            self.closing = true;
            return;
        }
        self.output.extend_from_slice(line);
    }

    /// Writes the outcome of the oldest pending write, then every ready
    /// reply up to the next pending write.
    fn emit_outcome(&mut self, outcome: Outcome, shared: &Shared) {
        let front = self.slots.pop_front();
        let Some(Slot::Write(seq, bytes, timing, locals)) = front else {
            panic!("the oldest slot is the write being answered");
        };
        assert_eq!(seq, self.reply_seq_next, "writes are answered in order");
        self.pending_bytes -= bytes as usize;
        let stats = &shared.executors[usize::from(self.executor)];
        ExecutorStats::sub(&stats.pending_write_bytes, u64::from(bytes));
        ExecutorStats::sub(&stats.pending_writes, 1);
        self.reply_seq_next += 1;
        let at = self.output.len();
        let mut out = ReplyWriter::new(&mut self.output, self.client.resp3);
        match outcome {
            Outcome::Applied(reply) => reply.emit(&mut out),
            Outcome::Exec(exec) => {
                if exec.holes.is_empty() {
                    out.encoded(&exec.encoded);
                } else {
                    self.splice_locals(shared, &exec, &locals);
                }
            }
            Outcome::Failed(text) => out.error_text(&text),
            Outcome::Blocked => unreachable!("a blocked command keeps waiting"),
        }
        timing.finish(shared, reply_head(&self.output[at..]), None);
        while let Some(Slot::Ready(_)) = self.slots.front() {
            if let Some(Slot::Ready(bytes)) = self.slots.pop_front() {
                self.output.extend_from_slice(&bytes);
            }
        }
    }

    /// Writes an applied `EXEC`'s replies with those of the commands this
    /// node runs itself, each run now, in its place.
    fn splice_locals(&mut self, shared: &Shared, exec: &ExecReply, locals: &[Vec<Bytes>]) {
        assert_eq!(exec.holes.len(), locals.len(), "one hole per local command");
        let subscriber = self.subscriber();
        let mut from = 0;
        for (&hole, args) in exec.holes.iter().zip(locals) {
            self.output.extend_from_slice(&exec.encoded[from..hole]);
            from = hole;
            let resp3 = self.client.resp3;
            let mut ctx = Ctx {
                shared,
                now_ms: unix_ms(),
                client: &mut self.client,
                out: ReplyWriter::new(&mut self.output, resp3),
                writes_pending: false,
                subscriber,
                read_checked: None,
            };
            multi::run_local(&mut ctx, args);
        }
        self.output.extend_from_slice(&exec.encoded[from..]);
    }

    /// Executes every complete command in the input buffer, starting with
    /// the held one if it may now run.
    fn execute_buffered(&mut self, tick: &mut Tick<'_>, now_ms: u64) {
        if self.parked() {
            return;
        }
        if self.held.is_none() && !self.args.is_empty() {
            // The held command may run now.
            if !self.run_command(tick, now_ms) {
                return;
            }
        }
        while !self.closing && self.held.is_none() && !self.parked() {
            let buffered = self.input.len();
            let decoded =
                self.decoder
                    .decode(&mut self.input, &mut self.args, self.client.authenticated);
            // Covered only if every byte of the command was covered.
            let consumed = buffered - self.input.len();
            self.covered_bytes = self
                .covered_bytes
                .and_then(|covered| covered.checked_sub(consumed));
            match decoded {
                Ok(true) if self.args.is_empty() => {}
                Ok(true) => {
                    ExecutorStats::add(&tick.stats.commands, 1);
                    self.command_bytes = consumed;
                    if self.covered_bytes.is_some() {
                        self.read_checked = Some(true);
                    }
                    if !self.run_command(tick, now_ms) {
                        return;
                    }
                }
                Ok(false) => break,
                Err(error) => {
                    let resp3 = self.client.resp3;
                    ReplyWriter::new(reply_buffer(&mut self.output, &mut self.slots), resp3)
                        .protocol_error(&error);
                    command_metrics::record_error(&tick.shared.command_stats, b"ERR");
                    self.closing = true;
                }
            }
        }
        if self.held.is_none() {
            self.args.clear();
        }
    }

    /// Runs the command in `args`. Returns false if it was held (its
    /// arguments stay in `args`).
    fn run_command(&mut self, tick: &mut Tick<'_>, now_ms: u64) -> bool {
        if now_ms.saturating_sub(self.output_peak_since_ms) >= OUTPUT_PEAK_WINDOW_MS {
            self.output_peak = self.output.len();
            self.output_peak_since_ms = now_ms;
        }
        // No command runs while output waits for the transport.
        self.publish_figures(false);
        let read_checked = self.read_checked.take();
        let mark = self.reply_mark();
        let seq = self.write_seq_next;
        let mut ran = Ran::Unknown;
        let step = execute(self, tick, now_ms, read_checked, &mut ran);
        if self.write_seq_next != seq {
            // Proposed: counted when answered (its timing is in its slot).
            ran = Ran::Deferred;
        }
        if !matches!(step, Step::Hold(_)) {
            self.count(tick.shared, ran, mark);
        } else if self.started.is_none() && tick.shared.command_stats.tracking() {
            // Held before its handler ran: its wait counts.
            self.started = Some(Instant::now());
        }
        match step {
            Step::Done => {}
            Step::Close => self.closing = true,
            Step::Hold(hold) => {
                self.held = Some(hold);
                if let Hold::ReadCheck(ticket) = hold {
                    tick.read_waiters
                        .push((self.index, self.client.info.id, ticket));
                    self.read_check_covers = self.input.len();
                }
                return false;
            }
        }
        true
    }

    /// Where the next immediate reply will start: (in a ready slot, at).
    fn reply_mark(&self) -> (bool, usize) {
        match self.slots.back() {
            None => (false, self.output.len()),
            Some(Slot::Ready(bytes)) => (true, bytes.len()),
            Some(Slot::Write(..)) => (true, 0),
        }
    }

    /// Counts the command that just ran (or was refused) in the node's
    /// command figures; `at` is where its reply starts.
    fn count(&mut self, shared: &Shared, ran: Ran, (in_slot, at): (bool, usize)) {
        let started = self.started.take();
        let reply = if in_slot {
            match self.slots.back() {
                Some(Slot::Ready(bytes)) => reply_head(bytes.get(at..).unwrap_or_default()),
                _ => &[],
            }
        } else {
            reply_head(self.output.get(at..).unwrap_or_default())
        };
        let stats = &shared.command_stats;
        match ran {
            Ran::Deferred => {}
            Ran::Unknown | Ran::Queued => {
                if reply.first() == Some(&b'-') {
                    command_metrics::record_error(stats, reply);
                }
            }
            Ran::Rejected(spec) => {
                command_metrics::record_error(stats, reply);
                command_metrics::record(stats, cmd::spec_index(spec), Verdict::Rejected, None);
            }
            Ran::Handled(spec) => {
                let ended = self.handler_ended.take();
                Timing { spec, started }.finish(shared, reply, ended);
            }
        }
    }
}

/// Where the next immediate reply goes: straight to the output when no
/// write is pending, else after the last pending slot.
fn reply_buffer<'a>(output: &'a mut BytesMut, slots: &'a mut VecDeque<Slot>) -> &'a mut BytesMut {
    if slots.is_empty() {
        return output;
    }
    if !matches!(slots.back(), Some(Slot::Ready(_))) {
        slots.push_back(Slot::Ready(BytesMut::new()));
    }
    match slots.back_mut() {
        Some(Slot::Ready(bytes)) => bytes,
        _ => unreachable!("a ready slot was just pushed"),
    }
}

/// The first bytes of a reply: enough to tell an error and name it.
fn reply_head(reply: &[u8]) -> &[u8] {
    &reply[..reply.len().min(64)]
}
