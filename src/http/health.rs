//! `/health/alive`, `/health/ready` and `/version` as Ory serves them, and the Prometheus
//! endpoint. Readiness runs every registered check (the database ping first) and answers 503
//! with `{"errors":{name: message}}` when one fails.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::metrics::Metrics;

/// One readiness check: a name (the key in `errors`) and an async probe.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The checks behind `/health/ready`.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<(&'static str, ReadyCheck)>,
    /// Answer a failed readiness check as Oathkeeper does (see [`Health::oathkeeper_failure`]).
    oathkeeper_failure: bool,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check(mut self, name: &'static str, check: ReadyCheck) -> Self {
        self.checks.push((name, check));
        self
    }

    /// Oathkeeper writes a failed readiness check through herodot's error writer: HTTP 503 with
    /// `{"error":{"code":500,"message":"The requested resource could not be found"}}` instead
    /// of the `{"errors":{...}}` its OpenAPI document promises; its API port answers so.
    pub fn oathkeeper_failure(mut self) -> Self {
        self.oathkeeper_failure = true;
        self
    }

    /// Runs every check; `Err` holds the failures by name.
    pub async fn ready(&self) -> Result<(), Map<String, Value>> {
        let mut errors = Map::new();
        for (name, check) in &self.checks {
            if let Err(message) = check().await {
                tracing::warn!(check = name, message, "readiness check failed");
                errors.insert((*name).to_string(), Value::String(message));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The version string every `/version` answers.
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// `GET {prefix}/health/alive`, `GET {prefix}/health/ready`.
pub fn health_routes(prefix: &str, health: Health) -> Router {
    Router::new()
        .route(&format!("{prefix}/health/alive"), get(alive))
        .route(&format!("{prefix}/health/ready"), get(ready))
        .with_state(Arc::new(health))
}

/// `GET {prefix}/version`.
pub fn version_route(prefix: &str) -> Router {
    Router::new().route(
        &format!("{prefix}/version"),
        get(|| async { axum::Json(json!({"version": version()})) }),
    )
}

/// `GET {path}` → Prometheus text of the stack's metrics.
pub fn metrics_route(path: &str, metrics: Metrics) -> Router {
    Router::new()
        .route(
            path,
            get(|State(m): State<Metrics>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
            }),
        )
        .with_state(metrics)
}

async fn alive() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn ready(State(health): State<Arc<Health>>) -> Response {
    match health.ready().await {
        Ok(()) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(_) if health.oathkeeper_failure => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": {
                "code": 500,
                "message": "The requested resource could not be found",
            }})),
        )
            .into_response(),
        Err(errors) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"errors": errors})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn check(result: Result<(), &'static str>) -> ReadyCheck {
        Arc::new(move || Box::pin(async move { result.map_err(str::to_string) }))
    }

    async fn ready_of(health: Health) -> (StatusCode, Value) {
        let req = axum::http::Request::get("/health/ready")
            .body(Body::empty())
            .unwrap();
        let response = health_routes("", health).oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn ready_is_200_when_every_check_passes() {
        let (status, body) = ready_of(Health::new().check("database", check(Ok(())))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "ok"}));
    }

    #[tokio::test]
    async fn ready_is_503_with_every_failure_by_name() {
        let health = Health::new()
            .check("database", check(Err("the database is not reachable")))
            .check("rules_loaded", check(Ok(())));
        let (status, body) = ready_of(health).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({"errors": {"database": "the database is not reachable"}})
        );
    }
}
