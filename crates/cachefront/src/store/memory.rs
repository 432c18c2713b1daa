//! The embedded store: quick_cache (S3-FIFO), bounded in bytes, expiry checked at lookup.

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use quick_cache::{
    OptionsBuilder, Weighter,
    sync::{Cache as Engine, EntryAction},
};

use super::{BoxFuture, Store, StoreUsage};
use crate::{
    entry::Entry,
    error::Error,
    key::{CacheKey, KeyDigest},
};

/// An in-process store bounded in **bytes**, on [`quick_cache`]'s S3-FIFO cache.
///
/// Each entry weighs its body, headers, key and bookkeeping ([`Entry::weight`]); a write that
/// would pass the capacity first evicts, in the same call, the entries least likely to be read
/// again (S3-FIFO: new entries that are not read again go first, entries read since they came
/// stay). So the bytes held never pass the capacity, and [`usage`](Store::usage) is exact at
/// every moment, with no background housekeeping to wait for.
///
/// Every entry knows when it must go ([`Entry::retention`], or its sliding
/// [`time_to_idle`](Entry::time_to_idle)): a lookup that finds it past that answers a miss and
/// removes it. An expired entry nobody reads again stays (within the capacity) until it is
/// evicted to make room, or until [`run_pending_tasks`](Self::run_pending_tasks) sweeps the
/// store; either way it counts as an expiration, and an entry evicted before its end as an
/// eviction. Requests never pay for a sweep: it reads every entry (milliseconds for a full
/// 64 MiB store), and run by writes once a second it made the miss storm's p99 7–10× plain's.
///
/// The capacity is split into shards of at least 16 MiB each (one shard below 32 MiB), locked
/// separately; an entry larger than its shard's share is not stored (counted as an eviction).
/// The default [`Policy::max_body_bytes`](crate::Policy::max_body_bytes), 8 MiB, is well below.
///
/// ```
/// use cachefront::store::MemoryStore;
///
/// let store = MemoryStore::with_max_bytes(16 * 1024 * 1024);
/// assert_eq!(store.max_bytes(), 16 * 1024 * 1024);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Arc<Engine<KeyDigest, Slot, SlotWeight, DigestHasher, Listener>>,
    shared: Arc<Shared>,
    max_bytes: u64,
}

/// What the engine holds for an entry: the entry and when it must go.
#[derive(Clone)]
struct Slot {
    entry: Arc<Entry>,
    /// The end of its lifetime: its retention, or sooner when idle for its time-to-idle.
    expires: Instant,
    /// For an entry with a sliding expiry: how long it may stay unread, and the end of its
    /// retention, which reads never pass.
    idle: Option<(Duration, Instant)>,
    weight: u32,
}

impl Slot {
    fn new(entry: Arc<Entry>, now: Instant) -> Self {
        let end = now + entry.retention(SystemTime::now());
        let idle = entry.time_to_idle.map(|idle| (idle, end));
        Self {
            expires: idle.map_or(end, |(idle, end)| (now + idle).min(end)),
            idle,
            weight: u32::try_from(entry.weight()).unwrap_or(u32::MAX),
            entry,
        }
    }

    fn is_expired(&self, now: Instant) -> bool {
        self.expires <= now
    }

    fn is(&self, other: &Slot) -> bool {
        Arc::ptr_eq(&self.entry, &other.entry)
    }
}

#[derive(Clone, Copy)]
struct SlotWeight;

impl Weighter<KeyDigest, Slot> for SlotWeight {
    fn weight(&self, _key: &KeyDigest, slot: &Slot) -> u64 {
        u64::from(slot.weight)
    }
}

/// The engine's eviction hook: counts the eviction (or the expiration, for an entry already
/// past its end) and takes the entry out of the tag index. The engine calls it for a replaced
/// entry too; the write that replaces it says so through its request state (a replacement is
/// not an eviction).
#[derive(Clone)]
struct Listener(Arc<Shared>);

/// One write's state, threaded through the engine's hooks.
#[derive(Default)]
struct Write {
    /// The entry being written: an entry of the same key that the hook sees is the one it
    /// replaces, not an eviction.
    new: Option<Arc<Entry>>,
    /// Up to two evicted slots, dropped once the shard's lock is released (their bodies may
    /// hold the last reference to large buffers).
    gone: [Option<Slot>; 2],
}

impl quick_cache::Lifecycle<KeyDigest, Slot> for Listener {
    type RequestState = Write;

