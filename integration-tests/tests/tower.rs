//! The Tower layer on real axum servers over real sockets, with a real moka store.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::get,
};
use bytes::Bytes;
use cachefront::{Credentials, Policy, SetCookie, store::MemoryStore};
use cachefront_tower::{Cache, CacheExt};
use futures_util::StreamExt;
use integration_tests::{TestServer, client, header, rss_bytes};
use tokio::sync::Barrier;

fn ttl(secs: u64) -> Policy {
    Policy::ttl(Duration::from_secs(secs))
}

/// A server whose `/r` route counts handler calls and answers `body-N` with the given extra
/// headers and status.
async fn counting_server(
    cache: &Cache,
    policy: Policy,
    status: StatusCode,
    headers: &'static [(&'static str, &'static str)],
) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&counter);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(*name, value.parse().unwrap());
            }
            map.insert("content-type", "text/plain".parse().unwrap());
            (status, map, format!("body-{n}"))
        }
    };
    let router = Router::new().route(
        "/r",
        get(handler.clone()).post(handler).layer(cache.layer(policy)),
    );
    (TestServer::axum(router).await, calls)
}

#[tokio::test]
async fn miss_then_hit_serves_identical_body_and_headers() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[("x-custom", "kept")]).await;
    let client = client();

    let first = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        header(&first, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert!(first.headers().get("age").is_none(), "a miss carries no Age");
    let first_headers = first.headers().clone();
    let first_body = first.bytes().await.unwrap();

    let second = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(second.status(), 200);
    assert!(header(&second, "cache-status").starts_with("cachefront; hit; ttl="));
    for name in ["content-type", "x-custom", "content-length"] {
        assert_eq!(second.headers().get(name), first_headers.get(name), "{name}");
    }
    assert_eq!(second.bytes().await.unwrap(), first_body);
    assert_eq!(first_body, "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let stats = cache.stats();
    assert_eq!(
        (stats.total.hits, stats.total.misses, stats.total.stores),
        (1, 1, 1)
    );
    assert_eq!(stats.routes["default"].hits, 1);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let cache = Cache::new();
    let policy = Policy::ttl(Duration::from_millis(300));
    let (server, calls) = counting_server(&cache, policy, StatusCode::OK, &[]).await;
    let client = client();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = client.get(server.url("/r")).send().await.unwrap();
    assert!(header(&third, "cache-status").contains("fwd=uri-miss"));
    assert_eq!(third.text().await.unwrap(), "body-2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn age_and_ttl_are_computed_by_the_cache() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(10), StatusCode::OK, &[("age", "500")]).await;
    let client = client();
    client
        .get(server.url("/r"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hit = client.get(server.url("/r")).send().await.unwrap();
    // The handler's own Age is not replayed; ours is whole seconds since storing.
    assert_eq!(header(&hit, "age"), "1");
    assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=9");
}

/// Sends `n` requests with the given header; returns the bodies.
async fn bodies_with(server: &TestServer, n: usize, header: Option<(&str, &str)>) -> Vec<String> {
    let client = client();
    let mut bodies = Vec::new();
    for _ in 0..n {
        let mut request = client.get(server.url("/r"));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        bodies.push(request.send().await.unwrap().text().await.unwrap());
    }
    bodies
}

#[tokio::test]
async fn authorization_bypasses_by_default() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    let response = client()
        .get(server.url("/r"))
        .header("authorization", "Bearer alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "cache-status"),
        "cachefront; fwd=bypass; fwd-status=200; detail=authorization"
    );
    assert_eq!(
        bodies_with(&server, 1, Some(("authorization", "Bearer alice"))).await,
        ["body-2"]
    );
    // Nothing was stored: an anonymous request misses too.
    assert_eq!(bodies_with(&server, 1, None).await, ["body-3"]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(cache.stats().total.bypasses["authorization"], 2);
}

#[tokio::test]
async fn authorization_opt_out_keys_per_credential() {
    let cache = Cache::new();
    let policy = ttl(30).authorization(Credentials::PartOfKey);
    let (server, _) = counting_server(&cache, policy, StatusCode::OK, &[]).await;
    let alice = bodies_with(&server, 2, Some(("authorization", "Bearer alice"))).await;
    let bob = bodies_with(&server, 2, Some(("authorization", "Bearer bob"))).await;
    assert_eq!(alice, ["body-1", "body-1"]);
    assert_eq!(bob, ["body-2", "body-2"], "bob never sees alice's response");
}

#[tokio::test]
async fn cookie_bypasses_by_default_and_can_be_declared_irrelevant() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    assert_eq!(
        bodies_with(&server, 2, Some(("cookie", "sid=1"))).await,
        ["body-1", "body-2"]
    );

    let cache = Cache::new();
    let policy = ttl(30).cookies(Credentials::Ignore);
    let (server, _) = counting_server(&cache, policy, StatusCode::OK, &[]).await;
    assert_eq!(
        bodies_with(&server, 1, Some(("cookie", "sid=1"))).await,
        ["body-1"]
    );
    assert_eq!(
        bodies_with(&server, 1, Some(("cookie", "sid=2"))).await,
        ["body-1"]
    );
}

#[tokio::test]
async fn set_cookie_responses_are_not_stored_unless_allowed() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::OK, &[("set-cookie", "sid=alice")]).await;
    let response = client().get(server.url("/r")).send().await.unwrap();
    assert_eq!(
        header(&response, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; detail=set-cookie"
    );
    assert_eq!(bodies_with(&server, 1, None).await, ["body-2"]);

    let cache = Cache::new();
    let policy = ttl(30).set_cookie(SetCookie::StoreWithout);
    let (server, _) = counting_server(&cache, policy, StatusCode::OK, &[("set-cookie", "sid=alice")]).await;
    let client = client();
    let miss = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(
        header(&miss, "set-cookie"),
        "sid=alice",
        "the client that missed gets its cookie"
    );
    let hit = client.get(server.url("/r")).send().await.unwrap();
    assert!(header(&hit, "cache-status").contains("hit"));
    assert!(
        hit.headers().get("set-cookie").is_none(),
        "a hit never replays a cookie"
    );
    assert_eq!(hit.text().await.unwrap(), "body-1");
}

#[tokio::test]
async fn private_and_no_store_are_not_stored_unless_allowed() {
    for (directive, relaxed) in [
        ("private", ttl(30).store_private(true)),
        ("no-store", ttl(30).store_no_store(true)),
        ("no-cache", ttl(30).store_no_store(true)),
    ] {
        let headers: &'static [(&str, &str)] = Box::leak(Box::new([("cache-control", directive)]));
        let cache = Cache::new();
        let (server, _) = counting_server(&cache, ttl(30), StatusCode::OK, headers).await;
        assert_eq!(
            bodies_with(&server, 2, None).await,
            ["body-1", "body-2"],
            "{directive}"
        );

        let cache = Cache::new();
        let (server, _) = counting_server(&cache, relaxed, StatusCode::OK, headers).await;
        assert_eq!(
            bodies_with(&server, 2, None).await,
            ["body-1", "body-1"],
            "{directive} relaxed"
        );
    }
}

#[tokio::test]
async fn vary_star_is_never_stored() {
    let cache = Cache::new();
    let relaxed = ttl(30)
        .store_private(true)
        .store_no_store(true)
        .set_cookie(SetCookie::Store)
        .cookies(Credentials::Ignore);
    let (server, _) = counting_server(&cache, relaxed, StatusCode::OK, &[("vary", "*")]).await;
    assert_eq!(bodies_with(&server, 2, None).await, ["body-1", "body-2"]);
}

#[tokio::test]
async fn vary_named_headers_must_match() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::OK, &[("vary", "accept-language")]).await;
    let client = client();
    let get = |lang: Option<&'static str>| {
        let mut request = client.get(server.url("/r"));
        if let Some(lang) = lang {
            request = request.header("accept-language", lang);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = header(&response, "cache-status").to_owned();
            (status, response.text().await.unwrap())
        }
    };
    assert_eq!(get(Some("en")).await.1, "body-1");
    let (status, body) = get(Some("en")).await;
    assert!(status.contains("hit"), "{status}");
    assert_eq!(body, "body-1");
    let (status, body) = get(Some("de")).await;
    assert!(status.contains("fwd=vary-miss"), "{status}");
    assert_eq!(body, "body-2");
    // An absent header matches only an absent header.
    assert_eq!(get(None).await.1, "body-3");
}

