//! An ordered open-addressing hash table: the key map of one shard.
//!
//! A shard needs two things from its map. Point lookups must be cheap (every
//! command does at least one), and the keys must also be walkable in
//! (hash, key bytes) order from any hash position, because that order is
//! what `SCAN` cursors, `RANDOMKEY` and snapshots rely on. A B-tree gives the
//! order but costs a dozen cache misses per lookup; a plain hash table is
//! fast but unordered. This table is both.
//!
//! It is linear probing with the *top* bits of the hash as an entry's home
//! slot, no wrap-around, and each probe run kept in (hash, key) order (which
//! is Robin Hood ordering, since a larger hash never has an earlier home).
//! Then the whole slot array is sorted by (hash, key): an ordered walk is a
//! walk over the array, and a lookup starts at its home slot and scans
//! forward over a few contiguous hashes, stopping at the first empty slot
//! or larger hash. Key bytes are compared only when hashes are equal.
//! Entries that would run off the end spill into a tail of extra slots past
//! the last home slot; the tail grows on demand. Removal is backward-shift
//! deletion, so there are no tombstones.
//!
//! A slot is small: the 32 bits of its entry's hash below the prefix (its
//! "fragment") and the position of the entry in a dense array of entries
//! ([`Chunked`]), 8 bytes. The slot array is sized for its load (1.2 to
//! 2.4 slots an entry, as it doubles), but that slack costs 8 bytes a
//! slot, not the 96 of a key with its value; the entries themselves, with
//! their full hashes, are stored once, without gaps, and growing the table
//! rebuilds only the slots: an entry never moves when the table grows. A
//! probe reads 8 fragments per cache line; a fragment match then reads the
//! entry (its full hash, then its key, held inline if short: see
//! [`SmallBytes`]), so a lookup touches one or two cache lines of slots
//! and the entry. Hashes of one table share their prefix, so fragment
//! order is hash order, and the home slot is the fragment's top bits.
//!
//! An empty slot holds the largest fragment, which is `>=` every fragment
//! and so ends a probe; since a real fragment may also equal it, a slot is
//! empty exactly when its entry position is `NO_ENTRY`.
//!
//! The keys of one shard share the top bits of their hashes (they pick the
//! shard), so the home slot is taken from the bits below that shared
//! prefix; otherwise all keys would crowd into a fraction of the slots.
//!
//! Invariants (checked by [`Table::check_invariants`]):
//! - Sorted: the occupied slots' entries, in slot order, are strictly
//!   increasing in (hash, key bytes).
//! - Home: an entry's slot is at or after its home slot (there is no wrap).
//! - No gaps: every slot from an entry's home slot up to its slot is
//!   occupied, which is why a probe may stop at the first empty slot.
//! - An empty slot is `EMPTY_SLOT`; an occupied slot names an entry, no
//!   two slots the same one, every entry is named, and the slot's fragment
//!   is its entry's hash's. So the number of entries is the number of
//!   occupied slots.
//! - Every hash has the table's `prefix` in its top `prefix_bits` bits.
//! - A [`Found`] or [`Vacant`] handle is used only before the next insert,
//!   removal or resize; a generation counter asserts it.

use std::cmp::Ordering;

use crate::chunked::Chunked;
use crate::SmallBytes;

