//! Settings from the environment: the `CACHEFRONT_REDIS_*` variables
//! ([`RedisStoreBuilder::from_env`]).

use std::time::Duration;

use super::{
    RedisStore,
    builder::{Names, RedisStoreBuilder, Tls},
};
use crate::{config::parse_duration_within, error::Error};

const ENV_URL: &str = "CACHEFRONT_REDIS_URL";
const ENV_CLUSTER: &str = "CACHEFRONT_REDIS_CLUSTER";
const ENV_PREFIX: &str = "CACHEFRONT_REDIS_PREFIX";
const ENV_TIMEOUT: &str = "CACHEFRONT_REDIS_TIMEOUT";
const ENV_COMPRESS: &str = "CACHEFRONT_REDIS_COMPRESS_ABOVE";
const ENV_LOCK_TTL: &str = "CACHEFRONT_REDIS_LOCK_TTL";
const ENV_TLS_CA: &str = "CACHEFRONT_REDIS_TLS_CA";
const ENV_TLS_CERT: &str = "CACHEFRONT_REDIS_TLS_CERT";
const ENV_TLS_KEY: &str = "CACHEFRONT_REDIS_TLS_KEY";

impl Names {
    pub(super) const ENV: Self = Self {
        url: ENV_URL,
        prefix: ENV_PREFIX,
        timeout: ENV_TIMEOUT,
        lock_ttl: ENV_LOCK_TTL,
        tls_ca: ENV_TLS_CA,
        tls_client: ENV_TLS_CERT,
    };
}

impl RedisStoreBuilder {
    /// Settings from the environment:
    ///
    /// | variable | accepted form | default |
    /// | --- | --- | --- |
    /// | `CACHEFRONT_REDIS_URL` | `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS, feature `redis-tls`) or `unix:///path`; with `CACHEFRONT_REDIS_CLUSTER`, a comma-separated list of node URLs | required |
    /// | `CACHEFRONT_REDIS_CLUSTER` | `true` / `false` (or `1` / `0`, `yes` / `no`) | `false` |
    /// | `CACHEFRONT_REDIS_PREFIX` | letters, digits and `_ : . - /`, at most 64 | `cachefront:` |
    /// | `CACHEFRONT_REDIS_TIMEOUT` | a duration (`250ms`, `1s`), 1 ms to 60 s | `250ms` |
    /// | `CACHEFRONT_REDIS_COMPRESS_ABOVE` | a size (`1024`, `1KiB`, `64KB`), or `off` | `1KiB` |
    /// | `CACHEFRONT_REDIS_LOCK_TTL` | a duration (`10s`, `500ms`), 1 ms to 10 min | `10s` |
    /// | `CACHEFRONT_REDIS_TLS_CA` | path to a PEM file of CA certificates to trust for `rediss://` instead of the system's (feature `redis-tls`) | the system's roots |
    /// | `CACHEFRONT_REDIS_TLS_CERT`, `CACHEFRONT_REDIS_TLS_KEY` | paths to a PEM client certificate chain and its private key, for mutual TLS; both or neither (feature `redis-tls`) | none |
    ///
    /// A missing `CACHEFRONT_REDIS_URL` or a malformed value is an error naming the variable
    /// and the accepted form; nothing falls back to a default silently. Errors and `Debug`
    /// never show a URL's password (`redis://user:***@host`).
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
        if let Some(value) = lookup(ENV_TIMEOUT) {
            builder.timeout = parse_duration_within(
                ENV_TIMEOUT,
                &value,
                Duration::from_millis(1)..=Duration::from_secs(60),
            )?;
        }
        if let Some(value) = lookup(ENV_LOCK_TTL) {
            builder.lock_ttl = parse_duration_within(
                ENV_LOCK_TTL,
                &value,
                Duration::from_millis(1)..=Duration::from_secs(600),
            )?;
        }
        if let Some(value) = lookup(ENV_COMPRESS) {
            builder.compress_above = if value.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                let bytes = crate::config::parse_bytes(ENV_COMPRESS, &value)?;
                Some(
                    usize::try_from(bytes)
                        .map_err(|_| Error::config(ENV_COMPRESS, format!("{value:?} is too large")))?,
                )
            };
        }
        builder.tls = read_tls(&lookup)?;
        builder.validate()?;
        Ok(builder)
    }
}

