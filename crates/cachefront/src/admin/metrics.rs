//! The Prometheus text exposition format, for `GET /metrics`: every series of the table in
//! `series.rs` that has a sample, each with its `HELP` and `TYPE`.
//!
//! Latencies are Prometheus histograms with the fixed buckets of
//! [`LatencyHistogram::BOUNDS`] (`_bucket` per bound and `+Inf`, `_sum` in seconds, `_count`):
//! unlike a summary's quantiles, buckets add up across instances.

use std::fmt::Write as _;

use crate::{
    series::{Exposition, Kind, SERIES, Value, samples},
    store::LatencyHistogram,
};

/// The exposition in the Prometheus text format (version 0.0.4).
pub(super) fn prometheus_text(exposition: &Exposition) -> String {
    let mut out = String::with_capacity(8192);
    for series in SERIES {
        let samples = samples(series, exposition);
        if samples.is_empty() {
            continue;
        }
        let kind = match series.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let name = series.name;
        let _ = writeln!(out, "# HELP {name} {}", series.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (values, value) in samples {
            let labels: Vec<String> = series
                .labels
                .iter()
                .zip(&values)
                .map(|(label, value)| format!("{label}=\"{}\"", escape_label(value)))
                .collect();
            match value {
                Value::Number(n) => {
                    let _ = writeln!(out, "{name}{} {n}", braces(&labels));
                }
                Value::Histogram(histogram) => histogram_lines(&mut out, name, &labels, &histogram),
            }
        }
    }
    out
}

fn histogram_lines(out: &mut String, name: &str, labels: &[String], histogram: &LatencyHistogram) {
    let with_le = |le: &str| {
        let mut all = labels.to_vec();
        all.push(format!("le=\"{le}\""));
        braces(&all)
    };
    for (bound, count) in LatencyHistogram::BOUNDS.iter().zip(histogram.at_most) {
        let _ = writeln!(
            out,
            "{name}_bucket{} {count}",
            with_le(&bound.as_secs_f64().to_string())
        );
    }
    let _ = writeln!(out, "{name}_bucket{} {}", with_le("+Inf"), histogram.count);
    let _ = writeln!(
        out,
        "{name}_sum{} {}",
        braces(labels),
        histogram.sum.as_secs_f64()
    );
    let _ = writeln!(out, "{name}_count{} {}", braces(labels), histogram.count);
}

fn braces(labels: &[String]) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labels.join(","))
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Both outputs hold the same series: the `metrics` facade, as a recorder sees it, and the
/// endpoint's text, after the same events.
#[cfg(all(test, feature = "metrics"))]
mod parity_tests {
    use std::{
        collections::{BTreeMap, BTreeSet},
        sync::{
            Arc, Mutex,
            atomic::{AtomicU64, Ordering},
        },
        time::Duration,
    };

    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use crate::{Admin, Cache, Policy, flow::Lookup};

    /// A recorder that keeps every series by `name{label="value",...}` (labels sorted): counters'
    /// values, gauges' values, histograms' numbers of observations, and descriptions by name.
    #[derive(Default)]
    struct Recorded {
        counters: Mutex<BTreeMap<String, Arc<Cell>>>,
        gauges: Mutex<BTreeMap<String, Arc<Cell>>>,
        histograms: Mutex<BTreeMap<String, Arc<Cell>>>,
        described: Mutex<BTreeMap<String, Description>>,
    }

    /// A series' kind, unit and help, as described to the recorder.
    type Description = (&'static str, Option<Unit>, String);

    #[derive(Default)]
    struct Cell(AtomicU64);

    impl CounterFn for Cell {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.fetch_max(value, Ordering::Relaxed);
        }
    }

