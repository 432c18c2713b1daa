//! A scripted origin server for HTTP caching conformance tests.
//!
//! Each test tells the origin, per route, the sequence of responses to give — status, headers,
//! body, delay — and whether to answer a matching conditional request with `304 Not Modified`.
//! The origin counts and records every request it receives, so a test can assert both what a
//! client got through a cache and whether (and how) the cache contacted the origin.
//!
//! Header values and bodies are templates, expanded when each response is made:
//!
//! | placeholder | expands to |
//! | --- | --- |
//! | `{now}`, `{now+N}`, `{now-N}` | an IMF-fixdate `N` seconds after/before the response time |
//! | `{start}`, `{start+N}`, `{start-N}` | the same, relative to when the origin started (stable across requests, for `Last-Modified`) |
//! | `{rfc850:now+N}`, `{asctime:now+N}` | the same instant in the obsolete RFC 850 / asctime formats (RFC 9110 §5.6.7) |
//! | `{n}` | the number of requests this route has received, this one included (1, 2, ...) |
//! | `{host}` | the `Host` the client sent to the proxy (`X-Forwarded-Host`), or `Host` |
//!
//! The origin never adds a `Date` header of its own (hyper's automatic `Date` is off), so a
//! test decides whether a response has one.
//!
//! ```no_run
//! use integration_tests::origin::{Reply, ScriptedOrigin};
//!
//! # async fn demo() {
//! let origin = ScriptedOrigin::start(vec![(
//!     "/page".to_owned(),
//!     vec![
//!         Reply::ok("v{n}")
//!             .header("cache-control", "max-age=1")
//!             .header("etag", "\"v1\"")
//!             .not_modified(&[("cache-control", "max-age=60")]),
//!     ],
//! )])
//! .await;
//! // ... point a cache at origin.base() and send requests through it ...
//! assert_eq!(origin.count(), 0);
//! # }
//! ```

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::Response,
};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::task::{AbortHandle, JoinHandle};

/// One scripted response.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
    not_modified: Option<Vec<(String, String)>>,
}

impl Reply {
    /// A response with `status` and a body template.
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
            not_modified: None,
        }
    }

    /// A `200 OK` with a body template.
    pub fn ok(body: &str) -> Self {
        Self::new(200, body)
    }

    /// Adds a header field line (the value is a template; repeated names make several lines).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits this long before answering.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers `304 Not Modified` with `headers` (templates) when the request's validators
    /// match this reply's: `If-None-Match` against its `ETag` (weak comparison, RFC 9110
    /// §13.1.2), or — without `If-None-Match` — `If-Modified-Since` at or after its
    /// `Last-Modified` (§13.1.3). The 304 also carries this reply's `ETag`, as RFC 9110 §15.4.5
    /// asks, unless `headers` names one.
    #[must_use]
    pub fn not_modified(mut self, headers: &[(&str, &str)]) -> Self {
        self.not_modified = Some(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self
    }
}

/// A request the origin received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path and query, e.g. `/a?x=1`.
    pub target: String,
    /// The request's headers.
    pub headers: HeaderMap,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// A header's value as a string (field lines joined with `, `), or `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<non-ascii>"))
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

#[derive(Debug)]
struct Script {
    /// `None`: any method.
    method: Option<String>,
    target: String,
    replies: Vec<Reply>,
    served: usize,
}

