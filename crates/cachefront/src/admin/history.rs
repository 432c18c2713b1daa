//! A bounded ring of stats snapshots, so the dashboard can draw the recent past at once.
//!
//! One background tokio task per `Admin` samples [`Cache::stats`] every `interval` and keeps
//! the last `length` samples; older ones are dropped. The task holds only a [`Weak`] reference
//! to the shared state (which owns the admin's handle on the cache): when the last clone of the
//! `Admin` is dropped, the task ends at its next tick and the cache is released.
//!
//! # Memory
//!
//! A sample is about 120 bytes plus about 40 bytes per route (route names are shared, not
//! copied), so the default 180 samples (every 5 s for 15 minutes) of an application with 20
//! routes take about 170 KB. `length` is capped at [`MAX_HISTORY_LENGTH`] samples.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, OnceLock, PoisonError, Weak},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

use crate::{cache::Cache, stats::Stats};

/// The default time between two samples of the history: 5 s.
pub(super) const DEFAULT_HISTORY_INTERVAL: Duration = Duration::from_secs(5);
/// The default number of samples kept: 180, 15 minutes at the default interval.
pub(super) const DEFAULT_HISTORY_LENGTH: usize = 180;
/// The most samples a history keeps (24 hours at the default interval).
pub(super) const MAX_HISTORY_LENGTH: usize = 17_280;
/// The shortest time between two samples.
const MIN_HISTORY_INTERVAL: Duration = Duration::from_millis(100);

/// The sampled history of one admin's cache; cheap to clone, shared by the clones of `Admin`.
#[derive(Clone)]
pub(super) struct History {
    shared: Arc<Shared>,
}

struct Shared {
    cache: Cache,
    interval: Duration,
    length: usize,
    samples: Mutex<VecDeque<Sample>>,
    started: OnceLock<()>,
}

/// One point of the history: the counters at time `t`.
#[derive(Debug)]
struct Sample {
    /// Milliseconds since the Unix epoch.
    t: u64,
    stats: Stats,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("interval", &self.shared.interval)
            .field("length", &self.shared.length)
            .finish_non_exhaustive()
    }
}

impl History {
    /// A history of `cache`, not sampling yet (see [`History::start`]).
    pub(super) fn new(cache: Cache, interval: Duration, length: usize) -> Self {
        let length = length.clamp(1, MAX_HISTORY_LENGTH);
        Self {
            shared: Arc::new(Shared {
                cache,
                interval: interval.max(MIN_HISTORY_INTERVAL),
                length,
                samples: Mutex::new(VecDeque::with_capacity(length.min(1024))),
                started: OnceLock::new(),
            }),
        }
    }

    /// Starts the sampling task once, if a tokio runtime is running; a no-op otherwise and
    /// after the first success.
    pub(super) fn start(&self) {
        if self.shared.started.get().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.shared.started.set(()).is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        let interval = self.shared.interval;
        runtime.spawn(sample_until_dropped(weak, interval));
    }

    /// Records one sample now (the task's tick; also used by tests).
    fn sample(shared: &Shared) {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let stats = shared.cache.stats();
        let mut samples = shared.samples.lock().unwrap_or_else(PoisonError::into_inner);
        while samples.len() >= shared.length {
            samples.pop_front();
        }
        samples.push_back(Sample { t, stats });
    }

    /// The samples as a JSON array, oldest first.
    pub(super) fn to_json(&self) -> Value {
        let samples = self.shared.samples.lock().unwrap_or_else(PoisonError::into_inner);
        Value::Array(samples.iter().map(sample_json).collect())
    }
}

async fn sample_until_dropped(weak: Weak<Shared>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // The first tick completes at once: the history starts with a sample.
        ticks.tick().await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        History::sample(&shared);
    }
}

fn sample_json(sample: &Sample) -> Value {
    let stats = &sample.stats;
    let routes: serde_json::Map<String, Value> = stats
        .routes
        .iter()
        .map(|(name, route)| {
            let value = json!({
                "hits": route.hits,
                "stale_hits": route.stale_hits,
                "misses": route.misses,
            });
            (name.clone(), value)
        })
        .collect();
    json!({
        "t": sample.t,
        "hits": stats.total.hits,
        "stale_hits": stats.total.stale_hits,
        "misses": stats.total.misses,
        "bypasses": stats.total.total_bypasses(),
        "stores": stats.total.stores,
        "evictions": stats.evictions,
        "coalesced_waits": stats.total.coalesced_waits,
        "store_errors": stats.total.store_errors,
        "bytes": stats.bytes,
        "entries": stats.entries,
        "capacity_bytes": stats.capacity_bytes,
        "routes": routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_samples_only() {
        let history = History::new(Cache::new(), Duration::from_secs(5), 3);
        for _ in 0..5 {
            History::sample(&history.shared);
        }
        let samples = history.to_json();
        assert_eq!(samples.as_array().unwrap().len(), 3);
        let first = &samples[0];
        for field in [
            "t",
            "hits",
            "stale_hits",
            "misses",
            "bypasses",
            "stores",
            "evictions",
            "coalesced_waits",
            "store_errors",
            "bytes",
            "entries",
            "capacity_bytes",
            "routes",
        ] {
            assert!(first.get(field).is_some(), "{field} missing in {first}");
        }
    }

    #[test]
    fn settings_are_bounded() {
        let history = History::new(Cache::new(), Duration::ZERO, usize::MAX);
        assert_eq!(history.shared.interval, MIN_HISTORY_INTERVAL);
        assert_eq!(history.shared.length, MAX_HISTORY_LENGTH);
        assert_eq!(
            History::new(Cache::new(), Duration::from_secs(1), 0)
                .shared
                .length,
            1
        );
    }

    #[tokio::test]
    async fn the_task_samples_and_stops_once_the_admin_is_dropped() {
        let history = History::new(Cache::new(), MIN_HISTORY_INTERVAL, 10);
        let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
        history.start();
        history.start();
        assert_eq!(tasks(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        // At 0, 100, 200 and 300 ms, give or take a slow machine.
        let samples = history.to_json().as_array().unwrap().len();
        assert!((2..=5).contains(&samples), "{samples} samples");
        drop(history);
        tokio::time::sleep(MIN_HISTORY_INTERVAL * 3).await;
        assert_eq!(tasks(), 0);
    }
}
