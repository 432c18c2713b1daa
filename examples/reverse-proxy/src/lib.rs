//! A caching reverse proxy built from the cachefront Tower layer in shared-cache mode.
//!
//! Every request is forwarded to the origin with its method, body and headers (hop-by-hop
//! fields removed); the origin's response comes back with its headers (hop-by-hop fields
//! removed), and the cache stores what RFC 9111 allows: `s-maxage` > `max-age` > `Expires`,
//! `Vary`, validation with `If-None-Match` / `If-Modified-Since`, `stale-while-revalidate`,
//! `stale-if-error`, invalidation after unsafe methods, `CDN-Cache-Control` (RFC 9213).
//!
//! # Shared-cache settings
//!
//! [`policy`] is what a CDN operator expects of an edge cache:
//!
//! - **Stale on origin failure** (RFC 9111 §4.2.4, RFC 5861 §4): when the origin cannot be
//!   reached (connection refused, reset or closed before a response, or no response head
//!   within the origin timeout, [`DEFAULT_ORIGIN_TIMEOUT`] unless `CACHEFRONT_ORIGIN_TIMEOUT`
//!   says otherwise) or answers 500, 502, 503 or 504, a stored response up to one hour stale
//!   is served instead, with `Cache-Status: proxy; fwd=stale; fwd-status=504;
//!   detail=stale-if-error`. A response marked `must-revalidate`, `proxy-revalidate`,
//!   `no-cache` or `s-maxage` is never served stale that way (§5.2.2.2): the client gets the
//!   error, a `504 Gateway Timeout` when the origin could not be reached. An origin's own
//!   `stale-if-error` replaces the hour.
//! - **Heuristic freshness** (RFC 9111 §4.2.2): a response without explicit freshness but with
//!   `Last-Modified` is fresh for 10% of the time since it was last modified, at most a day.
//! - **Any final status with explicit freshness** is stored (RFC 9111 §3), also codes the
//!   cache does not know; with `must-understand`, only the ones it does.
//! - `CDN-Cache-Control` (RFC 9213) takes precedence over `Cache-Control`.
//!
//! An origin that cannot be reached is answered with `504 Gateway Timeout` and a message saying
//! why — or, within the stale-on-failure window, with the stale response.
//!
//! # What the origin is told about the client
//!
//! The proxy is the edge: whatever a client says about forwarding is untrusted, and a header
//! the origin reads but the cache does not key on would let one client poison the page every
//! other client gets. So the proxy removes the client's `Forwarded`, `X-Forwarded-*`,
//! `X-Original-URL`, `X-Rewrite-URL`, `X-Original-Host`, `X-Host`, `X-Real-IP` and method
//! override (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`) fields, and sets
//! its own:
//!
//! - `Host`: the origin's authority;
//! - `X-Forwarded-Host`: the host the cache keyed the request on — the absolute-form target's
//!   authority when there is one (RFC 9112 §3.2.2), else the client's `Host` — and nothing when
//!   the request had no host;
//! - `X-Forwarded-Proto`: `http`, the scheme the proxy serves;
//! - `X-Forwarded-For`: the client's address, when the server provides it (serve the app with
//!   `into_make_service_with_connect_info::<SocketAddr>()`, as `main.rs` does). An origin that
//!   renders it into a cacheable page must mark the page `private` or `Vary` on something that
//!   tells clients apart.
//!
//! A policy that leaves the host out of the key (`KeySpec::host(false)`) must only front an
//! origin that ignores `X-Forwarded-Host`.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header, uri::PathAndQuery},
    response::{IntoResponse, Response},
};
use cachefront_tower::{Cache, CacheExt, Policy, cachefront::adapter::RequestHead};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// How long the proxy waits for the origin's response head by default (connecting included).
pub const DEFAULT_ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long past its freshness a stored response is served when the origin fails.
pub const STALE_ON_FAILURE: Duration = Duration::from_secs(3600);

/// Where the proxy forwards to, and with which client.
#[derive(Clone, Debug)]
pub struct Origin {
    base: Uri,
    client: Client<HttpConnector, Body>,
    timeout: Duration,
}

