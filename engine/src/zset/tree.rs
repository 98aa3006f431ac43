//! An order-statistic B+tree of sorted set elements: the ordered half of
//! the large ("skiplist") encoding.
//!
//! Elements are (score, member) pairs in Redis's order ([`compare`]). They
//! live in leaves, which are chained both ways so a rank range iterates
//! leaf to leaf. Each internal node keeps, per child, the smallest element
//! of the child's subtree and the number of elements in it, so one descent
//! from the root answers an insert, a removal, a rank (how many elements
//! come before a bound, [`Tree::partition_point`]) or a select
//! ([`Tree::get_by_rank`]): all O(log n). Nodes sit in two arenas (leaves
//! and internal nodes) addressed by `u32` indexes; freed slots are reused.
//!
//! A full leaf splits in the middle, except when the element goes after
//! the last element of the last leaf: then a new last leaf takes just that
//! element, so ascending inserts (time-ordered scores, and a rebuild from
//! a snapshot) leave full leaves instead of half-full ones.
//!
//! Invariants (checked by [`Tree::check_invariants`]):
//! - Every leaf is at depth `height`; `root` is a leaf when `height == 0`.
//! - Elements are strictly ascending across the leaves in chain order, and
//!   the chain (`first_leaf`, `next`, `prev`, `last_leaf`) visits exactly
//!   the leaves of the tree, left to right.
//! - A child's `min` equals the first element of its subtree and its
//!   `count` the number of elements in it; `len` is the total.
//! - Leaves hold at most `leaf_max` elements; internal nodes at most
//!   `fanout_max` children. A non-root internal node has at least
//!   `fanout_max / 2` children and the root at least 2. A non-root leaf
//!   has at least `leaf_max / 2` elements, except the last leaf, which has
//!   at least one. Only an empty tree has an empty (root) leaf.

use std::cmp::Ordering;

use super::compare;
use crate::SmallBytes;

/// The index of no node (the end of the leaf chain).
const NONE: u32 = u32::MAX;
/// Elements per leaf in production trees: 64 x 40 bytes, so a leaf
/// insert moves at most 2.5 KB.
pub(super) const LEAF_MAX: usize = 64;
/// Children per internal node in production trees.
pub(super) const FANOUT_MAX: usize = 32;

#[cfg(test)]
thread_local! {
    /// Nodes visited by this thread's tree operations, for the test that
    /// checks their complexity without timing them.
    pub(super) static VISITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one node visit (in tests only).
#[inline(always)]
fn visit() {
    #[cfg(test)]
    VISITS.with(|visits| visits.set(visits.get() + 1));
}

/// A stored element: score and member.
pub(super) type Element = (f64, SmallBytes);

/// How `element` orders against (`score`, `member`).
#[inline]
fn order(element: &Element, score: f64, member: &[u8]) -> Ordering {
    compare((element.0, &element.1), (score, member))
}

#[derive(Debug, Clone)]
struct Leaf {
    /// Ascending elements; allocated with `leaf_max` capacity once.
    entries: Vec<Element>,
    /// The previous leaf in order, or `NONE`.
    prev: u32,
    /// The next leaf in order, or `NONE`.
    next: u32,
}

/// An internal node's reference to one child.
#[derive(Debug, Clone)]
struct Child {
    /// The smallest element of the child's subtree: what a descent
    /// compares against, so it never has to visit the child to choose it.
    min: Element,
    /// The child's index in the arena one level down.
    node: u32,
    /// Elements in the child's subtree, for ranks.
    count: u32,
}

#[derive(Debug, Clone)]
struct Internal {
    /// Children in order; allocated with `fanout_max + 1` capacity, room
    /// for the child that makes a node split.
    children: Vec<Child>,
}

/// The tree. See the module comment for its invariants.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    /// The leaf arena; a freed leaf keeps its slot (with no allocation)
    /// until `free_leaves` hands it out again.
    leaves: Vec<Leaf>,
    /// The internal node arena, likewise.
    internals: Vec<Internal>,
    free_leaves: Vec<u32>,
    free_internals: Vec<u32>,
    /// The root: a leaf index when `height == 0`, else an internal one.
    root: u32,
    /// Internal levels above the leaves.
    height: u32,
    /// Elements stored.
    len: usize,
    /// The ends of the leaf chain.
    first_leaf: u32,
    last_leaf: u32,
    /// Node capacities: the production constants, or small ones in tests
    /// so that splits and merges happen on small inputs.
    leaf_max: usize,
    fanout_max: usize,
}

