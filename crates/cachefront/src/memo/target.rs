//! Where a computed value goes: its entry, its encoding, and the store write.

use std::{future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use http::StatusCode;
use serde::{Serialize, de::DeserializeOwned};

use super::{Memo, VALUE, decode};
use crate::{coalesce::LeaderGuard, entry::Entry, key::CacheKey, purges::PurgeEpoch};

/// Where a computed value goes, and how long it lives: the same for a caller and for a
/// background refresh.
pub(super) struct Target {
    pub(super) memo: Memo,
    /// Where the cache's invalidations stood when the call began: a value computed from data
    /// an invalidation since then replaced is returned but not stored.
    pub(super) epoch: PurgeEpoch,
    pub(super) key: CacheKey,
    pub(super) ttl: Duration,
    pub(super) tags: Vec<Arc<str>>,
    pub(super) stale_while_revalidate: Duration,
    pub(super) stale_if_error: Duration,
}

impl Target {
    /// A memo entry; only values (`stale`) keep the stale windows.
    pub(super) fn entry(&self, status: StatusCode, body: Vec<u8>, ttl: Duration, stale: bool) -> Arc<Entry> {
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
    pub(super) fn encode<T: Serialize + DeserializeOwned>(&self, value: &T) -> Option<Vec<u8>> {
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
    pub(super) async fn store_value(&self, body: Option<Vec<u8>>, guard: Option<LeaderGuard>) {
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

    pub(super) async fn put(&self, entry: Arc<Entry>) {
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
            Ok(()) => {
                self.memo.record(|c| &c.stores);
                crate::series::publish_usage(&**cache.store());
            }
            Err(error) => {
                self.memo.record(|c| &c.store_errors);
                crate::store::warn::store_error(
                    "memo store write failed; the value was returned but not stored",
                    format_args!("key {}", self.key),
                    &error,
                );
            }
        }
    }
}

pub(super) fn spawn_refresh<F, Fut, T, E>(compute: F, target: Target, guard: LeaderGuard)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::Deserialize;

    use super::super::tests::Failed;
    use super::*;
    use crate::Cache;

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
}
