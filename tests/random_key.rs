//! RANDOMKEY is random enough for caches and samplers, as Redis's is: run
//! against redraft and a real redis-server alike, over several
//! connections.

mod common;

use std::collections::HashSet;

use common::Process;

/// Draws `calls` keys over `conns` connections and counts the distinct ones.
fn distinct_draws(server: &Process, conns: usize, calls: usize) -> usize {
    let mut clients: Vec<redis::Connection> = (0..conns).map(|_| server.client()).collect();
    let mut seen = HashSet::new();
    for call in 0..calls {
        let client = &mut clients[call % conns];
        let key: String = redis::cmd("RANDOMKEY").query(client).unwrap();
        seen.insert(key);
    }
    seen.len()
}

fn load(server: &Process, keys: usize) {
    let mut client = server.client();
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET").arg(format!("key:{i}")).arg("v").ignore();
    }
    pipe.query::<()>(&mut client).unwrap();
}

#[test]
fn randomkey_draws_most_keys_of_a_thousand() {
    for server in [common::redraft(&[]), common::redis(&[])] {
        load(&server, 1000);
        let distinct = distinct_draws(&server, 2, 2000);
        assert!(
            distinct >= 600,
            "port {}: {distinct} distinct keys in 2000 RANDOMKEY calls",
            server.port
        );
    }
}

#[test]
fn randomkey_draws_both_of_two_keys() {
    for server in [common::redraft(&[]), common::redis(&[])] {
        load(&server, 2);
        assert_eq!(distinct_draws(&server, 3, 200), 2, "port {}", server.port);
    }
}
