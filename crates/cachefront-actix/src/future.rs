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
/// A fresh hit from a store that answers at once (memory) is ready when the future is made:
/// nothing is boxed. Anything else (another store, a miss, a request waiting on a concurrent
/// miss) is one boxed future.
pub struct ResponseFuture<B: MessageBody> {
    state: State<B>,
}

// The ready response is held inline: boxing it would bring back the allocation a memory hit
// is spared.
#[allow(clippy::large_enum_variant)]
enum State<B: MessageBody> {
    Ready(Option<ServiceResponse<ResponseBody<B>>>),
    Boxed(BoxedResponse<B>),
}

// Nothing in it is pinned in place: the boxed future is pinned on the heap, and the ready
// response is moved out, never pinned.
impl<B: MessageBody> Unpin for ResponseFuture<B> {}

impl<B: MessageBody> ResponseFuture<B> {
    pub(crate) fn new(inner: BoxedResponse<B>) -> Self {
        Self {
            state: State::Boxed(inner),
        }
    }

    pub(crate) fn ready(response: ServiceResponse<ResponseBody<B>>) -> Self {
        Self {
            state: State::Ready(Some(response)),
        }
    }
}

impl<B: MessageBody> Future for ResponseFuture<B> {
    type Output = Result<ServiceResponse<ResponseBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(response) => Poll::Ready(Ok(response.take().expect("polled after completion"))),
            State::Boxed(inner) => inner.as_mut().poll(cx),
        }
    }
}

impl<B: MessageBody> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
