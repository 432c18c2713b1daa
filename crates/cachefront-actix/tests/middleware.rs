//! The middleware's flow through actix-web's own test harness: hits, misses, bypasses,
//! `HEAD`, streaming, refresh and invalidation, as an actix-web application sees them.

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

#[actix_web::test]
async fn miss_then_hit_serves_the_same_response_with_age() {
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

    let miss = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(miss.status(), 200);
    assert_eq!(
        header(&miss, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert!(miss.headers().get("age").is_none(), "a miss carries no Age");
    assert_eq!(header(&miss, "content-type"), "text/plain");
    assert_eq!(test::read_body(miss).await, "body-1");

    let hit = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(hit.status(), 200);
    assert_eq!(header(&hit, "cache-status"), "cachefront; hit; ttl=30");
    assert_eq!(header(&hit, "age"), "0");
    assert_eq!(header(&hit, "content-type"), "text/plain");
    assert_eq!(header(&hit, "x-custom"), "kept");
    assert_eq!(header(&hit, "content-length"), "6");
    assert_eq!(hit.response().body().size(), BodySize::Sized(6));
    assert_eq!(test::read_body(hit).await, "body-1");

    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.total.hits, stats.total.misses, stats.total.stores),
        (1, 1, 1)
    );
}

#[actix_web::test]
async fn authorization_and_cookie_bypass_the_cache() {
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
    // Stored first, so a bypass is seen to skip a stored response too.
    read(test::call_service(&app, get("/r").to_request()).await).await;

    for (name, value, detail) in [
        ("authorization", "Bearer secret", "authorization"),
        ("cookie", "session=1", "cookie"),
    ] {
        for _ in 0..2 {
            let request = TestRequest::get()
                .uri("/r")
                .insert_header((name, value))
                .to_request();
            let (status, _) = read(test::call_service(&app, request).await).await;
            assert_eq!(
                status,
                format!("cachefront; fwd=bypass; fwd-status=200; detail={detail}")
            );
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // The stored response was not replaced by a bypassed one.
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-1"
    );
}

#[actix_web::test]
async fn unsafe_methods_are_forwarded() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/r")
                .wrap(cache.middleware(ttl(30)))
                .route(web::post().to(counting(&calls))),
        ),
    )
    .await;
    for n in 1..=2 {
        let request = TestRequest::post().uri("/r").to_request();
        let (status, body) = read(test::call_service(&app, request).await).await;
        assert_eq!(status, "cachefront; fwd=method; fwd-status=200; detail=method");
        assert_eq!(body, format!("body-{n}"));
    }
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
async fn scope_and_resource_middleware_keep_their_own_policies() {
    let cache = Cache::new();
    let scope_calls = Arc::new(AtomicUsize::new(0));
    let resource_calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/scoped")
                    .wrap(cache.middleware(ttl(60).name("scope")))
                    .route("/a", web::get().to(counting(&scope_calls)))
                    .route("/b", web::get().to(counting(&scope_calls))),
            )
            .service(
                web::resource("/resource")
                    .wrap(cache.middleware(ttl(5).name("resource")))
                    .route(web::get().to(counting(&resource_calls))),
            ),
    )
    .await;

    for uri in ["/scoped/a", "/scoped/b", "/resource"] {
        let (status, _) = read(test::call_service(&app, get(uri).to_request()).await).await;
        assert!(status.ends_with("stored"), "{uri}: {status}");
    }
    assert_eq!(
        read(test::call_service(&app, get("/scoped/a").to_request()).await)
            .await
            .0,
        "cachefront; hit; ttl=60"
    );
    assert_eq!(
        read(test::call_service(&app, get("/scoped/b").to_request()).await)
            .await
            .0,
        "cachefront; hit; ttl=60"
    );
    assert_eq!(
        read(test::call_service(&app, get("/resource").to_request()).await)
            .await
            .0,
        "cachefront; hit; ttl=5"
    );
    assert_eq!(scope_calls.load(Ordering::SeqCst), 2);
    assert_eq!(resource_calls.load(Ordering::SeqCst), 1);

    // One cache: one store, stats per route.
    let stats = cache.stats();
    assert_eq!(stats.total.stores, 3);
    assert_eq!(stats.routes["scope"].hits, 2);
    assert_eq!(stats.routes["resource"].hits, 1);
}

