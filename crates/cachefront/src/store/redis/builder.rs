//! Building a [`RedisStore`]: [`RedisStoreBuilder`], its settings and their checks, and
//! connecting (the connection, the pub/sub listener and the store's identity).

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use redis::{
    RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use super::{
    Connection, Inner, RedisStore, Settings,
    breaker::Breaker,
    bus::{Bus, listen},
    codec::EntryCodec,
    replay::Replay,
    scripts::Scripts,
};
use crate::error::Error;

/// The default key prefix: `cachefront:`.
const DEFAULT_PREFIX: &str = "cachefront:";
/// The default bound on every Redis call: 250 ms.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The default lifetime of a lock on computing a key: 10 s, the cache's coalescing bound.
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);

/// Builds a [`RedisStore`]: where Redis is, the key prefix, the timeout, compression and the
/// lock lifetime. Settings are checked by [`connect`](Self::connect); a setting that cannot
/// work is an error of kind [`Config`](crate::ErrorKind::Config) naming it.
///
/// ```
/// use std::time::Duration;
/// use cachefront::store::RedisStore;
///
/// let builder = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("shop:")
///     .timeout(Duration::from_millis(100))
///     .compress_above(Some(4096))
///     .lock_ttl(Duration::from_secs(5));
/// ```
///
/// `Debug` shows the URLs with their passwords replaced by `***`.
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    pub(super) urls: Vec<String>,
    pub(super) cluster: bool,
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    pub(super) compress_above: Option<usize>,
    max_decoded_bytes: usize,
    pub(super) lock_ttl: Duration,
    /// TLS settings for `rediss://` URLs: the CA to trust instead of the system's, and a client
    /// certificate for mutual TLS.
    pub(super) tls: Tls,
    /// Where each setting came from, for error messages: the builder method or the variable.
    pub(super) names: Names,
}

#[derive(Clone, Debug)]
pub(super) struct Names {
    pub(super) url: &'static str,
    pub(super) prefix: &'static str,
    pub(super) timeout: &'static str,
    pub(super) lock_ttl: &'static str,
    pub(super) tls_ca: &'static str,
    pub(super) tls_client: &'static str,
}

impl Names {
    const BUILDER: Self = Self {
        url: "url",
        prefix: "prefix",
        timeout: "timeout",
        lock_ttl: "lock_ttl",
        tls_ca: "tls_root_certificate",
        tls_client: "tls_client_certificate",
    };
}

/// PEM bytes for TLS: none set means the system's roots and no client certificate.
#[derive(Clone, Default)]
pub(super) struct Tls {
    pub(super) root_certificate: Option<Vec<u8>>,
    /// Certificate chain and private key, both PEM.
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl Tls {
    fn is_set(&self) -> bool {
        self.root_certificate.is_some() || self.client.is_some()
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|url| redact_url(url)).collect();
        f.debug_struct("RedisStoreBuilder")
            .field("urls", &urls)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("compress_above", &self.compress_above)
            .field("max_decoded_bytes", &self.max_decoded_bytes)
            .field("lock_ttl", &self.lock_ttl)
            .field("tls_root_certificate", &self.tls.root_certificate.is_some())
            .field("tls_client_certificate", &self.tls.client.is_some())
            .finish()
    }
}

/// `url` with its password replaced by `***`, however malformed it is: everything between
/// `://` and the last `@` is the user part.
pub(crate) fn redact_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let Some(end) = url[start..].rfind('@').map(|at| start + at) else {
        return url.to_owned();
    };
    let user = &url[start..end];
    let kept = user.find(':').map_or("", |colon| &user[..=colon]);
    format!("{}{kept}***{}", &url[..start], &url[end..])
}

