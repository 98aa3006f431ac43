//! The per-command INFO sections, in Redis 7.0's layout:
//! `# Commandstats` (`cmdstat_<name>:calls=..,usec=..,usec_per_call=..,
//! rejected_calls=..,failed_calls=..`), `# Errorstats`
//! (`errorstat_<PREFIX>:count=..`) and `# Latencystats`
//! (`latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=..`, the
//! percentiles of `latency-tracking-info-percentiles`).
//!
//! Commands are listed by name, so the output is stable between calls
//! (Redis lists them in its dictionary's order).

use std::fmt::Write as _;

use crate::shared::Shared;

pub fn commandstats(shared: &Shared, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    shared.command_stats.read(|totals| {
        for (name, figures) in totals.by_name() {
            let usec = figures.total_ns / 1000;
            let per_call = if figures.calls == 0 {
                0.0
            } else {
                usec as f64 / figures.calls as f64
            };
            let _ = write!(
                out,
                "cmdstat_{name}:calls={},usec={usec},usec_per_call={per_call:.2},\
                 rejected_calls={},failed_calls={}\r\n",
                figures.calls, figures.rejected, figures.failed,
            );
        }
    });
}

pub fn errorstats(shared: &Shared, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    shared.command_stats.read(|totals| {
        let mut errors: Vec<_> = totals.errors.iter().collect();
        errors.sort_unstable();
        for (prefix, count) in errors {
            let _ = write!(out, "errorstat_{prefix}:count={count}\r\n");
        }
    });
}

pub fn latencystats(shared: &Shared, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    if !shared.command_stats.tracking() {
        return;
    }
    let percentiles = shared.command_stats.info_percentiles();
    shared.command_stats.read(|totals| {
        for (name, figures) in totals.by_name() {
            if figures.latency_ns.is_empty() {
                continue;
            }
            let _ = write!(out, "latency_percentiles_usec_{name}:");
            for (i, percentile) in percentiles.iter().enumerate() {
                let value_ns = figures.latency_ns.value_at_quantile(percentile / 100.0);
                let _ = write!(
                    out,
                    "{}p{}={:.3}",
                    if i == 0 { "" } else { "," },
                    format_percentile(*percentile),
                    value_ns as f64 / 1000.0
                );
            }
            out.push_str("\r\n");
        }
    });
}

/// A percentile as Redis prints it (`50`, `99.9`, `12.5`: `%g`).
pub fn format_percentile(percentile: f64) -> String {
    let text = format!("{percentile}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// Parses `latency-tracking-info-percentiles` (space-separated numbers in
/// [0, 100]; empty: none), with Redis's errors.
pub fn parse_percentiles(text: &str) -> Result<Vec<f64>, &'static str> {
    let mut percentiles = Vec::new();
    for word in text.split_ascii_whitespace() {
        let value: f64 = word
            .parse()
            .ok()
            .filter(|value: &f64| value.is_finite())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&value) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            );
        }
        percentiles.push(value);
    }
    Ok(percentiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_parse_and_print_as_redis() {
        for (text, parsed) in [
            ("50 99 99.9", Ok(vec![50.0, 99.0, 99.9])),
            ("", Ok(vec![])),
            ("99.99 0 100 12.5", Ok(vec![99.99, 0.0, 100.0, 12.5])),
            (
                "50 abc",
                Err("Invalid latency-tracking-info-percentiles parameters"),
            ),
            (
                "101",
                Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
            ),
            (
                "-1",
                Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
            ),
        ] {
            assert_eq!(parse_percentiles(text), parsed, "{text:?}");
        }
        let printed: Vec<String> = [50.0, 99.9, 0.0, 100.0, 12.5, 99.99]
            .into_iter()
            .map(format_percentile)
            .collect();
        assert_eq!(printed, ["50", "99.9", "0", "100", "12.5", "99.99"]);
    }
}
