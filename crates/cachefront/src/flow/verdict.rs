//! Judging the handler's response: [`Verdict`] (store it, pass it on, or answer from the
//! cache instead), revalidation by a 304, freshening by a `HEAD`, a contradicted stored
//! response, and stale-if-error.

use std::{sync::Arc, time::SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};

use super::{
    collector::{Collector, Puts},
    forward::{Forward, ForwardKind, MissState},
    hit::{Hit, HitKind},
    invalidating::Invalidating,
};
use crate::{
    cache::CacheRoute,
    entry::Entry,
    key::CacheKey,
    policy::{Bypass, Exchange, NotStored, Policy},
    request::normalized_header_in,
    rules::{self, CacheStatus, ForwardReason},
    stats::{Event, StatsRegistry},
};

impl Forward {
    /// The handler failed without a response (an error of the inner service). Returns a stale
    /// response to serve instead when `stale-if-error` allows it (RFC 5861 §4).
    pub fn error(self) -> Option<Hit> {
        let ForwardKind::Miss(state) = self.kind else {
            return None;
        };
        self.route.stale_if_error(*state, None)
    }

    /// Judges the handler's response head: returns the `Cache-Status` member to add and, when
    /// the response may be stored, a [`Collector`] for its body — or a response from the cache
    /// to send instead (a successful revalidation, or stale-if-error).
    pub fn response(self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let name = self.route.cache.inner.name.clone();
        let mut verdict = self.judge(status, headers);
        if name.is_some() {
            verdict.cache_status = verdict.cache_status.named(name);
        }
        verdict
    }

    fn judge(self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let route = self.route;
        let mut state = match self.kind {
            ForwardKind::Bypass(reason, invalidation) => {
                let invalidating = invalidation
                    .filter(|_| rules::invalidates(status))
                    .map(|invalidation| route.invalidate_after(*invalidation, headers));
                let fwd = if reason == Bypass::Method {
                    ForwardReason::Method
                } else {
                    ForwardReason::Bypass
                };
                let mut verdict = Verdict::forwarded(
                    CacheStatus::forward(fwd)
                        .fwd_status(status.as_u16())
                        .detail(reason.as_str()),
                    None,
                )
                .hiding(&route.policy, headers);
                verdict.invalidation = invalidating;
                return verdict;
            }
            ForwardKind::Miss(state) => *state,
        };
        let response_time = SystemTime::now();
        StatsRegistry::handler_time(route.counters(), state.started.elapsed());
        let status_member = CacheStatus::forward(state.fwd).fwd_status(status.as_u16());
        if status == StatusCode::NOT_MODIFIED && state.revalidates().is_some() {
            return route.revalidated(state, headers, response_time);
        }
        if rules::is_stale_if_error_status(status.as_u16())
            && let Some(entry) = state.candidate.as_ref()
            && rules::stale_if_error_allows(entry, &state.directives, response_time)
        {
            let code = status.as_u16();
            if let Some(hit) = route.stale_if_error(state, Some(code)) {
                return Verdict {
                    cache_status: hit.cache_status(),
                    collector: None,
                    replacement: Some(hit),
                    hide: Vec::new(),
                    invalidation: None,
                };
            }
            return Verdict::forwarded(status_member, None);
        }
        if let Some(stored) = state.head_candidate.take()
            && status == StatusCode::OK
        {
            return route.freshened_by_head(state, &stored, headers, response_time, status_member);
        }
        let exchange = Exchange {
            request_time: state.request_time,
            response_time,
            authorized: state.authorized,
            request_no_store: state.directives.no_store,
        };
        let decision = match state.not_stored {
            Some(reason) => Err(reason),
            None => route
                .policy
                .admit_response(status, headers, self.body_size, &exchange),
        };
        let storable = match decision {
            Ok(storable) => storable,
            Err(reason) => {
                route.record(Event::NotStored);
                tracing::debug!(
                    key = %state.key,
                    status = status.as_u16(),
                    decision = "not-stored",
                    reason = reason.as_str()
                );
                if let Some(guard) = state.guard.take() {
                    guard.uncacheable();
                }
                return Verdict::forwarded(status_member.detail(reason.as_str()), None)
                    .hiding(&route.policy, headers);
            }
        };
        let request_headers = state.request_headers.take().unwrap_or_default();
        let vary = storable
            .vary
            .iter()
            .map(|name| (name.clone(), normalized_header_in(&request_headers, name)))
            .collect::<Vec<(HeaderName, Option<Vec<u8>>)>>();
        let limit = route.policy.max_body_bytes;
        // The one decision of which fields are stored, shared with 304 merges.
        let stored_headers = storable.stored_headers(headers);
        let mut tags = std::mem::take(&mut state.tags);
        for name in route.policy.tag_headers.iter() {
            for value in headers.get_all(name) {
                tags.extend(rules::listed_tags(value).map(Arc::from));
            }
        }
        let hide_from = headers;
        let route_policy = Arc::clone(&route.policy);
        Verdict::forwarded(
            status_member.stored(true),
            Some(Collector {
                _pending: route.cache.pending().start(),
                route,
                guard: state.guard.take(),
                store_lock: state.store_lock.take(),
                template: Entry {
                    key: std::mem::replace(&mut state.key, CacheKey::placeholder()),
                    status,
                    headers: stored_headers,
                    body: Bytes::new(),
                    stored_at: response_time,
                    ttl: storable.ttl,
                    initial_age: storable.initial_age,
                    stale_while_revalidate: storable.stale_while_revalidate,
                    stale_if_error: storable.stale_if_error,
                    must_revalidate: storable.must_revalidate,
                    no_cache: storable.no_cache,
                    keep_stale: route_policy.keep_stale,
                    time_to_idle: route_policy.time_to_idle,
                    tags,
                    vary,
                    content_length: Default::default(),
                },
                first: None,
                rest: Vec::new(),
                len: 0,
                limit,
                started: state.started,
                settled: false,
                epoch: state.epoch,
            }),
        )
        .hiding(&route_policy, hide_from)
    }
}

