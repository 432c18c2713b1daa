//! cachefront's admin endpoints on an actix-web server: stats, Prometheus metrics, purge and a
//! dashboard, behind the bearer token in `CACHEFRONT_ADMIN_TOKEN` (at least 16 characters).
//!
//! ```text
//! export CACHEFRONT_ADMIN_TOKEN=change-me-0123456789      # any secret of 16+ characters
//! cargo run -p example-actix-admin                    # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s http://127.0.0.1:3000/slow/1                # 250 ms, then cached for 30 s, tagged slow:1
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" http://127.0.0.1:3000/admin/stats
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" http://127.0.0.1:3000/admin/metrics
//! curl -s -H "Authorization: Bearer $CACHEFRONT_ADMIN_TOKEN" -d '{"tags": ["slow:1"]}' \
//!      http://127.0.0.1:3000/admin/purge              # the next /slow/1 is computed again
//! ```
//!
//! The dashboard is at <http://127.0.0.1:3000/admin>: the page asks for the token. Without the
//! token the endpoints answer 401; with `CACHEFRONT_ADMIN_TOKEN` unset the server does not start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use cachefront_actix::{Admin, Cache, CacheExt, Policy};
use serde_json::json;

async fn slow(runs: web::Data<AtomicU64>, id: web::Path<String>) -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    let computed = runs.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({ "id": *id, "computed": computed, "ttl_seconds": 30 }))
}

/// The application, once per worker: a cached resource whose entries are tagged, and the
/// admin endpoints (registered first, and not behind the cache).
fn configure(
    cache: &Cache,
    admin: &Admin,
    runs: &web::Data<AtomicU64>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    let (cache, admin, runs) = (cache.clone(), admin.clone(), runs.clone());
    move |config| {
        let policy = Policy::ttl(Duration::from_secs(30)).tag("slow:{id}");
        let slow = web::resource("/slow/{id}").wrap(cache.middleware(policy)).get(slow).head(slow);
        config.service(cachefront_actix::admin("/admin", admin)).app_data(runs).service(slow);
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cache = Cache::from_env()?;
    let admin = Admin::from_env(cache.clone())?.ok_or("set CACHEFRONT_ADMIN_TOKEN (16+ characters)")?;
    let runs = web::Data::new(AtomicU64::new(0));
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let server = HttpServer::new(move || App::new().configure(configure(&cache, &admin, &runs)))
        .bind(&listen)
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("dashboard: http://{}/admin (it asks for the token)", server.addrs()[0]);
    server.run().await?; // until Ctrl-C
    Ok(())
}

#[cfg(test)]
mod tests;
