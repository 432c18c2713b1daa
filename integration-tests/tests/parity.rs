//! One table of behaviour cases, run against both adapters over real sockets: an axum server
//! with cachefront-tower's `CacheLayer`, and an actix-web server with cachefront-actix's
//! `ResponseCache`, each with its own fresh cache, on 127.0.0.1.
//!
//! A case is an application (routes, policies, handlers — described once, built for both
//! frameworks by `AppSpec::axum` and `actix_app`) and a scenario (requests and
//! assertions, written once). The scenario asserts the expected behaviour on each adapter and
//! records what it saw — status, body, `Cache-Status`, `Age` presence, `Content-Length`,
//! handler calls, stats — in a transcript; the runner then requires both transcripts to be
//! identical.
//!
//! This table is the single statement of adapter behaviour: what both adapters do is asserted
//! here, once, and not repeated per adapter. `tower.rs` and the actix-web tests keep only what is
//! particular to one adapter (how it is mounted, how it translates its framework's types).
//!
//! Every case must come out alike on both adapters: there is no way to mark a difference as
//! expected. A difference is fixed, in the adapter or the core.
//!
//! `PARITY_CASE=<part of a name>` runs only the matching cases; `--nocapture` shows the
//! report, and `PARITY_VERBOSE=1` the transcripts in it.
//!
//! actix-web-only behaviour (scope vs resource, `BodyStream` bodies, a client leaving during a
//! coalesced miss) is tested at the end of this file.

use std::{
    collections::BTreeMap,
    fmt,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use cachefront::{Cache, Credentials, Policy, SetCookie, store::MemoryStore};
use cachefront_actix::CacheExt as _;
use cachefront_tower::CacheExt as _;
use futures_util::{FutureExt as _, StreamExt as _};
use integration_tests::{
    TestServer,
    actix::{ActixServer, ActixSettings},
    client, rss_bytes, until,
};
use tokio::sync::Barrier;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

// ------------------------------------------------------------------------------------------
// Applications, described once
// ------------------------------------------------------------------------------------------

/// What a handler sees of a request.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// The `{id}` path parameter, if the route has one.
    id: Option<String>,
    /// The request's `If-None-Match`, if any.
    if_none_match: Option<String>,
}

/// A handler's answer, written by each framework in its own way.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: ReplyBody,
}

#[derive(Clone, Debug)]
enum ReplyBody {
    /// A body of known length.
    Full(Bytes),
    /// `total` bytes in 64 KiB chunks, with no declared length.
    Stream { total: usize },
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".to_owned())],
            body: ReplyBody::Full(Bytes::from(body.into())),
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(Req) -> BoxFuture<Reply> + Send + Sync>;

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    /// `GET`, and `HEAD` with it: axum's `get` answers `HEAD` itself; actix-web needs a
    /// `web::head()` route, registered for every `GET` (see the cachefront-actix docs).
    Get,
    Post,
    Put,
}

struct RouteSpec {
    path: &'static str,
    methods: &'static [Method],
    /// The index of the layer (one middleware, shared by the routes that name it).
    layer: Option<usize>,
    handler: Handler,
}

/// An application, described once for both frameworks.
struct AppSpec {
    cache: Cache,
    /// One cache layer / middleware per policy.
    layers: Vec<Policy>,
    routes: Vec<RouteSpec>,
    /// Handler calls, all routes together.
    calls: Arc<AtomicUsize>,
}

impl AppSpec {
    fn new(cache: Cache) -> Self {
        Self {
            cache,
            layers: Vec::new(),
            routes: Vec::new(),
            calls: Arc::default(),
        }
    }

    /// Adds a layer; returns its index.
    fn layer(&mut self, policy: Policy) -> usize {
        self.layers.push(policy);
        self.layers.len() - 1
    }

    fn route(
        mut self,
        path: &'static str,
        methods: &'static [Method],
        layer: Option<usize>,
        handler: Handler,
    ) -> Self {
        self.routes.push(RouteSpec {
            path,
            methods,
            layer,
            handler,
        });
        self
    }

    /// One route `path` under its own layer with `policy`.
    fn cached(
        mut self,
        path: &'static str,
        methods: &'static [Method],
        policy: Policy,
        handler: Handler,
    ) -> Self {
        let layer = self.layer(policy);
        self.route(path, methods, Some(layer), handler)
    }

    /// The application as an axum router, with cachefront-tower layers.
    fn axum(&self) -> axum::Router {
        let layers: Vec<_> = self.layers.iter().map(|p| self.cache.layer(p.clone())).collect();
        let mut router = axum::Router::new();
        for route in &self.routes {
            let handler = Arc::clone(&route.handler);
            let pattern = route.path;
            let endpoint = move |request: axum::extract::Request| {
                let req = Req {
                    method: request.method().to_string(),
                    id: param(pattern, request.uri().path()),
                    if_none_match: request
                        .headers()
                        .get("if-none-match")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                };
                let reply = handler(req);
                async move { axum_response(reply.await) }
            };
            let filter = route
                .methods
                .iter()
                .map(|m| match m {
                    Method::Get => axum::routing::MethodFilter::GET,
                    Method::Post => axum::routing::MethodFilter::POST,
                    Method::Put => axum::routing::MethodFilter::PUT,
                })
                .reduce(axum::routing::MethodFilter::or)
                .expect("a route has methods");
            let mut method_router = axum::routing::on(filter, endpoint);
            if let Some(layer) = route.layer {
                // A reply with status 599 becomes an error of the service the cache wraps.
                let layers = tower::ServiceBuilder::new()
                    .layer(axum::error_handling::HandleErrorLayer::new(
                        |_: tower::BoxError| async {
                            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "failed")
                        },
                    ))
                    .layer(layers[layer].clone())
                    .layer(tower::util::MapResultLayer::new(fail_on_599));
                method_router = method_router.layer(layers);
            }
            router = router.route(route.path, method_router);
        }
        router
    }

    /// What the actix-web app factory needs, to build the app on the server's worker.
    fn actix_parts(&self) -> ActixParts {
        ActixParts {
            cache: self.cache.clone(),
            layers: self.layers.clone(),
            routes: self
                .routes
                .iter()
                .map(|r| (r.path, r.methods, r.layer, Arc::clone(&r.handler)))
                .collect(),
        }
    }
}

#[derive(Clone)]
struct ActixParts {
    cache: Cache,
    layers: Vec<Policy>,
    routes: Vec<(&'static str, &'static [Method], Option<usize>, Handler)>,
}

/// The application as an actix-web app, with cachefront-actix middleware. Built on the
/// server's worker (the middleware holds `Rc`s).
fn actix_app(
    parts: ActixParts,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let middleware: Vec<_> = parts
        .layers
        .iter()
        .map(|p| parts.cache.middleware(p.clone()))
        .collect();
    let mut app = actix_web::App::new();
    for (path, methods, layer, handler) in parts.routes {
        let endpoint = move |request: HttpRequest| {
            let req = Req {
                method: request.method().to_string(),
                id: param(path, request.path()),
                if_none_match: request
                    .headers()
                    .get("if-none-match")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let reply = handler(req);
            async move { actix_response(reply.await) }
        };
        let mut resource = web::resource(path);
        for method in methods {
            resource = match method {
                Method::Get => resource
                    .route(web::get().to(endpoint.clone()))
                    .route(web::head().to(endpoint.clone())),
                Method::Post => resource.route(web::post().to(endpoint.clone())),
                Method::Put => resource.route(web::put().to(endpoint.clone())),
            };
        }
        app = match layer {
            // A reply with status 599 becomes an error of the service the cache wraps.
            Some(layer) => app.service(
                resource
                    .wrap_fn(|request, service| {
                        let response = actix_web::dev::Service::call(service, request);
                        async move {
                            let response = response.await?;
                            match response.status().as_u16() {
                                599 => Err(actix_web::error::ErrorInternalServerError("failed")),
                                _ => Ok(response),
                            }
                        }
                    })
                    .wrap(middleware[layer].clone()),
            ),
            None => app.service(resource),
        };
    }
    app
}

/// The service under a cache layer fails where its handler answered 599 (as a timeout or an
/// upstream client would).
fn fail_on_599(
    result: Result<axum::response::Response, std::convert::Infallible>,
) -> Result<axum::response::Response, tower::BoxError> {
    match result {
        Ok(response) if response.status().as_u16() == 599 => Err("failed".into()),
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// The `{id}` segment of `path` under `pattern` (`/slow/{id}`, `/slow/7` → `7`).
fn param(pattern: &str, path: &str) -> Option<String> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .find(|(p, _)| *p == "{id}")
        .map(|(_, v)| v.to_owned())
}

const CHUNK: usize = 64 * 1024;

fn chunks(total: usize) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::iter((0..total.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(total - i * CHUNK);
        Ok(Bytes::from(vec![b'a' + (i % 26) as u8; len]))
    }))
}

fn axum_response(reply: Reply) -> axum::response::Response {
    let mut builder = axum::http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    let body = match reply.body {
        ReplyBody::Full(bytes) => axum::body::Body::from(bytes),
        ReplyBody::Stream { total } => axum::body::Body::from_stream(chunks(total)),
    };
    builder.body(body).expect("a valid response")
}

