//! Ory's generic error envelope, `{"error":{"code","status","reason"?,"message","request"?,
//! "debug"?,"id"?}}`, as one type. Handlers return [`ApiError`]; the kernel middleware in
//! [`super::layers`] adds the request id and (only with `--dev`) the debug text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered with Ory's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Ory's error `id` (e.g. `session_inactive`, `security_csrf_violation`), when it has one.
    pub id: Option<String>,
    pub message: String,
    pub reason: Option<String>,
    /// Detail for developers; rendered only with `--dev`.
    pub debug: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            id: None,
            message: message.into(),
            reason: None,
            debug: None,
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn with_debug(mut self, debug: impl Into<String>) -> Self {
        self.debug = Some(debug.into());
        self
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "The request was malformed or contained invalid parameters",
        )
        .with_reason(reason)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested resource could not be found",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The requested method is not allowed on this resource",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large",
        )
        .with_reason(format!("Request bodies are limited to {limit} bytes."))
    }

    pub fn unsupported_media_type(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body has an unsupported content type",
        )
        .with_reason(reason)
    }

    /// A 500 that says nothing specific; the detail belongs in the log (and `debug` in dev).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An internal server error occurred, please contact the system administrator",
        )
        .with_debug(detail)
    }

    /// The generic error for a status without a more specific message (used for framework
    /// responses such as 405 and 413 that carry no body).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(status, "The request body is too large"),
            s if s.is_server_error() => Self::internal(s.to_string()),
            s => Self::new(s, s.canonical_reason().unwrap_or("Error").to_string()),
        }
    }

    /// The JSON envelope. `request` is the request id; `debug` is included only when `dev`.
    pub fn envelope(&self, request: Option<&str>, dev: bool) -> serde_json::Value {
        let body = Envelope {
            error: Body {
                id: self.id.as_deref(),
                code: self.status.as_u16(),
                status: self.status.canonical_reason().unwrap_or("Error"),
                request,
                reason: self.reason.as_deref(),
                message: &self.message,
                debug: if dev { self.debug.as_deref() } else { None },
            },
        };
        serde_json::to_value(body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    code: u16,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    debug: Option<&'a str>,
}

impl IntoResponse for ApiError {
    /// Renders the envelope without request id and debug, and leaves the error in the response
    /// extensions so that the kernel middleware can re-render it with both.
    fn into_response(self) -> Response {
        let body = axum::Json(self.envelope(None, false));
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_has_orys_fields_and_hides_debug_outside_dev() {
        let e = ApiError::internal("db exploded");
        assert_eq!(
            e.envelope(Some("r1"), false),
            json!({"error": {"code": 500, "status": "Internal Server Error", "request": "r1",
                "message": "An internal server error occurred, please contact the system administrator"}})
        );
        assert_eq!(e.envelope(None, true)["error"]["debug"], "db exploded");
    }

    #[test]
    fn id_and_reason_are_rendered_when_set() {
        let e = ApiError::new(StatusCode::FORBIDDEN, "csrf")
            .with_id("security_csrf_violation")
            .with_reason("token mismatch");
        let v = e.envelope(None, false);
        assert_eq!(v["error"]["id"], "security_csrf_violation");
        assert_eq!(v["error"]["reason"], "token mismatch");
        assert_eq!(v["error"]["status"], "Forbidden");
    }
}
