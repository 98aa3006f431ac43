//! Dispatch of one command on its session: the checks that may refuse or
//! hold it (pending writes, arity, authentication, subscribed mode,
//! MULTI queueing, redirects, the read gate), its handler, and what the
//! handler asks for next (a reply, a proposed write, a blocking pop, a
//! WAIT, an EXEC).
//!
//! Invariant: a command either replies into its place in the reply order,
//! is proposed with a reply slot of its own, or is held with its
//! arguments kept; never two of these.

use std::cmp::Reverse;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::{
    reply_buffer, Blocked, Hold, Ran, ReplicaWait, Session, Slot, Tick, Timing,
    EXECUTOR_WRITES_PENDING_BYTES_MAX, EXECUTOR_WRITES_PENDING_MAX, REPLICA_CHECK,
    WRITES_PENDING_BYTES_MAX, WRITES_PENDING_MAX,
};
use crate::client::Client;
use crate::cmd::multi;
use crate::cmd::{self, flags, Action, CommandSpec, Ctx};
use crate::raft::status::ReadGate;
use crate::resp::ReplyWriter;
use crate::route::{key_slot, Op, Proposal};
use crate::shared::ExecutorStats;
use crate::shared::Shared;

/// What became of one command.
pub(super) enum Step {
    /// Replied, or proposed (its reply slot is queued).
    Done,
    /// Replied; close the connection after the replies are flushed (QUIT).
    Close,
    /// Not run: it waits.
    Hold(Hold),
}

/// The hash slot of a command's first key (0 without keys), for redirects.
fn first_key_slot(spec: &CommandSpec, args: &[Bytes]) -> u16 {
    match usize::try_from(spec.keys.0) {
        Ok(first) if first > 0 => args.get(first).map_or(0, |key| key_slot(key)),
        _ => 0,
    }
}

