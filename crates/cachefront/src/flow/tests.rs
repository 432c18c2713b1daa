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

fn get(uri: &str, headers: &[(&'static str, &'static str)]) -> http::Request<()> {
    let mut request = http::Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

fn response_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        })
        .collect()
}

/// Stores `body` as the handler's 200 for a forwarded request.
fn store(lookup: Lookup, headers: &HeaderMap, body: &'static str) -> String {
    let Lookup::Forward(forward) = lookup else {
        panic!("expected a forward");
    };
    assert!(forward.bypass_reason().is_none());
    let verdict = forward.response(StatusCode::OK, headers);
    let mut collector = verdict.collector.expect("storable");
    assert!(collector.push(&Bytes::from_static(body.as_bytes())));
    collector.finish();
    verdict.cache_status.to_string()
}

#[tokio::test]
async fn a_miss_is_forwarded_collected_stored_and_then_hit() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(30)).name("/a"));
    let request = get("http://example.com/a?x=1", &[]);
    let Lookup::Forward(forward) = route.lookup(&request).await else {
        panic!("cold cache");
    };
    assert!(
        forward.conditional_headers().is_empty(),
        "a plain miss goes as it came"
    );
    let verdict = forward.response(
        StatusCode::OK,
        &response_headers(&[("content-type", "text/plain")]),
    );
    assert_eq!(
        verdict.cache_status.to_string(),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert!(verdict.replacement.is_none() && verdict.invalidation.is_none());
    let mut collector = verdict.collector.unwrap();
    assert!(collector.push(&Bytes::from_static(b"hel")));
    assert!(collector.push(&Bytes::from_static(b"lo")));
    collector.finish();
    tokio::task::yield_now().await;

    let Lookup::Hit(hit) = route.lookup(&request).await else {
        panic!("stored");
    };
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(hit.body(), "hello");
    assert!(!hit.is_head());
    let headers = hit.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(headers[header::CONTENT_LENGTH], "5");
    assert_eq!(headers[header::AGE], "0");
    assert_eq!(hit.cache_status().to_string(), "cachefront; hit; ttl=30");

    // HEAD is answered from the stored GET, without a body.
    let head = http::Request::head("http://example.com/a?x=1").body(()).unwrap();
    let Lookup::Hit(hit) = route.lookup(&head).await else {
        panic!("HEAD from the stored GET");
    };
    assert!(hit.is_head());
    assert!(hit.body().is_empty());
    assert_eq!(hit.headers()[header::CONTENT_LENGTH], "5");

    let stats = cache.stats();
    assert_eq!(
        (stats.total.misses, stats.total.hits, stats.total.stores),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn each_variant_is_forwarded_once_and_stored_beside_the_others() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(60)));
    let vary = response_headers(&[("vary", "accept-language")]);
    let en = get("http://example.com/page", &[("accept-language", "en")]);
    let fr = get("http://example.com/page", &[("accept-language", "fr")]);

    assert_eq!(
        store(route.lookup(&en).await, &vary, "hello"),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    tokio::task::yield_now().await;
    // The stored response varies: another language is a variant of its own, not yet stored.
    assert_eq!(
        store(route.lookup(&fr).await, &vary, "bonjour"),
        "cachefront; fwd=vary-miss; fwd-status=200; stored"
    );
    tokio::task::yield_now().await;

    for (request, body) in [(&en, "hello"), (&fr, "bonjour")] {
        let Lookup::Hit(hit) = route.lookup(request).await else {
            panic!("{body}: stored");
        };
        assert_eq!(hit.body(), body);
        assert_eq!(hit.headers()[header::VARY], "accept-language");
    }
    let de = get("http://example.com/page", &[("accept-language", "de")]);
    let Lookup::Forward(forward) = route.lookup(&de).await else {
        panic!("a third language is not stored");
    };
    let verdict = forward.response(StatusCode::OK, &vary);
    assert!(verdict.cache_status.to_string().contains("fwd=vary-miss"));
    drop(verdict);

    // An invalidation of the URI removes every variant.
    assert_eq!(
        cache
            .invalidator()
            .key(&route.policy().check_request(&en).unwrap())
            .await
            .unwrap(),
        2
    );
    for request in [&en, &fr] {
        assert!(matches!(route.lookup(request).await, Lookup::Forward(_)));
    }
}

