//! Hostile input on real axum servers over real sockets: malformed caching headers from the
//! handler and from the client, huge header values and query strings, a flood of variants, and
//! bytes that are not UTF-8. Whatever arrives, the client gets the handler's response for *its*
//! request (or a clean 4xx from the HTTP server), nothing panics, and the store stays bounded.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri},
    routing::get,
};
use cachefront::store::MemoryStore;
use cachefront_tower::{Cache, CacheExt, Policy};
use futures_util::{StreamExt, stream};
use integration_tests::{TestServer, client, header};

/// The header whose value the echo handler reports (as hex, so that any bytes survive).
const ECHOED: &str = "x-echo";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the echo handler answers for a request: its target and the echoed header, then the
/// call number after a `|`.
fn expected(uri: &str, echoed: Option<&[u8]>) -> String {
    format!(
        "uri={uri} echo={}",
        echoed.map(hex).unwrap_or_else(|| "-".to_owned())
    )
}

/// The request-dependent part of an echo body.
fn echo_of(body: &str) -> &str {
    body.split('|').next().unwrap_or("")
}

/// A handler that answers with what it was asked, the extra response headers given, and a
/// call counter.
fn echo(
    calls: &Arc<AtomicUsize>,
    extra: Vec<(HeaderName, HeaderValue)>,
) -> impl Fn(Uri, HeaderMap) -> std::future::Ready<(StatusCode, HeaderMap, String)> + Clone + Send + 'static {
    let calls = Arc::clone(calls);
    move |uri: Uri, headers: HeaderMap| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut map = HeaderMap::new();
        for (name, value) in &extra {
            map.append(name.clone(), value.clone());
        }
        let body = format!(
            "{}|n={n}",
            expected(&uri.to_string(), headers.get(ECHOED).map(HeaderValue::as_bytes))
        );
        std::future::ready((StatusCode::OK, map, body))
    }
}

async fn echo_server(cache: &Cache, policy: Policy, extra: Vec<(HeaderName, HeaderValue)>) -> TestServer {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route("/e", get(echo(&calls, extra)).layer(cache.layer(policy)));
    TestServer::axum(router).await
}

/// Sends raw bytes (one request, `Connection: close`) and returns the raw response. A blocking
/// socket on a blocking thread: the bytes go out exactly as given.
async fn raw(server: &TestServer, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(&request);
        let mut response = Vec::new();
        // The server may close while the request is still being written (a refused head).
        let _ = stream.read_to_end(&mut response);
        response
    })
    .await
    .unwrap()
}

/// The status code of a raw HTTP/1.1 response.
fn raw_status(response: &[u8]) -> u16 {
    let line = response.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(response)))
}

fn raw_body(response: &[u8]) -> String {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    String::from_utf8_lossy(&response[at + 4..]).into_owned()
}

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("a valid field value (obs-text allowed)")
}

