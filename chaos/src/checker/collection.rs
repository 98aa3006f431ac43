//! Sets (SADD of unique elements) and lists (RPUSH of unique elements),
//! key by key, against the reads of the whole collection (`ReadAll`).
//!
//! For every acknowledged read:
//! - `lost`: an element whose add was acknowledged before the read was
//!   sent is missing;
//! - `unexpected`: an element nobody tried to add, or whose add failed;
//! - `duplicate` (lists): an element present more than once. The clients
//!   never resend a write whose outcome is unknown, so no retry explains a
//!   duplicate;
//! - `reordered` (lists): an element whose RPUSH was acknowledged before
//!   another's was sent stands after it.
//!
//! Lost writes are counted on the last read of each key (the final read,
//! made after the faults are healed). A key with adds but no read is
//! `unknown`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Check, Violation};
use crate::history::{Call, Op, Outcome, Workload};

/// Checks every key of `workload` (`Set` or `List`).
pub fn check(ops: &[Op], workload: Workload) -> Check {
    assert!(
        matches!(workload, Workload::Set | Workload::List),
        "collection checker is for sets and lists"
    );
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.workload == workload) {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    let mut lost_writes = 0;
    let mut checked = 0;
    for (key, ops) in by_key {
        checked += ops.len() as u64;
        match check_key(key, &ops, workload == Workload::List, &mut violations) {
            Some(lost) => lost_writes += lost,
            None => unknown.push(key.to_string()),
        }
    }
    let name = if workload == Workload::Set {
        "set"
    } else {
        "list"
    };
    Check::new(name, violations, unknown, lost_writes, checked)
}

/// An add: its element, when it was sent and (if acknowledged) answered.
struct Add {
    invoke_ns: u64,
    acked_ns: Option<u64>,
}

/// Returns the writes lost at the last read, or `None` with no read.
fn check_key(key: &str, ops: &[&Op], ordered: bool, out: &mut Vec<Violation>) -> Option<u64> {
    let mut adds: HashMap<u64, Add> = HashMap::new();
    for op in ops {
        let (Call::Add { element } | Call::Append { element }) = op.call else {
            continue;
        };
        if op.outcome != Outcome::Fail {
            let acked_ns = (op.outcome == Outcome::Ok).then_some(op.complete_ns);
            adds.insert(
                element,
                Add {
                    invoke_ns: op.invoke_ns,
                    acked_ns,
                },
            );
        }
    }
    let mut reads: Vec<(&Op, &Vec<u64>)> = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Ok)
        .filter_map(|op| match &op.call {
            Call::ReadAll {
                elements: Some(elements),
            } => Some((*op, elements)),
            _ => None,
        })
        .collect();
    reads.sort_by_key(|(op, _)| op.complete_ns);
    let mut lost_at_last = None;
    for (read, elements) in &reads {
        let present: HashSet<u64> = elements.iter().copied().collect();
        let mut lost: Vec<u64> = adds
            .iter()
            .filter(|(e, add)| {
                add.acked_ns.is_some_and(|t| t < read.invoke_ns) && !present.contains(e)
            })
            .map(|(e, _)| *e)
            .collect();
        lost.sort_unstable();
        if !lost.is_empty() {
            out.push(found(
                "lost",
                key,
                format!(
                    "read at {:.3}s (node {}) misses {} acknowledged elements: {}",
                    read.invoke_ns as f64 / 1e9,
                    read.node,
                    lost.len(),
                    sample(&lost)
                ),
            ));
        }
        lost_at_last = Some(lost.len() as u64);
        let unexpected: Vec<u64> = present
            .iter()
            .copied()
            .filter(|e| !adds.contains_key(e))
            .collect();
        if !unexpected.is_empty() {
            out.push(found(
                "unexpected",
                key,
                format!(
                    "elements never (successfully) added: {}",
                    sample(&unexpected)
                ),
            ));
        }
        if ordered {
            check_list(key, read, elements, &adds, out);
        }
    }
    if adds.is_empty() && reads.is_empty() {
        return Some(0);
    }
    lost_at_last
}

