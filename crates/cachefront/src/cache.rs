//! The cache handle and the request flow every adapter follows.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::{
    coalesce::{Coalescer, FlightState, Join, LeaderGuard},
    entry::Entry,
    error::Error,
    key::CacheKey,
    policy::{Bypass, NotStored, Policy},
    request::{RequestHead, normalized_header_in},
    semantics::{self, CacheStatus, Forwarded},
    stats::{Counters, Event, Stats, StatsRegistry},
    store::{DEFAULT_MAX_BYTES, MemoryStore, Store},
};

/// The default bound on how long a request waits for another request's response to the same
/// key before going to the handler itself: 10 seconds.
pub const DEFAULT_COALESCE_WAIT: Duration = Duration::from_secs(10);

/// How many times a follower whose leader was cancelled retries before going to the handler.
const MAX_FLIGHT_ATTEMPTS: usize = 3;

/// One cache: a store, the flights in progress, and the stats. Cheap to clone; clones share
/// everything.
///
/// Bind a [`Policy`] to it with [`Cache::route`] (adapters do this for you: `cache.layer(policy)`
/// in `cachefront-tower`), once per route; every route shares the store and the stats.
///
/// ```
/// use std::time::Duration;
/// use cachefront::{Cache, Policy};
///
/// # fn main() -> Result<(), cachefront::Error> {
/// let cache = Cache::builder().max_bytes(32 * 1024 * 1024).build()?;
/// let products = cache.route(Policy::ttl(Duration::from_secs(60)).name("/products/{id}"));
/// assert_eq!(products.policy().route_name(), "/products/{id}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    coalescer: Coalescer,
    stats: StatsRegistry,
    coalesce_wait: Duration,
}

impl Cache {
    /// A cache on a [`MemoryStore`] of 64 MiB, with default settings.
    pub fn new() -> Self {
        Self::from_parts(Arc::new(MemoryStore::new()), DEFAULT_COALESCE_WAIT)
    }