/// The TLS files the variables name, read; a variable set in a build without `redis-tls` is
/// an error naming the feature.
fn read_tls(lookup: &impl Fn(&str) -> Option<String>) -> Result<Tls, Error> {
    let path = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (ca, cert, key) = (path(ENV_TLS_CA), path(ENV_TLS_CERT), path(ENV_TLS_KEY));
    if !cfg!(feature = "redis-tls") {
        let set = [(ENV_TLS_CA, &ca), (ENV_TLS_CERT, &cert), (ENV_TLS_KEY, &key)];
        if let Some((name, _)) = set.iter().find(|(_, value)| value.is_some()) {
            return Err(Error::config(
                name,
                "TLS needs cachefront's `redis-tls` feature, which this build lacks",
            ));
        }
        return Ok(Tls::default());
    }
    let read = |name: &str, path: &str| {
        std::fs::read(path).map_err(|error| Error::config(name, format!("cannot read `{path}`: {error}")))
    };
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((read(ENV_TLS_CERT, &cert)?, read(ENV_TLS_KEY, &key)?)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(Error::config(
                ENV_TLS_KEY,
                "not set; a client certificate needs its key",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                ENV_TLS_CERT,
                "not set; a client key needs its certificate",
            ));
        }
    };
    Ok(Tls {
        root_certificate: ca.map(|ca| read(ENV_TLS_CA, &ca)).transpose()?,
        client,
    })
}

