//! Unit tests of `List`: every edit against a plain `Vec` model, with the
//! byte total checked after each step.

use proptest::prelude::*;

use super::read::LposSearch;
use super::{clamp_range, List};
use crate::list::ops::index_in;
use crate::SmallBytes;

/// One edit, as the list writes use them.
#[derive(Debug, Clone)]
enum Edit {
    Push(Vec<u8>, bool),
    Pop(bool),
    Set(i64, Vec<u8>),
    Insert(usize, Vec<u8>),
    Trim(i64, i64),
    Remove(Vec<u8>, i64),
}

/// Elements from a tiny alphabet (so removals match), some long enough to
/// live on the heap.
fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u8..3).prop_map(|byte| vec![b'a' + byte]),
        (0u8..2).prop_map(|byte| vec![b'x' + byte; 40]),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (element(), any::<bool>()).prop_map(|(item, left)| Edit::Push(item, left)),
        1 => any::<bool>().prop_map(Edit::Pop),
        1 => (-8i64..8, element()).prop_map(|(at, item)| Edit::Set(at, item)),
        1 => (0usize..8, element()).prop_map(|(at, item)| Edit::Insert(at, item)),
        1 => (-8i64..8, -8i64..8).prop_map(|(start, stop)| Edit::Trim(start, stop)),
        1 => (element(), -3i64..3).prop_map(|(item, count)| Edit::Remove(item, count)),
    ]
}

/// The model of `Edit::Remove`: Redis's LREM, written the obvious way.
fn model_remove(model: &mut Vec<Vec<u8>>, item: &[u8], count: i64) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut at = 0;
        while at < model.len() {
            if removed < limit && model[at] == item {
                model.remove(at);
                removed += 1;
            } else {
                at += 1;
            }
        }
    } else {
        let mut at = model.len();
        while at > 0 {
            at -= 1;
            if removed < limit && model[at] == item {
                model.remove(at);
                removed += 1;
            }
        }
    }
    removed
}

fn apply(list: &mut List, model: &mut Vec<Vec<u8>>, edit: &Edit) {
    match edit {
        Edit::Push(item, true) => {
            list.push(SmallBytes::from(&item[..]), true);
            model.insert(0, item.clone());
        }
        Edit::Push(item, false) => {
            list.push(SmallBytes::from(&item[..]), false);
            model.push(item.clone());
        }
        Edit::Pop(left) => {
            let expected = match (left, model.is_empty()) {
                (_, true) => None,
                (true, false) => Some(model.remove(0)),
                (false, false) => model.pop(),
            };
            assert_eq!(list.pop(*left).map(|item| item.to_vec()), expected);
        }
        Edit::Set(index, item) => {
            if let Some(at) = index_in(*index, model.len()) {
                list.set(at, SmallBytes::from(&item[..]));
                model[at] = item.clone();
            }
        }
        Edit::Insert(at, item) => {
            let at = (*at).min(model.len());
            list.insert(at, SmallBytes::from(&item[..]));
            model.insert(at, item.clone());
        }
        Edit::Trim(start, stop) => match clamp_range(*start, *stop, model.len()) {
            Some((first, last)) => {
                list.keep_range(first, last);
                model.truncate(last + 1);
                model.drain(..first);
            }
            None => {
                list.clear();
                model.clear();
            }
        },
        Edit::Remove(item, count) => {
            let expected = model_remove(model, item, *count);
            assert_eq!(list.remove_matching(item, *count), expected);
        }
    }
}

/// LPOS by the letter of Redis 7.0's loop (`lposCommand`), with its C
/// `long` arithmetic done in wrapping `i64`.
fn model_lpos(model: &[Vec<u8>], element: &[u8], search: LposSearch) -> Vec<usize> {
    let (mut rank, count, maxlen) = (search.rank, search.count, search.maxlen as i64);
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let want_array = count.is_some();
    let count = count.unwrap_or(0) as i64;
    let len = model.len() as i64;
    let (mut index, mut matches, mut found) = (0i64, 0i64, Vec::new());
    while index < len && (maxlen == 0 || index < maxlen) {
        let at = if from_tail { len - 1 - index } else { index };
        if model[at as usize] == element {
            matches += 1;
            if matches >= rank {
                found.push(at as usize);
                if !want_array {
                    break;
                }
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
        index += 1;
    }
    found
}

proptest! {
    #[test]
    fn edits_match_a_vec(edits in proptest::collection::vec(edit(), 0..60)) {
        let (mut list, mut model) = (List::default(), Vec::new());
        for edit in &edits {
            apply(&mut list, &mut model, edit);
            list.check();
            let items: Vec<&[u8]> = list.iter().collect();
            let expected: Vec<&[u8]> = model.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(items, expected, "after {:?}", edit);
        }
    }

    #[test]
    fn ranges_match_a_vec(len in 0usize..10, start in -12i64..12, stop in -12i64..12) {
        let model: Vec<Vec<u8>> = (0..len).map(|n| n.to_string().into_bytes()).collect();
        let list = List::from_items(model.iter().map(|item| bytes::Bytes::from(item.clone())));
        let got: Vec<&[u8]> = match clamp_range(start, stop, len) {
            Some((first, last)) => list.range(first, last).collect(),
            None => Vec::new(),
        };
        // Redis's LRANGE, as its docs state it.
        let len = len as i64;
        let first = if start < 0 { (len + start).max(0) } else { start };
        let last = if stop < 0 { len + stop } else { stop.min(len - 1) };
        let expected: Vec<&[u8]> = (first..=last)
            .filter(|at| (0..len).contains(at))
            .map(|at| model[at as usize].as_slice())
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn lpos_matches_redis_loop(
        items in proptest::collection::vec(0u8..3, 0..12),
        rank in prop_oneof![-4i64..5, Just(i64::MIN), Just(i64::MAX), Just(-i64::MAX)],
        count in proptest::option::of(0u64..4),
        maxlen in 0u64..6,
    ) {
        prop_assume!(rank != 0);
        let model: Vec<Vec<u8>> = items.iter().map(|&byte| vec![b'a' + byte]).collect();
        let list = List::from_items(model.iter().map(|item| bytes::Bytes::from(item.clone())));
        let search = LposSearch { rank, count, maxlen };
        prop_assert_eq!(search.run(&list, b"a"), model_lpos(&model, b"a", search));
    }
}

#[test]
fn index_in_counts_negative_indexes_from_the_tail() {
    assert_eq!(index_in(0, 3), Some(0));
    assert_eq!(index_in(2, 3), Some(2));
    assert_eq!(index_in(3, 3), None);
    assert_eq!(index_in(-1, 3), Some(2));
    assert_eq!(index_in(-3, 3), Some(0));
    assert_eq!(index_in(-4, 3), None);
    assert_eq!(index_in(i64::MIN, 3), None);
    assert_eq!(index_in(i64::MAX, 3), None);
    assert_eq!(index_in(0, 0), None);
}

#[test]
fn encoding_is_quicklist_as_in_redis_7_0() {
    assert_eq!(List::default().encoding(), "quicklist");
}
