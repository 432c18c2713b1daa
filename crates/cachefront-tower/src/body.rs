use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use cachefront::adapter;

use crate::exchange::Source;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`CacheService`](crate::CacheService): a stored body (hit), the
    /// handler's body being collected as it streams (miss), or the handler's body untouched
    /// ([`cachefront::adapter::ResponseBody`]).
    pub struct ResponseBody<B: Body<Data = Bytes>> {
        #[pin]
        pub(crate) inner: adapter::ResponseBody<Source<B>>,
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        self.project().inner.poll_next(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let (lower, upper) = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(lower);
        if let Some(upper) = upper {
            hint.set_upper(upper);
        }
        hint
    }
}

impl<B: Body<Data = Bytes>> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ResponseBody").field(&self.inner).finish()
    }
}
