//! The request flow every adapter runs, written once: [`serve`] drives a request through the
//! cache over an [`Exchange`], the adapter's translation of its framework's types.

use std::{borrow::Cow, future::Future, pin::Pin};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use tracing::Instrument;

use super::{
    body::ResponseBody,
    pump::{BodyFrame, BodySource, Pump, pump},
};
use crate::{
    CACHE_STATUS, CacheRoute,
    adapter::{Collector, Forward, Hit, Invalidating, Lookup, RequestHead, Verdict},
    flow::{LookupLater, LookupNow, poll_once},
};

/// A web framework's request and response types, as the core's request flow ([`serve`])
/// reads and writes them. An adapter implements it for a value that holds the wrapped
/// service, and converts types: every decision is the core's.
///
/// The flow, in order: `Host` made to agree with the target ([`set_header`](Self::set_header));
/// the lookup over [`head`](Self::head); a hit answered with [`stored`](Self::stored) (or
/// [`refresh_behind`](Self::refresh_behind) when it is served stale while a refresh runs);
/// otherwise the conditional headers set, the wrapped service [`call`](Self::call)ed, and its
/// response judged from [`status`](Self::status), [`headers`](Self::headers) and
/// [`body_size`](Self::body_size): replaced by a response from the cache
/// ([`replaced`](Self::replaced): a revalidation, stale-if-error), or edited
/// ([`remove_header`](Self::remove_header), [`append_header`](Self::append_header)) and given
/// the cache's body ([`with_body`](Self::with_body)). A failed call is answered with
/// [`failed`](Self::failed).
pub trait Exchange: Sized {
    /// The request the middleware receives.
    type Request;
    /// The wrapped service's response.
    type Response;
    /// The wrapped service's error.
    type Error;
    /// The wrapped service's response body, as the core reads it.
    type Body: BodySource;
    /// The response the middleware answers with.
    type Output;

    /// The request head the core reads.
    fn head(request: &Self::Request) -> impl RequestHead + '_;

    /// The pattern the router matched for the request (`/products/{id}`), if the framework
    /// exposes it: it names the route when the policy has no [`name`](crate::Policy::name).
    /// Only asked for on unnamed routes.
    fn route_pattern(request: &Self::Request) -> Option<Cow<'_, str>> {
        let _ = request;
        None
    }

    /// Sets (`Some`) or removes (`None`) a request header before the service is called.
    fn set_header(request: &mut Self::Request, name: HeaderName, value: Option<HeaderValue>);

    /// Calls the wrapped service (waiting for it to be ready first, where the framework has
    /// readiness: only requests that reach the service take its capacity).
    fn call(&mut self, request: Self::Request) -> impl Future<Output = Result<Self::Response, Self::Error>>;

    /// The response's status.
    fn status(response: &Self::Response) -> StatusCode;

    /// The response's headers as an `http` 1.x map.
    fn headers(response: &Self::Response) -> Cow<'_, HeaderMap>;

    /// The exact size of the response's body, when the framework knows it without a
    /// `Content-Length` header.
    fn body_size(response: &Self::Response) -> Option<u64>;

    /// Removes a response header (a tag header the client must not see).
    fn remove_header(response: &mut Self::Response, name: &HeaderName);

    /// Appends a response header (`Cache-Status`).
    fn append_header(response: &mut Self::Response, name: HeaderName, value: HeaderValue);

    /// The response with its body replaced by `body` (given the service's body).
    fn with_body(
        response: Self::Response,
        body: impl FnOnce(Self::Body) -> ResponseBody<Self::Body>,
    ) -> Self::Output;

    /// The response's body alone (for a background refresh, read to its end).
    fn into_body(response: Self::Response) -> Self::Body;

    /// A response from the cache, answering `request`.
    fn stored(request: Self::Request, stored: Stored) -> Self::Output;

    /// A response from the cache that replaces the service's `response`.
    fn replaced(response: Self::Response, stored: Stored) -> Self::Output;

    /// The service failed with `error`: the answer is `stale` if there is one (stale-if-error),
    /// else the error.
    fn failed(error: Self::Error, stale: Option<Stored>) -> Result<Self::Output, Self::Error>;

    /// A stale response from the cache answering `request` now, while `refresh` runs
    /// [`refresh`](super::refresh) with the same request in the background (its conditional
    /// headers are set already).
    fn refresh_behind(self, request: Self::Request, stale: Stored, refresh: Forward) -> Self::Output;

    /// Runs a pump (the handler's body read at its own pace) on a task of its own.
    fn spawn_pump(pump: Pin<Box<Pump<Self::Body>>>);

    /// Whether [`spawn_pump`](Self::spawn_pump) can run a task now (Tower outside a Tokio
    /// runtime cannot: the body is then collected as the client reads it).
    fn can_spawn() -> bool {
        true
    }
}

