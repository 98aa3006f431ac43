//! What a run found: the summary printed on stdout and written, with the
//! checkers' findings, to `report.json`.
//!
//! Unavailability of a fault: the longest stretch, from the fault's start
//! until the first acknowledged write after it was healed, with no
//! acknowledged write at all (looking at most [`RECOVERY_WINDOW`] past the
//! heal). Per fault kind the report gives the worst and the total.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checker::{Check, Validity};
use crate::history::{Op, Outcome};
use crate::nemesis::Band;

/// How long after a heal the unavailability of a fault may last.
const RECOVERY_WINDOW: u64 = 30_000_000_000;

/// Operation counts by outcome.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub indeterminate: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        self.ops += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.indeterminate += 1,
        }
    }
}

/// Unavailability of one fault kind, in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Unavailability {
    pub worst_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub nodes: usize,
    pub duration_s: f64,
    pub all: Counts,
    pub by_workload: BTreeMap<String, Counts>,
    /// Faults applied, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Faults that could not be applied (no leader, no tmpfs...), by kind.
    pub faults_skipped: BTreeMap<String, u64>,
    pub lost_writes: u64,
    pub violations: u64,
    /// Checker units (keys) that could not be decided in time.
    pub unknown: u64,
    pub unavailability: BTreeMap<String, Unavailability>,
    pub validity: Validity,
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub checks: Vec<Check>,
    pub faults: Vec<Band>,
    /// (ns since start, leader id or 0), one sample every few hundred ms.
    pub leaders: Vec<(u64, u64)>,
    /// Scripts (EVAL) are not exercised: redraft has no scripting yet.
    pub not_covered: Vec<String>,
}

pub fn summarize(
    seed: u64,
    nodes: usize,
    ops: &[Op],
    bands: &[Band],
    checks: &[Check],
    run_ns: u64,
) -> Summary {
    let mut all = Counts::default();
    let mut by_workload: BTreeMap<String, Counts> = BTreeMap::new();
    for op in ops {
        all.add(op.outcome);
        let name = serde_json::to_value(op.workload)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        by_workload
            .entry(name.unwrap_or_default())
            .or_default()
            .add(op.outcome);
    }
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut faults_skipped: BTreeMap<String, u64> = BTreeMap::new();
    for band in bands {
        let map = if band.applied {
            &mut faults
        } else {
            &mut faults_skipped
        };
        *map.entry(band.fault.name()).or_default() += 1;
    }
    let mut writes: Vec<u64> = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Ok && op.is_write())
        .map(|op| op.complete_ns)
        .collect();
    writes.sort_unstable();
    let mut unavailability: BTreeMap<String, Unavailability> = BTreeMap::new();
    for band in bands.iter().filter(|b| b.applied) {
        let gap = longest_gap(&writes, band.start_ns, band.end_ns, run_ns);
        let entry = unavailability.entry(band.fault.name()).or_default();
        entry.worst_ms = entry.worst_ms.max(gap / 1_000_000);
        entry.total_ms += gap / 1_000_000;
    }
    let worst = checks
        .iter()
        .map(|c| c.validity)
        .max()
        .unwrap_or(Validity::Valid);
    Summary {
        seed,
        nodes,
        duration_s: run_ns as f64 / 1e9,
        all,
        by_workload,
        faults,
        faults_skipped,
        lost_writes: checks.iter().map(|c| c.lost_writes).sum(),
        violations: checks.iter().map(|c| c.violations.len() as u64).sum(),
        unknown: checks.iter().map(|c| c.unknown.len() as u64).sum(),
        unavailability,
        validity: worst,
    }
}

/// The longest stretch without an acknowledged write from `start` to the
/// first acknowledged write after `end` (sorted `writes`).
fn longest_gap(writes: &[u64], start: u64, end: u64, run_ns: u64) -> u64 {
    let limit = (end + RECOVERY_WINDOW).min(run_ns.max(end));
    let mut last = start;
    let mut longest = 0;
    let from = writes.partition_point(|t| *t <= start);
    for &t in writes[from..].iter().take_while(|t| **t <= limit) {
        longest = longest.max(t - last);
        last = t;
        if t > end {
            return longest;
        }
    }
    longest.max(limit - last)
}

/// The summary as the lines printed on stdout.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let s = summary;
    out.push_str(&format!(
        "chaos: seed {} nodes {} duration {:.1}s\n",
        s.seed, s.nodes, s.duration_s
    ));
    out.push_str(&format!(
        "ops {} acked {} failed {} indeterminate {}\n",
        s.all.ops, s.all.ok, s.all.fail, s.all.indeterminate
    ));
    for (name, c) in &s.by_workload {
        out.push_str(&format!(
            "  {name:<9} ops {:>6} acked {:>6} failed {:>5} indeterminate {:>4}\n",
            c.ops, c.ok, c.fail, c.indeterminate
        ));
    }
    let faults: Vec<String> = s.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
    out.push_str(&format!("faults: {}\n", faults.join(", ")));
    if !s.faults_skipped.is_empty() {
        let skipped: Vec<String> = s
            .faults_skipped
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push_str(&format!("faults not applied: {}\n", skipped.join(", ")));
    }
    out.push_str("unavailability (worst / total ms):");
    for (k, u) in &s.unavailability {
        out.push_str(&format!(" {k} {}/{}", u.worst_ms, u.total_ms));
    }
    out.push('\n');
    out.push_str(&format!(
        "lost writes {} violations {} undecided {} => {:?}\n",
        s.lost_writes, s.violations, s.unknown, s.validity
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_runs_from_the_fault_to_the_first_write_after_the_heal() {
        let s = 1_000_000_000;
        let writes = [s / 2, 2 * s, 5 * s, 6 * s];
        // Fault from 1 s to 4 s: writes at 2 s and 5 s; longest gap 3 s (2..5).
        assert_eq!(longest_gap(&writes, s, 4 * s, 10 * s), 3 * s);
        // No write after the heal: the gap runs to the end of the run.
        assert_eq!(longest_gap(&writes, 7 * s, 8 * s, 10 * s), 3 * s);
    }
}
