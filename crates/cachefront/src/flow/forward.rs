//! A request sent to the handler: [`Forward`], the state a miss carries to the response, and
//! the request header edits it asks for (a revalidation, the whole representation).

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::invalidating::Invalidation;
use crate::{
    cache::CacheRoute,
    coalesce::LeaderGuard,
    entry::Entry,
    key::CacheKey,
    policy::{Bypass, NotStored},
    purges::PurgeEpoch,
    rules::{self, CacheControl, ForwardReason, range},
    store::StoreLock,
};

/// A request to send to the handler; hand the handler's response head to
/// [`response`](Self::response).
///
/// Before calling the handler, apply [`conditional_headers`](Self::conditional_headers) to the
/// request: when the cache holds a stale response with validators, it asks the origin whether
/// that response is still current.
///
/// Dropping it without calling `response` (the handler failed, the client went away) releases
/// any requests waiting on it.
#[derive(Debug)]
pub struct Forward {
    pub(super) route: CacheRoute,
    pub(super) kind: ForwardKind,
    pub(super) body_size: Option<u64>,
}

#[derive(Debug)]
pub(super) enum ForwardKind {
    Bypass(Bypass, Option<Box<Invalidation>>),
    // Boxed: a miss carries the key, the flight and the request headers; bypasses stay small.
    Miss(Box<MissState>),
}

#[derive(Debug)]
pub(super) struct MissState {
    pub(super) key: CacheKey,
    pub(super) fwd: ForwardReason,
    pub(super) guard: Option<LeaderGuard>,
    /// The cross-instance lock on this key (a store shared by several instances).
    pub(super) store_lock: Option<StoreLock>,
    pub(super) request_headers: Option<HeaderMap>,
    pub(super) not_stored: Option<NotStored>,
    pub(super) directives: CacheControl,
    pub(super) request_time: SystemTime,
    pub(super) started: Instant,
    pub(super) authorized: bool,
    /// The stored response this request may revalidate or fall back on (stale-if-error).
    pub(super) candidate: Option<Arc<Entry>>,
    /// A `HEAD` request's stored `GET` response, which a 200 to the `HEAD` updates or
    /// invalidates (RFC 9111 §4.3.5).
    pub(super) head_candidate: Option<Arc<Entry>>,
    /// The client asked for a byte range the cache could not answer: the handler is asked for
    /// the whole representation (without `Range` and `If-Range`), which is stored and answers
    /// the next range requests; this client gets it whole (RFC 9110 §14.2 lets a server ignore
    /// `Range`).
    pub(super) whole: bool,
    /// The policy's tags, filled from the request path.
    pub(super) tags: Vec<Arc<str>>,
    /// The cache's purge epoch when the request began (see `purges`).
    pub(super) epoch: PurgeEpoch,
    /// A background refresh counts as a write under way from the start (see `pending`).
    pub(super) pending: Option<crate::pending::PendingTask>,
}

impl MissState {
    pub(super) fn new(
        key: CacheKey,
        fwd: ForwardReason,
        directives: CacheControl,
        request_time: SystemTime,
        authorized: bool,
        epoch: PurgeEpoch,
    ) -> Self {
        Self {
            key,
            fwd,
            guard: None,
            store_lock: None,
            request_headers: None,
            not_stored: None,
            directives,
            request_time,
            started: Instant::now(),
            authorized,
            candidate: None,
            head_candidate: None,
            whole: false,
            tags: Vec::new(),
            epoch,
            pending: None,
        }
    }

    pub(super) fn clone_for_refresh(&self, epoch: PurgeEpoch) -> Self {
        let mut state = Self::new(
            self.key.clone(),
            self.fwd,
            CacheControl::default(),
            SystemTime::now(),
            false,
            epoch,
        );
        state.tags = self.tags.clone();
        state
    }

    /// The validators of the candidate, when it has any and this request revalidates it.
    pub(super) fn revalidates(&self) -> Option<&Arc<Entry>> {
        self.candidate
            .as_ref()
            .filter(|entry| rules::has_validator(&entry.headers))
    }
}

impl Forward {
    pub(super) fn bypass(route: CacheRoute, reason: Bypass, invalidation: Option<Box<Invalidation>>) -> Self {
        Self {
            route,
            kind: ForwardKind::Bypass(reason, invalidation),
            body_size: None,
        }
    }

    pub(super) fn miss(route: CacheRoute, state: Box<MissState>) -> Self {
        Self {
            route,
            kind: ForwardKind::Miss(state),
            body_size: None,
        }
    }

    /// Tells the cache the exact size of the response body when the adapter knows it without a
    /// `Content-Length` header (a body's size hint), so that a body over the limit is not
    /// collected at all.
    #[must_use]
    pub fn body_size(mut self, size: Option<u64>) -> Self {
        self.body_size = size;
        self
    }

    /// Why the cache was bypassed, if it was.
    pub fn bypass_reason(&self) -> Option<Bypass> {
        match self.kind {
            ForwardKind::Bypass(reason, _) => Some(reason),
            ForwardKind::Miss(_) => None,
        }
    }

    /// The request headers to set (`Some`) or remove (`None`) before calling the handler.
    ///
    /// When the cache revalidates a stored response, these are `If-None-Match` (its `ETag`)
    /// and `If-Modified-Since` (its `Last-Modified`), replacing the client's own (RFC 9111
    /// §4.3.1). When the client asked for a byte range that nothing stored could answer,
    /// `Range` and `If-Range` are removed, so that the whole representation comes back and is
    /// stored. Otherwise the list is empty and the request goes as it came.
    pub fn conditional_headers(&self) -> Vec<(HeaderName, Option<HeaderValue>)> {
        let ForwardKind::Miss(state) = &self.kind else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        if state.whole {
            edits.extend(range::whole_representation_headers());
        }
        if let Some(entry) = state.revalidates() {
            edits.extend(rules::revalidation_headers(&entry.headers));
        }
        edits
    }
}
