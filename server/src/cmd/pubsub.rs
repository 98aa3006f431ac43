//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH, the sharded SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH, and PUBSUB
//! CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP (see
//! `crate::pubsub`).
//!
//! Each (un)subscription is confirmed by its own push (RESP3) or array
//! (RESP2) of [kind, name, subscriptions left], as Redis sends them. As in
//! Redis 7.0, shard channels are counted apart: an `ssubscribe` or
//! `sunsubscribe` carries the count of shard channels, the others the
//! count of channels and patterns. A RESP2 connection subscribed to any
//! of them is in subscribed mode.

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::args::is;
use super::flags::{FAST, LOADING, NOSCRIPT, NOT_KEY, STALE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, "pubsub", summary).since(since)
}

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "pubsub|channels",
        -2,
        LOADING | STALE,
        channels,
        "Returns the active channels.",
        "2.8.0",
    ),
    spec(
        "pubsub|numsub",
        -2,
        LOADING | STALE,
        numsub,
        "Returns a count of subscribers to channels.",
        "2.8.0",
    ),
    spec(
        "pubsub|numpat",
        2,
        LOADING | STALE,
        numpat,
        "Returns a count of unique pattern subscriptions.",
        "2.8.0",
    ),
    spec(
        "pubsub|shardchannels",
        -2,
        LOADING | STALE,
        shardchannels,
        "List active shard channels",
        "7.0.0",
    ),
    spec(
        "pubsub|shardnumsub",
        -2,
        LOADING | STALE,
        shardnumsub,
        "Get the count of subscribers for shard channels",
        "7.0.0",
    ),
    spec(
        "pubsub|help",
        2,
        LOADING | STALE,
        pubsub_help,
        "Returns helpful text about the different subcommands.",
        "6.2.0",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "subscribe",
        -2,
        NOSCRIPT | LOADING | STALE,
        subscribe,
        "Listens for messages published to channels.",
        "2.0.0",
    ),
    spec(
        "unsubscribe",
        -1,
        NOSCRIPT | LOADING | STALE,
        unsubscribe,
        "Stops listening to messages posted to channels.",
        "2.0.0",
    ),
    spec(
        "psubscribe",
        -2,
        NOSCRIPT | LOADING | STALE,
        psubscribe,
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    spec(
        "punsubscribe",
        -1,
        NOSCRIPT | LOADING | STALE,
        punsubscribe,
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    spec(
        "publish",
        3,
        LOADING | STALE | FAST,
        publish,
        "Posts a message to a channel.",
        "2.0.0",
    ),
    CommandSpec::new(
        "ssubscribe",
        -2,
        NOSCRIPT | LOADING | STALE | NOT_KEY,
        (1, -1, 1),
        ssubscribe,
        "pubsub",
        "Listen for messages published to the given shard channels",
    )
    .since("7.0.0"),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        NOSCRIPT | LOADING | STALE | NOT_KEY,
        (1, -1, 1),
        sunsubscribe,
        "pubsub",
        "Stop listening for messages posted to the given shard channels",
    )
    .since("7.0.0"),
    CommandSpec::new(
        "spublish",
        3,
        LOADING | STALE | FAST | NOT_KEY,
        (1, 1, 1),
        spublish,
        "pubsub",
        "Post a message to a shard channel",
    )
    .since("7.0.0"),
    spec(
        "pubsub",
        -2,
        0,
        pubsub,
        "A container for Pub/Sub commands.",
        "2.8.0",
    )
    .with_subcommands(PUBSUB_SUBCOMMANDS),
];

/// The commands a RESP2 connection may run while it subscribes to
/// anything (Redis's "subscribed mode").
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// The three namespaces a connection subscribes in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The confirmation's name for a subscription and for leaving one.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    /// This connection's subscriptions of this kind.
    fn mine(self, client: &mut crate::client::Client) -> &mut Vec<Bytes> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
            Kind::Shard => &mut client.shard_channels,
        }
    }
}

/// One confirmation: [kind, name or nil, subscriptions left], the count
/// of shard channels for a shard confirmation, else of channels and
/// patterns.
fn confirm(ctx: &mut Ctx<'_>, kind: Kind, subscribing: bool, name: Option<&[u8]>) {
    let count = match kind {
        Kind::Shard => ctx.client.shard_channels.len(),
        Kind::Channel | Kind::Pattern => ctx.client.subscriptions(),
    };
    let (joined, left) = kind.names();
    ctx.out.push(3);
    ctx.out
        .bulk(if subscribing { joined } else { left }.as_bytes());
    match name {
        Some(name) => ctx.out.bulk(name),
        None => ctx.out.nil(),
    }
    ctx.out.int(count as i64);
}

