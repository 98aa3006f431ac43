//! Pub/sub on one node: who subscribes to which channels and patterns, and
//! the delivery of a published message to every subscriber.
//!
//! Messages are not replicated: a `PUBLISH` reaches the subscribers of the
//! node it was sent to, as in Redis Cluster's classic pub/sub. A message
//! for a connection travels to the network thread that owns it as a
//! [`Delivery::Message`] through that thread's inbox, so no thread touches
//! another's connections.
//!
//! Invariants:
//! - The registry lists a (connection, channel) pair at most once, and
//!   exactly when the connection's own `Client::channels` lists the channel
//!   (the same for patterns); a closing connection leaves nothing behind.
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

    /// Drops every subscription of a closing connection.
    pub fn forget(&self, client_id: u64, channels: &[Bytes], patterns: &[Bytes]) {
        if channels.is_empty() && patterns.is_empty() {
            return;
        }
        let mut registry = self.registry.write();
        for channel in channels {
            remove(&mut registry.channels, channel, client_id);
        }
        for pattern in patterns {
            remove(&mut registry.patterns, pattern, client_id);
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
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                by_executor[usize::from(who.executor)].push(Delivery::Message { to: who, message });
            }
        }
        let mut sent = 0;
        for (inbox, deliveries) in inboxes.iter().zip(by_executor) {
            sent += deliveries.len();
            if !deliveries.is_empty() {
                inbox.push(deliveries);
            }
        }
        sent
    }

    /// `PUBSUB CHANNELS`: channels with at least one subscriber, matching
    /// `pattern` if given.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let registry = self.registry.read();
        let mut channels: Vec<Bytes> = registry
            .channels
            .keys()
            .filter(|channel| pattern.is_none_or(|p| glob_match(p, channel, false)))
            .cloned()
            .collect();
        channels.sort();
        channels
    }

    /// `PUBSUB NUMSUB`: subscribers of `channel`.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.registry
            .read()
            .channels
            .get(channel)
            .map_or(0, Vec::len)
    }

    /// `PUBSUB NUMPAT`: distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.registry.read().patterns.len()
    }
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
        assert_eq!(pubsub.numsub(b"news.tech"), 1);
        assert_eq!(pubsub.numpat(), 3);
        assert_eq!(pubsub.channels(Some(b"news.*")), vec![news.clone()]);
        pubsub.unsubscribe(b"news.tech", who(1));
        assert_eq!(pubsub.channels(None), Vec::<Bytes>::new());
        pubsub.punsubscribe(b"n*", who(2));
        assert_eq!(pubsub.numpat(), 2);
    }
}
