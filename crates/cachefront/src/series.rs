//! The metric series cachefront exports, defined once in [`SERIES`]: the `metrics` facade
//! (feature `metrics`) and the Prometheus text of the admin endpoint `GET /metrics` are both
//! generated from it, so they name, type, describe and label every series alike.
//!
//! Every counter the cache keeps is a [`Count`] and every latency a [`Latency`], bound when it
//! is created to its series and labels: one increment feeds the snapshot (and so the endpoint)
//! and the facade's handle together. The store's gauges (entries, bytes, capacity, circuit) and
//! its eviction and expiration counts are the exception: the store knows them, so the facade
//! is given them ([`publish_usage`]) after each stored response or memo value and each purge.
//!
//! Labels stay bounded: `route` is a route pattern or [`Policy::name`](crate::Policy::name),
//! never a raw path; `reason` is one of [`Bypass::ALL`]; `namespace` a memo namespace (a fixed
//! name, as [`Cache::memo`](crate::Cache::memo) asks); `tier` is `l1` or `l2`.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::{
    memo::MemoStats,
    policy::Bypass,
    stats::RouteStats,
    store::{Store, StoreUsage},
};

/// What a series is, in Prometheus' and the `metrics` facade's terms alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// What a series counts, when it is not a number of events (which its name ends in `_total`
/// for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Bytes,
}

/// One metric series: how both outputs name, type, describe and label it, and where its values
/// come from.
#[derive(Debug)]
pub(crate) struct Series {
    /// The full name: `cachefront_` first, `_total` last for a counter, the unit before that.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Told to the facade's recorder; the Prometheus text carries it in the name alone.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) unit: Option<Unit>,
    pub(crate) help: &'static str,
    /// The label names, in the order the samples carry them.
    pub(crate) labels: &'static [&'static str],
    pub(crate) source: Source,
}

/// Where a series' values come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// A counter of each route (label `route`).
    Route(fn(&RouteStats) -> u64),
    /// Bypasses of each route, by reason (labels `route`, `reason`).
    Bypasses,
    /// The handler's time answering misses, per route (label `route`).
    Handler,
    /// A counter of the invalidations that belong to no route (the [`Invalidator`](crate::Invalidator)).
    Purges(fn(&RouteStats) -> u64),
    /// A counter of each memo namespace (label `namespace`).
    Memo(fn(&MemoStats) -> u64),
    /// From the store's usage; no sample when the store does not know it. The facade is given
    /// these by [`publish_usage`].
    Usage(fn(&StoreUsage) -> Option<u64>),
    /// Reads answered by each tier of a `TieredStore` (label `tier`).
    TierHits,
    /// The store's operations' round-trip time (a `RedisStore`'s, alone or as a tier).
    StoreOperation,
}

const fn counter(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    source: Source,
) -> Series {
    Series {
        name,
        kind: Kind::Counter,
        unit: None,
        help,
        labels,
        source,
    }
}

const ROUTE: &[&str] = &["route"];
const NAMESPACE: &[&str] = &["namespace"];

