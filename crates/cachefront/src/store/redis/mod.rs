//! The shared tier: Redis and Redis Cluster on redis-rs.
//!
//! This module holds [`RedisStore`] itself: its connection, the calls under the timeout and the
//! circuit breaker, single-entry operations, cross-instance locks and the [`Store`]
//! implementation. Building it, reading its settings from the environment, the breaker, the
//! pub/sub bus, the Lua scripts, purges of many entries and the value encoding live in the
//! submodules.

mod breaker;
pub(super) mod builder;
mod bus;
pub(super) mod codec;
mod config;
mod purge;
mod replay;
mod scripts;

use std::{
    collections::HashSet,
    fmt,
    future::Future,
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use redis::{
    Cmd, Pipeline, RedisFuture, RedisResult, Value,
    aio::ConnectionManager,
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};
use tokio::sync::{broadcast, watch};

pub(crate) use self::bus::Invalidation;
use self::{
    breaker::{Breaker, CircuitOpen, PROBE_EVERY},
    bus::Bus,
    codec::EntryCodec,
    replay::Replay,
    scripts::Scripts,
};
use super::{BoxFuture, Store, StoreLock, StoreUsage};
use crate::{entry::Entry, error::Error, key::CacheKey};

/// How many keys one `SCAN`/`SSCAN` step asks for, and how many commands run at once.
const BATCH: usize = 512;
/// How many shards the readable-key index has: one per first hex digit of the digest.
const INDEX_SHARDS: u32 = 16;

/// A store in Redis or Redis Cluster, shared by every instance of an application.
///
/// - **Connections**: one multiplexed connection through redis-rs's `ConnectionManager`,
///   which reconnects by itself, or a Redis Cluster connection (`cluster-async`).
/// - **Fail open**: every call is bounded by the [timeout](crate::store::RedisStoreBuilder::timeout). A call
///   that times out, or three that fail in a row, open a circuit: calls then fail at once,
///   while a background `PING` every 50 ms (itself under the timeout) checks whether Redis
///   answers again; the first answer closes the circuit. So a dead or slow Redis costs a
///   request about one timeout at most, and most requests nothing but a miss; and the store is
///   used again 50 to 100 ms after Redis answers (after a restart, the first probe may only
///   set off remaking the lost connection, the next one uses it). Errors are of kind
///   [`Store`](crate::ErrorKind::Store): the cache logs and counts them and goes to the
///   handler. Connecting never fails because Redis is down; only a configuration that cannot
///   work does.
/// - **Values**: [`EntryCodec`] (compact binary, LZ4 above 1 KiB by default), expiring with the
///   entry (`PEXPIRE`, in milliseconds) at the end of its [retention](Entry::retention).
/// - **Purges** by key, tag (Redis sets that expire with their entries), prefix of the readable
///   key (a sorted-set index, one range query), or everything under the prefix (`SCAN` on
///   every primary of a cluster); never `KEYS`.
/// - **Invalidations during an outage** are not lost: a removal by key, tag, prefix or of
///   everything that fails is queued (up to 1,024; past that, everything under the prefix is
///   purged instead) and replayed in order as soon as Redis answers again (the probe that
///   closes the circuit, or any call that succeeds, starts it); each replayed invalidation is
///   published to the other instances. Until the replay is done, reads on this store replay
///   first, so an instance never reads back from Redis (restored from a snapshot, or only
///   unreachable) what it failed to invalidate. The queue lives in the process: an instance
///   that stops during the outage takes its queue with it.
/// - **TLS**: `rediss://` URLs with the `redis-tls` feature (rustls with the `ring` provider,
///   installed as the process default unless the application installed one). The system's
///   roots are trusted unless `RedisStoreBuilder::tls_root_certificate` names a
///   CA; `tls_client_certificate` is for mutual TLS (both with the feature). Without the feature a `rediss://` URL is a configuration error.
/// - **Credentials**: errors, logs and `Debug` show URLs with the password as `***`.
/// - **Cross-instance coalescing**: [`try_lock`](Store::try_lock) (`SET NX PX`) and
///   [`wait_for`](Store::wait_for), woken over pub/sub rather than polling.
///
/// Memory in front of Redis, with invalidations fanned out to every instance, is
/// [`TieredStore`](crate::store::TieredStore).
///
/// ```no_run
/// use std::time::Duration;
/// use cachefront::{Cache, store::RedisStore};
///
/// # async fn run() -> Result<(), cachefront::Error> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("shop:")
///     .timeout(Duration::from_millis(100))
///     .connect()
///     .await?;
/// let cache = Cache::builder().store(store).build()?;
/// # Ok(()) }
/// ```
///
/// # Layout in Redis
///
/// Every key starts with the store's prefix (`cachefront:` by default). The digest of a cache
/// key is written in hexadecimal inside a Redis Cluster *hash tag*, so an entry and its lock
/// always live on the same slot:
///
/// | key | type | what |
/// | --- | --- | --- |
/// | `{prefix}e:{<digest>}` | hash | `v`: the [`EntryCodec`] value, `t`: its tags, `k`: its readable key, `f`: until when it is fresh (ms since the Unix epoch, `0` when it must be revalidated); expires (`PEXPIRE`, ms) with the entry |
/// | `{prefix}t:<tag>` | set | digests of the entries carrying the tag; expires with the longest-lived of them |
/// | `{prefix}l:{<digest>}` | string | the lock on computing the key (`SET NX PX`) |
/// | `{prefix}{index:<d>}:keys` | sorted set | `<readable key>\0<digest>` at score 0, for the entries whose digest starts with the hex digit `<d>` (16 shards, so that a cluster spreads index writes over 16 slots): a purge by prefix is one `ZRANGEBYLEX` range per shard |
/// | `{prefix}{index:<d>}:expiry` | sorted set | the same members scored by expiry, to trim the shard as entries expire |
///
/// Versions before the shards kept one index, `{prefix}{index}:keys` and `:expiry`; purges by
/// prefix still read it, so that a rolling upgrade purges what older instances indexed.
///
/// Two pub/sub channels carry what instances tell each other: `{prefix}invalidate` (a key, a
/// tag, a prefix or everything was removed: drop your memory copies) and `{prefix}ready` (a
/// lock was released: stop waiting).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    settings: Settings,
    breaker: Breaker,
    bus: Arc<Bus>,
    /// Identifies this store's messages on the invalidation channel.
    instance: String,
    lock_tokens: AtomicU64,
    runtime: tokio::runtime::Handle,
    scripts: Scripts,
    /// Every round trip's time, for the usage and the metrics.
    latency: crate::series::Latency,
    /// Invalidations that failed, to replay once Redis answers.
    replay: Replay,
    /// Dropped with the store: stops the pub/sub listener.
    _shutdown: watch::Sender<()>,
}

