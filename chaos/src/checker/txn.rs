//! List-append transactions (MULTI, RPUSH/LRANGE, EXEC), checked the way
//! Elle does: infer each key's version order from the reads, build the
//! dependency graph between transactions, and look for cycles.
//!
//! Every append writes a value unique in the run, so a read of a list
//! names the transactions that wrote each element, and two reads of one key
//! must be prefixes of one another: the longest read is the key's version
//! order. Between committed transactions (acknowledged ones, and
//! indeterminate ones whose appends someone read) the edges are:
//! - `ww`: the writer of a key's element i precedes the writer of i + 1;
//! - `wr`: the writer of the last element a read saw precedes the reader;
//! - `rw`: a reader precedes the writer of the first element it did not see;
//! - `rt`: a transaction acknowledged before another was sent precedes it
//!   (transitively reduced), since MULTI on Raft promises strict
//!   serializability.
//!
//! A cycle is an anomaly, named as Elle names them: only ww edges `G0`;
//! ww and wr `G1c`; one rw `G-single`; more `G2`; with `-realtime` when it
//! needs an rt edge. Found without a cycle: `G1a` (a read of an element
//! whose append failed), `garbage-read` (an element nobody appended),
//! `duplicate-elements`, `incompatible-order` (two reads of a key that are
//! not prefixes of one another), and `internal` (a read that does not end
//! with the transaction's own earlier appends), and `missing-append` (a
//! read without an append acknowledged before the read was sent).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::{Check, Violation};
use crate::history::{Call, Mop, Op, Outcome, Workload};

/// Edge kinds, as bits so one pair of transactions can carry several.
const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;
const RT: u8 = 8;

/// One transaction of the history.
struct Txn<'a> {
    op: &'a Op,
    mops: &'a [Mop],
}

/// Checks every transaction of `ops`.
pub fn check(ops: &[Op]) -> Check {
    let txns: Vec<Txn> = ops
        .iter()
        .filter(|op| op.workload == Workload::Txn)
        .filter_map(|op| match &op.call {
            Call::Txn { mops } => Some(Txn { op, mops }),
            _ => None,
        })
        .collect();
    let mut violations = Vec::new();
    let mut writer: HashMap<(&str, u64), usize> = HashMap::new();
    let mut aborted: HashSet<(&str, u64)> = HashSet::new();
    for (t, txn) in txns.iter().enumerate() {
        for mop in txn.mops {
            if let Mop::Append { key, value } = mop {
                if txn.op.outcome == Outcome::Fail {
                    aborted.insert((key, *value));
                } else {
                    writer.insert((key, *value), t);
                }
            }
        }
    }
    // Reads of committed transactions: (txn, key, full list, external prefix length).
    let mut reads: Vec<(usize, &str, &[u64], usize)> = Vec::new();
    for (t, txn) in txns.iter().enumerate() {
        if txn.op.outcome != Outcome::Ok {
            continue;
        }
        let mut own: HashMap<&str, Vec<u64>> = HashMap::new();
        for mop in txn.mops {
            match mop {
                Mop::Append { key, value } => own.entry(key).or_default().push(*value),
                Mop::Read {
                    key,
                    values: Some(values),
                } => {
                    let mine = own.get(key.as_str()).map_or(&[][..], Vec::as_slice);
                    if !values.ends_with(mine) {
                        violations.push(found(
                            "internal",
                            key,
                            format!(
                                "p{} read {values:?} after appending {mine:?} itself",
                                txn.op.process
                            ),
                        ));
                        continue;
                    }
                    check_elements(key, values, &writer, &aborted, &mut violations);
                    reads.push((t, key, values, values.len() - mine.len()));
                }
                Mop::Read { values: None, .. } => {}
            }
        }
    }
    let orders = version_orders(&reads, &writer, &mut violations);
    lost_appends(&txns, &reads, &mut violations);
    let committed: HashSet<usize> = txns
        .iter()
        .enumerate()
        .filter(|(_, txn)| txn.op.outcome == Outcome::Ok)
        .map(|(t, _)| t)
        .chain(orders.values().flatten().filter_map(|(_, w)| *w))
        .collect();
    let mut graph = Graph::default();
    for order in orders.values() {
        for pair in order.windows(2) {
            if let ((_, Some(a)), (_, Some(b))) = (pair[0], pair[1]) {
                graph.add(a, b, WW);
            }
        }
    }
    for &(t, key, values, external) in &reads {
        if external > 0 {
            if let Some(&w) = writer.get(&(key, values[external - 1])) {
                graph.add(w, t, WR);
            }
        }
        if let Some(&(_, Some(next))) = orders.get(key).and_then(|o| o.get(external)) {
            graph.add(t, next, RW);
        }
    }
    add_realtime(&txns, &committed, &mut graph);
    for cycle in graph.cycles() {
        violations.push(describe_cycle(&cycle, &graph, &txns));
    }
    Check::new(
        "list-append-txn",
        violations,
        Vec::new(),
        0,
        txns.len() as u64,
    )
}

