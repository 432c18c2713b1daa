//! The cache handle ([`Cache`], built by [`CacheBuilder`]) and [`CacheRoute`], a policy bound to it:
//! what every request's flow (see `flow/`) starts from.

use std::{borrow::Cow, fmt, sync::Arc, time::Duration};

use crate::{
    coalesce::Coalescer,
    config,
    entry::Entry,
    error::Error,
    flow::variants::{VariantIndex, variants_tag},
    key::CacheKey,
    policy::Policy,
    purges::{Purge, PurgeEpoch, PurgeLog},
    route_names::RouteNames,
    rules::CacheStatus,
    stats::{Counters, Event, Stats, StatsRegistry},
    store::{MemoryStore, Store},
};

/// See [`CacheBuilder::DEFAULT_COALESCE_WAIT`].
pub(crate) const DEFAULT_COALESCE_WAIT: Duration = Duration::from_secs(10);

/// One cache: a store, the flights in progress, and the stats. Cheap to clone; clones share
/// everything.
///
/// Bind a [`Policy`] to it with [`Cache::route`] (adapters do this for you: `cache.layer(policy)`
/// in `cachefront-tower`), once per route; every route shares the store and the stats.
///
/// ```
/// use std::time::Duration;
/// use cachefront::{Cache, Policy};
///
/// # fn main() -> Result<(), cachefront::Error> {
/// let cache = Cache::builder().max_bytes(32 * 1024 * 1024).build()?;
/// let products = cache.route(Policy::ttl(Duration::from_secs(60)).name("/products/{id}"));
/// assert_eq!(products.policy().route_name(), "/products/{id}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) coalescer: Coalescer,
    pub(crate) stats: StatsRegistry,
    pub(crate) coalesce_wait: Duration,
    /// Memoized values' flights and counters (see `memo`).
    pub(crate) memo: crate::memo::registry::MemoRegistry,
    pub(crate) variants: VariantIndex,
    /// Recent invalidations, so that misses already in flight do not store what they purged.
    pub(crate) purges: PurgeLog,
    /// Store writes and invalidations under way (see `pending`).
    pub(crate) pending: Arc<crate::pending::Pending>,
    /// The cache's name in `Cache-Status`, when not the default (`cachefront`).
    pub(crate) name: Option<Arc<str>>,
}

impl Cache {
    /// A cache on a [`MemoryStore`] of 64 MiB, with default settings.
    pub fn new() -> Self {
        Self::from_parts(Arc::new(MemoryStore::new()), DEFAULT_COALESCE_WAIT, None)
    }