impl Tree {
    /// An empty tree with the production node sizes.
    pub(super) fn new() -> Tree {
        Tree::with_node_sizes(LEAF_MAX, FANOUT_MAX)
    }

    /// An empty tree whose leaves hold `leaf_max` elements and whose
    /// internal nodes hold `fanout_max` children (both at least 4).
    pub(super) fn with_node_sizes(leaf_max: usize, fanout_max: usize) -> Tree {
        assert!(leaf_max >= 4 && fanout_max >= 4, "node sizes too small");
        let root = Leaf {
            entries: Vec::new(),
            prev: NONE,
            next: NONE,
        };
        Tree {
            leaves: vec![root],
            internals: Vec::new(),
            free_leaves: Vec::new(),
            free_internals: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
            first_leaf: 0,
            last_leaf: 0,
            leaf_max,
            fanout_max,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Internal levels above the leaves.
    #[cfg(test)]
    pub(super) fn height(&self) -> u32 {
        self.height
    }

    /// Heap bytes the tree holds (arenas and node buffers; members longer
    /// than the inline size are counted by the owner, who shares them).
    pub(super) fn memory_bytes(&self) -> u64 {
        let live_leaves = self.leaves.len() - self.free_leaves.len();
        let live_internals = self.internals.len() - self.free_internals.len();
        let arenas = self.leaves.capacity() * size_of::<Leaf>()
            + self.internals.capacity() * size_of::<Internal>()
            + (self.free_leaves.capacity() + self.free_internals.capacity()) * 4;
        let leaf_buffers = live_leaves * self.leaf_max * size_of::<Element>();
        let internal_buffers = live_internals * (self.fanout_max + 1) * size_of::<Child>();
        (arenas + leaf_buffers + internal_buffers) as u64
    }

    fn alloc_leaf(&mut self, leaf: Leaf) -> u32 {
        if let Some(index) = self.free_leaves.pop() {
            self.leaves[index as usize] = leaf;
            return index;
        }
        let index = u32::try_from(self.leaves.len()).expect("leaf arena overflow");
        assert!(index != NONE, "leaf arena overflow");
        self.leaves.push(leaf);
        index
    }

    fn alloc_internal(&mut self, internal: Internal) -> u32 {
        if let Some(index) = self.free_internals.pop() {
            self.internals[index as usize] = internal;
            return index;
        }
        let index = u32::try_from(self.internals.len()).expect("node arena overflow");
        self.internals.push(internal);
        index
    }

    fn free_leaf(&mut self, index: u32) {
        self.leaves[index as usize].entries = Vec::new();
        self.free_leaves.push(index);
    }

    fn free_internal(&mut self, index: u32) {
        self.internals[index as usize].children = Vec::new();
        self.free_internals.push(index);
    }

    /// Elements (at level 0) or children (above) of `node`.
    fn node_len(&self, node: u32, level: u32) -> usize {
        if level == 0 {
            self.leaves[node as usize].entries.len()
        } else {
            self.internals[node as usize].children.len()
        }
    }

    /// The fewest elements or children a non-root node at `level` keeps.
    fn min_len(&self, level: u32) -> usize {
        if level == 0 {
            self.leaf_max / 2
        } else {
            self.fanout_max / 2
        }
    }

    fn max_len(&self, level: u32) -> usize {
        if level == 0 {
            self.leaf_max
        } else {
            self.fanout_max
        }
    }

    /// The smallest element under the (non-empty) `node`: O(1), since
    /// internal nodes keep their children's minimums.
    fn min_of(&self, node: u32, level: u32) -> &Element {
        if level == 0 {
            &self.leaves[node as usize].entries[0]
        } else {
            &self.internals[node as usize].children[0].min
        }
    }

    /// Adds (`score`, `member`), which must not be in the tree.
    pub(super) fn insert(&mut self, score: f64, member: SmallBytes) {
        assert!(self.len < NONE as usize, "sorted set too large");
        let root = self.root;
        let split = self.insert_into(root, self.height, (score, member));
        self.len += 1;
        if let Some(split) = split {
            let count = self.len as u32 - split.count;
            let min = self.min_of(root, self.height).clone();
            let mut children = Vec::with_capacity(self.fanout_max + 1);
            children.push(Child {
                min,
                node: root,
                count,
            });
            children.push(split);
            self.root = self.alloc_internal(Internal { children });
            self.height += 1;
        }
    }

    /// Inserts under `node`; returns the new right sibling if it split.
    fn insert_into(&mut self, node: u32, level: u32, element: Element) -> Option<Child> {
        visit();
        if level == 0 {
            return self.insert_into_leaf(node, element);
        }
        let children = &mut self.internals[node as usize].children;
        let after = children
            .partition_point(|child| order(&child.min, element.0, &element.1) != Ordering::Greater);
        let i = after.saturating_sub(1);
        if after == 0 {
            children[0].min = element.clone();
        }
        children[i].count += 1;
        let child = children[i].node;
        let split = self.insert_into(child, level - 1, element)?;
        let children = &mut self.internals[node as usize].children;
        children[i].count -= split.count;
        children.insert(i + 1, split);
        if children.len() <= self.fanout_max {
            return None;
        }
        Some(self.split_internal(node))
    }

    fn insert_into_leaf(&mut self, node: u32, element: Element) -> Option<Child> {
        let leaf_max = self.leaf_max;
        let leaf = &mut self.leaves[node as usize];
        let pos = leaf
            .entries
            .partition_point(|e| order(e, element.0, &element.1) == Ordering::Less);
        if leaf.entries.len() < leaf_max {
            if leaf.entries.capacity() < leaf_max {
                // The root leaf of a new tree starts unallocated.
                leaf.entries.reserve_exact(leaf_max);
            }
            leaf.entries.insert(pos, element);
            return None;
        }
        let next = leaf.next;
        let mut right = Vec::with_capacity(leaf_max);
        if pos == leaf_max && next == NONE {
            right.push(element);
        } else {
            let mid = leaf_max / 2;
            right.extend(leaf.entries.drain(mid..));
            if pos <= mid {
                leaf.entries.insert(pos, element);
            } else {
                right.insert(pos - mid, element);
            }
        }
        let min = right[0].clone();
        let count = right.len() as u32;
        let new = self.alloc_leaf(Leaf {
            entries: right,
            prev: node,
            next,
        });
        self.leaves[node as usize].next = new;
        if next == NONE {
            self.last_leaf = new;
        } else {
            self.leaves[next as usize].prev = new;
        }
        Some(Child {
            min,
            node: new,
            count,
        })
    }

    /// Moves the upper half of the overfull `node`'s children to a new
    /// node, returned as its right sibling.
    fn split_internal(&mut self, node: u32) -> Child {
        let mut right = Vec::with_capacity(self.fanout_max + 1);
        let children = &mut self.internals[node as usize].children;
        let mid = children.len() / 2;
        right.extend(children.drain(mid..));
        let count = right.iter().map(|child| child.count).sum();
        let min = right[0].min.clone();
        let new = self.alloc_internal(Internal { children: right });
        Child {
            min,
            node: new,
            count,
        }
    }

    /// Removes (`score`, `member`); returns the stored element if it was
    /// there.
    pub(super) fn remove(&mut self, score: f64, member: &[u8]) -> Option<Element> {
        let root = self.root;
        let removed = self.remove_from(root, self.height, score, member)?;
        self.len -= 1;
        if self.height > 0 && self.internals[root as usize].children.len() == 1 {
            self.root = self.internals[root as usize].children[0].node;
            self.free_internal(root);
            self.height -= 1;
        }
        Some(removed)
    }

    fn remove_from(&mut self, node: u32, level: u32, score: f64, member: &[u8]) -> Option<Element> {
        visit();
        if level == 0 {
            let entries = &mut self.leaves[node as usize].entries;
            let pos = entries.binary_search_by(|e| order(e, score, member)).ok()?;
            return Some(entries.remove(pos));
        }
        let children = &self.internals[node as usize].children;
        let after =
            children.partition_point(|child| order(&child.min, score, member) != Ordering::Greater);
        let i = after.checked_sub(1)?;
        let was_min = order(&children[i].min, score, member) == Ordering::Equal;
        let child = children[i].node;
        let removed = self.remove_from(child, level - 1, score, member)?;
        self.internals[node as usize].children[i].count -= 1;
        if self.node_len(child, level - 1) < self.min_len(level - 1) {
            self.rebalance(node, i, level - 1);
        } else if was_min {
            self.refresh_min(node, i, level - 1);
        }
        Some(removed)
    }

    /// Sets the `i`th child's `min` of `parent` from the child itself.
    fn refresh_min(&mut self, parent: u32, i: usize, child_level: u32) {
        let child = self.internals[parent as usize].children[i].node;
        if self.node_len(child, child_level) > 0 {
            let min = self.min_of(child, child_level).clone();
            self.internals[parent as usize].children[i].min = min;
        }
    }

    /// Fixes `parent`'s underfull child `i` (at `child_level`) by merging
    /// it with a sibling, or by evening the two out if they do not fit in
    /// one node.
    fn rebalance(&mut self, parent: u32, i: usize, child_level: u32) {
        let children = &self.internals[parent as usize].children;
        assert!(children.len() >= 2, "an internal node has a single child");
        let (l, r) = if i > 0 { (i - 1, i) } else { (0, 1) };
        let (left, right) = (children[l].node, children[r].node);
        let total = self.node_len(left, child_level) + self.node_len(right, child_level);
        if total <= self.max_len(child_level) {
            self.merge(left, right, child_level);
            let children = &mut self.internals[parent as usize].children;
            let removed = children.remove(r);
            children[l].count += removed.count;
            self.refresh_min(parent, l, child_level);
        } else {
            let moved = self.even_out(left, right, child_level, total / 2);
            let children = &mut self.internals[parent as usize].children;
            children[l].count = (i64::from(children[l].count) + moved) as u32;
            children[r].count = (i64::from(children[r].count) - moved) as u32;
            self.refresh_min(parent, l, child_level);
            self.refresh_min(parent, r, child_level);
        }
    }

    /// Appends the sibling `right` to `left` and frees `right`.
    fn merge(&mut self, left: u32, right: u32, level: u32) {
        if level == 0 {
            let moved = std::mem::take(&mut self.leaves[right as usize].entries);
            self.leaves[left as usize].entries.extend(moved);
            let next = self.leaves[right as usize].next;
            self.leaves[left as usize].next = next;
            if next == NONE {
                self.last_leaf = left;
            } else {
                self.leaves[next as usize].prev = left;
            }
            self.free_leaf(right);
        } else {
            let moved = std::mem::take(&mut self.internals[right as usize].children);
            self.internals[left as usize].children.extend(moved);
            self.free_internal(right);
        }
    }

    /// Moves entries between the siblings `left` and `right` until `left`
    /// has `target`; returns how many elements moved left (negative when
    /// they moved right).
    fn even_out(&mut self, left: u32, right: u32, level: u32, target: usize) -> i64 {
        if level == 0 {
            let mut left_entries = std::mem::take(&mut self.leaves[left as usize].entries);
            let right_entries = &mut self.leaves[right as usize].entries;
            let moved = shift(&mut left_entries, right_entries, target, |_| 1);
            self.leaves[left as usize].entries = left_entries;
            moved
        } else {
            let mut left_children = std::mem::take(&mut self.internals[left as usize].children);
            let right_children = &mut self.internals[right as usize].children;
            let moved = shift(&mut left_children, right_children, target, |child| {
                i64::from(child.count)
            });
            self.internals[left as usize].children = left_children;
            moved
        }
    }

    /// How many leading elements satisfy `before` (which holds for a
    /// prefix of the elements and fails for the rest).
    pub(super) fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = self.root;
        let mut rank = 0;
        for _ in 0..self.height {
            visit();
            let children = &self.internals[node as usize].children;
            let after = children.partition_point(|child| before(child.min.0, &child.min.1));
            let Some(i) = after.checked_sub(1) else {
                return rank;
            };
            rank += children[..i]
                .iter()
                .map(|c| c.count as usize)
                .sum::<usize>();
            node = children[i].node;
        }
        visit();
        let entries = &self.leaves[node as usize].entries;
        rank + entries.partition_point(|(score, member)| before(*score, member))
    }

    /// The leaf and position holding the element of rank `rank < len`.
    fn locate(&self, mut rank: usize) -> (u32, usize) {
        assert!(rank < self.len, "rank out of bounds");
        let mut node = self.root;
        for _ in 0..self.height {
            visit();
            let children = &self.internals[node as usize].children;
            let mut i = 0;
            while rank >= children[i].count as usize {
                rank -= children[i].count as usize;
                i += 1;
            }
            node = children[i].node;
        }
        visit();
        (node, rank)
    }

    /// The stored element at rank `rank < len`.
    pub(super) fn element_by_rank(&self, rank: usize) -> &Element {
        let (leaf, pos) = self.locate(rank);
        &self.leaves[leaf as usize].entries[pos]
    }

    /// The element at ascending rank `rank`.
    pub(super) fn get_by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        if rank >= self.len {
            return None;
        }
        let (leaf, pos) = self.locate(rank);
        let (score, member) = &self.leaves[leaf as usize].entries[pos];
        Some((*score, member))
    }

