//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

use serde_json::Value;

use super::*;

/// Serves the app on an ephemeral port of 127.0.0.1 (one worker); its base URL.
fn serve(cache: &Cache) -> String {
    let (cache, runs) = (cache.clone(), web::Data::new(Runs::default()));
    let server = HttpServer::new(move || App::new().configure(configure(&cache, &runs)));
    let server = server.workers(1).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.disable_signals().run());
    format!("http://{addr}")
}

fn cache_status(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get("cache-status")?;
    Some(value.to_str().unwrap().to_owned())
}

#[actix_web::test]
async fn slow_is_computed_once_then_served_from_the_cache() {
    let cache = Cache::new();
    let base = serve(&cache);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for expected in ["cachefront; fwd=uri-miss; fwd-status=200; stored", "cachefront; hit; ttl=30"] {
        let response = client.get(format!("{base}/slow/7")).send().await.unwrap();
        assert_eq!(cache_status(&response).as_deref(), Some(expected));
        let body: Value = response.json().await.unwrap();
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
