//! The `Memo` extractor on real axum servers over real sockets, with a real memory store.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Extension, Json, Router,
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use cachefront_axum::{Cache, Memo};
use integration_tests::{TestServer, client};
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Price {
    sku: String,
    cents: u64,
}

#[derive(Debug)]
struct Upstream(String);

/// The handler's error type: a memoized computation's error arrives as an `Arc`.
struct AppError(Arc<Upstream>);

impl From<Arc<Upstream>> for AppError {
    fn from(error: Arc<Upstream>) -> Self {
        Self(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("upstream failed: {}", self.0.0),
        )
            .into_response()
    }
}

fn prices(id: u64, run: usize) -> Vec<Price> {
    vec![Price {
        sku: format!("{id}-{run}"),
        cents: id * 100,
    }]
}

/// `GET /prices/{id}`: memoizes `prices(id, run)` for 60 s, tagged `product:{id}`, after a
/// computation that counts its runs in `calls` and answers once `waiters` other requests wait
/// for it (a counter, not a sleep: however slowly they arrive, they all find it running).
fn price_router(cache: &Cache, calls: &Arc<AtomicUsize>, waiters: u64) -> Router {
    let calls = Arc::clone(calls);
    let waiting = {
        let cache = cache.clone();
        move || cache.memo_stats().get("default").map_or(0, |s| s.coalesced_waits)
    };
    Router::new()
        .route(
            "/prices/{id}",
            get(move |memo: Memo, Path(id): Path<u64>| {
                let (calls, waiting) = (Arc::clone(&calls), waiting.clone());
                async move {
                    let list: Vec<Price> = memo
                        .get_or_compute(("prices", id), || async move {
                            integration_tests::until("the waiters", || waiting() >= waiters).await;
                            let run = calls.fetch_add(1, Ordering::SeqCst) + 1;
                            Ok::<_, Upstream>(prices(id, run))
                        })
                        .ttl(Duration::from_secs(60))
                        .tags([format!("product:{id}")])
                        .await?;
                    Ok::<_, AppError>(Json(list))
                }
            }),
        )
        .layer(Extension(cache.clone()))
}

async fn get_prices(client: &reqwest::Client, server: &TestServer, id: u64) -> Vec<Price> {
    let response = client
        .get(server.url(&format!("/prices/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_for_a_cold_key_compute_once() {
    const N: usize = 1000;
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = TestServer::axum(price_router(&cache, &calls, N as u64 - 1)).await;
    let client = client();
    let barrier = Arc::new(Barrier::new(N));
    let requests: Vec<_> = (0..N)
        .map(|_| {
            let (client, barrier, url) = (client.clone(), Arc::clone(&barrier), server.url("/prices/7"));
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.get(url).send().await.unwrap();
                (
                    response.status(),
                    serde_json::from_str::<Vec<Price>>(&response.text().await.unwrap()).unwrap(),
                )
            })
        })
        .collect();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, prices(7, 1));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one computation for {N} requests"
    );
    let stats = &cache.memo_stats()["default"];
    assert_eq!((stats.misses, stats.hits, stats.stores), (1, N as u64 - 1, 1));
    // Every request but the computing one waited for it (the computation saw to it).
    assert_eq!(stats.coalesced_waits, N as u64 - 1, "{stats:?}");
}

/// `GET /flaky`: a computation that takes 200 ms and fails, counted in `calls`;
/// `negative_ttl` turns on negative caching.
fn flaky_router(cache: &Cache, calls: &Arc<AtomicUsize>, negative_ttl: Option<Duration>) -> Router {
    #[derive(Debug, Serialize, Deserialize)]
    struct NotFound(String);
    let calls = Arc::clone(calls);
    Router::new()
        .route(
            "/flaky",
            get(move |memo: Memo| {
                let calls = Arc::clone(&calls);
                async move {
                    let lookup = memo.get_or_compute("flaky", || async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let run = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        Err::<String, _>(NotFound(format!("failure {run}")))
                    });
                    let result = match negative_ttl {
                        Some(ttl) => lookup.cache_errors(ttl).await,
                        None => lookup.await,
                    };
                    match result {
                        Ok(value) => (StatusCode::OK, value),
                        Err(error) => (StatusCode::NOT_FOUND, error.0.clone()),
                    }
                }
            }),
        )
        .layer(Extension(cache.clone()))
}

