//! The memory store's byte bound holds against the hostile workload of long unique URLs with
//! `Vary`: everything the cache keeps because of an entry counts toward the bound or has a bound
//! of its own (issue #14, item 2).
//!
//! Runs in its own process (nextest), so the process's RSS is the cache's doing.

use bytes::Bytes;
use cachefront::{Cache, Policy, adapter::Lookup};
use http::{HeaderMap, HeaderValue, StatusCode, header};

const CAPACITY: u64 = 64 * 1024 * 1024;
const REQUESTS: usize = 100_000;
const SLACK: u64 = 32 * 1024 * 1024;

fn rss_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// A small deterministic generator: the test needs varied input, not secure randomness.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// 100,000 requests with an 8 KB unique query string each (the attack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_unique_urls_with_vary_stay_within_the_byte_bound() {
    unique_urls_with_vary(8 * 1024, REQUESTS).await;
}

/// Many small responses: the per-entry costs (header fields, store nodes, indexes) dominate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_unique_urls_with_vary_stay_within_the_byte_bound() {
    unique_urls_with_vary(16, 150_000).await;
}

/// Sends `requests` requests for new URIs (a unique query of `query_len` characters, a random
/// `Accept-Encoding`) to a 64 MiB cache, every response storable, and asserts the process's
/// peak RSS.
async fn unique_urls_with_vary(query_len: usize, requests: usize) {
    let cache = Cache::builder().max_bytes(CAPACITY).build().unwrap();
    let route = cache.route(Policy::shared());
    // What an origin sends, parsed as a server's parser hands values out (not static).
    let mut response = HeaderMap::new();
    for (name, value) in [
        (header::CACHE_CONTROL, "public, max-age=600"),
        (header::VARY, "Accept-Encoding"),
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CONTENT_LENGTH, "256"),
        (header::DATE, "Wed, 02 Dec 2026 05:10:01 GMT"),
    ] {
        response.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let body = Bytes::from(vec![b'x'; 256]);
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let start = rss_bytes("VmRSS:");
    let mut peak = start;
    let mut stored = 0;
    for i in 0..requests {
        // A unique query string and a random Accept-Encoding value.
        let uri = format!("http://victim.example/page?q={i}-{}", random.token(query_len));
        let len = 1 + (random.next() % 40) as usize;
        let encoding = random.token(len);
        let request = http::Request::get(uri)
            .header(header::ACCEPT_ENCODING, encoding)
            .body(())
            .unwrap();
        match route.lookup(&request).await {
            Lookup::Forward(forward) => {
                let verdict = forward.response(StatusCode::OK, &response);
                if let Some(mut collector) = verdict.collector {
                    assert!(collector.push(&body));
                    collector.finish();
                    stored += 1;
                }
            }
            Lookup::Hit(_) => panic!("every URL is new"),
        }
        if i % 1000 == 0 {
            peak = peak.max(rss_bytes("VmRSS:"));
        }
    }
    // The background writes and the store's pending maintenance, done.
    cache.run_pending_tasks().await;
    let end = rss_bytes("VmRSS:");
    let high_water = rss_bytes("VmHWM:");
    peak = peak.max(end).max(high_water);
    let usage = cache.store().usage();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "stored {stored} responses; RSS start {:.1} MiB, end {:.1} MiB, peak {:.1} MiB; store holds {} entries, {:.1} MiB",
        mib(start),
        mib(end),
        mib(peak),
        usage.entries,
        mib(usage.bytes),
    );
    assert_eq!(stored, requests, "every response is storable");
    assert!(
        peak <= CAPACITY + SLACK,
        "peak RSS {:.1} MiB is over the capacity ({:.0} MiB) + {:.0} MiB",
        mib(peak),
        mib(CAPACITY),
        mib(SLACK)
    );
}
