//! A response from the cache: [`Hit`], its status, headers (`Age`, `Cache-Status`) and body,
//! and the background refresh a stale hit asks for.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};

use super::forward::Forward;
use crate::{
    entry::Entry,
    rules::{self, CacheStatus, ForwardReason},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HitKind {
    /// Fresh.
    Fresh,
    /// Served stale, as the client's `max-stale` accepts.
    Stale,
    /// Served stale within `stale-while-revalidate` while a refresh runs.
    StaleWhileRevalidate,
    /// Answered with another request's response to the same key.
    Collapsed,
    /// The client's validators match: a 304 from the cache.
    NotModified,
    /// Validated with the origin (a 304), and served from the cache.
    Revalidated { fwd: ForwardReason, stored: bool },
    /// The origin failed; served stale within `stale-if-error`.
    StaleIfError { fwd_status: Option<u16> },
    /// Nothing usable stored and the client said `only-if-cached`: a 504 from the cache.
    OnlyIfCached,
}

/// A response from the cache to write to the client.
///
/// Write [`status`](Self::status), [`headers`](Self::headers) and [`body`](Self::body). If
/// [`take_refresh`](Self::take_refresh) returns a [`Forward`], the entry was served stale and
/// must be refreshed in the background: call the handler with it as for a miss.
#[derive(Debug)]
pub struct Hit {
    pub(super) entry: Arc<Entry>,
    pub(super) head: bool,
    pub(super) kind: HitKind,
    pub(super) now: SystemTime,
    pub(super) refresh: Option<Forward>,
    /// Set when the hit answers a forwarded request (a revalidation): its member says so.
    pub(super) cache_status: Option<CacheStatus>,
    /// The cache's name in `Cache-Status`, when not the default.
    pub(super) cache_name: Option<Arc<str>>,
}

impl Hit {
    /// The stored entry; for a range request the cache answers with a `206` or a `416`, the
    /// response built from it (status, headers with `Content-Range`, body slice).
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    /// Whether the request was `HEAD`: write the headers only.
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            HitKind::NotModified => StatusCode::NOT_MODIFIED,
            _ => self.entry.status,
        }
    }

    /// The body to write (empty for `HEAD` and 304).
    pub fn body(&self) -> Bytes {
        if self.head || self.kind == HitKind::NotModified {
            Bytes::new()
        } else {
            self.entry.body.clone()
        }
    }

    /// The `Cache-Status` member for this response.
    pub fn cache_status(&self) -> CacheStatus {
        self.unnamed_cache_status().named(self.cache_name.clone())
    }

    fn unnamed_cache_status(&self) -> CacheStatus {
        if let Some(status) = &self.cache_status {
            return status.clone();
        }
        let ttl = remaining_secs(&self.entry, self.now);
        match self.kind {
            HitKind::Fresh | HitKind::NotModified => CacheStatus::hit(ttl),
            HitKind::StaleWhileRevalidate => CacheStatus::hit(ttl).detail("stale-while-revalidate"),
            HitKind::Stale => CacheStatus::hit(ttl).detail("stale"),
            // RFC 9211 §2.6: the request was collapsed with the one that went forward.
            HitKind::Collapsed => CacheStatus::forward(ForwardReason::UriMiss)
                .fwd_status(self.entry.status.as_u16())
                .collapsed(true),
            HitKind::Revalidated { fwd, stored } => {
                CacheStatus::forward(fwd).fwd_status(304).ttl(ttl).stored(stored)
            }
            HitKind::StaleIfError { fwd_status } => {
                let status = CacheStatus::forward(ForwardReason::Stale)
                    .ttl(ttl)
                    .detail("stale-if-error");
                match fwd_status {
                    Some(code) => status.fwd_status(code),
                    None => status,
                }
            }
            HitKind::OnlyIfCached => CacheStatus::forward(ForwardReason::Miss).detail("only-if-cached"),
        }
    }

    /// The response headers: the stored ones (for a 304, those RFC 9110 §15.4.5 lists), then
    /// `Content-Length`, `Age` (computed by the cache, RFC 9111 §5.1) and `Cache-Status`.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = match self.kind {
            HitKind::NotModified => rules::not_modified_headers(&self.entry.headers),
            _ => {
                // Sized once for the stored fields and the three the cache adds.
                let mut headers = HeaderMap::with_capacity(self.entry.headers.len() + 3);
                for (name, value) in &self.entry.headers {
                    headers.append(name.clone(), value.clone());
                }
                headers.insert(
                    header::CONTENT_LENGTH,
                    self.entry.content_length.get(self.entry.body.len()),
                );
                headers
            }
        };
        if self.kind != HitKind::OnlyIfCached {
            headers.insert(header::AGE, rules::age_value(self.entry.age(self.now).as_secs()));
        }
        self.cache_status().append_to(&mut headers);
        headers
    }

    /// The background refresh this hit asks for (stale-while-revalidate), if any: call the
    /// handler with the request (applying [`Forward::conditional_headers`]), and hand the
    /// response to [`Forward::response`] as for a miss.
    pub fn take_refresh(&mut self) -> Option<Forward> {
        self.refresh.take()
    }
}

/// Freshness left in whole seconds, consistent with `Age` while fresh (`Age + ttl` is the
/// stored lifetime); once stale, minus the staleness rounded up, so never 0 for a stale entry.
fn remaining_secs(entry: &Entry, now: SystemTime) -> i64 {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let age = entry.age(now);
    if age < entry.ttl {
        return secs(entry.ttl).saturating_sub(secs(age)).max(0);
    }
    let staleness = age - entry.ttl;
    let rounded_up = secs(staleness) + i64::from(staleness.subsec_nanos() > 0);
    -rounded_up.max(1)
}
