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
//! curl -s -X POST -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" http://127.0.0.1:3002/purge/slow:1
//! curl -s http://127.0.0.1:3001/slow/1   # purged in every instance: computed again
//! curl -s http://127.0.0.1:3001/stats    # this instance's counters
//! ```
//!
//! `Cache::from_env` builds the tiers: memory of `CACHEFRONT_MAX_BYTES` in front of the Redis at
//! `CACHEFRONT_REDIS_URL` (required here), tuned by the other `CACHEFRONT_REDIS_*` variables.
//! `POST /purge/{tag}` needs `CACHEFRONT_ADMIN_TOKEN`'s token: 401 without it, 403 for everyone
//! while the variable is unset. Redis down? Requests are answered by memory or the handler.

use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Json, Router, http::HeaderMap, http::StatusCode, routing::get, routing::post};
use cachefront_axum::{Admin, Cache, CacheExt, KeySpec, Policy};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    cache: Cache,
    instance: Arc<str>,
    runs: Arc<AtomicU64>,
    admin: Option<Admin>, // from `CACHEFRONT_ADMIN_TOKEN`; `None` disables purging
}

type Answer = (StatusCode, Json<Value>);

async fn slow(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let computed = state.runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "id": id, "computed": computed, "computed_by": &*state.instance, "ttl_seconds": 30 }))
}

async fn purge(State(state): State<AppState>, Path(tag): Path<String>, headers: HeaderMap) -> Answer {
    let fail = |message: &str| Json(json!({ "error": message }));
    let Some(admin) = &state.admin else {
        return (StatusCode::FORBIDDEN, fail("set CACHEFRONT_ADMIN_TOKEN to purge"));
    };
    if !admin.authorized(headers.get("authorization").map(|value| value.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            fail("send Authorization: Bearer <token>"),
        );
    }
    // Removed here, in Redis, and (through pub/sub) in every other instance's memory.
    match state.cache.invalidator().tag(&tag).await {
        Ok(purged) => (StatusCode::OK, Json(json!({ "tag": tag, "purged": purged }))),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, fail(&error.to_string())),
    }
}

async fn stats(State(state): State<AppState>) -> Json<Value> {
    let mut stats = state.cache.stats().to_json();
    stats["instance"] = json!(&*state.instance);
    Json(stats)
}

/// The application. Behind a load balancer every instance sees the same `Host`; here each has
/// its own port, so the key leaves the host out and the instances share entries.
fn app(cache: Cache, instance: &str, admin: Option<Admin>) -> Router {
    let policy = Policy::ttl(Duration::from_secs(30)).tag("slow:{id}");
    let layer = cache.layer(policy.key(KeySpec::default().host(false)));
    let state = AppState {
        cache: cache.clone(),
        instance: instance.into(),
        runs: Arc::default(),
        admin,
    };
    Router::new()
        .route("/slow/{id}", get(slow).layer(layer))
        .route("/purge/{tag}", post(purge))
        .route("/stats", get(stats))
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    std::env::var("CACHEFRONT_REDIS_URL")
        .map_err(|_| "set CACHEFRONT_REDIS_URL, e.g. redis://127.0.0.1:6379")?;
    let cache = Cache::from_env()?; // an unreachable Redis is not fatal (the cache fails open)
    let admin = Admin::from_env(cache.clone())?;
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    let addr = listener.local_addr()?.to_string();
    println!("cachefront tiered-redis example on http://{addr}");
    axum::serve(listener, app(cache, &addr, admin)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cachefront::store::{MemoryStore, RedisStore, TieredStore};

    use super::*;

    const TOKEN: &str = "0123456789abcdef-test";

    /// A purge's status, on a server of its own on 127.0.0.1 whose Redis is never reached:
    /// an unreachable one fails open, and a purge is an error at worst.
    async fn purge_status(admin: Option<Admin>, cache: &Cache, authorization: Option<&str>) -> StatusCode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(cache.clone(), "test", admin);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut request = client.post(format!("http://{addr}/purge/slow:1"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        StatusCode::from_u16(request.send().await.unwrap().status().as_u16()).unwrap()
    }

    #[tokio::test]
    async fn purge_by_tag_requires_the_admin_token() {
        let redis = RedisStore::builder("redis://127.0.0.1:1")
            .timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        let tiered = TieredStore::new(MemoryStore::new(), redis);
        let cache = Cache::builder().store(tiered).build().unwrap();
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
