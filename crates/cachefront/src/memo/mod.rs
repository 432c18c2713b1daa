//! Memoized values: one expensive value (a database query, a call to another service) cached by
//! key in the same store as responses, and computed once however many callers ask together.
//!
//! Values are encoded with [postcard] (compact, serde-based) and stored as [`Entry`] values:
//! status `200`, no headers, the encoded value as body, the call's TTL and stale windows, under
//! a key hashed from the namespace and the memo key like every other [`CacheKey`].

use std::{collections::BTreeMap, fmt, future::Future, marker::PhantomData, sync::Arc, time::Duration};

use http::StatusCode;
use serde::{Serialize, de::DeserializeOwned};

use self::{get_or_compute::Options, key::readable_key, stats::MemoCounters};
#[cfg(doc)]
use crate::entry::Entry;
use crate::{
    cache::{Cache, DEFAULT_COALESCE_WAIT},
    error::Error,
    key::CacheKey,
};

mod flight;
mod get_or_compute;
mod key;
pub(crate) mod registry;
mod stats;
mod target;

pub use self::{get_or_compute::GetOrCompute, stats::MemoStats};

/// The status of a stored value; every other memo entry carries an error.
const VALUE: StatusCode = StatusCode::OK;
/// The status of an entry carrying a computation's error (cached, or handed to waiters).
const ERROR: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;

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
        self.memo_registry().stats()
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

    fn record(&self, counter: fn(&MemoCounters) -> &crate::series::Count) {
        counter(&self.counters).increment();
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use serde::Deserialize;

    use super::*;
    use crate::entry::Entry;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(super) struct Price {
        pub(super) sku: String,
        pub(super) cents: u64,
        pub(super) tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub(super) struct Failed(pub(super) String);

    pub(super) fn price(n: u64) -> Price {
        Price {
            sku: format!("sku-{n}"),
            cents: n * 100,
            tags: vec!["a".to_owned()],
        }
    }

    /// A computation that counts its runs and returns `price(run number)`.
    pub(super) fn counted(
        calls: &Arc<AtomicUsize>,
    ) -> impl Future<Output = Result<Price, Failed>> + Send + 'static {
        let calls = Arc::clone(calls);
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(price(n as u64))
        }
    }

    pub(super) fn memo_entry(memo: &Memo, body: &'static [u8]) -> Entry {
        Entry::new(
            memo.key("x").unwrap(),
            ERROR,
            Bytes::from_static(body),
            Duration::from_secs(60),
        )
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
}
