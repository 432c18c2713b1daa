//! `bench-peers`: the workload of `bench/load.sh` behind other crates' response caches, so that
//! the load benchmark can measure cachefront beside its peers (`BENCH_PEERS`).
//!
//! For every scenario (`hot`, `miss`, `burst`, `large`) it serves, like `bench-axum`:
//!
//! - `GET /static/{scenario}/{id}` and `GET /plain/{scenario}/{id}`: the same baselines;
//! - `GET /arc/{scenario}/{id}`: the real handler behind axum-response-cache;
//! - `GET /hct/{scenario}/{id}`: behind http-cache-tower-server with its moka manager;
//! - `GET /hitbox/{scenario}/{id}`: behind hitbox-tower with the moka backend and its broadcast
//!   concurrency manager (dogpile protection);
//! - `GET /calls`: the handlers' calls, as `scenario=count` lines (as `bench-axum` answers);
//! - `GET /stats`: empty (the peers' counters are not compared).
//!
//! Every peer keeps responses for [`TIME_TO_LIVE`] (an hour) and is bounded where it can be
//! (see [`PEERS`]). The server runs on one tokio worker thread.
//!
//! ```text
//! cargo build --release --manifest-path bench/peers/Cargo.toml
//! bench/peers/target/release/bench-peers 127.0.0.1:18080   # or $CARGO_TARGET_DIR/release/...
//! ```

// The workload is the one of examples/bench-servers, included rather than depended on: that
// crate inherits the workspace's dependencies, which do not resolve from outside it.
#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/bench-servers/src/workload.rs"]
mod workload;

use std::{convert::Infallible, process::ExitCode, sync::Arc};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use bytes::Bytes;
use tower::ServiceBuilder;
use workload::{BURST_DELAY, CACHE_CAPACITY, Config, Scenario, TIME_TO_LIVE, Workload};

/// The peers, by route prefix, and how each is set up here.
pub const PEERS: [(&str, &str); 3] = [
    (
        "arc",
        "axum-response-cache 0.5 over cached::LruTtlCache: 65,536 entries (it counts entries, not bytes), 1 h TTL; no request coalescing",
    ),
    (
        "hct",
        "http-cache-tower-server 0.2 with http-cache's MokaManager: moka future cache weighed by stored bytes, 64 MiB, 1 h TTL, cache_by_default; no request coalescing",
    ),
    (
        "hitbox",
        "hitbox 0.2 (hitbox-tower) with hitbox-moka: 64 MiB by bytes, bincode values, 1 h TTL, BroadcastConcurrencyManager with concurrency 1 (dogpile protection)",
    ),
];

/// The entry bound of axum-response-cache's store: about 64 MiB of 1 KiB entries.
const ARC_ENTRIES: usize = 65_536;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

fn text(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, TEXT)], body)
}

/// The scenario's real handler, shared by every route but `static`.
async fn handle(workload: &Workload, scenario: Scenario, id: &str) -> Bytes {
    match scenario {
        Scenario::Hot => workload.hot(id),
        Scenario::Miss => workload.miss(id),
        Scenario::Burst => {
            tokio::time::sleep(BURST_DELAY).await;
            workload.burst(id)
        }
        Scenario::Large => workload.large(id),
    }
}

/// axum-response-cache: one store shared by every route (its keys are method and URI).
fn arc_layer() -> axum_response_cache::CacheLayer<
    cached::stores::LruTtlCache<axum_response_cache::BasicKey, axum_response_cache::CachedResponse>,
    axum_response_cache::BasicKeyer,
> {
    axum_response_cache::CacheLayer::with(cached::stores::LruTtlCache::with_size_and_ttl(
        ARC_ENTRIES,
        TIME_TO_LIVE,
    ))
}

/// http-cache-tower-server over a moka cache weighed by the bytes it stores (keys are method and
/// path). The handlers send no Cache-Control, so `cache_by_default` with an hour's default TTL.
fn hct_layer() -> http_cache_tower_server::ServerCacheLayer<http_cache::MokaManager> {
    let cache = moka::future::Cache::builder()
        .max_capacity(CACHE_CAPACITY)
        .weigher(|key: &String, value: &Arc<Vec<u8>>| {
            u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
        })
        .time_to_live(TIME_TO_LIVE)
        .build();
    let options = http_cache_tower_server::ServerCacheOptions {
        default_ttl: Some(TIME_TO_LIVE),
        max_ttl: Some(TIME_TO_LIVE),
        cache_by_default: true,
        ..Default::default()
    };
    http_cache_tower_server::ServerCacheLayer::new(http_cache::MokaManager::new(cache)).with_options(options)
}

