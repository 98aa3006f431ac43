//! The `redraft-server` binary: reads the configuration, sets up logging
//! (`logging.rs`) and runs the server.

use std::sync::Arc;

use clap::Parser;
use redraft_server::config::{Config, Flags};
use redraft_server::shared::Shared;

fn main() {
    let flags = Flags::parse();
    let config = match Config::load(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("redraft-server: {error}");
            std::process::exit(1);
        }
    };
    let set_log_level = redraft_server::logging::init(&config);
    redraft_server::malloc::configure();
    let (shared, proposer_input) =
        Shared::new(config, set_log_level, redraft_server::cmd::catalog());
    if let Err(error) = redraft_server::server::run(Arc::new(shared), proposer_input) {
        eprintln!("redraft-server: {error}");
        std::process::exit(1);
    }
}
