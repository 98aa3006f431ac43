//! `SORT` and `SORT_RO`: Redis 7.0's `sortCommandGeneric`, step by step.
//!
//! A sort runs in three steps, each here as a pure function so that the
//! read (`SORT` without `STORE`, `SORT_RO`) and the write (`SORT ... STORE`,
//! re-run at apply) share every rule:
//! 1. [`load`]: the elements of the list, set or sorted set, and the range
//!    `LIMIT` selects. Without sorting (`BY` a pattern with no `*`), a list
//!    or sorted set loads only that range, in its own order (reversed by
//!    `DESC`); a set loads all its members in its order and ignores `DESC`.
//! 2. [`order`]: each element's weight (the element, or the string or hash
//!    field its `BY` pattern names), then the sort itself.
//! 3. [`rows`]: the selected elements, or for each one the values its `GET`
//!    patterns name (`#` is the element itself).
//!
//! Redis's rules kept here, all checked against redis-server 7.0.15:
//! - Numeric weights are read by [`score::sort_score`]; one that does not
//!   convert fails the whole command with "One or more scores can't be
//!   converted into double". Equal scores fall back to comparing the
//!   elements' bytes, so a numeric sort is a total order.
//! - `ALPHA` compares with `strcoll`, which in the C locale is `strcmp`:
//!   bytes up to the first NUL. With `STORE` Redis compares the whole
//!   strings (`memcmp`, then length) instead. Under `BY`, a missing weight
//!   sorts first.
//! - A full sort is glibc's `qsort`, a stable merge sort: ties keep the
//!   input order. With `BY` and a `LIMIT` that leaves something out, Redis
//!   uses its partial quicksort ([`pqsort`]), whose order for ties we
//!   reproduce by running the same algorithm.
//! - `BY nosort` on a set with `STORE` sorts anyway, by `ALPHA`, so that
//!   what is stored does not depend on the set's order.
//! - `LIMIT` is clamped to the value's length before any arithmetic, as
//!   Redis 7.0.8 and later do, so no offset or count overflows.
//!
//! Invariants:
//! - Given the same value, the same weights and the same arguments, the
//!   result is the same: the input order of a set or sorted set is its
//!   replicated iteration order, and no step draws at random.
//! - A pattern names a key only through [`Target`]; the caller looks keys
//!   up (under locks it holds for the whole sort).

mod command;
mod pqsort;
mod score;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Error, Value};
pub(crate) use pqsort::pqsort;
use score::sort_score;

/// The error of a weight that is not a number.
pub(crate) const NOT_DOUBLE: Error =
    Error::Other("ERR One or more scores can't be converted into double");

/// What a sort orders the elements by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortBy {
    /// No `BY`: the elements themselves.
    Element,
    /// `BY` a pattern with a `*`: the value each element's key names.
    Pattern(Bytes),
    /// `BY` a pattern without `*` (`BY nosort`): keep the value's order.
    NoSort,
}

/// The options of a `SORT` (everything but the key and `STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortArgs {
    pub by: SortBy,
    /// The `GET` patterns, in order; empty to return the elements.
    pub get: Vec<Bytes>,
    pub desc: bool,
    pub alpha: bool,
    /// `LIMIT offset count` as given; (0, -1) selects everything.
    pub offset: i64,
    pub count: i64,
}

/// Redis's `is` for option names.
fn is(arg: &[u8], keyword_lower: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword_lower.as_bytes())
}

/// The bytes C sees of `text`: those before its first NUL.
fn c_str(text: &[u8]) -> &[u8] {
    text.split(|&byte| byte == 0).next().unwrap_or(text)
}

impl SortArgs {
    /// Parses the options after the key, left to right as Redis does, with
    /// its errors: a `LIMIT` bound that is not an integer answers "value is
    /// not an integer or out of range", anything unknown or short of its
    /// arguments "syntax error". `STORE` is an option only when
    /// `allow_store` (`SORT`; `SORT_RO` calls it a syntax error). Returns
    /// the options and the `STORE` destination (the last one given).
    pub fn parse(options: &[Bytes], allow_store: bool) -> Result<(SortArgs, Option<Bytes>), Error> {
        let mut args = SortArgs {
            by: SortBy::Element,
            get: Vec::new(),
            desc: false,
            alpha: false,
            offset: 0,
            count: -1,
        };
        let (mut store, mut nosort) = (None, false);
        let mut i = 0;
        while i < options.len() {
            let (option, left) = (&options[i], options.len() - i - 1);
            if is(option, "asc") {
                args.desc = false;
            } else if is(option, "desc") {
                args.desc = true;
            } else if is(option, "alpha") {
                args.alpha = true;
            } else if is(option, "limit") && left >= 2 {
                let long = |text: &Bytes| crate::int_arg::LONG.parse(text);
                args.offset = long(&options[i + 1])?;
                args.count = long(&options[i + 2])?;
                i += 2;
            } else if allow_store && is(option, "store") && left >= 1 {
                store = Some(options[i + 1].clone());
                i += 1;
            } else if is(option, "by") && left >= 1 {
                let pattern = &options[i + 1];
                // One BY without a '*' turns sorting off for good.
                nosort |= !c_str(pattern).contains(&b'*');
                args.by = SortBy::Pattern(pattern.clone());
                i += 1;
            } else if is(option, "get") && left >= 1 {
                args.get.push(options[i + 1].clone());
                i += 1;
            } else {
                return Err(Error::Syntax);
            }
            i += 1;
        }
        if nosort {
            args.by = SortBy::NoSort;
        }
        Ok((args, store))
    }

