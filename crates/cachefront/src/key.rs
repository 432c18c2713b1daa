//! Cache keys: what makes two requests "the same" for the cache.

use std::{fmt, hash::Hash, sync::Arc};

use sha2::{Digest as _, Sha256};

use crate::request::{RequestHead, normalized_header};

/// The SHA-256 digest of a key's material: the identity of a stored response.
///
/// Untrusted input can neither collide two keys nor grow the storage key: every key is 32 bytes.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
        out
    }
}

impl Hash for KeyDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The digest is already uniformly distributed; eight bytes of it are a perfect hash.
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The key under which a response is stored.
///
/// A key has two forms: the [`digest`](Self::digest) (SHA-256 of the key material, used by every
/// store) and the [`readable`](Self::readable) form, e.g.
/// `GET /products/42?a=1&b=2 host=example.com accept-language=en`, kept for logs and purging.
///
/// Keys are built by the [`KeySpec`] of a route's [`Policy`](crate::Policy); they can also be
/// built from arbitrary parts with [`CacheKey::from_parts`].
///
/// ```
/// use cachefront::{CacheKey, KeySpec};
///
/// let request = http::Request::get("http://example.com/items?b=2&a=1").body(()).unwrap();
/// let key = KeySpec::default().build(&request);
/// assert_eq!(key.readable(), "GET /items?a=1&b=2 host=example.com");
/// // Query order does not matter.
/// let other = http::Request::get("http://example.com/items?a=1&b=2").body(()).unwrap();
/// assert_eq!(KeySpec::default().build(&other), key);
/// ```
#[derive(Clone)]
pub struct CacheKey {
    digest: KeyDigest,
    readable: String,
}

impl CacheKey {
    /// A key from free-form parts (for values memoized outside a request, or tests).
    ///
    /// Parts are length-framed before hashing, so `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn from_parts<I, P>(parts: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let mut material = KeyMaterial::new(64);
        for part in parts {
            material.part("", part.as_ref().as_bytes());
        }
        material.finish()
    }

    /// A key that names nothing, for a value moved out of its place: it costs no allocation.
    pub(crate) fn placeholder() -> Self {
        Self {
            digest: KeyDigest::default(),
            readable: String::new(),
        }
    }

    /// The SHA-256 digest of the key material.
    pub fn digest(&self) -> &KeyDigest {
        &self.digest
    }

    /// The human-readable key: method, path and normalised query, host, then keyed headers and
    /// custom parts, e.g. `GET /products/42?page=2 host=example.com`.
    pub fn readable(&self) -> &str {
        &self.readable
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for CacheKey {}

impl Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digest.hash(state);
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&self.readable).finish()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.readable)
    }
}

/// Which query parameters take part in the key.
///
/// Parameters are compared as they appear on the wire (no percent-decoding) and sorted, so
/// `?b=2&a=1` and `?a=1&b=2` share a key. Parameters with the same name keep their relative
/// order, since `?a=1&a=2` and `?a=2&a=1` may mean different things to a handler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryKey {
    /// Every parameter (the default).
    #[default]
    All,
    /// Only the named parameters (an allow-list); the rest do not change the key.
    Only(Vec<String>),
    /// Every parameter except the named ones (a deny-list), e.g. tracking parameters.
    Except(Vec<String>),
    /// The query does not take part in the key at all.
    Ignore,
}

impl QueryKey {
    /// An allow-list of parameter names.
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Only(names.into_iter().map(Into::into).collect())
    }

    /// A deny-list of parameter names.
    pub fn except<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Except(names.into_iter().map(Into::into).collect())
    }

    fn keeps(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n == name),
            Self::Except(names) => !names.iter().any(|n| n == name),
            Self::Ignore => false,
        }
    }
}

/// A custom part of the cache key, computed from the request.
///
/// Implemented for every `Fn(&dyn RequestHead) -> Option<String>`; return `None` when the part
/// does not apply to this request (that is also part of the key, distinct from an empty string).
///
/// ```
/// use cachefront::{KeySpec, RequestHead};
///
/// // Key on the tenant a subdomain names, without keying on the full host.
/// let spec = KeySpec::default().part(|request: &dyn RequestHead| {
///     request.host().and_then(|h| h.split('.').next()).map(str::to_owned)
/// });
/// ```
pub trait KeyPart: Send + Sync + 'static {
    /// The part's value for this request.
    fn key_part(&self, request: &dyn RequestHead) -> Option<String>;
}

