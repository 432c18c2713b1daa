//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

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
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
    assert!(response.headers().get("cache-status").is_none(), "never cached whole");
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
    assert_eq!(ada["prices"][0], json!(["7-S", 7_000]));
    assert_eq!(cache.memo_stats()["default"].misses, 1, "one load for both visitors");

    let (_, response) = call("PUT", format!("{base}/products/7/discount/50")).await;
    assert_eq!(response["invalidated"], 1);
    let (_, after) = call("GET", format!("{base}/products/7?name=Ada")).await;
    assert_eq!(after["prices"][0], json!(["7-S", 3_500]));
    assert_eq!(cache.memo_stats()["default"].misses, 2);
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
    assert_eq!(cache.memo_stats()["default"].misses, 2);
    assert_eq!(cache.memo_stats()["default"].errors, 2);
}