fn actix_response(reply: Reply) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status).expect("a valid status");
    let mut builder = HttpResponse::build(status);
    for (name, value) in &reply.headers {
        builder.append_header((*name, value.as_str()));
    }
    match reply.body {
        ReplyBody::Full(bytes) => builder.body(bytes),
        ReplyBody::Stream { total } => builder.streaming(chunks(total)),
    }
}

// Handlers. Each numbers its own calls (`body-N`), as a handler of its own server would, and
// counts them in the app's total too.

/// Answers `body-N` with `status` and the given headers (and `content-type: text/plain`).
fn counting(app: &AppSpec, status: u16, headers: &'static [(&'static str, &'static str)]) -> Handler {
    let total = Arc::clone(&app.calls);
    let own = Arc::new(AtomicUsize::new(0));
    handler(move |_| {
        total.fetch_add(1, Ordering::SeqCst);
        let n = own.fetch_add(1, Ordering::SeqCst) + 1;
        let mut reply = Reply::text(status, format!("body-{n}"));
        reply.headers.clear();
        for (name, value) in headers {
            reply = reply.header(name, value);
        }
        reply = reply.header("content-type", "text/plain");
        async move { reply }
    })
}

/// The n-th call gets `script[n]` (the last entry repeats), as `(status, body-N)`.
fn scripted(app: &AppSpec, script: &'static [u16]) -> Handler {
    let total = Arc::clone(&app.calls);
    handler(move |_| {
        let n = total.fetch_add(1, Ordering::SeqCst);
        let reply = Reply::text(script[n.min(script.len() - 1)], format!("body-{}", n + 1));
        async move { reply }
    })
}

/// Answers `body-N` with `ETag: "v1"`, or a bodiless 304 when the request's
/// `If-None-Match` is `"v1"`.
fn validating(app: &AppSpec) -> Handler {
    let total = Arc::clone(&app.calls);
    handler(move |req: Req| {
        let n = total.fetch_add(1, Ordering::SeqCst) + 1;
        let reply = if req.if_none_match.as_deref() == Some("\"v1\"") {
            Reply {
                status: 304,
                headers: vec![("etag", "\"v1\"".to_owned())],
                body: ReplyBody::Full(Bytes::new()),
            }
        } else {
            Reply::text(200, format!("body-{n}")).header("etag", "\"v1\"")
        };
        async move { reply }
    })
}

/// Counts its calls, waits `delay`, answers `computed-N`.
fn slow(app: &AppSpec, delay: Duration) -> Handler {
    let total = Arc::clone(&app.calls);
    handler(move |_| {
        let n = total.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::time::sleep(delay).await;
            Reply::text(200, format!("computed-{n}"))
        }
    })
}

/// Streams `total` bytes in 64 KiB chunks, with no declared length.
fn streaming(app: &AppSpec, total: usize) -> Handler {
    let calls = Arc::clone(&app.calls);
    handler(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        let reply = Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Stream { total },
        };
        async move { reply }
    })
}

// ------------------------------------------------------------------------------------------
// Running a scenario against one adapter
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Adapter {
    Axum,
    Actix,
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Axum => "axum (cachefront-tower)",
            Self::Actix => "actix-web (cachefront-actix)",
        })
    }
}

enum Server {
    Axum(TestServer),
    Actix(ActixServer),
}

impl Server {
    async fn start(adapter: Adapter, app: &AppSpec, settings: ActixSettings) -> Self {
        match adapter {
            Adapter::Axum => Self::Axum(TestServer::axum(app.axum()).await),
            Adapter::Actix => {
                let parts = app.actix_parts();
                Self::Actix(ActixServer::start_with(settings, move || {
                    actix_app(parts.clone())
                }))
            }
        }
    }

    fn url(&self, path: &str) -> String {
        match self {
            Self::Axum(server) => server.url(path),
            Self::Actix(server) => server.url(path),
        }
    }

    async fn stop(self) {
        match self {
            Self::Axum(server) => drop(server),
            Self::Actix(server) => server.stop().await,
        }
    }
}

/// What a scenario works with: the server's base URL, the app's cache and counters, a
/// client, and the transcript it writes.
#[derive(Clone)]
struct Target {
    base: String,
    cache: Cache,
    calls: Arc<AtomicUsize>,
    client: reqwest::Client,
    transcript: Arc<Mutex<Vec<String>>>,
}

