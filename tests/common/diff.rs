//! The differential harness: the same generated command sequence goes to
//! redraft and to a real redis-server, and every reply must be the same.
//!
//! Each command family has its own generator in its own test file
//! (`tests/differential*.rs`); this module runs them. Commands go out in
//! pipelined batches of random size, so ordering within a pipeline is
//! checked too. Every few batches a whole SCAN loop is compared, and with
//! `REDRAFT_DIFF_PARANOID=1` the selected database's whole contents are
//! compared after every command (slow, for finding where a divergence
//! starts).
//!
//! On a mismatch the run reports the seed, the step, the command and both
//! replies, and stops that seed (the keyspaces have diverged after it).

use super::{render, repr, Process, Raw};
use redraft_server::resp::Frame;

/// splitmix64: small, seedable, and good enough to pick commands.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    pub fn one_of(&mut self, items: &[&str]) -> Vec<u8> {
        self.pick(items).as_bytes().to_vec()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How two replies to one command are compared.
#[derive(Clone, Debug)]
pub enum Check {
    /// Byte for byte (as frames).
    Exact,
    /// Arrays (or RESP3 sets) compared after sorting: KEYS, SMEMBERS.
    Sorted,
    /// Maps (RESP3) or flat arrays of pairs (RESP2) compared as sorted
    /// pairs: HGETALL.
    Pairs,
    /// Arrays (or RESP3 sets) compared by length only: random members.
    Len,
    /// Integers equal if negative, else within this distance (TTLs).
    Near(i64),
    /// EXEC's reply: an array compared element by element, each with the
    /// check of the queued command it answers (or both a null array: the
    /// transaction was aborted).
    Exec(Vec<Check>),
}

/// One generated command.
pub struct Command {
    pub args: Vec<Vec<u8>>,
    pub check: Check,
}

impl Command {
    /// A command whose reply must match byte for byte.
    pub fn exact(args: Vec<Vec<u8>>) -> Command {
        Command {
            args,
            check: Check::Exact,
        }
    }

    /// A command compared with `check`.
    pub fn with(check: Check, args: Vec<Vec<u8>>) -> Command {
        Command { args, check }
    }
}

/// Owned arguments from byte strings.
pub fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// A number as an argument.
pub fn text(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Whether two replies count as the same under `check`.
pub fn same(check: &Check, redis: &Frame, redraft: &Frame) -> bool {
    match (check, redis, redraft) {
        (Check::Exec(checks), Frame::Array(a), Frame::Array(b)) => {
            a.len() == checks.len()
                && b.len() == checks.len()
                && checks
                    .iter()
                    .zip(a.iter().zip(b))
                    .all(|(check, (a, b))| same(check, a, b))
        }
        (Check::Sorted, Frame::Array(a), Frame::Array(b))
        | (Check::Sorted, Frame::Set(a), Frame::Set(b)) => sorted(a) == sorted(b),
        (Check::Pairs, _, _) => match (pairs(redis), pairs(redraft)) {
            (Some(a), Some(b)) => a == b,
            _ => redis == redraft,
        },
        (Check::Len, Frame::Array(a), Frame::Array(b))
        | (Check::Len, Frame::Set(a), Frame::Set(b)) => a.len() == b.len(),
        (Check::Near(d), Frame::Integer(a), Frame::Integer(b)) if *a >= 0 && *b >= 0 => {
            (a - b).abs() <= *d
        }
        _ => redis == redraft,
    }
}

/// Wraps a generator so that about one command in `one_in` starts a
/// transaction: `MULTI`, one to five of the generator's commands (each
/// must answer `+QUEUED`), and `EXEC`, whose replies are checked one by one
/// with the queued commands' checks. Outside transactions, the generator's
/// commands go as they are.
pub fn with_transactions(
    one_in: u64,
    mut generate: impl FnMut(&mut Rng) -> Command,
) -> impl FnMut(&mut Rng) -> Command {
    let mut queued: std::collections::VecDeque<Command> = std::collections::VecDeque::new();
    move |rng| {
        if let Some(command) = queued.pop_front() {
            return command;
        }
        if !rng.chance(one_in) {
            return generate(rng);
        }
        let commands: Vec<Command> = (0..rng.range(1, 5)).map(|_| generate(rng)).collect();
        let checks = commands
            .iter()
            .map(|command| command.check.clone())
            .collect();
        queued.extend(
            commands
                .into_iter()
                .map(|command| Command::exact(command.args)),
        );
        queued.push_back(Command::with(Check::Exec(checks), args(&[b"EXEC"])));
        Command::exact(args(&[b"MULTI"]))
    }
}

/// A map reply (RESP3) or a flat array of pairs (RESP2) as sorted
/// rendered pairs; `None` for any other frame.
fn pairs(frame: &Frame) -> Option<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = match frame {
        Frame::Map(pairs) => pairs.iter().map(|(k, v)| (render(k), render(v))).collect(),
        Frame::Array(items) if items.len() % 2 == 0 => items
            .chunks_exact(2)
            .map(|pair| (render(&pair[0]), render(&pair[1])))
            .collect(),
        _ => return None,
    };
    pairs.sort();
    Some(pairs)
}

