//! What is particular to actix-web, through its own test harness: declared body sizes
//! (`BodySize`) and `Content-Length` on hits and `HEAD`, streamed and empty bodies, handler
//! errors rendered by actix-web, bodies that fail or are dropped, and how the middleware is
//! mounted (`App::wrap`, a scope). What both adapters do is stated once, in
//! integration-tests' parity table, and not repeated here.

use std::{
    convert::Infallible,
    io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{
    App, HttpResponse,
    body::{BodySize, MessageBody},
    dev::ServiceResponse,
    test::{self, TestRequest},
    web,
};
use bytes::Bytes;
use cachefront::{Cache, Policy};
use futures_util::{StreamExt as _, stream};

use cachefront_actix::CacheExt as _;

fn ttl(secs: u64) -> Policy {
    Policy::ttl(Duration::from_secs(secs))
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

/// Every value of a response header, joined with `", "`.
fn header<B>(response: &ServiceResponse<B>, name: &str) -> String {
    response
        .headers()
        .get_all(name)
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The response's `Cache-Status` and body.
async fn read<B: MessageBody>(response: ServiceResponse<B>) -> (String, String) {
    let status = header(&response, "cache-status");
    let body = test::read_body(response).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A handler that counts its calls and answers `body-N`.
fn counting(calls: &Arc<AtomicUsize>) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone + 'static {
    let calls = Arc::clone(calls);
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(
            HttpResponse::Ok()
                .content_type("text/plain")
                .insert_header(("x-custom", "kept"))
                .body(format!("body-{n}")),
        )
    }
}

/// A handler that counts its calls and streams `chunks` chunks of `chunk` bytes of unknown
/// total size.
fn streaming(
    calls: &Arc<AtomicUsize>,
    chunks: usize,
    chunk: usize,
) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone + 'static {
    let calls = Arc::clone(calls);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = stream::iter(
            (0..chunks).map(move |i| Ok::<_, Infallible>(Bytes::from(vec![b'a' + (i % 26) as u8; chunk]))),
        );
        std::future::ready(HttpResponse::Ok().streaming(body))
    }
}

/// The stored body goes back to actix-web as a body of declared size, from which actix-web
/// writes `Content-Length` (the flow itself is in the parity table).
#[actix_web::test]
async fn a_hit_declares_its_length() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/r")
                .wrap(cache.middleware(ttl(30)))
                .route(web::get().to(counting(&calls))),
        ),
    )
    .await;
    assert_eq!(
        test::read_body(test::call_service(&app, get("/r").to_request()).await).await,
        "body-1"
    );

    let hit = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=30");
    assert_eq!(header(&hit, "content-length"), "6");
    assert_eq!(hit.response().body().size(), BodySize::Sized(6));
    assert_eq!(test::read_body(hit).await, "body-1");
}
#[actix_web::test]
async fn head_is_answered_from_the_stored_get() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/r")
                .wrap(cache.middleware(ttl(30)))
                .route(web::get().to(counting(&calls)))
                .route(web::head().to(counting(&calls))),
        ),
    )
    .await;

    // A HEAD miss is forwarded and not stored.
    let head = TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri("/r");
    let (status, _) = read(test::call_service(&app, head.to_request()).await).await;
    assert_eq!(status, "cachefront; fwd=uri-miss; fwd-status=200; detail=head");
    let (status, body) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert!(status.ends_with("stored"), "{status}");
    assert_eq!(body, "body-2");
    // HEAD reads the store only (it never joins a flight): the store write must have landed.
    cache.run_pending_tasks().await;

    let head = TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri("/r");
    let hit = test::call_service(&app, head.to_request()).await;
    assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=30");
    // actix-web writes Content-Length from the declared size, and no body to HEAD.
    assert_eq!(hit.response().body().size(), BodySize::Sized(6));
    assert_eq!(header(&hit, "content-length"), "6");
    assert!(test::read_body(hit).await.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn app_wrap_caches_every_route_under_one_policy() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(10).negative_ttl(std::time::Duration::from_secs(2))))
            .route("/a", web::get().to(counting(&calls)))
            .route("/b", web::get().to(counting(&calls))),
    )
    .await;
    for uri in ["/a", "/b", "/a", "/b"] {
        read(test::call_service(&app, get(uri).to_request()).await).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Responses the app makes itself (here a 404 for an unknown path) pass through the
    // middleware too, and are stored under negative caching.
    let (status, _) = read(test::call_service(&app, get("/nowhere").to_request()).await).await;
    assert_eq!(status, "cachefront; fwd=uri-miss; fwd-status=404; stored");
}

