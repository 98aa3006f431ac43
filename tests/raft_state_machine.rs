//! The real state machine (`server/src/raft/state_machine.rs` over the
//! engine): openraft's storage conformance suite with the real log store,
//! and apply / snapshot / install round trips checked through the engine's
//! read API.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    AnyError, CommittedLeaderId, Entry, EntryPayload, LogId, StorageError, StorageIOError,
};
use redraft_engine::{
    Engine, Error, ExpireCommand, ExpireCondition, Reply, ReplySink, SetCondition, TtlChange,
    WriteOp,
};
use redraft_server::raft::log_store::LogStore;

use redraft_server::apply::INCOMPLETE_ERROR;
use redraft_server::raft::snapshot_data::SnapshotData;
use redraft_server::raft::state_machine::{StateMachine, SNAPSHOT_FILE};
use redraft_server::raft::types::{Applied, Command, NodeId, Request, TypeConfig};
use redraft_server::raft::upload::Uploads;
use redraft_server::route::{Op, Outcome, Proposal};

#[path = "common/raft.rs"]
mod raft_common;

/// Builds the real log store on a fresh directory with small segments, and
/// the real state machine over a fresh engine.
struct Builder;

impl StoreBuilder<TypeConfig, LogStore<TypeConfig>, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<TypeConfig>, StateMachine), StorageError<NodeId>> {
        let (dir, log) = raft_common::small_raft_log("redraft-sm-suite-");
        let machine = StateMachine::open(Arc::new(Engine::new()), &dir.path().join("snapshot"))
            .map_err(|e| StorageIOError::read_state_machine(AnyError::error(e)))?;
        Ok((dir, LogStore::new(log), machine))
    }
}

#[test]
fn openraft_storage_suite_passes_with_the_real_state_machine() {
    Suite::test_all(Builder).unwrap();
}

/// Records read replies as text, one string per reply element.
#[derive(Default)]
struct Recorder(Vec<String>);

impl ReplySink for Recorder {
    fn ok(&mut self) {
        self.0.push("OK".into());
    }
    fn simple(&mut self, text: &str) {
        self.0.push(format!("+{text}"));
    }
    fn int(&mut self, value: i64) {
        self.0.push(format!(":{value}"));
    }
    fn bulk(&mut self, value: &[u8]) {
        self.0.push(String::from_utf8_lossy(value).into_owned());
    }
    fn nil(&mut self) {
        self.0.push("(nil)".into());
    }
    fn nil_array(&mut self) {
        self.0.push("(nil array)".into());
    }
    fn array(&mut self, len: usize) {
        self.0.push(format!("*{len}"));
    }
    fn double(&mut self, value: f64) {
        self.0.push(format!(",{value}"));
    }
    fn map(&mut self, len: usize) {
        self.0.push(format!("%{len}"));
    }
    fn set(&mut self, len: usize) {
        self.0.push(format!("~{len}"));
    }
    fn is_resp3(&self) -> bool {
        false
    }
    fn error(&mut self, error: &Error) {
        self.0.push(format!("-{error:?}"));
    }
}

fn get(engine: &Engine, db: usize, key: &str, now_ms: u64) -> String {
    let mut sink = Recorder::default();
    engine.get(db, key.as_bytes(), now_ms, &mut sink);
    assert_eq!(sink.0.len(), 1, "GET replies one value");
    sink.0.pop().unwrap()
}

fn pttl(engine: &Engine, db: usize, key: &str, now_ms: u64) -> i64 {
    engine.ttl(db, key.as_bytes(), now_ms, true, false)
}

fn key(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn set(db: u8, name: &str, value: &str) -> Command {
    let op = WriteOp::Set {
        key: key(name),
        value: key(value),
        condition: SetCondition::Always,
        ttl: TtlChange::Clear,
        get: false,
    };
    Command {
        db,
        op: Op::Write(op),
    }
}

fn incr(db: u8, name: &str) -> Command {
    let op = WriteOp::IncrBy {
        key: key(name),
        delta: 1,
    };
    Command {
        db,
        op: Op::Write(op),
    }
}

fn expire_s(db: u8, name: &str, seconds: i64) -> Command {
    let op = WriteOp::Expire {
        key: key(name),
        amount: seconds,
        command: ExpireCommand::Expire,
        condition: ExpireCondition::Always,
    };
    Command {
        db,
        op: Op::Write(op),
    }
}

fn normal(index: u64, stamp_ms: u64, commands: Vec<Command>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request {
            stamp_ms,
            origin: 7,
            proposal: index,
            commands,
        }),
    }
}

