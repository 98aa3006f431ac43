//! Applying one entry: its commands in order, at its time, on the engine
//! and the group's replicated state besides the keys.

use std::sync::Arc;

use bytes::Bytes;
use redraft_engine::{Blocked, Engine, Reply, WaiterId, WriteOp};

use super::ops::{Op, Outcome, Request};
use super::script::{self, ScriptCache, ScriptCall, ScriptRunner};
use super::staged::Staged;
use super::transaction;
use super::transaction::ExecReply;

/// Runs its argument so that no reader on this node sees it half done
/// (the node's transaction gate, held exclusively).
pub type Isolate = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// The group's replicated state besides the keys, as apply changes it
/// (snapshots carry all of it).
pub struct GroupState<'a> {
    /// The replicated clock: the latest entry time applied, Unix ms.
    pub clock_ms: &'a mut u64,
    /// Clients blocked on keys.
    pub blocked: &'a mut Blocked,
    /// Parts of large writes not yet assembled.
    pub staged: &'a mut Staged,
    /// The script cache.
    pub scripts: &'a ScriptCache,
    /// Runs scripts; without one a script replies an error.
    pub runner: Option<&'a ScriptRunner>,
}

/// Applies one entry's batch of commands at its time: its stamp, or the
/// time applied before it if that is later (the clock never goes back).
/// Returns one outcome per command, and appends to `waiters` the blocked
/// commands whose wait ended.
pub fn apply_request(
    engine: &Engine,
    state: GroupState<'_>,
    isolate: Option<&Isolate>,
    request: &Request,
    waiters: &mut Vec<(WaiterId, Outcome)>,
) -> Vec<Outcome> {
    let now_ms = request.stamp_ms.max(*state.clock_ms);
    *state.clock_ms = now_ms;
    let mut apply = Apply {
        engine,
        blocked: state.blocked,
        isolate,
        now_ms,
        waiters,
        scripts: state.scripts,
        runner: state.runner,
    };
    let staged = state.staged;
    request
        .commands
        .iter()
        .map(|command| {
            let db = usize::from(command.db);
            match &command.op {
                Op::Part {
                    upload,
                    offset,
                    total,
                    bytes,
                } => {
                    staged.part(request.origin, *upload, *offset, *total, bytes);
                    Outcome::Applied(Reply::Ok)
                }
                Op::Assembled { upload, total } => {
                    match staged.assemble(request.origin, *upload, *total) {
                        Ok(op) => apply.op(db, &op, request.origin),
                        Err(error) => Outcome::Failed(error.to_string()),
                    }
                }
                op => apply.op(db, op, request.origin),
            }
        })
        .collect()
}

/// One entry's commands being applied: the engine, the group's blocked
/// commands, and the entry's time.
struct Apply<'a> {
    engine: &'a Engine,
    blocked: &'a mut Blocked,
    isolate: Option<&'a Isolate>,
    now_ms: u64,
    /// Blocked commands whose wait ended, with their replies.
    waiters: &'a mut Vec<(WaiterId, Outcome)>,
    scripts: &'a ScriptCache,
    runner: Option<&'a ScriptRunner>,
}

