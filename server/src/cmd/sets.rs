//! Set commands: membership, algebra and random members.
//!
//! Each command parses into a read ([`Query`]) or a write ([`SetOp`]);
//! none reads the node. Every argument error Redis reports before it looks
//! at the key is reported here, so only well-formed writes enter the log.
//! `SSCAN`'s option errors come after Redis's key lookup, so they travel in
//! [`Query::SScan`] to the engine. `SPOP` and `SRANDMEMBER` draw their seed
//! here ([`Parse::random_seed`]), so a pop in the log picks the same
//! members on every node.

use bytes::Bytes;
use redraft_engine::int_arg::{INTERCARD_LIMIT, NUMKEYS, POP_COUNT, RANDOM_COUNT};
use redraft_engine::{Error, Query, SetAlgebra, SetOp, WriteOp};

use super::args::{is, parse_cursor};
use super::flags::{DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
use super::hashes::scan_options;
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
    CommandSpec::keyspace(name, arity, flags, keys, parse, "set", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    spec("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd,
        "Adds one or more members to a set. Creates the key if it doesn't exist."),
    spec("srem", -3, WRITE | FAST, (1, 1, 1), srem,
        "Removes one or more members from a set. Deletes the set if the last member was removed."),
    spec("sismember", 3, READONLY | FAST, (1, 1, 1), sismember,
        "Determines whether a member belongs to a set."),
    spec("smismember", -3, READONLY | FAST, (1, 1, 1), smismember,
        "Determines whether multiple members belong to a set.").since("6.2.0"),
    spec("smembers", 2, READONLY, (1, 1, 1), smembers,
        "Returns all members of a set."),
    spec("scard", 2, READONLY | FAST, (1, 1, 1), scard,
        "Returns the number of members in a set."),
    spec("spop", -2, WRITE | FAST, (1, 1, 1), spop,
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    spec("srandmember", -2, READONLY, (1, 1, 1), srandmember,
        "Get one or multiple random members from a set"),
    spec("smove", 4, WRITE | FAST, (1, 2, 1), smove,
        "Moves a member from one set to another."),
    spec("sunion", -2, READONLY, (1, -1, 1), sunion,
        "Returns the union of multiple sets."),
    spec("sinter", -2, READONLY, (1, -1, 1), sinter,
        "Returns the intersect of multiple sets."),
    spec("sdiff", -2, READONLY, (1, -1, 1), sdiff,
        "Returns the difference of multiple sets."),
    spec("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), sunionstore,
        "Stores the union of multiple sets in a key."),
    spec("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), sinterstore,
        "Stores the intersect of multiple sets in a key."),
    spec("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), sdiffstore,
        "Stores the difference of multiple sets in a key."),
    spec("sintercard", -3, READONLY | MOVABLEKEYS, (0, 0, 0), sintercard,
        "Returns the number of members of the intersect of multiple sets.").since("7.0.0"),
    spec("sscan", -3, READONLY, (1, 1, 1), sscan,
        "Iterates over members of a set.").since("2.8.0"),
];

fn owned_all(args: &[Bytes]) -> Vec<Bytes> {
    args.iter().map(owned).collect()
}

fn write(op: SetOp) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Sets(op)))
}

fn read(query: Query) -> Parsed {
    Ok(KeyCommand::Read(query))
}

fn sadd(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::Add {
        key: owned(&args[0]),
        members: owned_all(&args[1..]),
    })
}

fn srem(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::Remove {
        key: owned(&args[0]),
        members: owned_all(&args[1..]),
    })
}

fn sismember(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::SIsMember {
        key: args[0].clone(),
        member: args[1].clone(),
    })
}

fn smismember(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::SMIsMember {
        key: args[0].clone(),
        members: args[1..].to_vec(),
    })
}

fn smembers(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::SMembers {
        key: args[0].clone(),
    })
}

fn scard(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::SCard {
        key: args[0].clone(),
    })
}

/// `SPOP key [count]`: more arguments are a syntax error, as in Redis. A
/// pop of a missing key is answered as a read (`WriteOp::reply_if_missing`).
fn spop(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let count = match args {
        [_] => None,
        [_, count] => Some(POP_COUNT.parse_u64(count)?),
        _ => return Err(Error::Syntax),
    };
    write(SetOp::Pop {
        key: owned(&args[0]),
        count,
        seed: parse.random_seed(),
    })
}

fn srandmember(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let count = match args {
        [_] => None,
        [_, count] => Some(RANDOM_COUNT.parse(count)?),
        _ => return Err(Error::Syntax),
    };
    read(Query::SRandMember {
        key: args[0].clone(),
        count,
        seed: parse.random_seed(),
    })
}

fn smove(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::Move {
        src: owned(&args[0]),
        dst: owned(&args[1]),
        member: owned(&args[2]),
    })
}

fn algebra(args: &[Bytes], op: SetAlgebra) -> Parsed {
    read(Query::SAlgebra {
        keys: args.to_vec(),
        op,
    })
}

fn sunion(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra(args, SetAlgebra::Union)
}

fn sinter(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra(args, SetAlgebra::Inter)
}

fn sdiff(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra(args, SetAlgebra::Diff)
}

fn sunionstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::UnionStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    })
}

fn sinterstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::InterStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    })
}

fn sdiffstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(SetOp::DiffStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    })
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the keys and the
/// limit (0: none), with Redis's errors in its order.
fn parse_sintercard(args: &[Bytes]) -> Result<(&[Bytes], u64), Error> {
    let numkeys = NUMKEYS.parse(&args[0])?;
    let rest = &args[1..];
    if numkeys as u64 > rest.len() as u64 {
        return Err(Error::Other(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (keys, mut options) = rest.split_at(numkeys as usize);
    let mut limit = 0;
    while let [option, more @ ..] = options {
        match more {
            [value, after @ ..] if is(option, "limit") => {
                limit = INTERCARD_LIMIT.parse_u64(value)?;
                options = after;
            }
            _ => return Err(Error::Syntax),
        }
    }
    Ok((keys, limit))
}

fn sintercard(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (keys, limit) = parse_sintercard(args)?;
    read(Query::SInterCard {
        keys: keys.to_vec(),
        limit,
    })
}

fn sscan(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let cursor = parse_cursor(&args[1]).ok_or(Error::Other("ERR invalid cursor"))?;
    read(Query::SScan {
        key: args[0].clone(),
        cursor,
        options: scan_options(&args[2..]),
    })
}