#[derive(Debug)]
struct Shared {
    start: SystemTime,
    scripts: Mutex<Vec<Script>>,
    log: Mutex<Vec<Recorded>>,
    connections: Mutex<Vec<AbortHandle>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A scripted origin on 127.0.0.1 (an ephemeral port); stopped when dropped.
#[derive(Debug)]
pub struct ScriptedOrigin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl ScriptedOrigin {
    /// Starts an origin with one script per route. A route is `"/path"` (any method, path with
    /// or without its query) or `"METHOD /path"`; the most specific match wins. The k-th
    /// request to a route gets its k-th reply, and the last reply once they run out. Requests
    /// no route matches get `404` with no caching headers.
    pub async fn start(routes: Vec<(String, Vec<Reply>)>) -> Self {
        let scripts = routes
            .into_iter()
            .map(|(route, replies)| {
                assert!(!replies.is_empty(), "route {route}: no replies scripted");
                let (method, target) = match route.split_once(' ') {
                    Some((method, target)) => (Some(method.to_owned()), target.to_owned()),
                    None => (None, route),
                };
                Script {
                    method,
                    target,
                    replies,
                    served: 0,
                }
            })
            .collect();
        let shared = Arc::new(Shared {
            start: SystemTime::now(),
            scripts: Mutex::new(scripts),
            log: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
        });
        let router = Router::new().fallback(answer).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let connections = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(router.clone());
                let connection = tokio::spawn(async move {
                    let mut http = hyper::server::conn::http1::Builder::new();
                    // Each script decides whether its responses carry `Date`.
                    http.auto_date_header(false);
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                });
                lock(&connections.connections).push(connection.abort_handle());
            }
        });
        Self {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// `http://127.0.0.1:PORT`, the base URL to forward to.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests the origin has received.
    pub fn count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// Expands a template as a response made now would (`{n}` is 0 and `{host}` empty), e.g. to
    /// compare a stored `Last-Modified` written as `{start-3600}` with what a cache sent.
    pub fn expand(&self, template: &str) -> String {
        Context {
            now: SystemTime::now(),
            start: self.shared.start,
            n: 0,
            host: String::new(),
        }
        .expand(template)
    }

    /// Stops the origin: the port is closed and open connections are dropped, so that it can
    /// no longer be reached. Returns once the listener is closed.
    pub async fn stop(&self) {
        let accept = lock(&self.accept).take();
        if let Some(accept) = accept {
            accept.abort();
            let _ = accept.await;
        }
        for connection in lock(&self.shared.connections).drain(..) {
            connection.abort();
        }
    }
}

impl Drop for ScriptedOrigin {
    fn drop(&mut self) {
        if let Some(accept) = lock(&self.accept).take() {
            accept.abort();
        }
        for connection in lock(&self.shared.connections).drain(..) {
            connection.abort();
        }
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let now = SystemTime::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let headers = request.headers().clone();
    lock(&shared.log).push(Recorded {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
        at: Instant::now(),
    });
    let chosen = {
        let mut scripts = lock(&shared.scripts);
        let rank = |script: &Script| -> Option<u8> {
            let method_ok = script.method.as_deref().is_none_or(|m| m == method);
            let rank = match (
                script.method.is_some(),
                script.target == target,
                script.target == path,
            ) {
                _ if !method_ok => return None,
                (true, true, _) => 0,
                (true, false, true) => 1,
                (false, true, _) => 2,
                (false, false, true) => 3,
                _ => return None,
            };
            Some(rank)
        };
        let best = scripts
            .iter()
            .enumerate()
            .filter_map(|(i, s)| rank(s).map(|r| (r, i)))
            .min()
            .map(|(_, i)| i);
        best.map(|i| {
            let script = &mut scripts[i];
            script.served += 1;
            let n = script.served;
            (script.replies[(n - 1).min(script.replies.len() - 1)].clone(), n)
        })
    };
    let Some((reply, n)) = chosen else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no script for {method} {target}\n"),
        );
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get("host"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let context = Context {
        now,
        start: shared.start,
        n,
        host,
    };
    let expanded: Vec<(String, String)> = reply
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), context.expand(value)))
        .collect();
    if let Some(not_modified) = &reply.not_modified
        && validators_match(&headers, &expanded)
    {
        let mut fields: Vec<(String, String)> = not_modified
            .iter()
            .map(|(name, value)| (name.clone(), context.expand(value)))
            .collect();
        if !fields.iter().any(|(name, _)| name.eq_ignore_ascii_case("etag")) {
            fields.extend(
                expanded
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("etag"))
                    .cloned(),
            );
        }
        return build(StatusCode::NOT_MODIFIED, &fields, String::new());
    }
    let status = StatusCode::from_u16(reply.status).expect("a valid scripted status");
    build(status, &expanded, context.expand(&reply.body))
}

fn plain(status: StatusCode, body: String) -> Response {
    build(
        status,
        &[("content-type".to_owned(), "text/plain".to_owned())],
        body,
    )
}

fn build(status: StatusCode, fields: &[(String, String)], body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in fields {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid scripted header name");
        let value = HeaderValue::from_bytes(value.as_bytes()).expect("a valid scripted header value");
        response.headers_mut().append(name, value);
    }
    response
}

/// Whether a conditional request's validators match a reply's (RFC 9110 §13.1.2, §13.1.3,
/// with the precedence of §13.2.2).
fn validators_match(request: &HeaderMap, reply: &[(String, String)]) -> bool {
    let field = |name: &str| {
        reply
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let if_none_match: Vec<&str> = request
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !if_none_match.is_empty() {
        let Some(etag) = field("etag") else {
            return false;
        };
        let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        return if_none_match
            .iter()
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag));
    }
    let since = request
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok());
    let modified = field("last-modified").and_then(|v| httpdate::parse_http_date(v.trim()).ok());
    matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
}