/// A response from the cache, for [`Exchange::stored`] and its kin to translate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stored {
    /// The status.
    pub status: StatusCode,
    /// The headers, with `Content-Length`, `Age` and `Cache-Status` computed by the cache.
    pub headers: HeaderMap,
    data: Bytes,
    len: u64,
}

impl Stored {
    fn new(hit: &Hit) -> Self {
        let headers = hit.headers();
        let data = hit.body();
        // An empty answer that declares a length (to `HEAD`) declares it through its body too.
        let len = match data.is_empty() {
            true => content_length(&headers).unwrap_or(0),
            false => data.len() as u64,
        };
        Self {
            status: hit.status(),
            headers,
            data,
            len,
        }
    }

    /// The body (empty for `HEAD`, declaring the stored length).
    pub fn body<S: BodySource>(&self) -> ResponseBody<S> {
        ResponseBody::stored(self.data.clone(), self.len)
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Serves one request through `route`: from the cache when it can, else by calling the
/// wrapped service through `exchange`, storing what the policy allows.
///
/// If the call fails or this future is dropped, requests waiting on this one are released.
/// [`begin`] is the same flow for a middleware that answers without a future when it can.
pub async fn serve<E: Exchange>(
    route: &CacheRoute,
    exchange: E,
    request: E::Request,
) -> Result<E::Output, E::Error> {
    match begin(route, || exchange, request) {
        Begun::Ready(output) => Ok(output),
        Begun::Later(later) => later.finish().await,
    }
}

/// Starts serving one request through `route` (as [`serve`] does), as far as it goes without
/// waiting: a fresh hit from a store that answers at once (memory) is the response, with no
/// future built and nothing cloned; anything else is a [`Later`] to await. `exchange` is
/// called only when the wrapped service may be needed (not for a fresh hit), so a middleware
/// that clones its service for each call clones it only then.
///
/// A middleware returns a ready future for [`Begun::Ready`], and boxes
/// [`Later::finish`] otherwise, so that a memory hit allocates no future.
pub fn begin<E: Exchange>(
    route: &CacheRoute,
    exchange: impl FnOnce() -> E,
    mut request: E::Request,
) -> Begun<E> {
    normalize_host::<E>(&mut request);
    let route = match route.policy().named {
        true => Cow::Borrowed(route),
        false => route.for_pattern(E::route_pattern(&request).as_deref()),
    };
    let span = route.span();
    let now = span.in_scope(|| route.lookup_now(&E::head(&request)));
    let pending = match now {
        LookupNow::Done(Lookup::Hit(hit)) => {
            return Begun::Ready(span.in_scope(|| answer(hit, exchange, request)));
        }
        LookupNow::Done(Lookup::Forward(forward)) => Pending::Forward(forward),
        LookupNow::Later(later) => Pending::Lookup(later),
    };
    Begun::Later(Later {
        route: route.into_owned(),
        exchange: exchange(),
        request,
        pending,
        span,
    })
}

/// What [`begin`] decided without waiting.
#[derive(Debug)]
// Returned once and moved into the middleware's boxed future: boxing `Later` would add an
// allocation to every request that is not a memory hit.
#[allow(clippy::large_enum_variant)]
pub enum Begun<E: Exchange> {
    /// The response: a fresh hit, answered at once.
    Ready(E::Output),
    /// The rest of the exchange, to await with [`Later::finish`].
    Later(Later<E>),
}

/// An exchange [`begin`] could not finish at once: it waits for the store, for a concurrent
/// miss on the same key, or for the wrapped service. It owns what it needs (the route, the
/// request, the exchange), so its [`finish`](Self::finish) future is `'static`.
pub struct Later<E: Exchange> {
    route: CacheRoute,
    exchange: E,
    request: E::Request,
    pending: Pending,
    span: tracing::Span,
}

// Moved into `Later` once, as `Begun::Later` is.
#[allow(clippy::large_enum_variant)]
enum Pending {
    /// The lookup is not finished: the store, or the single flight on the key.
    Lookup(LookupLater),
    /// Forwarded already (a bypass, a request with credentials).
    Forward(Forward),
}

impl<E: Exchange> Later<E> {
    /// Finishes the exchange: the rest of the lookup, then the hit or the call, as [`serve`].
    ///
    /// If the call fails or this future is dropped, requests waiting on this one are released.
    pub async fn finish(self) -> Result<E::Output, E::Error> {
        let Later {
            route,
            exchange,
            request,
            pending,
            span,
        } = self;
        async move {
            let lookup = match pending {
                Pending::Lookup(later) => route.lookup_later(&E::head(&request), later).await,
                Pending::Forward(forward) => Lookup::Forward(forward),
            };
            let forward = match lookup {
                Lookup::Hit(hit) => return Ok(answer(hit, || exchange, request)),
                Lookup::Forward(forward) => forward,
            };
            call(exchange, request, forward).await
        }
        .instrument(span)
        .await
    }
}

impl<E: Exchange> std::fmt::Debug for Later<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Later")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// Answers a hit: the stored response, and when it is served stale while a refresh runs, the
/// refresh started behind it.
fn answer<E: Exchange>(mut hit: Hit, exchange: impl FnOnce() -> E, mut request: E::Request) -> E::Output {
    let refresh = hit.take_refresh();
    let stored = Stored::new(&hit);
    match refresh {
        None => E::stored(request, stored),
        // Stale-while-revalidate: the client gets the stale response now; the service runs
        // once in the background to refresh it.
        Some(refresh) => {
            apply_conditionals::<E>(&refresh, &mut request);
            exchange().refresh_behind(request, stored, refresh)
        }
    }
}

/// Forwards a request: the conditional headers, the call, and what its response causes (stale
/// on failure, the store, the invalidation of an unsafe request).
async fn call<E: Exchange>(
    mut exchange: E,
    mut request: E::Request,
    forward: Forward,
) -> Result<E::Output, E::Error> {
    apply_conditionals::<E>(&forward, &mut request);
    let response = match exchange.call(request).await {
        Ok(response) => response,
        Err(error) => return E::failed(error, forward.error().map(|hit| Stored::new(&hit))),
    };
    let (response, invalidation) = record::<E>(forward, response);
    // A successful unsafe request: its invalidation is done before the client can send its
    // next request.
    if let Some(invalidation) = invalidation {
        invalidation.await;
    }
    Ok(response)
}

/// Runs a background refresh (see [`Exchange::refresh_behind`]): calls the service with
/// `request` and reads the response to its end, so that the cache stores it.
pub async fn refresh<E: Exchange>(mut exchange: E, request: E::Request, refresh: Forward) {
    let Ok(response) = exchange.call(request).await else {
        tracing::debug!("background refresh failed; the stale response stays until it expires");
        return;
    };
    let (verdict, response) = judge::<E>(refresh, response);
    let Some(mut collector) = verdict.collector.filter(|_| verdict.replacement.is_none()) else {
        return;
    };
    let mut body = std::pin::pin!(E::into_body(response));
    loop {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(BodyFrame::Data { data, .. }) => {
                if !collector.push(&data) {
                    return;
                }
                if body.is_end_stream() {
                    break;
                }
            }
            // Trailers or an error: not stored.
            Some(BodyFrame::Other(_)) => return,
            None => break,
        }
    }
    collector.finish();
}

/// Makes `Host` agree with the target's authority (RFC 9112 §3.2.2), so that the service sees
/// the host the key uses.
fn normalize_host<E: Exchange>(request: &mut E::Request) {
    let value = {
        let head = E::head(request);
        let Some(authority) = head.authority() else {
            return;
        };
        // Whether the first `Host` value is the authority already (`host_replacement`).
        let mut agrees = None;
        head.for_each_header_value(&header::HOST, &mut |value| {
            agrees.get_or_insert(value == authority.as_bytes());
        });
        if agrees == Some(true) {
            return;
        }
        HeaderValue::from_str(authority).ok()
    };
    if let Some(value) = value {
        E::set_header(request, header::HOST, Some(value));
    }
}

/// Sets (or removes) the request headers the cache asks for: validators when it revalidates,
/// no `Range` when it needs the whole representation.
fn apply_conditionals<E: Exchange>(forward: &Forward, request: &mut E::Request) {
    for (name, value) in forward.conditional_headers() {
        E::set_header(request, name, value);
    }
}

/// The service's response judged by the cache.
fn judge<E: Exchange>(forward: Forward, response: E::Response) -> (Verdict, E::Response) {
    let verdict = forward
        .body_size(E::body_size(&response))
        .response(E::status(&response), &E::headers(&response));
    (verdict, response)
}

/// Hands the service's response to the cache: streamed and collected, or replaced by a
/// response from the cache (a successful revalidation, or stale-if-error).
fn record<E: Exchange>(forward: Forward, response: E::Response) -> (E::Output, Option<Invalidating>) {
    let (verdict, mut response) = judge::<E>(forward, response);
    if let Some(hit) = verdict.replacement {
        return (E::replaced(response, Stored::new(&hit)), verdict.invalidation);
    }
    for name in &verdict.hide {
        E::remove_header(&mut response, name);
    }
    E::append_header(
        &mut response,
        CACHE_STATUS,
        verdict.cache_status.to_header_value(),
    );
    let collector = verdict.collector;
    let output = E::with_body(response, |body| match collector {
        Some(collector) => collect::<E>(body, collector),
        None => ResponseBody::passthrough(body),
    });
    (output, verdict.invalidation)
}

/// The service's body, fed to `collector` at the service's pace.
fn collect<E: Exchange>(body: E::Body, mut collector: Collector) -> ResponseBody<E::Body> {
    if body.is_end_stream() {
        // An empty body may never be polled: store it now.
        collector.finish();
        return ResponseBody::passthrough(body);
    }
    let body = match body.try_into_bytes() {
        // The whole body at once: store it now.
        Ok(data) => {
            let len = data.len() as u64;
            if collector.push(&data) {
                collector.finish();
            }
            return ResponseBody::stored(data, len);
        }
        Err(body) => body,
    };
    if !E::can_spawn() {
        return ResponseBody::collecting(body, collector);
    }
    let hint = body.size_hint();
    let (pump, client) = pump(body, collector);
    // Started now: a body already whole is queued before the head is written, so head and body
    // leave in one write.
    if let Some(pump) = poll_once(pump) {
        E::spawn_pump(pump);
    }
    ResponseBody::pumped(client, hint)
}

#[cfg(test)]
mod tests {
    //! The flow driven by hand, over a framework of plain `http` types.

    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
        task::{Context, Poll, Waker},
        time::Duration,
    };