#[derive(Clone, Debug)]
struct Settings {
    prefix: String,
    timeout: Duration,
    lock_ttl: Duration,
    codec: EntryCodec,
    cluster: bool,
}

/// A single server through the connection manager, or a cluster.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(cmd, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Closes the circuit once Redis answers a `PING` within the timeout, trying every
/// [`PROBE_EVERY`]. Ends with the store, once the circuit is closed (by this probe, or by a
/// call that was under way and succeeded), or with the runtime; a call that finds the circuit
/// open and no probe running starts another.
async fn probe(store: Weak<Inner>) {
    /// Marks the probe as ended however it ends (even dropped with a runtime shutting down).
    struct Probing(Weak<Inner>);
    impl Drop for Probing {
        fn drop(&mut self) {
            if let Some(inner) = self.0.upgrade() {
                inner.breaker.probing.store(false, Ordering::Release);
            }
        }
    }
    let _probing = Probing(store.clone());
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        // Not held across the `PING`: the store may be dropped meanwhile.
        let (mut connection, timeout) = match store.upgrade() {
            Some(inner) if inner.breaker.is_open() => (inner.connection.clone(), inner.settings.timeout),
            _ => return,
        };
        // Through the connection manager, so that a lost connection is remade here too.
        let pong = tokio::time::timeout(timeout, async {
            match &mut connection {
                Connection::Single(manager) => redis::cmd("PING").query_async::<Value>(manager).await,
                // Any node: calls to a node still down open the circuit again.
                Connection::Cluster(cluster) => {
                    let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                    cluster.route_command(redis::cmd("PING"), random).await
                }
            }
        })
        .await;
        if let Ok(Ok(_)) = pong {
            if let Some(inner) = store.upgrade() {
                inner.breaker.succeeded();
                tracing::info!("Redis answers again; the store is used again");
                RedisStore { inner }.schedule_replay();
            }
            return;
        }
    }
}

