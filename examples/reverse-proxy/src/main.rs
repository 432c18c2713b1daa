//! A caching reverse proxy in front of `CACHEFRONT_ORIGIN`, in shared-cache mode (see the
//! library's docs for what it forwards and stores).
//!
//! ```text
//! CACHEFRONT_ORIGIN=http://127.0.0.1:8000 cargo run -p example-reverse-proxy
//! curl -i http://127.0.0.1:3000/        # Cache-Status: cachefront; hit, or fwd=...
//! ```
//!
//! Settings: `CACHEFRONT_ORIGIN` (default `http://127.0.0.1:8000`), `CACHEFRONT_ORIGIN_TIMEOUT`
//! (how long to wait for the origin's response head: `30s`, the default, or `2500ms`), `CACHEFRONT_LISTEN` (default
//! `127.0.0.1:3000`), `CACHEFRONT_MAX_BYTES` and `CACHEFRONT_COALESCE_WAIT` (the cache), and
//! `CACHEFRONT_CACHE=off` for the same proxy without the cache (a baseline for benchmarks).

use std::net::SocketAddr;

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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let origin_url =
        std::env::var("CACHEFRONT_ORIGIN").unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    let mut origin = Origin::new(&origin_url)?;
    if let Some(timeout) = cachefront_tower::cachefront::config::duration("CACHEFRONT_ORIGIN_TIMEOUT")? {
        origin = origin.timeout(timeout);
    }
    let app = match std::env::var("CACHEFRONT_CACHE").as_deref() {
        Err(_) | Ok("on") => app(origin, &Cache::from_env()?, policy()),
        Ok("off") => uncached_app(origin),
        Ok(other) => return Err(format!("CACHEFRONT_CACHE={other:?}: expected on or off").into()),
    };
    let listen = std::env::var("CACHEFRONT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|error| format!("CACHEFRONT_LISTEN={listen}: {error}"))?;
    println!("cachefront reverse proxy on http://{} -> {origin_url}", listener.local_addr()?);
    // The client's address becomes the origin's `X-Forwarded-For`.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
