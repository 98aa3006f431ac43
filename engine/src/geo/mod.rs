//! Geo commands on sorted sets (`GEOADD`, `GEOPOS`, `GEODIST`, `GEOHASH`,
//! `GEOSEARCH`, `GEOSEARCHSTORE` and the `GEORADIUS` family), computed as
//! Redis 7.0 computes them so coordinates and distances come out to the
//! same digits.
//!
//! A point is a sorted set member whose score is its 52-bit geohash
//! ([`hash`]): 26 bits of longitude and 26 of latitude, interleaved, so
//! nearby points have nearby scores. `GEOADD` is a `ZADD` of those scores
//! (the server builds the `ZSetOp::Add`); a search ([`search`]) reads the
//! score ranges of nine cells around its centre and filters them by
//! Redis's haversine distance. Nothing here is stored apart from the
//! sorted set: a geo key is a zset for every other command, for `DUMP`,
//! and in snapshots.
//!
//! Invariants:
//! - Encoding, decoding, neighbours, the cells a search reads and the
//!   distance follow Redis's arithmetic operation by operation; the
//!   floating-point functions are the C library's, as Redis's are.
//! - Replies print coordinates as Redis's `addReplyHumanLongDouble` and
//!   distances as its `addReplyDoubleDistance` (four decimals).

mod hash;
mod read;
mod search;
#[cfg(test)]
mod tests;

pub use search::{GeoFrom, GeoOrder, GeoRefused, GeoSearch, GeoSearchArgs, GeoShape};

/// The score `GEOADD` stores for a point, or `None` outside the range a
/// score can hold (longitude -180..=180, latitude -85.05112878..=85.05112878).
pub fn score(longitude: f64, latitude: f64) -> Option<f64> {
    hash::encode_stored(longitude, latitude).map(|cell| cell.align52() as f64)
}
