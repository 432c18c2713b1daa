//! The writes a cache has started and not finished, so that [`Cache::run_pending_tasks`] can wait
//! for them: a counter of live [`PendingTask`] guards and a [`Notify`] woken when it drops to 0.
//!
//! A guard is taken *synchronously* where a write is decided (a response being collected, a
//! store write or invalidation about to be spawned, a memo write or refresh), and dropped when
//! the write is over, whether it finished, failed, or its task was dropped. So a caller that saw
//! a response (or a memo value) and then calls `run_pending_tasks` finds every write it caused
//! counted, even one whose task has not run yet.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

/// The writes under way in one cache.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

impl Pending {
    /// Counts a write as started, until the returned guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> PendingTask {
        self.count.fetch_add(1, Ordering::AcqRel);
        PendingTask(Arc::clone(self))
    }

    /// Waits until no write is under way.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the count is read: a drop to 0 in between still wakes us.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One write under way; see [`Pending::start`].
#[derive(Debug)]
pub(crate) struct PendingTask(Arc<Pending>);

impl PendingTask {
    /// Runs `task` counted as this write: counted already (not from its first poll), until it
    /// ends or is dropped.
    pub(crate) async fn run<F: Future>(self, task: F) -> F::Output {
        let output = task.await;
        drop(self);
        output
    }
}

impl Drop for PendingTask {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    use super::*;
    use crate::{
        Cache, CacheKey, Error, Policy,
        flow::Lookup,
        store::{BoxFuture, Entry, MemoryStore, Store, StoreUsage},
    };

    /// A memory store whose writes take a few polls: the cache spawns them rather than
    /// finishing them inline.
    #[derive(Debug, Default)]
    struct SlowWrites(MemoryStore, Arc<AtomicUsize>);

    impl Store for SlowWrites {
        fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
            self.0.get(key)
        }
        fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                let written = self.0.put(entry).await;
                self.1.fetch_add(1, Ordering::AcqRel);
                written
            })
        }
        fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
            self.0.remove(key)
        }
        fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
            self.0.remove_tag(tag)
        }
        fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
            self.0.clear()
        }
        fn usage(&self) -> StoreUsage {
            self.0.usage()
        }
        fn run_pending_tasks(&self) -> BoxFuture<'_, ()> {
            Store::run_pending_tasks(&self.0)
        }
    }

    async fn respond(route: &crate::CacheRoute, uri: &str) {
        let request = http::Request::get(uri).body(()).unwrap();
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("cold");
        };
        let mut collector = forward
            .response(StatusCode::OK, &HeaderMap::new())
            .collector
            .unwrap();
        assert!(collector.push(&Bytes::from_static(b"hello")));
        collector.finish();
    }

    #[tokio::test]
    async fn a_spawned_store_write_is_stored_and_counted_once_it_returns() {
        let store = SlowWrites::default();
        let written = Arc::clone(&store.1);
        let cache = Cache::builder().store(store).build().unwrap();
        let route = cache.route(Policy::ttl(Duration::from_secs(60)));
        respond(&route, "http://h/a").await;
        // On this single-threaded runtime the spawned write has not run yet.
        assert_eq!(written.load(Ordering::Acquire), 0, "the write is spawned");
        cache.run_pending_tasks().await;
        assert_eq!(written.load(Ordering::Acquire), 1, "written");
        assert_eq!(cache.stats().entries, 1, "counted");
        assert!(cache.stats().bytes > 0);
        let request = http::Request::get("http://h/a").body(()).unwrap();
        assert!(matches!(route.lookup(&request).await, Lookup::Hit(_)), "stored");
    }

    #[tokio::test]
    async fn an_inline_write_is_counted_exactly_once_it_returns() {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(60)));
        for n in 0..10 {
            respond(&route, &format!("http://h/{n}")).await;
        }
        cache.run_pending_tasks().await;
        assert_eq!(cache.stats().entries, 10);
    }

    #[tokio::test]
    async fn a_background_memo_refresh_is_waited_for() {
        let cache = Cache::new();
        let memo = cache.memo("prices");
        let get = |price: u32| {
            memo.get_or_compute("apple", move || async move { Ok::<_, std::io::Error>(price) })
                .ttl(Duration::from_millis(1))
                .stale_while_revalidate(Duration::from_secs(60))
        };
        assert_eq!(get(1).await.unwrap(), 1);
        // Waiting for expiry is what this test is about.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(get(2).await.unwrap(), 1, "stale, refreshed in the background");
        cache.run_pending_tasks().await;
        assert_eq!(get(3).await.unwrap(), 2, "the refresh landed");
    }

    #[tokio::test]
    async fn it_returns_at_once_on_an_idle_cache() {
        let cache = Cache::new();
        tokio::time::timeout(Duration::from_secs(5), cache.run_pending_tasks())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn waits_for_every_guard_and_returns_at_once_without_one() {
        let pending = Arc::new(Pending::default());
        pending.idle().await;
        let first = pending.start();
        let second = pending.start();
        let waiter = tokio::spawn({
            let pending = Arc::clone(&pending);
            async move { pending.idle().await }
        });
        tokio::task::yield_now().await;
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one write is still under way");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the last guard wakes the waiter")
            .unwrap();
    }

    #[tokio::test]
    async fn a_tracked_task_counts_from_its_creation_until_it_is_dropped() {
        let pending = Arc::new(Pending::default());
        let task = pending.start().run(std::future::pending::<()>());
        assert_eq!(
            pending.count.load(Ordering::Acquire),
            1,
            "counted before its first poll"
        );
        drop(task);
        assert_eq!(pending.count.load(Ordering::Acquire), 0);
        pending.idle().await;
    }
}
