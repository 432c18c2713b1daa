//! A personal page with cachefront's `Memo` on actix-web: the price list is memoized, the
//! greeting is not.
//!
//! ```text
//! cargo run -p example-actix-memo                     # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s 'http://127.0.0.1:3000/products/7?name=Ada'    # 250 ms: the price list is loaded
//! curl -s 'http://127.0.0.1:3000/products/7?name=Grace'  # instant: same prices, Grace's greeting
//! curl -s -X PUT http://127.0.0.1:3000/products/7/discount/20  # invalidates the tag product:7
//! curl -s -i http://127.0.0.1:3000/products/0            # the price service fails: 502, not cached
//! ```
//!
//! The same routes as `example-axum-memo`; `price_list_loads` counts the loads.

use std::collections::HashMap;
use std::sync::{Mutex, atomic::AtomicU64, atomic::Ordering};
use std::time::Duration;

use actix_web::web::{self, Data, Path, Query};
use actix_web::{App, HttpResponse, HttpServer, error::ErrorBadGateway};
use cachefront_actix::{Cache, Memo};
use serde::{Deserialize, Serialize};
use serde_json::json;

type Page = actix_web::Result<HttpResponse>;

/// One line of a price list: what is memoized (any `Serialize + Deserialize` type).
#[derive(Debug, Serialize, Deserialize)]
struct Price {
    sku: String,
    cents: u64,
}

/// The "database", shared by every worker: a discount per product, how many lists it loaded.
#[derive(Default)]
struct Shop {
    discounts: Mutex<HashMap<u64, u64>>,
    loads: AtomicU64,
}

impl Shop {
    /// The slow query the memo saves: 250 ms per price list; product 0 fails.
    async fn load_prices(&self, id: u64) -> Result<Vec<Price>, String> {
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
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

async fn product(memo: Memo, shop: Data<Shop>, id: Path<u64>, q: Query<HashMap<String, String>>) -> Page {
    // Personal: computed on every request, never cached.
    let name = q.get("name").map_or("stranger", String::as_str);
    let greeting = format!("Welcome back, {name}!");
    // Shared: one load per product per 30 s, however many visitors ask; errors are not stored.
    let prices: Vec<Price> = memo
        .get_or_compute(("prices", *id), || shop.load_prices(*id))
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await
        .map_err(ErrorBadGateway)?;
    let loads = shop.loads.load(Ordering::SeqCst);
    let page = json!({ "greeting": greeting, "product": *id, "prices": prices, "price_list_loads": loads });
    Ok(HttpResponse::Ok().json(page))
}

async fn discount(memo: Memo, shop: Data<Shop>, path: Path<(u64, u64)>) -> HttpResponse {
    let (id, percent) = path.into_inner();
    shop.discounts.lock().unwrap().insert(id, percent.min(100));
    // Every value tagged with the product goes: the next page loads fresh prices.
    let invalidated = memo.cache().invalidator().tag(&format!("product:{id}")).await;
    HttpResponse::Ok().json(json!({ "product": id, "invalidated": invalidated.unwrap_or(0) }))
}

/// The application, once per worker: `Memo` finds the cache in the app data.
fn configure(cache: &Cache, shop: &Data<Shop>) -> impl FnOnce(&mut web::ServiceConfig) {
    let (cache, shop) = (cache.clone(), shop.clone());
    move |config| {
        config
            .app_data(cache)
            .app_data(shop)
            .route("/products/{id}", web::get().to(product))
            .route("/products/{id}/discount/{percent}", web::put().to(discount));
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let (cache, shop) = (Cache::from_env()?, Data::new(Shop::default()));
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let server = HttpServer::new(move || App::new().configure(configure(&cache, &shop)))
        .bind(&listen)
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("cachefront actix memo example on http://{}", server.addrs()[0]);
    server.run().await?; // until Ctrl-C
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Serves the app on an ephemeral port of 127.0.0.1 (one worker); its base URL.
    fn serve(cache: &Cache, shop: &web::Data<Shop>) -> String {
        let (cache, shop) = (cache.clone(), shop.clone());
        let server = HttpServer::new(move || App::new().configure(configure(&cache, &shop)));
        let server = server.workers(1).bind(("127.0.0.1", 0)).unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.disable_signals().run());
        format!("http://{addr}")
    }

    /// One request, given up after 10 s: its status and body.
    async fn send(method: &str, url: String) -> (u16, String) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
        assert!(
            response.headers().get("cache-status").is_none(),
            "never cached whole"
        );
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// One request answering JSON: its status and body.
    async fn call(method: &str, url: String) -> (u16, Value) {
        let (status, body) = send(method, url).await;
        (status, serde_json::from_str(&body).unwrap())
    }

    #[actix_web::test]
    async fn the_price_list_is_memoized_while_the_greeting_is_personal() {
        let (cache, shop) = (Cache::new(), web::Data::new(Shop::default()));
        let base = serve(&cache, &shop);
        let (status, ada) = call("GET", format!("{base}/products/7?name=Ada")).await;
        assert_eq!(status, 200);
        let (_, bob) = call("GET", format!("{base}/products/7?name=Bob")).await;
        assert_eq!(ada["greeting"], "Welcome back, Ada!");
        assert_eq!(bob["greeting"], "Welcome back, Bob!");
        assert_eq!(ada["prices"], bob["prices"]);
        assert_eq!(ada["prices"][0]["cents"], 7_000);
        assert_eq!(bob["price_list_loads"], 1, "one load for both visitors");

        let (_, response) = call("PUT", format!("{base}/products/7/discount/50")).await;
        assert_eq!(response["invalidated"], 1);
        let (_, after) = call("GET", format!("{base}/products/7?name=Ada")).await;
        assert_eq!(after["prices"][0]["cents"], 3_500);
        assert_eq!(after["price_list_loads"], 2);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[actix_web::test]
    async fn a_failing_price_service_is_a_502_and_not_cached() {
        let (cache, shop) = (Cache::new(), web::Data::new(Shop::default()));
        let base = serve(&cache, &shop);
        for _ in 0..2 {
            let (status, body) = send("GET", format!("{base}/products/0")).await;
            assert_eq!(status, 502);
            assert!(body.contains("product 0"), "{body}");
        }
        assert_eq!(shop.loads.load(Ordering::SeqCst), 2);
        assert_eq!(cache.memo_stats()["default"].errors, 2);
    }
}
