//! The leak suite: every way a private response could reach the wrong client, run against both
//! adapters over real sockets on 127.0.0.1 — an axum server with cachefront-tower's
//! `CacheLayer`, and an actix-web server with cachefront-actix's `ResponseCache`, each with
//! its own fresh cache. In each case user A primes the cache, user B asks, and B must get
//! exactly what the handler answers B — never A's body, A's personal headers or A's cookie.
//!
//! Each case is written once, as a function of the [`Framework`]; the handlers are described
//! once ([`Handler`]) and served by either framework ([`serve`]). `for_both_frameworks!` makes
//! one test per case and framework: `authorization_axum`, `authorization_actix`, ...

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{HttpRequest, HttpResponse, guard, web};
use axum::{
    Router,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    routing::get,
};
use cachefront::{Cache, Credentials, Policy, SetCookie};
use cachefront_actix::CacheExt as _;
use cachefront_tower::CacheExt as _;
use integration_tests::{TestServer, actix::ActixServer, client, header};

// ------------------------------------------------------------------------------------------
// Handlers, described once
// ------------------------------------------------------------------------------------------

/// Who the handler thinks is asking, from the headers a personalised handler reads.
fn who(headers: &[(&str, &str)]) -> String {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    if let Some(v) = get("authorization") {
        format!("auth:{v}")
    } else if let Some(v) = get("cookie") {
        format!("cookie:{v}")
    } else if let Some(v) = get("x-user") {
        format!("user:{v}")
    } else {
        "anonymous".to_owned()
    }
}

/// The body the handler answers: who asked, for what, and the host it would write links for.
fn render(uri: &str, headers: &[(&str, &str)]) -> String {
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-host"))
        .map_or("origin", |(_, v)| *v);
    format!("for={} uri={uri} links=https://{host}/", who(headers))
}

/// A handler's `200` answer, written by each framework in its own way.
struct Reply {
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// A handler: the request's target (path and query, as sent) and headers to its answer.
type Handler = Arc<dyn Fn(&str, &[(&str, &str)]) -> Reply + Send + Sync>;

/// A personalised handler: its body is [`render`] of the request; it answers `x-for` with who
/// asked, the given extra headers, and `Set-Cookie: sid=session-N` when `new_session`.
fn personal(extra: &[(&'static str, &'static str)], new_session: bool) -> Handler {
    let calls = AtomicUsize::new(0);
    let extra = extra.to_vec();
    Arc::new(move |uri, headers| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut reply = vec![("x-for", who(headers))];
        reply.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
        if new_session {
            reply.push(("set-cookie", format!("sid=session-{n}")));
        }
        Reply {
            headers: reply,
            body: render(uri, headers),
        }
    })
}

// ------------------------------------------------------------------------------------------
// Servers, one per framework
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Framework {
    /// axum, with cachefront-tower's `CacheLayer`.
    Axum,
    /// actix-web, with cachefront-actix's `ResponseCache`.
    Actix,
}

enum Server {
    Axum(TestServer),
    Actix(ActixServer),
}

impl Server {
    /// `http://127.0.0.1:PORT{target}`.
    fn url(&self, target: &str) -> String {
        match self {
            Self::Axum(server) => server.url(target),
            Self::Actix(server) => server.url(target),
        }
    }
}

/// Serves `handler` on `/p` and everything under it, for `GET` and `HEAD`, behind one cache
/// layer (a fresh cache) with `policy`.
async fn serve(framework: Framework, policy: Policy, handler: Handler) -> Server {
    let cache = Cache::new();
    match framework {
        Framework::Axum => {
            let endpoint = move |uri: Uri, headers: HeaderMap| {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                    .collect();
                let reply = handler(&uri.to_string(), &pairs);
                let mut map = HeaderMap::new();
                for (name, value) in &reply.headers {
                    map.append(*name, HeaderValue::from_str(value).unwrap());
                }
                // axum's `get` answers `HEAD` too.
                std::future::ready((StatusCode::OK, map, reply.body))
            };
            let router = Router::new()
                .route("/p", get(endpoint.clone()))
                .route("/p/{*rest}", get(endpoint))
                .layer(cache.layer(policy));
            Server::Axum(TestServer::axum(router).await)
        }
        Framework::Actix => Server::Actix(ActixServer::start(move || {
            let handler = Arc::clone(&handler);
            let endpoint = move |request: HttpRequest| {
                let pairs: Vec<(&str, &str)> = request
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                    .collect();
                let reply = handler(&request.uri().to_string(), &pairs);
                let mut response = HttpResponse::Ok();
                for (name, value) in &reply.headers {
                    response.append_header((*name, value.as_str()));
                }
                std::future::ready(response.body(reply.body))
            };
            // `web::get()` does not match `HEAD`: route both, as the cachefront-actix docs say.
            actix_web::App::new().service(
                web::resource(["/p", "/p/{rest:.*}"])
                    .wrap(cache.middleware(policy.clone()))
                    .route(
                        web::route()
                            .guard(guard::Any(guard::Get()).or(guard::Head()))
                            .to(endpoint),
                    ),
            )
        })),
    }
}

