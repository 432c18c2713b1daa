use std::rc::Rc;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{Service, ServiceRequest, ServiceResponse, forward_ready},
};
use cachefront::{CacheRoute, adapter};

use crate::{ResponseBody, ResponseFuture, exchange::Actix, middleware::Inner};

/// The service built by [`ResponseCache`](crate::ResponseCache): answers from the cache
/// when it can, and otherwise calls the wrapped service and stores what the policy allows.
///
/// Errors of the wrapped service pass through unchanged, unless the cache holds a stale
/// response it may serve instead (stale-if-error).
#[derive(Debug)]
pub struct ResponseCacheMiddleware<S> {
    // Shared with the response futures: the service is called after the (asynchronous) lookup.
    service: Rc<S>,
    inner: Rc<Inner>,
}

impl<S> ResponseCacheMiddleware<S> {
    pub(crate) fn new(service: S, inner: Rc<Inner>) -> Self {
        Self {
            service: Rc::new(service),
            inner,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The cache route (policy bound to a cache) this service uses.
    pub fn route(&self) -> &CacheRoute {
        &self.inner.route
    }
}

impl<S, B> Service<ServiceRequest> for ResponseCacheMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let exchange = || Actix(Rc::clone(&self.service));
        match adapter::begin(&self.inner.route, exchange, request) {
            // A fresh hit from memory: no future to box.
            adapter::Begun::Ready(response) => ResponseFuture::ready(response),
            adapter::Begun::Later(later) => ResponseFuture::new(Box::pin(later.finish())),
        }
    }
}
