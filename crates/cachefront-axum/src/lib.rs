//! [axum] integration for [cachefront]: one crate for both kinds of caching.
//!
//! - **Whole responses**: [`CacheLayer`] (re-exported from `cachefront-tower`), a policy per
//!   route with `cache.layer(policy)` ([`CacheExt`]).
//! - **Values inside a handler**: the [`Memo`] extractor, for the one expensive value (a
//!   database query, a call to another service) of a response that is otherwise personal and
//!   so cannot be cached whole.
//!
//! - **Operations**: [`admin`], a router with the purge, stats and metrics endpoints, to nest
//!   under a path of your choice; [`Invalidator`] to purge from code.
//!
//! Both share one [`Cache`]: one store, one set of stats, one way to invalidate.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Extension, Json, Router, extract::Path, routing::get};
//! use cachefront_axum::{Cache, CacheExt, Memo, Policy};
//!
//! async fn load_prices(id: u64) -> Result<Vec<u64>, std::io::Error> {
//!     Ok(vec![id * 100, id * 150]) // a database query, in real life
//! }
//!
//! // The greeting is personal; the price list is the same for everyone and memoized.
//! async fn product(memo: Memo, Path((id, user)): Path<(u64, String)>) -> Json<(String, Vec<u64>)> {
//!     let prices = memo
//!         .get_or_compute(("prices", id), || load_prices(id))
//!         .ttl(Duration::from_secs(30))
//!         .await
//!         .unwrap_or_default();
//!     Json((format!("Hello, {user}"), prices))
//! }
//!
//! let cache = Cache::new();
//! let app: Router = Router::new()
//!     .route("/products/{id}/for/{user}", get(product))
//!     .route(
//!         "/catalog",
//!         get(|| async { "the same for everyone" })
//!             .layer(cache.layer(Policy::ttl(Duration::from_secs(60)))),
//!     )
//!     // Where `Memo` finds the cache.
//!     .layer(Extension(cache));
//! ```
//!
//! # Nested routers
//!
//! Inside [`Router::nest`](axum::Router::nest) a layer sees the URI with the prefix removed.
//! The cache keys and invalidates on the request's *original* URI instead (axum's
//! [`OriginalUri`](axum::extract::OriginalUri); this crate turns on axum's `original-uri`
//! feature and cachefront-tower's `axum` feature for it), so `/v1/items` and `/v2/items` are
//! two entries, `Invalidator::path("/v1/items")` reaches the nested route, and an unsafe
//! request invalidates its full URI. The route is named after axum's `MatchedPath`, prefix
//! included (`"/v1/items/{id}"`), and its parameters fill the policy's tags.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use cachefront_axum::{Cache, CacheExt, Policy};
//!
//! let cache = Cache::new();
//! let v1 = Router::new().route(
//!     "/items/{id}",
//!     get(|| async { "v1" })
//!         .layer(cache.layer(Policy::ttl(Duration::from_secs(60)).tag("item:{id}"))),
//! );
//! let app: Router = Router::new().nest("/v1", v1);
//! ```
//!
//! [axum]: https://docs.rs/axum
//! [cachefront]: https://docs.rs/cachefront
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod memo;

pub use self::{
    admin::admin,
    memo::{DEFAULT_NAMESPACE, Memo, MissingCache},
};
pub use cachefront::{
    self, Admin, Cache, CacheBuilder, CacheKey, CacheRoute, Error, Invalidator, KeyPart, KeySpec, Policy,
    QueryKey, Stats,
};
pub use cachefront_tower::{CacheExt, CacheLayer, CacheService, ResponseBody, ResponseFuture};

/// This crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
