//! A product page with cachefront's `Memo`: the price list is memoized, the greeting is not.
//!
//! ```text
//! cargo run -p example-axum-memo
//! CACHEFRONT_LISTEN=127.0.0.1:8080 cargo run -p example-axum-memo
//! ```
//!
//! The page is personal (it greets you by name), so it cannot be cached whole; its price list
//! is the same for everyone and slow to load (250 ms, standing in for a database), so it is
//! memoized for 30 s per product and tagged `product:{id}`:
//!
//! - `GET /products/{id}?name=Ada`: the page as JSON. `price_list_loads` counts how many times
//!   a price list was loaded in this process: it does not move on a second request, whoever
//!   asks, and requests for a cold product that arrive together share one load.
//! - `PUT /products/{id}/discount/{percent}`: changes the prices and invalidates the product's
//!   tag, so the next page shows them at once.
//! - `GET /products/0`: the price service fails for product 0; the error is not cached.
//! - `GET /stats`: the memo counters per namespace, and the store's usage.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Extension, Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, put},
};
use cachefront_axum::{Cache, Memo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One line of a price list: what is memoized, encoded compactly with postcard.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Price {
    sku: String,
    label: String,
    cents: u64,
}

/// Why a price list could not be loaded.
#[derive(Debug)]
struct PriceServiceDown(u64);

/// The "database": a discount per product, and how many loads it served.
#[derive(Clone, Default)]
struct AppState {
    cache: Cache,
    discounts: Arc<Mutex<HashMap<u64, u64>>>,
    loads: Arc<AtomicU64>,
}

impl AppState {
    /// The slow query the memo saves: 250 ms per price list.
    async fn load_prices(&self, id: u64) -> Result<Vec<Price>, PriceServiceDown> {
        tokio::time::sleep(Duration::from_millis(250)).await;
        self.loads.fetch_add(1, Ordering::SeqCst);
        if id == 0 {
            return Err(PriceServiceDown(id));
        }
        let discount = self
            .discounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
            .unwrap_or(0);
        Ok([("S", 1_000), ("M", 1_500), ("L", 2_200)]
            .into_iter()
            .map(|(size, cents)| Price {
                sku: format!("{id}-{size}"),
                label: format!("Product {id}, size {size}"),
                cents: cents * id * (100 - discount) / 100,
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct Visitor {
    name: Option<String>,
}

async fn product(
    memo: Memo,
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(visitor): Query<Visitor>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    // Personal: computed on every request, never cached.
    let greeting = match visitor.name.as_deref() {
        Some(name) if !name.is_empty() => format!("Welcome back, {name}!"),
        _ => "Welcome! Add ?name=you to be greeted by name.".to_owned(),
    };
    // Shared: one load per product per 30 s, however many visitors ask.
    let prices: Vec<Price> = memo
        .get_or_compute(("prices", id), || state.load_prices(id))
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await
        .map_err(|error| {
            let message = format!("the price service is down for product {}", error.0);
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": message })))
        })?;
    Ok(Json(json!({
        "greeting": greeting,
        "product": id,
        "prices": prices,
        "price_list_loads": state.loads.load(Ordering::SeqCst),
    })))
}

async fn discount(State(state): State<AppState>, Path((id, percent)): Path<(u64, u64)>) -> Json<Value> {
    state
        .discounts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, percent.min(100));
    // Every memoized value tagged with the product goes; the next page loads fresh prices.
    let removed = state
        .cache
        .invalidate_tag(&format!("product:{id}"))
        .await
        .unwrap_or(0);
    Json(json!({ "product": id, "discount_percent": percent.min(100), "invalidated": removed }))
}

async fn stats(State(state): State<AppState>) -> Json<Value> {
    let namespaces: serde_json::Map<String, Value> = state
        .cache
        .memo_stats()
        .into_iter()
        .map(|(name, s)| {
            let value = json!({
                "hits": s.hits,
                "misses": s.misses,
                "coalesced_waits": s.coalesced_waits,
                "stores": s.stores,
                "errors": s.errors,
                "decode_errors": s.decode_errors,
                "hit_ratio": s.hit_ratio(),
            });
            (name, value)
        })
        .collect();
    let store = state.cache.stats();
    Json(json!({
        "memo": namespaces,
        "entries": store.entries,
        "bytes": store.bytes,
        "price_list_loads": state.loads.load(Ordering::SeqCst),
    }))
}

/// The application: the cache reaches `Memo` through an `Extension`.
fn app(state: AppState) -> Router {
    let cache = state.cache.clone();
    Router::new()
        .route("/products/{id}", get(product))
        .route("/products/{id}/discount/{percent}", put(discount))
        .route("/stats", get(stats))
        .with_state(state)
        .layer(Extension(cache))
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
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr} (CACHEFRONT_LISTEN): {error}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    println!("cachefront memo example listening on http://{addr}");
    println!("try:");
    println!("  curl -s 'http://{addr}/products/7?name=Ada'    # 250 ms: the price list is loaded");
    println!(
        "  curl -s 'http://{addr}/products/7?name=Grace'  # instant: memoized prices, a greeting for Grace"
    );
    println!("  curl -s -X PUT http://{addr}/products/7/discount/20   # new prices; invalidates product:7");
    println!("  curl -s 'http://{addr}/products/7?name=Ada'    # loaded again, 20% off");
    println!("  curl -s -i http://{addr}/products/0            # the price service fails: 502, not cached");
    println!("  curl -s http://{addr}/stats                    # memo hits, misses, loads");

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app(AppState::default()))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, Value) {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn prices_are_memoized_while_the_greeting_is_personal() {
        let app = app(AppState::default());
        let (_, ada) = call(&app, "GET", "/products/7?name=Ada").await;
        let (_, grace) = call(&app, "GET", "/products/7?name=Grace").await;
        assert_eq!(ada["greeting"], "Welcome back, Ada!");
        assert_eq!(grace["greeting"], "Welcome back, Grace!");
        assert_eq!(ada["prices"], grace["prices"]);
        assert_eq!(grace["price_list_loads"], 1);
        assert_eq!(ada["prices"][0]["cents"], 7_000);

        let (_, discounted) = call(&app, "PUT", "/products/7/discount/20").await;
        assert_eq!(discounted["invalidated"], 1);
        let (_, after) = call(&app, "GET", "/products/7").await;
        assert_eq!(after["prices"][0]["cents"], 5_600);
        assert_eq!(after["price_list_loads"], 2);
    }

    #[tokio::test]
    async fn a_failing_price_service_is_a_502_and_not_cached() {
        let app = app(AppState::default());
        for _ in 0..2 {
            let (status, body) = call(&app, "GET", "/products/0").await;
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert!(body["error"].as_str().unwrap().contains("product 0"));
        }
        let (_, stats) = call(&app, "GET", "/stats").await;
        assert_eq!(stats["price_list_loads"], 2);
        assert_eq!(stats["memo"]["default"]["errors"], 2);
    }
}
