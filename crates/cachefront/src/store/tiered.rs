//! Memory in front of Redis, kept coherent across instances over pub/sub.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::sync::{broadcast, watch};

use super::{
    BoxFuture, Store, StoreLock, StoreUsage,
    memory::MemoryStore,
    redis::{Invalidation, RedisStore},
};
use crate::{
    entry::Entry,
    error::Error,
    key::{CacheKey, KeyDigest},
    purges::{Purge, PurgeLog},
};

/// The default [`invalidation_bound`](TieredStoreBuilder::invalidation_bound): 5 s.
const DEFAULT_INVALIDATION_BOUND: Duration = Duration::from_secs(5);
const ENV_INVALIDATION_BOUND: &str = "CACHEFRONT_REDIS_INVALIDATION_BOUND";

/// A [`MemoryStore`] (L1, in this process) in front of a [`RedisStore`] (L2, shared by every
/// instance).
///
/// - **Reads** try L1, then L2; an L2 hit is copied into L1, where it lives at most for the
///   rest of the entry's own lifetime.
/// - **Writes** go to both.
/// - **Invalidations** (by key, tag, prefix, or everything) remove from both and are published
///   on a Redis channel; every other instance drops its L1 copies when it hears them.
/// - **While the channel is down** (Redis unreachable, connection lost), this instance cannot
///   hear invalidations, so L1 is emptied when the channel is lost, every
///   [`invalidation_bound`](TieredStoreBuilder::invalidation_bound) while it stays down, and
///   once more when it is back: no instance serves an entry invalidated elsewhere for longer
///   than that bound. The listener resubscribes by itself.
/// - **Fail open**: when Redis is slow or down, L2 calls fail within the Redis timeout (and at
///   once while the Redis store's circuit is open), and the request is served from L1 or by
///   the handler. L2 is used again within about 100 ms of Redis answering; see
///   [`RedisStore`].
/// - **Clocks**: an entry's lifetime counts from when it was stored, by the clock of the
///   instance that stored it; keep the instances' clocks synchronised (NTP), as for `Age`.
///
/// ```no_run
/// use cachefront::{Cache, store::{MemoryStore, RedisStore, TieredStore}};
///
/// # async fn run() -> Result<(), cachefront::Error> {
/// let l2 = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let store = TieredStore::new(MemoryStore::with_max_bytes(64 * 1024 * 1024), l2);
/// let cache = Cache::builder().store(store).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TieredStore {
    inner: Arc<Inner>,
}

struct Inner {
    l1: MemoryStore,
    l2: RedisStore,
    /// Bumped by every invalidation: an L2 read that raced with one is not copied into L1.
    generation: Arc<AtomicU64>,
    /// The invalidations heard from other instances, so that responses in flight when one
    /// arrived are not stored.
    heard: Arc<PurgeLog>,
    invalidation_bound: Duration,
    /// Reads answered by each tier, for the usage and the metrics.
    hits: crate::series::TierHits,
    /// Dropped with the store: stops the invalidation follower.
    _shutdown: watch::Sender<()>,
}

/// Builds a [`TieredStore`].
///
/// ```no_run
/// use std::time::Duration;
/// use cachefront::store::{MemoryStore, RedisStore, TieredStore};
///
/// # async fn run() -> Result<(), cachefront::Error> {
/// let store = TieredStore::builder(MemoryStore::new(), RedisStore::from_env().await?)
///     .invalidation_bound(Duration::from_secs(2))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct TieredStoreBuilder {
    l1: MemoryStore,
    l2: RedisStore,
    invalidation_bound: Duration,
    bound_setting: &'static str,
}

impl TieredStoreBuilder {
    /// While the invalidation channel is down, the longest an instance may keep serving an
    /// entry from memory after another instance invalidated it (default 5 s, at least 10 ms):
    /// L1 is emptied this often until the channel is back.
    pub fn invalidation_bound(mut self, bound: Duration) -> Self {
        self.invalidation_bound = bound;
        self.bound_setting = "invalidation_bound";
        self
    }

    /// Reads `CACHEFRONT_REDIS_INVALIDATION_BOUND` (a duration such as `500ms` or `5s`, from
    /// 10 ms to 1 h), if set;
    /// a malformed value is an error naming the variable.
    pub fn read_env(self) -> Result<Self, Error> {
        self.read_env_with(|name| std::env::var(name).ok())
    }

