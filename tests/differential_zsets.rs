//! Differential tests of the sorted set commands: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The keyspace is small so commands collide: five sorted sets with mixed
//! scores (`z0`..`z4`), two whose scores are all 0 (`l0`, `l1`: lex ranges
//! are only defined on those), a set `s` (an input of the set operations)
//! and strings `str` and `lstr` (WRONGTYPE paths). Elements come from a small
//! alphabet. Scores avoid -0, whose display depends on the encoding.
//! `ZRANDMEMBER` is compared by length. `ZRANK ... WITHSCORE` (Redis 7.2)
//! is tested against redraft alone at the end.

mod common;

use common::diff::{args, run_seed, text, with_transactions, Check, Command, Rng};

/// A sorted set key with mixed scores, sometimes the string or the set.
fn zkey(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => b"str".to_vec(),
        1 => b"s".to_vec(),
        n => format!("z{}", n % 5).into_bytes(),
    }
}

/// A key whose scores are all 0, sometimes the string `lstr` (which
/// mixed-score writes never reach).
fn lkey(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        0 => b"lstr".to_vec(),
        n => format!("l{}", n % 2).into_bytes(),
    }
}

/// An element: short words, numbers and an empty string.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => Vec::new(),
        1 | 2 => rng.range(-9, 9).to_string().into_bytes(),
        _ => vec![b'a' + rng.below(10) as u8],
    }
}

/// A score argument, sometimes an invalid one.
fn score(rng: &mut Rng) -> Vec<u8> {
    match rng.below(30) {
        0 => b"inf".to_vec(),
        1 => b"-inf".to_vec(),
        2 => b"1.5".to_vec(),
        3 => b"0.1".to_vec(),
        4 => b"1e300".to_vec(),
        5 => b"nan".to_vec(),
        6 => b"x".to_vec(),
        _ => text(rng.range(-4, 4)),
    }
}

/// A score range bound.
fn score_bound(rng: &mut Rng) -> Vec<u8> {
    rng.one_of(&[
        "-inf", "+inf", "inf", "(-inf", "(inf", "0", "1", "(1", "2", "(2", "-1", "(-2", "3", "1.5",
        "(0.1", "nan", "x", "[1", "",
    ])
}

/// A lex range bound.
fn lex_bound(rng: &mut Rng) -> Vec<u8> {
    rng.one_of(&[
        "-", "+", "[a", "(a", "[c", "(c", "[e", "(f", "[j", "[", "(", "a", "+a",
    ])
}

/// A rank index.
fn index(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(30) {
        return b"x".to_vec();
    }
    text(rng.range(-8, 8))
}

/// `LIMIT offset count`, sometimes.
fn maybe_limit(rng: &mut Rng, command: &mut Vec<Vec<u8>>) {
    if rng.chance(3) {
        command.push(b"LIMIT".to_vec());
        command.push(text(rng.range(-1, 5)));
        command.push(text(rng.range(-2, 5)));
    }
}

/// A `ZRANGE`-family command over `key` (the forms' own argument orders).
fn range_command(rng: &mut Rng, name: &[u8], key: &[u8], lex: bool) -> Vec<Vec<u8>> {
    let (min, max) = if lex {
        (lex_bound(rng), lex_bound(rng))
    } else {
        (score_bound(rng), score_bound(rng))
    };
    let mut command = args(&[name, key, &min, &max]);
    maybe_limit(rng, &mut command);
    if !lex && rng.chance(2) {
        command.push(b"WITHSCORES".to_vec());
    }
    command
}

/// A `ZRANGE` (or `ZRANGESTORE` with `prefix` = [dst]) with its options.
fn zrange_command(rng: &mut Rng, prefix: &[&[u8]]) -> Vec<Vec<u8>> {
    let lex = rng.chance(3);
    let key = if lex { lkey(rng) } else { zkey(rng) };
    let mut command = args(prefix);
    command.push(key);
    match rng.below(3) {
        0 => {
            command.push(index(rng));
            command.push(index(rng));
        }
        _ if lex => {
            command.push(lex_bound(rng));
            command.push(lex_bound(rng));
            command.push(b"BYLEX".to_vec());
        }
        _ => {
            command.push(score_bound(rng));
            command.push(score_bound(rng));
            command.push(b"BYSCORE".to_vec());
        }
    }
    if rng.chance(2) {
        command.push(b"REV".to_vec());
    }
    maybe_limit(rng, &mut command);
    if prefix.len() == 1 && rng.chance(2) {
        command.push(b"WITHSCORES".to_vec());
    }
    // Options may come in any order.
    let first_option = prefix.len() + 3;
    if command.len() > first_option + 1 && rng.chance(4) {
        let at = rng.range(first_option as i64, command.len() as i64 - 1) as usize;
        let last = command.len() - 1;
        command.swap(at, last);
    }
    command
}

