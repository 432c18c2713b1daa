//! The cache handle and the request flow every adapter follows.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::{
    coalesce::{Coalescer, FlightCleanup, FlightState, Join, LeaderGuard},
    config,
    entry::Entry,
    error::Error,
    invalidate::Invalidator,
    key::{CacheKey, KeyDigest},
    policy::{Bypass, Exchange, NotStored, Policy, RequestAdmission},
    purges::{Purge, PurgeEpoch, PurgeLog},
    request::{RequestHead, UriHead, normalized_header, normalized_header_in},
    rules::range::{self, Requested},
    // The rules were `semantics` before they were split into `rules/`.
    rules::{self as semantics, CacheControl, CacheStatus, Forwarded, Reuse},
    stats::{Counters, Event, Stats, StatsRegistry},
    store::{DEFAULT_MAX_BYTES, MemoryStore, Store, StoreLock},
};

/// The default bound on how long a request waits for another request's response to the same
/// key before going to the handler itself: 10 seconds.
pub const DEFAULT_COALESCE_WAIT: Duration = Duration::from_secs(10);

/// How many times a follower whose leader was cancelled retries before going to the handler.
const MAX_FLIGHT_ATTEMPTS: usize = 4;

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
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    coalescer: Coalescer,
    stats: StatsRegistry,
    coalesce_wait: Duration,
    /// Memoized values' flights and counters (see `memo`).
    memo: crate::memo::registry::MemoRegistry,
    variants: VariantIndex,
    /// Recent invalidations, so that misses already in flight do not store what they purged.
    purges: PurgeLog,
}

impl Cache {
    /// A cache on a [`MemoryStore`] of 64 MiB, with default settings.
    pub fn new() -> Self {
        Self::from_parts(Arc::new(MemoryStore::new()), DEFAULT_COALESCE_WAIT)
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

    fn from_parts(store: Arc<dyn Store>, coalesce_wait: Duration) -> Self {
        let variants = VariantIndex::for_capacity(store.usage().capacity_bytes);
        Self {
            inner: Arc::new(Inner {
                store,
                coalescer: Coalescer::default(),
                stats: StatsRegistry::default(),
                coalesce_wait,
                memo: crate::memo::registry::MemoRegistry::default(),
                variants,
                purges: PurgeLog::default(),
            }),
        }
    }

    /// Binds a policy to this cache: the handle an adapter uses for one route.
    pub fn route(&self, policy: Policy) -> Route {
        let counters = self.inner.stats.route(&policy.name);
        Route {
            cache: self.clone(),
            policy: Arc::new(policy),
            counters,
        }
    }

    /// A snapshot of the counters, in total and per route, with the store's usage.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot(self.inner.store.usage())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub(crate) fn memo_registry(&self) -> &crate::memo::registry::MemoRegistry {
        &self.inner.memo
    }

    /// A handle to invalidate stored responses by key, path, prefix, tag or all.
    pub fn invalidator(&self) -> Invalidator {
        Invalidator::new(self.clone())
    }

    pub(crate) fn record_total(&self, event: Event) {
        self.inner.stats.record_total(event);
    }

    /// Removes the entry under `key`; returns whether there was one.
    pub async fn invalidate_key(&self, key: &CacheKey) -> Result<bool, Error> {
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

    /// Removes every entry carrying `tag`; returns how many went. The same as
    /// `self.invalidator().tag(tag)`, counted and logged as every invalidation is.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<u64, Error> {
        self.invalidator().tag(tag).await
    }

    /// Removes every entry; returns how many went. The same as `self.invalidator().all()`.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.invalidator().all().await
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
    from_env: bool,
}

const ENV_MAX_BYTES: &str = "CACHEFRONT_MAX_BYTES";
const ENV_COALESCE_WAIT: &str = "CACHEFRONT_COALESCE_WAIT";

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

    /// Builds the cache, or says which setting cannot work.
    pub fn build(mut self) -> Result<Cache, Error> {
        if self.from_env {
            // The environment fills only what the builder left unset.
            if self.max_bytes.is_none() && self.store.is_none() {
                if let Some(value) = config::var(ENV_MAX_BYTES)? {
                    self.max_bytes = Some(config::parse_bytes(ENV_MAX_BYTES, &value)?);
                }
            }
            // With `CACHEFRONT_REDIS_URL`: memory in front of Redis, for many instances.
            #[cfg(feature = "redis")]
            if self.store.is_none() && config::var("CACHEFRONT_REDIS_URL")?.is_some() {
                let memory = MemoryStore::with_max_bytes(self.max_bytes.take().unwrap_or(DEFAULT_MAX_BYTES));
                let redis = crate::store::RedisStoreBuilder::from_env()?.build()?;
                let tiered = crate::store::TieredStore::builder(memory, redis)
                    .read_env()?
                    .build()?;
                self.store = Some(Arc::new(tiered));
            }
            if self.coalesce_wait.is_none() {
                if let Some(value) = config::var(ENV_COALESCE_WAIT)? {
                    self.coalesce_wait = Some(config::parse_duration(ENV_COALESCE_WAIT, &value)?);
                }
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
                self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            ))
        });
        Ok(Cache::from_parts(
            store,
            self.coalesce_wait.unwrap_or(DEFAULT_COALESCE_WAIT),
        ))
    }
}

