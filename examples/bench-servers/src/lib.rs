//! The workload behind `bench/load.sh`: what `bench-axum` and `bench-actix` serve, shared so
//! that both frameworks run exactly the same handlers.
//!
//! Each server answers, for every [`Scenario`] (`hot`, `miss`, `burst`, `large`):
//!
//! - `GET /static/{scenario}/{id}`: precomputed bytes of the scenario's body size, the fastest a
//!   cache hit could ever be;
//! - `GET /plain/{scenario}/{id}`: the scenario's real handler, no cache;
//! - `GET /cached/{scenario}/{id}`: the same handler behind cachefront;
//! - `GET /calls`: how many times each scenario's real handler ran, as `scenario=count` lines;
//! - `GET /stats`: the cache's entries, weighed bytes, evictions, hits, misses, stores and
//!   coalesced waits, as `name=value` lines.
//!
//! ```text
//! cargo build --release -p example-bench-servers
//! target/release/bench-axum 127.0.0.1:18080      # or BENCH_LISTEN=127.0.0.1:18080
//! target/release/bench-actix --calibrate         # prints the hot handler's iterations per ms
//! ```
//!
//! `BENCH_HOT_ITERATIONS` fixes the hot handler's work (otherwise it is calibrated to about
//! 1 ms at startup), so that every server of one benchmark run does the same work.

mod workload;

use std::fmt::Write as _;

use cachefront_tower::cachefront::{Cache, Error, Policy};

pub use workload::{
    BURST_DELAY, CACHE_CAPACITY, Config, DEFAULT_LISTEN, Scenario, TIME_TO_LIVE, Workload, calibrate, spin,
};

/// The cache both servers put in front of their `cached` routes: a memory store of
/// [`CACHE_CAPACITY`] bytes.
pub fn cache() -> Result<Cache, Error> {
    Cache::builder().max_bytes(CACHE_CAPACITY).build()
}

/// The cache's counters, one `name=value` line each: what `/stats` answers.
pub fn stats_text(cache: &Cache) -> String {
    let stats = cache.stats();
    let mut text = String::new();
    for (name, value) in [
        ("entries", stats.entries),
        ("bytes", stats.bytes),
        ("capacity_bytes", stats.capacity_bytes.unwrap_or(0)),
        ("evictions", stats.evictions),
        ("hits", stats.total.hits),
        ("misses", stats.total.misses),
        ("stores", stats.total.stores),
        ("coalesced_waits", stats.total.coalesced_waits),
    ] {
        let _ = writeln!(text, "{name}={value}");
    }
    text
}

/// The policy of a scenario's `cached` route, named after its pattern.
pub fn policy(scenario: Scenario) -> Policy {
    Policy::ttl(TIME_TO_LIVE).name(scenario.route("cached"))
}
