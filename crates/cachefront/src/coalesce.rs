//! Single flight per key: one miss computes, concurrent requests for the same key wait for it.

use std::{
    collections::HashMap,
    pin::pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::Notify;

use crate::{entry::Entry, key::KeyDigest};

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
    use super::*;
    use crate::key::CacheKey;

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
