//! The pub/sub bus between instances: invalidations published and heard, wake-ups of the
//! tasks waiting on a key's lock, and the listener that keeps the subscription up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures_util::StreamExt as _;
use redis::{RedisResult, Value};
use tokio::sync::{Notify, broadcast, watch};

/// How often the pub/sub connection is checked with a `PING`.
const LISTENER_PING_EVERY: Duration = Duration::from_secs(1);

/// What one instance tells the others was removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// One key, by its digest in hex (peers remove exactly it, never a prefix).
    Key(String),
    /// Every entry carrying a tag.
    Tag(String),
    /// Every entry whose readable key starts with this.
    Prefix(String),
    /// Everything.
    All,
}

impl Invalidation {
    pub(super) fn encode(&self, instance: &str) -> Vec<u8> {
        let (kind, data) = match self {
            Self::Key(readable) => ('k', readable.as_str()),
            Self::Tag(tag) => ('t', tag.as_str()),
            Self::Prefix(prefix) => ('p', prefix.as_str()),
            Self::All => ('a', ""),
        };
        format!("{instance}\n{kind}{data}").into_bytes()
    }

    /// The sender and the invalidation, or `None` for a message this release does not know.
    fn decode(payload: &[u8]) -> Option<(&str, Self)> {
        let payload = std::str::from_utf8(payload).ok()?;
        let (instance, rest) = payload.split_once('\n')?;
        let mut chars = rest.chars();
        let kind = chars.next()?;
        let data = chars.as_str().to_owned();
        let invalidation = match kind {
            'k' => Self::Key(data),
            't' => Self::Tag(data),
            'p' => Self::Prefix(data),
            'a' => Self::All,
            _ => return None,
        };
        Some((instance, invalidation))
    }
}

/// What the pub/sub listener shares with the store: waiters on locks, invalidations received,
/// and whether the subscription is up.
pub(super) struct Bus {
    pub(super) invalidate_channel: String,
    pub(super) ready_channel: String,
    instance: String,
    waiters: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    pub(super) invalidations: broadcast::Sender<Invalidation>,
    pub(super) subscribed: watch::Sender<bool>,
}

/// How many invalidations heard from other instances may wait to be applied to the memory tier
/// before it is emptied as out of date (~1 MiB of messages).
const INVALIDATION_BACKLOG: usize = 16_384;

impl Bus {
    pub(super) fn new(prefix: &str, instance: String) -> Self {
        Self {
            invalidate_channel: format!("{prefix}invalidate"),
            ready_channel: format!("{prefix}ready"),
            instance,
            waiters: Mutex::new(HashMap::new()),
            // Room for bursts (a flood of unsafe requests on other instances): applying one is
            // O(variants), and falling behind empties the memory tier.
            invalidations: broadcast::channel(INVALIDATION_BACKLOG).0,
            subscribed: watch::channel(false).0,
        }
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        // Every update is a single insert or remove: the map stays consistent under a panic.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn register(self: &Arc<Self>, hex: &str) -> Waiter {
        let notify = {
            let mut waiters = self.waiters();
            let slot = waiters
                .entry(hex.to_owned())
                .or_insert_with(|| (Arc::new(Notify::new()), 0));
            slot.1 += 1;
            Arc::clone(&slot.0)
        };
        Waiter {
            bus: Arc::clone(self),
            hex: hex.to_owned(),
            notify,
        }
    }

    fn dispatch(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
        if channel == self.ready_channel {
            let Ok(hex) = std::str::from_utf8(payload) else {
                return;
            };
            if let Some((notify, _)) = self.waiters().get(hex) {
                notify.notify_waiters();
            }
        } else if channel == self.invalidate_channel {
            match Invalidation::decode(payload) {
                Some((instance, _)) if instance == self.instance => {}
                Some((_, invalidation)) => {
                    // No receiver (a plain RedisStore) is fine.
                    let _ = self.invalidations.send(invalidation);
                }
                None => tracing::debug!("ignoring an unknown message on the invalidation channel"),
            }
        }
    }

    fn set_subscribed(&self, up: bool) {
        self.subscribed
            .send_if_modified(|state| std::mem::replace(state, up) != up);
    }
}

/// One task waiting on a key's lock; unregisters on drop.
pub(super) struct Waiter {
    bus: Arc<Bus>,
    hex: String,
    pub(super) notify: Arc<Notify>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiters = self.bus.waiters();
        if let Some(slot) = waiters.get_mut(&self.hex) {
            slot.1 -= 1;
            if slot.1 == 0 {
                waiters.remove(&self.hex);
            }
        }
    }
}

/// Keeps one pub/sub connection subscribed to the store's channels: reconnects with backoff
/// (trying each node in turn for a cluster, where `PUBLISH` reaches every node), checks the
/// connection with `PING`, and says whether it is up.
pub(super) async fn listen(
    bus: Arc<Bus>,
    clients: Vec<redis::Client>,
    timeout: Duration,
    mut shutdown: watch::Receiver<()>,
) {
    let channels = [bus.invalidate_channel.clone(), bus.ready_channel.clone()];
    let mut backoff = Duration::from_millis(50);
    for attempt in 0.. {
        let client = &clients[attempt % clients.len()];
        let connected = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels).await?;
            RedisResult::Ok(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                tracing::debug!(channels = ?channels, "subscribed to the cachefront channels");
                bus.set_subscribed(true);
                let (mut sink, mut messages) = pubsub.split();
                let mut ping = tokio::time::interval(LISTENER_PING_EVERY);
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ping.tick().await;
                loop {
                    tokio::select! {
                        changed = shutdown.changed() => if changed.is_err() { return },
                        message = messages.next() => match message {
                            Some(message) => bus.dispatch(&message),
                            None => break,
                        },
                        _ = ping.tick() => {
                            let pong = tokio::time::timeout(timeout, sink.ping::<Value>()).await;
                            if !matches!(pong, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("lost the Redis pub/sub connection; resubscribing");
                bus.set_subscribed(false);
            }
            Ok(Err(error)) => {
                bus.set_subscribed(false);
                tracing::debug!(%error, "cannot subscribe to Redis yet");
            }
            Err(_) => {
                bus.set_subscribed(false);
                tracing::debug!("subscribing to Redis timed out");
            }
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip() {
        for invalidation in [
            Invalidation::Key("GET /a host=example.com".to_owned()),
            Invalidation::Tag("product:42\nwith newline".to_owned()),
            Invalidation::Prefix("GET example.com/".to_owned()),
            Invalidation::All,
        ] {
            let payload = invalidation.encode("me");
            assert_eq!(Invalidation::decode(&payload), Some(("me", invalidation)));
        }
        assert_eq!(Invalidation::decode(b"me\nzwhat"), None);
        assert_eq!(Invalidation::decode(b"\xff"), None);
    }
}
