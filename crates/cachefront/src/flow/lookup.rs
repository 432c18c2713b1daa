//! The lookup: how a request is answered, from the cache or by the handler, with concurrent
//! misses on one key coalesced into one handler call (per variant), here and across the
//! instances sharing a store.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use super::{
    Lookup,
    find::Found,
    forward::{Forward, MissState},
    hit::HitKind,
    invalidating::{AsGet, Invalidation},
    variants::variant_flight,
};
use crate::{
    cache::CacheRoute,
    coalesce::{Coalescer, FlightTarget, Handover, Join, LeaderGuard, Looked, Taken, single_flight},
    entry::Entry,
    key::{CacheKey, KeyDigest, KeyText},
    policy::{Bypass, NotStored, RequestAdmission},
    request::RequestHead,
    rules::{
        self, CacheControl, ForwardReason, Reuse,
        range::{self, Requested},
    },
    stats::Event,
    store::{Store, StoreLock},
};

impl CacheRoute {
    /// Decides how to answer a request: from the cache, or by forwarding it to the handler.
    ///
    /// Concurrent misses on one key are coalesced: one request (the leader) is forwarded, the
    /// others wait for its response up to the cache's bound. If the leader's response cannot be
    /// stored they are forwarded too; if the leader is cancelled or fails, one of them leads.
    pub async fn lookup<R: RequestHead>(&self, request: &R) -> Lookup {
        match self.lookup_now(request) {
            LookupNow::Done(lookup) => lookup,
            LookupNow::Later(later) => self.lookup_later(request, later).await,
        }
    }

    /// The part of [`lookup`](Self::lookup) that needs no waiting: the request's admission,
    /// and, when the store answers at once (memory), the fresh hit. What is left (a store that
    /// must be asked, a miss and its single flight) is [`lookup_later`](Self::lookup_later)'s.
    pub(crate) fn lookup_now<R: RequestHead>(&self, request: &R) -> LookupNow {
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
                return LookupNow::Done(self.bypass(request, reason, invalidation));
            }
        };
        // Written in this thread's buffer: a hit below gives it back, anything else keeps a
        // copy (`kept`).
        let key = self.policy.request_key(request, &admission, KeyText::take());
        let RequestAdmission {
            head,
            authorized,
            directives,
            ..
        } = admission;
        // `HEAD` ignores `Range` (RFC 9110 §14.2). A range the cache does not answer itself
        // (several, another unit, malformed), or one with credentials, is forwarded as it came.
        let ranged = if head { None } else { range::requested(request) };
        if ranged == Some(Requested::Other) || (authorized && ranged.is_some()) {
            key.discard();
            return LookupNow::Done(self.bypass(request, Bypass::Range, None));
        }
        if authorized {
            // RFC 9111 §3.5: forwarded and never answered from the cache, stored only if the
            // origin marked the response as shareable.
            let state = Box::new(MissState::new(
                key.kept(),
                ForwardReason::Bypass,
                directives,
                request_time,
                authorized,
                epoch,
            ));
            return LookupNow::Done(self.forward(request, state));
        }
        let later = LookupLater {
            found: self.find_now(&key, request),
            key,
            directives,
            request_time,
            epoch,
            ranged: ranged.is_some(),
            head,
        };
        // The common case first, with nothing else set up: a fresh stored response.
        match later.fresh() {
            Some(entry) => {
                later.key.discard();
                LookupNow::Done(self.hit(request, entry, head, HitKind::Fresh, request_time))
            }
            None => LookupNow::Later(LookupLater {
                key: later.key.kept(),
                ..later
            }),
        }
    }

    /// The rest of a lookup that [`lookup_now`](Self::lookup_now) could not finish: the store's
    /// answer if it had none yet, then a fresh hit or the single flight on the key.
    pub(crate) async fn lookup_later<R: RequestHead>(&self, request: &R, mut later: LookupLater) -> Lookup {
        if later.found.is_none() {
            later.found = Some(self.find(&later.key, request).await);
            if let Some(entry) = later.fresh() {
                return self.hit(request, entry, later.head, HitKind::Fresh, later.request_time);
            }
        }
        let state = Box::new(MissState::new(
            later.key,
            ForwardReason::UriMiss,
            later.directives,
            later.request_time,
            false,
            later.epoch,
        ));
        // Boxed: a fresh hit (above) never builds the flight's state; the lookup future stays
        // small, and is cheap to move into the adapter's boxed future.
        Box::pin(single_flight(ResponseFlight {
            route: self,
            request,
            // The flight this request joins: the URI's, until a response says what it varies
            // on; then the request's variant's, so that each variant has one handler call.
            flight: *state.key.digest(),
            state,
            prefetched: later.found,
            ranged: later.ranged,
            head: later.head,
        }))
        .await
    }
}

