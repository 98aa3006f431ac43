//! Nemeses: the faults a run injects, scheduled from a seed.
//!
//! Each [`Fault`] is applied to the cluster, held for a while, and healed.
//! The schedule first runs every enabled fault once (in a seeded order),
//! then draws at random; with some probability a second fault of another
//! family runs at the same time (a partition during a clock jump, a crash
//! during slow fsyncs). Healing restores everything, whatever was applied:
//! paused nodes continue, dead members restart, links heal, clocks return
//! to the true time and failpoints are removed.
//!
//! Invariants:
//! - Every fault is healed before the next one starts, and the last one
//!   before the schedule ends: the final reads see a whole cluster.
//! - A node whose disk failed (fsync error, short write) is restarted, and
//!   loses what it had not synced, as a real failed fsync may lose it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::rng::Rng;

/// The faults, each with the families they belong to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    KillLeader,
    KillFollower,
    KillMajority,
    KillAll,
    /// Kill every node and cut its segments back to what was synced.
    PowerLoss,
    PauseLeader,
    PauseFollower,
    PartitionLeader,
    PartitionHalves,
    PartitionBridge,
    PartitionOneWay,
    LinkDelay,
    LinkLoss,
    ClockSkew,
    ClockJump,
    FsyncError,
    SlowFsync,
    ShortWrite,
    DiskFull,
    /// Join a new node, then remove the leader.
    Membership,
}

/// Faults of one family never run together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Process,
    Network,
    Clock,
    Disk,
    Membership,
}

