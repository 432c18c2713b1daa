//! Single flight per key: one miss computes, concurrent requests for the same key wait for it.
//!
//! [`single_flight`] is the one driver of that loop, for responses (`flow::lookup`) and for
//! memoized values (`memo::flight`): each says how to look in the store, what a handed-over
//! entry means to it and how to compute ([`FlightTarget`]); the driver joins, leads, waits,
//! retries after an abandoned flight and leads across the instances that share a store.

use std::{
    collections::HashMap,
    future::Future,
    pin::pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

use crate::{
    entry::Entry,
    error::Error,
    key::{CacheKey, KeyDigest},
    store::{Store, StoreLock},
};

/// How many times a caller whose flight was abandoned (its leader cancelled or failed) looks
/// again before going to the origin by itself.
pub(crate) const MAX_FLIGHT_ATTEMPTS: usize = 4;

/// One caller of [`single_flight`]: a request for a response, or a memo lookup.
pub(crate) trait FlightTarget: Sized {
    /// What the caller ends with.
    type Output;

    /// The key computed, locked and waited for across instances.
    fn key(&self) -> &CacheKey;
    /// The flights this caller joins.
    fn coalescer(&self) -> &Coalescer;
    /// The store shared with other instances, if it is.
    fn store(&self) -> &Arc<dyn Store>;
    /// How long a caller waits for another's computation, in all.
    fn coalesce_wait(&self) -> Duration;
    /// Counts a wait for a computation in this process or in another instance.
    fn count_wait(&self);
    /// Counts a store error (the flight fails open).
    fn count_store_error(&self);

    /// Looks in the store: answers the caller, or names the flight to join.
    fn look(self) -> impl Future<Output = Looked<Self>>;
    /// What an entry computed by someone else gives this caller.
    fn take(self, entry: Arc<Entry>, from: Handover) -> Taken<Self>;
    /// Computes as the flight's leader, holding the store's lock if it gave one.
    fn lead(self, guard: LeaderGuard, lock: Option<StoreLock>) -> impl Future<Output = Self::Output>;
    /// Computes without leading a flight (nothing can be handed to waiters).
    fn alone(self) -> impl Future<Output = Self::Output>;
}

/// What a look in the store gave.
pub(crate) enum Looked<T: FlightTarget> {
    /// The caller is answered (a hit, or a request that never joins a flight).
    Answered(T::Output),
    /// Join the flight on this digest.
    Join(T, KeyDigest),
}

/// Where an entry handed to [`FlightTarget::take`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handover {
    /// A flight that had just finished when the caller joined it.
    Finished,
    /// The flight the caller waited for.
    Waited,
    /// Another instance that held the store's lock.
    OtherInstance,
}

/// What an entry handed over gave.
pub(crate) enum Taken<T: FlightTarget> {
    /// It answers the caller.
    Answered(T::Output),
    /// It does not, but another look may (another variant's flight): look again.
    LookAgain(T),
    /// It does not: compute.
    Compute(T),
}

