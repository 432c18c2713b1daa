//! What both benchmarks (`core`, timings; `allocs`, allocation counts) drive the core with, so
//! that the two measure the same operations.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cachefront::{
    Cache, KeySpec, Policy,
    adapter::Lookup,
    store::{Entry, MemoryStore, Store},
};

pub(crate) fn typical_request() -> http::Request<()> {
    http::Request::get("/products/42?page=2&sort=price&lang=en")
        .header("host", "shop.example.com")
        .header("accept", "text/html")
        .header("user-agent", "bench/1.0")
        .body(())
        .unwrap()
}

pub(crate) fn path_only_request() -> http::Request<()> {
    http::Request::get("/products/42")
        .header("host", "shop.example.com")
        .body(())
        .unwrap()
}

/// A single-threaded runtime, as each benchmark drives the async core on one.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One miss through the flow an adapter runs: lookup, the response decision, the body, the
/// store write. `request`'s key must be cold.
pub(crate) async fn miss(
    route: &cachefront::CacheRoute,
    request: &http::Request<()>,
    headers: &http::HeaderMap,
    body: &Bytes,
) {
    let Lookup::Forward(forward) = route.lookup(request).await else {
        unreachable!("the key is cold")
    };
    let mut collector = forward.response(http::StatusCode::OK, headers).collector.unwrap();
    collector.push(body);
    collector.finish();
}

/// A store holding one entry primed through the real flow for [`typical_request`], so the entry
/// is what a hit would read; the runtime, the store, the route and the entry.
pub(crate) fn primed(
    body: usize,
) -> (
    tokio::runtime::Runtime,
    MemoryStore,
    cachefront::CacheRoute,
    Arc<Entry>,
) {
    let runtime = runtime();
    let store = MemoryStore::new();
    let cache = Cache::builder().store(store.clone()).build().unwrap();
    let route = cache.route(Policy::ttl(Duration::from_secs(300)));
    let request = typical_request();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let body = Bytes::from((0..body).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    runtime.block_on(async {
        miss(&route, &request, &headers, &body).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    let entry = runtime
        .block_on(store.get(&KeySpec::default().build(&request)))
        .unwrap()
        .expect("primed");
    (runtime, store, route, entry)
}

/// The miss storm of the load benchmark, in the core: a 4 MiB store filled with
/// [`MissStorm::FILLED`] entries of 256 B, then a new key per miss (from `requests[FILLED]` on,
/// moving with [`MissStorm::after`]), so that every measured miss evicts.
pub(crate) struct MissStorm {
    pub(crate) route: cachefront::CacheRoute,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) requests: Vec<http::Request<()>>,
}

impl MissStorm {
    /// How many of `requests` fill the store.
    pub(crate) const FILLED: usize = 20_000;

    /// The filled store's route, on `runtime`.
    pub(crate) fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let cache = Cache::builder().max_bytes(4 * 1024 * 1024).build().unwrap();
        let route = cache.route(Policy::ttl(Duration::from_secs(3600)));
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        let body = Bytes::from(vec![b'.'; 256]);
        let requests: Vec<http::Request<()>> = (0..200_000)
            .map(|i| {
                http::Request::get(format!("/cached/miss/{i}"))
                    .header("host", "127.0.0.1:18080")
                    .body(())
                    .unwrap()
            })
            .collect();
        // Fill the store, so that every measured miss evicts.
        runtime.block_on(async {
            for request in &requests[..Self::FILLED] {
                miss(&route, request, &headers, &body).await;
            }
        });
        Self {
            route,
            headers,
            body,
            requests,
        }
    }

    /// The index of the request after `i`'s, always cold: the requests that filled the store
    /// are never used again (the engine keeps them, since nothing reads the storm's keys twice:
    /// S3-FIFO's scan resistance), and a storm key comes back only after 180,000 others, long
    /// after its eviction (and after the engine forgot it had seen it).
    pub(crate) fn after(&self, i: usize) -> usize {
        if i + 1 == self.requests.len() {
            Self::FILLED
        } else {
            i + 1
        }
    }
}
