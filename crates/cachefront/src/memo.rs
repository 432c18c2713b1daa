//! Memoized values: one expensive value (a database query, a call to another service) cached by
//! key in the same store as responses, and computed once however many callers ask together.
//!
//! Values are encoded with [postcard] (compact, serde-based) and stored as [`Entry`] values:
//! status `200`, no headers, the encoded value as body, the call's TTL and stale windows, under
//! a key hashed from the namespace and the memo key like every other [`CacheKey`].

use std::{
    any::Any,
    collections::BTreeMap,
    fmt,
    future::{Future, IntoFuture},
    marker::PhantomData,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::StatusCode;
use serde::{Serialize, de::DeserializeOwned, ser};

use crate::{
    cache::{Cache, DEFAULT_COALESCE_WAIT},
    coalesce::{Coalescer, FlightState, Join, LeaderGuard},
    entry::Entry,
    error::Error,
    key::CacheKey,
    store::StoreLock,
};

/// How many times a caller whose leader went away looks again before computing by itself.
const MAX_FLIGHT_ATTEMPTS: usize = 3;

/// The status of a stored value; every other memo entry carries an error.
const VALUE: StatusCode = StatusCode::OK;
/// The status of an entry carrying a computation's error (cached, or handed to waiters).
const ERROR: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;

/// The per-cache memo state: flights in progress, counters per namespace, and the errors a
/// failed computation hands to the callers waiting on it.
#[derive(Default)]
pub(crate) struct MemoRegistry {
    pub(crate) coalescer: Coalescer,
    namespaces: Mutex<BTreeMap<Arc<str>, Arc<MemoCounters>>>,
    /// Errors of failed computations, each tied to the entry that announces it to waiters. An
    /// error lives as long as that entry; dead ones are swept when the next one is added.
    handoffs: Mutex<Vec<(Weak<Entry>, SharedError)>>,
}

/// A computation's error, shared by every caller that waited on it (an `Arc<E>` underneath).
type SharedError = Arc<dyn Any + Send + Sync>;

impl fmt::Debug for MemoRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoRegistry")
            .field("coalescer", &self.coalescer)
            .finish_non_exhaustive()
    }
}

impl MemoRegistry {
    fn counters(&self, namespace: &Arc<str>) -> Arc<MemoCounters> {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(namespaces.entry(Arc::clone(namespace)).or_default())
    }

    fn hand_off(&self, entry: &Arc<Entry>, error: SharedError) {
        let mut handoffs = self.handoffs.lock().unwrap_or_else(PoisonError::into_inner);
        handoffs.retain(|(entry, _)| entry.strong_count() > 0);
        handoffs.push((Arc::downgrade(entry), error));
    }

    fn handed_off(&self, entry: &Arc<Entry>) -> Option<SharedError> {
        let handoffs = self.handoffs.lock().unwrap_or_else(PoisonError::into_inner);
        // While `entry` is alive its address cannot belong to another entry, and a weak
        // reference keeps the address of a dropped entry from being reused.
        handoffs
            .iter()
            .find(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(entry)))
            .map(|(_, error)| Arc::clone(error))
    }
}

impl Cache {
    /// A handle on the memoized values of one namespace.
    ///
    /// A namespace groups the values of one kind (`"prices"`, `"user-profile"`): it is part of
    /// every key, of the stats ([`Cache::memo_stats`]) and can be purged at once
    /// ([`Memo::clear`]). Use a fixed name, never one built from request data, to keep the
    /// number of namespaces bounded. The handle is cheap to create and to clone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::Cache;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let prices = cache.memo("prices");
    /// let list: Vec<u32> = prices
    ///     .get_or_compute(42, || async { Ok::<_, std::io::Error>(vec![999, 1299]) })
    ///     .ttl(Duration::from_secs(30))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(list, [999, 1299]);
    /// assert_eq!(cache.memo_stats()["prices"].misses, 1);
    /// # }
    /// ```
    pub fn memo(&self, namespace: impl Into<Arc<str>>) -> Memo {
        let namespace = namespace.into();
        let counters = self.memo_registry().counters(&namespace);
        Memo {
            cache: self.clone(),
            tag: Arc::from(format!("memo:{namespace}")),
            namespace,
            counters,
            ttl: Memo::DEFAULT_TTL,
            coalesce_wait: DEFAULT_COALESCE_WAIT,
        }
    }

    /// The memo counters of every namespace used so far, by name.
    pub fn memo_stats(&self) -> BTreeMap<String, MemoStats> {
        self.memo_registry()
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, counters)| (name.to_string(), counters.snapshot()))
            .collect()
    }
}

/// Memoized values of one namespace, in a [`Cache`]: from [`Cache::memo`].
///
/// [`get_or_compute`](Self::get_or_compute) returns the stored value for a key, or runs the
/// computation, stores its value and returns it:
///
/// - **Typed.** Values are any `T: Serialize + DeserializeOwned`, encoded with [postcard]. A
///   stored value that no longer decodes as `T` (the type changed between deployments, the
///   store holds corrupt data) is a miss: it is logged, counted in
///   [`MemoStats::decode_errors`] and replaced, never a panic nor an error. Types that postcard
///   cannot decode (those that need `deserialize_any`: `serde_json::Value`, `#[serde(flatten)]`,
///   untagged enums) are detected when first stored, logged and never stored. Change the
///   namespace (`"prices.v2"`) when a type changes in a way that still decodes but means
///   something else.
/// - **Coalesced.** Concurrent callers of one key share one computation; the others wait for
///   its result (up to [`coalesce_wait`](Self::coalesce_wait), then compute by themselves). If
///   the computing caller is cancelled, one of the waiters computes instead. On a store shared
///   by several instances (Redis), the store's lock ([`Store::try_lock`](crate::store::Store::try_lock))
///   extends this across instances: one computes, the others wait for its value.
/// - **Errors are shared, not cached.** A failed computation's error is returned to every
///   caller that waited on it, as an `Arc<E>`, and nothing is stored: the next caller computes
///   again. Ask for negative caching with [`GetOrCompute::cache_errors`].
/// - **Stale values on request**: [`stale_while_revalidate`](GetOrCompute::stale_while_revalidate)
///   and [`stale_if_error`](GetOrCompute::stale_if_error).
/// - **Fail open.** A store error is logged and counted; the value is computed as if absent.
///
/// Values are removed like responses, through the cache's
/// [`Invalidator`](crate::Invalidator): by key (`invalidator.key(&memo.key(&k)?)`, or
/// [`invalidate`](Self::invalidate) here), by tag (`invalidator.tag("product:42")`); or for the
/// whole namespace ([`clear`](Self::clear)).
///
/// ```
/// use std::time::Duration;
/// use cachefront::Cache;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Price { sku: String, cents: u64 }
///
/// async fn load_prices(product: u64) -> Result<Vec<Price>, std::io::Error> {
///     Ok(vec![Price { sku: format!("{product}-a"), cents: 999 }])
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = Cache::new();
/// let prices = cache.memo("prices");
/// let first: Vec<Price> = prices
///     .get_or_compute(42, || load_prices(42))
///     .ttl(Duration::from_secs(30))
///     .tags(["product:42"])
///     .await?;
/// // Stored: the second call does not compute.
/// let second: Vec<Price> = prices
///     .get_or_compute(42, || async { unreachable!("stored") })
///     .await
///     .map_err(|e: std::sync::Arc<std::io::Error>| e.to_string())?;
/// assert_eq!(first, second);
///
/// // The price changed: drop every value tagged with the product.
/// cache.invalidate_tag("product:42").await?;
/// assert_eq!(prices.stats().hits, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Memo {
    cache: Cache,
    namespace: Arc<str>,
    /// `memo:{namespace}`, carried by every entry of the namespace.
    tag: Arc<str>,
    counters: Arc<MemoCounters>,
    ttl: Duration,
    coalesce_wait: Duration,
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .field("coalesce_wait", &self.coalesce_wait)
            .finish_non_exhaustive()
    }
}

