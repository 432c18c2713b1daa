//! Cache keys: what makes two requests "the same" for the cache.

use std::{borrow::Cow, fmt, hash::Hash, sync::Arc};

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

impl KeyDigest {
    /// Parses what [`to_hex`](Self::to_hex) wrote (64 hexadecimal characters, either case).
    pub(crate) fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(digest))
    }
}

impl CacheKey {
    /// The key of a stored response known by its digest only (a variant the cache evicts, an
    /// invalidation heard from another instance): its readable form is empty.
    pub(crate) fn from_digest(digest: KeyDigest) -> Self {
        Self {
            digest,
            readable: String::new(),
        }
    }

    /// A key whose digest and readable form were stored together (a remote store's value).
    #[cfg(feature = "redis")]
    pub(crate) fn with_readable(digest: KeyDigest, readable: String) -> Self {
        Self { digest, readable }
    }

    /// The bytes the key holds on the heap (its readable form's allocation), for the weight
    /// of what stores it. (Kept here, with `from_digest`, by the lead: do not move.)
    pub(crate) fn heap_bytes(&self) -> usize {
        self.readable.capacity()
    }

    /// The key with no more slack than a key kept beside its entry may have: a key lives as
    /// long as its entry and its capacity is weighed, so slack beyond an eighth of its length
    /// (long header values outgrew the estimate) is given back.
    fn shrunk(mut self) -> Self {
        if self.readable.capacity() > self.readable.len() + self.readable.len() / 8 + 64 {
            self.readable.shrink_to_fit();
        }
        self
    }

    /// A key built in a [`KeyText`] buffer, kept: its readable form copied at its length, the
    /// buffer given back for the next lookup on this thread.
    pub(crate) fn kept(mut self) -> Self {
        let readable = self.readable.as_str().to_owned();
        KeyText::give_back(std::mem::replace(&mut self.readable, readable));
        self
    }

    /// A key built in a [`KeyText`] buffer that is not kept (a lookup answered from the
    /// store): the buffer goes back for the next lookup on this thread.
    pub(crate) fn discard(self) {
        KeyText::give_back(self.readable);
    }
}

/// The buffer a lookup writes its key's readable form in, one per thread and reused, so that
/// a lookup the store answers at once (a memory hit) allocates no key. A key that is kept (a
/// miss) copies its readable form out at its length ([`CacheKey::kept`]).
pub(crate) struct KeyText;

