//! The shared tier: Redis and Redis Cluster on redis-rs.
//!
//! # Layout in Redis
//!
//! Every key starts with the store's prefix (`cachefront:` by default). The digest of a cache
//! key is written in hexadecimal inside a Redis Cluster *hash tag*, so an entry and its lock
//! always live on the same slot:
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `{prefix}e:{<digest>}` | hash | `v`: the [`EntryCodec`] value, `t`: its tags, `k`: its readable key, `f`: until when it is fresh (ms since the Unix epoch, `0` when it must be revalidated); expires (`PEXPIRE`, ms) with the entry |
//! | `{prefix}t:<tag>` | set | digests of the entries carrying the tag; expires with the longest-lived of them |
//! | `{prefix}l:{<digest>}` | string | the lock on computing the key (`SET NX PX`) |
//! | `{prefix}{index}:keys` | sorted set | `<readable key>\0<digest>` at score 0: a purge by prefix is one `ZRANGEBYLEX` range |
//! | `{prefix}{index}:expiry` | sorted set | the same members scored by expiry, to trim the index as entries expire |
//!
//! Two pub/sub channels carry what instances tell each other: `{prefix}invalidate` (a key, a
//! tag, a prefix or everything was removed: drop your memory copies) and `{prefix}ready` (a
//! lock was released: stop waiting).

use std::{
    collections::{HashMap, HashSet},
    fmt,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use redis::{
    Cmd, Pipeline, RedisFuture, RedisResult, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};
use sha2::{Digest as _, Sha256};
use tokio::sync::{Notify, broadcast, watch};

use super::{BoxFuture, Store, StoreLock, StoreUsage};
use crate::{
    codec::{self, DEFAULT_COMPRESS_ABOVE, EntryCodec},
    entry::Entry,
    error::Error,
    key::CacheKey,
};

/// The default key prefix: `cachefront:`.
const DEFAULT_PREFIX: &str = "cachefront:";
/// The default bound on every Redis call: 250 ms.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The default lifetime of a lock on computing a key: 10 s, the cache's coalescing bound.
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);
/// After this many consecutive failures (or one timeout), the circuit opens: calls fail at
/// once until a probe finds Redis answering again.
const CIRCUIT_FAILURES: u32 = 3;
/// While the circuit is open, how often a probe `PING`s Redis: about how long the store stays
/// unused after Redis answers again.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How often the pub/sub connection is checked with a `PING`.
const LISTENER_PING_EVERY: Duration = Duration::from_secs(1);
/// How many keys one `SCAN`/`SSCAN` step asks for, and how many commands run at once.
const BATCH: usize = 512;

const ENV_URL: &str = "CACHEFRONT_REDIS_URL";
const ENV_CLUSTER: &str = "CACHEFRONT_REDIS_CLUSTER";
const ENV_PREFIX: &str = "CACHEFRONT_REDIS_PREFIX";
const ENV_TIMEOUT: &str = "CACHEFRONT_REDIS_TIMEOUT_MS";
const ENV_COMPRESS: &str = "CACHEFRONT_REDIS_COMPRESS_ABOVE";
const ENV_LOCK_TTL: &str = "CACHEFRONT_REDIS_LOCK_TTL_MS";

/// Replaces an entry; returns the tags of the entry it replaced.
const PUT_SCRIPT: &str = r"
local old = redis.call('HGET', KEYS[1], 't')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2], 'k', ARGV[3], 'f', ARGV[5], 'c', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return old
";

/// Removes an entry; returns 1 when it was a stored response, 0 when it was absent or the
/// primary key's copy of a variant (field `c`), which purges do not count twice.
const REMOVE_COUNTED_SCRIPT: &str = r"
local copy = redis.call('HGET', KEYS[1], 'c')
local removed = redis.call('UNLINK', KEYS[1])
if copy == '1' then
  return 0
end
return removed
";

/// Adds a digest to a tag set and makes the set live at least as long as the entry.
const TAG_ADD_SCRIPT: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// Indexes a readable key for purges by prefix, and trims members expired a minute ago.
const INDEX_ADD_SCRIPT: &str = r"
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 128)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
end
return #old
";

/// Takes a lock unless a fresh entry is already there (then there is nothing to compute). A
/// stale entry (kept for stale serving or revalidation) does not spare the lock: when a hot key
/// goes stale on every instance at once, one of them goes to the origin and the others wait.
/// `ARGV[3]` is the caller's clock, in ms since the Unix epoch.
const LOCK_SCRIPT: &str = r"
local fresh = tonumber(redis.call('HGET', KEYS[1], 'f'))
if fresh and fresh > tonumber(ARGV[3]) then
  return 0
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
";

/// Deletes a lock if it is still ours, and wakes the waiters either way.
const UNLOCK_SCRIPT: &str = r"
local ours = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  ours = 1
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return ours
";

