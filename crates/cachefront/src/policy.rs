//! Per-route caching policy and the decisions it takes.

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, HeaderName, StatusCode, header};

use crate::{
    key::{CacheKey, KeySpec, QueryKey},
    pattern::{self, RoutePattern},
    request::RequestHead,
    rules::{self, CacheControl, HEURISTICALLY_CACHEABLE},
    strategy::{Cacheable, Strategies, TimeToLive},
};

/// What a policy does with requests that carry a credential (`Authorization` or `Cookie`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// The request bypasses the cache (the default): one user's page never reaches another.
    #[default]
    Bypass,
    /// The credential header becomes part of the key: each credential gets its own entries.
    PartOfKey,
    /// The route declares the credential irrelevant to its response: it is neither keyed nor a
    /// reason to bypass. Use only for routes whose response does not depend on who asks.
    Ignore,
}

/// What a policy does with responses that carry `Set-Cookie`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetCookie {
    /// Responses with `Set-Cookie` are not stored (the default).
    #[default]
    DoNotStore,
    /// The response is stored without its `Set-Cookie` fields; the client that caused the miss
    /// still receives them, hits never do.
    StoreWithout,
    /// The response is stored and replayed with its `Set-Cookie` fields. Every client that hits
    /// gets the same cookie: use only for cookies that are the same for everyone.
    Store,
}

/// The caching policy of a route: how long, which requests and responses, keyed how.
///
/// A policy is plain configuration; [`Cache::route`](crate::Cache::route) binds it to a cache.
/// Adapters do this for you: `cache.layer(policy)` for Tower, `cache.middleware(policy)` for
/// actix-web.
///
/// The defaults follow rules 1 to 4 of the project's [HTTP caching rules](https://github.com/cachefront/cachefront/blob/main/docs/HTTP-CACHING-RULES.md) for an application cache:
///
/// - only `GET` is stored, and `HEAD` is answered from the stored `GET`;
/// - only successful responses are stored: 200, 203, 204, 300, 301 and 308
///   ([`Policy::DEFAULT_STATUSES`]); 404 and 410 only with [`Policy::negative_ttl`], for a time
///   of their own; [`Policy::statuses`] replaces the list;
/// - requests with `Authorization` or `Cookie` bypass the cache ([`Credentials`]), as do requests
///   with a `Range` the cache does not answer from a stored `200` (see the crate docs);
/// - responses with `Set-Cookie` ([`SetCookie`]), `Cache-Control: private`, `no-store` or
///   `no-cache`, or `Vary: *` are not stored;
/// - bodies larger than 8 MiB are not stored (they stream through untouched).
///
/// Each default can be relaxed for one route, explicitly:
///
/// ```
/// use std::time::Duration;
/// use cachefront::{Credentials, Policy, QueryKey};
///
/// let policy = Policy::ttl(Duration::from_secs(60))
///     .query(QueryKey::except(["utm_source", "utm_medium"]))
///     .cookies(Credentials::Ignore) // this page is the same for everyone
///     .tag("catalog")
///     .max_body_bytes(2 * 1024 * 1024)
///     .name("/products/{id}");
/// assert_eq!(policy.time_to_live(), Duration::from_secs(60));
/// ```
///
/// In application mode ([`Policy::ttl`]) the route's TTL is the freshness lifetime: the
/// response's own `max-age` or `Expires` do not change it, but its privacy directives are obeyed.
/// In shared-cache mode ([`Policy::shared`]) the response's own headers set its lifetime, as
/// RFC 9111 describes for a shared cache.
#[derive(Clone, Debug)]
#[must_use]
pub struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) statuses: StatusSet,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) head_from_get: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) key: KeySpec,
    pub(crate) tags: Vec<Arc<str>>,
    pub(crate) authorization: Credentials,
    pub(crate) cookies: Credentials,
    pub(crate) set_cookie: SetCookie,
    pub(crate) store_private: bool,
    pub(crate) store_no_store: bool,
    pub(crate) name: Arc<str>,
    /// Whether [`Policy::name`] set the name (else the router's pattern names the route).
    pub(crate) named: bool,
    pub(crate) mode: Mode,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) heuristic: Option<rules::Heuristic>,
    pub(crate) client_directives: bool,
    pub(crate) max_variants: usize,
    pub(crate) targeted: Vec<HeaderName>,
    pub(crate) pattern: Option<Arc<RoutePattern>>,
    pub(crate) invalidates: Vec<Arc<str>>,
    pub(crate) strategies: Strategies,
    pub(crate) invalidates_paths: Vec<Arc<str>>,
    /// Shared, so that every stored response names them without a copy.
    pub(crate) tag_headers: Arc<[HeaderName]>,
    pub(crate) expose_tag_headers: bool,
    pub(crate) keep_stale: Duration,
    pub(crate) time_to_idle: Option<Duration>,
}

/// Whose rules set a stored response's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// The route's TTL is the lifetime; the response's privacy directives are obeyed.
    Application,
    /// The response's own headers set the lifetime, as a shared cache does (RFC 9111):
    /// `s-maxage` > `max-age` > `Expires`, validation, stale serving.
    Shared,
}

impl Policy {
    /// How long a shared-mode policy keeps a response past its freshness, by default, so that it
    /// can be revalidated (a 304 instead of a full response) or served to a client's `max-stale`:
    /// one hour. The store's byte bound still applies.
    pub const DEFAULT_KEEP_STALE: Duration = Duration::from_secs(3600);

    /// The default cap on variants stored side by side for one URI (see [`Policy::max_variants`]).
    pub const DEFAULT_MAX_VARIANTS: usize = 16;

    /// The default body size limit: 8 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

    /// The statuses an application-mode policy stores by default: the successful ones,
    /// 200 OK, 203 Non-Authoritative Information, 204 No Content, 300 Multiple Choices,
    /// 301 Moved Permanently and 308 Permanent Redirect. Errors are not stored unless a route
    /// asks for it: 404 and 410 with [`Policy::negative_ttl`], any list with
    /// [`Policy::statuses`].
    pub const DEFAULT_STATUSES: [StatusCode; 6] = [
        StatusCode::OK,
        StatusCode::NON_AUTHORITATIVE_INFORMATION,
        StatusCode::NO_CONTENT,
        StatusCode::MULTIPLE_CHOICES,
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::PERMANENT_REDIRECT,
    ];

    /// The statuses [`Policy::negative_ttl`] stores: 404 Not Found and 410 Gone.
    pub const NEGATIVE_STATUSES: [StatusCode; 2] = [StatusCode::NOT_FOUND, StatusCode::GONE];
}

