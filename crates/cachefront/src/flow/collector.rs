//! Collecting a response body as it streams, and storing it: [`Collector`], the variants a
//! stored response lands under, and the background store writes that purges can overtake.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::{
    tasks::{run_now_or_spawn, spawn_or_warn},
    variants::variants_tag,
};
use crate::{
    cache::CacheRoute,
    coalesce::{FlightCleanup, LeaderGuard},
    entry::Entry,
    key::CacheKey,
    policy::NotStored,
    purges::PurgeEpoch,
    stats::{Event, StatsRegistry},
    store::StoreLock,
};

/// Collects a response body as it streams to the client, and stores it when it ends.
///
/// Call [`push`](Self::push) with each data chunk and [`finish`](Self::finish) at the end of the
/// body. If the body passes the policy's limit, `push` returns `false`: drop the collector and
/// keep streaming. A collector dropped before `finish` (error, trailers, client gone) stores
/// nothing and releases any requests waiting on it.
pub struct Collector {
    pub(super) route: CacheRoute,
    pub(super) guard: Option<LeaderGuard>,
    pub(super) store_lock: Option<StoreLock>,
    /// The entry to store, without its body.
    pub(super) template: Entry,
    /// The body so far: most bodies are one chunk, kept without a list.
    pub(super) first: Option<Bytes>,
    pub(super) rest: Vec<Bytes>,
    pub(super) len: usize,
    pub(super) limit: usize,
    pub(super) started: Instant,
    /// Stored, or known not to be: nothing left to do on drop.
    pub(super) settled: bool,
    /// The cache's purge epoch when the request began.
    pub(super) epoch: PurgeEpoch,
    /// A response being collected counts as a write under way (see `pending`).
    pub(super) _pending: crate::pending::PendingTask,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("key", &self.template.key)
            .field("len", &self.len)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Adds a chunk; `false` once the body is over the limit (the collector then stores nothing
    /// and should be dropped).
    pub fn push(&mut self, chunk: &Bytes) -> bool {
        self.len += chunk.len();
        if self.len > self.limit {
            self.route.record(Event::NotStored);
            tracing::debug!(
                key = %self.template.key,
                limit = self.limit,
                decision = "not-stored",
                reason = NotStored::TooLarge.as_str()
            );
            self.first = None;
            self.rest = Vec::new();
            self.settled = true;
            if let Some(guard) = self.guard.take() {
                guard.uncacheable();
            }
            return false;
        }
        if !chunk.is_empty() {
            match self.first {
                None => self.first = Some(chunk.clone()),
                Some(_) => self.rest.push(chunk.clone()),
            }
        }
        true
    }

    /// The body ended: stores the response and answers the requests waiting on it.
    pub fn finish(mut self) {
        self.settled = true;
        let body = match (&self.first, self.rest.is_empty()) {
            (None, _) => Bytes::new(),
            // Copied: a chunk from a server's parser shares its whole read buffer, which a
            // stored entry would otherwise keep alive beyond what its weight counts.
            (Some(only), true) => Bytes::copy_from_slice(only),
            (Some(first), false) => {
                let mut body = BytesMut::with_capacity(self.len);
                body.extend_from_slice(first);
                for chunk in &self.rest {
                    body.extend_from_slice(chunk);
                }
                body.freeze()
            }
        };
        let route = self.route.clone();
        let policy = &route.policy;
        let mut entry = std::mem::replace(&mut self.template, empty_entry());
        entry.body = body;
        let (served, entries) = if entry.vary.is_empty() {
            let served = Arc::new(entry);
            (Arc::clone(&served), Puts::One([served]))
        } else {
            // Variants of one URI live side by side under their own keys; the primary key holds
            // the latest one, whose `Vary` names lead lookups to the others. The oldest beyond
            // the policy's cap goes.
            // The key moves into whichever entry keeps it; a copy of a long URL's key is never
            // made only to be replaced.
            let primary = std::mem::replace(&mut entry.key, CacheKey::placeholder());
            let variant = primary.variant(entry.vary.iter().map(|(name, value)| (name, value.as_ref())));
            entry.tags.push(Arc::from(variants_tag(&primary)));
            let evicted =
                route
                    .cache
                    .inner
                    .variants
                    .record(*primary.digest(), *variant.digest(), policy.max_variants);
            if !evicted.is_empty() {
                let route = route.clone();
                spawn_or_warn(route.cache.pending().start().run(async move {
                    for digest in evicted {
                        let _ = route.store().remove(&CacheKey::from_digest(digest)).await;
                    }
                }));
            }
            let mut variant_entry = entry.clone();
            variant_entry.key = variant;
            entry.key = primary;
            let served = Arc::new(variant_entry);
            (Arc::clone(&served), Puts::Two([Arc::new(entry), served]))
        };
        route.record(Event::Store);
        tracing::debug!(
            key = %served.key,
            route = %policy.name,
            bytes = served.body.len(),
            handler_ms = self.started.elapsed().as_millis() as u64,
            decision = "store",
        );
        let cleanup = self.guard.take().map(|guard| guard.complete(Arc::clone(&served)));
        route.spawn_puts(entries, cleanup, self.store_lock.take(), self.epoch);
    }
}

fn empty_entry() -> Entry {
    Entry::new(
        CacheKey::placeholder(),
        StatusCode::OK,
        Bytes::new(),
        Duration::ZERO,
    )
}

impl Drop for Collector {
    fn drop(&mut self) {
        if !self.settled {
            self.route.record(Event::NotStored);
            tracing::debug!(
                key = %self.template.key,
                decision = "not-stored",
                reason = NotStored::Incomplete.as_str()
            );
        }
    }
}

/// The entries one response writes, held inline: the response itself, or, with `Vary`, the
/// primary entry and the variant.
pub(super) enum Puts {
    One([Arc<Entry>; 1]),
    Two([Arc<Entry>; 2]),
}

impl Puts {
    fn as_slice(&self) -> &[Arc<Entry>] {
        match self {
            Self::One(entries) => entries,
            Self::Two(entries) => entries,
        }
    }
}

impl CacheRoute {
    /// Writes entries to the store in the background; `cleanup` (the flight) is released once
    /// they are written, so requests arriving meanwhile are answered from the flight.
    pub(super) fn spawn_puts(
        &self,
        puts: Puts,
        cleanup: Option<FlightCleanup>,
        lock: Option<StoreLock>,
        epoch: PurgeEpoch,
    ) {
        let route = self.clone();
        run_now_or_spawn(self.cache.pending().start().run(async move {
            let entries = puts.as_slice();
            // Checked before writing and again after: an invalidation recorded in between
            // removes what was written.
            let overtaken = |cleanup: &Option<FlightCleanup>| {
                cleanup.as_ref().is_some_and(FlightCleanup::invalidated)
                    || entries.iter().any(|entry| route.cache.overtaken(epoch, entry))
            };
            let mut cleanup = cleanup;
            let mut written = 0;
            for entry in entries {
                // An invalidation that came in after this response was produced wins.
                if overtaken(&cleanup) {
                    break;
                }
                written += 1;
                if let Err(error) = route.store().put(Arc::clone(entry)).await {
                    route.record(Event::StoreError);
                    crate::store::warn::store_error(
                        "cache store write failed; the response was served but not stored",
                        format_args!("key {}", entry.key),
                        &error,
                    );
                }
            }
            if overtaken(&cleanup) {
                // First, before any await: the flight stops answering later requests with it.
                drop(cleanup.take());
                tracing::debug!(
                    decision = "not-stored",
                    reason = "invalidated",
                    "an invalidation overtook this response"
                );
                for entry in &entries[..written] {
                    let _ = route.store().remove(&entry.key).await;
                }
            }
            // A variant evicted (by newer variants) while its write was under way must not stay.
            if let Some(primary) = entries.first().filter(|_| entries.len() > 1) {
                for variant in &entries[1..] {
                    if !route
                        .cache
                        .inner
                        .variants
                        .contains(primary.key.digest(), variant.key.digest())
                    {
                        let _ = route.store().remove(&variant.key).await;
                    }
                }
            }
            drop(cleanup);
            // Other instances waiting on this key are woken once it is stored.
            if let Some(lock) = lock
                && let Err(error) = lock.release().await
            {
                route.record(Event::StoreError);
                crate::store::warn::store_error(
                    "cache store lock release failed; it expires by itself",
                    format_args!(""),
                    &error,
                );
            }
            StatsRegistry::publish_usage(&**route.store());
        }));
    }
}
