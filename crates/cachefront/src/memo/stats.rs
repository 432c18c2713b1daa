//! The counters of a memo namespace: `MemoCounters` inside, `MemoStats` outside.

use crate::series::{self, Count};

/// The counters of one namespace, each bound to its series in `series.rs` with the label
/// `namespace`.
#[derive(Debug, Default)]
pub(crate) struct MemoCounters {
    pub(super) hits: Count,
    pub(super) stale_hits: Count,
    pub(super) negative_hits: Count,
    pub(super) misses: Count,
    pub(super) refreshes: Count,
    pub(super) coalesced_waits: Count,
    pub(super) stores: Count,
    pub(super) errors: Count,
    pub(super) decode_errors: Count,
    pub(super) encode_errors: Count,
    pub(super) store_errors: Count,
}

impl MemoCounters {
    pub(super) fn for_namespace(namespace: &str) -> Self {
        let bound = |series| Count::bound(series, &[namespace]);
        Self {
            hits: bound(&series::MEMO_HITS),
            stale_hits: bound(&series::MEMO_STALE_HITS),
            negative_hits: bound(&series::MEMO_NEGATIVE_HITS),
            misses: bound(&series::MEMO_MISSES),
            refreshes: bound(&series::MEMO_REFRESHES),
            coalesced_waits: bound(&series::MEMO_COALESCED_WAITS),
            stores: bound(&series::MEMO_STORES),
            errors: bound(&series::MEMO_ERRORS),
            decode_errors: bound(&series::MEMO_DECODE_ERRORS),
            encode_errors: bound(&series::MEMO_ENCODE_ERRORS),
            store_errors: bound(&series::MEMO_STORE_ERRORS),
        }
    }

    pub(super) fn snapshot(&self) -> MemoStats {
        MemoStats {
            hits: self.hits.get(),
            stale_hits: self.stale_hits.get(),
            negative_hits: self.negative_hits.get(),
            misses: self.misses.get(),
            refreshes: self.refreshes.get(),
            coalesced_waits: self.coalesced_waits.get(),
            stores: self.stores.get(),
            errors: self.errors.get(),
            decode_errors: self.decode_errors.get(),
            encode_errors: self.encode_errors.get(),
            store_errors: self.store_errors.get(),
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
