//! The HTTP caching conformance suite: one table of cases, each naming the RFC section it checks,
//! run against the caching reverse proxy of `examples/reverse-proxy` (the cachefront Tower layer
//! in shared-cache mode) in front of a scripted origin server.
//!
//! Every case gets its own origin and its own proxy with an empty cache, so the cases run
//! concurrently. A case scripts the origin's responses per route, then sends requests through
//! the proxy, asserting for each what the client got (status, body, headers, `Age`,
//! `Cache-Status`) and how many requests reached the origin — and, where it matters, which
//! headers the proxy sent there.
//!
//! Expectations come from the RFCs (9111, 9110, 9211, 9213, 5861) and the numbered rules of
//! docs/HTTP-CACHING-RULES.md, never from what the implementation happens to do. Every case must
//! pass: there is no way to mark one as expected to fail.
//!
//! `CONFORMANCE_FILTER=text` runs only the cases whose name contains `text`.

use std::time::{Duration, Instant};

use cachefront_tower::Cache;
use example_reverse_proxy::{Origin, app, policy};
use futures_util::future::join_all;
use integration_tests::{
    TestServer,
    origin::{Reply, ScriptedOrigin},
};
use reqwest::{Method, header::HeaderMap};

// ---------------------------------------------------------------------------------------------
// The table's vocabulary
// ---------------------------------------------------------------------------------------------

/// One conformance case: the origin's script, and the requests sent through the proxy.
struct Case {
    /// The RFC section and what is checked, e.g. "9111 §4.2.1: s-maxage overrides max-age".
    name: String,
    /// The numbers of the HTTP-CACHING-RULES.md rules the case checks.
    rules: Vec<u8>,
    routes: Vec<(String, Vec<Reply>)>,
    steps: Vec<Step>,
}

enum Step {
    Send(Box<Send>),
    /// The same request sent `copies` times at once; at least `min_collapsed` of the answers
    /// must say `collapsed` in `Cache-Status`.
    Concurrent {
        send: Box<Send>,
        copies: usize,
        min_collapsed: usize,
    },
    Sleep(Duration),
    /// Waits for what the cache started to finish ([`Cache::run_pending_tasks`]).
    Settle,
    /// The origin stops listening: it can no longer be reached.
    StopOrigin,
    /// The origin's request count reaches exactly `count` within `within` (now, when zero).
    OriginCount {
        count: usize,
        within: Duration,
    },
    /// The `index`-th request the origin received (1-based) has header `name` as `check` says.
    OriginRequest {
        index: usize,
        name: &'static str,
        check: Check,
    },
}

/// A request through the proxy and what its response must be.
#[derive(Clone)]
struct Send {
    method: &'static str,
    path: String,
    /// Values are templates (see `integration_tests::origin`), e.g. `{now}`.
    headers: Vec<(String, String)>,
    status: Option<StatusExpect>,
    body: Option<BodyExpect>,
    response_headers: Vec<(String, Check)>,
    cache_status: CacheStatusExpect,
    age: Option<AgeExpect>,
    /// The origin's request count once this response has been read.
    origin: Option<usize>,
    /// The response must arrive within this time.
    within: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
enum StatusExpect {
    Is(u16),
    ServerError,
}

#[derive(Clone, Debug)]
enum BodyExpect {
    Is(String),
    Not(String),
}

/// A check of a header's value (field lines joined with `", "`); values are templates.
#[derive(Clone, Debug)]
enum Check {
    Is(String),
    Absent,
    Present,
    Contains(String),
    StartsWith(String),
}

#[derive(Clone, Copy, Debug)]
enum AgeExpect {
    Absent,
    Between(u64, u64),
}

/// Expectations on this cache's `Cache-Status` member (RFC 9211); `None` means unchecked.
#[derive(Clone, Debug, Default)]
struct CacheStatusExpect {
    hit: Option<bool>,
    fwd: Option<&'static str>,
    fwd_status: Option<u16>,
    stored: Option<bool>,
    detail: Option<&'static str>,
    ttl: Option<(i64, i64)>,
}

fn case(rules: &[u8], name: &str) -> Case {
    Case {
        name: name.to_owned(),
        rules: rules.to_vec(),
        routes: Vec::new(),
        steps: Vec::new(),
    }
}

/// A `200 OK` whose body is `v1`, `v2`, ... for its route's 1st, 2nd, ... request.
fn reply() -> Reply {
    Reply::ok("v{n}")
}

/// [`reply`] with a `Cache-Control` field.
fn cc(value: &str) -> Reply {
    reply().header("cache-control", value)
}

fn status(code: u16, body: &str) -> Reply {
    Reply::new(code, body)
}

impl Case {
    /// Scripts a route: `"/path"` (any method) or `"METHOD /path"`.
    fn route(mut self, route: &str, replies: Vec<Reply>) -> Self {
        self.routes.push((route.to_owned(), replies));
        self
    }

    /// Scripts the route `/`.
    fn script(self, replies: Vec<Reply>) -> Self {
        self.route("/", replies)
    }

    fn send(mut self, method: &'static str, path: &str) -> Self {
        self.steps.push(Step::Send(Box::new(Send {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            status: None,
            body: None,
            response_headers: Vec::new(),
            cache_status: CacheStatusExpect::default(),
            age: None,
            origin: None,
            within: None,
        })));
        self
    }

    fn get(self, path: &str) -> Self {
        self.send("GET", path)
    }

    fn sleep_ms(mut self, ms: u64) -> Self {
        self.steps.push(Step::Sleep(Duration::from_millis(ms)));
        self
    }

    /// Waits for the cache's background work (store writes, invalidations) to finish, e.g.
    /// after an unsafe request: the cases that check which URIs are invalidated (or not) use
    /// it. A sync point, not a sleep.
    fn settle(mut self) -> Self {
        self.steps.push(Step::Settle);
        self
    }

    fn stop_origin(mut self) -> Self {
        self.steps.push(Step::StopOrigin);
        self
    }

    /// The origin has received exactly `count` requests, now.
    fn origin_now(mut self, count: usize) -> Self {
        self.steps.push(Step::OriginCount {
            count,
            within: Duration::ZERO,
        });
        self
    }

    /// The origin receives its `count`-th request within `ms` (and no more).
    fn origin_within(mut self, count: usize, ms: u64) -> Self {
        self.steps.push(Step::OriginCount {
            count,
            within: Duration::from_millis(ms),
        });
        self
    }

    /// The `index`-th request the origin received (1-based) had header `name` as `check` says.
    fn origin_request(mut self, index: usize, name: &'static str, check: Check) -> Self {
        self.steps.push(Step::OriginRequest { index, name, check });
        self
    }

    /// Sends the last request `copies` times at once.
    fn concurrently(mut self, copies: usize, min_collapsed: usize) -> Self {
        let Some(Step::Send(send)) = self.steps.pop() else {
            panic!("{}: concurrently() follows a request", self.name);
        };
        self.steps.push(Step::Concurrent {
            send,
            copies,
            min_collapsed,
        });
        self
    }

    fn last(&mut self) -> &mut Send {
        match self.steps.last_mut() {
            Some(Step::Send(send)) | Some(Step::Concurrent { send, .. }) => send,
            _ => panic!("{}: an expectation must follow a request", self.name),
        }
    }

