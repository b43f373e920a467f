//! The identity role's one error type and its single mapping to Kratos' HTTP error bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::crypto::password::HashError;
use crate::http::ApiError;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid configuration found at start.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the requested resource could not be found")]
    NotFound,
    /// 404 with a reason saying what is missing.
    #[error("not found: {0}")]
    Missing(String),
    #[error("an identity with the same identifier already exists")]
    Conflict,
    #[error("no valid session")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("csrf violation: {0}")]
    Csrf(String),
    #[error("the flow expired")]
    FlowExpired {
        flow_id: String,
        expired_at: String,
        since_ns: i64,
    },
    #[error("return_to is not allowed: {0}")]
    ReturnToForbidden(String),
    #[error("a valid session was detected")]
    SessionAlreadyAvailable,
    #[error("aal2 and aal3 can only be requested if a session exists already")]
    SessionRequiredForHigherAal,
    #[error("the session is too old for this privileged change")]
    RefreshRequired { redirect_to: String },
    #[error("the self-service flow is disabled")]
    FlowDisabled,
    #[error("too many failed attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Error::Conflict,
            other => Error::Store(other),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        crate::store::map_unique(e).into()
    }
}

impl From<super::limits::LimitError> for Error {
    fn from(e: super::limits::LimitError) -> Self {
        Error::BadRequest(e.to_string())
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        Error::Hash(e.to_string())
    }
}

impl Error {
    /// Kratos' body and status for every variant (the only place that decides them).
    fn parts(&self) -> (ApiError, Option<(&'static str, Value)>) {
        let status = |s: StatusCode, m: &str| ApiError::new(s, m);
        match self {
            Error::Config(m) | Error::Internal(m) | Error::Hash(m) => (ApiError::internal(m.clone()), None),
            Error::Store(e) => (ApiError::internal(e.to_string()), None),
            Error::BadRequest(reason) => (ApiError::bad_request(reason.clone()), None),
            Error::NotFound => (ApiError::not_found(), None),
            Error::Missing(reason) => (ApiError::not_found().with_reason(reason.clone()), None),
            Error::Conflict => (
                status(StatusCode::CONFLICT, "Unable to insert or update resource because a resource with that value exists already")
                    .with_reason("This identity conflicts with another identity that already exists."),
                None,
            ),
            Error::Unauthorized => (
                status(StatusCode::UNAUTHORIZED, "request does not have a valid authentication session")
                    .with_id("session_inactive")
                    .with_reason("No active session was found in this request."),
                None,
            ),
            Error::Forbidden(reason) => (
                status(StatusCode::FORBIDDEN, "The requested action was forbidden").with_reason(reason.clone()),
                None,
            ),
            Error::Csrf(reason) => (
                status(StatusCode::FORBIDDEN, "the request was rejected to protect you from Cross-Site-Request-Forgery")
                    .with_id("security_csrf_violation")
                    .with_reason(reason.clone()),
                None,
            ),
            Error::FlowExpired { flow_id, expired_at, since_ns } => (
                status(StatusCode::GONE, "The self-service flow has expired")
                    .with_id("self_service_flow_expired")
                    .with_reason(format!("The self-service flow expired {:.2} minutes ago, initialize a new one.", *since_ns as f64 / 60e9)),
                Some(("use_flow_id", json!({"use_flow_id": flow_id, "since": since_ns, "expired_at": expired_at}))),
            ),
            Error::ReturnToForbidden(url) => (
                status(StatusCode::BAD_REQUEST, "Requested return_to URL is not allowed.")
                    .with_id("self_service_flow_return_to_forbidden")
                    .with_reason(format!("The return_to URL {url} is not on the allow list selfservice.allowed_return_urls.")),
                None,
            ),
            Error::SessionRequiredForHigherAal => (
                status(StatusCode::UNAUTHORIZED, "aal2 and aal3 can only be requested if a session exists already")
                    .with_id("session_aal1_required")
                    .with_reason("You can not requested a higher AAL (AAL2/AAL3) without an active session."),
                None,
            ),
            Error::SessionAlreadyAvailable => (
                status(StatusCode::BAD_REQUEST, "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?")
                    .with_id("session_already_available"),
                None,
            ),
            Error::RefreshRequired { redirect_to } => (
                status(StatusCode::FORBIDDEN, "The login session is too old and thus not allowed to update these fields. Please re-authenticate.")
                    .with_id("session_refresh_required"),
                Some(("redirect_browser_to", json!({"redirect_browser_to": redirect_to}))),
            ),
            Error::FlowDisabled => (
                status(StatusCode::BAD_REQUEST, "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it.")
                    .with_id("self_service_flow_disabled"),
                None,
            ),
            Error::TooManyAttempts { retry_after_secs } => (
                status(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-in attempts")
                    .with_reason(format!("Too many failed sign-in attempts for this account or network; retry in {retry_after_secs} seconds.")),
                None,
            ),
        }
    }
}

impl Error {
    /// The `error` object of the envelope this error answers with (no request id, no debug):
    /// what a failed browser flow stores for the error UI.
    pub fn body(&self) -> Value {
        let (api, _) = self.parts();
        let mut envelope = api.envelope(None, false);
        envelope
            .get_mut("error")
            .map(Value::take)
            .unwrap_or(Value::Null)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let retry = match &self {
            Error::TooManyAttempts { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let (api, extra) = self.parts();
        let mut response = match extra {
            None => api.into_response(),
            Some((_, siblings)) => {
                // Bodies with siblings next to `error` are rendered here, not by the kernel.
                let mut body = api.envelope(None, false);
                if let (Some(obj), Some(extra)) = (body.as_object_mut(), siblings.as_object()) {
                    for (k, v) in extra {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                (api.status, axum::Json(body)).into_response()
            }
        };
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
