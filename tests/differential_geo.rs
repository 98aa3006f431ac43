//! Differential tests of the geo commands: random command sequences go
//! to redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same byte for byte, errors included: positions to
//! Redis's 17 decimals, distances to its 4, hashes, and the order of
//! unsorted and `ANY` results (Redis's cell order).
//!
//! Points cluster around a few centres (one near the antimeridian, one
//! near the latitude limit) so searches of every size find some and meet
//! cell edges; now and then a coordinate is out of range or not a number.
//! The keyspace: geo sets `g0`..`g2`, a string `str`, a list `list`,
//! `missing`, and the stores' destinations `d0`, `d1` (read back with
//! `ZRANGE ... WITHSCORES`). A fixed script meets every error and the
//! order of Redis's checks.
//!
//! Several members often share a position (a `ZADD` of the score 1e15
//! moves one there), so results at equal distances are compared too:
//! their order is Redis's (stable when every result is sorted, Redis's
//! partial quicksort when COUNT cuts them). Command names come in
//! mixed case: `GEOSEARCH`'s "exactly one of ..." errors echo the name as
//! typed.

mod common;

use common::diff::{args, run_seed, with_transactions, Command, Rng};

/// Few keys, so commands meet.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => b"str".to_vec(),
        1 => b"list".to_vec(),
        2 => b"missing".to_vec(),
        3 => b"d0".to_vec(),
        n => format!("g{}", n % 3).into_bytes(),
    }
}

/// A member: few names, so adds update and searches name existing ones.
fn member(rng: &mut Rng) -> Vec<u8> {
    format!("m{}", rng.below(24)).into_bytes()
}

/// The centres points cluster around: (longitude, latitude).
const CENTRES: &[(f64, f64)] = &[
    (13.36, 38.11),
    (-122.27, 37.8),
    (179.9, -16.5),
    (0.0, 84.9),
    (-58.4, -34.6),
];

/// A coordinate near `centre`, in text, spread by up to `spread`
/// degrees; clamped into the valid range.
fn near(rng: &mut Rng, centre: f64, spread: f64, low: f64, high: f64) -> Vec<u8> {
    let offset = (rng.below(2_000_001) as f64 / 1_000_000.0 - 1.0) * spread;
    let value = (centre + offset).clamp(low, high);
    format!("{value:.6}").into_bytes()
}

/// A longitude and latitude near one centre, sometimes invalid.
fn lon_lat(rng: &mut Rng) -> [Vec<u8>; 2] {
    if rng.chance(30) {
        let bad = [
            ["181", "0"],
            ["0", "85.06"],
            ["-180.5", "-90"],
            ["x", "0"],
            ["0", ""],
            ["inf", "0"],
            ["nan", "1"],
            ["1e400", "2"],
            [" 1", "2"],
        ];
        let pair = rng.pick(&bad);
        return [pair[0].as_bytes().to_vec(), pair[1].as_bytes().to_vec()];
    }
    let (lon, lat) = *rng.pick(CENTRES);
    let spread = [0.01, 0.3, 3.0][rng.below(3) as usize];
    [
        near(rng, lon, spread, -180.0, 180.0),
        near(rng, lat, spread, -85.05112878, 85.05112878),
    ]
}

/// A unit, sometimes one Redis refuses.
fn unit(rng: &mut Rng) -> Vec<u8> {
    rng.one_of(&["m", "km", "ft", "mi", "KM", "Mi", "m", "km", "yd", ""])
}

/// A distance: mostly positive (meters to thousands of km in any unit),
/// sometimes 0, negative or not a number.
fn distance(rng: &mut Rng) -> Vec<u8> {
    match rng.below(25) {
        0 => rng.one_of(&["-1", "x", "", "0", "nan", "inf", "1e400"]),
        _ => {
            let digits = rng.range(0, 7);
            format!(
                "{}.{}",
                10i64.pow(digits as u32) * rng.range(1, 9),
                rng.below(100)
            )
            .into_bytes()
        }
    }
}

fn geoadd(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = args(&[b"GEOADD", k]);
    for _ in 0..rng.below(3) {
        command.push(rng.one_of(&["NX", "XX", "CH", "nx", "ch"]));
    }
    for _ in 0..rng.range(1, 4) {
        command.extend(lon_lat(rng));
        command.push(member(rng));
    }
    if rng.chance(25) {
        command.pop();
    }
    Command::exact(command)
}