async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_reaches_every_waiting_request_and_is_not_cached() {
    const N: usize = 50;
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = TestServer::axum(flaky_router(&cache, &calls, None)).await;
    let client = client();
    let barrier = Arc::new(Barrier::new(N));
    let requests: Vec<_> = (0..N)
        .map(|_| {
            let (client, barrier, url) = (client.clone(), Arc::clone(&barrier), server.url("/flaky"));
            tokio::spawn(async move {
                barrier.wait().await;
                get_text(&client, &url).await
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), (404, "failure 1".to_owned()));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one computation, its error shared"
    );
    // Not cached: the next request computes again.
    assert_eq!(
        get_text(&client, &server.url("/flaky")).await,
        (404, "failure 2".to_owned())
    );
    let stats = &cache.memo_stats()["default"];
    assert_eq!((stats.errors, stats.stores, stats.negative_hits), (2, 0, 0));
}

#[tokio::test]
async fn negative_caching_keeps_an_error_for_its_own_ttl() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = TestServer::axum(flaky_router(&cache, &calls, Some(Duration::from_millis(500)))).await;
    let client = client();
    let url = server.url("/flaky");
    assert_eq!(get_text(&client, &url).await, (404, "failure 1".to_owned()));
    assert_eq!(get_text(&client, &url).await, (404, "failure 1".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.memo_stats()["default"].negative_hits, 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get_text(&client, &url).await, (404, "failure 2".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_value_stored_by_an_older_deployment_that_no_longer_decodes_is_a_miss() {
    // Both deployments share one store (as they would share Redis).
    let cache = Cache::new();
    let client = client();
    let calls = Arc::new(AtomicUsize::new(0));
    {
        let v1 = TestServer::axum(price_router(&cache, &calls, 0)).await;
        assert_eq!(get_prices(&client, &v1, 3).await, prices(3, 1));
    }

    // The next deployment changed the type under the same key.
    #[derive(Serialize, Deserialize)]
    struct PriceV2 {
        sku: String,
        cents: u64,
        currency: String,
    }
    let computed_v2 = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&computed_v2);
    let v2 = Router::new()
        .route(
            "/prices/{id}",
            get(move |memo: Memo, Path(id): Path<u64>| {
                let counter = Arc::clone(&counter);
                async move {
                    let list: Vec<PriceV2> = memo
                        .get_or_compute(("prices", id), || async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Upstream>(vec![PriceV2 {
                                sku: format!("{id}-v2"),
                                cents: 1,
                                currency: "EUR".to_owned(),
                            }])
                        })
                        .await?;
                    Ok::<_, AppError>(list[0].currency.clone())
                }
            }),
        )
        .layer(Extension(cache.clone()));
    let v2 = TestServer::axum(v2).await;
    for _ in 0..2 {
        assert_eq!(
            get_text(&client, &v2.url("/prices/3")).await,
            (200, "EUR".to_owned())
        );
    }
    assert_eq!(
        computed_v2.load(Ordering::SeqCst),
        1,
        "recomputed once, then stored"
    );
    assert_eq!(cache.memo_stats()["default"].decode_errors, 1);
}

#[tokio::test]
async fn invalidation_by_key_and_by_tag() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = TestServer::axum(price_router(&cache, &calls, 0)).await;
    let client = client();
    for id in [1, 2, 3] {
        get_prices(&client, &server, id).await;
        get_prices(&client, &server, id).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Through the application's Invalidator, as for responses. By key: the same key the
    // handler used, in the extractor's namespace.
    let invalidator = cache.invalidator();
    let memo = cache.memo(cachefront_axum::DEFAULT_NAMESPACE);
    assert_eq!(
        invalidator.key(&memo.key(&("prices", 1)).unwrap()).await.unwrap(),
        1
    );
    // By tag.
    assert_eq!(invalidator.tag("product:2").await.unwrap(), 1);

    assert_eq!(get_prices(&client, &server, 1).await, prices(1, 4));
    assert_eq!(get_prices(&client, &server, 2).await, prices(2, 5));
    assert_eq!(get_prices(&client, &server, 3).await, prices(3, 3), "untouched");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn without_a_cache_the_extractor_answers_500_with_a_clear_message() {
    let router = Router::new().route(
        "/memo",
        get(|memo: Memo| async move { memo.namespace().to_owned() }),
    );
    let server = TestServer::axum(router).await;
    let (status, body) = get_text(&client(), &server.url("/memo")).await;
    assert_eq!(status, 500);
    assert!(body.contains("Memo extractor found no cache"), "{body}");
    assert!(body.contains(".layer(Extension(cache))"), "{body}");
}