    fn read_env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        if let Some(value) = lookup(ENV_INVALIDATION_BOUND) {
            self.invalidation_bound = crate::config::parse_duration_within(
                ENV_INVALIDATION_BOUND,
                &value,
                Duration::from_millis(10)..=Duration::from_secs(3600),
            )?;
            self.bound_setting = ENV_INVALIDATION_BOUND;
        }
        Ok(self)
    }

    /// Checks the settings and starts following invalidations (on the runtime the Redis store
    /// was connected on).
    pub fn build(self) -> Result<TieredStore, Error> {
        if self.invalidation_bound < Duration::from_millis(10) {
            return Err(Error::config(
                self.bound_setting,
                format!("expected at least 10 ms, got {:?}", self.invalidation_bound),
            ));
        }
        let generation = Arc::new(AtomicU64::new(0));
        let heard = Arc::new(PurgeLog::default());
        let (shutdown, shutdown_rx) = watch::channel(());
        self.l2.runtime().spawn(follow(
            self.l1.clone(),
            Arc::clone(&generation),
            Arc::clone(&heard),
            self.l2.invalidations(),
            self.l2.subscription(),
            self.invalidation_bound,
            shutdown_rx,
        ));
        Ok(TieredStore {
            inner: Arc::new(Inner {
                l1: self.l1,
                l2: self.l2,
                generation,
                heard,
                invalidation_bound: self.invalidation_bound,
                hits: crate::series::TierHits::new(),
                _shutdown: shutdown,
            }),
        })
    }
}

/// Applies other instances' invalidations to L1, and empties L1 while they cannot be heard.
async fn follow(
    l1: MemoryStore,
    generation: Arc<AtomicU64>,
    heard: Arc<PurgeLog>,
    mut invalidations: broadcast::Receiver<Invalidation>,
    mut subscribed: watch::Receiver<bool>,
    bound: Duration,
    mut shutdown: watch::Receiver<()>,
) {
    let mut up = *subscribed.borrow_and_update();
    let mut sweep = tokio::time::interval(bound);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.reset();
    let empty = |reason: &str| {
        let l1 = l1.clone();
        generation.fetch_add(1, Ordering::SeqCst);
        // What was missed may have matched anything in flight.
        heard.record(Purge::All);
        tracing::debug!(reason, "emptying the memory tier");
        async move {
            let _ = l1.clear().await;
        }
    };
    loop {
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { return },
            received = invalidations.recv() => match received {
                Ok(invalidation) => {
                    generation.fetch_add(1, Ordering::SeqCst);
                    if let Some(purge) = invalidation.as_purge() {
                        heard.record(purge);
                    }
                    apply(&l1, invalidation).await;
                }
                // Missed some: any copy may be invalid.
                Err(broadcast::error::RecvError::Lagged(_)) => empty("invalidations lagged").await,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = subscribed.changed() => {
                if changed.is_err() {
                    return;
                }
                let now_up = *subscribed.borrow_and_update();
                if now_up != up {
                    up = now_up;
                    sweep.reset();
                    // Down: what we hold may be invalidated unheard. Back up: it may have been.
                    empty(if up { "invalidation channel back" } else { "invalidation channel lost" }).await;
                }
            }
            _ = sweep.tick(), if !up => empty("invalidation channel still down").await,
        }
    }
}

impl Invalidation {
    /// What a heard invalidation matches, for the responses in flight.
    fn as_purge(&self) -> Option<Purge> {
        Some(match self {
            Self::Key(hex) => Purge::Uri(KeyDigest::from_hex(hex)?),
            Self::Tag(tag) => Purge::Tag(Arc::from(tag.as_str())),
            Self::Prefix(prefix) => Purge::Prefix(Arc::from(prefix.as_str())),
            Self::All => Purge::All,
        })
    }
}

async fn apply(l1: &MemoryStore, invalidation: Invalidation) {
    match invalidation {
        Invalidation::Tag(tag) => {
            let _ = l1.remove_tag(&tag).await;
        }
        // A key arrives by its digest: exactly that entry goes, in O(1), never a scan.
        Invalidation::Key(hex) => match KeyDigest::from_hex(&hex) {
            Some(digest) => {
                let _ = l1.remove(&CacheKey::from_digest(digest)).await;
            }
            None => tracing::debug!(key = %hex, "ignored an invalidation of a key that is not a digest"),
        },
        Invalidation::Prefix(prefix) => {
            let _ = l1.remove_prefix(&prefix).await;
        }
        Invalidation::All => {
            let _ = l1.clear().await;
        }
    }
}

