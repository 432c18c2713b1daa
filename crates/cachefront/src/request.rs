//! A framework-neutral view of a request head.

use http::{HeaderMap, HeaderName};

/// What the core needs to know about a request: method, target and headers.
///
/// The core never sees a framework's request type. Each adapter implements this trait for its
/// own request head (the Tower adapter uses the implementation for [`http::Request`] and
/// [`http::request::Parts`] below; the actix-web adapter implements it over actix's `http` 0.2
/// types), so no caching decision depends on which framework asked.
///
/// Header names are passed as `http` 1.x [`HeaderName`]s (cheap to compare); an adapter over
/// another `http` version looks them up by [`HeaderName::as_str`].
pub trait RequestHead {
    /// The request method, e.g. `"GET"`.
    fn method(&self) -> &str;
    /// The path of the request target, e.g. `"/products/42"`.
    fn path(&self) -> &str;
    /// The query of the request target without the `?`, if any.
    fn query(&self) -> Option<&str>;
    /// The host the request was sent to: the URI's authority, else the `Host` header.
    ///
    /// This is the host the key uses, so it must be the host the handler sees. RFC 9112
    /// §3.2.2 makes the authority of an absolute-form target (`GET http://a.example/ HTTP/1.1`)
    /// win over `Host`, but frameworks hand handlers the `Host` header as received; the core's
    /// flow ([`serve`](crate::adapter::serve)) therefore replaces `Host` with the authority before
    /// the handler runs.
    fn host(&self) -> Option<&str>;
    /// The authority of the request target, when it has one (an absolute-form target, or
    /// HTTP/2's `:authority`). The core makes `Host` agree with it before the handler runs:
    /// otherwise `GET http://victim.example/page` with `Host: evil.example` would have a page
    /// rendered for evil.example stored under victim.example.
    fn authority(&self) -> Option<&str> {
        None
    }
    /// Calls `f` with each value of the header `name`, in order.
    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8]));
    /// Whether the header `name` is present.
    fn contains_header(&self, name: &HeaderName) -> bool;
    /// A copy of the request headers as an `http` 1.x map.
    ///
    /// Called once per forwarded cacheable request (never on hits), so that the stored response
    /// can remember the request values of the headers its `Vary` names.
    fn to_header_map(&self) -> HeaderMap;
}

fn host_of<'a>(uri: &'a http::Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(http::header::HOST)?.to_str().ok())
}

macro_rules! impl_request_head {
    (impl$(<$generic:ident>)? for $ty:ty, |$this:ident| ($method:expr, $uri:expr, $headers:expr)) => {
        impl$(<$generic>)? RequestHead for $ty {
            fn method(&self) -> &str {
                let $this = self;
                $method.as_str()
            }
            fn path(&self) -> &str {
                let $this = self;
                $uri.path()
            }
            fn query(&self) -> Option<&str> {
                let $this = self;
                $uri.query()
            }
            fn host(&self) -> Option<&str> {
                let $this = self;
                host_of($uri, $headers)
            }
            fn authority(&self) -> Option<&str> {
                let $this = self;
                $uri.authority().map(|a| a.as_str())
            }
            fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
                let $this = self;
                for value in $headers.get_all(name) {
                    f(value.as_bytes());
                }
            }
            fn contains_header(&self, name: &HeaderName) -> bool {
                let $this = self;
                $headers.contains_key(name)
            }
            fn to_header_map(&self) -> HeaderMap {
                let $this = self;
                $headers.clone()
            }
        }
    };
}

impl<T: RequestHead + ?Sized> RequestHead for &T {
    fn method(&self) -> &str {
        (**self).method()
    }
    fn path(&self) -> &str {
        (**self).path()
    }
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
    fn host(&self) -> Option<&str> {
        (**self).host()
    }
    fn authority(&self) -> Option<&str> {
        (**self).authority()
    }
    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        (**self).for_each_header_value(name, f);
    }
    fn contains_header(&self, name: &HeaderName) -> bool {
        (**self).contains_header(name)
    }
    fn to_header_map(&self) -> HeaderMap {
        (**self).to_header_map()
    }
}