/// The fragment an empty slot holds. Being the largest `u32`, it ends
/// every probe without a separate occupancy check.
const EMPTY_FRAGMENT: u32 = u32::MAX;
/// The entry position of an empty slot.
const NO_ENTRY: u32 = u32::MAX;
/// An empty slot.
const EMPTY_SLOT: Slot = Slot {
    fragment: EMPTY_FRAGMENT,
    entry: NO_ENTRY,
};
/// log2 of the fewest home slots an allocated table has.
const HOME_BITS_MIN: u32 = 3;
/// The most home-slot bits: a home slot is the top bits of a fragment.
/// (Entry positions are `u32`s too: a table holds fewer than 2^32.)
const HOME_BITS_MAX: u32 = 32;
/// Extra slots past the last home slot when a table is (re)built, for the
/// probe runs that start near the end. More are added if one runs over.
const TAIL_SLOTS: usize = 16;
/// The table doubles before its load (entries per home slot) exceeds
/// `LOAD_MAX_NUMERATOR / LOAD_MAX_DENOMINATOR`.
const LOAD_MAX_NUMERATOR: usize = 17;
const LOAD_MAX_DENOMINATOR: usize = 20;
/// It shrinks when fewer than one home slot in this many is used, so mass
/// deletes give memory back.
const SHRINK_BELOW_ONE_IN: usize = 8;
/// Slots per entry averaged over a growth cycle, in thousandths: the load
/// runs from 0.425 (just doubled) to 0.85, and a key count picked at random
/// on a log scale sees `(1/0.425 - 1/0.85) / ln 2 = 1.698` slots an entry.
const AVERAGE_SLOTS_PER_ENTRY_MILLI: u64 = 1698;

/// A slot of the ordered index: its entry's hash fragment and where the
/// entry is; 8 bytes, so a cache line holds eight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// The 32 bits of the entry's hash below the table's prefix.
    fragment: u32,
    /// Position in `Table::entries`, or `NO_ENTRY`.
    entry: u32,
}

/// A stored entry: its hash (the order's first key, beyond a slot's
/// fragment; and how the slot naming it is found when a removal moves it),
/// its key and its value. `repr(C)` keeps the key
/// near the front, so the key compare of a lookup reads the entry's first
/// bytes and a short string value follows right after it.
#[derive(Debug)]
#[repr(C)]
struct Item<V> {
    hash: u64,
    key: SmallBytes,
    value: V,
}

/// Bytes one entry of a `Table<V>` costs on average: the entry itself and
/// its share of the slot array over a growth cycle. A function of the type
/// alone, for O(1) memory estimates that are the same on every node.
pub(crate) const fn entry_bytes<V>() -> u64 {
    let slots = std::mem::size_of::<Slot>() as u64 * AVERAGE_SLOTS_PER_ENTRY_MILLI / 1000;
    std::mem::size_of::<Item<V>>() as u64 + slots
}

/// Bytes a table of `len` entries of `V` holds when it was filled one by
/// one: the entries, and the slot array it grew to. A function of `len`
/// alone, for O(1) memory estimates of collections that are the same on
/// every node (a table that shrank after deletes holds a little more).
pub(crate) fn estimated_bytes<V>(len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    // The fewest home slots, a power of two, that keep the load limit.
    let home = (len * LOAD_MAX_DENOMINATOR)
        .div_ceil(LOAD_MAX_NUMERATOR)
        .next_power_of_two()
        .max(1 << HOME_BITS_MIN);
    let slots = (home + TAIL_SLOTS) * std::mem::size_of::<Slot>();
    (len * std::mem::size_of::<Item<V>>() + slots) as u64
}

/// Where a key is stored; from [`Table::find`]. Valid until the table next
/// changes shape (insert, removal, resize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// The slot holding the entry.
    index: usize,
    /// The table's generation when this handle was made.
    generation: u64,
}

/// Where a missing key belongs; from [`Table::find`]. Valid until the table
/// next changes shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vacant {
    /// The slot the key goes in; later entries of its run shift right.
    index: usize,
    /// The missing key's hash.
    hash: u64,
    /// The table's generation when this handle was made.
    generation: u64,
}

