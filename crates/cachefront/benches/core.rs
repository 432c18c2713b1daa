//! Micro-benchmarks of the core's hot paths: key building, policy decisions, memory-store get
//! and put, and `Cache-Status` rendering.
//!
//! `cargo bench -p cachefront --bench core`

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::{hint::black_box, sync::Arc, time::Duration};

use bytes::Bytes;
use cachefront::{Cache, CacheKey, CacheStatus, Forwarded, KeySpec, Lookup, MemoryStore, Policy, Store};
use criterion::{Criterion, criterion_group, criterion_main};

fn typical_request() -> http::Request<()> {
    http::Request::get("/products/42?page=2&sort=price&lang=en")
        .header("host", "shop.example.com")
        .header("accept", "text/html")
        .header("user-agent", "bench/1.0")
        .body(())
        .unwrap()
}

fn key_building(c: &mut Criterion) {
    let request = typical_request();
    let spec = KeySpec::default();
    c.bench_function("key/build typical (method, host, path, 3 params)", |b| {
        b.iter(|| spec.build(black_box(&request)))
    });
    let no_query = http::Request::get("/products/42")
        .header("host", "shop.example.com")
        .body(())
        .unwrap();
    c.bench_function("key/build path only", |b| {
        b.iter(|| spec.build(black_box(&no_query)))
    });
}

fn store_get_put(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let store = &store;
    let cache = Cache::builder().store(store.clone()).build().unwrap();
    let route = cache.route(Policy::ttl(Duration::from_secs(300)));
    let request = typical_request();

    // Prime one entry through the real flow, so the entry is what a hit would read.
    runtime.block_on(async {
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            unreachable!()
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        let mut collector = forward
            .response(http::StatusCode::OK, &headers)
            .collector
            .unwrap();
        collector.push(&Bytes::from(vec![b'x'; 1024]));
        collector.finish();
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    let key = KeySpec::default().build(&request);
    let entry = runtime.block_on(store.get(&key)).unwrap().expect("primed");
    let (key, entry, route, request) = (&key, &entry, &route, &request);

    c.bench_function("store/memory get (hit, 1 KiB)", |b| {
        b.to_async(&runtime)
            .iter(|| async { store.get(black_box(key)).await.unwrap() })
    });
    c.bench_function("store/memory put (replace, 1 KiB)", |b| {
        b.to_async(&runtime)
            .iter(|| async { store.put(Arc::clone(black_box(entry))).await.unwrap() })
    });
    c.bench_function("route/lookup hit (key + policy + get)", |b| {
        b.to_async(&runtime).iter(|| async {
            match route.lookup(black_box(request)).await {
                Lookup::Hit(hit) => hit,
                Lookup::Forward(_) => unreachable!("primed"),
            }
        })
    });
    let many: Vec<CacheKey> = (0..10_000)
        .map(|i| CacheKey::from_parts([format!("k{i}")]))
        .collect();
    c.bench_function("store/memory get (miss)", |b| {
        let mut i = 0;
        b.to_async(&runtime).iter(|| {
            i = (i + 1) % many.len();
            let key = &many[i];
            async move { store.get(black_box(key)).await.unwrap() }
        })
    });
}

fn cache_status(c: &mut Criterion) {
    c.bench_function("cache-status/render hit", |b| {
        b.iter(|| CacheStatus::hit(black_box(42)).to_header_value())
    });
    c.bench_function("cache-status/render miss", |b| {
        b.iter(|| {
            CacheStatus::forward(Forwarded::UriMiss)
                .fwd_status(black_box(200))
                .stored(true)
                .to_header_value()
        })
    });
}

criterion_group!(benches, key_building, store_get_put, cache_status);
criterion_main!(benches);