/// Duplicates and real-time order of one list read.
fn check_list(
    key: &str,
    read: &Op,
    elements: &[u64],
    adds: &HashMap<u64, Add>,
    out: &mut Vec<Violation>,
) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for e in elements {
        *counts.entry(*e).or_default() += 1;
    }
    let mut duplicates: Vec<u64> = counts
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(e, _)| e)
        .collect();
    duplicates.sort_unstable();
    if !duplicates.is_empty() {
        out.push(found(
            "duplicate",
            key,
            format!(
                "read at {:.3}s holds twice: {}",
                read.invoke_ns as f64 / 1e9,
                sample(&duplicates)
            ),
        ));
    }
    // Every present element acknowledged before another was sent must
    // stand before it: walk the elements in send order, keeping the
    // furthest position among those acknowledged so far.
    let mut reordered = Vec::new();
    let positions: HashMap<u64, usize> =
        elements.iter().enumerate().map(|(i, e)| (*e, i)).collect();
    let mut acked: Vec<(u64, u64)> = adds
        .iter()
        .filter_map(|(e, a)| a.acked_ns.map(|t| (t, *e)))
        .filter(|(_, e)| positions.contains_key(e))
        .collect();
    acked.sort_unstable();
    // For each present element b, every present a acked before b was sent
    // must stand before b.
    let mut by_send: Vec<(u64, u64)> = elements
        .iter()
        .filter_map(|e| adds.get(e).map(|a| (a.invoke_ns, *e)))
        .collect();
    by_send.sort_unstable();
    let mut latest_position = None::<(usize, u64)>;
    let mut next = 0;
    for (sent, b) in by_send {
        while next < acked.len() && acked[next].0 < sent {
            let a = acked[next].1;
            let position = positions[&a];
            if latest_position.is_none_or(|(p, _)| position > p) {
                latest_position = Some((position, a));
            }
            next += 1;
        }
        if let Some((position, a)) = latest_position {
            if position > positions[&b] {
                reordered.push(format!("{a} (acked before {b} was sent) stands after it"));
            }
        }
    }
    if !reordered.is_empty() {
        reordered.truncate(5);
        out.push(found("reordered", key, reordered.join("; ")));
    }
}

fn sample(elements: &[u64]) -> String {
    let shown: Vec<String> = elements.iter().take(10).map(u64::to_string).collect();
    let more = elements.len().saturating_sub(10);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn found(kind: &str, key: &str, detail: String) -> Violation {
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

    /// One op per line: `process add ELEMENT ok|info|fail invoke complete`
    /// or `process read E1,E2,... ok invoke complete` (`-` for empty).
    fn history(text: &str, workload: Workload) -> Vec<Op> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let call = match (f[1], workload) {
                    ("add", Workload::Set) => Call::Add {
                        element: f[2].parse().unwrap(),
                    },
                    ("add", _) => Call::Append {
                        element: f[2].parse().unwrap(),
                    },
                    ("read", _) => Call::ReadAll {
                        elements: Some(if f[2] == "-" {
                            vec![]
                        } else {
                            f[2].split(',').map(|e| e.parse().unwrap()).collect()
                        }),
                    },
                    (other, _) => panic!("unknown action {other}"),
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
                op(p, workload, "k", call, outcome, i, c)
            })
            .collect()
    }

    /// (name, workload, history, violation kind or "" for valid, lost)
    const CASES: &[(&str, Workload, &str, &str, u64)] = &[
        (
            "set_ok",
            Workload::Set,
            "0 add 1 ok 0 1\n1 add 2 info 0 1\n2 read 1 ok 2 3",
            "",
            0,
        ),
        (
            "set_lost",
            Workload::Set,
            "0 add 1 ok 0 1\n0 add 2 ok 2 3\n2 read 2 ok 4 5",
            "lost",
            1,
        ),
        (
            "set_unexpected",
            Workload::Set,
            "0 add 1 fail 0 1\n2 read 1 ok 2 3",
            "unexpected",
            0,
        ),
        (
            "set_never_sent",
            Workload::Set,
            "2 read 7 ok 2 3",
            "unexpected",
            0,
        ),
        (
            "list_ok",
            Workload::List,
            "0 add 1 ok 0 1\n1 add 2 ok 2 3\n2 read 1,2 ok 4 5",
            "",
            0,
        ),
        (
            "list_concurrent_any_order",
            Workload::List,
            "0 add 1 ok 0 5\n1 add 2 ok 1 3\n2 read 2,1 ok 6 7",
            "",
            0,
        ),
        (
            "list_duplicate",
            Workload::List,
            "0 add 1 ok 0 1\n2 read 1,1 ok 4 5",
            "duplicate",
            0,
        ),
        (
            "list_reordered",
            Workload::List,
            "0 add 1 ok 0 1\n1 add 2 ok 2 3\n2 read 2,1 ok 4 5",
            "reordered",
            0,
        ),
        (
            "list_lost",
            Workload::List,
            "0 add 1 ok 0 1\n1 add 2 ok 2 3\n2 read 2 ok 4 5",
            "lost",
            1,
        ),
        (
            "list_indeterminate_absent",
            Workload::List,
            "0 add 1 info 0 1\n2 read - ok 4 5",
            "",
            0,
        ),
    ];

    #[test]
    fn known_histories() {
        for (name, workload, text, kind, lost) in CASES {
            let check = check(&history(text, *workload), *workload);
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

    #[test]
    fn adds_without_a_read_are_unknown() {
        let check = check(&history("0 add 1 ok 0 1", Workload::Set), Workload::Set);
        assert_eq!(check.validity, Validity::Unknown);
    }
}
