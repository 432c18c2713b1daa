//! An [actix-web] middleware that caches HTTP responses with [cachefront].
//!
//! [`ResponseCache`] wraps an app, a scope or a resource under one [`Policy`]; every
//! middleware built from the same [`Cache`] shares its store, its coalescing and its stats. Put
//! one on each resource or scope that should be cached, with its policy:
//!
//! ```
//! use std::time::Duration;
//! use actix_web::{App, HttpResponse, test, web};
//! use cachefront_actix::{Cache, CacheExt, Policy};
//!
//! # #[actix_web::main] async fn main() {
//! let cache = Cache::new();
//! let app = App::new()
//!     .service(
//!         web::resource("/products/{id}")
//!             .wrap(cache.middleware(Policy::ttl(Duration::from_secs(60))))
//!             .route(web::get().to(|| async { HttpResponse::Ok().body("a product") })),
//!     )
//!     .service(
//!         web::scope("/news")
//!             .wrap(cache.middleware(Policy::ttl(Duration::from_secs(5))))
//!             .route("", web::get().to(|| async { "news" })),
//!     )
//!     // Not wrapped: never cached.
//!     .route("/me", web::get().to(|| async { "you" }));
//! let app = test::init_service(app).await;
//!
//! let miss = test::call_service(&app, test::TestRequest::get().uri("/products/1").to_request()).await;
//! assert_eq!(miss.headers().get("cache-status").unwrap(), "cachefront; fwd=uri-miss; fwd-status=200; stored");
//! assert_eq!(test::read_body(miss).await, "a product");
//!
//! let hit = test::call_service(&app, test::TestRequest::get().uri("/products/1").to_request()).await;
//! assert_eq!(hit.headers().get("cache-status").unwrap(), "cachefront; hit; ttl=60");
//! assert_eq!(test::read_body(hit).await, "a product");
//! # }
//! ```
//!
//! `App::wrap` works too, with one policy for every route of the app. Wrap each route once:
//! nested middleware would each look up and store under their own policy.
//!
//! # Memoized values
//!
//! Some responses are personal and cannot be cached whole, yet are built around one expensive
//! value that is the same for everyone (a database query, a call to another service). The
//! [`Memo`] extractor memoizes that value in the same cache — same store, stats and
//! invalidation — taking the [`Cache`] from the app data:
//!
//! ```
//! use std::time::Duration;
//! use actix_web::{App, web};
//! use cachefront_actix::{Cache, Memo};
//!
//! async fn load_prices(id: u64) -> Result<Vec<u64>, std::io::Error> {
//!     Ok(vec![id * 100, id * 150]) // a database query, in real life
//! }
//!
//! // The greeting is personal; the price list is the same for everyone and memoized.
//! async fn product(memo: Memo, path: web::Path<(u64, String)>) -> String {
//!     let (id, user) = path.into_inner();
//!     let prices = memo
//!         .get_or_compute(("prices", id), || load_prices(id))
//!         .ttl(Duration::from_secs(30))
//!         .await
//!         .unwrap_or_default();
//!     format!("Hello, {user}: {prices:?}")
//! }
//!
//! let cache = Cache::new();
//! let app = App::new()
//!     // Where `Memo` finds the cache (a `web::Data<Cache>` works too).
//!     .app_data(cache.clone())
//!     .route("/products/{id}/for/{user}", web::get().to(product));
//! ```
//!
//! # Admin endpoints
//!
//! [`admin`] mounts a cache's admin endpoints (`POST /purge`, `GET /stats`, `GET /metrics`,
//! behind a bearer token) as a scope; every decision is the core's [`Admin`]:
//!
//! ```
//! use actix_web::App;
//! use cachefront_actix::{Admin, Cache};
//!
//! # fn main() -> Result<(), cachefront_actix::cachefront::Error> {
//! let cache = Cache::from_env()?;
//! let mut app = App::new().app_data(cache.clone());
//! // Enabled only when CACHEFRONT_ADMIN_TOKEN is set; an invalid token is an error.
//! if let Some(admin) = Admin::from_env(cache.clone())? {
//!     app = app.service(cachefront_actix::admin("/admin", admin));
//! }
//! # Ok(()) }
//! ```
//!
//! # Translation
//!
//! Every caching decision is taken by the [cachefront] core, exactly as for the Tower layer of
//! `cachefront-tower`; this crate only translates actix-web's `http` 0.2 types to the core's
//! `http` 1.x ones. actix-web keeps a declared body length in the body (`BodySize::Sized`)
//! rather than in a `Content-Length` header; the middleware hands it to the core, so a body
//! declared over the limit is not collected at all.
//!
//! # Routing `HEAD`
//!
//! actix-web's `web::get()` routes do not match `HEAD`. A `HEAD` request answered from the
//! cache never reaches the router, but a `HEAD` miss does: register `HEAD` on the resource too
//! (`web::head()`, or a `guard::Any(guard::Get()).or(guard::Head())` route) if misses should not
//! get a 405.
//!
//! # actix-web specifics
//!
//! - An actix-web handler that fails answers with an error *response*, which the cache judges
//!   like any other (stale-if-error included). An `Err` returned by an inner middleware is
//!   answered as the Tower layer answers a failed inner service: within the stale-if-error
//!   window with the stale response, else passed through unchanged. actix-web carries that
//!   stale response as an `Err` whose rendering ([`ResponseError`](actix_web::ResponseError))
//!   is the response itself, so outer middleware sees an error that the client never does.
//! - actix-web routes a request by mutating it, which it can do only while nothing else holds
//!   it; the client's stale response holds it until it is sent. A stale-while-revalidate
//!   refresh therefore starts once the client's response body has been dropped (sent, or
//!   abandoned), and calls the wrapped service with the same request, on the same worker.
//!
//! # Requirements
//!
//! The middleware stores responses from a Tokio task and runs refreshes on the actix-web
//! worker; actix-web's workers run on Tokio, so nothing is needed beyond `actix_web::main` or
//! `HttpServer`.
//!
//! [actix-web]: https://docs.rs/actix-web
//! [cachefront]: https://docs.rs/cachefront
#![doc = include_str!("../behaviour.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod body;
mod convert;
mod exchange;
mod future;
mod memo;
mod middleware;
mod service;

pub use self::{
    admin::admin,
    body::ResponseBody,
    future::ResponseFuture,
    memo::{DEFAULT_NAMESPACE, Memo, MissingCache},
    middleware::{CacheExt, ResponseCache},
    service::ResponseCacheMiddleware,
};
pub use cachefront::{
    self, Admin, Cache, CacheBuilder, CacheKey, CacheRoute, Error, Invalidator, KeyPart, KeySpec, Policy,
    QueryKey, Stats,
};

/// This crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
