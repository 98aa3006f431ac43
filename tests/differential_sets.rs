//! Differential tests of the set commands: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The keyspace is small (8 keys, one of them a string, so WRONGTYPE paths
//! are met) and members come from a small alphabet, so commands collide;
//! now and then a bulk SADD grows a set past the intset and packed limits.
//! Every command of the family is generated. Replies that depend on a
//! random draw are compared by length (`SRANDMEMBER` with a count), and
//! `SPOP` only runs where its result is determined: a count at least the
//! size, a one-member set, or a pop followed at once by a `DEL` of its key
//! (so the keyspaces meet again). Full `SSCAN` loops, whose cursors differ
//! by design, are compared as sets of members in their own test.

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::diff::{args, run_seed, text, Check, Command, Rng};
use common::render;
use redraft_server::resp::Frame;

/// Few keys, so commands meet; `str` holds a string.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        7 => b"str".to_vec(),
        n => format!("s{n}").into_bytes(),
    }
}

/// A member: short words, integers (canonical or not), an empty string and
/// a string longer than a packed set holds.
fn member(rng: &mut Rng) -> Vec<u8> {
    match rng.below(16) {
        0 => Vec::new(),
        1..=4 => rng.range(-20, 20).to_string().into_bytes(),
        5 => rng.one_of(&["007", "-0", "+1", "1.5", "9223372036854775808"]),
        6 => vec![b'L'; 60 + rng.below(10) as usize],
        _ => vec![b'a' + rng.below(10) as u8],
    }
}

/// A member of a large set, so sets cross the intset limit (512) and the
/// packed limit (128).
fn bulk_member(rng: &mut Rng, ints_only: bool) -> Vec<u8> {
    if ints_only {
        rng.range(0, 700).to_string().into_bytes()
    } else {
        format!("m{}", rng.below(400)).into_bytes()
    }
}

/// `count` random keys.
fn keys(rng: &mut Rng, count: i64) -> Vec<Vec<u8>> {
    (0..count).map(|_| key(rng)).collect()
}

/// A count for `SRANDMEMBER`: zero, small either way, or large.
fn random_count(rng: &mut Rng) -> Vec<u8> {
    let count = match rng.below(6) {
        0 => 0,
        1 => rng.range(-5, -1),
        2 => rng.range(100, 1000),
        3 => -rng.range(30, 60),
        _ => rng.range(1, 8),
    };
    text(count)
}

/// The generator's state: commands queued to follow the last one.
struct Generator {
    /// Emitted before anything new (a `DEL` after a random `SPOP`).
    queued: VecDeque<Command>,
    /// RESP3 connections: `SPOP` with a count replies a RESP3 set in Redis,
    /// which a write's reply cannot express yet, so it is left out there.
    resp3: bool,
}

impl Generator {
    fn next(&mut self, rng: &mut Rng) -> Command {
        if let Some(command) = self.queued.pop_front() {
            return command;
        }
        let k = key(rng);
        match rng.below(40) {
            0 => Command::exact(args(&[b"SET", b"str", b"x"])),
            1..=8 => {
                let mut command = args(&[b"SADD", &k]);
                command.extend((0..rng.range(1, 4)).map(|_| member(rng)));
                Command::exact(command)
            }
            9 => {
                let ints_only = rng.chance(2);
                let mut command = args(&[b"SADD", &k]);
                command.extend((0..rng.range(40, 200)).map(|_| bulk_member(rng, ints_only)));
                Command::exact(command)
            }
            10..=12 => {
                let mut command = args(&[b"SREM", &k]);
                command.extend((0..rng.range(1, 4)).map(|_| member(rng)));
                Command::exact(command)
            }
            13 => Command::exact(args(&[b"SISMEMBER", &k, &member(rng)])),
            14 => {
                let mut command = args(&[b"SMISMEMBER", &k]);
                command.extend((0..rng.range(1, 4)).map(|_| member(rng)));
                Command::exact(command)
            }
            15..=16 => Command::with(Check::Sorted, args(&[b"SMEMBERS", &k])),
            17 => Command::exact(args(&[b"SCARD", &k])),
            18..=20 => self.spop(rng, k),
            21..=22 => self.srandmember(rng, k),
            23..=24 => {
                let dst = if rng.chance(6) { k.clone() } else { key(rng) };
                Command::exact(args(&[b"SMOVE", &k, &dst, &member(rng)]))
            }
            25..=28 => {
                let name = rng.one_of(&["SUNION", "SINTER", "SDIFF"]);
                let mut command = vec![name];
                let count = rng.range(1, 4);
                command.extend(keys(rng, count));
                Command::with(Check::Sorted, command)
            }
            29..=32 => {
                let name = rng.one_of(&["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"]);
                let mut command = vec![name, k];
                let count = rng.range(1, 4);
                command.extend(keys(rng, count));
                Command::exact(command)
            }
            33..=34 => self.sintercard(rng),
            35 => Command::exact(args(&[b"DEL", &k])),
            36 => sscan_deterministic(rng, k),
            37 => Command::exact(args(&[b"EXPIRE", &k, b"1000"])),
            _ => Command::with(Check::Sorted, args(&[b"SMEMBERS", &k])),
        }
    }

