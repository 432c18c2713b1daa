//! The cache's own conditional requests (RFC 9111 §4.3.1): which stored responses can be
//! revalidated, and the header fields that ask the origin whether one is still current.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Whether a stored response has a validator (`ETag` or `Last-Modified`) a conditional request
/// can carry (RFC 9111 §4.3.1): without one it cannot be revalidated, only fetched again.
pub(crate) fn has_validator(stored: &HeaderMap) -> bool {
    stored.contains_key(header::ETAG) || stored.contains_key(header::LAST_MODIFIED)
}

/// The request header edits that revalidate a stored response (RFC 9111 §4.3.1):
/// `If-None-Match` with its `ETag` and `If-Modified-Since` with its `Last-Modified`, each set
/// (`Some`) or, when the stored response lacks that validator, removed (`None`), so that the
/// client's own conditionals do not go along with the cache's.
pub(crate) fn revalidation_headers(stored: &HeaderMap) -> [(HeaderName, Option<HeaderValue>); 2] {
    [
        (header::IF_NONE_MATCH, stored.get(header::ETAG).cloned()),
        (
            header::IF_MODIFIED_SINCE,
            stored.get(header::LAST_MODIFIED).cloned(),
        ),
    ]
}

/// Whether a request carries a precondition a cache does not evaluate for the origin
/// (`If-Match`, `If-Unmodified-Since`, RFC 9110 §13.1.1, §13.1.4): such a request is forwarded.
pub(crate) fn has_precondition(contains: impl Fn(&HeaderName) -> bool) -> bool {
    contains(&header::IF_MATCH) || contains(&header::IF_UNMODIFIED_SINCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::headers;

    #[test]
    fn either_validator_allows_revalidation() {
        assert!(has_validator(&headers(&[("etag", "\"v1\"")])));
        assert!(has_validator(&headers(&[(
            "last-modified",
            "Sun, 06 Nov 1994 08:49:37 GMT"
        )])));
        assert!(!has_validator(&headers(&[(
            "date",
            "Sun, 06 Nov 1994 08:49:37 GMT"
        )])));
    }

    #[test]
    fn the_conditional_replaces_the_clients_own() {
        let edits = revalidation_headers(&headers(&[("etag", "W/\"v1\"")]));
        assert_eq!(
            edits[0],
            (header::IF_NONE_MATCH, Some(HeaderValue::from_static("W/\"v1\"")))
        );
        assert_eq!(
            edits[1],
            (header::IF_MODIFIED_SINCE, None),
            "no Last-Modified: removed"
        );
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        let edits = revalidation_headers(&headers(&[("last-modified", lm)]));
        assert_eq!(edits[0], (header::IF_NONE_MATCH, None));
        assert_eq!(
            edits[1],
            (header::IF_MODIFIED_SINCE, Some(HeaderValue::from_static(lm)))
        );
    }

    #[test]
    fn preconditions_are_if_match_and_if_unmodified_since() {
        for name in [header::IF_MATCH, header::IF_UNMODIFIED_SINCE] {
            let request = HeaderMap::from_iter([(name.clone(), HeaderValue::from_static("*"))]);
            assert!(has_precondition(|n| request.contains_key(n)), "{name}");
        }
        let request = headers(&[("if-none-match", "\"a\""), ("if-modified-since", "x")]);
        assert!(!has_precondition(|n| request.contains_key(n)));
    }
}