/// Malformed response headers a handler (or an origin) might send: each case is one response.
fn malformed_response_headers() -> Vec<Vec<(&'static str, &'static [u8])>> {
    vec![
        vec![("cache-control", b"max-age=abc")],
        vec![("cache-control", b"max-age=-1")],
        vec![("cache-control", b"max-age=99999999999999999999999999")],
        vec![("cache-control", b"max-age=\"60")],
        vec![("cache-control", b"s-maxage=1.5, max-age=")],
        vec![("cache-control", b"=,,,=, ,")],
        vec![("cache-control", b"private=\"")],
        vec![("cache-control", b"no-cache=\"\\")],
        vec![("cache-control", b"private=\"x-\xff, ,\"")],
        vec![("cache-control", b"max-age=60\xff\xfe")],
        vec![
            ("cache-control", b"max-age=60, max-age=0"),
            ("cache-control", b""),
        ],
        vec![("cache-control", b"stale-while-revalidate=-1, stale-if-error=x")],
        vec![("expires", b"garbage")],
        vec![("expires", b"0")],
        vec![("expires", b"Sun, 31 Dec 9999 23:59:59 GMT")],
        vec![("expires", b"Fri, 99 Feb 2026 25:61:61 GMT")],
        vec![
            ("expires", b"Thu, 01 Jan 1970 00:00:00 GMT"),
            ("expires", b"tomorrow"),
        ],
        vec![("age", b"-5")],
        vec![("age", b"abc")],
        vec![("age", b"99999999999999999999999999")],
        vec![("age", b"18446744073709551615"), ("cache-control", b"max-age=60")],
        vec![("age", b"")],
        vec![("date", b"not a date"), ("cache-control", b"max-age=60")],
        vec![("date", b"Sun, 31 Dec 9999 23:59:59 GMT"), ("age", b"1")],
        vec![("last-modified", b"\xff\xff")],
        vec![("vary", b",,,")],
        vec![("vary", b"accept, *")],
        vec![("vary", b"not a header name, x-\xff")],
        vec![("vary", b"x-echo,,x-echo, X-ECHO")],
        vec![("etag", b"no-quotes")],
        vec![("etag", b"W/")],
        vec![("etag", b"\"unterminated")],
        vec![("etag", b"\"\xff\xfe\"")],
        vec![("etag", b"")],
        vec![("cdn-cache-control", b"max-age=?1, private=(a b")],
        vec![("cdn-cache-control", b"max-age=-1")],
        vec![("cdn-cache-control", b"\xff")],
    ]
}

/// Every malformed response header, in application and shared mode: two requests, both answered
/// with the handler's response for that request.
#[tokio::test]
async fn malformed_caching_headers_from_the_handler_never_break_a_response() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let cases = malformed_response_headers();
    let mut router = Router::new();
    for (i, case) in cases.iter().enumerate() {
        let extra: Vec<_> = case
            .iter()
            .map(|(name, bytes)| (HeaderName::from_static(name), value(bytes)))
            .collect();
        router = router
            .route(
                &format!("/app/{i}"),
                get(echo(&calls, extra.clone())).layer(cache.layer(Policy::ttl(Duration::from_secs(60)))),
            )
            .route(
                &format!("/shared/{i}"),
                get(echo(&calls, extra)).layer(
                    cache.layer(Policy::shared().targeted([HeaderName::from_static("cdn-cache-control")])),
                ),
            );
    }
    let server = TestServer::axum(router).await;
    let client = client();
    for (i, case) in cases.iter().enumerate() {
        for mode in ["app", "shared"] {
            let path = format!("/{mode}/{i}");
            for attempt in 0..2 {
                let response = client
                    .get(server.url(&path))
                    .header(ECHOED, "x")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{case:?} in {mode}, attempt {attempt}");
                assert!(header(&response, "cache-status").starts_with("cachefront;"));
                let body = response.text().await.unwrap();
                assert_eq!(echo_of(&body), expected(&path, Some(b"x")), "{case:?} in {mode}");
            }
        }
    }

    // The RFC's readings of some of them (shared mode): an invalid max-age or Expires is stale,
    // never fresh, so the second request went to the handler again.
    for (i, case) in cases.iter().enumerate() {
        let stale_by_rule = matches!(
            case.as_slice(),
            [("cache-control", b"max-age=abc")]
                | [("cache-control", b"max-age=-1")]
                | [("expires", b"garbage")]
        );
        if stale_by_rule {
            let response = client
                .get(server.url(&format!("/shared/{i}")))
                .send()
                .await
                .unwrap();
            let status = header(&response, "cache-status").to_owned();
            assert!(!status.contains("; hit"), "{case:?} served fresh: {status}");
        }
    }
}