/// What templates expand against.
struct Context {
    now: SystemTime,
    start: SystemTime,
    n: usize,
    host: String,
}

impl Context {
    fn expand(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            out.push_str(&rest[..open]);
            let placeholder = &rest[open + 1..open + close];
            match self.placeholder(placeholder) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[open..=open + close]),
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn placeholder(&self, placeholder: &str) -> Option<String> {
        match placeholder {
            "n" => return Some(self.n.to_string()),
            "host" => return Some(self.host.clone()),
            _ => {}
        }
        let (format, instant) = match placeholder.split_once(':') {
            Some((format, instant)) => (format, instant),
            None => ("imf", placeholder),
        };
        let (base, offset) = match instant.find(['+', '-']) {
            Some(at) => (&instant[..at], instant[at..].parse::<i64>().ok()?),
            None => (instant, 0),
        };
        let base = match base {
            "now" => self.now,
            "start" => self.start,
            _ => return None,
        };
        let magnitude = Duration::from_secs(offset.unsigned_abs());
        let time = if offset >= 0 {
            base + magnitude
        } else {
            base - magnitude
        };
        let imf = httpdate::fmt_http_date(time);
        match format {
            "imf" => Some(imf),
            "rfc850" => Some(rfc850(&imf)),
            "asctime" => Some(asctime(&imf)),
            _ => None,
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `Sunday, 06-Nov-94 08:49:37 GMT`.
fn rfc850(imf: &str) -> String {
    let day = match &imf[..3] {
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        "Sat" => "Saturday",
        _ => "Sunday",
    };
    format!(
        "{day}, {}-{}-{} {} GMT",
        &imf[5..7],
        &imf[8..11],
        &imf[14..16],
        &imf[17..25]
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `Sun Nov  6 08:49:37 1994`.
fn asctime(imf: &str) -> String {
    let day = imf[5..7].trim_start_matches('0');
    format!(
        "{} {} {day:>2} {} {}",
        &imf[..3],
        &imf[8..11],
        &imf[17..25],
        &imf[12..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_dates_counts_and_hosts() {
        let start = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let context = Context {
            now: start + Duration::from_secs(60),
            start,
            n: 3,
            host: "h:1".to_owned(),
        };
        assert_eq!(context.expand("v{n} at {host}"), "v3 at h:1");
        assert_eq!(context.expand("{start}"), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(context.expand("{start-60}"), "Sun, 06 Nov 1994 08:48:37 GMT");
        assert_eq!(context.expand("{now}"), "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(context.expand("{rfc850:start}"), "Sunday, 06-Nov-94 08:49:37 GMT");
        assert_eq!(context.expand("{asctime:start}"), "Sun Nov  6 08:49:37 1994");
        assert_eq!(context.expand("{unknown} {"), "{unknown} {");
        for format in ["rfc850", "asctime"] {
            let parsed = httpdate::parse_http_date(&context.expand(&format!("{{{format}:start}}")));
            assert_eq!(parsed.unwrap(), start, "{format}");
        }
    }

    #[test]
    fn validators_follow_rfc_9110_precedence() {
        let reply = vec![
            ("etag".to_owned(), "\"a\"".to_owned()),
            (
                "last-modified".to_owned(),
                "Sun, 06 Nov 1994 08:49:37 GMT".to_owned(),
            ),
        ];
        let request = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (n, v) in pairs {
                h.append(*n, HeaderValue::from_static(v));
            }
            h
        };
        assert!(validators_match(
            &request(&[("if-none-match", "W/\"a\"")]),
            &reply
        ));
        assert!(validators_match(
            &request(&[("if-none-match", "\"x\", \"a\"")]),
            &reply
        ));
        assert!(!validators_match(&request(&[("if-none-match", "\"b\"")]), &reply));
        assert!(validators_match(
            &request(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            &reply
        ));
        assert!(!validators_match(
            &request(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:36 GMT")]),
            &reply
        ));
        // If-None-Match takes precedence over If-Modified-Since.
        assert!(!validators_match(
            &request(&[
                ("if-none-match", "\"b\""),
                ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")
            ]),
            &reply
        ));
        assert!(!validators_match(&request(&[]), &reply));
    }
}