impl CacheRoute {
    /// The stored response `candidate` updated with the header fields `merged` from a 304 or
    /// a `HEAD` response (RFC 9111 §3.2), dated by that response's `headers`, and why it may
    /// not be stored again (`None`: it may, with the fields to store; otherwise its headers are
    /// the stored ones still).
    fn updated(
        &self,
        state: &MissState,
        candidate: &Entry,
        merged: &HeaderMap,
        headers: &HeaderMap,
        response_time: SystemTime,
    ) -> (Entry, Option<NotStored>) {
        let exchange = Exchange {
            request_time: state.request_time,
            response_time,
            authorized: false,
            request_no_store: state.directives.no_store,
        };
        let mut entry = Entry::clone(candidate);
        entry.stored_at = response_time;
        match self
            .policy
            .admit_response(candidate.status, merged, None, &exchange)
        {
            Ok(storable) => {
                storable.apply(&mut entry, &self.policy);
                // The response's own Date and Age date the refreshed entry.
                entry.initial_age = rules::corrected_initial_age(headers, state.request_time, response_time);
                entry.headers = storable.stored_headers(merged);
                (entry, None)
            }
            Err(reason) => (entry, Some(reason)),
        }
    }

    /// A 200 to a `HEAD` request whose `GET` response is stored (RFC 9111 §4.3.5): with the same
    /// validators (and `Content-Length`, when it has one) it updates the stored response's
    /// header fields and freshness; otherwise the stored response goes. The client gets the
    /// handler's `HEAD` response either way.
    fn freshened_by_head(
        &self,
        mut state: MissState,
        stored: &Entry,
        headers: &HeaderMap,
        response_time: SystemTime,
        member: CacheStatus,
    ) -> Verdict {
        if !rules::head_freshens(stored, headers) {
            return self.contradicted(state, stored, headers, member);
        }
        let merged = rules::merge_not_modified(&stored.headers, headers);
        let (entry, refused) = self.updated(&state, stored, &merged, headers, response_time);
        let mut verdict =
            Verdict::forwarded(member.stored(refused.is_none()), None).hiding(&self.policy, headers);
        if refused.is_none() {
            self.record(Event::Revalidated);
            self.record(Event::Store);
            tracing::debug!(key = %entry.key, decision = "freshened-by-head");
            self.spawn_puts(
                Puts::One([Arc::new(entry)]),
                None,
                state.store_lock.take(),
                state.epoch,
            );
        } else if refused.is_some_and(NotStored::forbids_keeping) {
            // The updated response must not be stored: the stored one ends with it.
            verdict.invalidation = Some(self.remove_stored(stored.key.clone()));
        }
        verdict
    }

