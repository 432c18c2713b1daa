//! Which header fields of a response may be stored and replayed (RFC 9111 §3.1, RFC 9110
//! §7.6.1), and the fields its `Vary` names (RFC 9111 §4.1).

use http::{HeaderMap, HeaderName, HeaderValue, header};

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
        let stored = storable_headers(&h, &[header::SET_COOKIE]);
        assert_eq!(stored.len(), 1);
        assert!(stored.contains_key(header::CONTENT_TYPE));
        assert!(storable_headers(&h, &[]).contains_key(header::SET_COOKIE));
    }
}