impl Vacant {
    /// The missing key's hash.
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

/// A map from (hash, key bytes) to `V`, ordered by (hash, key bytes).
#[derive(Debug)]
pub(crate) struct Table<V> {
    /// The ordered index: each slot's hash and entry, or `EMPTY_SLOT`.
    slots: Vec<Slot>,
    /// The entries, dense, in no particular order; the slots give the order.
    entries: Chunked<Item<V>>,
    /// log2 of the number of home slots; the slot array is longer by the
    /// tail. Meaningful only once `slots` is allocated.
    home_bits: u32,
    /// How many top bits every hash shares (the shard index bits).
    prefix_bits: u32,
    /// The value of those shared top bits.
    prefix: u64,
    /// Counts changes of shape, to catch stale `Found`/`Vacant` handles.
    generation: u64,
}

impl<V> Table<V> {
    /// An empty table, allocating nothing, for hashes whose top
    /// `prefix_bits` bits are `prefix`.
    pub(crate) fn new(prefix_bits: u32, prefix: u64) -> Table<V> {
        assert!(prefix_bits < 64 - HOME_BITS_MAX, "prefix too long");
        assert!(prefix >> prefix_bits == 0, "prefix wider than its bits");
        Table {
            slots: Vec::new(),
            entries: Chunked::default(),
            home_bits: HOME_BITS_MIN,
            prefix_bits,
            prefix,
            generation: 0,
        }
    }

    /// Entries stored.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Empties the table, returning its old contents (to be dropped outside
    /// any lock).
    pub(crate) fn take(&mut self) -> Table<V> {
        let mut empty = Table::new(self.prefix_bits, self.prefix);
        empty.generation = self.generation + 1;
        std::mem::replace(self, empty)
    }

    /// The top `prefix_bits` bits of `hash`.
    #[inline]
    fn prefix_of(&self, hash: u64) -> u64 {
        hash.checked_shr(64 - self.prefix_bits).unwrap_or(0)
    }

    /// The 32 bits of `hash` below the prefix.
    #[inline]
    fn fragment(&self, hash: u64) -> u32 {
        ((hash << self.prefix_bits) >> 32) as u32
    }

    /// The home slot of `hash`: the `home_bits` bits below the prefix.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        self.home_of(self.fragment(hash))
    }

    /// The home slot of an entry whose fragment is `fragment`.
    #[inline]
    fn home_of(&self, fragment: u32) -> usize {
        (fragment >> (32 - self.home_bits)) as usize
    }

    #[inline]
    fn is_occupied(&self, index: usize) -> bool {
        self.slots[index].entry != NO_ENTRY
    }

    /// The entry an occupied slot names.
    #[inline]
    fn item(&self, slot: Slot) -> &Item<V> {
        debug_assert!(slot.entry != NO_ENTRY, "empty slot read");
        self.entries.get(slot.entry as usize)
    }

