use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::Response;
use http_body::Body;

use crate::ResponseBody;

type BoxedResponse<B, E> = Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

/// The response future of [`CacheService`](crate::CacheService).
///
/// The lookup is asynchronous (the store, and waiting on a concurrent miss), so the future is
/// boxed once per request.
pub struct ResponseFuture<B: Body<Data = Bytes>, E> {
    inner: BoxedResponse<B, E>,
}

impl<B: Body<Data = Bytes>, E> ResponseFuture<B, E> {
    pub(crate) fn new(inner: BoxedResponse<B, E>) -> Self {
        Self { inner }
    }
}

impl<B: Body<Data = Bytes>, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B: Body<Data = Bytes>, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
