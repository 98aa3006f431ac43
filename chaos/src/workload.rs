//! The workloads: client threads that run operations until a deadline and
//! record each one in the shared [`Recorder`].
//!
//! - registers: `SET r:<g>:<k> <unique>` and `GET` (some workers under
//!   `CONSISTENCY lease`), the key generation `g`
//!   moving on every [`REGISTER_OPS_PER_GENERATION`] operations so each
//!   key's linearizability search stays small;
//! - counter: `INCR c`, and stale readers (`CONSISTENCY stale`, pinned to
//!   one node) reading `GET c`;
//! - sets: `SADD s:<k> <unique>`; lists: `RPUSH l:<k> <unique>`;
//! - transactions: `MULTI`, 1 to 4 of `RPUSH t:<g>:<k> <unique>` or
//!   `LRANGE t:<g>:<k> 0 -1`, `EXEC`.
//!
//! Scripts (EVAL incrementing two keys) join once redraft has scripting.
//! After the faults, [`final_reads`] reads every set, list, counter and
//! transaction key through a healthy cluster, which the checkers need.
//!
//! Invariants:
//! - Every value written is unique in the run ([`Recorder::unique`]).
//! - A process id is used by one thread and dropped after an
//!   indeterminate outcome.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::{Answer, Client};
use crate::history::{Call, Mop, Op, Outcome, Workload};
use crate::resp::Reply;
use crate::rng::Rng;

/// Register operations per key generation.
pub const REGISTER_OPS_PER_GENERATION: u64 = 240;
/// Transactions per key generation.
pub const TXNS_PER_GENERATION: u64 = 120;
/// Register keys per generation.
const REGISTER_KEYS: u64 = 3;
/// Transaction keys per generation.
const TXN_KEYS: u64 = 4;
/// Set and list keys.
pub const COLLECTION_KEYS: u64 = 3;
/// The counter's key.
pub const COUNTER_KEY: &str = "c";

/// Collects the history; shared by every client thread.
pub struct Recorder {
    started: Instant,
    ops: Mutex<Vec<Op>>,
    next_process: AtomicU64,
    next_value: AtomicU64,
    register_ops: AtomicU64,
    txns: AtomicU64,
    /// Every transaction key used, for the final reads.
    txn_keys: Mutex<BTreeSet<String>>,
    pub stop: AtomicBool,
}

impl Recorder {
    pub fn new(started: Instant) -> Recorder {
        Recorder {
            started,
            ops: Mutex::default(),
            next_process: AtomicU64::new(0),
            next_value: AtomicU64::new(1),
            register_ops: AtomicU64::new(0),
            txns: AtomicU64::new(0),
            txn_keys: Mutex::default(),
            stop: AtomicBool::new(false),
        }
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub fn process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    pub fn unique(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::Relaxed)
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().expect("history lock").push(op);
    }

    /// The history so far, in completion order.
    pub fn history(&self) -> Vec<Op> {
        let mut ops = self.ops.lock().expect("history lock").clone();
        ops.sort_by_key(|op| (op.complete_ns, op.invoke_ns));
        ops
    }