/// Entries 1-3, stamped 1_000_000, 1_000_500 and 1_001_000 ms.
fn entries() -> Vec<Entry<TypeConfig>> {
    vec![
        normal(
            1,
            1_000_000,
            vec![set(0, "a", "1"), incr(0, "a"), set(5, "b", "x")],
        ),
        normal(2, 1_000_500, vec![expire_s(0, "a", 10), incr(0, "counter")]),
        normal(
            3,
            1_001_000,
            vec![incr(5, "b"), expire_s(5, "b", 100), incr(0, "counter")],
        ),
    ]
}

type Seen = Arc<Mutex<Vec<(u64, Vec<Reply>)>>>;

/// A state machine over `engine` with its snapshots in a new temporary
/// directory, which lives as long as the returned guard.
fn in_temp_dir(engine: Arc<Engine>) -> (tempfile::TempDir, StateMachine) {
    let dir = tempfile::Builder::new()
        .prefix("redraft-sm-")
        .tempdir()
        .unwrap();
    let machine = StateMachine::open(engine, dir.path()).unwrap();
    (dir, machine)
}

fn observed(machine: &StateMachine) -> Seen {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    machine.set_observer(Box::new(move |entry| {
        let index = entry.index;
        let replies = entry
            .replies
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Applied(reply) => reply,
                other => panic!("a write applied as {other:?}"),
            })
            .collect();
        sink.lock().unwrap().push((index, replies));
    }));
    seen
}

#[tokio::test]
async fn apply_executes_each_batch_at_its_stamp_and_reports_replies() {
    let engine = Arc::new(Engine::new());
    let (_machine_dir, mut machine) = in_temp_dir(engine.clone());
    let seen = observed(&machine);

    let applied = machine.apply(entries()).await.unwrap();
    assert_eq!(
        applied,
        vec![
            Applied { index: 1 },
            Applied { index: 2 },
            Applied { index: 3 }
        ]
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (1, vec![Reply::Ok, Reply::Int(2), Reply::Ok]),
            (2, vec![Reply::Int(1), Reply::Int(1)]),
            (
                3,
                vec![
                    Reply::Error(Error::NotInteger),
                    Reply::Int(1),
                    Reply::Int(2)
                ]
            ),
        ]
    );
    assert_eq!(machine.last_applied().map(|id| id.index), Some(3));

    // TTLs were computed from the entries' stamps, not from a clock.
    assert_eq!(pttl(&engine, 0, "a", 1_000_500), 10_000);
    assert_eq!(pttl(&engine, 5, "b", 1_001_000), 100_000);
    assert_eq!(get(&engine, 0, "a", 1_000_600), "2");
    assert_eq!(get(&engine, 0, "a", 1_010_500), "(nil)", "a expired");
}

