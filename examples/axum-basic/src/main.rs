//! An axum server with cachefront: three routes, three policies, one cache.
//!
//! ```text
//! cargo run -p example-axum-basic
//! CACHEFRONT_LISTEN=127.0.0.1:8080 cargo run -p example-axum-basic
//! ```
//!
//! - `GET /slow/{id}`: sleeps 250 ms, then answers JSON with the `id` and `computed` (how many
//!   times a `/slow` handler has run in this process). Cached for 30 s per id: a second request
//!   is instant and shows the same `computed`; requests to a cold id that arrive together share
//!   one computation.
//! - `GET /fast/{id}`: cached for 5 s.
//! - `GET /uncached`: never cached.
//! - `GET /stats`: the cache's counters as JSON (not cached).
//! - `/admin/...`: purge, stats and Prometheus metrics, when `CACHEFRONT_ADMIN_TOKEN` is set
//!   (at least 16 characters); `CACHEFRONT_MAX_BYTES` sets the cache's capacity.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::Path, extract::State, routing::get};
use cachefront_axum::{Admin, Cache, CacheExt, Policy, admin};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    cache: Cache,
    slow_runs: Arc<AtomicU64>,
    fast_runs: Arc<AtomicU64>,
}

async fn slow(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let computed = state.slow_runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "id": id, "computed": computed, "ttl_seconds": 30 }))
}

async fn fast(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    let computed = state.fast_runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "id": id, "computed": computed, "ttl_seconds": 5 }))
}

async fn uncached() -> Json<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Json(json!({ "cached": false, "unix_millis": now.as_millis() as u64 }))
}

async fn stats(State(state): State<AppState>) -> Json<Value> {
    Json(state.cache.stats().to_json())
}

/// The application: one cache, a policy per route; the admin endpoints when enabled.
fn app(cache: Cache, admin_endpoints: Option<Admin>) -> Router {
    let state = AppState {
        cache: cache.clone(),
        slow_runs: Arc::default(),
        fast_runs: Arc::default(),
    };
    let router = Router::new()
        .route(
            "/slow/{id}",
            get(slow).layer(cache.layer(Policy::ttl(Duration::from_secs(30)))),
        )
        .route(
            "/fast/{id}",
            get(fast).layer(cache.layer(Policy::ttl(Duration::from_secs(5)))),
        )
        .route("/uncached", get(uncached))
        .route("/stats", get(stats));
    let router = match admin_endpoints {
        Some(endpoints) => router.nest_service("/admin", admin(endpoints)),
        None => router,
    };
    router.with_state(state)
}

#[tokio::main]
async fn main() {
    // `info` unless `RUST_LOG` says otherwise: `RUST_LOG=info,cachefront=debug` shows every
    // request's decision (key, hit or miss, why not stored), at the price of two log lines
    // per request, which halves the throughput under load.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let cache = match Cache::from_env() {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let admin_endpoints = match Admin::from_env(cache.clone()) {
        Ok(endpoints) => endpoints,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let addr: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("CACHEFRONT_LISTEN={listen:?}: expected an address like 127.0.0.1:3000 ({error})");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr} (CACHEFRONT_LISTEN): {error}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    println!("cachefront axum example listening on http://{addr}");
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

    if admin_endpoints.is_some() {
        println!("dashboard: http://{addr}/admin  (the page asks for the admin token)");
        println!("admin endpoints (Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN):");
        println!("  curl -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" http://{addr}/admin/stats");
        println!("  curl -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" http://{addr}/admin/metrics");
        println!(
            "  curl -X POST -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" -d '{{\"paths\":[\"/slow/1\"]}}' http://{addr}/admin/purge"
        );
    }
    let app = app(cache, admin_endpoints);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