    fn on_evict(&self, write: &mut Write, key: KeyDigest, slot: Slot) {
        match &write.new {
            // Replaced: its successor indexed its own tags.
            Some(new) if new.key.digest() == &key && !Arc::ptr_eq(new, &slot.entry) => {
                self.0.forget(&slot.entry);
            }
            _ if slot.is_expired(Instant::now()) => self.0.expired(&slot.entry),
            _ => {
                self.0.evictions.fetch_add(1, Ordering::Relaxed);
                self.0.forget(&slot.entry);
            }
        }
        if let Some(free) = write.gone.iter_mut().find(|free| free.is_none()) {
            *free = Some(slot);
        }
    }
}

struct Shared {
    /// Tag → digests of the entries carrying it, each with the number of entries under that
    /// digest that carry the tag and have not left yet: an entry is counted before it is stored
    /// and uncounted once when it leaves (evicted, replaced, removed, expired). Two writes of
    /// one key and the departure of the entry they replace can interleave in any order, so a
    /// departure must not take out what a newer entry of the same digest indexed. Only entries
    /// with tags touch this lock, and it is never held while taking an engine shard's lock
    /// (the eviction hook takes it inside).
    tags: Mutex<HashMap<Arc<str>, HashMap<KeyDigest, u32>>>,
    /// Held shared by a write of a tagged entry (its tags indexed, then the entry stored) and
    /// exclusively by a purge by tag or a clear, so that neither runs between the two steps: it
    /// would take the tag's set (or all of them), find the entry not yet stored, and miss it.
    purging: std::sync::RwLock<()>,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// The least capacity of one of the engine's shards: twice the default largest body.
const MIN_SHARD_BYTES: u64 = 16 * 1024 * 1024;

impl Shared {
    fn tags(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, HashMap<KeyDigest, u32>>> {
        // The index stays consistent under a panic elsewhere: every update is a single
        // increment, decrement, insert or remove.
        self.tags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an entry whose lifetime had ended as it went, and takes it out of the index.
    fn expired(&self, entry: &Entry) {
        self.expirations.fetch_add(1, Ordering::Relaxed);
        self.forget(entry);
    }

    /// Uncounts an entry that left (evicted, replaced, removed, expired) from the index.
    fn forget(&self, entry: &Entry) {
        if entry.tags.is_empty() {
            return;
        }
        let digest = entry.key.digest();
        let mut tags = self.tags();
        for tag in &entry.tags {
            let Some(set) = tags.get_mut(tag) else { continue };
            if let Some(count) = set.get_mut(digest) {
                *count -= 1;
                if *count == 0 {
                    set.remove(digest);
                }
            }
            if set.is_empty() {
                tags.remove(tag);
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
        let shared = Arc::new(Shared {
            tags: Mutex::default(),
            purging: std::sync::RwLock::default(),
            evictions: AtomicU64::new(0),
            expirations: AtomicU64::new(0),
        });
        let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
        let by_size = usize::try_from(max_bytes / MIN_SHARD_BYTES).unwrap_or(usize::MAX);
        let shards = (parallelism * 4).min(by_size).max(1);
        // A power of two no larger than asked: the engine rounds up.
        let shards = 1 << shards.ilog2();
        let options = OptionsBuilder::new()
            .shards(shards)
            // Sizes the engine's record of recently evicted keys; entries are ~1–2 KiB.
            .estimated_items_capacity(usize::try_from(max_bytes / 2048).unwrap_or(usize::MAX).max(64))
            .weight_capacity(max_bytes)
            .build()
            .expect("the options are valid: capacities and a shard count");
        let cache = Engine::with_options(options, SlotWeight, DigestHasher, Listener(Arc::clone(&shared)));
        Self {
            cache: Arc::new(cache),
            shared,
            max_bytes,
        }
    }

    /// The capacity in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Removes every entry whose lifetime has ended now, counting each as an expiration (a
    /// scan of the whole store: an operator's or a test's call, never a request's). Lookups drop
    /// an expired entry they find; entries, bytes and evictions need no maintenance.
    pub async fn run_pending_tasks(&self) {
        self.sweep(Instant::now());
    }

    /// The entry under `digest`, unless its lifetime has ended; a read of an entry with a
    /// sliding expiry moves its end.
    pub(crate) fn lookup(&self, digest: &KeyDigest) -> Option<Arc<Entry>> {
        let slot = self.cache.get(digest)?;
        let now = Instant::now();
        if slot.is_expired(now) {
            self.expire(digest, &slot);
            return None;
        }
        if let Some((idle, end)) = slot.idle {
            // A write lock for the entries that slide only (memoized values with a
            // time-to-idle); the rest are read under the shard's read lock.
            let _ = self
                .cache
                .entry(digest, Some(Duration::ZERO), |_, stored: &mut Slot| {
                    if stored.is(&slot) {
                        stored.expires = (now + idle).min(end);
                    }
                    EntryAction::Retain(())
                });
        }
        Some(slot.entry)
    }

    fn expire(&self, digest: &KeyDigest, slot: &Slot) {
        if let Some((_, gone)) = self.cache.remove_if(digest, |stored| stored.is(slot)) {
            self.shared.expired(&gone.entry);
        }
    }

    fn sweep(&self, now: Instant) {
        self.cache.retain(|_, slot| {
            if !slot.is_expired(now) {
                return true;
            }
            self.shared.expired(&slot.entry);
            false
        });
    }

    /// Takes the entry under `digest` out, with its tags; whether one was there and alive.
    fn take(&self, digest: &KeyDigest) -> Option<Arc<Entry>> {
        let (_, slot) = self.cache.remove(digest)?;
        if slot.is_expired(Instant::now()) {
            self.shared.expired(&slot.entry);
            return None;
        }
        self.shared.forget(&slot.entry);
        Some(slot.entry)
    }

    fn insert(&self, entry: Arc<Entry>) {
        let indexed = self.index(&entry);
        self.store_indexed(entry, indexed);
    }

    /// A write's first step: the entry's tags indexed, and the gate that keeps purges by tag
    /// out until [`store_indexed`](Self::store_indexed) has stored it.
    fn index(&self, entry: &Entry) -> Option<std::sync::RwLockReadGuard<'_, ()>> {
        if entry.tags.is_empty() {
            return None;
        }
        let gate = self.shared.purging.read().unwrap_or_else(PoisonError::into_inner);
        let mut tags = self.shared.tags();
        for tag in &entry.tags {
            *tags
                .entry(Arc::clone(tag))
                .or_default()
                .entry(*entry.key.digest())
                .or_default() += 1;
        }
        Some(gate)
    }

    fn store_indexed(&self, entry: Arc<Entry>, _purges_wait: Option<std::sync::RwLockReadGuard<'_, ()>>) {
        let digest = *entry.key.digest();
        let mut write = Write {
            new: Some(Arc::clone(&entry)),
            gone: Default::default(),
        };
        self.cache
            .insert_with_lifecycle(digest, Slot::new(entry, Instant::now()), &mut write);
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
        Box::pin(async move { Ok(self.lookup(key.digest())) })
    }

    fn get_now(&self, key: &CacheKey) -> Option<Result<Option<Arc<Entry>>, Error>> {
        Some(Ok(self.lookup(key.digest())))
    }

    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.insert(entry);
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(self.take(key.digest()).is_some()) })
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move { Ok(self.take_tag(tag)) })
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move { Ok(self.take_prefix(prefix)) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async move { Ok(self.take_all()) })
    }