    /// `SPOP` in the forms whose result is determined.
    fn spop(&mut self, rng: &mut Rng, k: Vec<u8>) -> Command {
        let resp3 = self.resp3;
        match rng.below(6) {
            0 if !resp3 => Command::with(Check::Sorted, args(&[b"SPOP", &k, b"1000"])),
            1 if !resp3 => Command::exact(args(&[b"SPOP", &k, b"0"])),
            2 if !resp3 => {
                // A pop that leaves members behind: its reply's length is
                // determined, and the DEL right after makes both keyspaces
                // agree again.
                self.queued.push_back(Command::exact(args(&[b"DEL", &k])));
                Command::with(Check::Len, args(&[b"SPOP", &k, &text(rng.range(1, 3))]))
            }
            3 => Command::exact(args(&[b"SPOP", &k, &rng.one_of(&["-1", "x"])])),
            _ => {
                // A one-member set pops its member.
                self.queued
                    .push_back(Command::exact(args(&[b"SADD", &k, &member(rng)])));
                self.queued.push_back(Command::exact(args(&[b"SPOP", &k])));
                self.queued
                    .push_back(Command::exact(args(&[b"EXISTS", &k])));
                Command::exact(args(&[b"DEL", &k]))
            }
        }
    }

    /// `SRANDMEMBER`: by length with a count; without one, on a one-member
    /// set or a missing key.
    fn srandmember(&mut self, rng: &mut Rng, k: Vec<u8>) -> Command {
        match rng.below(5) {
            0 => {
                self.queued
                    .push_back(Command::exact(args(&[b"SADD", &k, &member(rng)])));
                self.queued
                    .push_back(Command::exact(args(&[b"SRANDMEMBER", &k])));
                Command::exact(args(&[b"DEL", &k]))
            }
            1 => Command::exact(args(&[b"SRANDMEMBER", &k, b"x"])),
            _ => Command::with(Check::Len, args(&[b"SRANDMEMBER", &k, &random_count(rng)])),
        }
    }

    /// `SINTERCARD` with a valid or invalid numkeys and LIMIT.
    fn sintercard(&mut self, rng: &mut Rng) -> Command {
        let count = rng.range(1, 3);
        let numkeys = if rng.chance(8) {
            rng.one_of(&["0", "-1", "x", "9"])
        } else {
            text(count)
        };
        let mut command = vec![b"SINTERCARD".to_vec(), numkeys];
        command.extend(keys(rng, count));
        if rng.chance(2) {
            command.push(b"LIMIT".to_vec());
            command.push(rng.one_of(&["0", "1", "2", "5", "-1", "x"]));
        }
        if rng.chance(10) {
            command.push(b"junk".to_vec());
        }
        Command::exact(command)
    }
}

