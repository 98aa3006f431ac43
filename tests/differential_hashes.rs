//! Differential tests of the hash commands: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The keyspace is small (six small hashes, `big`, which long values turn
//! into a table, and `str`, a string, so WRONGTYPE paths are met) and fields
//! come from a small alphabet, so commands collide. Small hashes stay packed
//! (insertion order, as Redis's listpack), so their order-dependent replies
//! are compared exactly; `big`'s order is Redis's dict order, so its
//! order-dependent replies are compared sorted. Random picks are compared
//! by length.

mod common;

use common::diff::{args, run_seed, text, with_transactions, Check, Command, Rng};

/// Few keys, so commands meet; `big` gets long values, `str` is a string.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        7 => b"str".to_vec(),
        8 => b"big".to_vec(),
        n => format!("h{n}").into_bytes(),
    }
}

/// A field: short words, numbers and an empty string.
fn field(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => Vec::new(),
        1 | 2 => rng.range(-20, 20).to_string().into_bytes(),
        _ => vec![b'a' + rng.below(10) as u8],
    }
}

/// A value for `key`: like a field, and on `big` sometimes past the
/// 64-byte listpack limit.
fn value(rng: &mut Rng, key: &[u8]) -> Vec<u8> {
    if key == b"big" && rng.chance(3) {
        return vec![b'v'; 60 + rng.below(10) as usize];
    }
    field(rng)
}

/// A HINCRBYFLOAT increment: valid, invalid and infinite ones.
fn float_delta(rng: &mut Rng) -> Vec<u8> {
    rng.one_of(&[
        "1.5", "-0.25", "0.1", "3", "-7", "1e3", "2.5e-3", "0x10", "abc", "", " 1", "inf", "-inf",
        "nan", "1e5000",
    ])
}

/// A HINCRBY increment, with overflow edges and non-integers.
fn int_delta(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => rng.one_of(&[
            "9223372036854775807",
            "-9223372036854775808",
            "x",
            "1.5",
            "-0",
        ]),
        _ => text(rng.range(-20, 20)),
    }
}

/// A HRANDFIELD count: zero, small, negative, larger than any hash, and
/// (`edges`, only with WITHVALUES, since Redis would try to build a reply
/// of 2^62 fields without it) the range edges.
fn count(rng: &mut Rng, edges: bool) -> Vec<u8> {
    match rng.below(12) {
        0 if edges => rng.one_of(&[
            "-9223372036854775808",
            "4611686018427387904",
            "-4611686018427387904",
            "9223372036854775807",
        ]),
        0 => rng.one_of(&["-9223372036854775808", "9223372036854775807", "x"]),
        1 => b"100".to_vec(),
        _ => text(rng.range(-6, 6)),
    }
}

/// Whether `key`'s order-dependent replies match Redis's exactly (a
/// packed hash, or a key that is never a hash).
fn ordered(key: &[u8]) -> bool {
    key != b"big"
}

fn hscan(rng: &mut Rng, k: &[u8]) -> Command {
    let cursor = rng.one_of(&["0", "0", "0", "7", "x", "-1"]);
    let mut command = args(&[b"HSCAN", k, &cursor]);
    for _ in 0..rng.below(3) {
        match rng.below(5) {
            0 => command.extend(args(&[
                b"MATCH",
                &rng.one_of(&["*", "a*", "[a-c]", "?", "-*"]),
            ])),
            1 => command.extend(args(&[
                b"COUNT",
                &rng.one_of(&["1", "1000", "0", "-1", "x"]),
            ])),
            2 => command.push(rng.one_of(&["COUNT", "MATCH", "TYPE"])),
            _ => command.extend(args(&[b"COUNT", b"1000"])),
        }
    }
    // A table's walk order (and cursors) are not Redis's; COUNT 1000
    // returns all of a small one at once, so compare it as pairs.
    if ordered(k) {
        Command::exact(command)
    } else {
        Command::with(Check::Len, command)
    }
}

fn hrandfield(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = args(&[b"HRANDFIELD", k]);
    if rng.chance(6) {
        // Without a count the reply is one field: compare it only where it
        // is not random (a key never written).
        return Command::exact(args(&[b"HRANDFIELD", b"nokey"]));
    }
    match rng.below(6) {
        0 | 1 => command.extend([count(rng, true), b"WITHVALUES".to_vec()]),
        2 => command.extend([count(rng, false), rng.one_of(&["withvalue", "withvalues"])]),
        3 => command.extend([count(rng, false), b"WITHVALUES".to_vec(), b"x".to_vec()]),
        _ => command.push(count(rng, false)),
    }
    Command::with(Check::Len, command)
}

/// Generates one command.
fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    match rng.below(40) {
        0 => Command::exact(args(&[b"SET", b"str", b"x"])),
        1 => Command::exact(args(&[b"DEL", &k])),
        2..=9 => {
            let name: &[u8] = if rng.chance(4) { b"HMSET" } else { b"HSET" };
            let mut command = args(&[name, &k]);
            for _ in 0..rng.range(1, 4) {
                command.push(field(rng));
                command.push(value(rng, &k));
            }
            if rng.chance(30) {
                command.pop();
            }
            Command::exact(command)
        }
        10 | 11 => Command::exact(args(&[b"HSETNX", &k, &field(rng), &value(rng, &k)])),
        12..=14 => Command::exact(args(&[b"HGET", &k, &field(rng)])),
        15 => {
            let mut command = args(&[b"HMGET", &k]);
            for _ in 0..rng.range(1, 4) {
                command.push(field(rng));
            }
            Command::exact(command)
        }
        16..=18 => {
            let mut command = args(&[b"HDEL", &k]);
            for _ in 0..rng.range(1, 3) {
                command.push(field(rng));
            }
            Command::exact(command)
        }
        19 => Command::exact(args(&[b"HEXISTS", &k, &field(rng)])),
        20 => Command::exact(args(&[b"HLEN", &k])),
        21 => Command::exact(args(&[b"HSTRLEN", &k, &field(rng)])),
        22 | 23 => {
            let name: &[u8] = if rng.chance(2) { b"HKEYS" } else { b"HVALS" };
            let check = if ordered(&k) {
                Check::Exact
            } else {
                Check::Sorted
            };
            Command::with(check, args(&[name, &k]))
        }
        24 | 25 => {
            let check = if ordered(&k) {
                Check::Exact
            } else {
                Check::Pairs
            };
            Command::with(check, args(&[b"HGETALL", &k]))
        }
        26..=29 => Command::exact(args(&[b"HINCRBY", &k, &field(rng), &int_delta(rng)])),
        30..=33 => Command::exact(args(&[b"HINCRBYFLOAT", &k, &field(rng), &float_delta(rng)])),
        34..=36 => hrandfield(rng, &k),
        _ => hscan(rng, &k),
    }
}

/// Commands per seed.
const STEPS: usize = 3000;

differential_seeds! {
    STEPS, |_| command;
    seed_1: 1, false;
    seed_2: 2, false;
    seed_3_resp3: 3, true;
    seed_4_resp3: 4, true;
}

// The same commands, some of them queued in MULTI/EXEC blocks.
differential_seeds! {
    STEPS, |_| with_transactions(6, command);
    in_transactions_1: 101, false;
    in_transactions_2_resp3: 102, true;
}