impl RedisStore {
    /// Connects with the settings of [`RedisStoreBuilder::from_env`].
    pub async fn from_env() -> Result<Self, Error> {
        RedisStoreBuilder::from_env()?.connect().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
            (ENV_TIMEOUT, "75ms"),
            (ENV_COMPRESS, "off"),
            (ENV_LOCK_TTL, "2s"),
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
            #[cfg(not(feature = "redis-tls"))]
            (&[(ENV_URL, "rediss://x")], ENV_URL, "`redis-tls` feature"),
            #[cfg(not(feature = "redis-tls"))]
            (
                &[(ENV_URL, "redis://a"), (ENV_TLS_CA, "/ca.pem")],
                ENV_TLS_CA,
                "`redis-tls` feature",
            ),
            #[cfg(feature = "redis-tls")]
            (
                &[(ENV_URL, "rediss://a"), (ENV_TLS_CA, "/nonexistent/ca.pem")],
                ENV_TLS_CA,
                "cannot read `/nonexistent/ca.pem`",
            ),
            #[cfg(feature = "redis-tls")]
            (
                &[(ENV_URL, "rediss://a"), (ENV_TLS_CERT, "/c.pem")],
                ENV_TLS_KEY,
                "needs its key",
            ),
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
                &[(ENV_URL, "redis://a"), (ENV_TIMEOUT, "0ms")],
                ENV_TIMEOUT,
                "from 1ms to 60s",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_TIMEOUT, "fast")],
                ENV_TIMEOUT,
                "\"fast\": expected a duration like 10s",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_LOCK_TTL, "10000")],
                ENV_LOCK_TTL,
                "expected a duration",
            ),
            (
                &[(ENV_URL, "redis://a"), (ENV_COMPRESS, "lots")],
                ENV_COMPRESS,
                "expected bytes like 64MiB",
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
    fn a_malformed_url_error_names_the_variable_but_never_the_password() {
        for url in [
            "redis://user:s3cr3t-pw@host:notaport",
            "redis://user:s3cr3t-pw@",
            "http://user:s3cr3t-pw@host",
            "user:s3cr3t-pw@host:6379",
            "redis://:s3cr3t-pw@host:6379,redis://b",
        ] {
            let error = env(&[(ENV_URL, url)]).unwrap_err();
            for shown in [error.to_string(), format!("{error:?}"), format!("{error:#?}")] {
                assert!(!shown.contains("s3cr3t"), "{shown} shows the password of {url}");
                assert!(shown.contains(ENV_URL), "{shown} should name {ENV_URL}");
            }
        }
        let error = env(&[(ENV_URL, "redis://user:s3cr3t-pw@host:notaport")]).unwrap_err();
        assert!(
            error.to_string().contains("redis://user:***@host:notaport"),
            "{error}"
        );
        let builder = env(&[(ENV_URL, "redis://user:s3cr3t-pw@127.0.0.1:6379")]).unwrap();
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("user:***@127.0.0.1"),
            "{shown}"
        );
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn from_env_reads_the_tls_files() {
        // A self-signed P-256 certificate and its key, made for this test only.
        const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIBljCCAT2gAwIBAgIUfKv35rKsgG4KgC68kShhwRDhrqQwCgYIKoZIzj0EAwIw\nITEfMB0GA1UEAwwWY2FjaGVmcm9udCBjb25maWcgdGVzdDAeFw0yNjEyMDMxNjU3\nMzBaFw0zNjExMzAxNjU3MzBaMCExHzAdBgNVBAMMFmNhY2hlZnJvbnQgY29uZmln\nIHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR8K4j7bqH00h7GFyU3svaI\nFC1eSGUxbXz8tiXOHn7wr2odFZz6Qb/Wc+E+fukudbijFJuihGsKVp2uHFOTxWUe\no1MwUTAdBgNVHQ4EFgQUdzhE1h+FKWJwnN0HDsRtV4ltMAswHwYDVR0jBBgwFoAU\ndzhE1h+FKWJwnN0HDsRtV4ltMAswDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD\nAgNHADBEAiBQ/lvpd8dwdx4tUCgTUNmyAvOkYRKtiP2gOtB0hj05IAIgNIIEjEFY\n84AfObZq1VVWgsMgaU5PDe+iiRK9gI7e128=\n-----END CERTIFICATE-----\n";
        const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+NZPCB/ep1UXJR/K\nMui2q1RgUvaOGvyw4/PU+gRu/MqhRANCAAR8K4j7bqH00h7GFyU3svaIFC1eSGUx\nbXz8tiXOHn7wr2odFZz6Qb/Wc+E+fukudbijFJuihGsKVp2uHFOTxWUe\n-----END PRIVATE KEY-----\n";
        let dir = std::env::temp_dir().join(format!("cachefront-tls-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, cert, key) = (dir.join("ca.pem"), dir.join("client.pem"), dir.join("client.key"));
        std::fs::write(&ca, CERTIFICATE).unwrap();
        std::fs::write(&cert, CERTIFICATE).unwrap();
        std::fs::write(&key, KEY).unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let (ca_path, cert_path, key_path) = (path(&ca), path(&cert), path(&key));
        let builder = env(&[
            (ENV_URL, "rediss://127.0.0.1:6380"),
            (ENV_TLS_CA, &ca_path),
            (ENV_TLS_CERT, &cert_path),
            (ENV_TLS_KEY, &key_path),
        ])
        .unwrap();
        assert_eq!(
            builder.tls.root_certificate.as_deref(),
            Some(CERTIFICATE.as_bytes())
        );
        let (read_cert, read_key) = builder.tls.client.clone().unwrap();
        assert_eq!(
            (&read_cert[..], &read_key[..]),
            (CERTIFICATE.as_bytes(), KEY.as_bytes())
        );
        // Certificates on a plain URL cannot be meant.
        let error = env(&[(ENV_URL, "redis://127.0.0.1"), (ENV_TLS_CA, &ca_path)]).unwrap_err();
        assert!(error.to_string().contains(ENV_TLS_CA), "{error}");
        assert!(error.to_string().contains("not a rediss:// URL"), "{error}");
        // A key that is not one.
        let error = env(&[
            (ENV_URL, "rediss://127.0.0.1"),
            (ENV_TLS_CERT, &cert_path),
            (ENV_TLS_KEY, &ca_path),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("private key"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
