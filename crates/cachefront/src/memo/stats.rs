//! The counters of a memo namespace: `MemoCounters` inside, `MemoStats` outside.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct MemoCounters {
    pub(super) hits: AtomicU64,
    pub(super) stale_hits: AtomicU64,
    pub(super) negative_hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) refreshes: AtomicU64,
    pub(super) coalesced_waits: AtomicU64,
    pub(super) stores: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) decode_errors: AtomicU64,
    pub(super) encode_errors: AtomicU64,
    pub(super) store_errors: AtomicU64,
}

impl MemoCounters {
    pub(super) fn snapshot(&self) -> MemoStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MemoStats {
            hits: load(&self.hits),
            stale_hits: load(&self.stale_hits),
            negative_hits: load(&self.negative_hits),
            misses: load(&self.misses),
            refreshes: load(&self.refreshes),
            coalesced_waits: load(&self.coalesced_waits),
            stores: load(&self.stores),
            errors: load(&self.errors),
            decode_errors: load(&self.decode_errors),
            encode_errors: load(&self.encode_errors),
            store_errors: load(&self.store_errors),
        }
    }
}

/// The counters of one memo namespace: from [`Memo::stats`](crate::Memo::stats) or [`Cache::memo_stats`](crate::Cache::memo_stats).
///
/// ```
/// let cache = cachefront::Cache::new();
/// let stats = cache.memo("prices").stats();
/// assert_eq!((stats.hits, stats.misses), (0, 0));
/// assert_eq!(stats.hit_ratio(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoStats {
    /// Calls answered with a fresh value: stored, or computed by a concurrent caller.
    pub hits: u64,
    /// Calls answered with a stale value (stale-while-revalidate, stale-if-error).
    pub stale_hits: u64,
    /// Calls answered with a stored error (negative caching).
    pub negative_hits: u64,
    /// Computations run by callers (each call that found nothing usable and computed).
    pub misses: u64,
    /// Computations run in the background to refresh a stale value.
    pub refreshes: u64,
    /// Calls that waited for a concurrent computation of the same key.
    pub coalesced_waits: u64,
    /// Values (and errors, with negative caching) written to the store.
    pub stores: u64,
    /// Computations that failed, in the foreground or the background.
    pub errors: u64,
    /// Stored values or errors that did not decode as the type asked for; each was a miss.
    pub decode_errors: u64,
    /// Keys, values or errors that could not be encoded; nothing was stored for them.
    pub encode_errors: u64,
    /// Store operations that failed (the value was then computed, or not stored).
    pub store_errors: u64,
}

impl MemoStats {
    /// Fresh and stale hits over those plus misses, or `None` before the first call.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.hits + self.stale_hits + self.negative_hits;
        let total = hits + self.misses;
        (total > 0).then(|| hits as f64 / total as f64)
    }
}