    use http::{Request, Response};

    use super::*;
    use crate::{Cache, Policy};

    /// A body of chunks; `open` keeps it pending after them (a handler that never finishes);
    /// `whole` lets it be taken at once, as a framework's in-memory body.
    #[derive(Default)]
    struct Chunks {
        chunks: VecDeque<Bytes>,
        open: bool,
        whole: bool,
    }

    fn chunks(parts: &[&'static str]) -> Chunks {
        Chunks {
            chunks: parts.iter().map(|p| Bytes::from_static(p.as_bytes())).collect(),
            ..Chunks::default()
        }
    }

    impl BodySource for Chunks {
        type Item = Bytes;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<BodyFrame<Bytes>>> {
            match self.chunks.pop_front() {
                Some(data) => Poll::Ready(Some(BodyFrame::Data {
                    data: data.clone(),
                    item: data,
                })),
                None if self.open => Poll::Pending,
                None => Poll::Ready(None),
            }
        }

        fn is_end_stream(&self) -> bool {
            self.chunks.is_empty() && !self.open
        }

        fn data(data: Bytes) -> Bytes {
            data
        }

        fn try_into_bytes(self) -> Result<Bytes, Self> {
            match self.whole {
                true => Ok(self.chunks.iter().flat_map(|c| c.iter().copied()).collect()),
                false => Err(self),
            }
        }
    }

    type Output = (StatusCode, HeaderMap, ResponseBody<Chunks>);

    /// A service answering with `respond()`, verdict the request headers it saw.
    struct Plain {
        respond: fn() -> Result<Response<Chunks>, &'static str>,
        seen: Arc<Mutex<Vec<HeaderMap>>>,
    }

    fn plain(respond: fn() -> Result<Response<Chunks>, &'static str>) -> Plain {
        Plain {
            respond,
            seen: Arc::default(),
        }
    }

    impl Exchange for Plain {
        type Request = Request<()>;
        type Response = Response<Chunks>;
        type Error = &'static str;
        type Body = Chunks;
        type Output = Output;

        fn head(request: &Request<()>) -> impl RequestHead + '_ {
            request
        }

        fn set_header(request: &mut Request<()>, name: HeaderName, value: Option<HeaderValue>) {
            match value {
                Some(value) => request.headers_mut().insert(name, value),
                None => request.headers_mut().remove(name),
            };
        }

        async fn call(&mut self, request: Request<()>) -> Result<Response<Chunks>, &'static str> {
            self.seen.lock().unwrap().push(request.headers().clone());
            (self.respond)()
        }

