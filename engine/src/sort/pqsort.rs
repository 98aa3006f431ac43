//! Redis's partial quicksort (`pqsort.c`, NetBSD's `qsort` after Bentley
//! and McIlroy, "Engineering a Sort Function", changed to leave alone the
//! parts that cannot reach a wanted range).
//!
//! `SORT ... BY pattern LIMIT` orders its vector with it. The result is
//! sorted within the wanted range only, and elements that compare equal
//! come out in an order that is a pure function of the input order and of
//! this exact algorithm, which is why it is ported step by step rather
//! than replaced: ties (`ALPHA` by missing keys, say) then come out as
//! redis-server gives them.
//!
//! Invariants:
//! - After `pqsort(v, cmp, first, last)`, every index in `first..=last`
//!   holds the element a full sort would put there (ties aside).
//! - No randomness: the pivots are medians at fixed positions.

use std::cmp::Ordering;

/// Sorts `v` enough that the indexes `first..=last` hold their final
/// elements (Redis's `pqsort(a, n, es, cmp, lrange, rrange)`).
pub(crate) fn pqsort<T>(
    v: &mut [T],
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    first: usize,
    last: usize,
) {
    partial(v, 0, v.len(), cmp, first, last);
}

/// Whether the segment `start..start + len` shares an index with the wanted
/// range `first..=last` (the C code's pointer test).
fn overlaps(start: usize, len: usize, first: usize, last: usize) -> bool {
    let end = start + len - 1;
    !((first < start && last < start) || (first > end && last > end))
}

/// The index among `a`, `b`, `c` of their median, as C's `med3`.
fn med3<T>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> usize {
    if cmp(&v[a], &v[b]).is_lt() {
        if cmp(&v[b], &v[c]).is_lt() {
            b
        } else if cmp(&v[a], &v[c]).is_lt() {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]).is_gt() {
        b
    } else if cmp(&v[a], &v[c]).is_lt() {
        a
    } else {
        c
    }
}

/// Insertion sort of `v[a..a + n]`, as the C code does for short segments.
fn insertion<T>(v: &mut [T], a: usize, n: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    for m in a + 1..a + n {
        let mut l = m;
        while l > a && cmp(&v[l - 1], &v[l]).is_gt() {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// Swaps the `n` elements at `a` with the `n` at `b` (C's `vecswap`).
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// `_pqsort` on `v[a..a + n]`; indexes are absolute, as the C pointers.
fn partial<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    first: usize,
    last: usize,
) {
    loop {
        if n < 7 {
            insertion(v, a, n, cmp);
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        // The pivot sits at `a`. Equal elements gather at both ends
        // (`a + 1..pa` and `pd + 1..a + n`), smaller ones before `pb`,
        // larger ones after `pc`.
        let (mut pa, mut pb) = (a + 1, a + 1);
        // `pc` never drops below `pb - 1 >= a`, and `pd` never below `pc`.
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let order = cmp(&v[pb], &v[a]);
                if order.is_gt() {
                    break;
                }
                if order.is_eq() {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let order = cmp(&v[pc], &v[a]);
                if order.is_lt() {
                    break;
                }
                if order.is_eq() {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && overlaps(a, r, first, last) {
            partial(v, a, r, cmp, first, last);
        }
        let r = pd - pc;
        if r <= 1 {
            return;
        }
        // Iterate on the right part rather than recurse, as the C code.
        a = pn - r;
        n = r;
        if !overlaps(a, n, first, last) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test inputs.
    fn values(seed: u64, len: usize, spread: u64) -> Vec<(u64, usize)> {
        let mut state = seed;
        (0..len)
            .map(|index| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % spread, index)
            })
            .collect()
    }

    #[test]
    fn the_wanted_range_is_sorted_for_any_input() {
        for seed in 0..200u64 {
            for len in [0usize, 1, 2, 6, 7, 8, 40, 41, 100, 333] {
                let spread = [1, 3, 1000][seed as usize % 3];
                let input = values(seed, len, spread);
                let mut expected = input.clone();
                expected.sort_by_key(|&(key, _)| key);
                if len == 0 {
                    continue;
                }
                let first = (seed as usize * 7) % len;
                let last = (first + seed as usize % 13).min(len - 1);
                let mut got = input.clone();
                pqsort(&mut got, &mut |x, y| x.0.cmp(&y.0), first, last);
                for index in first..=last {
                    assert_eq!(
                        got[index].0, expected[index].0,
                        "seed {seed} len {len} at {index}"
                    );
                }
                let mut all = got.clone();
                all.sort();
                let mut original = input.clone();
                original.sort();
                assert_eq!(all, original, "pqsort is a permutation");
            }
        }
    }

    #[test]
    fn an_already_partitioned_segment_is_not_insertion_sorted() {
        // Redis 7.0's pqsort.c has no "no swaps: insertion sort" shortcut
        // (BSD's qsort has one). Here the median pivot (2) partitions the
        // eight items without a swap; Redis then sorts only the left part
        // (which holds the wanted index 0) and leaves the right part
        // `3 4 3` as it is.
        let input: Vec<(u64, usize)> = [1, 0, 0, 1, 2, 3, 4, 3]
            .iter()
            .enumerate()
            .map(|(index, &key)| (key, index))
            .collect();
        let mut got = input.clone();
        pqsort(&mut got, &mut |x, y| x.0.cmp(&y.0), 0, 0);
        assert_eq!(got[0].0, 0);
        // Past the wanted range, the right part stays as partitioned.
        let tail: Vec<u64> = got[5..].iter().map(|item| item.0).collect();
        assert_ne!(tail, [3, 3, 4], "the right part was sorted: {got:?}");
    }

    #[test]
    fn ties_come_out_in_redis_order() {
        // Ten equal elements, wanted range 0..=2: what redis-server 7.0.15
        // returns for `SORT l BY nokey_* ALPHA LIMIT 0 3` over
        // `RPUSH l e d c b a f g h i j`, and for LIMIT 2 3.
        let list: Vec<&str> = "e d c b a f g h i j".split(' ').collect();
        let mut got = list.clone();
        pqsort(&mut got, &mut |_, _| Ordering::Equal, 0, 2);
        assert_eq!(&got[0..3], ["j", "d", "c"]);
        let mut got = list.clone();
        pqsort(&mut got, &mut |_, _| Ordering::Equal, 2, 4);
        assert_eq!(&got[2..5], ["c", "b", "a"]);
    }
}
