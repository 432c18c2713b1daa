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
    /// win over `Host`, but frameworks hand handlers the `Host` header as received; an adapter
    /// therefore replaces `Host` with the authority before its handler runs (see
    /// [`host_replacement`]).
    fn host(&self) -> Option<&str>;
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

/// The value the `Host` header of a request must be given so that its handler sees the host
/// [`RequestHead::host`] (and so the cache key) uses: the target's `authority` when there is
/// one and `Host` differs from it (or is absent), else `None` (`Host` is right as it is).
///
/// RFC 9112 §3.2.2: a server receiving an absolute-form target uses the target's authority
/// and ignores `Host`; a proxy forwarding it generates `Host` from the target. Frameworks hand
/// handlers the `Host` header as received, so without this an attacker could send
/// `GET http://victim.example/page` with `Host: evil.example` and have a page rendered for
/// evil.example stored under victim.example. Adapters call this before the lookup.
///
/// ```
/// use cachefront::host_replacement;
///
/// assert_eq!(host_replacement(Some("victim.example"), Some(b"evil.example")), Some("victim.example"));
/// assert_eq!(host_replacement(Some("a.example"), None), Some("a.example"));
/// assert_eq!(host_replacement(Some("a.example"), Some(b"a.example")), None);
/// assert_eq!(host_replacement(None, Some(b"a.example")), None);
/// ```
pub fn host_replacement<'a>(authority: Option<&'a str>, host_header: Option<&[u8]>) -> Option<&'a str> {
    let authority = authority?;
    (host_header != Some(authority.as_bytes())).then_some(authority)
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

/// The normalised value of header `name` in a request (see [`push_normalized`]); `None` when
/// absent.
pub(crate) fn normalized_header(request: &(impl RequestHead + ?Sized), name: &HeaderName) -> Option<Vec<u8>> {
    let mut out = None;
    request.for_each_header_value(name, &mut |value| push_normalized(&mut out, value));
    out.map(|value| conceal_credential(name, value))
}

/// The normalised value of header `name` in an `http` 1.x header map.
pub(crate) fn normalized_header_in(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut out = None;
    for value in headers.get_all(name) {
        push_normalized(&mut out, value.as_bytes());
    }
    out.map(|value| conceal_credential(name, value))
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
