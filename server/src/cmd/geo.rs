//! Geo commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms,
//! on sorted sets (`engine/src/geo`).
//!
//! `GEOADD` is a `ZADD` of geohash scores, as in Redis. The searches
//! follow Redis 7.0's `georadiusGeneric`, which looks its key up before
//! it reads any argument and looks members up as it meets them: an
//! argument error is WRONGTYPE on a key of another type, "could not
//! decode requested zset member" if a member named before it is missing,
//! and for a missing key `GEORADIUSBYMEMBER` never reads its radius. So a
//! search is parsed twice, once as if the key held a sorted set and once
//! as if it were missing ([`GeoSearchArgs`]), and the engine answers from
//! whichever holds. A search that stores is a write unless both parses
//! fail (then it writes nothing, and is a read).
//!
//! "exactly one of ... can be specified for <command>" echoes the
//! command's name as the client typed it ([`Parse::name`]), as Redis does.

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{
    geo_score, AddOptions, Error, GeoFrom, GeoOrder, GeoRefused, GeoSearch, GeoSearchArgs,
    GeoShape, Query, WriteOp, ZSetOp,
};

use super::args::is;
use super::flags::{DENYOOM, MOVABLEKEYS, READONLY, READS_KEYS, WRITE};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, "geo", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
/// `GEORADIUS` may store (a write), but mostly answers as a read: it
/// passes the read gate (`READS_KEYS`), as SORT does.
const RADIUS: u32 = WRITE | DENYOOM | MOVABLEKEYS | READS_KEYS;

pub const COMMANDS: &[CommandSpec] = &[
    spec("geoadd", -5, WRITE | DENYOOM, ONE_KEY, geoadd,
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.")
    .since("3.2.0"),
    spec("geopos", -2, READONLY, ONE_KEY, geopos,
        "Returns the longitude and latitude of members from a geospatial index.")
    .since("3.2.0"),
    spec("geodist", -4, READONLY, ONE_KEY, geodist,
        "Returns the distance between two members of a geospatial index.")
    .since("3.2.0"),
    spec("geohash", -2, READONLY, ONE_KEY, geohash,
        "Returns members from a geospatial index as geohash strings.")
    .since("3.2.0"),
    spec("geosearch", -7, READONLY, ONE_KEY, geosearch,
        "Queries a geospatial index for members inside an area of a box or a circle.")
    .since("6.2.0"),
    spec("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), geosearchstore,
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.")
    .since("6.2.0"),
    spec("georadius", -6, RADIUS, ONE_KEY, georadius,
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.")
    .since("3.2.0"),
    spec("georadius_ro", -6, READONLY, ONE_KEY, georadius_ro,
        "Returns members from a geospatial index that are within a distance from a coordinate.")
    .since("3.2.10"),
    spec("georadiusbymember", -5, RADIUS, ONE_KEY, georadiusbymember,
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.")
    .since("3.2.0"),
    spec("georadiusbymember_ro", -5, READONLY, ONE_KEY, georadiusbymember_ro,
        "Returns members from a geospatial index that are within a distance from a member.")
    .since("3.2.10"),
];

/// A double as Redis's `getDoubleFromObjectOrReply` reads it, or `error`.
fn double(arg: &[u8], error: Error) -> Result<f64, Error> {
    ZSetOp::parse_score(arg).ok_or(error)
}

/// A longitude and a latitude within the range a score can hold.
fn lon_lat(args: &[Bytes]) -> Result<(f64, f64), Error> {
    let longitude = double(&args[0], Error::NotFloat)?;
    let latitude = double(&args[1], Error::NotFloat)?;
    if geo_score(longitude, latitude).is_none() {
        let text = format!("ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}");
        return Err(Error::Text(text.into()));
    }
    Ok((longitude, latitude))
}

/// A unit's size in meters.
fn unit(arg: &[u8]) -> Result<f64, Error> {
    for (name, meters) in [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)] {
        if is(arg, name) {
            return Ok(meters);
        }
    }
    Err(Error::Other(
        "ERR unsupported unit provided. please use M, KM, FT, MI",
    ))
}

/// `radius unit`: the radius and the unit's meters.
fn radius(args: &[Bytes]) -> Result<(f64, f64), Error> {
    let radius = double(&args[0], Error::Other("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(Error::Other("ERR radius cannot be negative"));
    }
    Ok((radius, unit(&args[1])?))
}

/// `width height unit`.
fn dimensions(args: &[Bytes]) -> Result<(f64, f64, f64), Error> {
    let width = double(&args[0], Error::Other("ERR need numeric width"))?;
    let height = double(&args[1], Error::Other("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(Error::Other("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(&args[2])?))
}

fn geoadd(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let mut options = AddOptions::default();
    let mut first = 1;
    while let Some(arg) = args.get(first) {
        if is(arg, "nx") {
            options.nx = true;
        } else if is(arg, "xx") {
            options.xx = true;
        } else if is(arg, "ch") {
            options.ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let triples = &args[first..];
    if !triples.len().is_multiple_of(3) || (options.nx && options.xx) {
        return Err(Error::Syntax);
    }
    let mut members = Vec::with_capacity(triples.len() / 3);
    for triple in triples.chunks(3) {
        let (longitude, latitude) = lon_lat(triple)?;
        let score = geo_score(longitude, latitude).expect("lon_lat checked the range");
        members.push((score, owned(&triple[2])));
    }
    Ok(KeyCommand::Write(WriteOp::ZSets(ZSetOp::Add {
        key: owned(&args[0]),
        options,
        members,
    })))
}

fn geopos(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::GeoPos {
        key: args[0].clone(),
        members: args[1..].to_vec(),
    }))
}

fn geohash(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::GeoHash {
        key: args[0].clone(),
        members: args[1..].to_vec(),
    }))
}

fn geodist(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let to_meters = match &args[3..] {
        [] => 1.0,
        [arg] => unit(arg)?,
        _ => return Err(Error::Syntax),
    };
    Ok(KeyCommand::Read(Query::GeoDist {
        key: args[0].clone(),
        members: (args[1].clone(), args[2].clone()),
        to_meters,
    }))
}

/// Which search command is parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `GEORADIUS[_RO] key lon lat radius unit ...`
    Radius,
    /// `GEORADIUSBYMEMBER[_RO] key member radius unit ...`
    ByMember,
    /// `GEOSEARCH key ...`
    Search,
    /// `GEOSEARCHSTORE dst key ...`
    SearchStore,
}

/// One parse of a search: the search and its store key, or its error
/// with the members looked up before it.
struct OneParse<'a> {
    form: Form,
    /// The command's name as typed, for its errors.
    name: &'a [u8],
    /// `_RO`: no STORE.
    read_only: bool,
    /// Parsing for a key that holds a sorted set (members are looked up).
    present: bool,
    /// Members looked up so far, in order.
    looked_up: Vec<Bytes>,
}

