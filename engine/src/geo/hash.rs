//! Redis's geohash: a point's longitude and latitude as two 26-bit cell
//! numbers interleaved into a 52-bit integer (the member's score), the
//! cells around a cell, the cells a search must read, and Redis's
//! haversine distance.
//!
//! Everything here follows Redis 7.0's `geohash.c` and `geohash_helper.c`
//! operation for operation, so the same inputs give the same bits and the
//! same doubles (the coordinates and distances Redis prints).
//!
//! Invariants:
//! - A [`Cell`]'s `step` is 1..=26 (two bits per step) unless it is the
//!   empty cell (`bits` and `step` both 0), which names no area.
//! - Latitude bits sit at the even positions, longitude bits at the odd.

use std::f64::consts::PI;

/// Bits per coordinate in a stored score (52 bits in all).
pub const STEP_MAX: u8 = 26;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// The Web Mercator limits: Redis cannot index the poles.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;

/// Redis's earth radius (the quadratic mean radius of WGS-84), in meters.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator world's width, in meters.
const MERCATOR_MAX: f64 = 20037726.37;
const DEG_TO_RAD: f64 = PI / 180.0;

/// A coordinate range, `min..max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The ranges the stored scores use.
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A geohash cell: `step` bits of each coordinate, interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    /// The cell that names no area (a neighbour a search skips).
    pub const EMPTY: Cell = Cell { bits: 0, step: 0 };

    pub fn is_empty(self) -> bool {
        self == Cell::EMPTY
    }

    /// The cell's bits shifted to a 52-bit score prefix.
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores `min..max` (max excluded) of the points in this cell.
    pub fn score_range(self) -> (u64, u64) {
        let next = Cell {
            bits: self.bits + 1,
            step: self.step,
        };
        (self.align52(), next.align52())
    }
}

/// The area a cell covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

/// Spreads the low 32 bits of `x` to the even bit positions.
fn spread(x: u32) -> u64 {
    const MASKS: [u64; 5] = [
        0x0000_FFFF_0000_FFFF,
        0x00FF_00FF_00FF_00FF,
        0x0F0F_0F0F_0F0F_0F0F,
        0x3333_3333_3333_3333,
        0x5555_5555_5555_5555,
    ];
    let mut x = u64::from(x);
    for (mask, shift) in MASKS.iter().zip([16, 8, 4, 2, 1]) {
        x = (x | (x << shift)) & mask;
    }
    x
}

/// Gathers the even bit positions of `x` into its low 32 bits.
fn gather(x: u64) -> u32 {
    const MASKS: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    let mut x = x & MASKS[0];
    for (mask, shift) in MASKS[1..].iter().zip([1, 2, 4, 8, 16]) {
        x = (x | (x >> shift)) & mask;
    }
    x as u32
}

/// The cell of `step` bits holding the point, in the given ranges; `None`
/// outside the stored ranges (Redis's `geohashEncode`).
pub fn encode(long: Range, lat: Range, longitude: f64, latitude: f64, step: u8) -> Option<Cell> {
    assert!((1..=32).contains(&step), "geohash step {step} out of range");
    let outside = |value: f64, range: Range| value < range.min || value > range.max;
    if outside(longitude, LONG_RANGE)
        || outside(latitude, LAT_RANGE)
        || outside(longitude, long)
        || outside(latitude, lat)
    {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (latitude - lat.min) / (lat.max - lat.min) * cells;
    let long_offset = (longitude - long.min) / (long.max - long.min) * cells;
    // C's double-to-uint32 conversion truncates, as `as` does here.
    let bits = spread(lat_offset as u32) | spread(long_offset as u32) << 1;
    Some(Cell { bits, step })
}

/// The stored cell (26 bits each) of a point within the stored ranges.
pub fn encode_stored(longitude: f64, latitude: f64) -> Option<Cell> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, STEP_MAX)
}

/// The area `cell` covers in the given ranges (Redis's `geohashDecode`).
pub fn decode(long: Range, lat: Range, cell: Cell) -> Area {
    let (lat_cell, long_cell) = (gather(cell.bits), gather(cell.bits >> 1));
    let cells = (1u64 << cell.step) as f64;
    // The cell number plus one wraps in 32 bits, as Redis's does.
    let edge = |range: Range, n: u32, plus: u32| {
        range.min + (f64::from(n.wrapping_add(plus)) / cells) * (range.max - range.min)
    };
    Area {
        latitude: Range {
            min: edge(lat, lat_cell, 0),
            max: edge(lat, lat_cell, 1),
        },
        longitude: Range {
            min: edge(long, long_cell, 0),
            max: edge(long, long_cell, 1),
        },
    }
}