/// `numkeys key ...` over the mixed keys and `s`.
fn sources(rng: &mut Rng, command: &mut Vec<Vec<u8>>) -> usize {
    let n = rng.range(1, 3) as usize;
    command.push(text(n as i64));
    for _ in 0..n {
        command.push(zkey(rng));
    }
    n
}

/// A set operation (`store`: with a destination) and its options.
fn algebra_command(rng: &mut Rng, name: &[u8], store: bool) -> Vec<Vec<u8>> {
    let mut command = args(&[name]);
    if store {
        command.push(zkey(rng));
    }
    let n = sources(rng, &mut command);
    let diff = name.starts_with(b"ZDIFF");
    if !diff && rng.chance(3) {
        command.push(b"WEIGHTS".to_vec());
        for _ in 0..n {
            command.push(rng.one_of(&["1", "2", "0.5", "3"]));
        }
        if rng.chance(20) {
            command.pop();
        }
    }
    if !diff && rng.chance(3) {
        command.push(b"AGGREGATE".to_vec());
        command.push(rng.one_of(&["SUM", "MIN", "max", "avg"]));
    }
    if !store && rng.chance(2) {
        command.push(b"WITHSCORES".to_vec());
    }
    command
}

/// A write that adds to the mixed-score sets.
fn add_command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut command = args(&[b"ZADD", &zkey(rng)]);
    if rng.chance(3) {
        for _ in 0..rng.range(1, 2) {
            command.push(rng.one_of(&["NX", "XX", "GT", "LT", "CH", "INCR"]));
        }
    }
    for _ in 0..rng.range(1, 3) {
        command.push(score(rng));
        command.push(element(rng));
    }
    command
}

