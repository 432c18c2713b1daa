//! Tests that drive the flow by hand, as an adapter does: lookup, forward, collector, hit.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Lookup;
use crate::{cache::Cache, policy::Policy};

#[tokio::test]
async fn a_varied_credential_is_kept_as_a_digest_and_still_selects_its_variant() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(60)).cookies(crate::Credentials::Ignore));
    let request = |cookie: &str| {
        http::Request::get("http://h/me")
            .header(header::COOKIE, cookie)
            .body(())
            .unwrap()
    };
    let Lookup::Forward(forward) = route.lookup(&request("sid=SECRET-A")).await else {
        panic!("cold");
    };
    let vary = HeaderMap::from_iter([(header::VARY, HeaderValue::from_static("cookie"))]);
    let mut collector = forward.response(StatusCode::OK, &vary).collector.unwrap();
    collector.push(&Bytes::from_static(b"alice"));
    collector.finish();
    tokio::task::yield_now().await;
    let Lookup::Hit(hit) = route.lookup(&request("sid=SECRET-A")).await else {
        panic!("the same cookie selects the stored variant");
    };
    for (name, value) in &hit.entry().vary {
        let value = value.as_deref().unwrap_or_default();
        assert!(!value.windows(6).any(|w| w == b"SECRET"), "{name}: {value:?}");
        assert!(value.starts_with(b"#"), "a digest");
    }
    assert!(!format!("{:?}", hit.entry()).contains("SECRET"));
    assert!(
        matches!(route.lookup(&request("sid=SECRET-B")).await, Lookup::Forward(_)),
        "another cookie is another variant"
    );
}
