//! `LATENCY HISTOGRAM [command ...]`: each command's latency distribution
//! as Redis 7 reports it: a map of command name to `calls` and
//! `histogram_usec`, the cumulative count of calls at or below each
//! power-of-two microsecond bucket (from 1 µs), listing only the buckets
//! where the count grows.
//!
//! With no argument it reports every command with calls; a container name
//! (`CONFIG`) stands for its subcommands; unknown names are skipped.

use bytes::Bytes;
use hdrhistogram::Histogram;
use redraft_engine::ReplySink;

use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::{Action, CommandSpec, Ctx};

/// The `LATENCY HISTOGRAM` subcommand.
pub const HISTOGRAM: CommandSpec = CommandSpec::new(
    "latency|histogram",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE,
    (0, 0, 0),
    latency_histogram,
    "server",
    "Returns the cumulative distribution of latencies of a subset or all commands.",
)
.since("7.0.0");

/// The power-of-two buckets of a histogram in nanoseconds, from 1024 ns,
/// as Redis's log iteration reports them: (the highest value equivalent
/// to the bucket's bound, in µs; calls at or below it), where the count
/// grows.
pub fn cumulative_buckets(histogram: &Histogram<u64>) -> Vec<(u64, u64)> {
    let mut buckets = Vec::new();
    let mut previous = 0;
    let mut bound: u64 = 1024;
    while previous < histogram.len() {
        let highest = histogram.highest_equivalent(bound);
        let cumulative = histogram.count_between(0, highest);
        if cumulative > previous {
            buckets.push((highest / 1000, cumulative));
        }
        previous = cumulative;
        bound *= 2;
    }
    buckets
}

/// One command's report: name, calls, cumulative buckets.
type Reported = (&'static str, u64, Vec<(u64, u64)>);

/// The commands (spec addresses) a name stands for.
fn named(name: &[u8]) -> Vec<&'static CommandSpec> {
    if let Some(spec) = super::lookup(name) {
        if spec.subcommands.is_empty() {
            return vec![spec];
        }
        return spec.subcommands.iter().collect();
    }
    // `config|get`: a subcommand by its full name.
    let Some(bar) = name.iter().position(|&byte| byte == b'|') else {
        return Vec::new();
    };
    super::lookup(&name[..bar])
        .and_then(|container| super::lookup_sub(container, &name[bar + 1..]))
        .into_iter()
        .collect()
}

fn latency_histogram(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let stats = &ctx.shared.command_stats;
    let mut reported: Vec<Reported> = stats.read(|totals| {
        let indexes: Vec<usize> = if args.is_empty() {
            let mut all: Vec<usize> = totals.commands.keys().copied().collect();
            all.sort_unstable_by_key(|&index| totals.name(index));
            all
        } else {
            args.iter()
                .flat_map(|name| named(name))
                .map(super::spec_index)
                .collect()
        };
        let mut reported: Vec<Reported> = Vec::new();
        for index in indexes {
            let Some(figures) = totals.commands.get(&index) else {
                continue;
            };
            if figures.latency_ns.is_empty() {
                continue;
            }
            let name = totals.name(index);
            if reported.iter().any(|(seen, ..)| *seen == name) {
                continue;
            }
            reported.push((
                name,
                figures.latency_ns.len(),
                cumulative_buckets(&figures.latency_ns),
            ));
        }
        reported
    });
    ctx.out.map(reported.len());
    for (name, calls, buckets) in reported.drain(..) {
        ctx.out.bulk(name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(calls as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(buckets.len());
        for (usec, count) in buckets {
            ctx.out.int(usec as i64);
            ctx.out.int(count as i64);
        }
    }
    Action::Replied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::commands::new_histogram;

    #[test]
    fn buckets_are_cumulative_powers_of_two() {
        let mut histogram = new_histogram();
        // 187 fast calls, then slower ones, as in a Redis run of SET.
        for (ns, times) in [(500, 187), (1_500, 5), (3_000, 3), (100_000, 2)] {
            for _ in 0..times {
                histogram.record(ns).unwrap();
            }
        }
        assert_eq!(
            cumulative_buckets(&histogram),
            vec![(1, 187), (2, 192), (4, 195), (132, 197)]
        );
        assert!(cumulative_buckets(&new_histogram()).is_empty());
    }
}