/// The (longitude, latitude) a stored score stands for: the centre of its
/// cell, clamped to the stored ranges (Redis's `decodeGeohash`).
pub fn decode_score(score: f64) -> (f64, f64) {
    let cell = Cell {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    let area = decode(LONG_RANGE, LAT_RANGE, cell);
    let longitude = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (longitude, latitude)
}

/// A score's bits as Redis's `(uint64_t)score` gives them on x86-64, for
/// any score a sorted set may hold (a member added by `ZADD` need not be
/// a geohash): the truncated integer, a negative one wrapped, and out of
/// range what x86's conversion gives (its "integer indefinite" value
/// below -2^63, and 0 from 2^64 up).
pub fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if score >= 2.0 * TWO_63 {
        0
    } else if score >= TWO_63 {
        (score - TWO_63) as u64 | 1 << 63
    } else if score >= -TWO_63 {
        score as i64 as u64
    } else {
        1 << 63
    }
}

/// The cell `d` (-1, 0 or 1) cells east of `cell`.
fn move_x(cell: Cell, d: i8) -> Cell {
    move_axis(cell, d, 0xaaaa_aaaa_aaaa_aaaa)
}

/// The cell `d` (-1, 0 or 1) cells north of `cell`.
fn move_y(cell: Cell, d: i8) -> Cell {
    move_axis(cell, d, 0x5555_5555_5555_5555)
}

/// Adds `d` to the coordinate whose bits `mask` selects, wrapping within
/// the cell's step (Redis's `geohash_move_x`/`_y`).
fn move_axis(cell: Cell, d: i8, mask: u64) -> Cell {
    if d == 0 {
        return cell;
    }
    let shift = 64 - u32::from(cell.step) * 2;
    let mut moved = cell.bits & mask;
    let kept = cell.bits & !mask;
    // The other coordinate's bits, set: a carry runs through them.
    let others = !mask >> shift;
    if d > 0 {
        moved = moved.wrapping_add(others + 1);
    } else {
        moved = (moved | others).wrapping_sub(others + 1);
    }
    moved &= mask >> shift;
    Cell {
        bits: moved | kept,
        step: cell.step,
    }
}