/// GEOSEARCH's (and GEOSEARCHSTORE's) centre and shape, in any order,
/// sometimes missing, doubled or conflicting.
fn search_from_and_by(rng: &mut Rng, command: &mut Vec<Vec<u8>>) {
    let mut parts: Vec<Vec<Vec<u8>>> = Vec::new();
    let from = |rng: &mut Rng| -> Vec<Vec<u8>> {
        if rng.chance(2) {
            vec![b"FROMMEMBER".to_vec(), member(rng)]
        } else {
            let [lon, lat] = lon_lat(rng);
            vec![b"FROMLONLAT".to_vec(), lon, lat]
        }
    };
    let by = |rng: &mut Rng| -> Vec<Vec<u8>> {
        if rng.chance(2) {
            vec![b"BYRADIUS".to_vec(), distance(rng), unit(rng)]
        } else {
            vec![b"BYBOX".to_vec(), distance(rng), distance(rng), unit(rng)]
        }
    };
    if !rng.chance(40) {
        parts.push(from(rng));
    }
    if !rng.chance(40) {
        parts.push(by(rng));
    }
    if rng.chance(15) {
        parts.push(from(rng));
    }
    if rng.chance(15) {
        parts.push(by(rng));
    }
    if rng.chance(2) {
        parts.reverse();
    }
    command.extend(parts.into_iter().flatten());
}

/// The result options, in random order; `store` adds the ones of a
/// search that stores.
fn options(rng: &mut Rng, command: &mut Vec<Vec<u8>>, store: Option<&[&str]>) {
    let mut parts: Vec<Vec<Vec<u8>>> = Vec::new();
    let without_with = store.is_some() && !rng.chance(10);
    for name in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
        if !without_with && rng.chance(3) {
            parts.push(vec![name.as_bytes().to_vec()]);
        }
    }
    match rng.below(4) {
        0 => parts.push(vec![b"ASC".to_vec()]),
        1 => parts.push(vec![b"DESC".to_vec()]),
        _ => {}
    }
    if rng.chance(2) {
        let count = match rng.below(12) {
            0 => rng.one_of(&["0", "-1", "x"]),
            _ => rng.range(1, 12).to_string().into_bytes(),
        };
        let mut part = vec![b"COUNT".to_vec(), count];
        if rng.chance(3) {
            part.push(b"ANY".to_vec());
        }
        parts.push(part);
    } else if rng.chance(20) {
        parts.push(vec![b"ANY".to_vec()]);
    }
    if let Some(names) = store {
        if !rng.chance(8) {
            let name = names[rng.below(names.len() as u64) as usize];
            let mut part = vec![name.as_bytes().to_vec()];
            if name != "STOREDIST" || names.len() > 1 {
                part.push(rng.one_of(&["d0", "d1", "d1"]));
            }
            parts.push(part);
        }
    }
    if rng.chance(30) {
        parts.push(vec![rng.one_of(&["WITHSCORES", "STORE", "COUNT"])]);
    }
    // Shuffle by swapping random pairs.
    for _ in 0..parts.len() {
        let (i, j) = (rng.below(parts.len() as u64), rng.below(parts.len() as u64));
        parts.swap(i as usize, j as usize);
    }
    command.extend(parts.into_iter().flatten());
}

