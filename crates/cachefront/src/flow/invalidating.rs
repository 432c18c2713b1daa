//! Invalidation by a successful unsafe request (RFC 9111 §4.4) and by a stored response its
//! origin contradicted: what goes, and [`Invalidating`], the completion the response waits for.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use super::tasks::spawn_or_warn;
use crate::{
    cache::{Cache, CacheRoute},
    key::CacheKey,
    purges::Purge,
    request::{RequestHead, UriHead},
    rules,
    stats::Event,
};

/// What a successful unsafe request invalidates: its target URI, and same-origin
/// `Location` / `Content-Location` URIs of its response.
#[derive(Debug)]
pub(super) struct Invalidation {
    pub(super) target: CacheKey,
    pub(super) host: Option<String>,
    /// The policy's `invalidating` tags, filled from the request path.
    pub(super) tags: Vec<Arc<str>>,
    /// The policy's `invalidating_paths`, filled from the request path.
    pub(super) paths: Vec<Arc<str>>,
}

/// A request with its method read as `GET`: the key of the URI an unsafe request targets.
pub(super) struct AsGet<'a, R>(pub(super) &'a R);

impl<R: RequestHead> RequestHead for AsGet<'_, R> {
    fn method(&self) -> &str {
        "GET"
    }
    fn path(&self) -> &str {
        self.0.path()
    }
    fn query(&self) -> Option<&str> {
        self.0.query()
    }
    fn host(&self) -> Option<&str> {
        self.0.host()
    }
    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.0.for_each_header_value(name, f);
    }
    fn contains_header(&self, name: &HeaderName) -> bool {
        self.0.contains_header(name)
    }
    fn to_header_map(&self) -> HeaderMap {
        self.0.to_header_map()
    }
}

/// The completion of an invalidation started by a successful unsafe request; see
/// [`Verdict::invalidation`](crate::flow::Verdict::invalidation).
#[derive(Debug)]
#[must_use = "await it before sending the response"]
pub struct Invalidating(tokio::sync::oneshot::Receiver<()>);

impl Invalidating {
    /// Runs `removal` on a task of its own, so that it completes even if the adapter does not
    /// wait for it; the returned future ends with it.
    fn spawn(cache: &Cache, removal: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (done, completion) = tokio::sync::oneshot::channel();
        spawn_or_warn(cache.pending().start().run(async move {
            removal.await;
            let _ = done.send(());
        }));
        Self(completion)
    }
}

impl std::future::Future for Invalidating {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // A dropped sender (no runtime, a panic) ends the wait too.
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl CacheRoute {
    /// Removes a stored response its origin has since contradicted or made unstorable; the
    /// client's response waits for it, so that its next request cannot find it.
    pub(super) fn remove_stored(&self, key: CacheKey) -> Invalidating {
        let route = self.clone();
        Invalidating::spawn(&self.cache, async move {
            if let Err(error) = route.store().remove(&key).await {
                route.record(Event::StoreError);
                crate::store::warn::store_error(
                    "removing a stored response its origin replaced failed",
                    format_args!("key {key}"),
                    &error,
                );
            }
        })
    }

    /// After a successful unsafe request: invalidate its target URI, and the same-origin URIs
    /// its response names in `Location` and `Content-Location` (RFC 9111 §4.4).
    pub(super) fn invalidate_after(&self, invalidation: Invalidation, headers: &HeaderMap) -> Invalidating {
        let mut keys = vec![invalidation.target];
        for uri in rules::same_origin_locations(headers, invalidation.host.as_deref()) {
            keys.push(
                self.policy.key.build(&UriHead {
                    host: uri
                        .authority()
                        .map(|a| a.as_str())
                        .or(invalidation.host.as_deref()),
                    uri: &uri,
                }),
            );
        }
        for path in &invalidation.paths {
            if let Ok(uri) = path.parse::<http::Uri>() {
                keys.push(self.policy.key.build(&UriHead {
                    host: invalidation.host.as_deref(),
                    uri: &uri,
                }));
            }
        }
        self.record(Event::Invalidation);
        // At once, before any await: a response to this URI still being stored must not land.
        for key in &keys {
            self.cache.purging(Purge::Uri(*key.digest()));
        }
        for tag in &invalidation.tags {
            self.cache.purging(Purge::Tag(Arc::clone(tag)));
        }
        let route = self.clone();
        let tags = invalidation.tags;
        Invalidating::spawn(&self.cache, async move {
            for key in keys {
                route.invalidate_uri(&key).await;
            }
            for tag in tags {
                match route.store().remove_tag(&tag).await {
                    Ok(removed) => tracing::debug!(%tag, removed, decision = "invalidate-tag"),
                    Err(error) => {
                        route.record(Event::StoreError);
                        crate::store::warn::store_error(
                            "cache invalidation by tag failed",
                            format_args!("tag {tag}"),
                            &error,
                        );
                    }
                }
            }
        })
    }

    /// Removes every stored variant of the URI whose primary key is `key` (RFC 9111 §4.4).
    async fn invalidate_uri(&self, key: &CacheKey) {
        let result = self.cache.remove_uri(key).await;
        match result {
            Ok(_) => tracing::debug!(key = %key, decision = "invalidate"),
            Err(error) => {
                self.record(Event::StoreError);
                crate::store::warn::store_error(
                    "cache invalidation failed",
                    format_args!("key {key}"),
                    &error,
                );
            }
        }
    }
}