/// The [`personal`] handler (no new sessions) behind `policy`.
async fn server(framework: Framework, policy: Policy, extra: &[(&'static str, &'static str)]) -> Server {
    serve(framework, policy, personal(extra, false)).await
}

// ------------------------------------------------------------------------------------------
// Clients
// ------------------------------------------------------------------------------------------

struct Answer {
    status: String,
    body: String,
    for_header: String,
    set_cookie: String,
}

async fn ask(server: &Server, method: Method, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().request(method, server.url(target));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{target} {headers:?}");
    Answer {
        status: header(&response, "cache-status").to_owned(),
        for_header: header(&response, "x-for").to_owned(),
        set_cookie: header(&response, "set-cookie").to_owned(),
        body: response.text().await.unwrap(),
    }
}

/// A primes (twice, so that a stored response is also hit), then B asks twice: B's answers must
/// be the handler's for B.
async fn a_then_b(server: &Server, a: (&str, &[(&str, &str)]), b: (&str, &[(&str, &str)])) -> Vec<Answer> {
    for _ in 0..2 {
        let answer = ask(server, Method::GET, a.0, a.1).await;
        assert_eq!(answer.body, render(a.0, a.1));
    }
    let mut answers = Vec::new();
    for _ in 0..2 {
        let answer = ask(server, Method::GET, b.0, b.1).await;
        assert_eq!(
            answer.body,
            render(b.0, b.1),
            "B {b:?} got another response after A {a:?} ({})",
            answer.status
        );
        assert_eq!(answer.for_header, who(b.1), "B {b:?} got A's personal header");
        answers.push(answer);
    }
    answers
}