fn search(rng: &mut Rng, k: &[u8]) -> Command {
    let mut command = match rng.below(7) {
        0 | 1 => args(&[&rng.one_of(&["GEOSEARCH", "geosearch", "GeoSearch"]), k]),
        2 => {
            let name = rng.one_of(&["GEOSEARCHSTORE", "geosearchstore"]);
            args(&[&name, &rng.one_of(&["d0", "d1"]), k])
        }
        3 | 4 => {
            let name = rng.one_of(&["GEORADIUS", "GEORADIUS_RO"]);
            let [lon, lat] = lon_lat(rng);
            args(&[&name, k, &lon, &lat, &distance(rng), &unit(rng)])
        }
        _ => {
            let name = rng.one_of(&["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]);
            args(&[&name, k, &member(rng), &distance(rng), &unit(rng)])
        }
    };
    let name = command[0].to_ascii_uppercase();
    let store: Option<&[&str]> = match &name[..] {
        b"GEOSEARCHSTORE" => Some(&["STOREDIST"]),
        b"GEORADIUS" | b"GEORADIUSBYMEMBER" if rng.chance(3) => Some(&["STORE", "STOREDIST"]),
        _ => None,
    };
    if name.starts_with(b"GEOSEARCH") {
        let mut from_and_by = Vec::new();
        search_from_and_by(rng, &mut from_and_by);
        let mut rest = Vec::new();
        options(rng, &mut rest, store);
        // Options before, between or after the centre and shape.
        let split = rng.below(rest.len() as u64 + 1) as usize;
        command.extend(rest[..split].iter().cloned());
        command.extend(from_and_by);
        command.extend(rest[split..].iter().cloned());
    } else {
        options(rng, &mut command, store);
    }
    Command::exact(command)
}

fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    match rng.below(40) {
        0 => Command::exact(args(&[b"SET", b"str", b"v"])),
        1 => Command::exact(args(&[b"RPUSH", b"list", b"a"])),
        2 => Command::exact(args(&[b"DEL", &k])),
        3 => Command::exact(args(&[b"ZREM", &k, &member(rng)])),
        4 => Command::exact(args(&[b"ZADD", &k, b"1e15", &member(rng)])),
        5 | 6 => Command::exact(args(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])),
        7 => Command::exact(args(&[b"OBJECT", b"ENCODING", &k])),
        8..=12 => geoadd(rng, &k),
        13 | 14 => {
            let mut command = args(&[b"GEOPOS", &k]);
            for _ in 0..rng.range(1, 4) {
                command.push(member(rng));
            }
            Command::exact(command)
        }
        15 | 16 => {
            let mut command = args(&[b"GEODIST", &k, &member(rng), &member(rng)]);
            match rng.below(6) {
                0 => {}
                1 => command.extend([unit(rng), unit(rng)]),
                _ => command.push(unit(rng)),
            }
            Command::exact(command)
        }
        17 => {
            let mut command = args(&[b"GEOHASH", &k]);
            for _ in 0..rng.range(1, 4) {
                command.push(member(rng));
            }
            Command::exact(command)
        }
        _ => search(rng, &k),
    }
}

const STEPS: usize = 2500;

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

