//! Finding the stored response for a request: the URI's primary entry, then, when it varies,
//! the request's variant.

use std::{sync::Arc, time::Instant};

use crate::{
    cache::CacheRoute,
    entry::Entry,
    error::Error,
    key::CacheKey,
    request::{RequestHead, normalized_header},
    rules::ForwardReason,
    stats::Event,
};

impl CacheRoute {
    /// The stored response that matches the request, following `Vary` to the request's variant.
    pub(super) async fn find<R: RequestHead>(&self, key: &CacheKey, request: &R) -> Found {
        // The clock is read only when someone listens.
        let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
        let got = self.stored(key).await;
        match self.primary(key, request, got, started) {
            Step::Found(found) => found,
            Step::Variant(primary, variant) => {
                let got = self.stored(&variant).await;
                self.variant(key, request, primary, &variant, got)
            }
        }
    }

    /// [`find`](Self::find) when the store answers at once (memory): `None` when it cannot.
    pub(super) fn find_now<R: RequestHead>(&self, key: &CacheKey, request: &R) -> Option<Found> {
        let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
        let got = self.store().get_now(key)?;
        Some(match self.primary(key, request, got, started) {
            Step::Found(found) => found,
            Step::Variant(primary, variant) => {
                let got = self.store().get_now(&variant)?;
                self.variant(key, request, primary, &variant, got)
            }
        })
    }

    /// The entry stored under `key`: at once when the store can tell (a memory hit builds no
    /// future), else through its `get`.
    async fn stored(&self, key: &CacheKey) -> Result<Option<Arc<Entry>>, Error> {
        match self.store().get_now(key) {
            Some(found) => found,
            None => self.store().get(key).await,
        }
    }

    /// What the store's answer for the URI's key gives: the response, a miss, or the variant
    /// key to look up next when the stored response varies and this request is not its own.
    fn primary<R: RequestHead>(
        &self,
        key: &CacheKey,
        request: &R,
        got: Result<Option<Arc<Entry>>, Error>,
        started: Option<Instant>,
    ) -> Step {
        if let Some(started) = started {
            tracing::debug!(key = %key, store_us = started.elapsed().as_micros() as u64, found = matches!(got, Ok(Some(_))), "store lookup");
        }
        let primary = match got {
            Ok(Some(primary)) => primary,
            Ok(None) => return Step::Found(Found::miss(ForwardReason::UriMiss)),
            Err(error) => {
                self.record(Event::StoreError);
                crate::store::warn::store_error(
                    "cache store lookup failed; forwarding",
                    format_args!("key {key}"),
                    &error,
                );
                return Step::Found(Found::miss(ForwardReason::UriMiss));
            }
        };
        if primary.matches_vary(request) {
            return Step::Found(Found {
                entry: Some(primary),
                fwd: ForwardReason::UriMiss,
                varies: None,
            });
        }
        // Looked up by digest: the readable form (as long as the URL) is not built for it.
        let variant = CacheKey::from_digest(
            key.variant_digest(
                primary
                    .vary
                    .iter()
                    .map(|(name, _)| (name, normalized_header(request, name))),
            ),
        );
        Step::Variant(primary, variant)
    }

    /// What the store's answer for the request's variant gives.
    fn variant<R: RequestHead>(
        &self,
        key: &CacheKey,
        request: &R,
        primary: Arc<Entry>,
        variant: &CacheKey,
        got: Result<Option<Arc<Entry>>, Error>,
    ) -> Found {
        let mut found = Found::miss(ForwardReason::VaryMiss);
        match got {
            Ok(Some(entry)) if entry.matches_vary(request) => {
                found.entry = Some(entry);
                found.fwd = ForwardReason::UriMiss;
            }
            Ok(_) => {}
            Err(error) => {
                self.record(Event::StoreError);
                crate::store::warn::store_error(
                    "cache store lookup failed; forwarding",
                    format_args!("key {key}, variant {:?}", variant.digest()),
                    &error,
                );
            }
        }
        found.varies = Some(primary);
        found
    }
}

/// The first step of a find: done, or the variant to look up.
enum Step {
    Found(Found),
    Variant(Arc<Entry>, CacheKey),
}

pub(super) struct Found {
    pub(super) entry: Option<Arc<Entry>>,
    pub(super) fwd: ForwardReason,
    /// The URI's stored response when it varies and this request's variant is not stored:
    /// its `Vary` names this request's variant flight.
    pub(super) varies: Option<Arc<Entry>>,
}

impl Found {
    fn miss(fwd: ForwardReason) -> Self {
        Self {
            entry: None,
            fwd,
            varies: None,
        }
    }
}
