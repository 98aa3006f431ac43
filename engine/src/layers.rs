//! The layers of a shard, and how they read as one keyspace.
//!
//! A shard is LSM-shaped: a mutable head table, then zero or more frozen
//! tables (newest first, each the head as it was when a snapshot froze it),
//! then at most one run (`run.rs`), the sorted, mapped bottom layer. A
//! layer above can delete a key that a layer below holds: it keeps a
//! tombstone for it. A key's current entry is the one in the newest layer
//! that holds the key or a tombstone for it.
//!
//! [`Merged`] walks any such stack in (hash, key bytes) order, yielding each
//! live key once with its newest entry; `SCAN`, `KEYS`, dumps and the
//! snapshot writer all read a shard through it.
//!
//! Invariants:
//! - Within one layer, a key is in the entries or in the tombstones, never
//!   both; a tombstone only stands for a key some lower layer holds.
//! - Every layer's walk is in strictly increasing (hash, key bytes) order,
//!   so the merge is a k-way merge with the newest layer winning ties.
//! - A frozen layer is never changed again; it is shared (`Arc`) with the
//!   snapshot writer until its run replaces it. Only its keys' access times
//!   (atomics, local metadata: `lru.rs`) still move, as reads find them.

use std::borrow::Cow;
use std::iter::Peekable;
use std::sync::Arc;

use crate::lru::Lru;
use crate::run::{record_type_name, ArchivedRecord, Materialize, RunShard};
use crate::table::Table;
use crate::Entry;

/// A head table as a snapshot froze it.
#[derive(Debug)]
pub(crate) struct Frozen {
    /// The head's entries at the freeze.
    pub(crate) entries: Table<Entry>,
    /// The head's tombstones at the freeze.
    pub(crate) tombstones: Table<()>,
    /// The entries' share of the memory estimate.
    pub(crate) cost_bytes: u64,
}

impl Frozen {
    /// What this layer says of (`hash`, `key`): `Some(Some(entry))` if it
    /// holds it, `Some(None)` if it deleted it, `None` if it has no say.
    #[inline]
    pub(crate) fn lookup(&self, hash: u64, key: &[u8]) -> Option<Option<&Entry>> {
        if let Some(entry) = self.entries.get(hash, key) {
            return Some(Some(entry));
        }
        if self.tombstones.len() > 0 && self.tombstones.get(hash, key).is_some() {
            return Some(None);
        }
        None
    }
}

/// A stack of layers to read, newest first.
#[derive(Clone, Copy)]
pub(crate) struct Layers<'a> {
    /// The mutable head's entries and tombstones, if it is part of the read.
    pub(crate) head: Option<(&'a Table<Entry>, &'a Table<()>)>,
    /// Frozen tables, newest first.
    pub(crate) frozen: &'a [Arc<Frozen>],
    /// The run at the bottom, if any.
    pub(crate) base: Option<&'a RunShard>,
}

/// A key's entry, wherever it lives.
#[derive(Clone, Copy)]
pub(crate) enum EntryView<'a> {
    /// In a head or frozen table.
    Table(&'a Entry),
    /// In the run, at this position.
    Run(&'a ArchivedRecord, &'a RunShard, usize),
}

impl<'a> EntryView<'a> {
    pub(crate) fn expires_at_ms(&self) -> Option<u64> {
        match self {
            EntryView::Table(entry) => entry.expires_at_ms(),
            EntryView::Run(record, ..) => record.expires_at_ms.as_ref().map(|at| at.to_native()),
        }
    }

    /// Whether the key is expired at `now_ms` (see [`Entry::is_expired`]).
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms().is_some_and(|at| at <= now_ms)
    }

    /// The name `TYPE` replies with.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            EntryView::Table(entry) => entry.value.type_name(),
            EntryView::Run(record, ..) => record_type_name(record),
        }
    }

    /// The key's access time, wherever it is kept.
    pub(crate) fn lru(&self) -> &'a Lru {
        match self {
            EntryView::Table(entry) => &entry.lru,
            EntryView::Run(_, run, position) => run.lru(*position),
        }
    }

    /// The entry itself; one in the run is materialized sharing the
    /// mapping's bytes.
    pub(crate) fn to_entry(self) -> Cow<'a, Entry> {
        match self {
            EntryView::Table(entry) => Cow::Borrowed(entry),
            EntryView::Run(record, run, _) => Cow::Owned(run.entry(record, Materialize::Share)),
        }
    }
}

/// What one layer holds for a key during a merge.
enum Held<'a> {
    Entry(&'a Entry),
    Tombstone,
    Record(&'a ArchivedRecord, usize),
}

type LayerWalk<'a> = Peekable<Box<dyn Iterator<Item = (u64, &'a [u8], Held<'a>)> + 'a>>;

/// Every live key of a stack of layers from a hash position on, in
/// (hash, key bytes) order, as (hash, key, entry). "Live" here means not
/// deleted; expired keys are included (their removal is a write).
pub(crate) struct Merged<'a> {
    /// One walk per entries table, tombstone table and run, newest first.
    walks: Vec<LayerWalk<'a>>,
    base: Option<&'a RunShard>,
}

impl<'a> Merged<'a> {
    pub(crate) fn new(layers: Layers<'a>, from_hash: u64) -> Merged<'a> {
        let mut walks: Vec<LayerWalk<'a>> = Vec::new();
        let mut add_table = |entries: &'a Table<Entry>, tombstones: &'a Table<()>| {
            let live = entries
                .iter_from(from_hash)
                .map(|(hash, key, entry)| (hash, key.as_slice(), Held::Entry(entry)));
            walks.push((Box::new(live) as Box<dyn Iterator<Item = _>>).peekable());
            if tombstones.len() > 0 {
                let dead = tombstones
                    .iter_from(from_hash)
                    .map(|(hash, key, ())| (hash, key.as_slice(), Held::Tombstone));
                walks.push((Box::new(dead) as Box<dyn Iterator<Item = _>>).peekable());
            }
        };
        if let Some((entries, tombstones)) = layers.head {
            add_table(entries, tombstones);
        }
        for frozen in layers.frozen {
            add_table(&frozen.entries, &frozen.tombstones);
        }
        if let Some(base) = layers.base {
            let records = base
                .iter_from(from_hash)
                .map(|(at, hash, key, record)| (hash, key, Held::Record(record, at)));
            walks.push((Box::new(records) as Box<dyn Iterator<Item = _>>).peekable());
        }
        Merged {
            walks,
            base: layers.base,
        }
    }
}

impl<'a> Iterator for Merged<'a> {
    type Item = (u64, &'a [u8], EntryView<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // The smallest key; on a tie the first (newest) walk wins.
            let mut first: Option<(usize, u64, &'a [u8])> = None;
            for (i, walk) in self.walks.iter_mut().enumerate() {
                if let Some(&(hash, key, _)) = walk.peek() {
                    if first.is_none_or(|(_, h, k)| (hash, key) < (h, k)) {
                        first = Some((i, hash, key));
                    }
                }
            }
            let (winner, hash, key) = first?;
            let (_, _, held) = self.walks[winner].next().expect("peeked");
            for walk in &mut self.walks[winner + 1..] {
                if walk.peek().is_some_and(|&(h, k, _)| (h, k) == (hash, key)) {
                    walk.next();
                }
            }
            let view = match held {
                Held::Tombstone => continue,
                Held::Entry(entry) => EntryView::Table(entry),
                Held::Record(record, at) => {
                    EntryView::Run(record, self.base.expect("a record comes from the run"), at)
                }
            };
            return Some((hash, key, view));
        }
    }
}
