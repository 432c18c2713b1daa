//! cachefront's admin endpoints on an axum server: stats, Prometheus metrics, purge and a
//! dashboard, behind the bearer token in `CACHEFRONT_ADMIN_TOKEN` (at least 16 characters).
//!
//! ```text
//! export CACHEFRONT_ADMIN_TOKEN=change-me-0123456789      # any secret of 16+ characters
//! cargo run -p example-axum-admin                     # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s http://127.0.0.1:3000/slow/1                # 250 ms, then cached for 30 s, tagged slow:1
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" http://127.0.0.1:3000/admin/stats
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" http://127.0.0.1:3000/admin/metrics
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" -d '{"tags": ["slow:1"]}' \
//!      http://127.0.0.1:3000/admin/purge              # the next /slow/1 is computed again
//! ```
//!
//! The dashboard is at <http://127.0.0.1:3000/admin>: the page asks for the token. Without the
//! token the endpoints answer 401; with `CACHEFRONT_ADMIN_TOKEN` unset the server does not start.

use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
use std::time::Duration;

use axum::{Json, Router, extract::Path, extract::State, routing::get};
use cachefront_axum::{Admin, Cache, CacheExt, Policy, admin};
use serde_json::{Value, json};

async fn slow(State(runs): State<Arc<AtomicU64>>, Path(id): Path<String>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let computed = runs.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "id": id, "computed": computed, "ttl_seconds": 30 }))
}

/// The application: a cached route whose entries are tagged, and the admin endpoints.
fn app(cache: &Cache, endpoints: Admin) -> Router {
    let policy = Policy::ttl(Duration::from_secs(30)).tag("slow:{id}");
    Router::new()
        .route("/slow/{id}", get(slow).layer(cache.layer(policy)))
        .with_state(Arc::default())
        .nest_service("/admin", admin(endpoints))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cache = Cache::from_env()?;
    let endpoints = Admin::from_env(cache.clone())?.ok_or("set CACHEFRONT_ADMIN_TOKEN (16+ characters)")?;
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("dashboard: http://{}/admin (it asks for the token)", listener.local_addr()?);
    axum::serve(listener, app(&cache, endpoints)).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
