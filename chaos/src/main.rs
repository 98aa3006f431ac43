//! `redraft-chaos`: runs the fault-injection suite once and prints its
//! summary; exits 1 if a checker found a violation (2 on a harness error).
//!
//! ```sh
//! cargo run -p redraft-chaos --release -- --duration 1800 --seed 7 --nodes 5
//! cargo run -p redraft-chaos -- --duration 60 --nemesis kill-leader,partition-halves
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use redraft_chaos::checker::Validity;
use redraft_chaos::nemesis::{Fault, Timing};
use redraft_chaos::run::{build_server, run, RunOptions};

#[derive(Debug, Parser)]
#[command(about = "Fault-injection runs against a real redraft cluster")]
struct Args {
    /// How long the workloads and the nemesis run, in seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seed of the fault schedule and the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Nodes in the cluster (3 or 5).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Client threads (at least one per workload).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Faults to inject, comma separated (default: all).
    #[arg(long, value_delimiter = ',', value_enum)]
    nemesis: Vec<Fault>,
    /// Seconds between faults, as min,max.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4])]
    quiet_s: Vec<u64>,
    /// Seconds each fault lasts, as min,max.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 8])]
    hold_s: Vec<u64>,
    /// Chance, per thousand, that a second fault joins the first.
    #[arg(long, default_value_t = 250)]
    combine: u64,
    /// Request timeout in milliseconds (past it: indeterminate).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Output folder (history.jsonl, report.json, timeline.svg, node logs).
    #[arg(long, default_value = "target/chaos/out")]
    out: PathBuf,
    /// A chaos build of redraft-server to use instead of building one.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Build and test the deliberately broken server (acks before fsync).
    #[arg(long)]
    broken: bool,
    /// Only draw the timeline again from the history and report in this
    /// output folder (no run).
    #[arg(long)]
    render: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.render {
        match redraft_chaos::run::render_again(dir) {
            Ok(path) => println!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("redraft-chaos: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let pair = |v: &[u64], name: &str| -> (u64, u64) {
        match v {
            [a, b] if a <= b => (a * 1000, b * 1000),
            _ => {
                eprintln!("--{name} takes min,max in seconds");
                std::process::exit(2);
            }
        }
    };
    let server = match args.server.clone() {
        Some(path) => path,
        None => build_server(args.broken).unwrap_or_else(|e| {
            eprintln!("redraft-chaos: {e}");
            std::process::exit(2);
        }),
    };
    let options = RunOptions {
        server_bin: server,
        out: args.out.clone(),
        nodes: args.nodes,
        seed: args.seed,
        duration: Duration::from_secs(args.duration),
        clients: args.clients,
        faults: if args.nemesis.is_empty() {
            Fault::ALL.to_vec()
        } else {
            args.nemesis.clone()
        },
        timing: Timing {
            quiet_ms: pair(&args.quiet_s, "quiet-s"),
            hold_ms: pair(&args.hold_s, "hold-s"),
            combine_per_mille: args.combine,
        },
        request_timeout: Duration::from_millis(args.timeout_ms),
        key_time_limit: Duration::from_secs(10),
    };
    match run(&options) {
        Ok(result) => {
            print!("{}", redraft_chaos::report::render(&result.summary));
            for check in result.checks.iter().filter(|c| !c.violations.is_empty()) {
                for v in check.violations.iter().take(10) {
                    println!("  {} {} {}: {}", check.checker, v.kind, v.key, v.detail);
                }
            }
            println!("output in {}", args.out.display());
            if result.summary.validity == Validity::Invalid {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("redraft-chaos: {e}");
            std::process::exit(2);
        }
    }
}
