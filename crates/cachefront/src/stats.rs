//! Counters per cache and per route, and their snapshot.
//!
//! Each counter is a [`Count`] bound to its series in `series.rs`, the one table that the
//! `metrics` facade and the admin endpoint's Prometheus text are generated from.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::{
    memo::MemoStats,
    policy::Bypass,
    series::{self, Count, Exposition, Latency},
    store::{Store, StoreUsage},
};

/// The counters of one route (or of the whole cache, or of the invalidations that belong to no
/// route).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: Count,
    stale_hits: Count,
    misses: Count,
    revalidations: Count,
    invalidations: Count,
    bypasses: [Count; Bypass::ALL.len()],
    coalesced_waits: Count,
    stores: Count,
    not_stored: Count,
    store_errors: Count,
    /// The handler's time answering misses (routes only).
    handler: Latency,
}

/// One kind of event the cache counts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Hit,
    StaleHit,
    Miss,
    Revalidated,
    Invalidation,
    Bypass(Bypass),
    CoalescedWait,
    Store,
    NotStored,
    StoreError,
}

impl Counters {
    /// The counters of the route `name`, each bound to its series with the label `route`.
    fn for_route(name: &str) -> Self {
        let bound = |series| Count::bound(series, &[name]);
        Self {
            hits: bound(&series::HITS),
            stale_hits: bound(&series::STALE_HITS),
            misses: bound(&series::MISSES),
            revalidations: bound(&series::REVALIDATIONS),
            invalidations: bound(&series::INVALIDATIONS),
            bypasses: Bypass::ALL.map(|reason| Count::bound(&series::BYPASSES, &[name, reason.as_str()])),
            coalesced_waits: bound(&series::COALESCED_WAITS),
            stores: bound(&series::STORES),
            not_stored: bound(&series::NOT_STORED),
            store_errors: bound(&series::STORE_ERRORS),
            handler: Latency::bound(&series::HANDLER_SECONDS, &[name]),
        }
    }

    /// The counters of the invalidations that belong to no route: purges and their errors.
    fn for_purges() -> Self {
        Self {
            invalidations: Count::bound(&series::PURGES, &[]),
            store_errors: Count::bound(&series::PURGE_ERRORS, &[]),
            ..Self::default()
        }
    }

    fn record(&self, event: Event) {
        let counter = match event {
            Event::Hit => &self.hits,
            Event::StaleHit => &self.stale_hits,
            Event::Miss => &self.misses,
            Event::Revalidated => &self.revalidations,
            Event::Invalidation => &self.invalidations,
            Event::Bypass(reason) => &self.bypasses[reason.index()],
            Event::CoalescedWait => &self.coalesced_waits,
            Event::Store => &self.stores,
            Event::NotStored => &self.not_stored,
            Event::StoreError => &self.store_errors,
        };
        counter.increment();
    }

    fn snapshot(&self) -> RouteStats {
        let mut bypasses = BTreeMap::new();
        for reason in Bypass::ALL {
            let n = self.bypasses[reason.index()].get();
            if n > 0 {
                bypasses.insert(reason.as_str(), n);
            }
        }
        RouteStats {
            hits: self.hits.get(),
            stale_hits: self.stale_hits.get(),
            misses: self.misses.get(),
            revalidations: self.revalidations.get(),
            invalidations: self.invalidations.get(),
            bypasses,
            coalesced_waits: self.coalesced_waits.get(),
            stores: self.stores.get(),
            not_stored: self.not_stored.get(),
            store_errors: self.store_errors.get(),
        }
    }
}

/// The counters of every route, plus the totals.
#[derive(Debug)]
pub(crate) struct StatsRegistry {
    total: Counters,
    /// The invalidations through an `Invalidator`: in the total, and in series of their own.
    purges: Counters,
    routes: Mutex<BTreeMap<Arc<str>, Arc<Counters>>>,
}

impl StatsRegistry {
    /// The counters of a new cache; describes every series to the `metrics` recorder.
    pub(crate) fn new() -> Self {
        series::describe();
        Self {
            total: Counters::default(),
            purges: Counters::for_purges(),
            routes: Mutex::default(),
        }
    }