/// `missing-append`: an append of a transaction acknowledged before a read
/// was sent is missing from that read (no cycle shows it: the append
/// never gets a place in the version order).
fn lost_appends(txns: &[Txn], reads: &[(usize, &str, &[u64], usize)], out: &mut Vec<Violation>) {
    let mut acked: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
    for txn in txns.iter().filter(|t| t.op.outcome == Outcome::Ok) {
        for mop in txn.mops {
            if let Mop::Append { key, value } = mop {
                acked
                    .entry(key)
                    .or_default()
                    .push((txn.op.complete_ns, *value));
            }
        }
    }
    for &(t, key, values, _) in reads {
        let sent = txns[t].op.invoke_ns;
        let present: HashSet<u64> = values.iter().copied().collect();
        let missing: Vec<u64> = acked
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(done, v)| *done < sent && !present.contains(v))
            .map(|(_, v)| *v)
            .collect();
        if !missing.is_empty() {
            out.push(found(
                "missing-append",
                key,
                format!(
                    "{} read {values:?} without {missing:?}, acknowledged before it was sent",
                    txn_name(&txns[t])
                ),
            ));
        }
    }
}

/// G1a, garbage and duplicates within one read.
fn check_elements(
    key: &str,
    values: &[u64],
    writer: &HashMap<(&str, u64), usize>,
    aborted: &HashSet<(&str, u64)>,
    out: &mut Vec<Violation>,
) {
    let mut seen = HashSet::new();
    for v in values {
        if !seen.insert(*v) {
            out.push(found(
                "duplicate-elements",
                key,
                format!("{v} twice in {values:?}"),
            ));
        }
        if aborted.contains(&(key, *v)) {
            out.push(found(
                "G1a",
                key,
                format!("read {v}, appended by a failed transaction"),
            ));
        } else if !writer.contains_key(&(key, *v)) {
            out.push(found(
                "garbage-read",
                key,
                format!("read {v}, which nobody appended"),
            ));
        }
    }
}

/// Each key's version order: the longest read, checked against every
/// other read of the key. Each element comes with its writer, if known.
fn version_orders<'a>(
    reads: &[(usize, &'a str, &'a [u64], usize)],
    writer: &HashMap<(&str, u64), usize>,
    out: &mut Vec<Violation>,
) -> BTreeMap<&'a str, Vec<(u64, Option<usize>)>> {
    let mut longest: BTreeMap<&str, &[u64]> = BTreeMap::new();
    for &(_, key, values, _) in reads {
        let entry = longest.entry(key).or_insert(values);
        if values.len() > entry.len() {
            *entry = values;
        }
    }
    for &(_, key, values, _) in reads {
        let order = longest[key];
        if !order.starts_with(values) {
            out.push(found(
                "incompatible-order",
                key,
                format!("read {values:?} is not a prefix of read {order:?}"),
            ));
        }
    }
    longest
        .into_iter()
        .map(|(key, order)| {
            let order = order
                .iter()
                .map(|v| (*v, writer.get(&(key, *v)).copied()))
                .collect();
            (key, order)
        })
        .collect()
}

/// Real-time edges between acknowledged transactions, transitively
/// reduced: A -> B when A completed before B was sent and no C fits
/// between them (A completed before C was sent, C completed before B was).
fn add_realtime(txns: &[Txn], committed: &HashSet<usize>, graph: &mut Graph) {
    let mut acked: Vec<usize> = (0..txns.len())
        .filter(|t| committed.contains(t) && txns[*t].op.outcome == Outcome::Ok)
        .collect();
    acked.sort_by_key(|&t| txns[t].op.complete_ns);
    let completes: Vec<u64> = acked.iter().map(|&t| txns[t].op.complete_ns).collect();
    // prefix_invoke_max[i]: the latest send among the first i completed.
    let mut prefix_invoke_max = vec![0u64; acked.len() + 1];
    for (i, &t) in acked.iter().enumerate() {
        prefix_invoke_max[i + 1] = prefix_invoke_max[i].max(txns[t].op.invoke_ns);
    }
    for &b in &acked {
        let sent = txns[b].op.invoke_ns;
        // Those completed before b was sent are a prefix of `acked`; of
        // them, only those completed after every other one's send are not
        // implied by a chain through another.
        let before = completes.partition_point(|&c| c < sent);
        if before == 0 {
            continue;
        }
        let barrier = prefix_invoke_max[before];
        let first = completes[..before].partition_point(|&c| c < barrier);
        for &a in &acked[first..before] {
            graph.add(a, b, RT);
        }
    }
}