/// A store in Redis or Redis Cluster, shared by every instance of an application.
///
/// - **Connections**: one multiplexed connection through redis-rs's `ConnectionManager`,
///   which reconnects by itself, or a Redis Cluster connection (`cluster-async`).
/// - **Fail open**: every call is bounded by the [timeout](RedisStoreBuilder::timeout). A call
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
/// - **Cross-instance coalescing**: [`try_lock`](Store::try_lock) (`SET NX PX`) and
///   [`wait_for`](Store::wait_for), woken over pub/sub rather than polling.
///
/// Memory in front of Redis, with invalidations fanned out to every instance, is
/// [`TieredStore`](crate::TieredStore).
///
/// ```no_run
/// use std::time::Duration;
/// use cachefront::{Cache, RedisStore};
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
    /// Dropped with the store: stops the pub/sub listener.
    _shutdown: watch::Sender<()>,
}

struct Scripts {
    put: Script,
    remove_counted: Script,
    tag_add: Script,
    index_add: Script,
    lock: Script,
    unlock: Script,
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

/// Builds a [`RedisStore`]: where Redis is, the key prefix, the timeout, compression and the
/// lock lifetime. Settings are checked by [`connect`](Self::connect); a setting that cannot
/// work is an error of kind [`Config`](crate::ErrorKind::Config) naming it.
///
/// ```
/// use std::time::Duration;
/// use cachefront::RedisStore;
///
/// let builder = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("shop:")
///     .timeout(Duration::from_millis(100))
///     .compress_above(Some(4096))
///     .lock_ttl(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RedisStoreBuilder {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
    compress_above: Option<usize>,
    max_decoded_bytes: usize,
    lock_ttl: Duration,
    /// Where each setting came from, for error messages: the builder method or the variable.
    names: Names,
}

#[derive(Clone, Debug)]
struct Names {
    url: &'static str,
    prefix: &'static str,
    timeout: &'static str,
    lock_ttl: &'static str,
}

impl Names {
    const BUILDER: Self = Self {
        url: "url",
        prefix: "prefix",
        timeout: "timeout",
        lock_ttl: "lock_ttl",
    };
    const ENV: Self = Self {
        url: ENV_URL,
        prefix: ENV_PREFIX,
        timeout: ENV_TIMEOUT,
        lock_ttl: ENV_LOCK_TTL,
    };
}

impl RedisStoreBuilder {
    fn with_urls(urls: Vec<String>, cluster: bool) -> Self {
        Self {
            urls,
            cluster,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            compress_above: Some(DEFAULT_COMPRESS_ABOVE),
            max_decoded_bytes: codec::DEFAULT_MAX_DECODED_BYTES,
            lock_ttl: DEFAULT_LOCK_TTL,
            names: Names::BUILDER,
        }
    }

