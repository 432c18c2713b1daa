//! Several instances of one axum app sharing a cache: memory in front of Redis, with purges
//! reaching every instance's memory over Redis pub/sub.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &
//! export CACHEFRONT_REDIS_URL=redis://127.0.0.1:6379 CACHEFRONT_ADMIN_TOKEN=change-me-0123456789
//! CACHEFRONT_LISTEN=127.0.0.1:3001 cargo run -p example-tiered-redis &
//! CACHEFRONT_LISTEN=127.0.0.1:3002 cargo run -p example-tiered-redis &
//! curl -s http://127.0.0.1:3001/slow/1   # computed on :3001 (250 ms)
//! curl -s http://127.0.0.1:3002/slow/1   # instant: from Redis, "computed_by" :3001
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" -d '{"tags": ["slow:1"]}' \
//!      http://127.0.0.1:3002/admin/purge  # removed on :3002, in Redis, and on :3001 (pub/sub)
//! curl -s http://127.0.0.1:3001/slow/1   # purged in every instance: computed again
//! ```
//!
//! `Cache::from_env` builds the tiers: memory of `CACHEFRONT_MAX_BYTES` in front of the Redis at
//! `CACHEFRONT_REDIS_URL` (required here). Redis down? Memory or the handler answers.

use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
use std::time::Duration;

use axum::{Json, Router, extract::Path, extract::State, routing::get};
use cachefront_axum::{Admin, Cache, CacheExt, KeySpec, Policy, admin};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    instance: Arc<str>,
    runs: Arc<AtomicU64>,
}

async fn slow(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let computed = state.runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "id": id, "computed": computed, "computed_by": &*state.instance, "ttl_seconds": 30 }))
}

/// The application. Behind a load balancer every instance sees the same `Host`; here each has
/// its own port, so the key leaves the host out and the instances share entries. The admin
/// endpoints (`/admin/stats`, `/admin/purge`, ...) are there when `CACHEFRONT_ADMIN_TOKEN` is set.
fn app(cache: &Cache, instance: &str, endpoints: Option<Admin>) -> Router {
    let policy = Policy::ttl(Duration::from_secs(30)).tag("slow:{id}");
    let layer = cache.layer(policy.key(KeySpec::default().host(false)));
    let state = AppState { instance: instance.into(), runs: Arc::default() };
    let router = Router::new().route("/slow/{id}", get(slow).layer(layer)).with_state(state);
    match endpoints {
        Some(endpoints) => router.nest_service("/admin", admin(endpoints)),
        None => router,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    std::env::var("CACHEFRONT_REDIS_URL").map_err(|_| "set CACHEFRONT_REDIS_URL (redis://host:port)")?;
    let cache = Cache::from_env()?; // an unreachable Redis is not fatal (the cache fails open)
    let endpoints = Admin::from_env(cache.clone())?;
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    let addr = listener.local_addr()?.to_string();
    println!("cachefront tiered-redis example on http://{addr}");
    Ok(axum::serve(listener, app(&cache, &addr, endpoints)).await?)
}

#[cfg(test)]
mod tests;
