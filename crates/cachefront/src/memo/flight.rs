//! The memo's flight: look in the store, join or lead the computation, or wait for it.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};

use serde::{Serialize, de::DeserializeOwned};

use super::{
    ERROR, VALUE, decode,
    get_or_compute::{ErrorCodec, Spawner},
    registry::SharedError,
    target::Target,
};
use crate::{
    coalesce::{Coalescer, FlightTarget, Handover, Join, LeaderGuard, Looked, Taken, single_flight},
    entry::Entry,
    key::CacheKey,
    store::{Store, StoreLock},
};

/// What a stored or handed-off entry holds for this caller.
enum Read<T, E> {
    Value(T),
    Error(Arc<E>),
    Unusable,
}

pub(super) struct Flow<F, E> {
    pub(super) target: Target,
    pub(super) cache_errors: Option<ErrorCodec<E>>,
    pub(super) stale_while_revalidate: Option<(Duration, Spawner<F>)>,
    pub(super) stale_if_error: Option<Duration>,
}

/// A memo lookup's part in the single flight on its key (see [`single_flight`]).
struct Caller<F, E> {
    flow: Flow<F, E>,
    compute: F,
    /// A stale value to serve if the computation fails (stale-if-error).
    fallback: Option<Arc<Entry>>,
}

impl<F, Fut, T, E> Flow<F, E>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Serialize + DeserializeOwned + Send,
    E: Send + Sync + 'static,
{
    pub(super) async fn run(self, compute: F) -> Result<T, Arc<E>> {
        single_flight(Caller {
            flow: self,
            compute,
            fallback: None,
        })
        .await
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

    /// Runs the computation here, leading the flight if `guard` is given (and holding the
    /// store's `lock` across instances, if it gave one), and stores what it gives.
    async fn compute(
        &self,
        compute: F,
        guard: Option<LeaderGuard>,
        lock: Option<StoreLock>,
        fallback: Option<Arc<Entry>>,
    ) -> Result<T, Arc<E>> {
        let target = &self.target;
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
        if let Some(lock) = lock
            && let Err(error) = lock.release().await
        {
            target.memo.record(|c| &c.store_errors);
            crate::store::warn::store_error(
                "memo store lock release failed; it expires by itself",
                format_args!("key {}", target.key),
                &error,
            );
        }
        result
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

impl<F, Fut, T, E> FlightTarget for Caller<F, E>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Serialize + DeserializeOwned + Send,
    E: Send + Sync + 'static,
{
    type Output = Result<T, Arc<E>>;

    fn key(&self) -> &CacheKey {
        &self.flow.target.key
    }

    fn coalescer(&self) -> &Coalescer {
        &self.flow.target.memo.cache.memo_registry().coalescer
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.flow.target.memo.cache.store()
    }

    fn coalesce_wait(&self) -> Duration {
        self.flow.target.memo.coalesce_wait
    }

    fn count_wait(&self) {
        self.flow.target.memo.record(|c| &c.coalesced_waits);
    }

    fn count_store_error(&self) {
        self.flow.target.memo.record(|c| &c.store_errors);
    }

    async fn look(mut self) -> Looked<Self> {
        let flow = &self.flow;
        let memo = &flow.target.memo;
        let key = &flow.target.key;
        match memo.cache.store().get(key).await {
            Ok(Some(entry)) => {
                let now = SystemTime::now();
                let age = entry.age(now);
                if entry.retention(now).is_zero() {
                    // Expired, though the store still had it.
                } else if entry.is_fresh(now) {
                    match flow.read(&entry, false) {
                        Read::Value(value) => {
                            memo.record(|c| &c.hits);
                            tracing::debug!(%key, decision = "hit");
                            return Looked::Answered(Ok(value));
                        }
                        Read::Error(error) => {
                            memo.record(|c| &c.negative_hits);
                            tracing::debug!(%key, decision = "negative-hit");
                            return Looked::Answered(Err(error));
                        }
                        Read::Unusable => {}
                    }
                } else if entry.status == VALUE {
                    let stale_by = age.saturating_sub(entry.ttl);
                    let revalidate = flow
                        .stale_while_revalidate
                        .filter(|(window, _)| stale_by < *window)
                        .filter(|_| tokio::runtime::Handle::try_current().is_ok());
                    if let Some((_, spawner)) = revalidate
                        && let Read::Value(value) = flow.read(&entry, false)
                    {
                        memo.record(|c| &c.stale_hits);
                        match self.coalescer().join(*key.digest()) {
                            Join::Leader(guard) => {
                                memo.record(|c| &c.refreshes);
                                tracing::debug!(%key, decision = "stale", "serving a stale value while one task refreshes it");
                                spawner(self.compute, self.flow.target, guard);
                            }
                            // Someone is computing already.
                            Join::Follower(_) | Join::Done(_) => {
                                tracing::debug!(%key, decision = "stale", "serving a stale value while it is being refreshed");
                            }
                        }
                        return Looked::Answered(Ok(value));
                    }
                    if flow.stale_if_error.is_some_and(|window| stale_by < window) {
                        self.fallback = Some(entry);
                    }
                }
            }
            Ok(None) => {}
            Err(error) => {
                memo.record(|c| &c.store_errors);
                crate::store::warn::store_error(
                    "memo store lookup failed; computing",
                    format_args!("key {key}"),
                    &error,
                );
            }
        }
        let digest = *self.key().digest();
        Looked::Join(self, digest)
    }

    fn take(self, entry: Arc<Entry>, from: Handover) -> Taken<Self> {
        let memo = &self.flow.target.memo;
        match self.flow.read(&entry, from != Handover::OtherInstance) {
            Read::Value(value) => {
                memo.record(|c| &c.hits);
                Taken::Answered(Ok(value))
            }
            Read::Error(error) => {
                if from == Handover::OtherInstance {
                    memo.record(|c| &c.negative_hits);
                }
                Taken::Answered(Err(error))
            }
            Read::Unusable => Taken::Compute(self),
        }
    }

    async fn lead(self, guard: LeaderGuard, lock: Option<StoreLock>) -> Self::Output {
        self.flow
            .compute(self.compute, Some(guard), lock, self.fallback)
            .await
    }

    async fn alone(self) -> Self::Output {
        self.flow.compute(self.compute, None, None, self.fallback).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use serde::Deserialize;
    use tokio::sync::Barrier;

    use super::super::tests::{Failed, Price, counted, memo_entry, price};
    use super::*;
    use crate::{Cache, CacheKey, error::Error};

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
        assert_eq!(cache.memo_registry().handoffs(), 1);
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
        fn is_shared(&self) -> bool {
            true
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
}