        fn status(response: &Response<Chunks>) -> StatusCode {
            response.status()
        }

        fn headers(response: &Response<Chunks>) -> Cow<'_, HeaderMap> {
            Cow::Borrowed(response.headers())
        }

        fn body_size(_: &Response<Chunks>) -> Option<u64> {
            None
        }

        fn remove_header(response: &mut Response<Chunks>, name: &HeaderName) {
            response.headers_mut().remove(name);
        }

        fn append_header(response: &mut Response<Chunks>, name: HeaderName, value: HeaderValue) {
            response.headers_mut().append(name, value);
        }

        fn with_body(
            response: Response<Chunks>,
            body: impl FnOnce(Chunks) -> ResponseBody<Chunks>,
        ) -> Output {
            let (parts, inner) = response.into_parts();
            (parts.status, parts.headers, body(inner))
        }

        fn into_body(response: Response<Chunks>) -> Chunks {
            response.into_body()
        }

        fn stored(_: Request<()>, stored: Stored) -> Output {
            (stored.status, stored.headers.clone(), stored.body())
        }

        fn replaced(_: Response<Chunks>, stored: Stored) -> Output {
            (stored.status, stored.headers.clone(), stored.body())
        }

        fn failed(error: &'static str, stale: Option<Stored>) -> Result<Output, &'static str> {
            stale
                .map(|s| (s.status, s.headers.clone(), s.body()))
                .ok_or(error)
        }

        fn refresh_behind(self, request: Request<()>, stale: Stored, refresh: Forward) -> Output {
            tokio::spawn(super::refresh(self, request, refresh));
            (stale.status, stale.headers.clone(), stale.body())
        }

        fn spawn_pump(pump: Pin<Box<Pump<Chunks>>>) {
            tokio::spawn(pump);
        }
    }

    fn ok(body: Chunks) -> Result<Response<Chunks>, &'static str> {
        Ok(Response::new(body))
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    fn route() -> (Cache, CacheRoute) {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(30)));
        (cache, route)
    }

    async fn read(body: ResponseBody<Chunks>) -> Vec<u8> {
        let mut body = std::pin::pin!(body);
        let mut read = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            read.extend_from_slice(&chunk);
        }
        read
    }

    fn stores(cache: &Cache) -> (u64, u64) {
        let stats = cache.stats();
        (stats.total.stores, stats.total.not_stored)
    }

    #[tokio::test]
    async fn an_absolute_form_target_replaces_host() {
        let (_cache, route) = route();
        let service = plain(|| ok(chunks(&["x"])));
        let seen = Arc::clone(&service.seen);
        let mut request = get("http://victim.example/p");
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("evil.example"));
        serve(&route, service, request).await.unwrap();
        assert_eq!(seen.lock().unwrap()[0]["host"], "victim.example");
    }

    #[tokio::test]
    async fn an_origin_form_target_keeps_host() {
        let (_cache, route) = route();
        let service = plain(|| ok(chunks(&["x"])));
        let seen = Arc::clone(&service.seen);
        let mut request = get("/p");
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("a.example"));
        serve(&route, service, request).await.unwrap();
        assert_eq!(seen.lock().unwrap()[0]["host"], "a.example");
    }

    /// A body the handler holds whole is ready the moment the response is: the server writes
    /// head and body together, and no segment waits on the client's delayed ACK.
    #[tokio::test(flavor = "current_thread")]
    async fn a_ready_body_is_ready_with_the_head_and_stored_at_once() {
        let (cache, route) = route();
        let (_, _, body) = serve(
            &route,
            plain(|| ok(chunks(&["hel", "lo"]))),
            get("http://a.example/x"),
        )
        .await
        .unwrap();
        let mut body = std::pin::pin!(body);
        // No task has run: a current-thread runtime runs spawned tasks only when this one yields.
        let mut context = Context::from_waker(Waker::noop());
        let Poll::Ready(Some(first)) = body.as_mut().poll_next(&mut context) else {
            panic!("the body's data is ready without waiting for a task");
        };
        assert_eq!(first, "hel");
        assert_eq!(stores(&cache), (1, 0));
        let (_, headers, body) = serve(&route, plain(|| Err("not called")), get("http://a.example/x"))
            .await
            .unwrap();
        assert_eq!(headers["cache-status"], "cachefront; hit; ttl=30");
        assert_eq!(read(body).await, b"hello");
    }

    /// A fresh hit from memory is answered by `begin` itself, without making the exchange (the
    /// wrapped service is not cloned for it); a miss, a stale entry or a bypass is `Later`.
    #[tokio::test(flavor = "current_thread")]
    async fn begin_answers_a_fresh_memory_hit_at_once_and_nothing_else() {
        let (_cache, route) = route();
        let made = std::cell::Cell::new(0);
        let exchange = || {
            made.set(made.get() + 1);
            plain(|| ok(chunks(&["hello"])))
        };
        let Begun::Later(miss) = begin(&route, exchange, get("http://a.example/x")) else {
            panic!("a cold key is not answered at once");
        };
        assert_eq!(made.get(), 1, "a miss makes the exchange to call the service");
        let (_, _, body) = miss.finish().await.unwrap();
        assert_eq!(read(body).await, b"hello");
        let Begun::Ready((status, headers, body)) = begin(&route, exchange, get("http://a.example/x")) else {
            panic!("a fresh memory hit is answered at once");
        };
        assert_eq!(made.get(), 1, "a hit does not make the exchange");
        assert_eq!(
            (status, &headers["cache-status"]),
            (
                StatusCode::OK,
                &HeaderValue::from_static("cachefront; hit; ttl=30")
            )
        );
        assert_eq!(read(body).await, b"hello");
        // A request the policy bypasses is forwarded later, through the exchange.
        let post = Request::post("http://a.example/x").body(()).unwrap();
        assert!(matches!(begin(&route, exchange, post), Begun::Later(_)));
        assert_eq!(made.get(), 2);
    }

    #[tokio::test]
    async fn a_whole_body_taken_at_once_is_stored() {
        let (cache, route) = route();
        let respond = || {
            ok(Chunks {
                whole: true,
                open: true,
                ..chunks(&["hel", "lo"])
            })
        };
        let (_, headers, body) = serve(&route, plain(respond), get("http://a.example/x"))
            .await
            .unwrap();
        assert!(headers["cache-status"].to_str().unwrap().ends_with("stored"));
        assert_eq!(body.try_into_bytes().unwrap(), "hello");
        assert_eq!(stores(&cache), (1, 0));
    }

    #[tokio::test]
    async fn a_body_dropped_before_the_handler_ends_it_is_not_stored() {
        let (cache, route) = route();
        let respond = || {
            ok(Chunks {
                open: true,
                ..chunks(&["hel"])
            })
        };
        let (_, _, body) = serve(&route, plain(respond), get("http://a.example/x"))
            .await
            .unwrap();
        let mut body = Box::pin(body);
        let first = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        assert_eq!(first.unwrap(), "hel");
        drop(body);
        // The pump sees the client leave on its next turn.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(stores(&cache), (0, 1));
    }

    #[tokio::test]
    async fn a_body_the_handler_ended_is_stored_however_little_the_client_read() {
        let (cache, route) = route();
        let (_, _, body) = serve(
            &route,
            plain(|| ok(chunks(&["hel", "lo"]))),
            get("http://a.example/x"),
        )
        .await
        .unwrap();
        drop(body);
        assert_eq!(stores(&cache), (1, 0));
    }

    #[tokio::test]
    async fn an_empty_body_is_stored_without_being_polled() {
        let (cache, route) = route();
        let (_, _, body) = serve(&route, plain(|| ok(chunks(&[]))), get("http://a.example/x"))
            .await
            .unwrap();
        assert_eq!(stores(&cache), (1, 0));
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_head_answer_declares_the_stored_length_and_yields_nothing() {
        let body = ResponseBody::<Chunks>::stored(Bytes::new(), 5);
        assert_eq!(body.declared_len(), Some(5));
        let body = body.try_into_bytes().unwrap_err();
        assert_eq!(body.declared_len(), Some(5));
        let mut body = std::pin::pin!(body);
        let poll = body.as_mut().poll_next(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Ready(None)));
    }

    #[test]
    fn a_stored_body_is_taken_whole() {
        let body = ResponseBody::<Chunks>::stored(Bytes::from_static(b"hello"), 5);
        assert_eq!(body.declared_len(), Some(5));
        assert_eq!(body.size_hint(), (5, Some(5)));
        assert_eq!(body.try_into_bytes().unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_failed_call_is_answered_stale_within_stale_if_error_and_passed_on_without() {
        let cache = Cache::new();
        let policy = Policy::ttl(Duration::from_millis(1)).stale_if_error(Duration::from_secs(60));
        let route = cache.route(policy);
        serve(&route, plain(|| ok(chunks(&["old"]))), get("http://a.example/x"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (status, headers, body) = serve(&route, plain(|| Err("down")), get("http://a.example/x"))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        let member = headers["cache-status"].to_str().unwrap();
        assert!(
            member.contains("fwd=stale") && member.ends_with("detail=stale-if-error"),
            "{member}"
        );
        assert_eq!(read(body).await, b"old");
        let other = serve(&route, plain(|| Err("down")), get("http://a.example/other")).await;
        assert_eq!(other.err(), Some("down"));
    }
}