#[tokio::test]
async fn a_304_revalidates_and_updates_the_stored_response() {
    let cache = Cache::new();
    let route = cache.route(Policy::shared());
    let request = get("http://example.com/doc", &[]);
    let stored = response_headers(&[
        ("cache-control", "no-cache, max-age=60"),
        ("etag", "\"v1\""),
        ("x-version", "1"),
    ]);
    store(route.lookup(&request).await, &stored, "document");
    tokio::task::yield_now().await;

    // `no-cache`: the stored response is validated before every reuse.
    let Lookup::Forward(forward) = route.lookup(&request).await else {
        panic!("no-cache means revalidation");
    };
    assert_eq!(
        forward.conditional_headers(),
        vec![
            (header::IF_NONE_MATCH, Some(HeaderValue::from_static("\"v1\""))),
            (header::IF_MODIFIED_SINCE, None),
        ]
    );
    let not_modified = response_headers(&[
        ("cache-control", "max-age=120"),
        ("etag", "\"v1\""),
        ("x-version", "2"),
    ]);
    let verdict = forward.response(StatusCode::NOT_MODIFIED, &not_modified);
    assert!(
        verdict.collector.is_none(),
        "nothing to collect: the cache answers"
    );
    let status = verdict.cache_status.to_string();
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=304"),
        "{status}"
    );
    assert!(status.ends_with("stored"), "{status}");
    let hit = verdict.replacement.expect("the stored response, revalidated");
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(hit.body(), "document");
    assert_eq!(
        hit.headers()["x-version"],
        "2",
        "the 304's fields replace the stored ones"
    );
    tokio::task::yield_now().await;

    // Stored again with the 304's freshness: a plain hit now.
    let Lookup::Hit(hit) = route.lookup(&request).await else {
        panic!("fresh after the 304");
    };
    assert_eq!(hit.body(), "document");
    assert_eq!(hit.headers()[header::CACHE_CONTROL], "max-age=120");
    assert!(
        hit.cache_status()
            .to_string()
            .starts_with("cachefront; hit; ttl=1")
    );

    // A 304 whose validator does not match removes the stored response instead.
    cache.invalidator().all().await.unwrap();
    store(route.lookup(&request).await, &stored, "document");
    tokio::task::yield_now().await;
    let Lookup::Forward(forward) = route.lookup(&request).await else {
        panic!("no-cache");
    };
    let other = response_headers(&[("etag", "\"v2\"")]);
    let verdict = forward.response(StatusCode::NOT_MODIFIED, &other);
    assert!(verdict.replacement.is_none());
    assert!(
        verdict
            .cache_status
            .to_string()
            .contains("detail=validator-mismatch")
    );
    verdict
        .invalidation
        .expect("the contradicted response goes")
        .await;
    assert!(matches!(route.lookup(&request).await, Lookup::Forward(_)));
}

#[tokio::test]
async fn a_successful_unsafe_request_invalidates_its_uri_and_same_origin_locations() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(60)));
    let list = get("http://example.com/orders", &[]);
    let order = get("http://example.com/orders/7", &[]);
    for request in [&list, &order] {
        store(route.lookup(request).await, &HeaderMap::new(), "x");
    }
    tokio::task::yield_now().await;

    let post = http::Request::post("http://example.com/orders").body(()).unwrap();
    let Lookup::Forward(forward) = route.lookup(&post).await else {
        panic!("POST is forwarded");
    };
    assert_eq!(forward.bypass_reason(), Some(crate::Bypass::Method));
    // An error invalidates nothing.
    let Lookup::Forward(failing) = route.lookup(&post).await else {
        panic!("POST is forwarded");
    };
    let verdict = failing.response(StatusCode::CONFLICT, &HeaderMap::new());
    assert!(verdict.invalidation.is_none());
    assert!(matches!(route.lookup(&list).await, Lookup::Hit(_)));

    let created = response_headers(&[("location", "/orders/7")]);
    let verdict = forward.response(StatusCode::CREATED, &created);
    assert_eq!(
        verdict.cache_status.to_string(),
        "cachefront; fwd=method; fwd-status=201; detail=method"
    );
    verdict.invalidation.expect("a 201 invalidates").await;
    for request in [&list, &order] {
        assert!(
            matches!(route.lookup(request).await, Lookup::Forward(_)),
            "{}",
            request.uri()
        );
    }
}