impl Policy {
    /// A policy that keeps responses for `ttl`, with every other setting at its default.
    pub fn ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            statuses: StatusSet::from_codes(Policy::DEFAULT_STATUSES.map(|s| s.as_u16())),
            negative_ttl: None,
            head_from_get: true,
            max_body_bytes: Policy::DEFAULT_MAX_BODY_BYTES,
            key: KeySpec::default(),
            tags: Vec::new(),
            authorization: Credentials::Bypass,
            cookies: Credentials::Bypass,
            set_cookie: SetCookie::DoNotStore,
            store_private: false,
            store_no_store: false,
            name: Arc::from("default"),
            named: false,
            mode: Mode::Application,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            heuristic: None,
            client_directives: false,
            max_variants: Policy::DEFAULT_MAX_VARIANTS,
            targeted: Vec::new(),
            pattern: None,
            invalidates: Vec::new(),
            strategies: Strategies::default(),
            invalidates_paths: Vec::new(),
            tag_headers: Arc::new([
                HeaderName::from_static("cache-tag"),
                HeaderName::from_static("surrogate-key"),
            ]),
            expose_tag_headers: false,
            keep_stale: Duration::ZERO,
            time_to_idle: None,
        }
    }

    /// A policy for a write route: it stores nothing, and a successful (2xx or 3xx) unsafe
    /// request through it invalidates these tags — templates filled from the route's path
    /// parameters (see [`name`](Self::name)) — besides its own URI.
    ///
    /// ```
    /// use cachefront::Policy;
    ///
    /// let update = Policy::invalidates(["product:{id}", "catalog"]).name("/products/{id}");
    /// ```
    pub fn invalidates<I, T>(tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Arc<str>>,
    {
        Self::ttl(Duration::ZERO).invalidating(tags)
    }

    /// Adds tags (templates, as for [`tag`](Self::tag)) that a successful unsafe request through
    /// this route invalidates.
    pub fn invalidating<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Arc<str>>,
    {
        self.invalidates.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Adds paths (templates such as `/products/{id}`, on the same host) whose stored responses
    /// a successful unsafe request through this route invalidates.
    pub fn invalidating_paths<I, T>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Arc<str>>,
    {
        self.invalidates_paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// The response headers from which handlers may add tags to what is stored (default
    /// `Cache-Tag` and `Surrogate-Key`; values separated by commas or spaces).
    pub fn tag_headers<I: IntoIterator<Item = HeaderName>>(mut self, names: I) -> Self {
        self.tag_headers = names.into_iter().collect::<Vec<_>>().into();
        self
    }

    /// Whether the tag headers reach the client (default `false`: the cache removes them).
    pub fn expose_tag_headers(mut self, expose: bool) -> Self {
        self.expose_tag_headers = expose;
        self
    }

    /// Resolves tag or path templates for a request path: static ones as they are, `{param}`
    /// ones from the route pattern's parameters; templates that cannot be filled are skipped.
    pub(crate) fn resolve(&self, templates: &[Arc<str>], path: &str) -> Vec<Arc<str>> {
        if templates.iter().all(|t| !t.contains('{')) {
            return templates.to_vec();
        }
        let params = self
            .pattern
            .as_ref()
            .and_then(|pattern| pattern.params(path))
            .unwrap_or_default();
        templates
            .iter()
            .filter_map(|template| {
                if !template.contains('{') {
                    return Some(Arc::clone(template));
                }
                let filled = pattern::fill(template, &params);
                if filled.is_none() {
                    tracing::debug!(%template, path, route = %self.name, "tag template not filled: name the policy with the route pattern");
                }
                filled.map(Arc::from)
            })
            .collect()
    }

    /// A shared-cache policy (RFC 9111): what is stored and for how long is decided by each
    /// response's own headers — `s-maxage` > `max-age` > `Expires` (relative to `Date`, with
    /// `Age` accounted for) — and a response without freshness information is not stored
    /// (heuristic freshness is off unless [`heuristic_freshness`](Self::heuristic_freshness) is
    /// set). Clients' request directives (`no-cache`, `max-age`, `min-fresh`, `max-stale`,
    /// `no-store`, `only-if-cached`) are obeyed by default; see
    /// [`client_directives`](Self::client_directives).
    ///
    /// A request with `Authorization` is forwarded, and its response stored only when it is
    /// marked `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5).
    ///
    /// ```
    /// use cachefront::Policy;
    /// use http::HeaderName;
    ///
    /// let proxy = Policy::shared().targeted([HeaderName::from_static("cdn-cache-control")]);
    /// ```
    pub fn shared() -> Self {
        Self {
            mode: Mode::Shared,
            // RFC 9111 §4.2.2: the heuristically cacheable statuses (RFC 9110 §15.1), which
            // include 404, 405, 410, 414 and 501, are stored with their own freshness.
            statuses: StatusSet::from_codes(HEURISTICALLY_CACHEABLE),
            client_directives: true,
            keep_stale: Policy::DEFAULT_KEEP_STALE,
            ..Self::ttl(Duration::ZERO)
        }
    }

    /// How long a response is kept past its freshness (beyond its stale windows) so that it can
    /// be revalidated with the handler (`If-None-Match` / `If-Modified-Since`, a 304 instead of
    /// a full response) or served to a client's `max-stale`. Default: one hour in shared mode,
    /// zero in application mode.
    pub fn keep_stale(mut self, window: Duration) -> Self {
        self.keep_stale = window;
        self
    }

    /// Sliding expiry: a stored response also goes when it has not been read for `idle`
    /// (time-to-idle), never later than its TTL. Default: none.
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.time_to_idle = Some(idle);
        self
    }

    /// Whose rules set the lifetime: [`Mode::Application`] for [`Policy::ttl`],
    /// [`Mode::Shared`] for [`Policy::shared`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How long past its freshness a response may be served while one background request
    /// refreshes it (RFC 5861 `stale-while-revalidate`). In shared mode a response's own
    /// `stale-while-revalidate` takes precedence. Default: zero.
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// How long past its freshness a response may be served when the handler fails with 500,
    /// 502, 503 or 504 or an error (RFC 5861 `stale-if-error`). In shared mode a response's
    /// own `stale-if-error` takes precedence. Default: zero.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Shared mode: give responses without explicit freshness but with `Last-Modified` a
    /// heuristic lifetime (RFC 9111 §4.2.2) of a fraction of the time between `Last-Modified`
    /// and `Date` (10% unless [`heuristic_fraction`](Self::heuristic_fraction) says otherwise),
    /// at most `cap`. It applies to the heuristically cacheable statuses
    /// ([`HEURISTICALLY_CACHEABLE`]) and to responses marked `public`; `Cache-Status`'s `ttl`
    /// counts down from it like from any other lifetime. Off by default: a response that says
    /// nothing about its freshness is not stored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::Policy;
    ///
    /// // A page last modified 10 days ago is fresh for a day (10%, capped at a day).
    /// let cdn = Policy::shared().heuristic_freshness(Duration::from_secs(86_400));
    /// ```
    pub fn heuristic_freshness(mut self, cap: Duration) -> Self {
        let fraction = self
            .heuristic
            .map_or(rules::Heuristic::DEFAULT_FRACTION, |h| h.fraction);
        self.heuristic = Some(rules::Heuristic { fraction, cap });
        self
    }

    /// Shared mode: the fraction of the time since `Last-Modified` that heuristic freshness
    /// gives (see [`heuristic_freshness`](Self::heuristic_freshness)), between 0 and 1 (a value
    /// outside is clamped; `NaN` reads as 0). Turns heuristic freshness on, capped at one day
    /// unless a cap is set. Default: 0.1, as RFC 9111 §4.2.2 suggests.
    pub fn heuristic_fraction(mut self, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let cap = self.heuristic.map_or(rules::Heuristic::DEFAULT_CAP, |h| h.cap);
        self.heuristic = Some(rules::Heuristic { fraction, cap });
        self
    }

    /// Whether clients' request directives may bypass or refresh the cache: `no-cache`,
    /// `Pragma: no-cache`, `max-age`, `min-fresh` and `no-store`. On by default in shared mode,
    /// off in application mode (a public application may not want any client to bust its
    /// cache). `only-if-cached`, `max-stale` and `stale-if-error` are always obeyed.
    pub fn client_directives(mut self, obey: bool) -> Self {
        self.client_directives = obey;
        self
    }

    /// The most variants of one URI (responses with `Vary`) stored side by side; the oldest
    /// goes when a new one arrives. Default: 16. Bounds what a client can make the cache hold by
    /// sending many values of a varied header; each instance enforces it on what it stores.
    pub fn max_variants(mut self, max: usize) -> Self {
        self.max_variants = max.max(1);
        self
    }

    /// Targeted cache-control fields (RFC 9213), most specific first, e.g.
    /// `CDN-Cache-Control`: the first one present and valid replaces `Cache-Control` and
    /// `Expires` for this cache. They are passed on downstream untouched.
    pub fn targeted<I: IntoIterator<Item = HeaderName>>(mut self, fields: I) -> Self {
        self.targeted = fields.into_iter().collect();
        self
    }

    /// The freshness lifetime of stored responses.
    pub fn time_to_live(&self) -> Duration {
        self.ttl
    }

    /// Names the route in stats and logs, overriding the name taken from the router.
    ///
    /// Without it, a route is named after the pattern the router matched, as the adapter reads
    /// it from the request: axum's [`MatchedPath`](https://docs.rs/axum/0.8/axum/extract/struct.MatchedPath.html)
    /// (`"/products/{id}"`), actix-web's `HttpRequest::match_pattern`; a request that matched
    /// no pattern (or an adapter that knows none) goes under `"default"`. So one layer on a
    /// whole router counts each route apart, and tag templates (`product:{id}`) take their
    /// values from the route that served the request.
    ///
    /// Set a name when the router's pattern is not the right one, e.g. a fallback handler.
    /// Use a pattern, never a raw path, to keep the number of names bounded. A name with
    /// `{param}` segments is also the pattern tag templates are filled from.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.named = true;
        self.name = name.into();
        self.pattern = RoutePattern::parse(&self.name).map(Arc::new);
        self
    }

    /// The route's name in stats and logs.
    pub fn route_name(&self) -> &str {
        &self.name
    }

    /// Lets the application veto storing a response the HTTP rules and the status list allow:
    /// a [`Cacheable`] predicate, e.g. a closure `|status, headers| ...`. A refused response
    /// streams through with `detail=predicate`.
    pub fn cacheable(mut self, predicate: impl Cacheable) -> Self {
        self.strategies.cacheable = Some(Arc::new(predicate));
        self
    }

    /// Sets the freshness lifetime per response in application mode: a [`TimeToLive`], e.g. a
    /// closure `|status, headers| Some(duration)`, `None` keeping [`Policy::ttl`]'s. Not asked in
    /// shared mode, where the response's own freshness decides.
    pub fn ttl_for(mut self, ttl: impl TimeToLive) -> Self {
        self.strategies.time_to_live = Some(Arc::new(ttl));
        self
    }

    /// Replaces the set of statuses whose responses are stored (default
    /// [`Policy::DEFAULT_STATUSES`] for [`Policy::ttl`], the heuristically cacheable statuses of
    /// RFC 9110 §15.1 for [`Policy::shared`]). A listed status is stored for the route's full
    /// TTL; for 404 and 410 with a shorter time of their own, use [`Policy::negative_ttl`].
    pub fn statuses<I: IntoIterator<Item = StatusCode>>(mut self, statuses: I) -> Self {
        self.statuses = StatusSet::from_codes(statuses.into_iter().map(|s| s.as_u16()));
        self
    }

    /// Negative caching: also store 404 Not Found and 410 Gone responses
    /// ([`Policy::NEGATIVE_STATUSES`]), for `ttl` instead of the route's TTL. Off by default, so
    /// that a page that did not exist yet is not hidden for the route's full TTL once it does.
    /// Application mode only: in shared mode a 404's own freshness (or heuristic freshness)
    /// decides, as for any status.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::Policy;
    /// use http::{HeaderMap, StatusCode};
    ///
    /// let policy = Policy::ttl(Duration::from_secs(300)).negative_ttl(Duration::from_secs(5));
    /// let headers = HeaderMap::new();
    /// assert_eq!(policy.check_response(StatusCode::OK, &headers), Ok(Duration::from_secs(300)));
    /// assert_eq!(policy.check_response(StatusCode::NOT_FOUND, &headers), Ok(Duration::from_secs(5)));
    /// assert!(Policy::ttl(Duration::from_secs(300)).check_response(StatusCode::NOT_FOUND, &headers).is_err());
    /// ```
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Whether `HEAD` requests are answered from the stored `GET` response (default `true`).
    pub fn head_from_get(mut self, enabled: bool) -> Self {
        self.head_from_get = enabled;
        self
    }

    /// Responses with bodies larger than this are not stored; they stream through (default
    /// 8 MiB).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Replaces how keys are built.
    pub fn key(mut self, key: KeySpec) -> Self {
        self.key = key;
        self
    }

    /// Which query parameters take part in the key.
    pub fn query(mut self, query: QueryKey) -> Self {
        self.key = self.key.query(query);
        self
    }

    /// Adds a request header to the key.
    pub fn key_header(mut self, name: http::HeaderName) -> Self {
        self.key = self.key.header(name);
        self
    }

    /// Adds a tag to every response stored by this route (for invalidation by tag). A tag may be
    /// a template filled from the route's path parameters, e.g. `product:{id}` with the policy
    /// named `/products/{id}`.
    pub fn tag(mut self, tag: impl Into<Arc<str>>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// What to do with requests that carry `Authorization` (default: bypass).
    pub fn authorization(mut self, rule: Credentials) -> Self {
        self.authorization = rule;
        self
    }

    /// What to do with requests that carry `Cookie` (default: bypass).
    pub fn cookies(mut self, rule: Credentials) -> Self {
        self.cookies = rule;
        self
    }

    /// What to do with responses that carry `Set-Cookie` (default: do not store).
    pub fn set_cookie(mut self, rule: SetCookie) -> Self {
        self.set_cookie = rule;
        self
    }

    /// Store responses marked `Cache-Control: private` (default `false`). Only for routes whose
    /// key already separates users (e.g. [`Credentials::PartOfKey`]).
    pub fn store_private(mut self, enabled: bool) -> Self {
        self.store_private = enabled;
        self
    }

    /// Store responses marked `Cache-Control: no-store` or `no-cache` (default `false`): the
    /// route's TTL then overrides what the handler said.
    pub fn store_no_store(mut self, enabled: bool) -> Self {
        self.store_no_store = enabled;
        self
    }

    /// Whether the cache may answer `request` under this policy, without touching a store: the
    /// key it would use, or why it bypasses. The same decision the flow takes first on every
    /// request; useful to explain a bypass, and measured by the `policy/` benchmarks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::{Bypass, Policy};
    ///
    /// let policy = Policy::ttl(Duration::from_secs(60));
    /// let anonymous = http::Request::get("/news").body(()).unwrap();
    /// assert!(policy.check_request(&anonymous).is_ok());
    /// let signed_in = http::Request::get("/news").header("cookie", "sid=1").body(()).unwrap();
    /// assert_eq!(policy.check_request(&signed_in).unwrap_err(), Bypass::Cookie);
    /// ```
    pub fn check_request<R: RequestHead>(&self, request: &R) -> Result<CacheKey, Bypass> {
        self.admit_request(request)
            .map(|admission| self.key.build_with(request, admission.keyed()))
    }

    /// Whether a response with this status and these headers, received now, would be stored
    /// under this policy, and if so for how long it would be fresh. The same decision the flow
    /// takes when a handler answers (the body's size is taken from `Content-Length`, if any).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::{NotStored, Policy};
    /// use http::{HeaderMap, StatusCode};
    ///
    /// let policy = Policy::shared();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("cache-control", "public, max-age=120".parse().unwrap());
    /// assert_eq!(policy.check_response(StatusCode::OK, &headers), Ok(Duration::from_secs(120)));
    /// headers.insert("cache-control", "private".parse().unwrap());
    /// assert_eq!(policy.check_response(StatusCode::OK, &headers), Err(NotStored::Private));
    /// ```
    pub fn check_response(&self, status: StatusCode, headers: &HeaderMap) -> Result<Duration, NotStored> {
        self.admit_response(status, headers, None, &Exchange::now())
            .map(|storable| storable.ttl)
    }

    /// Decides whether a request may use the cache, and builds its key.
    pub(crate) fn admit_request<R: RequestHead>(&self, request: &R) -> Result<RequestAdmission, Bypass> {
        let head = match request.method() {
            "GET" => false,
            "HEAD" if self.head_from_get => true,
            _ => return Err(Bypass::Method),
        };
        let mut keyed: [&'static HeaderName; 2] = [&header::AUTHORIZATION, &header::COOKIE];
        let mut n = 0;
        let mut authorized = false;
        for (rule, name, reason) in [
            (self.authorization, &header::AUTHORIZATION, Bypass::Authorization),
            (self.cookies, &header::COOKIE, Bypass::Cookie),
        ] {
            if request.contains_header(name) {
                match rule {
                    // RFC 9111 §3.5: a shared cache forwards, and may store only what the
                    // origin marked as shareable.
                    Credentials::Bypass if self.mode == Mode::Shared && reason == Bypass::Authorization => {
                        authorized = true;
                    }
                    Credentials::Bypass => return Err(reason),
                    Credentials::PartOfKey => {
                        keyed[n] = name;
                        n += 1;
                    }
                    Credentials::Ignore => {}
                }
            }
        }
        if rules::has_precondition(|name| request.contains_header(name)) {
            return Err(Bypass::Precondition);
        }
        Ok(RequestAdmission {
            keyed: (keyed, n),
            head,
            authorized,
            directives: self.request_directives(request),
        })
    }

    /// The key of an admitted request, its readable form written into `text` (see
    /// [`KeySpec::build_in`]).
    pub(crate) fn request_key<R: RequestHead>(
        &self,
        request: &R,
        admission: &RequestAdmission,
        text: String,
    ) -> CacheKey {
        self.key.build_in(request, admission.keyed(), text)
    }

    /// The request's cache directives this policy obeys.
    fn request_directives<R: RequestHead>(&self, request: &R) -> CacheControl {
        let mut cc = CacheControl::default();
        let mut present = false;
        request.for_each_header_value(&header::CACHE_CONTROL, &mut |line| {
            present = true;
            cc.parse_line(line);
        });
        if !present {
            // `Pragma: no-cache` counts only without `Cache-Control` (RFC 9111 §5.4).
            request.for_each_header_value(&header::PRAGMA, &mut |line| {
                if rules::pragma_no_cache(line) {
                    cc.no_cache = true;
                }
            });
        }
        if !self.client_directives {
            cc.no_cache = false;
            cc.no_store = false;
            cc.max_age = None;
            cc.min_fresh = None;
        }
        cc
    }

    /// Decides whether a response may be stored, and how (docs/HTTP-CACHING-RULES.md 1–4, 6, 11).
    ///
    /// `body_size` is the body's exact size when known from elsewhere than `Content-Length`.
    pub(crate) fn admit_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body_size: Option<u64>,
        exchange: &Exchange,
    ) -> Result<Storable, NotStored> {
        let shared = self.mode == Mode::Shared;
        let targeted = self.targeted.iter().find_map(|name| {
            headers
                .get(name)
                .and_then(|v| CacheControl::from_targeted(v.as_bytes()))
        });
        let is_targeted = targeted.is_some();
        let cc = targeted.unwrap_or_else(|| CacheControl::from_headers(headers));
        let understood = rules::understood_status(status.as_u16());
        if !self.stores_status(status, &cc, headers, understood) {
            return Err(NotStored::Status);
        }
        // Application mode: the route's TTL (a negative response's own, with `negative_ttl`),
        // or the policy's `TimeToLive` for this response.
        let app_ttl = if shared {
            Duration::ZERO
        } else {
            let ttl = self.negative_lifetime(status).unwrap_or(self.ttl);
            self.strategies.lifetime(status, headers, ttl)
        };
        if !shared && app_ttl.is_zero() {
            return Err(NotStored::ZeroTtl);
        }
        if exchange.request_no_store {
            return Err(NotStored::NoStore);
        }
        if !self.store_no_store {
            // `must-understand` overrides `no-store` for a status the cache understands.
            if rules::forbids_storing(&cc, understood) {
                return Err(NotStored::NoStore);
            }
            if cc.no_cache && !shared {
                return Err(NotStored::NoCache);
            }
        }
        if cc.private && !self.store_private {
            return Err(NotStored::Private);
        }
        if exchange.authorized && !rules::shareable_when_authorized(&cc) {
            return Err(NotStored::Authorization);
        }
        let vary = rules::vary_names(headers).map_err(|()| NotStored::VaryStar)?;
        let mut strip = Vec::new();
        match (headers.contains_key(header::SET_COOKIE), self.set_cookie) {
            (false, _) | (true, SetCookie::Store) => {}
            (true, SetCookie::StoreWithout) => strip.push(header::SET_COOKIE),
            (true, SetCookie::DoNotStore) => return Err(NotStored::SetCookie),
        }
        // Fields a shared cache must not reuse (RFC 9111 §5.2.2.4, §5.2.2.7).
        strip.extend(cc.no_cache_fields.iter().cloned());
        if !self.store_private {
            strip.extend(cc.private_fields.iter().cloned());
        }
        // Tag headers are for this cache alone, unless the policy exposes them.
        let hidden = (!self.expose_tag_headers).then(|| Arc::clone(&self.tag_headers));
        if let Some(length) = body_size.or_else(|| rules::content_length(headers))
            && length > self.max_body_bytes as u64
        {
            return Err(NotStored::TooLarge);
        }
        if !self.strategies.allows(status, headers) {
            return Err(NotStored::Predicate);
        }
        // RFC 9111 §4.2.4: must-revalidate, proxy-revalidate, s-maxage (this is a shared cache)
        // and no-cache forbid serving the response stale. The route's default stale windows are
        // then not applied; the origin's own RFC 5861 directives, its explicit permission, are.
        let must_revalidate = rules::must_revalidate(&cc);
        let forbids_stale = must_revalidate || (shared && cc.no_cache);
        let policy_window = |window: Duration| if forbids_stale { Duration::ZERO } else { window };
        let window = |directive: Option<u64>, policy: Duration| {
            directive.map_or(policy_window(policy), Duration::from_secs)
        };
        let storable = if shared {
            let has_validator = rules::has_validator(headers);
            let ttl = rules::freshness_lifetime(
                &cc,
                headers,
                is_targeted,
                status.as_u16(),
                self.heuristic,
                exchange.response_time,
            )
            .or_else(|| (cc.no_cache && has_validator).then_some(Duration::ZERO))
            .ok_or(NotStored::NoFreshness)?;
            Storable {
                vary,
                strip,
                hidden: hidden.clone(),
                ttl,
                initial_age: rules::corrected_initial_age(
                    headers,
                    exchange.request_time,
                    exchange.response_time,
                ),
                stale_while_revalidate: window(cc.stale_while_revalidate, self.stale_while_revalidate),
                stale_if_error: window(cc.stale_if_error, self.stale_if_error),
                must_revalidate,
                no_cache: cc.no_cache,
            }
        } else {
            Storable {
                vary,
                strip,
                hidden: hidden.clone(),
                ttl: app_ttl,
                initial_age: Duration::ZERO,
                // The route's TTL replaces the response's freshness, but not its ban on
                // serving stale.
                stale_while_revalidate: policy_window(self.stale_while_revalidate),
                stale_if_error: policy_window(self.stale_if_error),
                must_revalidate,
                no_cache: false,
            }
        };
        Ok(storable)
    }
}

impl Policy {
    /// The lifetime [`Policy::negative_ttl`] gives this status in application mode, if any.
    fn negative_lifetime(&self, status: StatusCode) -> Option<Duration> {
        let ttl = self.negative_ttl.filter(|_| self.mode == Mode::Application)?;
        Policy::NEGATIVE_STATUSES.contains(&status).then_some(ttl)
    }

    /// Whether a response's status allows storing it (RFC 9111 §3): a status of the policy's
    /// list, or, in shared mode, any final status (including codes this cache does not know,
    /// such as 299 or 599) when the response has explicit freshness or is marked `public`.
    /// `must-understand` limits that to the statuses the cache understands; 206 and 304 are
    /// never stored as they are.
    fn stores_status(
        &self,
        status: StatusCode,
        cc: &CacheControl,
        headers: &HeaderMap,
        understood: bool,
    ) -> bool {
        let code = status.as_u16();
        if self.statuses.contains(code) || self.negative_lifetime(status).is_some() {
            return true;
        }
        self.mode == Mode::Shared
            && (rules::has_explicit_freshness(cc, headers) || cc.public)
            && rules::storable_status(code, cc, understood)
    }
}

/// The facts of one request/response exchange that storing depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    pub(crate) request_time: std::time::SystemTime,
    pub(crate) response_time: std::time::SystemTime,
    /// The request carried `Authorization` and was admitted under RFC 9111 §3.5.
    pub(crate) authorized: bool,
    /// The request said `no-store` (and the policy obeys client directives).
    pub(crate) request_no_store: bool,
}