/// The eight cells around a cell, in the order a search reads them:
/// north, south, east, west, north-east, north-west, south-east,
/// south-west.
fn neighbours(cell: Cell) -> [Cell; 8] {
    let at = |x: i8, y: i8| move_y(move_x(cell, x), y);
    [
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

/// How many bits per coordinate the cells of a search of `radius_m`
/// around `latitude` should have (Redis's `geohashEstimateStepsByRadius`).
fn steps_for_radius(mut radius_m: f64, latitude: f64) -> u8 {
    if radius_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while radius_m < MERCATOR_MAX {
        radius_m *= 2.0;
        step += 1;
    }
    // Leaves room for the area to fall in most of the cells around.
    step -= 2;
    // Cells narrow towards the poles.
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The bounding box `[min_long, min_lat, max_long, max_lat]` of a shape
/// around (`longitude`, `latitude`) (Redis's `geohashBoundingBox`).
/// `half_height_m`/`half_width_m` are Redis's products of the unit's
/// conversion and the user's numbers, computed the same way.
fn bounding_box(longitude: f64, latitude: f64, half_width_m: f64, half_height_m: f64) -> [f64; 4] {
    let lat_delta = (half_height_m / EARTH_RADIUS_M) / DEG_TO_RAD;
    let long_delta =
        |lat: f64| (half_width_m / EARTH_RADIUS_M / (lat * DEG_TO_RAD).cos()) / DEG_TO_RAD;
    let top = long_delta(latitude + lat_delta);
    let bottom = long_delta(latitude - lat_delta);
    // Meridians converge towards the pole: the wider edge is the one
    // nearer the equator.
    let widest = if latitude < 0.0 { bottom } else { top };
    [
        longitude - widest,
        latitude - lat_delta,
        longitude + widest,
        latitude + lat_delta,
    ]
}

/// A search area: a centre's user numbers and unit, as Redis keeps them
/// (its arithmetic multiplies them at the places Redis does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchArea {
    pub longitude: f64,
    pub latitude: f64,
    /// The radius, or the box's width and height, in the user's unit.
    pub radius: Option<f64>,
    pub width: f64,
    pub height: f64,
    /// Meters per unit.
    pub to_meters: f64,
}

impl SearchArea {
    /// The cells a search reads, in Redis's order: the centre's cell, then
    /// its neighbours, some emptied when the area cannot reach them
    /// (Redis's `geohashCalculateAreasByShapeWGS84`).
    pub fn cells(&self) -> [Cell; 9] {
        let (half_width, half_height) = match self.radius {
            Some(radius) => (self.to_meters * radius, self.to_meters * radius),
            None => (
                self.to_meters * (self.width / 2.0),
                self.to_meters * (self.height / 2.0),
            ),
        };
        let [min_long, min_lat, max_long, max_lat] =
            bounding_box(self.longitude, self.latitude, half_width, half_height);
        let radius_m = match self.radius {
            Some(radius) => radius,
            None => ((self.width / 2.0) * (self.width / 2.0)
                + (self.height / 2.0) * (self.height / 2.0))
                .sqrt(),
        } * self.to_meters;
        let mut steps = steps_for_radius(radius_m, self.latitude);
        let at = |steps: u8| {
            let cell = encode(LONG_RANGE, LAT_RANGE, self.longitude, self.latitude, steps)
                .expect("a search centre lies within the stored ranges");
            (cell, neighbours(cell))
        };
        let (mut cell, mut around) = at(steps);
        // A neighbour too near the area to cover it: one step coarser.
        let area_of = |cell: Cell| decode(LONG_RANGE, LAT_RANGE, cell);
        let too_fine = area_of(around[0]).latitude.max < max_lat
            || area_of(around[1]).latitude.min > min_lat
            || area_of(around[2]).longitude.max < max_long
            || area_of(around[3]).longitude.min > min_long;
        if steps > 1 && too_fine {
            steps -= 1;
            (cell, around) = at(steps);
        }
        if steps >= 2 {
            let area = area_of(cell);
            // [N, S, E, W, NE, NW, SE, SW]
            let mut clear =
                |indexes: [usize; 3]| indexes.iter().for_each(|&i| around[i] = Cell::EMPTY);
            if area.latitude.min < min_lat {
                clear([1, 7, 6]);
            }
            if area.latitude.max > max_lat {
                clear([0, 4, 5]);
            }
            if area.longitude.min < min_long {
                clear([3, 7, 5]);
            }
            if area.longitude.max > max_long {
                clear([2, 6, 4]);
            }
        }
        let mut cells = [cell; 9];
        cells[1..].copy_from_slice(&around);
        cells
    }

    /// The distance in meters from the centre to (`longitude`,
    /// `latitude`) if the point is within the area (Redis's
    /// `geoWithinShape`).
    pub fn distance_if_within(&self, longitude: f64, latitude: f64) -> Option<f64> {
        match self.radius {
            Some(radius) => {
                let distance = distance(self.longitude, self.latitude, longitude, latitude);
                (distance <= radius * self.to_meters).then_some(distance)
            }
            None => {
                let (width_m, height_m) =
                    (self.width * self.to_meters, self.height * self.to_meters);
                if lat_distance(latitude, self.latitude) > height_m / 2.0 {
                    return None;
                }
                if distance(longitude, latitude, self.longitude, latitude) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.longitude, self.latitude, longitude, latitude))
            }
        }
    }
}

/// The distance in meters along a meridian between two latitudes.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (lat2 * DEG_TO_RAD - lat1 * DEG_TO_RAD).abs()
}

/// Redis's haversine great-circle distance in meters.
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let (long1r, long2r) = (long1 * DEG_TO_RAD, long2 * DEG_TO_RAD);
    let v = ((long2r - long1r) / 2.0).sin();
    // The same meridian: no trigonometry needed.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (lat1 * DEG_TO_RAD, lat2 * DEG_TO_RAD);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The standard 11-character geohash of a stored score (Redis's
/// `GEOHASH`): the decoded point encoded again over the full latitude
/// range, 5 bits per character, the last character always '0'.
pub fn geohash_text(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (longitude, latitude) = decode_score(score);
    let world = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(LONG_RANGE, world, longitude, latitude, STEP_MAX).map_or(0, |cell| cell.bits);
    let mut text = [b'0'; 11];
    for (i, byte) in text.iter_mut().take(10).enumerate() {
        *byte = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    text
}
