//! The coalescing proposer: merges every write the network threads have
//! queued into one Raft entry, keeps at most [`ENTRIES_IN_FLIGHT_MAX`]
//! entries in flight, and routes each command's reply back to its
//! connection.
//!
//! openraft waits for each log flush before the next append, so durable
//! throughput is entries per fdatasync times commands per entry; the
//! proposer makes the second factor large (DESIGN.md, "Why openraft 0.9 on
//! its own thread").
//!
//! Routing: each entry carries this run's `origin` and a proposal number.
//! Before proposing, the routes of its commands are registered under the
//! number; the state machine's observer ([`Router::applied`]) takes them
//! when the entry is applied (on this node, whatever its role by then) and
//! pushes the replies to the network threads. A blocking command that
//! apply registered as a waiter keeps its route until its wait ends, in
//! this entry or a later one, and gets that reply too. If the entry fails, or its
//! fate is unknown after [`WRITE_TIMEOUT`], the routes still registered get
//! an error instead; a route is answered exactly once.
//!
//! Timing: openraft 0.9 appends one entry at a time and waits for its
//! flush, so an entry handed over while the previous one is flushing only
//! waits in openraft's queue while more writes arrive behind it. The
//! proposer therefore forms the next entry when the log store reports the
//! previous append durable (or the previous write finished): everything
//! that arrived during a flush goes into the next entry, and the log is
//! idle only for the hand-over.
//!
//! Invariants:
//! - One client's writes are proposed in the order they were queued, so
//!   they apply in its order. A write larger than `UPLOAD_BYTES_MIN` goes
//!   in parts ([`crate::raft::upload`]); its client's later writes wait for
//!   its last part, other clients' writes go past it.
//! - Only the leader proposes: when this node does not lead, queued writes
//!   (and an upload in progress) are answered with `-MOVED` or
//!   `-CLUSTERDOWN` and never proposed (further).
//! - An entry holds at most [`ENTRY_COMMANDS_MAX`] commands besides one
//!   part of an upload, and at most [`ENTRY_BYTES_TARGET`] bytes of small
//!   writes (each at most `UPLOAD_BYTES_MIN`) besides that part, so an
//!   entry is never much over 2 MiB.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::Raft;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::sync::{Notify, Semaphore};

use crate::blocking::Blocking;
use crate::clock::unix_ms;
use crate::raft::state_machine::AppliedEntry;
use crate::raft::status::{RaftStatus, Role, CLUSTER_DOWN};
use crate::raft::types::{Command, Request, TypeConfig};
use crate::raft::upload::Uploads;
use crate::route::{Delivery, Inbox, Op, Outcome, Proposal, Route, ToRaft};

/// Entries proposed and not yet applied (or failed) at once.
pub const ENTRIES_IN_FLIGHT_MAX: usize = 2;
/// Most commands in one entry.
pub const ENTRY_COMMANDS_MAX: usize = 16 * 1024;
/// Bytes (as the commands were sent) after which an entry takes no more.
pub const ENTRY_BYTES_TARGET: usize = 1 << 20;
/// Queued writes the proposer keeps room for once its queue is empty.
const WRITES_IDLE_CAPACITY_MAX: usize = 4096;
/// How long a proposed write may wait for its commit before its client is
/// told that the outcome is unknown.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read check may take before its reads are refused.
pub const READ_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Routes of the entries this run has proposed, by proposal number.
pub struct Router {
    /// This run's origin (see [`Request::origin`]).
    origin: u64,
    next_proposal: AtomicU64,
    /// Each proposal's routes, one slot per command of the entry.
    pending: Mutex<FxHashMap<u64, Vec<Option<Route>>>>,
    /// Routes of this run's blocked commands that apply registered as
    /// waiters, by (client id, write sequence number), until their wait
    /// ends.
    waiting: Mutex<FxHashMap<(u64, u64), Route>>,
    /// Counts `waiting` for INFO.
    blocking: Arc<Blocking>,
    inboxes: Arc<[Inbox]>,
}

impl Router {
    pub fn new(origin: u64, inboxes: Arc<[Inbox]>, blocking: Arc<Blocking>) -> Router {
        Router {
            origin,
            next_proposal: AtomicU64::new(0),
            pending: Mutex::default(),
            waiting: Mutex::default(),
            blocking,
            inboxes,
        }
    }

