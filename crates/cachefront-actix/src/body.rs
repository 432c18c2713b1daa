use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use cachefront::adapter;

use crate::exchange::Source;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`ResponseCacheMiddleware`](crate::ResponseCacheMiddleware): a stored
    /// body (hit), the handler's body being collected as it streams (miss), or the handler's
    /// body untouched ([`cachefront::adapter::ResponseBody`]).
    pub struct ResponseBody<B: MessageBody> {
        #[pin]
        inner: adapter::ResponseBody<Source<B>>,
        // The handler's body's declared size (actix-web writes `Content-Length` from it).
        size: BodySize,
    }
}

impl<B: MessageBody> ResponseBody<B> {
    pub(crate) fn new(size: BodySize, inner: adapter::ResponseBody<Source<B>>) -> Self {
        Self { inner, size }
    }

    /// Drops `sender` when this body is dropped.
    pub(crate) fn signal_on_drop(self, sender: tokio::sync::oneshot::Sender<()>) -> Self {
        Self::new(self.size, self.inner.signal_on_drop(sender))
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.declared_len().map_or(self.size, BodySize::Sized)
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, B::Error>>> {
        self.project().inner.poll_next(cx)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let size = self.size;
        self.inner.try_into_bytes().map_err(|inner| Self { inner, size })
    }
}

impl<B: MessageBody> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResponseBody").field(&self.inner).finish()
    }
}
