//! HTTP caching rules as pure functions over plain data (RFC 9111, RFC 9211).
//!
//! Every rule the adapters rely on lives here, once: directive parsing, which stored header
//! fields may be replayed, and how `Cache-Status` is written.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::{date::parse_http_date, entry::Entry, request::RequestHead};

/// The directives of `Cache-Control` the core acts on (RFC 9111 §5.2, RFC 5861), for a request
/// or a response.
///
/// Parsing is lenient, as §5.2 asks: unknown directives are ignored, names are
/// case-insensitive, values may be tokens or quoted strings, the first occurrence of a repeated
/// directive wins (§4.2.1), and a malformed delta-seconds value makes the directive count as
/// invalid rather than failing the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` without field names.
    pub no_cache: bool,
    /// The fields named by `no-cache="..."`.
    pub no_cache_fields: Vec<HeaderName>,
    /// `private` without field names.
    pub private: bool,
    /// The fields named by `private="..."`.
    pub private_fields: Vec<HeaderName>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `must-understand`.
    pub must_understand: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `only-if-cached` (request).
    pub only_if_cached: bool,
    /// `max-age`: `Some(Ok(n))` when valid, `Some(Err(()))` when present but malformed.
    pub max_age: Option<Result<u64, ()>>,
    /// `s-maxage`, as `max_age`.
    pub s_maxage: Option<Result<u64, ()>>,
    /// `max-stale` (request): `Some(None)` without a value (any staleness), `Some(Some(n))`.
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh` (request).
    pub min_fresh: Option<u64>,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4), request or response.
    pub stale_if_error: Option<u64>,
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
            let valid = || delta_seconds(value).ok();
            match name.to_ascii_lowercase().as_slice() {
                b"no-store" => self.no_store = true,
                b"no-cache" => match field_names(value) {
                    Some(names) => self.no_cache_fields.extend(names),
                    None => self.no_cache = true,
                },
                b"private" => match field_names(value) {
                    Some(names) => self.private_fields.extend(names),
                    None => self.private = true,
                },
                b"public" => self.public = true,
                b"must-revalidate" => self.must_revalidate = true,
                b"proxy-revalidate" => self.proxy_revalidate = true,
                b"must-understand" => self.must_understand = true,
                b"no-transform" => self.no_transform = true,
                b"only-if-cached" => self.only_if_cached = true,
                b"max-age" => {
                    self.max_age.get_or_insert(delta_seconds(value));
                }
                b"s-maxage" => {
                    self.s_maxage.get_or_insert(delta_seconds(value));
                }
                b"max-stale" => {
                    // A malformed value is read as "no limit given", the lenient reading.
                    self.max_stale.get_or_insert(valid());
                }
                b"min-fresh" => self.min_fresh = self.min_fresh.or(valid()),
                b"stale-while-revalidate" => {
                    self.stale_while_revalidate = self.stale_while_revalidate.or(valid());
                }
                b"stale-if-error" => self.stale_if_error = self.stale_if_error.or(valid()),
                _ => {}
            }
        }
    }

    /// Parses a targeted cache-control field (RFC 9213 §2.1), a Structured Fields dictionary.
    /// Returns `None` when the field is not a valid dictionary: it is then ignored.
    pub fn from_targeted(value: &[u8]) -> Option<Self> {
        let dictionary: sfv::Dictionary = sfv::Parser::new(value).parse().ok()?;
        // An empty field is not a valid directive set: the next field, or Cache-Control, governs
        // (RFC 9213 §2.2).
        if dictionary.is_empty() {
            return None;
        }
        let mut cc = Self::default();
        for (key, entry) in &dictionary {
            let sfv::ListEntry::Item(item) = entry else {
                continue;
            };
            let flag = item.bare_item.as_boolean() == Some(true);
            let seconds = || {
                item.bare_item
                    .as_integer()
                    .map(i64::from)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or(())
            };
            match key.as_str() {
                "no-store" => cc.no_store = flag,
                "no-cache" => cc.no_cache = flag,
                "private" => cc.private = flag,
                "public" => cc.public = flag,
                "must-revalidate" => cc.must_revalidate = flag,
                "proxy-revalidate" => cc.proxy_revalidate = flag,
                "max-age" => cc.max_age = Some(seconds()),
                "s-maxage" => cc.s_maxage = Some(seconds()),
                "stale-while-revalidate" => cc.stale_while_revalidate = seconds().ok(),
                "stale-if-error" => cc.stale_if_error = seconds().ok(),
                _ => {}
            }
        }
        Some(cc)
    }
}

/// The field names of a qualified `no-cache`/`private` value, or `None` when unqualified.
fn field_names(value: Option<&[u8]>) -> Option<Vec<HeaderName>> {
    let value = value?;
    let names: Vec<HeaderName> = value
        .split(|b| *b == b',')
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Parses delta-seconds (RFC 9111 §1.2.2): digits only; values too large are read as
/// 2147483648, as the RFC requires.
fn delta_seconds(value: Option<&[u8]>) -> Result<u64, ()> {
    const MAX: u64 = 2_147_483_648;
    let value = value.ok_or(())?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(value
        .iter()
        .fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
        .min(MAX))
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
/// `Connection` names, `Proxy-*`, `Age`, and the fields in `strip` (the policy's list: see
/// `Storable::stored_headers`, the one place that decides what is stored, for a full response
/// and for a 304 merged into a stored one alike).
pub(crate) fn storable_headers(headers: &HeaderMap, strip: &[HeaderName]) -> HeaderMap {
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
        if is_unstorable_field(name) || connection_named.contains(name) || strip.contains(name) {
            continue;
        }
        stored.append(name.clone(), owned(value));
    }
    stored
}

/// A copy of `value` in an allocation of its own. A server's parser hands out header values
/// that share its whole read buffer: kept in a stored entry, one such value would keep that
/// buffer alive, far more memory than the entry's weight says.
fn owned(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

/// The statuses RFC 9110 §15.1 lists as heuristically cacheable, except 206: cachefront does
/// not combine partial content, so a stored 206 could be replayed to a request without `Range`.
pub const HEURISTICALLY_CACHEABLE: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// A date header: absent, present but invalid, or a valid HTTP-date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateField {
    Absent,
    Invalid,
    Valid(SystemTime),
}

impl DateField {
    fn valid(self) -> Option<SystemTime> {
        match self {
            Self::Valid(time) => Some(time),
            Self::Absent | Self::Invalid => None,
        }
    }
}

/// Parses an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, RFC 850 or asctime; see
/// [`parse_http_date`]).
pub(crate) fn http_date(headers: &HeaderMap, name: HeaderName) -> DateField {
    let Some(value) = headers.get(name) else {
        return DateField::Absent;
    };
    match value.to_str().ok().and_then(parse_http_date) {
        Some(time) => DateField::Valid(time),
        None => DateField::Invalid,
    }
}

/// Heuristic freshness (RFC 9111 §4.2.2): a fraction of the time between `Last-Modified` and
/// `Date`, at most `cap`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Heuristic {
    pub(crate) fraction: f64,
    pub(crate) cap: Duration,
}

impl Heuristic {
    /// The fraction RFC 9111 §4.2.2 suggests ("typical setting ... 10%").
    pub(crate) const DEFAULT_FRACTION: f64 = 0.1;
    /// The cap when only the fraction is configured: one day, as Apache Traffic Server's.
    pub(crate) const DEFAULT_CAP: Duration = Duration::from_secs(86_400);

    /// The heuristic lifetime of a response last modified `since` before its `Date`.
    fn lifetime(self, since: Duration) -> Duration {
        since.mul_f64(self.fraction).min(self.cap)
    }
}

/// The freshness lifetime of a response (RFC 9111 §4.2.1), from the directives that govern this
/// cache: `s-maxage` (shared caches) > `max-age` > `Expires` − `Date`, then heuristic
/// freshness when enabled (§4.2.2: a fraction of the time since `Last-Modified`, capped), for
/// a heuristically cacheable status or a `public` response. `None` when the response gives no
/// freshness information at all.
pub(crate) fn freshness_lifetime(
    cc: &CacheControl,
    headers: &HeaderMap,
    targeted: bool,
    status: u16,
    heuristic: Option<Heuristic>,
    response_time: SystemTime,
) -> Option<Duration> {
    if let Some(s_maxage) = cc.s_maxage {
        // An invalid value makes the response stale (rule 14).
        return Some(Duration::from_secs(s_maxage.unwrap_or(0)));
    }
    if let Some(max_age) = cc.max_age {
        return Some(Duration::from_secs(max_age.unwrap_or(0)));
    }
    // A targeted field replaces `Expires` too (RFC 9213 §2.2).
    if !targeted {
        match http_date(headers, header::EXPIRES) {
            DateField::Absent => {}
            // An invalid Expires, e.g. "0", means already expired (§5.3).
            DateField::Invalid => return Some(Duration::ZERO),
            DateField::Valid(expires) => {
                let date = http_date(headers, header::DATE).valid().unwrap_or(response_time);
                return Some(expires.duration_since(date).unwrap_or_default());
            }
        }
    }
    let heuristic = heuristic?;
    if !(HEURISTICALLY_CACHEABLE.contains(&status) || cc.public) {
        return None;
    }
    let last_modified = http_date(headers, header::LAST_MODIFIED).valid()?;
    let date = http_date(headers, header::DATE).valid().unwrap_or(response_time);
    Some(heuristic.lifetime(date.duration_since(last_modified).unwrap_or_default()))
}

/// The corrected initial age of a response (RFC 9111 §4.2.3): the larger of its apparent age
/// (`response_time − Date`) and its `Age` corrected by the response delay.
pub(crate) fn corrected_initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let age_value = age_field(headers).map_or(Duration::ZERO, Duration::from_secs);
    let apparent_age = http_date(headers, header::DATE)
        .valid()
        .and_then(|date| response_time.duration_since(date).ok())
        .unwrap_or_default();
    let response_delay = response_time.duration_since(request_time).unwrap_or_default();
    apparent_age.max(age_value + response_delay)
}

/// The value of a response's `Age` (RFC 9111 §5.1, as published): the first member of the
/// field value (several field lines read as one list, empty members skipped), as delta-seconds;
/// `None` when absent or invalid (negative, fractional, signed, quoted, not a number), which
/// the cache then ignores. A value too large is read as 2147483648 (§1.2.2).
///
/// (The draft-era text in `rfc/rfc9111.txt` says an invalid `Age` makes the response stale and
/// that only the first field line counts; RFC 9111 as published says to use the first member
/// and ignore an invalid value.)
pub(crate) fn age_field(headers: &HeaderMap) -> Option<u64> {
    let first = headers
        .get_all(header::AGE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .find(|member| !member.is_empty())?;
    delta_seconds(Some(first)).ok()
}

/// How a stored response may be used for a request (RFC 9111 §4, RFC 5861).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Fresh: serve it.
    Fresh,
    /// Stale, but the client's `max-stale` accepts it: serve it.
    StaleAccepted,
    /// Stale within `stale-while-revalidate`: serve it and refresh it in the background.
    StaleWhileRevalidate,
    /// Validate it with the origin first (or fetch anew).
    Revalidate,
}

/// Decides how a stored response may be reused for a request with directives `request`.
pub(crate) fn reuse(entry: &Entry, request: &CacheControl, now: SystemTime) -> Reuse {
    if entry.no_cache || request.no_cache {
        return Reuse::Revalidate;
    }
    let age = entry.age(now);
    if let Some(Ok(max_age)) = request.max_age {
        if age.as_secs() > max_age {
            return Reuse::Revalidate;
        }
    }
    if let Some(min_fresh) = request.min_fresh {
        if entry.ttl.saturating_sub(age) < Duration::from_secs(min_fresh) {
            return Reuse::Revalidate;
        }
    }
    if age < entry.ttl {
        return Reuse::Fresh;
    }
    let staleness = age - entry.ttl;
    if !entry.must_revalidate {
        match request.max_stale {
            Some(None) => return Reuse::StaleAccepted,
            Some(Some(limit)) if staleness.as_secs() <= limit => return Reuse::StaleAccepted,
            _ => {}
        }
    }
    if staleness <= entry.stale_while_revalidate && request.max_age.is_none() {
        return Reuse::StaleWhileRevalidate;
    }
    Reuse::Revalidate
}

/// Whether a stale entry may answer a failed request (RFC 5861 §4): within the response's or
/// the request's `stale-if-error` window.
///
/// A response that forbids serving stale (`must-revalidate`, `proxy-revalidate`, `s-maxage`,
/// recorded as [`Entry::must_revalidate`], or `no-cache`) is never served stale on the client's
/// say-so (RFC 9111 §4.2.4, §5.2.2.2): only the window the entry was stored with counts, which
/// is the origin's own `stale-if-error` (the policy's default window is not applied to such
/// responses when they are stored).
pub(crate) fn stale_if_error_allows(entry: &Entry, request: &CacheControl, now: SystemTime) -> bool {
    let staleness = entry.age(now).saturating_sub(entry.ttl);
    let forbids_stale = entry.must_revalidate || entry.no_cache;
    let window = match request.stale_if_error {
        Some(requested) if !forbids_stale => Duration::from_secs(requested).max(entry.stale_if_error),
        _ => entry.stale_if_error,
    };
    staleness <= window && !window.is_zero()
}

/// Whether a status is an error for which RFC 5861 §4 allows serving stale.
pub(crate) fn is_stale_if_error_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// Evaluates a client's `If-None-Match` / `If-Modified-Since` against a stored response
/// (RFC 9110 §13.2.2): `true` when the client's copy is current and a 304 is the answer.
/// `If-None-Match` (weak comparison) takes precedence; `If-Modified-Since` is used only without
/// it, and only with a valid date.
///
/// Only a stored 2xx answers conditionals: for any other status the conditions are ignored
/// (RFC 9110 §13.2.1), and `If-None-Match: *` matches a current representation only (§13.1.2),
/// which a stored 404 is not.
///
/// `If-None-Match` is `"*"` or a list of entity-tags (§13.1.2), read over all its field lines:
/// `*` counts only as the whole value, and a malformed member (`*` in a list, an unquoted tag,
/// a missing closing quote, a character an entity-tag may not hold) matches nothing.
pub(crate) fn not_modified<R: HeaderLookup + ?Sized>(request: &R, entry: &Entry) -> bool {
    if !entry.status.is_success() {
        return false;
    }
    // (members, whether one is `*`, whether one matches the stored ETag)
    let mut if_none_match: Option<(usize, bool, bool)> = None;
    let etag = entry.headers.get(header::ETAG).map(|v| v.as_bytes());
    request.each_value(&header::IF_NONE_MATCH, &mut |value| {
        let (members, star, matched) = if_none_match.get_or_insert((0, false, false));
        for member in entity_tag_list(value) {
            *members += 1;
            *star |= member == b"*";
            *matched |= etag.is_some_and(|etag| weak_eq(member, etag));
        }
    });
    if let Some((members, star, matched)) = if_none_match {
        return matched || (star && members == 1);
    }
    let mut since = None;
    request.each_value(&header::IF_MODIFIED_SINCE, &mut |value| {
        since = std::str::from_utf8(value).ok().and_then(parse_http_date);
    });
    // A date in the future is no date the client's copy could have (RFC 2616 §14.25 called it
    // invalid; servers such as Apache httpd ignore it): the condition is ignored.
    let Some(since) = since.filter(|since| *since <= SystemTime::now()) else {
        return false;
    };
    let modified = http_date(&entry.headers, header::LAST_MODIFIED)
        .valid()
        .or_else(|| http_date(&entry.headers, header::DATE).valid())
        .unwrap_or(entry.stored_at);
    modified <= since
}

/// Reads header values from a request head or a plain header map.
pub(crate) trait HeaderLookup {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8]));
}

impl<R: RequestHead> HeaderLookup for R {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.for_each_header_value(name, f);
    }
}

impl HeaderLookup for HeaderMap {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        for value in self.get_all(name) {
            f(value.as_bytes());
        }
    }
}

/// The members of one field line of an entity-tag list (RFC 9110 §5.6.1), split at the commas
/// outside quotes (an opaque-tag may hold a comma), trimmed, empty members skipped. After an
/// unterminated quote the rest of the line is one (malformed) member.
fn entity_tag_list(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = line;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let mut quoted = false;
            let end = rest
                .iter()
                .position(|b| {
                    quoted ^= *b == b'"';
                    *b == b',' && !quoted
                })
                .unwrap_or(rest.len());
            let member = rest[..end].trim_ascii();
            rest = rest.get(end + 1..).unwrap_or_default();
            if !member.is_empty() {
                return Some(member);
            }
        }
        None
    })
}

/// An entity-tag (RFC 9110 §8.8.3), surrounding whitespace aside: whether it is weak, and its
/// opaque-tag without the quotes. `None` when it is malformed: unquoted, without its closing
/// quote, with a character outside `etagc` (a space, a control, a `"`) or a weak prefix other
/// than `W/`.
fn entity_tag(tag: &[u8]) -> Option<(bool, &[u8])> {
    let tag = tag.trim_ascii();
    let (weak, opaque) = match tag.strip_prefix(b"W/") {
        Some(opaque) => (true, opaque),
        None => (false, tag),
    };
    let opaque = opaque.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // etagc = %x21 / %x23-7E / obs-text
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7e).contains(b) || *b >= 0x80;
    opaque.iter().all(etagc).then_some((weak, opaque))
}

