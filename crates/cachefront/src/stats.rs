//! Counters per cache and per route, and their snapshot.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{policy::Bypass, store::StoreUsage};

/// Lock-free counters for one route (or the whole cache).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    revalidations: AtomicU64,
    invalidations: AtomicU64,
    bypasses: [AtomicU64; Bypass::ALL.len()],
    coalesced_waits: AtomicU64,
    stores: AtomicU64,
    not_stored: AtomicU64,
    store_errors: AtomicU64,
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
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RouteStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut bypasses = BTreeMap::new();
        for reason in Bypass::ALL {
            let n = load(&self.bypasses[reason.index()]);
            if n > 0 {
                bypasses.insert(reason.as_str(), n);
            }
        }
        RouteStats {
            hits: load(&self.hits),
            stale_hits: load(&self.stale_hits),
            misses: load(&self.misses),
            revalidations: load(&self.revalidations),
            invalidations: load(&self.invalidations),
            bypasses,
            coalesced_waits: load(&self.coalesced_waits),
            stores: load(&self.stores),
            not_stored: load(&self.not_stored),
            store_errors: load(&self.store_errors),
        }
    }
}

/// The counters of every route, plus the totals.
#[derive(Debug, Default)]
pub(crate) struct StatsRegistry {
    total: Counters,
    routes: Mutex<BTreeMap<Arc<str>, Arc<Counters>>>,
}

impl StatsRegistry {
    /// The counters of a route, created on first use. Called when a policy is bound, not per
    /// request.
    pub(crate) fn route(&self, name: &Arc<str>) -> Arc<Counters> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(routes.entry(Arc::clone(name)).or_default())
    }

    /// Records an event that belongs to no route (an invalidation from an `Invalidator`).
    pub(crate) fn record_total(&self, event: Event) {
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
    /// Entries held by the store.
    pub entries: u64,
    /// Bytes held by the store.
    pub bytes: u64,
    /// The store's capacity in bytes, if bounded.
    pub capacity_bytes: Option<u64>,
    /// Entries the store removed to make room.
    pub evictions: u64,
    /// Entries the store removed at the end of their lifetime.
    pub expirations: u64,
}

impl Stats {
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
    /// Requests that did not use the cache, by reason (`method`, `authorization`, `cookie`,
    /// `range`).
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
