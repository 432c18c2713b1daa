//! The request flow every adapter follows: [`Lookup`] and the answers a lookup gives (a hit, a
//! bypass, a miss forwarded, the `only-if-cached` 504). The lookup itself is in `lookup.rs`;
//! each other step has a file of its own.

mod collector;
mod find;
mod forward;
mod hit;
mod invalidating;
mod lookup;
mod tasks;
#[cfg(test)]
mod tests;
pub(crate) mod variants;
mod verdict;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

pub(crate) use self::lookup::{LookupLater, LookupNow};
pub use self::{
    collector::Collector, forward::Forward, hit::Hit, invalidating::Invalidating, tasks::poll_once,
    verdict::Verdict,
};
use self::{forward::MissState, hit::HitKind, invalidating::Invalidation};
use crate::{
    cache::CacheRoute,
    entry::Entry,
    key::CacheKey,
    policy::Bypass,
    request::RequestHead,
    rules::{self, range},
    stats::Event,
};

/// What [`CacheRoute::lookup`] decided.
#[derive(Debug)]
pub enum Lookup {
    /// Answer from the cache.
    Hit(Hit),
    /// Call the handler.
    Forward(Forward),
}

impl CacheRoute {
    fn hit<R: RequestHead>(
        &self,
        request: &R,
        entry: Arc<Entry>,
        head: bool,
        kind: HitKind,
        now: SystemTime,
    ) -> Lookup {
        let kind = match kind {
            // A fresh (or acceptably stale) hit answers the client's conditionals itself.
            HitKind::Fresh | HitKind::Stale if rules::not_modified(request, &entry) => HitKind::NotModified,
            other => other,
        };
        self.record(
            if matches!(kind, HitKind::Stale | HitKind::StaleWhileRevalidate) {
                Event::StaleHit
            } else {
                Event::Hit
            },
        );
        tracing::debug!(key = %entry.key, route = %self.policy.name, decision = "hit", kind = ?kind);
        // The core decides what a range request gets: the whole entry, a 206 or a 416, served
        // as a response of their own (adapters only write them).
        let answer = if head || kind == HitKind::NotModified {
            range::Answer::Whole
        } else {
            range::answer(request, &entry)
        };
        let entry = match answer {
            range::Answer::Whole => entry,
            range::Answer::Partial { first, last } => Arc::new(range::partial(&entry, first, last)),
            range::Answer::Unsatisfiable => Arc::new(range::unsatisfiable(&entry)),
        };
        Lookup::Hit(Hit {
            entry,
            head,
            kind,
            now,
            refresh: None,
            cache_status: None,
            cache_name: self.cache.inner.name.clone(),
        })
    }

    /// Forwards a request the cache does not answer, as it came, counted and logged with the
    /// reason; its response is not stored (`fwd=bypass; detail=<reason>`). A range the cache
    /// does not answer from a stored response goes this way too (`detail=range`).
    fn bypass<R: RequestHead>(
        &self,
        request: &R,
        reason: Bypass,
        invalidation: Option<Invalidation>,
    ) -> Lookup {
        self.record(Event::Bypass(reason));
        tracing::debug!(
            route = %self.policy.name,
            method = request.method(),
            path = request.path(),
            decision = "bypass",
            reason = reason.as_str()
        );
        Lookup::Forward(Forward::bypass(self.clone(), reason, invalidation.map(Box::new)))
    }

    fn synthetic_gateway_timeout<R: RequestHead>(&self, request: &R, head: bool) -> Lookup {
        self.record(Event::Miss);
        tracing::debug!(route = %self.policy.name, path = request.path(), decision = "only-if-cached");
        let mut entry = Entry::new(
            CacheKey::from_parts(["only-if-cached"]),
            StatusCode::GATEWAY_TIMEOUT,
            Bytes::from_static(
                b"504 Gateway Timeout: the request said only-if-cached and no usable response is stored\n",
            ),
            Duration::ZERO,
        );
        entry.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let entry = Arc::new(entry);
        Lookup::Hit(Hit {
            entry,
            head,
            kind: HitKind::OnlyIfCached,
            now: SystemTime::now(),
            refresh: None,
            cache_status: None,
            cache_name: self.cache.inner.name.clone(),
        })
    }

    fn forward<R: RequestHead>(&self, request: &R, mut state: Box<MissState>) -> Lookup {
        self.record(Event::Miss);
        tracing::debug!(
            key = %state.key,
            route = %self.policy.name,
            decision = "miss",
            fwd = ?state.fwd,
            leader = state.guard.is_some()
        );
        if state.not_stored.is_none() {
            // Needed to record `Vary`-named request headers and to evaluate the client's
            // conditionals after a revalidation; misses only.
            state.request_headers = Some(request.to_header_map());
            state.tags = self.policy.resolve(&self.policy.tags, request.path());
        }
        Lookup::Forward(Forward::miss(self.clone(), state))
    }
}