#[actix_web::test]
async fn app_wrap_caches_every_route_under_one_policy() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(10)))
            .route("/a", web::get().to(counting(&calls)))
            .route("/b", web::get().to(counting(&calls))),
    )
    .await;
    for uri in ["/a", "/b", "/a", "/b"] {
        read(test::call_service(&app, get(uri).to_request()).await).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Responses the app makes itself (here a 404 for an unknown path) are cacheable too.
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
async fn a_streamed_body_over_the_limit_streams_through_uncached() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/big")
                .wrap(cache.middleware(ttl(30).max_body_bytes(4096)))
                .route(web::get().to(streaming(&calls, 64, 1024))),
        ),
    )
    .await;
    for _ in 0..2 {
        let response = test::call_service(&app, get("/big").to_request()).await;
        // `stored` is said with the head, before the body's size is known.
        assert_eq!(
            header(&response, "cache-status"),
            "cachefront; fwd=uri-miss; fwd-status=200; stored"
        );
        let body = test::read_body(response).await;
        assert_eq!(body.len(), 64 * 1024);
        assert!(body.starts_with(&[b'a'; 1024]) && body.ends_with(&[b'l'; 1024]));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = cache.stats();
    assert_eq!(
        (stats.total.stores, stats.total.not_stored, stats.entries),
        (0, 2, 0)
    );
}

#[actix_web::test]
async fn a_declared_length_over_the_limit_is_not_collected() {
    let cache = Cache::new();
    let app = test::init_service(
        App::new().service(
            web::resource("/r")
                .wrap(cache.middleware(ttl(30).max_body_bytes(1024)))
                .route(web::get().to(|| async { HttpResponse::Ok().body(vec![b'x'; 4096]) })),
        ),
    )
    .await;
    let response = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(
        header(&response, "cache-status"),
        "cachefront; fwd=uri-miss; fwd-status=200; detail=too-large"
    );
    assert_eq!(test::read_body(response).await.len(), 4096);
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

#[actix_web::test]
async fn uncacheable_responses_are_forwarded_every_time() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/{what}",
        web::get().to(move |what: web::Path<String>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match what.as_str() {
                    "error" => Err(actix_web::error::ErrorInternalServerError("boom")),
                    "cookie" => Ok(HttpResponse::Ok().insert_header(("set-cookie", "a=1")).body("x")),
                    "private" => Ok(HttpResponse::Ok()
                        .insert_header(("cache-control", "private"))
                        .body("x")),
                    _ => Ok(HttpResponse::Ok().insert_header(("vary", "*")).body("x")),
                }
            }
        }),
    ))
    .await;
    for (uri, expected) in [
        (
            "/error",
            "cachefront; fwd=uri-miss; fwd-status=500; detail=status",
        ),
        (
            "/cookie",
            "cachefront; fwd=uri-miss; fwd-status=200; detail=set-cookie",
        ),
        (
            "/private",
            "cachefront; fwd=uri-miss; fwd-status=200; detail=private",
        ),
        (
            "/vary",
            "cachefront; fwd=uri-miss; fwd-status=200; detail=vary-star",
        ),
    ] {
        for _ in 0..2 {
            assert_eq!(
                read(test::call_service(&app, get(uri).to_request()).await)
                    .await
                    .0,
                expected
            );
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 8);
}

#[actix_web::test]
async fn existing_cache_status_members_come_first() {
    let cache = Cache::new();
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/r",
        web::get().to(|| async {
            HttpResponse::Ok()
                .insert_header(("cache-status", "upstream; hit"))
                .body("x")
        }),
    ))
    .await;
    let (status, _) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert_eq!(
        status,
        "upstream; hit, cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    let (status, _) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert_eq!(status, "upstream; hit, cachefront; hit; ttl=30");
}