/// A [`Policy`] bound to a [`Cache`]: what an adapter holds for one route.
///
/// An adapter calls [`lookup`](Self::lookup) with the request; on [`Lookup::Hit`] it writes
/// the stored response, on [`Lookup::Forward`] it calls the handler, hands the response head to
/// [`Forward::response`], and feeds the body through the returned [`Collector`], if any.
#[derive(Clone)]
pub struct Route {
    cache: Cache,
    policy: Arc<Policy>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// The route's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The cache the route belongs to.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn record(&self, event: Event) {
        self.cache.inner.stats.record(&self.counters, event);
    }

    /// A `tracing` span for one request through this route (`cachefront`, debug level, with the
    /// route name): adapters run the whole request in it, so the decision events (readable key,
    /// decision, reason, store latency) and the handler's own events are grouped per request.
    pub fn span(&self) -> tracing::Span {
        tracing::debug_span!("cachefront", route = %self.policy.name)
    }

    fn store(&self) -> &Arc<dyn Store> {
        &self.cache.inner.store
    }

    /// Decides how to answer a request: from the cache, or by forwarding it to the handler.
    ///
    /// Concurrent misses on one key are coalesced: one request (the leader) is forwarded, the
    /// others wait for its response up to the cache's bound. If the leader's response cannot be
    /// stored they are forwarded too; if the leader is cancelled or fails, one of them leads.
    pub async fn lookup<R: RequestHead>(&self, request: &R) -> Lookup {
        let request_time = SystemTime::now();
        let epoch = self.cache.purge_epoch();
        let admission = match self.policy.admit_request(request) {
            Ok(admission) => admission,
            Err(reason) => {
                // A successful unsafe request invalidates what is stored for its URI (§4.4).
                let invalidation =
                    (reason == Bypass::Method && !is_safe_method(request.method())).then(|| Invalidation {
                        target: self.policy.key.build(&AsGet(request)),
                        host: request.host().map(str::to_ascii_lowercase),
                        tags: self.policy.resolve(&self.policy.invalidates, request.path()),
                        paths: self
                            .policy
                            .resolve(&self.policy.invalidates_paths, request.path()),
                    });
                return self.bypass(request, reason, invalidation);
            }
        };
        let RequestAdmission {
            key,
            head,
            authorized,
            directives,
        } = admission;
        // `HEAD` ignores `Range` (RFC 9110 §14.2). A range the cache does not answer itself
        // (several, another unit, malformed), or one with credentials, is forwarded as it came.
        let ranged = if head { None } else { range::requested(request) };
        if ranged == Some(Requested::Other) || (authorized && ranged.is_some()) {
            return self.bypass(request, Bypass::Range, None);
        }
        if authorized {
            // RFC 9111 §3.5: forwarded and never answered from the cache, stored only if the
            // origin marked the response as shareable.
            let state = Box::new(MissState::new(
                key,
                Forwarded::Bypass,
                directives,
                request_time,
                authorized,
                epoch,
            ));
            return self.forward(request, state);
        }
        // The common case first, with nothing else set up: a fresh stored response.
        let found = self.find(&key, request).await;
        if let Some(entry) = &found.entry {
            if semantics::reuse(entry, &directives, request_time) == Reuse::Fresh {
                return self.hit(request, Arc::clone(entry), head, HitKind::Fresh, request_time);
            }
        }
        let mut prefetched = Some(found);
        // Boxed: the lookup future stays small (it is moved into the adapter's boxed future).
        let mut state = Box::new(MissState::new(
            key,
            Forwarded::UriMiss,
            directives,
            request_time,
            false,
            epoch,
        ));
        // The flight this request joins: the URI's, until a response says what it varies on;
        // then the request's variant's, so that each variant has one handler call.
        let mut flight = *state.key.digest();
        // Computed at the first wait only: hits never read the clock for it.
        let mut deadline = None;
        for _ in 0..MAX_FLIGHT_ATTEMPTS {
            let found = match prefetched.take() {
                Some(found) => found,
                None => self.find(&state.key, request).await,
            };
            state.fwd = found.fwd;
            if let Some(primary) = &found.varies {
                flight = variant_flight(&state.key, primary, request);
            }
            if let Some(entry) = found.entry {
                let now = SystemTime::now();
                match semantics::reuse(&entry, &state.directives, now) {
                    Reuse::Fresh => return self.hit(request, entry, head, HitKind::Fresh, now),
                    Reuse::StaleAccepted => return self.hit(request, entry, head, HitKind::Stale, now),
                    Reuse::StaleWhileRevalidate => {
                        let mut lookup =
                            self.hit(request, entry.clone(), head, HitKind::StaleWhileRevalidate, now);
                        // One background refresh per key: only the flight's leader runs it.
                        if let (Lookup::Hit(hit), Join::Leader(guard)) = (
                            &mut lookup,
                            self.cache
                                .inner
                                .coalescer
                                .join(variant_flight(&state.key, &entry, request)),
                        ) {
                            // A request of its own, beginning now.
                            let mut refresh = state.clone_for_refresh(self.cache.purge_epoch());
                            refresh.fwd = Forwarded::Stale;
                            refresh.guard = Some(guard);
                            refresh.candidate = Some(entry);
                            refresh.whole = ranged.is_some();
                            refresh.request_headers = Some(request.to_header_map());
                            refresh.tags = self.policy.resolve(&self.policy.tags, request.path());
                            hit.refresh = Some(Forward::miss(self.clone(), Box::new(refresh)));
                        }
                        return lookup;
                    }
                    Reuse::Revalidate => {
                        state.fwd = if entry.is_fresh(now) && !entry.no_cache {
                            Forwarded::Request
                        } else {
                            Forwarded::Stale
                        };
                        flight = variant_flight(&state.key, &entry, request);
                        state.candidate = Some(entry);
                    }
                }
            }
            if state.directives.only_if_cached {
                return self.synthetic_gateway_timeout(request, head);
            }
            // Nothing stored to slice as it is: the handler is asked for the whole
            // representation, which is stored (partial content never is).
            state.whole = ranged.is_some();
            if head {
                // HEAD never stores, so it neither leads nor follows a flight; but a GET that
                // just finished answers it while its store write runs.
                if let Some(entry) = self.cache.inner.coalescer.finished(&flight) {
                    if usable(&entry, request, &state.directives) {
                        return self.hit(request, entry, true, HitKind::Fresh, SystemTime::now());
                    }
                }
                state.not_stored = Some(NotStored::Head);
                state.head_candidate = state.candidate.take();
                return self.forward(request, state);
            }
            let follower = match self.cache.inner.coalescer.join(flight) {
                Join::Leader(guard) => {
                    state.guard = Some(guard);
                    // Lead across the instances sharing the store too, or wait for the one
                    // that does.
                    if let Some(entry) = self.lead_across_instances(&mut state, request).await {
                        return self.hit(request, entry, false, HitKind::Collapsed, SystemTime::now());
                    }
                    return self.forward(request, state);
                }
                Join::Done(entry) => match after_flight(&entry, request, &state, &mut flight) {
                    AfterFlight::Use => {
                        return self.hit(request, entry, false, HitKind::Fresh, SystemTime::now());
                    }
                    AfterFlight::JoinVariant => {
                        state.fwd = Forwarded::VaryMiss;
                        continue;
                    }
                    AfterFlight::Forward => return self.forward(request, state),
                },
                Join::Follower(follower) => follower,
            };
            self.record(Event::CoalescedWait);
            tracing::debug!(key = %state.key, decision = "wait", "waiting for a concurrent miss on the same key");
            let deadline =
                *deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.cache.inner.coalesce_wait);
            // Boxed: only waiting requests pay for the timer's space, hits and leaders do not.
            let settled =
                Box::pin(async move { tokio::time::timeout_at(deadline, follower.settled()).await }).await;
            match settled {
                Ok(FlightState::Done(entry)) => match after_flight(&entry, request, &state, &mut flight) {
                    AfterFlight::Use => {
                        return self.hit(request, entry, false, HitKind::Collapsed, SystemTime::now());
                    }
                    AfterFlight::JoinVariant => {
                        state.fwd = Forwarded::VaryMiss;
                    }
                    AfterFlight::Forward => return self.forward(request, state),
                },
                Ok(FlightState::Uncacheable) => return self.forward(request, state),
                // The leader went away: look again, and perhaps lead.
                Ok(FlightState::Abandoned | FlightState::Pending) => {}
                Err(_elapsed) => {
                    tracing::debug!(key = %state.key, "coalesced wait timed out; forwarding");
                    return self.forward(request, state);
                }
            }
        }
        self.forward(request, state)
    }

    /// Takes the store's cross-instance lock on the key, so that one instance computes a cold
    /// key; when another instance holds it, waits for its entry up to the coalescing bound. Returns the entry to serve, or `None` to go to the handler. Fails
    /// open: a store error means going to the handler.
    async fn lead_across_instances<R: RequestHead>(
        &self,
        state: &mut MissState,
        request: &R,
    ) -> Option<Arc<Entry>> {
        if !self.store().is_shared() {
            return None;
        }
        match self.store().try_lock(&state.key).await {
            Ok(Some(lock)) => {
                state.store_lock = Some(lock);
                return None;
            }
            Ok(None) => {}
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %state.key, %error, "cache store lock failed; forwarding");
                return None;
            }
        }
        self.record(Event::CoalescedWait);
        tracing::debug!(key = %state.key, decision = "wait", "waiting for another instance's response to the same key");
        match self
            .store()
            .wait_for(&state.key, self.cache.inner.coalesce_wait)
            .await
        {
            Ok(Some(entry)) if usable(&entry, request, &state.directives) => {
                // This instance's own waiters get it too.
                if let Some(guard) = state.guard.take() {
                    drop(guard.complete(Arc::clone(&entry)));
                }
                Some(entry)
            }
            Ok(_) => None,
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %state.key, %error, "waiting on another instance failed; forwarding");
                None
            }
        }
    }

    /// The stored response that matches the request, following `Vary` to the request's variant.
    async fn find<R: RequestHead>(&self, key: &CacheKey, request: &R) -> Found {
        // The clock is read only when someone listens.
        let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
        let got = self.store().get(key).await;
        if let Some(started) = started {
            tracing::debug!(key = %key, store_us = started.elapsed().as_micros() as u64, found = matches!(got, Ok(Some(_))), "store lookup");
        }
        let primary = match got {
            Ok(Some(primary)) => primary,
            Ok(None) => return Found::miss(Forwarded::UriMiss),
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %key, %error, "cache store lookup failed; forwarding");
                return Found::miss(Forwarded::UriMiss);
            }
        };
        if primary.matches_vary(request) {
            return Found {
                entry: Some(primary),
                fwd: Forwarded::UriMiss,
                varies: None,
            };
        }
        // Looked up by digest: the readable form (as long as the URL) is not built for it.
        let variant = CacheKey::from_digest(
            key.variant_digest(
                primary
                    .vary
                    .iter()
                    .map(|(name, _)| (name, normalized_header(request, name))),
            ),
        );
        let got = self.store().get(&variant).await;
        let mut found = Found::miss(Forwarded::VaryMiss);
        match got {
            Ok(Some(entry)) if entry.matches_vary(request) => {
                found.entry = Some(entry);
                found.fwd = Forwarded::UriMiss;
            }
            Ok(_) => {}
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %key, variant = ?variant.digest(), %error, "cache store lookup failed; forwarding");
            }
        }
        found.varies = Some(primary);
        found
    }

    fn hit<R: RequestHead>(
        &self,
        request: &R,
        entry: Arc<Entry>,
        head: bool,
        kind: HitKind,
        now: SystemTime,
    ) -> Lookup {
        let kind = match kind {
            // A fresh (or acceptably stale) hit answers the client's conditionals itself.
            HitKind::Fresh | HitKind::Stale if semantics::not_modified(request, &entry) => {
                HitKind::NotModified
            }
            other => other,
        };
        self.record(
            if matches!(kind, HitKind::Stale | HitKind::StaleWhileRevalidate) {
                Event::StaleHit
            } else {
                Event::Hit
            },
        );
        tracing::debug!(key = %entry.key, route = %self.policy.name, decision = "hit", kind = ?kind);
        // The core decides what a range request gets: the whole entry, a 206 or a 416, served
        // as a response of their own (adapters only write them).
        let answer = if head || kind == HitKind::NotModified {
            range::Answer::Whole
        } else {
            range::answer(request, &entry)
        };
        let entry = match answer {
            range::Answer::Whole => entry,
            range::Answer::Partial { first, last } => Arc::new(range::partial(&entry, first, last)),
            range::Answer::Unsatisfiable => Arc::new(range::unsatisfiable(&entry)),
        };
        Lookup::Hit(Hit {
            entry,
            head,
            kind,
            now,
            refresh: None,
            cache_status: None,
        })
    }

    /// Forwards a request the cache does not answer, as it came, counted and logged with the
    /// reason; its response is not stored (`fwd=bypass; detail=<reason>`). A range the cache
    /// does not answer from a stored response goes this way too (`detail=range`).
    fn bypass<R: RequestHead>(
        &self,
        request: &R,
        reason: Bypass,
        invalidation: Option<Invalidation>,
    ) -> Lookup {
        self.record(Event::Bypass(reason));
        tracing::debug!(
            route = %self.policy.name,
            method = request.method(),
            path = request.path(),
            decision = "bypass",
            reason = reason.as_str()
        );
        Lookup::Forward(Forward::bypass(self.clone(), reason, invalidation.map(Box::new)))
    }

    fn synthetic_gateway_timeout<R: RequestHead>(&self, request: &R, head: bool) -> Lookup {
        self.record(Event::Miss);
        tracing::debug!(route = %self.policy.name, path = request.path(), decision = "only-if-cached");
        let mut entry = Entry::new(
            CacheKey::from_parts(["only-if-cached"]),
            StatusCode::GATEWAY_TIMEOUT,
            Bytes::from_static(
                b"504 Gateway Timeout: the request said only-if-cached and no usable response is stored\n",
            ),
            Duration::ZERO,
        );
        entry.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let entry = Arc::new(entry);
        Lookup::Hit(Hit {
            entry,
            head,
            kind: HitKind::OnlyIfCached,
            now: SystemTime::now(),
            refresh: None,
            cache_status: None,
        })
    }

    fn forward<R: RequestHead>(&self, request: &R, mut state: Box<MissState>) -> Lookup {
        self.record(Event::Miss);
        tracing::debug!(
            key = %state.key,
            route = %self.policy.name,
            decision = "miss",
            fwd = ?state.fwd,
            leader = state.guard.is_some()
        );
        if state.not_stored.is_none() {
            // Needed to record `Vary`-named request headers and to evaluate the client's
            // conditionals after a revalidation; misses only.
            state.request_headers = Some(request.to_header_map());
            state.tags = self.policy.resolve(&self.policy.tags, request.path());
        }
        Lookup::Forward(Forward::miss(self.clone(), state))
    }

    /// Removes every stored variant of the URI whose primary key is `key` (RFC 9111 §4.4).
    async fn invalidate_uri(&self, key: &CacheKey) {
        let result = self.cache.remove_uri(key).await;
        match result {
            Ok(_) => tracing::debug!(key = %key, decision = "invalidate"),
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %key, %error, "cache invalidation failed");
            }
        }
    }
}

fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The variants this instance stored for each URI, oldest first, so that the cap per URI holds
/// without reading the list back from the store (a read-modify-write that concurrent stores and
/// instances would lose). Each instance enforces the cap on what it stores.
///
/// The index keeps digests only (32 bytes a variant, whatever the length of the URL), and has a
/// bound of its own: at most [`VariantIndex::max_uris`] URIs, the oldest forgotten first. A
/// forgotten URI's variants stay stored until they expire or are evicted (the store's byte
/// bound holds regardless); the cap then counts its new variants afresh.
#[derive(Debug)]
struct VariantIndex {
    lists: Mutex<VariantLists>,
    max_uris: usize,
}

#[derive(Debug, Default)]
struct VariantLists {
    by_uri: HashMap<KeyDigest, Vec<KeyDigest>>,
    /// URIs in the order they were first indexed; may hold URIs forgotten since (skipped).
    order: VecDeque<KeyDigest>,
}

/// The most URIs with variants the index follows, whatever the store's capacity.
const MAX_INDEXED_URIS: usize = 100_000;
/// The fewest, however small the store.
const MIN_INDEXED_URIS: usize = 1_024;

impl VariantIndex {
    /// An index sized for a store of `capacity` bytes: one URI per 4 KiB of capacity (a URI
    /// with variants holds at least two entries, its primary's copy and a variant, each
    /// weighing more than 2 KiB), between 1,024 and 100,000 URIs. At most ~200 bytes a URI
    /// with one variant, so 64 MiB of store means ~3 MiB of index.
    fn for_capacity(capacity: Option<u64>) -> Self {
        let max_uris = capacity.map_or(MAX_INDEXED_URIS, |bytes| {
            usize::try_from(bytes / 4096)
                .unwrap_or(usize::MAX)
                .clamp(MIN_INDEXED_URIS, MAX_INDEXED_URIS)
        });
        Self {
            lists: Mutex::new(VariantLists::default()),
            max_uris,
        }
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, VariantLists> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `variant` of the URI `primary` is among those kept.
    fn contains(&self, primary: &KeyDigest, variant: &KeyDigest) -> bool {
        self.lists()
            .by_uri
            .get(primary)
            .is_some_and(|variants| variants.contains(variant))
    }

    /// Records that `variant` of the URI `primary` was stored; returns the variants to remove
    /// to stay within `cap`.
    fn record(&self, primary: KeyDigest, variant: KeyDigest, cap: usize) -> Vec<KeyDigest> {
        let mut lists = self.lists();
        let lists = &mut *lists;
        if !lists.by_uri.contains_key(&primary) {
            while lists.by_uri.len() >= self.max_uris {
                let Some(oldest) = lists.order.pop_front() else {
                    break;
                };
                lists.by_uri.remove(&oldest);
            }
            // Forgotten URIs leave their place in `order`; sweep them before it doubles.
            if lists.order.len() >= 2 * self.max_uris {
                let by_uri = &lists.by_uri;
                lists.order.retain(|uri| by_uri.contains_key(uri));
            }
            lists.order.push_back(primary);
        }
        let variants = lists.by_uri.entry(primary).or_default();
        variants.retain(|known| *known != variant);
        if variants.len() == variants.capacity() {
            // Exact growth: most URIs have one or two variants.
            variants.reserve_exact(1);
        }
        variants.push(variant);
        let excess = variants.len().saturating_sub(cap.max(1));
        variants.drain(..excess).collect()
    }

    /// Forgets a URI whose variants were all invalidated.
    fn forget(&self, primary: &KeyDigest) {
        self.lists().by_uri.remove(primary);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lists().by_uri.len()
    }
}

const VARIANTS_TAG: &str = "cachefront:variants:";

/// The internal tag every variant of a URI carries, so that they can be removed together.
fn variants_tag(primary: &CacheKey) -> String {
    format!("{VARIANTS_TAG}{}", primary.digest().to_hex())
}

/// Whether `entry` is a variant (or the primary's copy of one) of the URI whose primary key
/// has `digest`.
pub(crate) fn is_variant_of(entry: &Entry, digest: &KeyDigest) -> bool {
    !entry.vary.is_empty()
        && entry.tags.iter().any(|tag| {
            tag.strip_prefix(VARIANTS_TAG)
                .and_then(KeyDigest::from_hex)
                .is_some_and(|uri| uri == *digest)
        })
}

/// Whether `entry` is the copy of a URI's latest variant kept under the URI's primary key
/// (stored beside the variant itself): purges count the variant, not its copy.
pub(crate) fn is_primary_copy(entry: &Entry) -> bool {
    is_variant_of(entry, entry.key.digest())
}

/// A request with its method read as `GET`: the key of the URI an unsafe request targets.
struct AsGet<'a, R>(&'a R);