/// Runs the command in `conn.args`: replies at once, proposes a write, or
/// holds it. `read_checked` is the result of the read check the command
/// was held for, if it was.
pub(super) fn execute(
    conn: &mut Session,
    tick: &mut Tick<'_>,
    now_ms: u64,
    read_checked: Option<bool>,
    ran: &mut Ran,
) -> Step {
    let shared = tick.shared;
    let args = &conn.args;
    let resp3 = conn.client.resp3;
    let Some(spec) = cmd::lookup(&args[0]) else {
        let mut out = ReplyWriter::new(reply_buffer(&mut conn.output, &mut conn.slots), resp3);
        out.error_text(&cmd::unknown_command_error(&args[0], &args[1..]));
        if let Some(multi) = conn.client.multi.as_mut() {
            multi.failed = true;
        }
        return Step::Done;
    };
    let is_write = spec.is_write();
    // Inside MULTI, a command is queued, not run: it need not wait.
    let queueing = conn.client.multi.is_some() && !multi::controls_multi(spec);
    let pending = conn.writes_pending();
    if ((!is_write || conn.hold_all) && !queueing && pending > 0)
        || pending >= WRITES_PENDING_MAX
        || conn.pending_bytes >= WRITES_PENDING_BYTES_MAX
        || (pending > 0
            && (tick.stats.pending_write_bytes.load(Ordering::Relaxed)
                >= EXECUTOR_WRITES_PENDING_BYTES_MAX
                || tick.stats.pending_writes.load(Ordering::Relaxed)
                    >= EXECUTOR_WRITES_PENDING_MAX))
    {
        return Step::Hold(Hold::Writes);
    }
    let effective = cmd::effective_spec(spec, args);
    *ran = Ran::Rejected(effective);
    let address = cmd::spec_address(effective);
    conn.client
        .info
        .last_command
        .store(address, Ordering::Relaxed);
    conn.client
        .info
        .last_command_ms
        .store(now_ms, Ordering::Relaxed);
    let subscriber = conn.subscriber();
    let mut ctx = Ctx {
        shared,
        now_ms,
        client: &mut conn.client,
        out: ReplyWriter::new(reply_buffer(&mut conn.output, &mut conn.slots), resp3),
        writes_pending: pending > 0,
        subscriber,
        read_checked,
    };
    // A subcommand's arity counts the container's name too, and is checked
    // before it runs, as Redis does (so the call is rejected, not failed).
    if !spec.arity_ok(args.len()) || !effective.arity_ok(args.len()) {
        cmd::arity_error(&mut ctx, effective.name);
        fail_transaction(ctx.client);
        return Step::Done;
    }
    if !ctx.client.authenticated && spec.flags & flags::NO_AUTH == 0 {
        ctx.out.error_text("NOAUTH Authentication required.");
        fail_transaction(ctx.client);
        return Step::Done;
    }
    if let Some(error) = super::diag_hook::refusal(ctx.client, effective) {
        ctx.out.error_text(error);
        return Step::Done;
    }
    if !resp3 && ctx.client.subscribed() && !cmd::allowed_when_subscribed(spec) {
        ctx.out.error_text(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            effective.name
        ));
        return Step::Done;
    }
    let denyoom = effective.flags & flags::DENYOOM != 0;
    if let Some(error) = crate::evict::oom::refusal(shared.evict_node(), denyoom) {
        ctx.out.error_text(error);
        fail_transaction(ctx.client);
        return Step::Done;
    }
    if let Some(error) = persistence_refusal(shared, effective, ctx.client) {
        if effective.name == "exec" {
            // As Redis's execCommandAbort: the transaction is discarded.
            ctx.client.multi = None;
            ctx.client.watches.clear();
            ctx.out.error_text(&format!(
                "EXECABORT Transaction discarded because of: {error}"
            ));
        } else {
            ctx.out.error_text(&error);
            fail_transaction(ctx.client);
        }
        return Step::Done;
    }
    if queueing {
        *ran = Ran::Queued;
        queue(&mut ctx, effective, args);
        return Step::Done;
    }
    // A write's slot goes into its route (for a later redirect); a read's
    // is computed only if it is redirected.
    let write_slot = if is_write {
        first_key_slot(effective, args)
    } else {
        0
    };
    if is_write {
        if let Some(error) = shared.raft.redirect(write_slot) {
            ctx.out.error_text(&error);
            return Step::Done;
        }
    }
    // A write that may answer as a read (SORT without STORE) passes the
    // read gate too.
    if effective.flags & (flags::READONLY | flags::READS_KEYS) != 0 {
        let slot = || first_key_slot(effective, args);
        match read_checked {
            Some(true) => {}
            Some(false) => {
                ctx.out.error_text(&shared.raft.refusal(slot()));
                return Step::Done;
            }
            None => match shared.raft.read_gate(ctx.client.consistency, slot, now_ms) {
                ReadGate::Run => {}
                ReadGate::Check => return Step::Hold(Hold::ReadCheck(tick.read_ticket)),
                ReadGate::Redirect(error) => {
                    ctx.out.error_text(&error);
                    return Step::Done;
                }
            },
        }
    }
    *ran = Ran::Handled(effective);
    // One pair of clock reads serves the slow log, the latency monitor
    // and the command's latency (which starts earlier if it was held).
    let handler_started = Instant::now();
    let action = cmd::run(&mut ctx, spec, &args[0], &args[1..]);
    let handler_ended = Instant::now();
    let duration = handler_ended.saturating_duration_since(handler_started);
    super::diag_hook::after_call(shared, ctx.client, spec, effective, args, &action, duration);
    if shared.command_stats.tracking() {
        conn.started.get_or_insert(handler_started);
        conn.handler_ended = Some(handler_ended);
    }
    match action {
        Action::Replied => Step::Done,
        Action::Close => Step::Close,
        Action::CheckThenRetry => Step::Hold(Hold::ReadCheck(tick.read_ticket)),
        Action::WaitForWrites => {
            assert!(pending > 0, "only a connection with pending writes waits");
            Step::Hold(Hold::Writes)
        }
        Action::Write(op) => {
            let bytes: usize = args.iter().map(|arg| arg.len() + 16).sum();
            propose(conn, tick, Op::Write(op), bytes, write_slot, effective)
        }
        Action::Block {
            op,
            keys,
            timeout_ms,
        } => {
            let bytes: usize = args.iter().map(|arg| arg.len() + 16).sum();
            let seq = conn.write_seq_next;
            let block = Op::Block {
                pop: op,
                keys,
                client_id: conn.client.info.id,
                seq,
            };
            let step = propose(conn, tick, block, bytes, write_slot, effective);
            conn.blocked = Some(Blocked {
                seq,
                unblock: false,
            });
            if let Some(timeout_ms) = timeout_ms {
                let deadline_ms = now_ms.saturating_add(timeout_ms);
                tick.deadlines
                    .push(Reverse((deadline_ms, conn.index, conn.client.info.id, seq)));
            }
            step
        }
        Action::WaitReplicas { wanted, timeout_ms } => {
            if let Some(error) = shared.raft.redirect(0) {
                ctx.out.error_text(&error);
                return Step::Done;
            }
            *ran = Ran::Deferred;
            conn.replica_wait = Some(ReplicaWait {
                index: shared.raft.applied_index(),
                wanted,
                deadline_ms: timeout_ms.map(|timeout_ms| now_ms.saturating_add(timeout_ms)),
                timing: Timing {
                    spec: effective,
                    started: conn.started.take(),
                },
            });
            if let Some(next_ms) = conn.check_replicas(shared, now_ms) {
                let client_id = conn.client.info.id;
                tick.deadlines
                    .push(Reverse((next_ms, conn.index, client_id, REPLICA_CHECK)));
            }
            Step::Done
        }
        Action::Propose(op) => {
            // Scripts and SCRIPT LOAD|FLUSH are not flagged writes (as in
            // Redis), so they are redirected here.
            if let Some(error) = shared.raft.redirect(0) {
                ctx.out.error_text(&error);
                return Step::Done;
            }
            let bytes: usize = args.iter().map(|arg| arg.len() + 16).sum();
            propose(conn, tick, op, bytes, 0, effective)
        }
        Action::Exec(exec) => {
            // EXEC is not flagged a write (as in Redis), so it is
            // redirected here; its transaction is dropped either way.
            if let Some(error) = shared.raft.redirect(0) {
                ctx.out.error_text(&error);
                return Step::Done;
            }
            let bytes = exec.bytes();
            let locals = exec.locals();
            conn.hold_all |= exec.db_after_reply;
            let seq = conn.write_seq_next;
            let transaction = Op::Exec(Box::new(exec.transaction));
            let step = propose(conn, tick, transaction, bytes, 0, effective);
            match conn.slots.back_mut() {
                Some(Slot::Write(proposed, _, _, slot_locals)) if *proposed == seq => {
                    *slot_locals = locals;
                }
                _ => unreachable!("propose queues the transaction's slot"),
            }
            step
        }
    }
}

