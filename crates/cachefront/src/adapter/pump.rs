//! Collecting a handler's body at the handler's pace, whatever its client's: [`pump`].
//!
//! A miss's body streams to its client while the cache collects it. If the collection ran at
//! the client's reading pace, a client that stops reading would hold every request coalesced
//! on the same key until their wait ran out. So an adapter hands the handler's body to
//! [`pump`], runs the returned future on a task of its own, and gives its client the
//! [`PumpedBody`]: the pump reads the handler's body as fast as the handler writes it,
//! collects it, and queues it for the client.
//!
//! Memory stays bounded: the queue holds the same chunks as the collector, so at most the
//! policy's body limit while the body is collected; once the collector gives up (a body over
//! the limit, trailers, an error) or is done, the pump reads on only as the client reads.

use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker, ready},
};

use bytes::Bytes;

use crate::flow::Collector;

/// Items queued for the client beyond which, once nothing is collected any more, the pump
/// waits for the client before reading on.
const BACKLOG: usize = 2;

/// One frame of a handler's body, as an adapter's [`BodySource`] reports it.
#[derive(Debug)]
pub enum BodyFrame<T> {
    /// Data: `data` is collected, and the client's body yields `item` for it.
    Data {
        /// The frame's bytes.
        data: Bytes,
        /// What the client's body yields for this frame.
        item: T,
    },
    /// Anything else the client's body yields (trailers, an error): a response with such a
    /// frame is not stored.
    Other(T),
}

impl<T> BodyFrame<T> {
    /// What the client's body yields for this frame.
    pub fn into_item(self) -> T {
        match self {
            Self::Data { item, .. } | Self::Other(item) => item,
        }
    }
}

/// A handler's body as [`pump`] reads it: a framework's body type, seen through its adapter.
pub trait BodySource {
    /// What the client's body yields for each frame (e.g. `Result<Frame<Bytes>, E>`).
    type Item;

    /// The next frame; `None` at the end of the body.
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<BodyFrame<Self::Item>>>;

    /// Whether the body has nothing more to yield, without polling it. Bodies that know it say
    /// so after their last frame, and the body is stored at once.
    fn is_end_stream(&self) -> bool {
        false
    }

    /// What the client's body yields for `data` (a stored body's bytes).
    fn data(data: Bytes) -> Self::Item;

    /// The body's size as far as it is known: at least the first, at most the second.
    fn size_hint(&self) -> (u64, Option<u64>) {
        (0, None)
    }