/// Answers a caller once per key: looks in the store, joins the key's flight, and either leads
/// it (across instances too) or waits for its leader up to the coalescing bound. A flight whose
/// leader went away is looked at again, up to [`MAX_FLIGHT_ATTEMPTS`] times.
pub(crate) async fn single_flight<T: FlightTarget>(mut target: T) -> T::Output {
    // Computed at the first wait only: hits never read the clock for it.
    let mut deadline = None;
    for _ in 0..MAX_FLIGHT_ATTEMPTS {
        let (caller, flight) = match target.look().await {
            Looked::Answered(output) => return output,
            Looked::Join(caller, flight) => (caller, flight),
        };
        // The entry someone else computed, or what else the flight said.
        let (caller, entry, from) = match caller.coalescer().join(flight) {
            Join::Leader(guard) => return lead_across_instances(caller, guard).await,
            Join::Done(entry) => (caller, entry, Handover::Finished),
            Join::Follower(follower) => {
                caller.count_wait();
                tracing::debug!(key = %caller.key(), decision = "wait", "waiting for a concurrent miss on the same key");
                let deadline =
                    *deadline.get_or_insert_with(|| tokio::time::Instant::now() + caller.coalesce_wait());
                // Boxed: only waiting callers pay for the timer's space, hits and leaders do not.
                let settled =
                    Box::pin(async move { tokio::time::timeout_at(deadline, follower.settled()).await })
                        .await;
                match settled {
                    Ok(FlightState::Done(entry)) => (caller, entry, Handover::Waited),
                    // The leader's result cannot be stored: compute too.
                    Ok(FlightState::Uncacheable) => return caller.alone().await,
                    // The leader went away: look again, and perhaps lead.
                    Ok(FlightState::Abandoned | FlightState::Pending) => {
                        target = caller;
                        continue;
                    }
                    Err(_elapsed) => {
                        tracing::debug!(key = %caller.key(), "coalesced wait timed out; computing");
                        return caller.alone().await;
                    }
                }
            }
        };
        match caller.take(entry, from) {
            Taken::Answered(output) => return output,
            Taken::LookAgain(caller) => target = caller,
            Taken::Compute(caller) => return caller.alone().await,
        }
    }
    target.alone().await
}

/// The leader of this process also leads across the instances sharing the store
/// ([`Store::try_lock`]); if another instance holds the key's lock, it waits for that
/// instance's entry up to the coalescing bound. Fails open: a store error means computing here.
async fn lead_across_instances<T: FlightTarget>(caller: T, guard: LeaderGuard) -> T::Output {
    if !caller.store().is_shared() {
        return caller.lead(guard, None).await;
    }
    // Only the store and the key are held across the awaits: the caller need not be `Sync`.
    let (store, key) = (caller.store(), caller.key());
    match store.try_lock(key).await {
        Ok(Some(lock)) => return caller.lead(guard, Some(lock)).await,
        Ok(None) => {}
        Err(error) => return store_failed(caller, guard, &error, "cache store lock failed").await,
    }
    caller.count_wait();
    tracing::debug!(%key, decision = "wait", "waiting for another instance's computation of the same key");
    match store.wait_for(key, caller.coalesce_wait()).await {
        Ok(Some(entry)) => match caller.take(Arc::clone(&entry), Handover::OtherInstance) {
            Taken::Answered(output) => {
                // This process's waiters get it too.
                drop(guard.complete(entry));
                output
            }
            Taken::LookAgain(caller) | Taken::Compute(caller) => caller.lead(guard, None).await,
        },
        // Released without an entry, or the wait is over.
        Ok(None) => caller.lead(guard, None).await,
        Err(error) => store_failed(caller, guard, &error, "waiting on another instance failed").await,
    }
}

async fn store_failed<T: FlightTarget>(
    caller: T,
    guard: LeaderGuard,
    error: &Error,
    message: &'static str,
) -> T::Output {
    caller.count_store_error();
    crate::store::warn::store_error(
        message,
        format_args!("key {}; computing here", caller.key()),
        error,
    );
    caller.lead(guard, None).await
}

/// The state of one flight, as followers see it.
#[derive(Clone, Debug)]
pub(crate) enum FlightState {
    /// The leader is still computing.
    Pending,
    /// The leader's response was stored: use it.
    Done(Arc<Entry>),
    /// The leader's response cannot be stored: go to the handler yourself.
    Uncacheable,
    /// The leader was cancelled or failed: try again (one of the followers leads next).
    Abandoned,
}

/// One flight: its state for followers, and whether an invalidation overtook it.
///
/// A mutex and one `Notify` rather than a `watch` channel: most flights have no follower, and
/// this is the lightest thing a miss can allocate that still wakes every follower at once.
#[derive(Debug)]
pub(crate) struct Flight {
    state: Mutex<FlightState>,
    settled: Notify,
    invalidated: AtomicBool,
}

impl Flight {
    fn new() -> Self {
        Self {
            state: Mutex::new(FlightState::Pending),
            settled: Notify::new(),
            invalidated: AtomicBool::new(false),
        }
    }

