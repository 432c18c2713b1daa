//! Coalescing rules of the core flow, driven through its public API with counters (issue #14,
//! items 9 and 16): one handler call per variant of a cold URI, and followers never handed a
//! response that needs validation.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use cachefront::{Cache, CacheRoute, Policy, adapter::Lookup};
use http::{HeaderMap, HeaderValue, StatusCode, header};

fn request(language: &str) -> http::Request<()> {
    http::Request::get("http://example.com/page")
        .header(header::ACCEPT_LANGUAGE, language)
        .body(())
        .unwrap()
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

/// Answers a forwarded request as the handler would, storing the body.
fn answer(forward: cachefront::adapter::Forward, response: &HeaderMap) {
    let verdict = forward.response(StatusCode::OK, response);
    if let Some(mut collector) = verdict.collector {
        collector.push(&Bytes::from_static(b"body"));
        collector.finish();
    }
}

/// Yields until `n` requests are waiting on a flight: a counter, not a sleep.
async fn until_waiting(cache: &Cache, n: u64) {
    while cache.stats().total.coalesced_waits < n {
        tokio::task::yield_now().await;
    }
}

#[derive(Default)]
struct Outcomes {
    forwarded: AtomicUsize,
    hits: AtomicUsize,
}

/// Starts `n` requests in tasks; each forwarded one is answered at once with `response`.
fn start(
    route: &CacheRoute,
    language: &'static str,
    n: usize,
    response: HeaderMap,
) -> (Arc<Outcomes>, Vec<tokio::task::JoinHandle<()>>) {
    let outcomes = Arc::new(Outcomes::default());
    let tasks = (0..n)
        .map(|_| {
            let (route, outcomes, response) = (route.clone(), Arc::clone(&outcomes), response.clone());
            tokio::spawn(async move {
                match route.lookup(&request(language)).await {
                    Lookup::Forward(forward) => {
                        outcomes.forwarded.fetch_add(1, Ordering::SeqCst);
                        answer(forward, &response);
                    }
                    Lookup::Hit(_) => {
                        outcomes.hits.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    (outcomes, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_other_variants_of_a_cold_uri_coalesce_per_variant() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(std::time::Duration::from_secs(60)));
    let varies = headers(&[("vary", "accept-language")]);
    // `en` leads the cold URI; 20 `fr` requests arrive while it runs.
    let Lookup::Forward(leader) = route.lookup(&request("en")).await else {
        panic!("a cold URI is a miss");
    };
    let (fr, tasks) = start(&route, "fr", 20, varies.clone());
    until_waiting(&cache, 20).await;
    answer(leader, &varies);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        fr.forwarded.load(Ordering::SeqCst),
        1,
        "one handler call for the fr variant, not one per request"
    );
    assert_eq!(fr.hits.load(Ordering::SeqCst), 19);
    // And the variants are both stored.
    assert!(matches!(route.lookup(&request("en")).await, Lookup::Hit(_)));
    assert!(matches!(route.lookup(&request("fr")).await, Lookup::Hit(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_are_not_handed_a_response_that_needs_validation() {
    for directives in ["no-cache", "max-age=0"] {
        let cache = Cache::new();
        let route = cache.route(Policy::shared());
        let response = HeaderMap::from_iter([
            (header::CACHE_CONTROL, HeaderValue::from_static(directives)),
            (header::ETAG, HeaderValue::from_static("\"v1\"")),
            (
                header::LAST_MODIFIED,
                HeaderValue::from_static("Tue, 01 Dec 2026 00:00:00 GMT"),
            ),
        ]);
        let Lookup::Forward(leader) = route.lookup(&request("en")).await else {
            panic!("a cold URI is a miss");
        };
        let (followers, tasks) = start(&route, "en", 5, response.clone());
        until_waiting(&cache, 5).await;
        answer(leader, &response);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            followers.hits.load(Ordering::SeqCst),
            0,
            "a `{directives}` response is validated for each request (RFC 9111 §5.2.2.4, §4.2)"
        );
        assert_eq!(followers.forwarded.load(Ordering::SeqCst), 5, "{directives}");
    }
}

/// A purge that returns before an in-flight miss finishes wins: the miss's response (produced
/// from the data the purge replaced) is served to its own client but never stored (item 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_is_not_undone_by_a_miss_already_in_flight() {
    let purges: [&str; 6] = ["tag", "path", "prefix", "all", "key", "authorized"];
    for purge in purges {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(std::time::Duration::from_secs(60)).tag("product"));
        let plain = || {
            http::Request::get("http://example.com/products/1")
                .body(())
                .unwrap()
        };
        // A request with credentials (stored when the response is public) takes no flight.
        let request = if purge == "authorized" {
            http::Request::get("http://example.com/products/1")
                .header(header::AUTHORIZATION, "Bearer t")
                .body(())
                .unwrap()
        } else {
            plain()
        };
        let Lookup::Forward(miss) = route.lookup(&request).await else {
            panic!("cold");
        };
        let invalidator = cache.invalidator();
        let key = cachefront::KeySpec::default().build(&plain());
        match purge {
            "tag" | "authorized" => invalidator.tag("product").await.map(drop),
            "path" => invalidator.path("/products/1").await.map(drop),
            "prefix" => invalidator.prefix("/products/").await.map(drop),
            "all" => invalidator.all().await.map(drop),
            _ => invalidator.key(&key).await.map(drop),
        }
        .unwrap();
        answer(miss, &headers(&[("cache-control", "public")]));
        tokio::task::yield_now().await;
        assert!(
            matches!(route.lookup(&plain()).await, Lookup::Forward(_)),
            "the response of a request that began before the {purge} purge is not stored"
        );
        // A request that begins after the purge stores as usual.
        let Lookup::Forward(after) = route.lookup(&plain()).await else {
            panic!("still cold");
        };
        answer(after, &HeaderMap::new());
        tokio::task::yield_now().await;
        assert!(matches!(route.lookup(&plain()).await, Lookup::Hit(_)), "{purge}");
    }
}

/// The same rule for memoized values: a value computed while its tag was purged is returned
/// to its caller but not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_is_not_undone_by_a_memo_computation_in_flight() {
    let cache = Cache::new();
    let memo = cache.memo("prices");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let in_flight = {
        let memo = memo.clone();
        tokio::spawn(async move {
            memo.get_or_compute(1u32, || async move {
                let _ = started_tx.send(());
                let _ = finish_rx.await;
                Ok::<_, std::io::Error>("old".to_owned())
            })
            .tag("product:1")
            .await
            .unwrap()
        })
    };
    started_rx.await.unwrap();
    cache.invalidator().tag("product:1").await.unwrap();
    finish_tx.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap(), "old", "its own caller gets the value");
    let computed = AtomicUsize::new(0);
    let value = memo
        .get_or_compute(1u32, || async {
            computed.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>("new".to_owned())
        })
        .tag("product:1")
        .await
        .unwrap();
    assert_eq!(value, "new", "the value from before the purge was not stored");
    assert_eq!(computed.load(Ordering::SeqCst), 1);
}
