//! A bounded ring of stats snapshots, so the dashboard can draw the recent past at once; and
//! the dashboard page itself.
//!
//! One background tokio task per [`Admin`] samples [`Cache::stats`] every `interval` and keeps
//! the last `length` samples; older ones are dropped. The task holds only a [`Weak`] reference
//! to the shared state (which owns the admin's handle on the cache): when the last clone of the
//! [`Admin`] is dropped, the task ends at its next tick and the cache is released.
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

use sha2::{Digest, Sha256};

use crate::{
    admin::{Admin, AdminResponse},
    cache::Cache,
    stats::Stats,
};

/// The dashboard: one self-contained page (inline style and script, no external asset).
const DASHBOARD: &str = include_str!("dashboard.html");

/// The default time between two samples of the history: 5 s.
pub(crate) const DEFAULT_HISTORY_INTERVAL: Duration = Duration::from_secs(5);
/// The default number of samples kept: 180, 15 minutes at the default interval.
pub(crate) const DEFAULT_HISTORY_LENGTH: usize = 180;
/// The most samples a history keeps (24 hours at the default interval).
pub(crate) const MAX_HISTORY_LENGTH: usize = 17_280;
/// The shortest time between two samples.
const MIN_HISTORY_INTERVAL: Duration = Duration::from_millis(100);

/// The sampled history of one admin's cache; cheap to clone, shared by the clones of [`Admin`].
#[derive(Clone)]
pub(crate) struct History {
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
    pub(crate) fn new(cache: Cache, interval: Duration, length: usize) -> Self {
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
    pub(crate) fn start(&self) {
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
    pub(crate) fn to_json(&self) -> Value {
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

impl Admin {
    /// Samples the stats every `interval` (at least 100 ms) and keeps the last `length` samples
    /// (1 to 17,280) for `GET /history` and the dashboard; every 5 s for the last 15 minutes
    /// (180 samples) by default.
    ///
    /// Sampling runs on a tokio task started by the first admin request (opening the dashboard
    /// is one), and stops once every clone of this `Admin` is dropped. Memory: about 120 bytes plus 40 bytes per route per sample.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::{Admin, Cache};
    ///
    /// let admin = Admin::new(Cache::new(), "a-long-secret-token")
    ///     .unwrap()
    ///     // Every second for the last 10 minutes.
    ///     .history(Duration::from_secs(1), 600);
    /// # let _ = admin;
    /// ```
    #[must_use]
    pub fn history(mut self, interval: Duration, length: usize) -> Self {
        // A new ring; the old task, if any, sees its state dropped and stops.
        self.history = History::new(self.cache().clone(), interval, length);
        self
    }
}

impl AdminResponse {
    /// The dashboard page, with headers that keep it from loading anything but its own inline
    /// script and the admin endpoints beside it.
    pub(crate) fn dashboard() -> Self {
        static POLICY: OnceLock<String> = OnceLock::new();
        let policy = POLICY.get_or_init(|| {
            // Only this exact script may run: its hash, not 'unsafe-inline'.
            let script = DASHBOARD
                .split_once("<script>")
                .and_then(|(_, rest)| rest.split_once("</script>"))
                .map_or("", |(script, _)| script);
            let hash = base64(&Sha256::digest(script.as_bytes()));
            format!(
                "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'"
            )
        });
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: DASHBOARD.to_owned(),
            headers: vec![
                ("content-security-policy", policy.as_str()),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
            ],
        }
    }
}

/// Standard base64 with padding (for the script's hash).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[tokio::test]
    async fn the_page_is_served_without_a_token_and_history_with_one() {
        let admin = Admin::new(Cache::new(), "0123456789abcdef").unwrap();
        for path in ["", "/"] {
            let page = admin.handle("GET", path, None, b"").await;
            assert_eq!(page.status, 200, "{path:?}");
            assert!(page.content_type.starts_with("text/html"));
            assert!(page.body.contains("sessionStorage"));
            assert!(!page.body.contains("0123456789abcdef"));
            assert!(page.body.len() < 30 * 1024, "{} bytes", page.body.len());
            let policy = page
                .headers
                .iter()
                .find(|(name, _)| *name == "content-security-policy")
                .unwrap();
            assert!(policy.1.contains("script-src 'sha256-"), "{}", policy.1);
        }
        assert_eq!(admin.handle("POST", "/", None, b"").await.status, 401);
        assert_eq!(admin.handle("GET", "/history", None, b"").await.status, 401);
        let token = Some(&b"Bearer 0123456789abcdef"[..]);
        let history = admin.handle("GET", "/history", token, b"").await;
        assert_eq!(history.status, 200);
        assert!(history.body.starts_with('['), "{}", history.body);
        assert_eq!(admin.handle("POST", "/history", token, b"").await.status, 405);
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