/// One response as a scenario saw it.
#[derive(Debug)]
struct Seen {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// `Cache-Status`, every member in order.
    fn cache_status(&self) -> String {
        self.headers
            .get_all("cache-status")
            .iter()
            .map(|v| v.to_str().unwrap_or("<not text>"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not text>")
    }
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Writes `label: value` in the transcript.
    fn note(&self, label: &str, value: impl fmt::Debug) {
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{label}: {value:?}"));
    }

    /// Sends `request`, reads the whole body, and writes what came back in the transcript.
    async fn send(&self, label: &str, request: reqwest::RequestBuilder) -> Seen {
        let response = request.send().await.unwrap_or_else(|e| panic!("{label}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{label}: body: {e}"));
        let seen = Seen {
            status,
            headers,
            body,
        };
        self.record(label, &seen);
        seen
    }

    fn record(&self, label: &str, seen: &Seen) {
        let body = match std::str::from_utf8(&seen.body) {
            Ok(text) if text.len() <= 64 => format!("{text:?}"),
            _ => format!("{} bytes", seen.body.len()),
        };
        let line = format!(
            "{label} → {} | cache-status: {} | age: {} | content-length: {} | body: {body}",
            seen.status,
            normalise_cache_status(&seen.cache_status()),
            if seen.headers.contains_key("age") {
                "present"
            } else {
                "absent"
            },
            seen.header("content-length"),
        );
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    async fn get(&self, path: &str) -> Seen {
        self.send(&format!("GET {path}"), self.client.get(self.url(path)))
            .await
    }

    async fn get_with(&self, path: &str, name: &str, value: &str) -> Seen {
        let request = self.client.get(self.url(path)).header(name, value);
        self.send(&format!("GET {path} [{name}: {value}]"), request).await
    }

    /// `GET path` `n` times, with a header if given; the bodies.
    async fn bodies(&self, path: &str, n: usize, header: Option<(&str, &str)>) -> Vec<String> {
        let mut bodies = Vec::new();
        for _ in 0..n {
            let seen = match header {
                Some((name, value)) => self.get_with(path, name, value).await,
                None => self.get(path).await,
            };
            bodies.push(seen.text().to_owned());
        }
        bodies
    }
}

/// A stale response's negative `ttl` depends on how long the test slept, not on the adapter.
fn normalise_cache_status(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("ttl=-") {
        out.push_str(&rest[..at + 5]);
        rest = rest[at + 5..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('N');
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------------------------------------
// The table
// ------------------------------------------------------------------------------------------

type Scenario = fn(Target) -> BoxFuture<()>;

struct Case {
    name: &'static str,
    app: fn() -> AppSpec,
    scenario: Scenario,
    /// How the actix-web server differs from actix-web's defaults for this case.
    actix: ActixSettings,
}

fn case(name: &'static str, app: fn() -> AppSpec, scenario: Scenario) -> Case {
    Case {
        name,
        app,
        scenario,
        actix: ActixSettings::default(),
    }
}

fn ttl(secs: u64) -> Policy {
    Policy::ttl(Duration::from_secs(secs))
}

const GET: &[Method] = &[Method::Get];
const GET_POST: &[Method] = &[Method::Get, Method::Post];

/// `/r`, GET and POST, cached under `policy`, answering `body-N` with `status` and `headers`.
fn counting_app(policy: Policy, status: u16, headers: &'static [(&'static str, &'static str)]) -> AppSpec {
    let app = AppSpec::new(Cache::new());
    let handler = counting(&app, status, headers);
    app.cached("/r", GET_POST, policy, handler)
}

/// `/r`, GET and POST, cached under `policy`, answering from `script`.
fn scripted_app(policy: Policy, script: &'static [u16]) -> AppSpec {
    let app = AppSpec::new(Cache::new());
    let handler = scripted(&app, script);
    app.cached("/r", GET_POST, policy, handler)
}

/// `/slow/{id}` waiting `delay` before answering `computed-N`.
fn slow_app(cache: Cache, delay: Duration) -> AppSpec {
    let app = AppSpec::new(cache);
    let handler = slow(&app, delay);
    app.cached("/slow/{id}", GET, ttl(30), handler)
}

/// `/big` streaming `total` bytes.
fn streaming_app(total: usize) -> AppSpec {
    let app = AppSpec::new(Cache::new());
    let handler = streaming(&app, total);
    app.cached("/big", GET, ttl(30), handler)
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "miss then hit: identical body and headers",
            || counting_app(ttl(30), 200, &[("x-custom", "kept")]),
            |t| Box::pin(miss_then_hit(t)),
        ),
        case(
            "entries expire after their TTL",
            || counting_app(Policy::ttl(Duration::from_millis(300)), 200, &[]),
            |t| Box::pin(ttl_expiry(t)),
        ),
        case(
            "Age and ttl are computed by the cache",
            || counting_app(ttl(10), 200, &[("age", "500")]),
            |t| Box::pin(age_and_ttl(t)),
        ),
        case(
            "Authorization bypasses by default",
            || counting_app(ttl(30), 200, &[]),
            |t| Box::pin(authorization_bypasses(t)),
        ),
        case(
            "Authorization opt-out keys per credential",
            || counting_app(ttl(30).authorization(Credentials::PartOfKey), 200, &[]),
            |t| Box::pin(authorization_part_of_key(t)),
        ),
        case(
            "Cookie bypasses by default, can be declared irrelevant",
            || {
                let app = AppSpec::new(Cache::new());
                let (default, ignore) = (counting(&app, 200, &[]), counting(&app, 200, &[]));
                app.cached("/r", GET, ttl(30), default).cached(
                    "/ignore",
                    GET,
                    ttl(30).cookies(Credentials::Ignore),
                    ignore,
                )
            },
            |t| Box::pin(cookies(t)),
        ),
        case(
            "Set-Cookie responses are not stored unless allowed",
            || {
                let app = AppSpec::new(Cache::new());
                let headers = &[("set-cookie", "sid=alice")];
                let (default, allowed) = (counting(&app, 200, headers), counting(&app, 200, headers));
                app.cached("/r", GET, ttl(30), default).cached(
                    "/allowed",
                    GET,
                    ttl(30).set_cookie(SetCookie::StoreWithout),
                    allowed,
                )
            },
            |t| Box::pin(set_cookie(t)),
        ),
        case(
            "private, no-store and no-cache are not stored unless allowed",
            || {
                let mut app = AppSpec::new(Cache::new());
                for directive in PRIVACY_DIRECTIVES {
                    let headers = directive_headers(directive);
                    let (default, allowed) = (counting(&app, 200, headers), counting(&app, 200, headers));
                    app = app
                        .cached(directive_path(directive, false), GET, ttl(30), default)
                        .cached(
                            directive_path(directive, true),
                            GET,
                            relaxed_policy(directive),
                            allowed,
                        );
                }
                app
            },
            |t| Box::pin(privacy_directives(t)),
        ),
        case(
            "Vary: * is never stored",
            || {
                let relaxed = ttl(30)
                    .store_private(true)
                    .store_no_store(true)
                    .set_cookie(SetCookie::Store)
                    .cookies(Credentials::Ignore);
                counting_app(relaxed, 200, &[("vary", "*")])
            },
            |t| Box::pin(vary_star(t)),
        ),
        case(
            "Vary: named headers must match",
            || counting_app(ttl(30), 200, &[("vary", "accept-language")]),
            |t| Box::pin(vary_named(t)),
        ),
        case(
            "HEAD is answered from the stored GET",
            || counting_app(ttl(30), 200, &[]),
            |t| Box::pin(head_from_get(t)),
        ),
        case(
            "unsafe methods are forwarded",
            || counting_app(ttl(30), 200, &[]),
            |t| Box::pin(unsafe_methods(t)),
        ),
        case(
            "uncacheable statuses are forwarded every time",
            || {
                let app = AppSpec::new(Cache::new());
                let (error, not_found) = (counting(&app, 500, &[]), counting(&app, 404, &[]));
                let gone = counting(&app, 410, &[]);
                app.cached("/500", GET, ttl(30), error)
                    .cached("/404", GET, ttl(30), not_found)
                    .cached("/410", GET, ttl(30).negative_ttl(Duration::from_secs(5)), gone)
            },
            |t| Box::pin(uncacheable_statuses(t)),
        ),
        case(
            "existing Cache-Status members come first",
            || counting_app(ttl(30), 200, &[("cache-status", "origin; hit")]),
            |t| Box::pin(existing_cache_status(t)),
        ),
        case(
            "1,000 concurrent cold requests run the handler once",
            || {
                let app = AppSpec::new(Cache::new());
                let (cache, calls) = (app.cache.clone(), Arc::clone(&app.calls));
                // The handler answers once every other request waits on its flight: a
                // counter, not a sleep, so that however slowly the clients connect (a loaded
                // machine), none arrives after the flight and finds a plain hit.
                let leader = handler(move |_| {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    let cache = cache.clone();
                    async move {
                        while cache.stats().total.coalesced_waits < THOUSAND as u64 - 1 {
                            tokio::task::yield_now().await;
                        }
                        Reply::text(200, format!("computed-{n}"))
                    }
                });
                app.cached("/slow/{id}", GET, ttl(30), leader)
            },
            |t| Box::pin(thousand_concurrent(t)),
        ),
        Case {
            // hyper (under axum) drops a request whose client has closed the connection;
            // actix-web, by default, serves it to its end (see the actix-only test
            // `actix_runs_on_a_leader_whose_client_left_and_stores_its_response`). The case
            // is about the cache's leader being cancelled, so the actix-web server is told to
            // drop such requests too.
            actix: ActixSettings::default().allow_half_closed(false),
            ..case(
                "a cancelled leader does not strand its followers",
                || {
                    let cache = Cache::builder()
                        .coalesce_wait(Duration::from_secs(20))
                        .build()
                        .unwrap();
                    slow_app(cache, Duration::from_millis(600))
                },
                |t| Box::pin(cancelled_leader(t)),
            )
        },
        case(
            "an uncacheable leader releases its followers at once",
            || {
                let app = AppSpec::new(Cache::new());
                let calls = Arc::clone(&app.calls);
                let busy = handler(move |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Reply::text(503, "busy")
                    }
                });
                app.cached("/r", GET, ttl(30), busy)
            },
            |t| Box::pin(uncacheable_leader(t)),
        ),
        case(
            "a 20 MiB stream passes through uncached in bounded memory",
            || streaming_app(20 * 1024 * 1024),
            |t| Box::pin(big_stream(t)),
        ),
        case(
            "a streamed body within the limit is stored",
            || streaming_app(300 * 1024),
            |t| Box::pin(small_stream(t)),
        ),
        case(
            "a declared length over the limit is not collected",
            || {
                let app = AppSpec::new(Cache::new());
                let big = handler(|_| async {
                    Reply {
                        status: 200,
                        headers: Vec::new(),
                        body: ReplyBody::Full(Bytes::from(vec![b'x'; 4096])),
                    }
                });
                app.cached("/r", GET, ttl(30).max_body_bytes(1024), big)
            },
            |t| Box::pin(declared_length_over_limit(t)),
        ),
        case(
            "the store stays within its byte capacity",
            || {
                let store = MemoryStore::with_max_bytes(STORE_CAPACITY);
                let app = AppSpec::new(Cache::builder().store(store).build().unwrap());
                let item = handler(|_| async {
                    Reply {
                        status: 200,
                        headers: Vec::new(),
                        body: ReplyBody::Full(Bytes::from(vec![b'x'; 10 * 1024])),
                    }
                });
                app.cached("/item/{id}", GET, ttl(60), item)
            },
            |t| Box::pin(store_capacity(t)),
        ),
        case(
            "one cache, a shared layer and a route's own, with their policies",
            || {
                let mut app = AppSpec::new(Cache::new());
                let shared = app.layer(ttl(30).name("router"));
                let own = app.layer(ttl(30).name("/b"));
                let named = |prefix: &'static str| {
                    let calls = Arc::clone(&app.calls);
                    handler(move |_| {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        async move { Reply::text(200, format!("{prefix}{n}")) }
                    })
                };
                let (a, b) = (named("a"), named("b"));
                app.route("/a", GET, Some(shared), a)
                    .route("/b", GET, Some(own), b)
            },
            |t| Box::pin(shared_cache_per_route_policies(t)),
        ),
        case(
            "query order shares an entry; tags invalidate",
            || counting_app(ttl(30).tag("catalog"), 200, &[]),
            |t| Box::pin(query_order_and_tags(t)),
        ),
        case(
            "stale-while-revalidate serves stale and refreshes once in the background",
            || {
                let app = AppSpec::new(Cache::new());
                let calls = Arc::clone(&app.calls);
                // Every call after the first takes 400 ms: stale answers must not wait for it.
                let refreshing = handler(move |_| {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n > 1 {
                            tokio::time::sleep(Duration::from_millis(400)).await;
                        }
                        Reply::text(200, format!("computed-{n}"))
                    }
                });
                app.cached(
                    "/r",
                    GET,
                    ttl(1).stale_while_revalidate(Duration::from_secs(30)),
                    refreshing,
                )
            },
            |t| Box::pin(stale_while_revalidate(t)),
        ),
        case(
            "stale-if-error serves the stale response when the handler fails",
            || scripted_app(ttl(1).stale_if_error(Duration::from_secs(30)), &[200, 503]),
            |t| Box::pin(stale_if_error(t)),
        ),
        case(
            "stale-if-error serves the stale response when the service fails with an error",
            || scripted_app(ttl(1).stale_if_error(Duration::from_secs(30)), &[200, 599]),
            |t| Box::pin(stale_if_service_error(t)),
        ),
        case(
            "without stale-if-error a service error reaches the client",
            || scripted_app(ttl(1), &[200, 599]),
            |t| Box::pin(service_error_reaches_client(t)),
        ),
        case(
            "without stale-if-error a failure reaches the client",
            || scripted_app(ttl(1), &[200, 503]),
            |t| Box::pin(failure_reaches_client(t)),
        ),
        case(
            "a stale response is revalidated with the handler",
            || {
                let app = AppSpec::new(Cache::new());
                let handler = validating(&app);
                app.cached("/r", GET, ttl(1).stale_if_error(Duration::from_secs(30)), handler)
            },
            |t| Box::pin(revalidation(t)),
        ),
        case(
            "a successful unsafe request invalidates the stored response",
            || scripted_app(ttl(30), &[200]),
            |t| Box::pin(unsafe_request_invalidates(t)),
        ),
        case(
            "a failed unsafe request invalidates nothing",
            || scripted_app(ttl(30), &[200, 500, 200]),
            |t| Box::pin(failed_unsafe_request(t)),
        ),
        case(
            "time to idle expires entries nobody reads",
            || counting_app(ttl(60).time_to_idle(Duration::from_millis(400)), 200, &[]),
            |t| Box::pin(time_to_idle(t)),
        ),
        case(
            "client conditionals are answered from a fresh hit",
            || counting_app(ttl(30), 200, &[("etag", "\"v1\"")]),
            |t| Box::pin(client_conditionals(t)),
        ),
        case(
            "client directives are ignored in application mode unless allowed",
            || {
                let app = AppSpec::new(Cache::new());
                let (ignoring, obeying) = (counting(&app, 200, &[]), counting(&app, 200, &[]));
                app.cached("/r", GET, ttl(30), ignoring).cached(
                    "/obey",
                    GET,
                    ttl(30).client_directives(true),
                    obeying,
                )
            },
            |t| Box::pin(client_directives(t)),
        ),
        case(
            "write routes invalidate tags filled from path parameters",
            || {
                let app = AppSpec::new(Cache::new());
                let calls = Arc::clone(&app.calls);
                let show = handler(move |req: Req| {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    let id = req.id.unwrap_or_default();
                    async move { Reply::text(200, format!("product-{id}-v{n}")) }
                });
                let update = handler(|req: Req| async move {
                    assert_eq!(req.method, "PUT");
                    Reply::text(200, "updated")
                });
                app.cached(
                    "/products/{id}",
                    GET,
                    ttl(60).name("/products/{id}").tag("product:{id}"),
                    show,
                )
                .cached(
                    "/admin/products/{id}",
                    &[Method::Put],
                    Policy::invalidates(["product:{id}"]).name("/admin/products/{id}"),
                    update,
                )
            },
            |t| Box::pin(write_routes(t)),
        ),
        case(
            "handlers tag responses with a header the client never sees",
            || {
                let app = AppSpec::new(Cache::new());
                let (hidden, exposed) = (
                    counting(&app, 200, &[("cache-tag", "news, front-page")]),
                    counting(&app, 200, &[("cache-tag", "news")]),
                );
                app.cached("/r", GET, ttl(60), hidden).cached(
                    "/exposed",
                    GET,
                    ttl(60).expose_tag_headers(true),
                    exposed,
                )
            },
            |t| Box::pin(tag_headers(t)),
        ),
        case(
            "a range request is answered from the stored response",
            || counting_app(ttl(30), 200, &[]),
            |t| Box::pin(ranges_from_the_cache(t)),
        ),
        case(
            "If-Range decides between the range and the whole response",
            || counting_app(ttl(30), 200, &[("etag", "\"v1\"")]),
            |t| Box::pin(if_range(t)),
        ),
        case(
            "a range request that misses fetches and stores the whole response",
            || counting_app(ttl(30), 200, &[]),
            |t| Box::pin(range_miss(t)),
        ),
    ]
}

