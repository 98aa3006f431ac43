//! Counters (INCR), key by key.
//!
//! Every INCR that was applied added exactly one, and each reply is the
//! value right after its own increment, so:
//! - no two acknowledged INCRs got the same reply (`duplicate-incr`);
//! - a reply lies in 1..=(acked + indeterminate) (`impossible-incr`);
//! - a linearizable read (`CounterRead`, not stale) returns at least the
//!   number of INCRs acknowledged before it was sent and at least every
//!   reply acknowledged before it was sent (`lost` otherwise: the count of
//!   missing increments is added to the lost writes), and at most the
//!   number of INCRs sent before it completed (`unexpected`).
//!
//! Stale reads are left to [`super::stale`].

use std::collections::BTreeMap;

use super::{Check, Violation};
use crate::history::{Call, Op, Outcome, Workload};

/// Checks every counter key of `ops`.
pub fn check(ops: &[Op]) -> Check {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.workload == Workload::Counter) {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut violations = Vec::new();
    let mut lost_writes = 0;
    let mut checked = 0;
    for (key, ops) in by_key {
        checked += ops.len() as u64;
        lost_writes += check_key(key, &ops, &mut violations);
    }
    Check::new("counter", violations, Vec::new(), lost_writes, checked)
}

/// Checks one key; returns the increments lost (the largest shortfall seen
/// by a read).
fn check_key(key: &str, ops: &[&Op], violations: &mut Vec<Violation>) -> u64 {
    let incrs: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| matches!(op.call, Call::Incr { .. }))
        .collect();
    let acked: Vec<(u64, i64)> = incrs
        .iter()
        .filter(|op| op.outcome == Outcome::Ok)
        .filter_map(|op| match op.call {
            Call::Incr { value: Some(v) } => Some((op.complete_ns, v)),
            _ => None,
        })
        .collect();
    let possible = incrs
        .iter()
        .filter(|op| op.outcome != Outcome::Fail)
        .count() as i64;
    let mut replies: BTreeMap<i64, usize> = BTreeMap::new();
    for &(_, v) in &acked {
        *replies.entry(v).or_default() += 1;
        if v < 1 || v > possible {
            violations.push(violation(
                "impossible-incr",
                key,
                format!("an INCR replied {v}, but only {possible} INCRs may have been applied"),
            ));
        }
    }
    for (v, count) in replies.into_iter().filter(|(_, c)| *c > 1) {
        violations.push(violation(
            "duplicate-incr",
            key,
            format!("{count} acknowledged INCRs all replied {v}"),
        ));
    }
    let mut lost = 0;
    for read in ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let Call::CounterRead {
            value,
            stale: false,
            ..
        } = read.call
        else {
            continue;
        };
        let seen = value.unwrap_or(0);
        let before: Vec<i64> = acked
            .iter()
            .filter(|(done, _)| *done < read.invoke_ns)
            .map(|&(_, v)| v)
            .collect();
        let floor = (before.len() as i64).max(before.iter().copied().max().unwrap_or(0));
        let ceiling = incrs
            .iter()
            .filter(|op| op.outcome != Outcome::Fail && op.invoke_ns < read.complete_ns)
            .count() as i64;
        if seen < floor {
            lost = lost.max((floor - seen) as u64);
            violations.push(violation(
                "lost",
                key,
                format!(
                    "a read at {:.3}s (node {}) saw {seen}, but INCRs acknowledged before it reached {floor}",
                    read.invoke_ns as f64 / 1e9,
                    read.node
                ),
            ));
        }
        if seen > ceiling {
            violations.push(violation(
                "unexpected",
                key,
                format!("a read saw {seen}, but only {ceiling} INCRs had been sent"),
            ));
        }
    }
    lost
}

fn violation(kind: &str, key: &str, detail: String) -> Violation {
    Violation {
        kind: kind.into(),
        key: key.into(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::build::op;
    use crate::checker::Validity;

    /// One op per line: `process incr|read value|nil|- ok|info|fail invoke complete`.
    fn history(text: &str) -> Vec<Op> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let value = f[2].parse().ok();
                let call = match f[1] {
                    "incr" => Call::Incr { value },
                    "read" => Call::CounterRead {
                        value,
                        stale: false,
                        connection: 0,
                    },
                    other => panic!("unknown action {other}"),
                };
                let outcome = match f[3] {
                    "ok" => Outcome::Ok,
                    "info" => Outcome::Info,
                    _ => Outcome::Fail,
                };
                let (p, i, c) = (
                    f[0].parse().unwrap(),
                    f[4].parse().unwrap(),
                    f[5].parse().unwrap(),
                );
                op(p, Workload::Counter, "c", call, outcome, i, c)
            })
            .collect()
    }

    /// (name, history, expected violation kind or "" for valid, lost writes)
    const CASES: &[(&str, &str, &str, u64)] = &[
        (
            "plain",
            "0 incr 1 ok 0 1\n1 incr 2 ok 2 3\n0 read 2 ok 4 5",
            "",
            0,
        ),
        (
            "indeterminate_may_or_may_not_count",
            "0 incr 1 ok 0 1\n1 incr - info 2 3\n2 read 1 ok 4 5\n2 read 2 ok 6 7",
            "",
            0,
        ),
        (
            "duplicate_reply",
            "0 incr 1 ok 0 1\n1 incr 1 ok 2 3",
            "duplicate-incr",
            0,
        ),
        ("reply_too_big", "0 incr 5 ok 0 1", "impossible-incr", 0),
        (
            "lost_after_crash",
            "0 incr 1 ok 0 1\n0 incr 2 ok 2 3\n0 incr 3 ok 4 5\n1 read 1 ok 6 7",
            "lost",
            2,
        ),
        ("read_of_nothing_sent", "0 read 1 ok 0 1", "unexpected", 0),
        (
            "failed_incr_not_counted",
            "0 incr - fail 0 1\n1 read 1 ok 2 3",
            "unexpected",
            0,
        ),
    ];

    #[test]
    fn known_histories() {
        for (name, text, kind, lost) in CASES {
            let check = check(&history(text));
            if kind.is_empty() {
                assert_eq!(check.validity, Validity::Valid, "{name}: {check:?}");
            } else {
                assert!(
                    check.violations.iter().any(|v| v.kind == *kind),
                    "{name}: {check:?}"
                );
            }
            assert_eq!(check.lost_writes, *lost, "{name}");
        }
    }
}