impl Exchange {
    /// An exchange whose request and response are both now, for requests without credentials.
    pub(crate) fn now() -> Self {
        let now = std::time::SystemTime::now();
        Self {
            request_time: now,
            response_time: now,
            authorized: false,
            request_no_store: false,
        }
    }
}

/// A request the cache may answer.
#[derive(Debug)]
pub(crate) struct RequestAdmission {
    /// The credential headers the key includes ([`Credentials::PartOfKey`]).
    keyed: ([&'static HeaderName; 2], usize),
    /// A `HEAD` request, answered from the stored `GET` and never stored itself.
    pub(crate) head: bool,
    /// Shared mode, request with `Authorization`: forwarded, stored only if shareable.
    pub(crate) authorized: bool,
    /// The request's directives, as far as the policy obeys them.
    pub(crate) directives: CacheControl,
}

impl RequestAdmission {
    /// The credential headers the key includes.
    fn keyed(&self) -> &[&'static HeaderName] {
        &self.keyed.0[..self.keyed.1]
    }
}

/// A response that may be stored.
#[derive(Debug)]
pub(crate) struct Storable {
    pub(crate) vary: Vec<http::HeaderName>,
    /// Fields of this response not to store (`Set-Cookie` when stripped, `private=`/`no-cache=`
    /// fields); usually none, so no allocation.
    pub(crate) strip: Vec<HeaderName>,
    /// The policy's tag headers, when it does not expose them: not stored either.
    pub(crate) hidden: Option<Arc<[HeaderName]>>,
    pub(crate) ttl: Duration,
    pub(crate) initial_age: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) must_revalidate: bool,
    pub(crate) no_cache: bool,
}

impl Storable {
    /// The fields of a response head that may be stored: the one decision, taken for a full
    /// response and for a 304 merged into a stored response alike. Without hop-by-hop fields,
    /// the fields `Connection` names, `Proxy-*`, `Age` (RFC 9111 §3.1), the fields named by
    /// `private="..."` and `no-cache="..."` (§5.2.2.7, §5.2.2.4), `Set-Cookie` under
    /// [`SetCookie::StoreWithout`], and the tag headers unless the policy exposes them.
    pub(crate) fn stored_headers(&self, headers: &HeaderMap) -> HeaderMap {
        rules::storable_headers(headers, &self.strip, self.hidden.as_deref().unwrap_or_default())
    }

