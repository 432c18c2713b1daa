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
/// A fresh hit from a store that answers at once (memory) is ready when the future is made:
/// nothing is boxed. Anything else (another store, a miss, a request waiting on a concurrent
/// miss) is one boxed future.
pub struct ResponseFuture<B: Body<Data = Bytes>, E> {
    state: State<B, E>,
}

// The ready response is held inline: boxing it would bring back the allocation a memory hit
// is spared.
#[allow(clippy::large_enum_variant)]
enum State<B: Body<Data = Bytes>, E> {
    Ready(Option<Response<ResponseBody<B>>>),
    Boxed(BoxedResponse<B, E>),
}

// Nothing in it is pinned in place: the boxed future is pinned on the heap, and the ready
// response is moved out, never pinned.
impl<B: Body<Data = Bytes>, E> Unpin for ResponseFuture<B, E> {}

impl<B: Body<Data = Bytes>, E> ResponseFuture<B, E> {
    pub(crate) fn new(inner: BoxedResponse<B, E>) -> Self {
        Self {
            state: State::Boxed(inner),
        }
    }

    pub(crate) fn ready(response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: State::Ready(Some(response)),
        }
    }
}

impl<B: Body<Data = Bytes>, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(response) => Poll::Ready(Ok(response.take().expect("polled after completion"))),
            State::Boxed(inner) => inner.as_mut().poll(cx),
        }
    }
}

impl<B: Body<Data = Bytes>, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
