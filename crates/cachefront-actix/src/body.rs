use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use cachefront::{BodyFrame, BodySource, Collector, PumpedBody};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

pin_project! {
    /// The response body of [`CacheMiddlewareService`](crate::CacheMiddlewareService): a stored
    /// body (hit), the handler's body being collected as it streams (miss), or the handler's
    /// body untouched.
    ///
    /// A miss's streamed body is read and collected on a task of its own on the worker, at the
    /// handler's pace, and queued for the client ([`cachefront::pump`]): a client that stops
    /// reading cannot hold the requests waiting for the same response.
    pub struct ResponseBody<B: MessageBody> {
        #[pin]
        kind: Kind<B>,
        // Dropped with the body: tells a waiting background refresh that the client is served.
        on_drop: Option<oneshot::Sender<()>>,
    }
}

type PumpedChunk<B> = Result<Bytes, <B as MessageBody>::Error>;

pin_project! {
    #[project = KindProj]
    enum Kind<B: MessageBody> {
        // `len` is the size to declare: the stored body's, also for `HEAD`, whose `data` is
        // `None` (actix-web writes `Content-Length` from the body size and never sends a body
        // to `HEAD`).
        Stored { data: Option<Bytes>, len: u64 },
        // `size`: the handler's body's declared size.
        Pumped { body: PumpedBody<PumpedChunk<B>>, size: BodySize },
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

impl<B: MessageBody> BodySource for Source<B> {
    type Item = PumpedChunk<B>;

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
}

impl<B: MessageBody> ResponseBody<B> {
    /// A stored body to write in full.
    pub(crate) fn stored(data: Bytes) -> Self {
        Self::new(Kind::Stored {
            len: data.len() as u64,
            data: (!data.is_empty()).then_some(data),
        })
    }

    /// An empty stored body that declares a length (an answer to `HEAD`).
    pub(crate) fn stored_head(len: u64) -> Self {
        Self::new(Kind::Stored { data: None, len })
    }

    /// The handler's body, untouched.
    pub(crate) fn passthrough(inner: B) -> Self {
        Self::new(Kind::Passthrough { inner })
    }

    fn new(kind: Kind<B>) -> Self {
        Self { kind, on_drop: None }
    }

    /// Drops `sender` when this body is dropped.
    pub(crate) fn signal_on_drop(mut self, sender: oneshot::Sender<()>) -> Self {
        self.on_drop = Some(sender);
        self
    }
}

impl<B: MessageBody + 'static> ResponseBody<B> {
    /// The handler's body, fed to `collector` at the handler's pace: stored at once when it is
    /// in memory already, else read by a pump on a local task of the worker (so this must run
    /// on an actix-web worker or `actix_web::test` runtime, as the middleware always does).
    pub(crate) fn collecting(inner: B, mut collector: Collector) -> Self {
        if inner.size().is_eof() {
            // An empty body (or none at all, `BodySize::None`) may never be polled: store it now.
            collector.finish();
            return Self::passthrough(inner);
        }
        let inner = match inner.try_into_bytes() {
            // The whole body at once: store it now.
            Ok(data) => {
                if collector.push(&data) {
                    collector.finish();
                }
                return Self::stored(data);
            }
            Err(inner) => inner,
        };
        let size = inner.size();
        let (pump, body) = cachefront::pump(Source { inner }, collector);
        // Started now (a body already whole is queued before the head is written), then on
        // a local task on the worker, as actix-web bodies need not be `Send`.
        if let Some(pump) = cachefront::poll_once(pump) {
            actix_web::rt::spawn(pump);
        }
        Self::new(Kind::Pumped { body, size })
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        match &self.kind {
            Kind::Stored { len, .. } => BodySize::Sized(*len),
            Kind::Pumped { size, .. } => *size,
            Kind::Passthrough { inner } => inner.size(),
        }
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Stored { data, .. } => Poll::Ready(data.take().map(Ok)),
            KindProj::Passthrough { inner } => inner.poll_next(cx),
            KindProj::Pumped { body, .. } => body.poll_next(cx),
        }
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.on_drop.is_some() {
            // The signal must travel with the body to the end.
            return Err(self);
        }
        match self.kind {
            Kind::Stored { data, len } => match data {
                Some(data) if data.len() as u64 == len => Ok(data),
                None if len == 0 => Ok(Bytes::new()),
                // A `HEAD` answer must keep declaring the stored length.
                data => Err(Self::new(Kind::Stored { data, len })),
            },
            Kind::Passthrough { inner } => inner.try_into_bytes().map_err(Self::passthrough),
            kind @ Kind::Pumped { .. } => Err(Self::new(kind)),
        }
    }
}

