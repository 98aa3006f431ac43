//! A geo search over one sorted set, as Redis's `georadiusGeneric` runs
//! it: read the scores of the centre's cell and its neighbours (each a
//! score range), keep the points within the shape, sort by distance if
//! asked, and cut at COUNT.
//!
//! Invariants:
//! - Cells are read in Redis's order and a cell equal to the one read
//!   just before it is skipped, so the unsorted (and `ANY`) results come
//!   in Redis's order.
//! - With `ANY`, reading stops once COUNT points are found.

use std::cmp::Ordering;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::hash::{decode_score, SearchArea};
use crate::sort::pqsort;
use crate::zset::ZSet;
use crate::Error;

/// Where a search is centred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GeoFrom {
    /// `FROMLONLAT` (or `GEORADIUS`'s coordinates), within range.
    LonLat { longitude: f64, latitude: f64 },
    /// `FROMMEMBER` (or `GEORADIUSBYMEMBER`'s member): every member named,
    /// in order (Redis accepts `FROMMEMBER` twice and looks each up); the
    /// last one is the centre.
    Members(Vec<Bytes>),
}

/// The shape of a search, in the user's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum GeoShape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// The order of a search's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeoOrder {
    /// Cell order, then sorted set order, as Redis finds them.
    Found,
    Asc,
    Desc,
}

/// A validated geo search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoSearch {
    pub from: GeoFrom,
    pub shape: GeoShape,
    /// Meters per unit (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub to_meters: f64,
    pub order: GeoOrder,
    /// `COUNT` (0: all).
    pub count: u64,
    /// `ANY`: stop at the first `count` found.
    pub any: bool,
    pub with_dist: bool,
    pub with_hash: bool,
    pub with_coord: bool,
    /// `STOREDIST`: a store keeps distances (in the unit), not positions.
    pub store_dist: bool,
}

/// A search Redis refuses once it has found its key holds a sorted set:
/// first "could not decode" for any of `members` (looked up before the
/// refusal) that is missing, else `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoRefused {
    pub members: Vec<Bytes>,
    pub error: Error,
}

/// A geo search command as parsed, for every state of its key: Redis
/// checks the key's type before anything, then parses the rest, looking
/// members up as it meets them and skipping some arguments when the key
/// is missing (`GEORADIUSBYMEMBER`'s radius), so the two cases parse
/// apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoSearchArgs {
    pub key: Bytes,
    /// The search, or its refusal, when the key holds a sorted set.
    pub present: Result<GeoSearch, GeoRefused>,
    /// When the key is missing: `None` answers an empty result (an empty
    /// array, or a store of nothing), `Some` that error.
    pub missing: Option<Error>,
}

/// "could not decode requested zset member"
pub const NO_MEMBER: Error = Error::Other("ERR could not decode requested zset member");

/// One point found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub member: Bytes,
    pub score: f64,
    pub longitude: f64,
    pub latitude: f64,
    /// In meters while searching, in the unit once [`run`] returns.
    pub distance: f64,
}

/// The centre of `search` in `zset`, or "could not decode" for the first
/// member named that is missing.
fn centre(zset: &ZSet, from: &GeoFrom) -> Result<(f64, f64), Error> {
    match from {
        GeoFrom::LonLat {
            longitude,
            latitude,
        } => Ok((*longitude, *latitude)),
        GeoFrom::Members(members) => {
            let mut centre = None;
            for member in members {
                centre = Some(decode_score(zset.score(member).ok_or(NO_MEMBER)?));
            }
            Ok(centre.expect("FROMMEMBER names a member"))
        }
    }
}

/// The refusal's error, as Redis reports it on a sorted set.
pub fn refusal(zset: &ZSet, refused: &GeoRefused) -> Error {
    match refused.members.iter().all(|m| zset.score(m).is_some()) {
        true => refused.error.clone(),
        false => NO_MEMBER,
    }
}

