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
//!             .layer(cache.layer(Policy::ttl(Duration::from_secs(60)))),
//!     )
//!     .route(
//!         "/news",
//!         get(|| async { "news" }).layer(cache.layer(Policy::ttl(Duration::from_secs(5)))),
//!     )
//!     // Not layered: never cached.
//!     .route("/me", get(|| async { "you" }));
//! ```
//!
//! A layer on a whole router (`Router::layer`, `Router::route_layer`) works too, with one
//! policy for every route under it; each route is still counted under its own pattern.
//!
//! Every caching decision is taken by the [cachefront] core; this crate only translates.
//!
//! # Nested routers
//!
//! With the `axum` feature (on when you use `cachefront-axum`), the path and query the cache
//! keys and invalidates on come from axum's `OriginalUri` when present: inside
//! `Router::nest("/v1", …)` a route is keyed as `/v1/…`, not with the prefix removed, and it is
//! named after axum's `MatchedPath` (prefix included). Without the feature, the layer uses the
//! URI it is given and names routes `"default"` unless their policy has a name; turn the
//! feature on if you use this crate directly with axum.
//!
//! # Requirements
//!
//! The inner service must be `Clone + Send + 'static` with a `Send` future, and its response
//! body must yield `Bytes` (axum's `Body`, `Full<Bytes>`, …). The layer stores responses from
//! a Tokio task, so it must run inside a Tokio runtime.
//!
//! [Tower]: https://docs.rs/tower
//! [cachefront]: https://docs.rs/cachefront
#![doc = include_str!("../behaviour.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

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

/// This crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
