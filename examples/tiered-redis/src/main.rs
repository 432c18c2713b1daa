//! Several instances of one axum app sharing a cache: memory (L1) in front of Redis (L2), with
//! purges fanned out to every instance over Redis pub/sub.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &
//! CACHEFRONT_LISTEN=127.0.0.1:3001 cargo run -p example-tiered-redis &
//! CACHEFRONT_LISTEN=127.0.0.1:3002 cargo run -p example-tiered-redis &
//!
//! curl -s http://127.0.0.1:3001/slow/1              # computed on :3001 (250 ms)
//! curl -s http://127.0.0.1:3002/slow/1              # instant: from Redis, still "computed_by" :3001
//! curl -s -X POST http://127.0.0.1:3002/purge/slow:1  # purge the tag on :3002 ...
//! curl -s http://127.0.0.1:3001/slow/1              # ... and :3001 computes again
//! ```
//!
//! - `GET /slow/{id}`: the contract of `example-axum-basic`: sleeps 250 ms, then answers JSON
//!   with the `id` and `computed` (how many times this instance ran a `/slow` handler), plus
//!   `computed_by` (the instance). Cached for 30 s per id, tagged `slow:{id}`.
//! - `POST /purge/{tag}`: removes every entry carrying the tag, here, in Redis and (through
//!   pub/sub) in every other instance's memory.
//! - `GET /stats`: this instance's counters, and whether it hears the other instances.
//!
//! Settings: `REDIS_URL` (default `redis://127.0.0.1:6379`), `CACHEFRONT_LISTEN` (default
//! `127.0.0.1:3000`). Redis down? Requests are still answered, by memory or the handler; the
//! instance reconnects by itself.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use cachefront::{KeySpec, MemoryStore, RedisStore, TieredStore};
use cachefront_tower::{Cache, CacheExt, Policy};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    cache: Cache,
    tiered: TieredStore,
    instance: Arc<str>,
    slow_runs: Arc<AtomicU64>,
}

async fn slow(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let computed = state.slow_runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({
        "id": id,
        "computed": computed,
        "computed_by": &*state.instance,
        "ttl_seconds": 30,
    }))
}

async fn purge(State(state): State<AppState>, Path(tag): Path<String>) -> (StatusCode, Json<Value>) {
    match state.cache.invalidator().tag(&tag).await {
        Ok(purged) => (StatusCode::OK, Json(json!({ "tag": tag, "purged": purged }))),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "tag": tag, "error": error.to_string() })),
        ),
    }
}

async fn stats(State(state): State<AppState>) -> Json<Value> {
    let stats = state.cache.stats();
    Json(json!({
        "instance": &*state.instance,
        "hits": stats.total.hits,
        "misses": stats.total.misses,
        "stores": stats.total.stores,
        "store_errors": stats.total.store_errors,
        "hit_ratio": stats.hit_ratio(),
        "memory_entries": stats.entries,
        "memory_bytes": stats.bytes,
        "redis_subscribed": state.tiered.redis().is_subscribed(),
    }))
}

/// The application: one tiered cache, `/slow/{id}` cached and tagged, a purge route.
fn app(cache: Cache, tiered: TieredStore, instance: &str) -> Router {
    let state = AppState {
        cache: cache.clone(),
        tiered,
        instance: Arc::from(instance),
        slow_runs: Arc::default(),
    };
    // Behind a load balancer every instance sees the same `Host`; here each instance has its
    // own port, so the key leaves the host out and the instances share entries.
    let policy = Policy::ttl(Duration::from_secs(30))
        .name("/slow/{id}")
        .key(KeySpec::default().host(false))
        .tag("slow:{id}");
    Router::new()
        .route("/slow/{id}", get(slow).layer(cache.layer(policy)))
        .route("/purge/{tag}", post(purge))
        .route("/stats", get(stats))
        .with_state(state)
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

    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let addr: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("CACHEFRONT_LISTEN={listen:?}: expected an address like 127.0.0.1:3000 ({error})");
            std::process::exit(2);
        }
    };
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // Unreachable Redis is not fatal (the cache fails open); a malformed URL is.
    let redis = match RedisStore::connect(redis_url.as_str()).await {
        Ok(redis) => redis,
        Err(error) => {
            eprintln!("REDIS_URL={redis_url:?}: {error}");
            std::process::exit(2);
        }
    };
    let tiered = TieredStore::new(MemoryStore::with_max_bytes(64 * 1024 * 1024), redis);
    let cache = match Cache::builder().store(tiered.clone()).build() {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("cache: {error}");
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
    println!("cachefront tiered-redis example listening on http://{addr} (Redis: {redis_url})");
    println!("try, with a second instance on another port:");
    println!("  curl -s http://{addr}/slow/1               # computed here, stored in memory and Redis");
    println!("  curl -s -X POST http://{addr}/purge/slow:1 # purged here, in Redis and in every instance");
    println!("  curl -s http://{addr}/stats                # counters; redis_subscribed");

    let app = app(cache, tiered, &addr.to_string());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
