//! `/health` of a 3-node cluster of real processes: 200 on every node;
//! 503 with a reason on the one survivor once the other two are SIGKILLed
//! (it can reach no leader, or, if it led, no quorum); 200 everywhere again
//! once they are restarted. And an admin port in use stops the server at
//! start-up with a message naming it.

mod common;

use std::time::Duration;

use common::admin;
use common::cluster::{Cluster, ClusterOptions};
use common::wait::until;

/// How long the survivor may take to notice: one election timeout
/// (800 ms at most) plus the time to report it, with room for a loaded
/// machine.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a restarted cluster may take to be healthy again.
const RECOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until node `id`'s `/health` answers `status`; returns the body.
fn until_health(cluster: &Cluster, id: u64, status: u16, timeout: Duration) -> serde_json::Value {
    until(timeout, format!("node {id} /health {status}"), || {
        let answer = admin::get(&cluster.admin_url(id), "/health")?;
        if answer.status == status {
            Ok(answer.body)
        } else {
            Err(format!("{} {}", answer.status, answer.body))
        }
    })
}

#[test]
fn health_fails_without_a_quorum_and_recovers() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    for id in cluster.ids() {
        let body = until_health(&cluster, id, 200, RECOVER_TIMEOUT);
        assert_eq!(body["status"], "ok", "node {id}: {body}");
        assert_eq!(body["node_id"], id, "node {id}: {body}");
    }
    // First a follower is left alone (it loses its leader), then the
    // leader (it loses its quorum).
    for survivor_leads in [false, true] {
        let leader = cluster.leader();
        let survivor = if survivor_leads {
            leader
        } else {
            cluster.followers()[0]
        };
        for id in cluster.ids() {
            if id != survivor {
                cluster.kill(id);
            }
        }
        let body = until_health(&cluster, survivor, 503, NOTICE_TIMEOUT);
        assert_eq!(body["status"], "unavailable", "{body}");
        let reason = body["reason"].as_str().unwrap_or_default().to_string();
        eprintln!("node {survivor} (leader: {survivor_leads}) alone: /health 503 {reason:?}");
        let expected = if survivor_leads {
            reason == "no leader" || reason.starts_with("leader without a quorum for")
        } else {
            reason == "no leader" || reason.starts_with(&format!("leader {leader} unreachable"))
        };
        assert!(expected, "unexpected reason {reason:?}");
        // Its view of the members comes to say the others are down.
        until(NOTICE_TIMEOUT, "the survivor to see its peers down", || {
            let members = admin::get(&cluster.admin_url(survivor), "/cluster/members")?;
            let list = members.body.as_array().cloned().unwrap_or_default();
            let down = list
                .iter()
                .filter(|member| member["id"] != survivor && member["reachable"] == false)
                .count();
            if down == 2 {
                Ok(())
            } else {
                Err(members.body.to_string())
            }
        });
        for id in cluster.ids() {
            if id != survivor {
                cluster.restart(id);
            }
        }
        for id in cluster.ids() {
            let body = until_health(&cluster, id, 200, RECOVER_TIMEOUT);
            assert_eq!(body["leader_id"], cluster.leader(), "node {id}: {body}");
        }
    }
}

#[test]
fn an_admin_port_in_use_stops_the_server_at_start_up() {
    let ports = common::node::free_ports(3);
    let held = std::net::TcpListener::bind(("127.0.0.1", ports[1])).expect("hold the admin port");
    let dir = common::temp_dir("admin-port");
    let args = common::server_args([ports[0], ports[1], ports[2]], &dir.join("data"), "info");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_redraft-server"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run redraft-server");
    drop(held);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the server started: {stderr}");
    let expected = format!("cannot listen on 127.0.0.1:{} (admin_port)", ports[1]);
    assert!(stderr.contains(&expected), "stderr was {stderr:?}");
    let _ = std::fs::remove_dir_all(dir);
}