    fn run_pending_tasks(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.sweep(Instant::now()) })
    }

    fn usage(&self) -> StoreUsage {
        StoreUsage {
            entries: self.cache.len() as u64,
            bytes: self.cache.weight(),
            capacity_bytes: Some(self.max_bytes),
            evictions: self.shared.evictions.load(Ordering::Relaxed),
            expirations: self.shared.expirations.load(Ordering::Relaxed),
            ..StoreUsage::default()
        }
    }
}

impl MemoryStore {
    fn take_tag(&self, tag: &str) -> u64 {
        let _writes_wait = self
            .shared
            .purging
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let digests = self.shared.tags().remove(tag).unwrap_or_default();
        let mut removed = 0;
        for digest in digests.into_keys() {
            // The digest may now hold a replacement without this tag: leave that one.
            let Some((_, slot)) = self
                .cache
                .remove_if(&digest, |slot| slot.entry.tags.iter().any(|t| &**t == tag))
            else {
                continue;
            };
            self.shared.forget(&slot.entry);
            removed += u64::from(!crate::flow::variants::is_primary_copy(&slot.entry));
        }
        removed
    }

    fn take_prefix(&self, prefix: &str) -> u64 {
        // A scan of the whole cache: purges are rare operator actions, lookups never pay.
        let matching: Vec<KeyDigest> = self
            .cache
            .iter()
            .filter(|(_, slot)| slot.entry.key.readable().starts_with(prefix))
            .map(|(digest, _)| digest)
            .collect();
        let mut removed = 0;
        for digest in matching {
            if let Some(entry) = self.take(&digest) {
                removed += u64::from(!crate::flow::variants::is_primary_copy(&entry));
            }
        }
        removed
    }

