//! A [Tower] layer that caches HTTP responses with [cachefront]: for axum, hyper, tonic and
//! any service over `http` 1.x.
//!
//! [`CacheLayer`] wraps a service under one [`Policy`]; every layer built from the same
//! [`Cache`] shares its store, its coalescing and its stats. Put one on each route that should
//! be cached, with that route's policy:
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use cachefront_tower::{Cache, CacheExt, Policy};
//!
//! let cache = Cache::new();
//! let app: Router = Router::new()
//!     .route(
//!         "/products/{id}",
//!         get(|| async { "a product" })
//!             .layer(cache.layer(Policy::ttl(Duration::from_secs(60)).name("/products/{id}"))),
//!     )
//!     .route(
//!         "/news",
//!         get(|| async { "news" }).layer(cache.layer(Policy::ttl(Duration::from_secs(5)).name("/news"))),
//!     )
//!     // Not layered: never cached.
//!     .route("/me", get(|| async { "you" }));
//! ```
//!
//! A layer on a whole router (`Router::layer`, `Router::route_layer`) works too, with one
//! policy for every route under it.
//!
//! # What the layer does
//!
//! - **Hit**: the stored response is written from memory with `Content-Length`, an `Age`
//!   computed by the cache, and `Cache-Status: cachefront; hit; ttl=N`. `HEAD` is answered from
//!   the stored `GET`, without the body.
//! - **Miss**: the inner service is called once per key however many requests arrive together
//!   (the others wait and get `Cache-Status: cachefront; fwd=uri-miss; fwd-status=200;
//!   collapsed`). Its body streams to the client while it is collected, up to the policy's
//!   limit; when it ends, the response is stored.
//! - **Not stored**: a body over the limit, an uncacheable response (status, `Set-Cookie`,
//!   `private`, `no-store`, `Vary: *`) or a bypassed request (`Authorization`, `Cookie`,
//!   unsafe methods) streams through untouched — never fully buffered, never turned into an
//!   error. `Cache-Status` says why in its `detail` parameter.
//!
//! Every caching decision is taken by the [cachefront] core; this crate only translates.
//!
//! # Which URI and which host
//!
//! - **Host.** The key's host is the target's authority, else `Host`. When a request carries an
//!   absolute-form target (`GET http://a.example/p HTTP/1.1`) whose authority differs from its
//!   `Host` header, the layer replaces `Host` with the authority before the inner service runs
//!   (RFC 9112 §3.2.2), so the handler sees the host the entry is stored under.
//! - **Nested routers.** With the `axum` feature (on when you use `cachefront-axum`), the path
//!   and query the cache keys and invalidates on come from axum's `OriginalUri` when present:
//!   inside `Router::nest("/v1", …)` a route is keyed as `/v1/…`, not with the prefix removed.
//!   Without the feature, the layer uses the URI it is given; turn the feature on if you use
//!   this crate directly with nested axum routers. Give `Policy::name` the full path.
//!
//! # Requirements
//!
//! The inner service must be `Clone + Send + 'static` with a `Send` future, and its response
//! body must yield `Bytes` (axum's `Body`, `Full<Bytes>`, …). The layer stores responses from
//! a Tokio task, so it must run inside a Tokio runtime.
//!
//! [Tower]: https://docs.rs/tower
//! [cachefront]: https://docs.rs/cachefront

mod body;
mod exchange;
mod future;
mod layer;
mod request;
mod service;

pub use self::{
    body::ResponseBody,
    future::ResponseFuture,
    layer::{CacheExt, CacheLayer},
    service::CacheService,
};
pub use cachefront::{
    self, Admin, Cache, CacheBuilder, CacheKey, CacheRoute, Error, Invalidator, KeyPart, KeySpec, Policy,
    QueryKey, Stats,
};