    /// A response from the handler contradicts the stored `candidate` (its validators differ):
    /// the stored response goes, and the handler's response is passed on.
    fn contradicted(
        &self,
        mut state: MissState,
        candidate: &Entry,
        headers: &HeaderMap,
        member: CacheStatus,
    ) -> Verdict {
        let reason = NotStored::ValidatorMismatch;
        self.record(Event::NotStored);
        tracing::debug!(key = %candidate.key, decision = "not-stored", reason = reason.as_str());
        if let Some(guard) = state.guard.take() {
            guard.uncacheable();
        }
        let removal = self.remove_stored(candidate.key.clone());
        let mut verdict =
            Verdict::forwarded(member.detail(reason.as_str()), None).hiding(&self.policy, headers);
        verdict.invalidation = Some(removal);
        verdict
    }

    /// A 304 answered the cache's conditional request: refresh the stored response's headers
    /// and serve it (RFC 9111 §4.3.4).
    ///
    /// The 304 updates the stored response only when its validators match it
    /// ([`rules::freshens`]). One that does not match updates and stores nothing: the
    /// requests waiting on this one go to the handler themselves, the client gets the 304 as
    /// the handler sent it (`Cache-Status: ...; fwd-status=304; detail=validator-mismatch`;
    /// cachefront cannot ask the handler again within one exchange, and does not serve a
    /// response the origin did not confirm), and the stored response is removed before the
    /// client has its answer, so that the next request fetches a full response instead of
    /// revalidating with the same validators again.
    ///
    /// The merged head goes through the same decision of what may be stored as a full
    /// response ([`Storable::stored_headers`](crate::policy::Storable::stored_headers)): the
    /// 304's `private="f"`/`no-cache="f"` fields, its `Set-Cookie` (under
    /// `SetCookie::StoreWithout`) and its tag headers never reach the store, nor therefore
    /// other clients or the requests waiting on this one. The client that revalidated gets
    /// the merged response with the 304's fields, as it would a forwarded 200, tag headers
    /// hidden unless the policy exposes them.
    fn revalidated(&self, mut state: MissState, headers: &HeaderMap, response_time: SystemTime) -> Verdict {
        let Some(candidate) = state.candidate.take() else {
            return Verdict::forwarded(CacheStatus::forward(state.fwd).fwd_status(304), None)
                .hiding(&self.policy, headers);
        };
        if !rules::freshens(&candidate.headers, headers) {
            let member = CacheStatus::forward(state.fwd).fwd_status(304);
            return self.contradicted(state, &candidate, headers, member);
        }
        let merged = rules::merge_not_modified(&candidate.headers, headers);
        // What the revalidating client gets: the merged response, tag headers hidden.
        let mut visible = merged.clone();
        if !self.policy.expose_tag_headers {
            for name in self.policy.tag_headers.iter() {
                visible.remove(name);
            }
        }
        let (mut entry, refused) = self.updated(&state, &candidate, &merged, headers, response_time);
        let stored = refused.is_none();
        // Stored, its headers are `visible` less the fields kept out of the store; the client
        // gets `visible` either way.
        let (entry, served) = if stored && entry.headers.len() != visible.len() {
            let mut served = Entry::clone(&entry);
            served.headers = visible;
            (Arc::new(entry), Arc::new(served))
        } else {
            if !stored {
                entry.headers = visible;
            }
            let entry = Arc::new(entry);
            (Arc::clone(&entry), entry)
        };
        self.record(Event::Revalidated);
        tracing::debug!(key = %entry.key, decision = "revalidated", stored);
        if stored {
            self.record(Event::Store);
            let cleanup = state.guard.take().map(|guard| guard.complete(Arc::clone(&entry)));
            self.spawn_puts(
                Puts::One([Arc::clone(&entry)]),
                cleanup,
                state.store_lock.take(),
                state.epoch,
            );
        } else if let Some(guard) = state.guard.take() {
            guard.uncacheable();
        }
        let request_headers = state.request_headers.unwrap_or_default();
        let kind = if rules::not_modified(&request_headers, &served) {
            HitKind::NotModified
        } else {
            HitKind::Revalidated {
                fwd: state.fwd,
                stored,
            }
        };
        // A 304 saying the response must not be stored (`no-store`, `private`, `Vary: *`) ends
        // the stored one too (RFC 9111 §4.3.4, §5.2.2.5).
        let invalidation = refused
            .filter(|reason| reason.forbids_keeping())
            .map(|_| self.remove_stored(candidate.key.clone()));
        let mut cache_status = CacheStatus::forward(state.fwd).fwd_status(304).stored(stored);
        if kind == HitKind::NotModified {
            cache_status = cache_status.detail("not-modified");
        }
        let hit = Hit {
            entry: served,
            head: false,
            kind,
            now: SystemTime::now(),
            refresh: None,
            cache_status: Some(cache_status.clone()),
            cache_name: self.cache.inner.name.clone(),
        };
        Verdict {
            cache_status,
            collector: None,
            replacement: Some(hit),
            hide: Vec::new(),
            invalidation,
        }
    }

