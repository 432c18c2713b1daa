use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use cachefront::{BodyFrame, BodySource, Collector, PumpedBody};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`CacheService`](crate::CacheService): a stored body (hit), the
    /// handler's body being collected as it streams (miss), or the handler's body untouched.
    ///
    /// A miss's body is read and collected on a task of its own, at the handler's pace, and
    /// queued for the client ([`cachefront::pump`]): a client that stops reading cannot hold
    /// the requests waiting for the same response.
    pub struct ResponseBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

type PumpedFrame<B> = Result<Frame<Bytes>, <B as Body>::Error>;

pin_project! {
    #[project = KindProj]
    enum Kind<B: Body> {
        Stored { data: Option<Bytes> },
        // Collected as the client reads: only without a Tokio runtime to run a pump on.
        Collecting { #[pin] inner: B, collector: Option<Collector> },
        // `hint`: the handler's body's size hint, less what the client has read.
        Pumped { body: PumpedBody<PumpedFrame<B>>, hint: SizeHint },
        Passthrough { #[pin] inner: B },
    }
}

pin_project! {
    /// The handler's body as the pump reads it.
    struct Source<B> {
        #[pin]
        inner: B,
    }
}

impl<B: Body<Data = Bytes>> BodySource for Source<B> {
    type Item = PumpedFrame<B>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyFrame<Self::Item>>> {
        self.project().inner.poll_frame(cx).map(|frame| {
            frame.map(|frame| match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => BodyFrame::Data {
                        data: data.clone(),
                        item: Ok(Frame::data(data)),
                    },
                    Err(frame) => BodyFrame::Other(Ok(frame)),
                },
                Err(error) => BodyFrame::Other(Err(error)),
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

impl<B: Body> ResponseBody<B> {
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

impl<B> ResponseBody<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Send + 'static,
{
    /// The handler's body, collected at the handler's pace by a pump on the Tokio runtime (or,
    /// without a runtime, as the client reads it).
    pub(crate) fn collecting(inner: B, collector: Collector) -> Self {
        if inner.is_end_stream() {
            // An empty body may never be polled: store it now.
            collector.finish();
            return Self::passthrough(inner);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Self {
                kind: Kind::Collecting {
                    inner,
                    collector: Some(collector),
                },
            };
        };
        let hint = inner.size_hint();
        let (pump, body) = cachefront::pump(Source { inner }, collector);
        // Started now: a body already whole is queued before the head is written.
        if let Some(pump) = cachefront::poll_once(pump) {
            runtime.spawn(pump);
        }
        Self {
            kind: Kind::Pumped { body, hint },
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
            KindProj::Pumped { body, hint } => {
                let frame = ready!(body.poll_next(cx));
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    let read = data.map_or(0, |d| d.len() as u64);
                    *hint = remaining(hint, read);
                }
                Poll::Ready(frame)
            }
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
            Kind::Pumped { body, .. } => body.is_end_stream(),
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stored { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Pumped { hint, .. } => *hint,
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.size_hint(),
        }
    }
}

/// A size hint less `read` bytes.
fn remaining(hint: &SizeHint, read: u64) -> SizeHint {
    let mut left = SizeHint::new();
    left.set_lower(hint.lower().saturating_sub(read));
    if let Some(upper) = hint.upper() {
        left.set_upper(upper.saturating_sub(read));
    }
    left
}

impl<B: Body> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Stored { .. } => "Stored",
            Kind::Collecting { .. } => "Collecting",
            Kind::Pumped { .. } => "Pumped",
            Kind::Passthrough { .. } => "Passthrough",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::{task::Waker, time::Duration};

    use cachefront::{Cache, Lookup, Policy};
    use http_body_util::Full;

    use super::*;

    /// A body the handler holds whole is ready the moment the response is: the server writes
    /// head and body together, and no segment waits on the client's delayed ACK.
    #[tokio::test(flavor = "current_thread")]
    async fn a_whole_body_is_ready_with_the_head_and_stored_at_once() {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(30)));
        let request = http::Request::get("http://example.com/x").body(()).unwrap();
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("a miss");
        };
        let collector = forward
            .response(http::StatusCode::OK, &http::HeaderMap::new())
            .collector
            .unwrap();
        let body = ResponseBody::collecting(Full::new(Bytes::from_static(b"hello")), collector);
        let mut body = std::pin::pin!(body);
        // No task has run: a current-thread runtime runs spawned tasks only when this one yields.
        let mut context = Context::from_waker(Waker::noop());
        let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut context) else {
            panic!("the body's data is ready without waiting for a task");
        };
        assert_eq!(frame.into_data().unwrap(), "hello");
        assert!(body.is_end_stream());
        let Lookup::Hit(hit) = route.lookup(&request).await else {
            panic!("stored at once");
        };
        assert_eq!(hit.body(), "hello");
    }
}
