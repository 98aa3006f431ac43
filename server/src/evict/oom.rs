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

use crate::cmd::{flags, CommandSpec};
use crate::raft::status::Role;
use crate::shared::Shared;

/// Redis's reply, without the leading `-`.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether a command with `flags` is refused at `used_bytes` under
/// `maxmemory_bytes` (0: no limit), given whether the policy evicts and
/// whether the evictor finds keys to evict.
pub fn refuses(
    command_flags: u32,
    used_bytes: u64,
    maxmemory_bytes: u64,
    evicts: bool,
    evictable: bool,
) -> bool {
    command_flags & flags::DENYOOM != 0
        && maxmemory_bytes != 0
        && used_bytes > maxmemory_bytes
        && !(evicts && evictable)
}

/// The error to answer `spec` with on this node, if it is refused. Wakes
/// the evictor when memory is over the limit.
pub fn refusal(shared: &Shared, spec: &CommandSpec) -> Option<&'static str> {
    let maxmemory_bytes = shared.memory.limits.maxmemory_bytes();
    if maxmemory_bytes == 0 || spec.flags & flags::DENYOOM == 0 {
        return None;
    }
    let used_bytes = shared.engine.used_memory_bytes();
    if used_bytes <= maxmemory_bytes {
        return None;
    }
    shared.memory.nudge();
    if shared.raft.role() != Role::Leader {
        return None;
    }
    let evicts = shared.memory.limits.policy().rank().is_some();
    refuses(
        spec.flags,
        used_bytes,
        maxmemory_bytes,
        evicts,
        shared.memory.evictable(),
    )
    .then_some(OOM_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case: flags, used, maxmemory, policy evicts, keys evictable,
    /// refused.
    #[test]
    fn only_growing_commands_over_the_limit_without_eviction_are_refused() {
        let denyoom = flags::WRITE | flags::DENYOOM;
        let cases: &[(u32, u64, u64, bool, bool, bool)] = &[
            (denyoom, 200, 100, false, true, true),
            (denyoom, 200, 100, true, false, true),
            (denyoom, 200, 100, true, true, false),
            (denyoom, 100, 100, false, false, false),
            (denyoom, 200, 0, false, false, false),
            (flags::WRITE, 200, 100, false, false, false),
            (flags::READONLY, 200, 100, false, false, false),
        ];
        for &(command_flags, used, max, evicts, evictable, want) in cases {
            assert_eq!(
                refuses(command_flags, used, max, evicts, evictable),
                want,
                "{command_flags:#x} {used} {max} {evicts} {evictable}"
            );
        }
    }
}
