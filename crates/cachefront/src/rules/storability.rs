//! Which responses may be stored (RFC 9111 §3, §3.5, §5.2.2.3, §5.2.2.5), which of their
//! header fields may be stored and replayed (§3.1, RFC 9110 §7.6.1), and the fields a
//! response's `Vary` names (RFC 9111 §4.1).

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::CacheControl;

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
            if let Ok(name) = HeaderName::from_bytes(item)
                && !names.contains(&name)
            {
                names.push(name);
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
pub(crate) fn storable_headers(
    headers: &HeaderMap,
    strip: &[HeaderName],
    hidden: &[HeaderName],
) -> HeaderMap {
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
            || strip.contains(name)
            || hidden.contains(name)
        {
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

/// Statuses whose semantics cachefront knows (RFC 9110 §15), for storing with explicit
/// freshness and for `must-understand` (RFC 9111 §5.2.2.3). 206 (partial content) and 304 are
/// never stored as such.
pub(crate) fn understood_status(status: u16) -> bool {
    matches!(
        status,
        200..=205 | 300..=303 | 305 | 307 | 308 | 400..=417 | 421..=426 | 428 | 429 | 431 | 451 | 500..=505 | 511
    )
}

/// Whether a shared cache may store a response with this status on the strength of its
/// explicit freshness or `public` (RFC 9111 §3): any final status, including codes the cache
/// does not know (299, 599), unless `must-understand` limits it to the `understood` ones; never
/// 206 or 304 as they are.
pub(crate) fn storable_status(code: u16, cc: &CacheControl, understood: bool) -> bool {
    code >= 200 && !matches!(code, 206 | 304) && (understood || !cc.must_understand)
}

/// Whether `no-store` forbids storing the response (RFC 9111 §5.2.2.5): it does, unless
/// `must-understand` is present and the status is `understood` (§5.2.2.3).
pub(crate) fn forbids_storing(cc: &CacheControl, understood: bool) -> bool {
    cc.no_store && !(cc.must_understand && understood)
}

/// Whether a shared cache may store the response to a request with `Authorization` (RFC 9111
/// §3.5): only when the origin marked it shareable with `public`, `s-maxage` or
/// `must-revalidate`.
pub(crate) fn shareable_when_authorized(cc: &CacheControl) -> bool {
    cc.public || cc.s_maxage.is_some() || cc.must_revalidate
}

/// The body's size from `Content-Length` (RFC 9110 §8.6), when it has a valid one.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let stored = storable_headers(&h, &[header::SET_COOKIE], &[]);
        assert_eq!(stored.len(), 1);
        assert!(stored.contains_key(header::CONTENT_TYPE));
        assert!(storable_headers(&h, &[], &[]).contains_key(header::SET_COOKIE));
        // The policy's hidden tag headers are dropped as the response's own strip list is.
        h.insert("cache-tag", HeaderValue::from_static("product:1"));
        let hidden = [http::HeaderName::from_static("cache-tag")];
        assert!(!storable_headers(&h, &[], &hidden).contains_key("cache-tag"));
        assert!(storable_headers(&h, &[], &[]).contains_key("cache-tag"));
    }

    #[test]
    fn statuses_no_store_credentials_and_content_length() {
        let cc = crate::rules::test_support::cc;
        assert!(understood_status(200) && understood_status(404) && understood_status(511));
        assert!(!understood_status(206) && !understood_status(304) && !understood_status(299));
        assert!(
            storable_status(299, &cc("max-age=60"), false),
            "unknown codes with freshness"
        );
        assert!(!storable_status(299, &cc("max-age=60, must-understand"), false));
        assert!(storable_status(200, &cc("must-understand"), true));
        for code in [101, 206, 304] {
            assert!(
                !storable_status(code, &cc("public"), understood_status(code)),
                "{code}"
            );
        }
        assert!(forbids_storing(&cc("no-store"), true));
        assert!(!forbids_storing(&cc("no-store, must-understand"), true));
        assert!(forbids_storing(&cc("no-store, must-understand"), false));
        assert!(!forbids_storing(&cc("max-age=1"), true));
        for shareable in ["public", "s-maxage=5", "must-revalidate"] {
            assert!(shareable_when_authorized(&cc(shareable)), "{shareable}");
        }
        assert!(!shareable_when_authorized(&cc("max-age=60, proxy-revalidate")));
        let length = |value: &'static str| {
            content_length(&HeaderMap::from_iter([(
                header::CONTENT_LENGTH,
                HeaderValue::from_static(value),
            )]))
        };
        assert_eq!(length("42"), Some(42));
        assert_eq!(length(" 7 "), Some(7));
        assert_eq!(length("-1"), None);
        assert_eq!(length("1,1"), None);
        assert_eq!(content_length(&HeaderMap::new()), None);
    }
}
