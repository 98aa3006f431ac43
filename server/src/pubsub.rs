//! Pub/sub on one node: who subscribes to which channels, patterns and
//! shard channels, and the delivery of a published message to every
//! subscriber.
//!
//! Messages are not replicated: a `PUBLISH` or `SPUBLISH` reaches the
//! subscribers of the node it was sent to. Shard channels (`SSUBSCRIBE`,
//! `SPUBLISH`) are a namespace of their own, as in Redis 7.0: a shard
//! message reaches only shard subscribers, never a pattern. A message
//! for a connection travels to the network thread that owns it as a
//! [`Delivery::Message`] through that thread's inbox, so no thread touches
//! another's connections.
//!
//! Invariants:
//! - The registry lists a (connection, channel) pair at most once, and
//!   exactly when the connection's own `Client::channels` lists the channel
//!   (the same for patterns and shard channels); a closing connection
//!   leaves nothing behind.
//! - A publish sends one delivery per subscription it matched, and replies
//!   that count (a client subscribed to a channel and a matching pattern
//!   gets, and counts, two messages), as Redis does.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::RwLock;
use redraft_engine::glob_match;

use crate::route::{Delivery, Inbox};
pub use crate::route::{Message, Subscriber};

#[derive(Default)]
struct Registry {
    channels: HashMap<Bytes, Vec<Subscriber>>,
    patterns: HashMap<Bytes, Vec<Subscriber>>,
    shard_channels: HashMap<Bytes, Vec<Subscriber>>,
}

/// The node's subscriptions.
#[derive(Default)]
pub struct PubSub {
    registry: RwLock<Registry>,
}

/// Adds `who` to `name`'s list; false if it was there.
fn add(map: &mut HashMap<Bytes, Vec<Subscriber>>, name: &Bytes, who: Subscriber) -> bool {
    let list = map.entry(name.clone()).or_default();
    if list.contains(&who) {
        return false;
    }
    list.push(who);
    true
}

/// Removes the client `client_id` (ids are unique) from `name`'s list,
/// dropping an emptied list.
fn remove(map: &mut HashMap<Bytes, Vec<Subscriber>>, name: &[u8], client_id: u64) {
    if let Some(list) = map.get_mut(name) {
        list.retain(|listed| listed.client_id != client_id);
        if list.is_empty() {
            map.remove(name);
        }
    }
}

impl PubSub {
    pub fn subscribe(&self, channel: &Bytes, who: Subscriber) -> bool {
        add(&mut self.registry.write().channels, channel, who)
    }

    pub fn unsubscribe(&self, channel: &[u8], who: Subscriber) {
        remove(&mut self.registry.write().channels, channel, who.client_id);
    }

    pub fn psubscribe(&self, pattern: &Bytes, who: Subscriber) -> bool {
        add(&mut self.registry.write().patterns, pattern, who)
    }

    pub fn punsubscribe(&self, pattern: &[u8], who: Subscriber) {
        remove(&mut self.registry.write().patterns, pattern, who.client_id);
    }

    pub fn ssubscribe(&self, channel: &Bytes, who: Subscriber) -> bool {
        add(&mut self.registry.write().shard_channels, channel, who)
    }

    pub fn sunsubscribe(&self, channel: &[u8], who: Subscriber) {
        remove(
            &mut self.registry.write().shard_channels,
            channel,
            who.client_id,
        );
    }

    /// Drops every subscription of a closing (or `RESET`) connection.
    pub fn forget(
        &self,
        client_id: u64,
        channels: &[Bytes],
        patterns: &[Bytes],
        shard_channels: &[Bytes],
    ) {
        if channels.is_empty() && patterns.is_empty() && shard_channels.is_empty() {
            return;
        }
        let mut registry = self.registry.write();
        for channel in channels {
            remove(&mut registry.channels, channel, client_id);
        }
        for pattern in patterns {
            remove(&mut registry.patterns, pattern, client_id);
        }
        for channel in shard_channels {
            remove(&mut registry.shard_channels, channel, client_id);
        }
    }

    /// Sends `payload` to every subscriber of `channel` and of a pattern
    /// matching it; returns how many deliveries were made.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes, inboxes: &[Inbox]) -> usize {
        let mut by_executor: Vec<Vec<Delivery>> = (0..inboxes.len()).map(|_| Vec::new()).collect();
        {
            let registry = self.registry.read();
            let direct = registry
                .channels
                .get(channel)
                .into_iter()
                .flatten()
                .map(|who| (*who, None));
            let patterned = registry
                .patterns
                .iter()
                .filter(|(pattern, _)| glob_match(pattern, channel, false))
                .flat_map(|(pattern, list)| list.iter().map(move |who| (*who, Some(pattern))));
            for (who, pattern) in direct.chain(patterned) {
                let message = Message {
                    pattern: pattern.cloned(),
                    shard: false,
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                by_executor[usize::from(who.executor)].push(Delivery::Message { to: who, message });
            }
        }
        deliver(inboxes, by_executor)
    }