    /// A builder to choose the store and settings.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache configured from the environment (`CACHEFRONT_MAX_BYTES`,
    /// `CACHEFRONT_COALESCE_WAIT`), with defaults for what is unset.
    ///
    /// ```
    /// # fn main() -> Result<(), cachefront::Error> {
    /// let cache = cachefront::Cache::from_env()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().from_env().build()
    }

    fn from_parts(store: Arc<dyn Store>, coalesce_wait: Duration, name: Option<Arc<str>>) -> Self {
        let variants = VariantIndex::for_capacity(store.usage().capacity_bytes);
        Self {
            inner: Arc::new(Inner {
                store,
                coalescer: Coalescer::default(),
                stats: StatsRegistry::new(),
                coalesce_wait,
                memo: crate::memo::registry::MemoRegistry::default(),
                variants,
                purges: PurgeLog::default(),
                pending: Arc::default(),
                name,
            }),
        }
    }

    /// Binds a policy to this cache: the handle an adapter uses for one route.
    pub fn route(&self, policy: Policy) -> CacheRoute {
        let names = RouteNames::default();
        if policy.named {
            // A named route is listed in the stats from the start, an unnamed one once a
            // request has gone through it under its own name.
            let _ = names.counters.set(self.inner.stats.route(&policy.name));
        }
        CacheRoute {
            cache: self.clone(),
            policy: Arc::new(policy),
            names: Arc::new(names),
        }
    }

    /// A snapshot of the counters, in total and per route, with the store's usage.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot(self.inner.store.usage())
    }

    /// Everything the admin endpoint's Prometheus text renders: counters, handler times, memo
    /// counters and the store's usage.
    pub(crate) fn exposition(&self) -> crate::series::Exposition {
        self.inner
            .stats
            .exposition(self.inner.store.usage(), self.memo_stats())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Waits until every store write, invalidation and memo write this cache has started has
    /// finished, then runs the store's pending maintenance ([`Store::run_pending_tasks`]) so that
    /// the entry and byte counts of [`stats`](Self::stats) are exact.
    ///
    /// Writes happen behind the response: a client can read a whole response before it is
    /// stored. This is the point after which what it caused is visible — meant for tests (instead
    /// of sleeping) and for a graceful shutdown. A response whose body is still being collected,
    /// and a stale-while-revalidate refresh still waiting on its handler, count as writes under
    /// way; requests arriving while it waits are counted too, so under constant traffic it may
    /// not return.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = cachefront::Cache::new();
    /// let memo = cache.memo("prices");
    /// let price = memo.get_or_compute(&"apple", || async { Ok::<_, std::io::Error>(3) });
    /// assert_eq!(price.await.unwrap(), 3);
    /// cache.run_pending_tasks().await;
    /// assert_eq!(cache.stats().entries, 1);
    /// # }
    /// ```
    ///
    /// [`Store::run_pending_tasks`]: crate::store::Store::run_pending_tasks
    pub async fn run_pending_tasks(&self) {
        self.pending().idle().await;
        self.store().run_pending_tasks().await;
    }

    pub(crate) fn pending(&self) -> &Arc<crate::pending::Pending> {
        &self.inner.pending
    }

    pub(crate) fn memo_registry(&self) -> &crate::memo::registry::MemoRegistry {
        &self.inner.memo
    }

    pub(crate) fn record_total(&self, event: Event) {
        self.inner.stats.record_total(event);
        // A purge changes what the store holds: the facade's gauges follow.
        StatsRegistry::publish_usage(&*self.inner.store);
    }

    /// Removes the entry under `key`; returns whether there was one.
    pub(crate) async fn invalidate_key(&self, key: &CacheKey) -> Result<bool, Error> {
        self.purging(Purge::Uri(*key.digest()));
        self.inner.store.remove(key).await
    }

    /// Where the invalidations stand, here and (for a store shared by several instances) as
    /// heard from the others: a request remembers it when it begins.
    pub(crate) fn purge_epoch(&self) -> PurgeEpoch {
        PurgeEpoch {
            local: self.inner.purges.epoch(),
            store: self.inner.store.invalidation_epoch(),
        }
    }

    /// Whether an invalidation since `epoch`, made here or heard from another instance,
    /// matches `entry`: then it must not be stored.
    pub(crate) fn overtaken(&self, epoch: PurgeEpoch, entry: &Entry) -> bool {
        self.inner.purges.overtakes(epoch.local, entry)
            || self.inner.store.invalidated_since(epoch.store, entry)
    }

    /// Records an invalidation before it runs, and voids the flights it overtakes: no
    /// response whose request began before it is stored under a key it matches, and no
    /// request arriving after it is answered by such a response.
    pub(crate) fn purging(&self, purge: Purge) {
        match &purge {
            Purge::Uri(digest) => self.inner.coalescer.invalidate(digest),
            // Rare operator actions: every flight in progress may be concerned.
            Purge::Tag(_) | Purge::Prefix(_) | Purge::All => {
                self.inner.coalescer.invalidate_all();
                self.inner.memo.coalescer.invalidate_all();
            }
        }
        self.inner.purges.record(purge);
    }

    /// Removes every stored variant of the URI whose primary key is `key`, in O(variants) on
    /// every store and every instance; returns how many responses went (a primary's copy of
    /// its latest variant is not counted twice).
    pub(crate) async fn remove_uri(&self, key: &CacheKey) -> Result<u64, Error> {
        let store = self.store();
        let varied = match store.get(key).await? {
            Some(primary) => !primary.vary.is_empty(),
            None => false,
        };
        let primary = store.remove(key).await?;
        self.inner.variants.forget(key.digest());
        if varied {
            // The variants carry the URI's own tag; the primary copies one of them.
            return store.remove_tag(&variants_tag(key)).await;
        }
        Ok(u64::from(primary))
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .field("coalesce_wait", &self.inner.coalesce_wait)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`].
#[derive(Debug, Default)]
#[must_use]
pub struct CacheBuilder {
    store: Option<Arc<dyn Store>>,
    max_bytes: Option<u64>,
    coalesce_wait: Option<Duration>,
    name: Option<String>,
    from_env: bool,
}

const ENV_MAX_BYTES: &str = "CACHEFRONT_MAX_BYTES";
const ENV_COALESCE_WAIT: &str = "CACHEFRONT_COALESCE_WAIT";
const ENV_NAME: &str = "CACHEFRONT_CACHE_NAME";

impl CacheBuilder {
    /// The default bound on how long a request waits for another request's response to the
    /// same key before going to the handler itself: 10 seconds.
    pub const DEFAULT_COALESCE_WAIT: Duration = DEFAULT_COALESCE_WAIT;
}

impl CacheBuilder {
    /// Reads unset settings from the environment when building: `CACHEFRONT_MAX_BYTES`
    /// (e.g. `64MiB`) and `CACHEFRONT_COALESCE_WAIT` (e.g. `10s`); with the feature `redis` and
    /// `CACHEFRONT_REDIS_URL` set, the store is a `TieredStore` (memory of
    /// `CACHEFRONT_MAX_BYTES` in front of Redis, configured by the other `CACHEFRONT_REDIS_*`
    /// variables), which must be built within a Tokio runtime. Settings given to the builder
    /// win over the environment, which wins over the defaults; a malformed variable makes
    /// [`build`](Self::build) fail with an error naming it.
    pub fn from_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    /// The capacity of the default memory store, in bytes (default 64 MiB). Ignored when a
    /// store is given with [`store`](Self::store).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// The store to use instead of the default [`MemoryStore`].
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How long a request waits for another request's response to the same key before it goes
    /// to the handler itself (default 10 s).
    pub fn coalesce_wait(mut self, wait: Duration) -> Self {
        self.coalesce_wait = Some(wait);
        self
    }

    /// The cache's name in the `Cache-Status` response field (RFC 9211), default `cachefront`:
    /// give each tier or instance its own (`edge`, `app-3`) to tell them apart in a response
    /// that passed several caches. The name is an RFC 8941 token: a letter or `*`, then
    /// letters, digits and any of ``:/!#$%&'*+-.^_`|~``. Environment: `CACHEFRONT_CACHE_NAME`.
    ///
    /// ```
    /// let cache = cachefront::Cache::builder().name("edge-1").build()?;
    /// # Ok::<(), cachefront::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Builds the cache, or says which setting cannot work.
    pub fn build(mut self) -> Result<Cache, Error> {
        if self.from_env {
            // The environment fills only what the builder left unset.
            if self.max_bytes.is_none()
                && self.store.is_none()
                && let Some(value) = config::var(ENV_MAX_BYTES)?
            {
                self.max_bytes = Some(config::parse_bytes(ENV_MAX_BYTES, &value)?);
            }
            if self.name.is_none() {
                self.name = config::var(ENV_NAME)?;
            }
            // A Redis URL in a build that cannot use it is a mistake to report, not to ignore.
            #[cfg(not(feature = "redis"))]
            if self.store.is_none() && config::var("CACHEFRONT_REDIS_URL")?.is_some() {
                return Err(Error::config(
                    "CACHEFRONT_REDIS_URL",
                    "is set, but this build has no Redis support: enable the `redis` feature \
                     (of cachefront-axum, cachefront-actix, cachefront-tower or cachefront), \
                     or unset the variable",
                ));
            }
            // With `CACHEFRONT_REDIS_URL`: memory in front of Redis, for many instances.
            #[cfg(feature = "redis")]
            if self.store.is_none() && config::var("CACHEFRONT_REDIS_URL")?.is_some() {
                let memory = MemoryStore::with_max_bytes(
                    self.max_bytes.take().unwrap_or(MemoryStore::DEFAULT_MAX_BYTES),
                );
                let redis = crate::store::RedisStoreBuilder::from_env()?.build()?;
                let tiered = crate::store::TieredStore::builder(memory, redis)
                    .read_env()?
                    .build()?;
                self.store = Some(Arc::new(tiered));
            }
            if self.coalesce_wait.is_none()
                && let Some(value) = config::var(ENV_COALESCE_WAIT)?
            {
                self.coalesce_wait = Some(config::parse_duration(ENV_COALESCE_WAIT, &value)?);
            }
        }
        if self.max_bytes == Some(0) {
            return Err(Error::config(
                "max_bytes",
                "expected a capacity of at least 1 byte, got 0",
            ));
        }
        if self.store.is_some() && self.max_bytes.is_some() {
            return Err(Error::config(
                "max_bytes",
                "applies only to the default memory store; set the capacity on the store you pass to `store`",
            ));
        }
        let store = self.store.unwrap_or_else(|| {
            Arc::new(MemoryStore::with_max_bytes(
                self.max_bytes.unwrap_or(MemoryStore::DEFAULT_MAX_BYTES),
            ))
        });
        let name = match self.name {
            Some(name) if name == CacheStatus::NAME => None,
            Some(name) if CacheStatus::is_valid_name(&name) => Some(Arc::from(name)),
            Some(name) => {
                let setting = if self.from_env { ENV_NAME } else { "name" };
                return Err(Error::config(
                    setting,
                    format!(
                        "expected a token (a letter or `*`, then letters, digits or `:/!#$%&'*+-.^_`|~`), got `{name}`"
                    ),
                ));
            }
            None => None,
        };
        Ok(Cache::from_parts(
            store,
            self.coalesce_wait.unwrap_or(DEFAULT_COALESCE_WAIT),
            name,
        ))
    }
}

/// A [`Policy`] bound to a [`Cache`]: what an adapter holds for one route.
///
/// An adapter calls [`lookup`](Self::lookup) with the request; on
/// [`Lookup::Hit`](crate::flow::Lookup::Hit) it writes the stored response, on
/// [`Lookup::Forward`](crate::flow::Lookup::Forward) it calls the handler, hands the response head to
/// [`Forward::response`](crate::flow::Forward::response), and feeds the body through the returned
/// [`Collector`](crate::flow::Collector), if any.
#[derive(Clone)]
pub struct CacheRoute {
    pub(crate) cache: Cache,
    pub(crate) policy: Arc<Policy>,
    /// This route's counters and the routes named after the router's patterns.
    pub(crate) names: Arc<RouteNames<CacheRoute>>,
}

impl fmt::Debug for CacheRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheRoute")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl CacheRoute {
    /// The route's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The cache the route belongs to.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// This route as named by the pattern the router matched: itself when its policy has a
    /// [`name`](Policy::name) or no pattern was matched, else a route with the same policy
    /// named `pattern` (made once per pattern, so its stats add up).
    pub fn for_pattern(&self, pattern: Option<&str>) -> Cow<'_, CacheRoute> {
        match pattern.filter(|_| !self.policy.named) {
            Some(pattern) => self
                .names
                .get_or_make(pattern, || {
                    self.cache.route(Policy::clone(&self.policy).name(pattern))
                })
                .unwrap_or(Cow::Borrowed(self)),
            None => Cow::Borrowed(self),
        }
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        self.names
            .counters
            .get_or_init(|| self.cache.inner.stats.route(&self.policy.name))
    }

    pub(crate) fn record(&self, event: Event) {
        self.cache.inner.stats.record(self.counters(), event);
    }

    /// A `tracing` span for one request through this route (`cachefront`, debug level, with the
    /// route name): adapters run the whole request in it, so the decision events (readable key,
    /// decision, reason, store latency) and the handler's own events are grouped per request.
    pub fn span(&self) -> tracing::Span {
        tracing::debug_span!("cachefront", route = %self.policy.name)
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.cache.inner.store
    }
}
