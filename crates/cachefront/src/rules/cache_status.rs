//! This cache's member of the `Cache-Status` field (RFC 9211 §2): the [`CacheStatus`] and
//! [`ForwardReason`] types and their header values.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

/// How the request was forwarded, for `Cache-Status`'s `fwd` parameter (RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardReason {
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
    /// A stored response was stale (or needed validation): the request went forward.
    Stale,
    /// The client's directives (`no-cache`, `max-age`, ...) sent the request forward.
    Request,
}

impl ForwardReason {
    /// How many kinds there are: [`index`](Self::index) is below this.
    const COUNT: usize = 7;

    /// A dense index, for tables with one slot per kind.
    fn index(self) -> usize {
        match self {
            Self::Bypass => 0,
            Self::Method => 1,
            Self::UriMiss => 2,
            Self::VaryMiss => 3,
            Self::Miss => 4,
            Self::Stale => 5,
            Self::Request => 6,
        }
    }

    fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
            Self::Stale => "stale",
            Self::Request => "request",
        }
    }
}

/// This cache's member of the `Cache-Status` header (RFC 9211).
///
/// ```
/// use cachefront::adapter::{CacheStatus, ForwardReason};
///
/// assert_eq!(CacheStatus::hit(42).to_string(), "cachefront; hit; ttl=42");
/// let miss = CacheStatus::forward(ForwardReason::UriMiss).fwd_status(200).stored(true);
/// assert_eq!(miss.to_string(), "cachefront; fwd=uri-miss; fwd-status=200; stored");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct CacheStatus {
    /// The cache's name, when not [`CacheStatus::NAME`].
    name: Option<Arc<str>>,
    hit: bool,
    fwd: Option<ForwardReason>,
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
            name: None,
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
    pub fn forward(fwd: ForwardReason) -> Self {
        Self {
            name: None,
            hit: false,
            fwd: Some(fwd),
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// The cache's name in the member, instead of [`CacheStatus::NAME`] (see
    /// `CacheBuilder::name`).
    pub(crate) fn named(mut self, name: Option<Arc<str>>) -> Self {
        self.name = name;
        self
    }

    /// Whether `name` can name a cache in `Cache-Status`: an RFC 8941 token (RFC 9211 §2).
    pub(crate) fn is_valid_name(name: &str) -> bool {
        sfv::TokenRef::from_str(name).is_ok()
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
        // The most common member, a plain fresh hit, comes from a table: no formatting, no
        // allocation on the hot path.
        if self.name.is_some() {
            return HeaderValue::try_from(self.to_string()).expect("a cache name is a token");
        }
        if self.hit
            && !self.collapsed
            && !self.stored
            && self.detail.is_none()
            && self.fwd_status.is_none()
            && let Some(value) = self.ttl.and_then(|ttl| u64::try_from(ttl).ok()).and_then(|ttl| {
                prerendered(&HIT_MEMBERS, ttl, |ttl| format!("{}; hit; ttl={ttl}", Self::NAME))
            })
        {
            return value;
        }
        // So does the member of a plain forwarded response (`fwd`, `fwd-status`, perhaps
        // `stored`), the one every miss carries: each is rendered once, on first use.
        if let (false, Some(fwd), Some(status), None, false, None) = (
            self.hit,
            self.fwd,
            self.fwd_status,
            self.ttl,
            self.collapsed,
            self.detail,
        ) && let Some(status_slot) = status.checked_sub(100).map(usize::from).filter(|s| *s < STATUSES)
        {
            let slot = (fwd.index() * 2 + usize::from(self.stored)) * STATUSES + status_slot;
            return FORWARD_MEMBERS[slot]
                .get_or_init(|| HeaderValue::from_static(Box::leak(self.to_string().into_boxed_str())))
                .clone();
        }
        HeaderValue::try_from(self.to_string()).expect("Cache-Status members are ASCII tokens and integers")
    }

    /// Appends the member after any `Cache-Status` members already present (RFC 9211 §2).
    pub fn append_to(&self, headers: &mut HeaderMap) {
        headers.append(CACHE_STATUS, self.to_header_value());
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name.as_deref().unwrap_or(Self::NAME))?;
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

/// How many small integers (seconds) have a pre-rendered header value: one hour.
const PRERENDERED: u64 = 3600;

static HIT_MEMBERS: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();

/// How many statuses (100 to 599) have a slot in [`FORWARD_MEMBERS`].
const STATUSES: usize = 500;

/// The members of forwarded responses without `ttl`, `collapsed` or a detail, one slot per
/// kind of forwarding, `stored` or not, and status; each rendered (and leaked: at most 7,000
/// short strings) the first time it is used.
static FORWARD_MEMBERS: [std::sync::OnceLock<HeaderValue>; ForwardReason::COUNT * 2 * STATUSES] =
    [const { std::sync::OnceLock::new() }; ForwardReason::COUNT * 2 * STATUSES];

/// A header value for `n` from a table rendered once (for `n` up to an hour), shared by every
/// request: cloning a static value costs nothing. `None` beyond the table.
pub(super) fn prerendered(
    table: &'static std::sync::OnceLock<Box<[HeaderValue]>>,
    n: u64,
    render: impl Fn(u64) -> String,
) -> Option<HeaderValue> {
    if n > PRERENDERED {
        return None;
    }
    let table = table.get_or_init(|| {
        (0..=PRERENDERED)
            .map(|i| HeaderValue::from_static(Box::leak(render(i).into_boxed_str())))
            .collect()
    });
    usize::try_from(n).ok().and_then(|i| table.get(i)).cloned()
}

/// The `Cache-Status` header name (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_name_replaces_the_default_in_every_member() {
        let edge = || Some(Arc::from("edge-1"));
        assert_eq!(
            CacheStatus::hit(7).named(edge()).to_header_value(),
            "edge-1; hit; ttl=7"
        );
        let miss = CacheStatus::forward(ForwardReason::UriMiss)
            .fwd_status(200)
            .stored(true);
        assert_eq!(
            miss.named(edge()).to_header_value(),
            "edge-1; fwd=uri-miss; fwd-status=200; stored"
        );
        // The pre-rendered members stay the default's.
        assert_eq!(CacheStatus::hit(7).to_header_value(), "cachefront; hit; ttl=7");
        for name in ["edge-1", "a", "*", "tier:2/eu.west", "x_y~z"] {
            assert!(CacheStatus::is_valid_name(name), "{name}");
        }
        for name in ["", "1edge", "two words", "q\"uote", "semi;colon", "é"] {
            assert!(!CacheStatus::is_valid_name(name), "{name}");
        }
    }

    #[test]
    fn cache_status_formats() {
        assert_eq!(CacheStatus::hit(0).to_string(), "cachefront; hit; ttl=0");
        assert_eq!(
            CacheStatus::forward(ForwardReason::UriMiss)
                .fwd_status(200)
                .collapsed(true)
                .to_string(),
            "cachefront; fwd=uri-miss; fwd-status=200; collapsed"
        );
        assert_eq!(
            CacheStatus::forward(ForwardReason::Bypass)
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

    #[test]
    fn header_values_from_the_tables_match_the_rendered_members() {
        let kinds = [
            ForwardReason::Bypass,
            ForwardReason::Method,
            ForwardReason::UriMiss,
            ForwardReason::VaryMiss,
            ForwardReason::Miss,
            ForwardReason::Stale,
            ForwardReason::Request,
        ];
        let mut slots = std::collections::HashSet::new();
        for fwd in kinds {
            assert!(fwd.index() < ForwardReason::COUNT);
            assert!(slots.insert(fwd.index()), "two kinds share a slot");
            for status in [100, 200, 304, 404, 503, 599, 600, 999] {
                for stored in [false, true] {
                    let member = CacheStatus::forward(fwd).fwd_status(status).stored(stored);
                    // Twice: rendered, then from the table.
                    for _ in 0..2 {
                        assert_eq!(member.to_header_value(), member.to_string().as_str());
                    }
                }
            }
            let detailed = CacheStatus::forward(fwd).fwd_status(200).detail("private");
            assert_eq!(detailed.to_header_value(), detailed.to_string().as_str());
        }
        for ttl in [0, 59, 3600, 3601, -5] {
            assert_eq!(
                CacheStatus::hit(ttl).to_header_value(),
                CacheStatus::hit(ttl).to_string().as_str()
            );
        }
    }
}
