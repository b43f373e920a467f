//! The middleware every listener shares: request ids (`X-Request-Id`), panic capture (a 500
//! envelope, never a dropped connection), the body limit, Ory's error envelope on every 4xx/5xx
//! the framework or a handler produces, the 404/405 fallbacks, request logs and metrics.

use std::any::Any;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::error::ApiError;
use super::metrics::{Metrics, RequestSample};

/// Response extension: the body is the handler's on purpose (e.g. Oathkeeper's plain-text
/// `www_authenticate` 401) and must not be re-rendered as the error envelope.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;

/// What the shared middleware needs to know about one listener.
#[derive(Debug, Clone)]
pub struct ListenerContext {
    pub role: &'static str,
    pub listener: &'static str,
    pub dev: bool,
    pub body_limit: usize,
    pub metrics: Metrics,
}

/// Wraps an API listener's router: body limit, envelope rendering, panic capture, request
/// ids, logs and metrics. Unknown paths get a 404 envelope unless the router set a fallback.
pub fn api(router: Router, ctx: ListenerContext) -> Router {
    let limit = ctx.body_limit;
    router
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(Arc::new(ctx), finish_api))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Wraps the proxy listener's router: responses pass through untouched (they are the
/// upstream's). The request id is set (kept when the client sent one) and echoed, a panic
/// becomes a 500 envelope, every request is logged and counted — one service instead of four
/// stacked layers, since every proxied request passes through it.
pub fn passthrough(router: Router, ctx: ListenerContext) -> Router {
    router.layer(PassthroughLayer(Arc::new(ctx)))
}

#[derive(Clone)]
struct PassthroughLayer(Arc<ListenerContext>);

impl<S> tower::Layer<S> for PassthroughLayer {
    type Service = Passthrough<S>;

    fn layer(&self, inner: S) -> Passthrough<S> {
        Passthrough {
            inner,
            ctx: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Passthrough<S> {
    inner: S,
    ctx: Arc<ListenerContext>,
}

const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// A new request id: a random UUID, as tower-http's `MakeRequestUuid`.
fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

impl<S> tower::Service<Request> for Passthrough<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = match req.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                req.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let method = req.method().clone();
        let uri = req.uri().clone(); // shares the request's bytes
        let response = self.inner.call(req);
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let mut response = match AssertUnwindSafe(response).catch_unwind().await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(panic) => panic_response(panic),
            };
            if !response.headers().contains_key(X_REQUEST_ID) {
                response
                    .headers_mut()
                    .insert(X_REQUEST_ID, request_id.clone());
            }
            let request_id = request_id.to_str().ok();
            account(
                &ctx,
                &method,
                &uri,
                "unmatched",
                request_id,
                started,
                &response,
            );
            Ok(response)
        })
    }
}

async fn finish_api(State(ctx): State<Arc<ListenerContext>>, req: Request, next: Next) -> Response {
    finish(&ctx, req, next).await
}

/// No field of any Ory API accepts a NUL character, and PostgreSQL cannot store one in text:
/// a `%00` in the path or query, or a NUL in a JSON (`\u0000`) or form (`%00`) body, is a 400
/// here — the same answer on every backend instead of a database error.
const NUL_REASON: &str =
    "The request contains a NUL character (\\u0000 or %00), which no parameter or field accepts.";

/// Whether `bytes` holds a NUL: raw, percent-encoded, or as an unescaped JSON `\u0000`.
fn holds_nul(bytes: &[u8]) -> bool {
    if bytes.contains(&0) || bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00")) {
        return true;
    }
    bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// The 400 for a NUL, in the role's error shape (RFC 6749 on Hydra's listeners).
