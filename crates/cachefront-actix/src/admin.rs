//! The admin endpoints as an actix-web scope.

use actix_web::{
    HttpRequest, HttpResponse, Scope,
    http::{StatusCode, header},
    web,
};
use cachefront::{Admin, AdminResponse};

/// The admin endpoints of a cache as an actix-web [`Scope`] mounted at `path`, e.g.
/// `"/admin"`: those of [`Admin`] (see its table), below `path` — `POST {path}/purge`,
/// `GET {path}/stats`, `GET {path}/metrics`, and the others [`Admin`] answers.
///
/// Every request under `path` goes to [`Admin::handle`], which takes every decision (the
/// bearer token, compared in constant time; routing; parsing; rendering): this scope only
/// hands it the method, the path below `path`, the `Authorization` header and the body, and
/// writes its answer. Build the [`Admin`] with [`Admin::new`] (a token of your own) or
/// [`Admin::from_env`] (`CACHEFRONT_ADMIN_TOKEN`, the endpoints staying off when it is unset).
///
/// Register the scope before a scope or resource that would also match `path`, and do not
/// wrap it in a [`ResponseCache`](crate::ResponseCache).
///
/// ```
/// use actix_web::{App, test};
/// use cachefront_actix::{Admin, Cache};
///
/// # #[actix_web::main] async fn main() {
/// let cache = Cache::new();
/// let admin = Admin::new(cache.clone(), "a-long-secret-token").unwrap();
/// let app = test::init_service(App::new().service(cachefront_actix::admin("/admin", admin))).await;
///
/// let request = test::TestRequest::get()
///     .uri("/admin/stats")
///     .insert_header(("authorization", "Bearer a-long-secret-token"))
///     .to_request();
/// let response = test::call_service(&app, request).await;
/// assert_eq!(response.status(), 200);
///
/// let request = test::TestRequest::get().uri("/admin/stats").to_request();
/// assert_eq!(test::call_service(&app, request).await.status(), 401);
/// # }
/// ```
pub fn admin(path: &str, admin: Admin) -> Scope {
    web::scope(path).default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
        let admin = admin.clone();
        async move {
            // The path below the scope's prefix: `/purge` under `/admin/purge`.
            let below = match request.match_info().unprocessed() {
                "" => "/",
                below => below,
            };
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|value| value.as_bytes());
            let answer = admin
                .handle(request.method().as_str(), below, authorization, &body)
                .await;
            to_response(answer)
        }
    }))
}

