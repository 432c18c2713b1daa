//! The axum server of `bench/load.sh`: `/static`, `/plain` and `/cached` routes for each
//! scenario, `/calls` and `/stats` (see the `example_bench_servers` crate docs).
//!
//! ```text
//! target/release/bench-axum 127.0.0.1:18080
//! ```

use std::{process::ExitCode, sync::Arc};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};
use bytes::Bytes;
use cachefront_tower::CacheExt;
use example_bench_servers::{BURST_DELAY, Config, Scenario, Workload, cache, policy, stats_text};

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

fn text(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, TEXT)], body)
}

/// The scenario's real handler, shared by its `plain` and `cached` routes.
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

fn app(workload: Arc<Workload>, cache: &cachefront_tower::Cache) -> Router {
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
            .route(&scenario.route("cached"), get(real).layer(cache.layer(policy(scenario))));
    }
    let cache = cache.clone();
    router
        .route("/calls", get(|State(workload): State<Arc<Workload>>| async move { workload.calls_text() }))
        .route("/stats", get(move || async move { stats_text(&cache) }))
        // An origin for `bench/proxy.sh`: the hot body, fresh for an hour to a shared cache.
        .route(
            "/origin/{id}",
            get(|State(workload): State<Arc<Workload>>| async move {
                (
                    [(axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
                    text(workload.static_body(Scenario::Hot)),
                )
            }),
        )
        // The hostile phase of `bench/soak.sh`: a small body that a shared cache stores for ten
        // minutes, one variant per `Accept-Encoding` value.
        .route(
            "/vary/{id}",
            get(|| async {
                (
                    [
                        (axum::http::header::CACHE_CONTROL, "public, max-age=600"),
                        (axum::http::header::VARY, "Accept-Encoding"),
                    ],
                    "a small page that varies on Accept-Encoding\n",
                )
            }),
        )
        .with_state(workload)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("bench-axum: {message}");
            return ExitCode::from(2);
        }
    };
    if config.calibrate_only {
        println!("{}", config.hot_iterations);
        return ExitCode::SUCCESS;
    }
    let cache = match cache() {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("bench-axum: cannot build the cache: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bench-axum: cannot listen on {}: {error}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "bench-axum listening on http://{} (hot handler: {} iterations)",
        config.listen, config.hot_iterations
    );
    let app = app(Arc::new(Workload::new(config.hot_iterations)), &cache);
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("bench-axum: server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
