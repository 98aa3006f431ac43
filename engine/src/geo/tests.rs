//! Geo unit tests: Redis's own numbers for known points (from its
//! documentation and a redis-server 7.0), the cell arithmetic, the
//! search against a brute-force scan, and the partial sort.

use bytes::Bytes;

use super::hash::{decode_score, distance, encode_stored, geohash_text, score_bits, Cell};
use super::search::{coordinate_text, distance_text, run, GeoFrom, GeoOrder, GeoSearch, GeoShape};
use crate::zset::ZSet;
use crate::Random;

const PALERMO: (f64, f64) = (13.361389, 38.115556);
const CATANIA: (f64, f64) = (15.087269, 37.502669);

fn score_of((longitude, latitude): (f64, f64)) -> f64 {
    super::score(longitude, latitude).expect("within range")
}

#[test]
fn known_points_match_redis() {
    assert_eq!(score_of(PALERMO), 3479099956230698.0);
    assert_eq!(score_of(CATANIA), 3479447370796909.0);
    let (longitude, latitude) = decode_score(score_of(PALERMO));
    assert_eq!(coordinate_text(longitude), "13.36138933897018433");
    assert_eq!(coordinate_text(latitude), "38.11555639549629859");
    assert_eq!(&geohash_text(score_of(PALERMO)), b"sqc8b49rny0");
    assert_eq!(&geohash_text(score_of(CATANIA)), b"sqdtr74hyu0");
    let ((lo1, la1), (lo2, la2)) = (
        decode_score(score_of(PALERMO)),
        decode_score(score_of(CATANIA)),
    );
    let meters = distance(lo1, la1, lo2, la2);
    assert_eq!(distance_text(meters), "166274.1516");
    assert_eq!(distance_text(meters / 1000.0), "166.2742");
}

#[test]
fn the_range_is_inclusive_and_checked() {
    assert!(super::score(180.0, 85.05112878).is_some());
    assert!(super::score(-180.0, -85.05112878).is_some());
    assert!(super::score(180.000001, 0.0).is_none());
    assert!(super::score(0.0, 85.06).is_none());
    assert!(super::score(f64::INFINITY, 0.0).is_none());
}

#[test]
fn texts_are_redis_s() {
    assert_eq!(distance_text(0.0), "0.0000");
    // llrint: halves to even (0.5, 2.5 and 3.5 times 10^4 exactly), and
    // 0.00015 * 10^4 is 1.4999999999999998.
    assert_eq!(distance_text(0.00005), "0.0000");
    assert_eq!(distance_text(0.00025), "0.0002");
    assert_eq!(distance_text(0.00035), "0.0004");
    assert_eq!(distance_text(0.00015), "0.0001");
    assert_eq!(distance_text(12.5), "12.5000");
    assert_eq!(coordinate_text(-0.0), "0");
    assert_eq!(coordinate_text(10.0), "10");
    assert_eq!(coordinate_text(-1.5), "-1.5");
}

#[test]
fn scores_that_are_not_geohashes_convert_as_x86_does() {
    assert_eq!(score_bits(-1.0), u64::MAX);
    assert_eq!(score_bits(1e300), 0);
    assert_eq!(score_bits(-1e300), 1 << 63);
    assert_eq!(score_bits(9_223_372_036_854_775_808.0), 1 << 63);
    assert_eq!(score_bits(4503599627370495.0), (1 << 52) - 1);
}

#[test]
fn a_cell_decodes_around_the_points_it_encodes() {
    let mut random = Random::new(11);
    for _ in 0..2000 {
        let longitude = (random.next_u64() % 360_000_000) as f64 / 1e6 - 180.0;
        let latitude = (random.next_u64() % 170_000_000) as f64 / 1e6 - 85.0;
        let cell = encode_stored(longitude, latitude).expect("within range");
        assert!(cell.bits < 1 << 52);
        let area = super::hash::decode(super::hash::LONG_RANGE, super::hash::LAT_RANGE, cell);
        assert!(area.longitude.min <= longitude && longitude <= area.longitude.max);
        assert!(area.latitude.min <= latitude && latitude <= area.latitude.max);
        let (lon, lat) = decode_score(cell.align52() as f64);
        assert!((lon - longitude).abs() < 1e-5 && (lat - latitude).abs() < 1e-5);
    }
}

#[test]
fn a_cell_s_score_range_holds_the_finer_cells_inside_it() {
    let cell = Cell {
        bits: 0b10_1010,
        step: 3,
    };
    let (min, max) = cell.score_range();
    assert_eq!(min, 0b10_1010 << 46);
    assert_eq!(max, 0b10_1011 << 46);
}

