//! An actix-web server with cachefront: three routes, three policies, one cache.
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
//!
//! The same contract as `example-axum-basic`, so both servers can be driven by one test table.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, web};
use cachefront_actix::{Cache, CacheExt, Policy};
use serde_json::{Value, json};

/// Shared by every worker: how many times each handler ran.
#[derive(Default)]
struct Counters {
    slow_runs: AtomicU64,
    fast_runs: AtomicU64,
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
    let stats = cache.stats();
    let routes: serde_json::Map<String, Value> = stats
        .routes
        .iter()
        .map(|(name, r)| {
            let value = json!({
                "hits": r.hits,
                "misses": r.misses,
                "bypasses": r.bypasses,
                "coalesced_waits": r.coalesced_waits,
                "stores": r.stores,
                "not_stored": r.not_stored,
                "hit_ratio": r.hit_ratio(),
            });
            (name.clone(), value)
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "hits": stats.total.hits,
        "misses": stats.total.misses,
        "bypasses": stats.total.bypasses,
        "coalesced_waits": stats.total.coalesced_waits,
        "stores": stats.total.stores,
        "hit_ratio": stats.hit_ratio(),
        "entries": stats.entries,
        "bytes": stats.bytes,
        "capacity_bytes": stats.capacity_bytes,
        "evictions": stats.evictions,
        "routes": routes,
    }))
}

/// The application: one cache, a policy per resource. Called once per worker; the cache and
/// the counters are shared by all of them.
fn configure(cache: &Cache, counters: &web::Data<Counters>) -> impl FnOnce(&mut web::ServiceConfig) {
    let cache = cache.clone();
    let counters = counters.clone();
    move |config| {
        config
            .app_data(counters)
            .app_data(web::Data::new(cache.clone()))
            .service(
                web::resource("/slow/{id}")
                    .wrap(cache.middleware(Policy::ttl(Duration::from_secs(30)).name("/slow/{id}")))
                    // actix-web's GET routes do not match HEAD; cachefront answers HEAD from a
                    // stored GET, and a HEAD miss runs the same handler.
                    .route(web::get().to(slow))
                    .route(web::head().to(slow)),
            )
            .service(
                web::resource("/fast/{id}")
                    .wrap(cache.middleware(Policy::ttl(Duration::from_secs(5)).name("/fast/{id}")))
                    .route(web::get().to(fast))
                    .route(web::head().to(fast)),
            )
            // Not wrapped: never cached.
            .route("/uncached", web::get().to(uncached))
            .route("/stats", web::get().to(stats));
    }
}

#[actix_web::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,cachefront=debug".into()),
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

    let cache = Cache::new();
    let counters = web::Data::new(Counters::default());
    let server = HttpServer::new(move || App::new().configure(configure(&cache, &counters)));
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

    // actix-web stops on Ctrl-C by itself.
    if let Err(error) = server.run().await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{self, TestRequest};

    use super::*;

    #[actix_web::test]
    async fn slow_is_computed_once_then_served_from_the_cache() {
        let cache = Cache::new();
        let counters = web::Data::new(Counters::default());
        let app = test::init_service(App::new().configure(configure(&cache, &counters))).await;
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
}
