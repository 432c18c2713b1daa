//! Translation between actix-web's `http` 0.2 types and the `http` 1.x types the core speaks.
//!
//! Nothing here decides anything about caching: it only copies names, values and statuses
//! from one crate's types to the other's.

use actix_web::{
    body::BodySize,
    http::{
        StatusCode,
        header::{self, HeaderMap, HeaderName, HeaderValue},
    },
};

/// An actix-web request head as the core sees it.
pub(crate) struct ActixRequestHead<'a>(pub(crate) &'a actix_web::dev::RequestHead);

impl cachefront::adapter::RequestHead for ActixRequestHead<'_> {
    fn method(&self) -> &str {
        self.0.method.as_str()
    }

    fn path(&self) -> &str {
        self.0.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.0.uri.query()
    }

    fn host(&self) -> Option<&str> {
        // As the `http` 1.x implementation: the URI's authority (HTTP/2), else `Host`.
        self.0
            .uri
            .authority()
            .map(|authority| authority.as_str())
            .or_else(|| self.0.headers.get(header::HOST)?.to_str().ok())
    }

    fn authority(&self) -> Option<&str> {
        self.0.uri.authority().map(|authority| authority.as_str())
    }

    fn for_each_header_value(&self, name: &http::HeaderName, f: &mut dyn FnMut(&[u8])) {
        // actix-web's map is `http` 0.2: look the name up by its (lowercase) text.
        for value in self.0.headers.get_all(name.as_str()) {
            f(value.as_bytes());
        }
    }

    fn contains_header(&self, name: &http::HeaderName) -> bool {
        self.0.headers.contains_key(name.as_str())
    }

    fn to_header_map(&self) -> http::HeaderMap {
        to_http_headers(&self.0.headers)
    }
}

/// Copies an actix-web header map into an `http` 1.x one.
pub(crate) fn to_http_headers(headers: &HeaderMap) -> http::HeaderMap {
    let mut map = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        // Both crates accept the same names and values; a failure cannot happen, and skipping
        // the field is the safe answer if it ever did.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// Copies an `http` 1.x header map into an actix-web one.
pub(crate) fn to_actix_headers(headers: &http::HeaderMap) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        append_actix(&mut map, name, value);
    }
    map
}

/// An `http` 1.x header name as an actix-web one.
pub(crate) fn to_actix_name(name: &http::HeaderName) -> HeaderName {
    HeaderName::from_bytes(name.as_str().as_bytes()).expect("http 0.2 and 1.x accept the same names")
}

/// Appends one `http` 1.x field to an actix-web header map.
pub(crate) fn append_actix(map: &mut HeaderMap, name: &http::HeaderName, value: &http::HeaderValue) {
    if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
        map.append(to_actix_name(name), value);
    }
}

/// The exact size of a body, when actix-web knows it: what `http` 1.x bodies call an exact
/// size hint. `BodySize::None` (no body at all) is exactly empty.
pub(crate) fn exact_size(size: BodySize) -> Option<u64> {
    match size {
        BodySize::None => Some(0),
        BodySize::Sized(len) => Some(len),
        BodySize::Stream => None,
    }
}

/// An actix-web status as an `http` 1.x one.
pub(crate) fn to_http_status(status: StatusCode) -> http::StatusCode {
    http::StatusCode::from_u16(status.as_u16()).expect(SAME_STATUS_RANGE)
}

/// An `http` 1.x status as an actix-web one.
pub(crate) fn to_actix_status(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).expect(SAME_STATUS_RANGE)
}

const SAME_STATUS_RANGE: &str = "http 0.2 and 1.x both accept every status from 100 to 999";

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use cachefront::adapter::RequestHead as _;

    use super::*;

    #[test]
    fn the_request_view_reads_method_target_and_headers() {
        let request = TestRequest::get()
            .uri("/products/42?b=2&a=1")
            .insert_header(("host", "example.com"))
            .append_header(("accept", "text/html"))
            .append_header(("accept", "application/json"))
            .to_srv_request();
        let view = ActixRequestHead(request.head());
        assert_eq!(view.method(), "GET");
        assert_eq!(view.path(), "/products/42");
        assert_eq!(view.query(), Some("b=2&a=1"));
        assert_eq!(view.host(), Some("example.com"));
        let mut values = Vec::new();
        view.for_each_header_value(&http::header::ACCEPT, &mut |v| values.push(v.to_vec()));
        assert_eq!(values, [b"text/html".to_vec(), b"application/json".to_vec()]);
        assert!(view.contains_header(&http::header::ACCEPT));
        assert!(!view.contains_header(&http::header::AUTHORIZATION));
        let map = view.to_header_map();
        assert_eq!(map.get_all("accept").iter().count(), 2);
        assert_eq!(map["host"], "example.com");
    }

    #[test]
    fn the_uri_authority_wins_over_host() {
        let request = TestRequest::get()
            .uri("https://a.example/x")
            .insert_header(("host", "b.example"))
            .to_srv_request();
        assert_eq!(ActixRequestHead(request.head()).host(), Some("a.example"));
        assert_eq!(ActixRequestHead(request.head()).authority(), Some("a.example"));
    }

    #[test]
    fn headers_round_trip_with_repeated_fields() {
        let mut actix = HeaderMap::new();
        actix.append(HeaderName::from_static("x-a"), HeaderValue::from_static("1"));
        actix.append(HeaderName::from_static("x-a"), HeaderValue::from_static("2"));
        actix.append(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let http1 = to_http_headers(&actix);
        assert_eq!(http1.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
        let back = to_actix_headers(&http1);
        assert_eq!(back.get_all("x-a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(back.get(header::CONTENT_TYPE).unwrap(), "text/plain");
    }

    #[test]
    fn body_sizes_are_exact_unless_streamed() {
        assert_eq!(exact_size(BodySize::Sized(7)), Some(7));
        assert_eq!(exact_size(BodySize::None), Some(0));
        assert_eq!(exact_size(BodySize::Stream), None);
    }

    #[test]
    fn statuses_convert_both_ways() {
        for code in [100, 200, 204, 404, 599, 999] {
            let actix = StatusCode::from_u16(code).unwrap();
            assert_eq!(to_http_status(actix).as_u16(), code);
            assert_eq!(to_actix_status(to_http_status(actix)), actix);
        }
    }
}
