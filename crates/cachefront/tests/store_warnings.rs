//! A store that fails on every call costs the log one warning, not one per request; stats still
//! count every failure. Alone in its binary: the limit is process-wide.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use cachefront::{
    Cache, CacheKey, Error, Policy,
    adapter::Lookup,
    store::{BoxFuture, Entry, Store, StoreUsage},
};
use tracing_subscriber::{Layer, layer::SubscriberExt as _};

/// Every call fails, as Redis does while it is down.
#[derive(Debug)]
struct Down;

fn down<T>() -> Result<T, Error> {
    Err(Error::store("Redis GET failed", "connection refused"))
}

impl Store for Down {
    fn get<'a>(&'a self, _: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(async { down() })
    }
    fn put(&self, _: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { down() })
    }
    fn remove<'a>(&'a self, _: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async { down() })
    }
    fn remove_tag<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async { down() })
    }
    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async { down() })
    }
    fn usage(&self) -> StoreUsage {
        StoreUsage::default()
    }
}

/// The warnings logged, as text.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields<'a>(&'a mut String);
        impl tracing::field::Visit for Fields<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                use fmt::Write as _;
                let _ = write!(self.0, "{}={value:?} ", field.name());
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut line = String::new();
            event.record(&mut Fields(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }
}

#[test]
fn a_thousand_failed_lookups_log_one_warning_and_count_a_thousand_errors() {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = runtime.block_on(async { Cache::builder().store(Down).build().unwrap() });
    let route = cache.route(Policy::ttl(Duration::from_secs(60)));
    runtime.block_on(async {
        for n in 0..1_000 {
            let request = http::Request::get(format!("http://example.com/item/{n}"))
                .body(())
                .unwrap();
            assert!(
                matches!(route.lookup(&request).await, Lookup::Forward(_)),
                "fail open"
            );
        }
    });
    let lines = warnings.0.lock().unwrap().clone();
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("connection refused"))
        .collect();
    // The first at once; the rest fall within one 10 s interval, summarised at its end.
    assert_eq!(failures.len(), 1, "{lines:#?}");
    assert!(
        failures[0].contains("cache store lookup failed"),
        "{}",
        failures[0]
    );
    assert!(failures[0].contains("/item/0"), "{}", failures[0]);
    assert_eq!(cache.stats().total.store_errors, 1_000);
}