    /// A builder to choose the store and settings.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    fn from_parts(store: Arc<dyn Store>, coalesce_wait: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                coalescer: Coalescer::default(),
                stats: StatsRegistry::default(),
                coalesce_wait,
            }),
        }
    }

    /// Binds a policy to this cache: the handle an adapter uses for one route.
    pub fn route(&self, policy: Policy) -> Route {
        let counters = self.inner.stats.route(&policy.name);
        Route {
            cache: self.clone(),
            policy: Arc::new(policy),
            counters,
        }
    }

    /// A snapshot of the counters, in total and per route, with the store's usage.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot(self.inner.store.usage())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Removes the entry under `key`; returns whether there was one.
    pub async fn invalidate_key(&self, key: &CacheKey) -> Result<bool, Error> {
        self.inner.store.remove(key).await
    }

    /// Removes every entry carrying `tag`; returns how many went.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<u64, Error> {
        self.inner.store.remove_tag(tag).await
    }

    /// Removes every entry; returns how many went.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.inner.store.clear().await
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .field("coalesce_wait", &self.inner.coalesce_wait)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`].
#[derive(Debug, Default)]
#[must_use]
pub struct CacheBuilder {
    store: Option<Arc<dyn Store>>,
    max_bytes: Option<u64>,
    coalesce_wait: Option<Duration>,
}

impl CacheBuilder {
    /// The capacity of the default memory store, in bytes (default 64 MiB). Ignored when a
    /// store is given with [`store`](Self::store).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// The store to use instead of the default [`MemoryStore`].
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How long a request waits for another request's response to the same key before it goes
    /// to the handler itself (default 10 s).
    pub fn coalesce_wait(mut self, wait: Duration) -> Self {
        self.coalesce_wait = Some(wait);
        self
    }

    /// Builds the cache, or says which setting cannot work.
    pub fn build(self) -> Result<Cache, Error> {
        if self.max_bytes == Some(0) {
            return Err(Error::config(
                "max_bytes",
                "expected a capacity of at least 1 byte, got 0",
            ));
        }
        if self.store.is_some() && self.max_bytes.is_some() {
            return Err(Error::config(
                "max_bytes",
                "applies only to the default memory store; set the capacity on the store you pass to `store`",
            ));
        }
        let store = self.store.unwrap_or_else(|| {
            Arc::new(MemoryStore::with_max_bytes(
                self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            ))
        });
        Ok(Cache::from_parts(
            store,
            self.coalesce_wait.unwrap_or(DEFAULT_COALESCE_WAIT),
        ))
    }
}

/// A [`Policy`] bound to a [`Cache`]: what an adapter holds for one route.
///
/// An adapter calls [`lookup`](Self::lookup) with the request; on [`Lookup::Hit`] it writes
/// the stored response, on [`Lookup::Forward`] it calls the handler, hands the response head to
/// [`Forward::response`], and feeds the body through the returned [`Collector`], if any.
#[derive(Clone)]
pub struct Route {
    cache: Cache,
    policy: Arc<Policy>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// The route's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The cache the route belongs to.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn record(&self, event: Event) {
        self.cache.inner.stats.record(&self.counters, event);
    }

    /// Decides how to answer a request: from the cache, or by forwarding it to the handler.
    ///
    /// Concurrent misses on one key are coalesced: one request (the leader) is forwarded, the
    /// others wait for its response up to the cache's bound. If the leader's response cannot be
    /// stored they are forwarded too; if the leader is cancelled or fails, one of them leads.
    pub async fn lookup<R: RequestHead>(&self, request: &R) -> Lookup {
        let admission = match self.policy.admit_request(request) {
            Ok(admission) => admission,
            Err(reason) => {
                self.record(Event::Bypass(reason));
                tracing::debug!(route = %self.policy.name, method = request.method(), path = request.path(), decision = "bypass", reason = reason.as_str());
                return Lookup::Forward(Forward::bypass(self.clone(), reason));
            }
        };
        let key = admission.key;
        let mut fwd = Forwarded::UriMiss;
        let deadline = tokio::time::Instant::now() + self.cache.inner.coalesce_wait;
        for _ in 0..MAX_FLIGHT_ATTEMPTS {
            match self.cache.inner.store.get(&key).await {
                Ok(Some(entry)) => {
                    if entry.is_fresh(SystemTime::now()) && entry.matches_vary(request) {
                        return self.hit(entry, admission.head, false);
                    }
                    fwd = Forwarded::VaryMiss;
                }
                Ok(None) => {}
                Err(error) => {
                    self.record(Event::StoreError);
                    tracing::warn!(key = %key, %error, "cache store lookup failed; forwarding");
                }
            }
            if admission.head {
                // HEAD never stores, so it neither leads nor follows a flight.
                return self.forward(key, fwd, None, request, Some(NotStored::Head));
            }
            let mut rx = match self.cache.inner.coalescer.join(*key.digest()) {
                Join::Leader(guard) => return self.forward(key, fwd, Some(guard), request, None),
                Join::Done(entry) => {
                    if entry.matches_vary(request) {
                        return self.hit(entry, false, false);
                    }
                    return self.forward(key, Forwarded::VaryMiss, None, request, None);
                }
                Join::Follower(rx) => rx,
            };
            self.record(Event::CoalescedWait);
            tracing::debug!(key = %key, decision = "wait", "waiting for a concurrent miss on the same key");
            let state =
                tokio::time::timeout_at(deadline, rx.wait_for(|s| !matches!(s, FlightState::Pending)))
                    .await
                    .map(|state| state.map(|s| s.clone()));
            match state {
                Ok(Ok(FlightState::Done(entry))) if entry.matches_vary(request) => {
                    return self.hit(entry, false, true);
                }
                Ok(Ok(FlightState::Done(_))) => {
                    return self.forward(key, Forwarded::VaryMiss, None, request, None);
                }
                Ok(Ok(FlightState::Uncacheable)) => return self.forward(key, fwd, None, request, None),
                // The leader went away: look again, and perhaps lead.
                Ok(Ok(FlightState::Abandoned | FlightState::Pending) | Err(_)) => continue,
                Err(_elapsed) => {
                    tracing::debug!(key = %key, "coalesced wait timed out; forwarding");
                    return self.forward(key, fwd, None, request, None);
                }
            }
        }
        self.forward(key, fwd, None, request, None)
    }

    fn hit(&self, entry: Arc<Entry>, head: bool, collapsed: bool) -> Lookup {
        self.record(Event::Hit);
        tracing::debug!(key = %entry.key, route = %self.policy.name, decision = "hit", collapsed);
        Lookup::Hit(Hit {
            entry,
            head,
            collapsed,
            now: SystemTime::now(),
        })
    }

    fn forward<R: RequestHead>(
        &self,
        key: CacheKey,
        fwd: Forwarded,
        guard: Option<LeaderGuard>,
        request: &R,
        not_stored: Option<NotStored>,
    ) -> Lookup {
        self.record(Event::Miss);
        tracing::debug!(key = %key, route = %self.policy.name, decision = "miss", leader = guard.is_some());
        Lookup::Forward(Forward {
            route: self.clone(),
            body_size: None,
            kind: ForwardKind::Miss(Box::new(Miss {
                key,
                fwd,
                guard,
                // Needed only if the response names headers in `Vary`; misses only.
                request_headers: if not_stored.is_none() {
                    Some(request.to_header_map())
                } else {
                    None
                },
                not_stored,
                started: Instant::now(),
            })),
        })
    }
}

/// What [`Route::lookup`] decided.
#[derive(Debug)]
pub enum Lookup {
    /// Answer from the cache.
    Hit(Hit),
    /// Call the handler.
    Forward(Forward),
}

/// A stored response to write to the client.
#[derive(Debug)]
pub struct Hit {
    entry: Arc<Entry>,
    head: bool,
    collapsed: bool,
    now: SystemTime,
}

impl Hit {
    /// The stored entry.
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    /// Whether the request was `HEAD`: write the headers only.
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.entry.status
    }

    /// The body to write (empty for `HEAD`).
    pub fn body(&self) -> Bytes {
        if self.head {
            Bytes::new()
        } else {
            self.entry.body.clone()
        }
    }

    /// The `Cache-Status` member for this response.
    pub fn cache_status(&self) -> CacheStatus {
        if self.collapsed {
            // RFC 9211 §2.6: the request was collapsed with the one that went forward.
            CacheStatus::forward(Forwarded::UriMiss)
                .fwd_status(self.entry.status.as_u16())
                .collapsed(true)
        } else {
            CacheStatus::hit(remaining_secs(&self.entry, self.now))
        }
    }

    /// The response headers: the stored ones, then `Content-Length`, `Age` (computed by the
    /// cache, RFC 9111 §5.1) and `Cache-Status`.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = self.entry.headers.clone();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.entry.body.len()));
        headers.insert(header::AGE, HeaderValue::from(self.entry.age(self.now).as_secs()));
        self.cache_status().append_to(&mut headers);
        headers
    }
}

/// Freshness left in whole seconds, consistent with `Age`: `Age + ttl` is the stored lifetime.
fn remaining_secs(entry: &Entry, now: SystemTime) -> i64 {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    secs(entry.ttl).saturating_sub(secs(entry.age(now)))
}

/// A request to send to the handler; hand the handler's response head to
/// [`response`](Self::response).
///
/// Dropping it without calling `response` (the handler failed, the client went away) releases
/// any requests waiting on it.
#[derive(Debug)]
pub struct Forward {
    route: Route,
    kind: ForwardKind,
    body_size: Option<u64>,
}

#[derive(Debug)]
enum ForwardKind {
    Bypass(Bypass),
    // Boxed: a miss carries the key, the flight and the request headers; bypasses stay small.
    Miss(Box<Miss>),
}

#[derive(Debug)]
struct Miss {
    key: CacheKey,
    fwd: Forwarded,
    guard: Option<LeaderGuard>,
    request_headers: Option<HeaderMap>,
    not_stored: Option<NotStored>,
    started: Instant,
}

impl Forward {
    fn bypass(route: Route, reason: Bypass) -> Self {
        Self {
            route,
            kind: ForwardKind::Bypass(reason),
            body_size: None,
        }
    }

    /// Tells the cache the exact size of the response body when the adapter knows it without a
    /// `Content-Length` header (a body's size hint), so that a body over the limit is not
    /// collected at all.
    #[must_use]
    pub fn body_size(mut self, size: Option<u64>) -> Self {
        self.body_size = size;
        self
    }

    /// Why the cache was bypassed, if it was.
    pub fn bypass_reason(&self) -> Option<Bypass> {
        match self.kind {
            ForwardKind::Bypass(reason) => Some(reason),
            ForwardKind::Miss(_) => None,
        }
    }

    /// Judges the handler's response head: returns the `Cache-Status` member to add and, when
    /// the response may be stored, a [`Collector`] for its body.
    pub fn response(self, status: StatusCode, headers: &HeaderMap) -> Recording {
        let route = self.route;
        let (key, fwd, guard, request_headers, not_stored, started) = match self.kind {
            ForwardKind::Bypass(reason) => {
                return Recording {
                    cache_status: CacheStatus::forward(if reason == Bypass::Method {
                        Forwarded::Method
                    } else {
                        Forwarded::Bypass
                    })
                    .fwd_status(status.as_u16())
                    .detail(reason.as_str()),
                    collector: None,
                };
            }
            ForwardKind::Miss(miss) => {
                let Miss {
                    key,
                    fwd,
                    guard,
                    request_headers,
                    not_stored,
                    started,
                } = *miss;
                (key, fwd, guard, request_headers, not_stored, started)
            }
        };
        let status_member = CacheStatus::forward(fwd).fwd_status(status.as_u16());
        let decision = match not_stored {
            Some(reason) => Err(reason),
            None => route.policy.admit_response(status, headers, self.body_size),
        };
        let storable = match decision {
            Ok(storable) => storable,
            Err(reason) => {
                route.record(Event::NotStored);
                tracing::debug!(key = %key, status = status.as_u16(), decision = "not-stored", reason = reason.as_str());
                if let Some(guard) = guard {
                    guard.uncacheable();
                }
                return Recording {
                    cache_status: status_member.detail(reason.as_str()),
                    collector: None,
                };
            }
        };
        let request_headers = request_headers.unwrap_or_default();
        let vary = storable
            .vary
            .into_iter()
            .map(|name| {
                let value = normalized_header_in(&request_headers, name.as_str());
                (name, value)
            })
            .collect::<Vec<(HeaderName, Option<Vec<u8>>)>>();
        let limit = route.policy.max_body_bytes;
        Recording {
            cache_status: status_member.stored(true),
            collector: Some(Collector {
                stored_headers: semantics::storable_headers(headers, storable.strip_set_cookie),
                route,
                key,
                guard,
                status,
                vary,
                chunks: Vec::new(),
                len: 0,
                limit,
                started,
                settled: false,
            }),
        }
    }
}

/// What to do with a forwarded response, from [`Forward::response`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Recording {
    /// The `Cache-Status` member to append to the response.
    pub cache_status: CacheStatus,
    /// Present when the response may be stored: feed it the body as it streams.
    pub collector: Option<Collector>,
}

/// Collects a response body as it streams to the client, and stores it when it ends.
///
/// Call [`push`](Self::push) with each data chunk and [`finish`](Self::finish) at the end of the
/// body. If the body passes the policy's limit, `push` returns `false`: drop the collector and
/// keep streaming. A collector dropped before `finish` (error, trailers, client gone) stores
/// nothing and releases any requests waiting on it.
pub struct Collector {
    route: Route,
    key: CacheKey,
    guard: Option<LeaderGuard>,
    status: StatusCode,
    stored_headers: HeaderMap,
    vary: Vec<(HeaderName, Option<Vec<u8>>)>,
    chunks: Vec<Bytes>,
    len: usize,
    limit: usize,
    started: Instant,
    /// Stored, or known not to be: nothing left to do on drop.
    settled: bool,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Adds a chunk; `false` once the body is over the limit (the collector then stores nothing
    /// and should be dropped).
    pub fn push(&mut self, chunk: &Bytes) -> bool {
        self.len += chunk.len();
        if self.len > self.limit {
            self.route.record(Event::NotStored);
            tracing::debug!(key = %self.key, limit = self.limit, decision = "not-stored", reason = NotStored::TooLarge.as_str());
            self.chunks = Vec::new();
            self.settled = true;
            if let Some(guard) = self.guard.take() {
                guard.uncacheable();
            }
            return false;
        }
        if !chunk.is_empty() {
            self.chunks.push(chunk.clone());
        }
        true
    }

    /// The body ended: stores the response and answers the requests waiting on it.
    pub fn finish(mut self) {
        self.settled = true;
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.pop().unwrap_or_default(),
            _ => {
                let mut body = BytesMut::with_capacity(self.len);
                for chunk in &self.chunks {
                    body.extend_from_slice(chunk);
                }
                body.freeze()
            }
        };
        let route = self.route.clone();
        let entry = Arc::new(Entry {
            key: self.key.clone(),
            status: self.status,
            headers: std::mem::take(&mut self.stored_headers),
            body,
            stored_at: SystemTime::now(),
            ttl: route.policy.ttl,
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            must_revalidate: false,
            no_cache: false,
            tags: route.policy.tags.clone(),
            vary: std::mem::take(&mut self.vary),
            variants: Vec::new(),
        });
        route.record(Event::Store);
        tracing::debug!(
            key = %entry.key,
            route = %route.policy.name,
            bytes = entry.body.len(),
            handler_ms = self.started.elapsed().as_millis() as u64,
            decision = "store",
        );
        let cleanup = self.guard.take().map(|guard| guard.complete(Arc::clone(&entry)));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = route.cache.inner.store.put(entry).await {
                        route.record(Event::StoreError);
                        tracing::warn!(%error, "cache store write failed; the response was served but not stored");
                    }
                    drop(cleanup);
                });
            }
            Err(_) => {
                tracing::warn!("no Tokio runtime to store the response on; it was served but not stored");
            }
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if !self.settled {
            self.route.record(Event::NotStored);
            tracing::debug!(key = %self.key, decision = "not-stored", reason = NotStored::Incomplete.as_str());
        }
    }
}
