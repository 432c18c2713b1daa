//! An actix-web server with cachefront: three routes, three policies, one cache, and a
//! product page whose price list is memoized.
//!
//! ```text
//! cargo run -p example-actix-basic
//! CACHEFRONT_LISTEN=127.0.0.1:8080 cargo run -p example-actix-basic
//! ```
//!
//! - `GET /slow/{id}`: sleeps 250 ms, then answers JSON with the `id` and `computed` (how many
//!   times a `/slow` handler has run in this process). Cached for 30 s per id: a second request
//!   is instant and shows the same `computed`; requests to a cold id that arrive together share
//!   one computation.
//! - `GET /fast/{id}`: cached for 5 s.
//! - `GET /uncached`: never cached.
//! - `GET /stats`: the cache's counters as JSON (not cached).
//! - `GET /products/{id}?name=Ada`: a personal page (it greets you by name), so never cached
//!   whole; its price list is the same for everyone and slow to load (250 ms), so the handler
//!   memoizes it for 30 s with the `Memo` extractor, tagged `product:{id}`.
//!   `price_list_loads` does not move on a second request, whoever asks.
//! - `PUT /products/{id}/discount/{percent}`: changes the prices and invalidates the
//!   product's tag, so the next page shows them at once.
//! - `/admin/stats`, `/admin/metrics`, `POST /admin/purge` (and the dashboard at `/admin`):
//!   the cache's admin endpoints, mounted only when `CACHEFRONT_ADMIN_TOKEN` is set (at least
//!   16 characters), and answering only requests with `Authorization: Bearer <that token>`.
//!
//! The cache is configured from the environment (`CACHEFRONT_MAX_BYTES`,
//! `CACHEFRONT_COALESCE_WAIT`, ...); an invalid value stops the server with a message naming
//! the variable.
//!
//! The same contract as `example-axum-basic`, so both servers can be driven by one test table.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, web};
use cachefront_actix::{Admin, Cache, CacheExt, Memo, Policy};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Shared by every worker: how many times each handler ran, and the product "database".
#[derive(Default)]
struct Counters {
    slow_runs: AtomicU64,
    fast_runs: AtomicU64,
    price_list_loads: AtomicU64,
    discounts: Mutex<HashMap<u64, u64>>,
}

/// One line of a price list: what the product page memoizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Price {
    sku: String,
    cents: u64,
}

impl Counters {
    /// The slow query the memo saves: 250 ms per price list.
    async fn load_prices(&self, id: u64) -> Result<Vec<Price>, std::io::Error> {
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
        self.price_list_loads.fetch_add(1, Ordering::SeqCst);
        let discount = self
            .discounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
            .unwrap_or(0);
        Ok([("S", 1_000), ("M", 1_500), ("L", 2_200)]
            .into_iter()
            .map(|(size, cents)| Price {
                sku: format!("{id}-{size}"),
                cents: cents * id * (100 - discount) / 100,
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct Visitor {
    name: Option<String>,
}

async fn product(
    memo: Memo,
    counters: web::Data<Counters>,
    id: web::Path<u64>,
    visitor: web::Query<Visitor>,
) -> HttpResponse {
    let id = id.into_inner();
    // Personal: computed on every request, never cached.
    let greeting = match visitor.name.as_deref() {
        Some(name) if !name.is_empty() => format!("Welcome back, {name}!"),
        _ => "Welcome! Add ?name=you to be greeted by name.".to_owned(),
    };
    // Shared: one load per product per 30 s, however many visitors ask.
    let database = counters.clone().into_inner();
    let prices: Result<Vec<Price>, _> = memo
        .get_or_compute(("prices", id), || async move { database.load_prices(id).await })
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await;
    match prices {
        Ok(prices) => HttpResponse::Ok().json(json!({
            "greeting": greeting,
            "product": id,
            "prices": prices,
            "price_list_loads": counters.price_list_loads.load(Ordering::SeqCst),
        })),
        Err(error) => HttpResponse::BadGateway().json(json!({ "error": error.to_string() })),
    }
}

async fn discount(memo: Memo, counters: web::Data<Counters>, path: web::Path<(u64, u64)>) -> HttpResponse {
    let (id, percent) = path.into_inner();
    let percent = percent.min(100);
    counters
        .discounts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, percent);
    // Every value tagged with the product goes; the next page loads fresh prices.
    let removed = memo
        .cache()
        .invalidator()
        .tag(&format!("product:{id}"))
        .await
        .unwrap_or(0);
    HttpResponse::Ok().json(json!({ "product": id, "discount_percent": percent, "invalidated": removed }))
}

async fn slow(counters: web::Data<Counters>, id: web::Path<String>) -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    let computed = counters.slow_runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({ "id": *id, "computed": computed, "ttl_seconds": 30 }))
}

async fn fast(counters: web::Data<Counters>, id: web::Path<String>) -> HttpResponse {
    let computed = counters.fast_runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({ "id": *id, "computed": computed, "ttl_seconds": 5 }))
}

async fn uncached() -> HttpResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({ "cached": false, "unix_millis": now.as_millis() as u64 }))
}