const PRIVACY_DIRECTIVES: &[&str] = &["private", "no-store", "no-cache"];

fn directive_path(directive: &str, relaxed: bool) -> &'static str {
    match (directive, relaxed) {
        ("private", false) => "/private",
        ("private", true) => "/private-allowed",
        ("no-store", false) => "/no-store",
        ("no-store", true) => "/no-store-allowed",
        (_, false) => "/no-cache",
        (_, true) => "/no-cache-allowed",
    }
}

fn directive_headers(directive: &str) -> &'static [(&'static str, &'static str)] {
    match directive {
        "private" => &[("cache-control", "private")],
        "no-store" => &[("cache-control", "no-store")],
        _ => &[("cache-control", "no-cache")],
    }
}

fn relaxed_policy(directive: &str) -> Policy {
    match directive {
        "private" => ttl(30).store_private(true),
        _ => ttl(30).store_no_store(true),
    }
}

const STORE_CAPACITY: u64 = 1024 * 1024;

// ------------------------------------------------------------------------------------------
// The scenarios, written once for both adapters
// ------------------------------------------------------------------------------------------

async fn miss_then_hit(t: Target) {
    let first = t.get("/r").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.cache_status(),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert!(first.headers.get("age").is_none(), "a miss carries no Age");
    assert_eq!(first.header("content-type"), "text/plain");

    let second = t.get("/r").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.cache_status(), "cachefront; hit; ttl=30");
    assert_eq!(second.header("age"), "0");
    for name in ["content-type", "x-custom", "content-length"] {
        assert_eq!(second.headers.get(name), first.headers.get(name), "{name}");
    }
    assert_eq!(second.header("content-type"), "text/plain");
    assert_eq!(second.header("x-custom"), "kept");
    assert_eq!(second.header("content-length"), "6");
    assert_eq!(second.body, first.body);
    assert_eq!(first.text(), "body-1");
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());

    let stats = t.cache.stats();
    let counts = (stats.total.hits, stats.total.misses, stats.total.stores);
    assert_eq!(counts, (1, 1, 1));
    // An unnamed policy's route is named after the router's pattern, on both adapters.
    assert_eq!(stats.routes["/r"].hits, 1);
    assert!(!stats.routes.contains_key("default"));
    t.note("hits, misses, stores", counts);
}

async fn ttl_expiry(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    assert_eq!(t.get("/r").await.text(), "body-1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = t.get("/r").await;
    assert!(third.cache_status().contains("fwd=uri-miss"));
    assert_eq!(third.text(), "body-2");
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

async fn age_and_ttl(t: Target) {
    t.get("/r").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hit = t.get("/r").await;
    // The handler's own Age is not replayed; ours is whole seconds since storing.
    assert_eq!(hit.header("age"), "1");
    assert_eq!(hit.cache_status(), "cachefront; hit; ttl=9");
    t.note("age", hit.header("age"));
}

async fn authorization_bypasses(t: Target) {
    let response = t.get_with("/r", "authorization", "Bearer alice").await;
    assert_eq!(
        response.cache_status(),
        "cachefront; fwd=bypass; fwd-status=200; detail=authorization"
    );
    assert_eq!(
        t.bodies("/r", 1, Some(("authorization", "Bearer alice"))).await,
        ["body-2"]
    );
    // Nothing was stored: an anonymous request misses too.
    assert_eq!(t.bodies("/r", 1, None).await, ["body-3"]);
    assert_eq!(t.calls(), 3);
    let bypasses = t.cache.stats().total.bypasses["authorization"];
    assert_eq!(bypasses, 2);
    t.note("calls, authorization bypasses", (t.calls(), bypasses));

    // body-3 is stored now: a bypass skips a stored response, and does not replace it.
    t.cache.run_pending_tasks().await;
    for body in ["body-4", "body-5"] {
        let response = t.get_with("/r", "authorization", "Bearer alice").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=bypass; fwd-status=200; detail=authorization"
        );
        assert_eq!(response.text(), body);
    }
    assert_eq!(t.bodies("/r", 1, None).await, ["body-3"]);
    assert_eq!(t.calls(), 5);
}

async fn authorization_part_of_key(t: Target) {
    let alice = t.bodies("/r", 2, Some(("authorization", "Bearer alice"))).await;
    let bob = t.bodies("/r", 2, Some(("authorization", "Bearer bob"))).await;
    assert_eq!(alice, ["body-1", "body-1"]);
    assert_eq!(bob, ["body-2", "body-2"], "bob never sees alice's response");
}

async fn cookies(t: Target) {
    for body in ["body-1", "body-2"] {
        let response = t.get_with("/r", "cookie", "sid=1").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=bypass; fwd-status=200; detail=cookie"
        );
        assert_eq!(response.text(), body);
    }
    // A bypass skips a stored response too, and does not replace it.
    assert_eq!(t.bodies("/r", 1, None).await, ["body-3"]);
    t.cache.run_pending_tasks().await;
    for body in ["body-4", "body-5"] {
        let response = t.get_with("/r", "cookie", "sid=1").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=bypass; fwd-status=200; detail=cookie"
        );
        assert_eq!(response.text(), body);
    }
    assert_eq!(t.bodies("/r", 1, None).await, ["body-3"]);
    assert_eq!(
        t.bodies("/ignore", 1, Some(("cookie", "sid=1"))).await,
        ["body-1"]
    );
    assert_eq!(
        t.bodies("/ignore", 1, Some(("cookie", "sid=2"))).await,
        ["body-1"]
    );
}

async fn set_cookie(t: Target) {
    for body in ["body-1", "body-2"] {
        let response = t.get("/r").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=uri-miss; fwd-status=200; detail=set-cookie"
        );
        assert_eq!(response.text(), body);
    }

    let miss = t.get("/allowed").await;
    assert_eq!(
        miss.header("set-cookie"),
        "sid=alice",
        "the client that missed gets its cookie"
    );
    let hit = t.get("/allowed").await;
    assert!(hit.cache_status().contains("hit"));
    assert!(
        hit.headers.get("set-cookie").is_none(),
        "a hit never replays a cookie"
    );
    assert_eq!(hit.text(), "body-1");
    t.note(
        "set-cookie on the miss, on the hit",
        (miss.header("set-cookie"), hit.header("set-cookie")),
    );
}

