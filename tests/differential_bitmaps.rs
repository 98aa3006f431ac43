//! Differential tests of the bitmap commands: random command sequences go
//! to redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same, errors included.
//!
//! The keyspace is small (five bitmaps `b0`..`b4`, `str`, a short string,
//! and `list`, so WRONGTYPE paths are met); offsets are mostly small, so
//! commands meet on the same bytes, with now and then one far out (a
//! string of up to 1 MB) or past Redis's bound. Every argument position
//! also gets values Redis refuses, so each error text and the order in
//! which Redis checks them are compared. `GET` compares whole values, and
//! `TTL` checks that `SETBIT`/`BITFIELD` keep an expiry and `BITOP`
//! drops its destination's.
//!
//! The largest strings Redis allows (512 MB) are built once, by
//! [`largest_offsets`], not by the random streams.

mod common;

use std::time::Duration;

use common::diff::{args, run_seed, text, with_transactions, Check, Command, Rng};

/// Few keys, so commands meet.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => b"str".to_vec(),
        1 => b"list".to_vec(),
        2 => b"missing".to_vec(),
        n => format!("b{}", n % 5).into_bytes(),
    }
}

/// A bit offset: mostly within the first bytes, sometimes far (up to
/// 1 MB), sometimes invalid.
fn offset(rng: &mut Rng) -> Vec<u8> {
    match rng.below(40) {
        0 => rng.one_of(&["-1", "4294967296", "x", "01", "-0", "", "1.5"]),
        1 => text(rng.range(0, 8 << 20)),
        2 => b"4294967295".to_vec(),
        _ => text(rng.range(0, 200)),
    }
}

/// An offset for a write: never farther than 1 MB (the 512 MB edge is
/// [`largest_offsets`]'s), but sometimes invalid.
fn write_offset(rng: &mut Rng) -> Vec<u8> {
    let offset = offset(rng);
    if offset == b"4294967295" {
        return b"4294967296".to_vec();
    }
    offset
}

/// A range index for BITCOUNT/BITPOS: small, negative, out of range or
/// not an integer.
fn index(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => rng.one_of(&[
            "x",
            "9223372036854775807",
            "-9223372036854775808",
            "1.5",
            "",
        ]),
        _ => text(rng.range(-30, 30)),
    }
}

/// A range unit, sometimes misspelt.
fn unit(rng: &mut Rng) -> Vec<u8> {
    rng.one_of(&["BIT", "BYTE", "bit", "byte", "bits", "x"])
}

fn setbit(rng: &mut Rng, k: &[u8]) -> Command {
    let value = match rng.below(12) {
        0 => rng.one_of(&["2", "-1", "x", "", "01"]),
        n => text((n % 2) as i64),
    };
    Command::exact(args(&[b"SETBIT", k, &write_offset(rng), &value]))
}

fn bitcount(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = args(&[b"BITCOUNT", k]);
    match rng.below(8) {
        0 => {}
        1 => command.push(index(rng)),
        2 | 3 => command.extend([index(rng), index(rng), unit(rng)]),
        4 if rng.chance(3) => command.extend([index(rng), index(rng), unit(rng), unit(rng)]),
        _ => command.extend([index(rng), index(rng)]),
    }
    Command::exact(command)
}

fn bitpos(rng: &mut Rng, k: &[u8]) -> Command {
    let bit = match rng.below(10) {
        0 => rng.one_of(&["2", "-1", "x"]),
        n => text((n % 2) as i64),
    };
    let mut command = args(&[b"BITPOS", k, &bit]);
    let extra = rng.below(6) as usize;
    for i in 0..extra.min(4) {
        command.push(if i == 2 { unit(rng) } else { index(rng) });
    }
    Command::exact(command)
}

fn bitop(rng: &mut Rng) -> Command {
    let op = rng.one_of(&["AND", "OR", "XOR", "NOT", "and", "not", "nand", "one"]);
    let sources = if &op[..] == b"NOT" || &op[..] == b"not" {
        if rng.chance(8) {
            2
        } else {
            1
        }
    } else {
        rng.range(1, 4) as usize
    };
    let mut command = args(&[b"BITOP", &op, &key(rng)]);
    for _ in 0..sources {
        command.push(key(rng));
    }
    Command::exact(command)
}