impl Origin {
    /// An origin at `base`, e.g. `http://127.0.0.1:8000`. Only `http` origins are supported.
    pub fn new(base: &str) -> Result<Self, String> {
        let base: Uri = base.parse().map_err(|e| {
            format!("CACHEFRONT_ORIGIN={base:?}: expected an URL like http://127.0.0.1:8000 ({e})")
        })?;
        if base.scheme_str() != Some("http") || base.authority().is_none() {
            return Err(format!(
                "CACHEFRONT_ORIGIN={base}: expected an http URL with a host, like http://127.0.0.1:8000"
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client =
            Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(Self { base, client, timeout: DEFAULT_ORIGIN_TIMEOUT })
    }

    /// How long to wait for the origin's response head (connecting included) before answering
    /// `504 Gateway Timeout`, or a stale response where one may be served. Default:
    /// [`DEFAULT_ORIGIN_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The origin's URL for a request's target: the origin's scheme and authority, the
    /// origin's base path (without its trailing `/`) and the target's path and query. A base
    /// without a path shares the target's bytes rather than copying them (a URL can be long).
    fn target(&self, target: &Uri) -> Result<Uri, http::Error> {
        let path_and_query =
            target.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        let base_path = self.base.path().trim_end_matches('/');
        let path_and_query = if base_path.is_empty() {
            path_and_query
        } else {
            PathAndQuery::try_from(format!("{base_path}{path_and_query}"))?
        };
        let mut uri = Uri::builder().path_and_query(path_and_query);
        if let (Some(scheme), Some(authority)) = (self.base.scheme(), self.base.authority()) {
            uri = uri.scheme(scheme.clone()).authority(authority.clone());
        }
        uri.build()
    }
}

/// The shared-cache policy the proxy uses.
pub fn policy() -> Policy {
    Policy::shared()
        .name("proxy")
        .targeted([HeaderName::from_static("cdn-cache-control")])
        .max_body_bytes(8 * 1024 * 1024)
        .stale_if_error(STALE_ON_FAILURE)
        .heuristic_freshness(Duration::from_secs(86_400))
}

/// The proxy: every path and method forwarded to `origin`, through `cache` under `policy`.
pub fn app(origin: Origin, cache: &Cache, policy: Policy) -> Router {
    Router::new().fallback(forward).with_state(origin).layer(cache.layer(policy))
}

/// The same proxy without a cache: every request goes to the origin (a baseline).
pub fn uncached_app(origin: Origin) -> Router {
    Router::new().fallback(forward).with_state(origin)
}

/// Header fields that apply to one connection only (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in
        ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]
    {
        headers.remove(name);
    }
}

/// Client fields about forwarding that the proxy never passes on (see the crate docs); every
/// `x-forwarded-*` field goes too.
const CLIENT_FORWARDING: [&str; 9] = [
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-host",
    "x-real-ip",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Replaces what the client said about forwarding with what the proxy knows: the host the
/// cache keyed the request on, the scheme it was served on and the client's address.
fn set_forwarding(headers: &mut HeaderMap, keyed_host: Option<HeaderValue>, client: Option<SocketAddr>) {
    let forwarded: Vec<HeaderName> =
        headers.keys().filter(|name| name.as_str().starts_with("x-forwarded-")).cloned().collect();
    for name in forwarded {
        headers.remove(name);
    }
    for name in CLIENT_FORWARDING {
        headers.remove(name);
    }
    if let Some(host) = keyed_host {
        headers.insert("x-forwarded-host", host);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(client) = client
        && let Ok(value) = HeaderValue::from_str(&client.ip().to_string())
    {
        headers.insert("x-forwarded-for", value);
    }
}

async fn forward(State(origin): State<Origin>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // Exactly the host the cache key uses (the target's authority, else `Host`).
    let keyed_host = RequestHead::host(&parts).and_then(|host| HeaderValue::from_str(host).ok());
    let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr);
    let uri = match origin.target(&parts.uri) {
        Ok(uri) => uri,
        Err(error) => {
            return error_response(StatusCode::BAD_GATEWAY, format!("cannot build the origin URL: {error}"));
        }
    };
    strip_hop_by_hop(&mut parts.headers);
    set_forwarding(&mut parts.headers, keyed_host, client);
    if let Some(authority) = origin.base.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    let request = origin.client.request(Request::from_parts(parts, body));
    match tokio::time::timeout(origin.timeout, request).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            // The client's connection has its own version; the origin's is not passed on.
            parts.version = http::Version::HTTP_11;
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(error)) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the origin {} could not be reached: {error}", origin.base),
        ),
        Err(_) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the origin {} sent no response within {:?}", origin.base, origin.timeout),
        ),
    }
}

/// The proxy's own error response: the status, and a line saying why. An origin that gives
/// no response gets a 504 (RFC 9111 §5.2.2.2: a disconnected cache's error).
fn error_response(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{status}: {message}\n"))
        .into_response()
}
