//! Linearizability of registers (SET/GET of unique values), key by key.
//!
//! A history of one key is linearizable when its operations can be put in
//! one order that respects real time (an operation that completed before
//! another was invoked comes first) and in which every read returns the
//! value of the latest write before it (nil before any write). The search
//! is Wing and Gong's, as Porcupine runs it: depth first, at each step try
//! every operation that may come next (invoked before the earliest pending
//! completion), and remember every (linearized set, register value) already
//! explored so no state is searched twice.
//!
//! Indeterminate writes complete at infinity and need not be linearized at
//! all (they may never have happened); failed writes and reads that got no
//! answer are left out.
//!
//! Invariants:
//! - A key whose search exceeds its time limit is `unknown`, never valid.
//! - Each key's search is independent (Jepsen's independent keys), which is
//!   what keeps it tractable: the workload spreads operations over keys.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::{Check, Violation};
use crate::history::{Call, Op, Outcome, Workload};

/// One operation of the search.
#[derive(Debug, Clone, Copy)]
struct Entry {
    call_ns: u64,
    /// `u64::MAX` for an indeterminate write.
    return_ns: u64,
    action: Action,
    /// Must be linearized (everything but indeterminate writes).
    required: bool,
    /// Index in the original history, for the report.
    op_index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Write(u64),
    Read(Option<u64>),
}

/// How one key's search ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order exists; the longest prefix found and what could not follow.
    Violation(String),
    /// The time limit ran out.
    Unknown,
}

/// Checks every register key of `ops`.
pub fn check(ops: &[Op], key_time_limit: Duration) -> Check {
    let mut by_key: BTreeMap<&str, Vec<Entry>> = BTreeMap::new();
    let mut checked = 0;
    for (op_index, op) in ops.iter().enumerate() {
        if op.workload != Workload::Register {
            continue;
        }
        let Some(entry) = entry_of(op, op_index) else {
            continue;
        };
        checked += 1;
        by_key.entry(op.key.as_str()).or_default().push(entry);
    }
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for (key, entries) in by_key {
        match search(&entries, ops, key_time_limit) {
            Verdict::Linearizable => {}
            Verdict::Unknown => unknown.push(key.to_string()),
            Verdict::Violation(detail) => violations.push(Violation {
                kind: "nonlinearizable".into(),
                key: key.to_string(),
                detail,
            }),
        }
    }
    Check::new("register-linearizability", violations, unknown, 0, checked)
}

fn entry_of(op: &Op, op_index: usize) -> Option<Entry> {
    let (action, required, return_ns) = match (&op.call, op.outcome) {
        (Call::Write { value }, Outcome::Ok) => (Action::Write(*value), true, op.complete_ns),
        (Call::Write { value }, Outcome::Info) => (Action::Write(*value), false, u64::MAX),
        (Call::Read { value }, Outcome::Ok) => (Action::Read(*value), true, op.complete_ns),
        _ => return None,
    };
    Some(Entry {
        call_ns: op.invoke_ns,
        return_ns,
        action,
        required,
        op_index,
    })
}

/// The Wing-Gong search over one key's entries.
pub fn search_key(ops: &[Op], key_time_limit: Duration) -> Verdict {
    let entries: Vec<Entry> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| entry_of(op, i))
        .collect();
    search(&entries, ops, key_time_limit)
}

fn search(entries: &[Entry], ops: &[Op], time_limit: Duration) -> Verdict {
    let n = entries.len();
    let required_total = entries.iter().filter(|e| e.required).count();
    let words = n.div_ceil(64).max(1);
    let started = Instant::now();
    let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    // Explicit stack of (linearized set, value, required done, next candidate to try).
    let mut stack: Vec<(Vec<u64>, Option<u64>, usize, usize)> = vec![(vec![0; words], None, 0, 0)];
    let mut deepest: (usize, Option<u64>, Vec<u64>) = (0, None, vec![0; words]);
    let mut steps: u64 = 0;
    while let Some(top) = stack.last_mut() {
        steps += 1;
        if steps.is_multiple_of(1024) && started.elapsed() > time_limit {
            return Verdict::Unknown;
        }
        let (done, value, required_done, next) = (top.0.clone(), top.1, top.2, top.3);
        if required_done == required_total {
            return Verdict::Linearizable;
        }
        if required_done > deepest.0 {
            deepest = (required_done, value, done.clone());
        }
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        let min_return = (0..n)
            .filter(|&i| !is_done(i))
            .map(|i| entries[i].return_ns)
            .min()
            .unwrap_or(u64::MAX);
        let candidate = (next..n).find(|&i| {
            !is_done(i) && entries[i].call_ns <= min_return && fits(entries[i].action, value)
        });
        let Some(i) = candidate else {
            stack.pop();
            continue;
        };
        top.3 = i + 1;
        let mut linearized = done;
        linearized[i / 64] |= 1 << (i % 64);
        let after = match entries[i].action {
            Action::Write(v) => Some(v),
            Action::Read(_) => value,
        };
        if seen.insert((linearized.clone(), after)) {
            let required_done = required_done + usize::from(entries[i].required);
            stack.push((linearized, after, required_done, 0));
        }
    }
    Verdict::Violation(explain(entries, ops, &deepest))
}

/// Whether `action` may run on a register holding `value`.
fn fits(action: Action, value: Option<u64>) -> bool {
    match action {
        Action::Write(_) => true,
        Action::Read(read) => read == value,
    }
}

