//! The admin endpoints, framework-neutral: purge, stats and metrics.
//!
//! The adapters mount [`Admin`] under a path of the application (`cachefront-axum`'s
//! `admin` router, `cachefront-actix`'s `admin` scope); every decision — authorization, routing,
//! parsing, rendering — is taken here, once.
//!
//! [`Admin`] itself — the token, the routing, the purge endpoint — is here; the response type,
//! the Prometheus text, the stats history and the dashboard page have their own modules.

mod dashboard;
mod history;
mod metrics;
mod response;

use std::{sync::Arc, time::Duration};

use serde::Deserialize;
use serde_json::json;

pub use self::response::AdminResponse;
use self::{
    history::{DEFAULT_HISTORY_INTERVAL, DEFAULT_HISTORY_LENGTH, History},
    metrics::prometheus_text,
};
use crate::{
    cache::Cache,
    config,
    error::{Error, ErrorKind},
};

/// The admin endpoints of one cache, behind a bearer token.
///
/// | method and path | answer |
/// | --- | --- |
/// | `POST /purge` | JSON `{"tags": [...], "paths": [...], "prefixes": [...], "keys": [...], "key_prefixes": [...], "all": true}` → `{"removed": N}` |
/// | `GET /stats` | JSON snapshot, total and per route |
/// | `GET /metrics` | Prometheus text format: the series listed below, the same as the `metrics` facade's |
/// | `GET /history` | JSON array of stats samples, oldest first ([`Admin::history`]) |
/// | `GET /` | the dashboard: one self-contained HTML page, no token needed to load it |
///
/// Every request but the dashboard page needs `Authorization: Bearer <token>` (compared in
/// constant time): 401 without it. Malformed JSON is a 400 with a message saying what is wrong.
///
/// # The metrics
///
/// `GET /metrics` and, with the feature `metrics`, the `metrics` facade export the same series,
/// generated from one table: names start with `cachefront_`, counters end in `_total`, units
/// are in the names (`_seconds`, `_bytes`). Labels stay bounded: `route` is a route's name or
/// pattern, never a raw path; `namespace` a memo namespace; `tier` `l1` or `l2`.
///
/// | series | type | labels | meaning |
/// | --- | --- | --- | --- |
/// | `cachefront_hits_total`, `cachefront_stale_hits_total`, `cachefront_misses_total`, `cachefront_coalesced_waits_total`, `cachefront_stores_total`, `cachefront_not_stored_total`, `cachefront_revalidations_total`, `cachefront_invalidations_total`, `cachefront_store_errors_total` | counter | `route` | the [`RouteStats`](crate::RouteStats) of each route |
/// | `cachefront_bypasses_total` | counter | `route`, `reason` | requests that did not use the cache, every reason of [`Bypass::ALL`](crate::Bypass::ALL) listed |
/// | `cachefront_handler_seconds` | histogram | `route` | the handler's time answering a miss, until its response head |
/// | `cachefront_purges_total`, `cachefront_purge_errors_total` | counter | | invalidations through an [`Invalidator`](crate::Invalidator) or `POST /purge`, and those the store failed |
/// | `cachefront_memo_hits_total`, `cachefront_memo_stale_hits_total`, `cachefront_memo_negative_hits_total`, `cachefront_memo_misses_total`, `cachefront_memo_refreshes_total`, `cachefront_memo_coalesced_waits_total`, `cachefront_memo_stores_total`, `cachefront_memo_errors_total`, `cachefront_memo_decode_errors_total`, `cachefront_memo_encode_errors_total`, `cachefront_memo_store_errors_total` | counter | `namespace` | the [`MemoStats`](crate::MemoStats) of each namespace |
/// | `cachefront_entries`, `cachefront_bytes`, `cachefront_capacity_bytes` | gauge | | what the store holds, and its bound (absent when unbounded) |
/// | `cachefront_evictions_total`, `cachefront_expirations_total` | counter | | entries the store removed to make room, and at the end of their lifetime |
/// | `cachefront_tier_hits_total` | counter | `tier` | reads a `TieredStore` answered from memory (`l1`) and from Redis (`l2`) |
/// | `cachefront_store_circuit_open` | gauge | | 1 while the Redis store's circuit is open, else 0 |
/// | `cachefront_store_operation_seconds` | histogram | | the Redis store's round trips, failed and timed-out ones included |
///
/// Histograms are rendered with the fixed buckets of
/// [`LatencyHistogram::BOUNDS`](crate::store::LatencyHistogram::BOUNDS) (100 µs to 10 s); the
/// facade is given each time as measured. The tier, circuit and round-trip series appear only
/// with the Redis stores. The facade's store gauges and its eviction and expiration counters are
/// refreshed after each stored response or memo value and each purge; every other series is
/// counted as it happens. Install the `metrics` recorder before building the cache and its
/// stores: their series are registered then.
///
/// # The purge body
///
/// One JSON object; every field is optional, and each names what goes:
///
/// | field | removes | through |
/// | --- | --- | --- |
/// | `"tags": ["product:42"]` | every response carrying the tag | [`Invalidator::tag`](crate::Invalidator::tag) |
/// | `"paths": ["/products/42"]` | every response for the path, any query, any host, all variants | [`Invalidator::path`](crate::Invalidator::path) |
/// | `"prefixes": ["/products/"]` | every response whose path starts with the prefix (a path: it starts with `/`) | [`Invalidator::prefix`](crate::Invalidator::prefix) |
/// | `"keys": ["GET /products/42 host=example.com"]` | the response under exactly that readable key, with its variants; never a key that merely starts with it | [`Invalidator::readable_key`](crate::Invalidator::readable_key) |
/// | `"key_prefixes": ["GET /products/42 host=a.example"]` | every response whose readable key starts with it (not empty) | [`Invalidator::readable_prefix`](crate::Invalidator::readable_prefix) |
/// | `"all": true` | everything | [`Invalidator::all`](crate::Invalidator::all) |
///
/// Each item is one invalidation: counted in the stats (`invalidations`) and logged at `info`
/// with what, its target and how many responses went. The answer is `{"removed": N}`, the
/// sum. An empty key or key prefix is a 400 and nothing is removed; a path or prefix without
/// its leading `/` is a 400 naming it (the other items still run); a store failure is a 502
/// with the errors and what was removed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use cachefront::{Admin, Cache};
///
/// let admin = Admin::new(Cache::new(), "a-long-secret-token").unwrap();
/// let response = admin.handle("GET", "/stats", Some(b"Bearer a-long-secret-token"), b"").await;
/// assert_eq!(response.status, 200);
/// let response = admin.handle("GET", "/stats", None, b"").await;
/// assert_eq!(response.status, 401);
/// # }
/// ```
#[derive(Clone)]
pub struct Admin {
    cache: Cache,
    token: Arc<str>,
    history: History,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never appears in logs.
        f.debug_struct("Admin")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    key_prefixes: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    all: bool,
}