#[tokio::test]
async fn a_named_cache_names_its_misses_and_hits_in_cache_status() {
    let cache = Cache::builder().name("edge-1").build().unwrap();
    let route = cache.route(Policy::ttl(Duration::from_secs(30)).name("/n"));
    let request = get("http://example.com/n", &[]);
    let miss = store(route.lookup(&request).await, &HeaderMap::new(), "body");
    assert_eq!(miss, "edge-1; fwd=uri-miss; fwd-status=200; stored");
    cache.run_pending_tasks().await;
    let Lookup::Hit(hit) = route.lookup(&request).await else {
        panic!("stored");
    };
    assert_eq!(hit.headers()["cache-status"], "edge-1; hit; ttl=30");
    // A bypass is named too.
    let Lookup::Forward(bypass) = route
        .lookup(&get("http://example.com/n", &[("cookie", "a=b")]))
        .await
    else {
        panic!("a cookie bypasses");
    };
    let verdict = bypass.response(StatusCode::OK, &HeaderMap::new());
    assert_eq!(
        verdict.cache_status.to_string(),
        "edge-1; fwd=bypass; fwd-status=200; detail=cookie"
    );
    // A name that is not a token is refused, naming the setting.
    let error = Cache::builder().name("two words").build().unwrap_err();
    assert!(error.to_string().contains("`name`"), "{error}");
}

/// Each hit from one entry has its own `Age` and `Cache-Status` member (after the upstream
/// ones), and nothing of an earlier hit's headers shows in a later one.
#[tokio::test]
async fn each_hit_of_an_entry_has_its_own_age_and_cache_status_after_the_upstream_members() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(30)).name("/h"));
    let request = get("http://example.com/h", &[]);
    let upstream = response_headers(&[("content-type", "text/plain"), ("cache-status", "upstream; hit")]);
    store(route.lookup(&request).await, &upstream, "hello");
    tokio::task::yield_now().await;

    let Lookup::Hit(mut hit) = route.lookup(&request).await else {
        panic!("stored");
    };
    let first = hit.headers();
    let members = |headers: &HeaderMap| -> Vec<String> {
        headers
            .get_all("cache-status")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(members(&first), ["upstream; hit", "cachefront; hit; ttl=30"]);
    assert_eq!(
        (&first[header::AGE], &first[header::CONTENT_LENGTH]),
        (
            &"0".parse::<HeaderValue>().unwrap(),
            &"5".parse::<HeaderValue>().unwrap()
        )
    );

    // Seven seconds later, from the same entry.
    hit.now += Duration::from_secs(7);
    let later = hit.headers();
    assert_eq!(members(&later), ["upstream; hit", "cachefront; hit; ttl=23"]);
    assert_eq!(later.get_all(header::AGE).iter().collect::<Vec<_>>(), ["7"]);
    assert_eq!(later.len(), first.len(), "no field added twice");
    assert_eq!(first[header::AGE], "0", "an earlier copy is its own");

    // A `HEAD` hit declares the stored length.
    let head = http::Request::head("http://example.com/h").body(()).unwrap();
    let Lookup::Hit(hit) = route.lookup(&head).await else {
        panic!("HEAD from the stored GET");
    };
    assert_eq!(hit.headers()[header::CONTENT_LENGTH], "5");
    assert_eq!(members(&hit.headers()).len(), 2);
}

/// A lookup writes its key in the thread's buffer: a miss right after a hit on the same
/// thread stores its own readable key, not what the hit left in the buffer (a purge by its
/// readable key finds it, one by the hit's does not).
#[tokio::test(flavor = "current_thread")]
async fn a_miss_after_a_hit_on_one_thread_stores_its_own_readable_key() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(30)).name("/k"));
    let plain = response_headers(&[("content-type", "text/plain")]);
    let long = get("http://example.com/a/much/longer/path?q=1", &[]);
    store(route.lookup(&long).await, &plain, "a");
    tokio::task::yield_now().await;
    assert!(matches!(route.lookup(&long).await, Lookup::Hit(_)));

    let short = get("http://example.com/b", &[]);
    store(route.lookup(&short).await, &plain, "b");
    tokio::task::yield_now().await;
    let invalidator = cache.invalidator();
    assert_eq!(
        invalidator
            .readable_key("GET /a/much/longer/path?q=1 host=example.com")
            .await
            .unwrap(),
        1
    );
    assert!(
        matches!(route.lookup(&short).await, Lookup::Hit(_)),
        "only /a's entry went"
    );
    assert_eq!(
        invalidator.readable_key("GET /b host=example.com").await.unwrap(),
        1
    );
    assert!(matches!(route.lookup(&short).await, Lookup::Forward(_)));
}
