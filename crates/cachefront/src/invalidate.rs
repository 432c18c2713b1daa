//! The `Invalidator`: removing stored responses on demand, from anywhere in the application.

use std::sync::Arc;

use crate::{
    cache::Cache,
    error::Error,
    key::{CacheKey, KeySpec},
    purges::Purge,
    request::UriHead,
    stats::Event,
};

/// Removes stored responses by key, path, path prefix, tag or all at once. Cheap to clone; use
/// it from handlers, background jobs, webhooks.
///
/// Each method returns how many entries went (variants of one URI count one each).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachefront::Error> {
/// let cache = cachefront::Cache::new();
/// let invalidator = cache.invalidator();
/// invalidator.tag("product:42").await?;
/// invalidator.path("/products/42").await?;   // any query, any host
/// invalidator.prefix("/products/").await?;   // every path under it
/// invalidator.all().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Invalidator {
    cache: Cache,
}

// The invalidating side of the cache handle lives here, beside the `Invalidator` it hands out:
// the cache itself knows nothing of it.
impl Cache {
    /// A handle to invalidate stored responses by key, path, prefix, tag or all.
    pub fn invalidator(&self) -> Invalidator {
        Invalidator::new(self.clone())
    }

    /// Removes every entry carrying `tag`; returns how many went. The same as
    /// `self.invalidator().tag(tag)`, counted and logged as every invalidation is.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<u64, Error> {
        self.invalidator().tag(tag).await
    }

    /// Removes every entry; returns how many went. The same as `self.invalidator().all()`.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.invalidator().all().await
    }
}

impl Invalidator {
    pub(crate) fn new(cache: Cache) -> Self {
        Self { cache }
    }

    fn counted(&self, result: Result<u64, Error>, what: &str, target: &str) -> Result<u64, Error> {
        match &result {
            Ok(removed) => {
                self.cache.record_total(Event::Invalidation);
                tracing::info!(what, target, removed, "cache invalidation");
            }
            Err(error) => {
                self.cache.record_total(Event::StoreError);
                crate::store::warn::store_error(
                    "cache invalidation failed",
                    format_args!("{what} {target}"),
                    error,
                );
            }
        }
        result
    }

    /// Removes the entry stored under `key`, with every variant stored beside it.
    pub async fn key(&self, key: &CacheKey) -> Result<u64, Error> {
        let result = self.remove_key(key).await;
        self.counted(result, "key", key.readable())
    }

    async fn remove_key(&self, key: &CacheKey) -> Result<u64, Error> {
        self.cache.purging(Purge::Uri(*key.digest()));
        self.cache.remove_uri(key).await
    }

    /// Removes every entry carrying `tag`.
    pub async fn tag(&self, tag: &str) -> Result<u64, Error> {
        self.cache.purging(Purge::Tag(Arc::from(tag)));
        let result = self.cache.store().remove_tag(tag).await;
        self.counted(result, "tag", tag)
    }

    /// Removes every entry for `path` (e.g. `/products/42`): with any query string, for any
    /// host, with all its variants.
    pub async fn path(&self, path: &str) -> Result<u64, Error> {
        validate_path("path", path)?;
        let store = self.cache.store();
        let (exact, with_query) = (format!("GET {path} "), format!("GET {path}?"));
        self.cache.purging(Purge::Prefix(Arc::from(exact.as_str())));
        self.cache.purging(Purge::Prefix(Arc::from(with_query.as_str())));
        let result = async {
            let exact = store.remove_prefix(&exact).await?;
            let with_query = store.remove_prefix(&with_query).await?;
            // A key without host, query or other parts is exactly `GET {path}`.
            let uri: http::Uri = path.parse().map_err(|e| Error::config("path", e))?;
            let bare = KeySpec::default().host(false).build(&UriHead {
                host: None,
                uri: &uri,
            });
            let bare = self.remove_key(&bare).await?;
            Ok(exact + with_query + bare)
        }
        .await;
        self.counted(result, "path", path)
    }

    /// Removes every entry whose path starts with `prefix` (e.g. `/products/`).
    pub async fn prefix(&self, prefix: &str) -> Result<u64, Error> {
        validate_path("prefix", prefix)?;
        let start = format!("GET {prefix}");
        self.cache.purging(Purge::Prefix(Arc::from(start.as_str())));
        let result = self.cache.store().remove_prefix(&start).await;
        self.counted(result, "prefix", prefix)
    }

    /// Removes every entry.
    pub async fn all(&self) -> Result<u64, Error> {
        self.cache.purging(Purge::All);
        let result = self.cache.store().clear().await;
        self.counted(result, "all", "*")
    }

    /// Removes the response stored under the [readable key](CacheKey::readable) that is exactly
    /// `readable` (e.g. `GET /products/42 host=example.com`), with every variant of it; nothing
    /// else, however many keys start with it. An empty key is an error.
    ///
    /// Only keys a route's [`KeySpec`] built are found this way; a key whose readable form holds
    /// a credential's digest (`cookie=#...`) is not (purge it by path, tag or
    /// [`readable_prefix`](Self::readable_prefix)).
    pub async fn readable_key(&self, readable: &str) -> Result<u64, Error> {
        if readable.trim().is_empty() {
            return Err(Error::config(
                "key",
                "expected a readable key such as `GET /products/42 host=example.com`, got an empty one",
            ));
        }
        let result = async {
            let store = self.cache.store();
            let mut removed = 0;
            for candidate in CacheKey::candidates_for_readable(readable) {
                // The candidate's digest is a guess: only a stored entry with exactly this
                // readable form is the one asked for.
                let Some(entry) = store.get(&candidate).await? else {
                    continue;
                };
                if entry.key.readable() == readable {
                    removed += self.remove_key(&candidate).await?;
                }
            }
            Ok(removed)
        }
        .await;
        self.counted(result, "key", readable)
    }