/// The shortest token accepted: shorter ones are too easy to guess.
const MIN_TOKEN_LEN: usize = 16;

impl Admin {
    /// The environment variable holding the admin token.
    pub const ENV_TOKEN: &str = "CACHEFRONT_ADMIN_TOKEN";
}

impl Admin {
    /// The admin endpoints of `cache`, behind `token` (at least 16 characters).
    pub fn new(cache: Cache, token: impl Into<Arc<str>>) -> Result<Self, Error> {
        let token = token.into();
        if token.len() < MIN_TOKEN_LEN || token.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Error::config(
                "admin token",
                format!("expected at least {MIN_TOKEN_LEN} characters without spaces"),
            ));
        }
        let history = History::new(cache.clone(), DEFAULT_HISTORY_INTERVAL, DEFAULT_HISTORY_LENGTH);
        Ok(Self {
            cache,
            token,
            history,
        })
    }

    /// The admin endpoints with the token from `CACHEFRONT_ADMIN_TOKEN`; `Ok(None)` when the
    /// variable is unset (the endpoints stay disabled), an error naming it when it is invalid.
    pub fn from_env(cache: Cache) -> Result<Option<Self>, Error> {
        match config::var(Admin::ENV_TOKEN)? {
            None => Ok(None),
            Some(token) => Self::new(cache, token).map(Some).map_err(|error| {
                Error::config(
                    Admin::ENV_TOKEN,
                    error.to_string().trim_start_matches("invalid `admin token`: "),
                )
            }),
        }
    }

    /// The cache these endpoints manage.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Whether an `Authorization` header value carries the token (`Bearer <token>`), compared
    /// in constant time.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(given) = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
        else {
            return false;
        };
        constant_time_eq(given.trim_ascii(), self.token.as_bytes())
    }

    /// Answers one admin request: `path` is relative to where the endpoints are mounted.
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&[u8]>,
        body: &[u8],
    ) -> AdminResponse {
        self.history.start();
        if method == "GET" && path.trim_end_matches('/').is_empty() {
            // The page holds no secret: it asks for the token and sends it with each call.
            return AdminResponse::dashboard();
        }
        if !self.authorized(authorization) {
            let mut response = AdminResponse::error(
                401,
                "missing or wrong admin token: send Authorization: Bearer <token>",
            );
            response.headers.push(("www-authenticate", "Bearer"));
            return response;
        }
        match (method, path.trim_end_matches('/')) {
            ("POST", "/purge") => self.purge(body).await,
            ("GET", "/stats") => AdminResponse::json(200, &self.cache.stats().to_json()),
            ("GET", "/history") => AdminResponse::json(200, &self.history.to_json()),
            ("GET", "/metrics") => AdminResponse {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: prometheus_text(&self.cache.exposition()),
                headers: Vec::new(),
            },
            (_, "/purge" | "/stats" | "/metrics" | "/history") => {
                AdminResponse::error(405, format!("{method} is not allowed on {path}"))
            }
            _ => AdminResponse::error(
                404,
                format!("no admin endpoint at {path}; try /, /stats, /history, /metrics or POST /purge"),
            ),
        }
    }

    async fn purge(&self, body: &[u8]) -> AdminResponse {
        let request: PurgeRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return AdminResponse::error(
                    400,
                    format!(
                        "malformed purge request ({error}); expected JSON like \
                         {{\"tags\": [\"product:42\"], \"paths\": [\"/products/42\"], \"prefixes\": [\"/products/\"], \"keys\": [], \"key_prefixes\": [], \"all\": false}}"
                    ),
                );
            }
        };
        // An empty key or key prefix would once have matched every key: refuse the whole request
        // before anything is removed.
        if request.keys.iter().any(|k| k.trim().is_empty())
            || request.key_prefixes.iter().any(String::is_empty)
        {
            return AdminResponse::error(
                400,
                "an empty key or key prefix names nothing; to remove everything send {\"all\": true}",
            );
        }
        let invalidator = self.cache.invalidator();
        let mut removed = 0u64;
        let mut errors = Vec::new();
        let mut count = |result: Result<u64, Error>| match result {
            Ok(n) => removed += n,
            Err(error) => errors.push(error),
        };
        if request.all {
            count(invalidator.all().await);
        }
        for tag in &request.tags {
            count(invalidator.tag(tag).await);
        }
        for path in &request.paths {
            count(invalidator.path(path).await);
        }
        for prefix in &request.prefixes {
            count(invalidator.prefix(prefix).await);
        }
        for key in &request.keys {
            count(invalidator.readable_key(key).await);
        }
        for prefix in &request.key_prefixes {
            count(invalidator.readable_prefix(prefix).await);
        }
        if let Some(error) = errors.iter().find(|e| e.kind() == ErrorKind::Config) {
            return AdminResponse::error(400, error.to_string());
        }
        if !errors.is_empty() {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return AdminResponse::json(502, &json!({ "removed": removed, "errors": messages }));
        }
        AdminResponse::json(200, &json!({ "removed": removed }))
    }
}

