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
//! curl -s -X POST -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" \
//!      http://127.0.0.1:3002/purge/slow:1              # purge the tag on :3002 ...
//! curl -s http://127.0.0.1:3001/slow/1              # ... and :3001 computes again
//! ```
//!
//! - `GET /slow/{id}`: the contract of `example-axum-basic`: sleeps 250 ms, then answers JSON
//!   with the `id` and `computed` (how many times this instance ran a `/slow` handler), plus
//!   `computed_by` (the instance). Cached for 30 s per id, tagged `slow:{id}`.
//! - `POST /purge/{tag}`: removes every entry carrying the tag, here, in Redis and (through
//!   pub/sub) in every other instance's memory. It needs `Authorization: Bearer <token>` with
//!   the token in `CACHEFRONT_ADMIN_TOKEN` (16+ characters): 401 without it, and 403 for
//!   everyone while the variable is unset, so that no client can empty the cache.
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

use axum::http::HeaderMap;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use cachefront::{
    Admin, KeySpec,
    store::{MemoryStore, RedisStore, TieredStore},
};
use cachefront_tower::{Cache, CacheExt, Policy};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    cache: Cache,
    tiered: TieredStore,
    instance: Arc<str>,
    slow_runs: Arc<AtomicU64>,
    /// Holds the admin token (`CACHEFRONT_ADMIN_TOKEN`); `None` disables purging.
    admin: Option<Admin>,
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

async fn purge(
    State(state): State<AppState>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let Some(admin) = &state.admin else {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "purging is disabled: set CACHEFRONT_ADMIN_TOKEN" })),
        );
    };
    let authorization = headers.get("authorization").map(|v| v.as_bytes());
    if !admin.authorized(authorization) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({ "error": "missing or wrong token: send Authorization: Bearer <CACHEFRONT_ADMIN_TOKEN>" }),
            ),
        );
    }
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
fn app(cache: Cache, tiered: TieredStore, instance: &str, admin: Option<Admin>) -> Router {
    let state = AppState {
        cache: cache.clone(),
        tiered,
        instance: Arc::from(instance),
        slow_runs: Arc::default(),
        admin,
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
    let admin = match Admin::from_env(cache.clone()) {
        Ok(admin) => admin,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if admin.is_none() {
        println!("CACHEFRONT_ADMIN_TOKEN is not set: POST /purge/{{tag}} is disabled");
    }
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
    println!(
        "  curl -s -X POST -H \"Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN\" http://{addr}/purge/slow:1 # purged here, in Redis and in every instance"
    );
    println!("  curl -s http://{addr}/stats                # counters; redis_subscribed");

    let app = app(cache, tiered, &addr.to_string(), admin);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    const TOKEN: &str = "0123456789abcdef-test";

    async fn purge_status(admin: Option<Admin>, cache: &Cache, authorization: Option<&str>) -> StatusCode {
        // Redis is never reached: an unreachable one fails open, and a purge is an error at worst.
        let redis = RedisStore::builder("redis://127.0.0.1:1")
            .timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        let tiered = TieredStore::new(MemoryStore::new(), redis);
        let mut request = Request::post("/purge/slow:1");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        app(cache.clone(), tiered, "test", admin)
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn purge_by_tag_requires_the_admin_token() {
        let cache = Cache::new();
        let admin = || Some(Admin::new(cache.clone(), TOKEN).unwrap());
        assert_eq!(
            purge_status(admin(), &cache, None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            purge_status(admin(), &cache, Some("Bearer wrong-token-wrong")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(purge_status(None, &cache, None).await, StatusCode::FORBIDDEN);
        assert_eq!(
            purge_status(None, &cache, Some(&format!("Bearer {TOKEN}"))).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(cache.stats().total.invalidations, 0, "nothing was purged");
        let authorized = purge_status(admin(), &cache, Some(&format!("Bearer {TOKEN}"))).await;
        assert_ne!(authorized, StatusCode::UNAUTHORIZED);
        assert_ne!(authorized, StatusCode::FORBIDDEN);
    }
}
