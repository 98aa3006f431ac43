//! `LCS`: the longest common subsequence of two strings, computed as Redis
//! computes it (`lcsCommand` in t_string.c): a dynamic-programming table
//! of the LCS length of every pair of prefixes, then one walk back from
//! the ends of both strings that collects the subsequence and, for `IDX`,
//! the matching ranges in the order that walk finds them (last first).
//!
//! Invariants:
//! - The table has (len(a) + 1) x (len(b) + 1) cells of 4 bytes; when that
//!   is more than `proto-max-bulk-len` ([`STRING_BYTES_MAX`]) the command is
//!   refused before anything is allocated, with Redis's error.
//! - On a tie (the cell above equals the cell to the left) the walk moves
//!   left in `b`, as Redis does; the subsequence and the ranges depend on
//!   that choice, so it must not change.
//! - Both keys are looked up (one hit or miss each) before any argument
//!   error is reported: Redis checks their types first.

use serde::{Deserialize, Serialize};

use crate::key::KeyRef;
use crate::{Engine, Entry, Error, ReplySink, Value, STRING_BYTES_MAX};

/// What `LCS` replies with, from its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LcsReply {
    /// The subsequence itself (no option).
    Subsequence,
    /// Its length (`LEN`).
    Len,
    /// The matching ranges and the length (`IDX`): only ranges at least
    /// `min_match_len` long (`MINMATCHLEN`, 0 for all), each with its
    /// length when `with_match_len` (`WITHMATCHLEN`).
    Ranges {
        min_match_len: u64,
        with_match_len: bool,
    },
}

/// `LCS`'s error for a key of another type.
const NOT_STRINGS: Error = Error::Other("ERR The specified keys must contain string values");

/// `LCS`'s error when its table would pass `proto-max-bulk-len`.
const TABLE_TOO_LARGE: Error =
    Error::Other("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");

/// One run of matching bytes: `a[a_start..=a_end]` equals
/// `b[b_start..=b_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    a_start: u32,
    a_end: u32,
    b_start: u32,
    b_end: u32,
}

impl Range {
    fn len(&self) -> u64 {
        u64::from(self.a_end - self.a_start + 1)
    }
}

/// The longest common subsequence of `a` and `b`, and the ranges of
/// contiguous matches along it, last first.
struct Lcs {
    subsequence: Vec<u8>,
    ranges: Vec<Range>,
}

/// The table's size in bytes for strings of these lengths.
fn table_bytes(a_len: usize, b_len: usize) -> u64 {
    (a_len as u64 + 1) * (b_len as u64 + 1) * 4
}

/// Redis's algorithm: the table, then the walk back (see the module's
/// invariants for its tie rule).
fn compute(a: &[u8], b: &[u8]) -> Lcs {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[a.len() * width + b.len()] as usize;
    let mut subsequence = vec![0u8; total];
    let mut ranges = Vec::new();
    let mut current: Option<Range> = None;
    let (mut i, mut j, mut left) = (a.len(), b.len(), total);
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            subsequence[left - 1] = a[i - 1];
            left -= 1;
            let (at_a, at_b) = ((i - 1) as u32, (j - 1) as u32);
            // Matches along the walk are contiguous in both strings until
            // a step that is not a match, which ends the range.
            let range = current.get_or_insert(Range {
                a_start: at_a + 1,
                a_end: at_a,
                b_start: at_b + 1,
                b_end: at_b,
            });
            range.a_start = at_a;
            range.b_start = at_b;
            i -= 1;
            j -= 1;
            if at_a == 0 || at_b == 0 {
                ranges.extend(current.take());
            }
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            ranges.extend(current.take());
        }
    }
    Lcs {
        subsequence,
        ranges,
    }
}