fn sorted(items: &[Frame]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(render).collect();
    items.sort();
    items
}

/// Every key a whole SCAN loop returns, sorted and deduplicated.
fn scan_all(conn: &mut Raw, extra: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    for _ in 0..10_000 {
        let mut request: Vec<&[u8]> = vec![b"SCAN", &cursor];
        request.extend_from_slice(extra);
        let reply = conn.command(&request);
        let Frame::Array(parts) = &reply else {
            return Err(format!("SCAN replied {}", render(&reply)));
        };
        let [Frame::Bulk(next), Frame::Array(batch)] = &parts[..] else {
            return Err(format!("SCAN replied {}", render(&reply)));
        };
        for item in batch {
            match item {
                Frame::Bulk(key) => keys.push(key.to_vec()),
                other => return Err(format!("SCAN returned a non-key {}", render(other))),
            }
        }
        if &next[..] == b"0" {
            keys.sort();
            keys.dedup();
            return Ok(keys);
        }
        cursor = next.to_vec();
    }
    Err("SCAN did not finish in 10000 calls".to_string())
}

pub fn show_command(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| repr(a)).collect::<Vec<_>>().join(" ")
}

/// Both servers and a connection to each.
struct Pair {
    _redis: Process,
    _redraft: Process,
    redis: Raw,
    redraft: Raw,
}

/// Runs `steps` commands from `generate`, seeded with `seed`, against both
/// servers; returns the first mismatch.
pub fn run_seed(
    seed: u64,
    steps: usize,
    resp3: bool,
    mut generate: impl FnMut(&mut Rng) -> Command,
) -> Result<(), String> {
    let redis = super::redis(&[]);
    let redraft = super::redraft(&[]);
    let mut pair = Pair {
        redis: redis.raw(),
        redraft: redraft.raw(),
        _redis: redis,
        _redraft: redraft,
    };
    if resp3 {
        let _ = pair.redis.command(&[b"HELLO", b"3"]);
        let _ = pair.redraft.command(&[b"HELLO", b"3"]);
    }
    let mut rng = Rng(seed);
    let mut step = 0;
    while step < steps {
        if rng.chance(15) {
            compare_scans(&mut pair, &mut rng)
                .map_err(|e| format!("seed {seed}, step {step}: {e}"))?;
        }
        let mut batch: Vec<Command> = (0..rng.range(1, 32)).map(|_| generate(&mut rng)).collect();
        // A batch never ends inside MULTI: the SCAN and dump comparisons
        // between batches would be queued.
        while in_transaction(&batch) {
            batch.push(generate(&mut rng));
        }
        if paranoid() {
            // One command at a time, checking the whole database after each
            // (outside transactions), to find the command where the
            // keyspaces first diverge.
            for (i, command) in batch.iter().enumerate() {
                run_batch(&mut pair, std::slice::from_ref(command))
                    .and_then(|()| {
                        if in_transaction(&batch[..=i]) {
                            return Ok(());
                        }
                        compare_dumps(&mut pair).map_err(|e| (0, e))
                    })
                    .map_err(|(_, e)| format!("seed {seed}, step {}: {e}", step + i))?;
            }
        } else {
            run_batch(&mut pair, &batch)
                .map_err(|(i, e)| format!("seed {seed}, step {}: {e}", step + i))?;
        }
        step += batch.len();
    }
    Ok(())
}

/// Whether `commands` leave the connection inside MULTI.
fn in_transaction(commands: &[Command]) -> bool {
    commands.iter().fold(false, |open, command| {
        let name = command.args[0].to_ascii_uppercase();
        match &name[..] {
            b"MULTI" => true,
            b"EXEC" | b"DISCARD" => false,
            _ => open,
        }
    })
}

