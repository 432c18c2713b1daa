//! The interface between the core and a web framework, for adapter authors.
//!
//! The request flow is the core's, written once in [`serve`]: lookup, hit (with a background
//! refresh when served stale), conditional headers, the call, stale-if-error on a failed call,
//! the judgement of the response (`Cache-Status`, hidden tag headers, a replacement from the
//! cache), the body's collection and the invalidation an unsafe request causes. An adapter
//! implements [`Exchange`] (its framework's request and response types) and [`BodySource`]
//! (its body type), wraps [`ResponseBody`] in its framework's body trait, and calls [`serve`]
//! from its middleware: it converts types and decides nothing. `cachefront-tower` and
//! `cachefront-actix` are the two adapters; each is about a hundred lines.
//!
//! The pieces the flow is made of ([`CacheRoute::lookup`](crate::CacheRoute::lookup), [`Hit`],
//! [`Forward`], [`Verdict`], [`Collector`]) stay public for a flow written by hand, as in
//! the example below.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use cachefront::{Cache, Policy, adapter::Lookup};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = Cache::new();
//! let route = cache.route(Policy::ttl(Duration::from_secs(30)));
//! let request = http::Request::get("http://example.com/hello").body(()).unwrap();
//!
//! // First request: a miss; the handler runs and its body is collected.
//! let Lookup::Forward(forward) = route.lookup(&request).await else { unreachable!() };
//! let verdict = forward.response(http::StatusCode::OK, &http::HeaderMap::new());
//! assert_eq!(verdict.cache_status.to_string(), "cachefront; fwd=uri-miss; fwd-status=200; stored");
//! let mut collector = verdict.collector.expect("a 200 without directives is storable");
//! collector.push(&Bytes::from_static(b"hello"));
//! collector.finish();
//!
//! // Second request: a hit.
//! let Lookup::Hit(hit) = route.lookup(&request).await else { panic!("expected a hit") };
//! assert_eq!(hit.body(), "hello");
//! assert_eq!(hit.cache_status().to_string(), "cachefront; hit; ttl=30");
//! # }
//! ```

mod body;
mod exchange;
mod pump;

pub use self::{
    body::ResponseBody,
    exchange::{Begun, Exchange, Later, Stored, begin, refresh, serve},
    pump::{BodyFrame, BodySource, Pump, PumpedBody, pump},
};
pub use crate::{
    flow::{Collector, Forward, Hit, Invalidating, Lookup, Verdict, poll_once},
    request::RequestHead,
    rules::{CacheStatus, ForwardReason},
};