#[actix_web::test]
async fn a_streamed_body_of_unknown_size_is_stored() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/stream")
                .wrap(cache.middleware(ttl(30)))
                .route(web::get().to(streaming(&calls, 10, 1000))),
        ),
    )
    .await;

    let miss = test::call_service(&app, get("/stream").to_request()).await;
    assert_eq!(miss.response().body().size(), BodySize::Stream);
    assert_eq!(
        header(&miss, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    let first = test::read_body(miss).await;
    assert_eq!(first.len(), 10_000);

    let hit = test::call_service(&app, get("/stream").to_request()).await;
    assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=30");
    assert_eq!(header(&hit, "content-length"), "10000");
    assert_eq!(test::read_body(hit).await, first);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn empty_bodies_are_stored_at_once() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let (empty_calls, no_content_calls) = (Arc::clone(&calls), Arc::clone(&calls));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(30)))
            .route(
                "/empty",
                web::get().to(move || {
                    empty_calls.fetch_add(1, Ordering::SeqCst);
                    async { HttpResponse::Ok().finish() }
                }),
            )
            .route(
                "/no-content",
                web::get().to(move || {
                    no_content_calls.fetch_add(1, Ordering::SeqCst);
                    async { HttpResponse::NoContent().body(()) }
                }),
            ),
    )
    .await;
    for (uri, status) in [("/empty", 200), ("/no-content", 204)] {
        let miss = test::call_service(&app, get(uri).to_request()).await;
        assert!(miss.response().body().size().is_eof());
        assert!(header(&miss, "cache-status").ends_with("stored"));
        // Never polled: stored all the same.
        drop(miss);
        let hit = test::call_service(&app, get(uri).to_request()).await;
        assert_eq!(hit.status().as_u16(), status);
        assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=30");
        assert!(test::read_body(hit).await.is_empty());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A handler's `Err` is rendered by actix-web (`ResponseError`) before the middleware sees
/// it: a 500 response, forwarded every time (the other uncacheable responses are in the
/// parity table).
#[actix_web::test]
async fn a_handler_error_is_an_uncacheable_500() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/error",
        web::get().to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<HttpResponse, _>(actix_web::error::ErrorInternalServerError("boom")) }
        }),
    ))
    .await;
    for _ in 0..2 {
        assert_eq!(
            read(test::call_service(&app, get("/error").to_request()).await)
                .await
                .0,
            "cachefront; fwd=uri-miss; fwd-status=500; detail=status"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
#[actix_web::test]
async fn a_failing_body_is_not_stored() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/r",
        web::get().to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = stream::iter([Ok(Bytes::from_static(b"partial")), Err(io::Error::other("lost"))]);
            async move { HttpResponse::Ok().streaming(body) }
        }),
    ))
    .await;
    for _ in 0..2 {
        let response = test::call_service(&app, get("/r").to_request()).await;
        assert!(header(&response, "cache-status").ends_with("stored"));
        let body = response.into_body();
        assert!(actix_web::body::to_bytes(body).await.is_err());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().total.stores, 0);
}

#[actix_web::test]
async fn a_dropped_body_releases_the_requests_waiting_on_it() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/r",
        web::get().to(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            // The first response never ends: its client goes away mid-body.
            let body = stream::iter([Ok::<_, Infallible>(Bytes::from(format!("body-{n}")))]);
            let body = if n == 1 {
                body.chain(stream::pending()).boxed_local()
            } else {
                body.boxed_local()
            };
            async move { HttpResponse::Ok().streaming(body) }
        }),
    ))
    .await;

    let leader = test::call_service(&app, get("/r").to_request()).await;
    let mut body = Box::pin(leader.into_body());
    let first = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
    assert_eq!(first.unwrap().unwrap(), "body-1");

    // A second request waits on the leader's flight...
    let follower = test::call_service(&app, get("/r").to_request());
    let mut follower = Box::pin(follower);
    assert!(futures_util::poll!(follower.as_mut()).is_pending());
    // ...until the leader's client goes away; then it goes to the handler itself.
    drop(body);
    let follower = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("the follower was released");
    let (status, body) = read(follower).await;
    assert_eq!(status, "cachefront; fwd=uri-miss; fwd-status=200; stored");
    assert_eq!(body, "body-2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-2"
    );
}

/// The invalidating middleware wraps a scope (`/admin`), not the resource: the `{id}` of its
/// tags is filled from the policy's named pattern all the same (the parity case mounts it on
/// the resource).
#[actix_web::test]
async fn write_routes_invalidate_tags_filled_from_path_parameters() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(
        App::new()
            .service(
                web::resource("/products/{id}")
                    .wrap(cache.middleware(ttl(60).name("/products/{id}").tag("product:{id}")))
                    .route(web::get().to(move |id: web::Path<u32>| {
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        async move { format!("product-{id}-v{n}") }
                    })),
            )
            .service(
                web::scope("/admin")
                    .wrap(
                        cache.middleware(Policy::invalidates(["product:{id}"]).name("/admin/products/{id}")),
                    )
                    .route("/products/{id}", web::put().to(|| async { "updated" })),
            ),
    )
    .await;
    let show = |id: u32| get(&format!("/products/{id}")).to_request();
    assert_eq!(
        read(test::call_service(&app, show(1)).await).await.1,
        "product-1-v1"
    );
    assert_eq!(
        read(test::call_service(&app, show(2)).await).await.1,
        "product-2-v2"
    );
    assert_eq!(
        read(test::call_service(&app, show(1)).await).await.1,
        "product-1-v1"
    );
    let put = TestRequest::put().uri("/admin/products/1").to_request();
    assert_eq!(test::call_service(&app, put).await.status(), 200);
    cache.run_pending_tasks().await;
    // Only product 1 went.
    assert_eq!(
        read(test::call_service(&app, show(1)).await).await.1,
        "product-1-v3"
    );
    assert_eq!(
        read(test::call_service(&app, show(2)).await).await.1,
        "product-2-v2"
    );
}

/// actix-web routes a request by mutating it, and the client's stale response holds it until
/// it is sent: a stale-while-revalidate refresh starts only once that body has been dropped
/// (the refresh itself is in the parity table).
#[actix_web::test]
async fn the_refresh_starts_once_the_stale_body_is_dropped() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(1).stale_while_revalidate(Duration::from_secs(30))))
            .route("/r", web::get().to(counting(&calls))),
    )
    .await;
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-1"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stale = test::call_service(&app, get("/r").to_request()).await;
    assert!(
        header(&stale, "cache-status").ends_with("detail=stale-while-revalidate"),
        "{}",
        header(&stale, "cache-status")
    );
    // While the client's response is held, no refresh runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(test::read_body(stale).await, "body-1");
    // Sent and dropped: the refresh runs, and its response is served once stored.
    cache.run_pending_tasks().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let (status, body) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert_eq!(status, "cachefront; hit; ttl=1");
    assert_eq!(body, "body-2");
}
