//! Per-route caching policy and the decisions it takes.

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, StatusCode, header};

use crate::{
    key::{CacheKey, KeySpec, QueryKey},
    request::RequestHead,
    semantics::{self, CacheControl, HEURISTICALLY_CACHEABLE},
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
/// The defaults follow HTTP-CACHING-RULES.md rules 1 to 4 for an application cache:
///
/// - only `GET` is stored, and `HEAD` is answered from the stored `GET`;
/// - only the heuristically cacheable statuses of RFC 9110 §15.1 are stored (see
///   [`HEURISTICALLY_CACHEABLE`]);
/// - requests with `Authorization` or `Cookie` bypass the cache ([`Credentials`]), as do requests
///   with `Range`;
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
/// In application mode (the only mode so far) the route's TTL is the freshness lifetime: the
/// response's own `max-age` or `Expires` do not change it, but its privacy directives are obeyed.
#[derive(Clone, Debug)]
#[must_use]
pub struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) statuses: StatusSet,
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
}

/// The default body size limit: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

impl Policy {
    /// A policy that keeps responses for `ttl`, with every other setting at its default.
    pub fn ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            statuses: StatusSet::from_codes(HEURISTICALLY_CACHEABLE),
            head_from_get: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            key: KeySpec::default(),
            tags: Vec::new(),
            authorization: Credentials::Bypass,
            cookies: Credentials::Bypass,
            set_cookie: SetCookie::DoNotStore,
            store_private: false,
            store_no_store: false,
            name: Arc::from("default"),
        }
    }

    /// The freshness lifetime of stored responses.
    pub fn time_to_live(&self) -> Duration {
        self.ttl
    }

    /// The route's name in stats and logs, e.g. its pattern `"/products/{id}"` (default
    /// `"default"`). Use the route pattern, never a raw path, to keep the number of names bounded.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The route's name in stats and logs.
    pub fn route_name(&self) -> &str {
        &self.name
    }

    /// Replaces the set of statuses whose responses are stored.
    pub fn statuses<I: IntoIterator<Item = StatusCode>>(mut self, statuses: I) -> Self {
        self.statuses = StatusSet::from_codes(statuses.into_iter().map(|s| s.as_u16()));
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

    /// Adds a tag to every response stored by this route (for invalidation by tag).
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

    /// Decides whether a request may use the cache, and builds its key.
    pub(crate) fn admit_request<R: RequestHead>(&self, request: &R) -> Result<RequestAdmission, Bypass> {
        let head = match request.method() {
            "GET" => false,
            "HEAD" if self.head_from_get => true,
            _ => return Err(Bypass::Method),
        };
        let mut keyed: [&str; 2] = ["", ""];
        let mut n = 0;
        for (rule, name, reason) in [
            (self.authorization, "authorization", Bypass::Authorization),
            (self.cookies, "cookie", Bypass::Cookie),
        ] {
            if request.contains_header(name) {
                match rule {
                    Credentials::Bypass => return Err(reason),
                    Credentials::PartOfKey => {
                        keyed[n] = name;
                        n += 1;
                    }
                    Credentials::Ignore => {}
                }
            }
        }
        if request.contains_header("range") {
            return Err(Bypass::Range);
        }
        Ok(RequestAdmission {
            key: self.key.build_with(request, &keyed[..n]),
            head,
        })
    }

    /// Decides whether a response may be stored, and how.
    ///
    /// `body_size` is the body's exact size when known from elsewhere than `Content-Length`.
    pub(crate) fn admit_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body_size: Option<u64>,
    ) -> Result<Storable, NotStored> {
        if !self.statuses.contains(status.as_u16()) {
            return Err(NotStored::Status);
        }
        if self.ttl.is_zero() {
            return Err(NotStored::ZeroTtl);
        }
        let cc = CacheControl::from_headers(headers);
        if !self.store_no_store {
            if cc.no_store {
                return Err(NotStored::NoStore);
            }
            if cc.no_cache {
                return Err(NotStored::NoCache);
            }
        }
        if cc.private && !self.store_private {
            return Err(NotStored::Private);
        }
        let vary = semantics::vary_names(headers).map_err(|()| NotStored::VaryStar)?;
        let strip_set_cookie = match (headers.contains_key(header::SET_COOKIE), self.set_cookie) {
            (false, _) | (true, SetCookie::Store) => false,
            (true, SetCookie::StoreWithout) => true,
            (true, SetCookie::DoNotStore) => return Err(NotStored::SetCookie),
        };
        if let Some(length) = body_size.or_else(|| content_length(headers)) {
            if length > self.max_body_bytes as u64 {
                return Err(NotStored::TooLarge);
            }
        }
        Ok(Storable {
            vary,
            strip_set_cookie,
        })
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A request the cache may answer.
#[derive(Debug)]
pub(crate) struct RequestAdmission {
    pub(crate) key: CacheKey,
    /// A `HEAD` request, answered from the stored `GET` and never stored itself.
    pub(crate) head: bool,
}

/// A response that may be stored.
#[derive(Debug)]
pub(crate) struct Storable {
    pub(crate) vary: Vec<http::HeaderName>,
    pub(crate) strip_set_cookie: bool,
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
    /// The request asks for a range.
    Range,
}

impl Bypass {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Method, Self::Authorization, Self::Cookie, Self::Range];

    /// The reason as a short token, used in `Cache-Status`'s `detail`, logs and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Authorization => "authorization",
            Self::Cookie => "cookie",
            Self::Range => "range",
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
    /// The body ended with an error or trailers, or the client went away before it ended.
    Incomplete,
}