/// Lines of a fixed script, each split on spaces (`''` is an empty
/// argument): every error and every order of Redis's checks.
const SCRIPT: &[&str] = &[
    "SET str v",
    "RPUSH list a",
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD g 2.349014 48.864716 Paris -0.127758 51.507351 London -74.006 40.7128 NY",
    "GEOADD g 179.99 -16.5 e1 -179.99 -16.5 e2 0 85.05112878 top -180 -85.05112878 corner",
    // GEOADD: options, then triples, then each coordinate pair in turn.
    "GEOADD g NX XX 1 2 a",
    "GEOADD g ch nx ch 1 2 a",
    "GEOADD g XX CH 13.361389 38.115556 Palermo 1 1 new",
    "GEOADD g CH 13.37 38.115556 Palermo",
    "GEOADD g 1 2",
    "GEOADD g 1 2 a 3",
    "GEOADD g 181 2 a x y b",
    "GEOADD g 1 2 a x y b",
    "GEOADD g 1 90 a",
    "GEOADD g 1 -85.06 a",
    "GEOADD g inf 0 a",
    "GEOADD g nan 0 a",
    "GEOADD g '' 0 a",
    "GEOADD str 1 2 a",
    "GEOADD str 1 200 a",
    "GEOADD g2 XX 1 2 a",
    "EXISTS g2",
    "ZRANGE g 0 -1 WITHSCORES",
    // Reads.
    "GEOPOS g Palermo nope Catania top corner e1 e2",
    "GEOPOS missing a b",
    "GEOPOS str a",
    "GEOHASH g Palermo Catania nope top corner e1 e2 NY",
    "GEOHASH missing a",
    "GEOHASH str a",
    "GEODIST g Palermo Catania",
    "GEODIST g Palermo Catania km",
    "GEODIST g Palermo Catania MI",
    "GEODIST g Palermo Catania ft",
    "GEODIST g Palermo Catania yd",
    "GEODIST g Palermo Catania km km",
    "GEODIST g Palermo nope",
    "GEODIST g Palermo Palermo",
    "GEODIST g e1 e2",
    "GEODIST g top corner",
    "GEODIST missing a b",
    "GEODIST missing a b yd",
    "GEODIST str a b",
    "GEODIST str a b yd",
    // Searches.
    "GEORADIUS g 15 37 200 km",
    "GEORADIUS g 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC",
    "GEORADIUS g 15 37 200 km DESC COUNT 1",
    "GEORADIUS g 15 37 20000 km COUNT 3 ANY",
    "GEORADIUS g 15 37 20000 km",
    "GEORADIUS g 0 0 0 m",
    "GEORADIUS g 15 37 200 km ANY",
    "GEORADIUS g 15 37 200 km COUNT 0",
    "GEORADIUS g 15 37 200 km COUNT -3",
    "GEORADIUS g 15 37 200 km COUNT x",
    "GEORADIUS g 15 37 200 km COUNT",
    "GEORADIUS g 15 37 -1 km",
    "GEORADIUS g 15 37 x km",
    "GEORADIUS g 15 37 1 yd",
    "GEORADIUS g 181 37 x yd",
    "GEORADIUS g 15 37 200 km STORE d WITHDIST",
    "GEORADIUS g 15 37 200 km STORE",
    "GEORADIUS_RO g 15 37 200 km STORE d",
    "GEORADIUS g 15 37 200 km FROMMEMBER Palermo",
    "GEORADIUS str 181 37 x yd",
    "GEORADIUS missing 181 37 1 km",
    "GEORADIUS missing 15 37 1 km WITHDIST",
    "GEORADIUS missing 15 37 1 km ANY",
    "GEORADIUS g 15 37 200 km STORE d",
    "ZRANGE d 0 -1 WITHSCORES",
    "GEORADIUS g 15 37 200 km STOREDIST d ASC",
    "ZRANGE d 0 -1 WITHSCORES",
    "GEORADIUS g 15 37 200 mi STOREDIST d DESC COUNT 1",
    "ZRANGE d 0 -1 WITHSCORES",
    "GEORADIUS g 0 0 1 m STORE d",
    "EXISTS d",
    "SET d x",
    "GEORADIUS missing 0 0 1 m STORE d",
    "EXISTS d",
    "SET d x",
    "GEORADIUS g 15 37 200 km STORE d",
    "TYPE d",
    "GEORADIUSBYMEMBER g Palermo 200 km WITHDIST",
    "GEORADIUSBYMEMBER g Palermo 200 km WITHDIST WITHCOORD COUNT 1 DESC",
    "GEORADIUSBYMEMBER g nope 200 km",
    "GEORADIUSBYMEMBER g nope x yd",
    "GEORADIUSBYMEMBER g Palermo x yd",
    "GEORADIUSBYMEMBER g Palermo 1 yd",
    "GEORADIUSBYMEMBER missing nope x yd",
    "GEORADIUSBYMEMBER missing nope x yd COUNT 0",
    "GEORADIUSBYMEMBER missing nope x yd STORE d",
    "GEORADIUSBYMEMBER missing nope x yd STORE d WITHDIST",
    "GEORADIUSBYMEMBER str nope x yd",
    "GEORADIUSBYMEMBER g Palermo 500 km STOREDIST d",
    "ZRANGE d 0 -1 WITHSCORES",
    "GEORADIUSBYMEMBER_RO g Palermo 500 km STOREDIST d",
    "GEORADIUSBYMEMBER_RO g Palermo 500 km ASC COUNT 2",
    "geosearch g FROMMEMBER Palermo BYRADIUS 200 km",
    "geosearch g FROMLONLAT 15 37 BYBOX 400 400 km WITHDIST WITHCOORD ASC",
    "geosearch g FROMLONLAT 15 37 BYBOX 4000 40 km WITHHASH",
    "geosearch g FROMLONLAT 179 -16 BYBOX 400 400 km WITHDIST",
    "geosearch g FROMLONLAT 0 85 BYRADIUS 600 km WITHDIST",
    "geosearch g BYRADIUS 200 km FROMMEMBER Palermo",
    "geosearch g FROMMEMBER nope BYRADIUS 200 km",
    "geosearch g FROMMEMBER nope BYRADIUS -1 km",
    "geosearch g BYRADIUS -1 km FROMMEMBER nope",
    "geosearch g FROMMEMBER nope FROMMEMBER Palermo BYRADIUS 200 km",
    "geosearch g FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 200 km WITHDIST",
    "geosearch g FROMMEMBER Palermo FROMLONLAT 1 2 BYRADIUS 200 km",
    "geosearch g FROMLONLAT 1 2 FROMMEMBER Palermo BYRADIUS 200 km",
    "geosearch g FROMLONLAT 1 2 FROMLONLAT 15 37 BYRADIUS 200 km",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km",
    "geosearch g FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 2 km BYRADIUS 200 km",
    "geosearch g FROMLONLAT 15 37 BYBOX x 1 km",
    "geosearch g FROMLONLAT 15 37 BYBOX 1 x km",
    "geosearch g FROMLONLAT 15 37 BYBOX -1 1 km",
    "geosearch g FROMLONLAT 15 37 BYBOX 1 1 yd",
    "geosearch g FROMLONLAT 15 37 BYBOX 1 1",
    "geosearch g FROMLONLAT 15 37",
    "GEOSEARCH g FROMLONLAT 15 37",
    "GeoSearch g BYRADIUS 1 km",
    "GEOSEARCHSTORE d g BYRADIUS 1 km",
    "geoSearchStore d g FROMLONLAT 15 37",
    "MULTI",
    "GEOsearch g FROMLONLAT 15 37",
    "EXEC",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 1 km STORE d",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 1 km STOREDIST",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 1 km ANY",
    "geosearch g FROMLONLAT 15 37 BYRADIUS 20000 km COUNT 2 ANY DESC",
    "geosearch missing FROMMEMBER nope BYRADIUS 1 km",
    "geosearch missing FROMMEMBER nope BYRADIUS x km",
    "geosearch missing FROMMEMBER nope",
    "geosearch str FROMMEMBER nope",
    "geosearchstore d g FROMMEMBER Palermo BYRADIUS 200 km",
    "ZRANGE d 0 -1 WITHSCORES",
    "geosearchstore d g FROMMEMBER Palermo BYRADIUS 200 km STOREDIST",
    "ZRANGE d 0 -1 WITHSCORES",
    "geosearchstore d g FROMMEMBER Palermo BYRADIUS 200 km WITHDIST",
    "geosearchstore d g FROMMEMBER Palermo BYRADIUS 200 km STORE x",
    "geosearchstore d g FROMMEMBER nope BYRADIUS 200 km",
    "geosearchstore d g FROMLONLAT 0 0 BYRADIUS 1 m",
    "EXISTS d",
    "geosearchstore d missing FROMLONLAT 0 0 BYRADIUS 1 m",
    "geosearchstore d str FROMLONLAT 0 0 BYRADIUS 1 m",
    "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYBOX 4000 4000 km STOREDIST COUNT 3 DESC",
    "ZRANGE d 0 -1 WITHSCORES",
    "OBJECT ENCODING d",
    // A sorted set whose scores are not geohashes.
    "ZADD z -1 neg 0 zero 1e300 huge 4503599627370495 max 4503599627370496 over",
    "GEOPOS z neg zero huge max over",
    "GEOHASH z neg zero huge max over",
    "GEODIST z neg huge",
    "geosearch z FROMLONLAT 0 0 BYRADIUS 20000 km WITHHASH WITHCOORD",
    // Transactions run the reads and the stores at apply.
    "MULTI",
    "GEOADD t 1 2 a 1.001 2.001 b",
    "GEOPOS t a b",
    "geosearch t FROMMEMBER a BYRADIUS 1 km WITHDIST",
    "geosearchstore td t FROMMEMBER a BYRADIUS 1 km STOREDIST",
    "GEODIST t a b km",
    "geosearch t FROMMEMBER x BYRADIUS 1 km",
    "EXEC",
    "ZRANGE td 0 -1 WITHSCORES",
];

#[test]
fn script_resp2() {
    common::diff::run_script(SCRIPT, false);
}

#[test]
fn script_resp3() {
    common::diff::run_script(SCRIPT, true);
}

/// In a 3-node cluster, a random stream of geo commands (stores and
/// errors included) sent to the leader leaves the same sorted sets on
/// every node: GEOADD and the stores travel in the Raft log and apply
/// deterministically.
#[test]
fn the_same_points_on_every_node() {
    use common::cluster::{Cluster, ClusterOptions};

    let cluster = Cluster::start(3, ClusterOptions::default());
    let leader = cluster.leader();
    let mut raw = cluster.raw(leader);
    let mut rng = Rng(11);
    common::diff::send_stream(&mut raw, &mut rng, with_transactions(8, command), 600);
    cluster.wait_all_applied();
    let keys = ["g0", "g1", "g2", "d0", "d1", "str", "list"];
    let dumps = |id: u64| cluster.dumps(id, &keys);
    let expected = dumps(leader);
    assert!(
        expected[..5].iter().filter(|dump| dump.is_some()).count() >= 3,
        "the stream left too few sorted sets to compare"
    );
    for follower in cluster.followers() {
        assert_eq!(dumps(follower), expected, "node {follower}");
    }
}