/// A GET sent as raw bytes, so that the target reaches the server exactly as written; returns
/// the body (the handler answers with `Content-Length`).
async fn raw_get(server: &Server, target: &str) -> String {
    use std::io::{Read, Write};
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

fn ttl() -> Policy {
    Policy::ttl(Duration::from_secs(60))
}

const ALICE_AUTH: &[(&str, &str)] = &[("authorization", "Bearer alice")];
const BOB_AUTH: &[(&str, &str)] = &[("authorization", "Bearer bob")];
const ALICE_COOKIE: &[(&str, &str)] = &[("cookie", "sid=alice")];
const BOB_COOKIE: &[(&str, &str)] = &[("cookie", "sid=bob")];
const ALICE_USER: &[(&str, &str)] = &[("x-user", "alice")];
const ANONYMOUS: &[(&str, &str)] = &[];

// ------------------------------------------------------------------------------------------
// The cases, each run against both frameworks
// ------------------------------------------------------------------------------------------

/// One test per case and framework, named after both (`authorization_axum`, ...). Multi-thread
/// runtimes: a dropped actix-web server waits for its worker to stop.
macro_rules! for_both_frameworks {
    ($($case:ident => $axum:ident, $actix:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $axum() {
            $case(Framework::Axum).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $actix() {
            $case(Framework::Actix).await;
        }
    )*};
}

for_both_frameworks! {
    authorization => authorization_axum, authorization_actix;
    cookie => cookie_axum, cookie_actix;
    set_cookie => set_cookie_axum, set_cookie_actix;
    private => private_axum, private_actix;
    vary_cookie => vary_cookie_axum, vary_cookie_actix;
    vary_on_a_header_the_attacker_omits =>
        vary_on_a_header_the_attacker_omits_axum, vary_on_a_header_the_attacker_omits_actix;
    unkeyed_forwarded_host => unkeyed_forwarded_host_axum, unkeyed_forwarded_host_actix;
    path_and_query_normalisation_tricks =>
        path_and_query_normalisation_tricks_axum, path_and_query_normalisation_tricks_actix;
    head_get_confusion => head_get_confusion_axum, head_get_confusion_actix;
    percent_encoded_query_names => percent_encoded_query_names_axum, percent_encoded_query_names_actix;
}

async fn authorization(framework: Framework) {
    let shared_cacheable = [("cache-control", "max-age=60")];
    let policies: [(Policy, &[(&str, &str)]); 4] = [
        (ttl(), &[]),
        (Policy::shared(), &shared_cacheable),
        // Keyed per credential: each credential gets its own entry.
        (ttl().authorization(Credentials::PartOfKey), &[]),
        (
            Policy::shared().authorization(Credentials::PartOfKey),
            &shared_cacheable,
        ),
    ];
    for (policy, extra) in policies {
        let server = server(framework, policy, extra).await;
        a_then_b(&server, ("/p", ALICE_AUTH), ("/p", BOB_AUTH)).await;
        a_then_b(&server, ("/p", ALICE_AUTH), ("/p", ANONYMOUS)).await;
        // A token differing only in case is another credential.
        a_then_b(
            &server,
            ("/p", ALICE_AUTH),
            ("/p", &[("authorization", "bearer ALICE")]),
        )
        .await;
    }
}

async fn cookie(framework: Framework) {
    for policy in [ttl(), Policy::shared(), ttl().cookies(Credentials::PartOfKey)] {
        let server = server(framework, policy, &[("cache-control", "max-age=60")]).await;
        a_then_b(&server, ("/p", ALICE_COOKIE), ("/p", BOB_COOKIE)).await;
        a_then_b(&server, ("/p", ALICE_COOKIE), ("/p", ANONYMOUS)).await;
        a_then_b(
            &server,
            ("/p", ALICE_COOKIE),
            ("/p", &[("cookie", "sid=alice; theme=dark")]),
        )
        .await;
    }
}

/// A handler that starts a session for every anonymous visitor: B never receives A's session.
async fn set_cookie(framework: Framework) {
    for rule in [SetCookie::DoNotStore, SetCookie::StoreWithout] {
        let server = serve(framework, ttl().set_cookie(rule), personal(&[], true)).await;
        let a = ask(&server, Method::GET, "/p", ANONYMOUS).await;
        assert_eq!(a.set_cookie, "sid=session-1");
        for _ in 0..2 {
            let b = ask(&server, Method::GET, "/p", ANONYMOUS).await;
            assert_ne!(
                b.set_cookie, a.set_cookie,
                "{rule:?}: B got A's session ({})",
                b.status
            );
        }
    }
}

/// `private` responses: even on a route that declares cookies irrelevant to its key (a
/// misconfiguration the response corrects), a private response is never stored.
async fn private(framework: Framework) {
    for policy in [ttl(), Policy::shared()] {
        let policy = policy.cookies(Credentials::Ignore);
        for extra in [
            &[("cache-control", "private")][..],
            &[("cache-control", "private, max-age=60")],
            &[("cache-control", "max-age=60, PRIVATE")],
            &[("cache-control", "max-age=60"), ("cache-control", "private")],
        ] {
            let server = server(framework, policy.clone(), extra).await;
            a_then_b(&server, ("/p", ALICE_COOKIE), ("/p", BOB_COOKIE)).await;
            a_then_b(&server, ("/p", ALICE_USER), ("/p", ANONYMOUS)).await;
        }
    }
}

/// `Vary: Cookie` on a route that lets cookies through: one variant per cookie.
async fn vary_cookie(framework: Framework) {
    let policy = ttl().cookies(Credentials::Ignore);
    let server = server(framework, policy, &[("vary", "cookie")]).await;
    a_then_b(&server, ("/p", ALICE_COOKIE), ("/p", BOB_COOKIE)).await;
    a_then_b(&server, ("/p", ALICE_COOKIE), ("/p", ANONYMOUS)).await;
    // Bob's and the anonymous variants stored: Alice still gets Alice's.
    let alice = ask(&server, Method::GET, "/p", ALICE_COOKIE).await;
    assert_eq!(alice.body, render("/p", ALICE_COOKIE));
}

/// `Vary` on a header the attacker simply leaves out (or changes): absent matches only absent.
async fn vary_on_a_header_the_attacker_omits(framework: Framework) {
    for vary in ["x-user", "X-User, accept-language", "accept-language,x-user"] {
        let server = server(framework, ttl(), &[("vary", vary)]).await;
        a_then_b(&server, ("/p", ALICE_USER), ("/p", ANONYMOUS)).await;
        a_then_b(&server, ("/p", ALICE_USER), ("/p", &[("x-user", "")])).await;
        a_then_b(&server, ("/p", ALICE_USER), ("/p", &[("x-user", "Alice")])).await;
        a_then_b(&server, ("/p", ALICE_USER), ("/p", &[("x-user", "alice, bob")])).await;
    }
}

/// An unkeyed header that the handler reads (here to build absolute links) is the classic
/// cache-poisoning vector. A handler that does not read it is safe by default; one that does
/// must key on it with `Policy::key_header`.
async fn unkeyed_forwarded_host(framework: Framework) {
    const EVIL: &[(&str, &str)] = &[("x-forwarded-host", "evil.example")];

    // The handler ignores the header: the attacker's request changes nothing.
    let ignoring: Handler = Arc::new(|_, _| Reply {
        headers: Vec::new(),
        body: "links=https://origin/".to_owned(),
    });
    let ignoring = serve(framework, ttl(), ignoring).await;
    let primed = ask(&ignoring, Method::GET, "/p", EVIL).await;
    assert_eq!(primed.body, "links=https://origin/");
    let victim = ask(&ignoring, Method::GET, "/p", ANONYMOUS).await;
    assert!(victim.status.contains("; hit"), "{}", victim.status);
    assert_eq!(victim.body, "links=https://origin/");

    // The handler reads it and the route does not key on it: the default is unsafe, the victim
    // gets the attacker's links. (This documents why `key_header` exists.)
    let unsafe_default = server(framework, ttl(), &[]).await;
    ask(&unsafe_default, Method::GET, "/p", EVIL).await;
    let victim = ask(&unsafe_default, Method::GET, "/p", ANONYMOUS).await;
    assert_eq!(
        victim.body,
        render("/p", EVIL),
        "expected the poisoning to reproduce"
    );

    // Keyed on the header it reads: fixed.
    for policy in [
        ttl().key_header(HeaderName::from_static("x-forwarded-host")),
        Policy::shared().key_header(HeaderName::from_static("x-forwarded-host")),
    ] {
        let fixed = server(framework, policy, &[("cache-control", "max-age=60")]).await;
        a_then_b(&fixed, ("/p", EVIL), ("/p", ANONYMOUS)).await;
        a_then_b(
            &fixed,
            ("/p", EVIL),
            ("/p", &[("x-forwarded-host", "EVIL.example")]),
        )
        .await;
        a_then_b(&fixed, ("/p", EVIL), ("/p", &[("x-forwarded-host", "origin")])).await;
    }
}

/// Path and query spellings that a normalising cache might merge: each is its own key, so B
/// gets the handler's answer for B's exact target.
async fn path_and_query_normalisation_tricks(framework: Framework) {
    let server = server(framework, ttl(), &[]).await;
    let pairs = [
        ("/p/a%2Fb", "/p/a/b"),
        ("/p/a/b", "/p/a%2Fb"),
        ("/p/a%2fb", "/p/a%2Fb"),
        ("/p/A", "/p/a"),
        ("/p/%61", "/p/a"),
        ("/p/a/", "/p/a"),
        ("/p//a", "/p/a"),
        ("/p/a;user=alice", "/p/a"),
        ("/p?user=alice&user=bob", "/p?user=bob&user=alice"),
        ("/p?user=alice", "/p?user=alice&user=bob"),
        ("/p?user=alice", "/p?USER=alice"),
        ("/p?user=alice", "/p?user=Alice"),
        ("/p?user=alice", "/p?user=%61lice"),
        ("/p?user=alice", "/p?user%3Dalice"),
        ("/p?user=alice", "/p?user=alice%26admin=1"),
        ("/p?a=1&user=alice", "/p?a=1;user=bob"),
        ("/p?user=", "/p?user"),
        ("/p?user=alice", "/p"),
    ];
    for (a, b) in pairs {
        a_then_b(&server, (a, ANONYMOUS), (b, ANONYMOUS)).await;
    }
    // Dot segments, sent raw (the client library would resolve them): the server does not
    // resolve them either, so each spelling is its own key and its own answer.
    for (a, b) in [("/p/./a", "/p/a"), ("/p/b/../a", "/p/a"), ("/p/a", "/p/b/../a")] {
        for target in [a, a, b, b] {
            assert_eq!(
                raw_get(&server, target).await,
                render(target, ANONYMOUS),
                "{a} then {b}"
            );
        }
    }
    // Reordering distinct parameters shares an entry (documented), and is the same request.
    let first = ask(&server, Method::GET, "/p?a=1&b=2", ANONYMOUS).await;
    let second = ask(&server, Method::GET, "/p?b=2&a=1", ANONYMOUS).await;
    assert!(second.status.contains("; hit"), "{}", second.status);
    assert_eq!(first.body, second.body);
}

/// HEAD and GET: a HEAD never stores a response a GET then receives, and a GET by a user with
/// credentials never gives its headers to another user's HEAD.
async fn head_get_confusion(framework: Framework) {
    let server = self::server(framework, ttl(), &[]).await;
    let client = client();

    // A's HEAD (forwarded, not stored), then B's GET: B gets a full body for B.
    let head = client
        .head(server.url("/p"))
        .header("x-user", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "x-for"), "user:alice");
    let b = ask(&server, Method::GET, "/p", ANONYMOUS).await;
    assert_eq!(b.body, render("/p", ANONYMOUS));

    // A's GET with credentials (bypassed), then B's HEAD: nothing of A's.
    for credentials in [ALICE_AUTH, ALICE_COOKIE] {
        let server = self::server(framework, ttl(), &[]).await;
        ask(&server, Method::GET, "/p/h", credentials).await;
        let head = client.head(server.url("/p/h")).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(header(&head, "x-for"), "anonymous");
        let length: usize = header(&head, "content-length").parse().unwrap();
        assert_eq!(length, render("/p/h", ANONYMOUS).len());
    }

    // A stored GET answers B's HEAD with the GET's headers and no body; B's later GET gets
    // the body.
    let server = self::server(framework, ttl(), &[("vary", "x-user")]).await;
    ask(&server, Method::GET, "/p/v", ALICE_USER).await;
    let head = client.head(server.url("/p/v")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, "x-for"),
        "anonymous",
        "{}",
        header(&head, "cache-status")
    );
    assert!(head.bytes().await.unwrap().is_empty());
    a_then_b(&server, ("/p/v", ALICE_USER), ("/p/v", ANONYMOUS)).await;
}