    fn take_all(&self) -> u64 {
        // No tagged write between the count and the clear (its entry would stay, unindexed).
        let _writes_wait = self
            .shared
            .purging
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // Responses, not entries: a primary's copy of its latest variant is not counted, nor
        // an entry whose lifetime has ended.
        let count = self
            .cache
            .iter()
            .filter(|(_, slot)| !slot.is_expired(now) && !crate::flow::variants::is_primary_copy(&slot.entry))
            .count() as u64;
        self.cache.clear();
        self.shared.tags().clear();
        count
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

    /// Entries and bytes are exact right after writes, with no maintenance to wait for: a
    /// newcomer's first `/stats` after a store shows it.
    #[tokio::test]
    async fn usage_is_exact_without_pending_maintenance() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        let entries: Vec<Arc<Entry>> = (0..5).map(|i| entry(&format!("k{i}"), 100, ttl, &[])).collect();
        for e in &entries {
            store.put(Arc::clone(e)).await.unwrap();
        }
        let weights: u64 = entries.iter().map(|e| e.weight() as u64).sum();
        let usage = store.usage();
        assert_eq!((usage.entries, usage.bytes), (5, weights), "{usage:?}");
        // A replacement is one entry, weighing what the new one weighs.
        let bigger = entry("k0", 300, ttl, &[]);
        store.put(Arc::clone(&bigger)).await.unwrap();
        let usage = store.usage();
        let weights = weights - entries[0].weight() as u64 + bigger.weight() as u64;
        assert_eq!((usage.entries, usage.bytes), (5, weights), "{usage:?}");
        for e in &entries {
            assert!(store.remove(e.key()).await.unwrap());
        }
        let usage = store.usage();
        assert_eq!((usage.entries, usage.bytes), (0, 0), "{usage:?}");
        // Maintenance has nothing left to change.
        store.run_pending_tasks().await;
        let usage = store.usage();
        assert_eq!(
            (usage.entries, usage.bytes, usage.evictions, usage.expirations),
            (0, 0, 0, 0)
        );
    }