impl RedisStore {
    /// The prefix of every key the store writes.
    pub fn prefix(&self) -> &str {
        &self.inner.settings.prefix
    }

    /// The bound on every Redis call.
    pub fn timeout(&self) -> Duration {
        self.inner.settings.timeout
    }

    /// Whether the store runs on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.settings.cluster
    }

    /// Whether the pub/sub connection (invalidations from other instances, lock wake-ups) is
    /// subscribed right now.
    pub fn is_subscribed(&self) -> bool {
        *self.inner.bus.subscribed.borrow()
    }

    /// Round-trip time of a `PING`.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        let mut connection = self.connection();
        self.call("PING", redis::cmd("PING").query_async::<Value>(&mut connection))
            .await?;
        Ok(started.elapsed())
    }

    /// Loads the scripts up front, so that the first calls do not all miss them at once.
    /// (Calls load a script themselves when Redis has lost it, e.g. after a restart.)
    async fn load_scripts(&self) -> Result<(), Error> {
        let scripts = &self.inner.scripts;
        for script in [
            &scripts.put,
            &scripts.remove_counted,
            &scripts.tag_add,
            &scripts.index_add,
            &scripts.lock,
            &scripts.unlock,
        ] {
            let mut connection = self.connection();
            self.call("SCRIPT LOAD", script.load_async(&mut connection))
                .await?;
        }
        Ok(())
    }

    fn connection(&self) -> Connection {
        self.inner.connection.clone()
    }

    fn entry_key(&self, hex: &str) -> String {
        format!("{}e:{{{hex}}}", self.inner.settings.prefix)
    }

    fn lock_key(&self, hex: &str) -> String {
        format!("{}l:{{{hex}}}", self.inner.settings.prefix)
    }

    /// The readable-key index shard of the entry whose digest is `hex`: every member
    /// `<readable>\0<digest>`, all at score 0 so that a prefix is one `ZRANGEBYLEX` range; and
    /// beside it (same slot) the same members scored by expiry, to trim them. The shard is the
    /// digest's first hex digit, so that on a cluster the index writes spread over
    /// [`INDEX_SHARDS`] slots instead of one.
    fn index_keys(&self, hex: &str) -> (String, String) {
        let shard = hex.get(..1).unwrap_or("0");
        self.index_shard(shard)
    }

    fn index_shard(&self, shard: &str) -> (String, String) {
        let prefix = &self.inner.settings.prefix;
        (
            format!("{prefix}{{index:{shard}}}:keys"),
            format!("{prefix}{{index:{shard}}}:expiry"),
        )
    }

    /// Every index a purge by prefix reads: the [`INDEX_SHARDS`] shards, and the single index
    /// of versions before the shards (`{prefix}{index}:…`), so that entries an instance of an
    /// older version indexed during a rolling upgrade are purged too.
    fn all_index_keys(&self) -> Vec<(String, String)> {
        let prefix = &self.inner.settings.prefix;
        let legacy = (
            format!("{prefix}{{index}}:keys"),
            format!("{prefix}{{index}}:expiry"),
        );
        (0..INDEX_SHARDS)
            .map(|shard| self.index_shard(&format!("{shard:x}")))
            .chain([legacy])
            .collect()
    }

    async fn add_to_index(&self, readable: &str, hex: &str, px: u64) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let (keys, expiry) = self.index_keys(hex);
        let mut connection = self.connection();
        self.call(
            "ZADD",
            self.inner
                .scripts
                .index_add
                .key(keys)
                .key(expiry)
                .arg(format!("{readable}\0{hex}"))
                .arg(now.saturating_add(px))
                // A minute of slack for clocks that disagree between instances.
                .arg(now.saturating_sub(60_000))
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}t:{tag}", self.inner.settings.prefix)
    }

    /// Runs one Redis round trip under the timeout and the circuit breaker.
    async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Error> {
        let breaker = &self.inner.breaker;
        if breaker.is_open() {
            self.ensure_probe();
            return Err(Error::store(format!("Redis {what} skipped"), CircuitOpen));
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(self.inner.settings.timeout, call).await;
        self.inner.latency.record(started.elapsed());
        match answer {
            Ok(Ok(value)) => {
                breaker.succeeded();
                self.schedule_replay();
                Ok(value)
            }
            Ok(Err(error)) => {
                if error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_unrecoverable_error()
                {
                    self.failed(error.is_timeout());
                }
                Err(Error::store(format!("Redis {what} failed"), error))
            }
            Err(elapsed) => {
                self.failed(true);
                Err(Error::store(
                    format!(
                        "Redis {what} timed out after {} ms",
                        self.inner.settings.timeout.as_millis()
                    ),
                    elapsed,
                ))
            }
        }
    }

    /// Counts a failed call; if the circuit is open now, makes sure a probe will close it.
    fn failed(&self, timed_out: bool) {
        self.inner.breaker.failed(timed_out);
        if self.inner.breaker.is_open() {
            self.ensure_probe();
        }
    }

    /// Starts the [`probe`] unless it runs: on the caller's runtime, which is alive (the one
    /// the store was built on may not be).
    fn ensure_probe(&self) {
        if !self.inner.breaker.start_probing() {
            return;
        }
        tracing::warn!(
            timeout_ms = self.inner.settings.timeout.as_millis() as u64,
            "Redis is down or slow; store calls fail at once until it answers again"
        );
        let probing = probe(Arc::downgrade(&self.inner));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(probing)),
            Err(_) => drop(self.inner.runtime.spawn(probing)),
        }
    }

    fn decode(&self, bytes: Vec<u8>, key: &CacheKey, redis_key: &str) -> Result<Arc<Entry>, Error> {
        match self.inner.settings.codec.decode(bytes, key) {
            Ok(entry) => Ok(Arc::new(entry)),
            Err(error) => {
                tracing::warn!(key = %key, redis_key, error = %error.report(), "corrupt entry in Redis; treated as a miss");
                Err(error)
            }
        }
    }

    async fn get_entry(&self, key: &CacheKey) -> Result<Option<Arc<Entry>>, Error> {
        // Never read back what an invalidation that failed was meant to remove.
        if self.inner.replay.is_pending() {
            self.replay().await?;
        }
        let redis_key = self.entry_key(&key.digest().to_hex());
        let mut connection = self.connection();
        let value: Option<Vec<u8>> = self
            .call(
                "HGET",
                redis::cmd("HGET")
                    .arg(&redis_key)
                    .arg("v")
                    .query_async(&mut connection),
            )
            .await?;
        value.map(|bytes| self.decode(bytes, key, &redis_key)).transpose()
    }

    async fn put_entry(&self, entry: Arc<Entry>) -> Result<(), Error> {
        let retention = entry.retention(SystemTime::now());
        let px = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        if px == 0 {
            return Ok(());
        }
        let hex = entry.key.digest().to_hex();
        let value = self.inner.settings.codec.encode(&entry);
        let tags = codec::encode_tags(&entry.tags);
        // Index first, so that a purge that starts once the entry is visible finds it.
        let tagged = stream::iter(entry.tags.clone())
            .map(|tag| self.add_to_tag(tag, &hex, px))
            .buffer_unordered(BATCH)
            .try_collect::<()>();
        tokio::try_join!(tagged, self.add_to_index(entry.key.readable(), &hex, px))?;
        let mut connection = self.connection();
        let old: Option<Vec<u8>> = self
            .call(
                "PUT",
                self.inner
                    .scripts
                    .put
                    .key(self.entry_key(&hex))
                    .arg(value)
                    .arg(tags)
                    .arg(entry.key.readable())
                    .arg(px)
                    .arg(fresh_until(&entry))
                    .arg(if crate::flow::variants::is_primary_copy(&entry) {
                        "1"
                    } else {
                        "0"
                    })
                    .invoke_async(&mut connection),
            )
            .await?;
        // Drop the key from the sets of tags the replaced entry had and this one has not.
        let Some(old) = old else {
            return Ok(());
        };
        let old = match codec::decode_tags(&old) {
            Ok(old) => old,
            Err(error) => {
                tracing::debug!(error = %error.report(), "the replaced entry's tags are unreadable; leaving its tag sets to expire");
                return Ok(());
            }
        };
        let stale: Vec<String> = {
            let current: HashSet<&str> = entry.tags.iter().map(|t| &**t).collect();
            old.into_iter()
                .filter(|t| !current.contains(t.as_str()))
                .collect()
        };
        let hex = &hex;
        stream::iter(stale)
            .map(|tag| async move {
                let mut connection = self.connection();
                self.call(
                    "SREM",
                    redis::cmd("SREM")
                        .arg(self.tag_key(&tag))
                        .arg(hex)
                        .query_async::<i64>(&mut connection),
                )
                .await
                .map(drop)
            })
            .buffer_unordered(BATCH)
            .try_collect::<()>()
            .await
    }

    async fn add_to_tag(&self, tag: Arc<str>, hex: &str, px: u64) -> Result<(), Error> {
        let mut connection = self.connection();
        self.call(
            "SADD",
            self.inner
                .scripts
                .tag_add
                .key(self.tag_key(&tag))
                .arg(hex)
                .arg(px)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    async fn unlink(&self, redis_key: &str) -> Result<bool, Error> {
        let mut connection = self.connection();
        let removed: i64 = self
            .call(
                "UNLINK",
                redis::cmd("UNLINK").arg(redis_key).query_async(&mut connection),
            )
            .await?;
        Ok(removed > 0)
    }

    async fn remove_entry(&self, key: &CacheKey) -> Result<bool, Error> {
        self.unlink(&self.entry_key(&key.digest().to_hex())).await
    }

    /// Publishes an invalidation to every other instance.
    pub(crate) async fn publish(&self, invalidation: &Invalidation) -> Result<(), Error> {
        let payload = invalidation.encode(&self.inner.instance);
        let mut connection = self.connection();
        self.call(
            "PUBLISH",
            redis::cmd("PUBLISH")
                .arg(&self.inner.bus.invalidate_channel)
                .arg(payload)
                .query_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    /// Invalidations published by other instances.
    pub(crate) fn invalidations(&self) -> broadcast::Receiver<Invalidation> {
        self.inner.bus.invalidations.subscribe()
    }

    /// Whether the pub/sub connection is subscribed, as it changes.
    pub(crate) fn subscription(&self) -> watch::Receiver<bool> {
        self.inner.bus.subscribed.subscribe()
    }

    /// The runtime the store was connected on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    async fn lock(&self, key: &CacheKey) -> Result<Option<StoreLock>, Error> {
        let hex = key.digest().to_hex();
        let token = format!(
            "{}:{}",
            self.inner.instance,
            self.inner.lock_tokens.fetch_add(1, Ordering::Relaxed)
        );
        let ttl = u64::try_from(self.inner.settings.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection();
        // Entry and lock share a hash tag: one slot, so one script sees both.
        let taken: i64 = self
            .call(
                "LOCK",
                self.inner
                    .scripts
                    .lock
                    .key(self.entry_key(&hex))
                    .key(self.lock_key(&hex))
                    .arg(&token)
                    .arg(ttl)
                    .arg(epoch_millis(SystemTime::now()))
                    .invoke_async(&mut connection),
            )
            .await?;
        let taken = (taken == 1).then_some(());
        if taken.is_none() {
            return Ok(None);
        }
        let store = self.clone();
        Ok(Some(StoreLock::new(
            async move { store.unlock(&hex, &token).await },
        )))
    }

    async fn unlock(&self, hex: &str, token: &str) -> Result<(), Error> {
        let mut connection = self.connection();
        self.call(
            "UNLOCK",
            self.inner
                .scripts
                .unlock
                .key(self.lock_key(hex))
                .arg(token)
                .arg(&self.inner.bus.ready_channel)
                .arg(hex)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    async fn wait(&self, key: &CacheKey, timeout: Duration) -> Result<Option<Arc<Entry>>, Error> {
        if self.inner.replay.is_pending() {
            self.replay().await?;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let hex = key.digest().to_hex();
        let entry_key = self.entry_key(&hex);
        let lock_key = self.lock_key(&hex);
        let waiter = self.inner.bus.register(&hex);
        loop {
            // Listen before looking, so that a release between the two is not missed.
            let notified = waiter.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut connection = self.connection();
            // Same hash tag: one slot, one round trip, even on a cluster.
            let (value, lock_ttl): (Option<Vec<u8>>, i64) = self
                .call(
                    "HGET+PTTL",
                    redis::pipe()
                        .cmd("HGET")
                        .arg(&entry_key)
                        .arg("v")
                        .cmd("PTTL")
                        .arg(&lock_key)
                        .query_async(&mut connection),
                )
                .await?;
            let now = tokio::time::Instant::now();
            if let Some(bytes) = value {
                let entry = self.decode(bytes, key, &entry_key)?;
                // A stale entry is what the lock holder is refreshing: wait for its answer,
                // unless the lock is gone or the time is up.
                if lock_ttl <= 0 || now >= deadline || entry.is_fresh(SystemTime::now()) {
                    return Ok(Some(entry));
                }
            } else if lock_ttl <= 0 || now >= deadline {
                // No lock (released without an entry, or expired): nothing to wait for.
                return Ok(None);
            }
            // Woken by the release; else the lock's own expiry bounds the wait.
            let lock_expiry = now + Duration::from_millis(lock_ttl.unsigned_abs()) + Duration::from_millis(5);
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(lock_expiry.min(deadline)) => {}
            }
        }
    }
}

/// Milliseconds since the Unix epoch (zero before it).
fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Until when an entry is fresh, in ms since the Unix epoch; `0` for one that must be
/// revalidated before each use.
fn fresh_until(entry: &Entry) -> u64 {
    if entry.no_cache {
        return 0;
    }
    let now = SystemTime::now();
    epoch_millis(now).saturating_add(u64::try_from(entry.remaining_ttl(now).as_millis()).unwrap_or(u64::MAX))
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.settings.prefix)
            .field("timeout", &self.inner.settings.timeout)
            .field("cluster", &self.inner.settings.cluster)
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(self.get_entry(key))
    }

    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.put_entry(entry))
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>> {
        let invalidation = Invalidation::Key(key.digest().to_hex());
        Box::pin(self.invalidating(invalidation, self.remove_entry(key)))
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        let invalidation = Invalidation::Tag(tag.to_owned());
        Box::pin(self.invalidating(invalidation, self.remove_tagged(tag)))
    }

    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(self.invalidating(Invalidation::All, self.clear_all()))
    }

    /// Redis does not report what one prefix holds cheaply: entries and bytes are unknown
    /// (zero). The circuit's state and the round trips' times are known.
    fn usage(&self) -> StoreUsage {
        StoreUsage {
            circuit_open: Some(self.inner.breaker.is_open()),
            operation_latency: Some(self.inner.latency.snapshot()),
            ..StoreUsage::default()
        }
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        let invalidation = Invalidation::Prefix(prefix.to_owned());
        Box::pin(self.invalidating(invalidation, self.remove_with_prefix(prefix)))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn try_lock<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<StoreLock>, Error>> {
        Box::pin(self.lock(key))
    }

    fn wait_for<'a>(
        &'a self,
        key: &'a CacheKey,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>> {
        Box::pin(self.wait(key, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn a_silent_redis_costs_one_timeout_then_calls_fail_at_once() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let timeout = Duration::from_millis(50);
        let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
            .timeout(timeout)
            .build()
            .unwrap();
        let started = Instant::now();
        assert_eq!(store.ping().await.unwrap_err().kind(), ErrorKind::Store);
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
        for _ in 0..10 {
            let started = Instant::now();
            let error = store.ping().await.unwrap_err();
            assert!(started.elapsed() < timeout / 2, "{:?}", started.elapsed());
            assert!(error.to_string().contains("skipped"), "{error}");
        }
        assert!(
            store.inner.breaker.probing.load(Ordering::Acquire),
            "a probe runs"
        );
        // The probe does not keep the store alive, and ends without it.
        let inner = Arc::downgrade(&store.inner);
        drop(store);
        tokio::time::sleep(PROBE_EVERY + timeout * 2).await;
        assert!(inner.upgrade().is_none(), "the probe holds the store");
        silent.abort();
    }
}
