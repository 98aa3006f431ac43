//! Differential tests of the stream commands against a real redis-server
//! (see `common/diff.rs`): every reply must be the same, errors included.
//!
//! - A fixed script of every ID form and error, in Redis's order of
//!   checks: 0-0, the largest ID, equal and smaller IDs, `ms-*` at the
//!   last sequence, exclusive bounds at the ends, trims with `=`, `~` and
//!   `LIMIT` over nodes of 100 entries.
//! - Random streams (RESP2, RESP3, and inside MULTI/EXEC) over four
//!   streams, a string and a missing key. IDs are explicit or `ms-*`, so
//!   both servers choose the same; `*` is used only on a stream whose last
//!   ID is far in the future, where it is the last ID plus one on both.

mod common;

use common::diff::{args, run_seed, text, with_transactions, Check, Command, Rng};

fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(11) {
        0 => b"str".to_vec(),
        1 => b"missing".to_vec(),
        n => format!("s{}", n % 4).into_bytes(),
    }
}

/// A key for a read: also `far`, which only `far_xadd` writes.
fn read_key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => b"far".to_vec(),
        _ => key(rng),
    }
}

/// `XADD far [trim] * ...`: `far` is created with an ID far in the
/// future, so `*` is its last ID plus one on both servers (never the
/// clock's); `NOMKSTREAM`, so `*` never makes it anew.
fn far_xadd(rng: &mut Rng) -> Command {
    let mut command = args(&[b"XADD", b"far", b"NOMKSTREAM"]);
    if rng.chance(3) {
        trim(rng, &mut command);
    }
    command.push(b"*".to_vec());
    fields(rng, &mut command);
    Command::exact(command)
}

/// An ID as a command may write it: mostly valid, growing slowly.
fn id(rng: &mut Rng) -> Vec<u8> {
    match rng.below(30) {
        0 => b"0-0".to_vec(),
        1 => b"-".to_vec(),
        2 => b"+".to_vec(),
        3 => b"18446744073709551615-18446744073709551615".to_vec(),
        4 => b"x-1".to_vec(),
        5 => text(rng.range(0, 400)),
        _ => format!("{}-{}", rng.range(0, 400), rng.range(0, 3)).into_bytes(),
    }
}

/// A range bound: an ID, `-`/`+`, or exclusive.
fn bound(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => b"-".to_vec(),
        1 => b"+".to_vec(),
        2 => [b"(".as_slice(), &id(rng)].concat(),
        _ => id(rng),
    }
}

fn fields(rng: &mut Rng, command: &mut Vec<Vec<u8>>) {
    for _ in 0..rng.range(1, 3) {
        command.push(rng.one_of(&["f1", "f2", "name", ""]));
        command.push(format!("v{}", rng.below(1000)).into_bytes());
    }
}

/// `MAXLEN|MINID [=|~] n [LIMIT m]`, mostly well formed.
fn trim(rng: &mut Rng, command: &mut Vec<Vec<u8>>) {
    let minid = rng.chance(3);
    command.push(if minid {
        b"MINID".to_vec()
    } else {
        b"MAXLEN".to_vec()
    });
    let approx = rng.chance(2);
    match rng.below(3) {
        0 => command.push(b"~".to_vec()),
        1 => command.push(b"=".to_vec()),
        _ => {}
    }
    command.push(if minid {
        format!("{}-0", rng.range(0, 400)).into_bytes()
    } else if rng.chance(30) {
        b"-1".to_vec()
    } else {
        text(rng.range(0, 250))
    });
    if approx && rng.chance(3) {
        command.push(b"LIMIT".to_vec());
        command.push(text(rng.range(0, 300)));
    }
}

fn xadd(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = args(&[b"XADD", k]);
    if rng.chance(10) {
        command.push(b"NOMKSTREAM".to_vec());
    }
    if rng.chance(6) {
        trim(rng, &mut command);
    }
    // Many IDs land below the last one (an error); `ms-*` and small
    // sequences keep some above it, and the last possible ID is rare, as
    // it ends a stream's life until it is deleted.
    match rng.below(10) {
        0..=3 => command.push(format!("{}-*", rng.range(0, 400)).into_bytes()),
        4 if rng.chance(20) => command.push(id(rng)),
        _ => command.push(format!("{}-{}", rng.range(0, 400), rng.range(0, 2)).into_bytes()),
    }
    fields(rng, &mut command);
    Command::exact(command)
}

fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    match rng.below(41) {
        0 => Command::exact(args(&[b"SET", b"str", b"x"])),
        1 | 39 => Command::exact(args(&[b"DEL", &k])),
        2 => Command::exact(args(&[b"TYPE", &k])),
        3 => Command::exact(args(&[b"XADD", b"far", b"99999999999999-5", b"a", b"b"])),
        4 | 5 => far_xadd(rng),
        6..=17 => xadd(rng, &k),
        18 | 19 => Command::exact(args(&[b"XLEN", &k])),
        20..=23 => {
            let k = read_key(rng);
            let rev = rng.chance(2);
            let name: &[u8] = if rev { b"XREVRANGE" } else { b"XRANGE" };
            let mut command = args(&[name, &k, &bound(rng), &bound(rng)]);
            if rng.chance(2) {
                command.push(b"COUNT".to_vec());
                command.push(text(rng.range(-1, 5)));
            }
            Command::exact(command)
        }
        24 | 25 => Command::exact(args(&[b"XRANGE", &k, b"-", b"+"])),
        26 | 27 => {
            let mut command = args(&[b"XDEL", &k]);
            command.extend((0..rng.range(1, 3)).map(|_| id(rng)));
            Command::exact(command)
        }
        28..=30 => {
            let mut command = args(&[b"XTRIM", &k]);
            trim(rng, &mut command);
            Command::exact(command)
        }
        31 => {
            let mut command = args(&[b"XSETID", &k, &id(rng)]);
            if rng.chance(2) {
                command.push(b"ENTRIESADDED".to_vec());
                command.push(text(rng.range(-1, 300)));
            }
            if rng.chance(2) {
                command.push(b"MAXDELETEDID".to_vec());
                command.push(id(rng));
            }
            Command::exact(command)
        }
        32..=35 => {
            let mut command = args(&[b"XREAD"]);
            if rng.chance(2) {
                command.push(b"COUNT".to_vec());
                command.push(text(rng.range(-1, 4)));
            }
            command.push(b"STREAMS".to_vec());
            let n = rng.range(1, 3);
            let keys: Vec<Vec<u8>> = (0..n).map(|_| read_key(rng)).collect();
            command.extend(keys);
            command.extend((0..n).map(|_| match rng.below(4) {
                0 => b"$".to_vec(),
                _ => id(rng),
            }));
            Command::exact(command)
        }
        36 => Command::exact(args(&[b"OBJECT", b"ENCODING", &k])),
        37 => Command::exact(args(&[b"EXISTS", &k])),
        38 => Command::with(Check::Sorted, args(&[b"KEYS", b"*"])),
        40 => Command::exact(args(&[b"COPY", &k, &key(rng)])),
        _ => unreachable!(),
    }
}

/// Commands per seed.
const STEPS: usize = 2500;

differential_seeds! {
    STEPS, |_| command;
    seed_1: 1, false;
    seed_2: 2, false;
    seed_3_resp3: 3, true;
}

differential_seeds! {
    STEPS, |_| with_transactions(6, command);
    in_transactions_1: 101, false;
    in_transactions_2_resp3: 102, true;
}

