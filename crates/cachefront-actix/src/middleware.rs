use std::{
    future::{Ready, ready},
    rc::Rc,
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform},
};
use cachefront::{Cache, CacheRoute, Policy};

use crate::{ResponseBody, ResponseCacheMiddleware};

/// Caches the responses of the services it wraps under one [`Policy`], in a shared [`Cache`].
///
/// Use it with [`App::wrap`](actix_web::App::wrap), [`Scope::wrap`](actix_web::Scope::wrap) or
/// [`Resource::wrap`](actix_web::Resource::wrap), one per route or group of routes, each with its
/// own policy; all of them share the cache they were built from (store, coalescing and stats).
/// Build it with [`CacheExt::middleware`] or [`ResponseCache::new`]. See the
/// [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct ResponseCache {
    inner: Rc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) route: CacheRoute,
}

impl ResponseCache {
    /// A middleware that caches in `cache` under `policy`.
    pub fn new(cache: &Cache, policy: Policy) -> Self {
        Self::from_route(cache.route(policy))
    }

    /// A middleware for a policy already bound to a cache.
    pub fn from_route(route: CacheRoute) -> Self {
        Self {
            inner: Rc::new(Inner { route }),
        }
    }

    /// The cache route (policy bound to a cache) this middleware uses.
    pub fn route(&self) -> &CacheRoute {
        &self.inner.route
    }
}

impl<S, B> Transform<S, ServiceRequest> for ResponseCache
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Transform = ResponseCacheMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ResponseCacheMiddleware::new(service, Rc::clone(&self.inner))))
    }
}

/// `cache.middleware(policy)`: builds a [`ResponseCache`] from a [`Cache`] handle.
pub trait CacheExt {
    /// A [`ResponseCache`] that caches in this cache under `policy`.
    fn middleware(&self, policy: Policy) -> ResponseCache;
}

impl CacheExt for Cache {
    fn middleware(&self, policy: Policy) -> ResponseCache {
        ResponseCache::new(self, policy)
    }
}