impl_request_head!(impl<B> for http::Request<B>, |r| (r.method(), r.uri(), r.headers()));
impl_request_head!(impl for http::request::Parts, |p| (&p.method, &p.uri, &p.headers));

/// Appends one field line to a normalised field value: items split on commas, optional
/// whitespace around them removed, joined with `", "`.
///
/// Joining every field line of a header this way is the normalisation RFC 9111 §4.1 allows when
/// comparing `Vary`-named headers, and the form in which such headers enter a cache key.
pub(crate) fn push_normalized(out: &mut Option<Vec<u8>>, value: &[u8]) {
    let buf = out.get_or_insert_with(Vec::new);
    for item in value.split(|b| *b == b',') {
        if !buf.is_empty() {
            buf.extend_from_slice(b", ");
        }
        buf.extend_from_slice(item.trim_ascii());
    }
}

/// The normalised value of header `name` in a request (see [`push_normalized`] and
/// [`canonical_value`]); `None` when absent.
pub(crate) fn normalized_header(request: &(impl RequestHead + ?Sized), name: &HeaderName) -> Option<Vec<u8>> {
    let mut out = None;
    request.for_each_header_value(name, &mut |value| push_normalized(&mut out, value));
    out.map(|value| canonical_value(name, value))
}

/// The normalised value of header `name` in an `http` 1.x header map, as [`normalized_header`].
pub(crate) fn normalized_header_in(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut out = None;
    for value in headers.get_all(name) {
        push_normalized(&mut out, value.as_bytes());
    }
    out.map(|value| canonical_value(name, value))
}

/// The headers whose values are lists in which order, case and whitespace carry no meaning to
/// the cache: values that differ only in those select the same variant and the same key.
const SET_VALUED_HEADERS: [HeaderName; 2] = [http::header::ACCEPT_ENCODING, http::header::ACCEPT_LANGUAGE];

/// The one form in which the cache keeps and compares a request header's value (joined by
/// [`push_normalized`]): in keys, in the `Vary` values stored with a response, and when a
/// request is matched against them.
///
/// `Accept-Encoding` and `Accept-Language` are read as sets: their members lower-cased, each
/// parameter (a q-value) trimmed and kept with its member, empty members dropped, sorted and
/// joined with `,` (`"gzip;q=0.8,br"` and `"BR, gzip ; q=0.8"` both become
/// `"br,gzip;q=0.8"`). A credential header's value becomes a digest of itself; any other value
/// is kept as joined.
fn canonical_value(name: &HeaderName, joined: Vec<u8>) -> Vec<u8> {
    if !SET_VALUED_HEADERS.contains(name) {
        return conceal_credential(name, joined);
    }
    let mut members: Vec<Vec<u8>> = joined
        .split(|b| *b == b',')
        .map(|member| {
            let mut canonical = Vec::with_capacity(member.len());
            for (i, part) in member.split(|b| *b == b';').enumerate() {
                if i > 0 {
                    canonical.push(b';');
                }
                canonical.extend(part.trim_ascii().iter().map(u8::to_ascii_lowercase));
            }
            canonical
        })
        .filter(|member| !member.is_empty())
        .collect();
    members.sort_unstable();
    members.join(&b","[..])
}

/// The headers that carry credentials: the cache keeps and compares a digest of their values,
/// never the values (in keys, `Vary` data stored with a response, logs, Redis or messages).
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    http::header::COOKIE,
    http::header::AUTHORIZATION,
    http::header::PROXY_AUTHORIZATION,
];

/// A credential header's normalised value as the cache keeps it: `#` and the SHA-256 (hex) of
/// the header name and value, length-framed; any other header's value unchanged. Equal values
/// keep equal digests, so keys and `Vary` matching work as with the values themselves.
fn conceal_credential(name: &HeaderName, value: Vec<u8>) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    if !CREDENTIAL_HEADERS.contains(name) {
        return value;
    }
    let mut hasher = Sha256::new();
    for part in [name.as_str().as_bytes(), &value] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut out = Vec::with_capacity(65);
    out.push(b'#');
    for byte in digest {
        out.extend_from_slice(format!("{byte:02x}").as_bytes());
    }
    out
}