    /// Removes every response whose [readable key](CacheKey::readable) starts with `prefix`
    /// (e.g. `GET /products/42 host=a.example`, or `memo prices ` for memoized values). An empty
    /// prefix is an error: removing everything is [`all`](Self::all).
    pub async fn readable_prefix(&self, prefix: &str) -> Result<u64, Error> {
        if prefix.is_empty() {
            return Err(Error::config(
                "key prefix",
                "expected the start of a readable key such as `GET /products/`, got an empty one \
                 (to remove everything, purge all)",
            ));
        }
        self.cache.purging(Purge::Prefix(Arc::from(prefix)));
        let result = self.cache.store().remove_prefix(prefix).await;
        self.counted(result, "key prefix", prefix)
    }
}

fn validate_path(setting: &str, path: &str) -> Result<(), Error> {
    if !path.starts_with('/') || path.contains([' ', '\t', '\r', '\n']) {
        return Err(Error::config(
            setting,
            format!("expected a path starting with `/` and without spaces, got {path:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use crate::{Cache, Policy, flow::Lookup};

    async fn store(cache: &Cache, policy: Policy, uri: &str) {
        let route = cache.route(policy);
        let request = http::Request::get(uri).body(()).unwrap();
        let Lookup::Forward(forward) = route.lookup(&request).await else {
            panic!("cold key");
        };
        let mut collector = forward
            .response(http::StatusCode::OK, &http::HeaderMap::new())
            .collector
            .unwrap();
        collector.push(&Bytes::from_static(b"x"));
        collector.finish();
        cache.run_pending_tasks().await;
    }

    async fn stored(cache: &Cache, policy: Policy, uri: &str) -> bool {
        let request = http::Request::get(uri).body(()).unwrap();
        matches!(cache.route(policy).lookup(&request).await, Lookup::Hit(_))
    }

    /// Stores `languages.len()` variants of one URI (`Vary: Accept-Language`), tagged `t`.
    async fn store_variants(cache: &Cache, policy: &Policy, uri: &str, languages: &[&str]) {
        let route = cache.route(policy.clone());
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::VARY,
            http::HeaderValue::from_static("accept-language"),
        );
        for language in languages {
            let request = http::Request::get(uri)
                .header(http::header::ACCEPT_LANGUAGE, *language)
                .body(())
                .unwrap();
            let Lookup::Forward(forward) = route.lookup(&request).await else {
                panic!("a new variant is a miss");
            };
            let mut collector = forward
                .response(http::StatusCode::OK, &headers)
                .collector
                .unwrap();
            collector.push(&Bytes::from_static(b"x"));
            collector.finish();
        }
        cache.run_pending_tasks().await;
    }

    #[tokio::test]
    async fn purges_count_each_removed_variant_once() {
        let policy = Policy::ttl(Duration::from_secs(60)).tag("t");
        let uri = "http://h/page";
        let three = ["en", "fr", "de"];
        type Purge = fn(&crate::Invalidator) -> futures_like::Boxed<'_>;
        let purges: [(&str, Purge); 5] = [
            ("path", |i| Box::pin(i.path("/page"))),
            ("prefix", |i| Box::pin(i.prefix("/pa"))),
            ("tag", |i| Box::pin(i.tag("t"))),
            ("all", |i| Box::pin(i.all())),
            ("key", |i| {
                let key =
                    crate::KeySpec::default().build(&http::Request::get("http://h/page").body(()).unwrap());
                Box::pin(async move { i.key(&key).await })
            }),
        ];
        for (what, purge) in purges {
            for languages in [&three[..], &three[..1]] {
                let cache = Cache::new();
                store_variants(&cache, &policy, uri, languages).await;
                let removed = purge(&cache.invalidator()).await.unwrap();
                assert_eq!(
                    removed,
                    languages.len() as u64,
                    "a purge by {what} of {languages:?}"
                );
                for language in languages {
                    let request = http::Request::get(uri)
                        .header(http::header::ACCEPT_LANGUAGE, *language)
                        .body(())
                        .unwrap();
                    assert!(
                        matches!(
                            cache.route(policy.clone()).lookup(&request).await,
                            Lookup::Forward(_)
                        ),
                        "the {language} variant is gone after a purge by {what}"
                    );
                }
            }
        }
    }

    mod futures_like {
        pub(super) type Boxed<'a> =
            std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, crate::Error>> + 'a>>;
    }

    #[tokio::test]
    async fn by_path_prefix_tag_and_all() {
        let cache = Cache::new();
        let p = || Policy::ttl(Duration::from_secs(60));
        for uri in [
            "http://h/products/4",
            "http://h/products/42?x=1",
            "http://h/products/420",
            "http://h/news",
        ] {
            store(&cache, p(), uri).await;
        }
        let bare = || Policy::ttl(Duration::from_secs(60)).key(crate::KeySpec::default().host(false));
        store(&cache, bare(), "/products/42").await;
        let invalidator = cache.invalidator();
        assert_eq!(invalidator.path("/products/42").await.unwrap(), 2);
        assert!(
            stored(&cache, p(), "http://h/products/420").await,
            "a longer path is not the path"
        );
        assert!(stored(&cache, p(), "http://h/products/4").await);
        assert_eq!(invalidator.prefix("/products/").await.unwrap(), 2);
        assert!(stored(&cache, p(), "http://h/news").await);
        assert!(
            invalidator.path("products").await.is_err(),
            "a path starts with /"
        );
        assert_eq!(invalidator.all().await.unwrap(), 1);
        // One count per invalidation asked for (the path, the prefix, all), not per removal.
        assert_eq!(cache.stats().total.invalidations, 3);
    }
}