/// The dependency graph: edge kinds per ordered pair.
#[derive(Default)]
struct Graph {
    edges: BTreeMap<usize, BTreeMap<usize, u8>>,
}

impl Graph {
    fn add(&mut self, from: usize, to: usize, kind: u8) {
        if from != to {
            *self.edges.entry(from).or_default().entry(to).or_default() |= kind;
        }
    }

    fn kinds(&self, from: usize, to: usize) -> u8 {
        self.edges
            .get(&from)
            .and_then(|m| m.get(&to))
            .copied()
            .unwrap_or(0)
    }

    /// One short cycle per strongly connected component with a cycle.
    fn cycles(&self) -> Vec<Vec<usize>> {
        strongly_connected(&self.edges)
            .into_iter()
            .filter(|c| c.len() > 1)
            .filter_map(|component| self.cycle_in(&component))
            .collect()
    }

    /// The shortest cycle through the component's first node (BFS inside it).
    fn cycle_in(&self, component: &[usize]) -> Option<Vec<usize>> {
        let inside: HashSet<usize> = component.iter().copied().collect();
        let start = component[0];
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for &next in self.edges.get(&node).into_iter().flat_map(|m| m.keys()) {
                if !inside.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut cycle = vec![node];
                    let mut at = node;
                    while at != start {
                        at = parent[&at];
                        cycle.push(at);
                    }
                    cycle.reverse();
                    return Some(cycle);
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(next) {
                    slot.insert(node);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// Tarjan's algorithm, iterative.
fn strongly_connected(edges: &BTreeMap<usize, BTreeMap<usize, u8>>) -> Vec<Vec<usize>> {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut low: HashMap<usize, usize> = HashMap::new();
    let mut on_stack: HashSet<usize> = HashSet::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    let succ = |n: usize| -> Vec<usize> {
        edges
            .get(&n)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    };
    for &root in edges.keys() {
        if index.contains_key(&root) {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
        index.insert(root, counter);
        low.insert(root, counter);
        counter += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some((node, next, at)) = work.last_mut() {
            let node = *node;
            if let Some(&w) = next.get(*at) {
                *at += 1;
                if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(w) {
                    slot.insert(counter);
                    low.insert(w, counter);
                    counter += 1;
                    stack.push(w);
                    on_stack.insert(w);
                    work.push((w, succ(w), 0));
                } else if on_stack.contains(&w) {
                    let l = low[&node].min(index[&w]);
                    low.insert(node, l);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _, _)) = work.last() {
                let l = low[parent].min(low[&node]);
                low.insert(*parent, l);
            }
            if low[&node] == index[&node] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("node is on the stack");
                    on_stack.remove(&w);
                    component.push(w);
                    if w == node {
                        break;
                    }
                }
                component.sort_unstable();
                components.push(component);
            }
        }
    }
    components
}

/// Names a cycle's anomaly and lists its transactions and edges.
fn describe_cycle(cycle: &[usize], graph: &Graph, txns: &[Txn]) -> Violation {
    let mut rw = 0;
    let mut wr = false;
    let mut rt = false;
    let mut steps = Vec::new();
    for (i, &from) in cycle.iter().enumerate() {
        let to = cycle[(i + 1) % cycle.len()];
        let kinds = graph.kinds(from, to);
        // Name each edge by the weakest dependency it carries.
        let name = if kinds & WW != 0 {
            "ww"
        } else if kinds & WR != 0 {
            wr = true;
            "wr"
        } else if kinds & RW != 0 {
            rw += 1;
            "rw"
        } else {
            rt = true;
            "rt"
        };
        steps.push(format!("{} -{name}-> ", txn_name(&txns[from])));
    }
    let mut kind = match (rw, wr) {
        (0, false) => "G0",
        (0, true) => "G1c",
        (1, _) => "G-single",
        _ => "G2",
    }
    .to_string();
    if rt {
        kind.push_str("-realtime");
    }
    let first = txn_name(&txns[cycle[0]]);
    Violation {
        kind,
        key: String::new(),
        detail: format!("{}{first}", steps.concat()),
    }
}

fn txn_name(txn: &Txn) -> String {
    let mops: Vec<String> = txn
        .mops
        .iter()
        .map(|m| match m {
            Mop::Append { key, value } => format!("append {key} {value}"),
            Mop::Read { key, values } => format!("read {key} {values:?}"),
        })
        .collect();
    format!(
        "[p{} {:?} {:.3}s..{:.3}s: {}]",
        txn.op.process,
        txn.op.outcome,
        txn.op.invoke_ns as f64 / 1e9,
        txn.op.complete_ns as f64 / 1e9,
        mops.join(", ")
    )
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

    /// One transaction per line: `process ok|info|fail invoke complete: mop, mop`
    /// with each mop `a KEY VALUE` or `r KEY V1 V2 ...` (`r KEY` alone is empty).
    fn history(text: &str) -> Vec<Op> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let (head, body) = line.split_once(':').unwrap();
                let h: Vec<&str> = head.split_whitespace().collect();
                let mops = body
                    .split(',')
                    .map(|m| {
                        let f: Vec<&str> = m.split_whitespace().collect();
                        match f[0] {
                            "a" => Mop::Append {
                                key: f[1].into(),
                                value: f[2].parse().unwrap(),
                            },
                            "r" => Mop::Read {
                                key: f[1].into(),
                                values: Some(f[2..].iter().map(|v| v.parse().unwrap()).collect()),
                            },
                            other => panic!("unknown mop {other}"),
                        }
                    })
                    .collect();
                let outcome = match h[1] {
                    "ok" => Outcome::Ok,
                    "info" => Outcome::Info,
                    _ => Outcome::Fail,
                };
                let (p, i, c) = (
                    h[0].parse().unwrap(),
                    h[2].parse().unwrap(),
                    h[3].parse().unwrap(),
                );
                op(p, Workload::Txn, "", Call::Txn { mops }, outcome, i, c)
            })
            .collect()
    }