/// Generates one command.
fn command(rng: &mut Rng) -> Command {
    let k = zkey(rng);
    let exact = |parts: &[&[u8]]| Command::exact(args(parts));
    match rng.below(40) {
        0 => exact(&[b"SET", &rng.one_of(&["str", "lstr"]), b"x"]),
        1 => exact(&[b"SADD", b"s", &element(rng), &element(rng)]),
        2..=7 => Command::exact(add_command(rng)),
        8 | 9 => exact(&[
            b"ZADD",
            &lkey(rng),
            b"0",
            &element(rng),
            b"0",
            &element(rng),
        ]),
        10 => exact(&[b"ZINCRBY", &k, &score(rng), &element(rng)]),
        11 => exact(&[b"ZREM", &k, &element(rng), &element(rng)]),
        12 => exact(&[b"ZREM", &lkey(rng), &element(rng)]),
        13 => exact(&[b"ZSCORE", &k, &element(rng)]),
        14 => exact(&[b"ZMSCORE", &k, &element(rng), &element(rng)]),
        15 => exact(&[b"ZCARD", &k]),
        16 => exact(&[b"ZCOUNT", &k, &score_bound(rng), &score_bound(rng)]),
        17 => exact(&[b"ZLEXCOUNT", &lkey(rng), &lex_bound(rng), &lex_bound(rng)]),
        18 => exact(&[&rng.one_of(&["ZRANK", "ZREVRANK"]), &k, &element(rng)]),
        19 | 20 => Command::exact(zrange_command(rng, &[b"ZRANGE"])),
        21 => {
            let dst = zkey(rng);
            Command::exact(zrange_command(rng, &[b"ZRANGESTORE", &dst]))
        }
        22 => {
            let name = rng.one_of(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
            Command::exact(range_command(rng, &name, &k, false))
        }
        23 => {
            let name = rng.one_of(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
            let key = lkey(rng);
            Command::exact(range_command(rng, &name, &key, true))
        }
        24 => {
            let mut command = args(&[b"ZREVRANGE", &k, &index(rng), &index(rng)]);
            if rng.chance(2) {
                command.push(b"WITHSCORES".to_vec());
            }
            Command::exact(command)
        }
        25 => exact(&[b"ZREMRANGEBYRANK", &k, &index(rng), &index(rng)]),
        26 => exact(&[
            b"ZREMRANGEBYSCORE",
            &k,
            &score_bound(rng),
            &score_bound(rng),
        ]),
        27 => exact(&[
            b"ZREMRANGEBYLEX",
            &lkey(rng),
            &lex_bound(rng),
            &lex_bound(rng),
        ]),
        28 => {
            let key = if rng.chance(2) { k } else { lkey(rng) };
            let mut command = args(&[&rng.one_of(&["ZPOPMIN", "ZPOPMAX"]), &key]);
            if rng.chance(2) {
                command.push(text(rng.range(-1, 4)));
            }
            Command::exact(command)
        }
        29 => {
            let mut command = args(&[b"ZMPOP"]);
            let n = rng.range(1, 3);
            command.push(text(n));
            for _ in 0..n {
                command.push(if rng.chance(2) { zkey(rng) } else { lkey(rng) });
            }
            command.push(rng.one_of(&["MIN", "max"]));
            if rng.chance(2) {
                command.push(b"COUNT".to_vec());
                command.push(text(rng.range(0, 4)));
            }
            Command::exact(command)
        }
        30 => {
            let mut command = args(&[b"ZRANDMEMBER", &k, &text(rng.range(-6, 6))]);
            if rng.chance(2) {
                command.push(b"WITHSCORES".to_vec());
            }
            Command::with(Check::Len, command)
        }
        31 => {
            let name = rng.one_of(&["ZUNION", "ZINTER", "ZDIFF"]);
            Command::exact(algebra_command(rng, &name, false))
        }
        32 | 33 => {
            let name = rng.one_of(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
            Command::exact(algebra_command(rng, &name, true))
        }
        34 => {
            let mut command = args(&[b"ZINTERCARD"]);
            sources(rng, &mut command);
            if rng.chance(2) {
                command.push(b"LIMIT".to_vec());
                command.push(text(rng.range(-1, 3)));
            }
            Command::exact(command)
        }
        35 => {
            let key = if rng.chance(2) { k } else { lkey(rng) };
            let mut command = args(&[b"ZSCAN", &key, b"0"]);
            if rng.chance(2) {
                command.push(b"MATCH".to_vec());
                command.push(rng.one_of(&["*", "a*", "[a-e]", "?"]));
            }
            if rng.chance(2) {
                command.push(b"COUNT".to_vec());
                command.push(text(rng.range(0, 3)));
            }
            Command::exact(command)
        }
        36 => exact(&[b"DEL", &k]),
        _ => exact(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"]),
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
    seed_5: 5, false;
    seed_6_resp3: 6, true;
}

/// `ZRANK`/`ZREVRANK ... WITHSCORE`, which Redis 7.0 rejects, answered as
/// Redis 7.2 does: `[rank, score]`, or a null array for a missing member.
#[test]
fn zrank_withscore_as_redis_7_2() {
    let server = common::redraft(&[]);
    let mut raw = server.raw();
    raw.roundtrip(
        b"*6\r\n$4\r\nZADD\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nb\r\n",
        b":2\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\nb\r\n$9\r\nWITHSCORE\r\n",
        b"*2\r\n:1\r\n$3\r\n2.5\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$8\r\nZREVRANK\r\n$1\r\nz\r\n$1\r\nb\r\n$9\r\nwithscore\r\n",
        b"*2\r\n:0\r\n$3\r\n2.5\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\nx\r\n$9\r\nWITHSCORE\r\n",
        b"*-1\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$7\r\nmissing\r\n$1\r\na\r\n$9\r\nWITHSCORE\r\n",
        b"*-1\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\na\r\n$10\r\nWITHSCORES\r\n",
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(
        b"*5\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\na\r\n$9\r\nWITHSCORE\r\n$1\r\nx\r\n",
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", b"");
    let _ = raw.read_frame();
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\na\r\n$9\r\nWITHSCORE\r\n",
        b"*2\r\n:0\r\n,1\r\n",
    );
    raw.roundtrip(
        b"*4\r\n$5\r\nZRANK\r\n$1\r\nz\r\n$1\r\nx\r\n$9\r\nWITHSCORE\r\n",
        b"_\r\n",
    );
}

/// `ZSCAN` of a set too large to be answered at once: the cursor walks
/// the scores, never splits one score's members, and a full scan returns
/// every member exactly once (nothing changed during it).
#[test]
fn zscan_of_a_large_set_returns_every_member() {
    let server = common::redraft(&[]);
    let mut con = server.client();
    let mut add = redis::cmd("ZADD");
    add.arg("big");
    for i in 0..300 {
        // Three members per score, negative and positive scores.
        add.arg((i / 3) as f64 - 40.0).arg(format!("m{i}"));
    }
    let added: i64 = add.query(&mut con).unwrap();
    assert_eq!(added, 300);
    let (mut cursor, mut seen, mut calls) = (0u64, Vec::new(), 0);
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("ZSCAN")
            .arg("big")
            .arg(cursor)
            .arg("COUNT")
            .arg(10)
            .query(&mut con)
            .unwrap();
        assert!(
            page.len() <= 2 * 12,
            "a page holds COUNT plus a score's ties"
        );
        seen.extend(page.chunks(2).map(|pair| pair[0].clone()));
        calls += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(calls >= 25, "the scan took {calls} calls");
    seen.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

// The same commands, some of them queued in MULTI/EXEC blocks.
differential_seeds! {
    STEPS, |_| with_transactions(6, command);
    in_transactions_1: 101, false;
    in_transactions_2_resp3: 102, true;
}
