//! Where entries live: the [`Store`] trait and its implementations.

mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod tiered;
pub(crate) mod warn;

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

pub use self::memory::MemoryStore;
#[cfg(feature = "redis")]
pub use self::{
    redis::{
        RedisStore,
        builder::RedisStoreBuilder,
        codec::{DecodeInput, EntryCodec},
    },
    tiered::{TieredStore, TieredStoreBuilder},
};
pub use crate::{entry::Entry, key::KeyDigest, series::LatencyHistogram};
use crate::{error::Error, key::CacheKey};

/// A boxed, `Send` future, as returned by [`Store`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Storage for entries: memory ([`MemoryStore`]), and with the `redis` feature Redis
/// (`RedisStore`) and memory in front of Redis (`TieredStore`).
///
/// Implementations expire entries by themselves once their lifetime is over
/// ([`Entry::time_to_live`]). Errors are reported, never hidden: the cache logs and counts them
/// and then behaves as if the entry were absent (fail open).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The entry stored under `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>>;

    /// The entry stored under `key` when the store can tell without waiting (memory, or the
    /// memory tier of a store in tiers): `Some` with what [`get`](Self::get) would return, or
    /// `None` when only `get` can tell. The cache asks this first, so that a memory hit builds
    /// no future. The default is `None`.
    fn get_now(&self, key: &CacheKey) -> Option<Result<Option<Arc<Entry>>, Error>> {
        let _ = key;
        None
    }

    /// Stores `entry` under its key, replacing any entry there.
    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>>;

    /// Removes the entry under `key`; returns whether there was one.
    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>>;

    /// Removes every entry carrying `tag`; returns how many went.
    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>>;

    /// Removes every entry; returns how many went.
    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>>;

    /// Entries, bytes, evictions and, for the stores that know them, hits per tier, the
    /// circuit's state and the operations' times: what [`Stats`](crate::Stats) and the metrics
    /// series report of the store. Cheap: called after every write.
    fn usage(&self) -> StoreUsage;

    /// Runs the store's pending maintenance (evictions, expirations, counts) now, so that
    /// [`usage`](Self::usage) is exact; [`Cache::run_pending_tasks`](crate::Cache::run_pending_tasks)
    /// calls it. The default does nothing: a store whose usage is always exact needs none.
    fn run_pending_tasks(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Removes every entry whose [readable key](CacheKey::readable) starts with `prefix`
    /// (e.g. `"GET example.com/products/"`); returns how many went.
    ///
    /// The default clears the whole store: more than asked, which is always safe for a cache.
    /// Stores that can select by prefix override it.
    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        let _ = prefix;
        self.clear()
    }

    /// Whether other instances share this store (Redis), so that computing a cold key is worth
    /// coordinating with them through [`try_lock`](Self::try_lock). The default, `false`, spares
    /// a store no other instance sees the lock round trip on every miss.
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes the lock on computing `key` across every instance that shares this store, so that
    /// one instance runs the handler for a cold key while the others [`wait_for`](Self::wait_for)
    /// its entry.
    ///
    /// `Ok(Some(lock))`: this instance computes; release the lock once the entry is stored or
    /// known not to be. `Ok(None)`: another instance holds it, or a *fresh* entry is already
    /// stored (a request that missed just before it landed); either way, `wait_for` returns it.
    /// A stored entry that is stale does not spare the lock: when a hot key goes stale on many
    /// instances at once, one of them revalidates or refetches it while the others wait, so the
    /// origin sees one request, not one per instance. The default (a store no other instance
    /// sees) always succeeds with a lock that guards nothing.
    fn try_lock<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<StoreLock>, Error>> {
        let _ = key;
        Box::pin(async { Ok(Some(StoreLock::local())) })
    }

    /// Waits up to `timeout` for the instance holding the lock on `key` to store it: the entry
    /// once stored, or `None` when the lock is released (or expires) without an entry, or when
    /// the time is up. The default returns `None` at once.
    fn wait_for<'a>(
        &'a self,
        key: &'a CacheKey,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        let _ = (key, timeout);
        Box::pin(async { Ok(None) })
    }

    /// A counter of the invalidations this store has heard from other instances (a store
    /// shared by several): the cache reads it when a request begins, and asks
    /// [`invalidated_since`](Self::invalidated_since) before storing the response. The default
    /// (a store no other instance sees) is always 0.
    fn invalidation_epoch(&self) -> u64 {
        0
    }

    /// Whether an invalidation heard from another instance after `epoch` (a value of
    /// [`invalidation_epoch`](Self::invalidation_epoch)) matches `entry`: then the cache does
    /// not store it, since its request began before that invalidation. A store that cannot
    /// tell (it missed messages) answers `true`. The default is `false`.
    fn invalidated_since(&self, epoch: u64, entry: &Entry) -> bool {
        let _ = (epoch, entry);
        false
    }
}

/// A lock on computing one key across instances, from [`Store::try_lock`].
///
/// Release it with [`release`](Self::release) once the entry is stored (or known not to be),
/// which wakes the instances waiting on it. Dropping it releases it in the background; a lock
/// that is never released expires by itself.
#[must_use = "dropping the lock releases it"]
pub struct StoreLock {
    release: Option<BoxFuture<'static, Result<(), Error>>>,
}

impl StoreLock {
    /// A lock whose release runs `release` (a future, so nothing happens until then).
    pub fn new(release: impl Future<Output = Result<(), Error>> + Send + 'static) -> Self {
        Self {
            release: Some(Box::pin(release)),
        }
    }

    /// A lock that guards nothing: what stores no other instance sees hand out.
    pub fn local() -> Self {
        Self { release: None }
    }

    /// Releases the lock and wakes the instances waiting on it.
    pub async fn release(mut self) -> Result<(), Error> {
        match self.release.take() {
            Some(release) => release.await,
            None => Ok(()),
        }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let Some(release) = self.release.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = release.await {
                        tracing::debug!(error = %error.report(), "releasing a store lock failed; it will expire by itself");
                    }
                });
            }
            Err(_) => {
                tracing::debug!("no Tokio runtime to release a store lock on; it will expire by itself")
            }
        }
    }
}

impl fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreLock")
            .field("held", &self.release.is_some())
            .finish()
    }
}

/// What a store holds and how it fares, as reported by [`Store::usage`].
///
/// A store of your own fills in what it knows, from [`StoreUsage::default`]; every `Option` left
/// `None` is left out of the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreUsage {
    /// Entries held.
    pub entries: u64,
    /// Bytes held, by the store's own measure ([`Entry::weight`] for the memory store).
    pub bytes: u64,
    /// The most bytes the store holds, if bounded.
    pub capacity_bytes: Option<u64>,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Entries removed because their lifetime ended.
    pub expirations: u64,
    /// Reads answered by the memory tier, for a store in tiers (`TieredStore`); `None`
    /// otherwise.
    pub l1_hits: Option<u64>,
    /// Reads answered by the Redis tier after a miss in memory, for a store in tiers
    /// (`TieredStore`); `None` otherwise.
    pub l2_hits: Option<u64>,
    /// Whether the store's circuit breaker is open, so that its calls fail at once
    /// (`RedisStore`, and `TieredStore` for its Redis tier); `None` for a store without one.
    pub circuit_open: Option<bool>,
    /// The round-trip times of the store's operations, for a remote store (`RedisStore`, and
    /// `TieredStore` for its Redis tier); `None` for a store that does not measure them.
    pub operation_latency: Option<LatencyHistogram>,
}
