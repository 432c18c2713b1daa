//! The embedded store: moka, bounded in bytes.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use moka::{future::Cache as Moka, notification::RemovalCause};

use super::{BoxFuture, Store, StoreUsage};
use crate::{
    entry::Entry,
    error::Error,
    key::{CacheKey, KeyDigest},
};

/// An in-process store on [`moka::future::Cache`], bounded in **bytes**.
///
/// Each entry weighs its body, headers, key and bookkeeping ([`Entry::weight`]); when the total
/// would pass the capacity, moka evicts the entries least likely to be used again (TinyLFU).
/// Each entry expires at the end of its own lifetime (moka's per-entry `Expiry`).
///
/// ```
/// use cachefront::store::MemoryStore;
///
/// let store = MemoryStore::with_max_bytes(16 * 1024 * 1024);
/// assert_eq!(store.max_bytes(), 16 * 1024 * 1024);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Moka<KeyDigest, Arc<Entry>, DigestHasher>,
    shared: Arc<Shared>,
    max_bytes: u64,
}

#[derive(Default)]
struct Shared {
    /// Tag → digests of the entries carrying it. Only entries with tags touch this lock.
    tags: Mutex<HashMap<Arc<str>, HashSet<KeyDigest>>>,
    evictions: AtomicU64,
    expirations: AtomicU64,
    /// Entries and weighted bytes held, counted at each insert and each removal (the eviction
    /// listener sees every one, replacements included): exact at once, where moka's own counts
    /// wait for its next maintenance.
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl Shared {
    fn tags(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, HashSet<KeyDigest>>> {
        // The index stays consistent under a panic elsewhere: every update is a single insert
        // or remove.
        self.tags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, entry: &Entry) {
        if entry.tags.is_empty() {
            return;
        }
        let mut tags = self.tags();
        for tag in &entry.tags {
            if let Some(set) = tags.get_mut(tag) {
                set.remove(entry.key.digest());
                if set.is_empty() {
                    tags.remove(tag);
                }
            }
        }
    }
}

impl MemoryStore {
    /// The default capacity of a [`MemoryStore`]: 64 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
}

impl MemoryStore {
    /// A store holding at most [`MemoryStore::DEFAULT_MAX_BYTES`] (64 MiB).
    pub fn new() -> Self {
        Self::with_max_bytes(MemoryStore::DEFAULT_MAX_BYTES)
    }

    /// A store holding at most `max_bytes`.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        let shared = Arc::new(Shared::default());
        let listener = Arc::clone(&shared);
        let cache = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &KeyDigest, entry: &Arc<Entry>| weight(entry))
            .expire_after(EntryExpiry)
            .eviction_listener(move |_key, entry: Arc<Entry>, cause| {
                listener.entries.fetch_sub(1, Ordering::Relaxed);
                listener
                    .bytes
                    .fetch_sub(u64::from(weight(&entry)), Ordering::Relaxed);
                match cause {
                    RemovalCause::Size => {
                        listener.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                    RemovalCause::Expired => {
                        listener.expirations.fetch_add(1, Ordering::Relaxed);
                    }
                    // A replaced entry's successor registered its own tags already.
                    RemovalCause::Replaced => return,
                    RemovalCause::Explicit => {}
                }
                listener.forget(&entry);
            })
            .build_with_hasher(DigestHasher);
        Self {
            cache,
            shared,
            max_bytes,
        }
    }

    /// The capacity in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Runs moka's pending maintenance (evictions, expirations) now, so that the evictions and
    /// expirations of [`usage`](Store::usage) are up to date. moka otherwise does this in small
    /// batches as it is used. Entries and bytes need no maintenance: they are counted at each
    /// write and removal.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.max_bytes)
            .field("usage", &self.usage())
            .finish()
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(async move { Ok(self.cache.get(key.digest()).await) })
    }

    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            // A replaced entry's tags that its successor does not carry leave the index (the
            // eviction listener skips replacements: the successor's own tags are already in).
            // With no tag indexed at all, no stored entry has one: the look-up is skipped.
            let replaced = if self.shared.tags().is_empty() {
                None
            } else {
                self.cache.get(entry.key.digest()).await
            };
            if let Some(old) = replaced {
                let dropped: Vec<&Arc<str>> =
                    old.tags.iter().filter(|tag| !entry.tags.contains(tag)).collect();
                if !dropped.is_empty() {
                    let mut tags = self.shared.tags();
                    for tag in dropped {
                        if let Some(set) = tags.get_mut(tag) {
                            set.remove(entry.key.digest());
                            if set.is_empty() {
                                tags.remove(tag);
                            }
                        }
                    }
                }
            }
            if !entry.tags.is_empty() {
                let mut tags = self.shared.tags();
                for tag in &entry.tags {
                    tags.entry(Arc::clone(tag))
                        .or_default()
                        .insert(*entry.key.digest());
                }
            }
            // Counted before moka holds it, so that the listener's decrement for this entry
            // (replaced, evicted, refused admission) never finds the count without it.
            self.shared.entries.fetch_add(1, Ordering::Relaxed);
            self.shared
                .bytes
                .fetch_add(u64::from(weight(&entry)), Ordering::Relaxed);
            self.cache.insert(*entry.key.digest(), entry).await;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(self.cache.remove(key.digest()).await.is_some()) })
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            let digests = self.shared.tags().remove(tag).unwrap_or_default();
            let mut removed = 0;
            for digest in digests {
                // The digest may now hold a replacement without this tag: leave that one.
                let Some(entry) = self.cache.get(&digest).await else {
                    continue;
                };
                if entry.tags.iter().any(|t| &**t == tag) && self.cache.remove(&digest).await.is_some() {
                    removed += u64::from(!crate::flow::variants::is_primary_copy(&entry));
                }
            }
            // Apply the removals now, so that usage (entries, bytes) reflects the purge.
            self.cache.run_pending_tasks().await;
            Ok(removed)
        })
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            // A scan of the whole cache: purges are rare operator actions, lookups never pay.
            let matching: Vec<(KeyDigest, bool)> = self
                .cache
                .iter()
                .filter(|(_, entry)| entry.key.readable().starts_with(prefix))
                .map(|(digest, entry)| (*digest, crate::flow::variants::is_primary_copy(&entry)))
                .collect();
            let mut removed = 0;
            for (digest, copy) in matching {
                if self.cache.remove(&digest).await.is_some() {
                    removed += u64::from(!copy);
                }
            }
            // Apply the removals now, so that usage (entries, bytes) reflects the purge.
            self.cache.run_pending_tasks().await;
            Ok(removed)
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async move {
            self.cache.run_pending_tasks().await;
            // Responses, not entries: a primary's copy of its latest variant is not counted.
            let count = self
                .cache
                .iter()
                .filter(|(_, entry)| !crate::flow::variants::is_primary_copy(entry))
                .count() as u64;
            self.cache.invalidate_all();
            self.cache.run_pending_tasks().await;
            self.shared.tags().clear();
            Ok(count)
        })
    }

    fn run_pending_tasks(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.cache.run_pending_tasks())
    }

    fn usage(&self) -> StoreUsage {
        StoreUsage {
            entries: self.shared.entries.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            capacity_bytes: Some(self.max_bytes),
            evictions: self.shared.evictions.load(Ordering::Relaxed),
            expirations: self.shared.expirations.load(Ordering::Relaxed),
            ..StoreUsage::default()
        }
    }
}