#[tokio::test]
async fn head_is_answered_from_the_stored_get() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    let client = client();

    // A HEAD miss is forwarded and not stored.
    let head = client.head(server.url("/r")).send().await.unwrap();
    assert!(header(&head, "cache-status").contains("detail=head"));
    let get = client.get(server.url("/r")).send().await.unwrap();
    assert!(header(&get, "cache-status").contains("stored"));
    assert_eq!(get.text().await.unwrap(), "body-2");

    let head = client.head(server.url("/r")).send().await.unwrap();
    assert!(header(&head, "cache-status").starts_with("cachefront; hit"));
    assert_eq!(header(&head, "content-length"), "6");
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unsafe_methods_are_forwarded() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    let client = client();
    for _ in 0..2 {
        let response = client.post(server.url("/r")).send().await.unwrap();
        assert_eq!(
            header(&response, "cache-status"),
            "cachefront; fwd=method; fwd-status=200; detail=method"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn uncacheable_statuses_are_forwarded_every_time() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::INTERNAL_SERVER_ERROR, &[]).await;
    assert_eq!(bodies_with(&server, 2, None).await, ["body-1", "body-2"]);
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::NOT_FOUND, &[]).await;
    assert_eq!(
        bodies_with(&server, 2, None).await,
        ["body-1", "body-1"],
        "404 is cacheable"
    );
}

