use std::{
    marker::PhantomData,
    task::{Context, Poll},
};

use bytes::Bytes;
use cachefront::{CacheRoute, adapter};
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::{ResponseBody, ResponseFuture, exchange::Tower};

/// The service built by [`CacheLayer`](crate::CacheLayer): answers from the cache when it can,
/// and otherwise calls the inner service and stores what the policy allows.
///
/// It is always ready: hits and requests waiting on a concurrent miss never take the inner
/// service's capacity (under a `ConcurrencyLimit`, say). A request that goes to the inner
/// service waits for the inner service's readiness first. Errors of the inner service pass
/// through unchanged (for axum, `Infallible`), so no `HandleErrorLayer` is needed.
#[derive(Clone, Debug)]
pub struct CacheService<S> {
    inner: S,
    route: CacheRoute,
}

impl<S> CacheService<S> {
    /// Wraps `inner`, caching under `route`'s policy.
    pub fn new(inner: S, route: CacheRoute) -> Self {
        Self { inner, route }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The cache route (policy bound to a cache) this service uses.
    pub fn route(&self) -> &CacheRoute {
        &self.route
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let exchange = || Tower::<S, ReqBody>(self.inner.clone(), PhantomData);
        match adapter::begin(&self.route, exchange, request.into_parts()) {
            // A fresh hit from memory: no future to box, no service to clone.
            adapter::Begun::Ready(response) => ResponseFuture::ready(response),
            adapter::Begun::Later(later) => ResponseFuture::new(Box::pin(later.finish())),
        }
    }
}
