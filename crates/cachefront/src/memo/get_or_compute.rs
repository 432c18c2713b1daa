//! The `GetOrCompute` builder: a memo lookup's options, and the future it turns into.

use std::{
    fmt,
    future::{Future, IntoFuture},
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use serde::{Serialize, de::DeserializeOwned};

#[cfg(doc)]
use super::MemoStats;
use super::{
    Memo, decode,
    flight::Flow,
    target::{Target, spawn_refresh},
};
use crate::{coalesce::LeaderGuard, error::Error, key::CacheKey};

/// A memo lookup being configured, from [`Memo::get_or_compute`]: set options, then `.await`
/// it.
///
/// The future is `Send` and needs a Tokio runtime (for timeouts, and to refresh values in the
/// background with [`stale_while_revalidate`](Self::stale_while_revalidate)).
#[must_use = "a memo lookup does nothing until it is awaited"]
pub struct GetOrCompute<'a, F, T, E> {
    pub(super) memo: &'a Memo,
    pub(super) key: Result<CacheKey, Error>,
    pub(super) compute: F,
    pub(super) options: Options<F, E>,
    pub(super) _output: PhantomData<fn() -> T>,
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

pub(super) struct Options<F, E> {
    pub(super) ttl: Duration,
    pub(super) tags: Vec<Arc<str>>,
    pub(super) cache_errors: Option<ErrorCodec<E>>,
    pub(super) stale_while_revalidate: Option<(Duration, Spawner<F>)>,
    pub(super) stale_if_error: Option<Duration>,
}

/// Negative caching: how long, and how to encode the error type (captured where `E` is known
/// to be serde-able, so that the lookup itself does not require it).
pub(super) struct ErrorCodec<E> {
    pub(super) ttl: Duration,
    pub(super) encode: fn(&E) -> Result<Vec<u8>, postcard::Error>,
    pub(super) decode: fn(&[u8]) -> Result<E, postcard::Error>,
}

/// Starts a background refresh (captured where the computation is known to be `'static`).
pub(super) type Spawner<F> = fn(F, Target, LeaderGuard);

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

    /// Adds tags to the stored value, for [`Cache::invalidate_tag`](crate::Cache::invalidate_tag).
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Arc<str>>,
    {
        self.options.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Adds one tag to the stored value, for [`Cache::invalidate_tag`](crate::Cache::invalidate_tag).
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
                tracing::warn!(namespace = %memo.namespace, error = %error.report(), "memo key cannot be built; computing without the cache");
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::ser;

    use super::super::tests::counted;
    use super::*;
    use crate::Cache;

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
}
