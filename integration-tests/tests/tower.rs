//! What is particular to the Tower layer on axum, over real sockets. The behaviour both
//! adapters share is stated once, in the parity table (`parity.rs`), and not repeated here.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, routing::get};
use cachefront::Policy;
use cachefront_tower::{Cache, CacheExt};
use integration_tests::{TestServer, client};

fn ttl(secs: u64) -> Policy {
    Policy::ttl(Duration::from_secs(secs))
}

/// axum's `Router::route_layer` puts one layer over every route added before it: the parity
/// table mounts a layer per route only.
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