/// `text` with the password of every URL in it replaced by `***` (`redis://user:***@host`; a
/// user part without a password is replaced whole, `redis://***@host`, since some write the
/// password there): for every message, log line and `Debug` that shows a URL or an error that
/// may echo one.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the path, or at whatever cannot be part of a URL in prose.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || "`'\"<>,".contains(c))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                let user = &authority[..user_end];
                match user.find(':') {
                    Some(colon) => {
                        out.push_str(&user[..=colon]);
                        out.push_str("***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl RedisStoreBuilder {
    pub(super) fn with_urls(urls: Vec<String>, cluster: bool) -> Self {
        Self {
            urls,
            cluster,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            compress_above: Some(EntryCodec::DEFAULT_COMPRESS_ABOVE),
            max_decoded_bytes: EntryCodec::DEFAULT_MAX_DECODED_BYTES,
            lock_ttl: DEFAULT_LOCK_TTL,
            tls: Tls::default(),
            names: Names::BUILDER,
        }
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
    /// [`DEFAULT_MAX_DECODED_BYTES`](EntryCodec::DEFAULT_MAX_DECODED_BYTES), 64 MiB): a value
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

    /// Trusts the CA certificates in `pem` (PEM, one or more `CERTIFICATE` blocks) for
    /// `rediss://` URLs, instead of the system's roots: for a Redis whose certificate a private
    /// CA signed, or that is self-signed. The host name in the URL must match the certificate.
    /// From the environment: `CACHEFRONT_REDIS_TLS_CA`, a path to such a file.
    ///
    /// ```
    /// # let ca_pem = Vec::new();
    /// use cachefront::store::RedisStore;
    ///
    /// let builder = RedisStore::builder("rediss://redis.internal:6380").tls_root_certificate(ca_pem);
    /// ```
    #[cfg(feature = "redis-tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificate = Some(pem.into());
        self.names.tls_ca = Names::BUILDER.tls_ca;
        self
    }

    /// Presents this certificate chain and private key (both PEM) to Redis, for a server that
    /// requires client certificates (mutual TLS, `tls-auth-clients yes`). From the environment:
    /// `CACHEFRONT_REDIS_TLS_CERT` and `CACHEFRONT_REDIS_TLS_KEY`, paths to the two files.
    #[cfg(feature = "redis-tls")]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((certificate_pem.into(), key_pem.into()));
        self.names.tls_client = Names::BUILDER.tls_client;
        self
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        if self.urls.is_empty() || self.urls.iter().any(String::is_empty) {
            return Err(Error::config(
                self.names.url,
                "expected a URL such as redis://127.0.0.1:6379",
            ));
        }
        for url in &self.urls {
            validate_url(self.names.url, url)?;
        }
        if self.tls.is_set()
            && let Some(url) = self.urls.iter().find(|url| !url.starts_with("rediss://"))
        {
            let name = if self.tls.root_certificate.is_some() {
                self.names.tls_ca
            } else {
                self.names.tls_client
            };
            return Err(Error::config(
                name,
                format!(
                    "TLS certificates are set but `{}` (`{}`) is not a rediss:// URL",
                    redact_url(url),
                    self.names.url
                ),
            ));
        }
        #[cfg(feature = "redis-tls")]
        self.tls_certificates()?;
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
            tracing::warn!(error = %error.report(), "Redis is not reachable yet; the store fails open until it is");
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
        #[cfg(feature = "redis-tls")]
        let certificates = self.tls_certificates()?;
        #[cfg(feature = "redis-tls")]
        if self.urls.iter().any(|url| url.starts_with("rediss://")) {
            // redis-rs builds its rustls configuration with the process's default provider:
            // `ring`, unless the application installed one (then this fails, which is as good).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
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
            .map(|url| {
                #[cfg(feature = "redis-tls")]
                if let Some(certificates) = &certificates {
                    return redis::Client::build_with_tls(url.as_str(), certificates.clone());
                }
                redis::Client::open(url.as_str())
            })
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|error| Error::config(self.names.url, redact(&error.to_string())))?;
        let connection = if self.cluster {
            let builder = redis::cluster::ClusterClientBuilder::new(self.urls.clone())
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                .retries(1);
            #[cfg(feature = "redis-tls")]
            let builder = match certificates {
                Some(certificates) => builder.certs(certificates),
                None => builder,
            };
            let client = builder
                .build()
                .map_err(|error| Error::config(self.names.url, redact(&error.to_string())))?;
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
                .map_err(|error| Error::config(self.names.url, redact(&error.to_string())))?;
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
                scripts: Scripts::new(),
                latency: crate::series::Latency::bound(&crate::series::STORE_OPERATION_SECONDS, &[]),
                replay: Replay::default(),
                _shutdown: shutdown,
            }),
        };
        Ok(store)
    }
}

