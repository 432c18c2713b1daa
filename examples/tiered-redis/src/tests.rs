//! The example's tests: its server on an ephemeral port of 127.0.0.1, driven over HTTP.

use cachefront_axum::cachefront::store::{MemoryStore, RedisStore, TieredStore};

use super::*;

const TOKEN: &str = "0123456789abcdef-test";

/// A purge's status, on a server of its own on 127.0.0.1 whose Redis is never reached:
/// an unreachable one fails open, and a purge is an error at worst.
async fn purge_status(endpoints: Option<Admin>, cache: &Cache, authorization: Option<&str>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(cache, "test", endpoints);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut request = client.post(format!("http://{addr}/admin/purge")).body(r#"{"tags": ["slow:1"]}"#);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn purge_by_tag_requires_the_admin_token() {
    let redis =
        RedisStore::builder("redis://127.0.0.1:1").timeout(Duration::from_millis(20)).build().unwrap();
    let tiered = TieredStore::new(MemoryStore::new(), redis);
    let cache = Cache::builder().store(tiered).build().unwrap();
    let endpoints = || Some(Admin::new(cache.clone(), TOKEN).unwrap());
    assert_eq!(purge_status(endpoints(), &cache, None).await, 401);
    assert_eq!(purge_status(endpoints(), &cache, Some("Bearer wrong-token-wrong")).await, 401);
    // Without `CACHEFRONT_ADMIN_TOKEN` there are no admin endpoints at all.
    assert_eq!(purge_status(None, &cache, None).await, 404);
    assert_eq!(purge_status(None, &cache, Some(&format!("Bearer {TOKEN}"))).await, 404);
    assert_eq!(cache.stats().total.invalidations, 0, "nothing was purged");
    let authorized = purge_status(endpoints(), &cache, Some(&format!("Bearer {TOKEN}"))).await;
    assert!(![401, 403, 404].contains(&authorized), "{authorized}");
}