    /// Whether the sort reads keys other than the one it sorts.
    pub(crate) fn reads_other_keys(&self) -> bool {
        matches!(self.by, SortBy::Pattern(_)) || !self.get.is_empty()
    }
}

/// Where a pattern leads for one element (Redis's `lookupKeyByPattern`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// `#`: the element itself.
    Element,
    /// A pattern without `*`: nothing (a nil `GET`, a missing weight).
    Nothing,
    /// The string at `key`, or with `field` that field of the hash there.
    Key {
        key: Vec<u8>,
        field: Option<&'a [u8]>,
    },
}

/// Resolves `pattern` for `element`. Like the C code it reads the `#`,
/// the `*` and the `->` in the pattern's C string (up to a NUL), but
/// copies the parts around them whole: the first `*` is replaced by the
/// element, and a `->` after it followed by at least one byte makes the
/// rest a hash field.
pub(crate) fn resolve<'a>(pattern: &'a [u8], element: &[u8]) -> Target<'a> {
    let visible = c_str(pattern);
    if visible == b"#" {
        return Target::Element;
    }
    let Some(star) = visible.iter().position(|&byte| byte == b'*') else {
        return Target::Nothing;
    };
    let arrow = visible[star + 1..]
        .windows(2)
        .position(|pair| pair == b"->")
        .map(|at| star + 1 + at)
        .filter(|&at| at + 2 < visible.len());
    let (postfix_end, field) = match arrow {
        Some(at) => (at, Some(&pattern[at + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(postfix_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    Target::Key { key, field }
}

/// How a sort goes once the value's type is known (the C code's `dontsort`,
/// `alpha` and `sortby` after its adjustments).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan<'a> {
    /// Order the elements (else keep the loaded order).
    pub(crate) sort: bool,
    pub(crate) alpha: bool,
    /// The `BY` pattern, when sorting by one.
    pub(crate) by: Option<&'a [u8]>,
    pub(crate) desc: bool,
    /// `STORE`: ALPHA compares whole strings.
    pub(crate) store: bool,
}

impl<'a> Plan<'a> {
    /// The plan for `args` over `value`; `store` for `SORT ... STORE`.
    pub(crate) fn new(args: &'a SortArgs, value: Option<&Value>, store: bool) -> Plan<'a> {
        let mut plan = Plan {
            sort: args.by != SortBy::NoSort,
            alpha: args.alpha,
            by: match &args.by {
                SortBy::Pattern(pattern) => Some(pattern),
                _ => None,
            },
            desc: args.desc,
            store,
        };
        if !plan.sort && store && matches!(value, Some(Value::Set(_))) {
            // A set's order is not to be relied on: sort what is stored.
            plan = Plan {
                sort: true,
                alpha: true,
                by: None,
                ..plan
            };
        }
        plan
    }
}

/// One element of the sort vector with its weight.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) element: Bytes,
    /// The numeric weight (0 for a missing `BY` key).
    score: f64,
    /// The `ALPHA` weight under `BY` (`None`: the key is missing).
    text: Option<Bytes>,
}

impl Item {
    fn new(element: Bytes) -> Item {
        Item {
            element,
            score: 0.0,
            text: None,
        }
    }
}

/// The loaded vector and the indexes `first..first + len` it returns.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) items: Vec<Item>,
    pub(crate) first: usize,
    pub(crate) len: usize,
}

/// Redis's `LIMIT` arithmetic over a value of `len` elements: the start
/// and inclusive end, with `end = start - 1` for nothing.
fn limits(offset: i64, count: i64, len: usize) -> (i64, i64) {
    let len = len as i64;
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// Step 1: the elements of `value` (`None`: a missing key, sorted as an
/// empty list) and the range to return. `value` must be a list, set or
/// sorted set.
pub(crate) fn load(value: Option<&Value>, args: &SortArgs, plan: &Plan<'_>) -> Loaded {
    let total = match value {
        None => 0,
        Some(Value::List(list)) => list.len(),
        Some(Value::Set(set)) => set.len(),
        Some(Value::ZSet(zset)) => zset.len(),
        Some(other) => unreachable!("SORT of a {}", other.type_name()),
    };
    let (start, end) = limits(args.offset, args.count, total);
    let len = (end - start + 1) as usize;
    let first = start.max(0) as usize;
    let own = |slice: &[u8]| Item::new(Bytes::copy_from_slice(slice));
    let items: Vec<Item> = match value {
        None => Vec::new(),
        // A list or sorted set kept in its order loads only the range.
        Some(Value::List(list)) if !plan.sort => {
            if len == 0 {
                Vec::new()
            } else if plan.desc {
                let (low, high) = (total - first - len, total - 1 - first);
                list.range(low, high).rev().map(own).collect()
            } else {
                list.range(first, first + len - 1).map(own).collect()
            }
        }
        Some(Value::ZSet(zset)) if !plan.sort => {
            if plan.desc {
                let ranks = total - first - len..total - first;
                zset.range(ranks).rev().map(|(_, m)| own(m)).collect()
            } else {
                zset.range(first..first + len)
                    .map(|(_, m)| own(m))
                    .collect()
            }
        }
        Some(Value::List(list)) => list.iter().map(own).collect(),
        Some(Value::ZSet(zset)) => zset.iter().map(|(_, m)| own(m)).collect(),
        Some(Value::Set(set)) => set.members().map(|m| own(&m)).collect(),
        Some(_) => unreachable!("checked above"),
    };
    let ranged = matches!(value, Some(Value::List(_) | Value::ZSet(_))) && !plan.sort;
    Loaded {
        first: if ranged { 0 } else { first },
        len,
        items,
    }
}

/// Compares two items as Redis's `sortCompare` does under `plan`.
fn compare(plan: &Plan<'_>, a: &Item, b: &Item) -> Ordering {
    let order = if !plan.alpha {
        match a.score.partial_cmp(&b.score) {
            Some(Ordering::Equal) | None => a.element.cmp(&b.element),
            Some(order) => order,
        }
    } else if plan.by.is_some() {
        match (&a.text, &b.text) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if plan.store => x.cmp(y),
            (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
        }
    } else if plan.store {
        a.element.cmp(&b.element)
    } else {
        c_str(&a.element).cmp(c_str(&b.element))
    };
    if plan.desc {
        order.reverse()
    } else {
        order
    }
}

/// Step 2: weighs and sorts `loaded` (nothing to do unless `plan.sort`).
/// `fetch(key, field)` answers a `BY` pattern's lookup. Fails if a numeric
/// weight does not convert.
fn order(
    loaded: &mut Loaded,
    plan: &Plan<'_>,
    fetch: &mut impl FnMut(&[u8], Option<&[u8]>) -> Option<Bytes>,
) -> Result<(), Error> {
    if !plan.sort {
        return Ok(());
    }
    for item in &mut loaded.items {
        let weight = match plan.by {
            None => Some(item.element.clone()),
            Some(pattern) => lookup(pattern, &item.element, fetch),
        };
        let Some(weight) = weight else {
            continue;
        };
        if plan.alpha {
            if plan.by.is_some() {
                item.text = Some(weight);
            }
        } else {
            item.score = sort_score(&weight).ok_or(NOT_DOUBLE)?;
        }
    }
    if loaded.len == 0 {
        // Nothing is returned, so no order can be seen.
        return Ok(());
    }
    let mut cmp = |a: &Item, b: &Item| compare(plan, a, b);
    let whole = loaded.first == 0 && loaded.len == loaded.items.len();
    if plan.by.is_some() && !whole {
        let last = loaded.first + loaded.len - 1;
        pqsort(&mut loaded.items, &mut cmp, loaded.first, last);
    } else {
        loaded.items.sort_by(cmp);
    }
    Ok(())
}

/// The value `pattern` names for `element`, if any.
fn lookup(
    pattern: &[u8],
    element: &Bytes,
    fetch: &mut impl FnMut(&[u8], Option<&[u8]>) -> Option<Bytes>,
) -> Option<Bytes> {
    match resolve(pattern, element) {
        Target::Element => Some(element.clone()),
        Target::Nothing => None,
        Target::Key { key, field } => fetch(&key, field),
    }
}

/// Step 3: the reply's items, `None` for a nil: the selected elements, or
/// for each of them one item per `GET` pattern.
fn rows(
    loaded: &Loaded,
    get: &[Bytes],
    fetch: &mut impl FnMut(&[u8], Option<&[u8]>) -> Option<Bytes>,
) -> Vec<Option<Bytes>> {
    let selected = &loaded.items[loaded.first..loaded.first + loaded.len];
    if get.is_empty() {
        return selected
            .iter()
            .map(|item| Some(item.element.clone()))
            .collect();
    }
    let mut rows = Vec::with_capacity(selected.len() * get.len());
    for item in selected {
        for pattern in get {
            rows.push(lookup(pattern, &item.element, fetch));
        }
    }
    rows
}

/// Steps 2 and 3 on a loaded vector.
pub(crate) fn finish(
    mut loaded: Loaded,
    plan: &Plan<'_>,
    get: &[Bytes],
    fetch: &mut impl FnMut(&[u8], Option<&[u8]>) -> Option<Bytes>,
) -> Result<Vec<Option<Bytes>>, Error> {
    order(&mut loaded, plan, fetch)?;
    Ok(rows(&loaded, get, fetch))
}
