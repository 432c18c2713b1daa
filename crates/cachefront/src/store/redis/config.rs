//! Settings from the environment: the `CACHEFRONT_REDIS_*` variables
//! ([`RedisStoreBuilder::from_env`]).

use std::time::Duration;

use super::{
    RedisStore,
    builder::{Names, RedisStoreBuilder},
};
use crate::error::Error;

const ENV_URL: &str = "CACHEFRONT_REDIS_URL";
const ENV_CLUSTER: &str = "CACHEFRONT_REDIS_CLUSTER";
const ENV_PREFIX: &str = "CACHEFRONT_REDIS_PREFIX";
const ENV_TIMEOUT: &str = "CACHEFRONT_REDIS_TIMEOUT_MS";
const ENV_COMPRESS: &str = "CACHEFRONT_REDIS_COMPRESS_ABOVE";
const ENV_LOCK_TTL: &str = "CACHEFRONT_REDIS_LOCK_TTL_MS";

impl Names {
    pub(super) const ENV: Self = Self {
        url: ENV_URL,
        prefix: ENV_PREFIX,
        timeout: ENV_TIMEOUT,
        lock_ttl: ENV_LOCK_TTL,
    };
}

impl RedisStoreBuilder {
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
}

impl RedisStore {
    /// Connects with the settings of [`RedisStoreBuilder::from_env`].
    pub async fn from_env() -> Result<Self, Error> {
        RedisStoreBuilder::from_env()?.connect().await
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
}