/// What an entry weighs for the capacity (and the byte count): [`Entry::weight`], saturated.
fn weight(entry: &Entry) -> u32 {
    u32::try_from(entry.weight()).unwrap_or(u32::MAX)
}

/// Each entry lives for its own remaining lifetime, or until it has been idle too long.
struct EntryExpiry;

fn lifetime(entry: &Entry) -> Duration {
    let retention = entry.retention(std::time::SystemTime::now());
    entry.time_to_idle.map_or(retention, |idle| idle.min(retention))
}

impl moka::Expiry<KeyDigest, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &KeyDigest,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(lifetime(entry))
    }

    fn expire_after_update(
        &self,
        _key: &KeyDigest,
        entry: &Arc<Entry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(lifetime(entry))
    }

    fn expire_after_read(
        &self,
        _key: &KeyDigest,
        entry: &Arc<Entry>,
        _read_at: Instant,
        duration_until_expiry: Option<Duration>,
        _last_modified_at: Instant,
    ) -> Option<Duration> {
        // Only entries with a sliding expiry change their deadline on reads.
        match entry.time_to_idle {
            Some(_) => Some(lifetime(entry)),
            None => duration_until_expiry,
        }
    }
}

/// Keys are SHA-256 digests, already uniform: hashing them again would be wasted work.
#[derive(Clone, Copy, Debug, Default)]
struct DigestHasher;

impl BuildHasher for DigestHasher {
    type Hasher = DigestHash;

    fn build_hasher(&self) -> DigestHash {
        DigestHash(0)
    }
}

struct DigestHash(u64);