/// A BITFIELD type: mostly valid, sometimes one Redis refuses.
fn field_type(rng: &mut Rng) -> Vec<u8> {
    match rng.below(15) {
        0 => rng.one_of(&["u64", "i65", "u0", "i0", "U8", "x8", "u", "u08", "i-1"]),
        1 => rng.one_of(&["i64", "u63", "i1", "u1"]),
        _ => {
            let sign = if rng.chance(2) { "i" } else { "u" };
            format!("{sign}{}", rng.range(1, 16)).into_bytes()
        }
    }
}

/// A BITFIELD offset: plain, `#n`, or invalid.
fn field_offset(rng: &mut Rng, write: bool) -> Vec<u8> {
    match rng.below(6) {
        0 => format!("#{}", rng.range(0, 20)).into_bytes(),
        1 if rng.chance(4) => rng.one_of(&["#-1", "##1", "#x", "#536870912", "#"]),
        _ if write => write_offset(rng),
        _ => offset(rng),
    }
}

/// A BITFIELD SET value or INCRBY increment, with the 64-bit edges.
fn field_value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => rng.one_of(&[
            "9223372036854775807",
            "-9223372036854775808",
            "x",
            "1.5",
            "9223372036854775808",
        ]),
        1 => text(rng.range(-70000, 70000)),
        _ => text(rng.range(-300, 300)),
    }
}

fn bitfield(rng: &mut Rng, k: &[u8], read_only: bool) -> Command {
    let name: &[u8] = if read_only {
        b"BITFIELD_RO"
    } else {
        b"BITFIELD"
    };
    let mut command = args(&[name, k]);
    for _ in 0..rng.below(5) {
        match rng.below(12) {
            0..=3 => command.extend([b"GET".to_vec(), field_type(rng), field_offset(rng, false)]),
            4..=6 if !read_only || rng.chance(6) => command.extend([
                rng.one_of(&["SET", "set"]),
                field_type(rng),
                field_offset(rng, true),
                field_value(rng),
            ]),
            7..=9 if !read_only || rng.chance(6) => command.extend([
                rng.one_of(&["INCRBY", "incrby"]),
                field_type(rng),
                field_offset(rng, true),
                field_value(rng),
            ]),
            10 => command.extend([
                b"OVERFLOW".to_vec(),
                rng.one_of(&["WRAP", "SAT", "FAIL", "sat", "fail", "wrapx"]),
            ]),
            // A subcommand cut short or unknown.
            _ => command.push(rng.one_of(&["GET", "SET", "OVERFLOW", "DEL", "u8"])),
        }
    }
    Command::exact(command)
}

