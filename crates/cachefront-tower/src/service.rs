use std::{
    mem,
    task::{Context, Poll},
};

use bytes::Bytes;
use cachefront::{Forward, Hit, Invalidating, Lookup, Route};
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;
use tracing::Instrument;

use crate::{
    ResponseBody, ResponseFuture,
    request::{self, TowerRequestHead},
};

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
    ResBody::Error: Send + 'static,
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
        let span = route.span();
        ResponseFuture::new(Box::pin(Instrument::instrument(
            async move {
                let (mut parts, body) = request.into_parts();
                request::normalize_host(&mut parts);
                let forward = match route.lookup(&TowerRequestHead::new(&parts)).await {
                    Lookup::Hit(mut hit) => {
                        if let Some(refresh) = hit.take_refresh() {
                            // Stale-while-revalidate: the client gets the stale response now; the
                            // handler runs once in the background to refresh it.
                            spawn_refresh(inner, Request::from_parts(parts, body), refresh);
                        }
                        return Ok(hit_response(hit));
                    }
                    Lookup::Forward(forward) => forward,
                };
                apply_conditionals(&forward, &mut parts.headers);
                // If the handler fails or this future is dropped, `forward` is dropped with it and
                // any request waiting on this one is released.
                let response = match inner.call(Request::from_parts(parts, body)).await {
                    Ok(response) => response,
                    Err(error) => {
                        return match forward.error() {
                            Some(stale) => Ok(hit_response(stale)),
                            None => Err(error),
                        };
                    }
                };
                let (response, invalidation) = record(forward, response);
                // A successful unsafe request: its invalidation is done before the client can send
                // its next request.
                if let Some(invalidation) = invalidation {
                    invalidation.await;
                }
                Ok(response)
            },
            span,
        )))
    }
}

/// A response written from the cache.
fn hit_response<B: Body>(hit: Hit) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::stored(hit.body()));
    *response.status_mut() = hit.status();
    *response.headers_mut() = hit.headers();
    response
}

/// Sets (or removes) the conditional headers the cache asks for when it revalidates.
fn apply_conditionals(forward: &Forward, headers: &mut http::HeaderMap) {
    for (name, value) in forward.conditional_headers() {
        match value {
            Some(value) => {
                headers.insert(name, value);
            }
            None => {
                headers.remove(name);
            }
        }
    }
}

/// Hands the handler's response to the cache: streamed and collected, or replaced by a
/// response from the cache (a successful revalidation, or stale-if-error).
fn record<B>(forward: Forward, response: Response<B>) -> (Response<ResponseBody<B>>, Option<Invalidating>)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Send + 'static,
{
    let (mut parts, body) = response.into_parts();
    let recording = forward
        .body_size(body.size_hint().exact())
        .response(parts.status, &parts.headers);
    if let Some(hit) = recording.replacement {
        return (hit_response(hit), recording.invalidation);
    }
    for name in &recording.hide {
        parts.headers.remove(name);
    }
    recording.cache_status.append_to(&mut parts.headers);
    let body = match recording.collector {
        Some(collector) => ResponseBody::collecting(body, collector),
        None => ResponseBody::passthrough(body),
    };
    (Response::from_parts(parts, body), recording.invalidation)
}

/// Runs a background refresh: the request goes to the handler, and the response is read to the
/// end so that the cache stores it.
fn spawn_refresh<S, ReqBody, ResBody>(mut inner: S, mut request: Request<ReqBody>, refresh: Forward)
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Send + 'static,
{
    apply_conditionals(&refresh, request.headers_mut());
    let task = async move {
        let Ok(response) = inner.call(request).await else {
            tracing::debug!("background refresh failed; the stale response stays until it expires");
            return;
        };
        let mut body = std::pin::pin!(record(refresh, response).0.into_body());
        while let Some(frame) = body.as_mut().frame().await {
            if frame.is_err() {
                break;
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::warn!("no Tokio runtime for a background refresh; skipped"),
    }
}