/// Lines of a fixed script, split on spaces (`''` is an empty argument).
const SCRIPT: &[&str] = &[
    "SET str x",
    // Arity and option errors, before the key is looked at.
    "XADD",
    "XADD s",
    "XADD s *",
    "XADD s * f",
    "XADD s * f v g",
    "XADD s NOMKSTREAM NOMKSTREAM NOMKSTREAM",
    "XADD s MAXLEN",
    "XADD s MAXLEN 1 MINID 1 * f v",
    "XADD s MINID 1 MAXLEN 1 * f v",
    "XADD s MAXLEN -1 * f v",
    "XADD s MAXLEN x * f v",
    "XADD s MAXLEN 1 LIMIT 5 * f v",
    "XADD s MAXLEN = 1 LIMIT 5 * f v",
    "XADD s LIMIT 5 * f v",
    "XADD s LIMIT 0 * f v",
    "XADD s MAXLEN ~ 1 LIMIT -1 * f v",
    "XADD s MINID x * f v",
    "XADD s MINID - * f v",
    "XADD s 0-0 f v",
    "XADD s 0 f v",
    "XADD s - f v",
    "XADD s + f v",
    "XADD s 1-x f v",
    "XADD s -1 f v",
    "XADD s 18446744073709551616 f v",
    "XADD s 1-2-3 f v",
    "XADD str 1 f v",
    "XADD str 0-0 f v",
    "XADD s NOMKSTREAM 1 f v",
    "EXISTS s",
    // IDs: explicit, ms-*, equal, smaller, the last possible.
    "XADD s 0-* f v",
    "XADD s 0-* f v",
    "XADD s 5 a 1 b 2",
    "XADD s 5 f v",
    "XADD s 4-9 f v",
    "XADD s 5-* f v",
    "XADD s 3-* f v",
    "XADD s 5-18446744073709551615 f v",
    "XADD s 5-* f v",
    "XADD s 6-* f v",
    "XADD s ' 7' f v",
    "XADD s +8-+1 f v",
    "XLEN s",
    "XRANGE s - +",
    "XREVRANGE s + -",
    "XADD max 18446744073709551615-18446744073709551615 f v",
    "XADD max * f v",
    "XADD max 18446744073709551615-* f v",
    "XADD max2 18446744073709551615-18446744073709551614 f v",
    "XADD max2 18446744073709551615-* f v",
    "XADD max2 18446744073709551615-* f v",
    "XRANGE max2 - +",
    // Ranges: exclusive bounds, incomplete IDs, COUNT.
    "XRANGE s (5 +",
    "XRANGE s 5 5",
    "XRANGE s (0-1 (6",
    "XRANGE s - (-",
    "XRANGE s (+ +",
    "XRANGE s ( +",
    "XRANGE s - (18446744073709551615-18446744073709551615",
    "XRANGE s (18446744073709551615-18446744073709551615 +",
    "XRANGE s (0-0 +",
    "XRANGE s - (0-0",
    "XRANGE s - + COUNT 2",
    "XRANGE s - + COUNT 0",
    "XRANGE s - + COUNT -5",
    "XRANGE s - + COUNT 1 COUNT 3",
    "XRANGE s - + COUNT",
    "XRANGE s - + LIMIT 1",
    "XRANGE s - + COUNT x",
    "XRANGE missing - + COUNT 0",
    "XRANGE str - +",
    "XRANGE missing x +",
    "XREVRANGE s + - COUNT 2",
    "XREVRANGE s (6 (5",
    "XREVRANGE s 5 +",
    "XRANGE s 6 5",
    // XDEL: the key first, then the IDs.
    "XDEL missing x",
    "XDEL str x",
    "XDEL s x",
    "XDEL s 5-1 5-1 99",
    "XDEL s 0-1",
    "XRANGE s - +",
    "XLEN s",
    // XSETID.
    "XSETID missing 1",
    "XSETID str 1",
    "XSETID s 1",
    "XSETID s +",
    "XSETID s 9 ENTRIESADDED",
    "XSETID s 9 ENTRIESADDED -1",
    "XSETID s 9 ENTRIESADDED 1",
    "XSETID s 9 MAXDELETEDID 10",
    "XSETID s 9 MAXDELETEDID x",
    "XSETID s 9 FOO 1",
    "XSETID s 9 ENTRIESADDED 100 MAXDELETEDID 9",
    "XADD s 9 f v",
    "XADD s 9-* f v",
    // XTRIM.
    "XTRIM s",
    "XTRIM s FOO",
    "XTRIM s LIMIT 5",
    "XTRIM s MAXLEN 1 LIMIT 5",
    "XTRIM s NOMKSTREAM MAXLEN 1",
    "XTRIM missing MAXLEN 1",
    "XTRIM str MAXLEN 1",
    "XTRIM s MAXLEN ~ 1",
    "XTRIM s MINID 6",
    "XRANGE s - +",
    "XTRIM s MAXLEN 0",
    "XLEN s",
    "EXISTS s",
    "TYPE s",
    "OBJECT ENCODING s",
    "XADD s 1 f v",
    "XADD s 10 f v",
    // XREAD.
    "XREAD",
    "XREAD STREAMS",
    "XREAD STREAMS s",
    "XREAD STREAMS s t 0",
    "XREAD COUNT",
    "XREAD COUNT x STREAMS s 0",
    "XREAD COUNT 1",
    "XREAD GROUP g c STREAMS s 0",
    "XREAD NOACK STREAMS s 0",
    "XREAD FOO STREAMS s 0",
    "XREAD BLOCK x STREAMS s 0",
    "XREAD BLOCK -1 STREAMS s 0",
    "XREAD STREAMS s >",
    "XREAD STREAMS s x",
    "XREAD STREAMS str s x 0",
    "XREAD STREAMS s str 0 x",
    "XREAD STREAMS s missing 0 0",
    "XREAD STREAMS s missing $ $",
    "XREAD COUNT 1 STREAMS s s 0 9",
    "XREAD COUNT -1 STREAMS s 0",
    "XREAD STREAMS s 18446744073709551615-18446744073709551615",
    "XREAD STREAMS missing 0",
    // COPY, RENAME, DEL keep a stream's state.
    "COPY s c",
    "XRANGE c - +",
    "XADD c 10 f v",
    "XADD c 11 f v",
    "RENAME c r",
    "XRANGE r - +",
    "XADD r 11-* f v",
    "LPUSH l a",
    "XLEN l",
    "XADD l 1 f v",
    "LPUSH s a",
    "TYPE r",
    "SCAN 0 TYPE stream MATCH r* COUNT 100",
    // XSETID may go below a deleted entry; the next XADD reuses its ID.
    "XADD dup 1 a b",
    "XADD dup 2 a b",
    "XADD dup 3 a b",
    "XDEL dup 3",
    "XSETID dup 2",
    "XADD dup 3 c d",
    "XRANGE dup - +",
    "XREVRANGE dup + - COUNT 1",
    "XDEL dup 3",
    "XRANGE dup - +",
    "XLEN dup",
    "XADD dup 4 a b",
    "XADD dup 5 a b",
    "XDEL dup 4 5",
    "XSETID dup 2",
    "XADD dup 3-* e f",
    "XADD dup 4 g h",
    "XRANGE dup - +",
    "XRANGE dup (3-0 +",
    "XREVRANGE dup + - COUNT 2",
    "XTRIM dup MINID 4",
    "XRANGE dup - +",
    "XDEL dup 4",
    "XLEN dup",
    // XREAD BLOCK inside MULTI does not block: data, or a null array.
    "MULTI",
    "XREAD BLOCK 0 STREAMS s r 0 11-0",
    "XREAD BLOCK 0 COUNT 1 STREAMS missing s $ $",
    "XREAD BLOCK 100 STREAMS str 0",
    "EXEC",
];

