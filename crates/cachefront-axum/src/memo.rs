//! The `Memo` extractor.

use std::{fmt, ops::Deref};

use axum::{
    extract::FromRequestParts,
    response::{IntoResponse, Response},
};
use cachefront::Cache;
use http::{StatusCode, request::Parts};

/// The namespace of the values a [`Memo`] extracted from a [`Cache`] memoizes: `"default"`,
/// the core's, so that every framework shares memoized values.
pub const DEFAULT_NAMESPACE: &str = cachefront::Memo::DEFAULT_NAMESPACE;

/// Memoized values for an axum handler: an extractor that gives the handler a
/// [`cachefront::Memo`] on the application's [`Cache`].
///
/// It dereferences to [`cachefront::Memo`], so a handler calls
/// [`get_or_compute`](cachefront::Memo::get_or_compute) on it directly: typed values, one
/// computation per key however many requests arrive together, errors shared with the waiting
/// requests and never cached unless asked, and the same store, stats and invalidation as the
/// response cache.
///
/// # Where the cache comes from
///
/// `Memo` reads the request's extensions, so it works under any router state:
///
/// - `.layer(Extension(cache))` with a [`Cache`]: values go to the [`DEFAULT_NAMESPACE`] with
///   the default TTL;
/// - `.layer(Extension(cache.memo("catalog").default_ttl(ttl)))` with a [`cachefront::Memo`]:
///   that namespace and TTL, e.g. for one nested router.
///
/// Without either, extraction fails with [`MissingCache`]: a `500 Internal Server Error` that
/// says what to add (and an error in the logs), never a panic.
///
/// Other namespaces are a call away: `memo.cache().memo("prices")`.
///
/// ```
/// use std::time::Duration;
/// use axum::{Extension, Router, extract::Path, routing::get};
/// use cachefront_axum::{Cache, Memo};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Stock { available: u32 }
///
/// async fn stock(memo: Memo, Path(sku): Path<String>) -> String {
///     let stock = memo
///         .get_or_compute(("stock", &sku), || async { Ok::<_, std::io::Error>(Stock { available: 3 }) })
///         .ttl(Duration::from_secs(5))
///         .await;
///     match stock {
///         Ok(stock) => format!("{sku}: {} left", stock.available),
///         Err(error) => format!("{sku}: unknown ({error})"),
///     }
/// }
///
/// let cache = Cache::new();
/// let app: Router = Router::new()
///     .route("/stock/{sku}", get(stock))
///     .layer(Extension(cache));
/// ```
#[derive(Clone)]
pub struct Memo {
    memo: cachefront::Memo,
}

impl Memo {
    /// A `Memo` on `cache`, in the [`DEFAULT_NAMESPACE`] (what the extractor builds from an
    /// `Extension<Cache>`).
    pub fn new(cache: &Cache) -> Self {
        Self {
            memo: cache.memo(DEFAULT_NAMESPACE),
        }
    }

    /// The core handle.
    pub fn into_inner(self) -> cachefront::Memo {
        self.memo
    }
}

impl From<cachefront::Memo> for Memo {
    fn from(memo: cachefront::Memo) -> Self {
        Self { memo }
    }
}

impl Deref for Memo {
    type Target = cachefront::Memo;

    fn deref(&self) -> &cachefront::Memo {
        &self.memo
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Memo").field(&self.memo).finish()
    }
}

impl<S> FromRequestParts<S> for Memo
where
    S: Send + Sync,
{
    type Rejection = MissingCache;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(memo) = parts.extensions.get::<cachefront::Memo>() {
            return Ok(Self { memo: memo.clone() });
        }
        if let Some(cache) = parts.extensions.get::<Cache>() {
            return Ok(Self::new(cache));
        }
        tracing::error!(
            method = %parts.method,
            path = parts.uri.path(),
            "the Memo extractor found no cachefront cache: add `.layer(Extension(cache))` to the router",
        );
        Err(MissingCache { _private: () })
    }
}

/// The rejection of [`Memo`] when the request carries no [`Cache`] (nor
/// [`cachefront::Memo`]) in its extensions: a server misconfiguration, answered with
/// `500 Internal Server Error` and a message that says how to fix it.
///
/// ```
/// use axum::response::IntoResponse;
/// # use axum::{body::Body, extract::FromRequestParts, http::Request};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let (mut parts, _) = Request::new(Body::empty()).into_parts();
/// let rejection = cachefront_axum::Memo::from_request_parts(&mut parts, &()).await.unwrap_err();
/// assert_eq!(rejection.into_response().status(), 500);
/// # }
/// ```
#[derive(Debug)]
pub struct MissingCache {
    _private: (),
}

impl MissingCache {
    /// The response body.
    pub fn body_text(&self) -> &'static str {
        "cachefront: the Memo extractor found no cache in this request's extensions; \
         add `.layer(Extension(cache))` (a cachefront::Cache) to the router"
    }
}

impl fmt::Display for MissingCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for MissingCache {}

impl IntoResponse for MissingCache {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use axum::{Extension, Router, body::Body, routing::get};
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn app(calls: Arc<AtomicUsize>) -> Router {
        Router::new().route(
            "/n",
            get(move |memo: Memo| {
                let calls = Arc::clone(&calls);
                async move {
                    let n: usize = memo
                        .get_or_compute("n", || async move {
                            Ok::<_, std::io::Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
                        })
                        .ttl(Duration::from_secs(60))
                        .await
                        .unwrap();
                    format!("{}:{n}", memo.namespace())
                }
            }),
        )
    }

    async fn get_text(app: &Router) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(Request::get("/n").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn memoizes_in_the_cache_from_the_extension() {
        let cache = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let app = app(Arc::clone(&calls)).layer(Extension(cache.clone()));
        assert_eq!(get_text(&app).await, (StatusCode::OK, "default:1".to_owned()));
        assert_eq!(get_text(&app).await, (StatusCode::OK, "default:1".to_owned()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[tokio::test]
    async fn a_memo_extension_sets_the_namespace() {
        let cache = Cache::new();
        let app = app(Arc::default()).layer(Extension(cache.memo("catalog")));
        assert_eq!(get_text(&app).await, (StatusCode::OK, "catalog:1".to_owned()));
        assert_eq!(cache.memo_stats()["catalog"].misses, 1);
    }

    #[tokio::test]
    async fn without_a_cache_the_rejection_is_a_500_that_says_what_to_add() {
        let (status, body) = get_text(&app(Arc::default())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("no cache"), "{body}");
        assert!(body.contains(".layer(Extension(cache))"), "{body}");
    }
}