/// The options a search loop collects.
#[derive(Default)]
struct Options {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    order: Option<GeoOrder>,
    count: u64,
    store: Option<Bytes>,
    store_dist: bool,
    from: Option<GeoFrom>,
    shape: Option<(GeoShape, f64)>,
}

impl OneParse<'_> {
    /// Parses `args` (after the command name) as Redis reads them.
    fn run(mut self, args: &[Bytes]) -> Result<(GeoSearch, Option<Bytes>), GeoRefused> {
        let parsed = self.parse(args);
        parsed.map_err(|error| GeoRefused {
            members: self.looked_up,
            error,
        })
    }

    fn parse(&mut self, args: &[Bytes]) -> Result<(GeoSearch, Option<Bytes>), Error> {
        let mut options = Options::default();
        let base = match self.form {
            Form::Radius => {
                let (longitude, latitude) = lon_lat(&args[1..3])?;
                options.from = Some(GeoFrom::LonLat {
                    longitude,
                    latitude,
                });
                let (radius, to_meters) = radius(&args[3..5])?;
                options.shape = Some((GeoShape::Radius(radius), to_meters));
                5
            }
            Form::ByMember => {
                // For a missing key Redis reads neither member nor radius.
                if self.present {
                    self.looked_up.push(args[1].clone());
                    options.from = Some(GeoFrom::Members(vec![args[1].clone()]));
                    let (radius, to_meters) = radius(&args[2..4])?;
                    options.shape = Some((GeoShape::Radius(radius), to_meters));
                }
                4
            }
            Form::Search => 1,
            Form::SearchStore => {
                options.store = Some(owned(&args[0]));
                2
            }
        };
        self.options(&args[base..], &mut options)?;
        self.finish(options)
    }

    /// The optional arguments, in Redis's loop.
    fn options(&mut self, rest: &[Bytes], options: &mut Options) -> Result<(), Error> {
        let search = matches!(self.form, Form::Search | Form::SearchStore);
        let radius_store = !search && !self.read_only;
        let mut i = 0;
        while i < rest.len() {
            let arg = &rest[i];
            let left = rest.len() - i - 1;
            let (from_member, from_lon_lat) = match &options.from {
                Some(GeoFrom::Members(_)) => (true, false),
                Some(GeoFrom::LonLat { .. }) => (false, true),
                None => (false, false),
            };
            let by_radius = matches!(options.shape, Some((GeoShape::Radius(_), _)));
            let by_box = matches!(options.shape, Some((GeoShape::Box { .. }, _)));
            if is(arg, "withdist") {
                options.with_dist = true;
            } else if is(arg, "withhash") {
                options.with_hash = true;
            } else if is(arg, "withcoord") {
                options.with_coord = true;
            } else if is(arg, "any") {
                options.any = true;
            } else if is(arg, "asc") {
                options.order = Some(GeoOrder::Asc);
            } else if is(arg, "desc") {
                options.order = Some(GeoOrder::Desc);
            } else if is(arg, "count") && left >= 1 {
                let count = LONG.parse(&rest[i + 1]).map_err(|_| Error::NotInteger)?;
                if count <= 0 {
                    return Err(Error::Other("ERR COUNT must be > 0"));
                }
                options.count = count as u64;
                i += 1;
            } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && radius_store {
                options.store = Some(owned(&rest[i + 1]));
                options.store_dist = is(arg, "storedist");
                i += 1;
            } else if is(arg, "storedist") && self.form == Form::SearchStore {
                options.store_dist = true;
            } else if is(arg, "frommember") && left >= 1 && search && !from_lon_lat {
                let member = rest[i + 1].clone();
                if self.present {
                    self.looked_up.push(member.clone());
                }
                match &mut options.from {
                    Some(GeoFrom::Members(members)) => members.push(member),
                    _ => options.from = Some(GeoFrom::Members(vec![member])),
                }
                i += 1;
            } else if is(arg, "fromlonlat") && left >= 2 && search && !from_member {
                let (longitude, latitude) = lon_lat(&rest[i + 1..i + 3])?;
                options.from = Some(GeoFrom::LonLat {
                    longitude,
                    latitude,
                });
                i += 2;
            } else if is(arg, "byradius") && left >= 2 && search && !by_box {
                let (radius, to_meters) = radius(&rest[i + 1..i + 3])?;
                options.shape = Some((GeoShape::Radius(radius), to_meters));
                i += 2;
            } else if is(arg, "bybox") && left >= 3 && search && !by_radius {
                let (width, height, to_meters) = dimensions(&rest[i + 1..i + 4])?;
                options.shape = Some((GeoShape::Box { width, height }, to_meters));
                i += 3;
            } else {
                return Err(Error::Syntax);
            }
            i += 1;
        }
        Ok(())
    }

    /// The checks after the loop, in Redis's order.
    fn finish(&self, options: Options) -> Result<(GeoSearch, Option<Bytes>), Error> {
        let search = matches!(self.form, Form::Search | Form::SearchStore);
        if options.store.is_some() && (options.with_dist || options.with_hash || options.with_coord)
        {
            let text = match self.form {
                Form::SearchStore => "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                _ => "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            };
            return Err(Error::Other(text));
        }
        if search && options.from.is_none() {
            let text = format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
                String::from_utf8_lossy(self.name)
            );
            return Err(Error::Text(text.into()));
        }
        if search && options.shape.is_none() {
            let text = format!(
                "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
                String::from_utf8_lossy(self.name)
            );
            return Err(Error::Text(text.into()));
        }
        if options.any && options.count == 0 {
            return Err(Error::Other("ERR the ANY argument requires COUNT argument"));
        }
        // A missing key's GEORADIUSBYMEMBER has no centre: it finds
        // nothing, and this search is never run.
        let (shape, to_meters) = options.shape.unwrap_or((GeoShape::Radius(0.0), 1.0));
        let from = options.from.unwrap_or(GeoFrom::Members(Vec::new()));
        let search = GeoSearch {
            from,
            shape,
            to_meters,
            order: options.order.unwrap_or(GeoOrder::Found),
            count: options.count,
            any: options.any,
            with_dist: options.with_dist,
            with_hash: options.with_hash,
            with_coord: options.with_coord,
            store_dist: options.store_dist,
        };
        Ok((search, options.store))
    }
}