    /// Registers the routes of a new entry and returns its proposal number.
    fn register(&self, routes: Vec<Option<Route>>) -> u64 {
        let proposal = self.next_proposal.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().insert(proposal, routes);
        proposal
    }

    /// The state machine applied an entry: if this run proposed it, sends
    /// each reply to its connection; and sends the replies of this run's
    /// blocked commands whose wait ended.
    pub fn applied(&self, entry: AppliedEntry<'_>) {
        let mut deliveries = Vec::new();
        let routes = entry
            .request
            .filter(|request| request.origin == self.origin)
            .and_then(|request| self.pending.lock().remove(&request.proposal));
        if let Some(routes) = routes {
            assert_eq!(routes.len(), entry.replies.len(), "one reply per command");
            for (route, reply) in routes.into_iter().zip(entry.replies) {
                let Some(route) = route else { continue };
                if matches!(reply, Outcome::Blocked) {
                    let replaced = self
                        .waiting
                        .lock()
                        .insert((route.client_id, route.seq), route);
                    assert!(replaced.is_none(), "{route:?} blocked twice");
                    self.blocking.blocked();
                }
                deliveries.push((route, reply));
            }
        }
        for (id, reply) in entry.waiters {
            if id.origin != self.origin {
                continue;
            }
            if let Some(route) = self.waiting.lock().remove(&(id.client_id, id.seq)) {
                self.blocking.unblocked();
                deliveries.push((route, reply));
            }
        }
        self.deliver(deliveries.into_iter());
    }

    /// Proposal `proposal` will not be applied by this run's routing (it
    /// failed, or its outcome is unknown): answers its routes with the
    /// error `error(route)` gives.
    fn failed(&self, proposal: u64, error: impl Fn(&Route) -> String) {
        let Some(routes) = self.pending.lock().remove(&proposal) else {
            return;
        };
        self.deliver(
            routes
                .into_iter()
                .flatten()
                .map(|route| (route, Outcome::Failed(error(&route)))),
        );
    }

    /// Answers writes that were never proposed.
    fn refuse(
        &self,
        proposals: impl IntoIterator<Item = Proposal>,
        error: impl Fn(&Route) -> String,
    ) {
        self.deliver(
            proposals
                .into_iter()
                .filter_map(|proposal| proposal.route)
                .map(|route| (route, Outcome::Failed(error(&route)))),
        );
    }

    /// Pushes outcomes to their network threads, one push per thread.
    fn deliver(&self, outcomes: impl Iterator<Item = (Route, Outcome)>) {
        let mut per_executor: Vec<Vec<Delivery>> = Vec::new();
        for (route, outcome) in outcomes {
            let executor = usize::from(route.executor);
            if per_executor.len() <= executor {
                per_executor.resize_with(executor + 1, Vec::new);
            }
            per_executor[executor].push(Delivery::Write { route, outcome });
        }
        for (executor, deliveries) in per_executor.into_iter().enumerate() {
            if !deliveries.is_empty() {
                self.inboxes[executor].push(deliveries);
            }
        }
    }

    /// Sends the result of a read check to an executor.
    fn read_checked(&self, executor: u16, ticket: u64, leader: bool) {
        self.inboxes[usize::from(executor)].push([Delivery::ReadIndex { ticket, leader }]);
    }
}

/// The client whose write `proposal` is, if it comes from one: a routed
/// write, or the end of a client's wait.
fn client_of(proposal: &Proposal) -> Option<u64> {
    match (&proposal.route, &proposal.op) {
        (Some(route), _) => Some(route.client_id),
        (None, Op::Unblock { client_id, .. }) => Some(*client_id),
        (None, _) => None,
    }
}

/// How long a read check waits before asking again when a round of
/// heartbeats missed its quorum.
const READ_CHECK_RETRY: Duration = Duration::from_millis(10);

/// Confirms that this node still leads, against a quorum of heartbeat
/// replies. A round whose replies missed their deadline (a follower slow on
/// a loaded machine, or one down and another late) is not a lost
/// leadership: it asks again, until the caller's deadline. `None` if
/// another node leads.
async fn confirm_leadership(raft: &Raft<TypeConfig>) -> Option<()> {
    loop {
        match raft.ensure_linearizable().await {
            Ok(_) => return Some(()),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                tokio::time::sleep(READ_CHECK_RETRY).await;
            }
            Err(_) => return None,
        }
    }
}