impl Admin {
    /// Samples the stats every `interval` (at least 100 ms) and keeps the last `length` samples
    /// (1 to 17,280) for `GET /history` and the dashboard; every 5 s for the last 15 minutes
    /// (180 samples) by default.
    ///
    /// Sampling runs on a tokio task started by the first admin request (opening the dashboard
    /// is one), and stops once every clone of this `Admin` is dropped. Memory: about 120 bytes plus 40 bytes per route per sample.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cachefront::{Admin, Cache};
    ///
    /// let admin = Admin::new(Cache::new(), "a-long-secret-token")
    ///     .unwrap()
    ///     // Every second for the last 10 minutes.
    ///     .history(Duration::from_secs(1), 600);
    /// # let _ = admin;
    /// ```
    #[must_use]
    pub fn history(mut self, interval: Duration, length: usize) -> Self {
        // A new ring; the old task, if any, sees its state dropped and stops.
        self.history = History::new(self.cache().clone(), interval, length);
        self
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret (the token's length is fixed); the contents are compared
    // without an early exit.
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    const TOKEN: &[u8] = b"Bearer 0123456789abcdef";

    fn admin() -> Admin {
        Admin::new(Cache::new(), "0123456789abcdef").unwrap()
    }

    #[test]
    fn short_tokens_are_refused() {
        let error = Admin::new(Cache::new(), "short").unwrap_err().to_string();
        assert!(error.contains("admin token") && error.contains("16"));
    }

    #[tokio::test]
    async fn requires_the_bearer_token() {
        let admin = admin();
        assert_eq!(admin.handle("GET", "/stats", None, b"").await.status, 401);
        assert_eq!(
            admin
                .handle("GET", "/stats", Some(b"Bearer wrong"), b"")
                .await
                .status,
            401
        );
        assert_eq!(
            admin
                .handle("GET", "/stats", Some(b"0123456789abcdef"), b"")
                .await
                .status,
            401
        );
        assert_eq!(admin.handle("GET", "/stats", Some(TOKEN), b"").await.status, 200);
    }

    #[tokio::test]
    async fn purge_parses_json_and_reports_errors_clearly() {
        let admin = admin();
        let ok = admin
            .handle("POST", "/purge", Some(TOKEN), br#"{"tags":["a"],"all":true}"#)
            .await;
        assert_eq!((ok.status, ok.body.as_str()), (200, r#"{"removed":0}"#));
        let bad = admin.handle("POST", "/purge", Some(TOKEN), b"{not json").await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("malformed purge request"), "{}", bad.body);
        let unknown = admin
            .handle("POST", "/purge", Some(TOKEN), br#"{"tagz":["a"]}"#)
            .await;
        assert_eq!(unknown.status, 400);
        assert!(unknown.body.contains("tagz"), "{}", unknown.body);
        let bad_path = admin
            .handle("POST", "/purge", Some(TOKEN), br#"{"paths":["no-slash"]}"#)
            .await;
        assert_eq!(bad_path.status, 400);
        assert_eq!(admin.handle("GET", "/purge", Some(TOKEN), b"").await.status, 405);
        assert_eq!(admin.handle("GET", "/nope", Some(TOKEN), b"").await.status, 404);
    }

    /// The table of series in [`Admin`]'s docs names every series there is.
    #[test]
    fn the_documented_table_lists_every_series() {
        let docs: String = include_str!("mod.rs")
            .lines()
            .filter(|line| line.starts_with("/// | `cachefront_"))
            .collect();
        for series in crate::series::SERIES {
            assert!(
                docs.contains(&format!("`{}`", series.name)),
                "{} is not documented",
                series.name
            );
        }
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text_by_route() {
        let admin = admin();
        let _route = admin
            .cache()
            .route(crate::Policy::ttl(std::time::Duration::from_secs(1)).name("/a/{id}"));
        let metrics = admin.handle("GET", "/metrics", Some(TOKEN), b"").await;
        assert!(metrics.content_type.starts_with("text/plain"));
        assert!(metrics.body.contains("# TYPE cachefront_hits_total counter"));
        assert!(
            metrics
                .body
                .contains("cachefront_hits_total{route=\"/a/{id}\"} 0")
        );
        assert!(metrics.body.contains("cachefront_capacity_bytes 67108864"));
    }

    async fn stored(cache: &Cache, uri: &str) -> bool {
        let request = http::Request::get(uri).body(()).unwrap();
        let key = crate::KeySpec::default().build(&request);
        cache.store().get(&key).await.unwrap().is_some()
    }

    /// Stores a response for `uri` and waits until the store holds it.
    async fn store(cache: &Cache, uri: &str) {
        let route = cache.route(crate::Policy::ttl(std::time::Duration::from_secs(60)));
        let request = http::Request::get(uri).body(()).unwrap();
        let crate::flow::Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("cold key");
        };
        let mut collector = forward
            .response(http::StatusCode::OK, &http::HeaderMap::new())
            .collector
            .unwrap();
        collector.push(&bytes::Bytes::from_static(b"x"));
        collector.finish();
        while !stored(cache, uri).await {
            tokio::task::yield_now().await;
        }
    }

    /// A newcomer's first `/stats` after a few stores counts them: no maintenance run needed.
    #[tokio::test]
    async fn stats_count_stored_entries_at_once_and_forget_invalidated_ones() {
        let admin = admin();
        let cache = admin.cache().clone();
        let stats = || async {
            let response = admin.handle("GET", "/stats", Some(TOKEN), b"").await;
            serde_json::from_str::<serde_json::Value>(&response.body).unwrap()
        };
        for uri in ["http://h/a", "http://h/b", "http://h/c"] {
            store(&cache, uri).await;
        }
        let stored = stats().await;
        assert_eq!(stored["entries"], 3, "{stored}");
        assert!(stored["bytes"].as_u64().unwrap() > 0, "{stored}");
        for key in ["GET /a host=h", "GET /b host=h", "GET /c host=h"] {
            assert_eq!(cache.invalidator().readable_key(key).await.unwrap(), 1);
        }
        let purged = stats().await;
        assert_eq!(
            (&purged["entries"], &purged["bytes"]),
            (&0.into(), &0.into()),
            "{purged}"
        );
    }

    /// Collects the `info` events' fields, as a log would show them.
    #[derive(Default)]
    struct Logs(std::sync::Mutex<Vec<String>>);

    impl tracing::Subscriber for Logs {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Fields(String);
            impl tracing::field::Visit for Fields {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    let _ = write!(self.0, "{}={value:?} ", field.name());
                }
            }
            if *event.metadata().level() == tracing::Level::INFO {
                let mut fields = Fields(String::new());
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test]
    async fn purge_keys_are_exact_prefixes_explicit_and_every_purge_counted_and_logged() {
        let logs = Arc::new(Logs::default());
        let _logging = tracing::subscriber::set_default(Arc::clone(&logs));
        let admin = admin();
        let cache = admin.cache().clone();
        let uris = ["http://h/p", "http://hx/p", "http://h/p2", "http://h/p?x=1"];
        for uri in uris {
            store(&cache, uri).await;
        }
        let purge = |body: &'static str| admin.handle("POST", "/purge", Some(TOKEN), body.as_bytes());
        // An empty key once matched every key, and removed everything uncounted.
        for body in [
            r#"{"keys":[""]}"#,
            r#"{"key_prefixes":[""]}"#,
            r#"{"keys":[" "], "tags":["t"]}"#,
        ] {
            let refused = purge(body).await;
            assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        }
        for uri in uris {
            assert!(stored(&cache, uri).await, "{uri} survives a refused purge");
        }
        // A key is exactly that key: not `host=hx`, not `/p2`, not `/p?x=1`.
        let exact = purge(r#"{"keys":["GET /p host=h"]}"#).await;
        assert_eq!((exact.status, exact.body.as_str()), (200, r#"{"removed":1}"#));
        assert!(!stored(&cache, "http://h/p").await);
        for uri in &uris[1..] {
            assert!(stored(&cache, uri).await, "{uri} is not the key purged");
        }
        let missing = purge(r#"{"keys":["GET /p host=h"]}"#).await;
        assert_eq!(missing.body, r#"{"removed":0}"#);
        // A prefix of readable keys is asked for as one.
        let prefix = purge(r#"{"key_prefixes":["GET /p"]}"#).await;
        assert_eq!((prefix.status, prefix.body.as_str()), (200, r#"{"removed":3}"#));
        assert_eq!(cache.stats().total.invalidations, 3);
        let logs = logs.0.lock().unwrap();
        let purges: Vec<&String> = logs.iter().filter(|l| l.contains("cache invalidation")).collect();
        assert_eq!(purges.len(), 3, "{logs:?}");
        assert!(
            purges[0].contains(r#"what="key""#)
                && purges[0].contains(r#"target="GET /p host=h""#)
                && purges[0].contains("removed=1"),
            "{purges:?}"
        );
        assert!(
            purges[2].contains(r#"what="key prefix""#)
                && purges[2].contains(r#"target="GET /p""#)
                && purges[2].contains("removed=3"),
            "{purges:?}"
        );
    }

    #[tokio::test]
    async fn the_page_is_served_without_a_token_and_history_with_one() {
        let admin = Admin::new(Cache::new(), "0123456789abcdef").unwrap();
        for path in ["", "/"] {
            let page = admin.handle("GET", path, None, b"").await;
            assert_eq!(page.status, 200, "{path:?}");
            assert!(page.content_type.starts_with("text/html"));
            assert!(page.body.contains("sessionStorage"));
            assert!(!page.body.contains("0123456789abcdef"));
            assert!(page.body.len() < 30 * 1024, "{} bytes", page.body.len());
            let policy = page
                .headers
                .iter()
                .find(|(name, _)| *name == "content-security-policy")
                .unwrap();
            assert!(policy.1.contains("script-src 'sha256-"), "{}", policy.1);
        }
        assert_eq!(admin.handle("POST", "/", None, b"").await.status, 401);
        assert_eq!(admin.handle("GET", "/history", None, b"").await.status, 401);
        let token = Some(&b"Bearer 0123456789abcdef"[..]);
        let history = admin.handle("GET", "/history", token, b"").await;
        assert_eq!(history.status, 200);
        assert!(history.body.starts_with('['), "{}", history.body);
        assert_eq!(admin.handle("POST", "/history", token, b"").await.status, 405);
    }
}
