//! The Redis tier against real `redis-server` processes on 127.0.0.1: the store suite on
//! memory, Redis, tiered and Redis Cluster stores; invalidation across instances; cross-instance
//! coalescing; corrupt values; Redis killed and restarted under a real axum server, and how soon
//! L2 serves again; Redis made slow by a delaying proxy.

use std::{
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::Path, routing::get};
use bytes::Bytes;
use cachefront::{
    Cache, CacheKey, ErrorKind, KeySpec, Policy,
    adapter::Lookup,
    store::{Entry, MemoryStore, RedisStore, Store, TieredStore},
};
use cachefront_tower::CacheExt;
use integration_tests::{
    TestServer, client, header,
    redis::{RedisCluster, RedisServer},
};
use tokio::{
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
    sync::Barrier,
};

/// The Redis timeout used throughout: short, so that failure tests stay fast.
const TIMEOUT: Duration = Duration::from_millis(200);

fn request(path: &str) -> http::Request<()> {
    http::Request::get(format!("http://example.com{path}"))
        .body(())
        .unwrap()
}

fn key(path: &str) -> CacheKey {
    KeySpec::default().build(&request(path))
}

/// An entry as the cache builds it: a `GET {path}` answered 200 with `body`, stored for `ttl`
/// with `tags` (produced through a scratch memory cache, the public way to make one).
async fn entry(path: &str, body: impl Into<Bytes>, ttl: Duration, tags: &[&str]) -> Arc<Entry> {
    let scratch = MemoryStore::new();
    let cache = Cache::builder().store(scratch.clone()).build().unwrap();
    let mut policy = Policy::ttl(ttl);
    for tag in tags {
        policy = policy.tag(*tag);
    }
    let route = cache.route(policy);
    let Lookup::Forward(forward) = route.lookup(&request(path)).await else {
        panic!("a scratch cache misses");
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "text/plain".parse().unwrap());
    let verdict = forward.response(http::StatusCode::OK, &headers);
    let mut collector = verdict.collector.expect("a 200 is storable");
    collector.push(&body.into());
    collector.finish();
    eventually(Duration::from_secs(2), || async {
        scratch.get(&key(path)).await.unwrap()
    })
    .await
    .expect("the scratch store holds the entry")
}