pub(crate) static HITS: Series = counter(
    "cachefront_hits_total",
    "Requests answered from the cache, including those answered by a coalesced leader.",
    ROUTE,
    Source::Route(|r| r.hits),
);
pub(crate) static STALE_HITS: Series = counter(
    "cachefront_stale_hits_total",
    "Requests answered with a stale response (max-stale, stale-while-revalidate, stale-if-error).",
    ROUTE,
    Source::Route(|r| r.stale_hits),
);
pub(crate) static MISSES: Series = counter(
    "cachefront_misses_total",
    "Cacheable requests sent to the handler.",
    ROUTE,
    Source::Route(|r| r.misses),
);
pub(crate) static COALESCED_WAITS: Series = counter(
    "cachefront_coalesced_waits_total",
    "Requests that waited for another request's response to the same key.",
    ROUTE,
    Source::Route(|r| r.coalesced_waits),
);
pub(crate) static STORES: Series = counter(
    "cachefront_stores_total",
    "Responses stored.",
    ROUTE,
    Source::Route(|r| r.stores),
);
pub(crate) static NOT_STORED: Series = counter(
    "cachefront_not_stored_total",
    "Forwarded responses that could not be stored (status, directives, size, incomplete).",
    ROUTE,
    Source::Route(|r| r.not_stored),
);
pub(crate) static REVALIDATIONS: Series = counter(
    "cachefront_revalidations_total",
    "Stored responses refreshed by a 304 from the handler.",
    ROUTE,
    Source::Route(|r| r.revalidations),
);
pub(crate) static INVALIDATIONS: Series = counter(
    "cachefront_invalidations_total",
    "Successful unsafe requests that invalidated stored responses.",
    ROUTE,
    Source::Route(|r| r.invalidations),
);
pub(crate) static STORE_ERRORS: Series = counter(
    "cachefront_store_errors_total",
    "Store operations that failed while answering a request (the request then went to the handler).",
    ROUTE,
    Source::Route(|r| r.store_errors),
);
pub(crate) static BYPASSES: Series = counter(
    "cachefront_bypasses_total",
    "Requests that did not use the cache, by reason.",
    &["route", "reason"],
    Source::Bypasses,
);
pub(crate) static HANDLER_SECONDS: Series = Series {
    name: "cachefront_handler_seconds",
    kind: Kind::Histogram,
    unit: Some(Unit::Seconds),
    help: "Time the handler took to answer a miss, until its response head.",
    labels: ROUTE,
    source: Source::Handler,
};
pub(crate) static PURGES: Series = counter(
    "cachefront_purges_total",
    "Invalidations by tag, path, prefix, key or all, through the Invalidator or the admin purge endpoint.",
    &[],
    Source::Purges(|r| r.invalidations),
);
pub(crate) static PURGE_ERRORS: Series = counter(
    "cachefront_purge_errors_total",
    "Invalidations through the Invalidator or the admin purge endpoint that the store failed.",
    &[],
    Source::Purges(|r| r.store_errors),
);
pub(crate) static MEMO_HITS: Series = counter(
    "cachefront_memo_hits_total",
    "Memo calls answered with a fresh value, stored or computed by a concurrent caller.",
    NAMESPACE,
    Source::Memo(|m| m.hits),
);
pub(crate) static MEMO_STALE_HITS: Series = counter(
    "cachefront_memo_stale_hits_total",
    "Memo calls answered with a stale value (stale-while-revalidate, stale-if-error).",
    NAMESPACE,
    Source::Memo(|m| m.stale_hits),
);
pub(crate) static MEMO_NEGATIVE_HITS: Series = counter(
    "cachefront_memo_negative_hits_total",
    "Memo calls answered with a stored error (negative caching).",
    NAMESPACE,
    Source::Memo(|m| m.negative_hits),
);
pub(crate) static MEMO_MISSES: Series = counter(
    "cachefront_memo_misses_total",
    "Memo computations run by callers.",
    NAMESPACE,
    Source::Memo(|m| m.misses),
);
pub(crate) static MEMO_REFRESHES: Series = counter(
    "cachefront_memo_refreshes_total",
    "Memo computations run in the background to refresh a stale value.",
    NAMESPACE,
    Source::Memo(|m| m.refreshes),
);
pub(crate) static MEMO_COALESCED_WAITS: Series = counter(
    "cachefront_memo_coalesced_waits_total",
    "Memo calls that waited for a concurrent computation of the same key.",
    NAMESPACE,
    Source::Memo(|m| m.coalesced_waits),
);
pub(crate) static MEMO_STORES: Series = counter(
    "cachefront_memo_stores_total",
    "Memo values (and errors, with negative caching) written to the store.",
    NAMESPACE,
    Source::Memo(|m| m.stores),
);
pub(crate) static MEMO_ERRORS: Series = counter(
    "cachefront_memo_errors_total",
    "Memo computations that failed, in the foreground or the background.",
    NAMESPACE,
    Source::Memo(|m| m.errors),
);
pub(crate) static MEMO_DECODE_ERRORS: Series = counter(
    "cachefront_memo_decode_errors_total",
    "Stored memo values that did not decode as the type asked for (each was a miss).",
    NAMESPACE,
    Source::Memo(|m| m.decode_errors),
);
pub(crate) static MEMO_ENCODE_ERRORS: Series = counter(
    "cachefront_memo_encode_errors_total",
    "Memo keys, values or errors that could not be encoded (nothing was stored).",
    NAMESPACE,
    Source::Memo(|m| m.encode_errors),
);
pub(crate) static MEMO_STORE_ERRORS: Series = counter(
    "cachefront_memo_store_errors_total",
    "Memo store operations that failed.",
    NAMESPACE,
    Source::Memo(|m| m.store_errors),
);
pub(crate) static ENTRIES: Series = Series {
    name: "cachefront_entries",
    kind: Kind::Gauge,
    unit: None,
    help: "Entries held by the store (the memory tier of a tiered store).",
    labels: &[],
    source: Source::Usage(|u| Some(u.entries)),
};
pub(crate) static BYTES: Series = Series {
    name: "cachefront_bytes",
    kind: Kind::Gauge,
    unit: Some(Unit::Bytes),
    help: "Bytes held by the store, by its own measure (the memory tier of a tiered store).",
    labels: &[],
    source: Source::Usage(|u| Some(u.bytes)),
};
pub(crate) static CAPACITY_BYTES: Series = Series {
    name: "cachefront_capacity_bytes",
    kind: Kind::Gauge,
    unit: Some(Unit::Bytes),
    help: "The most bytes the store holds (absent when unbounded).",
    labels: &[],
    source: Source::Usage(|u| u.capacity_bytes),
};
pub(crate) static EVICTIONS: Series = counter(
    "cachefront_evictions_total",
    "Entries the store removed to make room.",
    &[],
    Source::Usage(|u| Some(u.evictions)),
);
pub(crate) static EXPIRATIONS: Series = counter(
    "cachefront_expirations_total",
    "Entries the store removed at the end of their lifetime.",
    &[],
    Source::Usage(|u| Some(u.expirations)),
);
pub(crate) static TIER_HITS: Series = counter(
    "cachefront_tier_hits_total",
    "Reads a tiered store answered, by tier: l1 (memory) or l2 (Redis).",
    &["tier"],
    Source::TierHits,
);
pub(crate) static CIRCUIT_OPEN: Series = Series {
    name: "cachefront_store_circuit_open",
    kind: Kind::Gauge,
    unit: None,
    help: "1 while the Redis store's circuit is open (calls fail at once until Redis answers), else 0.",
    labels: &[],
    source: Source::Usage(|u| u.circuit_open.map(u64::from)),
};
pub(crate) static STORE_OPERATION_SECONDS: Series = Series {
    name: "cachefront_store_operation_seconds",
    kind: Kind::Histogram,
    unit: Some(Unit::Seconds),
    help: "Round-trip time of the Redis store's operations, failed and timed out ones included.",
    labels: &[],
    source: Source::StoreOperation,
};