    /// Copies the lifetime settings onto an entry.
    pub(crate) fn apply(&self, entry: &mut crate::entry::Entry, policy: &Policy) {
        entry.ttl = self.ttl;
        entry.initial_age = self.initial_age;
        entry.stale_while_revalidate = self.stale_while_revalidate;
        entry.stale_if_error = self.stale_if_error;
        entry.must_revalidate = self.must_revalidate;
        entry.no_cache = self.no_cache;
        entry.keep_stale = policy.keep_stale;
        entry.time_to_idle = policy.time_to_idle;
    }
}

/// Why a request did not use the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Bypass {
    /// The method is not cacheable (anything but `GET`, and `HEAD` when answered from `GET`).
    Method,
    /// The request carries `Authorization`.
    Authorization,
    /// The request carries `Cookie`.
    Cookie,
    /// The request asks for a range the cache does not answer from a stored response: several
    /// ranges, another unit, or nothing usable stored (partial content is never stored).
    Range,
    /// The request carries `If-Match` or `If-Unmodified-Since`: a precondition only the origin
    /// can evaluate (RFC 9111 §4.3.2).
    Precondition,
}

impl Bypass {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Method,
        Self::Authorization,
        Self::Cookie,
        Self::Range,
        Self::Precondition,
    ];

    /// The reason as a short token, used in `Cache-Status`'s `detail`, logs and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Authorization => "authorization",
            Self::Cookie => "cookie",
            Self::Range => "range",
            Self::Precondition => "precondition",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why a forwarded response was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotStored {
    /// The status is not in the policy's cacheable set.
    Status,
    /// The policy's TTL is zero.
    ZeroTtl,
    /// `Cache-Control: no-store`.
    NoStore,
    /// `Cache-Control: no-cache` (it would need revalidation on every use).
    NoCache,
    /// `Cache-Control: private`.
    Private,
    /// `Vary: *`.
    VaryStar,
    /// The response sets a cookie.
    SetCookie,
    /// The body is larger than the policy's limit.
    TooLarge,
    /// The response answered a `HEAD` request (only `GET` responses are stored).
    Head,
    /// Shared mode: no freshness information (no `s-maxage`, `max-age` or `Expires`).
    NoFreshness,
    /// Shared mode: a response to a request with `Authorization`, not marked shareable.
    Authorization,
    /// The body ended with an error or trailers, or the client went away before it ended.
    Incomplete,
    /// A 304 whose validators do not match the stored response the cache revalidated (RFC 9111
    /// §4.3.4: a different strong `ETag`, a weak `ETag` that does not match, another
    /// `Last-Modified`, or no validator where the stored response has an `ETag`). The 304
    /// updates nothing; the client gets it as the handler sent it, the requests waiting on it
    /// go to the handler, and the stored response is removed (before the client has the 304),
    /// so that the next request fetches a full response.
    ValidatorMismatch,
    /// The policy's [`Cacheable`] predicate refused it.
    Predicate,
}