/// A `GET` for a URI named in a response (`Location`, `Content-Location`), without headers.
pub(crate) struct UriHead<'a> {
    pub(crate) host: Option<&'a str>,
    pub(crate) uri: &'a http::Uri,
}

impl RequestHead for UriHead<'_> {
    fn method(&self) -> &str {
        "GET"
    }
    fn path(&self) -> &str {
        self.uri.path()
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
    fn host(&self) -> Option<&str> {
        self.host
    }
    fn for_each_header_value(&self, _name: &HeaderName, _f: &mut dyn FnMut(&[u8])) {}
    fn contains_header(&self, _name: &HeaderName) -> bool {
        false
    }
    fn to_header_map(&self) -> HeaderMap {
        HeaderMap::new()
    }
}

#[cfg(test)]
mod tests {
    use http::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, COOKIE};

    use super::*;

    fn normalized(name: &HeaderName, lines: &[&str]) -> Option<Vec<u8>> {
        let mut request = http::Request::get("http://h/").body(()).unwrap();
        for line in lines {
            request.headers_mut().append(name, line.parse().unwrap());
        }
        let value = normalized_header(&request, name);
        assert_eq!(
            value,
            normalized_header_in(request.headers(), name),
            "both readings agree"
        );
        value
    }

    #[test]
    fn accept_encoding_and_language_differing_in_order_case_or_whitespace_are_one_value() {
        for (name, variants, expected) in [
            (
                &ACCEPT_ENCODING,
                &[
                    &["gzip, br"][..],
                    &["br,gzip"],
                    &[" BR ,GZip "],
                    &["br", "gzip"],
                    &["gzip,,br,"],
                ][..],
                "br,gzip",
            ),
            (
                &ACCEPT_LANGUAGE,
                &[
                    &["en-US, fr"][..],
                    &["fr,en-us"],
                    &["FR , EN-us"],
                    &["fr", "en-US"],
                ],
                "en-us,fr",
            ),
        ] {
            for lines in variants {
                assert_eq!(
                    normalized(name, lines).as_deref(),
                    Some(expected.as_bytes()),
                    "{name}: {lines:?}"
                );
            }
        }
        // Absent and empty stay distinct (RFC 9111 §4.1).
        assert_eq!(normalized(&ACCEPT_LANGUAGE, &[]), None);
        assert_eq!(normalized(&ACCEPT_LANGUAGE, &[""]).as_deref(), Some(&b""[..]));
        // Only these two headers are read as sets: others keep their order and case, and
        // credentials are still kept as digests.
        assert_eq!(
            normalized(&ACCEPT, &["text/HTML ,  application/json"]).as_deref(),
            Some(&b"text/HTML, application/json"[..])
        );
        let x_list = HeaderName::from_static("x-list");
        assert_ne!(normalized(&x_list, &["b, a"]), normalized(&x_list, &["a, b"]));
        let cookie = normalized(&COOKIE, &["sid=SECRET"]).unwrap();
        assert!(cookie.starts_with(b"#") && !cookie.windows(6).any(|w| w == b"SECRET"));
    }

    #[test]
    fn q_values_stay_with_their_member_normalised() {
        assert_eq!(
            normalized(&ACCEPT_ENCODING, &["gzip ; Q=0.8, br;q=1"]).as_deref(),
            Some(&b"br;q=1,gzip;q=0.8"[..])
        );
        assert_ne!(
            normalized(&ACCEPT_ENCODING, &["gzip;q=0.8, br"]),
            normalized(&ACCEPT_ENCODING, &["gzip, br;q=0.8"]),
            "a q-value is not moved to another member"
        );
        assert_eq!(
            normalized(&ACCEPT_LANGUAGE, &["de;q=0.5, EN;q=0.9"]).as_deref(),
            Some(&b"de;q=0.5,en;q=0.9"[..])
        );
    }
}
