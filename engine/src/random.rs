//! A small seeded random source for the commands that pick elements at
//! random (`SPOP`, `SRANDMEMBER`, `HRANDFIELD`, `ZRANDMEMBER`, ...).
//!
//! Apply may never read a random source of its own (DESIGN.md): a write
//! that picks at random (`SPOP`) carries a seed chosen by the node that
//! parsed it, in its op, so every node draws the same numbers. Reads draw
//! from a seed the server picks per command.
//!
//! Invariants:
//! - The sequence is a pure function of the seed (splitmix64), the same on
//!   every platform and in every version that reads a given log.

/// splitmix64 over a 64-bit state.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), without modulo bias worth noticing
    /// (the multiply-shift reduction).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Random;

    #[test]
    fn the_sequence_is_fixed_by_the_seed() {
        let draw = |seed| {
            let mut random = Random::new(seed);
            (0..4).map(|_| random.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // splitmix64's published first output for seed 0.
        assert_eq!(draw(0)[0], 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut random = Random::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let n = random.below(10);
            seen[n] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
    }
}