impl Hasher for DigestHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-digest input; fold it in so the hasher stays correct.
        for byte in bytes {
            self.0 = self.0.rotate_left(5) ^ u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;

    #[tokio::test]
    async fn a_replaced_entrys_old_tags_leave_the_index() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        store.put(entry("a", 1, ttl, &["old", "kept"])).await.unwrap();
        store.put(entry("a", 1, ttl, &["new", "kept"])).await.unwrap();
        store.run_pending_tasks().await;
        let mut indexed: Vec<String> = store.shared.tags().keys().map(|t| t.to_string()).collect();
        indexed.sort();
        assert_eq!(indexed, ["kept", "new"], "the index follows what is stored");
        assert_eq!(store.remove_tag("kept").await.unwrap(), 1);
        assert!(store.shared.tags().is_empty());
    }

    fn entry(name: &str, body_len: usize, ttl: Duration, tags: &[&str]) -> Arc<Entry> {
        let mut entry = Entry::new(
            CacheKey::from_parts([name]),
            StatusCode::OK,
            Bytes::from(vec![b'x'; body_len]),
            ttl,
        );
        entry.tags = tags.iter().map(|t| Arc::from(*t)).collect();
        Arc::new(entry)
    }

    /// Entries and bytes are exact right after writes, before moka's maintenance has run: a
    /// newcomer's first `/stats` after a store shows it.
    #[tokio::test]
    async fn usage_is_exact_without_pending_maintenance() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        let entries: Vec<Arc<Entry>> = (0..5).map(|i| entry(&format!("k{i}"), 100, ttl, &[])).collect();
        for e in &entries {
            store.put(Arc::clone(e)).await.unwrap();
        }
        let weights: u64 = entries.iter().map(|e| u64::from(weight(e))).sum();
        let usage = store.usage();
        assert_eq!((usage.entries, usage.bytes), (5, weights), "{usage:?}");
        // A replacement is one entry, weighing what the new one weighs.
        let bigger = entry("k0", 300, ttl, &[]);
        store.put(Arc::clone(&bigger)).await.unwrap();
        let usage = store.usage();
        let weights = weights - u64::from(weight(&entries[0])) + u64::from(weight(&bigger));
        assert_eq!((usage.entries, usage.bytes), (5, weights), "{usage:?}");
        for e in &entries {
            assert!(store.remove(e.key()).await.unwrap());
        }
        let usage = store.usage();
        assert_eq!((usage.entries, usage.bytes), (0, 0), "{usage:?}");
        // Maintenance agrees with the counts it did not produce.
        store.run_pending_tasks().await;
        assert_eq!(store.usage().entries, store.cache.entry_count());
    }

    #[tokio::test]
    async fn put_get_remove() {
        let store = MemoryStore::new();
        let e = entry("a", 10, Duration::from_secs(60), &[]);
        store.put(Arc::clone(&e)).await.unwrap();
        let got = store.get(e.key()).await.unwrap().unwrap();
        assert_eq!(got.body(), e.body());
        assert!(store.remove(e.key()).await.unwrap());
        assert!(store.get(e.key()).await.unwrap().is_none());
        assert!(!store.remove(e.key()).await.unwrap());
    }

    #[tokio::test]
    async fn entries_expire_at_their_own_ttl() {
        let store = MemoryStore::new();
        let short = entry("short", 1, Duration::from_millis(50), &[]);
        let long = entry("long", 1, Duration::from_secs(60), &[]);
        store.put(Arc::clone(&short)).await.unwrap();
        store.put(Arc::clone(&long)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(store.get(short.key()).await.unwrap().is_none());
        assert!(store.get(long.key()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn stays_within_its_byte_capacity() {
        let capacity = 1024 * 1024;
        let store = MemoryStore::with_max_bytes(capacity);
        // Twice the capacity in 8 KiB bodies.
        for i in 0..256 {
            store
                .put(entry(&format!("k{i}"), 8 * 1024, Duration::from_secs(60), &[]))
                .await
                .unwrap();
        }
        store.run_pending_tasks().await;
        let usage = store.usage();
        assert!(usage.bytes <= capacity, "{usage:?}");
        assert!(usage.evictions > 0, "{usage:?}");
        assert!(usage.entries > 0);
    }

    #[tokio::test]
    async fn remove_by_tag_and_clear() {
        let store = MemoryStore::new();
        store
            .put(entry("a", 1, Duration::from_secs(60), &["t1", "t2"]))
            .await
            .unwrap();
        store
            .put(entry("b", 1, Duration::from_secs(60), &["t1"]))
            .await
            .unwrap();
        store
            .put(entry("c", 1, Duration::from_secs(60), &[]))
            .await
            .unwrap();
        assert_eq!(store.remove_tag("t1").await.unwrap(), 2);
        assert_eq!(store.remove_tag("t2").await.unwrap(), 0);
        assert!(store.get(&CacheKey::from_parts(["c"])).await.unwrap().is_some());
        // A replacement without the tag survives a purge of the old tag.
        store
            .put(entry("d", 1, Duration::from_secs(60), &["t3"]))
            .await
            .unwrap();
        store
            .put(entry("d", 1, Duration::from_secs(60), &[]))
            .await
            .unwrap();
        assert_eq!(store.remove_tag("t3").await.unwrap(), 0);
        assert!(store.get(&CacheKey::from_parts(["d"])).await.unwrap().is_some());
        assert_eq!(store.clear().await.unwrap(), 2);
        assert_eq!(store.usage().entries, 0);
    }

    #[tokio::test]
    async fn remove_by_readable_prefix() {
        let store = MemoryStore::new();
        for name in [
            "GET /products/1 host=h",
            "GET /products/2 host=h",
            "GET /news host=h",
        ] {
            store
                .put(entry(name, 1, Duration::from_secs(60), &[]))
                .await
                .unwrap();
        }
        assert_eq!(store.remove_prefix("GET /products/").await.unwrap(), 2);
        assert!(
            store
                .get(&CacheKey::from_parts(["GET /news host=h"]))
                .await
                .unwrap()
                .is_some()
        );
    }
}