impl Memo {
    /// How long a memoized value stays fresh when neither [`Memo::default_ttl`] nor
    /// [`GetOrCompute::ttl`] says otherwise: 60 seconds.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

    /// The namespace the framework extractors (`cachefront-axum`'s and `cachefront-actix`'s `Memo`)
    /// use when they are given a [`Cache`] rather than a `Memo`: `"default"`, the same for both
    /// frameworks, so that they share memoized values.
    pub const DEFAULT_NAMESPACE: &str = "default";
}

impl Memo {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The cache the values are stored in.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// How long values stay fresh when a call does not set [`GetOrCompute::ttl`] (default
    /// [`Memo::DEFAULT_TTL`], 60 s).
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a caller waits for a concurrent computation of the same key before computing
    /// by itself (default 10 s, as for responses).
    #[must_use]
    pub fn coalesce_wait(mut self, wait: Duration) -> Self {
        self.coalesce_wait = wait;
        self
    }

    /// The cache key of a memo key in this namespace, for [`Invalidator::key`](crate::Invalidator::key) or logs.
    ///
    /// Memo keys are any `Serialize` value: a number, a string, a tuple of extracted path
    /// parameters, a query struct. They are written in a canonical readable form (map entries
    /// sorted, so a `HashMap` gives the same key in any order) and hashed with the namespace
    /// like response keys. Use one key type per namespace.
    ///
    /// ```
    /// use cachefront::Cache;
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct ListQuery { page: u32, sort: Option<String> }
    ///
    /// let memo = Cache::new().memo("products");
    /// let key = memo.key(&("list", ListQuery { page: 2, sort: None })).unwrap();
    /// assert_eq!(key.readable(), r#"memo products ("list",{page:2,sort:null})"#);
    /// assert_eq!(memo.key(&42).unwrap().readable(), "memo products 42");
    /// ```
    ///
    /// # Errors
    ///
    /// When the value's `Serialize` implementation fails.
    pub fn key<K: Serialize + ?Sized>(&self, key: &K) -> Result<CacheKey, Error> {
        let readable = readable_key(key)
            .map_err(|error| Error::config("memo key", format!("cannot be serialized: {error}")))?;
        Ok(CacheKey::from_parts(["memo", &*self.namespace, &readable]))
    }

    /// Returns the stored value for `key`, or runs `compute`, stores its value and returns it.
    ///
    /// Set options on the returned builder, then `.await` it. The result is the value, or the
    /// computation's error shared with every caller that waited on it (`Arc<E>`). See the
    /// [type docs](Self) for the rules.
    ///
    /// A key that cannot be serialized (a failing `Serialize` implementation) is logged and
    /// counted, and the value is computed without the cache.
    pub fn get_or_compute<K, F, Fut, T, E>(&self, key: K, compute: F) -> GetOrCompute<'_, F, T, E>
    where
        K: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        GetOrCompute {
            memo: self,
            key: self.key(&key),
            compute,
            options: Options {
                ttl: self.ttl,
                tags: Vec::new(),
                cache_errors: None,
                stale_while_revalidate: None,
                stale_if_error: None,
            },
            _output: PhantomData,
        }
    }

    /// Removes the value stored under `key`; returns whether there was one.
    ///
    /// # Errors
    ///
    /// When the key cannot be serialized, or the store fails.
    pub async fn invalidate<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, Error> {
        self.cache.invalidate_key(&self.key(key)?).await
    }

    /// Removes every value of this namespace; returns how many went.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.cache.invalidate_tag(&self.tag).await
    }

    /// The counters of this namespace.
    pub fn stats(&self) -> MemoStats {
        self.counters.snapshot()
    }

    fn record(&self, counter: fn(&MemoCounters) -> &AtomicU64) {
        counter(&self.counters).fetch_add(1, Ordering::Relaxed);
    }
}

/// A memo lookup being configured, from [`Memo::get_or_compute`]: set options, then `.await`
/// it.
///
/// The future is `Send` and needs a Tokio runtime (for timeouts, and to refresh values in the
/// background with [`stale_while_revalidate`](Self::stale_while_revalidate)).
#[must_use = "a memo lookup does nothing until it is awaited"]
pub struct GetOrCompute<'a, F, T, E> {
    memo: &'a Memo,
    key: Result<CacheKey, Error>,
    compute: F,
    options: Options<F, E>,
    _output: PhantomData<fn() -> T>,
}

impl<F, T, E> fmt::Debug for GetOrCompute<'_, F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetOrCompute")
            .field("namespace", &self.memo.namespace)
            .field("key", &self.key.as_ref().ok())
            .field("ttl", &self.options.ttl)
            .field("tags", &self.options.tags)
            .field("cache_errors", &self.options.cache_errors.as_ref().map(|c| c.ttl))
            .field(
                "stale_while_revalidate",
                &self.options.stale_while_revalidate.as_ref().map(|s| s.0),
            )
            .field("stale_if_error", &self.options.stale_if_error)
            .finish_non_exhaustive()
    }
}

struct Options<F, E> {
    ttl: Duration,
    tags: Vec<Arc<str>>,
    cache_errors: Option<ErrorCodec<E>>,
    stale_while_revalidate: Option<(Duration, Spawner<F>)>,
    stale_if_error: Option<Duration>,
}

/// Negative caching: how long, and how to encode the error type (captured where `E` is known
/// to be serde-able, so that the lookup itself does not require it).
struct ErrorCodec<E> {
    ttl: Duration,
    encode: fn(&E) -> Result<Vec<u8>, postcard::Error>,
    decode: fn(&[u8]) -> Result<E, postcard::Error>,
}

/// Starts a background refresh (captured where the computation is known to be `'static`).
type Spawner<F> = fn(F, Target, LeaderGuard);

