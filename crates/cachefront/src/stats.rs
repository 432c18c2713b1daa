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
    /// Counters of the `metrics` facade for this route, registered once when the route is bound.
    #[cfg(feature = "metrics")]
    exported: Option<exported::RouteMetrics>,
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
        #[cfg(feature = "metrics")]
        if let Some(exported) = &self.exported {
            exported.record(event);
        }
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
        Arc::clone(routes.entry(Arc::clone(name)).or_insert_with(|| {
            Arc::new(Counters {
                #[cfg(feature = "metrics")]
                exported: Some(exported::RouteMetrics::new(name)),
                ..Counters::default()
            })
        }))
    }

    /// Records how long the handler took to answer a miss (the `metrics` facade histogram).
    pub(crate) fn handler_time(route: &Counters, elapsed: std::time::Duration) {
        #[cfg(feature = "metrics")]
        if let Some(exported) = &route.exported {
            exported.handler_seconds.record(elapsed.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (route, elapsed);
    }

    /// Publishes the store's usage as `metrics` gauges (bytes, entries) and counters
    /// (evictions).
    pub(crate) fn publish_usage(usage: StoreUsage) {
        #[cfg(feature = "metrics")]
        exported::publish_usage(usage);
        #[cfg(not(feature = "metrics"))]
        let _ = usage;
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

/// Output through the `metrics` facade: counters labelled by route name (a route pattern, never
/// a raw path, so cardinality stays bounded), a handler-time histogram, store gauges.
#[cfg(feature = "metrics")]
mod exported {
    use std::sync::Arc;

    use metrics::{Counter, Histogram, counter, gauge, histogram};

    use super::Event;
    use crate::{policy::Bypass, store::StoreUsage};

    #[derive(Debug)]
    pub(super) struct RouteMetrics {
        hits: Counter,
        stale_hits: Counter,
        misses: Counter,
        revalidations: Counter,
        invalidations: Counter,
        bypasses: [Counter; Bypass::ALL.len()],
        coalesced_waits: Counter,
        stores: Counter,
        not_stored: Counter,
        store_errors: Counter,
        pub(super) handler_seconds: Histogram,
    }

    impl RouteMetrics {
        pub(super) fn new(route: &Arc<str>) -> Self {
            let route = route.to_string();
            let c = |name: &'static str| counter!(name, "route" => route.clone());
            Self {
                hits: c("cachefront_hits_total"),
                stale_hits: c("cachefront_stale_hits_total"),
                misses: c("cachefront_misses_total"),
                revalidations: c("cachefront_revalidations_total"),
                invalidations: c("cachefront_invalidations_total"),
                bypasses: Bypass::ALL.map(|reason| {
                    counter!("cachefront_bypasses_total", "route" => route.clone(), "reason" => reason.as_str())
                }),
                coalesced_waits: c("cachefront_coalesced_waits_total"),
                stores: c("cachefront_stores_total"),
                not_stored: c("cachefront_not_stored_total"),
                store_errors: c("cachefront_store_errors_total"),
                handler_seconds: histogram!("cachefront_handler_seconds", "route" => route.clone()),
            }
        }

        pub(super) fn record(&self, event: Event) {
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
            counter.increment(1);
        }
    }

    pub(super) fn publish_usage(usage: StoreUsage) {
        gauge!("cachefront_bytes").set(usage.bytes as f64);
        gauge!("cachefront_entries").set(usage.entries as f64);
        counter!("cachefront_evictions_total").absolute(usage.evictions);
    }
}

#[cfg(all(test, feature = "metrics"))]
mod metrics_tests {
    use std::{
        collections::BTreeMap,
        sync::{Arc, Mutex, atomic::AtomicU64, atomic::Ordering},
    };

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use super::{Event, StatsRegistry};

    #[derive(Default)]
    struct Recorded(Mutex<BTreeMap<String, Arc<AtomicU64>>>);

    struct Count(Arc<AtomicU64>);

    impl CounterFn for Count {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    impl Recorder for &'static Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let cell = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
            Counter::from_arc(Arc::new(Count(cell)))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn events_reach_the_metrics_facade_labelled_by_route() {
        let recorded: &'static Recorded = Box::leak(Box::default());
        metrics::with_local_recorder(&recorded, || {
            let registry = StatsRegistry::default();
            let route = registry.route(&Arc::from("/products/{id}"));
            registry.record(&route, Event::Hit);
            registry.record(&route, Event::Hit);
            registry.record(&route, Event::Bypass(crate::Bypass::Cookie));
        });
        let recorded = recorded.0.lock().unwrap();
        let value = |name: &str| recorded.get(name).map(|c| c.load(Ordering::Relaxed));
        assert_eq!(value("cachefront_hits_total{route=/products/{id}}"), Some(2));
        assert_eq!(
            value("cachefront_bypasses_total{route=/products/{id},reason=cookie}"),
            Some(1)
        );
    }
}