fn nul_rejection(ctx: &ListenerContext) -> Response {
    if ctx.role == "oauth2" {
        let body = serde_json::json!({"error": "invalid_request", "error_description": NUL_REASON});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    ApiError::bad_request(NUL_REASON).into_response()
}

/// Rejects a request holding a NUL ([`holds_nul`]); the body is read only for JSON and form
/// requests within the body limit, and handed on unchanged. Not on the proxy's listeners.
async fn reject_nul(ctx: &ListenerContext, req: Request) -> Result<Request, Response> {
    // The proxy's API stores nothing, and its decisions judge the client's URL as it came.
    if ctx.role == "proxy" {
        return Ok(req);
    }
    if holds_nul(req.uri().path().as_bytes())
        || req.uri().query().is_some_and(|q| holds_nul(q.as_bytes()))
    {
        return Err(nul_rejection(ctx));
    }
    let textual = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.contains("x-www-form-urlencoded"));
    if !textual {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, ctx.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => return Err(ApiError::payload_too_large(ctx.body_limit).into_response()),
    };
    if holds_nul(&bytes) {
        return Err(nul_rejection(ctx));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn finish(ctx: &ListenerContext, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone(); // shares the request's bytes
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = match reject_nul(ctx, req).await {
        Ok(req) => next.run(req).await,
        Err(rejection) => rejection,
    };
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        response = render_error(response, request_id.as_deref(), ctx.dev).await;
    }
    let route = route.as_deref().unwrap_or("unmatched");
    account(
        ctx,
        &method,
        &uri,
        route,
        request_id.as_deref(),
        started,
        &response,
    );
    response
}

/// What a finished request leaves behind on every listener: an error line for a 5xx a handler
/// explained, a debug line, and its metrics.
fn account(
    ctx: &ListenerContext,
    method: &Method,
    uri: &Uri,
    route: &str,
    request_id: Option<&str>,
    started: Instant,
    response: &Response,
) {
    let status = response.status();
    let path = uri.path();
    if let Some(error) = response.extensions().get::<ApiError>() {
        if error.status == StatusCode::NOT_IMPLEMENTED {
            // An Ory path of a feature Quartet lacks (`http::unsupported`): the client's
            // doing, not a failure of the server.
            tracing::warn!(role = ctx.role, listener = ctx.listener, %method, path, request_id, message = error.message.as_str(), "request for a feature not supported yet");
        } else if error.status.is_server_error() {
            tracing::error!(role = ctx.role, listener = ctx.listener, %method, path, request_id, debug = error.debug.as_deref().unwrap_or(""), "request failed");
        }
    }
    let elapsed = started.elapsed();
    tracing::debug!(role = ctx.role, listener = ctx.listener, %method, path, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, request_id, "request");
    ctx.metrics.record(&RequestSample {
        role: ctx.role,
        listener: ctx.listener,
        method: method.as_str(),
        route,
        status: status.as_u16(),
        elapsed,
    });
}

/// Largest plain-text rejection read back as the envelope's `reason` (axum's rejections are
/// one line, e.g. "Failed to deserialize query string: page_size: invalid digit found in
/// string").
const REJECTION_TEXT_LIMIT: usize = 4096;

/// Re-renders an error response as the envelope with request id (and debug in dev). Bodies a
/// handler wrote as JSON on purpose (Keto's `{"allowed":false}`, RFC 6749 errors) are kept; a
/// framework rejection's plain text becomes the `reason`.
async fn render_error(response: Response, request_id: Option<&str>, dev: bool) -> Response {
    let known = response.extensions().get::<ApiError>().cloned();
    if known.is_none() && (is_json(&response) || response.extensions().get::<KeepBody>().is_some())
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match known {
        Some(error) => error,
        None => {
            // A framework rejection (query string, path, form): its text says what was wrong.
            let text = axum::body::to_bytes(body, REJECTION_TEXT_LIMIT)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            let error = ApiError::for_status(parts.status);
            if parts.status.is_client_error() && !text.is_empty() {
                error.with_reason(text)
            } else {
                error
            }
        }
    };
    let body = error.envelope(request_id, dev).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(error);
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = detail, "a request handler panicked");
    let mut response = ApiError::internal(format!("handler panicked: {detail}")).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Json;
    use axum::routing::{get, post};
    use serde_json::Value;
    use tower::ServiceExt;

    fn ctx(dev: bool) -> ListenerContext {
        ListenerContext {
            role: "permission",
            listener: "write",
            dev,
            body_limit: 64,
            metrics: Metrics::new(),
        }
    }

    #[derive(serde::Deserialize)]
    struct Count {
        n: u32,
    }

    fn boom() -> &'static str {
        panic!("kaboom")
    }

    fn app(dev: bool) -> Router {
        let router = Router::new()
            .route("/echo", post(|Json(v): Json<Value>| async move { Json(v) }))
            .route("/boom", get(|| async { boom() }))
            .route(
                "/count",
                get(
                    |axum::extract::Query(q): axum::extract::Query<Count>| async move {
                        q.n.to_string()
                    },
                ),
            )
            .route(
                "/fail",
                get(|| async { ApiError::internal("the secret detail") }),
            )
            .fallback(|| async { ApiError::not_found() });
        api(router, ctx(dev))
    }

    async fn call(app: Router, req: axum::http::Request<Body>) -> (StatusCode, Value) {
        let response = app.oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn post_json(body: &str, content_type: Option<&str>) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::post("/echo");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn valid_json_passes_through() {
        let (status, body) = call(
            app(false),
            post_json(r#"{"a":1}"#, Some("application/json")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["a"], 1);
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_envelope_naming_the_problem() {
        let (status, body) =
            call(app(false), post_json(r#"{"a":"#, Some("application/json"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], 400);
        assert!(
            body["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("Unable to decode JSON body"),
            "{body}"
        );
        assert!(body["error"]["request"].is_string());
    }

    #[tokio::test]
    async fn a_wrong_content_type_is_a_415_envelope() {
        let (status, body) = call(app(false), post_json(r#"{"a":1}"#, Some("text/plain"))).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error"]["code"], 415);
        let (status, _) = call(app(false), post_json(r#"{"a":1}"#, None)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn nul_is_found_raw_percent_encoded_and_json_escaped_but_not_in_an_escaped_backslash() {
        assert!(holds_nul(b"a\0b"));
        assert!(holds_nul(b"object=%00") && holds_nul(b"x=%00a") && holds_nul(b"%00"));
        assert!(holds_nul(br#"{"a":"x\u0000"}"#));
        assert!(
            holds_nul(br#"{"a":"\\\u0000"}"#),
            "an escaped backslash, then \\u0000"
        );
        assert!(
            !holds_nul(br#"{"a":"\\u0000"}"#),
            "the text \\u0000, not a NUL"
        );
        assert!(!holds_nul(b"x=%100&y=%0a") && !holds_nul(b"plain"));
    }

    #[tokio::test]
    async fn a_nul_in_the_query_or_the_body_is_a_400_envelope_naming_it() {
        let req = axum::http::Request::get("/echo?object=a%00b")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(app(false), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]["reason"].as_str().unwrap().contains("NUL"),
            "{body}"
        );
        let (status, body) = call(
            app(false),
            post_json(r#"{"a":"\u0000"}"#, Some("application/json")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]["reason"].as_str().unwrap().contains("NUL"),
            "{body}"
        );
        // The same bytes without a NUL reach the handler untouched.
        let (status, body) = call(
            app(false),
            post_json(r#"{"a":"\\u0000"}"#, Some("application/json")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["a"], "\\u0000");
    }

    #[tokio::test]
    async fn a_framework_rejection_says_what_was_wrong_in_the_envelope() {
        let req = axum::http::Request::get("/count?n=abc")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(app(false), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["message"], "Bad Request");
        let reason = body["error"]["reason"].as_str().unwrap();
        assert!(reason.contains("n: invalid digit"), "{body}");
    }

    #[tokio::test]
    async fn an_oversized_body_is_a_413_envelope() {
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(100));
        let (status, body) = call(app(false), post_json(&big, Some("application/json"))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], 413);
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_envelope() {
        let req = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(app(false), req).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], 500);
        assert!(
            body["error"].get("debug").is_none(),
            "no debug outside dev: {body}"
        );
    }

    fn proxy_app() -> Router {
        let router = Router::new()
            .route("/boom", get(|| async { boom() }))
            .fallback(|| async { (StatusCode::IM_A_TEAPOT, "upstream's own body") });
        passthrough(router, ctx(false))
    }

    #[tokio::test]
    async fn passthrough_keeps_bodies_and_request_ids_and_catches_panics() {
        let response = proxy_app()
            .oneshot(
                axum::http::Request::get("/x")
                    .header("x-request-id", "client-id")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(response.headers()["x-request-id"], "client-id");
        let body = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            b"upstream's own body",
            "no envelope on the proxy"
        );

        let response = proxy_app()
            .oneshot(axum::http::Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a generated UUID: {id}");

        let (status, body) = call(
            proxy_app(),
            axum::http::Request::get("/boom")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], 500);
    }

    #[tokio::test]
    async fn debug_details_appear_only_in_dev() {
        let req = || {
            axum::http::Request::get("/fail")
                .body(Body::empty())
                .unwrap()
        };
        let (_, body) = call(app(false), req()).await;
        assert!(body["error"].get("debug").is_none());
        assert!(!body.to_string().contains("the secret detail"));
        let (_, body) = call(app(true), req()).await;
        assert_eq!(body["error"]["debug"], "the secret detail");
    }
}