impl<R: RequestHead> RequestHead for AsGet<'_, R> {
    fn method(&self) -> &str {
        "GET"
    }
    fn path(&self) -> &str {
        self.0.path()
    }
    fn query(&self) -> Option<&str> {
        self.0.query()
    }
    fn host(&self) -> Option<&str> {
        self.0.host()
    }
    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.0.for_each_header_value(name, f);
    }
    fn contains_header(&self, name: &HeaderName) -> bool {
        self.0.contains_header(name)
    }
    fn to_header_map(&self) -> HeaderMap {
        self.0.to_header_map()
    }
}

struct Found {
    entry: Option<Arc<Entry>>,
    fwd: Forwarded,
    /// The URI's stored response when it varies and this request's variant is not stored:
    /// its `Vary` names this request's variant flight.
    varies: Option<Arc<Entry>>,
}

impl Found {
    fn miss(fwd: Forwarded) -> Self {
        Self {
            entry: None,
            fwd,
            varies: None,
        }
    }
}

/// The flight a request for a URI (primary key `primary`) joins once `entry`, a response for
/// that URI, said what it varies on: the request's variant's key. A response without `Vary`
/// has one flight, the URI's.
fn variant_flight<R: RequestHead>(primary: &CacheKey, entry: &Entry, request: &R) -> KeyDigest {
    if entry.vary.is_empty() {
        return *primary.digest();
    }
    primary.variant_digest(
        entry
            .vary
            .iter()
            .map(|(name, _)| (name, normalized_header(request, name))),
    )
}

/// Whether a stored response answers this request as it is: its `Vary` matches and it is
/// fresh for the request, without validation (RFC 9111 §4, §5.2.2.4: a `no-cache` or already
/// stale response handed over by a flight is validated like any other).
fn usable<R: RequestHead>(entry: &Entry, request: &R, directives: &CacheControl) -> bool {
    entry.matches_vary(request) && semantics::reuse(entry, directives, SystemTime::now()) == Reuse::Fresh
}

/// What a request does with the response a flight it joined produced.
fn after_flight<R: RequestHead>(
    entry: &Entry,
    request: &R,
    state: &MissState,
    flight: &mut KeyDigest,
) -> AfterFlight {
    if usable(entry, request, &state.directives) {
        return AfterFlight::Use;
    }
    if !entry.matches_vary(request) {
        // The response names what it varies on: this request's variant has a flight of
        // its own, led by the first request for it.
        let variant = variant_flight(&state.key, entry, request);
        if variant != *flight {
            *flight = variant;
            return AfterFlight::JoinVariant;
        }
    }
    AfterFlight::Forward
}

/// What a request does with the response of a flight it joined.
enum AfterFlight {
    /// It answers the request.
    Use,
    /// The response varies and this request is another variant: join that variant's flight.
    JoinVariant,
    /// Go to the handler (the response needs validation, or another try found nothing).
    Forward,
}

/// What [`Route::lookup`] decided.
#[derive(Debug)]
pub enum Lookup {
    /// Answer from the cache.
    Hit(Hit),
    /// Call the handler.
    Forward(Forward),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HitKind {
    /// Fresh.
    Fresh,
    /// Served stale, as the client's `max-stale` accepts.
    Stale,
    /// Served stale within `stale-while-revalidate` while a refresh runs.
    StaleWhileRevalidate,
    /// Answered with another request's response to the same key.
    Collapsed,
    /// The client's validators match: a 304 from the cache.
    NotModified,
    /// Validated with the origin (a 304), and served from the cache.
    Revalidated { fwd: Forwarded, stored: bool },
    /// The origin failed; served stale within `stale-if-error`.
    StaleIfError { fwd_status: Option<u16> },
    /// Nothing usable stored and the client said `only-if-cached`: a 504 from the cache.
    OnlyIfCached,
}

/// A response from the cache to write to the client.
///
/// Write [`status`](Self::status), [`headers`](Self::headers) and [`body`](Self::body). If
/// [`take_refresh`](Self::take_refresh) returns a [`Forward`], the entry was served stale and
/// must be refreshed in the background: call the handler with it as for a miss.
#[derive(Debug)]
pub struct Hit {
    entry: Arc<Entry>,
    head: bool,
    kind: HitKind,
    now: SystemTime,
    refresh: Option<Forward>,
    /// Set when the hit answers a forwarded request (a revalidation): its member says so.
    cache_status: Option<CacheStatus>,
}

impl Hit {
    /// The stored entry; for a range request the cache answers with a `206` or a `416`, the
    /// response built from it (status, headers with `Content-Range`, body slice).
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    /// Whether the request was `HEAD`: write the headers only.
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            HitKind::NotModified => StatusCode::NOT_MODIFIED,
            _ => self.entry.status,
        }
    }

    /// The body to write (empty for `HEAD` and 304).
    pub fn body(&self) -> Bytes {
        if self.head || self.kind == HitKind::NotModified {
            Bytes::new()
        } else {
            self.entry.body.clone()
        }
    }

    /// The `Cache-Status` member for this response.
    pub fn cache_status(&self) -> CacheStatus {
        if let Some(status) = &self.cache_status {
            return status.clone();
        }
        let ttl = remaining_secs(&self.entry, self.now);
        match self.kind {
            HitKind::Fresh | HitKind::NotModified => CacheStatus::hit(ttl),
            HitKind::StaleWhileRevalidate => CacheStatus::hit(ttl).detail("stale-while-revalidate"),
            HitKind::Stale => CacheStatus::hit(ttl).detail("stale"),
            // RFC 9211 §2.6: the request was collapsed with the one that went forward.
            HitKind::Collapsed => CacheStatus::forward(Forwarded::UriMiss)
                .fwd_status(self.entry.status.as_u16())
                .collapsed(true),
            HitKind::Revalidated { fwd, stored } => {
                CacheStatus::forward(fwd).fwd_status(304).ttl(ttl).stored(stored)
            }
            HitKind::StaleIfError { fwd_status } => {
                let status = CacheStatus::forward(Forwarded::Stale)
                    .ttl(ttl)
                    .detail("stale-if-error");
                match fwd_status {
                    Some(code) => status.fwd_status(code),
                    None => status,
                }
            }
            HitKind::OnlyIfCached => CacheStatus::forward(Forwarded::Miss).detail("only-if-cached"),
        }
    }

    /// The response headers: the stored ones (for a 304, those RFC 9110 §15.4.5 lists), then
    /// `Content-Length`, `Age` (computed by the cache, RFC 9111 §5.1) and `Cache-Status`.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = match self.kind {
            HitKind::NotModified => semantics::not_modified_headers(&self.entry.headers),
            _ => {
                // Sized once for the stored fields and the three the cache adds.
                let mut headers = HeaderMap::with_capacity(self.entry.headers.len() + 3);
                for (name, value) in &self.entry.headers {
                    headers.append(name.clone(), value.clone());
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.entry.body.len()));
                headers
            }
        };
        if self.kind != HitKind::OnlyIfCached {
            headers.insert(
                header::AGE,
                semantics::age_value(self.entry.age(self.now).as_secs()),
            );
        }
        self.cache_status().append_to(&mut headers);
        headers
    }

    /// The background refresh this hit asks for (stale-while-revalidate), if any: call the
    /// handler with the request (applying [`Forward::conditional_headers`]), and hand the
    /// response to [`Forward::response`] as for a miss.
    pub fn take_refresh(&mut self) -> Option<Forward> {
        self.refresh.take()
    }
}

/// Freshness left in whole seconds, consistent with `Age` while fresh (`Age + ttl` is the
/// stored lifetime); once stale, minus the staleness rounded up, so never 0 for a stale entry.
fn remaining_secs(entry: &Entry, now: SystemTime) -> i64 {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let age = entry.age(now);
    if age < entry.ttl {
        return secs(entry.ttl).saturating_sub(secs(age)).max(0);
    }
    let staleness = age - entry.ttl;
    let rounded_up = secs(staleness) + i64::from(staleness.subsec_nanos() > 0);
    -rounded_up.max(1)
}