impl<F> KeyPart for F
where
    F: Fn(&dyn RequestHead) -> Option<String> + Send + Sync + 'static,
{
    fn key_part(&self, request: &dyn RequestHead) -> Option<String> {
        self(request)
    }
}

/// How a route builds keys: which parts of the request make two requests the same.
///
/// By default: method (`HEAD` is keyed as `GET`, so it is answered from the stored `GET`), host,
/// path and every query parameter, sorted. Request headers enter the key only when named here
/// (or, per stored response, through its `Vary`).
#[derive(Clone)]
#[must_use]
pub struct KeySpec {
    pub(crate) query: QueryKey,
    pub(crate) host: bool,
    pub(crate) headers: Vec<http::HeaderName>,
    pub(crate) parts: Vec<Arc<dyn KeyPart>>,
}

impl Default for KeySpec {
    fn default() -> Self {
        Self {
            query: QueryKey::All,
            host: true,
            headers: Vec::new(),
            parts: Vec::new(),
        }
    }
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("query", &self.query)
            .field("host", &self.host)
            .field("headers", &self.headers)
            .field("parts", &self.parts.len())
            .finish()
    }
}

impl KeySpec {
    /// Which query parameters take part in the key.
    pub fn query(mut self, query: QueryKey) -> Self {
        self.query = query;
        self
    }

    /// Whether the host takes part in the key (default `true`). Turn it off only when every
    /// host the server answers for serves the same content.
    pub fn host(mut self, include: bool) -> Self {
        self.host = include;
        self
    }

    /// Adds a request header to the key (its field lines joined, whitespace normalised).
    pub fn header(mut self, name: http::HeaderName) -> Self {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
        self
    }

    /// Adds a custom part to the key.
    pub fn part(mut self, part: impl KeyPart) -> Self {
        self.parts.push(Arc::new(part));
        self
    }

    /// Builds the key of a request.
    pub fn build<R: RequestHead>(&self, request: &R) -> CacheKey {
        self.build_with(request, &[])
    }

    /// Builds the key of a request, with extra headers to key on (the cookie or authorization
    /// header when a policy keys on credentials).
    pub(crate) fn build_with<R: RequestHead>(&self, request: &R, extra: &[&http::HeaderName]) -> CacheKey {
        let path = request.path();
        let query = request.query().unwrap_or("");
        let host = if self.host {
            request.host().unwrap_or("")
        } else {
            ""
        };
        let mut material = KeyMaterial::new(host.len() + path.len() + query.len() + 8);
        let method = match request.method() {
            "HEAD" => "GET",
            other => other,
        };
        // The request line `METHOD /path?query host=HOST` is hashed in one piece, after the
        // host's length: a method, a path and a query have no spaces, so only the host (a
        // client-controlled header) needs framing. The path comes before the host so that
        // purging by path or path prefix is a prefix of the readable key whatever the host.
        material.readable.push_str(method);
        material.readable.push(' ');
        material.readable.push_str(path);
        self.push_query(&mut material.readable, query);
        if self.host {
            material.readable.push_str(" host=");
            let host_start = material.readable.len();
            material.readable.push_str(host);
            // Hosts are case-insensitive.
            material.readable[host_start..].make_ascii_lowercase();
        }
        material.hasher.update((host.len() as u64).to_le_bytes());
        material.hasher.update(material.readable.as_bytes());
        for name in &self.headers {
            let value = normalized_header(request, name);
            material.optional_part(name.as_str(), value.as_deref());
        }
        for name in extra {
            let value = normalized_header(request, name);
            material.optional_part(name.as_str(), value.as_deref());
        }
        for part in &self.parts {
            let value = part.key_part(request);
            material.optional_part("part", value.as_deref().map(str::as_bytes));
        }
        material.finish()
    }