/// Whether to check the selected database's contents after every command
/// (`REDRAFT_DIFF_PARANOID=1`): slow, for finding where a divergence starts.
fn paranoid() -> bool {
    std::env::var_os("REDRAFT_DIFF_PARANOID").is_some()
}

/// The selected database as sorted (key, value, has a TTL) triples; each
/// value is read with its type's whole-value command, and the replies
/// whose order Redis does not define are sorted.
fn dump(conn: &mut Raw) -> Vec<(Vec<u8>, String, bool)> {
    let Frame::Array(keys) = conn.command(&[b"KEYS", b"*"]) else {
        panic!("KEYS * is not an array");
    };
    let mut entries: Vec<(Vec<u8>, String, bool)> = keys
        .into_iter()
        .map(|key| {
            let Frame::Bulk(key) = key else {
                panic!("KEYS returned a non-key {key:?}");
            };
            let kind = conn.command(&[b"TYPE", &key]);
            let value = match render(&kind).as_str() {
                "list" => render(&conn.command(&[b"LRANGE", &key, b"0", b"-1"])),
                "hash" => format!("{:?}", pairs(&conn.command(&[b"HGETALL", &key]))),
                "set" => match conn.command(&[b"SMEMBERS", &key]) {
                    Frame::Array(items) | Frame::Set(items) => format!("{:?}", sorted(&items)),
                    other => render(&other),
                },
                "zset" => render(&conn.command(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])),
                _ => render(&conn.command(&[b"GET", &key])),
            };
            let ttl = conn.command(&[b"PTTL", &key]);
            (
                key.to_vec(),
                format!("{}: {value}", render(&kind)),
                ttl != Frame::Integer(-1),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

fn compare_dumps(pair: &mut Pair) -> Result<(), String> {
    let (from_redis, from_redraft) = (dump(&mut pair.redis), dump(&mut pair.redraft));
    if from_redis == from_redraft {
        return Ok(());
    }
    let show = |entries: &[(Vec<u8>, String, bool)]| {
        entries
            .iter()
            .map(|(k, v, ttl)| format!("{}={}{}", repr(k), v, if *ttl { " (ttl)" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(format!(
        "after this command the databases differ\n  redis:   {}\n  redraft: {}",
        show(&from_redis),
        show(&from_redraft)
    ))
}

/// Sends a batch as one pipeline to each server and compares replies in order.
fn run_batch(pair: &mut Pair, batch: &[Command]) -> Result<(), (usize, String)> {
    let mut bytes = Vec::new();
    for command in batch {
        let parts: Vec<&[u8]> = command.args.iter().map(Vec::as_slice).collect();
        bytes.extend(super::encode_command(&parts));
    }
    pair.redis.send(&bytes);
    pair.redraft.send(&bytes);
    let mut earlier = Vec::new();
    for (i, command) in batch.iter().enumerate() {
        let from_redis = pair.redis.read_frame();
        let Some(from_redraft) = pair.redraft.read_frame_or_eof() else {
            return Err((
                i,
                format!(
                    "> {}\n  redraft closed the connection",
                    show_command(&command.args)
                ),
            ));
        };
        if !same(&command.check, &from_redis, &from_redraft) {
            return Err((
                i,
                format!(
                    "> {}\n  redis:   {}\n  redraft: {}\n  earlier in the same pipeline (with redis's replies):{}",
                    show_command(&command.args),
                    render(&from_redis).replace('\n', "\n           "),
                    render(&from_redraft).replace('\n', "\n           "),
                    earlier.concat(),
                ),
            ));
        }
        earlier.push(format!(
            "\n    > {}  ->  {}",
            show_command(&command.args),
            render(&from_redis).replace('\n', " ")
        ));
    }
    Ok(())
}

/// A whole SCAN loop (with a random COUNT, MATCH and TYPE) must find the same
/// keys on both servers, and the same keys as `KEYS` on redraft.
fn compare_scans(pair: &mut Pair, rng: &mut Rng) -> Result<(), String> {
    let count = text(rng.range(1, 12));
    let pattern = rng.one_of(&["*", "k1*", "*1", "k?"]);
    let mut extra: Vec<&[u8]> = vec![b"COUNT", &count];
    let kind = rng.one_of(&["string", "list", "hash", "set", "zset"]);
    if rng.chance(2) {
        extra.extend_from_slice(&[b"MATCH", &pattern]);
    }
    if rng.chance(4) {
        extra.extend_from_slice(&[b"TYPE", &kind]);
    }
    let from_redis = scan_all(&mut pair.redis, &extra)?;
    let from_redraft = scan_all(&mut pair.redraft, &extra).map_err(|e| format!("redraft: {e}"))?;
    let shown = |keys: &[Vec<u8>]| keys.iter().map(|k| repr(k)).collect::<Vec<_>>().join(" ");
    let request = extra.iter().map(|a| repr(a)).collect::<Vec<_>>().join(" ");
    if from_redis != from_redraft {
        return Err(format!(
            "full SCAN loop with {request}\n  redis:   {}\n  redraft: {}",
            shown(&from_redis),
            shown(&from_redraft)
        ));
    }
    if extra.len() == 2 {
        let Frame::Array(keys) = pair.redraft.command(&[b"KEYS", b"*"]) else {
            return Err("redraft: KEYS * is not an array".to_string());
        };
        let mut keys: Vec<Vec<u8>> = keys
            .into_iter()
            .filter_map(|k| {
                if let Frame::Bulk(k) = k {
                    Some(k.to_vec())
                } else {
                    None
                }
            })
            .collect();
        keys.sort();
        if keys != from_redraft {
            return Err(format!(
                "redraft: SCAN loop found {} but KEYS * {}",
                shown(&from_redraft),
                shown(&keys)
            ));
        }
    }
    Ok(())
}

/// One `#[test]` per seed, each running `$steps` commands against both
/// servers from the generator that `$make` (called with the seed's RESP3
/// flag) returns, an `FnMut(&mut Rng) -> Command`:
/// `differential_seeds!(STEPS, |_| command; seed_1: 1, false; seed_2: 2, true;)`.
#[macro_export]
macro_rules! differential_seeds {
    ($steps:expr, $make:expr; $($name:ident: $seed:expr, $resp3:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let generate = ($make)($resp3);
                if let Err(mismatch) = run_seed($seed, $steps, $resp3, generate) {
                    panic!("redraft and redis differ at {mismatch}");
                }
            }
        )*
    };
}

/// A word of a script line: `''` is the empty string, `\xHH` a byte.
pub fn script_word(word: &str) -> Vec<u8> {
    if word == "''" {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    let mut rest = word.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'\\' && tail.first() == Some(&b'x') {
            let hex = std::str::from_utf8(&tail[1..3]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[3..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    bytes
}

/// Sends each line of `script` (words split at spaces, see
/// [`script_word`]) to a fresh redis-server and a fresh redraft, in RESP2
/// or RESP3, and panics listing every line whose replies differ.
pub fn run_script(script: &[&str], resp3: bool) {
    let redis = super::redis(&[]);
    let redraft = super::redraft(&[]);
    let (mut a, mut b) = (redis.raw(), redraft.raw());
    if resp3 {
        a.command(&[b"HELLO", b"3"]);
        b.command(&[b"HELLO", b"3"]);
    }
    let mut mismatches = Vec::new();
    for line in script {
        let words: Vec<Vec<u8>> = line.split(' ').map(script_word).collect();
        let parts: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        let (from_redis, from_redraft) = (a.command(&parts), b.command(&parts));
        if from_redis != from_redraft {
            mismatches.push(format!(
                "> {line}\n  redis:   {}\n  redraft: {}",
                render(&from_redis),
                render(&from_redraft)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Sends `total` generated commands (or a few more, to end a batch) to
/// `conn` in pipelined batches of 20, reading every reply without checking
/// it, then a `DISCARD` that closes a transaction the last batch left open:
/// a random stream for tests that compare what it leaves on every node.
pub fn send_stream(
    conn: &mut Raw,
    rng: &mut Rng,
    mut generate: impl FnMut(&mut Rng) -> Command,
    total: usize,
) {
    let mut sent = 0;
    while sent < total {
        let batch: Vec<Command> = (0..20).map(|_| generate(rng)).collect();
        let mut bytes = Vec::new();
        for command in &batch {
            let parts: Vec<&[u8]> = command.args.iter().map(Vec::as_slice).collect();
            bytes.extend(super::encode_command(&parts));
        }
        conn.send(&bytes);
        for _ in &batch {
            conn.read_frame();
        }
        sent += batch.len();
    }
    conn.command(&[b"DISCARD"]);
}