async fn privacy_directives(t: Target) {
    for directive in PRIVACY_DIRECTIVES {
        assert_eq!(
            t.bodies(directive_path(directive, false), 2, None).await,
            ["body-1", "body-2"],
            "{directive}"
        );
        assert_eq!(
            t.bodies(directive_path(directive, true), 2, None).await,
            ["body-1", "body-1"],
            "{directive} allowed"
        );
    }
    let private = t.get("/private").await;
    assert_eq!(
        private.cache_status(),
        "cachefront; fwd=uri-miss; fwd-status=200; detail=private"
    );
    assert_eq!(private.text(), "body-3");
}

async fn vary_star(t: Target) {
    for body in ["body-1", "body-2"] {
        let response = t.get("/r").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=uri-miss; fwd-status=200; detail=vary-star"
        );
        assert_eq!(response.text(), body);
    }
}

async fn vary_named(t: Target) {
    assert_eq!(t.get_with("/r", "accept-language", "en").await.text(), "body-1");
    let again = t.get_with("/r", "accept-language", "en").await;
    assert!(again.cache_status().contains("hit"), "{}", again.cache_status());
    assert_eq!(again.text(), "body-1");
    let other = t.get_with("/r", "accept-language", "de").await;
    assert!(
        other.cache_status().contains("fwd=vary-miss"),
        "{}",
        other.cache_status()
    );
    assert_eq!(other.text(), "body-2");
    // An absent header matches only an absent header.
    assert_eq!(t.get("/r").await.text(), "body-3");
}

async fn head_from_get(t: Target) {
    // A HEAD miss is forwarded and not stored.
    let head = t.send("HEAD /r", t.client.head(t.url("/r"))).await;
    assert!(head.cache_status().contains("detail=head"));
    let get = t.get("/r").await;
    assert!(get.cache_status().contains("stored"));
    assert_eq!(get.text(), "body-2");

    let head = t.send("HEAD /r", t.client.head(t.url("/r"))).await;
    assert!(head.cache_status().starts_with("cachefront; hit"));
    assert_eq!(head.header("content-length"), "6");
    assert!(head.body.is_empty());
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

async fn unsafe_methods(t: Target) {
    for body in ["body-1", "body-2"] {
        let response = t.send("POST /r", t.client.post(t.url("/r"))).await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=method; fwd-status=200; detail=method"
        );
        assert_eq!(response.text(), body);
    }
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

async fn uncacheable_statuses(t: Target) {
    for body in ["body-1", "body-2"] {
        let response = t.get("/500").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=uri-miss; fwd-status=500; detail=status"
        );
        assert_eq!(response.text(), body);
    }
    // 404 is not stored by default (`Policy::DEFAULT_STATUSES`)...
    for body in ["body-1", "body-2"] {
        let response = t.get("/404").await;
        assert_eq!(
            response.cache_status(),
            "cachefront; fwd=uri-miss; fwd-status=404; detail=status"
        );
        assert_eq!(response.text(), body);
    }
    // ...and negative caching stores 404 and 410 for their own, shorter time.
    assert_eq!(
        t.get("/410").await.cache_status(),
        "cachefront; fwd=uri-miss; fwd-status=410; stored"
    );
    let hit = t.get("/410").await;
    assert_eq!(hit.cache_status(), "cachefront; hit; ttl=5");
    assert_eq!(hit.text(), "body-1");
}

async fn existing_cache_status(t: Target) {
    let miss = t.get("/r").await;
    let members: Vec<_> = miss.headers.get_all("cache-status").iter().collect();
    assert_eq!(
        members,
        ["origin; hit", "cachefront; fwd=uri-miss; fwd-status=200; stored"]
    );
    let hit = t.get("/r").await;
    let members: Vec<_> = hit.headers.get_all("cache-status").iter().collect();
    assert_eq!(members, ["origin; hit", "cachefront; hit; ttl=30"]);
}

const THOUSAND: usize = 1000;

async fn thousand_concurrent(t: Target) {
    const N: usize = THOUSAND;
    let barrier = Arc::new(Barrier::new(N));
    let url = t.url("/slow/1");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (client, barrier, url) = (t.client.clone(), Arc::clone(&barrier), url.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let status = response
                    .headers()
                    .get("cache-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                (status, response.text().await.unwrap())
            })
        })
        .collect();
    let mut collapsed = 0;
    let mut bodies = BTreeMap::<String, usize>::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == "cachefront; fwd=uri-miss; fwd-status=200; collapsed" {
            collapsed += 1;
        }
        *bodies.entry(body).or_default() += 1;
    }
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies.get("computed-1"), Some(&N), "{bodies:?}");
    assert_eq!(t.calls(), 1, "one handler call for {N} concurrent misses");
    // Every request but the leader's waited on its flight (the handler saw to it).
    assert_eq!(collapsed, N - 1, "followers are marked collapsed");
    let stats = t.cache.stats();
    assert_eq!(stats.total.coalesced_waits, N as u64 - 1);
    assert_eq!(stats.total.stores, 1);
    t.note("bodies", &bodies);
    t.note("calls, collapsed", (t.calls(), collapsed));
}