    /// Serves the candidate stale if `stale-if-error` allows (RFC 5861 §4).
    fn stale_if_error(&self, mut state: MissState, fwd_status: Option<u16>) -> Option<Hit> {
        let entry = state.candidate.take()?;
        let now = SystemTime::now();
        if !rules::stale_if_error_allows(&entry, &state.directives, now) {
            return None;
        }
        // Requests waiting on this one get the same stale response.
        if let Some(guard) = state.guard.take() {
            drop(guard.complete(Arc::clone(&entry)));
        }
        self.record(Event::StaleHit);
        tracing::debug!(key = %entry.key, decision = "stale-if-error", fwd_status);
        Some(Hit {
            entry,
            head: false,
            kind: HitKind::StaleIfError { fwd_status },
            now,
            refresh: None,
            cache_status: None,
            cache_name: self.cache.inner.name.clone(),
        })
    }
}

/// What to do with a forwarded response, from [`Forward::response`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Verdict {
    /// The `Cache-Status` member to append to the response.
    pub cache_status: CacheStatus,
    /// Present when the response may be stored: feed it the body as it streams.
    pub collector: Option<Collector>,
    /// Present when the cache answers instead of the handler's response (a 304 that
    /// revalidated the stored response, or a stale response within `stale-if-error`): write
    /// this hit, and drop the handler's response.
    pub replacement: Option<Hit>,
    /// Response headers to remove before the client sees the response (the tag headers
    /// handlers use to tag what is stored, unless the policy exposes them).
    pub hide: Vec<HeaderName>,
    /// Present when the exchange removes stored responses — a successful unsafe request's
    /// invalidation, or a stored response its origin contradicted or made unstorable — with or
    /// without a [`replacement`](Self::replacement): await it before sending the response, so
    /// that the client's next request cannot see what it removed. It runs whether or not it
    /// is awaited.
    pub invalidation: Option<Invalidating>,
}

impl Verdict {
    fn forwarded(cache_status: CacheStatus, collector: Option<Collector>) -> Self {
        Self {
            cache_status,
            collector,
            replacement: None,
            hide: Vec::new(),
            invalidation: None,
        }
    }

    fn hiding(mut self, policy: &Policy, headers: &HeaderMap) -> Self {
        if !policy.expose_tag_headers {
            self.hide = policy
                .tag_headers
                .iter()
                .filter(|name| headers.contains_key(*name))
                .cloned()
                .collect();
        }
        self
    }
}
