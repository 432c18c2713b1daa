//! An axum server with cachefront: a policy per route, one cache.
//!
//! ```text
//! cargo run -p example-axum-basic        # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -i http://127.0.0.1:3000/slow/1   # 250 ms; Cache-Status: cachefront; fwd=uri-miss; ...
//! curl -i http://127.0.0.1:3000/slow/1   # instant, same "computed"; Cache-Status: cachefront; hit
//! curl -I http://127.0.0.1:3000/slow/1   # HEAD answered from the stored GET
//! curl -i http://127.0.0.1:3000/fast/1   # cached for 5 s
//! curl -i http://127.0.0.1:3000/uncached # never cached
//! curl -s http://127.0.0.1:3000/stats    # hits, misses, bytes, per route
//! ```
//!
//! `computed` counts how often a handler really ran. The cache reads `CACHEFRONT_MAX_BYTES` and
//! `CACHEFRONT_COALESCE_WAIT`; `RUST_LOG=info,cachefront=debug` logs every request's decision.

use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
use std::time::{Duration, SystemTime};

use axum::{Json, Router, extract::Path, extract::State, routing::get};
use cachefront_axum::{Cache, CacheExt, Policy};
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
    let millis = SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_millis() as u64;
    Json(json!({ "cached": false, "unix_millis": millis }))
}

async fn stats(State(state): State<AppState>) -> Json<Value> {
    Json(state.cache.stats().to_json())
}

/// The application: one cache, a policy per route (named after the route's pattern).
fn app(cache: &Cache) -> Router {
    let state = AppState { cache: cache.clone(), slow_runs: Arc::default(), fast_runs: Arc::default() };
    let cached = |seconds| cache.layer(Policy::ttl(Duration::from_secs(seconds)));
    Router::new()
        .route("/slow/{id}", get(slow).layer(cached(30)))
        .route("/fast/{id}", get(fast).layer(cached(5)))
        .route("/uncached", get(uncached)) // not layered: never cached
        .route("/stats", get(stats))
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cache = Cache::from_env()?;
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("cachefront axum example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(&cache)).await?; // until Ctrl-C
    Ok(())
}

#[cfg(test)]
mod tests;
