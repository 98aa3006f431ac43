//! Snapshots of the keyspace as runs: freeze in O(shards), write in the
//! background, adopt the result; and install a run received or found at
//! start-up.
//!
//! The cycle, as the Raft state machine drives it:
//! 1. [`Engine::freeze`], under the caller's apply lock: every shard's head
//!    becomes a frozen layer (a pointer swap per shard, no copy), and the
//!    returned [`FrozenKeyspace`] holds exactly the state at that point.
//!    Writes go on at once, into fresh heads.
//! 2. [`FrozenKeyspace::write_run`], on any thread, with no lock but one
//!    shard's for a moment: merges each shard's frozen layers and old run
//!    into one sorted archive and writes the run file, synced.
//! 3. [`Engine::adopt_run`]: each shard swaps the layers it merged for the
//!    new run (mapped, validated), so memory held by frozen heads is freed
//!    and reads of old keys go to the mapped file.
//!
//! [`Engine::install_run`] replaces the whole keyspace with a run (a
//! snapshot from the leader, or the newest run at start-up); the keys are
//! read in place, not loaded.
//!
//! Invariants:
//! - The merged contents of a `FrozenKeyspace` never change: frozen layers
//!   and runs are immutable.
//! - A shard adopts a run only if its lower layers are still the ones that
//!   were merged; otherwise (it was flushed, or a snapshot was installed)
//!   it keeps what it has, which is newer.
//! - Keys' access times are not written to a run: adopting one carries
//!   them over from the layers it replaces; installing one starts them at
//!   the local time.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::layers::Merged;
use crate::lru::local_lru_clock;
use crate::run::{Record, Run, RunShard, RunWriter, ShardRecords, RUN_SHARDS};
use crate::shard::FrozenShard;
use crate::Engine;

/// The keyspace as one freeze left it; see the module docs.
pub struct FrozenKeyspace {
    /// Each shard's lower layers, by (db, shard) index.
    shards: Vec<FrozenShard>,
}

/// What [`FrozenKeyspace::write_run`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Keys in the run.
    pub keys: u64,
    /// The file's size.
    pub bytes: u64,
}

impl Engine {
    /// Freezes every shard's head (O(shards), no copying). The caller keeps
    /// writes out while it runs, so the result is one consistent cut.
    pub fn freeze(&self) -> FrozenKeyspace {
        let shards = self
            .slots()
            .iter()
            .map(|slot| slot.shard.lock().freeze())
            .collect();
        FrozenKeyspace { shards }
    }

    /// Makes `run`, written from `frozen`, the bottom layer of every shard
    /// whose lower layers are still `frozen`'s. Returns how many adopted it.
    pub fn adopt_run(&self, frozen: &FrozenKeyspace, run: &Arc<Run>) -> usize {
        assert_eq!(
            frozen.shards.len(),
            RUN_SHARDS,
            "one frozen shard per shard"
        );
        let mut adopted = 0;
        for (index, (slot, merged)) in self.slots().iter().zip(&frozen.shards).enumerate() {
            // The access times are set from the merged layers at adoption.
            let shard_run = RunShard::new(run.clone(), index, 0);
            let replaced = slot.shard.lock().adopt(merged, shard_run);
            adopted += usize::from(replaced.is_some());
            drop(replaced);
        }
        adopted
    }

    /// Replaces the whole keyspace with `run`'s keys, read in place. A run
    /// holds no access times (they are local), so every key starts as
    /// accessed now, by the local clock, as a restarted Redis's keys do.
    pub fn install_run(&self, run: &Arc<Run>) {
        let clock = local_lru_clock();
        for (index, slot) in self.slots().iter().enumerate() {
            let shard_run = RunShard::new(run.clone(), index, clock);
            let old = slot.shard.lock().install(shard_run);
            drop(old);
        }
    }
}

impl FrozenKeyspace {
    /// Writes the frozen keyspace as a run file at `path`, with `meta`
    /// stored verbatim in it, and syncs the file (the caller renames it
    /// into place and syncs the directory).
    pub fn write_run(&self, path: &Path, meta: &[u8]) -> io::Result<RunSummary> {
        let mut writer = RunWriter::create(path, meta)?;
        let mut keys = 0;
        for shard in &self.shards {
            let mut records = ShardRecords {
                hashes: Vec::new(),
                records: Vec::new(),
                expiring: Vec::new(),
            };
            for (hash, key, view) in Merged::new(shard.layers(), 0) {
                if view.expires_at_ms().is_some() {
                    let index = u32::try_from(records.records.len())
                        .map_err(|_| io::Error::other("over 4G keys in one shard"))?;
                    records.expiring.push(index);
                }
                records.hashes.push(hash);
                records.records.push(Record::new(key, &view.to_entry()));
            }
            keys += records.records.len() as u64;
            writer.add_shard(&records)?;
        }
        let bytes = writer.finish()?;
        Ok(RunSummary { keys, bytes })
    }
}
