//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

use super::*;

/// Serves `app` on an ephemeral port of 127.0.0.1; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A client whose every request gives up after 10 s.
fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn cache_status(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get("cache-status")?;
    Some(value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn slow_is_computed_once_then_served_from_the_cache() {
    let (cache, client) = (Cache::new(), client());
    let base = serve(app(&cache)).await;
    for expected in ["cachefront; fwd=uri-miss; fwd-status=200; stored", "cachefront; hit; ttl=30"] {
        let response = client.get(format!("{base}/slow/7")).send().await.unwrap();
        assert_eq!(cache_status(&response).as_deref(), Some(expected));
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["id"], "7");
        assert_eq!(body["computed"], 1);
    }
    let head = client.head(format!("{base}/slow/7")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(cache_status(&head).as_deref(), Some("cachefront; hit; ttl=30"));
    let response = client.get(format!("{base}/uncached")).send().await.unwrap();
    assert_eq!(cache_status(&response), None);
    let stats: Value = client.get(format!("{base}/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["routes"]["/slow/{id}"]["misses"], 1, "{stats}");
    assert_eq!(stats["routes"]["/slow/{id}"]["hits"], 2, "{stats}");
}
