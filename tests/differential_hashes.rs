//! Differential tests of the hash commands: random command sequences go to
//! redraft and to a real redis-server (see `common/diff.rs`), and every
//! reply must be the same.
//!
//! The keyspace is small (8 keys, one of them a string, so WRONGTYPE paths
//! are met) and elements come from a small alphabet, so commands collide.

mod common;

use common::diff::{args, run_seed, Check, Command, Rng};

/// Few keys, so commands meet; `str` holds a string.
fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        7 => b"str".to_vec(),
        n => format!("h{n}").into_bytes(),
    }
}

/// An element: short words, numbers and an empty string.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => Vec::new(),
        1 | 2 => rng.range(-20, 20).to_string().into_bytes(),
        _ => vec![b'a' + rng.below(10) as u8],
    }
}

/// Generates one command.
fn command(rng: &mut Rng) -> Command {
    let k = key(rng);
    match rng.below(20) {
        0 => Command::exact(args(&[b"SET", b"str", b"x"])),
        1..=9 => {
            let mut command = args(&[b"HSET", &k]);
            for _ in 0..rng.range(1, 3) {
                command.push(element(rng));
                command.push(element(rng));
            }
            Command::exact(command)
        }
        10..=14 => Command::exact(args(&[b"HGET", &k, &element(rng)])),
        _ => Command::with(Check::Pairs, args(&[b"HGETALL", &k])),
    }
}

/// Commands per seed.
const STEPS: usize = 3000;

macro_rules! seeds {
    ($($name:ident: $seed:expr, $resp3:expr;)*) => {
        $(
            #[test]
            fn $name() {
                if let Err(mismatch) = run_seed($seed, STEPS, $resp3, command) {
                    panic!("redraft and redis differ at {mismatch}");
                }
            }
        )*
    };
}

seeds! {
    seed_1: 1, false;
    seed_2: 2, false;
    seed_3_resp3: 3, true;
}
