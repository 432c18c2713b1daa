//! The request head the core sees: the request's original target, with `Host` made to agree
//! with it.

use cachefront::RequestHead;
use http::{HeaderMap, HeaderName, HeaderValue, Uri, header, request::Parts};

/// A request head as the core sees it: method, headers and host of the request, path and query
/// of its *original* target.
///
/// A router that nests services under a prefix hands them the URI with the prefix removed
/// (axum's `Router::nest`); keying or invalidating on that URI would give `/v1/items` and
/// `/v2/items` one entry. With the `axum` feature, the target is axum's
/// [`OriginalUri`](axum::extract::OriginalUri) when the request carries one.
pub(crate) struct TowerRequestHead<'a> {
    parts: &'a Parts,
    target: &'a Uri,
}

impl<'a> TowerRequestHead<'a> {
    pub(crate) fn new(parts: &'a Parts) -> Self {
        Self {
            parts,
            target: original_uri(parts),
        }
    }
}

fn original_uri(parts: &Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.get() {
        return uri;
    }
    &parts.uri
}

/// Gives `Host` the target's authority when they differ (RFC 9112 §3.2.2), so that the handler
/// sees the host the key uses ([`cachefront::host_replacement`]).
pub(crate) fn normalize_host(parts: &mut Parts) {
    let host = parts.headers.get(header::HOST).map(HeaderValue::as_bytes);
    let Some(authority) = cachefront::host_replacement(parts.uri.authority().map(|a| a.as_str()), host)
    else {
        return;
    };
    // An authority is always a valid field value.
    if let Ok(value) = HeaderValue::from_str(authority) {
        parts.headers.insert(header::HOST, value);
    }
}

impl RequestHead for TowerRequestHead<'_> {
    fn method(&self) -> &str {
        self.parts.method.as_str()
    }

    fn path(&self) -> &str {
        self.target.path()
    }

    fn query(&self) -> Option<&str> {
        self.target.query()
    }

    fn host(&self) -> Option<&str> {
        RequestHead::host(self.parts)
    }

    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.parts.for_each_header_value(name, f);
    }

    fn contains_header(&self, name: &HeaderName) -> bool {
        self.parts.contains_header(name)
    }

    fn to_header_map(&self) -> HeaderMap {
        self.parts.headers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::request::Builder) -> Parts {
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn an_absolute_form_target_replaces_host() {
        let mut p = parts(http::Request::get("http://victim.example/p").header("host", "evil.example"));
        normalize_host(&mut p);
        assert_eq!(p.headers["host"], "victim.example");
        assert_eq!(TowerRequestHead::new(&p).host(), Some("victim.example"));
    }

    #[test]
    fn an_origin_form_target_keeps_host() {
        let mut p = parts(http::Request::get("/p").header("host", "a.example"));
        normalize_host(&mut p);
        assert_eq!(p.headers["host"], "a.example");
        assert_eq!(TowerRequestHead::new(&p).host(), Some("a.example"));
    }

    #[cfg(feature = "axum")]
    #[test]
    fn the_original_uri_is_the_target() {
        let mut p = parts(http::Request::get("/items?a=1"));
        p.extensions
            .insert(axum::extract::OriginalUri("/v1/items?b=2".parse().unwrap()));
        let head = TowerRequestHead::new(&p);
        assert_eq!((head.path(), head.query()), ("/v1/items", Some("b=2")));
    }
}
