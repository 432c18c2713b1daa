//! A caching reverse proxy in front of `CACHEFRONT_ORIGIN`.
//!
//! ```text
//! CACHEFRONT_ORIGIN=http://127.0.0.1:8000 cargo run -p example-reverse-proxy
//! ```

use std::{net::SocketAddr, time::Duration};

use cachefront_tower::Cache;
use example_reverse_proxy::{Origin, app, policy, uncached_app};

/// jemalloc, as Varnish and Redis use for the same reason: a cache frees its entries in a
/// different order than it allocated them, and glibc's malloc (one arena per thread, freed
/// memory kept in place) then holds a quarter to a third of the capacity as free space that
/// the process cannot give back. jemalloc groups allocations of one size class, returns
/// freed pages to the system after a second, and here runs one arena for all threads
/// (`narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0`, compiled in by `.cargo/config.toml`).
/// Measured by `bench/soak.sh`'s hostile phase (64 MiB cache): peak RSS 84 MiB with it,
/// 93 MiB with glibc's malloc.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let origin_url =
        std::env::var("CACHEFRONT_ORIGIN").unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    let origin = match Origin::new(&origin_url) {
        Ok(origin) => origin,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // How long to wait for the origin's response head, in seconds.
    let origin = match std::env::var("CACHEFRONT_ORIGIN_TIMEOUT") {
        Err(_) => origin,
        Ok(text) => match text.parse::<f64>() {
            Ok(seconds) if seconds > 0.0 && seconds.is_finite() => {
                origin.timeout(Duration::from_secs_f64(seconds))
            }
            _ => {
                eprintln!("CACHEFRONT_ORIGIN_TIMEOUT={text:?}: expected a number of seconds, like 30 or 2.5");
                std::process::exit(2);
            }
        },
    };
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let addr: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("CACHEFRONT_LISTEN={listen:?}: expected an address like 127.0.0.1:3000 ({error})");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr} (CACHEFRONT_LISTEN): {error}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    println!("cachefront reverse proxy on http://{addr} -> {origin_url}");
    println!("try: curl -i http://{addr}/   (Cache-Status shows hit or fwd=...)");
    // CACHEFRONT_CACHE=off runs the same proxy without the cache (a baseline for benchmarks).
    let caching = match std::env::var("CACHEFRONT_CACHE").as_deref() {
        Err(_) | Ok("on") => true,
        Ok("off") => false,
        Ok(other) => {
            eprintln!("CACHEFRONT_CACHE={other:?}: expected on or off");
            std::process::exit(2);
        }
    };
    let app = if caching {
        app(origin, &Cache::new(), policy())
    } else {
        uncached_app(origin)
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // The client's address becomes the origin's `X-Forwarded-For`.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