/// A request to send to the handler; hand the handler's response head to
/// [`response`](Self::response).
///
/// Before calling the handler, apply [`conditional_headers`](Self::conditional_headers) to the
/// request: when the cache holds a stale response with validators, it asks the origin whether
/// that response is still current.
///
/// Dropping it without calling `response` (the handler failed, the client went away) releases
/// any requests waiting on it.
#[derive(Debug)]
pub struct Forward {
    route: Route,
    kind: ForwardKind,
    body_size: Option<u64>,
}

#[derive(Debug)]
enum ForwardKind {
    Bypass(Bypass, Option<Box<Invalidation>>),
    // Boxed: a miss carries the key, the flight and the request headers; bypasses stay small.
    Miss(Box<MissState>),
}

/// What a successful unsafe request invalidates: its target URI, and same-origin
/// `Location` / `Content-Location` URIs of its response.
#[derive(Debug)]
struct Invalidation {
    target: CacheKey,
    host: Option<String>,
    /// The policy's `invalidating` tags, filled from the request path.
    tags: Vec<Arc<str>>,
    /// The policy's `invalidating_paths`, filled from the request path.
    paths: Vec<Arc<str>>,
}

#[derive(Debug)]
struct MissState {
    key: CacheKey,
    fwd: Forwarded,
    guard: Option<LeaderGuard>,
    /// The cross-instance lock on this key (a store shared by several instances).
    store_lock: Option<StoreLock>,
    request_headers: Option<HeaderMap>,
    not_stored: Option<NotStored>,
    directives: CacheControl,
    request_time: SystemTime,
    started: Instant,
    authorized: bool,
    /// The stored response this request may revalidate or fall back on (stale-if-error).
    candidate: Option<Arc<Entry>>,
    /// A `HEAD` request's stored `GET` response, which a 200 to the `HEAD` updates or
    /// invalidates (RFC 9111 §4.3.5).
    head_candidate: Option<Arc<Entry>>,
    /// The client asked for a byte range the cache could not answer: the handler is asked for
    /// the whole representation (without `Range` and `If-Range`), which is stored and answers
    /// the next range requests; this client gets it whole (RFC 9110 §14.2 lets a server ignore
    /// `Range`).
    whole: bool,
    /// The policy's tags, filled from the request path.
    tags: Vec<Arc<str>>,
    /// The cache's purge epoch when the request began (see `purges`).
    epoch: PurgeEpoch,
}

impl MissState {
    fn new(
        key: CacheKey,
        fwd: Forwarded,
        directives: CacheControl,
        request_time: SystemTime,
        authorized: bool,
        epoch: PurgeEpoch,
    ) -> Self {
        Self {
            key,
            fwd,
            guard: None,
            store_lock: None,
            request_headers: None,
            not_stored: None,
            directives,
            request_time,
            started: Instant::now(),
            authorized,
            candidate: None,
            head_candidate: None,
            whole: false,
            tags: Vec::new(),
            epoch,
        }
    }

    fn clone_for_refresh(&self, epoch: PurgeEpoch) -> Self {
        let mut state = Self::new(
            self.key.clone(),
            self.fwd,
            CacheControl::default(),
            SystemTime::now(),
            false,
            epoch,
        );
        state.tags = self.tags.clone();
        state
    }

    /// The validators of the candidate, when it has any and this request revalidates it.
    fn revalidates(&self) -> Option<&Arc<Entry>> {
        self.candidate.as_ref().filter(|entry| {
            entry.headers.contains_key(header::ETAG) || entry.headers.contains_key(header::LAST_MODIFIED)
        })
    }
}

impl Forward {
    fn bypass(route: Route, reason: Bypass, invalidation: Option<Box<Invalidation>>) -> Self {
        Self {
            route,
            kind: ForwardKind::Bypass(reason, invalidation),
            body_size: None,
        }
    }

    fn miss(route: Route, state: Box<MissState>) -> Self {
        Self {
            route,
            kind: ForwardKind::Miss(state),
            body_size: None,
        }
    }

    /// Tells the cache the exact size of the response body when the adapter knows it without a
    /// `Content-Length` header (a body's size hint), so that a body over the limit is not
    /// collected at all.
    #[must_use]
    pub fn body_size(mut self, size: Option<u64>) -> Self {
        self.body_size = size;
        self
    }

    /// Why the cache was bypassed, if it was.
    pub fn bypass_reason(&self) -> Option<Bypass> {
        match self.kind {
            ForwardKind::Bypass(reason, _) => Some(reason),
            ForwardKind::Miss(_) => None,
        }
    }

    /// The request headers to set (`Some`) or remove (`None`) before calling the handler.
    ///
    /// When the cache revalidates a stored response, these are `If-None-Match` (its `ETag`)
    /// and `If-Modified-Since` (its `Last-Modified`), replacing the client's own (RFC 9111
    /// §4.3.1). When the client asked for a byte range that nothing stored could answer,
    /// `Range` and `If-Range` are removed, so that the whole representation comes back and is
    /// stored. Otherwise the list is empty and the request goes as it came.
    pub fn conditional_headers(&self) -> Vec<(HeaderName, Option<HeaderValue>)> {
        let ForwardKind::Miss(state) = &self.kind else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        if state.whole {
            edits.extend([(header::RANGE, None), (header::IF_RANGE, None)]);
        }
        if let Some(entry) = state.revalidates() {
            edits.extend([
                (header::IF_NONE_MATCH, entry.headers.get(header::ETAG).cloned()),
                (
                    header::IF_MODIFIED_SINCE,
                    entry.headers.get(header::LAST_MODIFIED).cloned(),
                ),
            ]);
        }
        edits
    }

    /// The handler failed without a response (an error of the inner service). Returns a stale
    /// response to serve instead when `stale-if-error` allows it (RFC 5861 §4).
    pub fn error(self) -> Option<Hit> {
        let ForwardKind::Miss(state) = self.kind else {
            return None;
        };
        self.route.stale_if_error(*state, None)
    }

    /// Judges the handler's response head: returns the `Cache-Status` member to add and, when
    /// the response may be stored, a [`Collector`] for its body — or a response from the cache
    /// to send instead (a successful revalidation, or stale-if-error).
    pub fn response(self, status: StatusCode, headers: &HeaderMap) -> Recording {
        let route = self.route;
        let mut state = match self.kind {
            ForwardKind::Bypass(reason, invalidation) => {
                let invalidating = invalidation
                    .filter(|_| status.is_success() || status.is_redirection())
                    .map(|invalidation| route.invalidate_after(*invalidation, headers));
                let fwd = if reason == Bypass::Method {
                    Forwarded::Method
                } else {
                    Forwarded::Bypass
                };
                let mut recording = Recording::forwarded(
                    CacheStatus::forward(fwd)
                        .fwd_status(status.as_u16())
                        .detail(reason.as_str()),
                    None,
                )
                .hiding(&route.policy, headers);
                recording.invalidation = invalidating;
                return recording;
            }
            ForwardKind::Miss(state) => *state,
        };
        let response_time = SystemTime::now();
        StatsRegistry::handler_time(&route.counters, state.started.elapsed());
        let status_member = CacheStatus::forward(state.fwd).fwd_status(status.as_u16());
        if status == StatusCode::NOT_MODIFIED && state.revalidates().is_some() {
            return route.revalidated(state, headers, response_time);
        }
        if semantics::is_stale_if_error_status(status.as_u16()) {
            if let Some(entry) = state.candidate.as_ref() {
                if semantics::stale_if_error_allows(entry, &state.directives, response_time) {
                    let code = status.as_u16();
                    if let Some(hit) = route.stale_if_error(state, Some(code)) {
                        return Recording {
                            cache_status: hit.cache_status(),
                            collector: None,
                            replacement: Some(hit),
                            hide: Vec::new(),
                            invalidation: None,
                        };
                    }
                    return Recording::forwarded(status_member, None);
                }
            }
        }
        if let Some(stored) = state.head_candidate.take() {
            if status == StatusCode::OK {
                return route.freshened_by_head(state, &stored, headers, response_time, status_member);
            }
        }
        let exchange = Exchange {
            request_time: state.request_time,
            response_time,
            authorized: state.authorized,
            request_no_store: state.directives.no_store,
        };
        let decision = match state.not_stored {
            Some(reason) => Err(reason),
            None => route
                .policy
                .admit_response(status, headers, self.body_size, &exchange),
        };
        let storable = match decision {
            Ok(storable) => storable,
            Err(reason) => {
                route.record(Event::NotStored);
                tracing::debug!(
                    key = %state.key,
                    status = status.as_u16(),
                    decision = "not-stored",
                    reason = reason.as_str()
                );
                if let Some(guard) = state.guard.take() {
                    guard.uncacheable();
                }
                return Recording::forwarded(status_member.detail(reason.as_str()), None)
                    .hiding(&route.policy, headers);
            }
        };
        let request_headers = state.request_headers.take().unwrap_or_default();
        let vary = storable
            .vary
            .iter()
            .map(|name| (name.clone(), normalized_header_in(&request_headers, name)))
            .collect::<Vec<(HeaderName, Option<Vec<u8>>)>>();
        let limit = route.policy.max_body_bytes;
        // The one decision of which fields are stored, shared with 304 merges.
        let stored_headers = storable.stored_headers(headers);
        let mut tags = std::mem::take(&mut state.tags);
        for name in &route.policy.tag_headers {
            for value in headers.get_all(name) {
                let listed = value.to_str().unwrap_or_default().split([',', ' ']);
                tags.extend(listed.map(str::trim).filter(|t| !t.is_empty()).map(Arc::from));
            }
        }
        let hide_from = headers;
        let route_policy = Arc::clone(&route.policy);
        Recording::forwarded(
            status_member.stored(true),
            Some(Collector {
                route,
                guard: state.guard.take(),
                store_lock: state.store_lock.take(),
                template: Entry {
                    key: std::mem::replace(&mut state.key, CacheKey::placeholder()),
                    status,
                    headers: stored_headers,
                    body: Bytes::new(),
                    stored_at: response_time,
                    ttl: storable.ttl,
                    initial_age: storable.initial_age,
                    stale_while_revalidate: storable.stale_while_revalidate,
                    stale_if_error: storable.stale_if_error,
                    must_revalidate: storable.must_revalidate,
                    no_cache: storable.no_cache,
                    keep_stale: route_policy.keep_stale,
                    time_to_idle: route_policy.time_to_idle,
                    tags,
                    vary,
                },
                chunks: Vec::new(),
                len: 0,
                limit,
                started: state.started,
                settled: false,
                epoch: state.epoch,
            }),
        )
        .hiding(&route_policy, hide_from)
    }
}

