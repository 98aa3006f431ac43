//! Apply is deterministic: the same entries, applied to two engines from
//! the same state, give the same outcomes, the same blocked clients and
//! staged uploads, and the same keyspace.
//!
//! The entries are built the way the server builds them: commands parsed
//! by the command table's parsers (so random picks carry the seeds drawn
//! at parse time), `EXEC` queues parsed by `cmd::multi::parse_queue` with
//! `WATCH` stamps read from the state before the entry, blocking pops and
//! their ends, large writes in parts, and leader stamps that sometimes go
//! back in time (a new leader with a slower clock). Hash tables in one
//! process are seeded differently per table, so an op whose result hung
//! on iteration order (a random pick, a store of a set) would differ.

use bytes::Bytes;
use redraft_engine::{Blocked, Engine, WaiterId};
use redraft_server::apply::{
    apply_request, Command, GroupState, Op, Outcome, Request, ScriptCache, ScriptRunner, Staged,
    Transaction, Watch,
};
use redraft_server::cmd::multi;
use redraft_server::cmd::{self, KeyCommand, Parse};
use redraft_server::raft::upload::Uploads;
use redraft_server::route::Proposal;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One node's apply state: its engine and the group's replicated state.
struct Node {
    engine: Engine,
    clock_ms: u64,
    blocked: Blocked,
    staged: Staged,
    scripts: ScriptCache,
    runner: ScriptRunner,
}

impl Node {
    fn new() -> Node {
        Node {
            engine: Engine::new(),
            clock_ms: 0,
            blocked: Blocked::default(),
            staged: Staged::default(),
            scripts: ScriptCache::default(),
            runner: redraft_server::script::runner(),
        }
    }

    /// Applies `request`; its outcomes and ended waits, as text.
    fn apply(&mut self, request: &Request) -> String {
        let mut waiters: Vec<(WaiterId, Outcome)> = Vec::new();
        let outcomes = apply_request(
            &self.engine,
            GroupState {
                clock_ms: &mut self.clock_ms,
                blocked: &mut self.blocked,
                staged: &mut self.staged,
                scripts: &self.scripts,
                runner: Some(&self.runner),
            },
            None,
            request,
            &mut waiters,
        );
        format!("{outcomes:?} {waiters:?}")
    }
}

const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// A random write command line on a few keys of every type (some fail
/// with WRONGTYPE, which is an outcome too).
fn command(rng: &mut Rng) -> Vec<Bytes> {
    let key = KEYS[rng.below(KEYS.len() as u64) as usize];
    let other = KEYS[rng.below(KEYS.len() as u64) as usize];
    let n = rng.below(20).to_string();
    let words: Vec<String> = match rng.below(24) {
        0 => vec!["SET".into(), key.into(), n.clone(), "EX".into(), "5".into()],
        1 => vec!["SET".into(), key.into(), n.clone()],
        2 => vec!["INCR".into(), key.into()],
        3 => vec!["APPEND".into(), key.into(), n.clone()],
        4 => vec!["DEL".into(), key.into(), other.into()],
        5 => vec!["PEXPIRE".into(), key.into(), "1500".into()],
        6 => vec!["LPUSH".into(), key.into(), n.clone(), "x".into()],
        7 => vec!["RPOP".into(), key.into()],
        8 => vec![
            "SADD".into(),
            key.into(),
            n.clone(),
            "m1".into(),
            "m2".into(),
        ],
        9 => vec!["SPOP".into(), key.into(), "2".into()],
        10 => vec!["ZADD".into(), key.into(), n.clone(), format!("z{n}")],
        11 => vec!["ZPOPMIN".into(), key.into()],
        12 => vec!["HSET".into(), key.into(), format!("f{n}"), n.clone()],
        13 => vec!["HINCRBY".into(), key.into(), "f1".into(), n.clone()],
        14 => vec!["SUNIONSTORE".into(), key.into(), other.into(), key.into()],
        15 => vec!["SRANDMEMBER".into(), key.into(), "-3".into()],
        16 => vec!["PERSIST".into(), key.into()],
        17 => vec!["SETBIT".into(), key.into(), n.clone(), "1".into()],
        18 => vec!["PFADD".into(), key.into(), n.clone(), format!("e{n}")],
        19 => vec!["PFMERGE".into(), key.into(), other.into()],
        20 => vec![
            "GEOADD".into(),
            key.into(),
            format!("13.{n}"),
            "38.1".into(),
            format!("p{n}"),
        ],
        21 => vec![
            "GEOSEARCHSTORE".into(),
            other.into(),
            key.into(),
            "FROMLONLAT".into(),
            "13.1".into(),
            "38.1".into(),
            "BYRADIUS".into(),
            "200".into(),
            "km".into(),
            "ASC".into(),
            "COUNT".into(),
            "3".into(),
        ],
        22 => vec!["PFCOUNT".into(), key.into()],
        _ => vec!["COPY".into(), key.into(), other.into(), "REPLACE".into()],
    };
    words.into_iter().map(Bytes::from).collect()
}

