//! The leak suite: every way a private response could reach the wrong client, run against both
//! adapters over real sockets on 127.0.0.1 — an axum server with cachefront-tower's
//! `CacheLayer`, and an actix-web server with cachefront-actix's `CacheMiddleware`, each with
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
    /// actix-web, with cachefront-actix's `CacheMiddleware`.
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