#[tokio::test]
async fn a_snapshot_installs_into_a_fresh_engine() {
    let engine = Arc::new(Engine::new());
    let (_machine_dir, mut machine) = in_temp_dir(engine.clone());
    machine.apply(entries()).await.unwrap();
    let snapshot = machine.build_snapshot().await.unwrap();
    assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(3));

    let fresh = Arc::new(Engine::new());
    let (_follower_dir, mut follower) = in_temp_dir(fresh.clone());
    // Something the snapshot must replace.
    follower
        .apply(vec![normal(1, 5, vec![set(7, "stale", "old")])])
        .await
        .unwrap();
    let data = snapshot.snapshot.into_bytes().to_vec();
    follower
        .install_snapshot(&snapshot.meta, Box::new(SnapshotData::from(data.clone())))
        .await
        .unwrap();

    assert_eq!(follower.last_applied(), snapshot.meta.last_log_id);
    let (last, _membership) = follower.applied_state().await.unwrap();
    assert_eq!(last, snapshot.meta.last_log_id);
    let now_ms = 1_002_000;
    let keys = [(0, "a"), (0, "counter"), (5, "b"), (7, "stale")];
    assert_same_keys(&fresh, &engine, &keys, now_ms);
    assert_eq!(get(&fresh, 0, "counter", now_ms), "2");
    assert_eq!(pttl(&fresh, 0, "a", now_ms), 8_500);
    assert_eq!(get(&fresh, 7, "stale", now_ms), "(nil)");
    assert_eq!(fresh.dump(), engine.dump());
    fresh.check_invariants();

    let current: Snapshot<TypeConfig> = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(current.snapshot.into_bytes().to_vec(), data);

    // Applying continues from the snapshot.
    follower
        .apply(vec![normal(4, 1_003_000, vec![incr(0, "counter")])])
        .await
        .unwrap();
    assert_eq!(get(&fresh, 0, "counter", now_ms), "3");
}

#[tokio::test]
async fn a_corrupted_snapshot_is_refused_and_changes_nothing() {
    let (_machine_dir, mut machine) = in_temp_dir(Arc::new(Engine::new()));
    machine.apply(entries()).await.unwrap();
    let snapshot = machine.build_snapshot().await.unwrap();
    let data = snapshot.snapshot.into_bytes().to_vec();

    for position in [0, data.len() / 2, data.len() - 1] {
        let mut corrupted = data.clone();
        corrupted[position] ^= 0x01;
        let fresh = Arc::new(Engine::new());
        let (_follower_dir, mut follower) = in_temp_dir(fresh.clone());
        follower
            .apply(vec![normal(1, 5, vec![set(0, "kept", "yes")])])
            .await
            .unwrap();
        let result = follower
            .install_snapshot(&snapshot.meta, Box::new(SnapshotData::from(corrupted)))
            .await;
        assert!(result.is_err(), "byte {position} flipped, yet installed");
        assert_eq!(get(&fresh, 0, "kept", 10), "yes");
        assert_eq!(follower.last_applied().map(|id| id.index), Some(1));
        assert!(follower.get_current_snapshot().await.unwrap().is_none());
    }

    let truncated = data[..data.len() - 1].to_vec();
    let (_follower_dir, mut follower) = in_temp_dir(Arc::new(Engine::new()));
    let result = follower
        .install_snapshot(&snapshot.meta, Box::new(SnapshotData::from(truncated)))
        .await;
    assert!(result.is_err(), "a truncated snapshot was installed");
}

#[tokio::test]
async fn snapshots_persist_and_a_reopened_state_machine_starts_from_them() {
    let dir = tempfile::Builder::new()
        .prefix("redraft-sm-persist-")
        .tempdir()
        .unwrap();
    let engine = Arc::new(Engine::new());
    let mut machine = StateMachine::open(engine.clone(), dir.path()).unwrap();
    assert_eq!(machine.last_applied(), None, "a fresh directory is empty");
    machine.apply(entries()).await.unwrap();
    let snapshot = machine.build_snapshot().await.unwrap();

    // Reopened over a fresh engine: the snapshot's state and position.
    let reopened_engine = Arc::new(Engine::new());
    let mut reopened = StateMachine::open(reopened_engine.clone(), dir.path()).unwrap();
    assert_eq!(reopened.last_applied(), snapshot.meta.last_log_id);
    let now_ms = 1_002_000;
    let keys = [(0, "a"), (0, "counter"), (5, "b")];
    assert_same_keys(&reopened_engine, &engine, &keys, now_ms);
    let current = reopened.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, snapshot.meta.last_log_id);

    // Writes over the mapped snapshot, and a second snapshot merging them
    // into it, survive another reopen.
    reopened
        .apply(vec![normal(
            4,
            1_003_000,
            vec![incr(0, "counter"), set(3, "new", "n")],
        )])
        .await
        .unwrap();
    let second = reopened.build_snapshot().await.unwrap();
    assert_eq!(second.meta.last_log_id.map(|id| id.index), Some(4));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![SNAPSHOT_FILE], "only the current snapshot");
    let third_engine = Arc::new(Engine::new());
    let third = StateMachine::open(third_engine.clone(), dir.path()).unwrap();
    assert_eq!(third.last_applied(), second.meta.last_log_id);
    assert_eq!(third_engine.dump(), reopened_engine.dump());
    assert_eq!(get(&third_engine, 0, "counter", now_ms), "3");
    assert_eq!(get(&third_engine, 3, "new", now_ms), "n");
    third_engine.check_invariants();
    drop(third);

    // A damaged snapshot stops the node rather than start from nothing.
    let path = dir.path().join(SNAPSHOT_FILE);
    let mut data = std::fs::read(&path).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x40;
    std::fs::write(&path, &data).unwrap();
    let error = match StateMachine::open(Arc::new(Engine::new()), dir.path()) {
        Ok(_) => panic!("a corrupt snapshot must not open"),
        Err(error) => error,
    };
    assert!(error.contains("checksum"), "{error}");
}

