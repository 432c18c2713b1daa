//! Readiness: hits and requests that never reach the inner service never wait for, nor take,
//! its capacity; a request that goes to the inner service waits for it.

use std::{task::Poll, time::Duration};

use bytes::Bytes;
use cachefront_tower::{Cache, CacheExt, Policy};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt, limit::ConcurrencyLimitLayer};
use tower_test::mock;

type Handle = mock::Handle<Request<()>, Response<Full<Bytes>>>;

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

async fn cache_status<B: http_body::Body>(response: Response<B>) -> String
where
    B::Error: std::fmt::Debug,
{
    let status = response.headers()["cache-status"].to_str().unwrap().to_owned();
    response.into_body().collect().await.unwrap();
    status
}

/// Answers the inner service's next request with `body`.
async fn answer(handle: &mut Handle, body: &'static str) {
    let (_, send) = handle
        .next_request()
        .await
        .expect("a request reaches the inner service");
    send.send_response(Response::new(Full::new(Bytes::from_static(body.as_bytes()))));
}

#[tokio::test]
async fn a_hit_is_answered_while_the_inner_service_is_not_ready() {
    let (inner, mut handle) = mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let mut service = Cache::new()
        .layer(Policy::ttl(Duration::from_secs(60)))
        .layer(inner);
    handle.allow(1);
    let miss = tokio::spawn(service.call(get("http://a.example/hot")));
    answer(&mut handle, "hot").await;
    assert!(
        cache_status(miss.await.unwrap().unwrap())
            .await
            .ends_with("stored")
    );

    // No capacity left: the cache is ready all the same, and the hit needs none.
    handle.allow(0);
    let ready = std::future::poll_fn(|cx| Poll::Ready(service.poll_ready(cx))).await;
    assert!(matches!(ready, Poll::Ready(Ok(()))), "the cache service is ready");
    let call = service.ready().await.unwrap().call(get("http://a.example/hot"));
    let hit = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("a hit does not wait for the inner service")
        .unwrap();
    assert_eq!(cache_status(hit).await, "cachefront; hit; ttl=60");

    // A miss waits for the inner service's readiness, then goes to it.
    let miss = tokio::spawn(service.call(get("http://a.example/cold")));
    tokio::task::yield_now().await;
    assert!(!miss.is_finished(), "a miss waits for capacity");
    handle.allow(1);
    answer(&mut handle, "cold").await;
    assert!(
        cache_status(miss.await.unwrap().unwrap())
            .await
            .ends_with("stored")
    );
}

#[tokio::test]
async fn a_hit_takes_no_permit_of_a_concurrency_limit() {
    let (inner, mut handle) = mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let limited = ConcurrencyLimitLayer::new(1).layer(inner);
    let mut service = Cache::new()
        .layer(Policy::ttl(Duration::from_secs(60)))
        .layer(limited);
    let first = tokio::spawn(service.call(get("http://a.example/hot")));
    answer(&mut handle, "hot").await;
    assert!(
        cache_status(first.await.unwrap().unwrap())
            .await
            .ends_with("stored")
    );

    // A slow miss holds the only permit until it is answered.
    let slow = tokio::spawn(service.call(get("http://a.example/slow")));
    let (_, send) = handle.next_request().await.unwrap();
    let hit = tokio::time::timeout(Duration::from_secs(5), service.call(get("http://a.example/hot")))
        .await
        .expect("a hit does not wait for the permit a slow miss holds")
        .unwrap();
    assert_eq!(cache_status(hit).await, "cachefront; hit; ttl=60");
    send.send_response(Response::new(Full::new(Bytes::from_static(b"slow"))));
    assert!(
        cache_status(slow.await.unwrap().unwrap())
            .await
            .ends_with("stored")
    );
}
