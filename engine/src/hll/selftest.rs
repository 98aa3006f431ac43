//! `PFSELFTEST`: Redis's self-test of the sketch code, run on this node.
//!
//! Two checks, as `pfselftestCommand` makes them: dense registers keep
//! every value written to them without disturbing their neighbours; and
//! ten million distinct elements, added to a dense and a sparse sketch
//! side by side, give estimates that agree with each other and stay within
//! six standard errors of the truth at every power of ten (the sparse
//! sketch staying sparse while small).

use super::sketch::{self, HEADER_BYTES, REGISTERS};
use super::sparse::{self, SPARSE_BYTES_MAX};
use crate::Random;

/// Rounds of random register values in the first check.
const REGISTER_ROUNDS: usize = 1000;
/// Elements added in the second check.
const ELEMENTS: u64 = 10_000_000;

/// Runs the self-test with random values drawn from `seed`: `Err` holds
/// Redis's `TESTFAILED ...` text.
pub fn run(seed: u64) -> Result<(), String> {
    let mut random = Random::new(seed);
    registers_hold_values(&mut random)?;
    estimates_are_close(random.next_u64())
}

fn registers_hold_values(random: &mut Random) -> Result<(), String> {
    let mut registers = vec![0u8; sketch::DENSE_BYTES - HEADER_BYTES];
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..REGISTER_ROUNDS {
        for (index, slot) in expected.iter_mut().enumerate() {
            *slot = (random.next_u64() & 63) as u8;
            sketch::set_register(&mut registers, index, *slot);
        }
        for (index, &want) in expected.iter().enumerate() {
            let got = sketch::get_register(&registers, index);
            if got != want {
                return Err(format!(
                    "TESTFAILED Register {index} should be {want} but is {got}"
                ));
            }
        }
    }
    Ok(())
}

fn estimates_are_close(seed: u64) -> Result<(), String> {
    let mut dense = sparse::to_dense(&sparse::empty()).expect("an empty sketch is sound");
    let mut sparse_sketch = sparse::empty();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for j in 1..=ELEMENTS {
        let element = (j ^ seed).to_le_bytes();
        let (index, count) = sketch::pattern(&element);
        sketch::dense_raise(&mut dense[HEADER_BYTES..], index, count);
        if sketch::is_dense(&sparse_sketch) {
            sketch::dense_raise(&mut sparse_sketch[HEADER_BYTES..], index, count);
        } else {
            sparse::raise(&mut sparse_sketch, index, count, SPARSE_BYTES_MAX)
                .map_err(|error| format!("TESTFAILED {error}"))?;
        }
        if j != checkpoint {
            continue;
        }
        if (j as usize) < SPARSE_BYTES_MAX / 2 && sketch::is_dense(&sparse_sketch) {
            return Err("TESTFAILED sparse encoding not used".to_string());
        }
        let estimate = |bytes: &[u8]| {
            sketch::histogram(bytes).map_or(u64::MAX, |histogram| sketch::estimate(&histogram))
        };
        let card = estimate(&dense);
        if card != estimate(&sparse_sketch) {
            return Err("TESTFAILED dense/sparse disagree".to_string());
        }
        let error = checkpoint.abs_diff(card);
        // At 10 a collision is likely enough to allow one off only.
        let error_max = if j == 10 {
            1
        } else {
            (relative_error * 6.0 * checkpoint as f64).ceil() as u64
        };
        if error > error_max {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{error}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}