/// Parses `args` as the server does on a connection.
fn parse(args: &[Bytes], now_ms: u64, seeds: &mut dyn FnMut() -> u64) -> KeyCommand {
    let spec = cmd::lookup(&args[0]).expect("a known command");
    let parser = spec.parse.expect("a keyspace command");
    parser(
        &mut Parse::new(&args[0], 0, now_ms, false, seeds),
        &args[1..],
    )
    .expect("valid arguments")
}

#[test]
fn the_same_entries_give_the_same_outcomes_and_state_on_two_nodes() {
    let mut seen = Seen::default();
    for seed in 1..=6 {
        let mut rng = Rng(seed);
        let mut seeds = Rng(seed ^ 0xABCD);
        let mut nodes = [Node::new(), Node::new()];
        let mut stamp_ms = 1_700_000_000_000u64;
        let mut uploads = Uploads::default();
        let mut client_seq = 0u64;
        let mut blocked_clients: Vec<(u64, u64)> = Vec::new();
        for proposal in 0..400u64 {
            // Mostly forward, sometimes a new leader's clock that is behind.
            stamp_ms = if rng.below(10) == 0 {
                stamp_ms - rng.below(3_000)
            } else {
                stamp_ms + rng.below(700)
            };
            let mut next_seed = || seeds.next();
            let mut commands = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let op = match rng.below(11) {
                    0..=5 => {
                        let args = command(&mut rng);
                        match parse(&args, stamp_ms, &mut next_seed) {
                            KeyCommand::Write(op) => Op::Write(op),
                            // A read (SRANDMEMBER) enters the log only
                            // inside a transaction.
                            KeyCommand::Read(_) => {
                                exec(&[args], &nodes[0], stamp_ms, &mut next_seed, &mut rng)
                            }
                            KeyCommand::Block { .. } => unreachable!("no blocking commands here"),
                        }
                    }
                    6 | 7 => {
                        let queue: Vec<Vec<Bytes>> =
                            (0..1 + rng.below(4)).map(|_| command(&mut rng)).collect();
                        exec(&queue, &nodes[0], stamp_ms, &mut next_seed, &mut rng)
                    }
                    8 => {
                        client_seq += 1;
                        let key = Bytes::from(KEYS[rng.below(3) as usize]);
                        let args = vec![Bytes::from("BLPOP"), key, Bytes::from("0")];
                        let KeyCommand::Block { pop, keys, .. } =
                            parse(&args, stamp_ms, &mut next_seed)
                        else {
                            panic!("BLPOP blocks");
                        };
                        blocked_clients.push((client_seq, 0));
                        Op::Block {
                            pop,
                            keys,
                            client_id: client_seq,
                            seq: 0,
                        }
                    }
                    9 => match blocked_clients.pop() {
                        Some((client_id, seq)) => Op::Unblock { client_id, seq },
                        None => continue,
                    },
                    // Eviction as the leader proposes it: victims drawn
                    // from its own view (the first node's).
                    _ => {
                        let mut random = redraft_engine::Random::new(rng.next());
                        let volatile = rng.below(2) == 0;
                        let keys = nodes[0]
                            .engine
                            .eviction_sample(0, volatile, 3, &mut random, stamp_ms)
                            .into_iter()
                            .map(|candidate| candidate.key)
                            .collect();
                        Op::Write(redraft_engine::WriteOp::Evict { keys })
                    }
                };
                commands.push(Command { db: 0, op });
            }
            // A large write every so often, in parts over several entries.
            if !uploads.busy() && rng.below(40) == 0 {
                let value = Bytes::from(vec![b'v'; 2_500_000]);
                let args = vec![Bytes::from("SET"), Bytes::from("big"), value];
                let KeyCommand::Write(op) = parse(&args, stamp_ms, &mut next_seed) else {
                    panic!("SET writes");
                };
                uploads.begin(
                    Proposal {
                        route: None,
                        db: 0,
                        op: Op::Write(op),
                        bytes: 2_500_040,
                    },
                    None,
                );
            }
            let mut parts = Vec::new();
            uploads.next_commands(&mut parts);
            commands.extend(parts.into_iter().map(|part| Command {
                db: part.db,
                op: part.op,
            }));
            seen.assembled += commands
                .iter()
                .filter(|command| matches!(command.op, Op::Assembled { .. }))
                .count();
            let request = Request {
                stamp_ms,
                origin: 7,
                proposal,
                commands,
            };
            let [first, second] = &mut nodes;
            let applied = first.apply(&request);
            assert_eq!(
                applied,
                second.apply(&request),
                "seed {seed}, entry {proposal}: {request:?}"
            );
            seen.count(&applied);
        }
        let [first, second] = &nodes;
        assert_eq!(first.engine.dump(), second.engine.dump(), "seed {seed}");
        assert_eq!(first.blocked, second.blocked, "seed {seed}");
        assert_eq!(first.staged, second.staged, "seed {seed}");
        assert_eq!(first.clock_ms, second.clock_ms, "seed {seed}");
        let evicted = first.engine.stats().evicted_keys;
        assert_eq!(evicted, second.engine.stats().evicted_keys, "seed {seed}");
        seen.evicted += evicted;
        first.engine.check_invariants();
    }
    // The run went where it was meant to.
    assert!(seen.transactions > 100, "{seen:?}");
    assert!(seen.aborted > 0, "{seen:?}");
    assert!(seen.waits_ended > 10, "{seen:?}");
    assert!(seen.wrongtype > 10, "{seen:?}");
    assert!(seen.assembled > 5, "{seen:?}");
    assert!(seen.evicted > 10, "{seen:?}");
}