/// Asserts `copy` holds the same value and PTTL as `original` for each
/// (db, key) at `now_ms`.
fn assert_same_keys(copy: &Engine, original: &Engine, keys: &[(usize, &str)], now_ms: u64) {
    for &(db, name) in keys {
        assert_eq!(
            get(copy, db, name, now_ms),
            get(original, db, name, now_ms),
            "GET {name} in db {db}"
        );
        assert_eq!(
            pttl(copy, db, name, now_ms),
            pttl(original, db, name, now_ms),
            "PTTL {name} in db {db}"
        );
    }
}

#[tokio::test]
async fn the_replicated_clock_never_goes_back_and_travels_in_snapshots() {
    let engine = Arc::new(Engine::new());
    let (_dir, mut machine) = in_temp_dir(engine.clone());
    // Entries 1-3 end at 1_001_000; a new leader whose clock is 500 ms
    // behind stamps entry 4 earlier. It still applies at 1_001_000: "a"
    // (expiring at 1_010_500) keeps its deadline when EXPIRE sets 10 s.
    machine.apply(entries()).await.unwrap();
    machine
        .apply(vec![normal(4, 1_000_500, vec![expire_s(0, "a", 10)])])
        .await
        .unwrap();
    assert_eq!(
        pttl(&engine, 0, "a", 1_001_000),
        10_000,
        "at 1_001_000 + 10 s"
    );

    // A follower restored from a snapshot applies later entries at the
    // same times as the node that applied everything.
    let snapshot = machine.build_snapshot().await.unwrap();
    let data = snapshot.snapshot.into_bytes().to_vec();
    let fresh = Arc::new(Engine::new());
    let (_follower_dir, mut follower) = in_temp_dir(fresh.clone());
    follower
        .install_snapshot(&snapshot.meta, Box::new(SnapshotData::from(data)))
        .await
        .unwrap();
    let late = vec![normal(5, 999_000, vec![expire_s(5, "b", 1)])];
    machine.apply(late.clone()).await.unwrap();
    follower.apply(late).await.unwrap();
    assert_eq!(
        pttl(&engine, 5, "b", 1_001_000),
        1_000,
        "at 1_001_000 + 1 s"
    );
    assert_eq!(fresh.dump(), engine.dump());
}

/// The commands that carry `op` as an upload of `origin`'s proposer:
/// each entry's commands in turn (parts, then the `Assembled`).
fn upload_entries(op: Op) -> Vec<Vec<Command>> {
    let bytes = match &op {
        Op::Write(WriteOp::Set { value, .. }) => value.len() as u32 + 64,
        other => panic!("uploads of {other:?} are not built here"),
    };
    let mut uploads = Uploads::default();
    uploads.begin(
        Proposal {
            route: None,
            db: 2,
            op,
            bytes,
        },
        None,
    );
    let mut entries = Vec::new();
    while uploads.busy() {
        let mut commands = Vec::new();
        uploads.next_commands(&mut commands);
        entries.push(
            commands
                .into_iter()
                .map(|command| Command {
                    db: command.db,
                    op: command.op,
                })
                .collect(),
        );
    }
    entries
}