/// Generates one command.
fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    match rng.below(50) {
        0 => Command::exact(args(&[
            b"SET",
            b"str",
            &rng.one_of(&["hello", "", "\u{ff}\u{1}", "12345"]),
        ])),
        1 => Command::exact(args(&[b"RPUSH", b"list", b"a"])),
        2 | 3 => Command::exact(args(&[b"DEL", &k])),
        4 => Command::exact(args(&[b"SET", &k, b"v", b"EX", b"1000"])),
        5 => Command::with(Check::Near(1), args(&[b"TTL", &k])),
        6..=9 => Command::exact(args(&[b"GET", &k])),
        10 => Command::exact(args(&[b"STRLEN", &k])),
        11..=18 => setbit(rng, &k),
        19..=22 => Command::exact(args(&[b"GETBIT", &k, &offset(rng)])),
        23..=28 => bitcount(rng, &k),
        29..=33 => bitpos(rng, &k),
        34..=37 => bitop(rng),
        38..=45 => bitfield(rng, &k, false),
        _ => bitfield(rng, &k, true),
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

/// Lines of a fixed script: each is split on spaces (`''` is an empty
/// argument). They set up a string, a bitmap and a list, then meet every
/// error and every order of checks at least once.
const SCRIPT: &[&str] = &[
    "SET s abc",
    "SET v \\xff\\xf0",
    "RPUSH l a",
    // BITCOUNT: the key before the range (Redis 7.0).
    "BITCOUNT missing 1 2 x",
    "BITCOUNT missing a",
    "BITCOUNT l a b c",
    "BITCOUNT l",
    "BITCOUNT s 1",
    "BITCOUNT s a b",
    "BITCOUNT s 0 a",
    "BITCOUNT s -1 -2 x",
    "BITCOUNT s 0 0 x",
    "BITCOUNT s 0 -1 bit",
    "BITCOUNT s 0 -1 BYTE",
    "BITCOUNT s 0 -1 bit x",
    "BITCOUNT v 5 13 bit",
    "BITCOUNT v -5 -1 BIT",
    // BITPOS: the bit first, then the key, then start, unit, end.
    "BITPOS missing 1 x",
    "BITPOS missing 2",
    "BITPOS missing x",
    "BITPOS l 2",
    "BITPOS l 1 x",
    "BITPOS s 1 x",
    "BITPOS s 1 0 x foo",
    "BITPOS s 1 x 0 foo",
    "BITPOS s 1 0 0 foo",
    "BITPOS s 1 0 -1 bit extra",
    "BITPOS missing 0 0 -1 bit extra",
    "BITPOS s 0 2",
    "BITPOS v 0",
    "BITPOS v 0 0 -1",
    "BITPOS v 0 1 1",
    "BITPOS v 1 7 15 bit",
    "BITPOS v 0 3 5 bit",
    "BITPOS v 0 12 12 BIT",
    "SET e ''",
    "BITPOS e 0",
    "BITPOS e 1",
    "BITCOUNT e",
    // SETBIT and GETBIT: the offset, then the value, then the key.
    "SETBIT k 4294967296 0",
    "SETBIT k -1 0",
    "SETBIT k 01 1",
    "SETBIT k 1 2",
    "SETBIT k 1 -1",
    "SETBIT k 1 x",
    "SETBIT l 1 x",
    "SETBIT l x 1",
    "SETBIT l 1 1",
    "GETBIT l x",
    "GETBIT l 1",
    "GETBIT missing 4294967296",
    "GETBIT missing 4294967295",
    "SETBIT k 9 1",
    "GET k",
    "SETBIT k 9 1",
    "SETBIT k 40 0",
    "GET k",
    // BITFIELD: subcommands left to right, then BITFIELD_RO, then the key.
    "BITFIELD missing",
    "BITFIELD l",
    "BITFIELD missing OVERFLOW sat",
    "BITFIELD missing GET u64 0",
    "BITFIELD missing GET i65 0",
    "BITFIELD missing GET u0 0",
    "BITFIELD missing GET U8 0",
    "BITFIELD missing GET u08 0",
    "BITFIELD missing GET u8 #1",
    "BITFIELD missing GET u8 #-1",
    "BITFIELD missing GET u8 ##1",
    "BITFIELD missing GET u8 #536870911",
    "BITFIELD missing GET u8 #536870912",
    "BITFIELD missing GET i64 #288230376151711744",
    "BITFIELD missing GET",
    "BITFIELD missing GET u8",
    "BITFIELD missing SET u8 0",
    "BITFIELD missing foo",
    "BITFIELD missing OVERFLOW",
    "BITFIELD missing OVERFLOW foo",
    "BITFIELD missing GET u8 0 GET u65 0",
    "BITFIELD missing SET u8 0 x",
    "BITFIELD l GET u8 0",
    "BITFIELD l SET u8 0 1",
    "BITFIELD l SET u8 0 x",
    "BITFIELD_RO l SET u8 0 1",
    "BITFIELD_RO missing INCRBY u8 0 1",
    "BITFIELD_RO missing GET u8 0 SET u8 0 x",
    "BITFIELD_RO missing GET u8 0 OVERFLOW fail",
    "BITFIELD nk OVERFLOW fail SET u8 0 1000",
    "GET nk",
    "BITFIELD nk OVERFLOW fail INCRBY u2 100 10",
    "STRLEN nk",
    "BITFIELD x SET i64 0 -1 GET u63 0 GET u63 1 INCRBY i64 0 -9223372036854775808 OVERFLOW sat INCRBY i64 0 -1 OVERFLOW wrap INCRBY u63 1 1",
    "BITFIELD y SET u8 0 -1 OVERFLOW sat SET u8 8 -1 OVERFLOW fail SET i8 16 200 GET u32 0",
    // BITOP: the operation, NOT's one source, then the sources' types.
    "BITOP and d",
    "BITOP foo d s",
    "BITOP diff d s s",
    "BITOP not d s s",
    "BITOP not d",
    "BITOP NOT d s",
    "GET d",
    "BITOP or d s l",
    "BITOP or l s",
    "TYPE l",
    "BITOP and d missing missing2",
    "EXISTS d",
    "SET d2 1 EX 100",
    "BITOP or d2 s v",
    "TTL d2",
    "GET d2",
    "BITOP xor d3 s v k missing",
    "GET d3",
    "BITOP and d4 s v",
    "GET d4",
];

#[test]
fn script_resp2() {
    common::diff::run_script(SCRIPT, false);
}

#[test]
fn script_resp3() {
    common::diff::run_script(SCRIPT, true);
}

/// The 512 MB edge: the last bit Redis lets a write reach, a `BITFIELD`
/// that runs one byte past it (as Redis allows), and the first offset it
/// refuses, on both servers (each builds a 512 MB string).
#[test]
fn largest_offsets() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut a, mut b) = (redis.raw(), redraft.raw());
    // A debug build takes seconds to count or invert 512 MB.
    a.set_read_timeout(Duration::from_secs(120));
    b.set_read_timeout(Duration::from_secs(120));
    let commands: &[&[&[u8]]] = &[
        &[b"SETBIT", b"big", b"4294967295", b"1"],
        &[b"STRLEN", b"big"],
        &[b"GETBIT", b"big", b"4294967295"],
        &[b"BITCOUNT", b"big"],
        &[b"BITCOUNT", b"big", b"-1", b"-1"],
        &[b"BITCOUNT", b"big", b"-1", b"-1", b"BIT"],
        &[b"BITPOS", b"big", b"1"],
        &[b"BITPOS", b"big", b"0", b"-1"],
        &[b"BITPOS", b"big", b"1", b"-8", b"-1", b"BIT"],
        &[b"SETBIT", b"big", b"4294967296", b"1"],
        &[b"GETBIT", b"big", b"4294967296"],
        &[
            b"BITFIELD",
            b"big",
            b"SET",
            b"u8",
            b"4294967295",
            b"255",
            b"GET",
            b"u16",
            b"4294967288",
        ],
        &[b"STRLEN", b"big"],
        &[
            b"BITFIELD",
            b"big",
            b"GET",
            b"i8",
            b"#536870911",
            b"GET",
            b"i8",
            b"#536870912",
        ],
        &[b"BITFIELD_RO", b"big", b"GET", b"u63", b"4294967295"],
        &[b"BITOP", b"NOT", b"big", b"big"],
        &[b"BITCOUNT", b"big"],
        &[b"DEL", b"big"],
    ];
    for command in commands {
        let (from_redis, from_redraft) = (a.command(command), b.command(command));
        assert_eq!(
            from_redis,
            from_redraft,
            "> {}",
            common::diff::show_command(&command.iter().map(|arg| arg.to_vec()).collect::<Vec<_>>())
        );
    }
}

/// In a 3-node cluster, a random stream of bit commands (errors and all)
/// sent to the leader leaves the same values on every node: the ops
/// travel in the Raft log and apply deterministically.
#[test]
fn the_same_bits_on_every_node() {
    use common::cluster::{Cluster, ClusterOptions};

    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut raw = cluster.raw(leader);
    let mut rng = Rng(7);
    common::diff::send_stream(&mut raw, &mut rng, with_transactions(8, command), 600);
    cluster.wait_all_applied();
    let keys = ["b0", "b1", "b2", "b3", "b4", "str", "list", "missing"];
    let dumps = |id: u64| cluster.dumps(id, &keys);
    let expected = dumps(leader);
    assert!(
        expected.iter().filter(|dump| dump.is_some()).count() >= 4,
        "the stream left too few keys to compare"
    );
    for follower in cluster.followers() {
        assert_eq!(dumps(follower), expected, "node {follower}");
    }
}