#[test]
fn script_resp2() {
    common::diff::run_script(SCRIPT, false);
}

#[test]
fn script_resp3() {
    common::diff::run_script(SCRIPT, true);
}

/// 250 entries, then trims at node boundaries (100 entries a node), with
/// and without `~` and `LIMIT`, and deletions that empty a node.
#[test]
fn trims_over_nodes() {
    let mut script: Vec<String> = Vec::new();
    for key in ["a", "b", "c", "d"] {
        for i in 1..=250 {
            script.push(format!("XADD {key} {i} f v{i}"));
        }
    }
    for line in [
        "XTRIM a MAXLEN ~ 180",
        "XTRIM a MAXLEN ~ 150",
        "XTRIM a MAXLEN ~ 149 LIMIT 99",
        "XTRIM a MAXLEN ~ 0 LIMIT 100",
        "XLEN a",
        "XTRIM b MINID ~ 150",
        "XTRIM b MINID = 150",
        "XRANGE b - + COUNT 3",
        "XTRIM b MAXLEN = 10",
        "XRANGE b - +",
        "XADD c MAXLEN ~ 100 251 f v",
        "XLEN c",
        "XADD c MAXLEN ~ 100 LIMIT 0 252 f v",
        "XLEN c",
    ] {
        script.push(line.to_string());
    }
    for i in 1..=100 {
        script.push(format!("XDEL d {i}"));
    }
    for line in [
        "XLEN d",
        "XTRIM d MAXLEN ~ 100",
        "XLEN d",
        "XTRIM d MAXLEN ~ 50",
        "XRANGE d - + COUNT 1",
        "XREVRANGE d + - COUNT 1",
    ] {
        script.push(line.to_string());
    }
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    common::diff::run_script(&lines, false);
}

/// For the cluster test: many `*` IDs (from the entry's time) and `~`
/// trims besides the differential commands.
fn cluster_command(rng: &mut Rng) -> Command {
    if !rng.chance(3) {
        return command(rng);
    }
    let k = format!("s{}", rng.below(4)).into_bytes();
    let mut command = args(&[b"XADD", &k]);
    if rng.chance(3) {
        command.extend(args(&[b"MAXLEN", b"~", &text(rng.range(50, 150))]));
    }
    command.push(b"*".to_vec());
    fields(rng, &mut command);
    Command::exact(command)
}

/// In a 3-node cluster, a random stream of stream commands (`*` IDs,
/// trims, deletions, errors, transactions) sent to the leader leaves the
/// same streams, node for node, on every node: the `DUMP` payloads, which
/// hold the nodes' layout and the IDs chosen at apply, are equal.
#[test]
fn the_same_streams_on_every_node() {
    use common::cluster::{Cluster, ClusterOptions};

    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut raw = cluster.raw(leader);
    let mut rng = Rng(21);
    common::diff::send_stream(
        &mut raw,
        &mut rng,
        with_transactions(8, cluster_command),
        1500,
    );
    cluster.wait_all_applied();
    let keys = ["s0", "s1", "s2", "s3", "far", "str"];
    let dumps = |id: u64| cluster.dumps(id, &keys);
    let expected = dumps(leader);
    assert!(
        expected[..4].iter().filter(|dump| dump.is_some()).count() >= 3,
        "the stream left too few streams to compare"
    );
    for follower in cluster.followers() {
        assert_eq!(dumps(follower), expected, "node {follower}");
    }
}