/// Every series, in the order the endpoint lists them.
pub(crate) static SERIES: [&Series; 32] = [
    &HITS,
    &STALE_HITS,
    &MISSES,
    &COALESCED_WAITS,
    &STORES,
    &NOT_STORED,
    &REVALIDATIONS,
    &INVALIDATIONS,
    &STORE_ERRORS,
    &BYPASSES,
    &HANDLER_SECONDS,
    &PURGES,
    &PURGE_ERRORS,
    &MEMO_HITS,
    &MEMO_STALE_HITS,
    &MEMO_NEGATIVE_HITS,
    &MEMO_MISSES,
    &MEMO_REFRESHES,
    &MEMO_COALESCED_WAITS,
    &MEMO_STORES,
    &MEMO_ERRORS,
    &MEMO_DECODE_ERRORS,
    &MEMO_ENCODE_ERRORS,
    &MEMO_STORE_ERRORS,
    &ENTRIES,
    &BYTES,
    &CAPACITY_BYTES,
    &EVICTIONS,
    &EXPIRATIONS,
    &TIER_HITS,
    &CIRCUIT_OPEN,
    &STORE_OPERATION_SECONDS,
];

/// One counter of the cache, bound to its series and labels when created: an increment feeds
/// the snapshot and, with the feature `metrics`, the facade's counter.
#[derive(Debug, Default)]
pub(crate) struct Count {
    value: AtomicU64,
    #[cfg(feature = "metrics")]
    exported: Option<metrics::Counter>,
}