/// Polls `check` every 10 ms until it returns `Some`, or `None` after `within`.
async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn redis_store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::builder(server.url())
        .prefix(prefix)
        .timeout(TIMEOUT)
        .compress_above(Some(1024))
        .connect()
        .await
        .unwrap()
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// What every store must do alike.
async fn store_suite(store: &dyn Store) {
    let ttl = Duration::from_secs(60);
    // put, get, replace, remove
    let a = entry("/a", "alpha", ttl, &[]).await;
    store.put(Arc::clone(&a)).await.unwrap();
    let got = store.get(&key("/a")).await.unwrap().expect("stored");
    assert_eq!(got.body(), "alpha");
    assert_eq!(got.status(), http::StatusCode::OK);
    assert_eq!(got.headers().get("content-type").unwrap(), "text/plain");
    assert_eq!(got.time_to_live(), ttl);
    assert_eq!(got.stored_at(), a.stored_at());
    store.put(entry("/a", "alpha-2", ttl, &[]).await).await.unwrap();
    assert_eq!(store.get(&key("/a")).await.unwrap().unwrap().body(), "alpha-2");
    assert!(store.remove(&key("/a")).await.unwrap());
    assert!(store.get(&key("/a")).await.unwrap().is_none());
    assert!(!store.remove(&key("/a")).await.unwrap());

    // expiry at the entry's own lifetime
    store
        .put(entry("/short", "s", Duration::from_millis(300), &[]).await)
        .await
        .unwrap();
    store.put(entry("/long", "l", ttl, &[]).await).await.unwrap();
    assert!(store.get(&key("/short")).await.unwrap().is_some());
    let gone = eventually(Duration::from_secs(3), || async {
        store.get(&key("/short")).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the short entry outlived its lifetime");
    assert!(store.get(&key("/long")).await.unwrap().is_some());

    // tags: a replacement without the tag survives a purge of it
    store
        .put(entry("/t1", "1", ttl, &["red", "blue"]).await)
        .await
        .unwrap();
    store.put(entry("/t2", "2", ttl, &["red"]).await).await.unwrap();
    store.put(entry("/t3", "3", ttl, &["green"]).await).await.unwrap();
    store.put(entry("/t3", "3b", ttl, &[]).await).await.unwrap();
    assert_eq!(store.remove_tag("red").await.unwrap(), 2);
    assert!(store.get(&key("/t1")).await.unwrap().is_none());
    assert!(store.get(&key("/t2")).await.unwrap().is_none());
    assert_eq!(store.remove_tag("blue").await.unwrap(), 0);
    assert_eq!(store.remove_tag("green").await.unwrap(), 0);
    assert_eq!(store.get(&key("/t3")).await.unwrap().unwrap().body(), "3b");
    assert_eq!(store.remove_tag("never-used").await.unwrap(), 0);

    // prefix: at least the matching entries go
    store
        .put(entry("/products/1", "p1", ttl, &[]).await)
        .await
        .unwrap();
    store
        .put(entry("/products/2", "p2", ttl, &[]).await)
        .await
        .unwrap();
    let removed = store.remove_prefix("GET /products/").await.unwrap();
    assert!(removed >= 2, "removed {removed}");
    assert!(store.get(&key("/products/1")).await.unwrap().is_none());
    assert!(store.get(&key("/products/2")).await.unwrap().is_none());

    // clear
    store.put(entry("/c1", "c", ttl, &["x"]).await).await.unwrap();
    store.put(entry("/c2", "c", ttl, &[]).await).await.unwrap();
    assert!(store.clear().await.unwrap() >= 2);
    assert!(store.get(&key("/c1")).await.unwrap().is_none());
    assert!(store.get(&key("/c2")).await.unwrap().is_none());
    assert_eq!(store.remove_tag("x").await.unwrap(), 0);
}

#[tokio::test]
async fn store_suite_on_memory() {
    store_suite(&MemoryStore::new()).await;
}

#[tokio::test]
async fn store_suite_on_redis() {
    let server = RedisServer::start();
    store_suite(&redis_store(&server, "suite:").await).await;
}

#[tokio::test]
async fn store_suite_on_tiered() {
    let server = RedisServer::start();
    let tiered = TieredStore::new(MemoryStore::new(), redis_store(&server, "suite:").await);
    store_suite(&tiered).await;
}

#[tokio::test]
async fn store_suite_over_tls_with_a_custom_ca_and_plain_or_untrusted_clients_fail() {
    let server = RedisServer::start_tls();
    let store = RedisStore::builder(server.tls_url())
        .prefix("tls:")
        .timeout(Duration::from_secs(2))
        .tls_root_certificate(server.tls_ca())
        .connect()
        .await
        .unwrap();
    store
        .ping()
        .await
        .expect("rediss:// with the server's CA answers");
    let stored = entry("/over-tls", "sealed", Duration::from_secs(60), &[]).await;
    store.put(Arc::clone(&stored)).await.unwrap();
    let read = store
        .get(&key("/over-tls"))
        .await
        .unwrap()
        .expect("the entry round-trips");
    assert_eq!(read.body(), "sealed");
    store_suite(&store).await;

    // Plain text to the TLS port, a CA that signed nothing here, and the system's roots: no
    // answer for any of them.
    let plain = RedisStore::builder(format!("redis://127.0.0.1:{}", server.port()))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(plain.ping().await.unwrap_err().kind(), ErrorKind::Store);
    for untrusted in [
        RedisStore::builder(server.tls_url()).tls_root_certificate(server.tls_other_ca()),
        RedisStore::builder(server.tls_url()),
    ] {
        let store = untrusted.timeout(Duration::from_millis(500)).build().unwrap();
        assert_eq!(store.ping().await.unwrap_err().kind(), ErrorKind::Store);
    }
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let server = RedisServer::start_mutual_tls();
    let without = RedisStore::builder(server.tls_url())
        .timeout(Duration::from_millis(500))
        .tls_root_certificate(server.tls_ca())
        .build()
        .unwrap();
    assert_eq!(without.ping().await.unwrap_err().kind(), ErrorKind::Store);
    let (certificate, private_key) = server.tls_client_certificate();
    let store = RedisStore::builder(server.tls_url())
        .timeout(Duration::from_secs(2))
        .tls_root_certificate(server.tls_ca())
        .tls_client_certificate(certificate, private_key)
        .connect()
        .await
        .unwrap();
    store.ping().await.expect("the client certificate is accepted");
    store
        .put(entry("/mtls", "both ways", Duration::from_secs(60), &[]).await)
        .await
        .unwrap();
    let read = store.get(&key("/mtls")).await.unwrap().expect("round trip");
    assert_eq!(read.body(), "both ways");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_on_a_three_node_cluster_over_tls() {
    let cluster = RedisCluster::start_tls(3);
    let store = RedisStore::cluster_builder(cluster.tls_urls())
        .prefix("suite:")
        .timeout(Duration::from_secs(1))
        .tls_root_certificate(cluster.tls_ca())
        .connect()
        .await
        .unwrap();
    store_suite(&store).await;
    let subscribed = eventually(Duration::from_secs(5), || async {
        store.is_subscribed().then_some(())
    })
    .await;
    assert!(
        subscribed.is_some(),
        "the listener subscribes on a TLS cluster node"
    );
    // Without the CA, no node is trusted.
    let untrusted = RedisStore::cluster_builder(cluster.tls_urls())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(untrusted.ping().await.unwrap_err().kind(), ErrorKind::Store);
}

#[tokio::test]
async fn a_rejected_password_is_never_shown_in_errors_or_debug() {
    let server = RedisServer::start();
    // Set after the start: the helper's readiness `PING` goes unauthenticated.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("right-pw")
        .query_async(&mut raw(&server).await)
        .await
        .unwrap();
    let url = |password: &str| format!("redis://default:{password}@127.0.0.1:{}", server.port());
    let builder = RedisStore::builder(url("wrong-s3cr3t")).timeout(Duration::from_secs(1));
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("wrong-s3cr3t") && shown.contains("default:***@"),
        "{shown}"
    );
    let store = builder.connect().await.unwrap();
    let error = store.ping().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Store);
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{error:#?}"),
        format!("{store:?}"),
    ] {
        assert!(!shown.contains("wrong-s3cr3t"), "{shown}");
    }
    let store = RedisStore::builder(url("right-pw"))
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    store.ping().await.expect("the right password is accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_on_a_three_node_cluster() {
    let cluster = RedisCluster::start(3);
    let store = RedisStore::cluster_builder(cluster.urls())
        .prefix("suite:")
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    assert!(store.is_cluster());
    store_suite(&store).await;
    // The readable-key index is sharded: many writes touch many index keys, on several
    // slots, and a purge by prefix reads every shard.
    let ttl = Duration::from_secs(60);
    for n in 0..64 {
        store
            .put(entry(&format!("/spread/{n}"), "s", ttl, &[]).await)
            .await
            .unwrap();
    }
    let mut nodes = redis::cluster::ClusterClient::new(cluster.urls())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    let mut node = redis::Client::open(cluster.urls()[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut slots = std::collections::HashSet::new();
    for shard in 0..16 {
        let index = format!("suite:{{index:{shard:x}}}:keys");
        let members: u64 = redis::cmd("ZCARD")
            .arg(&index)
            .query_async(&mut nodes)
            .await
            .unwrap();
        if members > 0 {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&index)
                .query_async(&mut node)
                .await
                .unwrap();
            slots.insert(slot);
        }
    }
    assert!(
        slots.len() >= 8,
        "64 writes touched index keys on {} slots",
        slots.len()
    );
    assert_eq!(store.remove_prefix("GET /spread/").await.unwrap(), 64);
    for n in [0, 31, 63] {
        assert!(store.get(&key(&format!("/spread/{n}"))).await.unwrap().is_none());
    }
    // Cross-instance locks work on a cluster too (lock and entry share a slot).
    let lock = store
        .try_lock(&key("/cluster-lock"))
        .await
        .unwrap()
        .expect("free");
    assert!(store.try_lock(&key("/cluster-lock")).await.unwrap().is_none());
    lock.release().await.unwrap();
    assert!(
        store
            .wait_for(&key("/cluster-lock"), Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    // A second instance waiting on the lock is woken over cluster pub/sub when the entry lands,
    // long before the lock's 10 s expiry.
    let other = RedisStore::cluster_builder(cluster.urls())
        .prefix("suite:")
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let subscribed = eventually(Duration::from_secs(5), || async {
        other.is_subscribed().then_some(())
    })
    .await;
    assert!(subscribed.is_some(), "the listener subscribes on a cluster node");
    let lock = store
        .try_lock(&key("/cluster-wait"))
        .await
        .unwrap()
        .expect("free");
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let entry = other
            .wait_for(&key("/cluster-wait"), Duration::from_secs(8))
            .await
            .unwrap();
        (entry.map(|e| e.body().clone()), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .put(entry("/cluster-wait", "landed", Duration::from_secs(60), &[]).await)
        .await
        .unwrap();
    lock.release().await.unwrap();
    let (body, waited) = waiter.await.unwrap();
    assert_eq!(body.as_deref(), Some(&b"landed"[..]));
    assert!(waited < Duration::from_secs(2), "woken after {waited:?}");
}

#[tokio::test]
async fn redis_layout_prefix_px_expiry_and_scan_only_within_the_prefix() {
    let server = RedisServer::start();
    let store = redis_store(&server, "app1:").await;
    let other = redis_store(&server, "app2:").await;
    let mut raw = raw(&server).await;
    let e = entry("/p", "body", Duration::from_secs(30), &["t"]).await;
    store.put(Arc::clone(&e)).await.unwrap();
    other.put(Arc::clone(&e)).await.unwrap();
    let redis_key = format!("app1:e:{{{}}}", e.key().digest().to_hex());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((29_000..=30_000).contains(&pttl), "PTTL {pttl}");
    let tag_pttl: i64 = redis::cmd("PTTL")
        .arg("app1:t:t")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((29_000..=30_000).contains(&tag_pttl), "tag set PTTL {tag_pttl}");
    let readable: String = redis::cmd("HGET")
        .arg(&redis_key)
        .arg("k")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(readable, e.key().readable());
    // Clearing one prefix leaves the other alone.
    assert_eq!(store.clear().await.unwrap(), 1);
    assert!(store.get(e.key()).await.unwrap().is_none());
    assert!(other.get(e.key()).await.unwrap().is_some());
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("app1:*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // A prefix purge on Redis is exact.
    store
        .put(entry("/a/1", "x", Duration::from_secs(30), &[]).await)
        .await
        .unwrap();
    store
        .put(entry("/b/1", "x", Duration::from_secs(30), &[]).await)
        .await
        .unwrap();
    assert_eq!(store.remove_prefix("GET /a/").await.unwrap(), 1);
    assert!(store.get(&key("/b/1")).await.unwrap().is_some());
}

#[tokio::test]
async fn large_bodies_are_compressed_and_round_trip() {
    let server = RedisServer::start();
    let store = redis_store(&server, "z:").await;
    let mut raw = raw(&server).await;
    let body = "compressible text, ".repeat(10_000);
    let e = entry("/big", body.clone(), Duration::from_secs(30), &[]).await;
    store.put(e).await.unwrap();
    let redis_key = format!("z:e:{{{}}}", key("/big").digest().to_hex());
    let stored: usize = redis::cmd("HSTRLEN")
        .arg(&redis_key)
        .arg("v")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        stored < body.len() / 10,
        "{stored} bytes stored for a {} byte body",
        body.len()
    );
    let got = store.get(&key("/big")).await.unwrap().unwrap();
    assert_eq!(got.body(), body.as_bytes());
    // Small bodies are stored as they are.
    store
        .put(entry("/small", "tiny", Duration::from_secs(30), &[]).await)
        .await
        .unwrap();
    let small = format!("z:e:{{{}}}", key("/small").digest().to_hex());
    let value: Vec<u8> = redis::cmd("HGET")
        .arg(&small)
        .arg("v")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value[1], 0, "flags: not compressed");
}

#[tokio::test]
async fn a_value_decompressing_beyond_the_stores_cap_is_a_miss() {
    let server = RedisServer::start();
    let writer = redis_store(&server, "z:").await;
    // 256 KiB that compresses to a few KiB: stored compressed.
    let stored = entry("/big", vec![b'a'; 256 * 1024], Duration::from_secs(60), &[]).await;
    writer.put(Arc::clone(&stored)).await.unwrap();
    assert!(writer.get(stored.key()).await.unwrap().is_some());
    let capped = RedisStore::builder(server.url())
        .prefix("z:")
        .timeout(TIMEOUT)
        .max_decoded_bytes(64 * 1024)
        .connect()
        .await
        .unwrap();
    // Refused as corrupt rather than allocated: the caller treats it as a miss.
    assert!(
        capped
            .get(stored.key())
            .await
            .map_or(true, |found| found.is_none())
    );
    let roomy = RedisStore::builder(server.url())
        .prefix("z:")
        .timeout(TIMEOUT)
        .max_decoded_bytes(512 * 1024)
        .connect()
        .await
        .unwrap();
    assert_eq!(
        roomy.get(stored.key()).await.unwrap().unwrap().body().len(),
        256 * 1024
    );
}

#[tokio::test]
async fn a_corrupt_value_is_a_miss_and_the_handler_answers() {
    let server = RedisServer::start();
    let store = redis_store(&server, "c:").await;
    let mut raw = raw(&server).await;
    // Through the cache and a real server: a miss, the handler answers, the value is replaced.
    let cache = Cache::builder().store(store.clone()).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let router = Router::new().route(
        "/r",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { format!("fresh-{n}") }
        })
        .layer(cache.layer(Policy::ttl(Duration::from_secs(30)))),
    );
    let server_http = TestServer::axum(router).await;
    let app_key = key_of_app(&server_http, "/r");
    let redis_key = format!("c:e:{{{}}}", app_key.digest().to_hex());
    for garbage in [
        &b""[..],
        b"\x01",
        b"\x01\x01\xff\xff\xff\xff\x0f junk",
        b"\x09garbage",
        &[0xff; 64],
    ] {
        redis::cmd("HSET")
            .arg(&redis_key)
            .arg("v")
            .arg(garbage)
            .exec_async(&mut raw)
            .await
            .unwrap();
        let error = store.get(&app_key).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Store, "{error}");
    }
    let http = client();
    let first = http.get(server_http.url("/r")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        header(&first, "cache-status").contains("fwd=uri-miss"),
        "{}",
        header(&first, "cache-status")
    );
    assert_eq!(first.text().await.unwrap(), "fresh-1");
    assert!(cache.stats().total.store_errors >= 1);
    // The next request is answered from Redis once the new value is written.
    let hit = eventually(Duration::from_secs(2), || async {
        let response = http.get(server_http.url("/r")).send().await.unwrap();
        header(&response, "cache-status")
            .contains("hit")
            .then_some(response)
    })
    .await
    .expect("the corrupt value was replaced");
    assert_eq!(hit.text().await.unwrap(), "fresh-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_instances_see_each_others_invalidations() {
    let server = RedisServer::start();
    let bound = Duration::from_millis(500);
    let a = TieredStore::builder(MemoryStore::new(), redis_store(&server, "inv:").await)
        .invalidation_bound(bound)
        .build()
        .unwrap();
    let b = TieredStore::builder(MemoryStore::new(), redis_store(&server, "inv:").await)
        .invalidation_bound(bound)
        .build()
        .unwrap();
    let subscribed = eventually(Duration::from_secs(3), || async {
        (a.redis().is_subscribed() && b.redis().is_subscribed()).then_some(())
    })
    .await;
    assert!(subscribed.is_some(), "both instances subscribe");
    let ttl = Duration::from_secs(60);

    // By tag: A writes, B reads (and keeps an L1 copy), A purges, B's copy goes.
    a.put(entry("/p/1", "v1", ttl, &["product:1"]).await)
        .await
        .unwrap();
    assert_eq!(b.get(&key("/p/1")).await.unwrap().unwrap().body(), "v1");
    assert!(
        b.memory().get(&key("/p/1")).await.unwrap().is_some(),
        "the L2 hit filled L1"
    );
    let started = Instant::now();
    assert_eq!(a.remove_tag("product:1").await.unwrap(), 1);
    let dropped = eventually(Duration::from_secs(1), || async {
        b.memory()
            .get(&key("/p/1"))
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(dropped.is_some(), "B still serves a purged tag from memory");
    let tag_latency = started.elapsed();
    assert!(b.get(&key("/p/1")).await.unwrap().is_none());

    // By key.
    a.put(entry("/p/2", "v2", ttl, &[]).await).await.unwrap();
    assert!(b.get(&key("/p/2")).await.unwrap().is_some());
    let started = Instant::now();
    assert!(a.remove(&key("/p/2")).await.unwrap());
    let dropped = eventually(Duration::from_secs(1), || async {
        b.get(&key("/p/2")).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(dropped.is_some(), "B still serves a removed key");
    let key_latency = started.elapsed();

    // By prefix of the readable key.
    a.put(entry("/q/1", "q1", ttl, &[]).await).await.unwrap();
    b.put(entry("/r/1", "r1", ttl, &[]).await).await.unwrap();
    assert!(b.get(&key("/q/1")).await.unwrap().is_some());
    assert_eq!(a.remove_prefix("GET /q/").await.unwrap(), 1);
    let dropped = eventually(Duration::from_secs(1), || async {
        b.memory()
            .get(&key("/q/1"))
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(dropped.is_some(), "B still serves a purged prefix");
    assert!(
        b.memory().get(&key("/r/1")).await.unwrap().is_some(),
        "other prefixes stay"
    );

    // Everything.
    a.put(entry("/p/3", "v3", ttl, &[]).await).await.unwrap();
    assert!(b.get(&key("/p/3")).await.unwrap().is_some());
    b.clear().await.unwrap();
    let dropped = eventually(Duration::from_secs(1), || async {
        a.memory()
            .get(&key("/p/3"))
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(dropped.is_some(), "A still serves after B cleared everything");
    eprintln!("invalidation reached the other instance in {tag_latency:?} (tag), {key_latency:?} (key)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_and_a_thousand_cold_requests_compute_once() {
    let server = RedisServer::start();
    // A generous timeout: this test is about coalescing, on a machine that may be busy.
    let connect = || async {
        RedisStore::builder(server.url())
            .prefix("lock:")
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap()
    };
    let instances = [
        TieredStore::new(MemoryStore::new(), connect().await),
        TieredStore::new(MemoryStore::new(), connect().await),
    ];
    let computed = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(1000));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let store = instances[i % 2].clone();
        let computed = Arc::clone(&computed);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            // The flow a cache follows on a cold key across instances.
            let key = key("/cold");
            if let Some(entry) = store.get(&key).await.unwrap() {
                return entry.body().clone();
            }
            match store.try_lock(&key).await.unwrap() {
                Some(lock) => {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let entry = entry("/cold", "computed once", Duration::from_secs(60), &[]).await;
                    store.put(Arc::clone(&entry)).await.unwrap();
                    lock.release().await.unwrap();
                    entry.body().clone()
                }
                None => store
                    .wait_for(&key, Duration::from_secs(5))
                    .await
                    .unwrap()
                    .expect("the lock holder stored the entry")
                    .body()
                    .clone(),
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "computed once");
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    // Woken when the entry lands, not at the lock's 10 s expiry.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn waiters_are_woken_when_a_lock_is_released_without_an_entry() {
    let server = RedisServer::start();
    let a = redis_store(&server, "w:").await;
    let b = redis_store(&server, "w:").await;
    let subscribed = eventually(Duration::from_secs(3), || async {
        b.is_subscribed().then_some(())
    })
    .await;
    assert!(subscribed.is_some());
    let lock = a.try_lock(&key("/w")).await.unwrap().expect("free");
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let entry = b.wait_for(&key("/w"), Duration::from_secs(5)).await.unwrap();
        (entry.is_none(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    lock.release().await.unwrap();
    let (none, waited) = waiter.await.unwrap();
    assert!(none);
    assert!(waited < Duration::from_secs(1), "woken after {waited:?}");
    // A dropped lock is released too.
    let lock = a.try_lock(&key("/w")).await.unwrap().expect("free again");
    drop(lock);
    let free = eventually(Duration::from_secs(1), || async {
        a.try_lock(&key("/w")).await.unwrap()
    })
    .await;
    assert!(free.is_some(), "a dropped lock was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_that_failed_while_redis_was_down_are_replayed_when_it_answers() {
    let mut server = RedisServer::start();
    let prefix = "replay:";
    let writer = TieredStore::new(MemoryStore::new(), redis_store(&server, prefix).await);
    let ttl = Duration::from_secs(60);
    for (path, tags) in [
        ("/by-key", &[][..]),
        ("/by-tag", &["product:1"][..]),
        ("/kept", &[][..]),
    ] {
        writer.put(entry(path, "old", ttl, tags).await).await.unwrap();
    }
    // Redis snapshots (as a production Redis does) and goes down.
    let () = redis::cmd("SAVE")
        .query_async(&mut raw(&server).await)
        .await
        .unwrap();
    server.kill();
    assert!(
        writer.remove(&key("/by-key")).await.is_err(),
        "Redis is down: the removal fails"
    );
    assert!(
        writer.remove_tag("product:1").await.is_err(),
        "Redis is down: the purge fails"
    );
    server.restart();

    // This instance never reads back what it failed to invalidate: a read replays first.
    assert!(
        !matches!(writer.get(&key("/by-key")).await, Ok(Some(_))),
        "the instance that invalidated /by-key read it back from Redis"
    );
    // The replay reaches Redis: the snapshot's copies go, the rest of the snapshot stays.
    let redis_key = |path: &str| format!("{prefix}e:{{{}}}", key(path).digest().to_hex());
    let replayed = eventually(Duration::from_secs(10), || async {
        let mut raw = redis::Client::open(server.url())
            .ok()?
            .get_multiplexed_async_connection()
            .await
            .ok()?;
        let (by_key, by_tag, kept): (bool, bool, bool) = redis::pipe()
            .exists(redis_key("/by-key"))
            .exists(redis_key("/by-tag"))
            .exists(redis_key("/kept"))
            .query_async(&mut raw)
            .await
            .ok()?;
        assert!(kept, "the snapshot was restored");
        (!by_key && !by_tag).then_some(())
    })
    .await;
    assert!(
        replayed.is_some(),
        "the failed invalidations were not replayed within 10 s"
    );
    // A fresh instance's memory is not filled with the invalidated entries from Redis.
    let fresh = TieredStore::new(MemoryStore::new(), redis_store(&server, prefix).await);
    assert!(fresh.get(&key("/by-key")).await.unwrap().is_none());
    assert!(fresh.get(&key("/by-tag")).await.unwrap().is_none());
    assert!(fresh.get(&key("/kept")).await.unwrap().is_some());
    assert!(fresh.memory().get(&key("/by-key")).await.unwrap().is_none());
}

/// A `/slow/{id}` route on a tiered cache: 50 ms per computation, cached 30 s.
async fn slow_server(store: TieredStore) -> (TestServer, Cache, Arc<AtomicUsize>) {
    let cache = Cache::builder().store(store).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let router = Router::new().route(
        "/slow/{id}",
        get(move |Path(id): Path<String>| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                format!("slow-{id}")
            }
        })
        .layer(cache.layer(Policy::ttl(Duration::from_secs(30)).name("/slow/{id}"))),
    );
    (TestServer::axum(router).await, cache, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_fails_open_and_restarted_resumes_by_itself() {
    let mut server = RedisServer::start();
    let tiered = TieredStore::builder(MemoryStore::new(), redis_store(&server, "kill:").await)
        .invalidation_bound(Duration::from_millis(300))
        .build()
        .unwrap();
    let (app, cache, calls) = slow_server(tiered.clone()).await;
    let http = client();
    for id in 0..20 {
        let response = http.get(app.url(&format!("/slow/{id}"))).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), format!("slow-{id}"));
    }
    let warm_calls = calls.load(Ordering::SeqCst);
    assert_eq!(warm_calls, 20);

    server.kill();
    // Store calls fail fast: within the timeout (and at once while the circuit is open).
    for _ in 0..10 {
        let started = Instant::now();
        let error = tiered.redis().get(&key("/anything")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Store);
        assert!(
            started.elapsed() < TIMEOUT + Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }
    // Every request is still answered correctly, under load, by memory or the handler.
    let started = Instant::now();
    let mut requests = Vec::new();
    for i in 0..400 {
        let http = http.clone();
        let url = app.url(&format!("/slow/{}", i % 40));
        requests.push(tokio::spawn(async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }));
    }
    for (i, request) in requests.into_iter().enumerate() {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, format!("slow-{}", i % 40));
    }
    let outage = started.elapsed();
    assert!(
        outage < Duration::from_secs(10),
        "400 requests took {outage:?} with Redis down"
    );
    assert!(cache.stats().total.store_errors > 0, "errors are counted");
    let subscribed_lost = eventually(Duration::from_secs(3), || async {
        (!tiered.redis().is_subscribed()).then_some(())
    })
    .await;
    assert!(subscribed_lost.is_some(), "the listener notices the outage");

    // Redis comes back, empty: the tier resumes without a restart of the app.
    server.restart();
    let resumed = eventually(Duration::from_secs(10), || async {
        tiered.redis().ping().await.ok()
    })
    .await;
    assert!(resumed.is_some(), "the store reconnects by itself");
    let resubscribed = eventually(Duration::from_secs(10), || async {
        tiered.redis().is_subscribed().then_some(())
    })
    .await;
    assert!(resubscribed.is_some(), "the listener resubscribes by itself");
    let response = http.get(app.url("/slow/fresh")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "slow-fresh");
    let stored = eventually(Duration::from_secs(3), || async {
        tiered
            .redis()
            .get(&key_of_app(&app, "/slow/fresh"))
            .await
            .ok()
            .flatten()
    })
    .await;
    assert!(stored.is_some(), "L2 is written again after the restart");
    eprintln!(
        "outage: 400 requests in {outage:?}, {} handler calls, {} store errors counted",
        calls.load(Ordering::SeqCst) - warm_calls,
        cache.stats().total.store_errors
    );
}

/// A TCP proxy on 127.0.0.1 in front of a `redis-server`, which can be made slow: every chunk
/// read, in either direction, is held back by the delay in force when it was read (a delay
/// line: latency without a loss of throughput), then written on in order.
struct SlowProxy {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    /// Accepts connections; aborting it drops its `JoinSet`, which aborts every connection.
    accepting: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = Arc::clone(&delay_ms);
        let accepting = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                // An error here would fail every connection alike: the test says so loudly.
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                let delay = Arc::clone(&delay);
                connections.spawn(async move {
                    let connect = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, upstream));
                    let Ok(Ok(server)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        delay_line(client_read, server_write, Arc::clone(&delay)),
                        delay_line(server_read, client_write, delay),
                    );
                });
            }
        });
        Self {
            port,
            delay_ms,
            accepting,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Holds back every chunk read from now on by `delay` (zero: none).
    fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read. Dropping `to` at the
/// end closes that direction, as the peer closed it.
async fn delay_line(from: OwnedReadHalf, to: OwnedWriteHalf, delay: Arc<AtomicU64>) {
    let (chunks, mut queued) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reading = async move {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            if from.readable().await.is_err() {
                return;
            }
            match from.try_read(&mut buffer) {
                Ok(0) => return,
                Ok(read) => {
                    let due =
                        tokio::time::Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
                    if chunks.send((due, buffer[..read].to_vec())).is_err() {
                        return;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                if to.writable().await.is_err() {
                    return;
                }
                match to.try_write(rest) {
                    Ok(written) => rest = &rest[written..],
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        }
    };
    tokio::join!(reading, writing);
}

/// The longest a request in these tests may take before the cache counts as hung.
const HUNG: Duration = Duration::from_secs(5);

/// One response, read whole, and how long it took.
struct Fetched {
    status: http::StatusCode,
    body: String,
    cache_status: String,
    took: Duration,
}

/// `GET url`, bounded by [`HUNG`].
async fn fetch(http: &reqwest::Client, url: &str) -> Fetched {
    let started = Instant::now();
    let fetched = tokio::time::timeout(HUNG, async {
        let response = http.get(url).send().await.expect("the app answers");
        let status = response.status();
        let cache_status = header(&response, "cache-status").to_owned();
        let body = response.text().await.expect("the body arrives");
        (status, body, cache_status)
    })
    .await;
    let Ok((status, body, cache_status)) = fetched else {
        panic!("GET {url} took more than {HUNG:?}: the cache hangs");
    };
    Fetched {
        status,
        body,
        cache_status,
        took: started.elapsed(),
    }
}

/// One instance of an application with a tiered cache: `/item/{id}` answers `item-{id}` at
/// once and counts its calls. Its keys leave the host out (as behind a load balancer, where
/// every instance sees the same `Host`), so that instances share entries through Redis.
struct Instance {
    app: TestServer,
    cache: Cache,
    store: TieredStore,
    calls: Arc<AtomicUsize>,
}

impl Instance {
    async fn start(redis_url: &str, prefix: &str, timeout: Duration) -> Self {
        let redis = RedisStore::builder(redis_url)
            .prefix(prefix)
            .timeout(timeout)
            .connect()
            .await
            .unwrap();
        let store = TieredStore::new(MemoryStore::new(), redis);
        // Bounded, so that a request waiting on another instance's lock cannot stall a test.
        let cache = Cache::builder()
            .store(store.clone())
            .coalesce_wait(Duration::from_secs(1))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let policy = Policy::ttl(Duration::from_secs(60))
            .key(KeySpec::default().host(false))
            .name("/item/{id}");
        let router = Router::new().route(
            "/item/{id}",
            get(move |Path(id): Path<String>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { format!("item-{id}") }
            })
            .layer(cache.layer(policy)),
        );
        Self {
            app: TestServer::axum(router).await,
            cache,
            store,
            calls,
        }
    }

    fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    fn store_errors(&self) -> u64 {
        self.cache.stats().total.store_errors
    }
}

/// Whether a response `writer` computes and stores for `path` is then served to `reader`
/// as an L2 hit: a `hit` whose handler did not run, from an entry `reader` did not hold.
async fn shared_through_l2(http: &reqwest::Client, writer: &Instance, reader: &Instance, path: &str) -> bool {
    let expected = format!("item-{}", path.trim_start_matches("/item/"));
    let written = fetch(http, &writer.url(path)).await;
    assert_eq!((written.status.as_u16(), &*written.body), (200, &*expected));
    // The writer stores in the background once its response is sent: wait for the write.
    writer.cache.run_pending_tasks().await;
    let calls = reader.calls.load(Ordering::SeqCst);
    let read = fetch(http, &reader.url(path)).await;
    assert_eq!((read.status.as_u16(), &*read.body), (200, &*expected));
    read.cache_status.contains("hit") && reader.calls.load(Ordering::SeqCst) == calls
}

/// Probes with a new path (through [`eventually`]) until an entry written by `writer` is an
/// L2 hit for `reader`; how long that took, or `None` after `within`.
async fn until_shared_through_l2(
    http: &reqwest::Client,
    writer: &Instance,
    reader: &Instance,
    label: &str,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut probe = 0;
    eventually(within, || {
        probe += 1;
        let path = format!("/item/{label}-{probe}");
        async move {
            shared_through_l2(http, writer, reader, &path)
                .await
                .then(|| started.elapsed())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_a_request_at_most_the_timeout_and_l2_resumes_when_it_is_fast_again() {
    // Longer than elsewhere, so that the margin below is well under it: one timeout passes
    // the bound, two (a request paying for a lookup and a lock, say) do not.
    const TIMEOUT: Duration = Duration::from_millis(400);
    // Requests wait on Redis for at most the timeout, plus this much for everything else
    // (HTTP, the handler, scheduling on a busy two-core machine).
    const MARGIN: Duration = Duration::from_millis(250);
    let server = RedisServer::start();
    let proxy = SlowProxy::start(server.port()).await;
    let a = Instance::start(&proxy.url(), "slow:", TIMEOUT).await;
    let b = Instance::start(&proxy.url(), "slow:", TIMEOUT).await;
    let http = client();
    let subscribed = eventually(Duration::from_secs(3), || async {
        (a.store.redis().is_subscribed() && b.store.redis().is_subscribed()).then_some(())
    })
    .await;
    assert!(subscribed.is_some(), "both instances subscribe through the proxy");
    assert!(
        shared_through_l2(&http, &a, &b, "/item/before").await,
        "L2 works through the proxy"
    );
    // Some entries in each instance's memory, some only in Redis.
    for id in 0..10 {
        fetch(&http, &a.url(&format!("/item/{id}"))).await;
    }

    // Slow: every chunk held back three timeouts each way.
    let delay = TIMEOUT * 3;
    proxy.set_delay(delay);
    let errors_before = a.store_errors() + b.store_errors();
    let started = Instant::now();
    let error = tokio::time::timeout(HUNG, a.store.redis().get(&key("/direct")))
        .await
        .expect("a store call hangs")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Store);
    let direct = started.elapsed();
    assert!(direct <= TIMEOUT + MARGIN, "a store call took {direct:?}");
    // Load from 8 clients for 2.5 s: long enough for the pub/sub listener's keep-alive ping to
    // fail and for many probes of the circuit breaker to time out.
    let slow_until = Instant::now() + Duration::from_millis(2500);
    let urls = [a.url(""), b.url("")];
    let mut clients = Vec::new();
    for client_id in 0..8 {
        let http = http.clone();
        let urls = urls.clone();
        clients.push(tokio::spawn(async move {
            let mut took = Vec::new();
            let mut n = client_id;
            while Instant::now() < slow_until {
                let id = n % 25;
                let fetched = fetch(&http, &format!("{}/item/{id}", urls[n % 2])).await;
                assert_eq!(fetched.status, 200, "{}", fetched.body);
                assert_eq!(fetched.body, format!("item-{id}"));
                took.push(fetched.took);
                n += 3;
            }
            took
        }));
    }
    let mut took = Vec::new();
    for client in clients {
        took.extend(client.await.unwrap());
    }
    took.sort_unstable();
    let max = *took.last().unwrap();
    let median = took[took.len() / 2];
    let errors = a.store_errors() + b.store_errors() - errors_before;
    eprintln!(
        "slow Redis (+{:?} per chunk each way, timeout {TIMEOUT:?}): {} requests, median {median:?}, \
         max {max:?} (bound {:?}); a direct store call failed after {direct:?}; {errors} store errors counted",
        delay,
        took.len(),
        TIMEOUT + MARGIN
    );
    assert!(
        max <= TIMEOUT + MARGIN,
        "a request took {max:?} while Redis was slow; the timeout is {TIMEOUT:?}"
    );
    assert!(errors > 0, "store errors are counted");

    // Fast again: L2 serves one instance's entries to the other once more. What the proxy holds
    // back already is still delivered in order, behind which the store's (multiplexed)
    // connection waits: up to one delay, then the probe closes the circuit.
    proxy.set_delay(Duration::ZERO);
    let resumed = until_shared_through_l2(&http, &a, &b, "after", Duration::from_secs(5)).await;
    let Some(resumed) = resumed else {
        panic!("L2 did not serve an entry across instances within 5 s of Redis being fast again");
    };
    eprintln!(
        "L2 served across instances again {resumed:?} after Redis was fast again (the proxy still held \
         up to {delay:?} of traffic)"
    );
    assert!(
        resumed <= delay + Duration::from_secs(1),
        "L2 took {resumed:?} to serve again once Redis was fast"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_serves_across_instances_within_a_second_of_redis_restarting() {
    let mut server = RedisServer::start();
    let a = Instance::start(&server.url(), "back:", TIMEOUT).await;
    let b = Instance::start(&server.url(), "back:", TIMEOUT).await;
    let http = client();
    assert!(
        shared_through_l2(&http, &a, &b, "/item/before").await,
        "L2 works before the outage"
    );
    server.kill();
    // Two seconds down, with requests: the circuit opens, reconnections fail.
    let down_until = Instant::now() + Duration::from_secs(2);
    let mut n = 0;
    while Instant::now() < down_until {
        let instance = if n % 2 == 0 { &a } else { &b };
        let fetched = fetch(&http, &instance.url(&format!("/item/{}", n % 10))).await;
        assert_eq!(fetched.body, format!("item-{}", n % 10));
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(a.store_errors() > 0 && b.store_errors() > 0, "errors are counted");

    // Back, empty, on the same port: measured from when it answers PING.
    tokio::task::block_in_place(|| server.restart());
    let recovered = until_shared_through_l2(&http, &a, &b, "after", Duration::from_secs(5)).await;
    let Some(recovered) = recovered else {
        panic!("L2 did not serve an entry across instances within 5 s of Redis restarting");
    };
    eprintln!(
        "L2 served across instances again {recovered:?} after redis-server restarted ({n} requests \
         during the 2 s outage)"
    );
    assert!(
        recovered <= Duration::from_secs(1),
        "L2 took {recovered:?} to serve again after Redis restarted"
    );
}

/// The key the default key spec builds for a request to the test server.
fn key_of_app(app: &TestServer, path: &str) -> CacheKey {
    let url = app.url(path);
    let request = http::Request::get(url.as_str()).body(()).unwrap();
    KeySpec::default().build(&request)
}

#[tokio::test]
async fn while_the_channel_is_down_memory_copies_are_capped_by_the_bound() {
    let mut server = RedisServer::start();
    let bound = Duration::from_millis(300);
    let tiered = TieredStore::builder(MemoryStore::new(), redis_store(&server, "cap:").await)
        .invalidation_bound(bound)
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || async {
            tiered.redis().is_subscribed().then_some(())
        })
        .await
        .is_some()
    );
    // A healthy channel stays up across its keep-alive pings, and memory copies stay.
    tiered
        .put(entry("/up", "u", Duration::from_secs(60), &[]).await)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(tiered.redis().is_subscribed());
    assert!(
        tiered.memory().get(&key("/up")).await.unwrap().is_some(),
        "L1 was emptied while up"
    );
    server.kill();
    assert!(
        eventually(Duration::from_secs(3), || async {
            (!tiered.redis().is_subscribed()).then_some(())
        })
        .await
        .is_some()
    );
    // Written while down: in memory only (L2 fails), and gone within the bound.
    let result = tiered
        .put(entry("/down", "d", Duration::from_secs(60), &[]).await)
        .await;
    assert!(result.is_err(), "the L2 write fails and says so");
    assert!(tiered.memory().get(&key("/down")).await.unwrap().is_some());
    let started = Instant::now();
    let gone = eventually(bound * 3, || async {
        tiered
            .memory()
            .get(&key("/down"))
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "an L1 copy outlived the bound while the channel was down"
    );
    // The bound, plus scheduling slack on a busy machine.
    assert!(
        started.elapsed() <= bound + Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

/// The median of `samples` run one at a time, in microseconds.
async fn median_micros<F, Fut>(samples: usize, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        op().await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times[samples / 2].as_secs_f64() * 1e6
}

#[tokio::test]
async fn an_l2_hit_costs_about_a_bare_get_and_an_l1_hit_about_a_memory_hit() {
    let server = RedisServer::start();
    let store = redis_store(&server, "bench:").await;
    let mut raw = raw(&server).await;
    // A 4 KiB JSON-like body: compressed (above 1 KiB), as most cached pages would be.
    let body: String = (0..100)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}},"))
        .collect::<String>()
        .repeat(2);
    let e = entry("/bench", body, Duration::from_secs(600), &[]).await;
    store.put(Arc::clone(&e)).await.unwrap();
    // The same stored bytes under a plain string key, for the bare GET.
    let entry_key = format!("bench:e:{{{}}}", e.key().digest().to_hex());
    let value: Vec<u8> = redis::cmd("HGET")
        .arg(&entry_key)
        .arg("v")
        .query_async(&mut raw)
        .await
        .unwrap();
    redis::cmd("SET")
        .arg("bare")
        .arg(&value)
        .exec_async(&mut raw)
        .await
        .unwrap();
    let samples = 1000;
    let (mut bare, mut l2) = (Vec::new(), Vec::new());
    // Interleaved rounds, so that load on the machine hits both alike.
    for _ in 0..3 {
        bare.push(
            median_micros(samples, || {
                let mut raw = raw.clone();
                async move {
                    let value: Vec<u8> = redis::cmd("GET").arg("bare").query_async(&mut raw).await.unwrap();
                    assert!(!value.is_empty());
                }
            })
            .await,
        );
        l2.push(
            median_micros(samples, || async {
                assert!(store.get(e.key()).await.unwrap().is_some());
            })
            .await,
        );
    }
    let bare = bare.iter().copied().fold(f64::INFINITY, f64::min);
    let l2 = l2.iter().copied().fold(f64::INFINITY, f64::min);

    let memory = MemoryStore::new();
    memory.put(Arc::clone(&e)).await.unwrap();
    let tiered = TieredStore::new(MemoryStore::new(), store.clone());
    tiered.get(e.key()).await.unwrap().unwrap();
    let memory_hit = median_micros(samples * 10, || async {
        assert!(memory.get(e.key()).await.unwrap().is_some());
    })
    .await;
    let l1_hit = median_micros(samples * 10, || async {
        assert!(tiered.get(e.key()).await.unwrap().is_some());
    })
    .await;
    eprintln!(
        "median, {} B value: bare GET {bare:.1} µs, L2 hit {l2:.1} µs ({:.2}x); memory hit {memory_hit:.2} µs, \
         L1 hit {l1_hit:.2} µs ({:.2}x)",
        value.len(),
        l2 / bare,
        l1_hit / memory_hit
    );
    // Loose bounds for a shared machine: the figures above are what to read. Measured with
    // `cargo test --release -p integration-tests --test redis an_l2 -- --nocapture`: about
    // 1.1x for both. In a debug build the store's own path (redis-rs's connection manager,
    // the codec) costs ~190 µs while a bare GET on a multiplexed connection takes 30 µs or
    // 130 µs from one run to the next, so the L2 ratio is only a figure there.
    if !cfg!(debug_assertions) {
        assert!(l2 / bare < 1.5, "L2 hit {l2:.1} µs vs bare GET {bare:.1} µs");
    }
    assert!(
        l1_hit / memory_hit < 3.0,
        "L1 hit {l1_hit:.2} µs vs memory hit {memory_hit:.2} µs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_app_instances_and_a_thousand_cold_requests_run_the_handler_once() {
    let server = RedisServer::start();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut apps = Vec::new();
    for _ in 0..2 {
        let cache = server.tiered_cache("apps:").await;
        let counter = Arc::clone(&calls);
        // Each instance listens on its own port: the key leaves the host out, as the `Host`
        // behind a load balancer would be the same for both.
        let policy = Policy::ttl(Duration::from_secs(60)).key(KeySpec::default().host(false));
        let router = Router::new().route(
            "/cold",
            get(move || {
                let counter = Arc::clone(&counter);
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "computed once"
                }
            })
            .layer(cache.layer(policy)),
        );
        apps.push(TestServer::axum(router).await);
    }
    let http = client();
    let barrier = Arc::new(Barrier::new(1000));
    let mut requests = Vec::new();
    for i in 0..1000 {
        let http = http.clone();
        let url = apps[i % 2].url("/cold");
        let barrier = Arc::clone(&barrier);
        requests.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }));
    }
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, "computed once");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one handler call across both instances"
    );
}

/// A hot key goes stale on every instance at once: the cross-instance lock is taken over the
/// stale entry too, so one instance goes to the origin and the others wait for its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_key_going_stale_on_many_instances_costs_one_origin_call() {
    const INSTANCES: usize = 6;
    let server = RedisServer::start();
    let calls = Arc::new(AtomicUsize::new(0));
    // The first call (priming) answers at once; the refresh answers when the test says so.
    let (release, released) = tokio::sync::watch::channel(false);
    let mut apps = Vec::new();
    let mut caches = Vec::new();
    for _ in 0..INSTANCES {
        let cache = server.tiered_cache("stale:").await;
        // Kept past its freshness, so that a stale copy is there on every instance.
        let policy = Policy::ttl(Duration::from_secs(1))
            .keep_stale(Duration::from_secs(60))
            .key(KeySpec::default().host(false));
        let (counter, released) = (Arc::clone(&calls), released.clone());
        let router = Router::new().route(
            "/hot",
            get(move || {
                let (counter, mut released) = (Arc::clone(&counter), released.clone());
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    if n > 1 {
                        let _ = released.wait_for(|r| *r).await;
                    }
                    format!("call {n}")
                }
            })
            .layer(cache.layer(policy)),
        );
        apps.push(TestServer::axum(router).await);
        caches.push(cache);
    }
    let http = client();
    // Every instance has the key, fresh.
    for app in &apps {
        let response = http.get(app.url("/hot")).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "call 1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stored = KeySpec::default()
        .host(false)
        .build(&http::Request::get("/hot").body(()).unwrap());
    let probe = redis_store(&server, "stale:").await;
    eventually(Duration::from_secs(5), || async {
        let entry = probe.get(&stored).await.unwrap()?;
        (!entry.is_fresh(std::time::SystemTime::now())).then_some(())
    })
    .await
    .expect("the entry goes stale");
    let waits_before: u64 = caches.iter().map(|c| c.stats().total.coalesced_waits).sum();
    // It expires everywhere at once: every instance asks together.
    let barrier = Arc::new(Barrier::new(INSTANCES));
    let mut requests = Vec::new();
    for app in &apps {
        let (http, url, barrier) = (http.clone(), app.url("/hot"), Arc::clone(&barrier));
        requests.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }));
    }
    // Hold the refresh until every other instance waits for it (or, without the lock, has gone
    // to the origin itself).
    let settled = eventually(Duration::from_secs(10), || async {
        let waits: u64 = caches.iter().map(|c| c.stats().total.coalesced_waits).sum();
        let refreshes = calls.load(Ordering::SeqCst) - 1;
        (refreshes >= 1 && refreshes + (waits - waits_before) as usize >= INSTANCES).then_some(())
    })
    .await;
    release.send(true).unwrap();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, "call 2", "every instance gets the one refresh");
    }
    assert!(settled.is_some(), "the refresh and the waits happened");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one origin call for the stale key across {INSTANCES} instances"
    );
}

/// Every key, field, member and value under `prefix` in Redis, as text; the entries' `v`
/// values (the stored response) separately.
async fn everything_under(server: &RedisServer, prefix: &str) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut connection = raw(server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut text = keys.clone();
    let mut values = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let items: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => {
                let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                let mut items = Vec::new();
                for (field, value) in fields {
                    if field == "v" {
                        values.push(value);
                    } else {
                        items.push(field.into_bytes());
                        items.push(value);
                    }
                }
                items
            }
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut connection)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap(),
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .unwrap(),
            ],
            // Expired since KEYS listed it (a lock, say).
            "none" => continue,
            other => panic!("unexpected Redis type {other} at {key}"),
        };
        text.extend(
            items
                .iter()
                .map(|item| String::from_utf8_lossy(item).into_owned()),
        );
    }
    (text, values)
}