/// A set of `n` random points within a few degrees of (10, 45).
fn random_points(random: &mut Random, n: usize) -> (ZSet, Vec<(Bytes, f64, f64)>) {
    let mut points = Vec::new();
    for i in 0..n {
        let longitude = 10.0 + (random.next_u64() % 4_000_000) as f64 / 1e6 - 2.0;
        let latitude = 45.0 + (random.next_u64() % 4_000_000) as f64 / 1e6 - 2.0;
        let score = super::score(longitude, latitude).expect("within range");
        let (longitude, latitude) = decode_score(score);
        points.push((Bytes::from(format!("p{i}")), score, longitude, latitude));
    }
    let zset = ZSet::from_members(points.iter().map(|(m, s, _, _)| (*s, m.clone())));
    let points = points
        .into_iter()
        .map(|(m, _, lo, la)| (m, lo, la))
        .collect();
    (zset, points)
}

fn search(shape: GeoShape, count: u64, order: GeoOrder) -> GeoSearch {
    GeoSearch {
        from: GeoFrom::LonLat {
            longitude: 10.0,
            latitude: 45.0,
        },
        shape,
        to_meters: 1000.0,
        order,
        count,
        any: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        store_dist: false,
    }
}

#[test]
fn a_radius_search_finds_every_point_within_it_and_no_other() {
    let mut random = Random::new(5);
    let (zset, points) = random_points(&mut random, 600);
    for radius_km in [1.0, 10.0, 50.0, 120.0, 400.0] {
        let found = run(
            &zset,
            &search(GeoShape::Radius(radius_km), 0, GeoOrder::Asc),
        )
        .unwrap();
        let mut expected: Vec<(f64, &Bytes)> = points
            .iter()
            .map(|(member, lon, lat)| (distance(10.0, 45.0, *lon, *lat), member))
            .filter(|(meters, _)| *meters <= radius_km * 1000.0)
            .collect();
        expected.sort_by(|a, b| a.0.total_cmp(&b.0));
        let found_members: Vec<&Bytes> = found.iter().map(|point| &point.member).collect();
        let expected_members: Vec<&Bytes> = expected.iter().map(|(_, member)| *member).collect();
        assert_eq!(found_members, expected_members, "radius {radius_km} km");
        for (point, (meters, _)) in found.iter().zip(&expected) {
            assert_eq!(point.distance, meters / 1000.0);
        }
    }
}

#[test]
fn a_box_search_finds_the_points_within_half_its_sides() {
    let mut random = Random::new(6);
    let (zset, points) = random_points(&mut random, 600);
    let (width_km, height_km) = (150.0, 60.0);
    let shape = GeoShape::Box {
        width: width_km,
        height: height_km,
    };
    let found = run(&zset, &search(shape, 0, GeoOrder::Found)).unwrap();
    let mut found: Vec<&Bytes> = found.iter().map(|point| &point.member).collect();
    let mut expected: Vec<&Bytes> = points
        .iter()
        .filter(|(_, lon, lat)| {
            distance(10.0, *lat, 10.0, 45.0) <= height_km * 500.0
                && distance(*lon, *lat, 10.0, *lat) <= width_km * 500.0
        })
        .map(|(member, _, _)| member)
        .collect();
    assert!(expected.len() > 10, "too few points in the box");
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn count_keeps_the_nearest_and_desc_the_farthest() {
    let mut random = Random::new(7);
    let (zset, _) = random_points(&mut random, 300);
    let all = run(&zset, &search(GeoShape::Radius(300.0), 0, GeoOrder::Asc)).unwrap();
    for count in [1, 2, 5, 40, 1000] {
        let nearest = run(
            &zset,
            &search(GeoShape::Radius(300.0), count, GeoOrder::Found),
        )
        .unwrap();
        let expected = &all[..all.len().min(count as usize)];
        let distances =
            |points: &[super::search::Found]| points.iter().map(|p| p.distance).collect::<Vec<_>>();
        assert_eq!(distances(&nearest), distances(expected), "COUNT {count}");
        let farthest = run(
            &zset,
            &search(GeoShape::Radius(300.0), count, GeoOrder::Desc),
        )
        .unwrap();
        let mut reversed: Vec<f64> = distances(&all);
        reversed.reverse();
        reversed.truncate(count as usize);
        assert_eq!(distances(&farthest), reversed, "COUNT {count} DESC");
    }
}

#[test]
fn a_missing_centre_member_is_refused() {
    let mut random = Random::new(8);
    let (zset, _) = random_points(&mut random, 10);
    let mut by_member = search(GeoShape::Radius(1.0), 0, GeoOrder::Found);
    by_member.from = GeoFrom::Members(vec![Bytes::from_static(b"nope")]);
    assert_eq!(run(&zset, &by_member), Err(super::search::NO_MEMBER));
    by_member.from = GeoFrom::Members(vec![Bytes::from_static(b"nope"), Bytes::from_static(b"p1")]);
    assert_eq!(run(&zset, &by_member), Err(super::search::NO_MEMBER));
    by_member.from = GeoFrom::Members(vec![Bytes::from_static(b"p1")]);
    let found = run(&zset, &by_member).unwrap();
    assert_eq!(found[0].member, Bytes::from_static(b"p1"));
    assert_eq!(found[0].distance, 0.0);
}
