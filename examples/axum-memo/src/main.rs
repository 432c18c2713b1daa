//! A personal page with cachefront's `Memo`: the price list is memoized, the greeting is not.
//!
//! ```text
//! cargo run -p example-axum-memo                      # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s 'http://127.0.0.1:3000/products/7?name=Ada'    # 250 ms: the price list is loaded
//! curl -s 'http://127.0.0.1:3000/products/7?name=Grace'  # instant: same prices, Grace's greeting
//! curl -s -X PUT http://127.0.0.1:3000/products/7/discount/20  # invalidates the tag product:7
//! curl -s -i http://127.0.0.1:3000/products/0            # the price service fails: 502, not cached
//! ```

use std::sync::{Arc, Mutex};
use std::{collections::HashMap, time::Duration};

use axum::extract::{Path, Query, State};
use axum::{Extension, Json, Router, http::StatusCode, routing::get, routing::put};
use cachefront_axum::{Cache, Memo};
use serde_json::{Value, json};

/// The "database": a discount (percent) per product.
type Shop = Arc<Mutex<HashMap<u64, u64>>>;

/// The slow query the memo saves: 250 ms per price list (sizes S, M, L); product 0 fails.
async fn load_prices(shop: &Shop, id: u64) -> Result<Vec<(String, u64)>, String> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    let paid = 100 - shop.lock().unwrap().get(&id).copied().unwrap_or(0);
    let price = |(size, cents)| (format!("{id}-{size}"), cents * id * paid / 100);
    match id {
        0 => Err(format!("the price service is down for product {id}")),
        _ => Ok([("S", 1_000), ("M", 1_500), ("L", 2_200)].map(price).into()),
    }
}

type Names = Query<HashMap<String, String>>;
type Page = Result<Json<Value>, (StatusCode, String)>;

async fn product(memo: Memo, shop: State<Shop>, Path(id): Path<u64>, q: Names) -> Page {
    // Personal: computed on every request, never cached.
    let greeting = format!("Welcome back, {}!", q.get("name").map_or("stranger", String::as_str));
    // Shared (any serde type): one load per product per 30 s, however many ask; errors are not stored.
    let prices: Vec<(String, u64)> = memo
        .get_or_compute(("prices", id), || load_prices(&shop, id))
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await
        .map_err(|error| (StatusCode::BAD_GATEWAY, error.to_string()))?;
    Ok(Json(json!({ "greeting": greeting, "prices": prices })))
}

async fn discount(memo: Memo, shop: State<Shop>, Path((id, percent)): Path<(u64, u64)>) -> Json<Value> {
    shop.lock().unwrap().insert(id, percent.min(100));
    // Every value tagged with the product goes: the next page loads fresh prices.
    let invalidated = memo.cache().invalidator().tag(&format!("product:{id}")).await;
    Json(json!({ "product": id, "invalidated": invalidated.unwrap_or(0) }))
}

/// The application: `Memo` finds the cache in an `Extension`.
fn app(cache: Cache, shop: Shop) -> Router {
    Router::new()
        .route("/products/{id}", get(product))
        .route("/products/{id}/discount/{percent}", put(discount))
        .with_state(shop)
        .layer(Extension(cache))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("CACHEFRONT_LISTEN={listen}: {e}"))?;
    println!("cachefront memo example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(Cache::from_env()?, Shop::default())).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