    /// The counters of a route, created on first use. Called when a policy is bound, not per
    /// request.
    pub(crate) fn route(&self, name: &Arc<str>) -> Arc<Counters> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            routes
                .entry(Arc::clone(name))
                .or_insert_with(|| Arc::new(Counters::for_route(name))),
        )
    }

    /// Records how long the handler took to answer a miss.
    pub(crate) fn handler_time(route: &Counters, elapsed: std::time::Duration) {
        route.handler.record(elapsed);
    }

    /// Gives the `metrics` facade the store's usage (see [`series::publish_usage`]).
    pub(crate) fn publish_usage(store: &dyn Store) {
        series::publish_usage(store);
    }

    /// Records an event that belongs to no route (an invalidation from an `Invalidator`).
    pub(crate) fn record_total(&self, event: Event) {
        self.purges.record(event);
        self.total.record(event);
    }

    pub(crate) fn record(&self, route: &Counters, event: Event) {
        route.record(event);
        self.total.record(event);
    }

    pub(crate) fn snapshot(&self, usage: StoreUsage) -> Stats {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, counters)| (name.to_string(), counters.snapshot()))
            .collect();
        Stats {
            total: self.total.snapshot(),
            routes,
            entries: usage.entries,
            bytes: usage.bytes,
            capacity_bytes: usage.capacity_bytes,
            evictions: usage.evictions,
            expirations: usage.expirations,
        }
    }

    /// What the admin endpoint's Prometheus text renders.
    pub(crate) fn exposition(&self, usage: StoreUsage, memo: BTreeMap<String, MemoStats>) -> Exposition {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, counters)| {
                (
                    name.to_string(),
                    (counters.snapshot(), counters.handler.snapshot()),
                )
            })
            .collect();
        Exposition {
            routes,
            purges: self.purges.snapshot(),
            memo,
            usage,
        }
    }
}

/// A snapshot of the cache's counters, in total and per route.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = cachefront::Cache::new();
/// let stats = cache.stats();
/// assert_eq!(stats.total.hits, 0);
/// assert_eq!(stats.hit_ratio(), None);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Counters summed over every route.
    pub total: RouteStats,
    /// Counters per route name ([`Policy::name`](crate::Policy::name)).
    pub routes: BTreeMap<String, RouteStats>,
    /// Entries held by the store (the memory tier of a `TieredStore`). The memory store counts
    /// them at each write and removal, so the count is exact at once, before its background
    /// maintenance runs.
    pub entries: u64,
    /// Bytes held by the store, by its own measure ([`Entry::weight`](crate::store::Entry::weight)
    /// for the memory store), exact at once as `entries` is.
    pub bytes: u64,
    /// The store's capacity in bytes, if bounded.
    pub capacity_bytes: Option<u64>,
    /// Entries the store removed to make room.
    pub evictions: u64,
    /// Entries the store removed at the end of their lifetime.
    pub expirations: u64,
}

impl Stats {
    /// The snapshot as JSON — totals, store usage and per route — as the admin endpoint
    /// `GET /stats` serves it.
    ///
    /// ```
    /// let stats = cachefront::Cache::new().stats().to_json();
    /// assert_eq!(stats["total"]["hits"], 0);
    /// assert_eq!(stats["capacity_bytes"], 64 * 1024 * 1024);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let routes: serde_json::Map<String, serde_json::Value> = self
            .routes
            .iter()
            .map(|(name, route)| (name.clone(), route.to_json()))
            .collect();
        serde_json::json!({
            "total": self.total.to_json(),
            "entries": self.entries,
            "bytes": self.bytes,
            "capacity_bytes": self.capacity_bytes,
            "evictions": self.evictions,
            "expirations": self.expirations,
            "routes": routes,
        })
    }

    /// Hits over hits plus misses, or `None` before the first lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        self.total.hit_ratio()
    }
}

/// The counters of one route (or the total).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteStats {
    /// Requests answered from the cache (including those answered by a coalesced leader).
    pub hits: u64,
    /// Requests answered with a stale response (`max-stale`, stale-while-revalidate,
    /// stale-if-error).
    pub stale_hits: u64,
    /// Cacheable requests sent to the handler.
    pub misses: u64,
    /// Stored responses refreshed by a 304 from the handler.
    pub revalidations: u64,
    /// Successful unsafe requests that invalidated stored responses.
    pub invalidations: u64,
    /// Requests that did not use the cache, by reason: [`Bypass::as_str`](crate::Bypass::as_str)
    /// of each of [`Bypass::ALL`](crate::Bypass::ALL) (`method`, `authorization`, `cookie`,
    /// `range`, `precondition`). Only reasons seen at least once are listed.
    pub bypasses: BTreeMap<&'static str, u64>,
    /// Requests that waited for another request's response to the same key.
    pub coalesced_waits: u64,
    /// Responses stored.
    pub stores: u64,
    /// Forwarded responses that could not be stored (status, directives, size, incomplete).
    pub not_stored: u64,
    /// Store operations that failed (the request then went to the handler).
    pub store_errors: u64,
}

impl RouteStats {
    /// The counters as JSON (see [`Stats::to_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "hits": self.hits,
            "stale_hits": self.stale_hits,
            "misses": self.misses,
            "hit_ratio": self.hit_ratio(),
            "bypasses": self.bypasses,
            "coalesced_waits": self.coalesced_waits,
            "stores": self.stores,
            "not_stored": self.not_stored,
            "revalidations": self.revalidations,
            "invalidations": self.invalidations,
            "store_errors": self.store_errors,
        })
    }

    /// Hits over hits plus misses, or `None` before the first lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }

    /// Bypasses of every reason.
    pub fn total_bypasses(&self) -> u64 {
        self.bypasses.values().sum()
    }
}
