//! The run's timeline as one SVG picture, top to bottom on a shared time
//! axis: one lane per fault kind (each fault a band, its detail in a
//! tooltip), the leader over time (a colour per node, grey where it was
//! not sampled), throughput
//! (acknowledged operations per half second), and every operation's
//! latency as a point (log scale; colour by workload, failed and
//! indeterminate operations marked apart).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::history::{Op, Outcome, Workload};
use crate::nemesis::Band;

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const LANE: f64 = 16.0;
const THROUGHPUT_HEIGHT: f64 = 120.0;
const LATENCY_HEIGHT: f64 = 260.0;
/// Leader samples further apart than this leave a gap shown as unknown.
const LEADER_GAP_NS: u64 = 1_000_000_000;
/// Smallest throughput bucket, in nanoseconds.
const BUCKET_NS: u64 = 500_000_000;

/// Colours for node ids 1, 2, ... (the leader lane).
const NODE_COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];

fn workload_colour(workload: Workload) -> &'static str {
    match workload {
        Workload::Register => "#1f77b4",
        Workload::Counter => "#2ca02c",
        Workload::Set => "#9467bd",
        Workload::List => "#8c564b",
        Workload::Txn => "#17becf",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the timeline of a run that lasted `run_ns`.
pub fn timeline(
    ops: &[Op],
    bands: &[Band],
    leaders: &[(u64, u64)],
    run_ns: u64,
    title: &str,
) -> String {
    let run_ns = run_ns.max(1);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |ns: u64| LEFT + plot * (ns.min(run_ns) as f64 / run_ns as f64);
    let kinds: Vec<String> = {
        let mut k: Vec<String> = bands.iter().map(|b| b.fault.name()).collect();
        k.sort();
        k.dedup();
        k
    };
    let faults_top = 50.0;
    let leader_top = faults_top + LANE * kinds.len() as f64 + 14.0;
    let throughput_top = leader_top + LANE + 30.0;
    let latency_top = throughput_top + THROUGHPUT_HEIGHT + 30.0;
    let axis_top = latency_top + LATENCY_HEIGHT;
    let height = axis_top + 60.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );

    // Vertical grid: a round step giving at most about 15 lines.
    let run_s = run_ns / 1_000_000_000;
    let step_s = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]
        .into_iter()
        .find(|step| run_s / step <= 15)
        .unwrap_or(7200);
    let mut t = 0;
    while t * 1_000_000_000 <= run_ns {
        let gx = x(t * 1_000_000_000);
        let label = if step_s >= 60 && t % 60 == 0 {
            format!("{}m", t / 60)
        } else {
            format!("{t}s")
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{faults_top}" x2="{gx:.1}" y2="{axis_top}" stroke="#eee"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#444">{label}</text>"##,
            axis_top + 14.0
        );
        t += step_s;
    }

    // Fault lanes.
    for (lane, kind) in kinds.iter().enumerate() {
        let y = faults_top + LANE * lane as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{kind}</text>"#,
            LEFT - 6.0,
            y + 11.0
        );
        for band in bands.iter().filter(|b| &b.fault.name() == kind) {
            let (x0, x1) = (x(band.start_ns), x(band.end_ns));
            let fill = if band.applied { "#d62728" } else { "#cccccc" };
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" fill-opacity="0.75"><title>{}: {}</title></rect>"#,
                y + 2.0,
                (x1 - x0).max(2.0),
                LANE - 4.0,
                kind,
                escape(&band.detail)
            );
        }
    }
    // Fault bands as light shading across the plots below.
    for band in bands.iter().filter(|b| b.applied) {
        let (x0, x1) = (x(band.start_ns), x(band.end_ns));
        let _ = writeln!(
            svg,
            r##"<rect x="{x0:.1}" y="{throughput_top}" width="{:.1}" height="{:.1}" fill="#d62728" fill-opacity="0.06"/>"##,
            (x1 - x0).max(1.0),
            axis_top - throughput_top
        );
    }

    // Leader lane.
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">leader</text>"#,
        LEFT - 6.0,
        leader_top + 11.0
    );
    for pair in leaders.windows(2) {
        let ((t0, id), (t1, _)) = (pair[0], pair[1]);
        // Samples are skipped while the nemesis holds the cluster (a
        // restart, a membership change): show such gaps as unknown.
        let t1 = if t1 - t0 > LEADER_GAP_NS {
            let _ = writeln!(
                svg,
                r##"<rect x="{:.1}" y="{leader_top}" width="{:.2}" height="{:.1}" fill="#dddddd"><title>leader not sampled</title></rect>"##,
                x(t0),
                (x(t1) - x(t0)).max(0.5),
                LANE - 2.0
            );
            t0 + LEADER_GAP_NS / 4
        } else {
            t1
        };
        let fill = if id == 0 {
            "#ffffff"
        } else {
            NODE_COLOURS[(id as usize - 1) % NODE_COLOURS.len()]
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{leader_top}" width="{:.2}" height="{:.1}" fill="{fill}" stroke="none"><title>leader: {}</title></rect>"##,
            x(t0),
            (x(t1) - x(t0)).max(0.5),
            LANE - 2.0,
            if id == 0 {
                "none".to_string()
            } else {
                format!("node {id}")
            }
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{leader_top}" width="{plot}" height="{:.1}" fill="none" stroke="#999"/>"##,
        LANE - 2.0
    );
    let mut ids: Vec<u64> = leaders
        .iter()
        .map(|(_, id)| *id)
        .filter(|id| *id > 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for (i, id) in ids.iter().enumerate() {
        let lx = LEFT + 70.0 * i as f64;
        let colour = NODE_COLOURS[(*id as usize - 1) % NODE_COLOURS.len()];
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">node {id}</text>"#,
            leader_top + LANE + 2.0,
            lx + 14.0,
            leader_top + LANE + 11.0
        );
    }

    // Throughput.
    // Half-second buckets, or coarser so a long run has at most ~600.
    let bucket_ns = BUCKET_NS.max(run_ns / 600);
    let buckets = (run_ns / bucket_ns + 1) as usize;
    let mut counts = vec![0u64; buckets];
    for op in ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        counts[((op.complete_ns / bucket_ns) as usize).min(buckets - 1)] += 1;
    }
    let per_s = bucket_ns as f64 / 1e9;
    let peak = counts.iter().copied().max().unwrap_or(1).max(1) as f64 / per_s;
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end">acked ops/s</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">{peak:.0}</text>"##,
        LEFT - 6.0,
        throughput_top + THROUGHPUT_HEIGHT / 2.0,
        LEFT - 6.0,
        throughput_top + 10.0
    );
    let mut points = String::new();
    for (i, c) in counts.iter().enumerate() {
        let px = x(i as u64 * bucket_ns + bucket_ns / 2);
        let py = throughput_top + THROUGHPUT_HEIGHT * (1.0 - (*c as f64 / per_s) / peak);
        let _ = write!(points, "{px:.1},{py:.1} ");
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{throughput_top}" width="{plot}" height="{THROUGHPUT_HEIGHT}" fill="none" stroke="#999"/><polyline points="{points}" fill="none" stroke="#333" stroke-width="1.2"/>"##
    );

    // Latency, log scale from 0.1 ms to the slowest op.
    let slowest = ops
        .iter()
        .map(Op::latency_ns)
        .max()
        .unwrap_or(1)
        .max(1_000_000) as f64;
    let (lo, hi) = (100_000f64.ln(), slowest.ln());
    let y = |ns: u64| {
        let v = (ns.max(100_000) as f64).ln();
        latency_top + LATENCY_HEIGHT * (1.0 - (v - lo) / (hi - lo).max(1e-9))
    };
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{latency_top}" width="{plot}" height="{LATENCY_HEIGHT}" fill="none" stroke="#999"/><text x="{:.1}" y="{:.1}" text-anchor="end">latency</text>"##,
        LEFT - 60.0,
        latency_top + LATENCY_HEIGHT / 2.0
    );
    for ms in [0.1f64, 1.0, 10.0, 100.0, 1000.0, 10000.0] {
        let ns = (ms * 1e6) as u64;
        if (ns as f64) > slowest * 1.01 {
            break;
        }
        let ly = y(ns);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{ms} ms</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ly + 4.0
        );
    }
    // Thin out points of very long runs so the file stays small.
    let stride = (ops.len() / 20_000).max(1);
    for op in ops.iter().step_by(stride) {
        let (px, py) = (x(op.complete_ns), y(op.latency_ns()));
        let mark = match op.outcome {
            Outcome::Ok => format!(
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="1.3" fill="{}" fill-opacity="0.5"/>"#,
                workload_colour(op.workload)
            ),
            Outcome::Fail => format!(
                r##"<path d="M{:.1},{:.1}l4,4m0,-4l-4,4" stroke="#ff7f0e" stroke-width="1"/>"##,
                px - 2.0,
                py - 2.0
            ),
            Outcome::Info => format!(
                r##"<rect x="{:.1}" y="{:.1}" width="4" height="4" fill="#d62728"/>"##,
                px - 2.0,
                py - 2.0
            ),
        };
        svg.push_str(&mark);
        svg.push('\n');
    }
    // Legend.
    let mut legend: BTreeMap<&str, String> = BTreeMap::new();
    for w in [
        Workload::Register,
        Workload::Counter,
        Workload::Set,
        Workload::List,
        Workload::Txn,
    ] {
        let name = match w {
            Workload::Register => "register",
            Workload::Counter => "counter",
            Workload::Set => "set",
            Workload::List => "list",
            Workload::Txn => "txn",
        };
        legend.insert(
            name,
            format!(
                r#"<circle cx="5" cy="-4" r="4" fill="{}"/>"#,
                workload_colour(w)
            ),
        );
    }
    legend.insert(
        "~failed",
        r##"<path d="M1,-8l8,8m0,-8l-8,8" stroke="#ff7f0e"/>"##.into(),
    );
    legend.insert(
        "~indeterminate",
        r##"<rect x="1" y="-8" width="8" height="8" fill="#d62728"/>"##.into(),
    );
    for (i, (name, mark)) in legend.iter().enumerate() {
        let lx = LEFT + 110.0 * i as f64;
        let ly = axis_top + 40.0;
        let _ = writeln!(
            svg,
            r#"<g transform="translate({lx},{ly})">{mark}<text x="14" y="0">{}</text></g>"#,
            name.trim_start_matches('~')
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Call;
    use crate::nemesis::Fault;

    #[test]
    fn draws_every_part() {
        let ops = vec![Op {
            process: 0,
            workload: Workload::Register,
            key: "r".into(),
            call: Call::Write { value: 1 },
            outcome: Outcome::Info,
            invoke_ns: 1_000_000,
            complete_ns: 9_000_000,
            node: 1,
            error: None,
        }];
        let bands = vec![Band {
            fault: Fault::KillLeader,
            start_ns: 0,
            end_ns: 5_000_000,
            targets: vec![1],
            detail: "SIGKILL node 1 <&>".into(),
            applied: true,
        }];
        let svg = timeline(&ops, &bands, &[(0, 1), (5_000_000, 2)], 10_000_000, "t");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("kill-leader") && svg.contains("&lt;&amp;&gt;"));
        assert!(svg.contains("leader: node 1"));
    }
}