/// `SSCAN` forms whose reply does not depend on the table's layout:
/// argument errors, which Redis reports in a fixed order around the key
/// lookup (so their reply depends only on the key's type).
fn sscan_deterministic(rng: &mut Rng, k: Vec<u8>) -> Command {
    let tail: &[&[u8]] = match rng.below(5) {
        0 => &[b"x"],
        1 => &[b"0", b"COUNT", b"0"],
        2 => &[b"0", b"COUNT", b"x"],
        3 => &[b"0", b"TYPE", b"set"],
        _ => &[b"0", b"MATCH"],
    };
    let mut command = args(&[b"SSCAN", &k]);
    command.extend(tail.iter().map(|part| part.to_vec()));
    Command::exact(command)
}

/// Commands per seed.
const STEPS: usize = 3000;

/// The generator of one seed (it queues follow-up commands, and knows the
/// protocol for the replies it shapes).
fn generator(resp3: bool) -> impl FnMut(&mut Rng) -> Command {
    let mut generator = Generator {
        queued: VecDeque::new(),
        resp3,
    };
    move |rng| generator.next(rng)
}

differential_seeds! {
    STEPS, generator;
    seed_1: 1, false;
    seed_2: 2, false;
    seed_3_resp3: 3, true;
    seed_4: 4, false;
}

/// Every member a whole `SSCAN` loop returns, sorted; the number of calls.
fn sscan_all(conn: &mut common::Raw, key: &[u8], extra: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let mut cursor = b"0".to_vec();
    let mut members = Vec::new();
    for calls in 1..=100_000 {
        let mut request: Vec<&[u8]> = vec![b"SSCAN", key, &cursor];
        request.extend_from_slice(extra);
        let reply = conn.command(&request);
        let Frame::Array(parts) = &reply else {
            panic!("SSCAN replied {}", render(&reply));
        };
        let [Frame::Bulk(next), Frame::Array(batch)] = &parts[..] else {
            panic!("SSCAN replied {}", render(&reply));
        };
        members.extend(batch.iter().map(|member| match member {
            Frame::Bulk(member) => member.to_vec(),
            other => panic!("SSCAN returned {}", render(other)),
        }));
        if &next[..] == b"0" {
            members.sort();
            return (members, calls);
        }
        cursor = next.to_vec();
    }
    panic!("SSCAN did not finish");
}

/// Whole `SSCAN` loops over sets of every encoding and size find the same
/// members on both servers (each member once on redraft, whose cursors
/// never revisit), with and without MATCH and COUNT.
#[test]
fn sscan_loops_find_the_same_members() {
    let (redis, redraft) = (common::redis(&[]), common::redraft(&[]));
    let (mut a, mut b) = (redis.raw(), redraft.raw());
    let mut rng = Rng(99);
    for (round, size) in [0, 1, 5, 100, 127, 128, 129, 511, 512, 513, 2000]
        .into_iter()
        .enumerate()
    {
        let key = format!("scan{round}").into_bytes();
        let ints_only = round % 2 == 0;
        let mut expected = BTreeSet::new();
        while expected.len() < size {
            let member = if ints_only {
                text(rng.range(-5000, 5000))
            } else {
                format!("k{}", rng.below(100_000)).into_bytes()
            };
            expected.insert(member);
        }
        for chunk in expected.iter().collect::<Vec<_>>().chunks(100) {
            let mut command: Vec<&[u8]> = vec![b"SADD", &key];
            command.extend(chunk.iter().map(|member| member.as_slice()));
            assert_eq!(a.command(&command), b.command(&command));
        }
        let count = text(rng.range(1, 30));
        let options: [&[&[u8]]; 4] = [
            &[],
            &[b"COUNT", &count],
            &[b"MATCH", b"*1*"],
            &[b"MATCH", b"k2*", b"COUNT", &count],
        ];
        for extra in options {
            let (from_redis, _) = sscan_all(&mut a, &key, extra);
            let (from_redraft, calls) = sscan_all(&mut b, &key, extra);
            let mut unique = from_redis.clone();
            unique.dedup();
            assert_eq!(unique, from_redraft, "set of {size}, options {extra:?}");
            if extra.is_empty() && (size > 512 || (!ints_only && size > 128)) {
                assert!(calls > size / 20, "{calls} calls for {size} members");
            }
        }
    }
}