impl Engine {
    /// `LCS a b` with `reply` (or the options' error, reported once both
    /// keys are found missing or strings).
    pub fn lcs(
        &self,
        db: usize,
        keys: [&[u8]; 2],
        reply: &Result<LcsReply, Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let values = match self.lcs_values(db, keys, reply, now_ms) {
            Ok(values) => values,
            Err(error) => return sink.error(&error),
        };
        let reply = reply.as_ref().expect("checked by lcs_values");
        let lcs = compute(&values[0], &values[1]);
        match *reply {
            LcsReply::Subsequence => sink.bulk(&lcs.subsequence),
            LcsReply::Len => sink.int(lcs.subsequence.len() as i64),
            LcsReply::Ranges {
                min_match_len,
                with_match_len,
            } => {
                let shown: Vec<&Range> = lcs
                    .ranges
                    .iter()
                    .filter(|range| range.len() >= min_match_len)
                    .collect();
                sink.map(2);
                sink.bulk(b"matches");
                sink.array(shown.len());
                for range in shown {
                    sink.array(2 + usize::from(with_match_len));
                    sink.array(2);
                    sink.int(i64::from(range.a_start));
                    sink.int(i64::from(range.a_end));
                    sink.array(2);
                    sink.int(i64::from(range.b_start));
                    sink.int(i64::from(range.b_end));
                    if with_match_len {
                        sink.int(range.len() as i64);
                    }
                }
                sink.bulk(b"len");
                sink.int(lcs.subsequence.len() as i64);
            }
        }
    }

    /// Both keys' strings (empty for a missing key), copied so no lock is
    /// held while the table is built, or the error Redis gives first: a
    /// key of another type, the options', the table's size.
    fn lcs_values(
        &self,
        db: usize,
        keys: [&[u8]; 2],
        reply: &Result<LcsReply, Error>,
        now_ms: u64,
    ) -> Result<[Vec<u8>; 2], Error> {
        let mut shards = self.lock_keys(db, keys.iter());
        // The lengths first (`None`: another type), so nothing is copied
        // for a command that is refused.
        let mut lengths = [Some(0); 2];
        for (key, length) in keys.iter().zip(&mut lengths) {
            let key = KeyRef::new(key);
            let entry = shards.shard(key).get_live(key, now_ms);
            let hit = entry.is_some();
            *length = match entry.as_deref().map(|entry| &entry.value) {
                None => Some(0),
                Some(Value::Str(value)) => Some(value.len()),
                Some(_) => None,
            };
            shards.slot(key).count(hit);
        }
        let [Some(a_len), Some(b_len)] = lengths else {
            return Err(NOT_STRINGS);
        };
        reply.as_ref().map_err(Clone::clone)?;
        if table_bytes(a_len, b_len) > STRING_BYTES_MAX {
            return Err(TABLE_TOO_LARGE);
        }
        Ok(keys.map(|key| {
            let key = KeyRef::new(key);
            match shards.shard(key).get_live(key, now_ms).as_deref() {
                Some(Entry {
                    value: Value::Str(value),
                    ..
                }) => value.to_vec(),
                _ => Vec::new(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Redis's LCS documentation, and the tie rule.
    #[test]
    fn subsequence_and_ranges_follow_redis() {
        let lcs = compute(b"ohmytext", b"mynewtext");
        assert_eq!(lcs.subsequence, b"mytext");
        let ranges: Vec<(u32, u32, u32, u32)> = lcs
            .ranges
            .iter()
            .map(|r| (r.a_start, r.a_end, r.b_start, r.b_end))
            .collect();
        assert_eq!(ranges, [(4, 7, 5, 8), (2, 3, 0, 1)]);
        // A string against itself: one range, the whole string.
        let lcs = compute(b"abcabc", b"abcabc");
        assert_eq!(lcs.subsequence, b"abcabc");
        assert_eq!(
            lcs.ranges,
            [Range {
                a_start: 0,
                a_end: 5,
                b_start: 0,
                b_end: 5
            }]
        );
        // On a tie the walk moves left in b, so "ab" against "ba" finds
        // the "b" (a[1], b[0]), not the "a" (Redis answers "b" too).
        let lcs = compute(b"ab", b"ba");
        assert_eq!(lcs.subsequence, b"b");
        assert_eq!(
            lcs.ranges,
            [Range {
                a_start: 1,
                a_end: 1,
                b_start: 0,
                b_end: 0
            }]
        );
    }

    #[test]
    fn an_empty_string_has_an_empty_subsequence() {
        for (a, b) in [(&b""[..], &b"abc"[..]), (b"abc", b""), (b"", b"")] {
            let lcs = compute(a, b);
            assert!(lcs.subsequence.is_empty() && lcs.ranges.is_empty());
        }
    }

    #[test]
    fn the_table_is_refused_past_proto_max_bulk_len() {
        // 16384 x 8191 cells of 4 bytes: just under 512 MiB, then over.
        assert!(table_bytes(16383, 8191) <= STRING_BYTES_MAX);
        assert!(table_bytes(16383, 8192) > STRING_BYTES_MAX);
    }
}
