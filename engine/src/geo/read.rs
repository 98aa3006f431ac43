//! The geo commands' reads (`GEOPOS`, `GEODIST`, `GEOHASH`, `GEOSEARCH`
//! and the `GEORADIUS` family) and the searches that store
//! (`GEOSEARCHSTORE`, `GEORADIUS ... STORE`), on sorted sets.
//!
//! Invariants:
//! - The key's type is checked first: another type is WRONGTYPE whatever
//!   the arguments say, as in Redis.
//! - A search that stores replaces its destination (any type, and its
//!   expiry) with the result, or deletes it when the result is empty,
//!   and replies the number of points.

use bytes::Bytes;

use super::hash::{decode_score, distance, geohash_text};
use super::search::{
    coordinate_text, distance_text, refusal, run, Found, GeoSearch, GeoSearchArgs,
};
use crate::collection::Kind;
use crate::key::KeyRef;
use crate::zset::ZSet;
use crate::{Engine, Error, Reply, ReplySink, Value};

/// The sorted set in `value` (which `read_kind` checked).
fn zset_of(value: &Value) -> &ZSet {
    match value {
        Value::ZSet(zset) => zset,
        _ => unreachable!("read_kind checked the type"),
    }
}

/// A coordinate pair as Redis replies it.
fn emit_position(sink: &mut impl ReplySink, longitude: f64, latitude: f64) {
    sink.array(2);
    sink.double_text(&coordinate_text(longitude));
    sink.double_text(&coordinate_text(latitude));
}

/// What a search on `value` (checked to be a sorted set, or missing)
/// finds, or its error.
fn search_value(value: Option<&Value>, args: &GeoSearchArgs) -> Result<Vec<Found>, Error> {
    match value {
        None => match &args.missing {
            Some(error) => Err(error.clone()),
            None => Ok(Vec::new()),
        },
        Some(value) => {
            let zset = zset_of(value);
            match &args.present {
                Ok(search) => run(zset, search),
                Err(refused) => Err(refusal(zset, refused)),
            }
        }
    }
}

/// A search's results as Redis replies them: members alone, or each with
/// its distance, hash and position, as asked.
fn emit_found(sink: &mut impl ReplySink, found: &[Found], search: Option<&GeoSearch>) {
    let Some(search) = search else {
        sink.array(0);
        return;
    };
    let options = [search.with_dist, search.with_hash, search.with_coord]
        .iter()
        .filter(|on| **on)
        .count();
    sink.array(found.len());
    for point in found {
        if options > 0 {
            sink.array(options + 1);
        }
        sink.bulk(&point.member);
        if search.with_dist {
            sink.bulk(distance_text(point.distance).as_bytes());
        }
        if search.with_hash {
            sink.int(point.score as i64);
        }
        if search.with_coord {
            emit_position(sink, point.longitude, point.latitude);
        }
    }
}

impl Engine {
    /// `GEOPOS key member ...`: each member's position, or a null array.
    pub fn geopos(
        &self,
        db: usize,
        key: &[u8],
        members: &[Bytes],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let zset = value.map(zset_of);
            sink.array(members.len());
            for member in members {
                match zset.and_then(|zset| zset.score(member)) {
                    Some(score) => {
                        let (longitude, latitude) = decode_score(score);
                        emit_position(sink, longitude, latitude);
                    }
                    None => sink.nil_array(),
                }
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `GEODIST key a b [unit]`: the distance in the unit (`to_meters`
    /// meters each), or nil if the key or a member is missing.
    pub fn geodist(
        &self,
        db: usize,
        key: &[u8],
        (a, b): (&[u8], &[u8]),
        to_meters: f64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let zset = value.map(zset_of)?;
            let (a, b) = (zset.score(a)?, zset.score(b)?);
            let ((long1, lat1), (long2, lat2)) = (decode_score(a), decode_score(b));
            Some(distance(long1, lat1, long2, lat2) / to_meters)
        });
        match read {
            Ok(Some(meters)) => sink.bulk(distance_text(meters).as_bytes()),
            Ok(None) => sink.nil(),
            Err(error) => sink.error(&error),
        }
    }

    /// `GEOHASH key member ...`: each member's 11-character geohash, or nil.
    pub fn geohash(
        &self,
        db: usize,
        key: &[u8],
        members: &[Bytes],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let zset = value.map(zset_of);
            sink.array(members.len());
            for member in members {
                match zset.and_then(|zset| zset.score(member)) {
                    Some(score) => sink.bulk(&geohash_text(score)),
                    None => sink.nil(),
                }
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `GEOSEARCH` and the `GEORADIUS` reads.
    pub fn geosearch(
        &self,
        db: usize,
        args: &GeoSearchArgs,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, &args.key, now_ms, Kind::ZSet, |value| {
            let found = search_value(value, args)?;
            Ok((found, value.is_some()))
        });
        match read.and_then(|found| found) {
            Ok((found, true)) => emit_found(sink, &found, args.present.as_ref().ok()),
            Ok((_, false)) => sink.array(0),
            Err(error) => sink.error(&error),
        }
    }

    /// `GEOSEARCHSTORE` and `GEORADIUS ... STORE|STOREDIST`: stores the
    /// search's points at `dst` (scores: their geohashes, or with
    /// `STOREDIST` their distances) and replies how many.
    pub(crate) fn geo_store(
        &self,
        db: usize,
        dst: &Bytes,
        args: &GeoSearchArgs,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let src = KeyRef::new(&args.key);
        let mut pair = self.lock_pair(db, src, db, KeyRef::new(dst));
        let found = match pair.src().get_live(src, now_ms).as_deref() {
            None => search_value(None, args)?,
            Some(entry) if Kind::of(&entry.value) != Kind::ZSet => return Err(Error::WrongType),
            Some(entry) => search_value(Some(&entry.value), args)?,
        };
        let store_dist = args.present.as_ref().is_ok_and(|search| search.store_dist);
        let result = ZSet::from_members(found.into_iter().map(|point| {
            let score = if store_dist {
                point.distance
            } else {
                point.score
            };
            (score, point.member)
        }));
        Ok(crate::zset::store_result(pair.dst(), dst, result, now_ms))
    }
}
