//! Store failures in the log without flooding it: [`store_error`] is the one way the cache
//! logs a failed store call.
//!
//! The first failure after a quiet spell is logged at once, in full. Failures in the
//! [`INTERVAL`] after it are counted, not logged; at the end of the interval one summary says
//! how many there were and what the last one was, and the next interval starts. An interval
//! with no failure ends the episode: the next failure is logged in full again. So a Redis
//! outage costs the log one warning and then one line per interval, however many requests
//! fail. Stats count every failure, apart from this.
//!
//! The summary is written by a timer at the end of the interval (on the Tokio runtime of the
//! failing call), or else by the next failure after it.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::error::Error;

/// How long failures are counted before one summary of them is logged.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// The process's limiter: store failures of every cache share one budget in the log.
static STORE_WARNINGS: WarnLimiter = WarnLimiter::new(INTERVAL);

/// Logs a failed store call through the process's rate limit: `message` says what failed and
/// what the cache does instead; `subject` names what it was about (a key, a tag), or is empty.
pub(crate) fn store_error(message: &'static str, subject: fmt::Arguments<'_>, error: &Error) {
    let now = Instant::now();
    if let Some(flush_at) = STORE_WARNINGS.note(now, message, subject, error) {
        // The summary is due at `flush_at` even if no failure comes after it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(flush_at)).await;
                STORE_WARNINGS.flush(Instant::now());
            }));
        }
    }
}

/// Counts failures within an interval and logs them as one warning and summaries.
pub(crate) struct WarnLimiter {
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    /// When the current interval began; `None` between episodes.
    since: Option<Instant>,
    /// Failures in the current interval not logged yet.
    suppressed: u64,
    /// The last of them, as it would have been logged.
    last: String,
}

impl WarnLimiter {
    pub(crate) const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State {
                since: None,
                suppressed: 0,
                last: String::new(),
            }),
        }
    }

    /// One failure at `now`: logged at once if it starts an episode, else counted. Returns when
    /// a summary becomes due if this failure is the first one counted in its interval (so that
    /// the caller can have [`flush`](Self::flush) called then).
    pub(crate) fn note(
        &self,
        now: Instant,
        message: &'static str,
        subject: fmt::Arguments<'_>,
        error: &Error,
    ) -> Option<Instant> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.end_interval(&mut state, now);
        let Some(since) = state.since else {
            state.since = Some(now);
            drop(state);
            tracing::warn!(subject = %subject, error = %error.report(), "{message}");
            return None;
        };
        state.suppressed += 1;
        state.last = format!("{message} ({subject}): {}", error.report());
        (state.suppressed == 1).then(|| since + self.interval)
    }

    /// Logs the summary of the interval if it is over at `now`.
    pub(crate) fn flush(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.end_interval(&mut state, now);
    }

    /// If the current interval is over at `now`: logs its summary and starts the next one, or,
    /// if nothing failed in it, ends the episode.
    fn end_interval(&self, state: &mut State, now: Instant) {
        let Some(since) = state.since else { return };
        if now < since + self.interval {
            return;
        }
        if state.suppressed == 0 {
            state.since = None;
            return;
        }
        let suppressed = std::mem::take(&mut state.suppressed);
        let last = std::mem::take(&mut state.last);
        state.since = Some(now);
        tracing::warn!(
            suppressed,
            "{suppressed} more store errors in the last {}s; last: {last}",
            self.interval.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{Layer, layer::SubscriberExt as _};

    use super::*;

    /// Every event's `message` field.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Captured {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            struct Message<'a>(&'a mut String);
            impl tracing::field::Visit for Message<'_> {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                    use fmt::Write as _;
                    let _ = write!(self.0, "{}={value:?} ", field.name());
                }
            }
            let mut line = String::new();
            event.record(&mut Message(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }

    fn captured(run: impl FnOnce()) -> Vec<String> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(captured.clone());
        tracing::subscriber::with_default(subscriber, run);
        captured.0.lock().unwrap().clone()
    }

    fn fail(limiter: &WarnLimiter, at: Instant, n: u64) -> Option<Instant> {
        let key = format!("key {n}");
        let error = Error::store("Redis GET failed", "connection refused");
        limiter.note(
            at,
            "cache store lookup failed; forwarding",
            format_args!("{key}"),
            &error,
        )
    }

    #[test]
    fn a_thousand_failures_in_one_interval_log_one_warning_and_one_summary() {
        let limiter = WarnLimiter::new(INTERVAL);
        let start = Instant::now();
        let mut due = Vec::new();
        let lines = captured(|| {
            for n in 0..1_000 {
                // Spread over the interval, never reaching its end.
                let at = start + INTERVAL * u32::try_from(n).unwrap() / 1_000;
                due.extend(fail(&limiter, at, n));
            }
            limiter.flush(start + INTERVAL - Duration::from_millis(1));
            limiter.flush(start + INTERVAL);
            limiter.flush(start + INTERVAL);
        });
        assert_eq!(
            due,
            [start + INTERVAL],
            "one summary is scheduled, at the interval's end"
        );
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].contains("cache store lookup failed; forwarding"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("key 0") && lines[0].contains("connection refused"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("999 more store errors in the last 10s; last: cache store lookup failed; forwarding (key 999): Redis GET failed: connection refused"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("suppressed=999"), "{}", lines[1]);
    }

    #[test]
    fn an_outage_logs_one_summary_per_interval_and_a_quiet_interval_ends_it() {
        let limiter = WarnLimiter::new(INTERVAL);
        let start = Instant::now();
        let lines = captured(|| {
            // Three intervals of failures, every 100 ms, with no flush timer: summaries are
            // written by the failures after each interval.
            for n in 0..300 {
                fail(&limiter, start + Duration::from_millis(100) * n, u64::from(n));
            }
            limiter.flush(start + INTERVAL * 3);
            // A quiet interval ends the episode; the next failure is logged in full.
            limiter.flush(start + INTERVAL * 4);
            fail(&limiter, start + INTERVAL * 5, 1_000);
        });
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[0].contains("key 0"), "{}", lines[0]);
        assert!(
            lines[1].contains("99 more store errors in the last 10s"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("100 more store errors in the last 10s"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("100 more store errors in the last 10s"),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].contains("key 1000") && !lines[4].contains("more store errors"),
            "{}",
            lines[4]
        );
    }
}
