//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

use super::*;

/// Serves the app on an ephemeral port of 127.0.0.1; its base URL.
async fn serve(cache: &Cache, shop: &Shop) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(cache.clone(), shop.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// One request, given up after 10 s: its status and body (JSON, or the error text as a
/// JSON string).
async fn call(method: &str, url: String) -> (StatusCode, Value) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    assert!(response.headers().get("cache-status").is_none(), "never cached whole");
    let body = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, body)
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
    assert_eq!(cache.memo_stats()["default"].misses, 1, "one load for both visitors");
    assert_eq!(ada["prices"][0], json!(["7-S", 7_000]));

    let (_, discounted) = call("PUT", format!("{base}/products/7/discount/20")).await;
    assert_eq!(discounted["invalidated"], 1);
    let (_, after) = call("GET", format!("{base}/products/7")).await;
    assert_eq!(after["greeting"], "Welcome back, stranger!");
    assert_eq!(after["prices"][0], json!(["7-S", 5_600]));
    assert_eq!(cache.memo_stats()["default"].misses, 2);
    assert_eq!(cache.memo_stats()["default"].hits, 1);
}

#[tokio::test]
async fn a_failing_price_service_is_a_502_and_not_cached() {
    let (cache, shop) = (Cache::new(), Shop::default());
    let base = serve(&cache, &shop).await;
    for _ in 0..2 {
        let (status, body) = call("GET", format!("{base}/products/0")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(body.as_str().unwrap().contains("product 0"), "{body}");
    }
    assert_eq!(cache.memo_stats()["default"].misses, 2);
    assert_eq!(cache.memo_stats()["default"].errors, 2);
}
