//! A personal page with cachefront's `Memo`: the price list is memoized, the greeting is not.
//!
//! ```text
//! cargo run -p example-axum-memo                      # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s 'http://127.0.0.1:3000/products/7?name=Ada'    # 250 ms: the price list is loaded
//! curl -s 'http://127.0.0.1:3000/products/7?name=Grace'  # instant: same prices, Grace's greeting
//! curl -s -X PUT http://127.0.0.1:3000/products/7/discount/20  # invalidates the tag product:7
//! curl -s -i http://127.0.0.1:3000/products/0            # the price service fails: 502, not cached
//! ```
//!
//! `price_list_loads` counts the loads: it does not move on a second request, whoever asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, atomic::AtomicU64, atomic::Ordering};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json, Router, http::StatusCode, routing::get, routing::put};
use cachefront_axum::{Cache, Memo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One line of a price list: what is memoized (any `Serialize + Deserialize` type).
#[derive(Debug, Serialize, Deserialize)]
struct Price {
    sku: String,
    cents: u64,
}

/// The "database": a discount per product, and how many price lists it loaded.
#[derive(Clone, Default)]
struct Shop {
    discounts: Arc<Mutex<HashMap<u64, u64>>>,
    loads: Arc<AtomicU64>,
}

impl Shop {
    /// The slow query the memo saves: 250 ms per price list; product 0 fails.
    async fn load_prices(&self, id: u64) -> Result<Vec<Price>, String> {
        tokio::time::sleep(Duration::from_millis(250)).await;
        self.loads.fetch_add(1, Ordering::SeqCst);
        if id == 0 {
            return Err(format!("the price service is down for product {id}"));
        }
        let paid = 100 - self.discounts.lock().unwrap().get(&id).copied().unwrap_or(0);
        let price = |(size, cents)| Price {
            sku: format!("{id}-{size}"),
            cents: cents * id * paid / 100,
        };
        Ok([("S", 1_000), ("M", 1_500), ("L", 2_200)].map(price).into())
    }
}

type Page = Result<Json<Value>, (StatusCode, Json<Value>)>;

async fn product(
    memo: Memo,
    shop: State<Shop>,
    Path(id): Path<u64>,
    q: Query<HashMap<String, String>>,
) -> Page {
    // Personal: computed on every request, never cached.
    let name = q.get("name").map_or("stranger", String::as_str);
    let greeting = format!("Welcome back, {name}!");
    // Shared: one load per product per 30 s, however many visitors ask; errors are not stored.
    let prices: Vec<Price> = memo
        .get_or_compute(("prices", id), || shop.load_prices(id))
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await
        .map_err(|error| (StatusCode::BAD_GATEWAY, Json(json!({ "error": *error }))))?;
    let loads = shop.loads.load(Ordering::SeqCst);
    let page = json!({ "greeting": greeting, "product": id, "prices": prices, "price_list_loads": loads });
    Ok(Json(page))
}

async fn discount(memo: Memo, shop: State<Shop>, Path((id, percent)): Path<(u64, u64)>) -> Json<Value> {
    shop.discounts.lock().unwrap().insert(id, percent.min(100));
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
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("cachefront memo example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(Cache::from_env()?, Shop::default())).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves the app on an ephemeral port of 127.0.0.1; its base URL.
    async fn serve(cache: &Cache, shop: &Shop) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(cache.clone(), shop.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// One request, given up after 10 s: its status and JSON body.
    async fn call(method: &str, url: String) -> (StatusCode, Value) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        assert!(
            response.headers().get("cache-status").is_none(),
            "never cached whole"
        );
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    #[tokio::test]
    async fn prices_are_memoized_while_the_greeting_is_personal() {
        let (cache, shop) = (Cache::new(), Shop::default());
        let base = serve(&cache, &shop).await;
        let (_, ada) = call("GET", format!("{base}/products/7?name=Ada")).await;
        let (_, grace) = call("GET", format!("{base}/products/7?name=Grace")).await;
        assert_eq!(ada["greeting"], "Welcome back, Ada!");
        assert_eq!(grace["greeting"], "Welcome back, Grace!");
        assert_eq!(ada["prices"], grace["prices"]);
        assert_eq!(grace["price_list_loads"], 1);
        assert_eq!(ada["prices"][0]["cents"], 7_000);

        let (_, discounted) = call("PUT", format!("{base}/products/7/discount/20")).await;
        assert_eq!(discounted["invalidated"], 1);
        let (_, after) = call("GET", format!("{base}/products/7")).await;
        assert_eq!(after["greeting"], "Welcome back, stranger!");
        assert_eq!(after["prices"][0]["cents"], 5_600);
        assert_eq!(after["price_list_loads"], 2);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[tokio::test]
    async fn a_failing_price_service_is_a_502_and_not_cached() {
        let (cache, shop) = (Cache::new(), Shop::default());
        let base = serve(&cache, &shop).await;
        for _ in 0..2 {
            let (status, body) = call("GET", format!("{base}/products/0")).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert!(body["error"].as_str().unwrap().contains("product 0"));
        }
        assert_eq!(shop.loads.load(Ordering::SeqCst), 2);
        assert_eq!(cache.memo_stats()["default"].errors, 2);
    }
}