/// Subscribes to `names` of `kind`, one confirmation each.
fn join(ctx: &mut Ctx<'_>, names: &[Bytes], kind: Kind) -> Action {
    for name in names {
        let name = owned(name);
        let pubsub = &ctx.shared.pubsub;
        let added = match kind {
            Kind::Channel => pubsub.subscribe(&name, ctx.subscriber),
            Kind::Pattern => pubsub.psubscribe(&name, ctx.subscriber),
            Kind::Shard => pubsub.ssubscribe(&name, ctx.subscriber),
        };
        if added {
            kind.mine(ctx.client).push(name.clone());
        }
        confirm(ctx, kind, true, Some(&name));
    }
    Action::Replied
}

fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    join(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    join(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    join(ctx, args, Kind::Shard)
}

/// Unsubscribes from `names` of `kind` (all of this connection's when
/// empty), one confirmation each; with nothing to leave, one confirmation
/// with a nil name, as Redis replies.
fn leave(ctx: &mut Ctx<'_>, names: &[Bytes], kind: Kind) -> Action {
    let names: Vec<Bytes> = if names.is_empty() {
        let mine = kind.mine(ctx.client);
        if mine.is_empty() {
            confirm(ctx, kind, false, None);
            return Action::Replied;
        }
        mine.clone()
    } else {
        names.to_vec()
    };
    for name in names {
        let mine = kind.mine(ctx.client);
        if let Some(at) = mine.iter().position(|listed| *listed == name) {
            mine.remove(at);
            let pubsub = &ctx.shared.pubsub;
            match kind {
                Kind::Channel => pubsub.unsubscribe(&name, ctx.subscriber),
                Kind::Pattern => pubsub.punsubscribe(&name, ctx.subscriber),
                Kind::Shard => pubsub.sunsubscribe(&name, ctx.subscriber),
            }
        }
        confirm(ctx, kind, false, Some(&name));
    }
    Action::Replied
}

/// Drops every subscription of this connection without a confirmation
/// (`RESET`).
pub fn leave_all(ctx: &mut Ctx<'_>) {
    let channels = std::mem::take(&mut ctx.client.channels);
    let patterns = std::mem::take(&mut ctx.client.patterns);
    let shard_channels = std::mem::take(&mut ctx.client.shard_channels);
    ctx.shared
        .pubsub
        .forget(ctx.client.info.id, &channels, &patterns, &shard_channels);
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    leave(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    leave(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    leave(ctx, args, Kind::Shard)
}

fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let sent = ctx
        .shared
        .pubsub
        .publish(&owned(&args[0]), &owned(&args[1]), &ctx.shared.inboxes);
    ctx.out.int(sent as i64);
    Action::Replied
}

fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let sent = ctx
        .shared
        .pubsub
        .spublish(&owned(&args[0]), &owned(&args[1]), &ctx.shared.inboxes);
    ctx.out.int(sent as i64);
    Action::Replied
}

fn pubsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // Redis refuses CHANNELS and SHARDCHANNELS with more than a pattern
    // in words of its own, naming the subcommand as typed.
    if let [sub, _, _, ..] = args {
        if is(sub, "channels") || is(sub, "shardchannels") {
            let text = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&sub[..sub.len().min(128)])
            );
            ctx.out.error_text(&text);
            return Action::Replied;
        }
    }
    let container = super::lookup(b"pubsub").expect("pubsub is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// `PUBSUB CHANNELS`/`SHARDCHANNELS [pattern]` (more arguments are
/// refused by `pubsub`, before dispatch).
fn list_channels(ctx: &mut Ctx<'_>, args: &[Bytes], shard: bool) -> Action {
    let pattern = args.first().map(|pattern| &pattern[..]);
    let channels = ctx.shared.pubsub.channels(pattern, shard);
    ctx.out.array(channels.len());
    for channel in &channels {
        ctx.out.bulk(channel);
    }
    Action::Replied
}

fn channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    list_channels(ctx, args, false)
}

fn shardchannels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    list_channels(ctx, args, true)
}

/// A flat array of (channel, count), in RESP3 too, as Redis 7.0 sends it.
fn count_subscribers(ctx: &mut Ctx<'_>, args: &[Bytes], shard: bool) -> Action {
    ctx.out.array(args.len() * 2);
    for channel in args {
        ctx.out.bulk(channel);
        ctx.out.int(ctx.shared.pubsub.numsub(channel, shard) as i64);
    }
    Action::Replied
}

fn numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    count_subscribers(ctx, args, false)
}

fn shardnumsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    count_subscribers(ctx, args, true)
}

fn numpat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.int(ctx.shared.pubsub.numpat() as i64);
    Action::Replied
}

fn pubsub_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