impl TieredStore {
    /// `l1` in front of `l2`, with the default [`invalidation_bound`] (5 s).
    ///
    /// Follows invalidations on the runtime `l2` was connected on.
    ///
    /// [`invalidation_bound`]: TieredStoreBuilder::invalidation_bound
    pub fn new(l1: MemoryStore, l2: RedisStore) -> Self {
        Self::builder(l1, l2)
            .build()
            .unwrap_or_else(|_| unreachable!("the default settings are valid"))
    }

    /// A builder, to set the [`invalidation_bound`](TieredStoreBuilder::invalidation_bound).
    pub fn builder(l1: MemoryStore, l2: RedisStore) -> TieredStoreBuilder {
        TieredStoreBuilder {
            l1,
            l2,
            invalidation_bound: DEFAULT_INVALIDATION_BOUND,
            bound_setting: "invalidation_bound",
        }
    }

    /// The memory tier.
    pub fn memory(&self) -> &MemoryStore {
        &self.inner.l1
    }

    /// The Redis tier.
    pub fn redis(&self) -> &RedisStore {
        &self.inner.l2
    }

    /// The bound on serving invalidated entries while the invalidation channel is down.
    pub fn invalidation_bound(&self) -> Duration {
        self.inner.invalidation_bound
    }

    /// Copies an L2 entry into L1, unless an invalidation came in since the read began.
    async fn fill(&self, entry: &Arc<Entry>, generation: u64) {
        if self.inner.generation.load(Ordering::SeqCst) != generation
            || entry.retention(SystemTime::now()).is_zero()
        {
            return;
        }
        let _ = self.inner.l1.put(Arc::clone(entry)).await;
    }

    async fn get_entry(&self, key: &CacheKey) -> Result<Option<Arc<Entry>>, Error> {
        if let Some(entry) = self.inner.l1.get(key).await? {
            self.inner.hits.l1.increment();
            return Ok(Some(entry));
        }
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let entry = self.inner.l2.get(key).await?;
        if let Some(entry) = &entry {
            self.inner.hits.l2.increment();
            self.fill(entry, generation).await;
        }
        Ok(entry)
    }

    async fn put_entry(&self, entry: Arc<Entry>) -> Result<(), Error> {
        self.inner.l1.put(Arc::clone(&entry)).await?;
        self.inner.l2.put(entry).await
    }

    /// Invalidates locally, then in Redis, then tells the other instances.
    async fn invalidate<T>(
        &self,
        invalidation: Invalidation,
        local: impl std::future::Future<Output = Result<T, Error>>,
        shared: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<(T, T), Error> {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        let local = local.await?;
        let shared = shared.await?;
        if let Err(error) = self.inner.l2.publish(&invalidation).await {
            // Removed from Redis but unheard: replayed (removed again, published) once it answers.
            self.inner.l2.queue_invalidation(invalidation);
            return Err(error);
        }
        Ok((local, shared))
    }
}

impl fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStore")
            .field("memory", &self.inner.l1)
            .field("redis", &self.inner.l2)
            .field("invalidation_bound", &self.inner.invalidation_bound)
            .finish()
    }
}