    /// Settings from the environment:
    ///
    /// | variable | accepted form | default |
    /// | --- | --- | --- |
    /// | `CACHEFRONT_REDIS_URL` | `redis://[user:password@]host[:port][/db]` or `unix:///path`; with `CACHEFRONT_REDIS_CLUSTER`, a comma-separated list of node URLs | required |
    /// | `CACHEFRONT_REDIS_CLUSTER` | `true` / `false` (or `1` / `0`, `yes` / `no`) | `false` |
    /// | `CACHEFRONT_REDIS_PREFIX` | letters, digits and `_ : . - /`, at most 64 | `cachefront:` |
    /// | `CACHEFRONT_REDIS_TIMEOUT_MS` | milliseconds, 1 to 60000 | `250` |
    /// | `CACHEFRONT_REDIS_COMPRESS_ABOVE` | bytes, or `off` | `1024` |
    /// | `CACHEFRONT_REDIS_LOCK_TTL_MS` | milliseconds, 1 to 600000 | `10000` |
    ///
    /// A missing `CACHEFRONT_REDIS_URL` or a malformed value is an error naming the variable
    /// and the accepted form; nothing falls back to a default silently.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let url = lookup(ENV_URL).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            Error::config(
                ENV_URL,
                "not set; expected a URL such as redis://127.0.0.1:6379 (or, with \
                 CACHEFRONT_REDIS_CLUSTER=true, a comma-separated list of node URLs)",
            )
        })?;
        let cluster = match lookup(ENV_CLUSTER).as_deref().map(str::trim) {
            None | Some("") => false,
            Some(v)
                if ["1", "true", "yes", "on"]
                    .iter()
                    .any(|t| v.eq_ignore_ascii_case(t)) =>
            {
                true
            }
            Some(v)
                if ["0", "false", "no", "off"]
                    .iter()
                    .any(|t| v.eq_ignore_ascii_case(t)) =>
            {
                false
            }
            Some(v) => {
                return Err(Error::config(
                    ENV_CLUSTER,
                    format!("expected true or false, got `{v}`"),
                ));
            }
        };
        let urls: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).collect();
        if urls.len() > 1 && !cluster {
            return Err(Error::config(
                ENV_URL,
                "expected one URL; a comma-separated list is for a cluster (set CACHEFRONT_REDIS_CLUSTER=true)",
            ));
        }
        let mut builder = Self::with_urls(urls, cluster);
        builder.names = Names::ENV;
        if let Some(prefix) = lookup(ENV_PREFIX) {
            builder.prefix = prefix;
        }
        if let Some(ms) = lookup(ENV_TIMEOUT) {
            builder.timeout = parse_millis(ENV_TIMEOUT, &ms, 60_000)?;
        }
        if let Some(ms) = lookup(ENV_LOCK_TTL) {
            builder.lock_ttl = parse_millis(ENV_LOCK_TTL, &ms, 600_000)?;
        }
        if let Some(bytes) = lookup(ENV_COMPRESS) {
            let bytes = bytes.trim();
            builder.compress_above = if bytes.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(bytes.parse().map_err(|_| {
                    Error::config(
                        ENV_COMPRESS,
                        format!("expected a size in bytes or `off`, got `{bytes}`"),
                    )
                })?)
            };
        }
        builder.validate()?;
        Ok(builder)
    }

    /// The prefix of every key and pub/sub channel this store uses (default `cachefront:`):
    /// letters, digits and `_ : . - /`, at most 64. Instances share entries, purges and locks
    /// when they share the prefix. The default is the same for **every** application on that
    /// Redis: two applications left on it share one cache, and a purge of everything by one
    /// empties the other's. Give each application its own prefix (`CACHEFRONT_REDIS_PREFIX`),
    /// and every instance of one application the same.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self.names.prefix = Names::BUILDER.prefix;
        self
    }

    /// The bound on every Redis call (default 250 ms, at most 60 s). A call that takes longer
    /// fails; the cache then goes to the handler.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.names.timeout = Names::BUILDER.timeout;
        self
    }

    /// Compresses values larger than this many bytes with LZ4 (default 1 KiB); `None` never
    /// compresses.
    pub fn compress_above(mut self, threshold: Option<usize>) -> Self {
        self.compress_above = threshold;
        self
    }

    /// The most bytes one stored value may decompress to (default
    /// [`DEFAULT_MAX_DECODED_BYTES`](crate::DEFAULT_MAX_DECODED_BYTES), 64 MiB): a value
    /// claiming more is treated as corrupt (a logged miss), so that a hostile or damaged value
    /// in a shared Redis cannot make an instance allocate without bound. Whatever this says, a
    /// value never decompresses to more than 256 times its stored size. Set it at least as
    /// large as the largest body a policy stores (`Policy::max_body_bytes`).
    pub fn max_decoded_bytes(mut self, max: usize) -> Self {
        self.max_decoded_bytes = max;
        self
    }

    /// How long a lock on computing a key lives if it is never released (default 10 s): the
    /// longest other instances wait for an instance that died while computing.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self.names.lock_ttl = Names::BUILDER.lock_ttl;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.urls.is_empty() || self.urls.iter().any(String::is_empty) {
            return Err(Error::config(
                self.names.url,
                "expected a URL such as redis://127.0.0.1:6379",
            ));
        }
        for url in &self.urls {
            validate_url(self.names.url, url)?;
        }
        if self.prefix.len() > 64
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_:.-/".contains(&b))
        {
            return Err(Error::config(
                self.names.prefix,
                format!(
                    "expected letters, digits and `_ : . - /`, at most 64, got `{}`",
                    self.prefix
                ),
            ));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return Err(Error::config(
                self.names.timeout,
                format!("expected 1 ms to 60 s, got {:?}", self.timeout),
            ));
        }
        if self.lock_ttl < Duration::from_millis(1) || self.lock_ttl > Duration::from_secs(600) {
            return Err(Error::config(
                self.names.lock_ttl,
                format!("expected 1 ms to 600 s, got {:?}", self.lock_ttl),
            ));
        }
        Ok(())
    }

    /// Checks the settings and connects: [`build`](Self::build), then a first round trip
    /// (which loads the store's scripts).
    ///
    /// Redis being unreachable is not an error: the store starts failing open (every call is a
    /// fast error, the cache goes to the handler) and connects by itself once Redis answers;
    /// a warning is logged.
    pub async fn connect(self) -> Result<RedisStore, Error> {
        let store = self.build()?;
        if let Err(error) = store.load_scripts().await {
            tracing::warn!(%error, "Redis is not reachable yet; the store fails open until it is");
        }
        Ok(store)
    }

    /// Checks the settings and returns the store without waiting for Redis: the connection is
    /// made on first use. For synchronous setup code (e.g. configuration from the
    /// environment); must be called within a Tokio runtime, on which the store runs its
    /// pub/sub listener.
    pub fn build(self) -> Result<RedisStore, Error> {
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config(
                self.names.url,
                "a Redis store must be built within a Tokio runtime (it runs a pub/sub listener)",
            )
        })?;
        let settings = Settings {
            prefix: self.prefix,
            timeout: self.timeout,
            lock_ttl: self.lock_ttl,
            codec: EntryCodec::new()
                .compress_above(self.compress_above)
                .max_decoded_bytes(self.max_decoded_bytes),
            cluster: self.cluster,
        };
        let clients = self
            .urls
            .iter()
            .map(|url| redis::Client::open(url.as_str()))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|error| Error::config(self.names.url, error))?;
        let connection = if self.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(self.urls.clone())
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                .retries(1)
                .build()
                .map_err(|error| Error::config(self.names.url, error))?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(settings.timeout)
                .set_response_timeout(settings.timeout);
            Connection::Cluster(client.get_pending_async_connection_with_config(config))
        } else {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(settings.timeout))
                .set_response_timeout(Some(settings.timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(settings.timeout);
            let manager = ConnectionManager::new_lazy_with_config(clients[0].clone(), config)
                .map_err(|error| Error::config(self.names.url, error))?;
            Connection::Single(manager)
        };
        let instance = instance_id();
        let bus = Arc::new(Bus::new(&settings.prefix, instance.clone()));
        let (shutdown, shutdown_rx) = watch::channel(());
        runtime.spawn(listen(Arc::clone(&bus), clients, settings.timeout, shutdown_rx));
        let store = RedisStore {
            inner: Arc::new(Inner {
                connection,
                settings,
                breaker: Breaker::new(),
                bus,
                instance,
                lock_tokens: AtomicU64::new(0),
                runtime,
                scripts: Scripts {
                    put: Script::new(PUT_SCRIPT),
                    remove_counted: Script::new(REMOVE_COUNTED_SCRIPT),
                    tag_add: Script::new(TAG_ADD_SCRIPT),
                    index_add: Script::new(INDEX_ADD_SCRIPT),
                    lock: Script::new(LOCK_SCRIPT),
                    unlock: Script::new(UNLOCK_SCRIPT),
                },
                _shutdown: shutdown,
            }),
        };
        Ok(store)
    }
}

