//! A caching reverse proxy built from the cachefront Tower layer in shared-cache mode.
//!
//! Every request is forwarded to the origin with its method, body and headers (hop-by-hop
//! fields removed); the origin's response comes back with its headers (hop-by-hop fields
//! removed), and the cache stores what RFC 9111 allows: `s-maxage` > `max-age` > `Expires`,
//! `Vary`, validation with `If-None-Match` / `If-Modified-Since`, `stale-while-revalidate`,
//! `stale-if-error`, invalidation after unsafe methods, `CDN-Cache-Control` (RFC 9213).
//!
//! An origin that cannot be reached is answered with `502 Bad Gateway` and a message saying so
//! — or, within a `stale-if-error` window, with the stale response.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use cachefront_tower::{Cache, CacheExt, Policy};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// Where the proxy forwards to, and with which client.
#[derive(Clone, Debug)]
pub struct Origin {
    base: Uri,
    client: Client<HttpConnector, Body>,
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
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { base, client })
    }
}

/// The shared-cache policy the proxy uses.
pub fn policy() -> Policy {
    Policy::shared()
        .name("proxy")
        .targeted([HeaderName::from_static("cdn-cache-control")])
        .max_body_bytes(8 * 1024 * 1024)
}

/// The proxy: every path and method forwarded to `origin`, through `cache` under `policy`.
pub fn app(origin: Origin, cache: &Cache, policy: Policy) -> Router {
    Router::new()
        .fallback(forward)
        .with_state(origin)
        .layer(cache.layer(policy))
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
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

async fn forward(State(origin): State<Origin>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = match format!("{}{}", origin.base.to_string().trim_end_matches('/'), path).parse::<Uri>() {
        Ok(uri) => uri,
        Err(error) => return bad_gateway(format!("cannot build the origin URL for {path}: {error}")),
    };
    strip_hop_by_hop(&mut parts.headers);
    if let Some(host) = parts.headers.get(header::HOST).cloned() {
        parts.headers.insert("x-forwarded-host", host);
    }
    if let Some(authority) = origin.base.authority() {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    match origin.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            // The client's connection has its own version; the origin's is not passed on.
            parts.version = http::Version::HTTP_11;
            Response::from_parts(parts, Body::new(body))
        }
        Err(error) => bad_gateway(format!(
            "the origin {} could not be reached: {error}",
            origin.base
        )),
    }
}

fn bad_gateway(message: String) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("502 Bad Gateway: {message}\n"),
    )
        .into_response()
}
