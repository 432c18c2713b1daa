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
//! - [`store::Store`] / [`store::MemoryStore`]: quick_cache (S3-FIFO), bounded in bytes, per-entry expiry checked at lookup.
//! - [`Stats`]: hits, misses, bypasses by reason, coalesced waits, stores, evictions, bytes;
//!   the same series, with memo, tier, circuit and latency ones, as Prometheus text
//!   ([`Admin`]'s `GET /metrics`) and, with the feature `metrics`, through the `metrics` facade.
//! - [`adapter::CacheStatus`]: the RFC 9211 `Cache-Status` member every response carries.
//!
//! # Structure
//!
//! One job per file; the HTTP rules are pure functions in `rules/`, which the rest calls.
//!
//! - `cache.rs`: the [`Cache`] handle, [`CacheBuilder`], and [`CacheRoute`] (a policy bound to a
//!   cache). `invalidate.rs`: [`Invalidator`] and the cache's invalidating methods.
//! - `policy.rs`: [`Policy`], its configuration, and the admission of requests and responses
//!   under it (built from `rules/`). `key.rs`: [`CacheKey`] and [`KeySpec`]. `pattern.rs`:
//!   route patterns and tag templates. `config.rs`: settings from the environment.
//! - `flow/`, the request flow an adapter runs:
//!   - `mod.rs`: [`Lookup`](adapter::Lookup) and the answers a lookup gives (hit, bypass, miss, `only-if-cached`);
//!   - `lookup.rs`: [`CacheRoute::lookup`] and the request's part in the single flight;
//!   - `find.rs`: finding the stored response, following `Vary` to the request's variant;
//!   - `hit.rs`: [`Hit`](adapter::Hit), a response from the cache (`Age`, `Cache-Status`);
//!   - `forward.rs`: [`Forward`](adapter::Forward), a request for the handler, and its conditional headers;
//!   - `verdict.rs`: [`Verdict`](adapter::Verdict), the verdict on the handler's response (store, pass on,
//!     revalidated by a 304, freshened by a `HEAD`, contradicted, stale-if-error);
//!   - `collector.rs`: [`Collector`](adapter::Collector), collecting a body and writing it to the store;
//!   - `invalidating.rs`: [`Invalidating`](adapter::Invalidating), what a successful unsafe request removes;
//!   - `variants.rs`: the per-URI variant index and tags; `tasks.rs`: background store work.
//! - `rules/`, RFC 9111, 9110, 5861, 9211 and 9213 and nothing else:
//!   - `cache_control.rs`: `CacheControl` parsing, `Pragma`; `targeted.rs`: RFC 9213 fields;
//!   - `storability.rs`: which responses and fields may be stored; `freshness.rs`: lifetimes,
//!     age, `Age`; `reuse.rs`: fresh, stale, must revalidate;
//!   - `validation.rs`: entity-tags, client conditionals, 304 and `HEAD` updates;
//!     `conditional.rs`: the cache's own conditional requests, preconditions;
//!   - `methods.rs`: safe methods; `invalidation.rs`: what an unsafe request invalidates, tag
//!     lists; `range.rs`: byte ranges; `date.rs`: HTTP-dates; `cache_status.rs`:
//!     [`CacheStatus`](adapter::CacheStatus).
//! - `coalesce.rs`: single flight per key, with the one driver of it (`single_flight`) that
//!   both `flow/lookup.rs` and `memo/flight.rs` call; `purges.rs`: invalidations that overtake misses in
//!   flight; `entry.rs`: [`Entry`](store::Entry); `request.rs`: [`RequestHead`](adapter::RequestHead); `stats.rs`: [`Stats`];
//!   `series.rs`: the one table of metric series that the `metrics` facade and `GET /metrics` are
//!   generated from;
//!   `memo/`: [`Memo`] (`mod.rs`), [`GetOrCompute`], the memo flight, its store target, registry,
//!   stats and readable keys (`key.rs`); `error.rs`: [`Error`]; `pending.rs`: the writes under
//!   way that [`Cache::run_pending_tasks`] waits for; `route_names.rs`: routes named after the
//!   router's patterns; `strategy.rs`: [`Cacheable`] and [`TimeToLive`].
//! - `store/`: [`Store`](store::Store), [`MemoryStore`](store::MemoryStore), and with the feature `redis` the Redis and tiered
//!   stores (`redis-tls`: Redis over TLS); `store/warn.rs` keeps store failures from flooding
//!   the log. `adapter/`: the flow written once for adapters ([`adapter::serve`]). `admin/`:
//!   the admin endpoints ([`Admin`]) and dashboard.
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
//!   responses are validated before every reuse regardless). A policy's `stale-if-error`
//!   window is the operator's permission RFC 9111 §4.2.4 allows a disconnected cache; a
//!   gateway should answer an unreachable or timed-out origin with a 504 (as
//!   `example-reverse-proxy` does), which the window then replaces with the stale response.
//! - **Heuristic freshness** (RFC 9111 §4.2.2) is off unless a shared policy turns it on
//!   ([`Policy::heuristic_freshness`], [`Policy::heuristic_fraction`]): an application that
//!   says nothing about freshness is not second-guessed. When on, it applies to the
//!   heuristically cacheable statuses and to `public` responses.
//! - **Statuses** (RFC 9111 §3): in shared mode any final status with explicit freshness (or
//!   `public`) may be stored, including codes cachefront does not know (299, 499, 599);
//!   `must-understand` limits that to the ones it does. 206 and 304 are never stored as they
//!   are. Application mode stores the policy's list ([`Policy::statuses`]), by default the
//!   successful statuses only ([`Policy::DEFAULT_STATUSES`]: 200, 203, 204, 300, 301, 308): an
//!   error is not kept for a route's full TTL unless asked, and negative caching of 404 and 410
//!   is a separate, shorter lifetime ([`Policy::negative_ttl`]). That is what peers in the
//!   ecosystem store, and a page that did not exist yet is not hidden once it does.
//! - **Interim responses** (1xx, RFC 9110 §15.2) are never stored: the adapters see the final
//!   response only. They are not forwarded either: hyper 1.x's server and actix-web have no way
//!   to send an interim response other than `100 Continue`, and hyper's client reads past them.
//! - **Invalidation on unsafe methods** (§4.4): a non-error response to a method other than
//!   GET, HEAD, OPTIONS or TRACE that passes through a cached route removes every stored variant
//!   of its URI, and of same-origin `Location`/`Content-Location` URIs. Invalidated keys are
//!   built without the request headers a policy keys on.
//! - **Credentials bypass.** Requests with `Authorization` or `Cookie` are not answered from the
//!   cache and their responses are not stored ([`Credentials`]).
//! - **Range requests** (RFC 9110 §14). A `GET` asking for one byte range (`bytes=a-b`,
//!   `bytes=a-`, `bytes=-n`) is answered from a stored `200`: `206 Partial Content` with
//!   `Content-Range` (a range past the end is clamped to it), or `416 Range Not Satisfiable`
//!   with `Content-Range: bytes */length` when no byte of it exists. `If-Range` is honoured
//!   (§13.1.5): an entity-tag compared strongly, or an HTTP-date equal to a strong
//!   `Last-Modified`; when it does not match, the whole `200` is the answer. `HEAD` ignores
//!   `Range`, and a stored response other than a `200` (a `404`, say) is served whole. A range
//!   request that finds no response it may use as it is — a miss, or a stored response that
//!   needs validation — asks the handler for the whole representation (without `Range` and
//!   `If-Range`, coalesced with other misses like any miss), which is stored and answers the
//!   next range requests; that client gets it whole, as RFC 9110 §14.2 lets a server ignore
//!   `Range`. Requests for several ranges, in another unit or malformed are forwarded as they
//!   came, without a lookup (`fwd=bypass; detail=range`), and their responses are not stored:
//!   the cache never stores partial content (`206` is not in the default statuses).
//! - **Set-Cookie is never replayed by default** ([`SetCookie`]).
//! - **`Vary`.** A stored response remembers the request's values of the headers its `Vary`
//!   names and is reused only for requests that match them (RFC 9111 §4.1). Variants of one URI
//!   are stored side by side, at most [`Policy::max_variants`] (16 by default; the oldest goes
//!   first, as each instance counts what it stores), so a client cycling through values of a
//!   varied header cannot flood the cache. `Vary: *` is never stored, whatever the policy.
//!   Values of `Accept-Encoding` and `Accept-Language` are compared as lists: members split on
//!   commas, trimmed, lower-cased (q-values too) and sorted, so `gzip, br` and `BR,gzip` select
//!   one variant; other headers are compared as sent, whitespace normalised.
//! - **HEAD** is keyed as `GET` and answered from the stored `GET`; a `HEAD` miss is forwarded
//!   and never stored. A `HEAD` forwarded because the stored `GET` is stale freshens it when
//!   its 200 carries the same validators (and `Content-Length`, if any), and removes it
//!   otherwise (RFC 9111 §4.3.5).
//! - **Dates** (RFC 9110 §5.6.7): IMF-fixdate, RFC 850 and asctime are all read, day and month
//!   names in any letter case; a two-digit year more than 50 years ahead is of the previous
//!   century. The day name is not checked against the date. A client's `If-Modified-Since` in
//!   the future is ignored (as Apache httpd does), so it never turns a hit into a 304.
//! - **Validators** (RFC 9110 §8.8.3): `If-None-Match` compares weakly, `If-Range` strongly;
//!   a malformed entity-tag (unquoted, unterminated, a forbidden character) matches nothing,
//!   and `*` counts only as the whole field.
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
//!   shared store ([`store::Store::invalidated_since`]) count the same way; missed messages count as a
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
//!   allocations. Each thread that looks up keeps one buffer for the readable key it builds
//!   (so that a memory hit allocates none), dropped instead of kept once it outgrows 16 KiB.
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
//! # Writing an adapter
//!
//! The request flow is written once, in [`adapter::serve`]; an adapter for another framework
//! implements [`adapter::Exchange`] for its types. The [`adapter`] module shows the flow by hand.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
mod admin;
mod cache;
mod coalesce;
pub mod config;
mod entry;
mod error;
mod flow;
mod invalidate;
mod key;
mod memo;
mod pattern;
mod pending;
mod policy;
mod purges;
mod request;
mod route_names;
mod rules;
mod series;
mod stats;
pub mod store;
mod strategy;

pub use self::{
    admin::{Admin, AdminResponse},
    cache::{Cache, CacheBuilder, CacheRoute},
    error::{Error, ErrorKind},
    invalidate::Invalidator,
    key::{CacheKey, KeyPart, KeySpec, QueryKey},
    memo::{GetOrCompute, Memo, MemoStats},
    policy::{Bypass, Credentials, Mode, NotStored, Policy, SetCookie},
    rules::CACHE_STATUS,
    stats::{RouteStats, Stats},
    strategy::{Cacheable, TimeToLive},
};

/// Internals exposed for the fuzz targets and property tests; not part of the API, and not
/// covered by semantic versioning.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::rules::{CacheControl, HEURISTICALLY_CACHEABLE};
}

/// This crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