fn parse_millis(name: &str, value: &str, max: u64) -> Result<Duration, Error> {
    match value.trim().parse::<u64>() {
        Ok(ms) if (1..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(Error::config(
            name,
            format!("expected a whole number of milliseconds from 1 to {max}, got `{value}`"),
        )),
    }
}

fn validate_url(name: &str, url: &str) -> Result<(), Error> {
    const FORM: &str = "expected redis://[user:password@]host[:port][/db] or unix:///path";
    if url.starts_with("rediss://") {
        return Err(Error::config(
            name,
            format!("{FORM}: TLS (rediss://) is not supported by this build, got `{url}`"),
        ));
    }
    if !(url.starts_with("redis://") || url.starts_with("unix://") || url.starts_with("redis+unix://")) {
        return Err(Error::config(name, format!("{FORM}, got `{url}`")));
    }
    redis::Client::open(url)
        .map(drop)
        .map_err(|error| Error::config(name, format!("{FORM}, got `{url}`: {error}")))
}

/// A random-enough identity for this store: process, time and address.
fn instance_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(std::process::id().to_le_bytes());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.update(now.as_nanos().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let local = 0u8;
    hasher.update((std::ptr::addr_of!(local) as usize).to_le_bytes());
    let digest = hasher.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails calls at once while Redis is down or slow, until a probe finds it answering.
///
/// No call is let through to test the water: under a slow Redis each one would cost a request
/// the whole timeout. The probe ([`probe`]) pays instead, off the request path.
struct Breaker {
    failures: AtomicU32,
    open: AtomicBool,
    /// Whether a probe task is running: at most one per store.
    probing: AtomicBool,
}

impl Breaker {
    fn new() -> Self {
        Self {
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            probing: AtomicBool::new(false),
        }
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Redis answered in time: calls go through again.
    fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.is_open() {
            self.open.store(false, Ordering::Release);
        }
    }

    /// Counts a failure. A timeout opens the circuit at once: that call already cost its
    /// request the whole bound, and the next ones would too.
    fn failed(&self, timed_out: bool) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if timed_out || failures >= CIRCUIT_FAILURES {
            self.open.store(true, Ordering::Release);
        }
    }

    /// Claims the right to run the probe; `false` if one runs already.
    fn start_probing(&self) -> bool {
        !self.probing.load(Ordering::Relaxed) && !self.probing.swap(true, Ordering::AcqRel)
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
            }
            return;
        }
    }
}

/// The circuit is open: Redis timed out or failed repeatedly just now.
#[derive(Debug)]
struct CircuitOpen;

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Redis timed out or failed {CIRCUIT_FAILURES} times in a row; calls fail at once until \
             it answers a PING (tried every {} ms)",
            PROBE_EVERY.as_millis()
        )
    }
}

impl std::error::Error for CircuitOpen {}

