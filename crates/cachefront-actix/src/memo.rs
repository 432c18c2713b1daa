//! The `Memo` extractor.

use std::{
    fmt,
    future::{Ready, ready},
    ops::Deref,
};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
use cachefront::Cache;

/// The namespace of the values a [`Memo`] extracted from a [`Cache`] memoizes: `"default"`,
/// the core's, so that every framework shares memoized values.
pub const DEFAULT_NAMESPACE: &str = cachefront::Memo::DEFAULT_NAMESPACE;

/// Memoized values for an actix-web handler: an extractor that gives the handler a
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
/// `Memo` reads the app data (of the resource, its scopes and the app, nearest first):
///
/// - `.app_data(cache.clone())` or `.app_data(web::Data::new(cache))` with a [`Cache`]:
///   values go to the [`DEFAULT_NAMESPACE`] with the default TTL;
/// - `.app_data(cache.memo("catalog").default_ttl(ttl))` (or the same in a [`web::Data`])
///   with a [`cachefront::Memo`]: that namespace and TTL, e.g. for one scope.
///
/// Without either, extraction fails with [`MissingCache`]: a `500 Internal Server Error` that
/// says what to add (and an error in the logs), never a panic.
///
/// Other namespaces are a call away: `memo.cache().memo("prices")`.
///
/// ```
/// use std::time::Duration;
/// use actix_web::{App, test, web};
/// use cachefront_actix::{Cache, Memo};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Stock { available: u32 }
///
/// async fn stock(memo: Memo, sku: web::Path<String>) -> String {
///     let stock = memo
///         .get_or_compute(("stock", sku.as_str()), || async { Ok::<_, std::io::Error>(Stock { available: 3 }) })
///         .ttl(Duration::from_secs(5))
///         .await;
///     match stock {
///         Ok(stock) => format!("{sku}: {} left", stock.available),
///         Err(error) => format!("{sku}: unknown ({error})"),
///     }
/// }
///
/// # #[actix_web::main] async fn main() {
/// let cache = Cache::new();
/// let app = test::init_service(
///     App::new()
///         .app_data(cache.clone())
///         .route("/stock/{sku}", web::get().to(stock)),
/// )
/// .await;
/// let response = test::call_service(&app, test::TestRequest::get().uri("/stock/a1").to_request()).await;
/// assert_eq!(test::read_body(response).await, "a1: 3 left");
/// # }
/// ```
#[derive(Clone)]
pub struct Memo {
    memo: cachefront::Memo,
}

impl Memo {
    /// A `Memo` on `cache`, in the [`DEFAULT_NAMESPACE`] (what the extractor builds from a
    /// [`Cache`] in the app data).
    pub fn new(cache: &Cache) -> Self {
        Self {
            memo: cache.memo(DEFAULT_NAMESPACE),
        }
    }

    /// The core handle.
    pub fn into_inner(self) -> cachefront::Memo {
        self.memo
    }

    /// The `Memo` for `request`, from its app data; see the [type docs](Self).
    fn from_app_data(request: &HttpRequest) -> Option<Self> {
        if let Some(memo) = request.app_data::<cachefront::Memo>().or_else(|| {
            request
                .app_data::<web::Data<cachefront::Memo>>()
                .map(web::Data::get_ref)
        }) {
            return Some(Self { memo: memo.clone() });
        }
        request
            .app_data::<Cache>()
            .or_else(|| request.app_data::<web::Data<Cache>>().map(web::Data::get_ref))
            .map(Self::new)
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

impl FromRequest for Memo {
    type Error = MissingCache;
    type Future = Ready<Result<Self, MissingCache>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Self::from_app_data(request).ok_or_else(|| {
            tracing::error!(
                method = %request.method(),
                path = request.path(),
                "the Memo extractor found no cachefront cache: add `.app_data(cache.clone())` to the App",
            );
            MissingCache { _private: () }
        }))
    }
}

/// The rejection of [`Memo`] when the app data holds no [`Cache`] (nor
/// [`cachefront::Memo`]), plain or in a [`web::Data`]: a server misconfiguration, answered
/// with `500 Internal Server Error` and a message that says how to fix it.
///
/// ```
/// use actix_web::{FromRequest, ResponseError, test::TestRequest};
///
/// # #[actix_web::main] async fn main() {
/// let request = TestRequest::default().to_http_request();
/// let rejection = cachefront_actix::Memo::extract(&request).await.unwrap_err();
/// assert_eq!(rejection.error_response().status(), 500);
/// # }
/// ```
#[derive(Debug)]
pub struct MissingCache {
    _private: (),
}

impl MissingCache {
    /// The response body.
    pub fn body_text(&self) -> &'static str {
        "cachefront: the Memo extractor found no cache in this app's data; \
         add `.app_data(cache.clone())` or `.app_data(web::Data::new(cache))` (a cachefront::Cache) to the App"
    }
}

impl fmt::Display for MissingCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for MissingCache {}