impl Count {
    /// A counter of `series` under `labels` (one value per label name of the series, in order),
    /// registered with the `metrics` recorder in use now, if any.
    pub(crate) fn bound(series: &'static Series, labels: &[&str]) -> Self {
        debug_assert_eq!(series.kind, Kind::Counter, "{}", series.name);
        #[cfg(feature = "metrics")]
        return Self {
            value: AtomicU64::new(0),
            exported: Some(metrics::counter!(series.name, exported::labels(series, labels))),
        };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (series, labels);
            Self::default()
        }
    }

    pub(crate) fn increment(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(exported) = &self.exported {
            exported.increment(1);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A latency distribution in fixed buckets, bound to its series and labels when created: a
/// recorded time feeds the snapshot and, with the feature `metrics`, the facade's histogram.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Observations per bucket of [`LatencyHistogram::BOUNDS`], and above the last one.
    buckets: [AtomicU64; LatencyHistogram::BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
    #[cfg(feature = "metrics")]
    exported: Option<metrics::Histogram>,
}

impl Latency {
    /// A distribution of `series` under `labels`, registered with the `metrics` recorder in
    /// use now, if any.
    pub(crate) fn bound(series: &'static Series, labels: &[&str]) -> Self {
        debug_assert_eq!(series.kind, Kind::Histogram, "{}", series.name);
        #[cfg(feature = "metrics")]
        return Self {
            exported: Some(metrics::histogram!(series.name, exported::labels(series, labels))),
            ..Self::default()
        };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (series, labels);
            Self::default()
        }
    }

    pub(crate) fn record(&self, elapsed: Duration) {
        let bucket = LatencyHistogram::BOUNDS
            .iter()
            .position(|bound| elapsed <= *bound)
            .unwrap_or(LatencyHistogram::BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(exported) = &self.exported {
            exported.record(elapsed.as_secs_f64());
        }
    }

    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        let mut at_most = [0; LatencyHistogram::BOUNDS.len()];
        let mut count = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            count += bucket.load(Ordering::Relaxed);
            if let Some(slot) = at_most.get_mut(i) {
                *slot = count;
            }
        }
        LatencyHistogram {
            at_most,
            count,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A latency distribution in fixed buckets: how many operations took at most each of
/// [`BOUNDS`](Self::BOUNDS), how many there were, and their total time.
///
/// The admin endpoint `GET /metrics` renders it as a Prometheus histogram with these buckets;
/// the `metrics` facade is given each time as it is measured, for the recorder to bucket or
/// summarize as it is configured to.
///
/// ```
/// use cachefront::store::LatencyHistogram;
///
/// let none = LatencyHistogram::default();
/// assert_eq!(none.count, 0);
/// assert_eq!(none.at_most.len(), LatencyHistogram::BOUNDS.len());
/// assert_eq!(none.mean(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyHistogram {
    /// Operations that took at most each bound of [`BOUNDS`](Self::BOUNDS) (cumulative, as
    /// Prometheus buckets are).
    pub at_most: [u64; 16],
    /// Operations measured, including those slower than the last bound.
    pub count: u64,
    /// Their total time.
    pub sum: Duration,
}

impl LatencyHistogram {
    /// The buckets' upper bounds, from 100 µs to 10 s.
    pub const BOUNDS: [Duration; 16] = [
        Duration::from_micros(100),
        Duration::from_micros(250),
        Duration::from_micros(500),
        Duration::from_millis(1),
        Duration::from_micros(2_500),
        Duration::from_millis(5),
        Duration::from_millis(10),
        Duration::from_millis(25),
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(250),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_millis(2_500),
        Duration::from_secs(5),
        Duration::from_secs(10),
    ];

    /// The mean time, or `None` before the first operation.
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.count).ok()?;
        (count > 0).then(|| self.sum / count)
    }
}