    /// Looks up (`hash`, `key`): where it is, or where it would go.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Result<Found, Vacant> {
        let fragment = self.fragment(hash);
        let mut index = self.home_of(fragment);
        while let Some(&slot) = self.slots.get(index) {
            match slot.fragment.cmp(&fragment) {
                Ordering::Less => index += 1,
                Ordering::Greater => break,
                Ordering::Equal if slot.entry == NO_ENTRY => break,
                Ordering::Equal => {
                    let item = self.item(slot);
                    match item
                        .hash
                        .cmp(&hash)
                        .then_with(|| compare_key(&item.key, key))
                    {
                        Ordering::Less => index += 1,
                        Ordering::Greater => break,
                        Ordering::Equal => {
                            let generation = self.generation;
                            return Ok(Found { index, generation });
                        }
                    }
                }
            }
        }
        let generation = self.generation;
        Err(Vacant {
            index,
            hash,
            generation,
        })
    }

    /// The value of (`hash`, `key`), if stored.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        let found = self.find(hash, key).ok()?;
        Some(self.value(found))
    }

    fn check_handle(&self, generation: u64) {
        assert_eq!(generation, self.generation, "stale table handle");
    }

    /// The slot a live handle points at.
    #[inline]
    fn found_slot(&self, found: Found) -> Slot {
        self.check_handle(found.generation);
        let slot = self.slots[found.index];
        assert!(slot.entry != NO_ENTRY, "found slot is occupied");
        slot
    }

    /// The hash, key and value at `found`.
    #[inline]
    pub(crate) fn slot(&self, found: Found) -> (u64, &SmallBytes, &V) {
        let item = self.item(self.found_slot(found));
        (item.hash, &item.key, &item.value)
    }

    /// The value at `found`.
    #[inline]
    pub(crate) fn value(&self, found: Found) -> &V {
        self.slot(found).2
    }

    /// The value at `found`, to change in place. The key cannot change, so
    /// the handle stays valid.
    #[inline]
    pub(crate) fn value_mut(&mut self, found: Found) -> &mut V {
        let entry = self.found_slot(found).entry;
        &mut self.entries.get_mut(entry as usize).value
    }

    /// Stores `key` (whose hash `vacant` carries) at `vacant`, shifting the
    /// rest of its probe run one slot right, and returns where it went.
    pub(crate) fn insert_at(
        &mut self,
        vacant: Vacant,
        key: impl Into<SmallBytes>,
        value: V,
    ) -> Found {
        self.check_handle(vacant.generation);
        let key = key.into();
        let hash = vacant.hash;
        assert_eq!(self.prefix_of(hash), self.prefix, "hash outside prefix");
        assert!(self.len() < NO_ENTRY as usize, "table too large");
        let mut index = vacant.index;
        if self.slots.is_empty() || (self.len() + 1) * LOAD_MAX_DENOMINATOR > self.load_max() {
            self.rebuild(self.grown_bits());
            index = match self.find(hash, &key) {
                Err(vacant) => vacant.index,
                Ok(_) => panic!("vacant key found after growth"),
            };
        }
        self.debug_check_position(index, hash, &key);
        let empty = self.first_empty_from(index);
        // The empty slot at `empty` rotates down to `index`; the run
        // between moves one slot further from home, staying gap-free and
        // in order.
        self.slots.copy_within(index..empty, index + 1);
        let entry = self.entries.push(Item { hash, key, value }) as u32;
        let fragment = self.fragment(hash);
        self.slots[index] = Slot { fragment, entry };
        self.generation += 1;
        Found {
            index,
            generation: self.generation,
        }
    }

    /// Removes the entry at `found`, returning its key and value and where
    /// the key would go if inserted again.
    pub(crate) fn remove_at(&mut self, found: Found) -> ((SmallBytes, V), Vacant) {
        let entry = self.found_slot(found).entry;
        let hash = self.entries.get(entry as usize).hash;
        let index = found.index;
        // Backward shift: the entries after `index` that sit past their
        // home move one slot back, up to an empty slot or an entry at home.
        let mut end = index + 1;
        while end < self.slots.len()
            && self.is_occupied(end)
            && self.home_of(self.slots[end].fragment) < end
        {
            end += 1;
        }
        self.slots.copy_within(index + 1..end, index);
        self.slots[end - 1] = EMPTY_SLOT;
        let Item { key, value, .. } = self.entries.swap_remove(entry as usize);
        if (entry as usize) < self.len() {
            // The last entry moved into the hole: repoint its slot.
            let moved_from = self.len() as u32;
            let moved = self.slot_of_entry(self.entries.get(entry as usize).hash, moved_from);
            self.slots[moved].entry = entry;
        }
        let removed = (key, value);
        self.generation += 1;
        let sparse = self.len() * SHRINK_BELOW_ONE_IN < self.home_slots();
        if sparse && self.home_bits > HOME_BITS_MIN {
            self.rebuild(Self::bits_for(self.len()));
            self.entries.shrink();
            let vacant = self.find(hash, &removed.0);
            return (removed, vacant.expect_err("removed key still present"));
        }
        // The slot freed (or refilled by the shift with a larger entry) is
        // exactly where the removed key would go again.
        let generation = self.generation;
        let vacant = Vacant {
            index,
            hash,
            generation,
        };
        (removed, vacant)
    }

    /// The slot naming `entry`, whose hash is `hash`: in the probe run
    /// from its home, among the slots of that hash.
    fn slot_of_entry(&self, hash: u64, entry: u32) -> usize {
        let fragment = self.fragment(hash);
        let mut index = self.home_of(fragment);
        loop {
            let slot = self.slots[index];
            if slot.entry == entry {
                return index;
            }
            assert!(
                slot.fragment <= fragment,
                "entry missing from its probe run"
            );
            index += 1;
        }
    }

    /// Entries whose hash is `>= from_hash`, in (hash, key) order.
    pub(crate) fn iter_from(
        &self,
        from_hash: u64,
    ) -> impl Iterator<Item = (u64, &SmallBytes, &V)> + '_ {
        let start = match self.prefix_of(from_hash).cmp(&self.prefix) {
            Ordering::Less => 0,
            Ordering::Equal => self.home(from_hash).min(self.slots.len()),
            Ordering::Greater => self.slots.len(),
        };
        // Entries before `start` have an earlier home, so a smaller hash;
        // entries displaced to `start` or later may still be smaller.
        self.slots[start..]
            .iter()
            .filter(|slot| slot.entry != NO_ENTRY)
            .map(|&slot| {
                let item = self.item(slot);
                (item.hash, &item.key, &item.value)
            })
            .skip_while(move |&(hash, _, _)| hash < from_hash)
    }

    /// Every entry in (hash, key) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &SmallBytes, &V)> + '_ {
        self.iter_from(0)
    }

    fn home_slots(&self) -> usize {
        if self.slots.is_empty() {
            0
        } else {
            1 << self.home_bits
        }
    }

    /// `home_slots * LOAD_MAX_NUMERATOR`, the load limit scaled by the
    /// denominator.
    fn load_max(&self) -> usize {
        self.home_slots() * LOAD_MAX_NUMERATOR
    }

    fn grown_bits(&self) -> u32 {
        let bits = if self.slots.is_empty() {
            HOME_BITS_MIN
        } else {
            self.home_bits + 1
        };
        assert!(bits <= HOME_BITS_MAX, "table too large");
        bits
    }

    /// The home bits for a table rebuilt to hold `len` entries at a load
    /// of at most one half.
    fn bits_for(len: usize) -> u32 {
        let slots = (len * 2).next_power_of_two();
        slots.trailing_zeros().clamp(HOME_BITS_MIN, HOME_BITS_MAX)
    }

    /// The first empty slot at or after `index`, adding a slot to the tail
    /// if the run reaches the end.
    fn first_empty_from(&mut self, index: usize) -> usize {
        let mut empty = index;
        while empty < self.slots.len() && self.is_occupied(empty) {
            empty += 1;
        }
        if empty == self.slots.len() {
            self.push_empty_slot();
        }
        empty
    }

    /// Appends one empty slot, reserving in steps of an eighth of the table
    /// so a long tail costs amortized O(1) without doubling the memory.
    fn push_empty_slot(&mut self) {
        if self.slots.len() == self.slots.capacity() {
            let step = (self.slots.len() / 8).max(TAIL_SLOTS);
            self.slots.reserve_exact(step);
        }
        self.slots.push(EMPTY_SLOT);
    }

    /// Rebuilds the slot array with `2^home_bits` home slots. The slots are
    /// already in order, so each goes to the later of its home and the slot
    /// after the previous one: a sequential fill. The entries stay put.
    fn rebuild(&mut self, home_bits: u32) {
        let slots = (1 << home_bits) + TAIL_SLOTS;
        let old_slots = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; slots]);
        self.home_bits = home_bits;
        self.generation += 1;
        let mut next = 0;
        for slot in old_slots.into_iter().filter(|slot| slot.entry != NO_ENTRY) {
            let index = self.home_of(slot.fragment).max(next);
            if index == self.slots.len() {
                self.push_empty_slot();
            }
            self.slots[index] = slot;
            next = index + 1;
        }
    }

    /// Asserts in debug builds that (`hash`, `key`) belongs at `index`.
    fn debug_check_position(&self, index: usize, hash: u64, key: &[u8]) {
        if cfg!(debug_assertions) {
            assert!(self.home(hash) <= index, "insert before home");
            let before = (self.home(hash)..index).all(|i| self.is_occupied(i));
            assert!(before, "insert after a gap");
            if index > 0 && self.is_occupied(index - 1) {
                let before = self.item(self.slots[index - 1]);
                let order = (before.hash, &before.key[..]).cmp(&(hash, key));
                assert_eq!(order, Ordering::Less, "insert out of order");
            }
            if index < self.slots.len() && self.is_occupied(index) {
                let after = self.item(self.slots[index]);
                let order = (after.hash, &after.key[..]).cmp(&(hash, key));
                assert_eq!(order, Ordering::Greater, "insert out of order");
            }
        }
    }

    /// Panics unless every invariant in the module comment holds. O(slots):
    /// for tests.
    pub(crate) fn check_invariants(&self) {
        self.entries.check_invariants();
        let tail_ok = self.slots.is_empty() || self.slots.len() > self.home_slots();
        assert!(tail_ok, "slot array shorter than the home slots");
        let mut named = vec![false; self.len()];
        let mut previous: Option<(u64, &[u8])> = None;
        let mut run_start = 0;
        for (index, &slot) in self.slots.iter().enumerate() {
            if slot.entry == NO_ENTRY {
                assert_eq!(slot, EMPTY_SLOT, "empty slot {index} has a fragment");
                run_start = index + 1;
                continue;
            }
            let entry = slot.entry as usize;
            assert!(entry < named.len(), "slot {index} names no entry");
            assert!(!named[entry], "two slots name entry {entry}");
            named[entry] = true;
            let Item { hash, key, .. } = self.item(slot);
            let hash = *hash;
            let fragment = self.fragment(hash);
            assert_eq!(fragment, slot.fragment, "slot {index} and its entry differ");
            assert_eq!(self.prefix_of(hash), self.prefix, "hash outside prefix");
            let home = self.home(hash);
            assert!(home <= index, "slot {index} is before its home {home}");
            assert!(home >= run_start, "gap between slot {index} and its home");
            if let Some(previous) = previous {
                assert!(previous < (hash, &key[..]), "slot {index} out of order");
            }
            previous = Some((hash, &key[..]));
        }
        assert!(named.iter().all(|&n| n), "an entry has no slot");
    }
}

