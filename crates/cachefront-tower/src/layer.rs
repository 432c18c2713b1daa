use cachefront::{Cache, CacheRoute, Policy};
use tower_layer::Layer;

use crate::CacheService;

/// Caches the responses of the services it wraps under one [`Policy`], in a shared [`Cache`].
///
/// Build one per route, each with its own policy; all of them share the cache they were built
/// from (store, coalescing and stats). See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct CacheLayer {
    route: CacheRoute,
}

impl CacheLayer {
    /// A layer that caches in `cache` under `policy`.
    pub fn new(cache: &Cache, policy: Policy) -> Self {
        Self {
            route: cache.route(policy),
        }
    }

    /// A layer for a policy already bound to a cache.
    pub fn from_route(route: CacheRoute) -> Self {
        Self { route }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService::new(inner, self.route.clone())
    }
}

/// `cache.layer(policy)`: builds a [`CacheLayer`] from a [`Cache`] handle.
pub trait CacheExt {
    /// A [`CacheLayer`] that caches in this cache under `policy`.
    fn layer(&self, policy: Policy) -> CacheLayer;
}

impl CacheExt for Cache {
    fn layer(&self, policy: Policy) -> CacheLayer {
        CacheLayer::new(self, policy)
    }
}
