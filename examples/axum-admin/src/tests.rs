//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

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
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
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
    let wrong = client.get(format!("{base}/admin/stats")).bearer_auth("wrong-token-wrong-token");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let purge = |body: &'static str| {
        let request = client.post(format!("{base}/admin/purge")).bearer_auth(TOKEN).body(body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(purge(r#"{"paths": ["/slow/1"]}"#).await["removed"], 1);
    assert_eq!(purge(r#"{"tags": ["slow:2"]}"#).await["removed"], 1);
    assert_eq!(slow(1).await["computed"], 3, "purged: computed again");
    assert_eq!(slow(2).await["computed"], 4, "purged: computed again");

    let stats = client.get(format!("{base}/admin/stats")).bearer_auth(TOKEN).send().await.unwrap();
    let stats: Value = stats.json().await.unwrap();
    assert_eq!(stats["routes"]["/slow/{id}"]["misses"], 4, "{stats}");
    // An operator's purge belongs to no route: it is counted in the total.
    assert!(stats["total"]["invalidations"].as_u64().unwrap() >= 2, "{stats}");
    let metrics = client.get(format!("{base}/admin/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("cachefront_"), "Prometheus text");
}