/// The reads a `TieredStore` answered from each tier, bound to [`TIER_HITS`].
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct TierHits {
    pub(crate) l1: Count,
    pub(crate) l2: Count,
}

#[cfg(feature = "redis")]
impl TierHits {
    pub(crate) fn new() -> Self {
        Self {
            l1: Count::bound(&TIER_HITS, &["l1"]),
            l2: Count::bound(&TIER_HITS, &["l2"]),
        }
    }

    /// A tiered store's usage: the memory tier's, these hits, and the Redis tier's circuit and
    /// operation times.
    pub(crate) fn usage(&self, l1: StoreUsage, l2: StoreUsage) -> StoreUsage {
        StoreUsage {
            l1_hits: Some(self.l1.get()),
            l2_hits: Some(self.l2.get()),
            circuit_open: l2.circuit_open,
            operation_latency: l2.operation_latency,
            ..l1
        }
    }
}

/// Everything the admin endpoint renders, read at one time.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    /// Each route's counters and handler times, by name.
    pub(crate) routes: BTreeMap<String, (RouteStats, LatencyHistogram)>,
    /// The invalidations that belong to no route, and their store errors.
    pub(crate) purges: RouteStats,
    pub(crate) memo: BTreeMap<String, MemoStats>,
    pub(crate) usage: StoreUsage,
}

/// One sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Number(u64),
    Histogram(LatencyHistogram),
}

/// The samples of `series` in `exposition`: label values (one per label name, in order) and
/// the value.
pub(crate) fn samples(series: &Series, exposition: &Exposition) -> Vec<(Vec<String>, Value)> {
    let routes = || exposition.routes.iter();
    match &series.source {
        Source::Route(read) => routes()
            .map(|(route, (stats, _))| (vec![route.clone()], Value::Number(read(stats))))
            .collect(),
        // Every reason, seen or not: the facade registers each when the route is bound.
        Source::Bypasses => routes()
            .flat_map(|(route, (stats, _))| {
                Bypass::ALL.iter().map(move |reason| {
                    let count = stats.bypasses.get(reason.as_str()).copied().unwrap_or(0);
                    (
                        vec![route.clone(), reason.as_str().to_owned()],
                        Value::Number(count),
                    )
                })
            })
            .collect(),
        Source::Handler => routes()
            .map(|(route, (_, latency))| (vec![route.clone()], Value::Histogram(*latency)))
            .collect(),
        Source::Purges(read) => vec![(Vec::new(), Value::Number(read(&exposition.purges)))],
        Source::Memo(read) => exposition
            .memo
            .iter()
            .map(|(namespace, stats)| (vec![namespace.clone()], Value::Number(read(stats))))
            .collect(),
        Source::Usage(read) => read(&exposition.usage)
            .map(|value| (Vec::new(), Value::Number(value)))
            .into_iter()
            .collect(),
        Source::TierHits => [("l1", exposition.usage.l1_hits), ("l2", exposition.usage.l2_hits)]
            .into_iter()
            .filter_map(|(tier, hits)| Some((vec![tier.to_owned()], Value::Number(hits?))))
            .collect(),
        Source::StoreOperation => exposition
            .usage
            .operation_latency
            .map(|latency| (Vec::new(), Value::Histogram(latency)))
            .into_iter()
            .collect(),
    }
}