/// Raised by the log store each time an append becomes durable: a count the
/// proposer compares, so a late or spare wake-up is never mistaken for the
/// flush it waits for.
#[derive(Default)]
pub struct FlushSignal {
    flushes: AtomicU64,
    notify: Notify,
}

impl FlushSignal {
    /// One more append is durable.
    pub fn raise(&self) {
        self.flushes.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_one();
    }

    fn count(&self) -> u64 {
        self.flushes.load(Ordering::Acquire)
    }
}

/// The proposer's inputs.
pub struct Proposer {
    pub raft: Raft<TypeConfig>,
    pub router: Arc<Router>,
    pub status: Arc<RaftStatus>,
    pub queue: Receiver<ToRaft>,
    /// Raised by the network threads after sending, and by the status
    /// watcher when the role changes.
    pub notify: Arc<Notify>,
    /// Raised when an append is durable.
    pub flushed: Arc<FlushSignal>,
}

impl Proposer {
    /// Runs until the channel's senders are gone.
    pub async fn run(self) {
        let in_flight = Arc::new(Semaphore::new(ENTRIES_IN_FLIGHT_MAX));
        let mut writes: VecDeque<Proposal> = VecDeque::new();
        let mut uploads = Uploads::default();
        let mut reads: Vec<(u16, u64)> = Vec::new();
        // The last entry handed to openraft, until an append after it was
        // handed over is durable or its write ended (it may never be
        // appended): the flush count then, and whether it ended.
        let mut appending: Option<(u64, Arc<AtomicBool>)> = None;
        // One read check runs at a time; reads queued meanwhile share the
        // next one.
        let checking = Arc::new(AtomicBool::new(false));
        loop {
            loop {
                match self.queue.try_recv() {
                    Ok(ToRaft::Writes(batch)) => writes.extend(batch),
                    Ok(ToRaft::ReadIndex { executor, ticket }) => reads.push((executor, ticket)),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                }
            }
            if !reads.is_empty() && !checking.swap(true, Ordering::AcqRel) {
                self.check_reads(std::mem::take(&mut reads), checking.clone());
            }
            if writes.is_empty() && !uploads.busy() {
                // A burst (a bulk load) can queue hundreds of thousands of
                // writes; keep no more than a small queue's room while idle.
                writes.shrink_to(WRITES_IDLE_CAPACITY_MAX);
                self.notify.notified().await;
                continue;
            }
            if self.status.role() != Role::Leader {
                let status = self.status.clone();
                self.router
                    .refuse(writes.drain(..), |route| status.refusal(route.slot));
                if let Some(route) = uploads.abandon() {
                    self.router.deliver(std::iter::once((
                        route,
                        Outcome::Failed(status.refusal(route.slot)),
                    )));
                }
                continue;
            }
            if let Some((flushes, ended)) = &appending {
                let durable = self.flushed.count() > *flushes;
                if !durable && !ended.load(Ordering::Acquire) {
                    tokio::select! {
                        _ = self.flushed.notify.notified() => {}
                        _ = self.notify.notified() => {}
                    }
                    continue;
                }
                appending = None;
            }
            tokio::select! {
                permit = in_flight.clone().acquire_owned() => {
                    let ended = Arc::new(AtomicBool::new(false));
                    appending = Some((self.flushed.count(), ended.clone()));
                    let wake = self.notify.clone();
                    let permit = permit.expect("the semaphore is never closed");
                    let request = self.take_entry(&mut writes, &mut uploads);
                    let proposal = request.proposal;
                    let router = self.router.clone();
                    let raft = self.raft.clone();
                    tokio::spawn(async move {
                        let result = tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(request)).await;
                        drop(permit);
                        ended.store(true, Ordering::Release);
                        wake.notify_one();
                        match result {
                            Ok(Ok(_)) => {}
                            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                                // Never appended, or truncated: not applied.
                                let addr = forward.leader_node.map(|node| format!("{}:{}", node.host, node.port));
                                router.failed(proposal, |route| match &addr {
                                    Some(addr) => format!("MOVED {} {addr}", route.slot),
                                    None => CLUSTER_DOWN.to_string(),
                                });
                            }
                            Ok(Err(error)) => router.failed(proposal, |_| {
                                format!("ERR write outcome unknown ({error}); it may or may not have been applied")
                            }),
                            Err(_) => router.failed(proposal, |_| {
                                format!(
                                    "ERR write outcome unknown (not committed within {} ms); it may or may not have been applied",
                                    WRITE_TIMEOUT.as_millis()
                                )
                            }),
                        }
                    });
                }
                _ = self.notify.notified() => {}
            }
        }
    }

    /// Takes the next entry's worth of writes off the queue and registers
    /// their routes: the next part of the upload in progress (or of a
    /// large write that starts one), then small writes in queue order,
    /// skipping those of a client whose earlier write is still being
    /// uploaded or waits to be (they keep their place in the queue).
    fn take_entry(&self, writes: &mut VecDeque<Proposal>, uploads: &mut Uploads) -> Request {
        let mut commands = Vec::with_capacity(writes.len().min(ENTRY_COMMANDS_MAX));
        let mut routes = Vec::with_capacity(commands.capacity());
        let mut parts = Vec::new();
        let mut held: Vec<u64> = uploads.holding().into_iter().collect();
        let mut part_taken = false;
        if uploads.busy() {
            uploads.next_commands(&mut parts);
            part_taken = true;
        }
        // Clients whose writes are passed over, in queue order.
        let mut skipped: Vec<Proposal> = Vec::new();
        let mut bytes = 0usize;
        loop {
            // An upload's commands go first; once its `Assembled` is in,
            // its client's later writes may follow it in this entry.
            for part in parts.drain(..) {
                if part.route.is_some() {
                    held.retain(|&client| Some(client) != part.route.map(|r| r.client_id));
                }
                routes.push(part.route);
                commands.push(Command {
                    db: part.db,
                    op: part.op,
                });
            }
            let Some(proposal) = writes.pop_front() else {
                break;
            };
            let client = client_of(&proposal);
            if client.is_some_and(|client| held.contains(&client)) {
                skipped.push(proposal);
                continue;
            }
            if Uploads::needs_parts(&proposal) {
                if uploads.busy() || part_taken {
                    // One upload at a time, one part per entry: it waits,
                    // and so do its client's later writes.
                    held.extend(client);
                    skipped.push(proposal);
                } else {
                    uploads.begin(proposal, client);
                    held.extend(client);
                    uploads.next_commands(&mut parts);
                    part_taken = true;
                }
                continue;
            }
            let size = proposal.bytes as usize;
            if !commands.is_empty()
                && (commands.len() >= ENTRY_COMMANDS_MAX || bytes + size > ENTRY_BYTES_TARGET)
            {
                writes.push_front(proposal);
                break;
            }
            bytes += size;
            routes.push(proposal.route);
            commands.push(Command {
                db: proposal.db,
                op: proposal.op,
            });
        }
        for proposal in skipped.into_iter().rev() {
            writes.push_front(proposal);
        }
        self.status.entries_proposed.fetch_add(1, Ordering::Relaxed);
        self.status
            .commands_proposed
            .fetch_add(commands.len() as u64, Ordering::Relaxed);
        let proposal = self.router.register(routes);
        Request {
            stamp_ms: unix_ms(),
            origin: self.router.origin,
            proposal,
            commands,
        }
    }

    /// One leadership check for every read queued so far; `checking` is
    /// cleared (and the proposer woken) when it is done.
    fn check_reads(&self, reads: Vec<(u16, u64)>, checking: Arc<AtomicBool>) {
        let raft = self.raft.clone();
        let router = self.router.clone();
        let notify = self.notify.clone();
        let status = self.status.clone();
        tokio::spawn(async move {
            // A leader cut off from its quorum may wait for heartbeat
            // replies that never come; its reads are refused instead.
            let check = async {
                confirm_leadership(&raft).await?;
                if !status.caught_up() {
                    // The commit index may be behind what was acknowledged
                    // before a power loss: read only once the whole
                    // boot-time log is applied.
                    raft.wait(None)
                        .applied_index_at_least(Some(status.boot_log_index()), "boot log applied")
                        .await
                        .ok()?;
                }
                Some(())
            };
            let leader = matches!(
                tokio::time::timeout(READ_CHECK_TIMEOUT, check).await,
                Ok(Some(()))
            );
            for (executor, ticket) in reads {
                router.read_checked(executor, ticket, leader);
            }
            checking.store(false, Ordering::Release);
            notify.notify_one();
        });
    }
}