impl ResponseError for MissingCache {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::InternalServerError()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(self.body_text())
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

    use actix_web::{
        App, Error,
        body::MessageBody,
        dev::{Service, ServiceResponse},
        test::{self, TestRequest},
    };

    use super::*;

    /// `GET /n`: memoizes a counter for 60 s, answers `namespace:value`.
    fn route(calls: &Arc<AtomicUsize>) -> actix_web::Route {
        let calls = Arc::clone(calls);
        web::get().to(move |memo: Memo| {
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
        })
    }

    /// The status and body of `GET /n`.
    async fn get_text<S, R, B>(app: &S, request: R) -> (StatusCode, String)
    where
        S: Service<R, Response = ServiceResponse<B>, Error = Error>,
        B: MessageBody,
    {
        let response = test::call_service(app, request).await;
        let status = response.status();
        let body = test::read_body(response).await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[actix_web::test]
    async fn memoizes_in_the_cache_from_plain_app_data() {
        let cache = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let app = test::init_service(App::new().app_data(cache.clone()).route("/n", route(&calls))).await;
        assert_eq!(
            get_text(&app, TestRequest::get().uri("/n").to_request()).await,
            (StatusCode::OK, "default:1".to_owned())
        );
        assert_eq!(
            get_text(&app, TestRequest::get().uri("/n").to_request()).await,
            (StatusCode::OK, "default:1".to_owned())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[actix_web::test]
    async fn memoizes_in_the_cache_from_web_data() {
        let cache = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(cache.clone()))
                .route("/n", route(&calls)),
        )
        .await;
        assert_eq!(
            get_text(&app, TestRequest::get().uri("/n").to_request()).await,
            (StatusCode::OK, "default:1".to_owned())
        );
        assert_eq!(
            get_text(&app, TestRequest::get().uri("/n").to_request()).await,
            (StatusCode::OK, "default:1".to_owned())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.memo_stats()["default"].hits, 1);
    }

    #[actix_web::test]
    async fn a_memo_in_the_app_data_sets_the_namespace() {
        for data in [true, false] {
            let cache = Cache::new();
            let memo = cache.memo("catalog");
            let app = App::new().app_data(cache.clone());
            let app = if data {
                app.app_data(web::Data::new(memo))
            } else {
                app.app_data(memo)
            };
            let app = test::init_service(app.route("/n", route(&Arc::default()))).await;
            assert_eq!(
                get_text(&app, TestRequest::get().uri("/n").to_request()).await,
                (StatusCode::OK, "catalog:1".to_owned())
            );
            assert_eq!(cache.memo_stats()["catalog"].misses, 1);
        }
    }

    #[actix_web::test]
    async fn the_nearest_app_data_wins() {
        let cache = Cache::new();
        let app = test::init_service(
            App::new().app_data(cache.clone()).service(
                web::scope("/scoped")
                    .app_data(cache.memo("scoped"))
                    .route("/n", route(&Arc::default())),
            ),
        )
        .await;
        let response = test::call_service(&app, TestRequest::get().uri("/scoped/n").to_request()).await;
        assert_eq!(test::read_body(response).await, "scoped:1");
    }

    #[actix_web::test]
    async fn concurrent_requests_share_one_computation() {
        let cache = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let app = test::init_service(App::new().app_data(web::Data::new(cache.clone())).route(
            "/prices/{id}",
            web::get().to(move |memo: Memo, id: web::Path<u64>| {
                let counter = Arc::clone(&counter);
                async move {
                    let id = id.into_inner();
                    let prices: Vec<u64> = memo
                        .get_or_compute(("prices", id), || async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, std::io::Error>(vec![id * 100, id * 150])
                        })
                        .await
                        .unwrap();
                    format!("{prices:?}")
                }
            }),
        ))
        .await;
        let bodies = futures_util::future::join_all((0..50).map(|_| async {
            let request = TestRequest::get().uri("/prices/2").to_request();
            test::read_body(test::call_service(&app, request).await).await
        }))
        .await;
        assert!(bodies.iter().all(|body| body == "[200, 300]"), "{bodies:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.memo_stats()["default"].misses, 1);
    }

    #[actix_web::test]
    async fn without_a_cache_the_rejection_is_a_500_that_says_what_to_add() {
        let app = test::init_service(App::new().route("/n", route(&Arc::default()))).await;
        let (status, body) = get_text(&app, TestRequest::get().uri("/n").to_request()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("no cache"), "{body}");
        assert!(body.contains(".app_data(cache.clone())"), "{body}");
        assert!(body.contains("web::Data::new(cache)"), "{body}");
    }

    #[actix_web::test]
    async fn the_rejection_is_a_plain_text_500() {
        let request = TestRequest::default().to_http_request();
        let rejection = Memo::extract(&request).await.unwrap_err();
        assert_eq!(rejection.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = rejection.error_response();
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/plain; charset=utf-8"
        );
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert_eq!(body, rejection.body_text());
    }
}
