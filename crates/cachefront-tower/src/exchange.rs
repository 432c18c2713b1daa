//! The translation the core's request flow runs over: Tower's and `http` 1.x's types as the
//! core's [`Exchange`] and [`BodySource`].

use std::{
    borrow::Cow,
    future::{Future, poll_fn},
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use cachefront::adapter::{self, BodyFrame, BodySource, Exchange, Forward, Pump, RequestHead, Stored};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, request::Parts};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::{ResponseBody, request::TowerRequestHead};

/// The inner service, seen by the core's request flow.
pub(crate) struct Tower<S, ReqBody>(pub(crate) S, pub(crate) PhantomData<fn(ReqBody)>);

impl<S, ReqBody, ResBody> Exchange for Tower<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Send + 'static,
{
    type Request = (Parts, ReqBody);
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Body = Source<ResBody>;
    type Output = Response<ResponseBody<ResBody>>;

    fn head(request: &Self::Request) -> impl RequestHead + '_ {
        TowerRequestHead::new(&request.0)
    }

    #[cfg(feature = "axum")]
    fn route_pattern(request: &Self::Request) -> Option<Cow<'_, str>> {
        let pattern: &axum::extract::MatchedPath = request.0.extensions.get()?;
        Some(Cow::Borrowed(pattern.as_str()))
    }

    fn set_header(request: &mut Self::Request, name: HeaderName, value: Option<HeaderValue>) {
        match value {
            Some(value) => request.0.headers.insert(name, value),
            None => request.0.headers.remove(name),
        };
    }

    async fn call(&mut self, (parts, body): Self::Request) -> Result<Self::Response, Self::Error> {
        poll_fn(|cx| self.0.poll_ready(cx)).await?;
        self.0.call(Request::from_parts(parts, body)).await
    }

    fn status(response: &Self::Response) -> StatusCode {
        response.status()
    }

    fn headers(response: &Self::Response) -> Cow<'_, HeaderMap> {
        Cow::Borrowed(response.headers())
    }

    fn body_size(response: &Self::Response) -> Option<u64> {
        response.body().size_hint().exact()
    }

    fn remove_header(response: &mut Self::Response, name: &HeaderName) {
        response.headers_mut().remove(name);
    }

    fn append_header(response: &mut Self::Response, name: HeaderName, value: HeaderValue) {
        response.headers_mut().append(name, value);
    }

    fn with_body(
        response: Self::Response,
        body: impl FnOnce(Self::Body) -> adapter::ResponseBody<Self::Body>,
    ) -> Self::Output {
        response.map(|inner| ResponseBody {
            inner: body(Source { inner }),
        })
    }

    fn into_body(response: Self::Response) -> Self::Body {
        Source {
            inner: response.into_body(),
        }
    }

    fn stored(_: Self::Request, stored: Stored) -> Self::Output {
        response(stored)
    }

    fn replaced(_: Self::Response, stored: Stored) -> Self::Output {
        response(stored)
    }

    fn failed(error: S::Error, stale: Option<Stored>) -> Result<Self::Output, S::Error> {
        stale.map(response).ok_or(error)
    }

    fn refresh_behind(self, request: Self::Request, stale: Stored, refresh: Forward) -> Self::Output {
        spawn(adapter::refresh(self, request, refresh));
        response(stale)
    }

    fn spawn_pump(pump: Pin<Box<Pump<Self::Body>>>) {
        spawn(pump);
    }

    fn can_spawn() -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }
}

/// A response from the cache.
fn response<B: Body<Data = Bytes>>(stored: Stored) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody { inner: stored.body() });
    *response.status_mut() = stored.status;
    *response.headers_mut() = stored.headers;
    response
}

/// Runs `task` on the current Tokio runtime.
fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(task)),
        Err(_) => tracing::warn!("no Tokio runtime for a background task of the cache; skipped"),
    }
}

pin_project! {
    /// The handler's body as the core reads it.
    pub(crate) struct Source<B> {
        #[pin]
        pub(crate) inner: B,
    }
}

impl<B: Body<Data = Bytes>> BodySource for Source<B> {
    type Item = Result<Frame<Bytes>, B::Error>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyFrame<Self::Item>>> {
        self.project().inner.poll_frame(cx).map(|frame| {
            frame.map(|frame| match frame.map(Frame::into_data) {
                Ok(Ok(data)) => BodyFrame::Data {
                    data: data.clone(),
                    item: Ok(Frame::data(data)),
                },
                Ok(Err(frame)) => BodyFrame::Other(Ok(frame)),
                Err(error) => BodyFrame::Other(Err(error)),
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn data(data: Bytes) -> Self::Item {
        Ok(Frame::data(data))
    }

    fn size_hint(&self) -> (u64, Option<u64>) {
        let hint = self.inner.size_hint();
        (hint.lower(), hint.upper())
    }
}