async fn cancelled_leader(t: Target) {
    let url = t.url("/slow/1");
    // The leader's client gives up after 150 ms: its connection closes, the server drops the
    // request's future, and with it the leader's claim on the key.
    let leader = {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        let url = url.clone();
        tokio::spawn(async move { client.get(&url).send().await })
    };
    until("the leader's call", || t.calls() == 1).await;
    let started = Instant::now();
    let followers: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (t.client.clone(), url.clone());
            tokio::spawn(async move { client.get(&url).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    assert!(leader.await.unwrap().is_err(), "the leader's client timed out");
    let mut bodies = Vec::new();
    for follower in followers {
        bodies.push(follower.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "followers were answered in {elapsed:?}, not after the 20 s wait bound"
    );
    // One of the followers led the second computation; the rest shared it.
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(t.calls(), 2);
    t.note("follower bodies", &bodies);
    t.note("calls", t.calls());
}

async fn uncacheable_leader(t: Target) {
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, url, barrier) = (t.client.clone(), t.url("/r"), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                client.get(&url).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert_eq!(t.calls(), 10, "each request reached the handler");
    // Leader (300 ms) then every follower in parallel (300 ms), not one after another.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2000), "{elapsed:?}");
    t.note("statuses", &statuses);
    t.note("calls", t.calls());
}

async fn big_stream(t: Target) {
    const TOTAL: usize = 20 * 1024 * 1024;
    let before = rss_bytes();
    let mut peak_growth = 0u64;
    for _ in 0..2 {
        let response = t.client.get(t.url("/big")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        // `stored` is said with the head, before the body's size is known.
        assert_eq!(
            headers.get("cache-status").and_then(|v| v.to_str().ok()),
            Some("cachefront; fwd=uri-miss; fwd-status=200; stored")
        );
        let mut stream = response.bytes_stream();
        let mut received = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            // Content is intact and in order: the handler's n-th 64 KiB chunk is all of
            // `b'a' + n % 26`.
            for (i, byte) in chunk.iter().enumerate() {
                let expected = b'a' + ((received + i) / CHUNK % 26) as u8;
                assert_eq!(*byte, expected, "byte {}", received + i);
            }
            received += chunk.len();
            if let (Some(before), Some(now)) = (before, rss_bytes()) {
                peak_growth = peak_growth.max(now.saturating_sub(before));
            }
        }
        assert_eq!(received, TOTAL);
        t.record(
            "GET /big (streamed)",
            &Seen {
                status: 200,
                headers,
                body: Bytes::new(),
            },
        );
        t.note("received", received);
    }
    assert_eq!(t.calls(), 2, "a body over the limit is never stored");
    let stats = t.cache.stats();
    assert_eq!(stats.total.stores, 0);
    assert_eq!(stats.total.not_stored, 2);
    assert_eq!(stats.entries, 0);
    // The collector gives up at the 8 MiB limit; the whole 20 MiB is never held.
    assert!(peak_growth < 16 * 1024 * 1024, "RSS grew by {peak_growth} bytes");
    t.note(
        "calls, stores, not stored",
        (t.calls(), stats.total.stores, stats.total.not_stored),
    );
}

async fn small_stream(t: Target) {
    let first = t.get("/big").await;
    let hit = t.get("/big").await;
    assert_eq!(hit.header("content-length"), "307200");
    assert_eq!(hit.body, first.body);
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());
}

async fn declared_length_over_limit(t: Target) {
    let response = t.get("/r").await;
    assert_eq!(
        response.cache_status(),
        "cachefront; fwd=uri-miss; fwd-status=200; detail=too-large"
    );
    assert_eq!(response.body.len(), 4096);
}

async fn store_capacity(t: Target) {
    // Twice the capacity: 205 bodies of 10 KiB.
    for id in 0..205 {
        let response = t.client.get(t.url(&format!("/item/{id}"))).send().await.unwrap();
        assert_eq!(response.bytes().await.unwrap().len(), 10 * 1024);
    }
    // Stores run behind the responses: the sync point waits for them.
    t.cache.run_pending_tasks().await;
    assert_eq!(t.cache.stats().total.stores, 205);
    let stats = t.cache.stats();
    assert!(
        stats.bytes <= STORE_CAPACITY,
        "{} bytes held, capacity {STORE_CAPACITY}",
        stats.bytes
    );
    assert!(stats.evictions > 0);
    assert!(stats.entries > 0 && stats.entries < 205);
    t.note("stores", stats.total.stores);
    t.note(
        "within capacity, some evicted",
        (stats.bytes <= STORE_CAPACITY, stats.evictions > 0),
    );
}

async fn shared_cache_per_route_policies(t: Target) {
    for _ in 0..3 {
        assert_eq!(t.get("/a").await.text(), "a0");
        assert_eq!(t.get("/b").await.text(), "b1");
    }
    let stats = t.cache.stats();
    assert_eq!(stats.routes["router"].hits, 2);
    assert_eq!(stats.routes["/b"].hits, 2);
    assert_eq!(stats.total.hits, 4);
}

async fn query_order_and_tags(t: Target) {
    assert_eq!(t.get("/r?a=1&b=2").await.text(), "body-1");
    assert_eq!(t.get("/r?b=2&a=1").await.text(), "body-1");
    let removed = t.cache.invalidate_tag("catalog").await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(t.get("/r?a=1&b=2").await.text(), "body-2");
    assert_eq!(t.calls(), 2);
    t.note("removed", removed);
}

async fn stale_while_revalidate(t: Target) {
    assert_eq!(t.get("/r").await.text(), "computed-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let stale = t.get("/r").await;
        let status = stale.cache_status();
        assert!(status.starts_with("cachefront; hit; ttl=-"), "{status}");
        assert!(status.ends_with("detail=stale-while-revalidate"), "{status}");
        assert_eq!(stale.text(), "computed-1");
        assert!(started.elapsed() < Duration::from_millis(300), "served at once");
    }
    // One background refresh ran; its response is served once it is stored.
    t.cache.run_pending_tasks().await;
    let fresh = t.get("/r").await;
    assert_eq!(fresh.cache_status(), "cachefront; hit; ttl=1");
    assert_eq!(fresh.text(), "computed-2");
    assert_eq!(t.calls(), 2, "one refresh for three stale hits");
    t.note("calls", t.calls());
}

async fn stale_if_error(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = t.get("/r").await;
    assert_eq!(stale.status, 200);
    let status = stale.cache_status();
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=503; ttl=-"),
        "{status}"
    );
    assert!(status.ends_with("detail=stale-if-error"), "{status}");
    assert_eq!(stale.text(), "body-1");
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

/// Drift fixed in #18: actix-web passed the service's error on instead of serving stale.
async fn stale_if_service_error(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = t.get("/r").await;
    assert_eq!(stale.status, 200);
    let status = stale.cache_status();
    assert!(status.starts_with("cachefront; fwd=stale; ttl=-"), "{status}");
    assert!(status.ends_with("detail=stale-if-error"), "{status}");
    assert!(!status.contains("fwd-status"), "no response came: {status}");
    assert_eq!(stale.text(), "body-1");
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

async fn service_error_reaches_client(t: Target) {
    t.get("/r").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let failed = t.get("/r").await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.text(), "failed");
    assert_eq!(failed.cache_status(), "");
}

async fn failure_reaches_client(t: Target) {
    t.get("/r").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let failed = t.get("/r").await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.text(), "body-2");
}

async fn revalidation(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The cache asks with the stored ETag; the handler's 304 refreshes the stored response.
    let revalidated = t.get("/r").await;
    assert_eq!(revalidated.status, 200);
    let status = revalidated.cache_status();
    assert!(
        status.starts_with("cachefront; fwd=stale; fwd-status=304"),
        "{status}"
    );
    assert_eq!(revalidated.text(), "body-1");
    let hit = t.get("/r").await;
    assert_eq!(hit.cache_status(), "cachefront; hit; ttl=1");
    assert_eq!(hit.text(), "body-1");
    assert_eq!(t.calls(), 2);
    let revalidations = t.cache.stats().total.revalidations;
    assert_eq!(revalidations, 1);
    t.note("calls, revalidations", (t.calls(), revalidations));
}

async fn unsafe_request_invalidates(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    assert_eq!(t.get("/r").await.text(), "body-1");
    let post = t.send("POST /r", t.client.post(t.url("/r"))).await;
    assert_eq!(post.text(), "body-2");
    // The invalidation is done before the unsafe request's response is sent: no wait.
    assert_eq!(t.get("/r").await.text(), "body-3");
    assert_eq!(t.calls(), 3);
    let invalidations = t.cache.stats().total.invalidations;
    assert_eq!(invalidations, 1);
    t.note("calls, invalidations", (t.calls(), invalidations));
}

async fn failed_unsafe_request(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    assert_eq!(t.send("POST /r", t.client.post(t.url("/r"))).await.status, 500);
    // Whatever the failed request started is over: nothing was invalidated.
    t.cache.run_pending_tasks().await;
    assert_eq!(t.get("/r").await.text(), "body-1");
}

async fn time_to_idle(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    // Each read within 400 ms slides the expiry.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(t.get("/r").await.text(), "body-1");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(t.get("/r").await.text(), "body-2");
    assert_eq!(t.calls(), 2);
    t.note("calls", t.calls());
}

async fn client_conditionals(t: Target) {
    t.get("/r").await;
    let not_modified = t.get_with("/r", "if-none-match", "W/\"v1\"").await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), "\"v1\"");
    assert!(not_modified.cache_status().starts_with("cachefront; hit"));
    assert!(not_modified.body.is_empty());
    let changed = t.get_with("/r", "if-none-match", "\"v0\"").await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.text(), "body-1");
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());
}

async fn ranges_from_the_cache(t: Target) {
    assert_eq!(t.get("/r").await.text(), "body-1");
    let partial = t.get_with("/r", "range", "bytes=0-3").await;
    assert_eq!(partial.status, 206);
    assert_eq!(partial.header("content-range"), "bytes 0-3/6");
    assert_eq!(partial.header("content-length"), "4");
    assert!(partial.cache_status().starts_with("cachefront; hit"));
    assert_eq!(partial.text(), "body");
    let suffix = t.get_with("/r", "range", "bytes=-1").await;
    assert_eq!(suffix.header("content-range"), "bytes 5-5/6");
    assert_eq!(suffix.text(), "1");
    let refused = t.get_with("/r", "range", "bytes=6-").await;
    assert_eq!(refused.status, 416);
    assert_eq!(refused.header("content-range"), "bytes */6");
    assert_eq!(refused.text(), "");
    let head = t
        .send(
            "HEAD /r [range: bytes=0-3]",
            t.client.head(t.url("/r")).header("range", "bytes=0-3"),
        )
        .await;
    assert_eq!(head.status, 200, "HEAD ignores Range");
    assert_eq!(head.header("content-range"), "");
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());
}

async fn if_range(t: Target) {
    t.get("/r").await;
    let ranged = |if_range: &'static str| {
        t.client
            .get(t.url("/r"))
            .header("range", "bytes=0-3")
            .header("if-range", if_range)
    };
    let matching = t.send("GET /r [if-range: \"v1\"]", ranged("\"v1\"")).await;
    assert_eq!(matching.status, 206);
    assert_eq!(matching.text(), "body");
    let changed = t.send("GET /r [if-range: \"v0\"]", ranged("\"v0\"")).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("content-range"), "");
    assert_eq!(changed.text(), "body-1");
    let weak = t.send("GET /r [if-range: W/\"v1\"]", ranged("W/\"v1\"")).await;
    assert_eq!(weak.status, 200, "If-Range compares entity-tags strongly");
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());
}

async fn range_miss(t: Target) {
    // The handler is asked for the whole representation, which this client gets whole and
    // the next range request is cut from.
    let cold = t.get_with("/r", "range", "bytes=0-3").await;
    assert_eq!(cold.status, 200);
    assert_eq!(
        cold.cache_status(),
        "cachefront; fwd=uri-miss; fwd-status=200; stored"
    );
    assert_eq!(cold.text(), "body-1");
    t.cache.run_pending_tasks().await;
    let warm = t.get_with("/r", "range", "bytes=0-3").await;
    assert_eq!(warm.status, 206);
    assert!(warm.cache_status().starts_with("cachefront; hit"));
    assert_eq!(warm.text(), "body");
    assert_eq!(t.calls(), 1);
    t.note("calls", t.calls());
}

async fn client_directives(t: Target) {
    assert_eq!(t.bodies("/r", 1, None).await, ["body-1"]);
    assert_eq!(
        t.bodies("/r", 1, Some(("cache-control", "no-cache"))).await,
        ["body-1"]
    );
    assert_eq!(t.bodies("/obey", 1, None).await, ["body-1"]);
    assert_eq!(
        t.bodies("/obey", 1, Some(("cache-control", "no-cache"))).await,
        ["body-2"]
    );
    // only-if-cached is always obeyed: a cold key answers 504 without calling the handler.
    let cold = t.get_with("/obey?cold", "cache-control", "only-if-cached").await;
    assert_eq!(cold.status, 504);
}

async fn write_routes(t: Target) {
    assert_eq!(t.get("/products/1").await.text(), "product-1-v1");
    assert_eq!(t.get("/products/2").await.text(), "product-2-v2");
    assert_eq!(t.get("/products/1").await.text(), "product-1-v1");
    let put = t
        .send("PUT /admin/products/1", t.client.put(t.url("/admin/products/1")))
        .await;
    assert_eq!(put.status, 200);
    t.cache.run_pending_tasks().await;
    // Only product 1 went.
    assert_eq!(t.get("/products/1").await.text(), "product-1-v3");
    assert_eq!(t.get("/products/2").await.text(), "product-2-v2");
}