/// The query's `(name, value)` pairs as a handler's `Query` extractor (serde_urlencoded) reads
/// them: split on `&` and the first `=`, `+` as space, `%XX` decoded, invalid UTF-8 replaced.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
            match (bytes[i], hex(i + 1), hex(i + 2)) {
                (b'+', ..) => out.push(b' '),
                (b'%', Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                (byte, ..) => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// A listing handler that reads `page` from the decoded query, as `Query<Params>` would.
fn listing(target: &str) -> String {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let pages: Vec<String> = form_pairs(query)
        .into_iter()
        .filter(|(name, _)| name == "page")
        .map(|(_, value)| value)
        .collect();
    format!("pages={pages:?}")
}

/// With an allow-list of query parameters, a percent-encoded spelling of an allowed name
/// (`pag%65`, which the handler decodes to `page`) is that name for the key too: it neither
/// slips past the allow-list to poison the bare URL, nor shares a key with another page.
async fn percent_encoded_query_names(framework: Framework) {
    let policy = ttl().key(cachefront::KeySpec::default().query(cachefront::QueryKey::only(["page"])));
    let handler: Handler = Arc::new(|target, _headers| Reply {
        headers: Vec::new(),
        body: listing(target),
    });
    let server = serve(framework, policy, handler).await;
    let pairs = [
        ("/p?pag%65=3", "/p"),
        ("/p?%70%61%67%65=3", "/p?page=1"),
        ("/p?pag%65=3&page=1", "/p?page=1"),
        ("/p?page=1&pag%65=3", "/p?page=3&page=1"),
        ("/p?pag%45=3", "/p"),
        ("/p/x?page%3D3", "/p/x"),
        ("/p/y?page=3%26page%3D4", "/p/y?page=3"),
    ];
    for (a, b) in pairs {
        for target in [a, a, b, b] {
            let answer = ask(&server, Method::GET, target, ANONYMOUS).await;
            assert_eq!(
                answer.body,
                listing(target),
                "{target} (after {a}) got another page's response ({})",
                answer.status
            );
        }
    }
    // Two spellings of one page share the entry, as they are one request to the handler.
    let plain = ask(&server, Method::GET, "/p/z?page=2", ANONYMOUS).await;
    let encoded = ask(&server, Method::GET, "/p/z?pag%65=2", ANONYMOUS).await;
    assert!(encoded.status.contains("; hit"), "{}", encoded.status);
    assert_eq!(plain.body, encoded.body);
}

// ------------------------------------------------------------------------------------------
// Hosts and nested routers: the key is built from exactly what the handler sees
// ------------------------------------------------------------------------------------------

for_both_frameworks! {
    absolute_form_host => absolute_form_host_axum, absolute_form_host_actix;
    nested_routers_keep_their_prefix =>
        nested_routers_keep_their_prefix_axum, nested_routers_keep_their_prefix_actix;
}

/// The hosts a handler can read, each spelled as it saw it, sorted and deduplicated: the
/// `Host` header, the request target's authority and (actix-web) `ConnectionInfo::host()`.
fn hosts_seen(hosts: &[Option<&str>]) -> String {
    let hosts: std::collections::BTreeSet<&str> = hosts.iter().flatten().copied().collect();
    format!("hosts={}", hosts.into_iter().collect::<Vec<_>>().join(","))
}

/// Serves `/p` behind one cache layer with `policy`, answering with [`hosts_seen`].
async fn serve_hosts(framework: Framework, policy: Policy) -> Server {
    let cache = Cache::new();
    match framework {
        Framework::Axum => {
            let endpoint = |uri: Uri, headers: HeaderMap| async move {
                let host = headers.get("host").and_then(|v| v.to_str().ok());
                hosts_seen(&[host, uri.authority().map(|a| a.as_str())])
            };
            let router = Router::new()
                .route("/p", get(endpoint))
                .layer(cache.layer(policy));
            Server::Axum(TestServer::axum(router).await)
        }
        Framework::Actix => Server::Actix(ActixServer::start(move || {
            let endpoint = |request: HttpRequest| {
                let host = request.headers().get("host").and_then(|v| v.to_str().ok());
                let info = request.connection_info().host().to_owned();
                let body = hosts_seen(&[
                    host,
                    request.uri().authority().map(|a| a.as_str()),
                    Some(info.as_str()),
                ]);
                std::future::ready(HttpResponse::Ok().body(body))
            };
            actix_web::App::new().service(
                web::resource("/p")
                    .wrap(cache.middleware(policy.clone()))
                    .route(web::get().to(endpoint)),
            )
        })),
    }
}

/// Sends `head` (a request line and header lines, without the final empty line) as raw
/// bytes, so that the target and `Host` reach the server exactly as written; returns the
/// response's status line and body.
async fn raw_exchange(base: &str, head: &str) -> (String, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").to_owned();
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// RFC 9112 §3.2.2: with an absolute-form target, the target's authority is the host and
/// `Host` is replaced by it. An attacker who sends `GET http://victim.example/p` with
/// `Host: evil.example` must not get a page rendered for evil.example stored under
/// victim.example: the handler sees the host the key uses, whichever way it reads it.
async fn absolute_form_host(framework: Framework) {
    let server = serve_hosts(framework, ttl()).await;
    {
        let attack = raw_exchange(
            &server.url(""),
            "GET http://victim.example/p HTTP/1.1\r\nHost: evil.example",
        )
        .await;
        assert!(attack.0.contains(" 200 "), "{attack:?}");
        assert_eq!(
            attack.1, "hosts=victim.example",
            "the handler saw another host than the key's"
        );
        let victim = raw_exchange(&server.url(""), "GET /p HTTP/1.1\r\nHost: victim.example").await;
        assert_eq!(
            victim.1, "hosts=victim.example",
            "the victim got the attacker's page"
        );

        // The other way round: a target naming the attacker's host stays the attacker's.
        let attack = raw_exchange(
            &server.url(""),
            "GET http://evil2.example/p HTTP/1.1\r\nHost: victim2.example",
        )
        .await;
        assert_eq!(attack.1, "hosts=evil2.example");
        let victim = raw_exchange(&server.url(""), "GET /p HTTP/1.1\r\nHost: victim2.example").await;
        assert_eq!(
            victim.1, "hosts=victim2.example",
            "the victim got the attacker's page"
        );
    }
}

/// Routers nested under a prefix (axum `Router::nest`, actix-web `web::scope`): `/v1/items`
/// and `/v2/items` are two resources with two entries, and purging or invalidating one
/// reaches exactly its own entry. Policy names (and the tags they fill) use the full path.
async fn nested_routers_keep_their_prefix(framework: Framework) {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = |version: &str| {
        ttl()
            .name(format!("/{version}/items/{{id}}"))
            .tag(format!("{version}-item:{{id}}"))
    };
    let server = match framework {
        Framework::Axum => {
            let versioned = |version: &'static str| {
                let calls = Arc::clone(&calls);
                let read = move |axum::extract::Path(id): axum::extract::Path<String>| {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    std::future::ready(format!("{version}-{id}-{n}"))
                };
                let write = || std::future::ready(StatusCode::NO_CONTENT);
                Router::new()
                    .route("/items/{id}", get(read).post(write))
                    .layer(cache.layer(policy(version)))
            };
            let router = Router::new()
                .nest("/v1", versioned("v1"))
                .nest("/v2", versioned("v2"));
            Server::Axum(TestServer::axum(router).await)
        }
        Framework::Actix => {
            let (cache, calls) = (cache.clone(), Arc::clone(&calls));
            Server::Actix(ActixServer::start(move || {
                let versioned = |version: &'static str| {
                    let calls = Arc::clone(&calls);
                    let read = move |id: web::Path<String>| {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        std::future::ready(format!("{version}-{id}-{n}"))
                    };
                    web::scope(&format!("/{version}"))
                        .wrap(cache.middleware(policy(version)))
                        .route("/items/{id}", web::get().to(read))
                        .route(
                            "/items/{id}",
                            web::post().to(|| std::future::ready(HttpResponse::NoContent().finish())),
                        )
                };
                actix_web::App::new()
                    .service(versioned("v1"))
                    .service(versioned("v2"))
            }))
        }
    };
    let body = |path: &str| {
        let url = server.url(path);
        async move {
            let response = client().get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let status = header(&response, "cache-status").to_owned();
            (status, response.text().await.unwrap())
        }
    };

    assert_eq!(body("/v1/items/7").await.1, "v1-7-1");
    let (status, v2) = body("/v2/items/7").await;
    assert_eq!(v2, "v2-7-2", "/v2/items/7 got /v1/items/7's entry ({status})");
    assert_eq!(body("/v1/items/7").await.1, "v1-7-1");
    assert_eq!(body("/v2/items/7").await.1, "v2-7-2");

    // A purge by path reaches the nested route's entry, and only it.
    cache.invalidator().path("/v1/items/7").await.unwrap();
    let (status, v1) = body("/v1/items/7").await;
    assert_eq!(
        v1, "v1-7-3",
        "the purge of /v1/items/7 missed its entry ({status})"
    );
    assert_eq!(body("/v2/items/7").await.1, "v2-7-2");

    // Tags filled from the full path.
    cache.invalidator().tag("v2-item:7").await.unwrap();
    let (status, v2) = body("/v2/items/7").await;
    assert_eq!(
        v2, "v2-7-4",
        "the tag v2-item:7 was not on /v2/items/7 ({status})"
    );
    assert_eq!(body("/v1/items/7").await.1, "v1-7-3");

    // An unsafe request invalidates its own URI.
    let post = client().post(server.url("/v1/items/7")).send().await.unwrap();
    assert_eq!(post.status(), 204);
    assert_eq!(body("/v1/items/7").await.1, "v1-7-5");
    assert_eq!(body("/v2/items/7").await.1, "v2-7-4");
}

// ------------------------------------------------------------------------------------------
// The caching reverse proxy of examples/reverse-proxy
// ------------------------------------------------------------------------------------------

/// The reverse proxy (its cache and shared-cache policy) in front of `origin`, serving the
/// client's address.
async fn reverse_proxy(origin: &integration_tests::origin::ScriptedOrigin) -> TestServer {
    let upstream = example_reverse_proxy::Origin::new(&origin.base()).unwrap();
    let app = example_reverse_proxy::app(upstream, &Cache::new(), example_reverse_proxy::policy());
    TestServer::axum(app).await
}

/// An origin page with absolute links to the host the proxy says the client asked for.
async fn links_origin() -> integration_tests::origin::ScriptedOrigin {
    use integration_tests::origin::{Reply as OriginReply, ScriptedOrigin};
    let page = OriginReply::ok("links=https://{host}/").header("cache-control", "public, max-age=60");
    ScriptedOrigin::start(vec![("/page".to_owned(), vec![page])]).await
}

/// `curl --request-target 'http://victim.example/page' -H 'Host: evil.example'`: stored under
/// victim.example, so the origin must be told victim.example, and the next plain request for
/// victim.example gets victim.example's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_proxy_forwards_the_host_it_keys_on() {
    let origin = links_origin().await;
    let proxy = reverse_proxy(&origin).await;
    let attack = raw_exchange(
        &proxy.url(""),
        "GET http://victim.example/page HTTP/1.1\r\nHost: evil.example",
    )
    .await;
    assert!(attack.0.contains(" 200 "), "{attack:?}");
    assert_eq!(attack.1, "links=https://victim.example/");
    let sent = origin.requests();
    assert_eq!(
        sent[0].header("x-forwarded-host").as_deref(),
        Some("victim.example")
    );
    assert_eq!(
        sent[0].header("host"),
        Some(origin.base().trim_start_matches("http://").to_owned())
    );
    let victim = raw_exchange(&proxy.url(""), "GET /page HTTP/1.1\r\nHost: victim.example").await;
    assert_eq!(
        victim.1, "links=https://victim.example/",
        "the victim got the attacker's page"
    );

    // A target naming another host than `Host` is that other host's request, also on a hit.
    let other = raw_exchange(
        &proxy.url(""),
        "GET http://other.example/page HTTP/1.1\r\nHost: victim.example",
    )
    .await;
    assert_eq!(other.1, "links=https://other.example/");
    assert_eq!(origin.count(), 2);
}

