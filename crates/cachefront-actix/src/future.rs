use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{Error, body::MessageBody, dev::ServiceResponse};

use crate::ResponseBody;

type BoxedResponse<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<ResponseBody<B>>, Error>>>>;

/// The response future of [`ResponseCacheMiddleware`](crate::ResponseCacheMiddleware).
///
/// The lookup is asynchronous (the store, and waiting on a concurrent miss), so the future is
/// boxed once per request.
pub struct ResponseFuture<B: MessageBody> {
    inner: BoxedResponse<B>,
}

impl<B: MessageBody> ResponseFuture<B> {
    pub(crate) fn new(inner: BoxedResponse<B>) -> Self {
        Self { inner }
    }
}

impl<B: MessageBody> Future for ResponseFuture<B> {
    type Output = Result<ServiceResponse<ResponseBody<B>>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B: MessageBody> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