    /// Sends `payload` to every subscriber of the shard channel `channel`
    /// (`SPUBLISH`); returns how many deliveries were made.
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes, inboxes: &[Inbox]) -> usize {
        let mut by_executor: Vec<Vec<Delivery>> = (0..inboxes.len()).map(|_| Vec::new()).collect();
        {
            let registry = self.registry.read();
            for who in registry.shard_channels.get(channel).into_iter().flatten() {
                let message = Message {
                    pattern: None,
                    shard: true,
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                by_executor[usize::from(who.executor)]
                    .push(Delivery::Message { to: *who, message });
            }
        }
        deliver(inboxes, by_executor)
    }

    /// `PUBSUB CHANNELS` (`shard`: `SHARDCHANNELS`): channels with at
    /// least one subscriber, matching `pattern` if given, sorted.
    pub fn channels(&self, pattern: Option<&[u8]>, shard: bool) -> Vec<Bytes> {
        let registry = self.registry.read();
        let map = if shard {
            &registry.shard_channels
        } else {
            &registry.channels
        };
        let mut channels: Vec<Bytes> = map
            .keys()
            .filter(|channel| pattern.is_none_or(|p| glob_match(p, channel, false)))
            .cloned()
            .collect();
        channels.sort();
        channels
    }

    /// `PUBSUB NUMSUB` (`shard`: `SHARDNUMSUB`): subscribers of `channel`.
    pub fn numsub(&self, channel: &[u8], shard: bool) -> usize {
        let registry = self.registry.read();
        let map = if shard {
            &registry.shard_channels
        } else {
            &registry.channels
        };
        map.get(channel).map_or(0, Vec::len)
    }

    /// `PUBSUB NUMPAT`: distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.registry.read().patterns.len()
    }
}

/// Hands each network thread its deliveries; returns how many there were.
fn deliver(inboxes: &[Inbox], by_executor: Vec<Vec<Delivery>>) -> usize {
    let mut sent = 0;
    for (inbox, deliveries) in inboxes.iter().zip(by_executor) {
        sent += deliveries.len();
        if !deliveries.is_empty() {
            inbox.push(deliveries);
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(conn: u32) -> Subscriber {
        Subscriber::on_thread_0(conn)
    }

    #[test]
    fn publish_counts_channel_and_pattern_deliveries() {
        let pubsub = PubSub::default();
        let inboxes: Vec<Inbox> = (0..1).map(|_| Inbox::default()).collect();
        let news = Bytes::from_static(b"news.tech");
        assert!(pubsub.subscribe(&news, who(1)));
        assert!(
            !pubsub.subscribe(&news, who(1)),
            "a second subscribe is a no-op"
        );
        assert!(pubsub.psubscribe(&Bytes::from_static(b"news.*"), who(1)));
        assert!(pubsub.psubscribe(&Bytes::from_static(b"n*"), who(2)));
        assert!(pubsub.psubscribe(&Bytes::from_static(b"sport.*"), who(3)));
        assert_eq!(
            pubsub.publish(&news, &Bytes::from_static(b"hi"), &inboxes),
            3
        );
        let mut taken = Vec::new();
        inboxes[0].take(&mut taken);
        assert_eq!(taken.len(), 3);
        assert_eq!(pubsub.numsub(b"news.tech", false), 1);
        assert_eq!(pubsub.numpat(), 3);
        assert_eq!(pubsub.channels(Some(b"news.*"), false), vec![news.clone()]);
        pubsub.unsubscribe(b"news.tech", who(1));
        assert_eq!(pubsub.channels(None, false), Vec::<Bytes>::new());
        pubsub.punsubscribe(b"n*", who(2));
        assert_eq!(pubsub.numpat(), 2);
    }

    #[test]
    fn shard_channels_are_a_namespace_of_their_own() {
        let pubsub = PubSub::default();
        let inboxes: Vec<Inbox> = (0..1).map(|_| Inbox::default()).collect();
        let news = Bytes::from_static(b"news");
        let hi = Bytes::from_static(b"hi");
        assert!(pubsub.ssubscribe(&news, who(1)));
        assert!(!pubsub.ssubscribe(&news, who(1)));
        assert!(pubsub.subscribe(&news, who(2)));
        assert!(pubsub.psubscribe(&Bytes::from_static(b"n*"), who(3)));
        // Each publish reaches its own namespace only; no pattern matches a
        // shard channel.
        assert_eq!(pubsub.spublish(&news, &hi, &inboxes), 1);
        let mut taken = Vec::new();
        inboxes[0].take(&mut taken);
        assert!(matches!(
            &taken[..],
            [Delivery::Message { to, message }] if to.conn == 1 && message.shard
        ));
        assert_eq!(pubsub.publish(&news, &hi, &inboxes), 2);
        assert_eq!(pubsub.numsub(b"news", true), 1);
        assert_eq!(pubsub.channels(None, true), vec![news.clone()]);
        pubsub.forget(101, &[], &[], std::slice::from_ref(&news));
        assert_eq!(pubsub.numsub(b"news", true), 0);
        assert_eq!(pubsub.channels(None, true), Vec::<Bytes>::new());
        assert_eq!(pubsub.numsub(b"news", false), 1);
    }
}