async fn stats(cache: web::Data<Cache>) -> HttpResponse {
    HttpResponse::Ok().json(cache.stats().to_json())
}

/// The application: one cache, a policy per resource, and the admin endpoints when they are
/// enabled. Called once per worker; the cache and the counters are shared by all of them.
fn configure(
    cache: &Cache,
    admin: Option<&Admin>,
    counters: &web::Data<Counters>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    let cache = cache.clone();
    let admin = admin.cloned();
    let counters = counters.clone();
    move |config| {
        if let Some(admin) = admin {
            config.service(cachefront_actix::admin("/admin", admin));
        }
        config
            .app_data(counters)
            .app_data(web::Data::new(cache.clone()))
            .service(
                web::resource("/slow/{id}")
                    .wrap(cache.middleware(Policy::ttl(Duration::from_secs(30))))
                    // actix-web's GET routes do not match HEAD; cachefront answers HEAD from a
                    // stored GET, and a HEAD miss runs the same handler.
                    .route(web::get().to(slow))
                    .route(web::head().to(slow)),
            )
            .service(
                web::resource("/fast/{id}")
                    .wrap(cache.middleware(Policy::ttl(Duration::from_secs(5))))
                    .route(web::get().to(fast))
                    .route(web::head().to(fast)),
            )
            // Not wrapped: never cached.
            .route("/uncached", web::get().to(uncached))
            .route("/stats", web::get().to(stats))
            // Personal pages, not wrapped either: the handler memoizes what is shared.
            .route("/products/{id}", web::get().to(product))
            .route("/products/{id}/discount/{percent}", web::put().to(discount));
    }
}