impl Route {
    /// The stored response `candidate` updated with the header fields `merged` from a 304 or
    /// a `HEAD` response (RFC 9111 §3.2), dated by that response's `headers`, and why it may
    /// not be stored again (`None`: it may, with the fields to store; otherwise its headers are
    /// the stored ones still).
    fn updated(
        &self,
        state: &MissState,
        candidate: &Entry,
        merged: &HeaderMap,
        headers: &HeaderMap,
        response_time: SystemTime,
    ) -> (Entry, Option<NotStored>) {
        let exchange = Exchange {
            request_time: state.request_time,
            response_time,
            authorized: false,
            request_no_store: state.directives.no_store,
        };
        let mut entry = Entry::clone(candidate);
        entry.stored_at = response_time;
        match self
            .policy
            .admit_response(candidate.status, merged, None, &exchange)
        {
            Ok(storable) => {
                storable.apply(&mut entry, &self.policy);
                // The response's own Date and Age date the refreshed entry.
                entry.initial_age =
                    semantics::corrected_initial_age(headers, state.request_time, response_time);
                entry.headers = storable.stored_headers(merged);
                (entry, None)
            }
            Err(reason) => (entry, Some(reason)),
        }
    }
    /// A 200 to a `HEAD` request whose `GET` response is stored (RFC 9111 §4.3.5): with the same
    /// validators (and `Content-Length`, when it has one) it updates the stored response's
    /// header fields and freshness; otherwise the stored response goes. The client gets the
    /// handler's `HEAD` response either way.
    fn freshened_by_head(
        &self,
        mut state: MissState,
        stored: &Entry,
        headers: &HeaderMap,
        response_time: SystemTime,
        member: CacheStatus,
    ) -> Recording {
        if !semantics::head_freshens(stored, headers) {
            return self.contradicted(state, stored, headers, member);
        }
        let merged = semantics::merge_not_modified(&stored.headers, headers);
        let (entry, refused) = self.updated(&state, stored, &merged, headers, response_time);
        let mut recording =
            Recording::forwarded(member.stored(refused.is_none()), None).hiding(&self.policy, headers);
        if refused.is_none() {
            self.record(Event::Revalidated);
            self.record(Event::Store);
            tracing::debug!(key = %entry.key, decision = "freshened-by-head");
            self.spawn_puts(vec![Arc::new(entry)], None, state.store_lock.take(), state.epoch);
        } else if refused.is_some_and(NotStored::forbids_keeping) {
            // The updated response must not be stored: the stored one ends with it.
            recording.invalidation = Some(self.remove_stored(stored.key.clone()));
        }
        recording
    }

    /// Removes a stored response its origin has since contradicted or made unstorable; the
    /// client's response waits for it, so that its next request cannot find it.
    fn remove_stored(&self, key: CacheKey) -> Invalidating {
        let route = self.clone();
        Invalidating::spawn(async move {
            if let Err(error) = route.store().remove(&key).await {
                route.record(Event::StoreError);
                tracing::warn!(key = %key, %error, "removing a stored response its origin replaced failed");
            }
        })
    }

    /// A response from the handler contradicts the stored `candidate` (its validators differ):
    /// the stored response goes, and the handler's response is passed on.
    fn contradicted(
        &self,
        mut state: MissState,
        candidate: &Entry,
        headers: &HeaderMap,
        member: CacheStatus,
    ) -> Recording {
        let reason = NotStored::ValidatorMismatch;
        self.record(Event::NotStored);
        tracing::debug!(key = %candidate.key, decision = "not-stored", reason = reason.as_str());
        if let Some(guard) = state.guard.take() {
            guard.uncacheable();
        }
        let removal = self.remove_stored(candidate.key.clone());
        let mut recording =
            Recording::forwarded(member.detail(reason.as_str()), None).hiding(&self.policy, headers);
        recording.invalidation = Some(removal);
        recording
    }

    /// A 304 answered the cache's conditional request: refresh the stored response's headers
    /// and serve it (RFC 9111 §4.3.4).
    ///
    /// The 304 updates the stored response only when its validators match it
    /// ([`semantics::freshens`]). One that does not match updates and stores nothing: the
    /// requests waiting on this one go to the handler themselves, the client gets the 304 as
    /// the handler sent it (`Cache-Status: ...; fwd-status=304; detail=validator-mismatch`;
    /// cachefront cannot ask the handler again within one exchange, and does not serve a
    /// response the origin did not confirm), and the stored response is removed before the
    /// client has its answer, so that the next request fetches a full response instead of
    /// revalidating with the same validators again.
    ///
    /// The merged head goes through the same decision of what may be stored as a full
    /// response ([`Storable::stored_headers`](crate::policy::Storable::stored_headers)): the
    /// 304's `private="f"`/`no-cache="f"` fields, its `Set-Cookie` (under
    /// `SetCookie::StoreWithout`) and its tag headers never reach the store, nor therefore
    /// other clients or the requests waiting on this one. The client that revalidated gets
    /// the merged response with the 304's fields, as it would a forwarded 200, tag headers
    /// hidden unless the policy exposes them.
    fn revalidated(&self, mut state: MissState, headers: &HeaderMap, response_time: SystemTime) -> Recording {
        let Some(candidate) = state.candidate.take() else {
            return Recording::forwarded(CacheStatus::forward(state.fwd).fwd_status(304), None)
                .hiding(&self.policy, headers);
        };
        if !semantics::freshens(&candidate.headers, headers) {
            let member = CacheStatus::forward(state.fwd).fwd_status(304);
            return self.contradicted(state, &candidate, headers, member);
        }
        let merged = semantics::merge_not_modified(&candidate.headers, headers);
        // What the revalidating client gets: the merged response, tag headers hidden.
        let mut visible = merged.clone();
        if !self.policy.expose_tag_headers {
            for name in &self.policy.tag_headers {
                visible.remove(name);
            }
        }
        let (mut entry, refused) = self.updated(&state, &candidate, &merged, headers, response_time);
        let stored = refused.is_none();
        // Stored, its headers are `visible` less the fields kept out of the store; the client
        // gets `visible` either way.
        let (entry, served) = if stored && entry.headers.len() != visible.len() {
            let mut served = Entry::clone(&entry);
            served.headers = visible;
            (Arc::new(entry), Arc::new(served))
        } else {
            if !stored {
                entry.headers = visible;
            }
            let entry = Arc::new(entry);
            (Arc::clone(&entry), entry)
        };
        self.record(Event::Revalidated);
        tracing::debug!(key = %entry.key, decision = "revalidated", stored);
        if stored {
            self.record(Event::Store);
            let cleanup = state.guard.take().map(|guard| guard.complete(Arc::clone(&entry)));
            self.spawn_puts(
                vec![Arc::clone(&entry)],
                cleanup,
                state.store_lock.take(),
                state.epoch,
            );
        } else if let Some(guard) = state.guard.take() {
            guard.uncacheable();
        }
        let request_headers = state.request_headers.unwrap_or_default();
        let kind = if semantics::not_modified(&request_headers, &served) {
            HitKind::NotModified
        } else {
            HitKind::Revalidated {
                fwd: state.fwd,
                stored,
            }
        };
        // A 304 saying the response must not be stored (`no-store`, `private`, `Vary: *`) ends
        // the stored one too (RFC 9111 §4.3.4, §5.2.2.5).
        let invalidation = refused
            .filter(|reason| reason.forbids_keeping())
            .map(|_| self.remove_stored(candidate.key.clone()));
        let mut cache_status = CacheStatus::forward(state.fwd).fwd_status(304).stored(stored);
        if kind == HitKind::NotModified {
            cache_status = cache_status.detail("not-modified");
        }
        let hit = Hit {
            entry: served,
            head: false,
            kind,
            now: SystemTime::now(),
            refresh: None,
            cache_status: Some(cache_status.clone()),
        };
        Recording {
            cache_status,
            collector: None,
            replacement: Some(hit),
            hide: Vec::new(),
            invalidation,
        }
    }