    fn state(&self) -> FlightState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Settles the flight once; later calls change nothing.
    fn settle(&self, state: FlightState) {
        {
            let mut current = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !matches!(*current, FlightState::Pending) {
                return;
            }
            *current = state;
        }
        self.settled.notify_waiters();
    }
}

/// A request waiting for another one's flight.
#[derive(Debug)]
pub(crate) struct Follower(Arc<Flight>);

impl Follower {
    /// The flight's state once it has settled (never [`FlightState::Pending`]).
    pub(crate) async fn settled(&self) -> FlightState {
        loop {
            // Registered before the state is read, so a settlement in between is not missed.
            let mut notified = pin!(self.0.settled.notified());
            notified.as_mut().enable();
            let state = self.0.state();
            if !matches!(state, FlightState::Pending) {
                return state;
            }
            notified.await;
        }
    }
}

type Flights = Mutex<HashMap<KeyDigest, Arc<Flight>>>;

fn lock(flights: &Flights) -> std::sync::MutexGuard<'_, HashMap<KeyDigest, Arc<Flight>>> {
    flights.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    flights: Arc<Flights>,
}

/// What joining a flight gave.
pub(crate) enum Join {
    /// No flight was running: the caller leads one and must settle it.
    Leader(LeaderGuard),
    /// A flight is running: wait for it to settle.
    Follower(Follower),
    /// A flight just finished with a stored response (its store write may still be running).
    Done(Arc<Entry>),
}

impl Coalescer {
    pub(crate) fn join(&self, digest: KeyDigest) -> Join {
        let mut flights = lock(&self.flights);
        if let Some(flight) = flights.get(&digest) {
            if let FlightState::Done(entry) = flight.state() {
                return Join::Done(entry);
            }
            return Join::Follower(Follower(Arc::clone(flight)));
        }
        let flight = Arc::new(Flight::new());
        flights.insert(digest, Arc::clone(&flight));
        Join::Leader(LeaderGuard {
            flights: Arc::clone(&self.flights),
            digest,
            flight: Some(flight),
        })
    }

    /// The entry of a flight that has finished but whose store write may still be running;
    /// for requests that never join a flight (`HEAD`).
    pub(crate) fn finished(&self, digest: &KeyDigest) -> Option<Arc<Entry>> {
        let flights = lock(&self.flights);
        match flights.get(digest)?.state() {
            FlightState::Done(entry) => Some(entry),
            _ => None,
        }
    }

    /// An invalidation of `digest` overtakes its flight: the flight stops answering late
    /// arrivals, and its pending store write is dropped (see [`FlightCleanup::invalidated`]).
    pub(crate) fn invalidate(&self, digest: &KeyDigest) {
        let flight = lock(&self.flights).remove(digest);
        if let Some(flight) = flight {
            flight.invalidated.store(true, Ordering::SeqCst);
        }
    }

    /// An invalidation that may concern any key overtakes every flight in progress.
    pub(crate) fn invalidate_all(&self) {
        let flights = std::mem::take(&mut *lock(&self.flights));
        for flight in flights.into_values() {
            flight.invalidated.store(true, Ordering::SeqCst);
        }
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}

/// The leader's duty: settle the flight. Dropped unsettled (cancelled, failed, panicked), it
/// tells followers the flight was abandoned, so none is left waiting.
#[derive(Debug)]
pub(crate) struct LeaderGuard {
    flights: Arc<Flights>,
    digest: KeyDigest,
    flight: Option<Arc<Flight>>,
}

impl LeaderGuard {
    /// Answers followers with the stored entry. The flight stays registered (answering late
    /// arrivals) until the returned guard is dropped, which the caller does once the store
    /// write has finished.
    pub(crate) fn complete(mut self, entry: Arc<Entry>) -> FlightCleanup {
        let flight = self.flight.take().expect("a leader settles once");
        flight.settle(FlightState::Done(entry));
        FlightCleanup {
            flights: Arc::clone(&self.flights),
            digest: self.digest,
            flight,
        }
    }