/// Writes an [`AdminResponse`] as it is.
fn to_response(answer: AdminResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, answer.content_type));
    for (name, value) in answer.headers {
        response.append_header((name, value));
    }
    response.body(answer.body)
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
    use cachefront::{Cache, Policy};
    use serde_json::Value;

    use super::*;
    use crate::CacheExt as _;

    const TOKEN: &str = "0123456789abcdef";

    fn authorized(request: TestRequest) -> TestRequest {
        request.insert_header(("authorization", format!("Bearer {TOKEN}")))
    }

    /// The status, content type and body of a response.
    async fn answer<S, R, B>(app: &S, request: R) -> (u16, String, String)
    where
        S: Service<R, Response = ServiceResponse<B>, Error = Error>,
        B: MessageBody,
    {
        let response = test::call_service(app, request).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = test::read_body(response).await;
        (status, content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The admin scope at `/admin` and `/products/{id}` cached for 60 s, tagged
    /// `product:{id}`; the product handler counts its calls.
    fn routes(cache: &Cache, calls: &Arc<AtomicUsize>) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
        let cache = cache.clone();
        let counter = Arc::clone(calls);
        move |config| {
            config
                .service(admin("/admin", Admin::new(cache.clone(), TOKEN).unwrap()))
                .service(
                    web::resource("/products/{id}")
                        .wrap(
                            cache.middleware(
                                Policy::ttl(Duration::from_secs(60))
                                    .name("/products/{id}")
                                    .tag("product:{id}"),
                            ),
                        )
                        .route(web::get().to(move |id: web::Path<u32>| {
                            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                            async move { format!("product-{id}-v{n}") }
                        })),
                );
        }
    }

    #[actix_web::test]
    async fn every_endpoint_requires_the_token() {
        let cache = Cache::new();
        let app = test::init_service(App::new().configure(routes(&cache, &Arc::default()))).await;
        for request in [
            TestRequest::get().uri("/admin/stats"),
            TestRequest::get().uri("/admin/metrics"),
            TestRequest::post()
                .uri("/admin/purge")
                .set_payload(r#"{"all": true}"#),
            TestRequest::get()
                .uri("/admin/stats")
                .insert_header(("authorization", "Bearer wrong-token-of-16-chars")),
            TestRequest::get()
                .uri("/admin/stats")
                .insert_header(("authorization", TOKEN)),
        ] {
            let response = test::call_service(&app, request.to_request()).await;
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
            let body: Value = test::read_body_json(response).await;
            assert!(
                body["error"].as_str().unwrap().contains("Authorization: Bearer"),
                "{body}"
            );
        }
    }

    #[actix_web::test]
    async fn stats_are_json_with_totals_and_routes() {
        let cache = Cache::new();
        let app = test::init_service(App::new().configure(routes(&cache, &Arc::default()))).await;
        for _ in 0..2 {
            test::call_service(&app, TestRequest::get().uri("/products/1").to_request()).await;
        }
        // Stores run behind the responses: done once this returns.
        cache.run_pending_tasks().await;
        let request = authorized(TestRequest::get().uri("/admin/stats")).to_request();
        let (status, content_type, body) = answer(&app, request).await;
        assert_eq!((status, content_type.as_str()), (200, "application/json"));
        let stats: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(stats["total"]["hits"], 1);
        assert_eq!(stats["total"]["misses"], 1);
        assert_eq!(stats["total"]["stores"], 1);
        assert_eq!(stats["routes"]["/products/{id}"]["hits"], 1);
        assert!(stats["capacity_bytes"].as_u64().unwrap() > 0, "{stats}");
    }

    #[actix_web::test]
    async fn metrics_are_prometheus_text() {
        let cache = Cache::new();
        let app = test::init_service(App::new().configure(routes(&cache, &Arc::default()))).await;
        test::call_service(&app, TestRequest::get().uri("/products/1").to_request()).await;
        let request = authorized(TestRequest::get().uri("/admin/metrics")).to_request();
        let (status, content_type, body) = answer(&app, request).await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(
            body.contains("cachefront_misses_total{route=\"/products/{id}\"} 1"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn purge_by_tag_removes_the_tagged_entries() {
        let cache = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let app = test::init_service(App::new().configure(routes(&cache, &calls))).await;
        let product = |id: u32| TestRequest::get().uri(&format!("/products/{id}")).to_request();
        for id in [1, 2, 1, 2] {
            test::call_service(&app, product(id)).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Stores run behind the responses: done once this returns.
        cache.run_pending_tasks().await;

        let request = authorized(TestRequest::post().uri("/admin/purge"))
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"tags": ["product:1"]}"#)
            .to_request();
        let (status, _, body) = answer(&app, request).await;
        assert_eq!((status, body.as_str()), (200, r#"{"removed":1}"#));

        // Product 1 went, product 2 stayed.
        let (_, _, body) = answer(&app, product(1)).await;
        assert_eq!(body, "product-1-v3");
        let (_, _, body) = answer(&app, product(2)).await;
        assert_eq!(body, "product-2-v2");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[actix_web::test]
    async fn malformed_json_is_a_400_that_says_what_is_expected() {
        let cache = Cache::new();
        let app = test::init_service(App::new().configure(routes(&cache, &Arc::default()))).await;
        for payload in ["{not json", r#"{"tags": "product:1"}"#, r#"{"tagz": []}"#] {
            let request = authorized(TestRequest::post().uri("/admin/purge"))
                .set_payload(payload)
                .to_request();
            let (status, content_type, body) = answer(&app, request).await;
            assert_eq!(
                (status, content_type.as_str()),
                (400, "application/json"),
                "{payload}"
            );
            let body: Value = serde_json::from_str(&body).unwrap();
            let message = body["error"].as_str().unwrap();
            assert!(message.contains("malformed purge request"), "{message}");
            assert!(message.contains("expected JSON like"), "{message}");
        }
    }

    #[actix_web::test]
    async fn paths_are_relative_to_the_mount_point() {
        let cache = Cache::new();
        let admin = admin("/ops/cache", Admin::new(cache, TOKEN).unwrap());
        let app = test::init_service(App::new().service(admin)).await;
        for (method_path, expected) in [
            ("GET /ops/cache/stats", 200),
            ("GET /ops/cache/stats/", 200),
            ("GET /ops/cache/metrics", 200),
            ("GET /ops/cache/purge", 405),
            ("POST /ops/cache/stats", 405),
            ("GET /ops/cache/nothing", 404),
            ("GET /admin/stats", 404),
        ] {
            let (method, path) = method_path.split_once(' ').unwrap();
            let request = TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .insert_header(("authorization", format!("Bearer {TOKEN}")))
                .to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), expected, "{method_path}");
        }
        // The mount point itself is the core's path `/`, with or without a trailing slash.
        let root = Admin::new(Cache::new(), TOKEN)
            .unwrap()
            .handle("GET", "/", None, b"")
            .await;
        for path in ["/ops/cache", "/ops/cache/"] {
            let request = TestRequest::get().uri(path).to_request();
            let (status, content_type, body) = answer(&app, request).await;
            assert_eq!(
                (status, content_type.as_str()),
                (root.status, root.content_type),
                "{path}"
            );
            assert_eq!(body, root.body, "{path}");
        }
    }
}
