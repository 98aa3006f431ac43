//! Stale reads (`CONSISTENCY stale`, served by any node from its own
//! state): the weaker guarantee of docs/raft.md, checked on its own.
//!
//! The stale readers read a counter that only ever grows (INCR), so:
//! - `stale-regression`: on one connection, a read returned less than an
//!   earlier read on that same connection (a stale read is monotonic on
//!   one node; a reconnect starts a new connection and may go back);
//! - `stale-unexpected`: a read returned more than the INCRs sent before it
//!   completed, which no prefix of the committed log can hold.

use std::collections::BTreeMap;

use super::{Check, Violation};
use crate::history::{Call, Op, Outcome, Workload};

/// Checks the stale counter reads of `ops`.
pub fn check(ops: &[Op]) -> Check {
    let mut connections: BTreeMap<(&str, u64, u64), Vec<&Op>> = BTreeMap::new();
    let mut incrs: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.workload == Workload::Counter) {
        match op.call {
            Call::CounterRead {
                stale: true,
                connection,
                ..
            } if op.outcome == Outcome::Ok => connections
                .entry((op.key.as_str(), op.process, connection))
                .or_default()
                .push(op),
            Call::Incr { .. } if op.outcome != Outcome::Fail => {
                incrs.entry(op.key.as_str()).or_default().push(op.invoke_ns)
            }
            _ => {}
        }
    }
    for times in incrs.values_mut() {
        times.sort_unstable();
    }
    let mut violations = Vec::new();
    let mut checked = 0;
    for ((key, process, connection), mut reads) in connections {
        reads.sort_by_key(|op| op.invoke_ns);
        checked += reads.len() as u64;
        let mut highest: Option<(i64, &Op)> = None;
        for read in reads {
            let Call::CounterRead { value, .. } = read.call else {
                unreachable!("filtered above")
            };
            let value = value.unwrap_or(0);
            if let Some((before, earlier)) = highest {
                if value < before {
                    violations.push(Violation {
                        kind: "stale-regression".into(),
                        key: key.into(),
                        detail: format!(
                            "process {process} connection {connection} on node {}: read {value} at {:.3}s after {before} at {:.3}s",
                            read.node,
                            read.invoke_ns as f64 / 1e9,
                            earlier.invoke_ns as f64 / 1e9
                        ),
                    });
                }
            }
            if highest.is_none_or(|(h, _)| value > h) {
                highest = Some((value, read));
            }
            let sent = incrs
                .get(key)
                .map_or(0, |times| times.partition_point(|t| *t < read.complete_ns));
            if value > sent as i64 {
                violations.push(Violation {
                    kind: "stale-unexpected".into(),
                    key: key.into(),
                    detail: format!(
                        "a stale read saw {value}, but only {sent} INCRs had been sent"
                    ),
                });
            }
        }
    }
    Check::new("stale-reads", violations, Vec::new(), 0, checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::build::op;
    use crate::checker::Validity;

    fn read(process: u64, connection: u64, value: i64, at: u64) -> Op {
        let call = Call::CounterRead {
            value: Some(value),
            stale: true,
            connection,
        };
        op(
            process,
            Workload::Counter,
            "c",
            call,
            Outcome::Ok,
            at,
            at + 1,
        )
    }

    fn incrs(count: u64) -> Vec<Op> {
        (0..count)
            .map(|i| {
                let call = Call::Incr {
                    value: Some(i as i64 + 1),
                };
                op(9, Workload::Counter, "c", call, Outcome::Ok, i, i)
            })
            .collect()
    }

    #[test]
    fn monotonic_on_a_connection_passes() {
        let mut ops = incrs(5);
        ops.extend([read(1, 0, 1, 10), read(1, 0, 3, 20), read(1, 0, 3, 30)]);
        assert_eq!(check(&ops).validity, Validity::Valid);
    }

    #[test]
    fn going_back_on_one_connection_is_caught() {
        let mut ops = incrs(5);
        ops.extend([read(1, 0, 3, 10), read(1, 0, 2, 20)]);
        let check = check(&ops);
        assert_eq!(check.violations[0].kind, "stale-regression", "{check:?}");
    }

    #[test]
    fn a_new_connection_may_go_back() {
        let mut ops = incrs(5);
        ops.extend([read(1, 0, 3, 10), read(1, 1, 2, 20)]);
        assert_eq!(check(&ops).validity, Validity::Valid);
    }

    #[test]
    fn a_value_never_written_is_caught() {
        let mut ops = incrs(2);
        ops.push(read(1, 0, 7, 10));
        assert_eq!(check(&ops).violations[0].kind, "stale-unexpected");
    }
}