    /// The elements with ranks in `ranks` (within `0..len`), ascending.
    pub(super) fn range(&self, ranks: std::ops::Range<usize>) -> Iter<'_> {
        assert!(ranks.end <= self.len, "rank range out of bounds");
        let remaining = ranks.end.saturating_sub(ranks.start);
        let (front, back) = if remaining == 0 {
            ((NONE, 0), (NONE, 0))
        } else {
            // The ends of the chain need no descent: `iter` is common.
            let front = match ranks.start {
                0 => (self.first_leaf, 0),
                start => self.locate(start),
            };
            let back = if ranks.end == self.len {
                let last = &self.leaves[self.last_leaf as usize];
                (self.last_leaf, last.entries.len() - 1)
            } else {
                self.locate(ranks.end - 1)
            };
            (front, back)
        };
        Iter {
            tree: self,
            front,
            back,
            remaining,
        }
    }

    /// Every element, ascending: for conversions and records.
    pub(super) fn iter(&self) -> Iter<'_> {
        self.range(0..self.len)
    }

    /// Panics unless every invariant in the module comment holds.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        let mut leaves = Vec::new();
        let count = self.check_node(self.root, self.height, true, &mut leaves);
        assert_eq!(count, self.len, "len drifted");
        if self.len == 0 {
            assert_eq!(self.height, 0, "an empty tree has internal nodes");
        }
        // The chain visits the leaves of the tree, in order, both ways.
        assert_eq!(self.first_leaf, leaves[0], "first leaf");
        assert_eq!(self.last_leaf, *leaves.last().expect("a leaf"), "last leaf");
        for (i, &leaf) in leaves.iter().enumerate() {
            let prev = if i == 0 { NONE } else { leaves[i - 1] };
            let next = leaves.get(i + 1).copied().unwrap_or(NONE);
            assert_eq!(self.leaves[leaf as usize].prev, prev, "prev link of {leaf}");
            assert_eq!(self.leaves[leaf as usize].next, next, "next link of {leaf}");
            let entries = &self.leaves[leaf as usize].entries;
            let non_root = self.height > 0;
            let floor = match (non_root, next == NONE) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => self.leaf_max / 2,
            };
            assert!(entries.len() >= floor, "leaf {leaf} underfull");
            assert!(entries.len() <= self.leaf_max, "leaf {leaf} overfull");
        }
        let all: Vec<&Element> = leaves
            .iter()
            .flat_map(|&leaf| &self.leaves[leaf as usize].entries)
            .collect();
        for pair in all.windows(2) {
            let ordered = order(pair[0], pair[1].0, &pair[1].1) == Ordering::Less;
            assert!(ordered, "elements out of order");
        }
        assert!(all.iter().all(|e| !e.0.is_nan()), "NaN score stored");
        let live = self.leaves.len() - self.free_leaves.len();
        assert_eq!(live, leaves.len(), "leaked or shared leaves");
    }

    /// Checks the subtree at `node`, appending its leaves; returns its
    /// element count.
    #[cfg(test)]
    fn check_node(&self, node: u32, level: u32, is_root: bool, leaves: &mut Vec<u32>) -> usize {
        if level == 0 {
            assert!(!self.free_leaves.contains(&node), "freed leaf in use");
            leaves.push(node);
            return self.leaves[node as usize].entries.len();
        }
        assert!(!self.free_internals.contains(&node), "freed node in use");
        let children = &self.internals[node as usize].children;
        let floor = if is_root { 2 } else { self.fanout_max / 2 };
        assert!(children.len() >= floor, "node {node} underfull");
        assert!(children.len() <= self.fanout_max, "node {node} overfull");
        let mut total = 0;
        for child in children {
            let count = self.check_node(child.node, level - 1, false, leaves);
            assert_eq!(child.count as usize, count, "count of child {}", child.node);
            let min = self.min_of(child.node, level - 1);
            let same = order(min, child.min.0, &child.min.1) == Ordering::Equal;
            assert!(
                same && min.0.to_bits() == child.min.0.to_bits(),
                "stale min"
            );
            total += count;
        }
        total
    }
}

