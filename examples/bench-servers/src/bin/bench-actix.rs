//! The actix-web server of `bench/load.sh`: `/static`, `/plain` and `/cached` routes for each
//! scenario, `/calls` and `/stats` (see the `example_bench_servers` crate docs).
//!
//! ```text
//! target/release/bench-actix 127.0.0.1:18080
//! ```

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use cachefront_actix::{Cache, CacheExt};
use example_bench_servers::{BURST_DELAY, Config, Scenario, Workload, cache, policy, stats_text};

const TEXT: &str = "text/plain; charset=utf-8";

fn text(body: Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT).body(body)
}

/// The scenario's real handler, shared by its `plain` and `cached` routes.
async fn handle(workload: &Workload, scenario: Scenario, id: &str) -> Bytes {
    match scenario {
        Scenario::Hot => workload.hot(id),
        Scenario::Miss => workload.miss(id),
        Scenario::Burst => {
            actix_web::rt::time::sleep(BURST_DELAY).await;
            workload.burst(id)
        }
        Scenario::Large => workload.large(id),
    }
}

/// The application, once per worker; the workload and the cache are shared by all of them.
///
/// One scope per variant, each holding the scenarios in the same order: actix-web tries
/// patterns one after the other (a regular expression each), so a `/cached` request must not
/// try more patterns than the `/static` request it is compared with. A scope's literal prefix
/// is compared without a regular expression.
fn configure(workload: web::Data<Workload>, cache: Cache) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config.app_data(workload);
        let (mut fixed_scope, mut plain_scope, mut cached_scope) =
            (web::scope("/static"), web::scope("/plain"), web::scope("/cached"));
        for scenario in Scenario::ALL {
            let fixed =
                move |workload: web::Data<Workload>| async move { text(workload.static_body(scenario)) };
            let real = move |workload: web::Data<Workload>, id: web::Path<String>| async move {
                text(handle(&workload, scenario, &id).await)
            };
            let within = format!("/{}/{{id}}", scenario.name());
            fixed_scope = fixed_scope.route(&within, web::get().to(fixed));
            plain_scope = plain_scope.route(&within, web::get().to(real));
            cached_scope = cached_scope.service(
                web::resource(within).wrap(cache.middleware(policy(scenario))).route(web::get().to(real)),
            );
        }
        config.service(fixed_scope).service(plain_scope).service(cached_scope);
        config
            .route(
                "/calls",
                web::get().to(|workload: web::Data<Workload>| async move { workload.calls_text() }),
            )
            .route(
                "/stats",
                web::get().to(move || {
                    let cache = cache.clone();
                    async move { stats_text(&cache) }
                }),
            );
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("bench-actix: {message}");
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
            eprintln!("bench-actix: cannot build the cache: {error}");
            return ExitCode::FAILURE;
        }
    };
    let workload = web::Data::new(Workload::new(config.hot_iterations));
    let server = HttpServer::new(move || App::new().configure(configure(workload.clone(), cache.clone())))
        // Connections are gone when the script stops the server: no need to wait for them.
        .shutdown_timeout(1);
    let server = match server.bind(config.listen) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("bench-actix: cannot listen on {}: {error}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "bench-actix listening on http://{} (hot handler: {} iterations)",
        config.listen, config.hot_iterations
    );
    if let Err(error) = server.run().await {
        eprintln!("bench-actix: server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
