//! The `redraft-server` binary: reads the configuration, sets up logging
//! (`logging.rs`) and runs the server.

use std::sync::Arc;

use clap::Parser;
use redraft_server::config::{Config, Flags};
use redraft_server::shared::Shared;

fn main() {
    // Before any thread starts, so that only the signal thread gets them.
    redraft_server::shutdown::block_signals();
    let flags = Flags::parse();
    let config = match Config::load(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("redraft-server: {error}");
            std::process::exit(1);
        }
    };
    let set_log_level = redraft_server::logging::init(&config);
    log_start(&flags, &config);
    redraft_server::malloc::configure();
    let (shared, proposer_input) =
        Shared::new(config, set_log_level, redraft_server::cmd::catalog());
    match redraft_server::server::run(Arc::new(shared), proposer_input) {
        // Not a return: the network threads would keep the process alive.
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("redraft-server: {error}");
            std::process::exit(1);
        }
    }
}

/// One line for the operator: what runs, from which configuration, and
/// where it listens.
fn log_start(flags: &Flags, config: &Config) {
    let config_path = flags
        .config
        .as_ref()
        .map_or_else(|| "none".to_string(), |path| path.display().to_string());
    let at = |port: u16| std::net::SocketAddr::new(config.bind, port).to_string();
    tracing::info!(
        version = %env!("CARGO_PKG_VERSION"),
        commit = %option_env!("REDRAFT_GIT_COMMIT").unwrap_or("unknown"),
        config = %config_path,
        data_dir = %config.data_dir.display(),
        node_id = config.raft.node_id,
        client = %at(config.port),
        raft = %at(config.raft.raft_port),
        admin = %at(config.admin_port),
        "redraft starting"
    );
}
