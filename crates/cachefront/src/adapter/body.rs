//! The client's response body, whatever the framework: a stored body, or the handler's body
//! collected as it streams, or the handler's body untouched.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

use super::pump::{BodyFrame, BodySource, PumpedBody};
use crate::flow::Collector;

pin_project! {
    /// The body the core gives the client: a response from the cache, or the handler's body
    /// (its [`BodySource`]) collected as it streams or passed through untouched. An adapter
    /// wraps it in a newtype that implements its framework's body trait by calling
    /// [`poll_next`](Self::poll_next), [`is_end_stream`](Self::is_end_stream) and
    /// [`size_hint`](Self::size_hint).
    ///
    /// A miss's body is read and collected on a task of its own, at the handler's pace, and
    /// queued for the client (see [`Exchange::spawn_pump`](super::Exchange::spawn_pump)): a
    /// client that stops reading cannot hold the requests waiting for the same response.
    pub struct ResponseBody<S: BodySource> {
        #[pin]
        kind: Kind<S>,
        // Dropped with the body: tells a waiting background refresh that the client is served.
        on_drop: Option<oneshot::Sender<()>>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S: BodySource> {
        // `len`: the length to declare, also for `HEAD`, whose `data` is `None`.
        Stored { data: Option<Bytes>, len: u64 },
        // Collected as the client reads: only where no task can be spawned for a pump.
        Collecting { #[pin] inner: S, collector: Option<Collector> },
        // `hint`: the handler's body's size hint when the pump started.
        Pumped { body: PumpedBody<S::Item>, hint: (u64, Option<u64>) },
        Passthrough { #[pin] inner: S },
    }
}

impl<S: BodySource> ResponseBody<S> {
    /// A body from the cache: `data`, declaring `len` bytes (more than `data` holds only for
    /// an answer to `HEAD`, which has no body but the stored response's length).
    pub(crate) fn stored(data: Bytes, len: u64) -> Self {
        Self::new(Kind::Stored {
            data: (!data.is_empty()).then_some(data),
            len,
        })
    }

    /// The handler's body, untouched.
    pub(crate) fn passthrough(inner: S) -> Self {
        Self::new(Kind::Passthrough { inner })
    }

    /// The handler's body, collected as the client reads it.
    pub(crate) fn collecting(inner: S, collector: Collector) -> Self {
        Self::new(Kind::Collecting {
            inner,
            collector: Some(collector),
        })
    }

    /// The client's side of a pump over the handler's body, whose size hint was `hint`.
    pub(crate) fn pumped(body: PumpedBody<S::Item>, hint: (u64, Option<u64>)) -> Self {
        Self::new(Kind::Pumped { body, hint })
    }

    fn new(kind: Kind<S>) -> Self {
        Self { kind, on_drop: None }
    }

    /// Drops `sender` when this body is dropped: a task can wait for the client to be served.
    pub fn signal_on_drop(mut self, sender: oneshot::Sender<()>) -> Self {
        self.on_drop = Some(sender);
        self
    }

    /// The next item for the client; `None` at the end.
    pub fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        match self.project().kind.project() {
            KindProj::Stored { data, .. } => Poll::Ready(data.take().map(S::data)),
            KindProj::Passthrough { inner } => inner.poll_frame(cx).map(|f| f.map(BodyFrame::into_item)),
            KindProj::Pumped { body, .. } => body.poll_next(cx),
            KindProj::Collecting { mut inner, collector } => {
                let frame = ready!(inner.as_mut().poll_frame(cx));
                match &frame {
                    Some(BodyFrame::Data { data, .. }) => {
                        if let Some(c) = collector.as_mut()
                            && !c.push(data)
                        {
                            // Over the limit: stream the rest through untouched.
                            *collector = None;
                        }
                        // Servers stop polling once a body reports its end, so the end may
                        // never be seen as `None`.
                        if inner.is_end_stream()
                            && let Some(c) = collector.take()
                        {
                            c.finish();
                        }
                    }
                    // Trailers or an error: the response is not stored.
                    Some(BodyFrame::Other(_)) => *collector = None,
                    None => {
                        if let Some(c) = collector.take() {
                            c.finish();
                        }
                    }
                }
                Poll::Ready(frame.map(BodyFrame::into_item))
            }
        }
    }

    /// Whether nothing more will be yielded.
    pub fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stored { data, .. } => data.is_none(),
            Kind::Pumped { body, .. } => body.is_end_stream(),
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.is_end_stream(),
        }
    }

    /// The bytes left to yield, as far as known: at least the first, at most the second.
    pub fn size_hint(&self) -> (u64, Option<u64>) {
        match &self.kind {
            Kind::Stored { data, .. } => {
                let len = data.as_ref().map_or(0, |d| d.len() as u64);
                (len, Some(len))
            }
            Kind::Pumped { body, hint } => {
                let read = body.bytes_read();
                (
                    hint.0.saturating_sub(read),
                    hint.1.map(|upper| upper.saturating_sub(read)),
                )
            }
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.size_hint(),
        }
    }

    /// The length a stored body declares (`Content-Length`), also for an answer to `HEAD`
    /// whose body is empty; `None` for the handler's body. For frameworks that write
    /// `Content-Length` from the body's size (actix-web).
    pub fn declared_len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Stored { len, .. } => Some(*len),
            _ => None,
        }
    }

    /// The whole body at once, when it is in memory (actix-web's `try_into_bytes`).
    // The shape of actix-web's `MessageBody::try_into_bytes`, which it serves.
    #[allow(clippy::result_large_err)]
    pub fn try_into_bytes(self) -> Result<Bytes, Self> {
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
            kind => Err(Self::new(kind)),
        }
    }
}

impl<S: BodySource> fmt::Debug for ResponseBody<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Stored { .. } => "Stored",
            Kind::Collecting { .. } => "Collecting",
            Kind::Pumped { .. } => "Pumped",
            Kind::Passthrough { .. } => "Passthrough",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}