/// Says how far the search got and which operations could not come next.
fn explain(entries: &[Entry], ops: &[Op], deepest: &(usize, Option<u64>, Vec<u64>)) -> String {
    let (count, value, done) = deepest;
    let pending: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| done[i / 64] & (1 << (i % 64)) == 0 && e.required)
        .take(6)
        .map(|(_, e)| describe(&ops[e.op_index]))
        .collect();
    format!(
        "{count} acknowledged operations linearize (register then {}); none of the next can follow: {}",
        value.map_or("nil".to_string(), |v| v.to_string()),
        pending.join("; ")
    )
}

fn describe(op: &Op) -> String {
    let what = match &op.call {
        Call::Write { value } => format!("write {value}"),
        Call::Read { value } => format!(
            "read {}",
            value.map_or("nil".to_string(), |v| v.to_string())
        ),
        other => format!("{other:?}"),
    };
    format!(
        "p{} {what} {:?} [{:.3}s..{:.3}s] node {}",
        op.process,
        op.outcome,
        op.invoke_ns as f64 / 1e9,
        op.complete_ns as f64 / 1e9,
        op.node
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::build::op;

    /// Parses one op per line: `process w|r value|nil ok|info|fail invoke complete`.
    fn history(text: &str) -> Vec<Op> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let value = (f[2] != "nil").then(|| f[2].parse().unwrap());
                let call = match f[1] {
                    "w" => Call::Write {
                        value: value.unwrap(),
                    },
                    "r" => Call::Read { value },
                    other => panic!("unknown action {other}"),
                };
                let outcome = match f[3] {
                    "ok" => Outcome::Ok,
                    "info" => Outcome::Info,
                    "fail" => Outcome::Fail,
                    other => panic!("unknown outcome {other}"),
                };
                let p = f[0].parse().unwrap();
                let (invoke, complete) = (f[4].parse().unwrap(), f[5].parse().unwrap());
                op(p, Workload::Register, "r", call, outcome, invoke, complete)
            })
            .collect()
    }

    const LIMIT: Duration = Duration::from_secs(5);

    /// (name, history, linearizable?)
    const CASES: &[(&str, &str, bool)] = &[
        ("empty_read", "0 r nil ok 0 1", true),
        ("read_before_any_write", "0 r 1 ok 0 1", false),
        ("sequential", "0 w 1 ok 0 1\n0 r 1 ok 2 3", true),
        (
            "stale_read_after_ack",
            "0 w 1 ok 0 1\n0 w 2 ok 2 3\n1 r 1 ok 4 5",
            false,
        ),
        (
            "concurrent_read_may_see_either",
            "0 w 1 ok 0 1\n0 w 2 ok 2 6\n1 r 1 ok 3 4\n2 r 2 ok 3 5",
            true,
        ),
        (
            "reads_go_back_in_time",
            "0 w 1 ok 0 1\n0 w 2 ok 2 10\n1 r 2 ok 3 4\n2 r 1 ok 5 6",
            false,
        ),
        (
            "indeterminate_write_seen_late",
            "0 w 1 ok 0 1\n1 w 2 info 2 3\n2 r 1 ok 4 5\n2 r 2 ok 6 7",
            true,
        ),
        (
            "indeterminate_write_never_seen",
            "0 w 1 ok 0 1\n1 w 2 info 2 3\n2 r 1 ok 4 5",
            true,
        ),
        (
            "failed_write_must_not_be_seen",
            "0 w 1 ok 0 1\n1 w 2 fail 2 3\n2 r 2 ok 4 5",
            false,
        ),
        (
            "lost_write_after_failover",
            "0 w 1 ok 0 1\n0 w 2 ok 2 3\n1 r 2 ok 4 5\n1 r 1 ok 6 7",
            false,
        ),
    ];

    #[test]
    fn known_histories() {
        for (name, text, linearizable) in CASES {
            let verdict = search_key(&history(text), LIMIT);
            assert_eq!(
                verdict == Verdict::Linearizable,
                *linearizable,
                "{name}: {verdict:?}"
            );
        }
    }

    #[test]
    fn violation_names_the_key_and_the_ops() {
        let check = check(&history("0 w 1 ok 0 1\n0 w 2 ok 2 3\n1 r 1 ok 4 5"), LIMIT);
        assert_eq!(check.validity, super::super::Validity::Invalid);
        assert_eq!(check.violations[0].key, "r");
        assert!(check.violations[0].detail.contains("read 1"), "{check:?}");
    }

    #[test]
    fn a_search_out_of_time_is_unknown_not_valid() {
        // Many concurrent writes and a read of a value nobody wrote: the
        // search must try every order of the writes before giving up.
        let mut text = String::new();
        for p in 0..40 {
            text.push_str(&format!("{p} w {p} info 0 1\n"));
        }
        text.push_str("99 r 1000 ok 0 100\n");
        let verdict = search_key(&history(&text), Duration::from_millis(50));
        assert_eq!(verdict, Verdict::Unknown);
    }

    #[test]
    fn long_concurrent_history_is_decided() {
        // 8 processes each write then read their own value, all overlapping.
        let mut text = String::new();
        for p in 0..8u64 {
            let t = p * 10;
            text.push_str(&format!("{p} w {p} ok {t} {}\n", t + 100));
        }
        text.push_str("20 r 7 ok 200 201\n");
        assert_eq!(search_key(&history(&text), LIMIT), Verdict::Linearizable);
    }
}
