//! Differential tests of SORT and SORT_RO: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The data: lists, an intset, a set of words and a sorted set, weights
//! under `w_*` (strings) and `h_*` (hash fields), all over a small alphabet
//! so weights tie and some do not convert to numbers. Sorts use every
//! option: BY a string or hash field or `nosort`, GET patterns, ALPHA,
//! DESC, LIMIT with edge values, and STORE (then read back with LRANGE).
//!
//! What Redis leaves to its hash table order is not generated: a tie
//! under `BY ... ALPHA` breaks by input order, and the input order of a set
//! of words or of a sorted set is Redis's dict order, so those sort only by
//! total orders (numbers fall back to comparing bytes, ALPHA without BY
//! compares distinct members). Nor are weights that overflow or underflow
//! (see `keys_sort.txt`: Redis's stale `errno` would leak into later sorts).

mod common;

use common::diff::{args, run_seed, text, Command, Rng};

const STEPS: usize = 1500;

/// A list element, set member or weight: numbers (some tied, some with
/// spaces or exponents), words, and an empty string.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => Vec::new(),
        1 => rng.one_of(&[" 3", "1e1", "2.5", "-0", "inf"]),
        2..=6 => text(rng.range(-3, 12)),
        _ => rng.one_of(&["a", "b", "c", "B", "ab", "x y"]),
    }
}

/// A weight: mostly numbers, so numeric sorts mostly succeed.
fn weight(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => rng.one_of(&["a", "b", ""]),
        _ => text(rng.range(0, 4)),
    }
}

/// A LIMIT bound: mostly small, sometimes negative, huge or not a number.
fn bound(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => text(i64::MAX),
        1 => text(i64::MIN),
        2 => b"x".to_vec(),
        _ => text(rng.range(-2, 12)),
    }
}

/// The keys, by what may be sorted on them without meeting Redis's hash
/// table order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A list, the intset (ascending in both servers), a string or a
    /// missing key: anything goes.
    Ordered,
    /// The sorted set: its own order (`BY nosort`) is the same in both,
    /// but Redis feeds a sort its members in dict order.
    ZSet,
    /// The set of words: dict order everywhere in Redis.
    Words,
}

fn source(rng: &mut Rng) -> (Vec<u8>, Source) {
    match rng.below(10) {
        0 => (b"si".to_vec(), Source::Ordered),
        1 => (b"sw".to_vec(), Source::Words),
        2 => (b"z".to_vec(), Source::ZSet),
        3 => (b"str".to_vec(), Source::Ordered),
        4 => (b"missing".to_vec(), Source::Ordered),
        n => (format!("l{}", n % 3).into_bytes(), Source::Ordered),
    }
}

/// The options of one sort of a `from` key; `store` for SORT ... STORE.
fn sort_options(rng: &mut Rng, from: Source, store: bool) -> Vec<Vec<u8>> {
    let mut options = Vec::new();
    let mut by_pattern = false;
    match rng.below(5) {
        0 | 1 => {
            options.push(b"BY".to_vec());
            options.push(rng.one_of(&["w_*", "h_*->f"]));
            by_pattern = true;
        }
        // A set of words in its own order shows Redis's dict order, unless
        // STORE sorts it.
        2 if from != Source::Words || store => options.extend(args(&[b"BY", b"nosort"])),
        _ => {}
    }
    // ALPHA ties (equal or missing weights) keep the input order.
    if rng.chance(2) && !(by_pattern && from != Source::Ordered) {
        options.push(b"ALPHA".to_vec());
    }
    if rng.chance(2) {
        options.push(rng.one_of(&["DESC", "ASC", "desc"]));
    }
    if rng.chance(2) {
        options.push(b"LIMIT".to_vec());
        options.push(bound(rng));
        options.push(bound(rng));
    }
    for _ in 0..rng.below(3) {
        options.push(b"GET".to_vec());
        options.push(rng.one_of(&["#", "w_*", "h_*->f", "h_*->g", "nokey_*", "nostar"]));
    }
    if store {
        options.extend(args(&[b"STORE", b"dst"]));
    }
    options
}

fn command(rng: &mut Rng) -> Command {
    match rng.below(30) {
        0..=2 => {
            let list = format!("l{}", rng.below(3)).into_bytes();
            let mut push = args(&[b"RPUSH", &list]);
            push.extend((0..rng.range(1, 5)).map(|_| element(rng)));
            Command::exact(push)
        }
        3 => Command::exact(args(&[b"SADD", b"si", &text(rng.range(-5, 20))])),
        4 => Command::exact(args(&[b"SADD", b"sw", &element(rng)])),
        5 => Command::exact(args(&[
            b"ZADD",
            b"z",
            &text(rng.range(0, 3)),
            &element(rng),
        ])),
        6..=8 => {
            let key = [b"w_".to_vec(), element(rng)].concat();
            Command::exact(args(&[b"SET", &key, &weight(rng)]))
        }
        9 | 10 => {
            let key = [b"h_".to_vec(), element(rng)].concat();
            let field = rng.one_of(&["f", "g"]);
            Command::exact(args(&[b"HSET", &key, &field, &weight(rng)]))
        }
        11 => Command::exact(args(&[b"DEL", &format!("l{}", rng.below(3)).into_bytes()])),
        12 => Command::exact(args(&[b"SET", b"str", b"x"])),
        13 => Command::exact(args(&[b"LRANGE", b"dst", b"0", b"-1"])),
        14 => Command::exact(args(&[b"EXISTS", b"dst"])),
        _ => {
            let (key, from) = source(rng);
            let read_only = rng.chance(4);
            let name: &[u8] = if read_only { b"SORT_RO" } else { b"SORT" };
            let store = !read_only && rng.chance(3);
            let mut sort = args(&[name, &key]);
            sort.extend(sort_options(rng, from, store));
            Command::exact(sort)
        }
    }
}

differential_seeds! {
    STEPS, |_| command;
    seed_1: 1, false;
    seed_2: 2, false;
    seed_3_resp3: 3, true;
}
