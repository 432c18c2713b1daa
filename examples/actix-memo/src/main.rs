//! `example-axum-memo` on actix-web: `Memo` memoizes the price list, the greeting stays personal.
//!
//! ```text
//! cargo run -p example-actix-memo                     # CACHEFRONT_LISTEN=127.0.0.1:8080 to move it
//! curl -s 'http://127.0.0.1:3000/products/7?name=Ada'    # 250 ms: the price list is loaded
//! curl -s 'http://127.0.0.1:3000/products/7?name=Grace'  # instant: same prices, Grace's greeting
//! curl -s -X PUT http://127.0.0.1:3000/products/7/discount/20  # invalidates the tag product:7
//! curl -s -i http://127.0.0.1:3000/products/0            # the price service fails: 502, not cached
//! ```

use std::{collections::HashMap, sync::Mutex, time::Duration};

use actix_web::web::{self, Data, Path, Query};
use actix_web::{App, HttpResponse, HttpServer, error::ErrorBadGateway};
use cachefront_actix::{Cache, Memo};
use serde_json::json;

/// The "database", shared by every worker: a discount (percent) per product.
type Shop = Mutex<HashMap<u64, u64>>;

/// The slow query the memo saves: 250 ms per price list (sizes S, M, L); product 0 fails.
async fn load_prices(shop: &Shop, id: u64) -> Result<Vec<(String, u64)>, String> {
    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    let paid = 100 - shop.lock().unwrap().get(&id).copied().unwrap_or(0);
    let price = |(size, cents)| (format!("{id}-{size}"), cents * id * paid / 100);
    match id {
        0 => Err(format!("the price service is down for product {id}")),
        _ => Ok([("S", 1_000), ("M", 1_500), ("L", 2_200)].map(price).into()),
    }
}

type Names = Query<HashMap<String, String>>;

async fn product(memo: Memo, shop: Data<Shop>, id: Path<u64>, q: Names) -> actix_web::Result<HttpResponse> {
    // Personal: computed on every request, never cached.
    let greeting = format!("Welcome back, {}!", q.get("name").map_or("stranger", String::as_str));
    // Shared (any serde type): one load per product per 30 s, however many ask; errors are not stored.
    let prices: Vec<(String, u64)> = memo
        .get_or_compute(("prices", *id), || load_prices(&shop, *id))
        .ttl(Duration::from_secs(30))
        .tags([format!("product:{id}")])
        .await
        .map_err(ErrorBadGateway)?;
    Ok(HttpResponse::Ok().json(json!({ "greeting": greeting, "prices": prices })))
}

async fn discount(memo: Memo, shop: Data<Shop>, path: Path<(u64, u64)>) -> HttpResponse {
    let (id, percent) = path.into_inner();
    shop.lock().unwrap().insert(id, percent.min(100));
    // Every value tagged with the product goes: the next page loads fresh prices.
    let invalidated = memo.cache().invalidator().tag(&format!("product:{id}")).await;
    HttpResponse::Ok().json(json!({ "product": id, "invalidated": invalidated.unwrap_or(0) }))
}

/// The application, once per worker: `Memo` finds the cache in the app data.
fn configure(cache: &Cache, shop: &Data<Shop>) -> impl FnOnce(&mut web::ServiceConfig) {
    let (cache, shop) = (cache.clone(), shop.clone());
    move |config| {
        config.app_data(cache).app_data(shop).route("/products/{id}", web::get().to(product));
        config.route("/products/{id}/discount/{percent}", web::put().to(discount));
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let (cache, shop) = (Cache::from_env()?, Data::new(Shop::default()));
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = move || App::new().configure(configure(&cache, &shop));
    let server =
        HttpServer::new(app).bind(&listen).map_err(|e| format!("CACHEFRONT_LISTEN={listen}: {e}"))?;
    println!("cachefront actix memo example on http://{}", server.addrs()[0]);
    Ok(server.run().await?) // until Ctrl-C
}

#[cfg(test)]
mod tests;
