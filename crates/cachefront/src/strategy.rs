//! The application's say in what is stored and for how long: [`Cacheable`] and
//! [`TimeToLive`], strategy traits with blanket implementations for closures (as tower-http's
//! `Predicate` and moka's `Expiry`), beside [`KeyPart`](crate::KeyPart) for keys.

use std::{fmt, sync::Arc, time::Duration};

use http::{HeaderMap, StatusCode};

/// Decides whether a response may be stored, once the HTTP rules and the policy's status list
/// have allowed it: a veto, never a way around `no-store`, `private` or `Set-Cookie`.
///
/// Implemented for every `Fn(StatusCode, &HeaderMap) -> bool`. The default (no predicate)
/// stores whatever the rules allow. A response a predicate refuses streams through with
/// `Cache-Status: ...; detail=predicate`.
///
/// ```
/// use std::time::Duration;
/// use cachefront::Policy;
///
/// // Store only responses the handler did not mark as a fallback.
/// let policy = Policy::ttl(Duration::from_secs(60))
///     .cacheable(|_status, headers: &http::HeaderMap| !headers.contains_key("x-fallback"));
/// ```
pub trait Cacheable: Send + Sync + 'static {
    /// Whether the response with this status and these headers may be stored.
    fn is_cacheable(&self, status: StatusCode, headers: &HeaderMap) -> bool;
}

impl<F> Cacheable for F
where
    F: Fn(StatusCode, &HeaderMap) -> bool + Send + Sync + 'static,
{
    fn is_cacheable(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        self(status, headers)
    }
}

/// How long a stored response stays fresh in application mode, per response: `None` keeps the
/// policy's TTL ([`Policy::ttl`](crate::Policy::ttl)), `Some(Duration::ZERO)` does not store
/// it (`detail=zero-ttl`).
///
/// Implemented for every `Fn(StatusCode, &HeaderMap) -> Option<Duration>`. In shared mode the
/// response's own freshness (RFC 9111 §4.2.1) decides and this is not asked.
///
/// ```
/// use std::time::Duration;
/// use cachefront::Policy;
///
/// // Redirects for a day, everything else for a minute.
/// let policy = Policy::ttl(Duration::from_secs(60)).ttl_for(|status: http::StatusCode, _: &http::HeaderMap| {
///     status.is_redirection().then_some(Duration::from_secs(86_400))
/// });
/// ```
pub trait TimeToLive: Send + Sync + 'static {
    /// The freshness lifetime for this response, or `None` for the policy's.
    fn time_to_live(&self, status: StatusCode, headers: &HeaderMap) -> Option<Duration>;
}

impl<F> TimeToLive for F
where
    F: Fn(StatusCode, &HeaderMap) -> Option<Duration> + Send + Sync + 'static,
{
    fn time_to_live(&self, status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
        self(status, headers)
    }
}

/// A policy's strategies, shared by its clones.
#[derive(Clone, Default)]
pub(crate) struct Strategies {
    pub(crate) cacheable: Option<Arc<dyn Cacheable>>,
    pub(crate) time_to_live: Option<Arc<dyn TimeToLive>>,
}

impl Strategies {
    /// Whether the application lets the response be stored (`true` without a predicate).
    pub(crate) fn allows(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        self.cacheable
            .as_ref()
            .is_none_or(|predicate| predicate.is_cacheable(status, headers))
    }

    /// The application-mode lifetime of the response: the strategy's, else `default`.
    pub(crate) fn lifetime(&self, status: StatusCode, headers: &HeaderMap, default: Duration) -> Duration {
        self.time_to_live
            .as_ref()
            .and_then(|ttl| ttl.time_to_live(status, headers))
            .unwrap_or(default)
    }
}

impl fmt::Debug for Strategies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Strategies")
            .field("cacheable", &self.cacheable.is_some())
            .field("time_to_live", &self.time_to_live.is_some())
            .finish()
    }
}