    fn push_query(&self, readable: &mut String, query: &str) {
        const INLINE: usize = 16;
        if matches!(self.query, QueryKey::Ignore) || query.is_empty() {
            return;
        }
        // Up to 16 parameters are sorted on the stack; more spill to the heap. Each is kept as
        // (name, parameter) so that names are split out once.
        let mut inline = [("", ""); INLINE];
        let mut spilled = Vec::new();
        let mut count = 0;
        for param in query.split('&') {
            let name = param_name(param);
            if param.is_empty() || !self.query.keeps(name) {
                continue;
            }
            if count < INLINE {
                inline[count] = (name, param);
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&inline);
                }
                spilled.push((name, param));
            }
            count += 1;
        }
        let params: &mut [(&str, &str)] = if count <= INLINE {
            &mut inline[..count]
        } else {
            &mut spilled
        };
        // Stable sort by name only: repeated names keep their order.
        params.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (_, param)) in params.iter().enumerate() {
            readable.push(if i == 0 { '?' } else { '&' });
            readable.push_str(param);
        }
    }
}

fn param_name(param: &str) -> &str {
    match param.as_bytes().iter().position(|b| *b == b'=') {
        Some(end) => &param[..end],
        None => param,
    }
}

/// Accumulates the readable key and the SHA-256 of length-framed parts side by side.
struct KeyMaterial {
    readable: String,
    hasher: Sha256,
}

impl KeyMaterial {
    fn new(capacity: usize) -> Self {
        Self {
            readable: String::with_capacity(capacity),
            hasher: Sha256::new(),
        }
    }