/// The client's forwarding fields never reach the origin unkeyed: the proxy sets
/// `X-Forwarded-For`/`-Proto`/`-Host` itself and drops the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_proxy_replaces_client_forwarding_headers() {
    let origin = links_origin().await;
    let proxy = reverse_proxy(&origin).await;
    let host = proxy.url("").trim_start_matches("http://").to_owned();
    let forged = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-for", "203.0.113.66"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/evil"),
        ("x-forwarded-port", "8443"),
        ("forwarded", "for=203.0.113.66;host=evil.example;proto=https"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-original-host", "evil.example"),
        ("x-host", "evil.example"),
        ("x-real-ip", "203.0.113.66"),
        ("x-http-method-override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("x-method-override", "DELETE"),
    ];
    let mut request = client().get(proxy.url("/page"));
    for (name, value) in forged {
        request = request.header(name, value);
    }
    let attack = request.send().await.unwrap().text().await.unwrap();
    assert_eq!(attack, format!("links=https://{host}/"));
    let sent = &origin.requests()[0];
    assert_eq!(sent.header("x-forwarded-host"), Some(host.clone()));
    assert_eq!(sent.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(sent.header("x-forwarded-proto").as_deref(), Some("http"));
    for (name, _) in forged {
        if !["x-forwarded-host", "x-forwarded-for", "x-forwarded-proto"].contains(&name) {
            assert_eq!(sent.header(name), None, "{name} reached the origin");
        }
    }
    let victim = client().get(proxy.url("/page")).send().await.unwrap();
    assert!(header(&victim, "cache-status").contains("; hit"));
    assert_eq!(victim.text().await.unwrap(), format!("links=https://{host}/"));
}

// ------------------------------------------------------------------------------------------
// Revalidation: what a 304 carries for one user never reaches another
// ------------------------------------------------------------------------------------------

for_both_frameworks! {
    revalidation_304_private_fields =>
        revalidation_304_private_fields_axum, revalidation_304_private_fields_actix;
}

/// A handler whose page is the same for everyone (`ETag: "v1"`), revalidated with `304`s that
/// carry the asking user's personal fields: `x-for` (marked `private="x-for"` or
/// `no-cache="x-for"`), a new session cookie, and a tag header naming the user.
fn revalidating_reply(
    headers: &[(&str, &str)],
    qualifier: &str,
) -> (u16, Vec<(&'static str, String)>, String) {
    let user = who(headers);
    let cache_control = format!("max-age=60, {qualifier}=\"x-for\"");
    let conditional = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("if-none-match") && value.contains("\"v1\""));
    if !conditional {
        return (
            200,
            vec![("etag", "\"v1\"".to_owned()), ("cache-control", cache_control)],
            "the same page for everyone".to_owned(),
        );
    }
    (
        304,
        vec![
            ("etag", "\"v1\"".to_owned()),
            ("cache-control", cache_control),
            ("x-for", user.clone()),
            ("set-cookie", format!("sid={user}")),
            ("cache-tag", format!("tag-{user}")),
        ],
        String::new(),
    )
}

/// Serves [`revalidating_reply`] on `/p` behind one cache layer (a fresh cache) with `policy`.
async fn serve_revalidating(framework: Framework, policy: Policy, qualifier: &'static str) -> Server {
    let cache = Cache::new();
    match framework {
        Framework::Axum => {
            let endpoint = move |headers: HeaderMap| {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                    .collect();
                let (status, reply, body) = revalidating_reply(&pairs, qualifier);
                let mut map = HeaderMap::new();
                for (name, value) in &reply {
                    map.append(*name, HeaderValue::from_str(value).unwrap());
                }
                std::future::ready((StatusCode::from_u16(status).unwrap(), map, body))
            };
            let router = Router::new()
                .route("/p", get(endpoint))
                .layer(cache.layer(policy));
            Server::Axum(TestServer::axum(router).await)
        }
        Framework::Actix => Server::Actix(ActixServer::start(move || {
            let endpoint = move |request: HttpRequest| {
                let pairs: Vec<(&str, &str)> = request
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                    .collect();
                let (status, reply, body) = revalidating_reply(&pairs, qualifier);
                let mut response =
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                for (name, value) in &reply {
                    response.append_header((*name, value.as_str()));
                }
                std::future::ready(response.body(body))
            };
            actix_web::App::new().service(
                web::resource("/p")
                    .wrap(cache.middleware(policy.clone()))
                    .route(web::get().to(endpoint)),
            )
        })),
    }
}

/// A revalidates the stored page (its `no-cache` makes the cache ask the handler, which answers
/// `304` with A's personal fields); B then hits the refreshed entry and must get none of them:
/// not A's `private=`/`no-cache=` field, not A's `Set-Cookie` (stored without it), not A's tag
/// header (hidden from clients).
async fn revalidation_304_private_fields(framework: Framework) {
    let alice: &[(&str, &str)] = &[("x-user", "alice"), ("cache-control", "no-cache")];
    for qualifier in ["private", "no-cache"] {
        for policy in [
            Policy::shared(),
            Policy::shared().set_cookie(SetCookie::StoreWithout),
            ttl().client_directives(true).set_cookie(SetCookie::StoreWithout),
        ] {
            let described = format!("{qualifier}=, {:?} {:?}", policy.mode(), policy.route_name());
            let server = serve_revalidating(framework, policy, qualifier).await;
            let client = client();
            let first = client.get(server.url("/p")).send().await.unwrap();
            assert_eq!(first.status(), 200, "{described}");
            assert!(header(&first, "cache-status").contains("stored"), "{described}");
            // A's revalidation: A's own fields reach A. The first response is written to the
            // store in the background; until it lands A's request is a plain miss (a 200 with
            // nothing personal), so A asks again until the cache revalidates.
            let mut attempts = 0;
            let (a, status) = loop {
                let mut request = client.get(server.url("/p"));
                for (name, value) in alice {
                    request = request.header(*name, *value);
                }
                let a = request.send().await.unwrap();
                assert_eq!(a.status(), 200, "{described}");
                let status = header(&a, "cache-status").to_owned();
                attempts += 1;
                if status.contains("fwd-status=304") || attempts == 100 {
                    break (a, status);
                }
            };
            assert!(status.contains("fwd-status=304"), "{described}: {status}");
            assert_eq!(header(&a, "x-for"), "user:alice", "{described}: {status}");
            assert_eq!(header(&a, "cache-tag"), "", "{described}: tag header shown to A");
            for _ in 0..2 {
                let b = client.get(server.url("/p")).send().await.unwrap();
                assert_eq!(b.status(), 200, "{described}");
                let status = header(&b, "cache-status").to_owned();
                assert!(status.contains("; hit"), "{described}: {status}");
                assert_eq!(
                    header(&b, "x-for"),
                    "",
                    "{described}: B got A's {qualifier} field"
                );
                assert_eq!(header(&b, "set-cookie"), "", "{described}: B got A's cookie");
                assert_eq!(header(&b, "cache-tag"), "", "{described}: B got A's tag header");
                assert_eq!(b.text().await.unwrap(), "the same page for everyone");
            }
        }
    }
}