#[cfg(feature = "redis-tls")]
impl RedisStoreBuilder {
    /// The TLS settings for redis-rs, checked: `None` when none are set (a `rediss://` URL
    /// then trusts the system's roots).
    fn tls_certificates(&self) -> Result<Option<redis::TlsCertificates>, Error> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

        if !self.tls.is_set() {
            return Ok(None);
        }
        let certificates = |name: &str, pem: &[u8]| match CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(certificates) if !certificates.is_empty() => Ok(()),
            Ok(_) => Err(Error::config(
                name,
                "expected PEM with at least one CERTIFICATE block, found none",
            )),
            Err(error) => Err(Error::config(name, format!("expected PEM certificates: {error}"))),
        };
        if let Some(pem) = &self.tls.root_certificate {
            certificates(self.names.tls_ca, pem)?;
        }
        if let Some((certificate, key)) = &self.tls.client {
            certificates(self.names.tls_client, certificate)?;
            PrivateKeyDer::from_pem_slice(key).map_err(|error| {
                Error::config(
                    self.names.tls_client,
                    format!("expected a PEM private key: {error}"),
                )
            })?;
        }
        Ok(Some(redis::TlsCertificates {
            client_tls: self
                .tls
                .client
                .clone()
                .map(|(client_cert, client_key)| redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }),
            root_cert: self.tls.root_certificate.clone(),
        }))
    }
}

fn validate_url(name: &str, url: &str) -> Result<(), Error> {
    const FORM: &str = if cfg!(feature = "redis-tls") {
        "expected redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:///path"
    } else {
        "expected redis://[user:password@]host[:port][/db] or unix:///path"
    };
    if url.starts_with("rediss://") && !cfg!(feature = "redis-tls") {
        return Err(Error::config(
            name,
            format!(
                "{FORM}: TLS (rediss://) needs cachefront's `redis-tls` feature, which this build \
                 lacks, got `{}`",
                redact_url(url)
            ),
        ));
    }
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("unix://")
        || url.starts_with("redis+unix://"))
    {
        return Err(Error::config(name, format!("{FORM}, got `{}`", redact_url(url))));
    }
    redis::Client::open(url).map(drop).map_err(|error| {
        Error::config(
            name,
            format!(
                "{FORM}, got `{}`: {}",
                redact_url(url),
                redact(&error.to_string())
            ),
        )
    })
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

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
    fn redaction_hides_passwords_in_urls_and_in_text() {
        assert_eq!(
            redact_url("redis://user:pw@host:1/0"),
            "redis://user:***@host:1/0"
        );
        assert_eq!(redact_url("redis://:pw@host"), "redis://:***@host");
        assert_eq!(redact_url("redis://pw@host"), "redis://***@host");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact_url("redis://u:p@w@d@host"), "redis://u:***@host");
        assert_eq!(
            redact("failed on `redis://a:pw@h1`, then rediss://b:pw@h2/3 and unix:///tmp/s"),
            "failed on `redis://a:***@h1`, then rediss://b:***@h2/3 and unix:///tmp/s"
        );
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn tls_settings_are_checked() {
        let error = RedisStore::builder("redis://127.0.0.1")
            .tls_root_certificate(b"-----BEGIN CERTIFICATE-----\n".to_vec())
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("`tls_root_certificate`"), "{error}");
        assert!(error.to_string().contains("not a rediss:// URL"), "{error}");
        let error = RedisStore::builder("rediss://127.0.0.1")
            .tls_root_certificate(b"not pem".to_vec())
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("found none"), "{error}");
        assert!(RedisStore::builder("rediss://127.0.0.1").validate().is_ok());
    }
}