/// Marks the connection's transaction, if any, to abort at `EXEC`.
/// While the Raft log cannot make its next segment (a full disk), what
/// Redis answers when it cannot persist: `-MISCONF` to a write, to PING,
/// and to an EXEC whose queue holds a write; reads go on. The writes
/// already in flight still fit the current segment and the spares made.
fn persistence_refusal(
    shared: &Shared,
    effective: &CommandSpec,
    client: &Client,
) -> Option<String> {
    let why = shared.raft.log_space_short()?;
    // A script that may write is proposed as an entry too: Redis refuses
    // EVAL and EVALSHA (not their _RO forms) while it cannot persist.
    let refused = effective.is_write()
        || matches!(effective.name, "ping" | "eval" | "evalsha")
        || (effective.name == "exec"
            && client.multi.as_ref().is_some_and(|multi| {
                multi
                    .commands
                    .iter()
                    .any(|command| cmd::lookup(&command[0]).is_some_and(|spec| spec.is_write()))
            }));
    refused.then(|| format!("MISCONF Errors writing to the Raft log: {why}"))
}

fn fail_transaction(client: &mut Client) {
    if let Some(multi) = client.multi.as_mut() {
        multi.failed = true;
    }
}

/// Queues a command inside `MULTI` (`+QUEUED`), or refuses it and dooms
/// the transaction.
fn queue(ctx: &mut Ctx<'_>, effective: &CommandSpec, args: &[Bytes]) {
    let bytes: usize = args.iter().map(|arg| arg.len() + 16).sum();
    let Some(multi) = ctx.client.multi.as_mut() else {
        unreachable!("queueing only inside MULTI");
    };
    if !multi::allowed_in_multi(effective) {
        multi.failed = true;
        ctx.out.error_text(multi::NOT_ALLOWED_ERROR);
    } else {
        multi.bytes += bytes;
        multi
            .commands
            .push(args.iter().map(|arg| Bytes::copy_from_slice(arg)).collect());
        ctx.out.simple("QUEUED");
    }
}

/// Queues `op` for the proposer and a reply slot for its outcome.
fn propose(
    conn: &mut Session,
    tick: &mut Tick<'_>,
    op: Op,
    bytes: usize,
    write_slot: u16,
    spec: &'static CommandSpec,
) -> Step {
    // A MULTI may add up past 4 GiB; beyond an upload's size only the
    // count of pending bytes is approximate.
    let bytes = bytes.min(u32::MAX as usize);
    let seq = conn.write_seq_next;
    conn.write_seq_next += 1;
    let timing = Timing {
        spec,
        started: conn.started.take(),
    };
    conn.slots
        .push_back(Slot::Write(seq, bytes as u32, timing, Vec::new()));
    conn.pending_bytes += bytes;
    ExecutorStats::add(&tick.stats.pending_write_bytes, bytes as u64);
    ExecutorStats::add(&tick.stats.pending_writes, 1);
    tick.proposals.push(Proposal {
        route: Some(conn.route(write_slot, seq)),
        db: conn.client.db as u8,
        op,
        bytes: bytes as u32,
    });
    Step::Done
}