/// Moves items between the adjacent `left` and `right` so that `left` ends
/// with `target` of them; returns the total `weight` moved left (negative
/// when items moved right).
fn shift<T>(
    left: &mut Vec<T>,
    right: &mut Vec<T>,
    target: usize,
    weight: impl Fn(&T) -> i64,
) -> i64 {
    if left.len() > target {
        let moved: i64 = left[target..].iter().map(&weight).sum();
        right.splice(0..0, left.drain(target..));
        -moved
    } else {
        let take = target - left.len();
        let moved: i64 = right[..take].iter().map(&weight).sum();
        left.extend(right.drain(..take));
        moved
    }
}

/// A rank range of a tree, walked along the leaf chain from both ends.
#[derive(Debug, Clone)]
pub(super) struct Iter<'a> {
    tree: &'a Tree,
    /// The next element from the front: (leaf, position).
    front: (u32, usize),
    /// The next element from the back.
    back: (u32, usize),
    /// Elements left between the two, inclusive.
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let leaf = &self.tree.leaves[self.front.0 as usize];
        let (score, member) = &leaf.entries[self.front.1];
        self.front.1 += 1;
        if self.front.1 == leaf.entries.len() && self.remaining > 0 {
            self.front = (leaf.next, 0);
        }
        Some((*score, member))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let leaves = &self.tree.leaves;
        let leaf = &leaves[self.back.0 as usize];
        let (score, member) = &leaf.entries[self.back.1];
        if self.back.1 > 0 {
            self.back.1 -= 1;
        } else if self.remaining > 0 {
            let prev = leaf.prev;
            self.back = (prev, leaves[prev as usize].entries.len() - 1);
        }
        Some((*score, member))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// A score with a total order (the tree never holds NaN).
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) struct OrderedScore(pub(crate) f64);

    impl Eq for OrderedScore {}

    impl PartialOrd for OrderedScore {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for OrderedScore {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0.partial_cmp(&other.0).expect("no NaN")
        }
    }

    type Model = BTreeSet<(OrderedScore, Vec<u8>)>;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(f64, Vec<u8>),
        Remove(f64, Vec<u8>),
        /// Removes the element at this rank (modulo len), so removals hit.
        RemoveRank(usize),
        /// Checks partition_point for "before (score, member)".
        Rank(f64, Vec<u8>),
        GetByRank(usize),
        /// Checks a range, forwards, backwards and alternating.
        Range(usize, usize),
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (-4i32..4).prop_map(f64::from),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ]
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(b'a'..b'e', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 20..40),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (score(), member()).prop_map(|(s, m)| Op::Insert(s, m)),
            2 => (score(), member()).prop_map(|(s, m)| Op::Remove(s, m)),
            3 => any::<usize>().prop_map(Op::RemoveRank),
            2 => (score(), member()).prop_map(|(s, m)| Op::Rank(s, m)),
            2 => (0usize..400).prop_map(Op::GetByRank),
            1 => (0usize..400, 0usize..400).prop_map(|(a, b)| Op::Range(a, b)),
        ]
    }

    fn key(score: f64, member: &[u8]) -> (OrderedScore, Vec<u8>) {
        (OrderedScore(score), member.to_vec())
    }

    fn as_pairs<'a>(iter: impl Iterator<Item = (f64, &'a [u8])>) -> Vec<(f64, Vec<u8>)> {
        iter.map(|(s, m)| (s, m.to_vec())).collect()
    }

    fn model_pairs<'a>(
        iter: impl Iterator<Item = &'a (OrderedScore, Vec<u8>)>,
    ) -> Vec<(f64, Vec<u8>)> {
        iter.map(|(s, m)| (s.0, m.clone())).collect()
    }

    /// Checks a range both ways and interleaved against the model.
    fn check_range(tree: &Tree, model: &Model, start: usize, end: usize) {
        let expected = model_pairs(model.iter().skip(start).take(end - start));
        let iter = tree.range(start..end);
        assert_eq!(iter.len(), end - start);
        assert_eq!(as_pairs(iter), expected);
        let mut reversed = as_pairs(tree.range(start..end).rev());
        reversed.reverse();
        assert_eq!(reversed, expected);
        // Alternate ends: the front and back cursors must meet exactly.
        let mut iter = tree.range(start..end);
        let (mut front, mut back) = (Vec::new(), Vec::new());
        while let Some((s, m)) = iter.next() {
            front.push((s, m.to_vec()));
            assert_eq!(iter.len(), end - start - front.len() - back.len());
            match iter.next_back() {
                Some((s, m)) => back.push((s, m.to_vec())),
                None => break,
            }
        }
        back.reverse();
        front.extend(back);
        assert_eq!(front, expected);
    }

    fn run(ops: Vec<Op>, leaf_max: usize, fanout_max: usize) {
        let mut tree = Tree::with_node_sizes(leaf_max, fanout_max);
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Insert(score, member) => {
                    // The tree holds each (score, member) once; the
                    // owner removes a member's old element first.
                    if model.insert(key(score, &member)) {
                        tree.insert(score, SmallBytes::from(&member[..]));
                    }
                }
                Op::Remove(score, member) => {
                    let removed = tree.remove(score, &member).map(|(s, m)| (s, m.to_vec()));
                    let expected = model.take(&key(score, &member)).map(|(s, m)| (s.0, m));
                    assert_eq!(removed, expected);
                }
                Op::RemoveRank(rank) if !model.is_empty() => {
                    let (s, m) = model.iter().nth(rank % model.len()).cloned().expect("rank");
                    model.remove(&(s, m.clone()));
                    assert!(tree.remove(s.0, &m).is_some());
                }
                Op::RemoveRank(_) => assert!(tree.remove(0.0, b"").is_none()),
                Op::Rank(score, member) => {
                    let bound = key(score, &member);
                    let expected = model.range(..bound).count();
                    let rank = tree.partition_point(|s, m| {
                        compare((s, m), (score, &member)) == Ordering::Less
                    });
                    assert_eq!(rank, expected);
                }
                Op::GetByRank(rank) => {
                    let got = tree.get_by_rank(rank).map(|(s, m)| (s, m.to_vec()));
                    let expected = model.iter().nth(rank).map(|(s, m)| (s.0, m.clone()));
                    assert_eq!(got, expected);
                }
                Op::Range(a, b) => {
                    let (a, b) = (a.min(model.len()), b.min(model.len()));
                    check_range(&tree, &model, a.min(b), a.max(b));
                }
            }
            assert_eq!(tree.len(), model.len());
            tree.check_invariants();
        }
        check_range(&tree, &model, 0, model.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn tree_matches_model_small_nodes(ops in proptest::collection::vec(op(), 0..600)) {
            run(ops, 4, 4);
        }

        #[test]
        fn tree_matches_model_odd_nodes(ops in proptest::collection::vec(op(), 0..600)) {
            run(ops, 5, 5);
        }
    }

    #[test]
    fn tree_matches_model_production_nodes() {
        // Enough elements for three levels of 64/32 nodes is too slow to
        // check every step; check a few thousand ops at production sizes.
        let mut ops = Vec::new();
        for i in 0..3000u32 {
            let member = format!("m{}", i.wrapping_mul(2654435761) % 5000).into_bytes();
            ops.push(Op::Insert(f64::from(i % 97), member));
            if i % 3 == 0 {
                ops.push(Op::RemoveRank(i as usize * 7919));
            }
        }
        let mut tree = Tree::new();
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Insert(score, member) => {
                    if model.insert(key(score, &member)) {
                        tree.insert(score, SmallBytes::from(&member[..]));
                    }
                }
                Op::RemoveRank(rank) => {
                    let (s, m) = model.iter().nth(rank % model.len()).cloned().expect("rank");
                    model.remove(&(s, m.clone()));
                    assert!(tree.remove(s.0, &m).is_some());
                }
                _ => unreachable!(),
            }
        }
        tree.check_invariants();
        assert!(tree.height >= 2, "the test should build internal levels");
        check_range(&tree, &model, 0, model.len());
        for rank in (0..model.len()).step_by(37) {
            check_range(&tree, &model, rank, model.len().min(rank + 100));
        }
    }

    #[test]
    fn ascending_inserts_fill_leaves() {
        let mut tree = Tree::new();
        for i in 0..10_000 {
            tree.insert(f64::from(i), SmallBytes::from(&b"m"[..]));
        }
        tree.check_invariants();
        let leaves = tree.leaves.len() - tree.free_leaves.len();
        assert_eq!(leaves, 10_000usize.div_ceil(LEAF_MAX), "leaves are full");
    }

    #[test]
    fn removing_everything_frees_every_node() {
        let mut tree = Tree::with_node_sizes(4, 4);
        for i in 0..500 {
            tree.insert(
                f64::from(i % 7),
                SmallBytes::from(format!("{i}").as_bytes()),
            );
        }
        tree.check_invariants();
        for i in (0..500).rev() {
            let member = format!("{i}");
            assert!(tree.remove(f64::from(i % 7), member.as_bytes()).is_some());
            tree.check_invariants();
        }
        assert_eq!((tree.len(), tree.height), (0, 0));
        assert_eq!(tree.leaves.len() - tree.free_leaves.len(), 1);
        assert_eq!(tree.internals.len(), tree.free_internals.len());
    }
}