impl NotStored {
    /// Whether the response itself forbids keeping any stored copy of it: `no-store`,
    /// `private` (in a shared cache) or `Vary: *`. A 304 or `HEAD` response that says so ends
    /// the stored response it updates; one unstorable only by the policy's choice (a
    /// `Set-Cookie`, a size limit) leaves it to be revalidated again.
    pub(crate) fn forbids_keeping(self) -> bool {
        matches!(self, Self::NoStore | Self::Private | Self::VaryStar)
    }

    /// The reason as a short token, used in `Cache-Status`'s `detail` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ZeroTtl => "zero-ttl",
            Self::NoStore => "no-store",
            Self::NoCache => "no-cache",
            Self::Private => "private",
            Self::VaryStar => "vary-star",
            Self::SetCookie => "set-cookie",
            Self::TooLarge => "too-large",
            Self::Head => "head",
            Self::NoFreshness => "no-freshness",
            Self::Authorization => "authorization",
            Self::Incomplete => "incomplete",
            Self::ValidatorMismatch => "validator-mismatch",
            Self::Predicate => "predicate",
        }
    }
}

/// A set of status codes, as a bitmap over 100..=999.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    fn from_codes<I: IntoIterator<Item = u16>>(codes: I) -> Self {
        let mut bits = [0u64; 16];
        for code in codes {
            let code = usize::from(code.min(1023));
            bits[code / 64] |= 1 << (code % 64);
        }
        Self(bits)
    }

    pub(crate) fn contains(&self, code: u16) -> bool {
        let code = usize::from(code.min(1023));
        self.0[code / 64] & (1 << (code % 64)) != 0
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((100..1000).filter(|c| self.contains(*c)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy() -> Policy {
        Policy::ttl(Duration::from_secs(30))
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri("http://h/p");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    fn resp(headers: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in headers {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn get_and_head_are_admitted_other_methods_bypass() {
        assert!(!policy().admit_request(&req("GET", &[])).unwrap().head);
        assert!(policy().admit_request(&req("HEAD", &[])).unwrap().head);
        for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
            assert_eq!(policy().admit_request(&req(m, &[])).unwrap_err(), Bypass::Method);
        }
        assert_eq!(
            policy()
                .head_from_get(false)
                .admit_request(&req("HEAD", &[]))
                .unwrap_err(),
            Bypass::Method
        );
    }

    #[test]
    fn credentials_bypass_by_default() {
        let auth = req("GET", &[("authorization", "Bearer x")]);
        let cookie = req("GET", &[("cookie", "sid=1")]);
        assert_eq!(policy().admit_request(&auth).unwrap_err(), Bypass::Authorization);
        assert_eq!(policy().admit_request(&cookie).unwrap_err(), Bypass::Cookie);
        // A range is the cache's to answer from a stored 200 (see `range`): admitted.
        assert!(
            policy()
                .admit_request(&req("GET", &[("range", "bytes=0-1")]))
                .is_ok()
        );
    }

    #[test]
    fn credentials_can_be_keyed_or_ignored() {
        let keyed = policy().cookies(Credentials::PartOfKey);
        let a = keyed.check_request(&req("GET", &[("cookie", "sid=1")])).unwrap();
        let b = keyed.check_request(&req("GET", &[("cookie", "sid=2")])).unwrap();
        assert_ne!(a, b);
        let ignored = policy()
            .cookies(Credentials::Ignore)
            .authorization(Credentials::Ignore);
        let a = ignored
            .check_request(&req("GET", &[("cookie", "sid=1"), ("authorization", "x")]))
            .unwrap();
        let b = ignored.check_request(&req("GET", &[])).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn shared_mode_stores_any_final_status_with_explicit_freshness() {
        let shared = Policy::shared();
        let admit = |p: &Policy, code: u16, cc: &str| {
            p.admit_response(
                StatusCode::from_u16(code).unwrap(),
                &resp(&[("cache-control", cc)]),
                None,
                &Exchange::now(),
            )
        };
        // Codes the cache does not know are stored when the response says how long.
        for code in [299, 418, 499, 599] {
            assert!(admit(&shared, code, "max-age=60").is_ok(), "{code}");
            assert!(admit(&shared, code, "s-maxage=60").is_ok(), "{code}");
            // ... unless it asks to be understood (RFC 9111 §5.2.2.3).
            assert_eq!(
                admit(&shared, code, "max-age=60, must-understand").unwrap_err(),
                NotStored::Status,
                "{code}"
            );
        }
        assert!(admit(&shared, 500, "max-age=60, must-understand").is_ok());
        // Not final, or never stored as such.
        for code in [101, 103, 206, 304] {
            assert_eq!(
                admit(&shared, code, "max-age=60").unwrap_err(),
                NotStored::Status,
                "{code}"
            );
        }
        // Without freshness information an unknown code has nothing to be stored for.
        assert_eq!(admit(&shared, 299, "public").unwrap_err(), NotStored::NoFreshness);
        assert_eq!(
            admit(&shared, 299, "no-transform").unwrap_err(),
            NotStored::Status
        );
        // Application mode stores the policy's statuses only.
        let application = Policy::ttl(Duration::from_secs(60));
        assert_eq!(
            admit(&application, 299, "max-age=60").unwrap_err(),
            NotStored::Status
        );
    }

    #[test]
    fn the_heuristic_fraction_and_cap_are_configurable() {
        let last_modified =
            httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(100_000));
        let ttl = |p: Policy| {
            p.admit_response(
                StatusCode::OK,
                &resp(&[("last-modified", &last_modified)]),
                None,
                &Exchange::now(),
            )
            .map(|storable| storable.ttl.as_secs())
        };
        assert_eq!(
            ttl(Policy::shared()).unwrap_err(),
            NotStored::NoFreshness,
            "off by default"
        );
        let cap = Duration::from_secs(86_400);
        assert!((9_999..=10_000).contains(&ttl(Policy::shared().heuristic_freshness(cap)).unwrap()));
        let half = ttl(Policy::shared().heuristic_fraction(0.5)).unwrap();
        assert!((49_999..=50_000).contains(&half), "{half}");
        let capped = Policy::shared()
            .heuristic_fraction(0.5)
            .heuristic_freshness(Duration::from_secs(60));
        assert_eq!(ttl(capped).unwrap(), 60);
        // The fraction alone caps at a day; out-of-range fractions are clamped.
        assert_eq!(ttl(Policy::shared().heuristic_fraction(7.0)).unwrap(), 86_400);
        assert_eq!(ttl(Policy::shared().heuristic_fraction(f64::NAN)).unwrap(), 0);
    }

    #[test]
    fn application_mode_stores_successful_statuses_and_negative_ones_only_when_asked() {
        let admit = |p: &Policy, code: u16| {
            p.admit_response(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                None,
                &Exchange::now(),
            )
            .map(|storable| storable.ttl.as_secs())
        };
        let p = policy();
        for ok in [200, 203, 204, 300, 301, 308] {
            assert_eq!(admit(&p, ok), Ok(30), "{ok}");
        }
        for no in [201, 206, 302, 304, 400, 404, 405, 410, 414, 500, 501, 503] {
            assert_eq!(admit(&p, no), Err(NotStored::Status), "{no}");
        }
        // Negative caching: 404 and 410 for their own time, nothing else added.
        let negative = policy().negative_ttl(Duration::from_secs(5));
        assert_eq!(admit(&negative, 404), Ok(5));
        assert_eq!(admit(&negative, 410), Ok(5));
        assert_eq!(admit(&negative, 200), Ok(30));
        for no in [405, 414, 500, 501] {
            assert_eq!(admit(&negative, no), Err(NotStored::Status), "{no}");
        }
        // A zero negative TTL stores nothing, as a zero route TTL does.
        assert_eq!(
            admit(&policy().negative_ttl(Duration::ZERO), 404),
            Err(NotStored::ZeroTtl)
        );
        // An explicit list replaces the default; negative_ttl still times a listed 404.
        let only_ok = policy().statuses([StatusCode::OK, StatusCode::CREATED]);
        assert_eq!(admit(&only_ok, 201), Ok(30));
        assert_eq!(admit(&only_ok, 404), Err(NotStored::Status));
        let listed = policy()
            .statuses([StatusCode::NOT_FOUND])
            .negative_ttl(Duration::from_secs(7));
        assert_eq!(admit(&listed, 404), Ok(7));
        // Shared mode keeps RFC 9111's heuristically cacheable statuses, negative_ttl or not.
        let shared = Policy::shared()
            .heuristic_freshness(Duration::from_secs(60))
            .negative_ttl(Duration::from_secs(5));
        let last_modified = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(100));
        let fresh = shared
            .admit_response(
                StatusCode::NOT_FOUND,
                &resp(&[("last-modified", &last_modified)]),
                None,
                &Exchange::now(),
            )
            .map(|s| s.ttl.as_secs());
        assert!(matches!(fresh, Ok(9 | 10)), "{fresh:?}");
    }

    #[test]
    fn privacy_defaults_and_opt_outs() {
        let p = policy();
        let ok = StatusCode::OK;
        assert_eq!(
            p.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None, &Exchange::now())
                .unwrap_err(),
            NotStored::SetCookie
        );
        assert_eq!(
            p.admit_response(ok, &resp(&[("cache-control", "private")]), None, &Exchange::now())
                .unwrap_err(),
            NotStored::Private
        );
        assert_eq!(
            p.admit_response(
                ok,
                &resp(&[("cache-control", "max-age=5, no-store")]),
                None,
                &Exchange::now()
            )
            .unwrap_err(),
            NotStored::NoStore
        );
        assert_eq!(
            p.admit_response(ok, &resp(&[("vary", "accept, *")]), None, &Exchange::now())
                .unwrap_err(),
            NotStored::VaryStar
        );

        let s = policy().set_cookie(SetCookie::StoreWithout);
        assert!(
            s.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None, &Exchange::now())
                .unwrap()
                .strip
                .contains(&header::SET_COOKIE)
        );
        let s = policy().set_cookie(SetCookie::Store);
        assert!(
            !s.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None, &Exchange::now())
                .unwrap()
                .strip
                .contains(&header::SET_COOKIE)
        );
        assert!(
            policy()
                .store_private(true)
                .admit_response(ok, &resp(&[("cache-control", "private")]), None, &Exchange::now())
                .is_ok()
        );
        assert!(
            policy()
                .store_no_store(true)
                .admit_response(
                    ok,
                    &resp(&[("cache-control", "no-store")]),
                    None,
                    &Exchange::now()
                )
                .is_ok()
        );
        // Vary: * is never stored, whatever else is relaxed.
        let relaxed = policy()
            .store_no_store(true)
            .store_private(true)
            .set_cookie(SetCookie::Store);
        assert!(
            relaxed
                .admit_response(ok, &resp(&[("vary", "*")]), None, &Exchange::now())
                .is_err()
        );
    }

    #[test]
    fn declared_length_over_the_limit_is_not_stored() {
        let p = policy().max_body_bytes(10);
        assert_eq!(
            p.admit_response(
                StatusCode::OK,
                &resp(&[("content-length", "11")]),
                None,
                &Exchange::now()
            )
            .unwrap_err(),
            NotStored::TooLarge
        );
        assert!(
            p.admit_response(
                StatusCode::OK,
                &resp(&[("content-length", "10")]),
                None,
                &Exchange::now()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_known_body_size_over_the_limit_is_not_stored() {
        let p = policy().max_body_bytes(10);
        assert_eq!(
            p.admit_response(StatusCode::OK, &HeaderMap::new(), Some(11), &Exchange::now())
                .unwrap_err(),
            NotStored::TooLarge
        );
        assert!(
            p.admit_response(StatusCode::OK, &HeaderMap::new(), Some(10), &Exchange::now())
                .is_ok()
        );
    }

    #[test]
    fn the_policys_stale_windows_never_apply_to_responses_that_forbid_stale() {
        // RFC 9111 §4.2.4: must-revalidate, proxy-revalidate, s-maxage (a shared cache) and
        // no-cache forbid serving stale; the route's own windows must not override them.
        let windows = |policy: Policy| {
            policy
                .stale_while_revalidate(Duration::from_secs(30))
                .stale_if_error(Duration::from_secs(300))
        };
        let forbidding: [(&str, bool); 5] = [
            ("max-age=60, must-revalidate", true),
            ("max-age=60, proxy-revalidate", true),
            ("s-maxage=60", true),
            ("max-age=60, s-maxage=60, public", true),
            ("max-age=60, no-cache", false),
        ];
        for (mode, policy) in [
            ("shared", windows(Policy::shared())),
            ("application", windows(policy())),
        ] {
            for (directives, in_application_mode) in forbidding {
                if mode == "application" && !in_application_mode {
                    continue; // not stored at all in application mode
                }
                let storable = policy
                    .admit_response(
                        StatusCode::OK,
                        &resp(&[("cache-control", directives), ("etag", "\"e\"")]),
                        None,
                        &Exchange::now(),
                    )
                    .unwrap();
                assert!(
                    storable.must_revalidate || storable.no_cache,
                    "{mode}, {directives}: not recorded"
                );
                assert_eq!(
                    (storable.stale_while_revalidate, storable.stale_if_error),
                    (Duration::ZERO, Duration::ZERO),
                    "{mode}, {directives}: the policy's stale windows apply"
                );
            }
            // Without such a directive the policy's windows apply.
            let plain = policy
                .admit_response(
                    StatusCode::OK,
                    &resp(&[("cache-control", "max-age=60")]),
                    None,
                    &Exchange::now(),
                )
                .unwrap();
            assert!(!plain.must_revalidate && !plain.no_cache);
            assert_eq!(plain.stale_while_revalidate, Duration::from_secs(30), "{mode}");
            assert_eq!(plain.stale_if_error, Duration::from_secs(300), "{mode}");
        }
        // The origin's own RFC 5861 directives are its explicit permission, and still count.
        let own = windows(Policy::shared())
            .admit_response(
                StatusCode::OK,
                &resp(&[(
                    "cache-control",
                    "s-maxage=60, stale-while-revalidate=10, stale-if-error=20",
                )]),
                None,
                &Exchange::now(),
            )
            .unwrap();
        assert!(own.must_revalidate);
        assert_eq!(own.stale_while_revalidate, Duration::from_secs(10));
        assert_eq!(own.stale_if_error, Duration::from_secs(20));
    }

    #[test]
    fn stored_fields_are_decided_once_for_full_responses_and_304_merges() {
        // The one decision of which fields may be stored: hop-by-hop and Connection-named
        // fields, `Age`, private="f", no-cache="f", Set-Cookie under StoreWithout, and tag
        // headers that are not exposed.
        let policy = Policy::shared().set_cookie(SetCookie::StoreWithout);
        let headers = resp(&[
            (
                "cache-control",
                "max-age=60, private=\"x-user\", no-cache=\"x-debug\"",
            ),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("age", "3"),
            ("x-user", "alice"),
            ("x-debug", "trace-1"),
            ("set-cookie", "sid=alice"),
            ("cache-tag", "user-alice"),
            ("surrogate-key", "k"),
            ("content-type", "text/plain"),
        ]);
        let storable = policy
            .admit_response(StatusCode::OK, &headers, None, &Exchange::now())
            .unwrap();
        let stored = storable.stored_headers(&headers);
        let names: Vec<&str> = stored.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["cache-control", "content-type"]);
        // Exposed tag headers are stored and replayed.
        let exposed = policy.clone().expose_tag_headers(true);
        let storable = exposed
            .admit_response(StatusCode::OK, &headers, None, &Exchange::now())
            .unwrap();
        assert!(storable.stored_headers(&headers).contains_key("cache-tag"));

        // A 304 merged into a stored response goes through the same decision.
        let stored_200 = resp(&[
            ("cache-control", "max-age=60"),
            ("etag", "\"e\""),
            ("content-type", "text/plain"),
        ]);
        let update = resp(&[
            ("cache-control", "max-age=600, private=\"x-user\""),
            ("etag", "\"e\""),
            ("x-user", "alice"),
            ("set-cookie", "sid=alice"),
            ("cache-tag", "user-alice"),
        ]);
        let merged = rules::merge_not_modified(&stored_200, &update);
        let storable = policy
            .admit_response(StatusCode::OK, &merged, None, &Exchange::now())
            .unwrap();
        let stored = storable.stored_headers(&merged);
        for gone in ["x-user", "set-cookie", "cache-tag"] {
            assert!(!stored.contains_key(gone), "{gone} stored from a 304");
        }
        assert_eq!(stored["cache-control"], "max-age=600, private=\"x-user\"");
        assert_eq!(storable.ttl, Duration::from_secs(600));
    }

    #[test]
    fn vary_names_are_recorded() {
        let s = policy()
            .admit_response(
                StatusCode::OK,
                &resp(&[("vary", "Accept-Language")]),
                None,
                &Exchange::now(),
            )
            .unwrap();
        assert_eq!(s.vary, vec![header::ACCEPT_LANGUAGE]);
    }
}