impl<'a, F, Fut, T, E> GetOrCompute<'a, F, T, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    /// How long the value stays fresh (default: the memo's
    /// [`default_ttl`](Memo::default_ttl), 60 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = ttl;
        self
    }

    /// Adds tags to the stored value, for [`Cache::invalidate_tag`].
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Arc<str>>,
    {
        self.options.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Adds one tag to the stored value, for [`Cache::invalidate_tag`].
    pub fn tag(mut self, tag: impl Into<Arc<str>>) -> Self {
        self.options.tags.push(tag.into());
        self
    }

    /// Negative caching: stores a computation's error for `ttl`, during which callers get the
    /// stored error (counted in [`MemoStats::negative_hits`]) instead of computing again. The
    /// error type must be serde-able. Without this, errors are never stored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize, Debug)]
    /// enum LookupError { NotFound }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let memo = cachefront::Cache::new().memo("users");
    /// for _ in 0..3 {
    ///     let found = memo
    ///         .get_or_compute("nobody", || async { Err::<String, _>(LookupError::NotFound) })
    ///         .cache_errors(Duration::from_secs(5))
    ///         .await;
    ///     assert!(found.is_err());
    /// }
    /// // Computed once; the other two calls got the stored error.
    /// assert_eq!((memo.stats().misses, memo.stats().negative_hits), (1, 2));
    /// # }
    /// ```
    pub fn cache_errors(mut self, ttl: Duration) -> Self
    where
        E: Serialize + DeserializeOwned,
    {
        self.options.cache_errors = Some(ErrorCodec {
            ttl,
            encode: |error| postcard::to_stdvec(error),
            decode: decode::<E>,
        });
        self
    }

    /// Serves a stale value for up to `window` after its TTL while one background task computes
    /// a fresh one (RFC 5861's `stale-while-revalidate`, for values). Counted in
    /// [`MemoStats::stale_hits`] and [`MemoStats::refreshes`]; a failed refresh is logged and
    /// counted, and the stale value stays until its window ends.
    ///
    /// The computation then runs on its own Tokio task, so it must be `Send + 'static`: move
    /// what it needs into it.
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self
    where
        F: Send + 'static,
        Fut: Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.options.stale_while_revalidate = Some((window, spawn_refresh::<F, Fut, T, E>));
        self
    }

    /// Serves a stale value for up to `window` after its TTL when the computation fails (RFC
    /// 5861's `stale-if-error`, for values). The error is logged and counted in
    /// [`MemoStats::errors`]; callers waiting on the computation get the stale value too.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.options.stale_if_error = Some(window);
        self
    }
}

