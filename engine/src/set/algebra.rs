//! Set algebra (`SUNION`, `SINTER`, `SDIFF`, their `STORE` forms and
//! `SINTERCARD`) over source sets looked up one at a time.
//!
//! The sources' shards are all locked up front (so the command is atomic),
//! but a [`ShardSet`] lends out one shard at a time; so the algebra works
//! on one source at a time, keeping its candidates as owned members.
//!
//! Invariants:
//! - Every key is type-checked before any result is computed: one key of
//!   another type makes the command WRONGTYPE even if an earlier key is
//!   missing (Redis 7.0 checks them all).
//! - A missing key is an empty set.
//! - The result's order is a pure function of the sources and their
//!   orders, so a `STORE` builds the same set on every node.

use crate::engine::ShardSet;
use crate::key::KeyRef;
use crate::{Error, SmallBytes, Value};

use super::Set;

/// Which combination of the sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algebra {
    Union,
    Inter,
    Diff,
}

/// Where the source values come from.
pub(super) trait Sources {
    /// Runs `read` on the value of `key` (`None` if missing).
    fn with_value<R>(&mut self, key: &[u8], read: impl FnOnce(Option<&Value>) -> R) -> R;

    /// Called once every key has been looked up for its type check.
    fn checked(&mut self) {}
}

/// Sources for a read: live values, each key counting one keyspace hit or
/// miss on its type check.
pub(super) struct ReadSources<'a> {
    pub(super) shards: ShardSet<'a>,
    pub(super) now_ms: u64,
    /// Whether lookups still count hits and misses.
    pub(super) counting: bool,
}

impl Sources for ReadSources<'_> {
    fn with_value<R>(&mut self, key: &[u8], read: impl FnOnce(Option<&Value>) -> R) -> R {
        let key = KeyRef::new(key);
        let slot = self.shards.slot(key);
        let entry = self.shards.shard(key).get_live(key, self.now_ms);
        if self.counting {
            slot.count(entry.is_some());
        }
        read(entry.as_deref().map(|entry| &entry.value))
    }

    fn checked(&mut self) {
        self.counting = false;
    }
}

/// Sources for a write: each key is looked up as a write does, which
/// removes it first if it has expired at the apply time.
pub(super) struct WriteSources<'s, 'a> {
    pub(super) shards: &'s mut ShardSet<'a>,
    pub(super) now_ms: u64,
}

impl Sources for WriteSources<'_, '_> {
    fn with_value<R>(&mut self, key: &[u8], read: impl FnOnce(Option<&Value>) -> R) -> R {
        let key = KeyRef::new(key);
        let shard = self.shards.shard(key);
        match shard.find_for_write(key, self.now_ms) {
            Ok(found) => read(Some(&shard.entry(found).value)),
            Err(_) => read(None),
        }
    }
}

/// Runs `read` on the set at `key`, which the type check let through.
fn with_set<R>(sources: &mut impl Sources, key: &[u8], read: impl FnOnce(Option<&Set>) -> R) -> R {
    sources.with_value(key, |value| {
        read(value.map(|value| match value {
            Value::Set(set) => &**set,
            _ => unreachable!("type checked before"),
        }))
    })
}

/// Each key's set size (0 if missing); WRONGTYPE if any key holds another
/// type.
pub(super) fn sizes(
    sources: &mut impl Sources,
    keys: &[impl AsRef<[u8]>],
) -> Result<Vec<usize>, Error> {
    let mut sizes = Vec::with_capacity(keys.len());
    for key in keys {
        let size = sources.with_value(key.as_ref(), |value| match value {
            None => Ok(0),
            Some(Value::Set(set)) => Ok(set.len()),
            Some(_) => Err(Error::WrongType),
        })?;
        sizes.push(size);
    }
    sources.checked();
    Ok(sizes)
}

/// The members of `set` (if any), owned, in its order.
fn owned_members(set: Option<&Set>) -> Vec<SmallBytes> {
    set.map_or_else(Vec::new, |set| {
        set.members()
            .map(|member| SmallBytes::from(&*member))
            .collect()
    })
}

/// The intersection's members, in the order of the smallest source
/// (the first of equal sizes).
pub(super) fn intersection(
    sources: &mut impl Sources,
    keys: &[impl AsRef<[u8]>],
    sizes: &[usize],
) -> Vec<SmallBytes> {
    if sizes.contains(&0) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&index| sizes[index]);
    let mut candidates = with_set(sources, keys[order[0]].as_ref(), owned_members);
    for &index in &order[1..] {
        if candidates.is_empty() {
            break;
        }
        with_set(sources, keys[index].as_ref(), |set| {
            let set = set.expect("a source of a non-empty intersection vanished");
            candidates.retain(|member| set.contains(member));
        });
    }
    candidates
}

/// The members of the first source that no other source has, in its order.
fn difference(
    sources: &mut impl Sources,
    keys: &[impl AsRef<[u8]>],
    sizes: &[usize],
) -> Vec<SmallBytes> {
    let mut candidates = with_set(sources, keys[0].as_ref(), owned_members);
    for (key, &size) in keys[1..].iter().zip(&sizes[1..]) {
        if candidates.is_empty() {
            break;
        }
        if size > 0 {
            with_set(sources, key.as_ref(), |set| {
                let set = set.expect("a sized source vanished");
                candidates.retain(|member| !set.contains(member));
            });
        }
    }
    candidates
}

/// The set `algebra` makes of the sets at `keys`, built member by member
/// from an empty set (so its encoding follows its own contents).
pub(super) fn combine(
    sources: &mut impl Sources,
    keys: &[impl AsRef<[u8]>],
    algebra: Algebra,
) -> Result<Set, Error> {
    let sizes = sizes(sources, keys)?;
    let mut result = Set::default();
    match algebra {
        Algebra::Union => {
            for (key, &size) in keys.iter().zip(&sizes) {
                if size > 0 {
                    with_set(sources, key.as_ref(), |set| {
                        let set = set.expect("a sized source vanished");
                        for member in set.members() {
                            result.insert(&member);
                        }
                    });
                }
            }
        }
        Algebra::Inter | Algebra::Diff => {
            let members = if algebra == Algebra::Inter {
                intersection(sources, keys, &sizes)
            } else {
                difference(sources, keys, &sizes)
            };
            for member in &members {
                result.insert(member);
            }
        }
    }
    Ok(result)
}