/// Weak comparison of two entity-tags (RFC 9110 §8.8.3.2): both well-formed, equal opaque
/// tags, `W/` ignored. A malformed tag matches nothing, not even itself.
pub(crate) fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    matches!((entity_tag(a), entity_tag(b)), (Some((_, a)), Some((_, b))) if a == b)
}

/// The headers of a 304 answered from a stored response (RFC 9110 §15.4.5): those a 200 would
/// carry among `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires`, `Vary`, plus
/// `Last-Modified`.
pub(crate) fn not_modified_headers(stored: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [
        header::CACHE_CONTROL,
        header::CONTENT_LOCATION,
        header::DATE,
        header::ETAG,
        header::EXPIRES,
        header::VARY,
        header::LAST_MODIFIED,
    ] {
        for value in stored.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// Whether a 304 may update a stored response (RFC 9111 §4.3.4), the one the cache's
/// conditional request was built from:
///
/// - a 304 with a strong `ETag` updates only a stored response with the same strong `ETag`
///   (strong comparison, RFC 9110 §8.8.3.2); with any other, it MUST NOT update it;
/// - a 304 with a weak `ETag` updates a stored response whose `ETag` matches it weakly;
/// - a 304 with `Last-Modified` and no `ETag` updates a stored response with the same
///   `Last-Modified` date;
/// - a 304 with no validator updates the stored response when that has no `ETag`. §4.3.4
///   asks that it have no validator at all, to choose among several stored responses;
///   cachefront nominates exactly one, with its own validators, and a 304 answering an
///   `If-Modified-Since` need not repeat `Last-Modified` (RFC 9110 §15.4.5), whereas it must
///   repeat the `ETag` a 200 would carry.
pub(crate) fn freshens(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let stored_etag = stored.get(header::ETAG).map(HeaderValue::as_bytes);
    if let Some(etag) = not_modified.get(header::ETAG).map(HeaderValue::as_bytes) {
        return stored_etag.is_some_and(|stored| {
            if is_weak(etag) {
                weak_eq(etag, stored)
            } else {
                strong_eq(etag, stored)
            }
        });
    }
    match http_date(not_modified, header::LAST_MODIFIED) {
        DateField::Valid(date) => http_date(stored, header::LAST_MODIFIED).valid() == Some(date),
        // An unparsable Last-Modified identifies nothing.
        DateField::Invalid => false,
        DateField::Absent => stored_etag.is_none(),
    }
}

/// Whether a 200 to a `HEAD` request may update the stored `GET` response (RFC 9111 §4.3.5):
/// every validator the `HEAD` response carries (`ETag`, `Last-Modified`) matches the stored
/// one — the `ETag` as a 304's would ([`freshens`]) — and so does its `Content-Length`, when it
/// has one. Without validators it updates only a stored response that has none either.
pub(crate) fn head_freshens(stored: &Entry, head: &HeaderMap) -> bool {
    let last_modified_matches = match http_date(head, header::LAST_MODIFIED) {
        DateField::Absent => true,
        DateField::Valid(date) => http_date(&stored.headers, header::LAST_MODIFIED).valid() == Some(date),
        DateField::Invalid => false,
    };
    let length_matches = head.get(header::CONTENT_LENGTH).is_none_or(|length| {
        length.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok()) == Some(stored.body.len() as u64)
    });
    let no_validators = !head.contains_key(header::ETAG) && !head.contains_key(header::LAST_MODIFIED);
    let validators_match = if no_validators {
        !stored.headers.contains_key(header::ETAG) && !stored.headers.contains_key(header::LAST_MODIFIED)
    } else {
        freshens(&stored.headers, head) && last_modified_matches
    };
    validators_match && length_matches
}

fn is_weak(tag: &[u8]) -> bool {
    tag.trim_ascii().starts_with(b"W/")
}

/// Strong comparison of two entity-tags (RFC 9110 §8.8.3.2), the one `If-Match` and
/// `If-Range` use: both well-formed and strong, equal opaque tags. A malformed tag matches
/// nothing.
pub(crate) fn strong_eq(a: &[u8], b: &[u8]) -> bool {
    matches!(
        (entity_tag(a), entity_tag(b)),
        (Some((false, a)), Some((false, b))) if a == b
    )
}

/// Updates stored headers with those of a 304 (RFC 9111 §3.2): every field of the 304 replaces
/// the stored one, except fields never stored and `Content-Length`. The result is a complete
/// response head, which then goes through the same decision of what may be stored as a full
/// response (`Storable::stored_headers`): a 304's `private="f"` field, its `Set-Cookie` and its
/// tag headers are kept out of the store as a 200's are.
pub(crate) fn merge_not_modified(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    let update = storable_headers(not_modified, &[]);
    for name in update.keys() {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        merged.remove(name);
        for value in update.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

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
    /// A stored response was stale (or needed validation): the request went forward.
    Stale,
    /// The client's directives (`no-cache`, `max-age`, ...) sent the request forward.
    Request,
}

impl Forwarded {
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
        // The most common member, a plain fresh hit, comes from a table: no formatting, no
        // allocation on the hot path.
        if self.hit && !self.collapsed && !self.stored && self.detail.is_none() && self.fwd_status.is_none() {
            if let Some(value) = self.ttl.and_then(|ttl| u64::try_from(ttl).ok()).and_then(|ttl| {
                prerendered(&HIT_MEMBERS, ttl, |ttl| format!("{}; hit; ttl={ttl}", Self::NAME))
            }) {
                return value;
            }
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
        ) {
            if let Some(status_slot) = status.checked_sub(100).map(usize::from).filter(|s| *s < STATUSES) {
                let slot = (fwd.index() * 2 + usize::from(self.stored)) * STATUSES + status_slot;
                return FORWARD_MEMBERS[slot]
                    .get_or_init(|| HeaderValue::from_static(Box::leak(self.to_string().into_boxed_str())))
                    .clone();
            }
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

/// How many small integers (seconds) have a pre-rendered header value: one hour.
const PRERENDERED: u64 = 3600;

static HIT_MEMBERS: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();

/// How many statuses (100 to 599) have a slot in [`FORWARD_MEMBERS`].
const STATUSES: usize = 500;

/// The members of forwarded responses without `ttl`, `collapsed` or a detail, one slot per
/// kind of forwarding, `stored` or not, and status; each rendered (and leaked: at most 7,000
/// short strings) the first time it is used.
static FORWARD_MEMBERS: [std::sync::OnceLock<HeaderValue>; Forwarded::COUNT * 2 * STATUSES] =
    [const { std::sync::OnceLock::new() }; Forwarded::COUNT * 2 * STATUSES];
static AGE_VALUES: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();

/// A header value for `n` from a table rendered once (for `n` up to an hour), shared by every
/// request: cloning a static value costs nothing. `None` beyond the table.
fn prerendered(
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

/// The `Age` header value for `seconds`.
pub(crate) fn age_value(seconds: u64) -> HeaderValue {
    prerendered(&AGE_VALUES, seconds, |s| s.to_string()).unwrap_or_else(|| HeaderValue::from(seconds))
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
        assert!(c.public);
        // A qualified no-cache names fields; it does not make the whole response no-cache.
        assert!(!c.no_cache);
        assert_eq!(
            c.no_cache_fields,
            [header::SET_COOKIE, HeaderName::from_static("x")]
        );
        assert_eq!(c.max_age, Some(Ok(60)));
        assert_eq!(c.s_maxage, Some(Ok(30)));
        assert!(!c.private && !c.no_store);
        let p = cc("private=\"a,b\", no-store");
        assert!(!p.private && p.no_store);
        assert_eq!(p.private_fields.len(), 2);
        assert!(cc("private, no-cache").private);
        assert!(cc("private, no-cache").no_cache);
    }

    #[test]
    fn first_occurrence_wins_and_request_directives_parse() {
        let c = cc("max-age=10, max-age=20");
        assert_eq!(c.max_age, Some(Ok(10)));
        let r = cc("max-stale, min-fresh=5, only-if-cached, stale-if-error=30");
        assert_eq!(r.max_stale, Some(None));
        assert_eq!(r.min_fresh, Some(5));
        assert!(r.only_if_cached);
        assert_eq!(r.stale_if_error, Some(30));
        assert_eq!(cc("max-stale=7").max_stale, Some(Some(7)));
    }

    #[test]
    fn targeted_fields_are_structured_dictionaries() {
        let t = CacheControl::from_targeted(b"max-age=60, must-revalidate").unwrap();
        assert_eq!(t.max_age, Some(Ok(60)));
        assert!(t.must_revalidate);
        assert!(CacheControl::from_targeted(b"no-store").unwrap().no_store);
        // Not a valid dictionary (a quoted number is a string, and `max-age=` has no value).
        assert!(CacheControl::from_targeted(b"max-age=").is_none());
        assert_eq!(
            CacheControl::from_targeted(b"max-age=\"60\"").unwrap().max_age,
            Some(Err(()))
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn lifetime(pairs: &[(&str, &str)], cap: Option<Duration>, now: SystemTime) -> Option<Duration> {
        let h = headers(pairs);
        let heuristic = cap.map(|cap| Heuristic {
            fraction: Heuristic::DEFAULT_FRACTION,
            cap,
        });
        freshness_lifetime(&CacheControl::from_headers(&h), &h, false, 200, heuristic, now)
    }

    #[test]
    fn freshness_precedence_and_expires() {
        let now = SystemTime::now();
        let date = httpdate::fmt_http_date(now);
        let in_100 = httpdate::fmt_http_date(now + Duration::from_secs(100));
        let s = |n: u64| Some(Duration::from_secs(n));
        assert_eq!(
            lifetime(&[("cache-control", "max-age=10, s-maxage=20")], None, now),
            s(20)
        );
        assert_eq!(
            lifetime(
                &[("cache-control", "max-age=10"), ("expires", &in_100)],
                None,
                now
            ),
            s(10)
        );
        assert_eq!(
            lifetime(&[("date", &date), ("expires", &in_100)], None, now),
            s(100)
        );
        assert_eq!(
            lifetime(&[("expires", "0")], None, now),
            s(0),
            "invalid Expires is in the past"
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=abc")], None, now),
            s(0),
            "invalid max-age is stale"
        );
        assert_eq!(lifetime(&[], None, now), None);
        let a_day_ago = httpdate::fmt_http_date(now - Duration::from_secs(86_400));
        let heuristic = lifetime(
            &[("date", &date), ("last-modified", &a_day_ago)],
            Some(Duration::from_secs(3600)),
            now,
        );
        assert_eq!(heuristic, s(3600), "10% of a day, capped at an hour");
        let ten_min_ago = httpdate::fmt_http_date(now - Duration::from_secs(600));
        let heuristic = lifetime(
            &[("date", &date), ("last-modified", &ten_min_ago)],
            Some(Duration::from_secs(3600)),
            now,
        );
        assert_eq!(heuristic, s(60));
    }

    #[test]
    fn corrected_initial_age_follows_4_2_3() {
        let now = SystemTime::now();
        let date_10s_ago = httpdate::fmt_http_date(now - Duration::from_secs(10));
        // Apparent age (10 s) beats a smaller Age.
        let age = corrected_initial_age(&headers(&[("date", &date_10s_ago), ("age", "3")]), now, now);
        assert_eq!(age.as_secs(), 10);
        // A larger Age plus the response delay wins.
        let age = corrected_initial_age(&headers(&[("age", "30")]), now - Duration::from_secs(2), now);
        assert_eq!(age.as_secs(), 32);
        // A huge Age is capped at 2^31 (§1.2.2).
        assert_eq!(
            corrected_initial_age(&headers(&[("age", "99999999999999")]), now, now).as_secs(),
            2_147_483_648
        );
    }

    #[test]
    fn age_uses_the_first_member_and_ignores_an_invalid_value() {
        // RFC 9111 §5.1: the first member of a list-based value counts; an invalid value is
        // ignored (as if absent), it does not make the response stale.
        let now = SystemTime::now();
        let age = |lines: &[&str]| {
            let pairs: Vec<(&str, &str)> = lines.iter().map(|line| ("age", *line)).collect();
            corrected_initial_age(&headers(&pairs), now, now).as_secs()
        };
        assert_eq!(age(&["5, 10"]), 5, "a list: its first member");
        assert_eq!(age(&["5", "10"]), 5, "several field lines: the first");
        assert_eq!(age(&[" 7 "]), 7, "whitespace around the value");
        assert_eq!(
            age(&[", 5"]),
            5,
            "empty list elements are ignored (RFC 9110 §5.6.1)"
        );
        for invalid in ["-5", "abc", "5.5", "+5", "0x10", "5s", "\"5\"", "-5, 7", ""] {
            assert_eq!(age(&[invalid]), 0, "invalid Age {invalid:?} is ignored");
        }
        assert_eq!(age(&["99999999999999, 1"]), 2_147_483_648);
    }

    fn entry_with(status: u16, pairs: &[(&str, &str)]) -> Entry {
        let mut entry = Entry::for_tests();
        entry.status = http::StatusCode::from_u16(status).unwrap();
        entry.headers = headers(pairs);
        entry
    }

    #[test]
    fn a_stored_error_never_answers_client_conditionals_with_304() {
        // RFC 9110 §13.1.2: `*` matches a current representation only; §13.2.1: preconditions
        // apply only where the response would otherwise be 2xx.
        let hour_ago = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
        let now = httpdate::fmt_http_date(SystemTime::now());
        let stored = [("etag", "\"a\""), ("last-modified", hour_ago.as_str())];
        let ok = entry_with(200, &stored);
        let no_content = entry_with(204, &stored);
        for request in [
            headers(&[("if-none-match", "*")]),
            headers(&[("if-none-match", "\"a\"")]),
            headers(&[("if-modified-since", now.as_str())]),
        ] {
            assert!(not_modified(&request, &ok), "{request:?} against a 200");
            assert!(not_modified(&request, &no_content), "{request:?} against a 204");
            for status in [301, 404, 410, 501] {
                assert!(
                    !not_modified(&request, &entry_with(status, &stored)),
                    "{request:?} answered a stored {status} with 304"
                );
            }
        }
    }

    #[test]
    fn a_clients_stale_if_error_never_serves_a_response_that_forbids_stale() {
        // RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.4: must-revalidate (which records proxy-revalidate
        // and s-maxage too) and no-cache forbid serving stale on the client's say-so.
        let now = SystemTime::now();
        let mut entry = Entry::for_tests();
        entry.stored_at = now;
        entry.ttl = Duration::from_secs(60);
        entry.initial_age = Duration::from_secs(100);
        let request = cc("stale-if-error=3600");
        assert!(
            stale_if_error_allows(&entry, &request, now),
            "a plain stale entry"
        );
        for (must_revalidate, no_cache) in [(true, false), (false, true)] {
            entry.must_revalidate = must_revalidate;
            entry.no_cache = no_cache;
            assert!(
                !stale_if_error_allows(&entry, &request, now),
                "must-revalidate {must_revalidate}, no-cache {no_cache}"
            );
            assert_eq!(reuse(&entry, &cc("max-stale"), now), Reuse::Revalidate);
            // The origin's own stale-if-error on the response is its explicit permission.
            entry.stale_if_error = Duration::from_secs(100);
            assert!(stale_if_error_allows(&entry, &CacheControl::default(), now));
            entry.stale_if_error = Duration::ZERO;
        }
    }

    #[test]
    fn a_304_freshens_only_a_stored_response_whose_validator_it_matches() {
        // RFC 9111 §4.3.4.
        let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
        let other_lm = "Tue, 02 Jan 2024 00:00:00 GMT";
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields<'_>, Fields<'_>, bool); 14] = [
            // A strong ETag identifies the stored responses with the same strong ETag only.
            (&[("etag", "\"a\"")], &[("etag", "\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "\"b\"")], false),
            (&[("etag", "W/\"a\"")], &[("etag", "\"a\"")], false),
            (&[("last-modified", lm)], &[("etag", "\"a\"")], false),
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("etag", "\"a\""), ("last-modified", other_lm)],
                true,
            ),
            // A weak ETag: the stored response it weakly matches.
            (&[("etag", "W/\"a\"")], &[("etag", "W/\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "W/\"a\"")], true),
            (&[("etag", "W/\"a\"")], &[("etag", "W/\"b\"")], false),
            // Last-Modified without an ETag: the same date.
            (&[("last-modified", lm)], &[("last-modified", lm)], true),
            (&[("last-modified", lm)], &[("last-modified", other_lm)], false),
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("last-modified", other_lm)],
                false,
            ),
            // No validator in the 304: the stored response it was asked about, when that has no
            // ETag (RFC 9110 §15.4.5 does not make a 304 repeat Last-Modified, but it does make
            // it repeat the ETag a 200 would carry).
            (&[("last-modified", lm)], &[], true),
            (&[], &[], true),
            (&[("etag", "\"a\"")], &[], false),
        ];
        for (stored, not_modified, expected) in cases {
            assert_eq!(
                freshens(&headers(stored), &headers(not_modified)),
                expected,
                "stored {stored:?}, 304 {not_modified:?}"
            );
        }
    }

    #[test]
    fn a_head_response_freshens_only_a_stored_get_with_its_validators_and_length() {
        // RFC 9111 §4.3.5.
        let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
        let other_lm = "Tue, 02 Jan 2024 00:00:00 GMT";
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields<'_>, Fields<'_>, bool); 11] = [
            (&[("etag", "\"a\"")], &[("etag", "\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "\"b\"")], false),
            // Every validator the HEAD response carries must match, Last-Modified too.
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("etag", "\"a\""), ("last-modified", other_lm)],
                false,
            ),
            (&[("last-modified", lm)], &[("last-modified", lm)], true),
            (&[("last-modified", lm)], &[("last-modified", "garbage")], false),
            // Without validators, only a stored response without any is updated.
            (&[], &[], true),
            (&[("etag", "\"a\"")], &[], false),
            (&[("last-modified", lm)], &[], false),
            // Content-Length, when the HEAD response has one, is the stored body's length.
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "4")],
                true,
            ),
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "5")],
                false,
            ),
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "x")],
                false,
            ),
        ];
        for (stored, head, expected) in cases {
            let mut entry = Entry::new(
                crate::CacheKey::from_parts(["k"]),
                http::StatusCode::OK,
                bytes::Bytes::from_static(b"body"),
                Duration::from_secs(60),
            );
            entry.headers = headers(stored);
            assert_eq!(
                head_freshens(&entry, &headers(head)),
                expected,
                "stored {stored:?}, HEAD {head:?}"
            );
        }
    }

    #[test]
    fn entity_tags_compare_weakly() {
        assert!(weak_eq(b"W/\"a\"", b"\"a\""));
        assert!(weak_eq(b"\"a\"", b"\"a\""));
        assert!(!weak_eq(b"\"a\"", b"\"b\""));
        assert!(!weak_eq(b"a", b"a"), "an unquoted tag is not an entity-tag");
    }

    #[test]
    fn malformed_entity_tags_match_nothing_not_even_themselves() {
        // RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc excluding
        // spaces, controls and DQUOTE.
        for tag in [
            &b"\"a b\""[..],
            b"\"a\"b\"",
            b"\"a\tb\"",
            b"\"a\x01\"",
            b"W/\"a b\"",
            b"w/\"a\"",
            b"W/ \"a\"",
            b"\"a",
            b"a\"",
            b"\"",
            b"W/",
            b"*",
        ] {
            assert!(!weak_eq(tag, tag), "weak: {tag:?}");
            assert!(!strong_eq(tag, tag), "strong: {tag:?}");
        }
        // The edges of etagc, and obs-text, are allowed.
        for tag in [&b"\"\""[..], b"\"!#~\"", b"\"caf\xc3\xa9\"", b"\"a,b\""] {
            assert!(weak_eq(tag, tag), "{tag:?}");
            assert!(strong_eq(tag, tag), "{tag:?}");
        }
    }

    #[test]
    fn strong_comparison_needs_two_well_formed_strong_tags() {
        // RFC 9110 §8.8.3.2's table.
        assert!(strong_eq(b"\"1\"", b"\"1\""));
        assert!(strong_eq(b" \"1\" ", b"\"1\""), "surrounding whitespace aside");
        assert!(!strong_eq(b"W/\"1\"", b"W/\"1\""));
        assert!(!strong_eq(b"W/\"1\"", b"\"1\""));
        assert!(!strong_eq(b"\"1\"", b"W/\"1\""));
        assert!(!strong_eq(b"\"1\"", b"\"2\""));
        assert!(!strong_eq(b"\"1 2\"", b"\"1 2\""), "a space is not an etagc");
    }

    #[test]
    fn if_none_match_splits_its_list_outside_quotes() {
        // An opaque-tag may hold a comma (0x2C is an etagc): `"a,b"` is one entity-tag.
        let entry = entry_with(200, &[("etag", "\"a,b\"")]);
        for value in ["\"a,b\"", "\"x\", \"a,b\"", "W/\"a,b\" , \"y\""] {
            assert!(
                not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
        for value in ["\"a\"", "\"b\"", "\"a\", \"b\""] {
            assert!(
                !not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
    }

    #[test]
    fn malformed_entity_tags_never_yield_304() {
        // A malformed stored ETag is matched by nothing, not even the same bytes.
        for etag in ["\"a b\"", "W/\"a b\"", "\"a\"b\"", "a"] {
            let entry = entry_with(200, &[("etag", etag)]);
            assert!(
                !not_modified(&headers(&[("if-none-match", etag)]), &entry),
                "{etag}"
            );
        }
        let entry = entry_with(200, &[("etag", "\"a\"")]);
        for value in ["a", "\"a", "a\"", "W/a", "w/\"a\"", "\"a\" \"a\"", "\"a, \"b\""] {
            assert!(
                !not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
        // A malformed member leaves the well-formed ones their say.
        assert!(not_modified(&headers(&[("if-none-match", "a, \"a\"")]), &entry));
    }

    #[test]
    fn if_none_match_star_matches_only_as_the_whole_value() {
        // RFC 9110 §13.1.2: If-None-Match = "*" / #entity-tag.
        let entry = entry_with(200, &[("etag", "\"a\"")]);
        let matches = |lines: &[&str]| {
            let pairs: Vec<(&str, &str)> = lines.iter().map(|line| ("if-none-match", *line)).collect();
            not_modified(&headers(&pairs), &entry)
        };
        assert!(matches(&["*"]));
        assert!(matches(&[" * "]));
        assert!(matches(&["*", ""]), "an empty field line adds no member");
        assert!(!matches(&["\"x\", *"]));
        assert!(!matches(&["*, \"x\""]));
        assert!(!matches(&["*", "\"x\""]), "several field lines are one list");
        assert!(matches(&["*, \"a\""]), "a matching member still matches");
        // With no ETag stored, `*` still matches the current representation.
        assert!(not_modified(
            &headers(&[("if-none-match", "*")]),
            &entry_with(200, &[])
        ));
    }

    #[test]
    fn if_modified_since_is_read_in_every_http_date_format_and_case() {
        let entry = entry_with(200, &[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        for since in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "sun, 06 nov 1994 08:49:37 gmt",
            "SUNDAY, 06-NOV-94 08:49:37 GMT",
        ] {
            assert!(
                not_modified(&headers(&[("if-modified-since", since)]), &entry),
                "{since}"
            );
        }
    }

    #[test]
    fn dates_in_any_case_count_for_freshness() {
        // RFC 9111 §4.2: a cache SHOULD match dates case-insensitively.
        let date = "sun, 06 nov 1994 08:49:37 gmt";
        let expires = "SUN, 06 NOV 1994 08:50:37 GMT";
        let lifetime = lifetime(&[("date", date), ("expires", expires)], None, SystemTime::now());
        assert_eq!(lifetime, Some(Duration::from_secs(60)));
        let ten_seconds_later = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777 + 10);
        let age = corrected_initial_age(
            &headers(&[("date", "Sunday, 06-nov-94 08:49:37 GMT")]),
            ten_seconds_later,
            ten_seconds_later,
        );
        assert_eq!(age, Duration::from_secs(10));
    }

    #[test]
    fn merging_a_304_replaces_fields_but_not_content_length() {
        let stored = headers(&[
            ("etag", "\"1\""),
            ("content-length", "5"),
            ("x-a", "old"),
            ("x-b", "kept"),
        ]);
        let update = headers(&[("x-a", "new"), ("content-length", "0"), ("connection", "close")]);
        let merged = merge_not_modified(&stored, &update);
        assert_eq!(merged["x-a"], "new");
        assert_eq!(merged["x-b"], "kept");
        assert_eq!(merged["content-length"], "5");
        assert!(!merged.contains_key("connection"));
    }

    #[test]
    fn malformed_values_are_invalid_not_errors() {
        assert_eq!(cc("max-age=abc").max_age, Some(Err(())));
        assert_eq!(cc("max-age=").max_age, Some(Err(())));
        assert_eq!(cc("max-age").max_age, Some(Err(())));
        assert_eq!(
            cc("max-age=99999999999999999999999").max_age,
            Some(Ok(2_147_483_648))
        );
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
        let stored = storable_headers(&h, &[header::SET_COOKIE]);
        assert_eq!(stored.len(), 1);
        assert!(stored.contains_key(header::CONTENT_TYPE));
        assert!(storable_headers(&h, &[]).contains_key(header::SET_COOKIE));
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

    #[test]
    fn header_values_from_the_tables_match_the_rendered_members() {
        let kinds = [
            Forwarded::Bypass,
            Forwarded::Method,
            Forwarded::UriMiss,
            Forwarded::VaryMiss,
            Forwarded::Miss,
            Forwarded::Stale,
            Forwarded::Request,
        ];
        let mut slots = std::collections::HashSet::new();
        for fwd in kinds {
            assert!(fwd.index() < Forwarded::COUNT);
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