#[tokio::test]
async fn no_raw_credential_reaches_the_redis_index_keys_or_messages() {
    let server = RedisServer::start();
    let store = redis_store(&server, "creds:").await;
    // Listen on the invalidation channel, where readable keys once travelled.
    let mut pubsub = redis::Client::open(server.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub.subscribe("creds:invalidate").await.unwrap();
    let cache = Cache::builder().store(store.clone()).build().unwrap();
    // Path, policy, response headers.
    type Case<'a> = (&'a str, Policy, &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 3] = [
        (
            "/keyed",
            Policy::ttl(Duration::from_secs(60)).cookies(cachefront::Credentials::PartOfKey),
            &[],
        ),
        (
            "/authorized",
            Policy::ttl(Duration::from_secs(60)).authorization(cachefront::Credentials::PartOfKey),
            &[],
        ),
        (
            "/varied",
            Policy::ttl(Duration::from_secs(60)).cookies(cachefront::Credentials::Ignore),
            &[("vary", "Cookie")],
        ),
    ];
    for (path, policy, response_headers) in cases {
        let route = cache.route(policy);
        // Each route keys on one credential; the other would make the request bypass.
        let credential = if path == "/authorized" {
            ("authorization", "Bearer SECRET-TOKEN")
        } else {
            ("cookie", "sid=SECRET-SESSION")
        };
        let request = http::Request::get(format!("http://example.com{path}"))
            .header(credential.0, credential.1)
            .body(())
            .unwrap();
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("{path}: a cold key is forwarded");
        };
        let mut headers = http::HeaderMap::new();
        for (name, value) in response_headers {
            headers.insert(*name, value.parse().unwrap());
        }
        let mut collector = forward
            .response(http::StatusCode::OK, &headers)
            .collector
            .unwrap_or_else(|| panic!("{path}: storable"));
        collector.push(&Bytes::from_static(b"personal"));
        collector.finish();
        eventually(Duration::from_secs(5), || async {
            matches!(route.lookup(&request).await, Lookup::Hit(_)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{path}: stored"));
    }
    // The index, tag sets, locks and entries' fields: readable keys hold digests only; and the
    // entries' values (the stored responses, with the request values `Vary` needs) keep a
    // credential's digest, not the credential.
    let (text, values) = everything_under(&server, "creds:").await;
    assert!(!values.is_empty());
    for value in &values {
        assert!(
            !value.windows(6).any(|w| w == b"SECRET"),
            "a raw credential in a stored value: {}",
            String::from_utf8_lossy(value)
        );
    }
    assert!(text.iter().any(|item| item.contains("cookie=#")), "{text:?}");
    assert!(
        text.iter().any(|item| item.contains("authorization=#")),
        "{text:?}"
    );
    for item in &text {
        assert!(!item.contains("SECRET"), "a raw credential in Redis: {item:?}");
    }
    // Removals tell the other instances what went.
    for path in ["/keyed", "/authorized", "/varied"] {
        assert!(cache.invalidator().path(path).await.unwrap() > 0, "{path}");
    }
    use futures_util::StreamExt as _;
    let mut messages = Vec::new();
    let mut stream = pubsub.on_message();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
        messages.push(String::from_utf8_lossy(message.get_payload_bytes()).into_owned());
    }
    drop(stream);
    for message in &messages {
        assert!(
            !message.contains("SECRET"),
            "a raw credential on pub/sub: {message:?}"
        );
    }
}

/// A purge on one instance is not undone by a miss in flight on another (issue #14, item 7):
/// instance A starts a miss, instance B purges its tag, A hears of it and then finishes; what A
/// produced from the purged data is stored on neither instance nor in Redis.
#[tokio::test]
async fn a_purge_on_one_instance_voids_a_miss_in_flight_on_another() {
    let server = RedisServer::start();
    let stores = [
        TieredStore::new(MemoryStore::new(), redis_store(&server, "flight:").await),
        TieredStore::new(MemoryStore::new(), redis_store(&server, "flight:").await),
    ];
    let subscribed = eventually(Duration::from_secs(3), || async {
        stores.iter().all(|s| s.redis().is_subscribed()).then_some(())
    })
    .await;
    assert!(subscribed.is_some(), "both instances subscribe");
    let [a, b] = stores.map(|store| Cache::builder().store(store).build().unwrap());
    let policy = || Policy::ttl(Duration::from_secs(60)).tag("product");
    let (route_a, route_b) = (a.route(policy()), b.route(policy()));
    let Lookup::Forward(miss) = route_a.lookup(&request("/products/7")).await else {
        panic!("cold");
    };
    let heard_before = a.store().invalidation_epoch();
    b.invalidator().tag("product").await.unwrap();
    // A counter, not a sleep: A has heard B's purge.
    let heard = eventually(Duration::from_secs(3), || async {
        (a.store().invalidation_epoch() > heard_before).then_some(())
    })
    .await;
    assert!(heard.is_some(), "A hears B's purge over pub/sub");
    let verdict = miss.response(http::StatusCode::OK, &http::HeaderMap::new());
    let mut collector = verdict.collector.expect("storable");
    collector.push(&Bytes::from_static(b"old"));
    collector.finish();
    tokio::task::yield_now().await;
    for (name, route) in [("A", &route_a), ("B", &route_b)] {
        assert!(
            matches!(route.lookup(&request("/products/7")).await, Lookup::Forward(_)),
            "instance {name} does not serve what the purge replaced"
        );
    }
}

/// With 3 variants of one URI stored in Redis (and 1 of another), a purge by path, tag,
/// prefix or all reports each removed response once: the primary key's copy of the latest
/// variant is not counted beside it (issue #14, item 17).
#[tokio::test]
async fn purges_count_each_variant_once_on_redis() {
    let server = RedisServer::start();
    let store = TieredStore::new(MemoryStore::new(), redis_store(&server, "count:").await);
    let cache = Cache::builder().store(store).build().unwrap();
    let route = cache.route(Policy::ttl(Duration::from_secs(60)).tag("t"));
    let mut vary = http::HeaderMap::new();
    vary.insert(
        http::header::VARY,
        http::HeaderValue::from_static("accept-language"),
    );
    type Purge = fn(cachefront::Invalidator) -> futures_util::future::BoxFuture<'static, u64>;
    let purges: [(&str, Purge); 4] = [
        ("path", |i| {
            Box::pin(async move { i.path("/page").await.unwrap() })
        }),
        ("tag", |i| Box::pin(async move { i.tag("t").await.unwrap() })),
        ("prefix", |i| {
            Box::pin(async move { i.prefix("/pa").await.unwrap() })
        }),
        ("all", |i| Box::pin(async move { i.all().await.unwrap() })),
    ];
    for (what, purge) in purges {
        for language in ["en", "fr", "de"] {
            let request = http::Request::get("http://example.com/page")
                .header(http::header::ACCEPT_LANGUAGE, language)
                .body(())
                .unwrap();
            let Lookup::Forward(forward) = route.lookup(&request).await else {
                panic!("{what}: {language} is a new variant");
            };
            let mut collector = forward.response(http::StatusCode::OK, &vary).collector.unwrap();
            collector.push(&Bytes::from_static(b"x"));
            collector.finish();
            let stored = eventually(Duration::from_secs(5), || async {
                matches!(route.lookup(&request).await, Lookup::Hit(_)).then_some(())
            })
            .await;
            assert!(stored.is_some(), "{what}: {language} stored");
        }
        // The writes to Redis run after the memory tier's: wait for all four (the primary
        // key's copy and three variants).
        let written = eventually(Duration::from_secs(5), || async {
            let mut connection = raw(&server).await;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("count:e:*")
                .query_async(&mut connection)
                .await
                .unwrap();
            (keys.len() == 4).then_some(())
        })
        .await;
        assert!(written.is_some(), "{what}: four entries in Redis");
        assert_eq!(purge(cache.invalidator()).await, 3, "a purge by {what}");
    }
}
