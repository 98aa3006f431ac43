//! The `-OOM` refusal: before a command that may grow memory (Redis's
//! `DENYOOM` flag) runs or is queued, the connection asks whether used
//! memory is over `maxmemory` with no way to evict, as Redis's
//! `processCommand` does after `performEvictions` fails.
//!
//! Invariants:
//! - Only `DENYOOM` commands are refused: reads, `DEL`, `EXPIRE` and the
//!   like always run (they never grow memory much, and `DEL` frees it).
//! - Only the leader refuses, since only its writes are proposed; a
//!   follower answers a write with a redirect whatever its memory.

use super::Node;
use crate::raft::status::Role;

/// Redis's reply, without the leading `-`.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether a command (`denyoom`: one that may grow memory) is refused at
/// `used_bytes` under `maxmemory_bytes` (0: no limit), given whether the
/// policy evicts and whether the evictor finds keys to evict.
pub fn refuses(
    denyoom: bool,
    used_bytes: u64,
    maxmemory_bytes: u64,
    evicts: bool,
    evictable: bool,
) -> bool {
    denyoom && maxmemory_bytes != 0 && used_bytes > maxmemory_bytes && !(evicts && evictable)
}

/// The error to answer a command with on this node, if it is refused
/// (`denyoom`: the command has Redis's `DENYOOM` flag). Wakes the evictor
/// when memory is over the limit.
pub fn refusal(node: Node<'_>, denyoom: bool) -> Option<&'static str> {
    let maxmemory_bytes = node.memory.limits.maxmemory_bytes();
    if maxmemory_bytes == 0 || !denyoom {
        return None;
    }
    let used_bytes = node.engine.used_memory_bytes();
    if used_bytes <= maxmemory_bytes {
        return None;
    }
    node.memory.nudge();
    if node.raft.role() != Role::Leader {
        return None;
    }
    let evicts = node.memory.limits.policy().rank().is_some();
    refuses(
        denyoom,
        used_bytes,
        maxmemory_bytes,
        evicts,
        node.memory.evictable(),
    )
    .then_some(OOM_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case: denyoom, used, maxmemory, policy evicts, keys evictable,
    /// refused.
    #[test]
    fn only_growing_commands_over_the_limit_without_eviction_are_refused() {
        let cases: &[(bool, u64, u64, bool, bool, bool)] = &[
            (true, 200, 100, false, true, true),
            (true, 200, 100, true, false, true),
            (true, 200, 100, true, true, false),
            (true, 100, 100, false, false, false),
            (true, 200, 0, false, false, false),
            (false, 200, 100, false, false, false),
        ];
        for &(denyoom, used, max, evicts, evictable, want) in cases {
            assert_eq!(
                refuses(denyoom, used, max, evicts, evictable),
                want,
                "{denyoom} {used} {max} {evicts} {evictable}"
            );
        }
    }
}
