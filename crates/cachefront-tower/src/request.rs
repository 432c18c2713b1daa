//! The request head the core sees: the request's original target.

use cachefront::adapter::RequestHead;
use http::{HeaderMap, HeaderName, Uri, request::Parts};

/// A request head as the core sees it: method, headers and host of the request, path and query
/// of its *original* target.
///
/// A router that nests services under a prefix hands them the URI with the prefix removed
/// (axum's `Router::nest`); keying or invalidating on that URI would give `/v1/items` and
/// `/v2/items` one entry. With the `axum` feature, the target is axum's
/// [`OriginalUri`](axum::extract::OriginalUri) when the request carries one.
pub(crate) struct TowerRequestHead<'a> {
    request: &'a Parts,
    target: &'a Uri,
}

impl<'a> TowerRequestHead<'a> {
    pub(crate) fn new(request: &'a Parts) -> Self {
        Self {
            request,
            target: original_uri(request),
        }
    }
}

fn original_uri(request: &Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions.get() {
        return uri;
    }
    &request.uri
}

impl RequestHead for TowerRequestHead<'_> {
    fn method(&self) -> &str {
        self.request.method.as_str()
    }

    fn path(&self) -> &str {
        self.target.path()
    }

    fn query(&self) -> Option<&str> {
        self.target.query()
    }

    fn host(&self) -> Option<&str> {
        self.request.host()
    }

    fn authority(&self) -> Option<&str> {
        self.request.authority()
    }

    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.request.for_each_header_value(name, f);
    }

    fn contains_header(&self, name: &HeaderName) -> bool {
        self.request.contains_header(name)
    }

    fn to_header_map(&self) -> HeaderMap {
        self.request.headers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "axum")]
    #[test]
    fn the_original_uri_is_the_target() {
        let (mut parts, ()) = http::Request::get("/items?a=1").body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(axum::extract::OriginalUri("/v1/items?b=2".parse().unwrap()));
        let head = TowerRequestHead::new(&parts);
        assert_eq!((head.path(), head.query()), ("/v1/items", Some("b=2")));
    }
}