/// Malformed request headers on a primed route, in both modes: a 200 with the stored (or a
/// fresh) body for this URI, or a 304 only when the client's validator can match.
#[tokio::test]
async fn malformed_caching_headers_from_the_client_never_break_a_response() {
    let cache = Cache::new();
    let etag = (
        HeaderName::from_static("etag"),
        HeaderValue::from_static("\"v1\""),
    );
    let app = echo_server(&cache, Policy::ttl(Duration::from_secs(60)), vec![etag.clone()]).await;
    let shared_headers = vec![
        etag,
        (
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("max-age=60"),
        ),
    ];
    let shared = echo_server(&cache, Policy::shared(), shared_headers).await;
    let requests: Vec<(&str, &[u8])> = vec![
        ("cache-control", b"max-age=abc"),
        ("cache-control", b"max-stale=abc, min-fresh=-1"),
        (
            "cache-control",
            b"max-age=99999999999999999999999999, no-cache=\"",
        ),
        ("cache-control", b"only-if-cached=\xff"),
        ("cache-control", b"=,,=,"),
        ("pragma", b"no-cache=\xff"),
        ("if-none-match", b"no-quotes"),
        ("if-none-match", b"W/"),
        ("if-none-match", b"\"unterminated"),
        ("if-none-match", b"\"v1\"\xff, *x"),
        ("if-none-match", b",,,"),
        ("if-modified-since", b"garbage"),
        ("if-modified-since", b"Sun, 31 Dec 9999 23:59:59 GMT"),
        ("if-modified-since", b"\xff"),
        ("age", b"-1"),
        ("vary", b"*"),
        ("range", b"bytes=999999999999999999999-"),
    ];
    let client = client();
    for server in [&app, &shared] {
        let primed = client.get(server.url("/e")).send().await.unwrap();
        assert_eq!(primed.status(), 200);
        for (name, bytes) in &requests {
            let response = client
                .get(server.url("/e"))
                .header(*name, value(bytes))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            match status.as_u16() {
                200 => assert_eq!(echo_of(&body), expected("/e", None), "{name}: {bytes:?}"),
                // `"v1"` followed by junk may still list `"v1"`; nothing else may validate.
                304 => assert!(bytes.starts_with(b"\"v1\""), "{name}: {bytes:?} answered 304"),
                // `only-if-cached` with nothing usable stored is a 504 by the RFC.
                504 => assert!(bytes.starts_with(b"only-if-cached"), "{name}: {bytes:?}"),
                // A first position past any length is unsatisfiable (RFC 9110 §14.1.2).
                416 => assert_eq!(*name, "range", "{bytes:?} answered 416"),
                other => panic!("{name}: {bytes:?} answered {other}"),
            }
        }
    }
}

/// 100 KiB header values, from the client (keyed on and varied on) and from the handler (stored
/// and replayed byte for byte).
#[tokio::test]
async fn hundred_kib_header_values_are_handled() {
    let big = |c: u8| vec![c; 100 * 1024];
    let cache = Cache::new();
    let response_headers = vec![
        (HeaderName::from_static("x-big"), value(&big(b'r'))),
        (
            HeaderName::from_static("vary"),
            HeaderValue::from_static("x-echo"),
        ),
        (HeaderName::from_static("cache-control"), {
            let mut cc = b"max-age=60".to_vec();
            while cc.len() < 100 * 1024 {
                cc.extend_from_slice(b", x-unknown=\"aaaaaaaa\"");
            }
            value(&cc)
        }),
    ];
    let server = echo_server(&cache, Policy::ttl(Duration::from_secs(60)), response_headers).await;
    let client = client();
    for (attempt, c) in [b'a', b'a', b'b'].into_iter().enumerate() {
        let sent = big(c);
        let response = client
            .get(server.url("/e"))
            .header(ECHOED, value(&sent))
            .header("x-other", value(&big(b'o')))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let status = header(&response, "cache-status").to_owned();
        assert_eq!(response.headers()["x-big"].len(), 100 * 1024);
        let body = response.text().await.unwrap();
        assert_eq!(echo_of(&body), expected("/e", Some(&sent)), "attempt {attempt}");
        if attempt == 1 {
            assert!(status.contains("; hit"), "{status}");
        }
    }
}

async fn varied_server(capacity: u64, max_variants: usize) -> (Cache, TestServer) {
    let store = MemoryStore::with_max_bytes(capacity);
    let cache = Cache::builder().store(store).build().unwrap();
    let server = echo_server(
        &cache,
        Policy::ttl(Duration::from_secs(60)).max_variants(max_variants),
        vec![(
            HeaderName::from_static("vary"),
            HeaderValue::from_static("x-echo"),
        )],
    )
    .await;
    (cache, server)
}