impl NotStored {
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
            Self::Incomplete => "incomplete",
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
        assert_eq!(
            policy()
                .admit_request(&req("GET", &[("range", "bytes=0-1")]))
                .unwrap_err(),
            Bypass::Range
        );
    }

    #[test]
    fn credentials_can_be_keyed_or_ignored() {
        let keyed = policy().cookies(Credentials::PartOfKey);
        let a = keyed
            .admit_request(&req("GET", &[("cookie", "sid=1")]))
            .unwrap()
            .key;
        let b = keyed
            .admit_request(&req("GET", &[("cookie", "sid=2")]))
            .unwrap()
            .key;
        assert_ne!(a, b);
        let ignored = policy()
            .cookies(Credentials::Ignore)
            .authorization(Credentials::Ignore);
        let a = ignored
            .admit_request(&req("GET", &[("cookie", "sid=1"), ("authorization", "x")]))
            .unwrap()
            .key;
        let b = ignored.admit_request(&req("GET", &[])).unwrap().key;
        assert_eq!(a, b);
    }

    #[test]
    fn statuses_default_to_heuristically_cacheable() {
        let p = policy();
        for ok in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
            assert!(
                p.admit_response(StatusCode::from_u16(ok).unwrap(), &HeaderMap::new(), None)
                    .is_ok(),
                "{ok}"
            );
        }
        for no in [201, 206, 302, 304, 400, 500, 503] {
            assert_eq!(
                p.admit_response(StatusCode::from_u16(no).unwrap(), &HeaderMap::new(), None)
                    .unwrap_err(),
                NotStored::Status,
                "{no}"
            );
        }
        let only_ok = policy().statuses([StatusCode::OK, StatusCode::CREATED]);
        assert!(
            only_ok
                .admit_response(StatusCode::CREATED, &HeaderMap::new(), None)
                .is_ok()
        );
        assert!(
            only_ok
                .admit_response(StatusCode::NOT_FOUND, &HeaderMap::new(), None)
                .is_err()
        );
    }

    #[test]
    fn privacy_defaults_and_opt_outs() {
        let p = policy();
        let ok = StatusCode::OK;
        assert_eq!(
            p.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None)
                .unwrap_err(),
            NotStored::SetCookie
        );
        assert_eq!(
            p.admit_response(ok, &resp(&[("cache-control", "private")]), None)
                .unwrap_err(),
            NotStored::Private
        );
        assert_eq!(
            p.admit_response(ok, &resp(&[("cache-control", "max-age=5, no-store")]), None)
                .unwrap_err(),
            NotStored::NoStore
        );
        assert_eq!(
            p.admit_response(ok, &resp(&[("vary", "accept, *")]), None)
                .unwrap_err(),
            NotStored::VaryStar
        );

        let s = policy().set_cookie(SetCookie::StoreWithout);
        assert!(
            s.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None)
                .unwrap()
                .strip_set_cookie
        );
        let s = policy().set_cookie(SetCookie::Store);
        assert!(
            !s.admit_response(ok, &resp(&[("set-cookie", "a=b")]), None)
                .unwrap()
                .strip_set_cookie
        );
        assert!(
            policy()
                .store_private(true)
                .admit_response(ok, &resp(&[("cache-control", "private")]), None)
                .is_ok()
        );
        assert!(
            policy()
                .store_no_store(true)
                .admit_response(ok, &resp(&[("cache-control", "no-store")]), None)
                .is_ok()
        );
        // Vary: * is never stored, whatever else is relaxed.
        let relaxed = policy()
            .store_no_store(true)
            .store_private(true)
            .set_cookie(SetCookie::Store);
        assert!(relaxed.admit_response(ok, &resp(&[("vary", "*")]), None).is_err());
    }

    #[test]
    fn declared_length_over_the_limit_is_not_stored() {
        let p = policy().max_body_bytes(10);
        assert_eq!(
            p.admit_response(StatusCode::OK, &resp(&[("content-length", "11")]), None)
                .unwrap_err(),
            NotStored::TooLarge
        );
        assert!(
            p.admit_response(StatusCode::OK, &resp(&[("content-length", "10")]), None)
                .is_ok()
        );
    }

    #[test]
    fn a_known_body_size_over_the_limit_is_not_stored() {
        let p = policy().max_body_bytes(10);
        assert_eq!(
            p.admit_response(StatusCode::OK, &HeaderMap::new(), Some(11))
                .unwrap_err(),
            NotStored::TooLarge
        );
        assert!(
            p.admit_response(StatusCode::OK, &HeaderMap::new(), Some(10))
                .is_ok()
        );
    }

    #[test]
    fn vary_names_are_recorded() {
        let s = policy()
            .admit_response(StatusCode::OK, &resp(&[("vary", "Accept-Language")]), None)
            .unwrap();
        assert_eq!(s.vary, vec![header::ACCEPT_LANGUAGE]);
    }
}