#[tokio::test]
async fn existing_cache_status_members_come_first() {
    let cache = Cache::new();
    let (server, _) = counting_server(
        &cache,
        ttl(30),
        StatusCode::OK,
        &[("cache-status", "origin; hit")],
    )
    .await;
    let client = client();
    let miss = client.get(server.url("/r")).send().await.unwrap();
    let members: Vec<_> = miss.headers().get_all("cache-status").iter().collect();
    assert_eq!(
        members,
        ["origin; hit", "cachefront; fwd=uri-miss; fwd-status=200; stored"]
    );
    let hit = client.get(server.url("/r")).send().await.unwrap();
    let members: Vec<_> = hit.headers().get_all("cache-status").iter().collect();
    assert_eq!(members, ["origin; hit", "cachefront; hit; ttl=30"]);
}

/// A server whose `/slow/{id}` handler counts calls, waits `delay`, and answers its call number.
async fn slow_server(cache: &Cache, policy: Policy, delay: Duration) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&counter);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(delay).await;
            format!("computed-{n}")
        }
    };
    let router = Router::new().route("/slow/{id}", get(handler).layer(cache.layer(policy)));
    (TestServer::axum(router).await, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_cold_requests_run_the_handler_once() {
    const N: usize = 1000;
    let cache = Cache::new();
    let (server, calls) = slow_server(&cache, ttl(30), Duration::from_millis(300)).await;
    let client = client();
    let barrier = Arc::new(Barrier::new(N));
    let url = server.url("/slow/1");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (client, barrier, url) = (client.clone(), Arc::clone(&barrier), url.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let status = header(&response, "cache-status").to_owned();
                (status, response.text().await.unwrap())
            })
        })
        .collect();
    let mut collapsed = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(body, "computed-1");
        if status.contains("collapsed") {
            collapsed += 1;
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one handler call for {N} concurrent misses"
    );
    assert!(collapsed > 0, "followers are marked collapsed");
    assert_eq!(cache.stats().total.stores, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_does_not_strand_its_followers() {
    let cache = Cache::builder()
        .coalesce_wait(Duration::from_secs(20))
        .build()
        .unwrap();
    let (server, calls) = slow_server(&cache, ttl(30), Duration::from_millis(600)).await;
    let url = server.url("/slow/1");

    // The leader's client gives up after 150 ms: its connection closes, the server drops the
    // request's future, and with it the leader's claim on the key.
    let leader = {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        let url = url.clone();
        tokio::spawn(async move { client.get(&url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let client = client();
    let followers: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(&url).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    assert!(leader.await.unwrap().is_err(), "the leader's client timed out");
    let mut bodies = Vec::new();
    for follower in followers {
        bodies.push(follower.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "followers were answered in {elapsed:?}, not after the 20 s wait bound"
    );
    // One of the followers led the second computation; the rest shared it.
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncacheable_leader_releases_followers_at_once() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            (StatusCode::SERVICE_UNAVAILABLE, "busy")
        }
    };
    let router = Router::new().route("/r", get(handler).layer(cache.layer(ttl(30))));
    let server = TestServer::axum(router).await;
    let client = client();
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, url, barrier) = (client.clone(), server.url("/r"), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                client.get(&url).send().await.unwrap().status()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 503);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        10,
        "each request reached the handler"
    );
    // Leader (300 ms) then every follower in parallel (300 ms), not one after another.
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
}

/// A handler streaming `total` bytes in 64 KiB chunks, with no declared length.
async fn streaming_server(cache: &Cache, policy: Policy, total: usize) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            const CHUNK: usize = 64 * 1024;
            let chunks = futures_util::stream::iter((0..total.div_ceil(CHUNK)).map(move |i| {
                let len = CHUNK.min(total - i * CHUNK);
                Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + (i % 26) as u8; len]))
            }));
            Body::from_stream(chunks).into_response()
        }
    };
    let router = Router::new().route("/big", get(handler).layer(cache.layer(policy)));
    (TestServer::axum(router).await, calls)
}

