//! The circuit breaker: after a timeout or repeated failures, calls fail at once until a probe
//! finds Redis answering again.

use std::{
    fmt,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    time::Duration,
};

/// After this many consecutive failures (or one timeout), the circuit opens: calls fail at
/// once until a probe finds Redis answering again.
const CIRCUIT_FAILURES: u32 = 3;
/// While the circuit is open, how often a probe `PING`s Redis: about how long the store stays
/// unused after Redis answers again.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Fails calls at once while Redis is down or slow, until a probe finds it answering.
///
/// No call is let through to test the water: under a slow Redis each one would cost a request
/// the whole timeout. The probe ([`probe`](super::probe)) pays instead, off the request path.
pub(super) struct Breaker {
    failures: AtomicU32,
    open: AtomicBool,
    /// Whether a probe task is running: at most one per store.
    pub(super) probing: AtomicBool,
}

impl Breaker {
    pub(super) fn new() -> Self {
        Self {
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            probing: AtomicBool::new(false),
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Redis answered in time: calls go through again.
    pub(super) fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.is_open() {
            self.open.store(false, Ordering::Release);
        }
    }

    /// Counts a failure. A timeout opens the circuit at once: that call already cost its
    /// request the whole bound, and the next ones would too.
    pub(super) fn failed(&self, timed_out: bool) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if timed_out || failures >= CIRCUIT_FAILURES {
            self.open.store(true, Ordering::Release);
        }
    }

    /// Claims the right to run the probe; `false` if one runs already.
    pub(super) fn start_probing(&self) -> bool {
        !self.probing.load(Ordering::Relaxed) && !self.probing.swap(true, Ordering::AcqRel)
    }
}

/// The circuit is open: Redis timed out or failed repeatedly just now.
#[derive(Debug)]
pub(super) struct CircuitOpen;

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Redis timed out or failed {CIRCUIT_FAILURES} times in a row; calls fail at once until \
             it answers a PING (tried every {} ms)",
            PROBE_EVERY.as_millis()
        )
    }
}

impl std::error::Error for CircuitOpen {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_repeated_failures_or_one_timeout_and_closes_on_success() {
        let breaker = Breaker::new();
        for _ in 0..CIRCUIT_FAILURES - 1 {
            breaker.failed(false);
        }
        assert!(!breaker.is_open());
        breaker.failed(false);
        assert!(breaker.is_open());
        breaker.succeeded();
        assert!(!breaker.is_open());
        breaker.failed(false);
        assert!(!breaker.is_open(), "the count starts again after a success");
        breaker.failed(true);
        assert!(breaker.is_open(), "a timeout opens at once");
        assert!(breaker.start_probing());
        assert!(!breaker.start_probing(), "one probe at a time");
    }
}
