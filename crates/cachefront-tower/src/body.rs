use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use cachefront::Collector;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`CacheService`](crate::CacheService): a stored body (hit), the
    /// handler's body being collected as it streams (miss), or the handler's body untouched.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Stored { data: Option<Bytes> },
        Collecting { #[pin] inner: B, collector: Option<Collector> },
        Passthrough { #[pin] inner: B },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn stored(data: Bytes) -> Self {
        Self {
            kind: Kind::Stored {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(crate) fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Passthrough { inner },
        }
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn collecting(inner: B, collector: Collector) -> Self {
        if inner.is_end_stream() {
            // An empty body may never be polled: store it now.
            collector.finish();
            return Self::passthrough(inner);
        }
        Self {
            kind: Kind::Collecting {
                inner,
                collector: Some(collector),
            },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Stored { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
            KindProj::Passthrough { inner } => inner.poll_frame(cx),
            KindProj::Collecting { mut inner, collector } => {
                let frame = ready!(inner.as_mut().poll_frame(cx));
                match &frame {
                    Some(Ok(frame)) => match frame.data_ref() {
                        Some(data) => {
                            if let Some(c) = collector.as_mut() {
                                if !c.push(data) {
                                    // Over the limit: stream the rest through untouched.
                                    *collector = None;
                                }
                            }
                            // Servers stop polling once a body reports its end, so the end
                            // may never be seen as `None`.
                            if inner.is_end_stream() {
                                if let Some(c) = collector.take() {
                                    c.finish();
                                }
                            }
                        }
                        // Trailers are not stored: neither is the response.
                        None => *collector = None,
                    },
                    Some(Err(_)) => *collector = None,
                    None => {
                        if let Some(c) = collector.take() {
                            c.finish();
                        }
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stored { data } => data.is_none(),
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stored { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.size_hint(),
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Stored { .. } => "Stored",
            Kind::Collecting { .. } => "Collecting",
            Kind::Passthrough { .. } => "Passthrough",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}