/// Orders a stored key against a looked-up one. Keys with equal hashes
/// are almost always equal, so equality is checked first, inline; the
/// ordering of unequal keys is out of line.
#[inline]
fn compare_key(stored: &SmallBytes, key: &[u8]) -> Ordering {
    if stored.eq_slice(key) {
        Ordering::Equal
    } else {
        compare_unequal_keys(stored, key)
    }
}

/// The order of two keys with equal hashes: rare, so kept out of `find`.
#[cold]
#[inline(never)]
fn compare_unequal_keys(stored: &SmallBytes, key: &[u8]) -> Ordering {
    stored.as_slice().cmp(key)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;

    type Model = BTreeMap<(u64, Vec<u8>), u32>;

    /// Inserts or replaces, as the shard does: one `find`.
    fn put(table: &mut Table<u32>, hash: u64, key: &[u8], value: u32) -> Option<u32> {
        match table.find(hash, key) {
            Ok(found) => Some(std::mem::replace(table.value_mut(found), value)),
            Err(vacant) => {
                let found = table.insert_at(vacant, Bytes::copy_from_slice(key), value);
                assert_eq!(*table.value(found), value);
                None
            }
        }
    }

    fn delete(table: &mut Table<u32>, hash: u64, key: &[u8]) -> Option<u32> {
        let found = table.find(hash, key).ok()?;
        let ((stored, value), vacant) = table.remove_at(found);
        assert_eq!(&stored[..], key);
        // The returned position is right: inserting there restores the key.
        assert_eq!(table.find(hash, key), Err(vacant));
        Some(value)
    }

    fn contents(table: &Table<u32>, from_hash: u64) -> Vec<(u64, Vec<u8>, u32)> {
        table
            .iter_from(from_hash)
            .map(|(hash, key, &value)| (hash, key.to_vec(), value))
            .collect()
    }

    fn model_from(model: &Model, from_hash: u64) -> Vec<(u64, Vec<u8>, u32)> {
        model
            .range((from_hash, Vec::new())..)
            .map(|((hash, key), &value)| (*hash, key.clone(), value))
            .collect()
    }

    /// Hashes from a tiny space, so equal hashes, long runs and runs off
    /// the end of the home slots (hashes near `u64::MAX`, including the
    /// empty-slot marker itself) all happen often.
    fn hash() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..4,
            (0u64..16).prop_map(|top| top << 60),
            (u64::MAX - 3..=u64::MAX),
            (0u64..8).prop_map(|top| (top << 61) | 1),
        ]
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..3, 0..3)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u64, Vec<u8>, u32),
        Delete(u64, Vec<u8>),
        Get(u64, Vec<u8>),
        IterFrom(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (hash(), key(), any::<u32>()).prop_map(|(h, k, v)| Op::Put(h, k, v)),
            3 => (hash(), key()).prop_map(|(h, k)| Op::Delete(h, k)),
            1 => (hash(), key()).prop_map(|(h, k)| Op::Get(h, k)),
            1 => prop_oneof![hash(), any::<u64>()].prop_map(Op::IterFrom),
        ]
    }

    fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut table = Table::new(0, 0);
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Put(hash, key, value) => {
                    let expected = model.insert((hash, key.clone()), value);
                    prop_assert_eq!(put(&mut table, hash, &key, value), expected);
                }
                Op::Delete(hash, key) => {
                    let expected = model.remove(&(hash, key.clone()));
                    prop_assert_eq!(delete(&mut table, hash, &key), expected);
                }
                Op::Get(hash, key) => {
                    let expected = model.get(&(hash, key.clone()));
                    prop_assert_eq!(table.get(hash, &key), expected);
                }
                Op::IterFrom(from) => {
                    prop_assert_eq!(contents(&table, from), model_from(&model, from));
                }
            }
            table.check_invariants();
            prop_assert_eq!(table.len(), model.len());
            prop_assert_eq!(contents(&table, 0), model_from(&model, 0));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_an_ordered_model(ops in proptest::collection::vec(op(), 1..200)) {
            run(ops)?;
        }

        /// Enough keys to grow several times, then delete most of them so
        /// the table shrinks on the way down.
        #[test]
        fn grows_and_shrinks_like_the_model(
            keys in proptest::collection::vec((hash(), key()), 50..300),
        ) {
            let mut ops: Vec<Op> = keys
                .iter()
                .enumerate()
                .map(|(i, (h, k))| Op::Put(*h, k.clone(), i as u32))
                .collect();
            ops.extend(keys.iter().map(|(h, k)| Op::Delete(*h, k.clone())));
            run(ops)?;
        }
    }

    /// A key per value of `i`, with well-spread hashes under `prefix`.
    fn spread_hash(i: u64, prefix_bits: u32, prefix: u64) -> u64 {
        let low = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> prefix_bits;
        (prefix << (64 - prefix_bits)) | low
    }

    #[test]
    fn grows_at_the_load_limit_and_shrinks_when_sparse() {
        let mut table = Table::new(6, 5);
        assert_eq!((table.home_slots(), table.slots.len()), (0, 0));
        let mut slots_seen = Vec::new();
        for i in 0..1000u64 {
            let hash = spread_hash(i, 6, 5);
            assert_eq!(put(&mut table, hash, &i.to_le_bytes(), i as u32), None);
            let load_max = table.home_slots() * LOAD_MAX_NUMERATOR;
            assert!(table.len() * LOAD_MAX_DENOMINATOR <= load_max);
            if slots_seen.last() != Some(&table.home_slots()) {
                slots_seen.push(table.home_slots());
            }
        }
        // 8 home slots hold 6 entries (6 * 20 <= 8 * 17), and doubling
        // leaves the load just under one half.
        assert_eq!(slots_seen, [8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
        table.check_invariants();
        for i in 0..1000u64 {
            let hash = spread_hash(i, 6, 5);
            assert_eq!(delete(&mut table, hash, &i.to_le_bytes()), Some(i as u32));
            assert!(
                table.home_slots() <= (table.len() * SHRINK_BELOW_ONE_IN).max(8),
                "{} entries in {} home slots",
                table.len(),
                table.home_slots()
            );
            table.check_invariants();
        }
        assert_eq!(table.home_slots(), 1 << HOME_BITS_MIN);
        assert_eq!(table.len(), 0);
    }

    /// The layout the memory estimates assume, and `estimated_bytes`
    /// against what a table filled one by one really allocates (at most
    /// the first chunk's doubling and a grown tail more).
    #[test]
    fn estimated_bytes_follow_the_allocation() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
        assert_eq!(std::mem::size_of::<Item<crate::Entry>>(), 96);
        for len in [1usize, 6, 7, 100, 511, 512, 1000, 5000, 20_000] {
            let mut table = Table::new(6, 5);
            for i in 0..len as u64 {
                put(&mut table, spread_hash(i, 6, 5), &i.to_le_bytes(), i as u32);
            }
            let allocated = table.slots.capacity() * std::mem::size_of::<Slot>()
                + table.entries.capacity_bytes();
            let estimated = estimated_bytes::<u32>(len) as usize;
            // The first chunk doubles from 4 entries: at most `len` spare.
            let spare_entries = len.clamp(4, crate::chunked::CHUNK_LEN);
            let slack = spare_entries * std::mem::size_of::<Item<u32>>()
                + (table.slots.len() / 8).max(TAIL_SLOTS) * std::mem::size_of::<Slot>();
            assert!(
                estimated <= allocated && allocated <= estimated + slack,
                "{len} entries: estimated {estimated}, allocated {allocated}"
            );
        }
    }

    #[test]
    fn equal_hashes_past_the_end_extend_the_tail() {
        let mut table = Table::new(0, 0);
        // Five keys share the last home slot, so their run overflows the
        // tail of a small table several times over as it grows.
        for i in 0..100u32 {
            let hash = u64::MAX - u64::from(i % 5);
            put(&mut table, hash, &i.to_be_bytes(), i);
            table.check_invariants();
        }
        assert_eq!(table.len(), 100);
        let hashes: Vec<u64> = table.iter().map(|(hash, _, _)| hash).collect();
        assert!(hashes.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(table.iter_from(u64::MAX).count(), 20);
        assert_eq!(table.get(u64::MAX, &95u32.to_be_bytes()), Some(&95));
    }

    #[test]
    fn iterates_from_any_position() {
        let (prefix_bits, prefix) = (6, 40);
        let mut table = Table::new(prefix_bits, prefix);
        let mut model = Model::new();
        for i in 0..500u64 {
            let hash = spread_hash(i % 300, prefix_bits, prefix);
            put(&mut table, hash, &i.to_be_bytes(), i as u32);
            model.insert((hash, i.to_be_bytes().to_vec()), i as u32);
        }
        let mut positions: Vec<u64> = model.keys().map(|(hash, _)| *hash).collect();
        positions.extend([0, u64::MAX, prefix << 58, (prefix + 1) << 58]);
        positions.extend(model.keys().map(|(hash, _)| hash + 1));
        positions.extend(model.keys().map(|(hash, _)| hash - 1));
        for from in positions {
            assert_eq!(contents(&table, from), model_from(&model, from), "{from}");
        }
        // Below the prefix: everything; above it: nothing.
        assert_eq!(table.iter_from(0).count(), 500);
        assert_eq!(table.iter_from((prefix + 1) << 58).count(), 0);
    }

    #[test]
    #[should_panic(expected = "stale table handle")]
    fn a_stale_handle_panics() {
        let mut table = Table::new(0, 0);
        let vacant = table.find(1, b"a").expect_err("empty");
        let found = table.insert_at(vacant, Bytes::from_static(b"a"), 1);
        put(&mut table, 2, b"b", 2);
        table.value(found);
    }

    #[test]
    #[should_panic(expected = "hash outside prefix")]
    fn a_hash_outside_the_prefix_panics() {
        let mut table: Table<u32> = Table::new(6, 3);
        put(&mut table, 0, b"a", 1);
    }
}