impl<B: MessageBody> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Stored { .. } => "Stored",
            Kind::Pumped { .. } => "Pumped",
            Kind::Passthrough { .. } => "Passthrough",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::convert::Infallible;

    use actix_web::body::{self, BodyStream};
    use cachefront::{Cache, Lookup, Policy};
    use futures_util::{StreamExt as _, stream};

    use super::*;

    fn streamed(chunks: &'static [&'static [u8]]) -> impl MessageBody<Error = Infallible> {
        BodyStream::new(stream::iter(
            chunks.iter().map(|c| Ok::<_, Infallible>(Bytes::from_static(c))),
        ))
    }

    /// A collector for a fresh miss on `/x`, and its cache.
    async fn collector() -> (Cache, Collector) {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(30)));
        let request = http::Request::get("http://example.com/x").body(()).unwrap();
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("expected a miss")
        };
        let collector = forward
            .response(http::StatusCode::OK, &http::HeaderMap::new())
            .collector
            .expect("storable");
        (cache, collector)
    }

    #[actix_web::test]
    async fn a_whole_body_taken_at_once_is_stored() {
        let (cache, collector) = collector().await;
        let body = ResponseBody::collecting(Bytes::from_static(b"hello"), collector);
        assert_eq!(body.try_into_bytes().unwrap(), "hello");
        assert_eq!(cache.stats().total.stores, 1);
    }

    #[actix_web::test]
    async fn a_streamed_body_is_stored_when_it_ends() {
        let (cache, collector) = collector().await;
        let body = ResponseBody::collecting(streamed(&[b"hel", b"lo"]), collector);
        // A stream is polled, not taken whole; one that is ready ends when the pump starts
        // (inline), and is stored once.
        let body = body.try_into_bytes().unwrap_err();
        assert_eq!(body::to_bytes(body).await.unwrap(), "hello");
        assert_eq!(cache.stats().total.stores, 1);
    }

    #[actix_web::test]
    async fn a_body_dropped_before_the_handler_ends_it_is_not_stored() {
        let (cache, collector) = collector().await;
        // The handler writes "hel", then never finishes.
        let unfinished = BodyStream::new(
            stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"hel"))]).chain(stream::pending()),
        );
        let mut body = Box::pin(ResponseBody::collecting(unfinished, collector));
        let first = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        assert_eq!(first.unwrap().unwrap(), "hel");
        drop(body);
        // The pump sees the client leave on its next turn.
        actix_web::rt::task::yield_now().await;
        let stats = cache.stats();
        assert_eq!((stats.total.stores, stats.total.not_stored), (0, 1));
    }

    #[actix_web::test]
    async fn a_body_the_handler_ended_is_stored_however_little_the_client_read() {
        let (cache, collector) = collector().await;
        let mut body = Box::pin(ResponseBody::collecting(streamed(&[b"hel", b"lo"]), collector));
        let first = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        assert_eq!(first.unwrap().unwrap(), "hel");
        drop(body);
        let stats = cache.stats();
        assert_eq!((stats.total.stores, stats.total.not_stored), (1, 0));
    }

    #[actix_web::test]
    async fn an_empty_body_is_stored_without_being_polled() {
        let (cache, collector) = collector().await;
        let body = ResponseBody::collecting((), collector);
        assert_eq!(body.size(), BodySize::Sized(0));
        assert_eq!(cache.stats().total.stores, 1);
    }

    #[test]
    fn a_head_answer_declares_the_stored_length_and_yields_nothing() {
        let body = ResponseBody::<()>::stored_head(5);
        assert_eq!(body.size(), BodySize::Sized(5));
        let body = body.try_into_bytes().unwrap_err();
        assert_eq!(body.size(), BodySize::Sized(5));
        let mut body = std::pin::pin!(body);
        let waker = std::task::Waker::noop();
        let poll = body.as_mut().poll_next(&mut Context::from_waker(waker));
        assert!(matches!(poll, Poll::Ready(None)));
    }

    #[test]
    fn a_stored_body_is_taken_whole() {
        let body = ResponseBody::<()>::stored(Bytes::from_static(b"hello"));
        assert_eq!(body.size(), BodySize::Sized(5));
        assert_eq!(body.try_into_bytes().unwrap(), "hello");
    }
}