#[actix_web::test]
async fn concurrent_cold_requests_run_the_handler_once() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = test::init_service(App::new().wrap(cache.middleware(ttl(30))).route(
        "/slow",
        web::get().to(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                HttpResponse::Ok().body(format!("body-{n}"))
            }
        }),
    ))
    .await;
    let responses = futures_util::future::join_all(
        (0..20).map(|_| async { read(test::call_service(&app, get("/slow").to_request()).await).await }),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(responses.iter().all(|(_, body)| body == "body-1"));
    let collapsed = responses
        .iter()
        .filter(|(status, _)| status == "cachefront; fwd=uri-miss; fwd-status=200; collapsed")
        .count();
    assert_eq!(collapsed, 19);
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

/// A handler that answers the n-th call with `script[n]` (the last entry repeats) and
/// `body-N`, with an `ETag`; a scripted success becomes a 304 when the request's
/// `If-None-Match` matches that `ETag`.
fn scripted(
    calls: &Arc<AtomicUsize>,
    script: &'static [u16],
) -> impl Fn(actix_web::HttpRequest) -> std::future::Ready<HttpResponse> + Clone + 'static {
    let calls = Arc::clone(calls);
    move |request: actix_web::HttpRequest| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let status = actix_web::http::StatusCode::from_u16(script[n.min(script.len() - 1)]).unwrap();
        let matches = request
            .headers()
            .get("if-none-match")
            .is_some_and(|v| v == "\"v1\"");
        let response = if matches && status.is_success() {
            HttpResponse::NotModified()
                .insert_header(("etag", "\"v1\""))
                .finish()
        } else {
            HttpResponse::build(status)
                .insert_header(("etag", "\"v1\""))
                .body(format!("body-{}", n + 1))
        };
        std::future::ready(response)
    }
}

#[actix_web::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once_in_the_background() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // App-wide: the background refresh goes through actix-web's router.
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(1).stale_while_revalidate(Duration::from_secs(30))))
            .route(
                "/r",
                web::get().to(move || {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n > 1 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        HttpResponse::Ok().body(format!("computed-{n}"))
                    }
                }),
            ),
    )
    .await;
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "computed-1"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, body) = read(test::call_service(&app, get("/r").to_request()).await).await;
        assert!(status.starts_with("cachefront; hit; ttl=-"), "{status}");
        assert!(status.ends_with("detail=stale-while-revalidate"), "{status}");
        assert_eq!(body, "computed-1");
        assert!(started.elapsed() < Duration::from_millis(200), "served at once");
    }
    // One background refresh ran; its response is served once it is stored.
    cache.run_pending_tasks().await;
    let (status, body) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert_eq!(status, "cachefront; hit; ttl=1");
    assert_eq!(body, "computed-2");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh for three stale hits"
    );
}

#[actix_web::test]
async fn stale_if_error_serves_the_stale_response_when_the_handler_fails() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(1).stale_if_error(Duration::from_secs(30))))
            .route("/r", web::get().to(scripted(&calls, &[200, 503]))),
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
    assert_eq!(stale.status(), 200);
    let (status, body) = read(stale).await;
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=503; ttl=-"),
        "{status}"
    );
    assert!(status.ends_with("detail=stale-if-error"), "{status}");
    assert_eq!(body, "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn without_stale_if_error_a_failure_reaches_the_client() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(1)))
            .route("/r", web::get().to(scripted(&calls, &[200, 503]))),
    )
    .await;
    read(test::call_service(&app, get("/r").to_request()).await).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let failed = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(failed.status(), 503);
    assert_eq!(read(failed).await.1, "body-2");
}

