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
    pub(crate) stored_at: SystemTime,
    pub(crate) ttl: Duration,
    pub(crate) tags: Vec<Arc<str>>,
    /// The request's values of the headers the response's `Vary` named, at store time.
    pub(crate) vary: Vec<(HeaderName, Option<Vec<u8>>)>,
}

impl Entry {
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

    /// How long the entry has been stored, as of `now` (zero if the clock went backwards).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.stored_at).unwrap_or_default()
    }

    /// Freshness left as of `now`, zero once stale.
    pub fn remaining_ttl(&self, now: SystemTime) -> Duration {
        self.ttl.saturating_sub(self.age(now))
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
            .all(|(name, value)| crate::request::normalized_header(request, name.as_str()) == *value)
    }

    /// The approximate number of bytes the entry occupies: body, headers, key and bookkeeping.
    pub fn weight(&self) -> usize {
        const OVERHEAD: usize = 160;
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        let vary: usize = self
            .vary
            .iter()
            .map(|(name, value)| name.as_str().len() + value.as_ref().map_or(0, Vec::len) + 32)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16).sum();
        OVERHEAD + self.body.len() + headers + vary + tags + self.key.readable().len()
    }
}
