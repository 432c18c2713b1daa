//! The core of cachefront: an HTTP response cache for Rust web servers, with no web-framework
//! dependency.
//!
//! cachefront decides *what* may be cached, *for how long*, *under which key* and *when it must
//! go*; thin adapters plug it into Tower (and so axum, hyper, tonic) with `cachefront-tower`,
//! and into actix-web with `cachefront-actix`. Most applications use an adapter and never call
//! this crate's flow directly; they use it for the [`Cache`] handle, [`Policy`] and [`Stats`].
//!
//! # The pieces
//!
//! - [`Cache`]: one store, the flights in progress, and the stats. Cheap to clone.
//! - [`Policy`]: per route — TTL, statuses, body limit, key parts, tags, privacy rules.
//! - [`CacheKey`] / [`KeySpec`]: method, host, path, sorted query (allow- or deny-listed),
//!   selected headers and custom parts, hashed with SHA-256.
//! - [`Store`] / [`MemoryStore`]: moka, bounded in bytes, per-entry expiry.
//! - [`Stats`]: hits, misses, bypasses by reason, coalesced waits, stores, evictions, bytes.
//! - [`CacheStatus`]: the RFC 9211 `Cache-Status` member every response carries.
//!
//! # Decisions
//!
//! These are the choices cachefront makes where the HTTP specifications leave room; each can be
//! changed per route on [`Policy`] unless noted.
//!
//! - **Two modes.** In *application mode* ([`Policy::ttl`]) a route's TTL is the freshness
//!   lifetime of what it stores; the response's `max-age`/`Expires` do not change it, but its
//!   privacy directives do: `private`, `no-store` and `no-cache` responses are not stored
//!   (`no-cache` because such an entry would need validation on every use). In *shared mode*
//!   ([`Policy::shared`]) the cache follows RFC 9111 as a shared cache: freshness from
//!   `s-maxage` > `max-age` > `Expires` (with `Date` and `Age`, §4.2.3), no storing without
//!   freshness information unless heuristic freshness is enabled, validation of stale entries
//!   with `If-None-Match`/`If-Modified-Since`, `must-revalidate`/`proxy-revalidate`,
//!   `no-cache`, `private="field"`/`no-cache="field"`, `must-understand`, and RFC 9213
//!   targeted fields ([`Policy::targeted`]).
//! - **Client directives.** Request `no-cache` (and `Pragma: no-cache`), `max-age`,
//!   `min-fresh` and `no-store` are obeyed in shared mode and ignored in application mode, where
//!   a client should not be able to bust an application's cache ([`Policy::client_directives`]).
//!   `only-if-cached` (504 when nothing usable is stored), `max-stale` and `stale-if-error` are
//!   always obeyed.
//! - **Stale serving** (RFC 5861): within `stale-while-revalidate` the stale entry is served at
//!   once and one background request refreshes it; within `stale-if-error` it is served when the
//!   handler answers 500, 502, 503 or 504 or fails. Both windows can also be set per policy.
//!   A response that forbids serving stale (RFC 9111 §4.2.4) — `must-revalidate`,
//!   `proxy-revalidate`, `s-maxage` (cachefront is a shared cache, §5.2.2.10) or, in shared mode,
//!   `no-cache` — is never served stale on the policy's windows nor on a client's `max-stale`
//!   or `stale-if-error`, in either mode; only the origin's own `stale-while-revalidate`/
//!   `stale-if-error` on that response, its explicit permission, still apply (`no-cache`
//!   responses are validated before every reuse regardless).
//! - **Invalidation on unsafe methods** (§4.4): a non-error response to a method other than
//!   GET, HEAD, OPTIONS or TRACE that passes through a cached route removes every stored variant
//!   of its URI, and of same-origin `Location`/`Content-Location` URIs. Invalidated keys are
//!   built without the request headers a policy keys on.
//! - **Credentials bypass.** Requests with `Authorization` or `Cookie` are not answered from the
//!   cache and their responses are not stored ([`Credentials`]). Requests with `Range` bypass
//!   too (no partial content is stored), and `206` is not in the default statuses.
//! - **Set-Cookie is never replayed by default** ([`SetCookie`]).
//! - **`Vary`.** A stored response remembers the request's values of the headers its `Vary`
//!   names and is reused only for requests that match them (RFC 9111 §4.1). Variants of one URI
//!   are stored side by side, at most [`Policy::max_variants`] (16 by default; the oldest goes
//!   first, as each instance counts what it stores), so a client cycling through values of a
//!   varied header cannot flood the cache. `Vary: *` is never stored, whatever the policy.
//! - **HEAD** is keyed as `GET` and answered from the stored `GET`; a `HEAD` miss is forwarded
//!   and never stored.
//! - **Coalescing.** Concurrent misses on one key run the handler once; the others wait up to
//!   [`CacheBuilder::coalesce_wait`] (10 s by default) and are answered with the stored
//!   response, marked `collapsed` in `Cache-Status`. If the leader's response cannot be stored,
//!   they go to the handler at once; if the leader is cancelled or fails, one of them leads.
//!   Until a URI's first response says what it varies on, every request for it waits for that
//!   response; then requests coalesce per variant (one handler call per variant). A response
//!   that needs validation (`no-cache`, or already stale) is not handed to waiting requests:
//!   each goes to the handler (RFC 9111 §5.2.2.4).
//! - **Purges win over misses in flight.** Every invalidation is recorded before it removes
//!   anything; a response whose request began before an invalidation that matches it (by key,
//!   URI, tag, prefix or all) is served to its own client but not stored, and flights in
//!   progress stop answering later requests. Invalidations heard from other instances through a
//!   shared store ([`Store::invalidated_since`]) count the same way; missed messages count as a
//!   purge of everything. The window left open is the time a message takes to arrive.
//! - **Bodies** stream to the client while they are collected. The adapters read the handler's
//!   body at the handler's pace (a client that stops reading does not hold the requests waiting
//!   on it), keeping at most the body limit queued for a slow client. A body over the limit
//!   (8 MiB by default), one that ends in an error or trailers, or one the handler does not
//!   finish is not stored. `Cache-Status: stored` is written with the head, before the body's
//!   size is known.
//! - **304 updates** (RFC 9111 §4.3.4): a 304 freshens only a stored response whose validator
//!   it matches (a strong `ETag` strongly, a weak one weakly, else the same `Last-Modified`);
//!   one that matches none removes the stored response and is passed on as sent
//!   ([`NotStored::ValidatorMismatch`]). The fields a 304 brings go through the same filter as
//!   a full response's (`private="f"`, `no-cache="f"`, `Set-Cookie`, hidden tag headers).
//! - **`Age`** (RFC 9111 §5.1): the first member of the field is used; an invalid one
//!   (negative, fractional, signed, not a number) is ignored, as if absent.
//! - **Memory.** What the cache keeps beside stored entries is bounded too: the per-URI variant
//!   index keeps 32-byte digests for at most one URI per 4 KiB of store capacity (1,024 to
//!   100,000 URIs; the oldest forgotten first), and entries' weights include their keys'
//!   allocations.
//! - **Fail open.** A store error is logged and counted, and the request goes to the handler.
//! - **Query strings**: parameter names are decoded as a handler's `Query` extractor decodes
//!   them (`%XX` escapes, `+` as a space; an invalid escape stands for itself) before they are
//!   matched against [`QueryKey`] allow- and deny-lists, sorted and keyed, so `?pag%65=3` is
//!   `page` to the key as to the handler; repeated parameters keep their relative order. In the
//!   readable key each name appears in one canonical encoding (`% & = + #`, spaces and
//!   non-ASCII escaped). Values are keyed as sent, escapes included.
//! - **Credentials in keys**: with [`Credentials::PartOfKey`] or a `Vary` on `Cookie`,
//!   `Authorization` or `Proxy-Authorization`, the key's digest covers the header, and its
//!   readable form (logs, purges, the Redis index, pub/sub messages) holds only a digest of it
//!   (`cookie=#3f2a...`), never the value. The request values a `Vary` on such a header
//!   stores with a response are digests too, compared as digests.
//!
//! # Example
//!
//! The flow an adapter runs, by hand:
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use cachefront::{Cache, Lookup, Policy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = Cache::new();
//! let route = cache.route(Policy::ttl(Duration::from_secs(30)));
//! let request = http::Request::get("http://example.com/hello").body(()).unwrap();
//!
//! // First request: a miss; the handler runs and its body is collected.
//! let Lookup::Forward(forward) = route.lookup(&request).await else { unreachable!() };
//! let recording = forward.response(http::StatusCode::OK, &http::HeaderMap::new());
//! assert_eq!(recording.cache_status.to_string(), "cachefront; fwd=uri-miss; fwd-status=200; stored");
//! let mut collector = recording.collector.expect("a 200 without directives is storable");
//! collector.push(&Bytes::from_static(b"hello"));
//! collector.finish();
//!
//! // Second request: a hit.
//! let Lookup::Hit(hit) = route.lookup(&request).await else { panic!("expected a hit") };
//! assert_eq!(hit.body(), "hello");
//! assert_eq!(hit.cache_status().to_string(), "cachefront; hit; ttl=30");
//! # }
//! ```

mod admin;
mod cache;
mod coalesce;
#[cfg(feature = "redis")]
mod codec;
mod config;
mod entry;
mod error;
mod history;
mod invalidate;
mod key;
mod memo;
mod pattern;
mod policy;
mod pump;
mod purges;
mod request;
mod semantics;
mod stats;
mod store;

pub use self::{
    admin::{Admin, AdminResponse, ENV_ADMIN_TOKEN},
    cache::{
        Cache, CacheBuilder, Collector, DEFAULT_COALESCE_WAIT, Forward, Hit, Invalidating, Lookup, Recording,
        Route,
    },
    entry::Entry,
    error::{Error, ErrorKind},
    invalidate::Invalidator,
    key::{CacheKey, KeyDigest, KeyPart, KeySpec, QueryKey},
    memo::{DEFAULT_MEMO_NAMESPACE, DEFAULT_MEMO_TTL, GetOrCompute, Memo, MemoStats},
    policy::{
        Bypass, Credentials, DEFAULT_KEEP_STALE, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_VARIANTS, Mode,
        NotStored, Policy, SetCookie,
    },
    pump::{BodyFrame, BodySource, PumpedBody, poll_once, pump},
    request::{RequestHead, host_replacement},
    semantics::{CACHE_STATUS, CacheControl, CacheStatus, Forwarded, HEURISTICALLY_CACHEABLE},
    stats::{RouteStats, Stats},
    store::{BoxFuture, DEFAULT_MAX_BYTES, MemoryStore, Store, StoreLock, StoreUsage},
};
#[cfg(feature = "redis")]
pub use self::{
    codec::{DEFAULT_COMPRESS_ABOVE, DEFAULT_MAX_DECODED_BYTES, DecodeInput, EntryCodec},
    store::{RedisStore, RedisStoreBuilder, TieredStore, TieredStoreBuilder},
};
