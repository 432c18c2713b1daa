//! The stored response.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::{key::CacheKey, request::RequestHead};

/// A stored response: status, headers, body, when it was stored and for how long it is fresh.
///
/// Entries are immutable and shared (`Arc<Entry>`): a hit clones nothing but the headers it
/// writes.
#[derive(Clone, Debug)]
pub struct Entry {
    pub(crate) key: CacheKey,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When the response was received (RFC 9111 §4.2.3 `response_time`).
    pub(crate) stored_at: SystemTime,
    /// The freshness lifetime (RFC 9111 §4.2.1), or the route's TTL in application mode.
    pub(crate) ttl: Duration,
    /// The corrected initial age at `stored_at` (RFC 9111 §4.2.3); zero in application mode.
    pub(crate) initial_age: Duration,
    /// How long past freshness the entry may be served while one refresh runs (RFC 5861 §3).
    pub(crate) stale_while_revalidate: Duration,
    /// How long past freshness the entry may be served when the origin fails (RFC 5861 §4).
    pub(crate) stale_if_error: Duration,
    /// `must-revalidate`, `proxy-revalidate` or (shared) `s-maxage`: never served stale
    /// without validation, whatever the client's `max-stale` (RFC 9111 §4.2.4).
    pub(crate) must_revalidate: bool,
    /// `no-cache` (unqualified): validated before every reuse (RFC 9111 §5.2.2.4).
    pub(crate) no_cache: bool,
    /// How long past freshness the entry is kept for revalidation and `max-stale`.
    pub(crate) keep_stale: Duration,
    /// Sliding expiry: the entry goes when it has not been read for this long.
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) tags: Vec<Arc<str>>,
    /// The request's values of the headers the response's `Vary` named, at store time.
    pub(crate) vary: Vec<(HeaderName, Option<Vec<u8>>)>,
    /// The body's length as a `Content-Length` value, rendered at the first hit.
    pub(crate) content_length: RenderedLength,
}

/// A `Content-Length` value rendered once per stored entry, so that hits share it instead of
/// formatting (and allocating) one each. A clone starts empty: a copy whose body is then
/// replaced never carries the old length.
#[derive(Default)]
pub(crate) struct RenderedLength(std::sync::OnceLock<http::HeaderValue>);

impl RenderedLength {
    /// The value for a body of `len` bytes.
    pub(crate) fn get(&self, len: usize) -> http::HeaderValue {
        self.0.get_or_init(|| http::HeaderValue::from(len)).clone()
    }
}

impl Clone for RenderedLength {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for RenderedLength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderedLength")
    }
}

impl Entry {
    /// An entry stored now, with no headers, no stale windows, tags or `Vary` values: the common
    /// starting point, adjusted field by field.
    pub(crate) fn new(key: CacheKey, status: StatusCode, body: Bytes, ttl: Duration) -> Self {
        Self {
            key,
            status,
            headers: HeaderMap::new(),
            body,
            stored_at: SystemTime::now(),
            ttl,
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            must_revalidate: false,
            no_cache: false,
            keep_stale: Duration::ZERO,
            time_to_idle: None,
            tags: Vec::new(),
            vary: Vec::new(),
            content_length: RenderedLength::default(),
        }
    }

    /// An empty entry, for documentation examples.
    #[doc(hidden)]
    pub fn for_tests() -> Self {
        Self::new(
            CacheKey::from_parts(["example"]),
            StatusCode::OK,
            Bytes::new(),
            Duration::ZERO,
        )
    }

    /// The key the entry is stored under.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The stored status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stored headers (without hop-by-hop fields and `Age`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The stored body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The tags the entry carries.
    pub fn tags(&self) -> &[Arc<str>] {
        &self.tags
    }

    /// When the entry was stored.
    pub fn stored_at(&self) -> SystemTime {
        self.stored_at
    }

    /// The freshness lifetime the entry was stored with.
    pub fn time_to_live(&self) -> Duration {
        self.ttl
    }

    /// The entry's current age as of `now` (RFC 9111 §4.2.3): its corrected initial age plus
    /// the time it has been stored (zero if the clock went backwards).
    pub fn age(&self, now: SystemTime) -> Duration {
        self.initial_age + now.duration_since(self.stored_at).unwrap_or_default()
    }

    /// How long the store must keep the entry as of `now`: until the end of its freshness and
    /// of the longest window in which it may still be served or revalidated.
    pub fn retention(&self, now: SystemTime) -> Duration {
        let stale_window = self
            .stale_while_revalidate
            .max(self.stale_if_error)
            .max(self.keep_stale);
        (self.ttl + stale_window).saturating_sub(self.age(now))
    }

    /// Freshness left as of `now`, zero once stale.
    pub fn remaining_ttl(&self, now: SystemTime) -> Duration {
        self.ttl.saturating_sub(self.age(now))
    }

    /// The sliding expiry (time-to-idle) the entry was stored with, if any.
    pub fn time_to_idle(&self) -> Option<Duration> {
        self.time_to_idle
    }

