//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH and PUBSUB CHANNELS|NUMSUB|NUMPAT|HELP (see `crate::pubsub`).
//!
//! Each (un)subscription is confirmed by its own push (RESP3) or array
//! (RESP2) of [kind, name, subscriptions left], as Redis sends them.

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::flags::{FAST, LOADING, NOSCRIPT, STALE};
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
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
    )
}

/// One confirmation: [kind, name or nil, subscriptions left].
fn confirm(ctx: &mut Ctx<'_>, kind: &str, name: Option<&[u8]>) {
    let count = ctx.client.subscriptions();
    ctx.out.push(3);
    ctx.out.bulk(kind.as_bytes());
    match name {
        Some(name) => ctx.out.bulk(name),
        None => ctx.out.nil(),
    }
    ctx.out.int(count as i64);
}

fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    for channel in args {
        let channel = owned(channel);
        if ctx.shared.pubsub.subscribe(&channel, ctx.subscriber) {
            ctx.client.channels.push(channel.clone());
        }
        confirm(ctx, "subscribe", Some(&channel));
    }
    Action::Replied
}

fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    for pattern in args {
        let pattern = owned(pattern);
        if ctx.shared.pubsub.psubscribe(&pattern, ctx.subscriber) {
            ctx.client.patterns.push(pattern.clone());
        }
        confirm(ctx, "psubscribe", Some(&pattern));
    }
    Action::Replied
}

/// Unsubscribes from `names` (all of this connection's when empty), one
/// confirmation each; with nothing to leave, one confirmation with a nil
/// name, as Redis replies.
fn leave(ctx: &mut Ctx<'_>, names: &[Bytes], patterns: bool) -> Action {
    let kind = if patterns {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let names: Vec<Bytes> = if names.is_empty() {
        let mine = if patterns {
            &ctx.client.patterns
        } else {
            &ctx.client.channels
        };
        if mine.is_empty() {
            confirm(ctx, kind, None);
            return Action::Replied;
        }
        mine.clone()
    } else {
        names.to_vec()
    };
    for name in names {
        let mine = if patterns {
            &mut ctx.client.patterns
        } else {
            &mut ctx.client.channels
        };
        if let Some(at) = mine.iter().position(|listed| *listed == name) {
            mine.remove(at);
            if patterns {
                ctx.shared.pubsub.punsubscribe(&name, ctx.subscriber);
            } else {
                ctx.shared.pubsub.unsubscribe(&name, ctx.subscriber);
            }
        }
        confirm(ctx, kind, Some(&name));
    }
    Action::Replied
}

/// Drops every subscription of this connection without a confirmation
/// (`RESET`).
pub fn leave_all(ctx: &mut Ctx<'_>) {
    let channels = std::mem::take(&mut ctx.client.channels);
    let patterns = std::mem::take(&mut ctx.client.patterns);
    ctx.shared
        .pubsub
        .forget(ctx.client.info.id, &channels, &patterns);
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    leave(ctx, args, false)
}

fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    leave(ctx, args, true)
}

fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let sent = ctx
        .shared
        .pubsub
        .publish(&owned(&args[0]), &owned(&args[1]), &ctx.shared.inboxes);
    ctx.out.int(sent as i64);
    Action::Replied
}

fn pubsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"pubsub").expect("pubsub is in the table");
    super::dispatch_sub(ctx, container, args)
}

fn channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let pattern = match args {
        [] => None,
        [pattern] => Some(&pattern[..]),
        _ => return super::arity_error(ctx, "pubsub|channels"),
    };
    let channels = ctx.shared.pubsub.channels(pattern);
    ctx.out.array(channels.len());
    for channel in &channels {
        ctx.out.bulk(channel);
    }
    Action::Replied
}

/// A flat array of (channel, count), in RESP3 too, as Redis 7.0 sends it.
fn numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.out.array(args.len() * 2);
    for channel in args {
        ctx.out.bulk(channel);
        ctx.out.int(ctx.shared.pubsub.numsub(channel) as i64);
    }
    Action::Replied
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
        ],
    )
}