    /// Tells followers to go to the handler themselves.
    pub(crate) fn uncacheable(mut self) {
        if let Some(flight) = self.flight.take() {
            settle(&self.flights, self.digest, &flight, FlightState::Uncacheable);
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            settle(&self.flights, self.digest, &flight, FlightState::Abandoned);
        }
    }
}

/// Unregisters a completed flight when dropped.
#[derive(Debug)]
pub(crate) struct FlightCleanup {
    flights: Arc<Flights>,
    digest: KeyDigest,
    flight: Arc<Flight>,
}

impl FlightCleanup {
    /// Whether an invalidation of the key overtook this flight: its entry must not be stored,
    /// or must be removed again if the write already happened.
    pub(crate) fn invalidated(&self) -> bool {
        self.flight.invalidated.load(Ordering::SeqCst)
    }
}

impl Drop for FlightCleanup {
    fn drop(&mut self) {
        unregister(&self.flights, self.digest, &self.flight);
    }
}

fn settle(flights: &Flights, digest: KeyDigest, flight: &Arc<Flight>, state: FlightState) {
    // Unregister first: a follower that wakes up and retries must not find this flight again.
    unregister(flights, digest, flight);
    flight.settle(state);
}

fn unregister(flights: &Flights, digest: KeyDigest, flight: &Arc<Flight>) {
    let mut flights = lock(flights);
    // Only remove our own flight, never a newer one for the same key.
    if flights
        .get(&digest)
        .is_some_and(|current| Arc::ptr_eq(current, flight))
    {
        flights.remove(&digest);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::store::MemoryStore;

    /// A caller of the driver that counts what it did; a leader computes once `gate` opens.
    struct Probe {
        coalescer: Arc<Coalescer>,
        store: Arc<dyn Store>,
        key: CacheKey,
        waits: Arc<AtomicUsize>,
        computed: Arc<AtomicUsize>,
        gate: Arc<Notify>,
    }

    impl FlightTarget for Probe {
        type Output = &'static str;
        fn key(&self) -> &CacheKey {
            &self.key
        }
        fn coalescer(&self) -> &Coalescer {
            &self.coalescer
        }
        fn store(&self) -> &Arc<dyn Store> {
            &self.store
        }
        fn coalesce_wait(&self) -> Duration {
            Duration::from_secs(30)
        }
        fn count_wait(&self) {
            self.waits.fetch_add(1, Ordering::SeqCst);
        }
        fn count_store_error(&self) {
            unreachable!("a memory store does not fail")
        }
        async fn look(self) -> Looked<Self> {
            let digest = *self.key.digest();
            Looked::Join(self, digest)
        }
        fn take(self, _entry: Arc<Entry>, from: Handover) -> Taken<Self> {
            assert_eq!(from, Handover::Waited);
            Taken::Answered("followed")
        }
        async fn lead(self, guard: LeaderGuard, lock: Option<StoreLock>) -> &'static str {
            assert!(lock.is_none(), "an unshared store is not locked");
            self.computed.fetch_add(1, Ordering::SeqCst);
            self.gate.notified().await;
            drop(guard.complete(Arc::new(Entry::for_tests())));
            "led"
        }
        async fn alone(self) -> &'static str {
            "alone"
        }
    }

    fn probes(n: usize) -> (Vec<Probe>, Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<Notify>) {
        let (coalescer, store): (_, Arc<dyn Store>) = (Arc::default(), Arc::new(MemoryStore::new()));
        let (waits, computed, gate) = (Arc::default(), Arc::default(), Arc::new(Notify::new()));
        let probes = (0..n)
            .map(|_| Probe {
                coalescer: Arc::clone(&coalescer),
                store: Arc::clone(&store),
                key: CacheKey::from_parts(["k"]),
                waits: Arc::clone(&waits),
                computed: Arc::clone(&computed),
                gate: Arc::clone(&gate),
            })
            .collect();
        (probes, waits, computed, gate)
    }