    fn hash_part(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// A named part that may be absent; absent and empty hash differently.
    fn optional_part(&mut self, name: &str, value: Option<&[u8]>) {
        self.readable.push(' ');
        self.readable.push_str(name);
        match value {
            Some(value) => {
                self.readable.push('=');
                self.readable.push_str(&String::from_utf8_lossy(value));
                self.hasher.update([1]);
                self.hash_part(value);
            }
            None => self.hasher.update([0]),
        }
    }

    fn part(&mut self, _name: &str, bytes: &[u8]) {
        if !self.readable.is_empty() {
            self.readable.push(' ');
        }
        self.readable.push_str(&String::from_utf8_lossy(bytes));
        self.hash_part(bytes);
    }

    fn finish(self) -> CacheKey {
        CacheKey {
            digest: KeyDigest(self.hasher.finalize().into()),
            readable: self.readable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> http::Request<()> {
        http::Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn query_order_does_not_change_the_key() {
        let spec = KeySpec::default();
        let a = spec.build(&req("http://h/p?b=2&a=1&c=3"));
        let b = spec.build(&req("http://h/p?c=3&a=1&b=2"));
        assert_eq!(a, b);
        assert_eq!(a.readable(), "GET /p?a=1&b=2&c=3 host=h");
    }

    #[test]
    fn repeated_parameters_keep_their_order() {
        let spec = KeySpec::default();
        let a = spec.build(&req("http://h/p?a=1&a=2"));
        let b = spec.build(&req("http://h/p?a=2&a=1"));
        assert_ne!(a, b);
    }

    #[test]
    fn different_paths_hosts_and_methods_differ() {
        let spec = KeySpec::default();
        let base = spec.build(&req("http://h/p"));
        assert_ne!(base, spec.build(&req("http://h/q")));
        assert_ne!(base, spec.build(&req("http://other/p")));
        let post = http::Request::post("http://h/p").body(()).unwrap();
        assert_ne!(base, spec.build(&post));
    }

    #[test]
    fn head_is_keyed_as_get() {
        let spec = KeySpec::default();
        let head = http::Request::head("http://h/p").body(()).unwrap();
        assert_eq!(spec.build(&head), spec.build(&req("http://h/p")));
    }

    #[test]
    fn host_is_case_insensitive_and_can_be_left_out() {
        let spec = KeySpec::default();
        assert_eq!(
            spec.build(&req("http://H.example/p")),
            spec.build(&req("http://h.example/p"))
        );
        let hostless = KeySpec::default().host(false);
        assert_eq!(
            hostless.build(&req("http://a/p")),
            hostless.build(&req("http://b/p"))
        );
    }

    #[test]
    fn host_header_is_used_without_authority() {
        let spec = KeySpec::default();
        let a = http::Request::get("/p")
            .header("host", "a.test")
            .body(())
            .unwrap();
        let b = http::Request::get("/p")
            .header("host", "b.test")
            .body(())
            .unwrap();
        assert_ne!(spec.build(&a), spec.build(&b));
        assert_eq!(spec.build(&a).readable(), "GET /p host=a.test");
    }

    #[test]
    fn allow_and_deny_lists() {
        let only = KeySpec::default().query(QueryKey::only(["page"]));
        assert_eq!(
            only.build(&req("http://h/p?page=2&utm_source=x")),
            only.build(&req("http://h/p?page=2&utm_source=y"))
        );
        assert_ne!(
            only.build(&req("http://h/p?page=2")),
            only.build(&req("http://h/p?page=3"))
        );
        let except = KeySpec::default().query(QueryKey::except(["utm_source"]));
        assert_eq!(
            except.build(&req("http://h/p?utm_source=x&q=1")),
            except.build(&req("http://h/p?q=1"))
        );
        assert_ne!(
            except.build(&req("http://h/p?q=1")),
            except.build(&req("http://h/p?q=2"))
        );
        let ignore = KeySpec::default().query(QueryKey::Ignore);
        assert_eq!(
            ignore.build(&req("http://h/p?q=1")),
            ignore.build(&req("http://h/p"))
        );
    }

    #[test]
    fn keyed_headers_distinguish_absent_empty_and_values() {
        let spec = KeySpec::default().header(http::header::ACCEPT_LANGUAGE);
        let with = |v: Option<&str>| {
            let mut b = http::Request::get("http://h/p");
            if let Some(v) = v {
                b = b.header("accept-language", v);
            }
            spec.build(&b.body(()).unwrap())
        };
        assert_ne!(with(None), with(Some("")));
        assert_ne!(with(Some("en")), with(Some("de")));
        assert_eq!(with(Some("en,  de")), with(Some("en , de")));
        assert_eq!(with(Some("en")).readable(), "GET /p host=h accept-language=en");
    }

    #[test]
    fn parts_are_framed() {
        assert_ne!(
            CacheKey::from_parts(["ab", "c"]),
            CacheKey::from_parts(["a", "bc"])
        );
        assert_eq!(CacheKey::from_parts(["a", "b"]).readable(), "a b");
    }

    #[test]
    fn query_cannot_forge_a_header_part() {
        let spec = KeySpec::default().header(http::header::ACCEPT_LANGUAGE);
        let forged = spec.build(&req("http://h/p?x=1%20accept-language=en"));
        let real = http::Request::get("http://h/p?x=1")
            .header("accept-language", "en")
            .body(())
            .unwrap();
        assert_ne!(forged, spec.build(&real));
    }

    #[test]
    fn a_host_cannot_forge_another_part() {
        // A client-controlled Host can make the readable forms collide; the digests never do.
        let spec = KeySpec::default().header(http::header::ACCEPT_LANGUAGE);
        let forged = http::Request::get("/p")
            .header("host", "h accept-language=en")
            .body(())
            .unwrap();
        let real = http::Request::get("/p")
            .header("host", "h")
            .header("accept-language", "en")
            .body(())
            .unwrap();
        let (forged, real) = (spec.build(&forged), spec.build(&real));
        assert!(forged.readable().starts_with("GET /p host=h accept-language=en"));
        assert!(real.readable().starts_with("GET /p host=h accept-language=en"));
        assert_ne!(forged, real);
    }

    #[test]
    fn many_parameters_are_sorted_too() {
        let spec = KeySpec::default();
        let forward: Vec<String> = (0..40).map(|i| format!("p{i:02}={i}")).collect();
        let mut backward = forward.clone();
        backward.reverse();
        let a = spec.build(&req(&format!("http://h/p?{}", forward.join("&"))));
        let b = spec.build(&req(&format!("http://h/p?{}", backward.join("&"))));
        assert_eq!(a, b);
        assert!(a.readable().ends_with("p38=38&p39=39 host=h"));
    }

    #[test]
    fn custom_parts() {
        let spec = KeySpec::default().part(|r: &dyn RequestHead| {
            let mut tenant = None;
            r.for_each_header_value(&http::HeaderName::from_static("x-tenant"), &mut |v| {
                tenant = Some(String::from_utf8_lossy(v).into_owned())
            });
            tenant
        });
        let a = http::Request::get("http://h/p")
            .header("x-tenant", "a")
            .body(())
            .unwrap();
        let b = http::Request::get("http://h/p")
            .header("x-tenant", "b")
            .body(())
            .unwrap();
        assert_ne!(spec.build(&a), spec.build(&b));
        assert_eq!(spec.build(&a).readable(), "GET /p host=h part=a");
    }

    #[test]
    fn digest_hex_is_64_chars() {
        let key = CacheKey::from_parts(["x"]);
        assert_eq!(key.digest().to_hex().len(), 64);
    }
}
