//! The lookup: how a request is answered, from the cache or by the handler, with concurrent
//! misses on one key coalesced into one handler call (per variant), here and across the
//! instances sharing a store.

use std::{sync::Arc, time::SystemTime};

use super::{
    Lookup,
    forward::{Forward, MissState},
    hit::HitKind,
    invalidating::{AsGet, Invalidation},
    variants::variant_flight,
};
use crate::{
    cache::CacheRoute,
    coalesce::{FlightState, Join},
    entry::Entry,
    key::KeyDigest,
    policy::{Bypass, NotStored, RequestAdmission},
    request::RequestHead,
    rules::{
        self, CacheControl, ForwardReason, Reuse,
        range::{self, Requested},
    },
    stats::Event,
};

/// How many times a follower whose leader was cancelled retries before going to the handler.
const MAX_FLIGHT_ATTEMPTS: usize = 4;

impl CacheRoute {
    /// Decides how to answer a request: from the cache, or by forwarding it to the handler.
    ///
    /// Concurrent misses on one key are coalesced: one request (the leader) is forwarded, the
    /// others wait for its response up to the cache's bound. If the leader's response cannot be
    /// stored they are forwarded too; if the leader is cancelled or fails, one of them leads.
    pub async fn lookup<R: RequestHead>(&self, request: &R) -> Lookup {
        let request_time = SystemTime::now();
        let epoch = self.cache.purge_epoch();
        let admission = match self.policy.admit_request(request) {
            Ok(admission) => admission,
            Err(reason) => {
                // A successful unsafe request invalidates what is stored for its URI (§4.4).
                let invalidation = (reason == Bypass::Method && !rules::is_safe_method(request.method()))
                    .then(|| Invalidation {
                        target: self.policy.key.build(&AsGet(request)),
                        host: request.host().map(str::to_ascii_lowercase),
                        tags: self.policy.resolve(&self.policy.invalidates, request.path()),
                        paths: self
                            .policy
                            .resolve(&self.policy.invalidates_paths, request.path()),
                    });
                return self.bypass(request, reason, invalidation);
            }
        };
        let RequestAdmission {
            key,
            head,
            authorized,
            directives,
        } = admission;
        // `HEAD` ignores `Range` (RFC 9110 §14.2). A range the cache does not answer itself
        // (several, another unit, malformed), or one with credentials, is forwarded as it came.
        let ranged = if head { None } else { range::requested(request) };
        if ranged == Some(Requested::Other) || (authorized && ranged.is_some()) {
            return self.bypass(request, Bypass::Range, None);
        }
        if authorized {
            // RFC 9111 §3.5: forwarded and never answered from the cache, stored only if the
            // origin marked the response as shareable.
            let state = Box::new(MissState::new(
                key,
                ForwardReason::Bypass,
                directives,
                request_time,
                authorized,
                epoch,
            ));
            return self.forward(request, state);
        }
        // The common case first, with nothing else set up: a fresh stored response.
        let found = self.find(&key, request).await;
        if let Some(entry) = &found.entry {
            if rules::reuse(entry, &directives, request_time) == Reuse::Fresh {
                return self.hit(request, Arc::clone(entry), head, HitKind::Fresh, request_time);
            }
        }
        let mut prefetched = Some(found);
        // Boxed: the lookup future stays small (it is moved into the adapter's boxed future).
        let mut state = Box::new(MissState::new(
            key,
            ForwardReason::UriMiss,
            directives,
            request_time,
            false,
            epoch,
        ));
        // The flight this request joins: the URI's, until a response says what it varies on;
        // then the request's variant's, so that each variant has one handler call.
        let mut flight = *state.key.digest();
        // Computed at the first wait only: hits never read the clock for it.
        let mut deadline = None;
        for _ in 0..MAX_FLIGHT_ATTEMPTS {
            let found = match prefetched.take() {
                Some(found) => found,
                None => self.find(&state.key, request).await,
            };
            state.fwd = found.fwd;
            if let Some(primary) = &found.varies {
                flight = variant_flight(&state.key, primary, request);
            }
            if let Some(entry) = found.entry {
                let now = SystemTime::now();
                match rules::reuse(&entry, &state.directives, now) {
                    Reuse::Fresh => return self.hit(request, entry, head, HitKind::Fresh, now),
                    Reuse::StaleAccepted => return self.hit(request, entry, head, HitKind::Stale, now),
                    Reuse::StaleWhileRevalidate => {
                        let mut lookup =
                            self.hit(request, entry.clone(), head, HitKind::StaleWhileRevalidate, now);
                        // One background refresh per key: only the flight's leader runs it.
                        if let (Lookup::Hit(hit), Join::Leader(guard)) = (
                            &mut lookup,
                            self.cache
                                .inner
                                .coalescer
                                .join(variant_flight(&state.key, &entry, request)),
                        ) {
                            // A request of its own, beginning now.
                            let mut refresh = state.clone_for_refresh(self.cache.purge_epoch());
                            refresh.fwd = ForwardReason::Stale;
                            refresh.guard = Some(guard);
                            refresh.candidate = Some(entry);
                            refresh.whole = ranged.is_some();
                            refresh.request_headers = Some(request.to_header_map());
                            refresh.tags = self.policy.resolve(&self.policy.tags, request.path());
                            refresh.pending = Some(self.cache.pending().start());
                            hit.refresh = Some(Forward::miss(self.clone(), Box::new(refresh)));
                        }
                        return lookup;
                    }
                    Reuse::Revalidate => {
                        state.fwd = if entry.is_fresh(now) && !entry.no_cache {
                            ForwardReason::Request
                        } else {
                            ForwardReason::Stale
                        };
                        flight = variant_flight(&state.key, &entry, request);
                        state.candidate = Some(entry);
                    }
                }
            }
            if state.directives.only_if_cached {
                return self.synthetic_gateway_timeout(request, head);
            }
            // Nothing stored to slice as it is: the handler is asked for the whole
            // representation, which is stored (partial content never is).
            state.whole = ranged.is_some();
            if head {
                // HEAD never stores, so it neither leads nor follows a flight; but a GET that
                // just finished answers it while its store write runs.
                if let Some(entry) = self.cache.inner.coalescer.finished(&flight) {
                    if usable(&entry, request, &state.directives) {
                        return self.hit(request, entry, true, HitKind::Fresh, SystemTime::now());
                    }
                }
                state.not_stored = Some(NotStored::Head);
                state.head_candidate = state.candidate.take();
                return self.forward(request, state);
            }
            let follower = match self.cache.inner.coalescer.join(flight) {
                Join::Leader(guard) => {
                    state.guard = Some(guard);
                    // Lead across the instances sharing the store too, or wait for the one
                    // that does.
                    if let Some(entry) = self.lead_across_instances(&mut state, request).await {
                        return self.hit(request, entry, false, HitKind::Collapsed, SystemTime::now());
                    }
                    return self.forward(request, state);
                }
                Join::Done(entry) => match after_flight(&entry, request, &state, &mut flight) {
                    AfterFlight::Use => {
                        return self.hit(request, entry, false, HitKind::Fresh, SystemTime::now());
                    }
                    AfterFlight::JoinVariant => {
                        state.fwd = ForwardReason::VaryMiss;
                        continue;
                    }
                    AfterFlight::Forward => return self.forward(request, state),
                },
                Join::Follower(follower) => follower,
            };
            self.record(Event::CoalescedWait);
            tracing::debug!(key = %state.key, decision = "wait", "waiting for a concurrent miss on the same key");
            let deadline =
                *deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.cache.inner.coalesce_wait);
            // Boxed: only waiting requests pay for the timer's space, hits and leaders do not.
            let settled =
                Box::pin(async move { tokio::time::timeout_at(deadline, follower.settled()).await }).await;
            match settled {
                Ok(FlightState::Done(entry)) => match after_flight(&entry, request, &state, &mut flight) {
                    AfterFlight::Use => {
                        return self.hit(request, entry, false, HitKind::Collapsed, SystemTime::now());
                    }
                    AfterFlight::JoinVariant => {
                        state.fwd = ForwardReason::VaryMiss;
                    }
                    AfterFlight::Forward => return self.forward(request, state),
                },
                Ok(FlightState::Uncacheable) => return self.forward(request, state),
                // The leader went away: look again, and perhaps lead.
                Ok(FlightState::Abandoned | FlightState::Pending) => {}
                Err(_elapsed) => {
                    tracing::debug!(key = %state.key, "coalesced wait timed out; forwarding");
                    return self.forward(request, state);
                }
            }
        }
        self.forward(request, state)
    }

    /// Takes the store's cross-instance lock on the key, so that one instance computes a cold
    /// key; when another instance holds it, waits for its entry up to the coalescing bound. Returns the entry to serve, or `None` to go to the handler. Fails
    /// open: a store error means going to the handler.
    async fn lead_across_instances<R: RequestHead>(
        &self,
        state: &mut MissState,
        request: &R,
    ) -> Option<Arc<Entry>> {
        if !self.store().is_shared() {
            return None;
        }
        match self.store().try_lock(&state.key).await {
            Ok(Some(lock)) => {
                state.store_lock = Some(lock);
                return None;
            }
            Ok(None) => {}
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %state.key, %error, "cache store lock failed; forwarding");
                return None;
            }
        }
        self.record(Event::CoalescedWait);
        tracing::debug!(key = %state.key, decision = "wait", "waiting for another instance's response to the same key");
        match self
            .store()
            .wait_for(&state.key, self.cache.inner.coalesce_wait)
            .await
        {
            Ok(Some(entry)) if usable(&entry, request, &state.directives) => {
                // This instance's own waiters get it too.
                if let Some(guard) = state.guard.take() {
                    drop(guard.complete(Arc::clone(&entry)));
                }
                Some(entry)
            }
            Ok(_) => None,
            Err(error) => {
                self.record(Event::StoreError);
                tracing::warn!(key = %state.key, %error, "waiting on another instance failed; forwarding");
                None
            }
        }
    }
}