#[tokio::test]
async fn a_20_mib_stream_passes_through_uncached_in_bounded_memory() {
    const TOTAL: usize = 20 * 1024 * 1024;
    let cache = Cache::new();
    let (server, calls) = streaming_server(&cache, ttl(30), TOTAL).await;
    let client = client();
    let before = rss_bytes();
    let mut peak_growth = 0u64;
    for _ in 0..2 {
        let response = client.get(server.url("/big")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let mut received = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            // Content is intact, chunk after chunk.
            assert!(chunk.iter().all(|b| b.is_ascii_lowercase()));
            received += chunk.len();
            if let (Some(before), Some(now)) = (before, rss_bytes()) {
                peak_growth = peak_growth.max(now.saturating_sub(before));
            }
        }
        assert_eq!(received, TOTAL);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a body over the limit is never stored"
    );
    let stats = cache.stats();
    assert_eq!(stats.total.stores, 0);
    assert_eq!(stats.total.not_stored, 2);
    // The collector gives up at the 8 MiB limit; the whole 20 MiB is never held.
    assert!(peak_growth < 16 * 1024 * 1024, "RSS grew by {peak_growth} bytes");
}

#[tokio::test]
async fn a_streamed_body_within_the_limit_is_stored() {
    let cache = Cache::new();
    let (server, calls) = streaming_server(&cache, ttl(30), 300 * 1024).await;
    let client = client();
    let first = client
        .get(server.url("/big"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let hit = client.get(server.url("/big")).send().await.unwrap();
    assert_eq!(header(&hit, "content-length"), "307200");
    assert_eq!(hit.bytes().await.unwrap(), first);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_not_collected() {
    let cache = Cache::new();
    let router = Router::new().route(
        "/r",
        get(|| async { vec![b'x'; 4096] }).layer(cache.layer(ttl(30).max_body_bytes(1024))),
    );
    let server = TestServer::axum(router).await;
    let response = client().get(server.url("/r")).send().await.unwrap();
    assert_eq!(
        header(&response, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; detail=too-large"
    );
    assert_eq!(response.bytes().await.unwrap().len(), 4096);
}

#[tokio::test]
async fn the_store_stays_within_its_byte_capacity() {
    const CAPACITY: u64 = 1024 * 1024;
    let store = MemoryStore::with_max_bytes(CAPACITY);
    let cache = Cache::builder().store(store.clone()).build().unwrap();
    let router = Router::new().route(
        "/item/{id}",
        get(|| async { vec![b'x'; 10 * 1024] }).layer(cache.layer(ttl(60))),
    );
    let server = TestServer::axum(router).await;
    let client = client();
    // Twice the capacity: 205 bodies of 10 KiB.
    for id in 0..205 {
        let response = client
            .get(server.url(&format!("/item/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.bytes().await.unwrap().len(), 10 * 1024);
    }
    // Stores run in the background; wait for them, then for moka's maintenance.
    for _ in 0..100 {
        if cache.stats().total.stores == 205 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.run_pending_tasks().await;
    let stats = cache.stats();
    assert!(
        stats.bytes <= CAPACITY,
        "{} bytes held, capacity {CAPACITY}",
        stats.bytes
    );
    assert!(stats.evictions > 0);
    assert!(stats.entries > 0 && stats.entries < 205);
}

#[tokio::test]
async fn router_wide_layers_share_one_cache_with_per_route_policies() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let (a, b) = (Arc::clone(&calls), Arc::clone(&calls));
    let router = Router::new()
        .route(
            "/a",
            get(move || {
                let n = a.fetch_add(1, Ordering::SeqCst);
                async move { format!("a{n}") }
            }),
        )
        .route_layer(cache.layer(ttl(30).name("router")))
        .route(
            "/b",
            get(move || {
                let n = b.fetch_add(1, Ordering::SeqCst);
                async move { format!("b{n}") }
            })
            .layer(cache.layer(ttl(30).name("/b"))),
        );
    let server = TestServer::axum(router).await;
    let client = client();
    for _ in 0..3 {
        assert_eq!(
            client
                .get(server.url("/a"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "a0"
        );
        assert_eq!(
            client
                .get(server.url("/b"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "b1"
        );
    }
    let stats = cache.stats();
    assert_eq!(stats.routes["router"].hits, 2);
    assert_eq!(stats.routes["/b"].hits, 2);
    assert_eq!(stats.total.hits, 4);
}

#[tokio::test]
async fn query_order_shares_an_entry_and_tags_invalidate() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30).tag("catalog"), StatusCode::OK, &[]).await;
    let client = client();
    let get = |q: &str| client.get(server.url(&format!("/r?{q}"))).send();
    assert_eq!(get("a=1&b=2").await.unwrap().text().await.unwrap(), "body-1");
    assert_eq!(get("b=2&a=1").await.unwrap().text().await.unwrap(), "body-1");
    assert_eq!(cache.invalidate_tag("catalog").await.unwrap(), 1);
    assert_eq!(get("a=1&b=2").await.unwrap().text().await.unwrap(), "body-2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A server whose `/r` handler answers from a script: the n-th call gets `script[n]` (the last
/// entry repeats), as `(status, body-N)`.
async fn scripted_server(
    cache: &Cache,
    policy: Policy,
    script: &'static [u16],
) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&counter);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(script[n.min(script.len() - 1)]).unwrap();
            (status, format!("body-{}", n + 1))
        }
    };
    let router = Router::new().route(
        "/r",
        get(handler.clone()).post(handler).layer(cache.layer(policy)),
    );
    (TestServer::axum(router).await, calls)
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once_in_the_background() {
    let cache = Cache::new();
    // Every call after the first takes 400 ms: stale answers must not wait for it.
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_in = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&calls_in);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if n > 1 {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            format!("computed-{n}")
        }
    };
    let server =
        TestServer::axum(Router::new().route("/r", get(handler).layer(cache.layer(policy_swr())))).await;
    let client = client();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "computed-1"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let stale = client.get(server.url("/r")).send().await.unwrap();
        let status = header(&stale, "cache-status").to_owned();
        assert!(status.starts_with("cachefront; hit; ttl=-"), "{status}");
        assert!(status.ends_with("detail=stale-while-revalidate"), "{status}");
        assert_eq!(stale.text().await.unwrap(), "computed-1");
        assert!(started.elapsed() < Duration::from_millis(300), "served at once");
    }
    // One background refresh ran; its response is served once it is stored.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fresh = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(header(&fresh, "cache-status"), "cachefront; hit; ttl=1");
    assert_eq!(fresh.text().await.unwrap(), "computed-2");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh for three stale hits"
    );
}

fn policy_swr() -> Policy {
    ttl(1).stale_while_revalidate(Duration::from_secs(30))
}

#[tokio::test]
async fn stale_if_error_serves_the_stale_response_when_the_handler_fails() {
    let cache = Cache::new();
    let policy = ttl(1).stale_if_error(Duration::from_secs(30));
    let (server, calls) = scripted_server(&cache, policy, &[200, 503]).await;
    let client = client();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(stale.status(), 200);
    let status = header(&stale, "cache-status").to_owned();
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=503; ttl=-"),
        "{status}"
    );
    assert!(status.ends_with("detail=stale-if-error"), "{status}");
    assert_eq!(stale.text().await.unwrap(), "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_stale_if_error_a_failure_reaches_the_client() {
    let cache = Cache::new();
    let (server, _) = scripted_server(&cache, ttl(1), &[200, 503]).await;
    let client = client();
    client
        .get(server.url("/r"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let failed = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.text().await.unwrap(), "body-2");
}

#[tokio::test]
async fn a_successful_unsafe_request_invalidates_the_stored_response() {
    let cache = Cache::new();
    let (server, calls) = scripted_server(&cache, ttl(30), &[200]).await;
    let client = client();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    let post = client.post(server.url("/r")).send().await.unwrap();
    assert_eq!(post.text().await.unwrap(), "body-2");
    // The invalidation is done before the unsafe request's response is sent: no wait.
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-3"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(cache.stats().total.invalidations, 1);
}

#[tokio::test]
async fn a_failed_unsafe_request_invalidates_nothing() {
    let cache = Cache::new();
    let (server, _) = scripted_server(&cache, ttl(30), &[200, 500, 200]).await;
    let client = client();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    assert_eq!(client.post(server.url("/r")).send().await.unwrap().status(), 500);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
}

#[tokio::test]
async fn client_conditionals_are_answered_from_a_fresh_hit() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[("etag", "\"v1\"")]).await;
    let client = client();
    client
        .get(server.url("/r"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let not_modified = client
        .get(server.url("/r"))
        .header("if-none-match", "W/\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, "etag"), "\"v1\"");
    assert!(header(&not_modified, "cache-status").starts_with("cachefront; hit"));
    let changed = client
        .get(server.url("/r"))
        .header("if-none-match", "\"v0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.text().await.unwrap(), "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_directives_are_ignored_in_application_mode_unless_allowed() {
    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    assert_eq!(bodies_with(&server, 1, None).await, ["body-1"]);
    assert_eq!(
        bodies_with(&server, 1, Some(("cache-control", "no-cache"))).await,
        ["body-1"]
    );

    let cache = Cache::new();
    let (server, _) = counting_server(&cache, ttl(30).client_directives(true), StatusCode::OK, &[]).await;
    assert_eq!(bodies_with(&server, 1, None).await, ["body-1"]);
    assert_eq!(
        bodies_with(&server, 1, Some(("cache-control", "no-cache"))).await,
        ["body-2"]
    );
    // only-if-cached is always obeyed: a cold key answers 504 without calling the handler.
    let cold = client()
        .get(server.url("/r?cold"))
        .header("cache-control", "only-if-cached")
        .send()
        .await
        .unwrap();
    assert_eq!(cold.status(), 504);
}

#[tokio::test]
async fn write_routes_invalidate_tags_filled_from_path_parameters() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let show = move |axum::extract::Path(id): axum::extract::Path<u32>| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { format!("product-{id}-v{n}") }
    };
    let router = Router::new()
        .route(
            "/products/{id}",
            get(show).layer(cache.layer(ttl(60).name("/products/{id}").tag("product:{id}"))),
        )
        .route(
            "/admin/products/{id}",
            axum::routing::put(|| async { "updated" })
                .layer(cache.layer(Policy::invalidates(["product:{id}"]).name("/admin/products/{id}"))),
        );
    let server = TestServer::axum(router).await;
    let client = client();
    let get = |id: u32| client.get(server.url(&format!("/products/{id}"))).send();
    assert_eq!(get(1).await.unwrap().text().await.unwrap(), "product-1-v1");
    assert_eq!(get(2).await.unwrap().text().await.unwrap(), "product-2-v2");
    assert_eq!(get(1).await.unwrap().text().await.unwrap(), "product-1-v1");
    let put = client.put(server.url("/admin/products/1")).send().await.unwrap();
    assert_eq!(put.status(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Only product 1 went.
    assert_eq!(get(1).await.unwrap().text().await.unwrap(), "product-1-v3");
    assert_eq!(get(2).await.unwrap().text().await.unwrap(), "product-2-v2");
}

#[tokio::test]
async fn handlers_tag_responses_with_a_header_the_client_never_sees() {
    let cache = Cache::new();
    let (server, calls) = counting_server(
        &cache,
        ttl(60),
        StatusCode::OK,
        &[("cache-tag", "news, front-page")],
    )
    .await;
    let client = client();
    let miss = client.get(server.url("/r")).send().await.unwrap();
    assert!(miss.headers().get("cache-tag").is_none(), "stripped on a miss");
    let hit = client.get(server.url("/r")).send().await.unwrap();
    assert!(hit.headers().get("cache-tag").is_none(), "not stored either");
    assert_eq!(hit.text().await.unwrap(), "body-1");
    assert_eq!(cache.invalidate_tag("front-page").await.unwrap(), 1);
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let cache = Cache::new();
    let exposed = ttl(60).expose_tag_headers(true);
    let (server, _) = counting_server(&cache, exposed, StatusCode::OK, &[("cache-tag", "news")]).await;
    let miss = client.get(server.url("/r")).send().await.unwrap();
    assert_eq!(header(&miss, "cache-tag"), "news");
}

#[tokio::test]
async fn time_to_idle_expires_entries_nobody_reads() {
    let cache = Cache::new();
    let policy = ttl(60).time_to_idle(Duration::from_millis(400));
    let (server, calls) = counting_server(&cache, policy, StatusCode::OK, &[]).await;
    let client = client();
    let get = || async {
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(get().await, "body-1");
    // Read every 250 ms: each read slides the expiry, so the entry outlives 400 ms.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(get().await, "body-1");
    }
    // Idle for longer than 400 ms: gone, although its TTL (60 s) is far off.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get().await, "body-2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_range_request_is_answered_from_the_stored_response() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    let client = client();
    let ranged = |range: &'static str| client.get(server.url("/r")).header("range", range).send();
    assert_eq!(
        client
            .get(server.url("/r"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "body-1"
    );
    let partial = ranged("bytes=0-3").await.unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(header(&partial, "content-range"), "bytes 0-3/6");
    assert_eq!(header(&partial, "content-length"), "4");
    assert!(header(&partial, "cache-status").starts_with("cachefront; hit"));
    assert_eq!(partial.text().await.unwrap(), "body");
    let suffix = ranged("bytes=-1").await.unwrap();
    assert_eq!(header(&suffix, "content-range"), "bytes 5-5/6");
    assert_eq!(suffix.text().await.unwrap(), "1");
    let refused = ranged("bytes=6-").await.unwrap();
    assert_eq!(refused.status(), 416);
    assert_eq!(header(&refused, "content-range"), "bytes */6");
    assert_eq!(refused.text().await.unwrap(), "");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn if_range_decides_between_the_range_and_the_whole_response() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[("etag", "\"v1\"")]).await;
    let client = client();
    let ranged = |if_range: &'static str| {
        client
            .get(server.url("/r"))
            .header("range", "bytes=0-3")
            .header("if-range", if_range)
            .send()
    };
    client.get(server.url("/r")).send().await.unwrap();
    let matching = ranged("\"v1\"").await.unwrap();
    assert_eq!(matching.status(), 206);
    assert_eq!(matching.text().await.unwrap(), "body");
    let changed = ranged("\"v0\"").await.unwrap();
    assert_eq!(changed.status(), 200);
    assert!(changed.headers().get("content-range").is_none());
    assert_eq!(changed.text().await.unwrap(), "body-1");
    let weak = ranged("W/\"v1\"").await.unwrap();
    assert_eq!(weak.status(), 200, "If-Range compares entity-tags strongly");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_range_request_that_misses_fetches_and_stores_the_whole_response() {
    let cache = Cache::new();
    let (server, calls) = counting_server(&cache, ttl(30), StatusCode::OK, &[]).await;
    let client = client();
    let ranged = || client.get(server.url("/r")).header("range", "bytes=0-3").send();
    let cold = ranged().await.unwrap();
    // The handler was asked for the whole representation, and this client gets it whole.
    assert_eq!(cold.status(), 200);
    assert_eq!(
        header(&cold, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert_eq!(cold.text().await.unwrap(), "body-1");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let warm = ranged().await.unwrap();
    assert_eq!(warm.status(), 206);
    assert!(header(&warm, "cache-status").starts_with("cachefront; hit"));
    assert_eq!(warm.text().await.unwrap(), "body");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