thread_local! {
    static KEY_TEXT: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

impl KeyText {
    /// A buffer that holds more than this after a hostile URL is dropped rather than kept.
    const MAX_KEPT: usize = 16 * 1024;

    /// This thread's buffer (empty when another lookup on the thread holds it: a key part
    /// that looks up, say).
    pub(crate) fn take() -> String {
        KEY_TEXT.with(std::cell::Cell::take)
    }

    fn give_back(text: String) {
        if text.capacity() <= Self::MAX_KEPT {
            KEY_TEXT.with(|buffer| buffer.set(text));
        }
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
        material.finish().shrunk()
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

    /// The keys a [`KeySpec`] may have built with this readable form, for purging by readable
    /// key: the digest cannot be read back from the readable form, so each way of reading it
    /// (with or without a host, each split of the remaining parts) is hashed again, at most 16.
    /// Callers keep only candidates a store holds with exactly this readable form. Keys whose
    /// readable form shows a credential's digest, and keys from
    /// [`from_parts`](Self::from_parts), are not found this way.
    pub(crate) fn candidates_for_readable(readable: &str) -> Vec<CacheKey> {
        const MAX: usize = 16;
        let mut out = Vec::new();
        let mut tokens = readable.split(' ');
        let (Some(method), Some(target)) = (tokens.next(), tokens.next()) else {
            return out;
        };
        if method.is_empty() || !target.starts_with('/') {
            return out;
        }
        let rest: Vec<&str> = tokens.collect();
        let line = format!("{method} {target}");
        let mut heads = vec![(line.clone(), 0, &rest[..])];
        if let Some(host) = rest.first().and_then(|t| t.strip_prefix("host=")) {
            heads.push((format!("{line} host={host}"), host.len(), &rest[1..]));
            if rest.len() > 1 {
                // A host with spaces (a client's Host header), and nothing after it.
                let host = &readable[line.len() + " host=".len()..];
                heads.push((format!("{line} host={host}"), host.len(), &[][..]));
            }
        }
        for (line, host_len, parts) in heads {
            let mut groupings = Vec::new();
            group_parts(parts, &mut Vec::new(), &mut groupings, MAX);
            for grouping in groupings {
                if out.len() >= MAX {
                    return out;
                }
                let mut material = KeyMaterial::new(0);
                material.hasher.update((host_len as u64).to_le_bytes());
                material.hasher.update(line.as_bytes());
                for part in &grouping {
                    match part.split_once('=') {
                        Some((name, value)) => material.optional_part(name, Some(value.as_bytes())),
                        None => material.optional_part(part, None),
                    }
                }
                let mut key = material.finish();
                readable.clone_into(&mut key.readable);
                out.push(key);
            }
        }
        out
    }

    /// The key of one variant of this (primary) key: the request's values of the headers a
    /// stored response's `Vary` names, in the order it names them (`None`: the request had none).
    ///
    /// The digest is derived from this key's digest and a length-framed encoding of each name
    /// and value, so no two lists of values share a variant, whatever bytes they hold. The
    /// readable form is `{primary readable} vary {name}={value} ...` (a bare `{name}` when the
    /// request had none), with a digest in place of the value of a credential header
    /// (`Cookie`, `Authorization`, `Proxy-Authorization`): `cookie=#1f0c...` (16 hex digits).
    ///
    /// ```
    /// use cachefront::{CacheKey, KeySpec};
    /// use http::header::{ACCEPT_LANGUAGE, COOKIE};
    ///
    /// let request = http::Request::get("http://example.com/a").body(()).unwrap();
    /// let primary = KeySpec::default().build(&request);
    /// let variant = primary.variant([(&ACCEPT_LANGUAGE, Some("en")), (&COOKIE, Some("id=secret"))]);
    /// assert!(variant.readable().starts_with("GET /a host=example.com vary accept-language=en cookie=#"));
    /// assert!(!variant.readable().contains("secret"));
    /// ```
    pub fn variant<'a, I, V>(&self, values: I) -> CacheKey
    where
        I: IntoIterator<Item = (&'a http::HeaderName, Option<V>)>,
        V: AsRef<[u8]>,
    {
        // Room for the usual `Vary`'d fields, so that a long URL's key is not reallocated
        // (to twice its size) while its values are appended.
        let mut material = KeyMaterial::new(self.readable.len() + 128);
        material.readable.push_str(&self.readable);
        material.readable.push_str(" vary");
        self.variant_material(material, values).finish().shrunk()
    }

    /// The digest of [`variant`](Self::variant) with the same `values`, without building its
    /// readable form (as long as the URL): for lookups, which need the digest only.
    pub(crate) fn variant_digest<'a, I, V>(&self, values: I) -> KeyDigest
    where
        I: IntoIterator<Item = (&'a http::HeaderName, Option<V>)>,
        V: AsRef<[u8]>,
    {
        self.variant_material(KeyMaterial::digest_only(), values)
            .finish()
            .digest
    }

    fn variant_material<'a, I, V>(&self, mut material: KeyMaterial, values: I) -> KeyMaterial
    where
        I: IntoIterator<Item = (&'a http::HeaderName, Option<V>)>,
        V: AsRef<[u8]>,
    {
        material.hasher.update(b"cachefront variant\0");
        material.hasher.update(self.digest.as_bytes());
        for (name, value) in values {
            material.optional_part(name.as_str(), value.as_ref().map(AsRef::as_ref));
        }
        material
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
/// The query is split on `&` (empty parameters are dropped) and each parameter at its first
/// `=` into a name and a value. **Names are compared and keyed decoded**, the way a handler's
/// `Query` extractor (`serde_urlencoded`, form decoding) reads them: `%XX` escapes are decoded
/// (hex digits of either case), `+` is a space, and a `%` not followed by two hex digits stands
/// for itself. So `?pag%65=3` is the parameter `page` for an allow-list, a deny-list and the key
/// alike, and cannot slip past [`QueryKey::only`]. The names given to [`only`](Self::only) and
/// [`except`](Self::except) are decoded names (`"page"`, `"a b"`), compared byte for byte.
///
/// Parameters are then sorted by decoded name (stable: parameters with the same name keep their
/// relative order, since `?a=1&a=2` and `?a=2&a=1` may mean different things to a handler), so
/// `?b=2&a=1`, `?a=1&b=2` and `?%62=2&a=1` share a key.
///
/// In the [readable key](CacheKey::readable) each name is written in one canonical encoding of
/// its decoded bytes: printable ASCII as itself, except `%`, `&`, `=`, `+` and `#`, which are
/// escaped (`%25`, `%26`, `%3D`, `%2B`, `%23`), as is every other byte (space is `%20`). Two
/// spellings of one name thus read, and key, the same, and a name that decodes to contain `=` or
/// `&` cannot pass for another split of the query. **Values are kept as sent**, escapes and all:
/// `?page=3` and `?page=%33` are two keys (two entries for what a handler reads as one value,
/// never one entry for two values). A parameter without `=` (`?a`) and one with an empty value
/// (`?a=`) are kept apart for the same reason.
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

    /// Whether the parameter with this decoded name takes part in the key.
    fn keeps(&self, name: &[u8]) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n.as_bytes() == name),
            Self::Except(names) => !names.iter().any(|n| n.as_bytes() == name),
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
/// use cachefront::{KeySpec, adapter::RequestHead};
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
///
/// What is normalised, and nothing else: `HEAD` is `GET`; the host is lowercased; query
/// parameter names are form-decoded (`%XX`, `+` as space), filtered by [`QueryKey`], sorted by
/// decoded name and written in one canonical encoding (see [`QueryKey`]), while values are kept
/// as sent; a keyed header's field lines are joined and their whitespace normalised. The path is
/// taken as sent.
///
/// Credentials never appear in a readable key: for `Cookie`, `Authorization` and
/// `Proxy-Authorization` (keyed through [`Credentials::PartOfKey`](crate::Credentials) or a
/// `Vary`) it holds `cookie=#` and 16 hex digits of a SHA-256 of the header's name and value
/// instead. The digest of the key covers each keyed header's name and full value.
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
        self.build_in(request, extra, String::new()).shrunk()
    }

    /// Builds the key of a request with its readable form written into `text` (cleared first,
    /// grown if it is too small), which the key then holds with its capacity: a lookup passes
    /// [`KeyText::take`]'s buffer, so that a key that is only looked up allocates nothing.
    pub(crate) fn build_in<R: RequestHead>(
        &self,
        request: &R,
        extra: &[&http::HeaderName],
        text: String,
    ) -> CacheKey {
        let path = request.path();
        let query = request.query().unwrap_or("");
        let host = if self.host {
            request.host().unwrap_or("")
        } else {
            ""
        };
        let method = match request.method() {
            "HEAD" => "GET",
            other => other,
        };
        // `METHOD /path?query host=HOST` and room for a few short header parts: a key is kept
        // as long as its entry, so it is allocated once at (about) its size, never doubled.
        let headers = 32 * (self.headers.len() + extra.len() + self.parts.len());
        let mut material = KeyMaterial::with_text(
            text,
            method.len() + path.len() + query.len() + host.len() + 8 + headers,
        );
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
        // (decoded name, value with its `=`) so that names are decoded once.
        let mut inline: [(Cow<'_, [u8]>, &str); INLINE] = Default::default();
        let mut spilled = Vec::new();
        let mut count = 0;
        for param in query.split('&') {
            if param.is_empty() {
                continue;
            }
            let (name, value) = match param.find('=') {
                Some(end) => (&param[..end], &param[end..]),
                None => (param, ""),
            };
            let name = form_decode(name);
            if !self.query.keeps(&name) {
                continue;
            }
            if count < INLINE {
                inline[count] = (name, value);
            } else {
                if spilled.is_empty() {
                    spilled.extend(inline.iter_mut().map(|(n, v)| (std::mem::take(n), *v)));
                }
                spilled.push((name, value));
            }
            count += 1;
        }
        let params: &mut [(Cow<'_, [u8]>, &str)] = if count <= INLINE {
            &mut inline[..count]
        } else {
            &mut spilled
        };
        // Stable sort by decoded name only: repeated names keep their order.
        params.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (name, value)) in params.iter().enumerate() {
            readable.push(if i == 0 { '?' } else { '&' });
            push_canonical_name(readable, name);
            readable.push_str(value);
        }
    }
}

/// A query parameter name decoded as `application/x-www-form-urlencoded` parsers decode it:
/// `+` is a space, `%XX` (either case) the byte it names, and any other `%` itself. Borrowed
/// when there is nothing to decode.
fn form_decode(name: &str) -> Cow<'_, [u8]> {
    let bytes = name.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'%' | b'+')) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(byte: &u8) -> Option<u8> {
    char::from(*byte).to_digit(16).map(|d| d as u8)
}

/// Writes a decoded name in its one canonical encoding (see [`QueryKey`]): printable ASCII
/// but `% & = + #` as itself, every other byte as `%XX`. Decoding it gives the name back, so
/// two names read the same exactly when they are the same.
fn push_canonical_name(readable: &mut String, name: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let plain = |b: u8| b.is_ascii_graphic() && !matches!(b, b'%' | b'&' | b'=' | b'+' | b'#');
    if name.iter().all(|b| plain(*b)) {
        // Printable ASCII: valid UTF-8 as it is.
        readable.push_str(std::str::from_utf8(name).unwrap_or_default());
        return;
    }
    for &byte in name {
        if plain(byte) {
            readable.push(char::from(byte));
        } else {
            readable.push('%');
            readable.push(char::from(HEX[usize::from(byte >> 4)]));
            readable.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// Every way of reading space-separated `tokens` as key parts (`name=value` or a bare `name`,
/// a value possibly holding spaces), finest split first, at most `max`.
fn group_parts(tokens: &[&str], current: &mut Vec<String>, out: &mut Vec<Vec<String>>, max: usize) {
    if out.len() >= max {
        return;
    }
    let Some((first, rest)) = tokens.split_first() else {
        out.push(current.clone());
        return;
    };
    let name = first.split_once('=').map_or(*first, |(name, _)| name);
    let is_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase());
    if is_name {
        current.push((*first).to_owned());
        group_parts(rest, current, out, max);
        current.pop();
    }
    // Or the token continues the previous part's value.
    if let Some(last) = current.last_mut().filter(|last| last.contains('=')) {
        let before = last.len();
        last.push(' ');
        last.push_str(first);
        group_parts(rest, current, out, max);
        if let Some(last) = current.last_mut() {
            last.truncate(before);
        }
    }
}

/// Request headers whose values are credentials: only a digest of them enters a readable key.
fn is_credential(name: &str) -> bool {
    matches!(name, "cookie" | "authorization" | "proxy-authorization")
}

/// Accumulates the readable key and the SHA-256 of length-framed parts side by side.
struct KeyMaterial {
    readable: String,
    hasher: Sha256,
    /// Whether the readable form is built (a key that is only looked up needs its digest).
    with_readable: bool,
}

impl KeyMaterial {
    fn new(capacity: usize) -> Self {
        Self::with_text(String::new(), capacity)
    }

    /// The readable form written into `text` (cleared, with room for `capacity` bytes).
    fn with_text(mut text: String, capacity: usize) -> Self {
        text.clear();
        text.reserve(capacity);
        Self {
            readable: text,
            hasher: Sha256::new(),
            with_readable: true,
        }
    }

    /// The digest only: hashing the same parts as [`new`](Self::new), with no readable form.
    fn digest_only() -> Self {
        Self {
            readable: String::new(),
            hasher: Sha256::new(),
            with_readable: false,
        }
    }

    fn hash_part(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// A named part that may be absent; absent and empty hash differently, and the name is
    /// hashed too. The readable form is ` name=value` (` name` when absent); for a credential
    /// header, ` name=#` and the first 16 hex digits of the SHA-256 of the framed name and
    /// value, so that no credential reaches a log, a store or a message.
    fn optional_part(&mut self, name: &str, value: Option<&[u8]>) {
        self.hash_part(name.as_bytes());
        if self.with_readable {
            self.readable.push(' ');
            self.readable.push_str(name);
            if let Some(value) = value {
                self.readable.push('=');
                self.push_readable_value(name, value);
            }
        }
        match value {
            Some(value) => {
                self.hasher.update([1]);
                self.hash_part(value);
            }
            None => self.hasher.update([0]),
        }
    }

    /// A part's value in the readable form: as sent, or a credential's digest.
    fn push_readable_value(&mut self, name: &str, value: &[u8]) {
        if is_credential(name) {
            let mut digest = Sha256::new();
            for bytes in [name.as_bytes(), value] {
                digest.update((bytes.len() as u64).to_le_bytes());
                digest.update(bytes);
            }
            let digest = KeyDigest(digest.finalize().into()).to_hex();
            self.readable.push('#');
            self.readable.push_str(&digest[..16]);
        } else {
            self.readable.push_str(&String::from_utf8_lossy(value));
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

    /// A lookup's key is written in the thread's buffer: one that is discarded gives the
    /// buffer back (the next key reuses its allocation), one that is kept copies its readable
    /// form out at its length and gives the buffer back too; either way the key is the one
    /// `build` makes.
    #[test]
    fn a_lookup_key_reuses_the_thread_buffer_and_a_kept_one_owns_an_exact_copy() {
        let spec = KeySpec::default();
        let long = req("http://example.com/a/long/path/for/the/buffer?b=2&a=1");
        let first = spec.build_in(&long, &[], KeyText::take());
        assert_eq!(first, spec.build(&long));
        assert_eq!(first.readable(), spec.build(&long).readable());
        let buffer = first.readable().as_ptr();
        first.discard();

        let short = req("http://example.com/b");
        let second = spec.build_in(&short, &[], KeyText::take());
        assert_eq!(second.readable().as_ptr(), buffer, "the buffer is reused");
        assert_eq!(second.readable(), "GET /b host=example.com");
        let kept = second.kept();
        assert_eq!(kept.readable(), "GET /b host=example.com");
        assert_eq!(kept.heap_bytes(), kept.readable().len(), "an exact copy");
        assert_ne!(kept.readable().as_ptr(), buffer);
        let third = spec.build_in(&long, &[], KeyText::take());
        assert_eq!(
            third.readable().as_ptr(),
            buffer,
            "given back by the kept key too"
        );
        third.discard();

        // A buffer a hostile URL grew past 16 KiB is dropped, not kept for the thread.
        let huge = req(&format!("http://example.com/{}", "x".repeat(20 * 1024)));
        spec.build_in(&huge, &[], KeyText::take()).discard();
        assert_eq!(KeyText::take().capacity(), 0);
    }

    #[test]
    fn keys_and_variants_ignore_order_case_and_whitespace_of_accept_lists() {
        use http::header::{ACCEPT_ENCODING, ACCEPT_LANGUAGE};
        let request = |language: &str, encoding: &str| {
            http::Request::get("http://h/p")
                .header(ACCEPT_LANGUAGE, language)
                .header(ACCEPT_ENCODING, encoding)
                .body(())
                .unwrap()
        };
        let a = request("en-US, fr", "gzip, br");
        let b = request("fr,EN-us", "BR ,gzip");
        let spec = KeySpec::default().header(ACCEPT_LANGUAGE);
        assert_eq!(spec.build(&a), spec.build(&b));
        assert_eq!(spec.build(&a).readable(), spec.build(&b).readable());
        let primary = KeySpec::default().build(&a);
        let variant = |request: &http::Request<()>| {
            primary.variant_digest([(&ACCEPT_ENCODING, normalized_header(request, &ACCEPT_ENCODING))])
        };
        assert_eq!(variant(&a), variant(&b));
        assert_ne!(variant(&a), variant(&request("en-US, fr", "gzip")));
    }

    #[test]
    fn a_long_urls_key_is_allocated_once_at_its_length() {
        // A key lives as long as its entry and its capacity is weighed: before, a capacity
        // estimate a few bytes short doubled the allocation of every long URL's key.
        for host in [true, false] {
            let spec = KeySpec::default()
                .host(host)
                .header(http::header::ACCEPT_LANGUAGE);
            let request = http::Request::get(format!("http://example.com/p?q={}", "x".repeat(8_300)))
                .header(http::header::ACCEPT_LANGUAGE, "de")
                .body(())
                .unwrap();
            let key = spec.build(&request);
            let readable = key.readable.len();
            assert!(
                key.heap_bytes() <= readable + readable / 8 + 64,
                "{} for {readable}",
                key.heap_bytes()
            );
        }
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

    #[test]
    fn percent_encoded_names_cannot_bypass_the_allow_list() {
        // The handler decodes `pag%65` to `page`: the key must see page 3 too.
        let only = KeySpec::default().query(QueryKey::only(["page"]));
        let encoded = only.build(&req("http://h/list?pag%65=3"));
        assert_ne!(encoded, only.build(&req("http://h/list")));
        assert_eq!(encoded, only.build(&req("http://h/list?page=3")));
        assert_eq!(encoded, only.build(&req("http://h/list?%70%61%67%65=3")));
        assert_eq!(encoded.readable(), "GET /list?page=3 host=h");
        // `+` is a space in form decoding, as serde_urlencoded (axum's and actix's `Query`) does.
        let spaced = KeySpec::default().query(QueryKey::only(["a b"]));
        assert_ne!(
            spaced.build(&req("http://h/p?a+b=1")),
            spaced.build(&req("http://h/p"))
        );
        assert_eq!(
            spaced.build(&req("http://h/p?a+b=1")),
            spaced.build(&req("http://h/p?a%20b=1"))
        );
    }

    #[test]
    fn percent_encoded_names_are_dropped_by_the_deny_list() {
        let except = KeySpec::default().query(QueryKey::except(["utm_source"]));
        assert_eq!(
            except.build(&req("http://h/p?utm%5Fsource=x&q=1")),
            except.build(&req("http://h/p?q=1"))
        );
        assert_eq!(
            except.build(&req("http://h/p?utm%5fsource=x&q=1")),
            except.build(&req("http://h/p?q=1"))
        );
    }

    #[test]
    fn different_encodings_of_a_name_share_a_key_and_sort_by_the_decoded_name() {
        let spec = KeySpec::default();
        let plain = spec.build(&req("http://h/p?a=2&b=1"));
        assert_eq!(plain, spec.build(&req("http://h/p?%62=1&a=2")));
        assert_eq!(plain, spec.build(&req("http://h/p?%62=1&%61=2")));
        assert_eq!(
            spec.build(&req("http://h/p?%62=1&a=2")).readable(),
            "GET /p?a=2&b=1 host=h"
        );
        // Repeated names keep their order, however each is spelled.
        assert_eq!(
            spec.build(&req("http://h/p?a=1&%61=2")),
            spec.build(&req("http://h/p?%61=1&a=2"))
        );
        assert_ne!(
            spec.build(&req("http://h/p?a=1&%61=2")),
            spec.build(&req("http://h/p?a=2&a=1"))
        );
    }

    #[test]
    fn decoded_names_with_separators_are_not_confusable() {
        let spec = KeySpec::default();
        // The name `a=b` with value 1 is not the name `a` with value `b=1`.
        let eq = spec.build(&req("http://h/p?a%3Db=1"));
        assert_ne!(eq, spec.build(&req("http://h/p?a=b=1")));
        assert_eq!(eq.readable(), "GET /p?a%3Db=1 host=h");
        // The name `a&b` is not the two parameters `a` and `b`.
        let amp = spec.build(&req("http://h/p?a%26b"));
        assert_ne!(amp, spec.build(&req("http://h/p?a&b")));
        assert_eq!(amp.readable(), "GET /p?a%26b host=h");
        // Nor does a decoded space, `+` or `%` leak into the readable key as such.
        assert_eq!(
            spec.build(&req("http://h/p?a+b%2Bc%25=1")).readable(),
            "GET /p?a%20b%2Bc%25=1 host=h"
        );
        assert_ne!(
            spec.build(&req("http://h/p?a%2Bb=1")),
            spec.build(&req("http://h/p?a+b=1"))
        );
    }

    #[test]
    fn invalid_percent_encodings_in_names_do_not_panic() {
        let spec = KeySpec::default().query(QueryKey::only(["%zz", "%", "\u{fffd}"]));
        for query in [
            "%", "%4", "%zz=1", "%%=1", "%C3%28=1", "%FF=1", "a%=1", "%E2%82=1",
        ] {
            let _ = spec.build(&req(&format!("http://h/p?{query}")));
            let _ = KeySpec::default().build(&req(&format!("http://h/p?{query}")));
        }
        // An invalid escape stands for itself, as form decoding leaves it.
        let all = KeySpec::default();
        assert_eq!(
            all.build(&req("http://h/p?%zz=1")),
            all.build(&req("http://h/p?%25zz=1"))
        );
        assert_ne!(
            all.build(&req("http://h/p?%FF=1")),
            all.build(&req("http://h/p?%FE=1"))
        );
        assert_eq!(
            spec.build(&req("http://h/p?%zz=1")).readable(),
            "GET /p?%25zz=1 host=h"
        );
    }

    #[test]
    fn credentials_never_appear_in_readable_keys() {
        let spec = KeySpec::default();
        let request = http::Request::get("http://h/p")
            .header("cookie", "session=SECRET-COOKIE")
            .header("authorization", "Bearer SECRET-TOKEN")
            .header("proxy-authorization", "Basic SECRET-PROXY")
            .body(())
            .unwrap();
        let key = spec.build_with(
            &request,
            &[
                &http::header::COOKIE,
                &http::header::AUTHORIZATION,
                &http::header::PROXY_AUTHORIZATION,
            ],
        );
        let readable = key.readable();
        assert!(!readable.contains("SECRET"), "{readable}");
        for name in ["cookie", "authorization", "proxy-authorization"] {
            let at = readable
                .find(&format!(" {name}=#"))
                .unwrap_or_else(|| panic!("{readable}"));
            let digest = &readable[at + name.len() + 3..][..16];
            assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{readable}");
        }
        // Keyed by a Vary on a credential header: the variant's readable key holds a digest too.
        let variant = spec.build(&request).variant([
            (&http::header::COOKIE, Some(b"session=SECRET-COOKIE".to_vec())),
            (&http::header::AUTHORIZATION, None),
        ]);
        assert!(!variant.readable().contains("SECRET"), "{}", variant.readable());
        assert!(
            variant.readable().starts_with("GET /p host=h vary cookie=#"),
            "{}",
            variant.readable()
        );
        assert!(
            variant.readable().ends_with(" authorization"),
            "{}",
            variant.readable()
        );
        // Two users, two keys, two digests.
        let other = http::Request::get("http://h/p")
            .header("cookie", "session=OTHER")
            .body(())
            .unwrap();
        let (a, b) = (
            spec.build_with(&request, &[&http::header::COOKIE]),
            spec.build_with(&other, &[&http::header::COOKIE]),
        );
        assert_ne!(a, b);
        assert_ne!(a.readable(), b.readable());
    }

    #[test]
    fn the_header_name_is_part_of_the_key_material() {
        let request = http::Request::get("http://h/p")
            .header("x-a", "v")
            .header("x-b", "v")
            .body(())
            .unwrap();
        let a = KeySpec::default().header(http::HeaderName::from_static("x-a"));
        let b = KeySpec::default().header(http::HeaderName::from_static("x-b"));
        assert_ne!(a.build(&request), b.build(&request));
    }

    #[test]
    fn a_variants_digest_alone_is_the_digest_of_its_key() {
        let primary = KeySpec::default().build(&req("http://h/p"));
        let (a, cookie) = (http::HeaderName::from_static("x-a"), http::header::COOKIE);
        let values = || [(&a, Some(b"1".to_vec())), (&cookie, None), (&a, Some(Vec::new()))];
        assert_eq!(
            primary.variant_digest(values()),
            *primary.variant(values()).digest()
        );
        assert_ne!(primary.variant_digest(values()), *primary.digest());
    }

    #[test]
    fn variant_keys_are_unambiguous_and_derive_from_the_primary_digest() {
        let primary = KeySpec::default().build(&req("http://h/p"));
        let name = http::HeaderName::from_static("x-a");
        let other = http::HeaderName::from_static("x-b");
        // Values that read the same once made text still key apart.
        assert_ne!(
            primary.variant([(&name, Some(b"\xff".to_vec()))]),
            primary.variant([(&name, Some(b"\xfe".to_vec()))])
        );
        assert_ne!(
            primary.variant([(&name, Some(b"1 x-b=2".to_vec()))]),
            primary.variant([(&name, Some(b"1".to_vec())), (&other, Some(b"2".to_vec()))])
        );
        assert_ne!(
            primary.variant([(&name, None::<Vec<u8>>)]),
            primary.variant([(&name, Some(b"".to_vec()))])
        );
        // Two primaries with the same readable form (a forged host) have distinct variants.
        let forged = KeySpec::default().build(
            &http::Request::get("/p")
                .header("host", "h accept-language=en")
                .body(())
                .unwrap(),
        );
        let real = KeySpec::default().header(http::header::ACCEPT_LANGUAGE).build(
            &http::Request::get("/p")
                .header("host", "h")
                .header("accept-language", "en")
                .body(())
                .unwrap(),
        );
        assert_eq!(forged.readable(), real.readable());
        assert_ne!(
            forged.variant([(&name, Some(b"1".to_vec()))]),
            real.variant([(&name, Some(b"1".to_vec()))])
        );
        // The readable form: the primary's, ` vary `, then each name and value.
        let variant = primary.variant([(&name, Some(b"1".to_vec())), (&other, None)]);
        assert_eq!(variant.readable(), "GET /p host=h vary x-a=1 x-b");
        assert!(
            variant
                .readable()
                .starts_with(&format!("{} vary ", primary.readable()))
        );
    }

    #[test]
    fn readable_keys_can_be_hashed_again_for_exact_purges() {
        let with = |spec: KeySpec, request: http::Request<()>| {
            let key = spec.build(&request);
            let candidates = CacheKey::candidates_for_readable(key.readable());
            assert!(candidates.contains(&key), "{}", key.readable());
            assert!(candidates.iter().all(|c| c.readable() == key.readable()));
        };
        with(KeySpec::default(), req("http://h/p?b=2&a=1"));
        with(KeySpec::default().host(false), req("http://h/p?pag%65=1"));
        with(
            KeySpec::default()
                .header(http::header::ACCEPT_LANGUAGE)
                .header(http::HeaderName::from_static("x-absent")),
            http::Request::get("http://h/p")
                .header("accept-language", "en, de")
                .body(())
                .unwrap(),
        );
        with(
            KeySpec::default(),
            http::Request::get("/p")
                .header("host", "h with spaces")
                .body(())
                .unwrap(),
        );
        assert!(CacheKey::candidates_for_readable("").is_empty());
        assert!(CacheKey::candidates_for_readable("GET").is_empty());
    }
}