impl Fault {
    pub const ALL: [Fault; 20] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::KillMajority,
        Fault::KillAll,
        Fault::PowerLoss,
        Fault::PauseLeader,
        Fault::PauseFollower,
        Fault::PartitionLeader,
        Fault::PartitionHalves,
        Fault::PartitionBridge,
        Fault::PartitionOneWay,
        Fault::LinkDelay,
        Fault::LinkLoss,
        Fault::ClockSkew,
        Fault::ClockJump,
        Fault::FsyncError,
        Fault::SlowFsync,
        Fault::ShortWrite,
        Fault::DiskFull,
        Fault::Membership,
    ];

    fn family(self) -> Family {
        use Fault::*;
        match self {
            KillLeader | KillFollower | KillMajority | KillAll | PowerLoss | PauseLeader
            | PauseFollower => Family::Process,
            PartitionLeader | PartitionHalves | PartitionBridge | PartitionOneWay | LinkDelay
            | LinkLoss => Family::Network,
            ClockSkew | ClockJump => Family::Clock,
            FsyncError | SlowFsync | ShortWrite | DiskFull => Family::Disk,
            Membership => Family::Membership,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One fault as it happened, for the report and the timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Band {
    pub fault: Fault,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The nodes it hit.
    pub targets: Vec<u64>,
    /// What was done, or why it could not be.
    pub detail: String,
    pub applied: bool,
}

/// What has to be undone beyond the generic heal.
#[derive(Default)]
struct Undo {
    /// Nodes to restart after cutting their unsynced data.
    lose_unsynced: Vec<u64>,
    /// A disk filler to delete.
    filler: Option<PathBuf>,
    /// After a membership change: (the removed leader, the joiner). The
    /// heal brings the first back and removes the second, so the group
    /// returns to its initial, proxied members.
    membership: Option<(u64, u64)>,
}

/// Timing of the schedule.
#[derive(Debug, Clone)]
pub struct Timing {
    pub quiet_ms: (u64, u64),
    pub hold_ms: (u64, u64),
    /// Chance, per thousand, that a second fault joins the first.
    pub combine_per_mille: u64,
}

/// Failpoints the disk faults use, all removed by a heal.
const FAILPOINTS: [&str; 3] = ["raftlog::fsync", "raftlog::write", "raftlog::short-write"];

/// Runs faults until `deadline`, returning what happened. `now_ns` reads
/// the run's clock.
pub fn run_schedule(
    cluster: &std::sync::Mutex<Cluster>,
    faults: &[Fault],
    timing: &Timing,
    rng: &mut Rng,
    deadline: Instant,
    now_ns: &dyn Fn() -> u64,
) -> Vec<Band> {
    let mut bands = Vec::new();
    if faults.is_empty() {
        return bands;
    }
    let mut first_round: Vec<Fault> = faults.to_vec();
    rng.shuffle(&mut first_round);
    first_round.reverse();
    loop {
        let quiet = Duration::from_millis(rng.between(timing.quiet_ms.0, timing.quiet_ms.1));
        let hold = Duration::from_millis(rng.between(timing.hold_ms.0, timing.hold_ms.1));
        if Instant::now() + quiet + hold > deadline {
            break;
        }
        std::thread::sleep(quiet);
        let first = first_round.pop().unwrap_or_else(|| *rng.pick(faults));
        let mut chosen = vec![first];
        if rng.chance(timing.combine_per_mille) {
            let others: Vec<Fault> = faults
                .iter()
                .copied()
                .filter(|f| f.family() != first.family() && f.family() != Family::Membership)
                .collect();
            if !others.is_empty() && first.family() != Family::Membership {
                chosen.push(*rng.pick(&others));
            }
        }
        let mut undo = Undo::default();
        let mut started = Vec::new();
        for fault in chosen {
            let start_ns = now_ns();
            let mut guard = cluster.lock().expect("cluster lock");
            let (targets, detail, applied) = match apply(&mut guard, fault, rng, &mut undo) {
                Ok((targets, detail)) => (targets, detail, true),
                Err(why) => (Vec::new(), why, false),
            };
            drop(guard);
            started.push(Band {
                fault,
                start_ns,
                end_ns: start_ns,
                targets,
                detail,
                applied,
            });
        }
        let mid_jump = started
            .iter()
            .any(|b| b.fault == Fault::ClockJump && b.applied);
        if mid_jump {
            // A second jump, forward this time, halfway through.
            std::thread::sleep(hold / 2);
            let guard = cluster.lock().expect("cluster lock");
            for band in started.iter().filter(|b| b.fault == Fault::ClockJump) {
                for id in &band.targets {
                    let _ = guard.set_clock(*id, rng.between(2_000, 8_000) as i64);
                }
            }
            drop(guard);
            std::thread::sleep(hold / 2);
        } else {
            std::thread::sleep(hold);
        }
        heal(&mut cluster.lock().expect("cluster lock"), undo);
        let end_ns = now_ns();
        for mut band in started {
            band.end_ns = end_ns;
            bands.push(band);
        }
    }
    bands
}

/// A random element of `ids`.
fn any(rng: &mut Rng, ids: &[u64]) -> Option<u64> {
    (!ids.is_empty()).then(|| *rng.pick(ids))
}

/// Applies one fault; returns the nodes hit and what was done.
fn apply(
    cluster: &mut Cluster,
    fault: Fault,
    rng: &mut Rng,
    undo: &mut Undo,
) -> Result<(Vec<u64>, String), String> {
    let members = cluster.member_ids();
    let running: Vec<u64> = members
        .iter()
        .copied()
        .filter(|id| cluster.node(*id).is_running())
        .collect();
    // Faults aimed at the leader wait a little for one to be elected.
    let leader = cluster.leader().or_else(|| match fault.family() {
        Family::Clock | Family::Disk => None,
        _ => cluster.wait_for_leader(Duration::from_secs(5)).ok(),
    });
    let followers: Vec<u64> = running
        .iter()
        .copied()
        .filter(|id| Some(*id) != leader)
        .collect();
    // Nodes with proxied links (the initial members still in the group).
    let linked: Vec<u64> = members
        .iter()
        .copied()
        .filter(|id| (*id as usize) <= cluster.initial_size())
        .collect();
    let majority = members.len() / 2 + 1;
    match fault {
        Fault::KillLeader | Fault::KillFollower => {
            let pool = if fault == Fault::KillLeader {
                leader.into_iter().collect::<Vec<_>>()
            } else {
                followers.clone()
            };
            let id = any(rng, &pool).ok_or("no such node running")?;
            cluster.kill(id);
            Ok((vec![id], format!("SIGKILL node {id}")))
        }
        Fault::KillMajority | Fault::KillAll => {
            let mut pool = running.clone();
            rng.shuffle(&mut pool);
            let count = if fault == Fault::KillAll {
                pool.len()
            } else {
                majority.min(pool.len())
            };
            pool.truncate(count);
            for id in &pool {
                cluster.kill(*id);
            }
            Ok((pool.clone(), format!("SIGKILL nodes {pool:?}")))
        }
        Fault::PowerLoss => {
            let mut zeroed = 0;
            for id in &running {
                cluster.kill(*id);
            }
            for id in &members {
                zeroed += cluster.lose_unsynced(*id)?;
            }
            Ok((
                running.clone(),
                format!("SIGKILL all, {zeroed} unsynced bytes zeroed"),
            ))
        }
        Fault::PauseLeader | Fault::PauseFollower => {
            let pool = if fault == Fault::PauseLeader {
                leader.into_iter().collect::<Vec<_>>()
            } else {
                followers.clone()
            };
            let id = any(rng, &pool).ok_or("no such node running")?;
            cluster.pause(id, true);
            Ok((vec![id], format!("SIGSTOP node {id}")))
        }
        Fault::PartitionLeader => {
            let id = leader
                .filter(|l| linked.contains(l))
                .ok_or("no leader with proxied links")?;
            isolate(cluster, &[id], &linked);
            Ok((vec![id], format!("node {id} (leader) cut off both ways")))
        }
        Fault::PartitionHalves => {
            let mut pool = linked.clone();
            rng.shuffle(&mut pool);
            let minority: Vec<u64> = pool[..pool.len() / 2].to_vec();
            isolate(cluster, &minority, &linked);
            Ok((
                minority.clone(),
                format!("minority {minority:?} cut off from the rest"),
            ))
        }
        Fault::PartitionBridge => {
            // Two sides that cannot talk, and one bridge node that talks to both.
            if linked.len() < 3 {
                return Err("a bridge needs three linked nodes".into());
            }
            let mut pool = linked.clone();
            rng.shuffle(&mut pool);
            let bridge = pool[0];
            let rest = &pool[1..];
            let (left, right) = rest.split_at(rest.len() / 2);
            for a in left {
                for b in right {
                    cut(cluster, *a, *b);
                    cut(cluster, *b, *a);
                }
            }
            Ok((
                vec![bridge],
                format!("bridge {bridge} between {left:?} and {right:?}"),
            ))
        }
        Fault::PartitionOneWay => {
            let id = leader
                .filter(|l| linked.contains(l))
                .ok_or("no leader with proxied links")?;
            let inbound = rng.chance(500);
            for other in linked.iter().filter(|o| **o != id) {
                if inbound {
                    cut(cluster, *other, id);
                } else {
                    cut(cluster, id, *other);
                }
            }
            let way = if inbound {
                "hears nobody"
            } else {
                "reaches nobody"
            };
            Ok((vec![id], format!("leader {id} {way} (one way)")))
        }
        Fault::LinkDelay | Fault::LinkLoss => {
            let delay_ms = if fault == Fault::LinkDelay {
                rng.between(20, 200)
            } else {
                0
            };
            let loss = if fault == Fault::LinkLoss {
                rng.between(20, 200) as u32
            } else {
                0
            };
            // Each directed link is hit with even odds (at least one is).
            let mut hit = Vec::new();
            for a in &linked {
                for b in linked.iter().filter(|b| *b != a) {
                    if rng.chance(500) {
                        hit.push((*a, *b));
                    }
                }
            }
            if hit.is_empty() && linked.len() > 1 {
                hit.push((linked[0], linked[1]));
            }
            for (a, b) in &hit {
                let mut flow = cluster.net.flow(*a, *b);
                flow.delay_ms = delay_ms;
                flow.loss_per_mille = loss;
                cluster.net.set(*a, *b, flow);
            }
            let links: Vec<String> = hit.iter().map(|(a, b)| format!("{a}->{b}")).collect();
            Ok((
                linked.clone(),
                format!(
                    "links {}: delay {delay_ms} ms, loss {loss}/1000 chunks",
                    links.join(" ")
                ),
            ))
        }
        Fault::ClockSkew => {
            let id = any(rng, &running).ok_or("no node running")?;
            let offset = rng.between(500, 5_000) as i64 * if rng.chance(500) { 1 } else { -1 };
            cluster.set_clock(id, offset)?;
            Ok((vec![id], format!("node {id} clock {offset:+} ms")))
        }
        Fault::ClockJump => {
            let id = leader
                .or_else(|| any(rng, &running))
                .ok_or("no node running")?;
            let offset = -(rng.between(5_000, 30_000) as i64);
            cluster.set_clock(id, offset)?;
            Ok((
                vec![id],
                format!("node {id} clock jumps {offset:+} ms, then forward"),
            ))
        }
        Fault::FsyncError | Fault::ShortWrite => {
            let id = any(rng, &running).ok_or("no node running")?;
            let name = if fault == Fault::FsyncError {
                "raftlog::fsync"
            } else {
                "raftlog::short-write"
            };
            cluster.failpoint(id, name, "return")?;
            undo.lose_unsynced.push(id);
            Ok((vec![id], format!("node {id}: {name} fails")))
        }
        Fault::SlowFsync => {
            let id = any(rng, &running).ok_or("no node running")?;
            let ms = rng.between(50, 300);
            cluster.failpoint(id, "raftlog::fsync", &format!("sleep({ms})"))?;
            Ok((vec![id], format!("node {id}: every fsync {ms} ms slower")))
        }
        Fault::DiskFull => {
            let id = members
                .iter()
                .copied()
                .find(|id| cluster.node(*id).tmpfs)
                .ok_or("no node has its own small disk (tmpfs not allowed here)")?;
            undo.filler = Some(cluster.fill_disk(id)?);
            Ok((vec![id], format!("node {id}: data disk filled")))
        }
        Fault::Membership => {
            let via = leader.ok_or("no leader")?;
            let joined = cluster.join_new(via)?;
            let now_leader = cluster.leader().unwrap_or(via);
            cluster.leave(now_leader, now_leader)?;
            undo.membership = Some((now_leader, joined));
            Ok((
                vec![joined, now_leader],
                format!("node {joined} joined, leader {now_leader} removed (healed: {now_leader} rejoins wiped, {joined} leaves)"),
            ))
        }
    }
}

/// Stops all traffic both ways between `group` and the other `linked`.
fn isolate(cluster: &Cluster, group: &[u64], linked: &[u64]) {
    for a in group {
        for b in linked.iter().filter(|b| !group.contains(b)) {
            cut(cluster, *a, *b);
            cut(cluster, *b, *a);
        }
    }
}

fn cut(cluster: &Cluster, from: u64, to: u64) {
    let mut flow = cluster.net.flow(from, to);
    flow.cut = true;
    cluster.net.set(from, to, flow);
}

/// Restores everything (see the module docs).
fn heal(cluster: &mut Cluster, undo: Undo) {
    cluster.net.heal();
    if let Some(filler) = undo.filler {
        let _ = std::fs::remove_file(filler);
    }
    for id in cluster.member_ids() {
        if cluster.node(id).paused {
            cluster.pause(id, false);
        }
    }
    if let Some((removed, joined)) = undo.membership {
        let restored = cluster
            .wait_for_leader(Duration::from_secs(20))
            .and_then(|leader| cluster.rejoin(removed, leader))
            .and_then(|()| cluster.wait_for_leader(Duration::from_secs(20)))
            .and_then(|leader| cluster.leave(leader, joined));
        if let Err(e) = restored {
            eprintln!("chaos: restoring the members after a membership change: {e}");
        }
    }
    for id in undo.lose_unsynced {
        cluster.kill(id);
        if let Err(e) = cluster.lose_unsynced(id) {
            eprintln!("chaos: node {id}: {e}");
        }
    }
    for id in cluster.member_ids() {
        cluster.exited(id);
        if cluster.node(id).is_running() {
            let _ = cluster.set_clock(id, 0);
            for name in FAILPOINTS {
                let _ = cluster.failpoint(id, name, "off");
            }
        } else if let Err(e) = cluster.restart(id) {
            eprintln!("chaos: restart node {id}: {e}");
        }
    }
}

/// Heals everything (the end of a run).
pub fn heal_all(cluster: &mut Cluster) {
    heal(cluster, Undo::default());
}