#[actix_web::test]
async fn a_stale_response_is_revalidated_with_the_handler() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(1).stale_if_error(Duration::from_secs(30))))
            .route("/r", web::get().to(scripted(&calls, &[200]))),
    )
    .await;
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-1"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The cache asks with the stored ETag; the handler's 304 refreshes the stored response.
    let revalidated = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(revalidated.status(), 200);
    let (status, body) = read(revalidated).await;
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=304"),
        "{status}"
    );
    assert_eq!(body, "body-1");
    let (status, body) = read(test::call_service(&app, get("/r").to_request()).await).await;
    assert_eq!(status, "cachefront; hit; ttl=1");
    assert_eq!(body, "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().total.revalidations, 1);
}

#[actix_web::test]
async fn a_successful_unsafe_request_invalidates_the_stored_response() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().service(
            web::resource("/r")
                .wrap(cache.middleware(ttl(30)))
                .route(web::get().to(counting(&calls)))
                .route(web::post().to(counting(&calls))),
        ),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            read(test::call_service(&app, get("/r").to_request()).await)
                .await
                .1,
            "body-1"
        );
    }
    let post = TestRequest::post().uri("/r").to_request();
    assert_eq!(read(test::call_service(&app, post).await).await.1, "body-2");
    // The invalidation is done before the unsafe request's response is sent: no wait.
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-3"
    );
    assert_eq!(cache.stats().total.invalidations, 1);
}

#[actix_web::test]
async fn a_failed_unsafe_request_invalidates_nothing() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(30)))
            .route("/r", web::route().to(scripted(&calls, &[200, 500, 200]))),
    )
    .await;
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-1"
    );
    let post = test::call_service(&app, TestRequest::post().uri("/r").to_request()).await;
    assert_eq!(post.status(), 500);
    cache.run_pending_tasks().await;
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-1"
    );
}

#[actix_web::test]
async fn client_conditionals_are_answered_from_a_fresh_hit() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .wrap(cache.middleware(ttl(30)))
            .route("/r", web::get().to(scripted(&calls, &[200]))),
    )
    .await;
    read(test::call_service(&app, get("/r").to_request()).await).await;
    let request = get("/r")
        .insert_header(("if-none-match", "W/\"v1\""))
        .to_request();
    let not_modified = test::call_service(&app, request).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, "etag"), "\"v1\"");
    assert!(header(&not_modified, "cache-status").starts_with("cachefront; hit"));
    assert!(test::read_body(not_modified).await.is_empty());
    let request = get("/r").insert_header(("if-none-match", "\"v0\"")).to_request();
    let changed = test::call_service(&app, request).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(read(changed).await.1, "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

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

#[actix_web::test]
async fn handlers_tag_responses_with_a_header_the_client_never_sees() {
    let tagged = |cache: &Cache, policy: Policy, calls: &Arc<AtomicUsize>| {
        let counter = Arc::clone(calls);
        App::new().wrap(cache.middleware(policy)).route(
            "/r",
            web::get().to(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    HttpResponse::Ok()
                        .insert_header(("cache-tag", "news, front-page"))
                        .body(format!("body-{n}"))
                }
            }),
        )
    };
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(tagged(&cache, ttl(60), &calls)).await;
    let miss = test::call_service(&app, get("/r").to_request()).await;
    assert!(miss.headers().get("cache-tag").is_none(), "stripped on a miss");
    read(miss).await;
    let hit = test::call_service(&app, get("/r").to_request()).await;
    assert!(hit.headers().get("cache-tag").is_none(), "not stored either");
    assert_eq!(read(hit).await.1, "body-1");
    cache.run_pending_tasks().await;
    assert_eq!(cache.invalidate_tag("front-page").await.unwrap(), 1);
    assert_eq!(
        read(test::call_service(&app, get("/r").to_request()).await)
            .await
            .1,
        "body-2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let cache = Cache::new();
    let app = test::init_service(tagged(&cache, ttl(60).expose_tag_headers(true), &calls)).await;
    let miss = test::call_service(&app, get("/r").to_request()).await;
    assert_eq!(header(&miss, "cache-tag"), "news, front-page");
}
