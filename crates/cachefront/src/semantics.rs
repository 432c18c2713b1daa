//! HTTP caching rules as pure functions over plain data (RFC 9111, RFC 9211).
//!
//! Every rule the adapters rely on lives here, once: directive parsing, which stored header
//! fields may be replayed, and how `Cache-Status` is written.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The directives of `Cache-Control` the core acts on (RFC 9111 §5.2).
///
/// Parsing is lenient, as §5.2 asks: unknown directives are ignored, names are
/// case-insensitive, values may be tokens or quoted strings, and a malformed delta-seconds value
/// makes the directive count as invalid rather than failing the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`, qualified or not.
    pub no_cache: bool,
    /// `private`, qualified or not.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `max-age`: `Some(Ok(n))` when valid, `Some(Err(()))` when present but malformed.
    pub max_age: Option<Result<u64, ()>>,
    /// `s-maxage`, as `max_age`.
    pub s_maxage: Option<Result<u64, ()>>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field line of `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            cc.parse_line(value.as_bytes());
        }
        cc
    }

    /// Parses one field value and adds its directives.
    pub fn parse_line(&mut self, line: &[u8]) {
        for (name, value) in Directives::new(line) {
            match name.to_ascii_lowercase().as_slice() {
                b"no-store" => self.no_store = true,
                b"no-cache" => self.no_cache = true,
                b"private" => self.private = true,
                b"public" => self.public = true,
                b"must-revalidate" => self.must_revalidate = true,
                b"max-age" => self.max_age = Some(delta_seconds(value)),
                b"s-maxage" => self.s_maxage = Some(delta_seconds(value)),
                _ => {}
            }
        }
    }
}

/// Parses delta-seconds (RFC 9111 §1.2.2): digits only; values too large saturate.
fn delta_seconds(value: Option<&[u8]>) -> Result<u64, ()> {
    let value = value.ok_or(())?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(value.iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Iterates `name[=value]` directives of a comma-separated field value, unquoting quoted values.
struct Directives<'a> {
    rest: &'a [u8],
}

impl<'a> Directives<'a> {
    fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for Directives<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest.trim_ascii_start();
            if rest.is_empty() {
                return None;
            }
            let name_end = rest
                .iter()
                .position(|b| matches!(b, b'=' | b','))
                .unwrap_or(rest.len());
            let name = rest[..name_end].trim_ascii();
            let mut rest = &rest[name_end..];
            let mut value = None;
            if let Some(after_eq) = rest.strip_prefix(b"=") {
                let after_eq = after_eq.trim_ascii_start();
                if let Some(quoted) = after_eq.strip_prefix(b"\"") {
                    // Quoted string: up to the next unescaped quote.
                    let mut end = 0;
                    while end < quoted.len() && quoted[end] != b'"' {
                        end += if quoted[end] == b'\\' { 2 } else { 1 };
                    }
                    let end = end.min(quoted.len());
                    value = Some(&quoted[..end]);
                    rest = &quoted[(end + 1).min(quoted.len())..];
                    let comma = rest.iter().position(|b| *b == b',').unwrap_or(rest.len());
                    rest = &rest[comma..];
                } else {
                    let end = after_eq.iter().position(|b| *b == b',').unwrap_or(after_eq.len());
                    value = Some(after_eq[..end].trim_ascii());
                    rest = &after_eq[end..];
                }
            }
            self.rest = rest.strip_prefix(b",").unwrap_or(rest);
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    }
}

/// The header fields named by a response's `Vary`, lowercased; `Err(())` for `Vary: *`.
pub(crate) fn vary_names(headers: &HeaderMap) -> Result<Vec<HeaderName>, ()> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        for item in value.as_bytes().split(|b| *b == b',') {
            let item = item.trim_ascii();
            if item == b"*" {
                return Err(());
            }
            // A name that is not a valid field name cannot match any request header; it is
            // skipped rather than failing the response.
            if let Ok(name) = HeaderName::from_bytes(item) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    Ok(names)
}

/// Whether a field must never be stored or replayed by a cache (RFC 9111 §3.1, RFC 9110 §7.6.1):
/// hop-by-hop fields, `Proxy-*` fields, and values the cache computes itself (`Age`).
pub(crate) fn is_unstorable_field(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "age"
    ) || name.as_str().starts_with("proxy-")
}

/// The headers of a response as they may be stored: without hop-by-hop fields, the fields that
/// `Connection` names, `Proxy-*`, `Age`, and (when asked) `Set-Cookie`.
pub(crate) fn storable_headers(headers: &HeaderMap, strip_set_cookie: bool) -> HeaderMap {
    let mut connection_named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        for item in value.as_bytes().split(|b| *b == b',') {
            if let Ok(name) = HeaderName::from_bytes(item.trim_ascii()) {
                connection_named.push(name);
            }
        }
    }
    let mut stored = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if is_unstorable_field(name)
            || connection_named.contains(name)
            || (strip_set_cookie && name == header::SET_COOKIE)
        {
            continue;
        }
        stored.append(name.clone(), value.clone());
    }
    stored
}

/// The statuses RFC 9110 §15.1 lists as heuristically cacheable, except 206: cachefront does
/// not combine partial content, so a stored 206 could be replayed to a request without `Range`.
pub const HEURISTICALLY_CACHEABLE: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// How the request was forwarded, for `Cache-Status`'s `fwd` parameter (RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forwarded {
    /// The cache was not consulted (the request was not cacheable, or the policy bypassed it).
    Bypass,
    /// The method is not cacheable.
    Method,
    /// Nothing was stored under the request's URI.
    UriMiss,
    /// A response was stored, but its `Vary`-named headers did not match.
    VaryMiss,
    /// Nothing usable was stored (used when the two kinds of miss cannot be told apart).
    Miss,
}

impl Forwarded {
    fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
        }
    }
}

/// This cache's member of the `Cache-Status` header (RFC 9211).
///
/// ```
/// use cachefront::{CacheStatus, Forwarded};
///
/// assert_eq!(CacheStatus::hit(42).to_string(), "cachefront; hit; ttl=42");
/// let miss = CacheStatus::forward(Forwarded::UriMiss).fwd_status(200).stored(true);
/// assert_eq!(miss.to_string(), "cachefront; fwd=uri-miss; fwd-status=200; stored");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct CacheStatus {
    hit: bool,
    fwd: Option<Forwarded>,
    fwd_status: Option<u16>,
    ttl: Option<i64>,
    stored: bool,
    collapsed: bool,
    detail: Option<&'static str>,
}

