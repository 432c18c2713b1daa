//! The translation the core's request flow runs over: actix-web's types (`http` 0.2) as the
//! core's [`Exchange`] and [`BodySource`] (`http` 1.x).

use std::{
    borrow::Cow,
    fmt,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use actix_web::{
    Error, HttpMessage as _, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ConnectionInfo, Service, ServiceRequest, ServiceResponse},
    http::header,
};
use bytes::Bytes;
use cachefront::adapter::{self, BodyFrame, BodySource, Exchange, Forward, Pump, RequestHead, Stored};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

use crate::{
    ResponseBody,
    convert::{self, ActixRequestHead},
};

/// The wrapped service, seen by the core's request flow.
pub(crate) struct Actix<S>(pub(crate) Rc<S>);

impl<S, B> Exchange for Actix<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Request = ServiceRequest;
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Body = Source<B>;
    type Output = ServiceResponse<ResponseBody<B>>;

    fn head(request: &ServiceRequest) -> impl RequestHead + '_ {
        ActixRequestHead(request.head())
    }

    fn route_pattern(request: &ServiceRequest) -> Option<Cow<'_, str>> {
        request.match_pattern().map(Cow::Owned)
    }

    fn set_header(request: &mut ServiceRequest, name: HeaderName, value: Option<HeaderValue>) {
        if name == http::header::HOST {
            // Computed from the old `Host` if an outer middleware asked for it already: computed
            // again from the new one when next asked.
            request.extensions_mut().remove::<ConnectionInfo>();
        }
        let name = convert::to_actix_name(&name);
        match value.map(|value| header::HeaderValue::from_bytes(value.as_bytes())) {
            Some(Ok(value)) => drop(request.headers_mut().insert(name, value)),
            Some(Err(_)) => {}
            None => drop(request.headers_mut().remove(name)),
        }
    }

    async fn call(&mut self, request: ServiceRequest) -> Result<ServiceResponse<B>, Error> {
        self.0.call(request).await
    }

    fn status(response: &ServiceResponse<B>) -> StatusCode {
        convert::to_http_status(response.status())
    }

    fn headers(response: &ServiceResponse<B>) -> Cow<'_, HeaderMap> {
        Cow::Owned(convert::to_http_headers(response.headers()))
    }

    fn body_size(response: &ServiceResponse<B>) -> Option<u64> {
        convert::exact_size(response.response().body().size())
    }

    fn remove_header(response: &mut ServiceResponse<B>, name: &HeaderName) {
        response.headers_mut().remove(name.as_str());
    }

    fn append_header(response: &mut ServiceResponse<B>, name: HeaderName, value: HeaderValue) {
        convert::append_actix(response.headers_mut(), &name, &value);
    }

    fn with_body(
        response: ServiceResponse<B>,
        body: impl FnOnce(Source<B>) -> adapter::ResponseBody<Source<B>>,
    ) -> Self::Output {
        response.map_body(|_, inner| ResponseBody::new(inner.size(), body(Source { inner })))
    }

    fn into_body(response: ServiceResponse<B>) -> Source<B> {
        Source {
            inner: response.into_body(),
        }
    }

    fn stored(request: ServiceRequest, stored: Stored) -> Self::Output {
        request.into_response(http_response(&stored))
    }

    fn replaced(response: ServiceResponse<B>, stored: Stored) -> Self::Output {
        response.into_response(http_response(&stored))
    }

    fn failed(error: Error, stale: Option<Stored>) -> Result<Self::Output, Error> {
        // An `Err` carries no request to answer with: the stale response travels as an error
        // whose rendering is that response, which actix-web sends as it is.
        Err(stale.map_or(error, |stale| StaleIfError(stale).into()))
    }

    /// actix-web routes a request by mutating it, which it can do only while nothing else holds
    /// it; the client's response holds it until it is sent. So the refresh waits until the
    /// client's body has been dropped, then calls the service with the very same request.
    fn refresh_behind(self, request: ServiceRequest, stale: Stored, refresh: Forward) -> Self::Output {
        let (sent, client_done) = oneshot::channel::<()>();
        let response = http_response(&stale).map_body(|_, body| body.signal_on_drop(sent));
        let response = ServiceResponse::new(request.request().clone(), response);
        actix_web::rt::spawn(async move {
            // Resolves when the client's body is dropped (the sender goes with it).
            let _ = client_done.await;
            adapter::refresh(self, request, refresh).await;
        });
        response
    }

    fn spawn_pump(pump: Pin<Box<Pump<Source<B>>>>) {
        // A local task on the worker: actix-web bodies need not be `Send`.
        actix_web::rt::spawn(pump);
    }
}

/// A response from the cache.
fn http_response<B: MessageBody>(stored: &Stored) -> HttpResponse<ResponseBody<B>> {
    let body = stored.body();
    let mut response = HttpResponse::with_body(
        convert::to_actix_status(stored.status),
        ResponseBody::new(actix_web::body::BodySize::Stream, body),
    );
    *response.headers_mut() = convert::to_actix_headers(&stored.headers);
    response
}

/// A stale response served in place of the wrapped service's error (stale-if-error).
struct StaleIfError(Stored);

impl fmt::Debug for StaleIfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaleIfError").field(&self.0.status).finish()
    }
}

impl fmt::Display for StaleIfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the service failed; a stale response from the cache was served instead")
    }
}

impl ResponseError for StaleIfError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        convert::to_actix_status(self.0.status)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        http_response::<()>(&self.0).map_into_boxed_body()
    }
}

pin_project! {
    /// The handler's body as the core reads it.
    pub(crate) struct Source<B> {
        #[pin]
        pub(crate) inner: B,
    }
}

impl<B: MessageBody> BodySource for Source<B> {
    type Item = Result<Bytes, B::Error>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyFrame<Self::Item>>> {
        self.project().inner.poll_next(cx).map(|chunk| {
            chunk.map(|chunk| match chunk {
                Ok(data) => BodyFrame::Data {
                    data: data.clone(),
                    item: Ok(data),
                },
                Err(error) => BodyFrame::Other(Err(error)),
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.size().is_eof()
    }

    fn data(data: Bytes) -> Self::Item {
        Ok(data)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        self.inner.try_into_bytes().map_err(|inner| Self { inner })
    }
}