    pub fn txn_keys(&self) -> Vec<String> {
        self.txn_keys
            .lock()
            .expect("keys lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// What a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Register,
    /// A register reader under `CONSISTENCY lease`, which promises
    /// linearizable reads while clocks run at about the same rate.
    LeaseRegister,
    Counter,
    StaleReader,
    Set,
    List,
    Txn,
}

/// The roles of `clients` workers: every role at least once, then more
/// register and transaction workers.
pub fn roles(clients: usize) -> Vec<Role> {
    let base = [
        Role::Register,
        Role::LeaseRegister,
        Role::Counter,
        Role::StaleReader,
        Role::Set,
        Role::List,
        Role::Txn,
    ];
    let extra = [Role::Register, Role::Txn, Role::Register, Role::Counter];
    base.iter()
        .chain(extra.iter().cycle())
        .take(clients.max(base.len()))
        .copied()
        .collect()
}

/// One worker: runs `role` until `deadline` or the recorder stops.
pub fn run_worker(
    role: Role,
    mut client: Client,
    recorder: &Recorder,
    deadline: Instant,
    mut rng: Rng,
) {
    let mut process = recorder.process();
    while Instant::now() < deadline && !recorder.stop.load(Ordering::Relaxed) {
        let op = match role {
            Role::Register => register_op(&mut client, recorder, &mut rng, process, 500),
            // Only reads, so it stays on the node that answers them (the
            // leader, or a leader cut off from the others).
            Role::LeaseRegister => register_op(&mut client, recorder, &mut rng, process, 0),
            Role::Counter => counter_op(&mut client, recorder, process),
            Role::StaleReader => stale_op(&mut client, recorder, process),
            Role::Set | Role::List => collection_op(role, &mut client, recorder, &mut rng, process),
            Role::Txn => txn_op(&mut client, recorder, &mut rng, process),
        };
        let outcome = op.outcome;
        if outcome != Outcome::Ok {
            // Let a failover settle instead of spinning on a dead node.
            std::thread::sleep(Duration::from_millis(20));
        }
        recorder.record(op);
        if outcome == Outcome::Info {
            process = recorder.process();
            client.move_on();
        }
        // Stale reads are answered locally in microseconds: pace them so
        // they do not crowd out the other workloads on a small machine.
        let pause_ms = if role == Role::StaleReader {
            10
        } else {
            rng.below(4)
        };
        std::thread::sleep(Duration::from_millis(pause_ms));
    }
}

/// Who sends a request and what it is, for its op in the history.
struct What<'a> {
    process: u64,
    workload: Workload,
    key: &'a str,
    /// Changes state if applied (an unanswered write is indeterminate).
    is_write: bool,
}

/// Runs one call and builds its op with `finish` (reply -> call); with no
/// usable reply the op holds `unanswered`.
fn timed(
    recorder: &Recorder,
    client: &mut Client,
    what: What<'_>,
    send: impl FnOnce(&mut Client) -> Answer,
    finish: impl FnOnce(&Reply) -> Option<Call>,
    unanswered: Call,
) -> Op {
    let What {
        process,
        workload,
        key,
        is_write,
    } = what;
    let invoke_ns = recorder.now_ns();
    let answer = send(client);
    let complete_ns = recorder.now_ns();
    let node = client.node_id();
    let (call, outcome, error) = match answer {
        Answer::Reply(reply) => match finish(&reply) {
            Some(call) => (call, Outcome::Ok, None),
            // An error reply: a write may have been applied (unknown
            // errors are not trusted to mean "not applied"); a read did
            // nothing.
            None if is_write => (unanswered, Outcome::Info, Some(format!("{reply:?}"))),
            None => (unanswered, Outcome::Fail, Some(format!("{reply:?}"))),
        },
        Answer::NotApplied(e) => (unanswered, Outcome::Fail, Some(e)),
        Answer::Unknown(e) if is_write => (unanswered, Outcome::Info, Some(e)),
        // A read that got no answer changed nothing.
        Answer::Unknown(e) => (unanswered, Outcome::Fail, Some(e)),
    };
    Op {
        process,
        workload,
        key: key.to_string(),
        call,
        outcome,
        invoke_ns,
        complete_ns,
        node,
        error,
    }
}

/// A register write (with chance `write_per_mille`) or read.
fn register_op(
    client: &mut Client,
    recorder: &Recorder,
    rng: &mut Rng,
    process: u64,
    write_per_mille: u64,
) -> Op {
    let n = recorder.register_ops.fetch_add(1, Ordering::Relaxed);
    let key = format!(
        "r:{}:{}",
        n / REGISTER_OPS_PER_GENERATION,
        rng.below(REGISTER_KEYS)
    );
    if rng.chance(write_per_mille) {
        let value = recorder.unique();
        let text = value.to_string();
        timed(
            recorder,
            client,
            What {
                process,
                workload: Workload::Register,
                key: &key,
                is_write: true,
            },
            |c| c.call(&[b"SET", key.as_bytes(), text.as_bytes()]),
            |r| matches!(r, Reply::Status(s) if s == "OK").then_some(Call::Write { value }),
            Call::Write { value },
        )
    } else {
        timed(
            recorder,
            client,
            What {
                process,
                workload: Workload::Register,
                key: &key,
                is_write: false,
            },
            |c| c.call(&[b"GET", key.as_bytes()]),
            |r| match r {
                Reply::Bulk(None) => Some(Call::Read { value: None }),
                Reply::Bulk(Some(_)) => Some(Call::Read {
                    value: Some(r.text()?.parse().ok()?),
                }),
                _ => None,
            },
            Call::Read { value: None },
        )
    }
}

fn counter_op(client: &mut Client, recorder: &Recorder, process: u64) -> Op {
    timed(
        recorder,
        client,
        What {
            process,
            workload: Workload::Counter,
            key: COUNTER_KEY,
            is_write: true,
        },
        |c| c.call(&[b"INCR", COUNTER_KEY.as_bytes()]),
        |r| match r {
            Reply::Int(v) => Some(Call::Incr { value: Some(*v) }),
            _ => None,
        },
        Call::Incr { value: None },
    )
}

/// A counter read, linearizable (`stale == false`) or as the client's
/// connection is set up.
fn read_counter(client: &mut Client, recorder: &Recorder, process: u64, stale: bool) -> Op {
    let connection = client.connections;
    let mut op = timed(
        recorder,
        client,
        What {
            process,
            workload: Workload::Counter,
            key: COUNTER_KEY,
            is_write: false,
        },
        |c| c.call(&[b"GET", COUNTER_KEY.as_bytes()]),
        |r| match r {
            Reply::Bulk(None) => Some(Call::CounterRead {
                value: None,
                stale,
                connection: 0,
            }),
            Reply::Bulk(Some(_)) => Some(Call::CounterRead {
                value: Some(r.text()?.parse().ok()?),
                stale,
                connection: 0,
            }),
            _ => None,
        },
        Call::CounterRead {
            value: None,
            stale,
            connection: 0,
        },
    );
    // The connection that served it (a reconnect inside the call counts).
    let connection = client.connections.max(connection);
    if let Call::CounterRead { connection: c, .. } = &mut op.call {
        *c = connection;
    }
    op
}

fn stale_op(client: &mut Client, recorder: &Recorder, process: u64) -> Op {
    let op = read_counter(client, recorder, process, true);
    if op.outcome != Outcome::Ok {
        client.move_on();
    }
    op
}

fn collection_op(
    role: Role,
    client: &mut Client,
    recorder: &Recorder,
    rng: &mut Rng,
    process: u64,
) -> Op {
    let element = recorder.unique();
    let text = element.to_string();
    let (workload, prefix, command, call): (_, _, &[u8], _) = if role == Role::Set {
        (Workload::Set, "s", b"SADD", Call::Add { element })
    } else {
        (Workload::List, "l", b"RPUSH", Call::Append { element })
    };
    let key = format!("{prefix}:{}", rng.below(COLLECTION_KEYS));
    let ok = call.clone();
    timed(
        recorder,
        client,
        What {
            process,
            workload,
            key: &key,
            is_write: true,
        },
        |c| c.call(&[command, key.as_bytes(), text.as_bytes()]),
        |r| matches!(r, Reply::Int(_)).then_some(ok),
        call,
    )
}

fn txn_op(client: &mut Client, recorder: &Recorder, rng: &mut Rng, process: u64) -> Op {
    let generation = recorder.txns.fetch_add(1, Ordering::Relaxed) / TXNS_PER_GENERATION;
    let count = rng.between(1, 4);
    let mut mops = Vec::new();
    for _ in 0..count {
        let key = format!("t:{generation}:{}", rng.below(TXN_KEYS));
        recorder
            .txn_keys
            .lock()
            .expect("keys lock")
            .insert(key.clone());
        if rng.chance(600) {
            mops.push(Mop::Append {
                key,
                value: recorder.unique(),
            });
        } else {
            mops.push(Mop::Read { key, values: None });
        }
    }
    run_txn(client, recorder, process, mops)
}

/// Runs `mops` as one MULTI/EXEC and records it.
pub fn run_txn(client: &mut Client, recorder: &Recorder, process: u64, mops: Vec<Mop>) -> Op {
    let commands: Vec<Vec<Vec<u8>>> = mops
        .iter()
        .map(|m| match m {
            Mop::Append { key, value } => {
                vec![
                    b"RPUSH".to_vec(),
                    key.clone().into_bytes(),
                    value.to_string().into_bytes(),
                ]
            }
            Mop::Read { key, .. } => {
                vec![
                    b"LRANGE".to_vec(),
                    key.clone().into_bytes(),
                    b"0".to_vec(),
                    b"-1".to_vec(),
                ]
            }
        })
        .collect();
    let is_write = mops.iter().any(|m| matches!(m, Mop::Append { .. }));
    let unanswered = Call::Txn { mops: mops.clone() };
    let mut op = timed(
        recorder,
        client,
        What {
            process,
            workload: Workload::Txn,
            key: "",
            is_write,
        },
        |c| c.transaction(&commands),
        |r| fill_txn(&mops, r).map(|mops| Call::Txn { mops }),
        unanswered,
    );
    // EXECABORT or a nil EXEC: certainly not applied.
    if op.outcome == Outcome::Info
        && op
            .error
            .as_deref()
            .is_some_and(|e| e.contains("EXECABORT") || e == "Array(None)")
    {
        op.outcome = Outcome::Fail;
    }
    op
}

/// The transaction's micro-ops with the reads' results, from EXEC's reply.
fn fill_txn(mops: &[Mop], reply: &Reply) -> Option<Vec<Mop>> {
    let Reply::Array(Some(items)) = reply else {
        return None;
    };
    if items.len() != mops.len() {
        return None;
    }
    mops.iter()
        .zip(items)
        .map(|(mop, item)| match (mop, item) {
            (Mop::Append { .. }, Reply::Int(_)) => Some(mop.clone()),
            (Mop::Read { key, .. }, Reply::Array(Some(values))) => Some(Mop::Read {
                key: key.clone(),
                values: Some(
                    values
                        .iter()
                        .map(|v| v.text()?.parse().ok())
                        .collect::<Option<Vec<u64>>>()?,
                ),
            }),
            _ => None,
        })
        .collect()
}

/// Reads every collection, the counter and every transaction key, retrying
/// each until it is answered or `deadline` passes.
pub fn final_reads(client: &mut Client, recorder: &Recorder, deadline: Instant) {
    let process = recorder.process();
    let retry = |client: &mut Client, read: &dyn Fn(&mut Client) -> Op| loop {
        let op = read(client);
        let done = op.outcome == Outcome::Ok || Instant::now() > deadline;
        recorder.record(op);
        if done {
            return;
        }
        client.move_on();
        std::thread::sleep(Duration::from_millis(100));
    };
    for k in 0..COLLECTION_KEYS {
        for (workload, prefix, command) in [
            (Workload::Set, "s", &[b"SMEMBERS".as_slice()][..]),
            (
                Workload::List,
                "l",
                &[b"LRANGE".as_slice(), b"0", b"-1"][..],
            ),
        ] {
            let key = format!("{prefix}:{k}");
            retry(client, &|c: &mut Client| {
                let mut args: Vec<&[u8]> = vec![command[0], key.as_bytes()];
                args.extend_from_slice(&command[1..]);
                timed(
                    recorder,
                    c,
                    What {
                        process,
                        workload,
                        key: &key,
                        is_write: false,
                    },
                    |c| c.call(&args),
                    |r| match r {
                        Reply::Array(Some(items)) => Some(Call::ReadAll {
                            elements: Some(
                                items
                                    .iter()
                                    .map(|i| i.text()?.parse().ok())
                                    .collect::<Option<Vec<u64>>>()?,
                            ),
                        }),
                        _ => None,
                    },
                    Call::ReadAll { elements: None },
                )
            });
        }
    }
    retry(client, &|c: &mut Client| {
        read_counter(c, recorder, process, false)
    });
    for key in recorder.txn_keys() {
        retry(client, &|c: &mut Client| {
            run_txn(
                c,
                recorder,
                process,
                vec![Mop::Read {
                    key: key.clone(),
                    values: None,
                }],
            )
        });
    }
}