/// Parses a search command for both states of its key.
fn search(parse: &Parse<'_>, args: &[Bytes], form: Form, read_only: bool) -> Parsed {
    let parse_as = |present| {
        OneParse {
            form,
            name: parse.name,
            read_only,
            present,
            looked_up: Vec::new(),
        }
        .run(args)
    };
    let (present, missing) = (parse_as(true), parse_as(false));
    let dst = match (&present, &missing) {
        (Ok((_, Some(dst))), _) | (_, Ok((_, Some(dst)))) => Some(dst.clone()),
        _ => None,
    };
    let key = match form {
        Form::SearchStore => args[1].clone(),
        _ => args[0].clone(),
    };
    let search = GeoSearchArgs {
        key,
        present: present.map(|(search, _)| search),
        missing: missing.err().map(|refused| refused.error),
    };
    Ok(match dst {
        Some(dst) => KeyCommand::Write(WriteOp::GeoStore { dst, search }),
        None => KeyCommand::Read(Query::GeoSearch(search)),
    })
}

fn geosearch(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::Search, false)
}

fn geosearchstore(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::SearchStore, false)
}

fn georadius(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::Radius, false)
}

fn georadius_ro(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::Radius, true)
}

fn georadiusbymember(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::ByMember, false)
}

fn georadiusbymember_ro(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    search(parse, args, Form::ByMember, true)
}