fn entry_of_term(term: u64, index: u64, commands: Vec<Command>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        ..normal(index, 2_000_000 + index, commands)
    }
}

/// A large write's parts may straddle a snapshot: a node that installs the
/// snapshot holds the staged parts and assembles the same write as the
/// node that built it. An entry of a newer term before the `Assembled`
/// drops the staged parts, and the write is refused whole.
#[tokio::test]
async fn an_upload_straddling_a_snapshot_assembles_on_the_node_that_installs_it() {
    let value = Bytes::from(
        (0..3_500_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let op = Op::Write(WriteOp::Set {
        key: key("big"),
        value: value.clone(),
        condition: SetCondition::Always,
        ttl: TtlChange::Clear,
        get: false,
    });
    let mut parts = upload_entries(op);
    assert_eq!(parts.len(), 4, "four parts of at most 1 MiB");
    let last = parts.pop().unwrap();
    let entries: Vec<Entry<TypeConfig>> = parts
        .into_iter()
        .enumerate()
        .map(|(i, commands)| entry_of_term(1, i as u64 + 1, commands))
        .collect();

    let engine = Arc::new(Engine::new());
    let (_dir, mut leader) = in_temp_dir(engine.clone());
    leader.apply(entries).await.unwrap();
    let snapshot = leader.build_snapshot().await.unwrap();
    let data = snapshot.snapshot.into_bytes().to_vec();

    // One node installs the snapshot and goes on in the same term; another
    // installs it and sees a newer term first.
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let engine = Arc::new(Engine::new());
        let (dir, mut machine) = in_temp_dir(engine.clone());
        machine
            .install_snapshot(&snapshot.meta, Box::new(SnapshotData::from(data.clone())))
            .await
            .unwrap();
        nodes.push((engine, dir, machine));
    }
    let final_entry = || entry_of_term(1, 4, last.clone());
    let seen_leader = observed_outcomes(&leader);
    leader.apply(vec![final_entry()]).await.unwrap();
    let seen_same_term = observed_outcomes(&nodes[0].2);
    nodes[0].2.apply(vec![final_entry()]).await.unwrap();

    let newer = entry_of_term(2, 4, vec![set(0, "other", "x")]);
    let seen_newer = observed_outcomes(&nodes[1].2);
    nodes[1].2.apply(vec![newer]).await.unwrap();
    nodes[1]
        .2
        .apply(vec![entry_of_term(2, 5, last.clone())])
        .await
        .unwrap();

    let applied = vec!["OK".to_string(), "OK".to_string()];
    assert_eq!(seen_leader.lock().unwrap().clone(), vec![applied.clone()]);
    assert_eq!(seen_same_term.lock().unwrap().clone(), vec![applied]);
    let refused = seen_newer.lock().unwrap().clone();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1][0], "OK", "the part is staged");
    assert_eq!(
        refused[1][1],
        format!("failed: {INCOMPLETE_ERROR}"),
        "the write is refused whole"
    );

    for engine in [&engine, &nodes[0].0] {
        let mut sink = Recorder::default();
        engine.strlen(2, b"big", 3_000_000, &mut sink);
        assert_eq!(sink.0, vec![format!(":{}", value.len())]);
    }
    let mut sink = Recorder::default();
    nodes[1].0.strlen(2, b"big", 3_000_000, &mut sink);
    assert_eq!(sink.0, vec![":0"], "nothing of the refused write applied");
}

/// Each applied entry's outcomes as text: a reply's `Debug` form, or
/// `failed: <error>`.
fn observed_outcomes(machine: &StateMachine) -> Arc<Mutex<Vec<Vec<String>>>> {
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let sink = seen.clone();
    machine.set_observer(Box::new(move |entry| {
        let outcomes = entry
            .replies
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Applied(Reply::Ok) => "OK".to_string(),
                Outcome::Applied(reply) => format!("{reply:?}"),
                Outcome::Failed(error) => format!("failed: {error}"),
                other => panic!("an upload applied as {other:?}"),
            })
            .collect();
        sink.lock().unwrap().push(outcomes);
    }));
    seen
}