#[actix_web::main]
async fn main() {
    // `info` unless `RUST_LOG` says otherwise: `RUST_LOG=info,cachefront=debug` shows every
    // request's decision (key, hit or miss, why not stored), at the price of two log lines
    // per request, which halves the throughput under load.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let addr: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("CACHEFRONT_LISTEN={listen:?}: expected an address like 127.0.0.1:3000 ({error})");
            std::process::exit(2);
        }
    };

    let cache = match Cache::from_env() {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    // The admin endpoints exist only when a token is configured.
    let admin = match Admin::from_env(cache.clone()) {
        Ok(admin) => admin,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let admin_enabled = admin.is_some();
    let counters = web::Data::new(Counters::default());
    let server = HttpServer::new(move || App::new().configure(configure(&cache, admin.as_ref(), &counters)));
    let server = match server.bind(addr) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot listen on {addr} (CACHEFRONT_LISTEN): {error}");
            std::process::exit(1);
        }
    };
    let addr = server.addrs().first().copied().unwrap_or(addr);
    println!("cachefront actix-web example listening on http://{addr}");
    println!("try:");
    println!(
        "  curl -i http://{addr}/slow/1      # miss: 250 ms, Cache-Status: cachefront; fwd=uri-miss; ..."
    );
    println!(
        "  curl -i http://{addr}/slow/1      # hit: instant, same \"computed\", Age and Cache-Status: cachefront; hit"
    );
    println!("  curl -I http://{addr}/slow/1      # HEAD answered from the stored GET");
    println!("  curl -i http://{addr}/fast/1      # cached for 5 s");
    println!("  curl -i http://{addr}/uncached    # never cached");
    println!("  curl -i -H 'Authorization: Bearer x' http://{addr}/slow/1   # bypasses the cache");
    println!("  curl -s http://{addr}/stats       # hits, misses, bytes, per route");
    println!("  curl -s 'http://{addr}/products/7?name=Ada'   # personal greeting, memoized price list");
    println!("  curl -s -X PUT http://{addr}/products/7/discount/20   # new prices, memo invalidated by tag");
    if admin_enabled {
        println!("dashboard: http://{addr}/admin  (the page asks for the admin token)");
        println!("admin endpoints (the token is the value of CACHEFRONT_ADMIN_TOKEN):");
        println!("  curl -s -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" http://{addr}/admin/stats");
        println!(
            "  curl -s -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" http://{addr}/admin/metrics"
        );
        println!(
            "  curl -s -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" -d '{{\"tags\": [\"product:7\"]}}' http://{addr}/admin/purge"
        );
    } else {
        println!("admin endpoints off: set CACHEFRONT_ADMIN_TOKEN (16+ characters) to mount them at /admin");
    }

    // actix-web stops on Ctrl-C by itself.
    if let Err(error) = server.run().await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{self, TestRequest};
    use serde_json::Value;

    use super::*;

    #[actix_web::test]
    async fn slow_is_computed_once_then_served_from_the_cache() {
        let cache = Cache::new();
        let counters = web::Data::new(Counters::default());
        let app = test::init_service(App::new().configure(configure(&cache, None, &counters))).await;
        for expected in [
            "cachefront; fwd=uri-miss; fwd-status=200; stored",
            "cachefront; hit; ttl=30",
        ] {
            let response = test::call_service(&app, TestRequest::get().uri("/slow/7").to_request()).await;
            assert_eq!(response.headers().get("cache-status").unwrap(), expected);
            let body: Value = test::read_body_json(response).await;
            assert_eq!(body["id"], "7");
            assert_eq!(body["computed"], 1);
        }
        let response = test::call_service(&app, TestRequest::get().uri("/uncached").to_request()).await;
        assert!(response.headers().get("cache-status").is_none());
    }

    #[actix_web::test]
    async fn the_price_list_is_memoized_while_the_greeting_is_personal() {
        let cache = Cache::new();
        let counters = web::Data::new(Counters::default());
        let app = test::init_service(App::new().configure(configure(&cache, None, &counters))).await;
        let page = |uri: &'static str| {
            let app = &app;
            async move {
                let response = test::call_service(app, TestRequest::get().uri(uri).to_request()).await;
                assert_eq!(response.status(), 200);
                assert!(
                    response.headers().get("cache-status").is_none(),
                    "never cached whole"
                );
                test::read_body_json::<Value, _>(response).await
            }
        };
        let ada = page("/products/7?name=Ada").await;
        let bob = page("/products/7?name=Bob").await;
        assert_eq!(ada["greeting"], "Welcome back, Ada!");
        assert_eq!(bob["greeting"], "Welcome back, Bob!");
        assert_eq!(ada["prices"], bob["prices"]);
        assert_eq!(ada["prices"][0]["cents"], 7_000);
        assert_eq!(bob["price_list_loads"], 1, "one load for both visitors");

        let request = TestRequest::put().uri("/products/7/discount/50").to_request();
        let response: Value = test::call_and_read_body_json(&app, request).await;
        assert_eq!(response["invalidated"], 1);
        let after = page("/products/7?name=Ada").await;
        assert_eq!(after["prices"][0]["cents"], 3_500);
        assert_eq!(after["price_list_loads"], 2);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[actix_web::test]
    async fn the_admin_endpoints_are_mounted_at_admin_behind_the_token() {
        let cache = Cache::new();
        let counters = web::Data::new(Counters::default());
        let admin = Admin::new(cache.clone(), "0123456789abcdef").unwrap();
        let app = test::init_service(App::new().configure(configure(&cache, Some(&admin), &counters))).await;
        let response = test::call_service(&app, TestRequest::get().uri("/slow/1").to_request()).await;
        test::read_body(response).await;
        // The store runs in the background; it is done within moments.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;

        let request = TestRequest::get().uri("/admin/stats").to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 401);
        let request = TestRequest::post()
            .uri("/admin/purge")
            .insert_header(("authorization", "Bearer 0123456789abcdef"))
            .set_payload(r#"{"paths": ["/slow/1"]}"#)
            .to_request();
        let purged: Value = test::call_and_read_body_json(&app, request).await;
        assert_eq!(purged["removed"], 1);
        let request = TestRequest::get()
            .uri("/admin/stats")
            .insert_header(("authorization", "Bearer 0123456789abcdef"))
            .to_request();
        let stats: Value = test::call_and_read_body_json(&app, request).await;
        assert_eq!(stats["routes"]["/slow/{id}"]["misses"], 1);
        // An operator's purge belongs to no route: it is counted in the total.
        assert!(stats["total"]["invalidations"].as_u64().unwrap() >= 1, "{stats}");
    }
}