    impl GaugeFn for Cell {
        fn increment(&self, value: f64) {
            self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + value);
        }
        fn decrement(&self, value: f64) {
            GaugeFn::increment(self, -value);
        }
        fn set(&self, value: f64) {
            self.0.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    impl HistogramFn for Cell {
        fn record(&self, _: f64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn series_key(name: &str, mut labels: Vec<String>) -> String {
        labels.sort();
        format!("{name}{{{}}}", labels.join(","))
    }

    impl Recorded {
        fn cell(map: &Mutex<BTreeMap<String, Arc<Cell>>>, key: &Key) -> Arc<Cell> {
            let labels = key
                .labels()
                .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
                .collect();
            let name = series_key(key.name(), labels);
            Arc::clone(map.lock().unwrap().entry(name).or_default())
        }

        fn describe(&self, kind: &'static str, name: KeyName, unit: Option<Unit>, help: SharedString) {
            let previous = self
                .described
                .lock()
                .unwrap()
                .insert(name.as_str().to_owned(), (kind, unit, help.to_string()));
            assert!(
                previous.is_none_or(|p| p.0 == kind),
                "{} described as two kinds",
                name.as_str()
            );
        }

        /// Counter and gauge values, and histograms' observations, by series.
        fn values(&self) -> BTreeMap<String, (&'static str, f64)> {
            let mut values = BTreeMap::new();
            for (kind, map) in [
                ("counter", &self.counters),
                ("gauge", &self.gauges),
                ("histogram", &self.histograms),
            ] {
                for (name, cell) in map.lock().unwrap().iter() {
                    let bits = cell.0.load(Ordering::Relaxed);
                    let value = if kind == "gauge" {
                        f64::from_bits(bits)
                    } else {
                        bits as f64
                    };
                    values.insert(name.clone(), (kind, value));
                }
            }
            values
        }
    }

    impl Recorder for Recorded {
        fn describe_counter(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.describe("counter", name, unit, help);
        }
        fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.describe("gauge", name, unit, help);
        }
        fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.describe("histogram", name, unit, help);
        }
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Self::cell(&self.counters, key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Self::cell(&self.gauges, key))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Self::cell(&self.histograms, key))
        }
    }

    /// The endpoint's text: values by series as the recorder keys them (a histogram by its
    /// `_count`), and each family's `TYPE` and `HELP`.
    struct Scraped {
        values: BTreeMap<String, (&'static str, f64)>,
        families: BTreeMap<String, (&'static str, String)>,
    }

    fn scrape(text: &str) -> Scraped {
        let mut types = BTreeMap::new();
        let mut helps = BTreeMap::new();
        let mut values = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                let kind = match kind {
                    "counter" => "counter",
                    "gauge" => "gauge",
                    "histogram" => "histogram",
                    other => panic!("unexpected type {other}"),
                };
                assert!(
                    types.insert(name.to_owned(), kind).is_none(),
                    "{name} typed twice"
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                helps.insert(name.to_owned(), help.to_owned());
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.find('{') {
                Some(open) => (&series[..open], &series[open + 1..series.len() - 1]),
                None => (series, ""),
            };
            let labels: Vec<String> = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| format!("{}\"", l.trim_end_matches('"')))
                .collect();
            let value: f64 = value.parse().unwrap();
            if let Some(family) = name
                .strip_suffix("_count")
                .filter(|f| types.get(*f) == Some(&"histogram"))
            {
                values.insert(series_key(family, labels), ("histogram", value));
            } else if name.ends_with("_bucket") || name.ends_with("_sum") {
                let family = name.trim_end_matches("_bucket").trim_end_matches("_sum");
                assert_eq!(types.get(family), Some(&"histogram"), "{line}");
            } else {
                let kind = *types.get(name).unwrap_or_else(|| panic!("{name} has no TYPE"));
                values.insert(series_key(name, labels), (kind, value));
            }
        }
        let families = types
            .into_iter()
            .map(|(name, kind)| {
                let help = helps
                    .remove(&name)
                    .unwrap_or_else(|| panic!("{name} has no HELP"));
                (name, (kind, help))
            })
            .collect();
        Scraped { values, families }
    }

    /// Runs `events` on a new runtime under a fresh recorder; returns the recorder and the
    /// endpoint's text, taken last.
    fn observe<F>(events: impl FnOnce() -> F) -> (Recorded, Scraped)
    where
        F: Future<Output = Admin>,
    {
        let recorded = Recorded::default();
        let text = metrics::with_local_recorder(&recorded, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = events().await;
                let metrics = admin
                    .handle("GET", "/metrics", Some(b"Bearer 0123456789abcdef"), b"")
                    .await;
                assert_eq!(metrics.status, 200);
                metrics.body
            })
        });
        (recorded, scrape(&text))
    }

    /// Asserts that both outputs hold the same series with the same values, each described
    /// alike; returns the values.
    fn assert_parity(recorded: &Recorded, scraped: &Scraped) -> BTreeMap<String, (&'static str, f64)> {
        let facade = recorded.values();
        let facade_names: BTreeSet<&String> = facade.keys().collect();
        let endpoint_names: BTreeSet<&String> = scraped.values.keys().collect();
        assert_eq!(
            facade_names.difference(&endpoint_names).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "in the facade only"
        );
        assert_eq!(
            endpoint_names.difference(&facade_names).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "in the endpoint only"
        );
        assert_eq!(facade, scraped.values, "the same values");
        let described = recorded.described.lock().unwrap();
        for (name, (kind, help)) in &scraped.families {
            let (described_kind, unit, description) = described
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not described to the facade"));
            assert_eq!((described_kind, description), (kind, help), "{name}");
            let expected = if name.ends_with("_seconds") {
                Unit::Seconds
            } else if name.ends_with("_bytes") {
                Unit::Bytes
            } else {
                Unit::Count
            };
            assert_eq!(*unit, Some(expected), "{name}");
        }
        assert_eq!(
            described.len(),
            crate::series::SERIES.len(),
            "every series is described"
        );
        facade
    }

    const TOKEN: &str = "0123456789abcdef";

    fn get(uri: &str, cookie: Option<&str>) -> http::Request<()> {
        let mut request = http::Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header(http::header::COOKIE, cookie);
        }
        request.body(()).unwrap()
    }

    /// A miss stored, two hits, a bypass, three memo calls (a miss, two hits) and a purge.
    async fn drive(cache: &Cache) {
        let route = cache.route(Policy::ttl(Duration::from_secs(60)).name("/items/{id}"));
        let Lookup::Forward(forward) = route.lookup(&get("http://h/items/1", None)).await else {
            panic!("cold key");
        };
        let mut collector = forward
            .response(StatusCode::OK, &HeaderMap::new())
            .collector
            .unwrap();
        collector.push(&Bytes::from_static(b"x"));
        collector.finish();
        cache.run_pending_tasks().await;
        for _ in 0..2 {
            let lookup = route.lookup(&get("http://h/items/1", None)).await;
            assert!(matches!(lookup, Lookup::Hit(_)), "stored");
        }
        let Lookup::Forward(bypass) = route.lookup(&get("http://h/items/1", Some("sid=1"))).await else {
            panic!("a cookie bypasses");
        };
        assert_eq!(bypass.bypass_reason(), Some(crate::Bypass::Cookie));
        drop(bypass);
        let prices = cache.memo("prices");
        for _ in 0..3 {
            let price = prices.get_or_compute("apple", || async { Ok::<_, std::io::Error>(3) });
            assert_eq!(price.await.unwrap(), 3);
        }
        cache.run_pending_tasks().await;
        let _ = cache.invalidator().path("/nothing-here").await;
    }

    #[test]
    fn the_facade_and_the_endpoint_export_the_same_series_and_values() {
        let (recorded, scraped) = observe(|| async {
            let cache = Cache::new();
            drive(&cache).await;
            Admin::new(cache, TOKEN).unwrap()
        });
        let values = assert_parity(&recorded, &scraped);
        let value = |series: &str| values.get(series).map(|(_, v)| *v);
        let route = "route=\"/items/{id}\"";
        assert_eq!(value(&format!("cachefront_misses_total{{{route}}}")), Some(1.0));
        assert_eq!(value(&format!("cachefront_hits_total{{{route}}}")), Some(2.0));
        assert_eq!(value(&format!("cachefront_stores_total{{{route}}}")), Some(1.0));
        assert_eq!(
            value(&format!("cachefront_bypasses_total{{reason=\"cookie\",{route}}}")),
            Some(1.0)
        );
        assert_eq!(
            value(&format!("cachefront_bypasses_total{{reason=\"range\",{route}}}")),
            Some(0.0),
            "every reason is listed"
        );
        assert_eq!(
            value(&format!("cachefront_handler_seconds{{{route}}}")),
            Some(1.0)
        );
        assert_eq!(
            value("cachefront_memo_misses_total{namespace=\"prices\"}"),
            Some(1.0)
        );
        assert_eq!(
            value("cachefront_memo_hits_total{namespace=\"prices\"}"),
            Some(2.0)
        );
        assert_eq!(
            value("cachefront_memo_stores_total{namespace=\"prices\"}"),
            Some(1.0)
        );
        assert_eq!(value("cachefront_purges_total{}"), Some(1.0));
        assert_eq!(
            value("cachefront_entries{}"),
            Some(2.0),
            "a response and a memo value"
        );
        assert!(value("cachefront_bytes{}").unwrap() > 0.0);
        assert_eq!(value("cachefront_capacity_bytes{}"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(value("cachefront_expirations_total{}"), Some(0.0));
        assert_eq!(
            value("cachefront_tier_hits_total{tier=\"l1\"}"),
            None,
            "not tiered"
        );
    }

    /// The store-level series of a tiered store, with its Redis tier down: L1 hits, the
    /// circuit, the round trips' times.
    #[cfg(feature = "redis")]
    #[test]
    fn a_tiered_store_exports_its_tiers_circuit_and_round_trips_alike() {
        use crate::store::{MemoryStore, RedisStore, TieredStore};

        let (recorded, scraped) = observe(|| async {
            // Nothing listens there: every Redis call fails at once (fail open).
            let l2 = RedisStore::builder("redis://127.0.0.1:1")
                .timeout(Duration::from_millis(200))
                .connect()
                .await
                .unwrap();
            let store = TieredStore::new(MemoryStore::new(), l2);
            let cache = Cache::builder().store(store).build().unwrap();
            drive(&cache).await;
            Admin::new(cache, TOKEN).unwrap()
        });
        let values = assert_parity(&recorded, &scraped);
        let value = |series: &str| values.get(series).map(|(_, v)| *v);
        assert_eq!(
            value("cachefront_tier_hits_total{tier=\"l1\"}"),
            Some(4.0),
            "2 responses, 2 memo values"
        );
        assert_eq!(value("cachefront_tier_hits_total{tier=\"l2\"}"), Some(0.0));
        assert_eq!(
            value("cachefront_store_circuit_open{}"),
            Some(1.0),
            "Redis refused every call"
        );
        assert!(value("cachefront_store_operation_seconds{}").unwrap() >= 1.0);
        assert_eq!(value("cachefront_purge_errors_total{}"), Some(1.0));
    }
}