/// Describes every series to the `metrics` recorder in use now, with its unit: once per cache
/// built. A no-op without the feature `metrics`.
pub(crate) fn describe() {
    #[cfg(feature = "metrics")]
    exported::describe();
}

/// Gives the `metrics` facade the store's gauges and counters ([`Source::Usage`]): after each
/// stored response or memo value and each purge. A no-op without the feature `metrics`, which
/// does not even read the usage.
pub(crate) fn publish_usage(store: &dyn Store) {
    #[cfg(feature = "metrics")]
    exported::publish_usage(&store.usage());
    #[cfg(not(feature = "metrics"))]
    let _ = store;
}

#[cfg(feature = "metrics")]
mod exported {
    use metrics::{Label, describe_counter, describe_gauge, describe_histogram};

    use super::{Kind, SERIES, Series, Source, Unit};
    use crate::store::StoreUsage;

    pub(super) fn labels(series: &Series, values: &[&str]) -> Vec<Label> {
        debug_assert_eq!(series.labels.len(), values.len(), "{}", series.name);
        series
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| Label::new(*name, (*value).to_owned()))
            .collect()
    }

    pub(super) fn describe() {
        for series in SERIES {
            let unit = match series.unit {
                Some(Unit::Seconds) => metrics::Unit::Seconds,
                Some(Unit::Bytes) => metrics::Unit::Bytes,
                None => metrics::Unit::Count,
            };
            match series.kind {
                Kind::Counter => describe_counter!(series.name, unit, series.help),
                Kind::Gauge => describe_gauge!(series.name, unit, series.help),
                Kind::Histogram => describe_histogram!(series.name, unit, series.help),
            }
        }
    }

    pub(super) fn publish_usage(usage: &StoreUsage) {
        for series in SERIES {
            let Source::Usage(read) = series.source else {
                continue;
            };
            let Some(value) = read(usage) else {
                continue;
            };
            match series.kind {
                Kind::Gauge => metrics::gauge!(series.name).set(value as f64),
                Kind::Counter => metrics::counter!(series.name).absolute(value),
                Kind::Histogram => unreachable!("no histogram comes from the usage"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prometheus_conventions_and_are_unique() {
        let mut names = std::collections::BTreeSet::new();
        for series in SERIES {
            assert!(series.name.starts_with("cachefront_"), "{}", series.name);
            assert!(names.insert(series.name), "{} twice", series.name);
            assert_eq!(
                series.name.ends_with("_total"),
                series.kind == Kind::Counter,
                "{}: counters, and only they, end in _total",
                series.name
            );
            let unit = series.name.trim_end_matches("_total");
            match series.unit {
                Some(Unit::Seconds) => assert!(unit.ends_with("_seconds"), "{}", series.name),
                Some(Unit::Bytes) => assert!(unit.ends_with("_bytes"), "{}", series.name),
                None => assert!(!unit.ends_with("_seconds") && !unit.ends_with("_bytes")),
            }
            assert!(!series.help.is_empty() && !series.help.contains('\n'));
        }
    }

    #[test]
    fn latency_buckets_are_cumulative_and_count_the_slowest_too() {
        let latency = Latency::default();
        for ms in [0, 1, 3, 20_000] {
            latency.record(Duration::from_millis(ms));
        }
        let histogram = latency.snapshot();
        assert_eq!(histogram.count, 4);
        assert_eq!(histogram.at_most[0], 1, "0 ms is within 100 µs");
        assert_eq!(histogram.at_most[3], 2, "1 ms is within 1 ms");
        assert_eq!(histogram.at_most[5], 3, "3 ms is within 5 ms");
        assert_eq!(histogram.at_most[15], 3, "20 s is above every bound");
        assert_eq!(histogram.sum, Duration::from_millis(20_004));
        assert_eq!(histogram.mean(), Some(Duration::from_millis(5_001)));
    }
}
