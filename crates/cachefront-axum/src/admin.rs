//! The admin endpoints as an axum router.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use cachefront::Admin;

/// The admin endpoints of a cache as a router to mount under a path of your choice with
/// [`nest_service`](Router::nest_service) (which, unlike `nest`, also serves the path with a
/// trailing slash, `/admin/`): the dashboard page at `/`, and `POST /purge`, `GET /stats`,
/// `GET /history`, `GET /metrics` behind the bearer token of [`Admin`].
///
/// Every decision (authorization, parsing, rendering) is taken by the core's [`Admin`]; this
/// router only hands it the request.
///
/// ```
/// use axum::Router;
/// use cachefront_axum::{Admin, Cache, admin};
///
/// # fn main() -> Result<(), cachefront::Error> {
/// let cache = Cache::new();
/// let mut app: Router = Router::new();
/// // Enabled only when CACHEFRONT_ADMIN_TOKEN is set.
/// if let Some(endpoints) = Admin::from_env(cache.clone())? {
///     app = app.nest_service("/admin", admin(endpoints));
/// }
/// # Ok(()) }
/// ```
pub fn admin<S>(admin: Admin) -> Router<S> {
    Router::new().fallback(handle).with_state(admin)
}

async fn handle(
    State(admin): State<Admin>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let answer = admin
        .handle(method.as_str(), uri.path(), authorization, &body)
        .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response();
    for (name, value) in answer.headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const TOKEN: &str = "0123456789abcdef";

    fn app() -> Router {
        let cache = cachefront::Cache::new();
        Router::new().nest_service("/admin", admin(Admin::new(cache, TOKEN).unwrap()))
    }

    async fn call(method: &str, path: &str, token: Option<&str>, body: &str) -> (StatusCode, String) {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = app()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn routes_to_the_core_admin() {
        assert_eq!(
            call("GET", "/admin/stats", None, "").await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = call("GET", "/admin/stats", Some(TOKEN), "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"total\""), "{body}");
        let (status, body) = call("POST", "/admin/purge", Some(TOKEN), "{oops").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("malformed purge request"), "{body}");
        let (status, body) = call("POST", "/admin/purge", Some(TOKEN), r#"{"all":true}"#).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"removed":0}"#));
        let (status, body) = call("GET", "/admin/metrics", Some(TOKEN), "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("cachefront_entries"), "{body}");
    }
}