async fn tag_headers(t: Target) {
    let miss = t.get("/r").await;
    assert!(miss.headers.get("cache-tag").is_none(), "stripped on a miss");
    let hit = t.get("/r").await;
    assert!(hit.headers.get("cache-tag").is_none(), "not stored either");
    assert_eq!(hit.text(), "body-1");
    let removed = t.cache.invalidate_tag("front-page").await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(t.get("/r").await.text(), "body-2");
    assert_eq!(t.calls(), 2);

    let miss = t.get("/exposed").await;
    assert_eq!(miss.header("cache-tag"), "news");
    t.note("removed, exposed tag", (removed, miss.header("cache-tag")));
}

// ------------------------------------------------------------------------------------------
// The runner
// ------------------------------------------------------------------------------------------

/// Runs `case` against one adapter: its transcript, or why it failed (with the transcript so
/// far).
async fn run(case: &Case, adapter: Adapter) -> Result<Vec<String>, String> {
    let app = (case.app)();
    let server = Server::start(adapter, &app, case.actix).await;
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let target = Target {
        base: server.url(""),
        cache: app.cache.clone(),
        calls: Arc::clone(&app.calls),
        client: client(),
        transcript: Arc::clone(&transcript),
    };
    // A panic is this adapter failing the case, not the runner failing.
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        AssertUnwindSafe(tokio::spawn((case.scenario)(target))).catch_unwind(),
    )
    .await;
    server.stop().await;
    let lines = std::mem::take(&mut *transcript.lock().unwrap_or_else(PoisonError::into_inner));
    let failure = match outcome {
        Ok(Ok(Ok(()))) => return Ok(lines),
        Ok(Ok(Err(error))) => match error.try_into_panic() {
            Ok(panic) => panic_message(&*panic),
            Err(error) => error.to_string(),
        },
        Ok(Err(panic)) => panic_message(&*panic),
        Err(_) => "did not finish within 60 s".to_owned(),
    };
    Err(format!("{failure}\n      after:\n{}", indent(&lines)))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("        {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where two transcripts part.
fn first_difference(axum: &[String], actix: &[String]) -> String {
    let at = axum.iter().zip(actix).take_while(|(a, b)| a == b).count();
    let line = |lines: &[String]| lines.get(at).cloned().unwrap_or_else(|| "<end>".to_owned());
    format!(
        "line {}:\n        axum:  {}\n        actix: {}",
        at + 1,
        line(axum),
        line(actix)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_adapters_behave_alike() {
    let only = std::env::var("PARITY_CASE").ok();
    let verbose = std::env::var_os("PARITY_VERBOSE").is_some();
    let mut report = Vec::new();
    let mut failures = 0;
    let mut ran = 0;
    for case in cases() {
        if only.as_deref().is_some_and(|only| !case.name.contains(only)) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        let axum = run(&case, Adapter::Axum).await;
        let actix = run(&case, Adapter::Actix).await;
        let elapsed = started.elapsed();
        let alike = matches!((&axum, &actix), (Ok(a), Ok(b)) if a == b);
        failures += usize::from(!alike);
        let mut entry = format!(
            "[{}] {} ({:.1} s)",
            if alike { "ok" } else { "FAIL" },
            case.name,
            elapsed.as_secs_f64(),
        );
        if verbose && let (Ok(lines), _) | (_, Ok(lines)) = (&axum, &actix) {
            entry.push_str(&format!("\n    transcript:\n{}", indent(lines)));
        }
        if !alike {
            entry.push_str("\n    FAILED: the adapters differ");
            match (&axum, &actix) {
                (Ok(a), Ok(b)) => entry.push_str(&format!("\n    {}", first_difference(a, b))),
                _ => {
                    for (adapter, result) in [(Adapter::Axum, &axum), (Adapter::Actix, &actix)] {
                        match result {
                            Ok(lines) => {
                                entry.push_str(&format!("\n    {adapter}: passed\n{}", indent(lines)))
                            }
                            Err(why) => entry.push_str(&format!("\n    {adapter}: {why}")),
                        }
                    }
                }
            }
        }
        eprintln!("{entry}");
        report.push(entry);
    }
    assert!(ran > 0, "no case matches PARITY_CASE={only:?}");
    let summary = format!("{ran} cases, {failures} failed\n\n{}", report.join("\n"));
    eprintln!("\nparity: {summary}");
    assert_eq!(failures, 0, "parity: {summary}");
}

// ------------------------------------------------------------------------------------------
// actix-web only
// ------------------------------------------------------------------------------------------

/// A handler for actix-web that counts its calls and answers `{name}-N`.
fn actix_counting(
    name: &'static str,
    calls: &Arc<AtomicUsize>,
) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone + Send + 'static {
    let calls = Arc::clone(calls);
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(HttpResponse::Ok().body(format!("{name}-{n}")))
    }
}

fn cache_status(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn get_text(client: &reqwest::Client, url: &str) -> (String, String) {
    let response = client.get(url).send().await.unwrap();
    let status = cache_status(&response);
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_middleware_on_a_scope_and_on_a_resource() {
    let cache = Cache::new();
    let (scope_calls, resource_calls, plain_calls) = (Arc::default(), Arc::default(), Arc::default());
    let server = {
        let (cache, scope_calls, resource_calls, plain_calls) = (
            cache.clone(),
            Arc::clone(&scope_calls),
            Arc::clone(&resource_calls),
            Arc::clone(&plain_calls),
        );
        ActixServer::start(move || {
            actix_web::App::new()
                .service(
                    // One middleware for every route of the scope, and for what the scope
                    // answers itself (its 404s).
                    web::scope("/scoped")
                        .wrap(cache.middleware(ttl(60).negative_ttl(Duration::from_secs(10)).name("scope")))
                        .route("/a", web::get().to(actix_counting("a", &scope_calls)))
                        .route("/b", web::get().to(actix_counting("b", &scope_calls))),
                )
                .service(
                    web::resource("/resource")
                        .wrap(cache.middleware(ttl(5).name("resource")))
                        .route(web::get().to(actix_counting("resource", &resource_calls))),
                )
                // Not wrapped: never cached.
                .route("/plain", web::get().to(actix_counting("plain", &plain_calls)))
        })
    };
    let client = client();
    for (path, body) in [
        ("/scoped/a", "a-1"),
        ("/scoped/b", "b-2"),
        ("/resource", "resource-1"),
    ] {
        let (status, text) = get_text(&client, &server.url(path)).await;
        assert_eq!(
            status, "cachefront; fwd=uri-miss; fwd-status=200; stored",
            "{path}"
        );
        assert_eq!(text, body);
    }
    for (path, status, body) in [
        ("/scoped/a", "cachefront; hit; ttl=60", "a-1"),
        ("/scoped/b", "cachefront; hit; ttl=60", "b-2"),
        ("/resource", "cachefront; hit; ttl=5", "resource-1"),
    ] {
        assert_eq!(
            get_text(&client, &server.url(path)).await,
            (status.to_owned(), body.to_owned())
        );
    }
    // One cache: one store holds the three.
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().total.stores, 3);
    for expected in ["plain-1", "plain-2"] {
        assert_eq!(
            get_text(&client, &server.url("/plain")).await,
            (String::new(), expected.to_owned())
        );
    }
    // The scope's own 404 passes through its middleware (stored: the scope caches 404s); the app's
    // 404 for a path outside any wrapped service does not.
    let missing = client.get(server.url("/scoped/missing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        cache_status(&missing),
        "cachefront; fwd=uri-miss; fwd-status=404; stored"
    );
    let outside = client.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(outside.status(), 404);
    assert_eq!(cache_status(&outside), "");

    assert_eq!(scope_calls.load(Ordering::SeqCst), 2);
    assert_eq!(resource_calls.load(Ordering::SeqCst), 1);
    // One cache: one store, stats per policy.
    let stats = cache.stats();
    assert_eq!(stats.routes["scope"].hits, 2);
    assert_eq!(stats.routes["scope"].misses, 3);
    assert_eq!(stats.routes["resource"].hits, 1);
    assert_eq!(stats.total.hits, 3);

    // Dropped, the server stops: nothing listens on its port any more.
    let url = server.url("/plain");
    drop(server);
    let refused = integration_tests::client().get(&url).send().await;
    assert!(refused.is_err(), "{refused:?}");
}

/// A `BodyStream` of `chunks` chunks of `size` bytes (`a`, `b`, ...), failing after
/// `fail_after` chunks if given.
fn body_stream(
    chunks: usize,
    size: usize,
    fail_after: Option<usize>,
) -> actix_web::body::BodyStream<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + use<>> {
    actix_web::body::BodyStream::new(futures_util::stream::iter((0..chunks).map(move |i| {
        if fail_after == Some(i) {
            return Err(std::io::Error::other("the source went away"));
        }
        Ok(Bytes::from(vec![b'a' + (i % 26) as u8; size]))
    })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_streaming_bodies_of_unknown_size() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = {
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        ActixServer::start(move || {
            let calls = Arc::clone(&calls);
            actix_web::App::new()
                .wrap(cache.middleware(ttl(30).max_body_bytes(64 * 1024)))
                .route(
                    "/{what}",
                    web::get().to(move |what: web::Path<String>| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let body = match what.as_str() {
                            // 40 KiB: within the limit.
                            "small" => body_stream(10, 4096, None),
                            // 1 MiB: over it.
                            "large" => body_stream(256, 4096, None),
                            _ => body_stream(10, 4096, Some(5)),
                        };
                        async move { HttpResponse::Ok().body(body) }
                    }),
                )
        })
    };
    let client = client();

    // Within the limit: streamed (no declared length) and stored; the hit declares its length.
    let miss = client.get(server.url("/small")).send().await.unwrap();
    assert!(miss.headers().get("content-length").is_none());
    assert_eq!(miss.headers()["transfer-encoding"], "chunked");
    assert!(cache_status(&miss).ends_with("stored"));
    let first = miss.bytes().await.unwrap();
    assert_eq!(first.len(), 40 * 1024);
    let hit = client.get(server.url("/small")).send().await.unwrap();
    assert_eq!(cache_status(&hit), "cachefront; hit; ttl=30");
    assert_eq!(hit.headers()["content-length"], "40960");
    assert_eq!(hit.bytes().await.unwrap(), first);

    // Over the limit: streams through intact, every time, and is never stored.
    for _ in 0..2 {
        let response = client.get(server.url("/large")).send().await.unwrap();
        assert!(response.headers().get("content-length").is_none());
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), 1024 * 1024);
        assert!(body.starts_with(&[b'a'; 4096]) && body.ends_with(&[b'v'; 4096]));
    }

    // A stream that fails: the client sees a broken response (the connection closes before
    // the body's end, or before the head if nothing was flushed yet); nothing is stored.
    for _ in 0..2 {
        match client.get(server.url("/failing")).send().await {
            Ok(response) => assert!(response.bytes().await.is_err(), "the failure reaches the client"),
            Err(error) => assert!(error.is_request(), "{error}"),
        }
    }

    assert_eq!(calls.load(Ordering::SeqCst), 1 + 2 + 2);
    let stats = cache.stats();
    assert_eq!((stats.total.stores, stats.total.not_stored), (1, 4));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_client_disconnect_during_a_coalesced_miss_releases_the_followers() {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = {
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        // actix-web's defaults: a request whose client left is served until a write fails.
        ActixServer::start(move || {
            let calls = Arc::clone(&calls);
            actix_web::App::new().wrap(cache.middleware(ttl(30))).route(
                "/r",
                web::get().to(move || {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    // The first response trickles for 3 s; the others are at once.
                    let chunks = if n == 1 { 30 } else { 1 };
                    let body = futures_util::stream::iter(0..chunks).then(move |i| async move {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Ok::<_, std::io::Error>(Bytes::from(format!("body-{n}.{i};")))
                    });
                    async move { HttpResponse::Ok().streaming(body) }
                }),
            )
        })
    };
    let client = client();

    // The leader reads its first chunk...
    let leader = client.get(server.url("/r")).send().await.unwrap();
    let mut leader_body = leader.bytes_stream();
    let first = leader_body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"body-1.0;"), "{first:?}");

    // ...while followers wait on its flight...
    let started = Instant::now();
    let followers: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/r"));
            tokio::spawn(async move { get_text(&client, &url).await })
        })
        .collect();
    until("5 followers waiting", || cache.stats().total.coalesced_waits == 5).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the followers wait");

    // ...and goes away: its connection closes, the next write fails, the response's body is
    // dropped, and the followers are released at once, long before the 3 s the leader's
    // response would have taken.
    drop(leader_body);
    let mut bodies = Vec::new();
    for follower in followers {
        bodies.push(follower.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2500),
        "followers answered after {elapsed:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one follower led a new computation"
    );
    assert!(bodies.iter().all(|(_, body)| body == "body-2.0;"), "{bodies:?}");
    let statuses: Vec<_> = bodies.iter().map(|(status, _)| status.as_str()).collect();
    assert!(
        statuses.contains(&"cachefront; fwd=uri-miss; fwd-status=200; stored"),
        "{statuses:?}"
    );
    let stats = cache.stats();
    assert_eq!((stats.total.stores, stats.total.not_stored), (1, 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_runs_on_a_leader_whose_client_left_and_stores_its_response() {
    // actix-web's default (`h1_allow_half_closed`): a request whose client closed the
    // connection before the answer is served to its end. The leader is not cancelled, so its
    // response is stored and its followers are answered from it; nobody is stranded either.
    let cache = Cache::builder()
        .coalesce_wait(Duration::from_secs(20))
        .build()
        .unwrap();
    let app = slow_app(cache.clone(), Duration::from_millis(600));
    let calls = Arc::clone(&app.calls);
    let parts = app.actix_parts();
    let server = ActixServer::start(move || actix_app(parts.clone()));
    let url = server.url("/slow/1");

    let leader = {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        let url = url.clone();
        tokio::spawn(async move { client.get(&url).send().await })
    };
    until("the leader's call", || calls.load(Ordering::SeqCst) == 1).await;
    let started = Instant::now();
    let client = client();
    let followers: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { get_text(&client, &url).await })
        })
        .collect();
    assert!(leader.await.unwrap().is_err(), "the leader's client timed out");
    for follower in followers {
        let (status, body) = follower.await.unwrap();
        assert_eq!(body, "computed-1");
        assert_eq!(status, "cachefront; fwd=uri-miss; fwd-status=200; collapsed");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Both adapters: a leader's client that stops reading
// ------------------------------------------------------------------------------------------

/// A leader whose client reads the response head and then stops reading a body far larger
/// than the socket buffers must not hold its followers: they are answered once the handler's
/// body is complete, long before `coalesce_wait` (30 s here), while the leader's client still
/// reads nothing. Then the leader's client gets its whole body too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_client_that_stops_reading_does_not_hold_its_followers() {
    for adapter in [Adapter::Axum, Adapter::Actix] {
        a_leader_client_that_stops_reading(adapter).await;
    }
}