    /// Serves the candidate stale if `stale-if-error` allows (RFC 5861 §4).
    fn stale_if_error(&self, mut state: MissState, fwd_status: Option<u16>) -> Option<Hit> {
        let entry = state.candidate.take()?;
        let now = SystemTime::now();
        if !semantics::stale_if_error_allows(&entry, &state.directives, now) {
            return None;
        }
        // Requests waiting on this one get the same stale response.
        if let Some(guard) = state.guard.take() {
            drop(guard.complete(Arc::clone(&entry)));
        }
        self.record(Event::StaleHit);
        tracing::debug!(key = %entry.key, decision = "stale-if-error", fwd_status);
        Some(Hit {
            entry,
            head: false,
            kind: HitKind::StaleIfError { fwd_status },
            now,
            refresh: None,
            cache_status: None,
        })
    }

    /// After a successful unsafe request: invalidate its target URI, and the same-origin URIs
    /// its response names in `Location` and `Content-Location` (RFC 9111 §4.4).
    fn invalidate_after(&self, invalidation: Invalidation, headers: &HeaderMap) -> Invalidating {
        let mut keys = vec![invalidation.target];
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let Some(uri) = headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<http::Uri>().ok())
            else {
                continue;
            };
            let same_origin = match uri.authority() {
                None => true,
                Some(authority) => invalidation
                    .host
                    .as_deref()
                    .is_some_and(|host| authority.as_str().eq_ignore_ascii_case(host)),
            };
            if same_origin {
                keys.push(
                    self.policy.key.build(&UriHead {
                        host: uri
                            .authority()
                            .map(|a| a.as_str())
                            .or(invalidation.host.as_deref()),
                        uri: &uri,
                    }),
                );
            }
        }
        for path in &invalidation.paths {
            if let Ok(uri) = path.parse::<http::Uri>() {
                keys.push(self.policy.key.build(&UriHead {
                    host: invalidation.host.as_deref(),
                    uri: &uri,
                }));
            }
        }
        self.record(Event::Invalidation);
        // At once, before any await: a response to this URI still being stored must not land.
        for key in &keys {
            self.cache.purging(Purge::Uri(*key.digest()));
        }
        for tag in &invalidation.tags {
            self.cache.purging(Purge::Tag(Arc::clone(tag)));
        }
        let route = self.clone();
        let tags = invalidation.tags;
        Invalidating::spawn(async move {
            for key in keys {
                route.invalidate_uri(&key).await;
            }
            for tag in tags {
                match route.store().remove_tag(&tag).await {
                    Ok(removed) => tracing::debug!(%tag, removed, decision = "invalidate-tag"),
                    Err(error) => {
                        route.record(Event::StoreError);
                        tracing::warn!(%tag, %error, "cache invalidation by tag failed");
                    }
                }
            }
        })
    }

    /// Writes entries to the store in the background; `cleanup` (the flight) is released once
    /// they are written, so requests arriving meanwhile are answered from the flight.
    fn spawn_puts(
        &self,
        entries: Vec<Arc<Entry>>,
        cleanup: Option<FlightCleanup>,
        lock: Option<StoreLock>,
        epoch: PurgeEpoch,
    ) {
        let route = self.clone();
        run_now_or_spawn(async move {
            // Checked before writing and again after: an invalidation recorded in between
            // removes what was written.
            let overtaken = |cleanup: &Option<FlightCleanup>| {
                cleanup.as_ref().is_some_and(FlightCleanup::invalidated)
                    || entries.iter().any(|entry| route.cache.overtaken(epoch, entry))
            };
            let mut cleanup = cleanup;
            let mut written = 0;
            for entry in &entries {
                // An invalidation that came in after this response was produced wins.
                if overtaken(&cleanup) {
                    break;
                }
                written += 1;
                if let Err(error) = route.store().put(Arc::clone(entry)).await {
                    route.record(Event::StoreError);
                    tracing::warn!(%error, "cache store write failed; the response was served but not stored");
                }
            }
            if overtaken(&cleanup) {
                // First, before any await: the flight stops answering later requests with it.
                drop(cleanup.take());
                tracing::debug!(
                    decision = "not-stored",
                    reason = "invalidated",
                    "an invalidation overtook this response"
                );
                for entry in &entries[..written] {
                    let _ = route.store().remove(&entry.key).await;
                }
            }
            // A variant evicted (by newer variants) while its write was under way must not stay.
            if let Some(primary) = entries.first().filter(|_| entries.len() > 1) {
                for variant in &entries[1..] {
                    if !route
                        .cache
                        .inner
                        .variants
                        .contains(primary.key.digest(), variant.key.digest())
                    {
                        let _ = route.store().remove(&variant.key).await;
                    }
                }
            }
            drop(cleanup);
            // Other instances waiting on this key are woken once it is stored.
            if let Some(lock) = lock {
                if let Err(error) = lock.release().await {
                    route.record(Event::StoreError);
                    tracing::warn!(%error, "cache store lock release failed; it expires by itself");
                }
            }
            StatsRegistry::publish_usage(route.store().usage());
        });
    }
}

/// Runs a store write right away when it can finish without waiting (the memory store almost
/// always can), and spawns the rest: a miss then costs no task.
fn run_now_or_spawn<F: std::future::Future<Output = ()> + Send + 'static>(task: F) {
    if let Some(task) = crate::adapter::poll_once(task) {
        spawn_or_warn(task);
    }
}

fn spawn_or_warn<F: std::future::Future<Output = ()> + Send + 'static>(task: F) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::warn!("no Tokio runtime to run a cache store write on; skipped"),
    }
}

/// What to do with a forwarded response, from [`Forward::response`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Recording {
    /// The `Cache-Status` member to append to the response.
    pub cache_status: CacheStatus,
    /// Present when the response may be stored: feed it the body as it streams.
    pub collector: Option<Collector>,
    /// Present when the cache answers instead of the handler's response (a 304 that
    /// revalidated the stored response, or a stale response within `stale-if-error`): write
    /// this hit, and drop the handler's response.
    pub replacement: Option<Hit>,
    /// Response headers to remove before the client sees the response (the tag headers
    /// handlers use to tag what is stored, unless the policy exposes them).
    pub hide: Vec<HeaderName>,
    /// Present when the exchange removes stored responses — a successful unsafe request's
    /// invalidation, or a stored response its origin contradicted or made unstorable — with or
    /// without a [`replacement`](Self::replacement): await it before sending the response, so
    /// that the client's next request cannot see what it removed. It runs whether or not it
    /// is awaited.
    pub invalidation: Option<Invalidating>,
}