    /// Adds a request header (the value is a template).
    fn h(mut self, name: &str, value: &str) -> Self {
        self.last().headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn status(mut self, code: u16) -> Self {
        self.last().status = Some(StatusExpect::Is(code));
        self
    }

    fn server_error(mut self) -> Self {
        self.last().status = Some(StatusExpect::ServerError);
        self
    }

    fn body(mut self, body: &str) -> Self {
        self.last().body = Some(BodyExpect::Is(body.to_owned()));
        self
    }

    fn body_not(mut self, body: &str) -> Self {
        self.last().body = Some(BodyExpect::Not(body.to_owned()));
        self
    }

    fn header(mut self, name: &str, check: Check) -> Self {
        self.last().response_headers.push((name.to_owned(), check));
        self
    }

    fn hdr(self, name: &str, value: &str) -> Self {
        self.header(name, Check::Is(value.to_owned()))
    }

    fn no_hdr(self, name: &str) -> Self {
        self.header(name, Check::Absent)
    }

    fn has_hdr(self, name: &str) -> Self {
        self.header(name, Check::Present)
    }

    /// Answered from the cache (`hit`).
    fn hit(mut self) -> Self {
        self.last().cache_status.hit = Some(true);
        self
    }

    /// Not answered from the stored response without contacting the origin.
    fn not_hit(mut self) -> Self {
        self.last().cache_status.hit = Some(false);
        self
    }

    /// ForwardReason, with `fwd=kind`.
    fn fwd(mut self, kind: &'static str) -> Self {
        let cs = &mut self.last().cache_status;
        cs.hit = Some(false);
        cs.fwd = Some(kind);
        self
    }

    fn fwd_status(mut self, code: u16) -> Self {
        self.last().cache_status.fwd_status = Some(code);
        self
    }

    fn stored(mut self) -> Self {
        self.last().cache_status.stored = Some(true);
        self
    }

    fn not_stored(mut self) -> Self {
        self.last().cache_status.stored = Some(false);
        self
    }

    fn detail(mut self, detail: &'static str) -> Self {
        self.last().cache_status.detail = Some(detail);
        self
    }

    fn ttl(mut self, low: i64, high: i64) -> Self {
        self.last().cache_status.ttl = Some((low, high));
        self
    }

    fn age(mut self, low: u64, high: u64) -> Self {
        self.last().age = Some(AgeExpect::Between(low, high));
        self
    }

    fn no_age(mut self) -> Self {
        self.last().age = Some(AgeExpect::Absent);
        self
    }

    /// The origin has received `count` requests once this response is read.
    fn origin(mut self, count: usize) -> Self {
        self.last().origin = Some(count);
        self
    }

    fn within_ms(mut self, ms: u64) -> Self {
        self.last().within = Some(Duration::from_millis(ms));
        self
    }

    /// A miss that the cache stores: `fwd=uri-miss; fwd-status=200; stored`.
    fn stored_miss(self) -> Self {
        self.fwd("uri-miss").fwd_status(200).stored()
    }
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

const AL: &str = "accept-language";

#[rustfmt::skip]
#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let mut cases = vec![
        // ---- Rule 1: storing (RFC 9111 §3) ----------------------------------------------------
        case(&[1, 5], "9111 §3: a 200 with max-age is stored and reused while fresh")
            .script(vec![cc("max-age=60")])
            .get("/").status(200).body("v1").stored_miss().no_age().origin(1)
            .get("/").status(200).body("v1").hit().ttl(58, 60).age(0, 1).origin(1),
        case(&[1], "9111 §4.2.2: without explicit freshness a response with Last-Modified is fresh for 10% of its age")
            .script(vec![reply().header("last-modified", "{start-86400}")])
            .get("/").body("v1").fwd("uri-miss").stored().origin(1)
            .get("/").body("v1").hit().ttl(8637, 8640).origin(1),
        case(&[1], "9111 §4.2.2: public without explicit freshness or Last-Modified is not stored (no heuristic basis)")
            .script(vec![cc("public")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[1], "9111 §5.2.2.5: a no-store response is not stored")
            .script(vec![cc("max-age=60, no-store")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").fwd("uri-miss").origin(2),
        case(&[1], "9111 §5.2.2.7: a private response is not stored by a shared cache")
            .script(vec![cc("private, max-age=60")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").fwd("uri-miss").origin(2),
        case(&[1], "9111 §4.2.1: private and public together: the most restrictive (private) wins")
            .script(vec![cc("public, private, max-age=60")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[1, 5], "9111 §3: a response to POST is not stored and not reused for GET")
            .script(vec![cc("max-age=60")])
            .send("POST", "/").body("v1").fwd("method").fwd_status(200).not_stored().origin(1)
            .send("POST", "/").body("v2").fwd("method").origin(2)
            .get("/").body("v3").fwd("uri-miss").origin(3),
        case(&[1], "9110 §9.3.2: HEAD is answered from the stored GET response, without content")
            .script(vec![cc("max-age=60").header("x-extra", "1")])
            .get("/").body("v1").stored_miss().origin(1)
            .send("HEAD", "/").status(200).body("").hit().hdr("x-extra", "1").age(0, 1).origin(1),
        case(&[1], "9111 §4: a response to HEAD is never used to answer a GET")
            .script(vec![cc("max-age=60")])
            .send("HEAD", "/").status(200).body("").not_hit().origin(1)
            .get("/").body("v2").fwd("uri-miss").origin(2),
        case(&[1], "9111 §3: a 404 with explicit freshness is stored (negative caching)")
            .script(vec![status(404, "gone {n}").header("cache-control", "max-age=60")])
            .get("/").status(404).body("gone 1").stored().origin(1)
            .get("/").status(404).body("gone 1").hit().origin(1),
        case(&[1], "9111 §3: a 301 with explicit freshness is stored and replayed with its Location")
            .script(vec![status(301, "moved {n}").header("cache-control", "max-age=60").header("location", "/new")])
            .get("/").status(301).hdr("location", "/new").stored().origin(1)
            .get("/").status(301).body("moved 1").hdr("location", "/new").hit().origin(1),
        case(&[1], "9111 §3.3: a Range request is forwarded and its 206 is not stored")
            .script(vec![
                status(206, "v{n}").header("content-range", "bytes 0-1/10").header("cache-control", "max-age=60"),
            ])
            .get("/").h("range", "bytes=0-1").status(206).body("v1").not_hit().not_stored().origin(1)
            .get("/").h("range", "bytes=0-1").status(206).body("v2").not_hit().origin(2),
        case(&[1], "9111 §5.2.2.3: must-understand with an understood status overrides no-store")
            .script(vec![cc("max-age=60, no-store, must-understand")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[1], "9111 §3: must-understand with a status the cache does not understand is not stored")
            .script(vec![status(299, "odd {n}").header("cache-control", "max-age=60, must-understand")])
            .get("/").status(299).body("odd 1").not_stored().origin(1)
            .get("/").status(299).body("odd 2").origin(2),
        case(&[1, 5], "9111 §3: a large body is stored and replayed byte for byte with its Content-Length")
            .script(vec![Reply::ok(&"0123456789".repeat(10_000)).header("cache-control", "max-age=60")])
            .get("/").body(&"0123456789".repeat(10_000)).stored().origin(1)
            .get("/").body(&"0123456789".repeat(10_000)).hdr("content-length", "100000").hit().origin(1),
        // ---- Rule 2: Authorization (RFC 9111 §3.5) ---------------------------------------------
        case(&[2], "9111 §3.5: a response to a request with Authorization is not reused without public, s-maxage or must-revalidate")
            .script(vec![cc("max-age=60")])
            .get("/").h("authorization", "Bearer alice").body("v1").not_hit().not_stored().origin(1)
            .get("/").body("v2").fwd("uri-miss").origin(2),
        case(&[2], "9111 §3.5: public lets a shared cache reuse a response to an authorized request")
            .script(vec![cc("public, max-age=60")])
            .get("/").h("authorization", "Bearer alice").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[2], "9111 §3.5: s-maxage lets a shared cache reuse a response to an authorized request")
            .script(vec![cc("s-maxage=60")])
            .get("/").h("authorization", "Bearer alice").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[2], "9111 §3.5: must-revalidate lets a shared cache reuse a response to an authorized request")
            .script(vec![cc("max-age=60, must-revalidate")])
            .get("/").h("authorization", "Bearer alice").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[2], "9111 §3.5: private wins over public on a response to an authorized request")
            .script(vec![cc("public, private, max-age=60")])
            .get("/").h("authorization", "Bearer alice").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        // ---- Rule 3: cookies (RFC 9111 §7.3, sensitive information) ---------------------------
        case(&[3], "9111 §7.3: a response with Set-Cookie is not stored by default")
            .script(vec![cc("max-age=60").header("set-cookie", "sid=alice")])
            .get("/").body("v1").hdr("set-cookie", "sid=alice").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[3], "9111 §7.3: a request with Cookie is not answered from the cache")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cookie", "sid=bob").body("v2").fwd("bypass").origin(2)
            .get("/").body("v1").hit().origin(2),
        case(&[3], "9111 §7.3: a response to a request with Cookie is not stored")
            .script(vec![cc("max-age=60")])
            .get("/").h("cookie", "sid=bob").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[3], "9111 §7.3: a Set-Cookie on a revalidating 304 is never replayed to another client")
            .script(vec![
                cc("max-age=1, stale-if-error=60").header("etag", "\"e\""),
                cc("max-age=1, stale-if-error=60").header("etag", "\"e\"")
                    .not_modified(&[("cache-control", "max-age=60"), ("set-cookie", "sid=alice")]),
                cc("max-age=1, stale-if-error=60").header("etag", "\"e\"").not_modified(&[("cache-control", "max-age=60")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").origin(2)
            .get("/").status(200).body("v1").no_hdr("set-cookie"),
        // ---- Rule 4: Vary (RFC 9111 §4.1) -----------------------------------------------------
        case(&[4], "9111 §4.1: a stored response is reused when the Vary-named header matches")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en").body("v1").stored().origin(1)
            .get("/").h(AL, "en").body("v1").hit().hdr("vary", AL).origin(1),
        case(&[4], "9111 §4.1: a Vary mismatch is not served from the stored response")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en").body("v1").stored().origin(1)
            .get("/").h(AL, "fr").body("v2").fwd("vary-miss").origin(2),
        case(&[4], "9111 §4.1: several variants of one URI are stored side by side")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "fr").body("v2").origin(2)
            .get("/").h(AL, "de").body("v3").origin(3)
            .get("/").h(AL, "en").body("v1").hit().origin(3)
            .get("/").h(AL, "fr").body("v2").hit().origin(3)
            .get("/").h(AL, "de").body("v3").hit().origin(3),
        case(&[4], "9111 §4.1: an absent selecting header matches only an absent one")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").body("v1").stored().origin(1)
            .get("/").h(AL, "en").body("v2").not_hit().origin(2)
            .get("/").body("v1").hit().origin(2)
            .get("/").h(AL, "en").body("v2").hit().origin(2),
        case(&[4], "9111 §4.1: an empty selecting header is present, so it does not match an absent one")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").body("v1").stored().origin(1)
            .get("/").h(AL, "").body("v2").not_hit().origin(2)
            .get("/").body("v1").hit().origin(2),
        case(&[4], "9111 §4.1: whitespace differences are normalised when matching selecting headers")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en, fr").body("v1").stored().origin(1)
            .get("/").h(AL, "en,fr").body("v1").hit().origin(1)
            .get("/").h(AL, "en ,   fr").body("v1").hit().origin(1),
        case(&[4], "9111 §4.1: several field lines combine into one value when matching selecting headers")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en, fr").body("v1").stored().origin(1)
            .get("/").h(AL, "en").h(AL, "fr").body("v1").hit().origin(1),
        case(&[4], "9111 §4.1: every header named by Vary must match")
            .script(vec![cc("max-age=60").header("vary", "accept-language, x-device")])
            .get("/").h(AL, "en").h("x-device", "mobile").body("v1").stored().origin(1)
            .get("/").h(AL, "en").h("x-device", "desktop").body("v2").not_hit().origin(2)
            .get("/").h(AL, "en").h("x-device", "mobile").body("v1").hit().origin(2),
        case(&[4], "9111 §4.1: a Vary split over several field lines names every header")
            .script(vec![cc("max-age=60").header("vary", AL).header("vary", "x-device")])
            .get("/").h(AL, "en").h("x-device", "mobile").body("v1").stored().origin(1)
            .get("/").h(AL, "en").h("x-device", "desktop").body("v2").not_hit().origin(2)
            .get("/").h(AL, "en").h("x-device", "mobile").body("v1").hit().origin(2),
        case(&[4], "9111 §4.1: Vary field names are case-insensitive")
            .script(vec![cc("max-age=60").header("vary", "Accept-Language")])
            .get("/").h(AL, "en").body("v1").stored().origin(1)
            .get("/").h(AL, "en").body("v1").hit().origin(1)
            .get("/").h(AL, "fr").body("v2").not_hit().origin(2),
        case(&[4], "9111 §4.1: Vary: * always fails to match")
            .script(vec![cc("max-age=60").header("vary", "*")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[4], "9111 §4.1: a Vary containing * among other names always fails to match")
            .script(vec![cc("max-age=60").header("vary", "accept-language, *")])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "en").body("v2").not_hit().origin(2),
        case(&[4], "9111 §4.1: a new response for one variant leaves the other variants stored")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "fr").body("v2").origin(2)
            .get("/").h(AL, "en").h("cache-control", "no-cache").body("v3").not_hit().origin(3)
            .get("/").h(AL, "fr").body("v2").hit().origin(3)
            .get("/").h(AL, "en").body("v3").hit().origin(3),
        // ---- Rule 5: reuse (RFC 9111 §4, §5.1) ------------------------------------------------
        case(&[5], "9111 §4: a hit carries an Age computed by the cache, growing while stored")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").no_age().origin(1)
            .sleep_ms(1100)
            .get("/").body("v1").hit().age(1, 2).ttl(57, 59).origin(1),
        case(&[5, 6], "9111 §4, §5.1: an upstream Age is replaced by the cache's own, not repeated")
            .script(vec![cc("max-age=100").header("age", "30")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().age(30, 31).ttl(69, 70).origin(1),
        case(&[5], "9111 §4: unsafe requests are written through to the origin even when a response is stored")
            .script(vec![cc("max-age=60")])
            .route("PUT /", vec![Reply::ok("put {n}")])
            .get("/").body("v1").stored().origin(1)
            .send("PUT", "/").status(200).body("put 1").fwd("method").fwd_status(200).origin(2),
        case(&[5, 7, 10], "9111 §5.2.2.4: a no-cache response is validated before every reuse")
            .script(vec![cc("max-age=60, no-cache").header("etag", "\"e\"").not_modified(&[])])
            .get("/").body("v1").origin(1)
            .get("/").status(200).body("v1").not_hit().fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"e\"".into()))
            .get("/").status(200).body("v1").not_hit().origin(3),
        case(&[5], "9111 §5.2.2.4: a no-cache response without validators is fetched anew every time")
            .script(vec![cc("max-age=60, no-cache")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[5, 10], "9111 §5.2.1.4: request no-cache makes the cache validate a fresh response")
            .script(vec![cc("max-age=60").header("etag", "\"e\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(200).body("v1").not_hit().fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"e\"".into())),
        case(&[5], "9111 §5.2.1.4: request no-cache without validators fetches and stores a new response")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").body("v2").fwd("request").fwd_status(200).stored().origin(2)
            .get("/").body("v2").hit().origin(2),
        case(&[5], "9111 §5.4: Pragma: no-cache without Cache-Control acts as request no-cache")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("pragma", "no-cache").body("v2").not_hit().origin(2),
        case(&[5], "9111 §5.4: Pragma is ignored when the request has Cache-Control")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("pragma", "no-cache").h("cache-control", "no-transform").body("v1").hit().origin(1),
        case(&[5], "9111 §4: the query is part of the target URI: another query is another response")
            .route("/q", vec![cc("max-age=60")])
            .get("/q?a=1").body("v1").stored().origin(1)
            .get("/q?a=2").body("v2").fwd("uri-miss").origin(2)
            .get("/q?a=1").body("v1").hit().origin(2),
        case(&[5], "9111 §5.2: Cache-Control and other end-to-end fields reach the client on a miss and a hit")
            .script(vec![cc("max-age=60, x-extension").header("x-custom", "kept")])
            .get("/").hdr("cache-control", "max-age=60, x-extension").hdr("x-custom", "kept").origin(1)
            .get("/").hit().hdr("cache-control", "max-age=60, x-extension").hdr("x-custom", "kept").origin(1),
        case(&[5], "9111 §5.2: request cache directives are passed on to the origin")
            .script(vec![cc("max-age=60")])
            .get("/").h("cache-control", "max-stale=5, x-extension").body("v1").origin(1)
            .origin_request(1, "cache-control", Check::Is("max-stale=5, x-extension".into())),
        // ---- Rule 6: freshness (RFC 9111 §4.2, §5.3) ------------------------------------------
        case(&[6], "9111 §4.2.1: s-maxage overrides a shorter max-age in a shared cache")
            .script(vec![cc("max-age=0, s-maxage=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[6], "9111 §4.2.1: s-maxage overrides a longer max-age in a shared cache")
            .script(vec![cc("max-age=60, s-maxage=1")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §5.3: max-age overrides an Expires in the past")
            .script(vec![cc("max-age=60").header("date", "{now}").header("expires", "{now-60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §5.3: max-age overrides an Expires in the future")
            .script(vec![cc("max-age=1").header("date", "{now}").header("expires", "{now+3600}")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §5.3: s-maxage overrides an Expires in the past")
            .script(vec![cc("s-maxage=60").header("date", "{now}").header("expires", "{now-60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §4.2.1: Expires minus Date is the freshness lifetime")
            .script(vec![reply().header("date", "{now}").header("expires", "{now+60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).age(0, 1).origin(1),
        case(&[6], "9111 §4.2.1: a response is stale once Expires is reached")
            .script(vec![reply().header("date", "{now}").header("expires", "{now+1}")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §4.2.1: without Date, Expires is measured from the response time")
            .script(vec![reply().header("expires", "{now+60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(57, 60).origin(1),
        case(&[6], "9111 §5.3: an Expires in the past means already stale")
            .script(vec![reply().header("date", "{now}").header("expires", "{now-60}")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6, 14], "9111 §5.3: an invalid Expires (\"0\") means already expired")
            .script(vec![reply().header("expires", "0")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6, 14], "9111 §5.3: an unparsable Expires is in the past: never reused without the origin")
            .script(vec![reply().header("expires", "next tuesday").header("etag", "\"e\"").not_modified(&[])])
            .get("/").status(200).body("v1").origin(1)
            .get("/").status(200).not_hit().origin(2),
        case(&[6], "9111 §5.3: a far-future Expires (year 9999) is fresh")
            .script(vec![reply().header("date", "{now}").header("expires", "Fri, 31 Dec 9999 23:59:59 GMT")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6, 14], "9111 §4.2: an Expires with a zone other than GMT is invalid, so stale")
            .script(vec![reply().header("date", "{now}").header("expires", "Thu, 01 Dec 2094 16:00:00 PST")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9110 §5.6.7: an Expires in the obsolete RFC 850 format is understood")
            .script(vec![reply().header("date", "{now}").header("expires", "{rfc850:now+60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[6], "9110 §5.6.7: an Expires in the obsolete asctime format is understood")
            .script(vec![reply().header("date", "{now}").header("expires", "{asctime:now+60}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[6, 14], "9111 §4.2.1: an invalid max-age makes the response stale")
            .script(vec![cc("max-age=abc")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6, 14], "9111 §5.3: an invalid max-age is not replaced by a future Expires")
            .script(vec![cc("max-age=1.5").header("date", "{now}").header("expires", "{now+3600}")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6, 14], "9111 §1.2.2: a max-age beyond 2^31 is read as 2147483648 seconds")
            .script(vec![cc("max-age=99999999999999999999")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(2_147_483_647, 2_147_483_648).origin(1),
        case(&[6], "9111 §4.2.1: with duplicate max-age the response is never fresher than the first says")
            .script(vec![cc("max-age=1, max-age=3600")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §5.2: directive names are case-insensitive")
            .script(vec![cc("Public, MAX-AGE=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[6], "9111 §5.2: a quoted-string argument is accepted")
            .script(vec![cc("max-age=\"60\"")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[6], "9111 §5.2.3: unknown directives are ignored")
            .script(vec![cc("x-ext, community=\"UCI\", max-age=60, x-other=1")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §5.2: Cache-Control over several field lines is combined")
            .script(vec![cc("public").header("cache-control", "max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(58, 60).origin(1),
        case(&[1, 6], "9111 §5.2: no-store on a second Cache-Control line still forbids storing")
            .script(vec![cc("max-age=60").header("cache-control", "no-store")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        // ---- Age arithmetic and Date edge cases (RFC 9111 §4.2.3, §5.1) -----------------------
        case(&[6], "9111 §4.2.3: an old Date makes a response stale on arrival")
            .script(vec![cc("max-age=60").header("date", "{now-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §4.2.3: the apparent age from Date counts in Age and ttl")
            .script(vec![cc("max-age=60").header("date", "{now-10}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(10, 11).ttl(49, 50).origin(1),
        case(&[6], "9111 §4.2.3: a Date in the future gives an apparent age of zero")
            .script(vec![cc("max-age=60").header("date", "{now+3600}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).ttl(59, 60).origin(1),
        case(&[6], "9111 §4.2.1: Date and Expires both in the future: the lifetime is their difference")
            .script(vec![reply().header("date", "{now+3600}").header("expires", "{now+3660}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(59, 60).origin(1),
        case(&[6], "9111 §4.2.3: an upstream Age counts against max-age")
            .script(vec![cc("max-age=51").header("age", "50")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(50, 51).ttl(0, 1).origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §4.2.3: an Age beyond the lifetime makes the response stale on arrival")
            .script(vec![cc("max-age=60").header("age", "120")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[6], "9111 §4.2.3: the corrected initial age is the apparent age when it is larger than Age")
            .script(vec![cc("max-age=60").header("date", "{now-20}").header("age", "5")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().age(20, 21).origin(1),
        case(&[6], "9111 §4.2.3: the corrected initial age is Age when it is larger than the apparent age")
            .script(vec![cc("max-age=60").header("date", "{now-5}").header("age", "20")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().age(20, 21).origin(1),
        case(&[6], "9111 §5.1: of several Age field lines only the first is used")
            .script(vec![cc("max-age=60").header("age", "10").header("age", "50")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().age(10, 11).origin(1),
        // RFC 9111 §5.1 as published: the first member of a list-based Age is used, and an
        // invalid value is ignored (the response is as fresh as without it).
        case(&[6, 14], "9111 §5.1: an invalid (non-numeric) Age is ignored")
            .script(vec![cc("max-age=60").header("age", "abc")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).ttl(58, 60).origin(1),
        case(&[6, 14], "9111 §5.1: a negative Age is invalid, so ignored")
            .script(vec![cc("max-age=60").header("age", "-5")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).origin(1),
        case(&[6, 14], "9111 §5.1: a fractional Age is invalid, so ignored")
            .script(vec![cc("max-age=60").header("age", "5.5")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).origin(1),
        case(&[6, 14], "9111 §5.1: an Age with a sign prefix is invalid, so ignored")
            .script(vec![cc("max-age=60").header("age", "+30")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).origin(1),
        case(&[6, 14], "9111 §5.1: of a list-based Age only the first member is used")
            .script(vec![cc("max-age=60").header("age", "10, 50")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(10, 11).ttl(49, 50).origin(1),
        case(&[6, 14], "9111 §5.1: an invalid first member makes the whole Age ignored, not the next one")
            .script(vec![cc("max-age=60").header("age", "x, 50")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().age(0, 1).origin(1),
        case(&[6, 14], "9111 §1.2.2: an Age beyond 2^31 is capped and makes the response stale, never an error")
            .script(vec![cc("max-age=60").header("age", "99999999999999999999")])
            .get("/").status(200).body("v1").origin(1)
            .get("/").status(200).body("v2").not_hit().origin(2),
        // ---- Rule 7: serving stale (RFC 9111 §4.2.4) ------------------------------------------
        // Some cases give the stale response a stale-if-error window as well; it changes nothing
        // unless the origin fails.
        case(&[7], "9111 §4.2.4: a stale response is not served without validation")
            .script(vec![cc("max-age=1")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().fwd_status(200).stored().origin(2)
            .get("/").body("v2").hit().origin(2),
        case(&[7], "9111 §5.2.1.2: max-stale without a value accepts any staleness")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("age", "1000")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v1").hit().ttl(-941, -940).age(1000, 1001).origin(1),
        case(&[7], "9111 §5.2.1.2: max-stale accepts a stale response that carries no stale-* extension")
            .script(vec![cc("max-age=60").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v1").hit().origin(1),
        case(&[7], "9111 §5.2.1.2: max-stale=N accepts a response stale by less than N")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale=60").body("v1").hit().origin(1),
        case(&[7], "9111 §5.2.1.2: max-stale=N refuses a response stale by more than N")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale=10").body("v2").fwd("stale").fwd_status(200).origin(2),
        case(&[7], "9111 §5.2.2.2: must-revalidate forbids serving stale, even with max-stale")
            .script(vec![cc("max-age=60, must-revalidate, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v2").not_hit().origin(2),
        case(&[7], "9111 §5.2.2.8: proxy-revalidate forbids a shared cache to serve stale, even with max-stale")
            .script(vec![cc("max-age=60, proxy-revalidate, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v2").not_hit().origin(2),
        case(&[7], "9111 §5.2.2.10: s-maxage forbids serving stale, even with max-stale")
            .script(vec![cc("s-maxage=60, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v2").not_hit().origin(2),
        case(&[7], "9111 §5.2.2.4: a no-cache response is not served without validation, even with max-stale")
            .script(vec![cc("max-age=60, no-cache")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v2").not_hit().origin(2),
        case(&[7, 8], "9111 §5.2.2.2: a request's stale-if-error does not serve a stale must-revalidate response")
            .script(vec![cc("max-age=60, must-revalidate").header("age", "100"), status(500, "broken")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "stale-if-error=3600").status(500).body("broken").origin(2),
        case(&[7, 8], "9111 §5.2.2.8: a request's stale-if-error does not serve a stale proxy-revalidate response")
            .script(vec![cc("max-age=60, proxy-revalidate").header("age", "100"), status(503, "broken")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "stale-if-error=3600").status(503).body("broken").origin(2),
        case(&[7, 8], "9111 §5.2.2.10: a request's stale-if-error does not serve a stale s-maxage response")
            .script(vec![cc("s-maxage=60").header("age", "100"), status(502, "broken")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "stale-if-error=3600").status(502).body("broken").origin(2),
        case(&[7, 8], "9111 §5.2.2.4: a request's stale-if-error does not serve a no-cache response unvalidated")
            .script(vec![cc("max-age=60, no-cache"), status(500, "broken")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "stale-if-error=3600").status(500).body("broken").origin(2),
        case(&[7, 8], "9111 §5.2.2.2: a disconnected cache ignores a request's stale-if-error for a must-revalidate response")
            .script(vec![cc("max-age=60, must-revalidate").header("age", "100")])
            .get("/").body("v1").stored().origin(1)
            .stop_origin()
            .get("/").h("cache-control", "stale-if-error=3600").server_error().body_not("v1").not_hit(),
        case(&[7, 8], "9111 §4.2.4: a request's stale-if-error still serves a stale response that allows it")
            .script(vec![cc("max-age=60").header("age", "100"), status(500, "broken")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "stale-if-error=3600").status(200).body("v1").fwd("stale").fwd_status(500).origin(2),
        case(&[7], "9111 §5.2.2.2: a disconnected cache answers an error rather than a stale must-revalidate response")
            .script(vec![cc("max-age=1, must-revalidate")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .stop_origin()
            .get("/").server_error().body_not("v1").not_hit(),
        case(&[7], "9111 §4.2.4: a disconnected cache serves a stale response within the proxy's stale-on-failure window")
            .script(vec![cc("max-age=1")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .stop_origin()
            .get("/").status(200).body("v1").fwd("stale").fwd_status(504).detail("stale-if-error"),
        // ---- Rule 8: stale-while-revalidate and stale-if-error (RFC 5861) ---------------------
        case(&[8], "5861 §3: stale-while-revalidate serves the stale response at once and refreshes it in the background")
            .script(vec![
                cc("max-age=1, stale-while-revalidate=30"),
                cc("max-age=60, stale-while-revalidate=30").delay(Duration::from_millis(600)),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").hit().within_ms(400)
            .origin_within(2, 1000)
            .settle()
            .get("/").body("v2").hit().ttl(58, 60).origin(2),
        case(&[8], "5861 §3: requests during a background refresh are served stale and start no other refresh")
            .script(vec![
                cc("max-age=1, stale-while-revalidate=30"),
                cc("max-age=60, stale-while-revalidate=30").delay(Duration::from_millis(600)),
            ])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").hit().within_ms(400)
            .get("/").status(200).body("v1").hit().within_ms(400).concurrently(5, 0)
            .settle()
            .origin_now(2)
            .get("/").body("v2").hit().origin(2),
        case(&[8, 10], "5861 §3: the background refresh revalidates with the stored validators")
            .script(vec![
                cc("max-age=1, stale-while-revalidate=30")
                    .header("etag", "\"e\"")
                    .not_modified(&[("cache-control", "max-age=60")]),
            ])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").body("v1").hit().origin_within(2, 1000)
            .origin_request(2, "if-none-match", Check::Is("\"e\"".into()))
            .settle()
            .get("/").body("v1").hit().ttl(57, 60).origin(2),
        case(&[8], "5861 §3: past the stale-while-revalidate window the request waits for the origin")
            .script(vec![cc("max-age=60, stale-while-revalidate=10").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[8], "5861 §4: stale-if-error serves the stale response when the origin is unreachable")
            .script(vec![cc("max-age=1, stale-if-error=60")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .stop_origin()
            .get("/").status(200).body("v1").fwd("stale").has_hdr("age"),
        case(&[8], "5861 §4: a request's stale-if-error allows serving stale on an error")
            .script(vec![cc("max-age=1"), status(500, "broken")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").h("cache-control", "stale-if-error=60").status(200).body("v1").fwd("stale").fwd_status(500).origin(2),
        case(&[8], "5861 §4: past the stale-if-error window the error is passed on")
            .script(vec![cc("max-age=60, stale-if-error=10").header("age", "100"), status(500, "broken")])
            .get("/").body("v1").origin(1)
            .get("/").status(500).body("broken").origin(2),
        case(&[8], "9111 §4.2.4: without stale-if-error a 500 is answered stale within the proxy's stale-on-failure window")
            .script(vec![cc("max-age=1"), status(500, "broken")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(500).origin(2),
        case(&[8], "5861 §4: a 404 is not an error that allows serving stale")
            .script(vec![cc("max-age=1, stale-if-error=60"), status(404, "gone")])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(404).body("gone").origin(2),
        // ---- Rule 9: invalidation (RFC 9111 §4.4) ---------------------------------------------
        case(&[9], "9111 §4.4: a 3xx response to POST invalidates the target URI")
            .script(vec![cc("max-age=60")])
            .route("POST /", vec![status(303, "see other").header("location", "/elsewhere")])
            .get("/").body("v1").stored().origin(1)
            .send("POST", "/").status(303).origin(2)
            .settle()
            .get("/").body("v2").fwd("uri-miss").origin(3),
        case(&[9], "9111 §4.4: an error response (500) to POST does not invalidate")
            .script(vec![cc("max-age=60")])
            .route("POST /", vec![status(500, "failed")])
            .get("/").body("v1").stored().origin(1)
            .send("POST", "/").status(500).origin(2)
            .settle()
            .get("/").body("v1").hit().origin(2),
        case(&[9], "9111 §4.4: an error response (404) to DELETE does not invalidate")
            .script(vec![cc("max-age=60")])
            .route("DELETE /", vec![status(404, "no such thing")])
            .get("/").body("v1").stored().origin(1)
            .send("DELETE", "/").status(404).origin(2)
            .settle()
            .get("/").body("v1").hit().origin(2),
        case(&[9], "9111 §4.4: a safe method (OPTIONS) does not invalidate")
            .script(vec![cc("max-age=60")])
            .route("OPTIONS /", vec![Reply::ok("options")])
            .get("/").body("v1").stored().origin(1)
            .send("OPTIONS", "/").status(200).body("options").origin(2)
            .settle()
            .get("/").body("v1").hit().origin(2),
        case(&[9], "9111 §4.4: a same-origin Location (relative) is invalidated")
            .route("/a", vec![cc("max-age=60")])
            .route("/b", vec![cc("max-age=60")])
            .route("POST /a", vec![status(201, "created").header("location", "/b")])
            .get("/a").body("v1").stored().origin(1)
            .get("/b").body("v1").stored().origin(2)
            .send("POST", "/a").status(201).origin(3)
            .settle()
            .get("/b").body("v2").fwd("uri-miss").origin(4)
            .get("/a").body("v2").fwd("uri-miss").origin(5),
        case(&[9], "9111 §4.4: a same-origin Location (absolute URI) is invalidated")
            .route("/a", vec![cc("max-age=60")])
            .route("/b", vec![cc("max-age=60")])
            .route("POST /a", vec![status(201, "created").header("location", "http://{host}/b")])
            .get("/b").body("v1").stored().origin(1)
            .send("POST", "/a").status(201).origin(2)
            .settle()
            .get("/b").body("v2").fwd("uri-miss").origin(3),
        case(&[9], "9111 §4.4: a same-origin Content-Location is invalidated")
            .route("/a", vec![cc("max-age=60")])
            .route("/b", vec![cc("max-age=60")])
            .route("PUT /a", vec![Reply::ok("updated").header("content-location", "/b")])
            .get("/b").body("v1").stored().origin(1)
            .send("PUT", "/a").status(200).origin(2)
            .settle()
            .get("/b").body("v2").fwd("uri-miss").origin(3),
        case(&[9], "9111 §4.4: a Location on another origin is not invalidated")
            .route("/b", vec![cc("max-age=60")])
            .route("POST /a", vec![status(201, "created").header("location", "http://victim.example/b")])
            .get("/b").h("host", "victim.example").body("v1").stored().origin(1)
            .send("POST", "/a").h("host", "attacker.example").status(201).origin(2)
            .settle()
            .get("/b").h("host", "victim.example").body("v1").hit().origin(2),
        case(&[4, 9], "9111 §4.4: invalidation removes every stored variant of the URI")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .route("POST /", vec![Reply::ok("posted")])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "fr").body("v2").origin(2)
            .get("/").h(AL, "fr").body("v2").hit().origin(2)
            .send("POST", "/").status(200).origin(3)
            .settle()
            .get("/").h(AL, "en").body("v3").not_hit().origin(4)
            .get("/").h(AL, "fr").body("v4").not_hit().origin(5),
        case(&[9], "9111 §4.4: invalidation is limited to the target URI, query included")
            .route("/q", vec![cc("max-age=60")])
            .route("POST /q", vec![Reply::ok("posted")])
            .get("/q?x=1").body("v1").origin(1)
            .get("/q?x=2").body("v2").origin(2)
            .send("POST", "/q?x=1").status(200).origin(3)
            .settle()
            .get("/q?x=1").body("v3").fwd("uri-miss").origin(4)
            .get("/q?x=2").body("v2").hit().origin(4),
        // ---- Rule 10: validation (RFC 9111 §4.3, RFC 9110 §13) --------------------------------
        // As above, stale-if-error=60 keeps the stale response stored so that it can be revalidated.
        case(&[10], "9111 §4.3.1: a stale response with an ETag is revalidated with If-None-Match")
            .script(vec![cc("max-age=1, stale-if-error=60").header("etag", "\"v1\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"v1\"".into()))
            .get("/").body("v1").hit().ttl(58, 60).origin(2),
        case(&[10], "9111 §4.3: a stale response with a validator stays stored and is revalidated, without any stale-* extension")
            .script(vec![cc("max-age=1").header("etag", "\"v1\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"v1\"".into())),
        case(&[13], "9211 §2.2: a revalidation that the request asked for (no-cache) says fwd=request")
            .script(vec![cc("max-age=60").header("etag", "\"e\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(200).body("v1").fwd("request").fwd_status(304).origin(2),
        case(&[10], "9111 §4.3.1: a stale response with Last-Modified is revalidated with If-Modified-Since")
            .script(vec![
                cc("max-age=1, stale-if-error=60").header("last-modified", "{start-3600}").not_modified(&[("cache-control", "max-age=60")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(304).origin(2)
            .origin_request(2, "if-modified-since", Check::Is("{start-3600}".into()))
            .origin_request(2, "if-none-match", Check::Absent)
            .get("/").body("v1").hit().origin(2),
        case(&[10], "9111 §4.3.1: both validators are sent when both are stored")
            .script(vec![
                cc("max-age=1, stale-if-error=60")
                    .header("etag", "\"v1\"")
                    .header("last-modified", "{start-3600}")
                    .not_modified(&[("cache-control", "max-age=60")]),
            ])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"v1\"".into()))
            .origin_request(2, "if-modified-since", Check::Is("{start-3600}".into())),
        case(&[10], "9111 §4.3.1: a weak ETag is sent as stored, and its 304 validates")
            .script(vec![cc("max-age=1, stale-if-error=60").header("etag", "W/\"w1\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd_status(304).origin(2)
            .origin_request(2, "if-none-match", Check::Is("W/\"w1\"".into())),
        case(&[10], "9111 §4.3.4: a 304 updates the stored header fields")
            .script(vec![
                cc("max-age=1, stale-if-error=60")
                    .header("etag", "\"e\"")
                    .header("x-version", "1")
                    .not_modified(&[("cache-control", "max-age=60"), ("x-version", "2")]),
            ])
            .get("/").body("v1").hdr("x-version", "1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").hdr("x-version", "2").hdr("cache-control", "max-age=60").origin(2)
            .get("/").body("v1").hit().hdr("x-version", "2").hdr("cache-control", "max-age=60").ttl(58, 60).origin(2),
        case(&[10, 11], "9111 §5.2.2.7: private=\"field\" on a revalidating 304: the field is not stored")
            .script(vec![
                cc("max-age=60")
                    .header("etag", "\"e\"")
                    .not_modified(&[("cache-control", "max-age=60, private=\"x-user\""), ("x-user", "alice")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(200).body("v1").fwd("request").fwd_status(304).hdr("x-user", "alice").origin(2)
            .get("/").body("v1").hit().no_hdr("x-user").hdr("cache-control", "max-age=60, private=\"x-user\"").origin(2),
        case(&[10, 11], "9111 §5.2.2.4: no-cache=\"field\" on a revalidating 304: the field is not stored")
            .script(vec![
                cc("max-age=60")
                    .header("etag", "\"e\"")
                    .not_modified(&[("cache-control", "max-age=60, no-cache=\"x-secret\""), ("x-secret", "s2")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(200).body("v1").fwd_status(304).origin(2)
            .get("/").body("v1").hit().no_hdr("x-secret").origin(2),
        case(&[10], "9111 §4.3.4: a 304 whose strong ETag differs from the stored one does not update it")
            .script(vec![
                cc("max-age=60")
                    .header("etag", "\"v1\"")
                    .header("x-version", "1")
                    .not_modified(&[("cache-control", "max-age=600"), ("etag", "\"other\""), ("x-version", "2")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(304).fwd_status(304).not_stored().detail("validator-mismatch").origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"v1\"".into()))
            .get("/").status(200).body("v3").hdr("x-version", "1").not_hit().origin(3),
        case(&[10], "9111 §4.3.4: a 304 whose Last-Modified differs from the stored one does not update it")
            .script(vec![
                cc("max-age=60")
                    .header("last-modified", "{start-3600}")
                    .not_modified(&[("cache-control", "max-age=600"), ("last-modified", "{start-60}"), ("x-version", "2")]),
            ])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-cache").status(304).not_stored().detail("validator-mismatch").origin(2)
            .get("/").status(200).body("v3").no_hdr("x-version").not_hit().origin(3),
        case(&[10], "9111 §4.3.4: a 304 with the stored weak ETag updates the stored response")
            .script(vec![
                cc("max-age=60")
                    .header("etag", "W/\"w\"")
                    .not_modified(&[("cache-control", "max-age=600"), ("x-version", "2")]),
            ])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "no-cache").status(200).body("v1").fwd_status(304).stored().origin(2)
            .get("/").body("v1").hit().hdr("x-version", "2").ttl(598, 600).origin(2),
        case(&[10], "9111 §3.2: a 304 keeps the stored fields it does not mention, and the stored body")
            .script(vec![
                cc("max-age=1, stale-if-error=60")
                    .header("etag", "\"e\"")
                    .header("content-type", "text/x-kept")
                    .header("x-kept", "yes")
                    .not_modified(&[("cache-control", "max-age=60")]),
            ])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").hdr("x-kept", "yes").hdr("content-type", "text/x-kept").origin(2)
            .get("/").body("v1").hit().hdr("x-kept", "yes").hdr("content-type", "text/x-kept").hdr("content-length", "2").origin(2),
        case(&[10], "9111 §4.3.3: a 200 in answer to a revalidation replaces the stored response")
            .script(vec![
                cc("max-age=1, stale-if-error=60").header("etag", "\"v1\""),
                cc("max-age=60").header("etag", "\"v2\""),
            ])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").hdr("etag", "\"v2\"").fwd("stale").fwd_status(200).stored().origin(2)
            .origin_request(2, "if-none-match", Check::Is("\"v1\"".into()))
            .get("/").body("v2").hdr("etag", "\"v2\"").hit().origin(2),
        case(&[10], "9111 §4.3.2: a fresh hit answers a matching If-None-Match with 304")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"abc\"").status(304).body("").hit().hdr("etag", "\"abc\"").origin(1),
        case(&[10], "9110 §13.1.2: If-None-Match uses the weak comparison (W/ tag against a strong stored tag)")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "W/\"abc\"").status(304).body("").origin(1),
        case(&[10], "9110 §13.1.2: If-None-Match uses the weak comparison (strong tag against a weak stored tag)")
            .script(vec![cc("max-age=60").header("etag", "W/\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"abc\"").status(304).body("").hdr("etag", "W/\"abc\"").origin(1),
        case(&[10], "9110 §13.1.2: a non-matching If-None-Match gets the full stored response")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"zzz\"").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §13.1.2: If-None-Match with a list matches any member")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"x\", \"abc\", \"y\"").status(304).origin(1),
        case(&[10], "9110 §13.1.2: If-None-Match: * matches a stored response")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "*").status(304).origin(1),
        case(&[10], "9110 §13.1.2: If-None-Match: * is not answered with 304 from a stored 404")
            .script(vec![status(404, "gone {n}").header("cache-control", "max-age=60")])
            .get("/").status(404).body("gone 1").stored().origin(1)
            .get("/").h("if-none-match", "*").status(404).body("gone 1").hit().origin(1),
        case(&[10], "9110 §13.2.1: a stored 404 with a matching ETag is not answered with 304")
            .script(vec![status(404, "gone {n}").header("cache-control", "max-age=60").header("etag", "\"g\"")])
            .get("/").status(404).body("gone 1").origin(1)
            .get("/").h("if-none-match", "\"g\"").status(404).body("gone 1").hit().origin(1),
        case(&[10], "9110 §13.2.1: a stored 410 ignores If-Modified-Since")
            .script(vec![status(410, "gone {n}").header("cache-control", "max-age=60").header("date", "{now-10}")])
            .get("/").status(410).body("gone 1").origin(1)
            .get("/").h("if-modified-since", "{now}").status(410).body("gone 1").hit().origin(1),
        case(&[10], "9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since (no match: 200)")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"").header("last-modified", "{start-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"zzz\"").h("if-modified-since", "{now}").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since (match: 304)")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"").header("last-modified", "{start-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"abc\"").h("if-modified-since", "{start-7200}").status(304).origin(1),
        case(&[10], "9110 §13.1.3: If-Modified-Since at or after Last-Modified gets 304 from the cache")
            .script(vec![cc("max-age=60").header("last-modified", "{start-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "{start-3600}").status(304).body("").hit().origin(1),
        case(&[10], "9110 §13.1.3: If-Modified-Since before Last-Modified gets the full response")
            .script(vec![cc("max-age=60").header("last-modified", "{start-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "{start-7200}").status(200).body("v1").hit().origin(1),
        case(&[10], "9111 §4.3.2: without Last-Modified, If-Modified-Since is compared with Date")
            .script(vec![cc("max-age=60").header("date", "{now-10}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "{now}").status(304).origin(1)
            .get("/").h("if-modified-since", "{now-3600}").status(200).body("v1").origin(1),
        case(&[10, 14], "9110 §13.1.3: an invalid If-Modified-Since is ignored")
            .script(vec![cc("max-age=60").header("last-modified", "{start-3600}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "yesterday").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §15.4.5: a 304 from the cache carries the fields the 200 would")
            .script(vec![
                cc("max-age=60")
                    .header("etag", "\"abc\"")
                    .header("expires", "{now+60}")
                    .header("vary", AL)
                    .header("content-location", "/x")
                    .header("date", "{now}"),
            ])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "en").h("if-none-match", "\"abc\"").status(304).hit()
            .hdr("etag", "\"abc\"").hdr("cache-control", "max-age=60").hdr("vary", AL).hdr("content-location", "/x")
            .has_hdr("expires").has_hdr("date").origin(1),
        case(&[10], "9111 §4.3.2: If-Match is for the origin: the request goes there")
            .script(vec![cc("max-age=60").header("etag", "\"abc\""), status(412, "precondition failed")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-match", "\"zzz\"").status(412).origin(2),
        case(&[10], "9111 §4.3.2: If-Unmodified-Since is for the origin: the request goes there")
            .script(vec![cc("max-age=60").header("last-modified", "{start-3600}"), status(412, "precondition failed")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-unmodified-since", "{start-7200}").status(412).origin(2),
        case(&[10], "9111 §4.3.2: a conditional request on a miss goes to the origin, and its 304 is not stored")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").h("if-none-match", "\"abc\"").status(304).fwd("uri-miss").fwd_status(304).not_stored().origin(1)
            .origin_request(1, "if-none-match", Check::Is("\"abc\"".into()))
            .get("/").status(200).body("v2").fwd("uri-miss").origin(2),
        case(&[10], "9111 §4.3.2: revalidating for a client whose tag does not match: a 304 from the origin becomes a 200")
            .script(vec![cc("max-age=1, stale-if-error=60").header("etag", "\"v1\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").h("if-none-match", "\"other\"").status(200).body("v1").origin(2)
            .origin_request(2, "if-none-match", Check::Contains("\"v1\"".into())),
        case(&[10], "9111 §4.3.2: revalidating for a client whose tag matches: the client gets 304")
            .script(vec![cc("max-age=1, stale-if-error=60").header("etag", "\"v1\"").not_modified(&[("cache-control", "max-age=60")])])
            .get("/").body("v1").origin(1)
            .sleep_ms(1100)
            .get("/").h("if-none-match", "\"v1\"").status(304).body("").hdr("etag", "\"v1\"").origin(2),
        // ---- Rule 11: stored header fields (RFC 9111 §3.1, RFC 9110 §7.6.1) -------------------
        case(&[11], "9110 §7.6.1: fields named by Connection are neither stored nor replayed")
            .script(vec![
                cc("max-age=60").header("connection", "x-hop").header("x-hop", "secret").header("x-kept", "1"),
            ])
            .get("/").body("v1").no_hdr("x-hop").origin(1)
            .get("/").body("v1").hit().no_hdr("x-hop").hdr("x-kept", "1").origin(1),
        case(&[11], "9110 §7.6.1: the hop-by-hop Keep-Alive field is neither stored nor replayed")
            .script(vec![cc("max-age=60").header("keep-alive", "timeout=5")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().no_hdr("keep-alive").origin(1),
        case(&[11], "9111 §3.1: Proxy-Authenticate is not stored")
            .script(vec![cc("max-age=60").header("proxy-authenticate", "Basic realm=\"p\"")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().no_hdr("proxy-authenticate").origin(1),
        case(&[11], "9111 §3.1: Proxy-Authentication-Info is not stored")
            .script(vec![cc("max-age=60").header("proxy-authentication-info", "nextnonce=\"x\"")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().no_hdr("proxy-authentication-info").origin(1),
        case(&[11], "9111 §3.1: unrecognised header fields are stored and replayed, every field line")
            .script(vec![cc("max-age=60").header("x-custom", "a").header("x-custom", "b").header("x-single", "s")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().hdr("x-custom", "a, b").hdr("x-single", "s").origin(1),
        case(&[11], "9111 §5.2.2.4: no-cache=\"field\": the named field is not reused without revalidation")
            .script(vec![cc("max-age=60, no-cache=\"x-secret\"").header("x-secret", "s1").header("x-public", "p")])
            .get("/").body("v1").hdr("x-secret", "s1").stored().origin(1)
            .get("/").body("v1").hit().no_hdr("x-secret").hdr("x-public", "p").origin(1),
        case(&[11], "9111 §5.2.2.4: no-cache with several field names: none of them is reused")
            .script(vec![cc("max-age=60, no-cache=\"x-a, x-b\"").header("x-a", "1").header("x-b", "2").header("x-c", "3")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().no_hdr("x-a").no_hdr("x-b").hdr("x-c", "3").origin(1),
        case(&[11], "9111 §5.2.2.7: private=\"field\": a shared cache stores the response without that field")
            .script(vec![cc("max-age=60, private=\"x-user\"").header("x-user", "alice").header("x-public", "p")])
            .get("/").body("v1").hdr("x-user", "alice").stored().origin(1)
            .get("/").body("v1").hit().no_hdr("x-user").hdr("x-public", "p").origin(1),
        case(&[3, 11], "9111 §5.2.2.7: private=\"set-cookie\": the cookie is never replayed to another client")
            .script(vec![cc("max-age=60, private=\"set-cookie\"").header("set-cookie", "sid=alice"), cc("max-age=60")])
            .get("/").body("v1").hdr("set-cookie", "sid=alice").origin(1)
            .get("/").status(200).no_hdr("set-cookie"),
        // ---- Rule 12: targeted Cache-Control (RFC 9213) ---------------------------------------
        case(&[12], "9213 §2.2: CDN-Cache-Control overrides Cache-Control, and both pass through")
            .script(vec![cc("no-store").header("cdn-cache-control", "max-age=60")])
            .get("/").body("v1").stored().hdr("cache-control", "no-store").hdr("cdn-cache-control", "max-age=60").origin(1)
            .get("/").body("v1").hit().ttl(58, 60).hdr("cache-control", "no-store").hdr("cdn-cache-control", "max-age=60").origin(1),
        case(&[12], "9213 §2.2: CDN-Cache-Control no-store overrides a storable Cache-Control")
            .script(vec![cc("max-age=60").header("cdn-cache-control", "no-store")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[12], "9213 §2.2: a CDN-Cache-Control max-age wins over a longer Cache-Control max-age")
            .script(vec![cc("max-age=60").header("cdn-cache-control", "max-age=1")])
            .get("/").body("v1").origin(1)
            .get("/").body("v1").hit().origin(1)
            .sleep_ms(1100)
            .get("/").body("v2").not_hit().origin(2),
        case(&[12], "9213 §2.2: a targeted field replaces Expires too")
            .script(vec![reply().header("cdn-cache-control", "public").header("date", "{now}").header("expires", "{now+60}")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[12], "9213 §2.1: an invalid CDN-Cache-Control is ignored and Cache-Control applies")
            .script(vec![cc("max-age=60").header("cdn-cache-control", "max-age=60, no-store=\"unterminated")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[12], "9213 §2.1: an invalid CDN-Cache-Control does not make a no-store response storable")
            .script(vec![cc("no-store").header("cdn-cache-control", "max-age=60,,")])
            .get("/").body("v1").not_stored().origin(1)
            .get("/").body("v2").origin(2),
        case(&[12], "9213 §2.2: an empty CDN-Cache-Control is ignored and Cache-Control applies")
            .script(vec![cc("max-age=60").header("cdn-cache-control", "")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[12], "9213 §2.2: CDN-Cache-Control must-revalidate forbids serving stale with max-stale")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("cdn-cache-control", "max-age=60, must-revalidate").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-stale").body("v2").not_hit().origin(2),
        // ---- Rule 13: Cache-Status (RFC 9211) -------------------------------------------------
        case(&[13], "9211 §2: the cache appends its member after an upstream member, on a miss and a hit")
            .script(vec![cc("max-age=60").header("cache-status", "upstream; fwd=uri-miss")])
            .get("/").body("v1").header("cache-status", Check::StartsWith("upstream; fwd=uri-miss, cachefront".into())).origin(1)
            .get("/").body("v1").hit().header("cache-status", Check::StartsWith("upstream".into())).origin(1),
        case(&[13], "9211 §2.2: a cache that cannot use its stored response says fwd=stale with fwd-status")
            .script(vec![cc("max-age=1, stale-if-error=60")])
            .get("/").stored_miss().no_age().origin(1)
            .sleep_ms(1100)
            .get("/").fwd("stale").fwd_status(200).stored().origin(2),
        case(&[13], "9211 §2.2: a method the cache does not handle says fwd=method")
            .script(vec![cc("max-age=60")])
            .send("DELETE", "/").status(200).fwd("method").fwd_status(200).not_stored().origin(1),
        case(&[13], "9211 §2.6: concurrent misses are collapsed into one request to the origin")
            .script(vec![cc("max-age=60").delay(Duration::from_millis(500))])
            .get("/").status(200).body("v1").concurrently(5, 1)
            .origin_now(1)
            .get("/").body("v1").hit().origin(1),
        case(&[13], "9211 §2.4: ttl on a hit is the freshness left, consistent with Age")
            .script(vec![cc("max-age=100").header("age", "40")])
            .get("/").origin(1)
            .get("/").hit().ttl(59, 60).age(40, 41).origin(1),
        // ---- Request directives (RFC 9111 §5.2.1) ---------------------------------------------
        case(&[1, 5], "9111 §5.2.1.5: request no-store: the response is not stored")
            .script(vec![cc("max-age=60")])
            .get("/").h("cache-control", "no-store").body("v1").not_stored().origin(1)
            .get("/").body("v2").fwd("uri-miss").origin(2),
        case(&[5], "9111 §5.2.1.5: request no-store leaves an already stored response in place")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .get("/").h("cache-control", "no-store").status(200)
            .get("/").body("v1").hit(),
        case(&[5], "9111 §5.2.1.1: request max-age refuses a stored response older than it")
            .script(vec![cc("max-age=100").header("age", "30")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-age=10").body("v2").fwd("request").origin(2),
        case(&[5], "9111 §5.2.1.1: request max-age accepts a stored response younger than it")
            .script(vec![cc("max-age=100").header("age", "30")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-age=60").body("v1").hit().origin(1),
        case(&[5], "9111 §5.2.1.1: request max-age=0 sends the request to the origin")
            .script(vec![cc("max-age=100").header("age", "5")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-age=0").body("v2").not_hit().origin(2),
        case(&[5], "9111 §5.2.1.3: min-fresh refuses a response that stays fresh for less than N")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "min-fresh=120").body("v2").fwd("request").origin(2),
        case(&[5], "9111 §5.2.1.3: min-fresh accepts a response that stays fresh for at least N")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "min-fresh=10").body("v1").hit().origin(1),
        case(&[5], "9111 §5.2.1.7: only-if-cached with nothing stored answers 504 without contacting the origin")
            .script(vec![cc("max-age=60")])
            .get("/").h("cache-control", "only-if-cached").status(504).not_hit().origin(0),
        case(&[5], "9111 §5.2.1.7: only-if-cached is answered from a fresh stored response")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "only-if-cached").status(200).body("v1").hit().origin(1),
        case(&[5, 7], "9111 §5.2.1.7: only-if-cached with only a stale response stored answers 504")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "only-if-cached").status(504).origin(1),
        case(&[5, 7], "9111 §5.2.1.7: only-if-cached with max-stale is answered with the stale response")
            .script(vec![cc("max-age=60, stale-if-error=3600").header("age", "100")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "only-if-cached, max-stale").status(200).body("v1").hit().origin(1),
        case(&[4, 5], "9111 §5.2.1.7: only-if-cached with a Vary mismatch answers 504")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en").body("v1").origin(1)
            .get("/").h(AL, "fr").h("cache-control", "only-if-cached").status(504).origin(1),
        // ---- Rule 14: errors in input ---------------------------------------------------------
        case(&[14], "9111 §5.2 (rule 14): a malformed Cache-Control never causes an error")
            .script(vec![cc("max-age=60, =, ,\"x, no-cache=\"unterminated, max-age=")])
            .get("/").status(200).body("v1").origin(1)
            .get("/").status(200),
        case(&[14], "9110 §5.6.7 (rule 14): malformed Date and Expires never cause an error and mean stale")
            .script(vec![reply().header("date", "garbage").header("expires", "also garbage")])
            .get("/").status(200).body("v1").origin(1)
            .get("/").status(200).body("v2").origin(2),
        case(&[14], "9111 §4.1 (rule 14): a malformed Vary never causes an error")
            .script(vec![cc("max-age=60").header("vary", ", ,,  , bad(name), accept-language")])
            .get("/").h(AL, "en").status(200).body("v1").origin(1)
            .get("/").h(AL, "en").status(200),
        case(&[14], "9111 §5.2.1 (rule 14): malformed request directives never cause an error")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").origin(1)
            .get("/").h("cache-control", "max-age=abc, min-fresh=-1, max-stale=zz, =").status(200),
        case(&[4, 14], "9111 §4.1 (rule 14): non-ASCII (obs-text) bytes in a selecting header are matched, not an error")
            .script(vec![cc("max-age=60").header("vary", "x-obs")])
            .get("/").h("x-obs", "caf\u{e9}").status(200).body("v1").origin(1)
            .get("/").h("x-obs", "caf\u{e9}").status(200).body("v1").hit().origin(1)
            .get("/").h("x-obs", "cafe").status(200).body("v2").origin(2),
        case(&[14], "9111 §5.1 (rule 14): a malformed Age never causes an error")
            .script(vec![cc("max-age=60").header("age", "-5, 7")])
            .get("/").status(200).body("v1")
            .get("/").status(200),
    ];

    // Invalidation must be in effect by the time the client has the unsafe request's response
    // (read-your-writes through the cache); repeated, because a race shows only sometimes.
    let mut race = case(&[9], "9111 §4.4: the invalidation is in effect as soon as the client has the POST's response")
        .script(vec![cc("max-age=60")])
        .route("POST /", vec![Reply::ok("done")])
        .get("/").body("v1").stored().origin(1);
    for i in 1..=40 {
        race = race
            .send("POST", "/").status(200).origin(2 * i)
            .get("/").body(&format!("v{}", i + 1)).not_hit().origin(2 * i + 1);
    }
    cases.push(race);
    // One case per status RFC 5861 §4 names.
    for code in [500, 502, 503, 504] {
        cases.push(
            case(&[8], &format!("5861 §4: stale-if-error serves the stale response when the origin answers {code}"))
                .script(vec![cc("max-age=1, stale-if-error=60"), status(code, "error {n}")])
                .get("/").body("v1").stored().origin(1)
                .sleep_ms(1100)
                .get("/").status(200).body("v1").fwd("stale").fwd_status(code).detail("stale-if-error").has_hdr("age").origin(2),
        );
    }
    // One case per unsafe method, including one whose safety is unknown.
    for method in ["POST", "PUT", "DELETE", "PATCH", "FROBNICATE"] {
        cases.push(
            case(&[9], &format!("9111 §4.4: a 2xx response to {method} invalidates the stored response for its URI"))
                .script(vec![cc("max-age=60")])
                .route(&format!("{method} /"), vec![Reply::ok("done")])
                .get("/").body("v1").stored().origin(1)
                .get("/").body("v1").hit().origin(1)
                .send(method, "/").status(200).body("done").fwd("method").fwd_status(200).origin(2)
                .settle()
                .get("/").body("v2").fwd("uri-miss").stored().origin(3)
                .get("/").body("v2").hit().origin(3),
        );
    }
    cases.extend(shared::cases());
    cases.extend(dates_vary::cases());
    cases.extend(ranges::cases());
    cases
}

#[path = "conformance/dates_vary.rs"]
mod dates_vary;
#[path = "conformance/ranges.rs"]
mod ranges;
#[path = "conformance/shared.rs"]
mod shared;

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_caching_conformance() {
    let all = cases();
    assert!(
        all.len() >= 120,
        "the suite has {} cases; it promises at least 120",
        all.len()
    );
    check_table(&all);

    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let to_run: Vec<&Case> = all.iter().filter(|c| c.name.contains(&filter)).collect();

    let started = Instant::now();
    let results = join_all(to_run.iter().map(|case| async move {
        let outcome = match tokio::time::timeout(Duration::from_secs(30), run_case(case)).await {
            Ok(outcome) => outcome,
            Err(_) => Err("timed out after 30 s".to_owned()),
        };
        (*case, outcome)
    }))
    .await;

    let mut failed = Vec::new();
    let mut passed = 0;
    for (case, outcome) in &results {
        match outcome {
            Ok(()) => passed += 1,
            Err(error) => failed.push(format!("{}\n    {error}", case.name)),
        }
    }
    eprintln!(
        "conformance: {} cases in the table, {} run in {:.1} s: {passed} passed, {} failed",
        all.len(),
        results.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
    );
    assert!(
        failed.is_empty(),
        "{} conformance case(s) failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

/// The table itself: unique names, each naming an RFC section, and every rule covered.
fn check_table(cases: &[Case]) {
    let mut names = std::collections::HashSet::new();
    for case in cases {
        assert!(names.insert(&case.name), "duplicate case name: {}", case.name);
        let rfc = ["9111 §", "9110 §", "9211 §", "9213 §", "5861 §"];
        assert!(
            rfc.iter().any(|prefix| case.name.starts_with(prefix)),
            "case name does not start with its RFC section: {}",
            case.name
        );
        assert!(!case.rules.is_empty(), "case names no rule: {}", case.name);
    }
    for rule in 1..=14u8 {
        assert!(
            cases.iter().any(|c| c.rules.contains(&rule)),
            "no case covers rule {rule} of HTTP-CACHING-RULES.md"
        );
    }
}

/// How long the proxy under test waits for the scripted origin's response head.
const ORIGIN_TIMEOUT: Duration = Duration::from_millis(1500);

async fn run_case(case: &Case) -> Result<(), String> {
    let origin = ScriptedOrigin::start(case.routes.clone()).await;
    let cache = Cache::new();
    // A short origin timeout, so that a hung origin is a failure within the case's time.
    let upstream = Origin::new(&origin.base())
        .map_err(|e| format!("proxy origin: {e}"))?
        .timeout(ORIGIN_TIMEOUT);
    let proxy = TestServer::axum(app(upstream, &cache, policy())).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let context = Context {
        cache: &cache,
        origin: &origin,
        proxy: &proxy,
        client: &client,
    };
    for (index, step) in case.steps.iter().enumerate() {
        context
            .step(step)
            .await
            .map_err(|error| format!("step {}: {error}", index + 1))?;
    }
    Ok(())
}

struct Context<'a> {
    cache: &'a Cache,
    origin: &'a ScriptedOrigin,
    proxy: &'a TestServer,
    client: &'a reqwest::Client,
}

/// What came back for one request.
struct Observed {
    status: u16,
    headers: HeaderMap,
    body: String,
    elapsed: Duration,
}

impl Observed {
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn summary(&self) -> String {
        let mut body = self.body.clone();
        if body.len() > 60 {
            body.truncate(60);
            body.push_str("...");
        }
        format!(
            "[got {} | cache-status: {} | age: {} | body: {body:?}]",
            self.status,
            self.header("cache-status").unwrap_or_else(|| "-".into()),
            self.header("age").unwrap_or_else(|| "-".into()),
        )
    }
}

impl Context<'_> {
    async fn step(&self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send(send) => {
                let observed = self.send(send).await?;
                self.check(send, &observed)
                    .map_err(|e| format!("{} {}: {e} {}", send.method, send.path, observed.summary()))
            }
            Step::Concurrent {
                send,
                copies,
                min_collapsed,
            } => {
                let observed = join_all((0..*copies).map(|_| self.send(send))).await;
                let mut collapsed = 0;
                for (i, observed) in observed.into_iter().enumerate() {
                    let observed = observed?;
                    self.check(send, &observed).map_err(|e| {
                        format!(
                            "{} {} (copy {}): {e} {}",
                            send.method,
                            send.path,
                            i + 1,
                            observed.summary()
                        )
                    })?;
                    let members = cache_status_members(&observed.headers);
                    if members
                        .last()
                        .is_some_and(|m| m.params.iter().any(|(k, _)| k == "collapsed"))
                    {
                        collapsed += 1;
                    }
                }
                if collapsed < *min_collapsed {
                    return Err(format!(
                        "{copies} concurrent {} {}: {collapsed} said collapsed, expected at least {min_collapsed}",
                        send.method, send.path
                    ));
                }
                Ok(())
            }
            Step::Sleep(duration) => {
                tokio::time::sleep(*duration).await;
                Ok(())
            }
            Step::Settle => {
                self.cache.run_pending_tasks().await;
                Ok(())
            }
            Step::StopOrigin => {
                self.origin.stop().await;
                Ok(())
            }
            Step::OriginCount { count, within } => {
                let deadline = Instant::now() + *within;
                loop {
                    let now = self.origin.count();
                    if now == *count {
                        return Ok(());
                    }
                    if now > *count || Instant::now() >= deadline {
                        return Err(format!(
                            "the origin received {now} requests, expected {count}{}",
                            if within.is_zero() {
                                String::new()
                            } else {
                                format!(" within {} ms", within.as_millis())
                            }
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Step::OriginRequest { index, name, check } => {
                let requests = self.origin.requests();
                let request = requests.get(index - 1).ok_or_else(|| {
                    format!(
                        "the origin received {} requests; no request {index}",
                        requests.len()
                    )
                })?;
                check_value(&request.header(name), check, |t| self.origin.expand(t)).map_err(|e| {
                    format!(
                        "origin request {index} ({} {}), header {name}: {e}",
                        request.method, request.target
                    )
                })
            }
        }
    }

    async fn send(&self, send: &Send) -> Result<Observed, String> {
        let method = Method::from_bytes(send.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.client.request(method, self.proxy.url(&send.path));
        for (name, value) in &send.headers {
            let value = self.origin.expand(value);
            let value =
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()).map_err(|e| e.to_string())?;
            request = request.header(name.as_str(), value);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| format!("{} {}: request failed: {e}", send.method, send.path))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{} {}: body failed: {e}", send.method, send.path))?;
        Ok(Observed {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            elapsed: started.elapsed(),
        })
    }

    fn check(&self, send: &Send, observed: &Observed) -> Result<(), String> {
        match send.status {
            Some(StatusExpect::Is(code)) if observed.status != code => {
                return Err(format!("expected status {code}"));
            }
            Some(StatusExpect::ServerError) if !(500..600).contains(&observed.status) => {
                return Err("expected a 5xx status".to_owned());
            }
            _ => {}
        }
        match &send.body {
            Some(BodyExpect::Is(body)) if observed.body != *body => {
                return Err(format!("expected body {:?}", truncated(body)));
            }
            Some(BodyExpect::Not(body)) if observed.body == *body => {
                return Err(format!("expected a body other than {body:?}"));
            }
            _ => {}
        }
        let members = cache_status_members(&observed.headers);
        check_invariants(&members, &observed.headers)?;
        check_cache_status(
            &send.cache_status,
            members.last().expect("checked by the invariants"),
        )?;
        match send.age {
            Some(AgeExpect::Absent) if observed.headers.contains_key("age") => {
                return Err(
                    "expected no Age: the origin generated this response for this request".to_owned(),
                );
            }
            Some(AgeExpect::Between(low, high)) => {
                let age = observed.header("age").ok_or("expected an Age header")?;
                let age: u64 = age
                    .parse()
                    .map_err(|_| format!("Age {age:?} is not delta-seconds"))?;
                if !(low..=high).contains(&age) {
                    return Err(format!("expected Age in {low}..={high}"));
                }
            }
            _ => {}
        }
        for (name, check) in &send.response_headers {
            check_value(&observed.header(name), check, |t| self.origin.expand(t))
                .map_err(|e| format!("header {name}: {e}"))?;
        }
        if let Some(expected) = send.origin {
            let count = self.origin.count();
            if count != expected {
                return Err(format!(
                    "the origin received {count} requests, expected {expected}"
                ));
            }
        }
        if let Some(within) = send.within
            && observed.elapsed > within
        {
            return Err(format!(
                "answered in {} ms, expected within {} ms",
                observed.elapsed.as_millis(),
                within.as_millis()
            ));
        }
        Ok(())
    }
}

fn truncated(text: &str) -> String {
    if text.len() > 60 {
        format!("{}...", &text[..60])
    } else {
        text.to_owned()
    }
}

fn check_value(value: &Option<String>, check: &Check, expand: impl Fn(&str) -> String) -> Result<(), String> {
    let fail = |what: String| Err(format!("expected {what}, got {value:?}"));
    match (check, value) {
        (Check::Absent, None) | (Check::Present, Some(_)) => Ok(()),
        (Check::Absent, Some(_)) => fail("no such field".into()),
        (Check::Present, None) => fail("the field".into()),
        (Check::Is(expected), Some(value)) if *value == expand(expected) => Ok(()),
        (Check::Is(expected), _) => fail(format!("{:?}", expand(expected))),
        (Check::Contains(part), Some(value)) if value.contains(&expand(part)) => Ok(()),
        (Check::Contains(part), _) => fail(format!("a value containing {:?}", expand(part))),
        (Check::StartsWith(prefix), Some(value)) if value.starts_with(&expand(prefix)) => Ok(()),
        (Check::StartsWith(prefix), _) => fail(format!("a value starting with {:?}", expand(prefix))),
    }
}

/// One member of a `Cache-Status` list (RFC 9211 §2): a cache name and its parameters.
#[derive(Debug)]
struct Member {
    name: String,
    params: Vec<(String, Option<String>)>,
}

impl Member {
    fn has(&self, key: &str) -> bool {
        self.params.iter().any(|(k, _)| k == key)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Splits `text` on `separator` outside quoted strings.
fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn cache_status_members(headers: &HeaderMap) -> Vec<Member> {
    let joined: Vec<String> = headers
        .get_all("cache-status")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    split_outside_quotes(&joined.join(","), ',')
        .iter()
        .filter(|m| !m.trim().is_empty())
        .map(|member| {
            let mut parts = split_outside_quotes(member, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim().to_owned();
            let params = parts
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                    None => (p.trim().to_owned(), None),
                })
                .collect();
            Member { name, params }
        })
        .collect()
}

/// What every response through the cache must satisfy (RFC 9211, RFC 9111 §4, rule 13).
fn check_invariants(members: &[Member], headers: &HeaderMap) -> Result<(), String> {
    let ours: Vec<&Member> = members.iter().filter(|m| m.name == "cachefront").collect();
    if ours.len() != 1 {
        return Err(format!(
            "expected exactly one cachefront Cache-Status member, got {}",
            ours.len()
        ));
    }
    let last = members.last().expect("one member at least");
    if last.name != "cachefront" {
        return Err("the cache's Cache-Status member must come last (RFC 9211 §2)".to_owned());
    }
    if last.has("hit") == last.has("fwd") {
        return Err("Cache-Status must say exactly one of hit and fwd (RFC 9211 §2.1, §2.2)".to_owned());
    }
    if last.has("key") {
        return Err("Cache-Status must not expose the key (rule 13)".to_owned());
    }
    if last.has("hit") {
        let ages: Vec<_> = headers.get_all("age").iter().collect();
        let valid = ages.len() == 1 && ages[0].to_str().is_ok_and(|a| a.parse::<u64>().is_ok());
        if !valid {
            return Err(format!(
                "a response served from the cache carries exactly one Age, in delta-seconds (RFC 9111 §4), got {ages:?}"
            ));
        }
    }
    Ok(())
}

fn check_cache_status(expect: &CacheStatusExpect, member: &Member) -> Result<(), String> {
    let fail = |what: String| Err(format!("Cache-Status: expected {what}"));
    if let Some(hit) = expect.hit
        && member.has("hit") != hit
    {
        return fail(if hit { "a hit".into() } else { "not a hit".into() });
    }
    if let Some(fwd) = expect.fwd
        && member.value("fwd") != Some(fwd)
    {
        return fail(format!("fwd={fwd}"));
    }
    if let Some(code) = expect.fwd_status
        && member.value("fwd-status") != Some(code.to_string().as_str())
    {
        return fail(format!("fwd-status={code}"));
    }
    if let Some(stored) = expect.stored
        && member.has("stored") != stored
    {
        return fail(if stored {
            "stored".into()
        } else {
            "not stored".into()
        });
    }
    if let Some(detail) = expect.detail
        && member.value("detail") != Some(detail)
    {
        return fail(format!("detail={detail}"));
    }
    if let Some((low, high)) = expect.ttl {
        let ttl: Option<i64> = member.value("ttl").and_then(|t| t.parse().ok());
        if !ttl.is_some_and(|t| (low..=high).contains(&t)) {
            return fail(format!("ttl in {low}..={high}"));
        }
    }
    Ok(())
}
