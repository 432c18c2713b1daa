//! Whether a stored response may be reused for a request: fresh, stale but accepted, stale
//! while revalidating or only after validation (RFC 9111 §4, §4.2.4, §5.2.1, RFC 5861).

use std::time::{Duration, SystemTime};

use super::CacheControl;
use crate::entry::Entry;

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
    if let Some(Ok(max_age)) = request.max_age
        && age.as_secs() > max_age
    {
        return Reuse::Revalidate;
    }
    if let Some(min_fresh) = request.min_fresh
        && entry.ttl.saturating_sub(age) < Duration::from_secs(min_fresh)
    {
        return Reuse::Revalidate;
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
    // An entry whose age has just reached its lifetime is stale too (RFC 9111 §4.2: fresh while
    // the lifetime exceeds the age): without a window it is revalidated, not served stale.
    if !entry.stale_while_revalidate.is_zero()
        && staleness <= entry.stale_while_revalidate
        && request.max_age.is_none()
    {
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

/// Whether a response must not be served stale without validation, by a shared cache (RFC 9111
/// §4.2.4): `must-revalidate` (§5.2.2.2), `proxy-revalidate` (§5.2.2.8) or `s-maxage`
/// (§5.2.2.10).
pub(crate) fn must_revalidate(cc: &CacheControl) -> bool {
    cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::cc;

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

    /// An entry stored `age` seconds ago with a `ttl`-second lifetime.
    fn aged(age: u64, ttl: u64) -> (Entry, SystemTime) {
        let now = SystemTime::now();
        let mut entry = Entry::for_tests();
        entry.stored_at = now;
        entry.initial_age = Duration::from_secs(age);
        entry.ttl = Duration::from_secs(ttl);
        (entry, now)
    }

    #[test]
    fn a_requests_max_age_and_min_fresh_bound_reuse_at_their_edges() {
        let (entry, now) = aged(10, 60);
        // max-age: an age equal to it is still acceptable (RFC 9111 §5.2.1.1), one less is not.
        assert_eq!(reuse(&entry, &cc("max-age=10"), now), Reuse::Fresh);
        assert_eq!(reuse(&entry, &cc("max-age=9"), now), Reuse::Revalidate);
        assert_eq!(reuse(&entry, &cc("max-age=11"), now), Reuse::Fresh);
        // min-fresh: 50 s of freshness left satisfies 50, not 51 (§5.2.1.3).
        assert_eq!(reuse(&entry, &cc("min-fresh=50"), now), Reuse::Fresh);
        assert_eq!(reuse(&entry, &cc("min-fresh=51"), now), Reuse::Revalidate);
    }

    #[test]
    fn freshness_ends_when_the_age_reaches_the_lifetime() {
        let (mut entry, now) = aged(60, 60);
        assert_eq!(
            reuse(&entry, &CacheControl::default(), now),
            Reuse::Revalidate,
            "no window: revalidate"
        );
        entry.stale_while_revalidate = Duration::from_secs(5);
        assert_eq!(
            reuse(&entry, &CacheControl::default(), now),
            Reuse::StaleWhileRevalidate
        );
        let (mut edge, now) = aged(65, 60);
        edge.stale_while_revalidate = Duration::from_secs(5);
        assert_eq!(
            reuse(&edge, &CacheControl::default(), now),
            Reuse::StaleWhileRevalidate,
            "the window's last second"
        );
        let (mut past, now) = aged(66, 60);
        past.stale_while_revalidate = Duration::from_secs(5);
        assert_eq!(reuse(&past, &CacheControl::default(), now), Reuse::Revalidate);
        // A request's max-stale accepts stale up to its limit, inclusive.
        assert_eq!(reuse(&past, &cc("max-stale=6"), now), Reuse::StaleAccepted);
        assert_eq!(reuse(&past, &cc("max-stale=5"), now), Reuse::Revalidate);
        assert_eq!(reuse(&past, &cc("max-stale"), now), Reuse::StaleAccepted);
    }

    #[test]
    fn stale_if_error_needs_a_window_and_one_of_the_four_statuses() {
        // Just stale (staleness 0) with no window anywhere: not served on error.
        let (entry, now) = aged(60, 60);
        assert!(!stale_if_error_allows(&entry, &CacheControl::default(), now));
        assert!(stale_if_error_allows(&entry, &cc("stale-if-error=1"), now));
        for status in [500, 502, 503, 504] {
            assert!(is_stale_if_error_status(status), "{status}");
        }
        for status in [200, 404, 501, 505] {
            assert!(!is_stale_if_error_status(status), "{status}");
        }
    }

    #[test]
    fn revalidation_directives_forbid_serving_stale() {
        for line in ["must-revalidate", "proxy-revalidate", "s-maxage=10, max-age=60"] {
            assert!(must_revalidate(&cc(line)), "{line}");
        }
        assert!(!must_revalidate(&cc("max-age=60, no-cache, stale-if-error=30")));
    }
}
