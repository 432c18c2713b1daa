use std::{
    mem,
    task::{Context, Poll},
};

use bytes::Bytes;
use cachefront::{Lookup, Route};
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::{ResponseBody, ResponseFuture};

/// The service built by [`CacheLayer`](crate::CacheLayer): answers from the cache when it can,
/// and otherwise calls the inner service and stores what the policy allows.
///
/// Errors of the inner service pass through unchanged (for axum, `Infallible`), so no
/// `HandleErrorLayer` is needed.
#[derive(Clone, Debug)]
pub struct CacheService<S> {
    inner: S,
    route: Route,
}

impl<S> CacheService<S> {
    /// Wraps `inner`, caching under `route`'s policy.
    pub fn new(inner: S, route: Route) -> Self {
        Self { inner, route }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The cache route (policy bound to a cache) this service uses.
    pub fn route(&self) -> &Route {
        &self.route
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready goes into the future; a fresh clone stays here.
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let route = self.route.clone();
        ResponseFuture::new(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let forward = match route.lookup(&parts).await {
                Lookup::Hit(hit) => {
                    let mut response = Response::new(ResponseBody::stored(hit.body()));
                    *response.status_mut() = hit.status();
                    *response.headers_mut() = hit.headers();
                    return Ok(response);
                }
                Lookup::Forward(forward) => forward,
            };
            // If the handler fails or this future is dropped, `forward` is dropped with it and
            // any request waiting on this one is released.
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let (mut parts, body) = response.into_parts();
            let recording = forward
                .body_size(body.size_hint().exact())
                .response(parts.status, &parts.headers);
            recording.cache_status.append_to(&mut parts.headers);
            let body = match recording.collector {
                Some(collector) => ResponseBody::collecting(body, collector),
                None => ResponseBody::passthrough(body),
            };
            Ok(Response::from_parts(parts, body))
        }))
    }
}