    /// What each caller ended with, in order.
    async fn outputs(tasks: Vec<tokio::task::JoinHandle<&'static str>>) -> Vec<&'static str> {
        let mut outputs = Vec::with_capacity(tasks.len());
        for task in tasks {
            outputs.push(task.await.unwrap());
        }
        outputs
    }

    async fn until(counter: &AtomicUsize, n: usize) {
        while counter.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_driver_leads_once_and_hands_the_result_to_every_waiter() {
        const N: usize = 64;
        let (probes, waits, computed, gate) = probes(N);
        let tasks: Vec<_> = probes
            .into_iter()
            .map(|p| tokio::spawn(single_flight(p)))
            .collect();
        // Every caller but the leader is waiting before the leader finishes.
        until(&waits, N - 1).await;
        gate.notify_one();
        let outputs = outputs(tasks).await;
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(outputs.iter().filter(|o| **o == "led").count(), 1);
        assert_eq!(outputs.iter().filter(|o| **o == "followed").count(), N - 1);
    }

    #[tokio::test]
    async fn the_driver_hands_an_abandoned_flight_to_one_waiter() {
        const N: usize = 8;
        let (mut probes, waits, computed, gate) = probes(N);
        let first = tokio::spawn(single_flight(probes.remove(0)));
        until(&computed, 1).await;
        let rest: Vec<_> = probes
            .into_iter()
            .map(|p| tokio::spawn(single_flight(p)))
            .collect();
        until(&waits, N - 1).await;
        // The leader goes away: one waiter leads next, the others wait for it.
        first.abort();
        until(&computed, 2).await;
        until(&waits, 2 * (N - 1) - 1).await;
        gate.notify_one();
        let outputs = outputs(rest).await;
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert_eq!(outputs.iter().filter(|o| **o == "led").count(), 1);
        assert_eq!(outputs.iter().filter(|o| **o == "followed").count(), N - 2);
    }

    fn digest() -> KeyDigest {
        *CacheKey::from_parts(["k"]).digest()
    }

    #[tokio::test]
    async fn dropped_leader_wakes_followers_with_abandoned() {
        let c = Coalescer::default();
        let Join::Leader(guard) = c.join(digest()) else {
            panic!("first joiner leads")
        };
        let Join::Follower(follower) = c.join(digest()) else {
            panic!("second joiner follows")
        };
        drop(guard);
        let state = follower.settled().await;
        assert!(matches!(state, FlightState::Abandoned));
        assert_eq!(c.in_flight(), 0);
        assert!(matches!(c.join(digest()), Join::Leader(_)));
    }

    #[tokio::test]
    async fn uncacheable_is_broadcast_and_unregistered() {
        let c = Coalescer::default();
        let Join::Leader(guard) = c.join(digest()) else {
            panic!()
        };
        let Join::Follower(follower) = c.join(digest()) else {
            panic!()
        };
        guard.uncacheable();
        let state = follower.settled().await;
        assert!(matches!(state, FlightState::Uncacheable));
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn every_follower_waiting_before_completion_gets_the_entry() {
        let c = Arc::new(Coalescer::default());
        let Join::Leader(guard) = c.join(digest()) else {
            panic!()
        };
        let waiting: Vec<_> = (0..64)
            .map(|_| {
                let Join::Follower(follower) = c.join(digest()) else {
                    panic!("a flight is running")
                };
                tokio::spawn(async move { follower.settled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        let entry = Arc::new(Entry::for_tests());
        let _cleanup = guard.complete(Arc::clone(&entry));
        for task in waiting {
            let state = tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .expect("a follower was not woken")
                .unwrap();
            assert!(matches!(state, FlightState::Done(e) if Arc::ptr_eq(&e, &entry)));
        }
        // A late arrival sees the finished flight without waiting.
        assert!(matches!(c.join(digest()), Join::Done(_)));
    }

    #[test]
    fn a_stale_cleanup_does_not_remove_a_newer_flight() {
        let c = Coalescer::default();
        let Join::Leader(first) = c.join(digest()) else {
            panic!()
        };
        first.uncacheable();
        let Join::Leader(_second) = c.join(digest()) else {
            panic!()
        };
        assert_eq!(c.in_flight(), 1);
    }
}