/// Sends `x-echo: v{i}` for each `i`, `concurrency` at a time; returns the responses whose body
/// was not the handler's answer for that very value.
async fn send_variants(
    server: &TestServer,
    values: std::ops::Range<usize>,
    concurrency: usize,
) -> Vec<String> {
    let client = client();
    let url = server.url("/e");
    stream::iter(values)
        .map(|i| {
            let request = client.get(&url).header(ECHOED, format!("v{i}"));
            async move {
                let body = request.send().await.unwrap().text().await.unwrap();
                (echo_of(&body) != expected("/e", Some(format!("v{i}").as_bytes()))).then_some(body)
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// 10,000 values of a varied header on one URI, 16 clients at a time: every client gets its own
/// variant, and the store stays within its byte capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_variants_of_one_uri_stay_bounded() {
    const CAPACITY: u64 = 1024 * 1024;
    let (cache, server) = varied_server(CAPACITY, Policy::DEFAULT_MAX_VARIANTS).await;
    let mismatches = send_variants(&server, 0..10_000, 16).await;
    assert!(
        mismatches.is_empty(),
        "{} wrong variants, e.g. {:?}",
        mismatches.len(),
        mismatches.first()
    );
    // Stores run behind the responses: wait for them, and for the store's sweep.
    cache.run_pending_tasks().await;
    let stats = cache.stats();
    assert!(
        stats.bytes <= CAPACITY,
        "{} bytes held, capacity {CAPACITY}",
        stats.bytes
    );
    assert!(stats.entries < 10_000, "{} entries", stats.entries);

    // The newest variant is still answered correctly.
    assert!(send_variants(&server, 9_999..10_000, 1).await.is_empty());
}

/// When each variant is stored before the next one is asked for, the variant cap bounds the
/// entries of one URI: the oldest variants are removed.
#[tokio::test]
async fn spaced_variants_are_capped() {
    let (cache, server) = varied_server(64 * 1024 * 1024, 4).await;
    for i in 0..40 {
        assert!(send_variants(&server, i..i + 1, 1).await.is_empty());
        // The background store and the removal of the evicted variant, landed.
        cache.run_pending_tasks().await;
    }
    let entries = cache.stats().entries;
    // The primary entry plus at most 4 variants.
    assert!(entries <= 5, "{entries} entries for one URI with a cap of 4");
}

/// The cap under load: 10,000 values sent 16 at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_variants_respect_the_variant_cap() {
    let (cache, server) = varied_server(64 * 1024 * 1024, Policy::DEFAULT_MAX_VARIANTS).await;
    assert!(send_variants(&server, 0..10_000, 16).await.is_empty());
    cache.run_pending_tasks().await;
    let entries = cache.stats().entries;
    assert!(
        entries <= Policy::DEFAULT_MAX_VARIANTS as u64 + 1,
        "{entries} entries for one URI (cap {})",
        Policy::DEFAULT_MAX_VARIANTS
    );
}

/// Header values that are not UTF-8 are keyed by their bytes: two such values never share an
/// entry, even though both read as U+FFFD.
#[tokio::test]
async fn header_values_that_are_not_utf8_are_keyed_by_their_bytes() {
    let cache = Cache::new();
    let server = echo_server(
        &cache,
        Policy::ttl(Duration::from_secs(60)).key_header(HeaderName::from_static(ECHOED)),
        vec![(
            HeaderName::from_static("vary"),
            HeaderValue::from_static("x-echo, x-other"),
        )],
    )
    .await;
    let client = client();
    for bytes in [&b"\xff"[..], b"\xfe", b"\xff", b"caf\xc3\x28", b"\xef\xbf\xbd"] {
        let response = client
            .get(server.url("/e"))
            .header(ECHOED, value(bytes))
            .header("x-other", value(b"\x80\x81"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        assert_eq!(echo_of(&body), expected("/e", Some(bytes)), "{bytes:?}");
    }
}

/// Paths, queries and header lines with bytes that are not UTF-8, sent raw (the client library
/// would percent-encode them): the HTTP server answers 400 or the handler answers for that very
/// target, and the server keeps serving.
#[tokio::test]
async fn raw_bytes_that_are_not_utf8_in_the_request_line_and_headers() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/e", get(echo(&calls, Vec::new())))
        .route("/{*rest}", get(echo(&calls, Vec::new())))
        .layer(cache.layer(Policy::ttl(Duration::from_secs(60))));
    let server = TestServer::axum(router).await;
    let targets: [&[u8]; 6] = [
        b"/caf\xc3\x28",
        b"/\xff\xfe/x",
        b"/e?q=\xff",
        b"/e?\xc0\xaf=1&a=\xed\xa0\x80",
        b"/%ff%fe?%c3%28=%ff",
        b"/e/%2e%2e/%2F",
    ];
    for target in targets {
        for attempt in 0..2 {
            let mut request = b"GET ".to_vec();
            request.extend_from_slice(target);
            request.extend_from_slice(
                b" HTTP/1.1\r\nHost: localhost\r\nX-Echo: \xff\xc3\x28\r\nX-Junk: \x80\r\n",
            );
            request.extend_from_slice(b"Connection: close\r\n\r\n");
            let response = raw(&server, &request).await;
            let status = raw_status(&response);
            match status {
                200 => {
                    let body = raw_body(&response);
                    let echoed = body.split(' ').next().unwrap_or("");
                    // The handler saw this target (as `http::Uri` holds it), not another one.
                    assert_eq!(
                        echoed.as_bytes(),
                        [b"uri=".as_slice(), target].concat(),
                        "{target:?} attempt {attempt}"
                    );
                    assert!(body.contains("echo=ffc328"), "{body}");
                }
                400 => {}
                other => panic!("{target:?} answered {other}"),
            }
        }
    }
    // A host that is not UTF-8.
    let response = raw(
        &server,
        b"GET /e HTTP/1.1\r\nHost: \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(matches!(raw_status(&response), 200 | 400));
    // Still serving.
    let response = client().get(server.url("/e")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Query strings near and past the 64 KiB mark: under the `http` crate's limit the handler
/// answers for that exact query (and two such queries never share an entry); past it the HTTP
/// server refuses the request cleanly.
#[tokio::test]
async fn sixty_four_kib_query_strings() {
    let cache = Cache::new();
    let server = echo_server(&cache, Policy::ttl(Duration::from_secs(60)), Vec::new()).await;
    let client = client();
    // 16,000 parameters, a few of them repeated, just under the 65,534-byte URI limit.
    let query = |tail: &str| {
        let mut q: String = (0..16_000)
            .map(|i| format!("{}={}&", i % 8_000, i % 10))
            .collect();
        q.truncate(60 * 1024);
        q.push_str(tail);
        q
    };
    for (attempt, tail) in ["&z=1", "&z=1", "&z=2"].into_iter().enumerate() {
        let target = format!("/e?{}", query(tail));
        let response = client.get(server.url(&target)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let status = header(&response, "cache-status").to_owned();
        let body = response.text().await.unwrap();
        assert_eq!(echo_of(&body), expected(&target, None), "attempt {attempt}");
        assert_eq!(status.contains("; hit"), attempt == 1, "{status}");
    }

    // Exactly 64 KiB of query, and more: past what `http::Uri` holds.
    for len in [64 * 1024, 128 * 1024] {
        let mut request = b"GET /e?".to_vec();
        request.extend(std::iter::repeat_n(b'a', len));
        request.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let response = raw(&server, &request).await;
        let status = raw_status(&response);
        assert!(
            matches!(status, 400 | 414 | 431),
            "{len}-byte query answered {status}"
        );
    }
    assert_eq!(client.get(server.url("/e")).send().await.unwrap().status(), 200);
    let stats = cache.stats();
    assert!(stats.total.stores <= 3, "{:?}", stats.total);
}