async fn a_leader_client_that_stops_reading(adapter: Adapter) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const TOTAL: usize = 16 * 1024 * 1024;
    const FOLLOWERS: u64 = 3;
    let cache = Cache::builder()
        .coalesce_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let policy = ttl(30).max_body_bytes(2 * TOTAL);
    let calls = Arc::new(AtomicUsize::new(0));
    // The handler's first chunk goes at once; the rest once the followers wait.
    let (open, gate) = tokio::sync::watch::channel(false);
    let body = {
        let calls = Arc::clone(&calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let gate = gate.clone();
            futures_util::stream::iter(0..TOTAL / CHUNK).then(move |i| {
                let mut gate = gate.clone();
                async move {
                    if i == 1 {
                        let _ = gate.wait_for(|open| *open).await;
                    }
                    Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + (i % 26) as u8; CHUNK]))
                }
            })
        }
    };
    let server = match adapter {
        Adapter::Axum => {
            let route = axum::routing::get(move || {
                let stream = body();
                async move { axum::body::Body::from_stream(stream) }
            })
            .layer(cache.layer(policy));
            Server::Axum(TestServer::axum(axum::Router::new().route("/big", route)).await)
        }
        Adapter::Actix => {
            let cache = cache.clone();
            Server::Actix(ActixServer::start(move || {
                let body = body.clone();
                actix_web::App::new().service(
                    web::resource("/big")
                        .wrap(cache.middleware(policy.clone()))
                        .route(web::get().to(move || {
                            let stream = body();
                            async move { HttpResponse::Ok().streaming(stream) }
                        })),
                )
            }))
        }
    };

    // The leader: a small receive buffer, the head read, then nothing.
    let host = server.url("").trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut leader = socket.connect(host.parse().unwrap()).await.unwrap();
    // The followers' host: one key for all.
    let request = format!("GET /big HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    leader.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0; 1024];
        let n = leader.read(&mut buf).await.unwrap();
        assert!(n > 0, "{adapter}: the leader's connection closed before the head");
        received.extend_from_slice(&buf[..n]);
    }
    assert!(received.starts_with(b"HTTP/1.1 200"), "{adapter}");

    // The followers join the leader's flight; then the handler writes the rest of its body.
    let client = client();
    let followers: Vec<_> = (0..FOLLOWERS)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/big"));
            tokio::spawn(async move {
                let response = client.get(url).send().await.unwrap();
                let status = response
                    .headers()
                    .get("cache-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                (status, response.bytes().await.unwrap().len())
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(10), async {
        while cache.stats().total.coalesced_waits < FOLLOWERS {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{adapter}: the followers never waited on the leader"));
    open.send(true).unwrap();

    let started = Instant::now();
    for follower in followers {
        let (status, len) = tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .unwrap_or_else(|_| {
                panic!("{adapter}: a follower still waits on a leader whose client does not read")
            })
            .unwrap();
        assert_eq!(len, TOTAL, "{adapter}");
        assert!(status.contains("collapsed"), "{adapter}: {status}");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{adapter}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{adapter}: one handler call");
    assert_eq!(cache.stats().total.stores, 1, "{adapter}");

    // The leader's client, reading at last, gets its whole body.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), leader.read_to_end(&mut rest))
        .await
        .unwrap_or_else(|_| panic!("{adapter}: the leader's body did not arrive"))
        .unwrap();
    let body_bytes = received.len() + rest.len();
    assert!(body_bytes > TOTAL, "{adapter}: {body_bytes} bytes");
    server.stop().await;
}