/// What one instance tells the others was removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// One key, by its digest in hex (peers remove exactly it, never a prefix).
    Key(String),
    /// Every entry carrying a tag.
    Tag(String),
    /// Every entry whose readable key starts with this.
    Prefix(String),
    /// Everything.
    All,
}

impl Invalidation {
    fn encode(&self, instance: &str) -> Vec<u8> {
        let (kind, data) = match self {
            Self::Key(readable) => ('k', readable.as_str()),
            Self::Tag(tag) => ('t', tag.as_str()),
            Self::Prefix(prefix) => ('p', prefix.as_str()),
            Self::All => ('a', ""),
        };
        format!("{instance}\n{kind}{data}").into_bytes()
    }

    /// The sender and the invalidation, or `None` for a message this release does not know.
    fn decode(payload: &[u8]) -> Option<(&str, Self)> {
        let payload = std::str::from_utf8(payload).ok()?;
        let (instance, rest) = payload.split_once('\n')?;
        let mut chars = rest.chars();
        let kind = chars.next()?;
        let data = chars.as_str().to_owned();
        let invalidation = match kind {
            'k' => Self::Key(data),
            't' => Self::Tag(data),
            'p' => Self::Prefix(data),
            'a' => Self::All,
            _ => return None,
        };
        Some((instance, invalidation))
    }
}

/// What the pub/sub listener shares with the store: waiters on locks, invalidations received,
/// and whether the subscription is up.
struct Bus {
    invalidate_channel: String,
    ready_channel: String,
    instance: String,
    waiters: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    invalidations: broadcast::Sender<Invalidation>,
    subscribed: watch::Sender<bool>,
}

/// How many invalidations heard from other instances may wait to be applied to the memory tier
/// before it is emptied as out of date (~1 MiB of messages).
const INVALIDATION_BACKLOG: usize = 16_384;

impl Bus {
    fn new(prefix: &str, instance: String) -> Self {
        Self {
            invalidate_channel: format!("{prefix}invalidate"),
            ready_channel: format!("{prefix}ready"),
            instance,
            waiters: Mutex::new(HashMap::new()),
            // Room for bursts (a flood of unsafe requests on other instances): applying one is
            // O(variants), and falling behind empties the memory tier.
            invalidations: broadcast::channel(INVALIDATION_BACKLOG).0,
            subscribed: watch::channel(false).0,
        }
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        // Every update is a single insert or remove: the map stays consistent under a panic.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(self: &Arc<Self>, hex: &str) -> Waiter {
        let notify = {
            let mut waiters = self.waiters();
            let slot = waiters
                .entry(hex.to_owned())
                .or_insert_with(|| (Arc::new(Notify::new()), 0));
            slot.1 += 1;
            Arc::clone(&slot.0)
        };
        Waiter {
            bus: Arc::clone(self),
            hex: hex.to_owned(),
            notify,
        }
    }

    fn dispatch(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
        if channel == self.ready_channel {
            let Ok(hex) = std::str::from_utf8(payload) else {
                return;
            };
            if let Some((notify, _)) = self.waiters().get(hex) {
                notify.notify_waiters();
            }
        } else if channel == self.invalidate_channel {
            match Invalidation::decode(payload) {
                Some((instance, _)) if instance == self.instance => {}
                Some((_, invalidation)) => {
                    // No receiver (a plain RedisStore) is fine.
                    let _ = self.invalidations.send(invalidation);
                }
                None => tracing::debug!("ignoring an unknown message on the invalidation channel"),
            }
        }
    }

    fn set_subscribed(&self, up: bool) {
        self.subscribed
            .send_if_modified(|state| std::mem::replace(state, up) != up);
    }
}

/// One task waiting on a key's lock; unregisters on drop.
struct Waiter {
    bus: Arc<Bus>,
    hex: String,
    notify: Arc<Notify>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiters = self.bus.waiters();
        if let Some(slot) = waiters.get_mut(&self.hex) {
            slot.1 -= 1;
            if slot.1 == 0 {
                waiters.remove(&self.hex);
            }
        }
    }
}