impl Store for TieredStore {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(self.get_entry(key))
    }

    fn get_now(&self, key: &CacheKey) -> Option<Result<Option<Arc<Entry>>, Error>> {
        // A memory hit answers now; a memory miss needs Redis, through `get`.
        let entry = self.inner.l1.lookup(key.digest())?;
        self.inner.hits.l1.increment();
        Some(Ok(Some(entry)))
    }

    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.put_entry(entry))
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let (local, shared) = self
                .invalidate(
                    Invalidation::Key(key.digest().to_hex()),
                    self.inner.l1.remove(key),
                    self.inner.l2.remove(key),
                )
                .await?;
            Ok(local || shared)
        })
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            let (local, shared) = self
                .invalidate(
                    Invalidation::Tag(tag.to_owned()),
                    self.inner.l1.remove_tag(tag),
                    self.inner.l2.remove_tag(tag),
                )
                .await?;
            Ok(local.max(shared))
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async move {
            let (local, shared) = self
                .invalidate(Invalidation::All, self.inner.l1.clear(), self.inner.l2.clear())
                .await?;
            Ok(local.max(shared))
        })
    }

    /// The memory tier's usage (Redis does not report one prefix's usage cheaply), the hits of
    /// each tier, and the Redis tier's circuit and operation times.
    fn usage(&self) -> StoreUsage {
        self.inner
            .hits
            .usage(self.inner.l1.usage(), self.inner.l2.usage())
    }

    fn run_pending_tasks(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            Store::run_pending_tasks(&self.inner.l1).await;
            Store::run_pending_tasks(&self.inner.l2).await;
        })
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            let (_, shared) = self
                .invalidate(
                    Invalidation::Prefix(prefix.to_owned()),
                    self.inner.l1.remove_prefix(prefix),
                    self.inner.l2.remove_prefix(prefix),
                )
                .await?;
            Ok(shared)
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn invalidation_epoch(&self) -> u64 {
        self.inner.heard.epoch()
    }

    fn invalidated_since(&self, epoch: u64, entry: &Entry) -> bool {
        self.inner.heard.overtakes(epoch, entry)
    }

    fn try_lock<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<StoreLock>, Error>> {
        self.inner.l2.try_lock(key)
    }

    fn wait_for<'a>(
        &'a self,
        key: &'a CacheKey,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(async move {
            let generation = self.inner.generation.load(Ordering::SeqCst);
            let entry = self.inner.l2.wait_for(key, timeout).await?;
            if let Some(entry) = &entry {
                self.fill(entry, generation).await;
            }
            Ok(entry)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another instance's unsafe request on `/` (a route keyed without host) removes that one
    /// key from this instance's memory tier, not every key that starts with `GET /`.
    #[tokio::test]
    async fn a_heard_key_invalidation_removes_that_key_only() {
        let l1 = MemoryStore::new();
        let spec = crate::KeySpec::default().host(false);
        let key = |uri: &str| spec.build(&http::Request::get(uri).body(()).unwrap());
        for uri in ["/", "/a", "/b?x=1"] {
            let entry = Entry::new(
                key(uri),
                http::StatusCode::OK,
                bytes::Bytes::new(),
                Duration::from_secs(60),
            );
            l1.put(Arc::new(entry)).await.unwrap();
        }
        apply(&l1, Invalidation::Key(key("/").digest().to_hex())).await;
        assert!(l1.get(&key("/")).await.unwrap().is_none(), "the key itself goes");
        assert!(l1.get(&key("/a")).await.unwrap().is_some(), "/a stays");
        assert!(l1.get(&key("/b?x=1")).await.unwrap().is_some(), "/b?x=1 stays");
        // A message that names no digest (an older instance's readable key) removes nothing.
        apply(&l1, Invalidation::Key("GET /".to_owned())).await;
        assert!(
            l1.get(&key("/a")).await.unwrap().is_some(),
            "a readable key is not a prefix"
        );
    }

    #[tokio::test]
    async fn the_bound_is_read_from_the_environment_and_checked() {
        // Unreachable Redis: connecting still succeeds (fail open).
        let l2 = RedisStore::builder("redis://127.0.0.1:1")
            .timeout(Duration::from_millis(20))
            .connect()
            .await
            .unwrap();
        let builder = TieredStore::builder(MemoryStore::new(), l2.clone())
            .read_env_with(|_| Some("250ms".to_owned()))
            .unwrap();
        assert_eq!(builder.invalidation_bound, Duration::from_millis(250));
        let error = TieredStore::builder(MemoryStore::new(), l2.clone())
            .read_env_with(|_| Some("2h".to_owned()))
            .unwrap_err();
        assert!(error.to_string().contains("from 10ms to 1h"), "{error}");
        let error = TieredStore::builder(MemoryStore::new(), l2.clone())
            .read_env_with(|_| Some("soon".to_owned()))
            .unwrap_err();
        assert!(error.to_string().contains(ENV_INVALIDATION_BOUND), "{error}");
        let error = TieredStore::builder(MemoryStore::new(), l2)
            .invalidation_bound(Duration::from_millis(1))
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("`invalidation_bound`"), "{error}");
    }
}
