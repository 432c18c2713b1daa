//! The memory store's engine candidates side by side, in one run: moka's `future` and `sync`
//! caches and quick_cache, each set up as `MemoryStore` needs its engine (bounded in weighted
//! bytes, a weigher, an eviction hook that counts, per-entry expiry), on 32-byte digest keys and
//! 1 KiB values.
//!
//! ```sh
//! cargo bench -p cachefront --bench engines
//! ```
//!
//! - `engine/get hit`: 100 hot keys read in turn;
//! - `engine/insert new key, full store`: a 4 MiB store kept full, every insert a new key that
//!   evicts one (the load benchmark's miss storm, as the engine sees it).
//!
//! moka checks expiry itself (its `Expiry`, with a timer wheel); quick_cache has no expiry, so
//! its value carries its deadline and a read compares it, as `MemoryStore` does.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::{
    hash::{BuildHasher, Hasher},
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use cachefront::{CacheKey, store::KeyDigest};
use criterion::{Criterion, criterion_group, criterion_main};

const CAPACITY: u64 = 4 * 1024 * 1024;
const VALUE_BYTES: usize = 1024;
/// What a value weighs: its bytes and the bookkeeping the store counts.
const WEIGHT: u32 = VALUE_BYTES as u32 + 512;

#[derive(Clone)]
struct Value {
    bytes: Arc<[u8]>,
    expires: Instant,
}

/// The digests are uniform already: their first eight bytes are the hash (as in the store).
#[derive(Clone, Copy, Default)]
struct Digests;

struct DigestHash(u64);

impl BuildHasher for Digests {
    type Hasher = DigestHash;
    fn build_hasher(&self) -> DigestHash {
        DigestHash(0)
    }
}

impl Hasher for DigestHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(5) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

struct Hour;

impl moka::Expiry<KeyDigest, Value> for Hour {
    fn expire_after_create(&self, _: &KeyDigest, _: &Value, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }
}

fn moka_future(evictions: &Arc<AtomicU64>) -> moka::future::Cache<KeyDigest, Value, Digests> {
    let evictions = Arc::clone(evictions);
    moka::future::Cache::builder()
        .max_capacity(CAPACITY)
        .weigher(|_: &KeyDigest, _: &Value| WEIGHT)
        .expire_after(Hour)
        .eviction_listener(move |_, _, _| {
            evictions.fetch_add(1, Ordering::Relaxed);
        })
        .build_with_hasher(Digests)
}

fn moka_sync(evictions: &Arc<AtomicU64>) -> moka::sync::Cache<KeyDigest, Value, Digests> {
    let evictions = Arc::clone(evictions);
    moka::sync::Cache::builder()
        .max_capacity(CAPACITY)
        .weigher(|_: &KeyDigest, _: &Value| WEIGHT)
        .expire_after(Hour)
        .eviction_listener(move |_, _, _| {
            evictions.fetch_add(1, Ordering::Relaxed);
        })
        .build_with_hasher(Digests)
}

#[derive(Clone, Copy)]
struct Weigh;

impl quick_cache::Weighter<KeyDigest, Value> for Weigh {
    fn weight(&self, _: &KeyDigest, _: &Value) -> u64 {
        u64::from(WEIGHT)
    }
}

#[derive(Clone)]
struct Count(Arc<AtomicU64>);

impl quick_cache::Lifecycle<KeyDigest, Value> for Count {
    type RequestState = [Option<Value>; 2];
    fn on_evict(&self, state: &mut Self::RequestState, _: KeyDigest, value: Value) {
        self.0.fetch_add(1, Ordering::Relaxed);
        if let Some(free) = state.iter_mut().find(|free| free.is_none()) {
            *free = Some(value);
        }
    }
}

type Quick = quick_cache::sync::Cache<KeyDigest, Value, Weigh, Digests, Count>;

fn quick(evictions: &Arc<AtomicU64>) -> Quick {
    let options = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity((CAPACITY / u64::from(WEIGHT)) as usize)
        .weight_capacity(CAPACITY)
        .shards(1)
        .build()
        .unwrap();
    quick_cache::sync::Cache::with_options(options, Weigh, Digests, Count(Arc::clone(evictions)))
}

fn quick_get(cache: &Quick, key: &KeyDigest) -> Option<Arc<[u8]>> {
    let value = cache.get(key)?;
    (value.expires > Instant::now()).then_some(value.bytes)
}

fn digests(n: usize) -> Vec<KeyDigest> {
    (0..n)
        .map(|i| *CacheKey::from_parts([format!("GET /item/{i} host=bench")]).digest())
        .collect()
}

fn value() -> Value {
    Value {
        bytes: Arc::from(vec![7u8; VALUE_BYTES]),
        expires: Instant::now() + Duration::from_secs(3600),
    }
}

fn engines(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let evictions = Arc::new(AtomicU64::new(0));
    let hot = digests(100);
    // More keys than a full store holds, cycled: each insert is a key evicted long ago.
    let storm = digests(40_000);

    let future = moka_future(&evictions);
    let sync = moka_sync(&evictions);
    let qc = quick(&evictions);
    runtime.block_on(async {
        for key in &hot {
            future.insert(*key, value()).await;
        }
    });
    for key in &hot {
        sync.insert(*key, value());
        qc.insert(*key, value());
    }

    let mut group = c.benchmark_group("engine/get hit");
    let mut i = 0;
    group.bench_function("moka future", |b| {
        b.to_async(&runtime).iter(|| {
            i = (i + 1) % hot.len();
            let key = &hot[i];
            let future = &future;
            async move { future.get(black_box(key)).await.map(|v| v.bytes) }
        })
    });
    group.bench_function("moka sync", |b| {
        b.iter(|| {
            i = (i + 1) % hot.len();
            sync.get(black_box(&hot[i])).map(|v| v.bytes)
        })
    });
    group.bench_function("quick_cache", |b| {
        b.iter(|| {
            i = (i + 1) % hot.len();
            quick_get(&qc, black_box(&hot[i]))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("engine/insert new key, full store");
    let one = value();
    let mut j = 0;
    group.bench_function("moka future", |b| {
        b.to_async(&runtime).iter(|| {
            j = (j + 1) % storm.len();
            let key = storm[j];
            let (future, one) = (&future, one.clone());
            async move { future.insert(key, one).await }
        })
    });
    group.bench_function("moka sync", |b| {
        b.iter(|| {
            j = (j + 1) % storm.len();
            sync.insert(storm[j], one.clone())
        })
    });
    group.bench_function("quick_cache", |b| {
        b.iter(|| {
            j = (j + 1) % storm.len();
            qc.insert(storm[j], one.clone())
        })
    });
    group.finish();
    assert!(evictions.load(Ordering::Relaxed) > 0, "the stores were full");
}

criterion_group!(benches, engines);
criterion_main!(benches);