/// What [`CacheRoute::lookup_now`] decided without waiting.
pub(crate) enum LookupNow {
    /// The answer: a fresh hit, a bypass, a forward with credentials.
    Done(Lookup),
    /// The store must be asked, or the key is a miss: [`CacheRoute::lookup_later`] finishes.
    Later(LookupLater),
}

/// An admitted request whose lookup is not finished: what `lookup_later` needs of it, with
/// nothing borrowed from the request.
pub(crate) struct LookupLater {
    key: CacheKey,
    directives: CacheControl,
    request_time: SystemTime,
    epoch: crate::purges::PurgeEpoch,
    ranged: bool,
    head: bool,
    /// The store's answer, when it gave one at once.
    found: Option<Found>,
}

impl LookupLater {
    /// The entry found, when it is fresh for this request.
    fn fresh(&self) -> Option<Arc<Entry>> {
        let entry = self.found.as_ref()?.entry.as_ref()?;
        (rules::reuse(entry, &self.directives, self.request_time) == Reuse::Fresh).then(|| Arc::clone(entry))
    }
}

/// A request's part in the single flight on its key (see [`single_flight`]).
struct ResponseFlight<'a, R> {
    route: &'a CacheRoute,
    request: &'a R,
    state: Box<MissState>,
    /// The first look's result, taken before the flight was set up.
    prefetched: Option<Found>,
    flight: KeyDigest,
    /// The client asked for a byte range.
    ranged: bool,
    head: bool,
}

impl<R: RequestHead> ResponseFlight<'_, R> {
    fn hit(&self, entry: Arc<Entry>, kind: HitKind) -> Lookup {
        self.route
            .hit(self.request, entry, self.head, kind, SystemTime::now())
    }

    fn forward(self) -> Lookup {
        self.route.forward(self.request, self.state)
    }

    /// Serves a stale response while one background request (the flight's leader) refreshes
    /// it.
    fn stale_while_revalidate(&self, entry: Arc<Entry>, now: SystemTime) -> Lookup {
        let (route, state, request) = (self.route, &self.state, self.request);
        let mut lookup = route.hit(
            request,
            entry.clone(),
            self.head,
            HitKind::StaleWhileRevalidate,
            now,
        );
        // One background refresh per key: only the flight's leader runs it.
        if let (Lookup::Hit(hit), Join::Leader(guard)) = (
            &mut lookup,
            route
                .cache
                .inner
                .coalescer
                .join(variant_flight(&state.key, &entry, request)),
        ) {
            // A request of its own, beginning now.
            let mut refresh = state.clone_for_refresh(route.cache.purge_epoch());
            refresh.fwd = ForwardReason::Stale;
            refresh.guard = Some(guard);
            refresh.candidate = Some(entry);
            refresh.whole = self.ranged;
            refresh.request_headers = Some(request.to_header_map());
            refresh.tags = route.policy.resolve(&route.policy.tags, request.path());
            refresh.pending = Some(route.cache.pending().start());
            hit.refresh = Some(Forward::miss(route.clone(), Box::new(refresh)));
        }
        lookup
    }
}