/// Runs `search` on `zset`: the points it returns, in order, with their
/// distances in the search's unit.
pub fn run(zset: &ZSet, search: &GeoSearch) -> Result<Vec<Found>, Error> {
    let (longitude, latitude) = centre(zset, &search.from)?;
    let (radius, width, height) = match search.shape {
        GeoShape::Radius(radius) => (Some(radius), 0.0, 0.0),
        GeoShape::Box { width, height } => (None, width, height),
    };
    let area = SearchArea {
        longitude,
        latitude,
        radius,
        width,
        height,
        to_meters: search.to_meters,
    };
    let limit = if search.any { search.count } else { 0 };
    let mut found = Vec::new();
    let cells = area.cells();
    let mut last_read: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_empty() {
            continue;
        }
        // Huge areas make neighbours repeat; Redis compares with the last
        // cell it read, but never with the centre's (its index 0).
        if last_read.is_some_and(|last| last != 0 && cells[last] == *cell) {
            continue;
        }
        if limit != 0 && found.len() as u64 >= limit {
            break;
        }
        read_cell(zset, cell.score_range(), &area, limit, &mut found);
        last_read = Some(i);
    }
    order(&mut found, search);
    for point in &mut found {
        point.distance /= search.to_meters;
    }
    Ok(found)
}

/// Appends the points with scores in `min..max` that lie within `area`,
/// stopping when `limit` (if not 0) points are found in all.
fn read_cell(
    zset: &ZSet,
    (min, max): (u64, u64),
    area: &SearchArea,
    limit: u64,
    found: &mut Vec<Found>,
) {
    let (min, max) = (min as f64, max as f64);
    let start = zset.partition_point(|score, _| score < min);
    for (score, member) in zset.range(start..zset.len()) {
        if score >= max {
            break;
        }
        let (longitude, latitude) = decode_score(score);
        if let Some(distance) = area.distance_if_within(longitude, latitude) {
            found.push(Found {
                member: Bytes::copy_from_slice(member),
                score,
                longitude,
                latitude,
                distance,
            });
        }
        if limit != 0 && found.len() as u64 >= limit {
            break;
        }
    }
}

/// Sorts as asked (COUNT without an order and without ANY sorts
/// ascending, as Redis does), and keeps the first COUNT. A whole sort is
/// stable, as the C library's `qsort` (a merge sort in glibc) is; a sort
/// of only the first COUNT is Redis's partial quicksort (`sort/pqsort.rs`), so
/// points at equal distances come out in Redis's order either way.
fn order(found: &mut Vec<Found>, search: &GeoSearch) {
    let order = match search.order {
        GeoOrder::Found if search.count != 0 && !search.any => GeoOrder::Asc,
        order => order,
    };
    let returned = match usize::try_from(search.count) {
        Ok(count) if count != 0 && count < found.len() => count,
        _ => found.len(),
    };
    // Redis's comparator: greater, equal, else less (by the distance in
    // meters), reversed for DESC.
    let ascending = |a: &Found, b: &Found| {
        if a.distance > b.distance {
            Ordering::Greater
        } else if a.distance == b.distance {
            Ordering::Equal
        } else {
            Ordering::Less
        }
    };
    let mut compare = |a: &Found, b: &Found| match order {
        GeoOrder::Desc => ascending(a, b).reverse(),
        _ => ascending(a, b),
    };
    if order != GeoOrder::Found {
        if returned == found.len() {
            found.sort_by(compare);
        } else {
            pqsort(found, &mut compare, 0, returned - 1);
        }
    }
    found.truncate(returned);
}

/// Redis's `addReplyDoubleDistance`: four decimals, rounded half to even
/// (`llrint` of the value times 10^4).
pub fn distance_text(distance: f64) -> String {
    let scaled = (distance * 10000.0).round_ties_even();
    // llrint of a value past i64's range is undefined in C; a distance
    // is at most half the earth's circumference in the smallest unit.
    let scaled = scaled as i64;
    let (sign, magnitude) = if scaled < 0 {
        ("-", scaled.unsigned_abs())
    } else {
        ("", scaled as u64)
    };
    format!("{sign}{}.{:04}", magnitude / 10000, magnitude % 10000)
}

/// Redis's `addReplyHumanLongDouble` text of a coordinate: 17 decimals
/// (of the exact binary value), trailing zeros and a trailing point
/// removed, and "-0" written "0".
pub fn coordinate_text(value: f64) -> String {
    let mut text = format!("{value:.17}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text = "0".to_string();
    }
    text
}