    /// An expired entry is a miss at once and counts as an expiration; one nobody reads goes
    /// in the sweep, also counted, and leaves the tag index with it.
    #[tokio::test]
    async fn expirations_are_counted_when_read_and_when_swept() {
        let store = MemoryStore::new();
        let short = Duration::from_millis(30);
        let read = entry("read", 1, short, &["t"]);
        let unread = entry("unread", 1, short, &["t", "u"]);
        let kept = entry("kept", 1, Duration::from_secs(60), &["t"]);
        for e in [&read, &unread, &kept] {
            store.put(Arc::clone(e)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(store.get(read.key()).await.unwrap().is_none());
        let usage = store.usage();
        assert_eq!((usage.entries, usage.expirations), (2, 1), "{usage:?}");
        store.run_pending_tasks().await;
        let usage = store.usage();
        assert_eq!(
            (usage.entries, usage.expirations, usage.evictions),
            (1, 2, 0),
            "{usage:?}"
        );
        assert_eq!(usage.bytes, kept.weight() as u64);
        let tags = store.shared.tags();
        assert_eq!(tags.len(), 1, "only the live entry's tag stays");
        assert_eq!(tags["t"].len(), 1);
    }

    /// Evicted entries are counted as evictions and leave the tag index: a purge by tag
    /// afterwards counts only what is still stored.
    #[tokio::test]
    async fn evictions_are_counted_and_leave_the_tag_index() {
        let capacity = 256 * 1024;
        let store = MemoryStore::with_max_bytes(capacity);
        let ttl = Duration::from_secs(60);
        for i in 0..200 {
            store
                .put(entry(&format!("k{i}"), 4 * 1024, ttl, &["all"]))
                .await
                .unwrap();
        }
        let usage = store.usage();
        assert!(usage.bytes <= capacity, "{usage:?}");
        assert!(usage.evictions > 0, "{usage:?}");
        assert_eq!(
            usage.entries + usage.evictions,
            200,
            "every entry is stored or evicted: {usage:?}"
        );
        let indexed = store.shared.tags()["all"].len() as u64;
        assert_eq!(indexed, usage.entries, "the index holds the stored entries only");
        assert_eq!(store.remove_tag("all").await.unwrap(), usage.entries);
        assert_eq!(store.usage().entries, 0);
    }

    /// A write indexes its entry's tags before it stores the entry; the entry it replaces may
    /// leave in between (removed, evicted or expired by another thread). That departure takes
    /// the old entry out of the index, not the new one: the tag still names the digest.
    #[tokio::test]
    async fn an_entry_leaving_between_a_writes_two_steps_leaves_the_new_one_indexed() {
        let store = MemoryStore::new();
        let old = entry("k", 16, Duration::from_secs(60), &["all"]);
        store.put(Arc::clone(&old)).await.unwrap();
        let new = entry("k", 32, Duration::from_secs(60), &["all"]);
        let indexed = store.index(&new);
        // Another thread removes the old entry now.
        assert!(store.take(old.key.digest()).is_some());
        store.store_indexed(Arc::clone(&new), indexed);
        assert!(
            store
                .shared
                .tags()
                .get("all")
                .is_some_and(|set| set.contains_key(new.key.digest())),
            "the stored entry is still indexed under its tag"
        );
        assert_eq!(store.remove_tag("all").await.unwrap(), 1, "and purged by it");
        assert!(store.get(&new.key).await.unwrap().is_none());
        assert!(store.shared.tags().is_empty());
    }

    /// Writers, readers and purgers on four threads at once, started together by a barrier,
    /// on a store small enough to evict on most writes: afterwards the bound holds, and the tag
    /// index names exactly the stored entries that carry each tag.
    #[test]
    fn concurrent_writes_evictions_and_purges_keep_the_index_exact() {
        let capacity = 512 * 1024;
        let store = MemoryStore::with_max_bytes(capacity);
        let ttl = Duration::from_secs(60);
        let threads = 4;
        let barrier = std::sync::Barrier::new(threads);
        let writes = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (store, barrier, writes) = (&store, &barrier, &writes);
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    barrier.wait();
                    runtime.block_on(async {
                        for i in 0..2_000 {
                            // 600 keys shared by all threads, each tagged by its residue.
                            let name = format!("k{}", (i * 7 + t * 13) % 600);
                            let tag = format!("t{}", i % 5);
                            store.put(entry(&name, 2048, ttl, &[&tag, "all"])).await.unwrap();
                            writes.fetch_add(1, Ordering::Relaxed);
                            let _ = store.get(&CacheKey::from_parts([name.as_str()])).await.unwrap();
                            if i % 97 == 0 {
                                store.remove_tag(&format!("t{}", (i + t) % 5)).await.unwrap();
                            }
                            if i % 89 == 0 {
                                store
                                    .remove(&CacheKey::from_parts([name.as_str()]))
                                    .await
                                    .unwrap();
                            }
                        }
                    });
                });
            }
        });
        assert_eq!(writes.load(Ordering::Relaxed), 8_000);
        let usage = store.usage();
        assert!(usage.bytes <= capacity, "{usage:?}");
        assert!(usage.evictions > 0, "the store evicted: {usage:?}");
        let stored: Vec<(KeyDigest, Slot)> = store.cache.iter().collect();
        assert_eq!(stored.len() as u64, usage.entries);
        let tags = store.shared.tags();
        for (digest, slot) in &stored {
            for tag in &slot.entry.tags {
                assert!(
                    tags.get(tag).is_some_and(|set| set.contains_key(digest)),
                    "{tag} lost a stored entry"
                );
            }
        }
        for (tag, digests) in tags.iter() {
            for digest in digests.keys() {
                let holder = stored.iter().find(|(d, _)| d == digest);
                assert!(
                    holder.is_some_and(|(_, slot)| slot.entry.tags.contains(tag)),
                    "{tag} names an entry that is not stored with it"
                );
            }
        }
    }

    /// An entry with a sliding expiry stays while it is read within its idle time, goes when it
    /// is not, and never outlives its retention.
    #[tokio::test]
    async fn time_to_idle_slides_on_reads_up_to_the_retention() {
        let store = MemoryStore::new();
        let idle = Duration::from_millis(150);
        let mut read = (*entry("read", 1, Duration::from_millis(600), &[])).clone();
        read.time_to_idle = Some(idle);
        let read = Arc::new(read);
        let mut unread = (*entry("unread", 1, Duration::from_secs(60), &[])).clone();
        unread.time_to_idle = Some(idle);
        let unread = Arc::new(unread);
        store.put(Arc::clone(&read)).await.unwrap();
        store.put(Arc::clone(&unread)).await.unwrap();
        // Read every 50 ms for 300 ms: twice the idle time, and still there.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(store.get(read.key()).await.unwrap().is_some());
        }
        assert!(
            store.get(unread.key()).await.unwrap().is_none(),
            "idle for 300 ms"
        );
        // Past its 600 ms retention, reads do not keep it.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = store.get(read.key()).await.unwrap();
        }
        assert!(
            store.get(read.key()).await.unwrap().is_none(),
            "past its retention"
        );
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