type HitboxBody = axum::body::Body;
type HitboxBackend = hitbox_moka::MokaBackend<hitbox_backend::format::BincodeFormat>;
type HitboxConfig = hitbox::Config<
    hitbox_http::predicates::NeutralRequestPredicate<HitboxBody>,
    hitbox_http::predicates::response::StatusCode<
        hitbox_http::predicates::NeutralResponsePredicate<HitboxBody>,
    >,
    hitbox_http::extractors::Path<hitbox_http::extractors::NeutralExtractor<HitboxBody>>,
>;
type HitboxCoalescing = hitbox::concurrency::BroadcastConcurrencyManager<
    Result<hitbox_http::CacheableHttpResponse<HitboxBody>, Infallible>,
>;

/// hitbox: a moka backend bounded by bytes that stores bincode (its default is JSON, which costs
/// tens of µs per 1 KiB hit and tens of ms per 1 MiB one), the key from the path, 200s cached,
/// and one upstream call per key at a time (the others wait for its response).
fn hitbox_layer() -> hitbox_tower::Cache<HitboxBackend, HitboxConfig, HitboxCoalescing> {
    let policy = hitbox::policy::PolicyConfig::builder()
        .ttl(TIME_TO_LIVE)
        .concurrency(hitbox::policy::ConcurrencyLimit::new(1).expect("1 is within 1..=255"))
        .build();
    let config = hitbox::Config::builder()
        .request_predicate(hitbox_http::predicates::NeutralRequestPredicate::new())
        .response_predicate(hitbox_http::predicates::response::StatusCode::new(StatusCode::OK))
        .extractor(hitbox_http::extractors::Path::new("/hitbox/{scenario}/{id}"))
        .policy(policy)
        .build();
    hitbox_tower::Cache::builder()
        .backend(
            hitbox_moka::MokaBackend::builder()
                .max_bytes(CACHE_CAPACITY)
                .value_format(hitbox_backend::format::BincodeFormat)
                .build(),
        )
        .config(config)
        .concurrency_manager(hitbox::concurrency::BroadcastConcurrencyManager::new())
        .build()
}

fn app(workload: Arc<Workload>) -> Router {
    let arc = arc_layer();
    let hct = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|error: Box<dyn std::error::Error + Send + Sync>| async move {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("http-cache-tower-server: {error}"))
        }))
        .layer(hct_layer());
    let hitbox = hitbox_layer();
    let mut router = Router::new();
    for scenario in Scenario::ALL {
        let fixed =
            move |State(workload): State<Arc<Workload>>| async move { text(workload.static_body(scenario)) };
        let real = move |State(workload): State<Arc<Workload>>, Path(id): Path<String>| async move {
            text(handle(&workload, scenario, &id).await)
        };
        router = router
            .route(&scenario.route("static"), get(fixed))
            .route(&scenario.route("plain"), get(real))
            .route(&scenario.route("arc"), get(real).layer(arc.clone()))
            .route(&scenario.route("hct"), get(real).layer(hct.clone()))
            .route(&scenario.route("hitbox"), get(real).layer(hitbox.clone()));
    }
    router
        .route("/calls", get(|State(workload): State<Arc<Workload>>| async move { workload.calls_text() }))
        .route("/stats", get(|| async { "" }))
        .with_state(workload)
}

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("bench-peers: {message}");
            return ExitCode::from(2);
        }
    };
    if config.calibrate_only {
        println!("{}", config.hot_iterations);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-peers: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bench-peers: cannot listen on {}: {error}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "bench-peers listening on http://{} (hot handler: {} iterations)",
        config.listen, config.hot_iterations
    );
    for (prefix, settings) in PEERS {
        println!("  /{prefix}/: {settings}");
    }
    let app = app(Arc::new(Workload::new(config.hot_iterations)));
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("bench-peers: server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