impl<'a, F, Fut, T, E> IntoFuture for GetOrCompute<'a, F, T, E>
where
    F: FnOnce() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
    T: Serialize + DeserializeOwned + Send + 'a,
    E: Send + Sync + 'static,
{
    type Output = Result<T, Arc<E>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Where a computed value goes, and how long it lives: the same for a caller and for a
/// background refresh.
struct Target {
    memo: Memo,
    /// Where the cache's invalidations stood when the call began: a value computed from data
    /// an invalidation since then replaced is returned but not stored.
    epoch: crate::purges::PurgeEpoch,
    key: CacheKey,
    ttl: Duration,
    tags: Vec<Arc<str>>,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
}

/// What leading a computation across instances gave.
enum Lead<T, E> {
    /// Compute here (holding the store's lock, if it gave one).
    Compute(LeaderGuard, Option<StoreLock>),
    /// Another instance computed it.
    Answered(Result<T, Arc<E>>),
}

/// What a stored or handed-off entry holds for this caller.
enum Read<T, E> {
    Value(T),
    Error(Arc<E>),
    Unusable,
}

impl<'a, F, Fut, T, E> GetOrCompute<'a, F, T, E>
where
    F: FnOnce() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
    T: Serialize + DeserializeOwned + Send + 'a,
    E: Send + Sync + 'static,
{
    async fn run(self) -> Result<T, Arc<E>> {
        let Self {
            memo,
            key,
            compute,
            options,
            ..
        } = self;
        let key = match key {
            Ok(key) => key,
            Err(error) => {
                memo.record(|c| &c.encode_errors);
                memo.record(|c| &c.misses);
                tracing::warn!(namespace = %memo.namespace, %error, "memo key cannot be built; computing without the cache");
                return compute().await.map_err(Arc::new);
            }
        };
        let flow = Flow {
            target: Target {
                memo: memo.clone(),
                epoch: memo.cache.purge_epoch(),
                key,
                ttl: options.ttl,
                tags: options.tags,
                stale_while_revalidate: options
                    .stale_while_revalidate
                    .as_ref()
                    .map_or(Duration::ZERO, |s| s.0),
                stale_if_error: options.stale_if_error.unwrap_or_default(),
            },
            cache_errors: options.cache_errors,
            stale_while_revalidate: options.stale_while_revalidate,
            stale_if_error: options.stale_if_error,
        };
        flow.run(compute).await
    }
}

struct Flow<F, E> {
    target: Target,
    cache_errors: Option<ErrorCodec<E>>,
    stale_while_revalidate: Option<(Duration, Spawner<F>)>,
    stale_if_error: Option<Duration>,
}

impl<F, Fut, T, E> Flow<F, E>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Serialize + DeserializeOwned + Send,
    E: Send + Sync + 'static,
{
    async fn run(self, compute: F) -> Result<T, Arc<E>> {
        let memo = &self.target.memo;
        let registry = memo.cache.memo_registry();
        let digest = *self.target.key.digest();
        let deadline = tokio::time::Instant::now() + memo.coalesce_wait;
        // A stale value to serve if the computation fails (stale-if-error).
        let mut fallback: Option<Arc<Entry>> = None;
        for _ in 0..MAX_FLIGHT_ATTEMPTS {
            match memo.cache.store().get(&self.target.key).await {
                Ok(Some(entry)) => {
                    let now = SystemTime::now();
                    let age = entry.age(now);
                    if entry.retention(now).is_zero() {
                        // Expired, though the store still had it.
                    } else if entry.is_fresh(now) {
                        match self.read(&entry, false) {
                            Read::Value(value) => {
                                memo.record(|c| &c.hits);
                                tracing::debug!(key = %self.target.key, decision = "hit");
                                return Ok(value);
                            }
                            Read::Error(error) => {
                                memo.record(|c| &c.negative_hits);
                                tracing::debug!(key = %self.target.key, decision = "negative-hit");
                                return Err(error);
                            }
                            Read::Unusable => {}
                        }
                    } else if entry.status == VALUE {
                        let stale_by = age.saturating_sub(entry.ttl);
                        let revalidate = self
                            .stale_while_revalidate
                            .filter(|(window, _)| stale_by < *window)
                            .filter(|_| tokio::runtime::Handle::try_current().is_ok());
                        if let Some((_, spawner)) = revalidate {
                            if let Read::Value(value) = self.read(&entry, false) {
                                memo.record(|c| &c.stale_hits);
                                match registry.coalescer.join(digest) {
                                    Join::Leader(guard) => {
                                        memo.record(|c| &c.refreshes);
                                        tracing::debug!(key = %self.target.key, decision = "stale", "serving a stale value while one task refreshes it");
                                        spawner(compute, self.target, guard);
                                    }
                                    // Someone is computing already.
                                    Join::Follower(_) | Join::Done(_) => {
                                        tracing::debug!(key = %self.target.key, decision = "stale", "serving a stale value while it is being refreshed");
                                    }
                                }
                                return Ok(value);
                            }
                        }
                        if self.stale_if_error.is_some_and(|window| stale_by < window) {
                            fallback = Some(entry);
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    memo.record(|c| &c.store_errors);
                    tracing::warn!(key = %self.target.key, %error, "memo store lookup failed; computing");
                }
            }
            let follower = match registry.coalescer.join(digest) {
                Join::Leader(guard) => return self.compute(compute, Some(guard), fallback).await,
                Join::Done(entry) => match self.read(&entry, true) {
                    Read::Value(value) => {
                        memo.record(|c| &c.hits);
                        return Ok(value);
                    }
                    Read::Error(error) => return Err(error),
                    Read::Unusable => return self.compute(compute, None, fallback).await,
                },
                Join::Follower(follower) => follower,
            };
            memo.record(|c| &c.coalesced_waits);
            tracing::debug!(key = %self.target.key, decision = "wait", "waiting for a concurrent computation of the same key");
            let state = tokio::time::timeout_at(deadline, follower.settled()).await;
            match state {
                Ok(FlightState::Done(entry)) => match self.read(&entry, true) {
                    Read::Value(value) => {
                        memo.record(|c| &c.hits);
                        return Ok(value);
                    }
                    Read::Error(error) => return Err(error),
                    Read::Unusable => return self.compute(compute, None, fallback).await,
                },
                // The value could not be stored: compute it here too.
                Ok(FlightState::Uncacheable) => return self.compute(compute, None, fallback).await,
                // The computing caller went away: look again, and perhaps compute.
                Ok(FlightState::Abandoned | FlightState::Pending) => continue,
                Err(_elapsed) => {
                    tracing::debug!(key = %self.target.key, "coalesced wait timed out; computing");
                    return self.compute(compute, None, fallback).await;
                }
            }
        }
        self.compute(compute, None, fallback).await
    }

    /// What `entry` holds for this caller. A stored error counts only with negative caching;
    /// one handed off by a concurrent computation (`from_flight`) always does.
    fn read(&self, entry: &Arc<Entry>, from_flight: bool) -> Read<T, E> {
        let memo = &self.target.memo;
        if entry.status == VALUE {
            return match decode::<T>(&entry.body) {
                Ok(value) => Read::Value(value),
                Err(error) => {
                    memo.record(|c| &c.decode_errors);
                    tracing::warn!(
                        key = %self.target.key,
                        value_type = std::any::type_name::<T>(),
                        %error,
                        "memoized value does not decode (type changed or corrupt data); treating it as a miss",
                    );
                    Read::Unusable
                }
            };
        }
        if entry.status != ERROR || !(from_flight || self.cache_errors.is_some()) {
            return Read::Unusable;
        }
        let registry = memo.cache.memo_registry();
        if let Some(error) = registry.handed_off(entry) {
            return match error.downcast::<E>() {
                Ok(error) => Read::Error(error),
                // A caller of the same key with another error type: not for us.
                Err(_) => Read::Unusable,
            };
        }
        match self
            .cache_errors
            .as_ref()
            .map(|codec| (codec.decode)(&entry.body))
        {
            Some(Ok(error)) => Read::Error(Arc::new(error)),
            Some(Err(error)) => {
                memo.record(|c| &c.decode_errors);
                tracing::warn!(
                    key = %self.target.key,
                    value_type = std::any::type_name::<E>(),
                    %error,
                    "memoized error does not decode (type changed or corrupt data); treating it as a miss",
                );
                Read::Unusable
            }
            None => Read::Unusable,
        }
    }

    /// Runs the computation here, leading the flight if `guard` is given, and stores what it
    /// gives.
    async fn compute(
        &self,
        compute: F,
        guard: Option<LeaderGuard>,
        fallback: Option<Arc<Entry>>,
    ) -> Result<T, Arc<E>> {
        let target = &self.target;
        let (guard, lock) = match guard {
            Some(guard) => match self.lead_across_instances(guard).await {
                Lead::Compute(guard, lock) => (Some(guard), lock),
                Lead::Answered(result) => return result,
            },
            None => (None, None),
        };
        target.memo.record(|c| &c.misses);
        tracing::debug!(key = %target.key, decision = "miss", leader = guard.is_some());
        // Dropped with this future (the caller went away) or on panic, the guard tells the
        // waiters to try again, and the store lock releases itself.
        let result = match compute().await {
            Ok(value) => {
                target.store_value(target.encode(&value), guard).await;
                Ok(value)
            }
            Err(error) => {
                target.memo.record(|c| &c.errors);
                let error = Arc::new(error);
                let stale = fallback.and_then(|entry| Some((decode::<T>(&entry.body).ok()?, entry)));
                if let Some((value, entry)) = stale {
                    target.memo.record(|c| &c.stale_hits);
                    tracing::warn!(key = %target.key, decision = "stale", "memo computation failed; serving the stale value (stale-if-error)");
                    // Waiters get the stale value too; nothing new is stored.
                    drop(guard.map(|guard| guard.complete(entry)));
                    Ok(value)
                } else {
                    tracing::debug!(key = %target.key, "memo computation failed; its error goes to every waiter");
                    self.settle_error(&error, guard).await;
                    Err(error)
                }
            }
        };
        if let Some(lock) = lock {
            if let Err(error) = lock.release().await {
                target.memo.record(|c| &c.store_errors);
                tracing::warn!(key = %target.key, %error, "memo store lock release failed; it expires by itself");
            }
        }
        result
    }

    /// The leader of this process also leads across the instances that share the store
    /// ([`Store::try_lock`](crate::store::Store::try_lock)); if another instance is computing the key,
    /// waits for its value instead. Fails open: a store error means computing here.
    async fn lead_across_instances(&self, guard: LeaderGuard) -> Lead<T, E> {
        let target = &self.target;
        let store = target.memo.cache.store();
        match store.try_lock(&target.key).await {
            Ok(Some(lock)) => return Lead::Compute(guard, Some(lock)),
            Ok(None) => {}
            Err(error) => {
                target.memo.record(|c| &c.store_errors);
                tracing::warn!(key = %target.key, %error, "memo store lock failed; computing");
                return Lead::Compute(guard, None);
            }
        }
        target.memo.record(|c| &c.coalesced_waits);
        tracing::debug!(key = %target.key, decision = "wait", "waiting for another instance's computation of the same key");
        match store.wait_for(&target.key, target.memo.coalesce_wait).await {
            // This process's waiters get the same entry.
            Ok(Some(entry)) => match self.read(&entry, false) {
                Read::Value(value) => {
                    target.memo.record(|c| &c.hits);
                    drop(guard.complete(entry));
                    Lead::Answered(Ok(value))
                }
                Read::Error(error) => {
                    target.memo.record(|c| &c.negative_hits);
                    drop(guard.complete(entry));
                    Lead::Answered(Err(error))
                }
                Read::Unusable => Lead::Compute(guard, None),
            },
            // Released without a value, or the wait is over: compute here.
            Ok(None) => Lead::Compute(guard, None),
            Err(error) => {
                target.memo.record(|c| &c.store_errors);
                tracing::warn!(key = %target.key, %error, "waiting on another instance failed; computing");
                Lead::Compute(guard, None)
            }
        }
    }

    /// Hands the error to the waiters, and stores it if negative caching was asked for.
    async fn settle_error(&self, error: &Arc<E>, guard: Option<LeaderGuard>) {
        let target = &self.target;
        let negative = self.cache_errors.as_ref().and_then(|codec| match (codec.encode)(error) {
            Ok(body) => Some(target.entry(ERROR, body, codec.ttl, false)),
            Err(error) => {
                target.memo.record(|c| &c.encode_errors);
                tracing::warn!(key = %target.key, %error, value_type = std::any::type_name::<E>(), "memo error cannot be encoded; not caching it");
                None
            }
        });
        let Some(guard) = guard else {
            if let Some(entry) = negative {
                target.put(entry).await;
            }
            return;
        };
        let stored = negative.is_some();
        // An entry that is never stored: it only carries the error to the waiters.
        let entry = negative.unwrap_or_else(|| target.entry(ERROR, Vec::new(), Duration::ZERO, false));
        let registry = target.memo.cache.memo_registry();
        registry.hand_off(&entry, Arc::clone(error) as SharedError);
        let cleanup = guard.complete(Arc::clone(&entry));
        if stored {
            target.put(entry).await;
        }
        // Unregisters the flight: the next caller computes (or finds the stored error).
        drop(cleanup);
    }
}

impl Target {
    /// A memo entry; only values (`stale`) keep the stale windows.
    fn entry(&self, status: StatusCode, body: Vec<u8>, ttl: Duration, stale: bool) -> Arc<Entry> {
        let mut tags = Vec::with_capacity(self.tags.len() + 1);
        tags.push(Arc::clone(&self.memo.tag));
        tags.extend(self.tags.iter().cloned());
        let mut entry = Entry::new(self.key.clone(), status, Bytes::from(body), ttl);
        if stale {
            entry.stale_while_revalidate = self.stale_while_revalidate;
            entry.stale_if_error = self.stale_if_error;
        }
        entry.tags = tags;
        Arc::new(entry)
    }

    /// Encodes a value, or logs and counts why it cannot be.
    fn encode<T: Serialize + DeserializeOwned>(&self, value: &T) -> Option<Vec<u8>> {
        let body = postcard::to_stdvec(value).and_then(|body| {
            // Catch types postcard encodes but cannot decode (`deserialize_any`) here, once,
            // rather than as a decode failure on every read.
            decode::<T>(&body).map(|_| body)
        });
        match body {
            Ok(body) => Some(body),
            Err(error) => {
                self.memo.record(|c| &c.encode_errors);
                tracing::warn!(
                    key = %self.key,
                    value_type = std::any::type_name::<T>(),
                    %error,
                    "memo value cannot be encoded and decoded with postcard; not storing it",
                );
                None
            }
        }
    }

    /// Stores an encoded value, answering the waiters of `guard` with it (or, if the value
    /// could not be encoded, telling them to compute by themselves).
    async fn store_value(&self, body: Option<Vec<u8>>, guard: Option<LeaderGuard>) {
        match body {
            Some(body) => {
                let entry = self.entry(VALUE, body, self.ttl, true);
                // The flight stays registered, answering late callers, until the write is done.
                let cleanup = guard.map(|guard| guard.complete(Arc::clone(&entry)));
                self.put(entry).await;
                drop(cleanup);
            }
            None => {
                if let Some(guard) = guard {
                    guard.uncacheable();
                }
            }
        }
    }

    async fn put(&self, entry: Arc<Entry>) {
        let cache = &self.memo.cache;
        let _pending = cache.pending().start();
        if cache.overtaken(self.epoch, &entry) {
            tracing::debug!(key = %self.key, decision = "not-stored", reason = "invalidated", "an invalidation overtook this memo value");
            return;
        }
        match cache.store().put(Arc::clone(&entry)).await {
            // An invalidation recorded during the write removes what it wrote.
            Ok(()) if cache.overtaken(self.epoch, &entry) => {
                let _ = cache.store().remove(&entry.key).await;
            }
            Ok(()) => self.memo.record(|c| &c.stores),
            Err(error) => {
                self.memo.record(|c| &c.store_errors);
                tracing::warn!(key = %self.key, %error, "memo store write failed; the value was returned but not stored");
            }
        }
    }
}

fn spawn_refresh<F, Fut, T, E>(compute: F, target: Target, guard: LeaderGuard)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    E: Send + Sync + 'static,
{
    // The caller checked that a runtime is there.
    tokio::spawn(target.memo.cache.pending().start().run(async move {
        match compute().await {
            Ok(value) => {
                let body = target.encode(&value);
                target.store_value(body, Some(guard)).await;
            }
            Err(_) => {
                target.memo.record(|c| &c.errors);
                tracing::warn!(key = %target.key, "background refresh of a memoized value failed; the stale value stays until its window ends");
                // Dropping the guard sends any waiters to compute for themselves.
                drop(guard);
            }
        }
    }));
}

/// Decodes a whole body: trailing bytes mean the stored value was of another shape.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes::<T>(body)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

// ---------------------------------------------------------------------------------------------
// Stats

#[derive(Debug, Default)]
pub(crate) struct MemoCounters {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    refreshes: AtomicU64,
    coalesced_waits: AtomicU64,
    stores: AtomicU64,
    errors: AtomicU64,
    decode_errors: AtomicU64,
    encode_errors: AtomicU64,
    store_errors: AtomicU64,
}

impl MemoCounters {
    fn snapshot(&self) -> MemoStats {
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

/// The counters of one memo namespace: from [`Memo::stats`] or [`Cache::memo_stats`].
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

// ---------------------------------------------------------------------------------------------
// Keys

/// The canonical readable form of a memo key: compact, unambiguous for a given key type, and
/// the same in every process (map entries are sorted).
///
/// Strings are quoted (`"` and `\` escaped), numbers and booleans written as is, sequences in
/// `[..]`, tuples in `(..)`, structs and maps in `{name:value,..}`, enum variants by name,
/// `None` as `null` (and `Some` of an option with a leading `?`, so that `Some(None)` differs
/// from `None`), bytes as `0x..` hex.
fn readable_key<K: Serialize + ?Sized>(key: &K) -> Result<String, KeyError> {
    let mut out = String::new();
    key.serialize(&mut KeyWriter::new(&mut out))?;
    Ok(out)
}

#[derive(Debug)]
struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Self(message.to_string())
    }
}

struct KeyWriter<'o> {
    out: &'o mut String,
    /// The value being written is the content of a `Some`.
    in_some: bool,
}

impl<'o> KeyWriter<'o> {
    fn new(out: &'o mut String) -> Self {
        Self { out, in_some: false }
    }

    /// Starts a value that is not an option.
    fn plain(&mut self) -> &mut String {
        self.in_some = false;
        self.out
    }

    fn display(&mut self, value: impl fmt::Display) {
        use fmt::Write as _;
        let _ = write!(self.plain(), "{value}");
    }

    fn quoted(&mut self, quote: char, text: &str) {
        let out = self.plain();
        out.push(quote);
        for c in text.chars() {
            if c == quote || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(quote);
    }

    fn open(&mut self, prefix: &str, open: char, close: char) -> Compound<'_, 'o> {
        let out = self.plain();
        out.push_str(prefix);
        out.push(open);
        Compound {
            writer: self,
            first: true,
            close,
        }
    }
}

struct Compound<'w, 'o> {
    writer: &'w mut KeyWriter<'o>,
    first: bool,
    close: char,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, name: Option<&str>, value: &T) -> Result<(), KeyError> {
        if !std::mem::take(&mut self.first) {
            self.writer.out.push(',');
        }
        if let Some(name) = name {
            self.writer.out.push_str(name);
            self.writer.out.push(':');
        }
        value.serialize(&mut *self.writer)
    }

    fn close(self) -> Result<(), KeyError> {
        self.writer.out.push(self.close);
        Ok(())
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = KeyError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(None, value)
            }

            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    };
    ($trait:ident) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = KeyError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), KeyError> {
                self.element(Some(name), value)
            }

            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct);
