//! The `maxmemory` settings as Redis 7.0 spells them: the policies'
//! names, memory amounts with units (`64mb`, `1gb`), and the ranges and
//! defaults of the numeric parameters. The configuration reads them here;
//! `evict/` acts on them.
//!
//! Invariants:
//! - [`Policy::parse`] accepts exactly Redis's eight names (any case) and
//!   [`Policy::name`] gives them back in lower case.
//! - [`parse_memory`] accepts exactly what Redis 7.0's `memtoull` accepts
//!   for a `maxmemory`, with its results: digits (none reads as 0; too
//!   many saturate), then an optional unit among `b`, `k`, `kb`, `m`,
//!   `mb`, `g`, `gb` (any case), the product wrapping as an unsigned long
//!   long does; no sign, no fraction, no space.

/// What to do when used memory is over `maxmemory` (Redis's
/// `maxmemory-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Refuse writes that may grow memory (`-OOM`); never delete.
    NoEviction,
    /// Evict the least recently used key of all keys.
    AllKeysLru,
    /// Evict the least recently used key with an expiry.
    VolatileLru,
    /// Evict the least frequently used key of all keys.
    AllKeysLfu,
    /// Evict the least frequently used key with an expiry.
    VolatileLfu,
    /// Evict a random key.
    AllKeysRandom,
    /// Evict a random key with an expiry.
    VolatileRandom,
    /// Evict the key with an expiry that expires soonest.
    VolatileTtl,
}

/// How a policy ranks the keys it samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// Longest idle first (LRU).
    Idle,
    /// Least frequently used first (LFU).
    Frequency,
    /// Soonest to expire first.
    Ttl,
    /// Any: the first key drawn.
    Random,
}

/// Redis's names, in the order its error message lists them.
const NAMES: [(&str, Policy); 8] = [
    ("volatile-lru", Policy::VolatileLru),
    ("volatile-lfu", Policy::VolatileLfu),
    ("volatile-random", Policy::VolatileRandom),
    ("volatile-ttl", Policy::VolatileTtl),
    ("allkeys-lru", Policy::AllKeysLru),
    ("allkeys-lfu", Policy::AllKeysLfu),
    ("allkeys-random", Policy::AllKeysRandom),
    ("noeviction", Policy::NoEviction),
];

/// Redis's reason for a `maxmemory-policy` it does not know.
pub const POLICY_ERROR: &str = "argument(s) must be one of the following: volatile-lru, \
     volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
     noeviction";
/// Redis's reason for a `maxmemory` that is not an amount.
pub const MEMORY_ERROR: &str = "argument must be a memory value";

impl Policy {
    pub fn parse(text: &str) -> Option<Policy> {
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, policy)| *policy)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, policy)| *policy == self)
            .map(|(name, _)| *name)
            .expect("every policy has a name")
    }

    /// Whether it evicts only keys with an expiry.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// How it ranks candidates; `None` for `noeviction`.
    pub fn rank(self) -> Option<Rank> {
        match self {
            Policy::NoEviction => None,
            Policy::AllKeysLru | Policy::VolatileLru => Some(Rank::Idle),
            Policy::AllKeysLfu | Policy::VolatileLfu => Some(Rank::Frequency),
            Policy::AllKeysRandom | Policy::VolatileRandom => Some(Rank::Random),
            Policy::VolatileTtl => Some(Rank::Ttl),
        }
    }

    /// Index for storing in an atomic.
    pub fn index(self) -> u8 {
        NAMES
            .iter()
            .position(|(_, policy)| *policy == self)
            .expect("every policy has a name") as u8
    }

    pub fn from_index(index: u8) -> Policy {
        NAMES[usize::from(index)].1
    }
}

/// A memory amount as Redis's `memtoull` reads it; `None` if it is not
/// one.
pub fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // strtoull: no digits read as 0, too many saturate.
    let number = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(number.wrapping_mul(multiplier))
}

/// `maxmemory-samples`: Redis's default and range.
pub const SAMPLES_DEFAULT: u64 = 5;
pub const SAMPLES_RANGE: (i64, i64) = (1, i32::MAX as i64);
/// `maxmemory-eviction-tenacity`: Redis's default and range.
pub const TENACITY_DEFAULT: u64 = 10;
pub const TENACITY_RANGE: (i64, i64) = (0, 100);
/// `lfu-log-factor` and `lfu-decay-time`: Redis's defaults and range.
pub const LFU_LOG_FACTOR_DEFAULT: u64 = 10;
pub const LFU_DECAY_TIME_DEFAULT: u64 = 1;
pub const LFU_RANGE: (i64, i64) = (0, i32::MAX as i64);

/// The `maxmemory` family, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySettings {
    /// 0 means no limit.
    pub maxmemory_bytes: u64,
    pub policy: Policy,
    /// Keys sampled per database for each victim (`maxmemory-samples`).
    pub samples: u64,
    /// How long one eviction cycle may run (`maxmemory-eviction-tenacity`).
    pub tenacity: u64,
    /// `lfu-log-factor`: how slowly the LFU counter grows.
    pub lfu_log_factor: u64,
    /// `lfu-decay-time`: minutes per step the LFU counter decays.
    pub lfu_decay_time_min: u64,
}

impl Default for MemorySettings {
    fn default() -> MemorySettings {
        MemorySettings {
            maxmemory_bytes: 0,
            policy: Policy::NoEviction,
            samples: SAMPLES_DEFAULT,
            tenacity: TENACITY_DEFAULT,
            lfu_log_factor: LFU_LOG_FACTOR_DEFAULT,
            lfu_decay_time_min: LFU_DECAY_TIME_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_amounts_as_redis_reads_them() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("100", Some(100)),
            ("100b", Some(100)),
            ("10k", Some(10_000)),
            ("3KB", Some(3072)),
            ("64mb", Some(64 << 20)),
            ("2M", Some(2_000_000)),
            ("1gb", Some(1 << 30)),
            ("1g", Some(1_000_000_000)),
            ("", Some(0)),
            ("mb", Some(0)),
            ("-1", None),
            ("+1", None),
            ("1.5mb", None),
            ("10x", None),
            ("1tb", None),
            (" 1", None),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", Some(u64::MAX)),
            ("18446744073709551615kb", Some(18446744073709550592)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_memory(text), *want, "{text:?}");
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for (name, policy) in NAMES {
            assert_eq!(Policy::parse(name), Some(policy));
            assert_eq!(Policy::parse(&name.to_ascii_uppercase()), Some(policy));
            assert_eq!(policy.name(), name);
            assert_eq!(Policy::from_index(policy.index()), policy);
            assert_eq!(policy.volatile(), name.starts_with("volatile"));
            assert_eq!(policy.rank().is_none(), name == "noeviction");
        }
        assert_eq!(Policy::parse("lru"), None);
    }
}