/// Whether a stored response answers this request as it is: its `Vary` matches and it is
/// fresh for the request, without validation (RFC 9111 §4, §5.2.2.4: a `no-cache` or already
/// stale response handed over by a flight is validated like any other).
fn usable<R: RequestHead>(entry: &Entry, request: &R, directives: &CacheControl) -> bool {
    entry.matches_vary(request) && rules::reuse(entry, directives, SystemTime::now()) == Reuse::Fresh
}

/// What a request does with the response a flight it joined produced.
fn after_flight<R: RequestHead>(
    entry: &Entry,
    request: &R,
    state: &MissState,
    flight: &mut KeyDigest,
) -> AfterFlight {
    if usable(entry, request, &state.directives) {
        return AfterFlight::Use;
    }
    if !entry.matches_vary(request) {
        // The response names what it varies on: this request's variant has a flight of
        // its own, led by the first request for it.
        let variant = variant_flight(&state.key, entry, request);
        if variant != *flight {
            *flight = variant;
            return AfterFlight::JoinVariant;
        }
    }
    AfterFlight::Forward
}

/// What a request does with the response of a flight it joined.
enum AfterFlight {
    /// It answers the request.
    Use,
    /// The response varies and this request is another variant: join that variant's flight.
    JoinVariant,
    /// Go to the handler (the response needs validation, or another try found nothing).
    Forward,
}