/// What the outcomes showed, over every seed.
#[derive(Debug, Default)]
struct Seen {
    transactions: usize,
    aborted: usize,
    waits_ended: usize,
    wrongtype: usize,
    assembled: usize,
    evicted: u64,
}

impl Seen {
    fn count(&mut self, applied: &str) {
        self.transactions += applied.matches("Exec(ExecReply").count();
        // An aborted EXEC replies a nil array, "*-1" in RESP2, "_" in RESP3.
        self.aborted += applied.matches("encoded: b\"*-1").count();
        self.aborted += applied.matches("encoded: b\"_").count();
        self.waits_ended += applied.matches("WaiterId").count();
        self.wrongtype += applied.matches("WrongType").count();
    }
}

/// An `EXEC` of `queue`, watching a key or two at their stamps on `node`
/// now (so some transactions abort when an earlier command of the entry
/// changed the key).
fn exec(
    queue: &[Vec<Bytes>],
    node: &Node,
    now_ms: u64,
    seeds: &mut dyn FnMut() -> u64,
    rng: &mut Rng,
) -> Op {
    let watches = (0..rng.below(3))
        .map(|_| {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize];
            Watch {
                db: 0,
                key: Bytes::from(key),
                stamp: node.engine.watch_stamp(0, key.as_bytes(), now_ms),
            }
        })
        .collect();
    Op::Exec(Box::new(Transaction {
        resp3: rng.below(2) == 0,
        watches,
        commands: multi::parse_queue(queue, 0, now_ms, false, seeds),
    }))
}