    /// (name, history, expected anomaly or "" for valid)
    const CASES: &[(&str, &str, &str)] = &[
        (
            "serial",
            "1 ok 0 1: a x 1, a y 1\n2 ok 2 3: r x 1, a x 2\n3 ok 4 5: r x 1 2, r y 1",
            "",
        ),
        ("own_appends_visible", "1 ok 0 1: a x 1, r x 1", ""),
        (
            "concurrent_either_order",
            "1 ok 0 10: a x 1\n2 ok 0 10: a x 2\n3 ok 11 12: r x 2 1",
            "",
        ),
        (
            "indeterminate_seen",
            "1 info 0 1: a x 1\n2 ok 2 3: r x 1",
            "",
        ),
        (
            "indeterminate_unseen",
            "1 info 0 1: a x 1\n2 ok 2 3: r x",
            "",
        ),
        (
            "g0_write_cycle",
            "1 ok 0 10: a x 1, a y 1\n2 ok 0 10: a x 2, a y 2\n3 ok 11 12: r x 1 2, r y 2 1",
            "G0",
        ),
        (
            "g1c_circular_information_flow",
            "1 ok 0 10: a x 1, r y 1\n2 ok 0 10: a y 1, r x 1",
            "G1c",
        ),
        (
            "g_single_read_skew",
            "1 ok 0 10: a x 1, a y 1\n2 ok 0 10: r x, r y 1\n3 ok 20 21: r x 1",
            "G-single",
        ),
        (
            "g1a_aborted_read",
            "1 fail 0 1: a x 1\n2 ok 2 3: r x 1",
            "G1a",
        ),
        ("garbage_read", "2 ok 2 3: r x 9", "garbage-read"),
        (
            "duplicate",
            "1 ok 0 1: a x 1\n2 ok 2 3: r x 1 1",
            "duplicate-elements",
        ),
        (
            "incompatible_orders",
            "1 ok 0 10: a x 1\n2 ok 0 10: a x 2\n3 ok 11 12: r x 1 2\n4 ok 11 12: r x 2 1",
            "incompatible-order",
        ),
        (
            "stale_read_realtime",
            "1 ok 0 1: a x 1\n2 ok 2 3: r x\n3 ok 4 5: r x 1",
            "G-single-realtime|missing-append",
        ),
        (
            "lost_append_realtime",
            "1 ok 0 1: a x 1\n2 ok 2 3: a x 2\n3 ok 4 5: r x 2",
            "missing-append",
        ),
        ("internal", "1 ok 0 1: a x 1, r x", "internal"),
    ];

    #[test]
    fn known_histories() {
        for (name, text, kinds) in CASES {
            let check = check(&history(text));
            if kinds.is_empty() {
                assert_eq!(check.validity, Validity::Valid, "{name}: {check:?}");
                continue;
            }
            for kind in kinds.split('|') {
                assert!(
                    check.violations.iter().any(|v| v.kind == kind),
                    "{name}: expected {kind}, got {:?}",
                    check.violations
                );
            }
        }
    }
}
