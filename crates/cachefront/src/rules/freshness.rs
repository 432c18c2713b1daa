//! How long a response is fresh and how old it is: the freshness lifetime (RFC 9111 §4.2.1),
//! heuristic freshness (§4.2.2), the corrected initial age (§4.2.3) and the `Age` field (§5.1).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, header};

use super::{
    CacheControl,
    cache_control::delta_seconds,
    cache_status::prerendered,
    date::{DateField, http_date},
};

/// The statuses RFC 9110 §15.1 lists as heuristically cacheable, except 206: cachefront does
/// not combine partial content, so a stored 206 could be replayed to a request without `Range`.
pub const HEURISTICALLY_CACHEABLE: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

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

static AGE_VALUES: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();

/// The `Age` header value for `seconds`.
pub(crate) fn age_value(seconds: u64) -> HeaderValue {
    prerendered(&AGE_VALUES, seconds, |s| s.to_string()).unwrap_or_else(|| HeaderValue::from(seconds))
}

/// Whether a response carries explicit freshness information (RFC 9111 §4.2.1): `s-maxage`,
/// `max-age` or `Expires`.
pub(crate) fn has_explicit_freshness(cc: &CacheControl, headers: &HeaderMap) -> bool {
    cc.s_maxage.is_some() || cc.max_age.is_some() || headers.contains_key(http::header::EXPIRES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::headers;

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
    fn explicit_freshness_is_s_maxage_max_age_or_expires() {
        let explicit = |pairs: &[(&str, &str)]| {
            let h = headers(pairs);
            has_explicit_freshness(&CacheControl::from_headers(&h), &h)
        };
        assert!(explicit(&[("cache-control", "s-maxage=1")]));
        assert!(explicit(&[("cache-control", "max-age=0")]));
        assert!(explicit(&[("expires", "Sun, 06 Nov 1994 08:49:37 GMT")]));
        assert!(!explicit(&[("cache-control", "public")]));
        assert!(!explicit(&[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")]));
    }
}
