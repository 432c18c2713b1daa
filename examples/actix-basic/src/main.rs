//! An actix-web server with cachefront: a policy per resource, one cache.
//!
//! ```text
//! cargo run -p example-actix-basic       # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -i http://127.0.0.1:3000/slow/1   # 250 ms; Cache-Status: cachefront; fwd=uri-miss; ...
//! curl -i http://127.0.0.1:3000/slow/1   # instant, same "computed"; Cache-Status: cachefront; hit
//! curl -I http://127.0.0.1:3000/slow/1   # HEAD answered from the stored GET
//! curl -i http://127.0.0.1:3000/fast/1   # cached for 5 s
//! curl -i http://127.0.0.1:3000/uncached # never cached
//! curl -s http://127.0.0.1:3000/stats    # hits, misses, bytes, per route
//! ```
//!
//! The same routes as `example-axum-basic`. The cache reads `CACHEFRONT_MAX_BYTES` and
//! `CACHEFRONT_COALESCE_WAIT`; `RUST_LOG=info,cachefront=debug` logs every request's decision.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use actix_web::{App, HttpResponse, HttpServer, web};
use cachefront_actix::{Cache, CacheExt, Policy};
use serde_json::json;

/// How many times each handler ran, shared by every worker.
#[derive(Default)]
struct Runs {
    slow: AtomicU64,
    fast: AtomicU64,
}

async fn slow(runs: web::Data<Runs>, id: web::Path<String>) -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    let computed = runs.slow.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({ "id": *id, "computed": computed, "ttl_seconds": 30 }))
}

async fn fast(runs: web::Data<Runs>, id: web::Path<String>) -> HttpResponse {
    let computed = runs.fast.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({ "id": *id, "computed": computed, "ttl_seconds": 5 }))
}

async fn uncached() -> HttpResponse {
    let millis = SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_millis() as u64;
    HttpResponse::Ok().json(json!({ "cached": false, "unix_millis": millis }))
}

async fn stats(cache: web::Data<Cache>) -> HttpResponse {
    HttpResponse::Ok().json(cache.stats().to_json())
}

/// The application, once per worker: a policy per resource (named after its pattern).
/// actix-web's GET routes do not match HEAD; cachefront answers HEAD from a stored GET.
fn configure(cache: &Cache, runs: &web::Data<Runs>) -> impl FnOnce(&mut web::ServiceConfig) {
    let (cache, runs) = (cache.clone(), runs.clone());
    move |config| {
        let cached = |seconds| cache.middleware(Policy::ttl(Duration::from_secs(seconds)));
        let slow = web::resource("/slow/{id}").wrap(cached(30)).get(slow).head(slow);
        let fast = web::resource("/fast/{id}").wrap(cached(5)).get(fast).head(fast);
        config.app_data(runs).app_data(web::Data::new(cache.clone())).service(slow).service(fast);
        config.route("/uncached", web::get().to(uncached)).route("/stats", web::get().to(stats));
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let (cache, runs) = (Cache::from_env()?, web::Data::new(Runs::default()));
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = move || App::new().configure(configure(&cache, &runs));
    let server =
        HttpServer::new(app).bind(&listen).map_err(|e| format!("CACHEFRONT_LISTEN={listen}: {e}"))?;
    println!("cachefront actix-web example on http://{}", server.addrs()[0]);
    Ok(server.run().await?) // until Ctrl-C
}

#[cfg(test)]
mod tests;