/// Keeps one pub/sub connection subscribed to the store's channels: reconnects with backoff
/// (trying each node in turn for a cluster, where `PUBLISH` reaches every node), checks the
/// connection with `PING`, and says whether it is up.
async fn listen(
    bus: Arc<Bus>,
    clients: Vec<redis::Client>,
    timeout: Duration,
    mut shutdown: watch::Receiver<()>,
) {
    let channels = [bus.invalidate_channel.clone(), bus.ready_channel.clone()];
    let mut backoff = Duration::from_millis(50);
    for attempt in 0.. {
        let client = &clients[attempt % clients.len()];
        let connected = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels).await?;
            RedisResult::Ok(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                tracing::debug!(channels = ?channels, "subscribed to the cachefront channels");
                bus.set_subscribed(true);
                let (mut sink, mut messages) = pubsub.split();
                let mut ping = tokio::time::interval(LISTENER_PING_EVERY);
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ping.tick().await;
                loop {
                    tokio::select! {
                        changed = shutdown.changed() => if changed.is_err() { return },
                        message = messages.next() => match message {
                            Some(message) => bus.dispatch(&message),
                            None => break,
                        },
                        _ = ping.tick() => {
                            let pong = tokio::time::timeout(timeout, sink.ping::<Value>()).await;
                            if !matches!(pong, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("lost the Redis pub/sub connection; resubscribing");
                bus.set_subscribed(false);
            }
            Ok(Err(error)) => {
                bus.set_subscribed(false);
                tracing::debug!(%error, "cannot subscribe to Redis yet");
            }
            Err(_) => {
                bus.set_subscribed(false);
                tracing::debug!("subscribing to Redis timed out");
            }
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

impl RedisStore {
    /// A builder for a single Redis server at `url` (`redis://[user:password@]host[:port][/db]`
    /// or `unix:///path`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::with_urls(vec![url.into()], false)
    }

    /// A builder for a Redis Cluster reached through any of `nodes` (URLs as for
    /// [`builder`](Self::builder)).
    pub fn cluster_builder<I, U>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        RedisStoreBuilder::with_urls(nodes.into_iter().map(Into::into).collect(), true)
    }

    /// Connects to a single Redis server at `url` with default settings.
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// Connects with the settings of [`RedisStoreBuilder::from_env`].
    pub async fn from_env() -> Result<Self, Error> {
        RedisStoreBuilder::from_env()?.connect().await
    }

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

    /// The readable-key index: every member `<readable>\0<digest>`, all at score 0 so that a
    /// prefix is one `ZRANGEBYLEX` range; and beside it (same slot) the same members scored by
    /// expiry, to trim them.
    fn index_keys(&self) -> (String, String) {
        let prefix = &self.inner.settings.prefix;
        (
            format!("{prefix}{{index}}:keys"),
            format!("{prefix}{{index}}:expiry"),
        )
    }

    async fn add_to_index(&self, readable: &str, hex: &str, px: u64) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let (keys, expiry) = self.index_keys();
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
        match tokio::time::timeout(self.inner.settings.timeout, call).await {
            Ok(Ok(value)) => {
                breaker.succeeded();
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
                tracing::warn!(key = %key, redis_key, %error, "corrupt entry in Redis; treated as a miss");
                Err(error)
            }
        }
    }

    async fn get_entry(&self, key: &CacheKey) -> Result<Option<Arc<Entry>>, Error> {
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
                    .arg(if crate::cache::is_primary_copy(&entry) {
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
                tracing::debug!(%error, "the replaced entry's tags are unreadable; leaving its tag sets to expire");
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

    /// Unlinks keys a batch at a time; returns how many existed.
    async fn unlink_all(&self, keys: Vec<String>) -> Result<u64, Error> {
        self.count_removed(keys, |key| async move { self.unlink(&key).await })
            .await
    }

    /// Removes entries a batch at a time; returns how many stored responses went (a primary
    /// key's copy of a variant is not counted beside the variant).
    async fn remove_responses(&self, keys: Vec<String>) -> Result<u64, Error> {
        self.count_removed(keys, |key| async move {
            let mut connection = self.connection();
            let counted: i64 = self
                .call(
                    "REMOVE",
                    self.inner
                        .scripts
                        .remove_counted
                        .key(&key)
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(counted > 0)
        })
        .await
    }

    /// Runs `remove` on every key, `BATCH` at a time; returns for how many it said `true`.
    async fn count_removed<F, Fut>(&self, keys: Vec<String>, remove: F) -> Result<u64, Error>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<bool, Error>>,
    {
        stream::iter(keys)
            .map(remove)
            .buffer_unordered(BATCH)
            .try_fold(0, |count, removed| async move { Ok(count + u64::from(removed)) })
            .await
    }

    async fn remove_entry(&self, key: &CacheKey) -> Result<bool, Error> {
        self.unlink(&self.entry_key(&key.digest().to_hex())).await
    }

    async fn remove_tagged(&self, tag: &str) -> Result<u64, Error> {
        let tag_key = self.tag_key(tag);
        let mut members = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut connection = self.connection();
            let (next, batch): (u64, Vec<String>) = self
                .call(
                    "SSCAN",
                    redis::cmd("SSCAN")
                        .arg(&tag_key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            members.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        members.sort_unstable();
        members.dedup();
        let entry_keys: Vec<String> = members.iter().map(|hex| self.entry_key(hex)).collect();
        let removed = self.remove_responses(entry_keys).await?;
        // Only the members handled here: one added meanwhile keeps its place.
        for chunk in members.chunks(BATCH) {
            let mut connection = self.connection();
            self.call(
                "SREM",
                redis::cmd("SREM")
                    .arg(&tag_key)
                    .arg(chunk)
                    .query_async::<i64>(&mut connection),
            )
            .await?;
        }
        Ok(removed)
    }

    /// Every key matching `pattern`, a `SCAN` batch at a time (on each primary of a cluster).
    async fn scan(&self, pattern: &str) -> Result<Scan, Error> {
        let nodes = match &self.inner.connection {
            Connection::Single(_) => vec![None],
            Connection::Cluster(connection) => {
                let mut connection = connection.clone();
                let nodes: String = self
                    .call("CLUSTER NODES", async {
                        let value = connection
                            .route_command(
                                redis::cmd("CLUSTER").arg("NODES").clone(),
                                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                            )
                            .await?;
                        Ok(redis::from_redis_value(value)?)
                    })
                    .await?;
                primaries(&nodes).into_iter().map(Some).collect()
            }
        };
        Ok(Scan {
            pattern: pattern.to_owned(),
            nodes,
            cursor: 0,
        })
    }

    async fn scan_step(&self, scan: &mut Scan) -> Result<Option<Vec<String>>, Error> {
        let Some(node) = scan.nodes.last().cloned() else {
            return Ok(None);
        };
        let mut command = redis::cmd("SCAN");
        command
            .arg(scan.cursor)
            .arg("MATCH")
            .arg(&scan.pattern)
            .arg("COUNT")
            .arg(BATCH);
        let (next, keys): (u64, Vec<String>) = match (&self.inner.connection, node) {
            (Connection::Cluster(connection), Some((host, port))) => {
                let mut connection = connection.clone();
                self.call("SCAN", async {
                    let value = connection
                        .route_command(
                            command,
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
                        )
                        .await?;
                    Ok(redis::from_redis_value(value)?)
                })
                .await?
            }
            _ => {
                let mut connection = self.connection();
                self.call("SCAN", command.query_async(&mut connection)).await?
            }
        };
        scan.cursor = next;
        if next == 0 {
            scan.nodes.pop();
        }
        Ok(Some(keys))
    }

    async fn remove_with_prefix(&self, prefix: &str) -> Result<u64, Error> {
        let (keys, expiry) = self.index_keys();
        // Readable keys are UTF-8, which never contains the byte 0xff: `[prefix` to
        // `[prefix\xff` is exactly the keys that start with the prefix.
        let start = [&b"["[..], prefix.as_bytes()].concat();
        let end = [&b"["[..], prefix.as_bytes(), &b"\xff"[..]].concat();
        let mut removed = 0;
        loop {
            let mut connection = self.connection();
            let members: Vec<Vec<u8>> = self
                .call(
                    "ZRANGEBYLEX",
                    redis::cmd("ZRANGEBYLEX")
                        .arg(&keys)
                        .arg(&start)
                        .arg(&end)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            if members.is_empty() {
                return Ok(removed);
            }
            let entry_keys: Vec<String> = members
                .iter()
                .filter_map(|member| {
                    let at = member.iter().rposition(|b| *b == 0)?;
                    Some(self.entry_key(std::str::from_utf8(&member[at + 1..]).ok()?))
                })
                .collect();
            removed += self.remove_responses(entry_keys).await?;
            let mut connection = self.connection();
            // Same slot (hash tag `{index}`): one pipeline.
            self.call(
                "ZREM",
                redis::pipe()
                    .cmd("ZREM")
                    .arg(&keys)
                    .arg(&members)
                    .ignore()
                    .cmd("ZREM")
                    .arg(&expiry)
                    .arg(&members)
                    .ignore()
                    .query_async::<()>(&mut connection),
            )
            .await?;
        }
    }

    async fn clear_all(&self) -> Result<u64, Error> {
        let prefix = &self.inner.settings.prefix;
        let entries = format!("{prefix}e:");
        let locks = format!("{prefix}l:");
        let mut scan = self.scan(&format!("{prefix}*")).await?;
        let mut removed = 0;
        while let Some(keys) = self.scan_step(&mut scan).await? {
            // Locks stay: they expire by themselves and guard computations in progress.
            let (entry_keys, other_keys): (Vec<String>, Vec<String>) = keys
                .into_iter()
                .filter(|key| !key.starts_with(&locks))
                .partition(|key| key.starts_with(&entries));
            removed += self.remove_responses(entry_keys).await?;
            self.unlink_all(other_keys).await?;
        }
        Ok(removed)
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

/// Where a `SCAN` is: the nodes left (the last one in progress) and its cursor there.
struct Scan {
    pattern: String,
    nodes: Vec<Option<(String, u16)>>,
    cursor: u64,
}

/// The primaries in the output of `CLUSTER NODES`.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") || flags.contains("noaddr")
            {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse().ok().filter(|p| *p != 0)?;
            Some((host.to_owned(), port))
        })
        .collect()
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
        Box::pin(self.remove_entry(key))
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(self.remove_tagged(tag))
    }

    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(self.clear_all())
    }

    /// Redis does not report what one prefix holds cheaply: the usage is unknown (zero).
    fn usage(&self) -> StoreUsage {
        StoreUsage::default()
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(self.remove_with_prefix(prefix))
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

    fn env(vars: &[(&str, &str)]) -> Result<RedisStoreBuilder, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RedisStoreBuilder::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn from_env_reads_every_setting() {
        let builder = env(&[
            (ENV_URL, "redis://127.0.0.1:6390/2"),
            (ENV_PREFIX, "shop:"),
            (ENV_TIMEOUT, "75"),
            (ENV_COMPRESS, "off"),
            (ENV_LOCK_TTL, "2000"),
        ])
        .unwrap();
        assert_eq!(builder.urls, ["redis://127.0.0.1:6390/2"]);
        assert!(!builder.cluster);
        assert_eq!(builder.prefix, "shop:");
        assert_eq!(builder.timeout, Duration::from_millis(75));
        assert_eq!(builder.compress_above, None);
        assert_eq!(builder.lock_ttl, Duration::from_secs(2));
        let cluster = env(&[(ENV_URL, "redis://a:7000, redis://b:7001"), (ENV_CLUSTER, "true")]).unwrap();
        assert_eq!(cluster.urls, ["redis://a:7000", "redis://b:7001"]);
        assert!(cluster.cluster);
    }

    #[test]
    fn from_env_errors_name_the_variable_and_the_form() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (&[], ENV_URL, "redis://127.0.0.1:6379"),
            (&[(ENV_URL, "http://x")], ENV_URL, "redis://[user:password@]host"),
            (&[(ENV_URL, "rediss://x")], ENV_URL, "TLS"),
            (
                &[(ENV_URL, "redis://a,redis://b")],
                ENV_URL,
                "CACHEFRONT_REDIS_CLUSTER=true",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_CLUSTER, "maybe")],
                ENV_CLUSTER,
                "true or false",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_TIMEOUT, "0")],
                ENV_TIMEOUT,
                "milliseconds from 1 to 60000",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_TIMEOUT, "fast")],
                ENV_TIMEOUT,
                "got `fast`",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_LOCK_TTL, "-1")],
                ENV_LOCK_TTL,
                "milliseconds",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_COMPRESS, "1k")],
                ENV_COMPRESS,
                "bytes or `off`",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_PREFIX, "a{b}")],
                ENV_PREFIX,
                "letters, digits",
            ),
        ];
        for (vars, name, form) in cases {
            let error = env(vars).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            let message = error.to_string();
            assert!(message.contains(name), "{message} should name {name}");
            assert!(message.contains(form), "{message} should say {form}");
        }
    }

    #[test]
    fn building_outside_a_runtime_is_a_clear_error() {
        let error = RedisStore::builder("redis://127.0.0.1").build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("Tokio runtime"), "{error}");
    }

    #[test]
    fn builder_settings_are_checked() {
        let error = RedisStore::builder("redis://127.0.0.1")
            .timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("`timeout`"), "{error}");
        let error = RedisStore::builder("redis://127.0.0.1")
            .prefix("with space")
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("`prefix`"), "{error}");
        assert!(RedisStore::builder("redis://127.0.0.1").validate().is_ok());
    }

    #[test]
    fn invalidations_round_trip() {
        for invalidation in [
            Invalidation::Key("GET /a host=example.com".to_owned()),
            Invalidation::Tag("product:42\nwith newline".to_owned()),
            Invalidation::Prefix("GET example.com/".to_owned()),
            Invalidation::All,
        ] {
            let payload = invalidation.encode("me");
            assert_eq!(Invalidation::decode(&payload), Some(("me", invalidation)));
        }
        assert_eq!(Invalidation::decode(b"me\nzwhat"), None);
        assert_eq!(Invalidation::decode(b"\xff"), None);
    }

    #[test]
    fn cluster_nodes_yield_the_primaries() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002,host2 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
aaaa 127.0.0.1:30005@40005 master,fail - 0 0 1 disconnected
bbbb :0@0 master,noaddr - 0 0 1 disconnected
";
        assert_eq!(
            primaries(nodes),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
    }

    #[test]
    fn the_breaker_opens_after_repeated_failures_or_one_timeout_and_closes_on_success() {
        let breaker = Breaker::new();
        for _ in 0..CIRCUIT_FAILURES - 1 {
            breaker.failed(false);
        }
        assert!(!breaker.is_open());
        breaker.failed(false);
        assert!(breaker.is_open());
        breaker.succeeded();
        assert!(!breaker.is_open());
        breaker.failed(false);
        assert!(!breaker.is_open(), "the count starts again after a success");
        breaker.failed(true);
        assert!(breaker.is_open(), "a timeout opens at once");
        assert!(breaker.start_probing());
        assert!(!breaker.start_probing(), "one probe at a time");
    }

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