    /// The whole body at once, when the framework holds it in memory already (actix-web's
    /// `MessageBody::try_into_bytes`): it is then stored without a pump.
    fn try_into_bytes(self) -> Result<Bytes, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// Drives `source` into `collector` at the source's pace, and queues its frames for the
/// client's [`PumpedBody`].
///
/// Run the returned future on a task of its own (e.g. `tokio::spawn`, or a local task for
/// bodies that are not `Send`); it ends when the body does, or when the client's body is
/// dropped. A body dropped before the source's end is not stored (its followers are released
/// to run the handler themselves); a body whose source has ended is stored however little of
/// it the client has read.
///
/// ```
/// use std::{pin::Pin, task::{Context, Poll}, time::Duration};
/// use bytes::Bytes;
/// use cachefront::{Cache, Policy, adapter::{BodyFrame, BodySource, Lookup, pump}};
///
/// /// A body of fixed chunks.
/// struct Chunks(Vec<&'static str>);
///
/// impl BodySource for Chunks {
///     type Item = Bytes;
///     fn data(data: Bytes) -> Bytes { data }
///     fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<BodyFrame<Bytes>>> {
///         Poll::Ready((!self.0.is_empty()).then(|| {
///             let data = Bytes::from_static(self.0.remove(0).as_bytes());
///             BodyFrame::Data { data: data.clone(), item: data }
///         }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::new();
/// let route = cache.route(Policy::ttl(Duration::from_secs(30)));
/// let request = http::Request::get("http://example.com/hello").body(()).unwrap();
/// let Lookup::Forward(forward) = route.lookup(&request).await else { unreachable!() };
/// let collector = forward.response(http::StatusCode::OK, &http::HeaderMap::new()).collector.unwrap();
///
/// let (pump, client) = pump(Chunks(vec!["hel", "lo"]), collector);
/// // The client has read nothing yet: the body is stored all the same.
/// pump.await;
/// assert!(matches!(route.lookup(&request).await, Lookup::Hit(_)));
/// drop(client);
/// # }
/// ```
pub fn pump<S>(source: S, collector: Collector) -> (Pump<S>, PumpedBody<S::Item>)
where
    S: BodySource,
{
    let shared = Arc::new(Mutex::new(Queue {
        items: VecDeque::new(),
        ended: false,
        client_gone: false,
        client: None,
        pump: None,
    }));
    let client = PumpedBody {
        shared: Arc::clone(&shared),
        read: 0,
    };
    let pump = Pump {
        source,
        collector: Some(collector),
        ends: Ends(shared),
    };
    (pump, client)
}

struct Queue<T> {
    /// Items with the length of their data.
    items: VecDeque<(T, u64)>,
    /// No item will be added: the source ended, or the pump stopped.
    ended: bool,
    client_gone: bool,
    /// The client's body, waiting for an item.
    client: Option<Waker>,
    /// The pump, waiting for room in the queue or for its source.
    pump: Option<Waker>,
}

type Shared<T> = Arc<Mutex<Queue<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, Queue<T>> {
    // Nothing panics while holding the lock; a poisoned queue is still consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ends the queue when the pump stops, however it stops (its task may be dropped with its
/// runtime), so that the client's body never waits for an item that will not come.
struct Ends<T>(Shared<T>);

impl<T> Drop for Ends<T> {
    fn drop(&mut self) {
        end(&self.0);
    }
}

pin_project_lite::pin_project! {
    /// The future [`pump`] returns: reads the handler's body into the collector and the
    /// client's queue. Run it on a task of its own.
    pub struct Pump<S: BodySource> {
        #[pin]
        source: S,
        collector: Option<Collector>,
        ends: Ends<S::Item>,
    }
}

impl<S: BodySource> fmt::Debug for Pump<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("collecting", &self.collector.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: BodySource> Future for Pump<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let shared = &this.ends.0;
        loop {
            {
                let mut queue = lock(shared);
                if queue.client_gone {
                    // Not stored: the collector's drop says so and releases the followers.
                    *this.collector = None;
                    return Poll::Ready(());
                }
                queue.pump = Some(cx.waker().clone());
                // Nothing to collect any more: read on at the client's pace.
                if this.collector.is_none() && queue.items.len() >= BACKLOG {
                    return Poll::Pending;
                }
            }
            let (item, len, last) = match ready!(this.source.as_mut().poll_frame(cx)) {
                None => {
                    if let Some(collector) = this.collector.take() {
                        collector.finish();
                    }
                    end(shared);
                    return Poll::Ready(());
                }
                Some(BodyFrame::Data { data, item }) => {
                    if let Some(c) = this.collector.as_mut()
                        && !c.push(&data)
                    {
                        // Over the limit: streamed through, not stored.
                        *this.collector = None;
                    }
                    (item, data.len() as u64, this.source.is_end_stream())
                }
                Some(BodyFrame::Other(item)) => {
                    *this.collector = None;
                    (item, 0, false)
                }
            };
            if last && let Some(collector) = this.collector.take() {
                collector.finish();
            }
            let mut queue = lock(shared);
            queue.items.push_back((item, len));
            queue.ended |= last;
            if let Some(waker) = queue.client.take() {
                waker.wake();
            }
            if last {
                return Poll::Ready(());
            }
        }
    }
}

/// Ends the queue: no item will be added.
fn end<T>(shared: &Shared<T>) {
    let mut queue = lock(shared);
    queue.ended = true;
    if let Some(waker) = queue.client.take() {
        waker.wake();
    }
}

/// The client's side of a [`pump`]: the handler's frames, in order, at the client's pace.
pub struct PumpedBody<T> {
    shared: Shared<T>,
    /// Bytes of data taken so far.
    read: u64,
}

impl<T> PumpedBody<T> {
    /// The next item; `None` once the handler's body has ended (or its pump has stopped) and
    /// every item has been taken.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut queue = lock(&self.shared);
        match queue.items.pop_front() {
            Some((item, len)) => {
                self.read += len;
                if queue.items.len() < BACKLOG
                    && let Some(waker) = queue.pump.take()
                {
                    waker.wake();
                }
                Poll::Ready(Some(item))
            }
            None if queue.ended => Poll::Ready(None),
            None => {
                queue.client = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Bytes of data taken so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Whether every item has been taken and no other will come.
    pub fn is_end_stream(&self) -> bool {
        let queue = lock(&self.shared);
        queue.ended && queue.items.is_empty()
    }
}

impl<T> Drop for PumpedBody<T> {
    fn drop(&mut self) {
        let mut queue = lock(&self.shared);
        queue.client_gone = true;
        queue.items.clear();
        if let Some(waker) = queue.pump.take() {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for PumpedBody<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = lock(&self.shared);
        f.debug_struct("PumpedBody")
            .field("queued", &queue.items.len())
            .field("ended", &queue.ended)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::{future::poll_fn, time::Duration};

    use super::*;
    use crate::{Cache, Policy, adapter::Lookup};

    /// A body whose frames the test hands over one by one through a channel.
    struct Channel(tokio::sync::mpsc::UnboundedReceiver<Bytes>);

    impl BodySource for Channel {
        type Item = Bytes;
        fn data(data: Bytes) -> Bytes {
            data
        }
        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyFrame<Bytes>>> {
            self.0.poll_recv(cx).map(|chunk| {
                chunk.map(|data| BodyFrame::Data {
                    data: data.clone(),
                    item: data,
                })
            })
        }
    }

    async fn miss(limit: usize) -> (Cache, Collector) {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(30)).max_body_bytes(limit));
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

    async fn next<T>(body: &mut PumpedBody<T>) -> Option<T> {
        poll_fn(|cx| body.poll_next(cx)).await
    }

    #[tokio::test]
    async fn the_body_is_stored_when_the_handler_ends_though_the_client_reads_nothing() {
        let (cache, collector) = miss(1024).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (pump, mut client) = pump(Channel(rx), collector);
        let pump = tokio::spawn(pump);
        for chunk in ["a", "b", "c"] {
            tx.send(Bytes::from_static(chunk.as_bytes())).unwrap();
        }
        drop(tx);
        pump.await.unwrap();
        assert_eq!(cache.stats().total.stores, 1);
        let mut read = Vec::new();
        while let Some(chunk) = next(&mut client).await {
            read.extend_from_slice(&chunk);
        }
        assert_eq!(read, b"abc");
        assert!(client.is_end_stream());
    }

    #[tokio::test]
    async fn a_client_gone_before_the_end_stops_the_pump_and_stores_nothing() {
        let (cache, collector) = miss(1024).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (pump, mut client) = pump(Channel(rx), collector);
        let pump = tokio::spawn(pump);
        tx.send(Bytes::from_static(b"a")).unwrap();
        assert_eq!(next(&mut client).await.unwrap(), "a");
        drop(client);
        pump.await.unwrap();
        let stats = cache.stats();
        assert_eq!((stats.total.stores, stats.total.not_stored), (0, 1));
        assert!(
            tx.send(Bytes::from_static(b"b")).is_err(),
            "the source was dropped"
        );
    }

    #[tokio::test]
    async fn over_the_limit_the_pump_waits_for_the_client() {
        let (cache, collector) = miss(4).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (pump, mut client) = pump(Channel(rx), collector);
        let pump = tokio::spawn(pump);
        for _ in 0..100 {
            tx.send(Bytes::from_static(b"xx")).unwrap();
        }
        // The pump reads past the limit, then stops reading until the client does.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(cache.stats().total.not_stored, 1);
        let queued = lock(&client.shared).items.len();
        assert!(queued <= 2 + BACKLOG, "{queued} items queued");
        drop(tx);
        let mut read = 0;
        while let Some(chunk) = next(&mut client).await {
            read += chunk.len();
        }
        assert_eq!(read, 200);
        pump.await.unwrap();
    }

    #[tokio::test]
    async fn a_dropped_pump_ends_the_client_body() {
        let (_cache, collector) = miss(1024).await;
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (pump, mut client) = pump(Channel(rx), collector);
        drop(pump);
        assert!(next(&mut client).await.is_none());
    }
}
