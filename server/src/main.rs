//! The `redraft-server` binary: reads the configuration, sets up logging
//! and runs the server.

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Parser;
use redraft_server::config::{Config, Flags, LogFormat, LogLevel};
use redraft_server::shared::Shared;
use tracing_subscriber::{filter::LevelFilter, prelude::*, reload};

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

fn main() {
    let flags = Flags::parse();
    let config = match Config::load(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("redraft-server: {error}");
            std::process::exit(1);
        }
    };
    let (filter, handle) = reload::Layer::new(level_filter(config.log_level));
    // openraft reports every vote and election at INFO; keep its chatter
    // to warnings (our own events cover elections and leader changes).
    let quiet_openraft = tracing_subscriber::filter::Targets::new()
        .with_target("openraft", LevelFilter::WARN)
        .with_default(LevelFilter::TRACE);
    // One of the two layers is present: `Option<Layer>` is a layer that
    // does nothing when `None`.
    let json = config.log_format == LogFormat::Json;
    let text_layer = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour codes only for a terminal, not for log files.
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json_layer = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(quiet_openraft)
        .with(text_layer)
        .with(json_layer)
        .init();
    redraft_server::malloc::configure();
    let set_log_level = Box::new(move |level: LogLevel| {
        let _ = handle.modify(|filter| *filter = level_filter(level));
    });
    let (shared, proposer_input) = Shared::new(config, set_log_level);
    if let Err(error) = redraft_server::server::run(Arc::new(shared), proposer_input) {
        eprintln!("redraft-server: {error}");
        std::process::exit(1);
    }
}
