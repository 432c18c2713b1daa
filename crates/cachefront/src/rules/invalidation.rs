//! Invalidation by unsafe requests (RFC 9111 §4.4): which responses invalidate, and which URIs
//! besides the target they name; and the tags a response lists in a tag header (such as
//! `Cache-Tag`), the names it can be invalidated by.

use http::{HeaderMap, HeaderValue, StatusCode, header};

/// Whether the response to an unsafe request invalidates the stored responses for its target
/// URI (RFC 9111 §4.4): a non-error status, that is a 2xx or a 3xx.
pub(crate) fn invalidates(status: StatusCode) -> bool {
    status.is_success() || status.is_redirection()
}

/// The URIs an invalidating response names in `Location` and `Content-Location` that a cache
/// invalidates too (RFC 9111 §4.4): those of the request's origin only, so that a response
/// cannot purge another site's responses. A relative reference is of the request's origin;
/// an absolute one is when its authority is the request's `host` (compared without case). A
/// field that does not parse as a URI reference names nothing.
pub(crate) fn same_origin_locations(headers: &HeaderMap, host: Option<&str>) -> Vec<http::Uri> {
    let mut uris = Vec::new();
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(uri) = headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<http::Uri>().ok())
        else {
            continue;
        };
        let same_origin = match uri.authority() {
            None => true,
            Some(authority) => host.is_some_and(|host| authority.as_str().eq_ignore_ascii_case(host)),
        };
        if same_origin {
            uris.push(uri);
        }
    }
    uris
}

/// The tags one value of a tag header lists: separated by commas or spaces, trimmed, empty
/// ones skipped. A value that is not visible ASCII lists none.
pub(crate) fn listed_tags(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::headers;

    #[test]
    fn a_non_error_response_invalidates() {
        for code in [200, 201, 204, 301, 303, 304, 307] {
            assert!(invalidates(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [100, 400, 404, 409, 500, 503] {
            assert!(!invalidates(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn only_same_origin_locations_are_invalidated() {
        let response = headers(&[
            ("location", "/orders/7"),
            ("content-location", "http://EXAMPLE.com/orders/7?v=1"),
        ]);
        let uris = same_origin_locations(&response, Some("example.com"));
        assert_eq!(uris.len(), 2);
        assert_eq!(uris[0].path(), "/orders/7");
        assert_eq!(uris[0].authority(), None);
        assert_eq!(uris[1].authority().unwrap().as_str(), "EXAMPLE.com");
        assert_eq!(uris[1].query(), Some("v=1"));

        let elsewhere = headers(&[
            ("location", "https://other.example/x"),
            ("content-location", "/y"),
        ]);
        let uris = same_origin_locations(&elsewhere, Some("example.com"));
        assert_eq!(uris.len(), 1, "another origin's URI is left alone");
        assert_eq!(uris[0].path(), "/y");
        // Without a known host, only relative references are of the request's origin.
        let uris = same_origin_locations(&elsewhere, None);
        assert_eq!(uris.len(), 1);
        assert!(same_origin_locations(&headers(&[("location", "http://[bad")]), None).is_empty());
        assert!(same_origin_locations(&HeaderMap::new(), Some("example.com")).is_empty());
    }

    #[test]
    fn tags_are_split_on_commas_and_spaces() {
        let value = HeaderValue::from_static(" product:1, product:2  ,list  home,,");
        assert_eq!(
            listed_tags(&value).collect::<Vec<_>>(),
            ["product:1", "product:2", "list", "home"]
        );
        assert_eq!(listed_tags(&HeaderValue::from_static("")).count(), 0);
        let opaque = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        assert_eq!(listed_tags(&opaque).count(), 0, "not visible ASCII: no tags");
    }
}