impl Apply<'_> {
    /// Applies one command (not part of an upload) of an entry from
    /// `origin`.
    fn op(&mut self, db: usize, op: &Op, origin: u64) -> Outcome {
        match op {
            Op::Write(op) => Outcome::Applied(self.write(db, op)),
            Op::Exec(transaction) => self.exec(transaction),
            Op::Block {
                pop,
                keys,
                client_id,
                seq,
            } => {
                let id = WaiterId {
                    origin,
                    client_id: *client_id,
                    seq: *seq,
                };
                self.block(db, pop, keys, id)
            }
            Op::Unblock { client_id, seq } => {
                let id = WaiterId {
                    origin,
                    client_id: *client_id,
                    seq: *seq,
                };
                if let Some(ended) = self.blocked.unblock(id) {
                    self.waiters.push((ended.id, Outcome::Applied(ended.reply)));
                }
                Outcome::Applied(Reply::Ok)
            }
            Op::Script(call) => self.script(db, call),
            Op::ScriptLoad(body) => {
                Outcome::Applied(Reply::Bulk(Bytes::from(self.scripts.insert(body.clone()))))
            }
            Op::ScriptFlush => {
                self.scripts.clear();
                Outcome::Applied(Reply::Ok)
            }
            Op::Part { .. } | Op::Assembled { .. } => {
                unreachable!("parts of uploads are staged, not applied")
            }
        }
    }

    /// Applies a write; if it filled keys that clients wait on, serves
    /// them at once, the write and the pops isolated from readers together.
    fn write(&mut self, db: usize, op: &WriteOp) -> Reply {
        let mut ready = Vec::new();
        self.blocked.ready_after(db, op, &mut ready);
        if ready.is_empty() {
            return self.engine.apply(db, op, self.now_ms);
        }
        let mut reply = Reply::Ok;
        self.isolated(&mut |apply| {
            reply = apply.engine.apply(db, op, apply.now_ms);
            apply.serve(std::mem::take(&mut ready));
        });
        reply
    }

    /// Runs a transaction, isolated from readers, then serves the
    /// clients waiting on the keys it filled (against its final state).
    fn exec(&mut self, transaction: &transaction::Transaction) -> Outcome {
        let mut encoded = None;
        self.isolated(&mut |apply| {
            let mut ready = Vec::new();
            let blocked = &*apply.blocked;
            let mut on_write = |db: usize, op: &WriteOp| blocked.ready_after(db, op, &mut ready);
            encoded = Some(transaction::execute(
                apply.engine,
                transaction,
                apply.now_ms,
                &mut on_write,
                &transaction::Scripting {
                    scripts: apply.scripts,
                    runner: apply.runner,
                },
            ));
            apply.serve(ready);
        });
        Outcome::Exec(encoded.expect("the transaction ran"))
    }

    /// Runs a script, isolated from readers like a transaction, then
    /// serves the clients waiting on the keys it filled.
    fn script(&mut self, db: usize, call: &ScriptCall) -> Outcome {
        let mut encoded = None;
        self.isolated(&mut |apply| {
            let mut ready = Vec::new();
            let blocked = &*apply.blocked;
            let mut on_write = |db: usize, op: &WriteOp| blocked.ready_after(db, op, &mut ready);
            encoded = Some(script::run_at_apply(
                apply.scripts,
                apply.runner,
                apply.engine,
                db,
                call,
                apply.now_ms,
                &mut on_write,
            ));
            apply.serve(ready);
        });
        Outcome::Exec(ExecReply {
            encoded: encoded.expect("the script ran"),
            holes: Vec::new(),
        })
    }

    /// A blocking command's first attempt: pops like `write`, or, if
    /// every key is empty, registers the waiter.
    fn block(&mut self, db: usize, pop: &WriteOp, keys: &[Bytes], id: WaiterId) -> Outcome {
        let reply = self.write(db, pop);
        if matches!(reply, Reply::Nil | Reply::NilArray) {
            let waiting = match pop {
                WriteOp::Streams(read) => {
                    WriteOp::Streams(read.for_waiting(self.engine, db, self.now_ms))
                }
                pop => pop.clone(),
            };
            self.blocked.block(id, db, keys, &waiting);
            return Outcome::Blocked;
        }
        Outcome::Applied(reply)
    }

    fn serve(&mut self, ready: Vec<(usize, Bytes)>) {
        if ready.is_empty() {
            return;
        }
        let served = self.blocked.serve(self.engine, ready, self.now_ms);
        self.waiters.extend(
            served
                .into_iter()
                .map(|ended| (ended.id, Outcome::Applied(ended.reply))),
        );
    }

    /// Runs `body` under the node's isolation, if it has one.
    fn isolated(&mut self, body: &mut dyn FnMut(&mut Self)) {
        match self.isolate {
            Some(isolate) => isolate(&mut || body(self)),
            None => body(self),
        }
    }
}