    /// Whether the entry is still fresh as of `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.age(now) < self.ttl
    }

    /// Whether a request matches the request the entry was stored for, on every header the
    /// response's `Vary` named (RFC 9111 §4.1).
    pub fn matches_vary<R: RequestHead + ?Sized>(&self, request: &R) -> bool {
        self.vary
            .iter()
            .all(|(name, value)| crate::request::normalized_header(request, name) == *value)
    }

    /// The number of bytes the entry occupies in memory: body, headers, key, and the fixed
    /// costs around them (the entry itself, the header map's tables, the store's node and the
    /// allocator's headers), so that a store bounded in bytes is bounded in resident memory.
    ///
    /// The fixed costs were measured on the memory store under a hostile load of small unique
    /// responses (RSS against the weights counted, `tests/memory_bound.rs`): about 750 bytes an
    /// entry, 160 a header field (the header map's bucket and index slot, and the value's own
    /// allocation) and 80 a tag (its slot in the store's tag index); they are rounded up
    /// rather than down.
    pub fn weight(&self) -> usize {
        // The entry and its `Arc`, the store's hash-table slot and queue links, a rendered
        // `Content-Length`, and the header map's tables, with their allocation headers.
        const OVERHEAD: usize = std::mem::size_of::<Entry>() + 512;
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 160)
            .sum();
        let vary: usize = self
            .vary
            .iter()
            .map(|(name, value)| name.as_str().len() + value.as_ref().map_or(0, Vec::len) + 48)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16 + 80).sum();
        OVERHEAD
            + allocation(self.body.len())
            + headers
            + vary
            + tags
            + allocation(self.key.heap_bytes())
            + 32
    }
}

/// What an allocation of `bytes` takes from the allocator: size-class allocators (jemalloc,
/// mimalloc) round a request up to one of four classes per power of two, so a 8,300-byte
/// key takes 10,240 bytes; the body and the key, an entry's two large allocations, are
/// weighed at their class rather than at their length (at most a quarter more), so that the
/// bound holds whichever allocator the application links.
pub(crate) fn allocation(bytes: usize) -> usize {
    if bytes <= 16 {
        return if bytes == 0 { 0 } else { 16 };
    }
    let spacing = 1usize << ((usize::BITS - 1 - (bytes - 1).leading_zeros()).saturating_sub(2));
    bytes.div_ceil(spacing) * spacing
}

#[cfg(test)]
mod tests {
    use http::header::{ACCEPT_ENCODING, ACCEPT_LANGUAGE};

    use super::*;

    #[test]
    fn a_variant_matches_requests_whose_accept_lists_differ_only_in_order_case_or_whitespace() {
        let request = |encoding: &str, language: &str| {
            http::Request::get("http://h/")
                .header(ACCEPT_ENCODING, encoding)
                .header(ACCEPT_LANGUAGE, language)
                .body(())
                .unwrap()
        };
        let stored_for = request("gzip, br", "en-US,fr;q=0.5");
        let mut entry = Entry::for_tests();
        entry.vary = [ACCEPT_ENCODING, ACCEPT_LANGUAGE]
            .into_iter()
            .map(|name| {
                let value = crate::request::normalized_header_in(stored_for.headers(), &name);
                (name, value)
            })
            .collect();
        assert!(entry.matches_vary(&stored_for));
        assert!(entry.matches_vary(&request("br,gzip", "FR;Q=0.5, en-us")));
        assert!(entry.matches_vary(&request(" GZIP ,BR ", "en-US , fr ; q=0.5")));
        assert!(!entry.matches_vary(&request("gzip", "en-US,fr;q=0.5")));
        assert!(!entry.matches_vary(&request("gzip, br", "en-US;q=0.5,fr")));
    }

    #[test]
    fn large_allocations_are_weighed_at_their_size_class() {
        assert_eq!(allocation(0), 0);
        assert_eq!(allocation(1), 16);
        assert_eq!(allocation(2048), 2048);
        assert_eq!(allocation(2049), 2560);
        assert_eq!(allocation(8300), 10240);
        assert_eq!(allocation(10240), 10240);
        assert_eq!(allocation(16385), 20480);
        for bytes in 1..100_000 {
            let weighed = allocation(bytes);
            assert!(
                weighed >= bytes && weighed <= bytes + bytes / 4 + 16,
                "{bytes} -> {weighed}"
            );
        }
    }

    #[test]
    fn an_entry_with_a_long_key_weighs_its_key_at_its_size_class() {
        let request = http::Request::get(format!("http://h/p?q={}", "x".repeat(8_300)))
            .body(())
            .unwrap();
        let key = crate::KeySpec::default().build(&request);
        let length = key.heap_bytes();
        let entry = Entry::new(key, StatusCode::OK, Bytes::new(), Duration::ZERO);
        let bare = Entry::new(
            CacheKey::placeholder(),
            StatusCode::OK,
            Bytes::new(),
            Duration::ZERO,
        );
        assert_eq!(entry.weight() - bare.weight(), allocation(length));
    }
}
