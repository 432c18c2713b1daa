use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use cachefront::Collector;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`CacheMiddlewareService`](crate::CacheMiddlewareService): a stored
    /// body (hit), the handler's body being collected as it streams (miss), or the handler's
    /// body untouched.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // `len` is the size to declare: the stored body's, also for `HEAD`, whose `data` is
        // `None` (actix-web writes `Content-Length` from the body size and never sends a body
        // to `HEAD`).
        Stored { data: Option<Bytes>, len: u64 },
        Collecting { #[pin] inner: B, collector: Option<Collector> },
        Passthrough { #[pin] inner: B },
    }
}

impl<B> ResponseBody<B> {
    /// A stored body to write in full.
    pub(crate) fn stored(data: Bytes) -> Self {
        Self {
            kind: Kind::Stored {
                len: data.len() as u64,
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// The head of a stored body: declares its length, yields nothing (an answer to `HEAD`).
    pub(crate) fn stored_head(len: usize) -> Self {
        Self {
            kind: Kind::Stored {
                data: None,
                len: len as u64,
            },
        }
    }

    /// The handler's body, untouched.
    pub(crate) fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Passthrough { inner },
        }
    }
}

impl<B: MessageBody> ResponseBody<B> {
    /// The handler's body, fed to `collector` as it streams.
    pub(crate) fn collecting(inner: B, collector: Collector) -> Self {
        if inner.size().is_eof() {
            // An empty body (or none at all, `BodySize::None`) may never be polled: store it now.
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

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        match &self.kind {
            Kind::Stored { len, .. } => BodySize::Sized(*len),
            Kind::Collecting { inner, .. } | Kind::Passthrough { inner } => inner.size(),
        }
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Stored { data, .. } => Poll::Ready(data.take().map(Ok)),
            KindProj::Passthrough { inner } => inner.poll_next(cx),
            KindProj::Collecting { inner, collector } => {
                let chunk = ready!(inner.poll_next(cx));
                match &chunk {
                    Some(Ok(data)) => {
                        if let Some(c) = collector.as_mut() {
                            if !c.push(data) {
                                // Over the limit: stream the rest through untouched.
                                *collector = None;
                            }
                        }
                    }
                    // A failed body is not stored; dropping the collector says so.
                    Some(Err(_)) => *collector = None,
                    None => {
                        if let Some(c) = collector.take() {
                            c.finish();
                        }
                    }
                }
                Poll::Ready(chunk)
            }
        }
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        match self.kind {
            Kind::Stored { data, len } => match data {
                Some(data) if data.len() as u64 == len => Ok(data),
                None if len == 0 => Ok(Bytes::new()),
                // A `HEAD` answer must keep declaring the stored length.
                data => Err(Self {
                    kind: Kind::Stored { data, len },
                }),
            },
            Kind::Passthrough { inner } => inner.try_into_bytes().map_err(Self::passthrough),
            Kind::Collecting { inner, collector } => match inner.try_into_bytes() {
                // The whole body at once (whoever asked is about to send it): store it now.
                Ok(data) => {
                    if let Some(mut c) = collector {
                        if c.push(&data) {
                            c.finish();
                        }
                    }
                    Ok(data)
                }
                Err(inner) => Err(Self {
                    kind: Kind::Collecting { inner, collector },
                }),
            },
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Stored { .. } => "Stored",
            Kind::Collecting { .. } => "Collecting",
            Kind::Passthrough { .. } => "Passthrough",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}