impl<R: RequestHead> FlightTarget for ResponseFlight<'_, R> {
    type Output = Lookup;

    fn key(&self) -> &CacheKey {
        &self.state.key
    }

    fn coalescer(&self) -> &Coalescer {
        &self.route.cache.inner.coalescer
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.route.store()
    }

    fn coalesce_wait(&self) -> Duration {
        self.route.cache.inner.coalesce_wait
    }

    fn count_wait(&self) {
        self.route.record(Event::CoalescedWait);
    }

    fn count_store_error(&self) {
        self.route.record(Event::StoreError);
    }

    async fn look(mut self) -> Looked<Self> {
        let found = match self.prefetched.take() {
            Some(found) => found,
            None => self.route.find(&self.state.key, self.request).await,
        };
        self.state.fwd = found.fwd;
        if let Some(primary) = &found.varies {
            self.flight = variant_flight(&self.state.key, primary, self.request);
        }
        if let Some(entry) = found.entry {
            let now = SystemTime::now();
            match rules::reuse(&entry, &self.state.directives, now) {
                Reuse::Fresh => return Looked::Answered(self.hit(entry, HitKind::Fresh)),
                Reuse::StaleAccepted => return Looked::Answered(self.hit(entry, HitKind::Stale)),
                Reuse::StaleWhileRevalidate => {
                    return Looked::Answered(self.stale_while_revalidate(entry, now));
                }
                Reuse::Revalidate => {
                    self.state.fwd = if entry.is_fresh(now) && !entry.no_cache {
                        ForwardReason::Request
                    } else {
                        ForwardReason::Stale
                    };
                    self.flight = variant_flight(&self.state.key, &entry, self.request);
                    self.state.candidate = Some(entry);
                }
            }
        }
        if self.state.directives.only_if_cached {
            return Looked::Answered(self.route.synthetic_gateway_timeout(self.request, self.head));
        }
        // Nothing stored to slice as it is: the handler is asked for the whole representation,
        // which is stored (partial content never is).
        self.state.whole = self.ranged;
        if self.head {
            // HEAD never stores, so it neither leads nor follows a flight; but a GET that just
            // finished answers it while its store write runs.
            if let Some(entry) = self.coalescer().finished(&self.flight)
                && usable(&entry, self.request, &self.state.directives)
            {
                return Looked::Answered(self.hit(entry, HitKind::Fresh));
            }
            self.state.not_stored = Some(NotStored::Head);
            self.state.head_candidate = self.state.candidate.take();
            return Looked::Answered(self.forward());
        }
        let flight = self.flight;
        Looked::Join(self, flight)
    }

    fn take(mut self, entry: Arc<Entry>, from: Handover) -> Taken<Self> {
        let kind = match from {
            Handover::Finished => HitKind::Fresh,
            Handover::Waited | Handover::OtherInstance => HitKind::Collapsed,
        };
        if usable(&entry, self.request, &self.state.directives) {
            return Taken::Answered(self.hit(entry, kind));
        }
        if from != Handover::OtherInstance && !entry.matches_vary(self.request) {
            // The response names what it varies on: this request's variant has a flight of
            // its own, led by the first request for it.
            let variant = variant_flight(&self.state.key, &entry, self.request);
            if variant != self.flight {
                self.flight = variant;
                self.state.fwd = ForwardReason::VaryMiss;
                return Taken::LookAgain(self);
            }
        }
        // The response needs validation, or another try found nothing.
        Taken::Compute(self)
    }

    async fn lead(mut self, guard: LeaderGuard, lock: Option<StoreLock>) -> Lookup {
        self.state.guard = Some(guard);
        self.state.store_lock = lock;
        self.forward()
    }

    async fn alone(self) -> Lookup {
        self.forward()
    }
}

/// Whether a stored response answers this request as it is: its `Vary` matches and it is
/// fresh for the request, without validation (RFC 9111 §4, §5.2.2.4: a `no-cache` or already
/// stale response handed over by a flight is validated like any other).
fn usable<R: RequestHead>(entry: &Entry, request: &R, directives: &CacheControl) -> bool {
    entry.matches_vary(request) && rules::reuse(entry, directives, SystemTime::now()) == Reuse::Fresh
}
