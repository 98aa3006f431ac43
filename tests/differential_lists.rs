//! Differential tests of the list commands: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The keyspace is small (8 keys, one of them a string, so WRONGTYPE paths
//! are met) and elements come from a small alphabet, so commands collide.
//! Every list command is generated, with the edge arguments Redis has
//! rules for: negative and out-of-range indexes, counts of 0, negative or
//! non-numeric counts, LPOS's options and LMPOP's numkeys.

mod common;

use common::diff::{args, run_seed, text, with_transactions, Command, Rng};

/// Few keys, so commands meet; `str` holds a string.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        7 => b"str".to_vec(),
        n => format!("l{n}").into_bytes(),
    }
}

/// An element: short words, numbers, an empty string and now and then one
/// too long to be stored inline.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => Vec::new(),
        1 | 2 => text(rng.range(-20, 20)),
        3 => b"a-long-element-of-more-than-twenty-three-bytes".to_vec(),
        _ => vec![b'a' + rng.below(6) as u8],
    }
}

/// An index or range bound: mostly small, sometimes extreme or not a
/// number at all.
fn index(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => b"x".to_vec(),
        1 => text(i64::MIN),
        2 => text(i64::MAX),
        _ => text(rng.range(-8, 8)),
    }
}

/// A count: mostly small and positive, sometimes 0, negative or invalid.
fn count(rng: &mut Rng) -> Vec<u8> {
    match rng.below(16) {
        0 => b"-1".to_vec(),
        1 => b"x".to_vec(),
        2 => b"0".to_vec(),
        3 => text(i64::MAX),
        _ => text(rng.range(1, 6)),
    }
}

/// `LEFT` or `RIGHT` in any case, and now and then neither.
fn side(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(40) {
        return b"UP".to_vec();
    }
    rng.one_of(&["LEFT", "RIGHT", "left", "Right"])
}

/// A push of 1 to 4 elements.
fn push(rng: &mut Rng, name: &[u8], k: &[u8]) -> Command {
    let mut command = args(&[name, k]);
    command.extend((0..rng.range(1, 4)).map(|_| element(rng)));
    Command::exact(command)
}

fn pop(rng: &mut Rng, k: &[u8]) -> Command {
    let name: &[u8] = if rng.chance(2) { b"LPOP" } else { b"RPOP" };
    let mut command = args(&[name, k]);
    if rng.chance(2) {
        command.push(count(rng));
    }
    if rng.chance(40) {
        command.push(b"1".to_vec());
    }
    Command::exact(command)
}

/// `LPOS` with a random mix of options, some of them invalid.
fn lpos(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = args(&[b"LPOS", k]);
    command.push(element(rng));
    for _ in 0..rng.below(4) {
        match rng.below(8) {
            0 | 1 => command.extend([b"RANK".to_vec(), {
                match rng.below(12) {
                    0 => b"0".to_vec(),
                    1 => text(i64::MIN),
                    2 => b"y".to_vec(),
                    _ => text(rng.range(-3, 3)),
                }
            }]),
            2 | 3 => command.extend([b"COUNT".to_vec(), count(rng)]),
            4 | 5 => command.extend([b"MAXLEN".to_vec(), count(rng)]),
            6 => command.push(rng.one_of(&["RANK", "COUNT", "MAXLEN", "FOO"])),
            _ => command.extend([b"count".to_vec(), b"0".to_vec()]),
        }
    }
    Command::exact(command)
}

/// `LMPOP`, with numkeys sometimes wrong and COUNT sometimes repeated.
fn lmpop(rng: &mut Rng) -> Command {
    let keys: Vec<Vec<u8>> = (0..rng.range(1, 3)).map(|_| key(rng)).collect();
    let numkeys = match rng.below(12) {
        0 => b"0".to_vec(),
        1 => text(keys.len() as i64 + 1),
        2 => b"z".to_vec(),
        _ => text(keys.len() as i64),
    };
    let mut command = args(&[b"LMPOP", &numkeys]);
    command.extend(keys);
    command.push(side(rng));
    for _ in 0..rng.below(3) {
        command.extend([b"COUNT".to_vec(), count(rng)]);
    }
    Command::exact(command)
}

/// Generates one command.
fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    // Pushes add about as many elements as pops, trims and deletes take
    // away, so lists stay short and indexes land on both sides of the end.
    match rng.below(42) {
        0 => Command::exact(args(&[b"SET", b"str", b"x"])),
        1 | 2 => Command::exact(args(&[b"DEL", &k])),
        3..=6 => push(rng, b"RPUSH", &k),
        7..=9 => push(rng, b"LPUSH", &k),
        10 => push(rng, b"LPUSHX", &k),
        11 => push(rng, b"RPUSHX", &k),
        12..=16 => pop(rng, &k),
        17 => Command::exact(args(&[b"LLEN", &k])),
        18 | 19 => Command::exact(args(&[b"LRANGE", &k, &index(rng), &index(rng)])),
        20 | 21 => Command::exact(args(&[b"LINDEX", &k, &index(rng)])),
        22..=24 => Command::exact(args(&[b"LSET", &k, &index(rng), &element(rng)])),
        25 | 26 => Command::exact(args(&[b"LREM", &k, &index(rng), &element(rng)])),
        27 => Command::exact(args(&[b"LTRIM", &k, &index(rng), &index(rng)])),
        28 | 29 => {
            let at = if rng.chance(40) {
                b"NEAR".to_vec()
            } else {
                rng.one_of(&["BEFORE", "AFTER", "after", "before"])
            };
            Command::exact(args(&[b"LINSERT", &k, &at, &element(rng), &element(rng)]))
        }
        30..=32 => lpos(rng, &k),
        33..=35 => {
            let to = key(rng);
            Command::exact(args(&[b"LMOVE", &k, &to, &side(rng), &side(rng)]))
        }
        36 | 37 => Command::exact(args(&[b"RPOPLPUSH", &k, &key(rng)])),
        38..=40 => lmpop(rng),
        _ => Command::exact(args(&[b"TYPE", &k])),
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
