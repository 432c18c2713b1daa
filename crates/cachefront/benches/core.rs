//! Micro-benchmarks of the core's hot paths: key building, policy decisions, memory-store get
//! and put, entry encoding and decoding (the Redis tier's format), and `Cache-Status`
//! rendering.
//!
//! `cargo bench -p cachefront --bench core --features redis` (without `redis`, the codec
//! benchmarks are left out).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

mod support;

use std::{hint::black_box, sync::Arc, time::Duration};

use cachefront::{
    CacheKey, KeySpec, Policy,
    adapter::{CacheStatus, ForwardReason, Lookup},
    store::Store,
};
use criterion::{Criterion, criterion_group, criterion_main};
use support::{MissStorm, miss, path_only_request, primed, runtime, typical_request};

fn key_building(c: &mut Criterion) {
    let request = typical_request();
    let spec = KeySpec::default();
    c.bench_function("key/build typical (method, host, path, 3 params)", |b| {
        b.iter(|| spec.build(black_box(&request)))
    });
    let no_query = path_only_request();
    c.bench_function("key/build path only", |b| {
        b.iter(|| spec.build(black_box(&no_query)))
    });
}

fn policy_decisions(c: &mut Criterion) {
    let request = typical_request();
    let application = Policy::ttl(Duration::from_secs(60));
    let shared = Policy::shared();
    c.bench_function("policy/request admitted (typical request, key included)", |b| {
        b.iter(|| application.check_request(black_box(&request)))
    });
    let signed_in = http::Request::get("/products/42")
        .header("cookie", "sid=1")
        .body(())
        .unwrap();
    c.bench_function("policy/request bypassed (Cookie)", |b| {
        b.iter(|| application.check_request(black_box(&signed_in)))
    });
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("content-length", "1024".parse().unwrap());
    c.bench_function("policy/response storable (application mode)", |b| {
        b.iter(|| application.check_response(http::StatusCode::OK, black_box(&headers)))
    });
    headers.insert(
        "cache-control",
        "public, max-age=60, s-maxage=120, stale-while-revalidate=30"
            .parse()
            .unwrap(),
    );
    headers.insert("etag", "\"v1\"".parse().unwrap());
    headers.insert("vary", "accept-encoding".parse().unwrap());
    headers.insert(
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now())
            .parse()
            .unwrap(),
    );
    c.bench_function(
        "policy/response storable (shared mode, RFC 9111 freshness)",
        |b| b.iter(|| shared.check_response(http::StatusCode::OK, black_box(&headers))),
    );
}

fn store_get_put(c: &mut Criterion) {
    let (runtime, store, route, entry) = primed(1024);
    let request = typical_request();
    let key = KeySpec::default().build(&request);
    let (key, entry, route, request, store) = (&key, &entry, &route, &request, &store);

    c.bench_function("store/memory get (hit, 1 KiB)", |b| {
        b.to_async(&runtime)
            .iter(|| async { store.get(black_box(key)).await.unwrap() })
    });
    c.bench_function("store/memory get_now (hit, 1 KiB)", |b| {
        b.iter(|| store.get_now(black_box(key)).unwrap().unwrap())
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
    let hit = match runtime.block_on(route.lookup(request)) {
        Lookup::Hit(hit) => hit,
        Lookup::Forward(_) => unreachable!("primed"),
    };
    c.bench_function("hit/headers (stored, Content-Length, Age, Cache-Status)", |b| {
        b.iter(|| black_box(&hit).headers())
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
            CacheStatus::forward(ForwardReason::UriMiss)
                .fwd_status(black_box(200))
                .stored(true)
                .to_header_value()
        })
    });
}

/// The whole miss path of the core as an adapter drives it, without HTTP: lookup (key, policy,
/// store get, flight), the response decision, body collection, and the store write with the
/// eviction it causes. Every iteration uses a new key on a full store, as in the load
/// benchmark's miss storm.
fn miss_flow(c: &mut Criterion) {
    let runtime = runtime();
    let storm = MissStorm::new(&runtime);
    let mut i = MissStorm::FILLED;
    c.bench_function("flow/miss (new key, 256 B body, full store)", |b| {
        b.to_async(&runtime).iter(|| {
            i = storm.after(i);
            miss(&storm.route, &storm.requests[i], &storm.headers, &storm.body)
        })
    });
}

#[cfg(feature = "redis")]
fn entry_codec(c: &mut Criterion) {
    use bytes::Bytes;
    use cachefront::store::EntryCodec;

    let codec = EntryCodec::new();
    for (size, label) in [(1024, "1 KiB"), (64 * 1024, "64 KiB")] {
        let (_runtime, _store, _route, entry) = primed(size);
        let key = entry.key().clone();
        let encoded = Bytes::from(codec.encode(&entry));
        c.bench_function(&format!("codec/encode ({label} body)"), |b| {
            b.iter(|| codec.encode(black_box(&entry)))
        });
        c.bench_function(&format!("codec/decode ({label} body)"), |b| {
            b.iter(|| codec.decode(black_box(encoded.clone()), &key).unwrap())
        });
    }
}

#[cfg(not(feature = "redis"))]
fn entry_codec(_: &mut Criterion) {}

criterion_group!(
    benches,
    key_building,
    policy_decisions,
    store_get_put,
    miss_flow,
    entry_codec,
    cache_status
);
criterion_main!(benches);
