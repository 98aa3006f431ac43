//! Trimming a stream from its oldest end (`XTRIM`, `XADD ... MAXLEN|MINID`),
//! as Redis 7.0's `streamTrim` does it.
//!
//! Whole nodes go first; with `~` trimming stops at the first node that
//! cannot go whole, without `~` it marks entries deleted inside that node.
//! `limit` (only with `~`) caps the entries removed, counted in whole
//! nodes.
//!
//! Invariants:
//! - Only the oldest entries go, and never more than the strategy asks.
//! - The result depends only on the stream (its node boundaries included)
//!   and the arguments, so every node trims the same entries.

use serde::{Deserialize, Serialize};

use super::{Stream, StreamId};

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrimBy {
    /// `MAXLEN n`: at most `n` entries.
    MaxLen(u64),
    /// `MINID id`: no entry below `id`.
    MinId(StreamId),
}

/// A trim, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trim {
    pub by: TrimBy,
    /// `~`: whole nodes only.
    pub approx: bool,
    /// The most entries to remove, 0 for no limit. The parser sets
    /// Redis's default (10,000) for `~` without `LIMIT`.
    pub limit: u64,
}

impl Stream {
    /// Trims by `trim`; returns the number of entries removed.
    pub(crate) fn trim(&mut self, trim: &Trim) -> u64 {
        let mut removed = 0u64;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            if let TrimBy::MaxLen(max) = trim.by {
                if self.length <= max {
                    break;
                }
            }
            let live = u64::from(node.live);
            if trim.limit != 0 && removed + live > trim.limit {
                break;
            }
            let whole = match trim.by {
                TrimBy::MaxLen(max) => self.length - live >= max,
                TrimBy::MinId(min) => {
                    let last = node.entries(master).last().expect("a node is never empty");
                    last.id < min
                }
            };
            if whole {
                let node = self.nodes.remove(&master).expect("first node");
                self.memory_bytes -= Stream::node_cost(&node);
                self.length -= live;
                removed += live;
                continue;
            }
            if trim.approx {
                break;
            }
            removed += self.trim_inside(master, trim.by);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if removed > 0 {
            self.refresh_first_id();
        }
        removed
    }

    /// Marks the oldest entries of the node at `master` deleted until the
    /// strategy is met; returns how many. The node keeps a live entry
    /// (else it would have gone whole).
    fn trim_inside(&mut self, master: StreamId, by: TrimBy) -> u64 {
        let node = self.nodes.get_mut(&master).expect("trimmed node");
        let entries: Vec<(StreamId, usize, bool)> = node
            .entries(master)
            .map(|entry| (entry.id, entry.at, entry.deleted))
            .collect();
        let mut removed = 0;
        for (id, at, deleted) in entries {
            let stop = match by {
                TrimBy::MaxLen(max) => self.length <= max,
                TrimBy::MinId(min) => id >= min,
            };
            if stop {
                break;
            }
            if !deleted {
                node.mark_deleted(at);
                self.length -= 1;
                removed += 1;
            }
        }
        assert!(node.live > 0, "a node trimmed inside keeps an entry");
        removed
    }
}
