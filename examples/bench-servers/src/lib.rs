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

use std::{
    fmt::Write as _,
    hint::black_box,
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use cachefront_tower::cachefront::{Cache, Error, Policy};

/// The address a server listens on when neither an argument nor `BENCH_LISTEN` gives one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:18080";

/// The capacity of the servers' cache: 64 MiB.
pub const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// How long cached responses live: longer than any run, so nothing expires while measuring.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(3600);

/// How long the `burst` handler takes.
pub const BURST_DELAY: Duration = Duration::from_millis(100);

/// One workload of the load benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 100 keys read over and over, a handler that burns about 1 ms of CPU: hits.
    Hot,
    /// A new key on every request, a cheap handler: what the cache costs when it never helps.
    Miss,
    /// Many concurrent requests to one cold key, a handler that takes 100 ms: coalescing.
    Burst,
    /// 1 MiB responses.
    Large,
}

impl Scenario {
    /// Every scenario, in the order the benchmark runs them.
    pub const ALL: [Self; 4] = [Self::Hot, Self::Miss, Self::Burst, Self::Large];

    /// The scenario's name, as it appears in paths and in `/calls`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Miss => "miss",
            Self::Burst => "burst",
            Self::Large => "large",
        }
    }

    /// The size of every response body of the scenario, static or computed.
    pub fn body_bytes(self) -> usize {
        match self {
            Self::Hot => 1024,
            Self::Miss | Self::Burst => 256,
            Self::Large => 1024 * 1024,
        }
    }

    /// The pattern of the scenario's route under `variant` (`static`, `plain` or `cached`),
    /// e.g. `/cached/hot/{id}`.
    pub fn route(self, variant: &str) -> String {
        format!("/{variant}/{}/{{id}}", self.name())
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The handlers' work and counters, shared by every worker of a server.
#[derive(Debug)]
pub struct Workload {
    hot_iterations: u64,
    calls: [AtomicU64; 4],
    static_bodies: [Bytes; 4],
}

impl Workload {
    /// A workload whose hot handler runs `hot_iterations` rounds of [`spin`].
    pub fn new(hot_iterations: u64) -> Self {
        Self {
            hot_iterations,
            calls: Default::default(),
            static_bodies: Scenario::ALL
                .map(|scenario| padded(scenario.body_bytes(), format_args!("{} static", scenario.name()))),
        }
    }

    /// The precomputed body of the scenario's `static` route.
    pub fn static_body(&self, scenario: Scenario) -> Bytes {
        self.static_bodies[scenario.index()].clone()
    }

    /// The hot handler: about 1 ms of CPU, then a body that depends on `id`.
    pub fn hot(&self, id: &str) -> Bytes {
        let call = self.count(Scenario::Hot);
        let digest = spin(fnv1a(id.as_bytes()), self.hot_iterations);
        padded(Scenario::Hot.body_bytes(), format_args!("hot {id} digest {digest:016x} call {call}"))
    }

    /// The miss handler: cheap, a body that depends on `id`.
    pub fn miss(&self, id: &str) -> Bytes {
        let call = self.count(Scenario::Miss);
        padded(Scenario::Miss.body_bytes(), format_args!("miss {id} call {call}"))
    }

    /// The burst handler's body; the server awaits [`BURST_DELAY`] on its own runtime first.
    pub fn burst(&self, id: &str) -> Bytes {
        let call = self.count(Scenario::Burst);
        padded(Scenario::Burst.body_bytes(), format_args!("burst {id} call {call}"))
    }

    /// The large handler: a freshly built 1 MiB body.
    pub fn large(&self, id: &str) -> Bytes {
        let call = self.count(Scenario::Large);
        padded(Scenario::Large.body_bytes(), format_args!("large {id} call {call}"))
    }

    /// How many times each real handler ran, one `scenario=count` line each.
    pub fn calls_text(&self) -> String {
        let mut text = String::new();
        for scenario in Scenario::ALL {
            let calls = self.calls[scenario.index()].load(Ordering::Relaxed);
            let _ = writeln!(text, "{}={calls}", scenario.name());
        }
        text
    }

    fn count(&self, scenario: Scenario) -> u64 {
        self.calls[scenario.index()].fetch_add(1, Ordering::Relaxed) + 1
    }
}

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

/// CPU work that the optimizer cannot remove: `iterations` dependent rounds of a mixing
/// function.
pub fn spin(seed: u64, iterations: u64) -> u64 {
    let mut state = seed;
    for _ in 0..iterations {
        state = black_box(state.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ 0xA5A5_A5A5);
    }
    state
}

/// How many rounds of [`spin`] take about one millisecond on this core: the best of a few
/// timed runs, so that a preempted run does not inflate the count.
pub fn calibrate() -> u64 {
    const ROUNDS: u64 = 200_000;
    let best = (0..7)
        .map(|_| {
            let start = Instant::now();
            black_box(spin(1, ROUNDS));
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_millis(1))
        .max(Duration::from_nanos(1));
    let per_ms = u128::from(ROUNDS) * 1_000_000 / best.as_nanos();
    u64::try_from(per_ms).unwrap_or(u64::MAX).max(1)
}

/// What a server was asked to do, from its arguments and environment.
#[derive(Debug)]
pub struct Config {
    /// Where to listen: the first argument, else `BENCH_LISTEN`, else [`DEFAULT_LISTEN`].
    pub listen: SocketAddr,
    /// The hot handler's rounds of [`spin`]: `BENCH_HOT_ITERATIONS`, else [`calibrate`]d.
    pub hot_iterations: u64,
    /// `--calibrate`: print the rounds per millisecond and exit.
    pub calibrate_only: bool,
}

impl Config {
    /// Reads the command line and the environment; the error says what is wrong.
    pub fn from_env() -> Result<Self, String> {
        let mut calibrate_only = false;
        let mut listen = None;
        for argument in std::env::args().skip(1) {
            match argument.as_str() {
                "--calibrate" => calibrate_only = true,
                "-h" | "--help" => {
                    return Err("usage: bench-{axum,actix} [ADDR] [--calibrate]  (env: BENCH_LISTEN, \
                                BENCH_HOT_ITERATIONS)"
                        .to_owned());
                }
                _ if listen.is_none() => listen = Some(argument),
                _ => return Err(format!("unexpected argument {argument:?}")),
            }
        }
        let listen = listen
            .or_else(|| std::env::var("BENCH_LISTEN").ok())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen.parse().map_err(|error| {
            format!("listen address {listen:?}: expected like {DEFAULT_LISTEN} ({error})")
        })?;
        let hot_iterations = match std::env::var("BENCH_HOT_ITERATIONS") {
            Ok(value) => value.parse().map_err(|error| format!("BENCH_HOT_ITERATIONS={value:?}: {error}"))?,
            Err(_) => calibrate(),
        };
        Ok(Self { listen, hot_iterations, calibrate_only })
    }
}

/// A body of exactly `len` bytes: `head`, then filler, then a newline.
fn padded(len: usize, head: std::fmt::Arguments<'_>) -> Bytes {
    let mut text = String::with_capacity(len);
    let _ = text.write_fmt(head);
    let mut body = text.into_bytes();
    body.truncate(len.saturating_sub(1));
    body.resize(len.saturating_sub(1), b'.');
    body.push(b'\n');
    Bytes::from(body)
}

/// FNV-1a: a seed for [`spin`] that depends on the key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xCBF2_9CE4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_has_its_scenario_size() {
        let workload = Workload::new(10);
        for scenario in Scenario::ALL {
            assert_eq!(workload.static_body(scenario).len(), scenario.body_bytes());
        }
        assert_eq!(workload.hot("7").len(), Scenario::Hot.body_bytes());
        assert_eq!(workload.miss("a-very-long-key").len(), Scenario::Miss.body_bytes());
        assert_eq!(workload.burst("1").len(), Scenario::Burst.body_bytes());
        assert_eq!(workload.large("1").len(), Scenario::Large.body_bytes());
        assert!(workload.miss(&"k".repeat(1000)).ends_with(b"\n"));
    }

    #[test]
    fn calls_are_counted_per_scenario() {
        let workload = Workload::new(10);
        workload.hot("1");
        workload.hot("2");
        workload.burst("1");
        assert_eq!(workload.calls_text(), "hot=2\nmiss=0\nburst=1\nlarge=0\n");
    }

    #[test]
    fn calibration_is_positive() {
        assert!(calibrate() > 0);
    }
}
