//! The workload of the load benchmark, with no cachefront in it: the scenarios, the handlers'
//! work and counters, and the servers' configuration. `bench-axum` and `bench-actix` use it
//! through this crate; `bench/peers` (outside the workspace) includes this one file, so that
//! the peer caches run exactly the same handlers.

use std::{
    fmt::Write as _,
    hint::black_box,
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;

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