compound!(SerializeStructVariant);

/// A map's entries, each written on its own and sorted at the end.
struct MapWriter<'w, 'o> {
    writer: &'w mut KeyWriter<'o>,
    entries: Vec<String>,
}

impl ser::SerializeMap for MapWriter<'_, '_> {
    type Ok = ();
    type Error = KeyError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        let mut entry = readable_key(key)?;
        entry.push(':');
        self.entries.push(entry);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let entry = self
            .entries
            .last_mut()
            .ok_or_else(|| <KeyError as ser::Error>::custom("map value without a key"))?;
        value.serialize(&mut KeyWriter::new(entry))
    }

    fn end(mut self) -> Result<(), KeyError> {
        self.entries.sort_unstable();
        let out = &mut *self.writer.out;
        out.push('{');
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(entry);
        }
        out.push('}');
        Ok(())
    }
}

impl<'w, 'o> ser::Serializer for &'w mut KeyWriter<'o> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Compound<'w, 'o>;
    type SerializeTuple = Compound<'w, 'o>;
    type SerializeTupleStruct = Compound<'w, 'o>;
    type SerializeTupleVariant = Compound<'w, 'o>;
    type SerializeMap = MapWriter<'w, 'o>;
    type SerializeStruct = Compound<'w, 'o>;
    type SerializeStructVariant = Compound<'w, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        // Display is the shortest form that reads back as the same number.
        self.display(v);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.quoted('\'', v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.quoted('"', v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        use fmt::Write as _;
        let out = self.plain();
        out.push_str("0x");
        for byte in v {
            let _ = write!(out, "{byte:02x}");
        }
        Ok(())
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        if std::mem::take(&mut self.in_some) {
            self.out.push('?');
        }
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        if std::mem::take(&mut self.in_some) {
            self.out.push('?');
        }
        self.in_some = true;
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        self.plain().push_str("()");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.plain().push_str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        let out = self.plain();
        out.push_str(variant);
        out.push('(');
        value.serialize(&mut *self)?;
        self.out.push(')');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, KeyError> {
        Ok(self.open("", '[', ']'))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, KeyError> {
        Ok(self.open("", '(', ')'))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, KeyError> {
        Ok(self.open("", '(', ')'))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, KeyError> {
        Ok(self.open(variant, '(', ')'))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, KeyError> {
        self.in_some = false;
        Ok(MapWriter {
            writer: self,
            entries: Vec::new(),
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, KeyError> {
        Ok(self.open("", '{', '}'))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, KeyError> {
        Ok(self.open(variant, '{', '}'))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use serde::Deserialize;
    use tokio::sync::Barrier;

    use super::*;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Price {
        sku: String,
        cents: u64,
        tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Failed(String);

    fn price(n: u64) -> Price {
        Price {
            sku: format!("sku-{n}"),
            cents: n * 100,
            tags: vec!["a".to_owned()],
        }
    }

    /// A computation that counts its runs and returns `price(run number)`.
    fn counted(calls: &Arc<AtomicUsize>) -> impl Future<Output = Result<Price, Failed>> + Send + 'static {
        let calls = Arc::clone(calls);
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(price(n as u64))
        }
    }

    #[tokio::test]
    async fn typed_round_trip_then_hit() {
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        let first = memo.get_or_compute(42, || counted(&calls)).await.unwrap();
        let second = memo.get_or_compute(42, || counted(&calls)).await.unwrap();
        assert_eq!(first, price(1));
        assert_eq!(second, first);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let stats = memo.stats();
        assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
        assert_eq!(cache.memo_stats()["prices"], stats);
        // Another key, another namespace: other values.
        memo.get_or_compute(43, || counted(&calls)).await.unwrap();
        cache
            .memo("other")
            .get_or_compute(42, || counted(&calls))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // The entry is an ordinary one: status 200, no headers, the namespace's tag.
        let entry = cache.store().get(&memo.key(&42).unwrap()).await.unwrap().unwrap();
        assert_eq!(entry.status(), StatusCode::OK);
        assert!(entry.headers().is_empty());
        assert_eq!(&*entry.tags()[0], "memo:prices");
        assert_eq!(decode::<Price>(entry.body()).unwrap(), price(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_concurrent_callers_share_one_computation() {
        const N: usize = 1000;
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let (memo, calls, barrier) = (memo.clone(), Arc::clone(&calls), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    memo.get_or_compute("cold", || async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        calls.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Failed>(price(7))
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), price(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let stats = memo.stats();
        assert_eq!((stats.misses, stats.hits), (1, N as u64 - 1));
        assert!(stats.coalesced_waits > 0, "{stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_reaches_every_waiter_and_is_not_cached() {
        const N: usize = 50;
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let (memo, calls, barrier) = (memo.clone(), Arc::clone(&calls), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    memo.get_or_compute(1, || async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err::<Price, _>(Failed("database down".to_owned()))
                    })
                    .await
                })
            })
            .collect();
        let mut errors = Vec::new();
        for task in tasks {
            errors.push(task.await.unwrap().unwrap_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])),
            "one shared error"
        );
        assert_eq!(*errors[0], Failed("database down".to_owned()));
        assert_eq!(memo.stats().errors, 1);
        assert_eq!(memo.stats().stores, 0);
        // Not cached: the next call computes, and succeeds.
        let calls_after = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            memo.get_or_compute(1, || counted(&calls_after)).await.unwrap(),
            price(1)
        );
        assert_eq!(calls_after.load(Ordering::SeqCst), 1);
        // The handed-off errors are swept once nobody holds them.
        drop(errors);
        cache
            .memo_registry()
            .hand_off(&Arc::new(memo_entry(&memo, b"")), Arc::new(()) as SharedError);
        assert_eq!(cache.memo_registry().handoffs.lock().unwrap().len(), 1);
    }

    fn memo_entry(memo: &Memo, body: &'static [u8]) -> Entry {
        Entry::new(
            memo.key("x").unwrap(),
            ERROR,
            Bytes::from_static(body),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn negative_caching_keeps_errors_for_their_own_ttl() {
        let cache = Cache::new();
        let memo = cache.memo("users");
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<Price, _>(Failed("no such user".to_owned()))
            }
        };
        for _ in 0..3 {
            let error = memo
                .get_or_compute("ghost", failing)
                .ttl(Duration::from_secs(60))
                .cache_errors(Duration::from_millis(200))
                .await
                .unwrap_err();
            assert_eq!(*error, Failed("no such user".to_owned()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(memo.stats().negative_hits, 2);
        // A call that does not ask for negative caching does not get the stored error.
        let ok = memo.get_or_compute("ghost", || counted(&calls)).await.unwrap();
        assert_eq!(ok, price(2));
        memo.invalidate("ghost").await.unwrap();

        memo.get_or_compute("ghost", failing)
            .cache_errors(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The error's TTL is over: computed again.
        memo.get_or_compute("ghost", failing)
            .cache_errors(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_value_that_no_longer_decodes_is_a_counted_miss() {
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        memo.get_or_compute(5, || counted(&calls)).await.unwrap();

        // The type changed between deployments.
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct PriceV2 {
            sku: String,
            cents: u64,
            currency: String,
            tags: Vec<String>,
        }
        let v2 = PriceV2 {
            sku: "new".to_owned(),
            cents: 1,
            currency: "EUR".to_owned(),
            tags: Vec::new(),
        };
        let got = memo
            .get_or_compute(5, || async { Ok::<_, Failed>(v2) })
            .await
            .unwrap();
        assert_eq!(got.currency, "EUR");
        assert_eq!(memo.stats().decode_errors, 1);
        assert_eq!(memo.stats().misses, 2);
        // Replaced: the new type now hits.
        let again: PriceV2 = memo
            .get_or_compute(5, || async { Err::<PriceV2, _>(Failed("stored".to_owned())) })
            .await
            .unwrap();
        assert_eq!(again.currency, "EUR");
        assert_eq!(memo.stats().decode_errors, 1);

        // A shorter type that reads a prefix of the stored bytes is rejected too.
        let short: u8 = memo
            .get_or_compute(5, || async { Ok::<_, Failed>(9) })
            .await
            .unwrap();
        assert_eq!(short, 9);
        assert_eq!(memo.stats().decode_errors, 2);

        // Corrupt store data.
        let mut entry = memo_entry(&memo, &[0xff, 0xff, 0xff]);
        entry.key = memo.key(&6).unwrap();
        entry.status = VALUE;
        cache.store().put(Arc::new(entry)).await.unwrap();
        let fresh = memo.get_or_compute(6, || counted(&calls)).await.unwrap();
        assert_eq!(fresh, price(2));
        assert_eq!(memo.stats().decode_errors, 3);
    }

    #[tokio::test]
    async fn invalidation_by_key_tag_and_namespace() {
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        let get = |id: u64| {
            memo.get_or_compute(("prices", id), || counted(&calls))
                .tags([format!("product:{id}")])
        };
        get(1).await.unwrap();
        get(2).await.unwrap();
        get(3).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        assert!(memo.invalidate(&("prices", 1)).await.unwrap());
        assert!(!memo.invalidate(&("prices", 1)).await.unwrap());
        assert_eq!(cache.invalidate_tag("product:2").await.unwrap(), 1);
        get(1).await.unwrap();
        get(2).await.unwrap();
        get(3).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 5, "1 and 2 recomputed, 3 stored");

        assert!(
            cache
                .invalidate_key(&memo.key(&("prices", 3)).unwrap())
                .await
                .unwrap()
        );
        get(3).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 6);

        let other = cache.memo("other");
        other.get_or_compute(1, || counted(&calls)).await.unwrap();
        assert_eq!(memo.clear().await.unwrap(), 3);
        assert!(
            cache
                .store()
                .get(&other.key(&1).unwrap())
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let memo = Cache::new()
            .memo("prices")
            .default_ttl(Duration::from_millis(100));
        let calls = Arc::new(AtomicUsize::new(0));
        memo.get_or_compute(1, || counted(&calls)).await.unwrap();
        memo.get_or_compute(1, || counted(&calls)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            memo.get_or_compute(1, || counted(&calls)).await.unwrap(),
            price(2)
        );
    }

    #[tokio::test]
    async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
        let memo = Cache::new().memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        let get = || {
            memo.get_or_compute(1, {
                let calls = Arc::clone(&calls);
                move || async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok::<_, Failed>(price(n as u64))
                }
            })
            .ttl(Duration::from_millis(100))
            .stale_while_revalidate(Duration::from_secs(10))
        };
        assert_eq!(get().await.unwrap(), price(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Stale: answered at once with the old value, twice, while one refresh runs.
        assert_eq!(get().await.unwrap(), price(1));
        assert_eq!(get().await.unwrap(), price(1));
        memo.cache().run_pending_tasks().await;
        assert_eq!(get().await.unwrap(), price(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let stats = memo.stats();
        assert_eq!((stats.stale_hits, stats.refreshes, stats.hits), (2, 1, 1));
    }

    #[tokio::test]
    async fn stale_if_error_serves_the_stale_value_when_the_computation_fails() {
        let memo = Cache::new().memo("prices");
        let get = |result: Result<Price, Failed>| {
            memo.get_or_compute(1, move || async move { result })
                .ttl(Duration::from_millis(100))
                .stale_if_error(Duration::from_secs(10))
        };
        assert_eq!(get(Ok(price(1))).await.unwrap(), price(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(get(Err(Failed("down".to_owned()))).await.unwrap(), price(1));
        let stats = memo.stats();
        assert_eq!((stats.stale_hits, stats.errors), (1, 1));
        // Once the origin is back, the value is fresh again.
        assert_eq!(get(Ok(price(2))).await.unwrap(), price(2));
        // Without a stale value, the error goes through.
        let cold = memo
            .get_or_compute(2, || async { Err::<Price, _>(Failed("down".to_owned())) })
            .stale_if_error(Duration::from_secs(10))
            .await;
        assert!(cold.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_computation_hands_over_to_a_waiter() {
        let memo = Cache::new().memo("prices");
        let leader = {
            let memo = memo.clone();
            tokio::spawn(async move {
                memo.get_or_compute(1, || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, Failed>(price(1))
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let follower = {
            let memo = memo.clone();
            tokio::spawn(async move {
                memo.get_or_compute(1, || async { Ok::<_, Failed>(price(2)) })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        let got = tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .expect("the waiter is not left hanging")
            .unwrap()
            .unwrap();
        assert_eq!(got, price(2));
        assert_eq!(memo.stats().coalesced_waits, 1);
    }

    /// A store shared with another instance that is computing every key: its lock is taken,
    /// and waiting gives what `other` says the other instance stored.
    #[derive(Debug)]
    struct SharedWithAnotherInstance {
        inner: crate::store::MemoryStore,
        other: fn(&CacheKey) -> Result<Option<Arc<Entry>>, Error>,
        released: Arc<AtomicUsize>,
        lock_free: bool,
    }

    impl crate::store::Store for SharedWithAnotherInstance {
        fn get<'a>(
            &'a self,
            key: &'a CacheKey,
        ) -> crate::store::BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
            self.inner.get(key)
        }
        fn put(&self, entry: Arc<Entry>) -> crate::store::BoxFuture<'_, Result<(), Error>> {
            self.inner.put(entry)
        }
        fn remove<'a>(&'a self, key: &'a CacheKey) -> crate::store::BoxFuture<'a, Result<bool, Error>> {
            self.inner.remove(key)
        }
        fn remove_tag<'a>(&'a self, tag: &'a str) -> crate::store::BoxFuture<'a, Result<u64, Error>> {
            self.inner.remove_tag(tag)
        }
        fn clear(&self) -> crate::store::BoxFuture<'_, Result<u64, Error>> {
            self.inner.clear()
        }
        fn usage(&self) -> crate::store::StoreUsage {
            self.inner.usage()
        }
        fn try_lock<'a>(
            &'a self,
            _key: &'a CacheKey,
        ) -> crate::store::BoxFuture<'a, Result<Option<StoreLock>, Error>> {
            let released = Arc::clone(&self.released);
            let lock = self.lock_free.then(|| {
                StoreLock::new(async move {
                    released.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            });
            Box::pin(async move { Ok(lock) })
        }
        fn wait_for<'a>(
            &'a self,
            key: &'a CacheKey,
            _timeout: Duration,
        ) -> crate::store::BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                (self.other)(key)
            })
        }
    }

    fn other_instance_cache(
        other: fn(&CacheKey) -> Result<Option<Arc<Entry>>, Error>,
        lock_free: bool,
    ) -> (Cache, Arc<AtomicUsize>) {
        let released = Arc::new(AtomicUsize::new(0));
        let store = SharedWithAnotherInstance {
            inner: crate::store::MemoryStore::new(),
            other,
            released: Arc::clone(&released),
            lock_free,
        };
        (Cache::builder().store(store).build().unwrap(), released)
    }

    #[tokio::test]
    async fn across_instances_one_computes_and_the_others_wait_for_its_value() {
        fn stored_by_other(key: &CacheKey) -> Result<Option<Arc<Entry>>, Error> {
            let mut entry = memo_entry(&Cache::new().memo("prices"), b"");
            entry.key = key.clone();
            entry.status = VALUE;
            entry.body = Bytes::from(postcard::to_stdvec(&price(9)).unwrap());
            Ok(Some(Arc::new(entry)))
        }
        let (cache, _) = other_instance_cache(stored_by_other, false);
        let memo = cache.memo("prices");
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            memo.get_or_compute(1, || counted(&calls)).await.unwrap(),
            price(9)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the other instance computed it");
        assert_eq!((memo.stats().hits, memo.stats().coalesced_waits), (1, 1));

        // The other instance gave up (or failed): compute here. A store error fails open too.
        let (cache, _) = other_instance_cache(|_| Ok(None), false);
        let memo = cache.memo("prices");
        assert_eq!(
            memo.get_or_compute(1, || counted(&calls)).await.unwrap(),
            price(1)
        );
        let (cache, _) = other_instance_cache(|_| Err(Error::store("down", "connection refused")), false);
        let memo = cache.memo("prices");
        assert_eq!(
            memo.get_or_compute(1, || counted(&calls)).await.unwrap(),
            price(2)
        );
        assert_eq!(memo.stats().store_errors, 1);

        // Holding the lock: computed here, and the lock released after, value or error.
        let (cache, released) = other_instance_cache(|_| Ok(None), true);
        let memo = cache.memo("prices");
        memo.get_or_compute(1, || counted(&calls)).await.unwrap();
        memo.get_or_compute(2, || async { Err::<Price, _>(Failed("no".to_owned())) })
            .await
            .unwrap_err();
        assert_eq!(released.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn values_postcard_cannot_decode_are_not_stored() {
        // Untagged enums need `deserialize_any`, which postcard does not support.
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(untagged)]
        enum Loose {
            Number(u64),
        }
        let memo = Cache::new().memo("loose");
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let calls = Arc::clone(&calls);
            let got = memo
                .get_or_compute(1, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Failed>(Loose::Number(3))
                })
                .await
                .unwrap();
            assert_eq!(got, Loose::Number(3));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!((memo.stats().encode_errors, memo.stats().stores), (2, 0));
    }

    #[tokio::test]
    async fn a_key_that_cannot_be_serialized_computes_without_the_cache() {
        struct Unkeyable;
        impl Serialize for Unkeyable {
            fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("no key for you"))
            }
        }
        let memo = Cache::new().memo("prices");
        let error = memo.key(&Unkeyable).unwrap_err();
        assert!(error.to_string().contains("no key for you"), "{error}");
        let calls = Arc::new(AtomicUsize::new(0));
        memo.get_or_compute(Unkeyable, || counted(&calls)).await.unwrap();
        memo.get_or_compute(Unkeyable, || counted(&calls)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(memo.stats().encode_errors, 2);
    }

    #[test]
    fn readable_keys_are_canonical_and_unambiguous() {
        #[derive(Serialize)]
        struct Query {
            page: Option<u32>,
            sort: Option<String>,
            filters: HashMap<String, String>,
        }
        #[derive(Serialize)]
        enum Kind {
            Plain,
            Sized(u8),
            Pair(u8, u8),
            Named { a: bool },
        }
        let key = |value: &dyn erased::Key| value.readable();

        let mut filters = HashMap::new();
        for (k, v) in [("z", "1"), ("a", "2"), ("m", "3"), ("b", "4")] {
            filters.insert(k.to_owned(), v.to_owned());
        }
        let query = Query {
            page: Some(2),
            sort: None,
            filters,
        };
        assert_eq!(
            key(&query),
            r#"{page:2,sort:null,filters:{"a":"2","b":"4","m":"3","z":"1"}}"#
        );
        assert_eq!(key(&("ab", "c")), r#"("ab","c")"#);
        assert_ne!(key(&("ab", "c")), key(&("a", "bc")));
        assert_eq!(key(&r#"a"b\c"#), r#""a\"b\\c""#);
        assert_ne!(key(&vec!["a,b"]), key(&vec!["a", "b"]));
        assert_eq!(key(&None::<Option<u8>>), "null");
        assert_eq!(key(&Some(None::<u8>)), "?null");
        assert_eq!(key(&Some(Some(1u8))), "?1");
        assert_eq!(key(&Some(1u8)), "1");
        assert_eq!(key(&vec![Some(1u8), None]), "[1,null]");
        assert_eq!(key(&'x'), "'x'");
        assert_eq!(key(&-1.5f64), "-1.5");
        assert_eq!(key(&()), "()");
        assert_eq!(
            key(&[
                Kind::Plain,
                Kind::Sized(1),
                Kind::Pair(1, 2),
                Kind::Named { a: true }
            ]),
            "(Plain,Sized(1),Pair(1,2),Named{a:true})"
        );
        assert_eq!(key(&serde_bytes_like(&[0, 255])), "0x00ff");

        // Hashed with the namespace: the same memo key in two namespaces differs.
        let cache = Cache::new();
        assert_ne!(cache.memo("a").key(&1).unwrap(), cache.memo("b").key(&1).unwrap());
        assert_eq!(cache.memo("a").key(&1).unwrap().readable(), "memo a 1");
    }

    fn serde_bytes_like(bytes: &'static [u8]) -> impl Serialize {
        struct Bytes(&'static [u8]);
        impl Serialize for Bytes {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        Bytes(bytes)
    }

    /// `&dyn` access to `readable_key` for heterogeneous test cases.
    mod erased {
        pub(super) trait Key {
            fn readable(&self) -> String;
        }
        impl<T: serde::Serialize> Key for T {
            fn readable(&self) -> String {
                super::readable_key(self).unwrap()
            }
        }
    }
}