impl CacheStatus {
    /// The cache's name in `Cache-Status`.
    pub const NAME: &'static str = "cachefront";

    /// A hit with `ttl` seconds of freshness left.
    pub fn hit(ttl: i64) -> Self {
        Self {
            hit: true,
            fwd: None,
            fwd_status: None,
            ttl: Some(ttl),
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// A forwarded request.
    pub fn forward(fwd: Forwarded) -> Self {
        Self {
            hit: false,
            fwd: Some(fwd),
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// The status the next hop answered with.
    pub fn fwd_status(mut self, status: u16) -> Self {
        self.fwd_status = Some(status);
        self
    }

    /// Whether the forwarded response is being stored.
    pub fn stored(mut self, stored: bool) -> Self {
        self.stored = stored;
        self
    }

    /// Whether this request was collapsed with another one for the same key.
    pub fn collapsed(mut self, collapsed: bool) -> Self {
        self.collapsed = collapsed;
        self
    }

    /// The freshness left on the response, in seconds.
    pub fn ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A short token saying why (e.g. `authorization`, `no-store`, `too-large`).
    pub fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Whether this is a hit.
    pub fn is_hit(&self) -> bool {
        self.hit
    }

    /// The member as a header value.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::try_from(self.to_string()).expect("Cache-Status members are ASCII tokens and integers")
    }

    /// Appends the member after any `Cache-Status` members already present (RFC 9211 §2).
    pub fn append_to(&self, headers: &mut HeaderMap) {
        headers.append(CACHE_STATUS, self.to_header_value());
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::NAME)?;
        if self.hit {
            f.write_str("; hit")?;
        }
        if let Some(fwd) = self.fwd {
            write!(f, "; fwd={}", fwd.token())?;
        }
        if let Some(status) = self.fwd_status {
            write!(f, "; fwd-status={status}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, "; ttl={ttl}")?;
        }
        if self.stored {
            f.write_str("; stored")?;
        }
        if self.collapsed {
            f.write_str("; collapsed")?;
        }
        if let Some(detail) = self.detail {
            write!(f, "; detail={detail}")?;
        }
        Ok(())
    }
}

/// The `Cache-Status` header name (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(line: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        cc.parse_line(line.as_bytes());
        cc
    }

    #[test]
    fn parses_common_directives_case_insensitively() {
        let c = cc("Public, MAX-AGE=60, s-maxage=\"30\", no-cache=\"set-cookie, x\"");
        assert!(c.public && c.no_cache);
        assert_eq!(c.max_age, Some(Ok(60)));
        assert_eq!(c.s_maxage, Some(Ok(30)));
        assert!(!c.private && !c.no_store);
        let p = cc("private=\"a,b\", no-store");
        assert!(p.private && p.no_store);
    }

    #[test]
    fn malformed_values_are_invalid_not_errors() {
        assert_eq!(cc("max-age=abc").max_age, Some(Err(())));
        assert_eq!(cc("max-age=").max_age, Some(Err(())));
        assert_eq!(cc("max-age").max_age, Some(Err(())));
        assert_eq!(cc("max-age=99999999999999999999999").max_age, Some(Ok(u64::MAX)));
        assert_eq!(cc(",,, ,=,\"").max_age, None);
        assert!(cc("=\"unterminated, no-store").max_age.is_none());
    }

    #[test]
    fn vary_star_and_names() {
        let mut h = HeaderMap::new();
        h.append(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, accept-language"),
        );
        h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        let names = vary_names(&h).unwrap();
        assert_eq!(names, vec![header::ACCEPT_ENCODING, header::ACCEPT_LANGUAGE]);
        h.append(header::VARY, HeaderValue::from_static("*"));
        assert!(vary_names(&h).is_err());
    }

    #[test]
    fn hop_by_hop_and_connection_named_fields_are_not_stored() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("x-hop, close"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("proxy-foo", HeaderValue::from_static("1"));
        h.insert(header::AGE, HeaderValue::from_static("10"));
        h.insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let stored = storable_headers(&h, true);
        assert_eq!(stored.len(), 1);
        assert!(stored.contains_key(header::CONTENT_TYPE));
        assert!(storable_headers(&h, false).contains_key(header::SET_COOKIE));
    }

    #[test]
    fn cache_status_formats() {
        assert_eq!(CacheStatus::hit(0).to_string(), "cachefront; hit; ttl=0");
        assert_eq!(
            CacheStatus::forward(Forwarded::UriMiss)
                .fwd_status(200)
                .collapsed(true)
                .to_string(),
            "cachefront; fwd=uri-miss; fwd-status=200; collapsed"
        );
        assert_eq!(
            CacheStatus::forward(Forwarded::Bypass)
                .detail("authorization")
                .to_string(),
            "cachefront; fwd=bypass; detail=authorization"
        );
        let mut h = HeaderMap::new();
        h.insert(CACHE_STATUS, HeaderValue::from_static("upstream; hit"));
        CacheStatus::hit(5).append_to(&mut h);
        let members: Vec<_> = h.get_all(CACHE_STATUS).iter().collect();
        assert_eq!(members, ["upstream; hit", "cachefront; hit; ttl=5"]);
    }
}
