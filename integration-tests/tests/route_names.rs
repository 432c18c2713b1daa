//! Routes are named after the router's patterns when their policy has no name: axum's
//! `MatchedPath`, actix-web's `match_pattern`. One cache layer over a whole app counts each
//! route apart, and a tag template takes its values from the route that served the request.

use std::time::Duration;

use axum::{Router, routing::get};
use cachefront::{Cache, Policy};
use integration_tests::{TestServer, actix::ActixServer, client};

/// Two routes under one layer (axum `Router::layer`, actix `App::wrap`), with a tag template.
fn policy() -> Policy {
    Policy::ttl(Duration::from_secs(60)).tag("item:{id}")
}

enum Server {
    Axum(TestServer),
    Actix(ActixServer),
}

impl Server {
    fn url(&self, path: &str) -> String {
        match self {
            Server::Axum(server) => server.url(path),
            Server::Actix(server) => server.url(path),
        }
    }
}

async fn axum_server(cache: &Cache) -> Server {
    use cachefront_tower::CacheExt as _;
    let router = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .route("/about", get(|| async { "about" }))
        .layer(cache.layer(policy()));
    Server::Axum(TestServer::axum(router).await)
}

fn actix_server(cache: &Cache) -> Server {
    use actix_web::{HttpResponse, web};
    use cachefront_actix::CacheExt as _;
    let cache = cache.clone();
    Server::Actix(ActixServer::start(move || {
        actix_web::App::new()
            .wrap(cache.middleware(policy()))
            .route(
                "/items/{id}",
                web::get().to(|| async { HttpResponse::Ok().body("item") }),
            )
            .route(
                "/about",
                web::get().to(|| async { HttpResponse::Ok().body("about") }),
            )
    }))
}

async fn check(cache: Cache, server: Server) {
    let client = client();
    for path in ["/items/7", "/items/7", "/items/8", "/about", "/about"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    cache.run_pending_tasks().await;
    let stats = cache.stats();
    let routes: Vec<&str> = stats.routes.keys().map(String::as_str).collect();
    assert_eq!(
        routes,
        ["/about", "/items/{id}"],
        "one row per router pattern, no idle default row"
    );
    let items = &stats.routes["/items/{id}"];
    assert_eq!((items.misses, items.hits), (2, 1));
    let about = &stats.routes["/about"];
    assert_eq!((about.misses, about.hits), (1, 1));

    // The template was filled from `/items/{id}`'s parameter: invalidating item 7 removes
    // /items/7 only.
    assert_eq!(cache.invalidator().tag("item:7").await.unwrap(), 1);
    let stats_before = cache.stats().routes["/items/{id}"].hits;
    client.get(server.url("/items/8")).send().await.unwrap();
    assert_eq!(
        cache.stats().routes["/items/{id}"].hits,
        stats_before + 1,
        "/items/8 still stored"
    );
    client.get(server.url("/items/7")).send().await.unwrap();
    assert_eq!(
        cache.stats().routes["/items/{id}"].misses,
        3,
        "/items/7 was invalidated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_take_the_matched_path_as_their_name() {
    let cache = Cache::new();
    let server = axum_server(&cache).await;
    check(cache, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_routes_take_the_match_pattern_as_their_name() {
    let cache = Cache::new();
    let server = actix_server(&cache);
    check(cache, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_name_wins_over_the_pattern() {
    use cachefront_tower::CacheExt as _;
    let cache = Cache::new();
    let router = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(cache.layer(policy().name("items")));
    let server = TestServer::axum(router).await;
    client().get(server.url("/items/1")).send().await.unwrap();
    let routes: Vec<String> = cache.stats().routes.into_keys().collect();
    assert_eq!(routes, ["items"]);
}
