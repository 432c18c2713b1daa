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
    println!(
        "dashboard: http://{}/admin (it asks for the token)",
        listener.local_addr()?
    );
    axum::serve(listener, app(&cache, endpoints)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef";

    /// Serves the app on an ephemeral port of 127.0.0.1; its base URL.
    async fn serve(cache: &Cache) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(cache, Admin::new(cache.clone(), TOKEN).unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn the_admin_endpoints_are_mounted_at_admin_behind_the_token() {
        let cache = Cache::new();
        let base = serve(&cache).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let slow = |id: u32| {
            let request = client.get(format!("{base}/slow/{id}"));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        assert_eq!(slow(1).await["computed"], 1);
        assert_eq!(slow(2).await["computed"], 2);
        // The store runs in the background; it is done within moments.
        tokio::time::sleep(Duration::from_millis(50)).await;

        let response = client.get(format!("{base}/admin/stats")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        let wrong = client
            .get(format!("{base}/admin/stats"))
            .bearer_auth("wrong-token-wrong-token");
        assert_eq!(wrong.send().await.unwrap().status(), 401);
        let purge = |body: &'static str| {
            let request = client
                .post(format!("{base}/admin/purge"))
                .bearer_auth(TOKEN)
                .body(body);
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        assert_eq!(purge(r#"{"paths": ["/slow/1"]}"#).await["removed"], 1);
        assert_eq!(purge(r#"{"tags": ["slow:2"]}"#).await["removed"], 1);
        assert_eq!(slow(1).await["computed"], 3, "purged: computed again");
        assert_eq!(slow(2).await["computed"], 4, "purged: computed again");

        let stats = client
            .get(format!("{base}/admin/stats"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let stats: Value = stats.json().await.unwrap();
        assert_eq!(stats["routes"]["/slow/{id}"]["misses"], 4, "{stats}");
        // An operator's purge belongs to no route: it is counted in the total.
        assert!(stats["total"]["invalidations"].as_u64().unwrap() >= 2, "{stats}");
        let metrics = client
            .get(format!("{base}/admin/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(
            metrics.text().await.unwrap().contains("cachefront_"),
            "Prometheus text"
        );
    }
}