/// The completion of an invalidation started by a successful unsafe request; see
/// [`Recording::invalidation`].
#[derive(Debug)]
#[must_use = "await it before sending the response"]
pub struct Invalidating(tokio::sync::oneshot::Receiver<()>);

impl Invalidating {
    /// Runs `removal` on a task of its own, so that it completes even if the adapter does not
    /// wait for it; the returned future ends with it.
    fn spawn(removal: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (done, completion) = tokio::sync::oneshot::channel();
        spawn_or_warn(async move {
            removal.await;
            let _ = done.send(());
        });
        Self(completion)
    }
}

impl std::future::Future for Invalidating {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // A dropped sender (no runtime, a panic) ends the wait too.
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Recording {
    fn forwarded(cache_status: CacheStatus, collector: Option<Collector>) -> Self {
        Self {
            cache_status,
            collector,
            replacement: None,
            hide: Vec::new(),
            invalidation: None,
        }
    }

    fn hiding(mut self, policy: &Policy, headers: &HeaderMap) -> Self {
        if !policy.expose_tag_headers {
            self.hide = policy
                .tag_headers
                .iter()
                .filter(|name| headers.contains_key(*name))
                .cloned()
                .collect();
        }
        self
    }
}

/// Collects a response body as it streams to the client, and stores it when it ends.
///
/// Call [`push`](Self::push) with each data chunk and [`finish`](Self::finish) at the end of the
/// body. If the body passes the policy's limit, `push` returns `false`: drop the collector and
/// keep streaming. A collector dropped before `finish` (error, trailers, client gone) stores
/// nothing and releases any requests waiting on it.
pub struct Collector {
    route: Route,
    guard: Option<LeaderGuard>,
    store_lock: Option<StoreLock>,
    /// The entry to store, without its body.
    template: Entry,
    chunks: Vec<Bytes>,
    len: usize,
    limit: usize,
    started: Instant,
    /// Stored, or known not to be: nothing left to do on drop.
    settled: bool,
    /// The cache's purge epoch when the request began.
    epoch: PurgeEpoch,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("key", &self.template.key)
            .field("len", &self.len)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Adds a chunk; `false` once the body is over the limit (the collector then stores nothing
    /// and should be dropped).
    pub fn push(&mut self, chunk: &Bytes) -> bool {
        self.len += chunk.len();
        if self.len > self.limit {
            self.route.record(Event::NotStored);
            tracing::debug!(
                key = %self.template.key,
                limit = self.limit,
                decision = "not-stored",
                reason = NotStored::TooLarge.as_str()
            );
            self.chunks = Vec::new();
            self.settled = true;
            if let Some(guard) = self.guard.take() {
                guard.uncacheable();
            }
            return false;
        }
        if !chunk.is_empty() {
            self.chunks.push(chunk.clone());
        }
        true
    }

    /// The body ended: stores the response and answers the requests waiting on it.
    pub fn finish(mut self) {
        self.settled = true;
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            // Copied: a chunk from a server's parser shares its whole read buffer, which a
            // stored entry would otherwise keep alive beyond what its weight counts.
            1 => Bytes::copy_from_slice(&self.chunks[0]),
            _ => {
                let mut body = BytesMut::with_capacity(self.len);
                for chunk in &self.chunks {
                    body.extend_from_slice(chunk);
                }
                body.freeze()
            }
        };
        let route = self.route.clone();
        let policy = &route.policy;
        let mut entry = std::mem::replace(&mut self.template, empty_entry());
        entry.body = body;
        let mut entries = Vec::with_capacity(2);
        let served = if entry.vary.is_empty() {
            Arc::new(entry)
        } else {
            // Variants of one URI live side by side under their own keys; the primary key holds
            // the latest one, whose `Vary` names lead lookups to the others. The oldest beyond
            // the policy's cap goes.
            // The key moves into whichever entry keeps it; a copy of a long URL's key is never
            // made only to be replaced.
            let primary = std::mem::replace(&mut entry.key, CacheKey::placeholder());
            let variant = primary.variant(entry.vary.iter().map(|(name, value)| (name, value.as_ref())));
            entry.tags.push(Arc::from(variants_tag(&primary)));
            let evicted =
                route
                    .cache
                    .inner
                    .variants
                    .record(*primary.digest(), *variant.digest(), policy.max_variants);
            if !evicted.is_empty() {
                let route = route.clone();
                spawn_or_warn(async move {
                    for digest in evicted {
                        let _ = route.store().remove(&CacheKey::from_digest(digest)).await;
                    }
                });
            }
            let mut variant_entry = entry.clone();
            variant_entry.key = variant;
            entry.key = primary;
            entries.push(Arc::new(entry));
            Arc::new(variant_entry)
        };
        entries.push(Arc::clone(&served));
        route.record(Event::Store);
        tracing::debug!(
            key = %served.key,
            route = %policy.name,
            bytes = served.body.len(),
            handler_ms = self.started.elapsed().as_millis() as u64,
            decision = "store",
        );
        let cleanup = self.guard.take().map(|guard| guard.complete(Arc::clone(&served)));
        route.spawn_puts(entries, cleanup, self.store_lock.take(), self.epoch);
    }
}

fn empty_entry() -> Entry {
    Entry::new(
        CacheKey::placeholder(),
        StatusCode::OK,
        Bytes::new(),
        Duration::ZERO,
    )
}

impl Drop for Collector {
    fn drop(&mut self) {
        if !self.settled {
            self.route.record(Event::NotStored);
            tracing::debug!(
                key = %self.template.key,
                decision = "not-stored",
                reason = NotStored::Incomplete.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u32) -> KeyDigest {
        *CacheKey::from_parts([n.to_string()]).digest()
    }

    #[tokio::test]
    async fn a_varied_credential_is_kept_as_a_digest_and_still_selects_its_variant() {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(60)).cookies(crate::Credentials::Ignore));
        let request = |cookie: &str| {
            http::Request::get("http://h/me")
                .header(header::COOKIE, cookie)
                .body(())
                .unwrap()
        };
        let Lookup::Forward(forward) = route.lookup(&request("sid=SECRET-A")).await else {
            panic!("cold");
        };
        let vary = HeaderMap::from_iter([(header::VARY, HeaderValue::from_static("cookie"))]);
        let mut collector = forward.response(StatusCode::OK, &vary).collector.unwrap();
        collector.push(&Bytes::from_static(b"alice"));
        collector.finish();
        tokio::task::yield_now().await;
        let Lookup::Hit(hit) = route.lookup(&request("sid=SECRET-A")).await else {
            panic!("the same cookie selects the stored variant");
        };
        for (name, value) in &hit.entry().vary {
            let value = value.as_deref().unwrap_or_default();
            assert!(!value.windows(6).any(|w| w == b"SECRET"), "{name}: {value:?}");
            assert!(value.starts_with(b"#"), "a digest");
        }
        assert!(!format!("{:?}", hit.entry()).contains("SECRET"));
        assert!(
            matches!(route.lookup(&request("sid=SECRET-B")).await, Lookup::Forward(_)),
            "another cookie is another variant"
        );
    }

    #[test]
    fn the_variant_index_has_a_bound_of_its_own() {
        let index = VariantIndex::for_capacity(Some(8 * 1024 * 1024));
        assert_eq!(index.max_uris, 2048, "one URI per 4 KiB of store");
        for uri in 0..10_000 {
            assert!(index.record(digest(uri), digest(uri + 1_000_000), 16).is_empty());
        }
        assert_eq!(index.len(), 2048, "the oldest URIs are forgotten first");
        assert!(!index.contains(&digest(0), &digest(1_000_000)));
        assert!(index.contains(&digest(9_999), &digest(1_009_999)));
        // The cap per URI still holds for the URIs it follows.
        let uri = digest(9_999);
        let evicted: Vec<KeyDigest> = (0..3).flat_map(|v| index.record(uri, digest(v), 2)).collect();
        assert_eq!(evicted, [digest(1_009_999), digest(0)]);
        index.forget(&uri);
        assert!(!index.contains(&uri, &digest(2)));
        assert_eq!(VariantIndex::for_capacity(None).max_uris, MAX_INDEXED_URIS);
        assert_eq!(VariantIndex::for_capacity(Some(1)).max_uris, MIN_INDEXED_URIS);
    }
}
