//! The oauth2 role's one error type and its single mapping to Hydra's wire shape:
//! `{"error","error_description"}` (fosite's RFC 6749 codes, hint folded into the description)
//! on every surface, as Hydra 2.2 (no `error_hint`, no legacy format).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Every way an oauth2 request can fail. The `String` is the actionable hint appended to the
/// code's standard description.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("access_denied: {0}")]
    AccessDenied(String),
    #[error("request_forbidden: {0}")]
    RequestForbidden(String),
    #[error("request_unauthorized: {0}")]
    RequestUnauthorized(String),
    #[error("login_required: {0}")]
    LoginRequired(String),
    #[error("consent_required: {0}")]
    ConsentRequired(String),
    #[error("invalid_state: {0}")]
    InvalidState(String),
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    #[error("token_inactive: {0}")]
    TokenInactive(String),
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// A login/consent rejection, carried verbatim to the client (`"login request denied"`
    /// when the UI gave no code).
    #[error("{error}: {description}")]
    Rejected {
        error: String,
        description: String,
        status: u16,
    },
    /// Unknown client (Hydra's sqlcon not-found shape).
    #[error("client not found")]
    ClientNotFound,
    /// Another unknown row behind sqlcon (e.g. a trusted jwt-bearer issuer): same shape.
    #[error("no rows: {0}")]
    NoRows(String),
    /// Unknown key set, key, or flow.
    #[error("not found: {0}")]
    NotFound(String),
    /// A handled challenge: 410 with where the browser should go now.
    #[error("challenge already handled")]
    Gone { redirect_to: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// An action the caller may not take (herodot's 403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Malformed admin input (herodot's generic 400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Dynamic client registration is switched off.
    #[error("dynamic client registration is disabled")]
    RegistrationDisabled,
    /// A token for a client read earlier was not stored: the client has been changed or
    /// deleted since. Never answered: the request is then served again from a fresh read.
    #[error("the client changed while a token was issued for it")]
    ClientChanged,
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::Conflict(what),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::from(crate::store::map_unique(e))
    }
}

impl Error {
    /// `(status, error code, error_description)` — the one place every variant meets the wire.
    /// RFC 6749 errors read as fosite's `GetDescription`: the hint after the description, and
    /// every `"` written as `'`.
    pub fn parts(&self) -> (StatusCode, String, String) {
        let fosite = |status: StatusCode, code: &str, description: &str, hint: &str| {
            let description = if hint.is_empty() {
                description.to_string()
            } else {
                format!("{description} {hint}")
            };
            (status, code.to_string(), description.replace('"', "'"))
        };
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Error::InvalidRequest(h) => fosite(bad, "invalid_request", "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.", h),
            Error::InvalidClient(h) => fosite(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).", h),
            Error::InvalidGrant(h) => fosite(bad, "invalid_grant", "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.", h),
            Error::UnauthorizedClient(h) => fosite(bad, "unauthorized_client", "The client is not authorized to request a token using this method.", h),
            Error::UnsupportedResponseType(h) => fosite(bad, "unsupported_response_type", "The authorization server does not support obtaining a token using this method.", h),
            Error::InvalidScope(h) => fosite(bad, "invalid_scope", "The requested scope is invalid, unknown, or malformed.", h),
            Error::AccessDenied(h) => fosite(StatusCode::FORBIDDEN, "access_denied", "The resource owner or authorization server denied the request.", h),
            Error::RequestForbidden(h) => fosite(StatusCode::FORBIDDEN, "request_forbidden", "The request is not allowed.", h),
            Error::RequestUnauthorized(h) => fosite(StatusCode::UNAUTHORIZED, "request_unauthorized", "The request could not be authorized.", h),
            Error::LoginRequired(h) => fosite(bad, "login_required", "The Authorization Server requires End-User authentication.", h),
            Error::ConsentRequired(h) => fosite(bad, "consent_required", "The Authorization Server requires End-User consent.", h),
            Error::InvalidState(h) => fosite(bad, "invalid_state", "The state is missing or does not have enough characters and is therefore considered too weak.", h),
            Error::InvalidToken(h) => fosite(StatusCode::UNAUTHORIZED, "invalid_token", "The token is invalid or expired.", h),
            Error::TokenInactive(h) => fosite(StatusCode::UNAUTHORIZED, "token_inactive", "Token is inactive because it is malformed, expired or otherwise invalid. Token validation failed.", h),
            Error::InvalidClientMetadata(h) => fosite(bad, "invalid_client_metadata", "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.", h),
            Error::InvalidRedirectUri(h) => fosite(bad, "invalid_redirect_uri", "The value of one or more redirect_uris is invalid.", h),
            Error::Rejected { error, description, status } => (
                StatusCode::from_u16(*status).unwrap_or(bad),
                error.clone(),
                description.replace('"', "'"),
            ),
            Error::ClientNotFound | Error::NoRows(_) => (StatusCode::NOT_FOUND, "Unable to locate the resource".into(), String::new()),
            Error::NotFound(what) => (StatusCode::NOT_FOUND, "Not Found".into(), format!("Unable to locate the requested resource: {what}")),
            Error::Gone { .. } => (StatusCode::GONE, String::new(), String::new()),
            Error::Conflict(_) => (StatusCode::CONFLICT, "Unable to insert or update resource because a resource with that value exists already".into(), String::new()),
            Error::Forbidden(reason) => (StatusCode::FORBIDDEN, "The requested action was forbidden".into(), reason.clone()),
            Error::BadRequest(reason) => (bad, "The request was malformed or contained invalid parameters".into(), reason.clone()),
            Error::RegistrationDisabled => (StatusCode::NOT_FOUND, "Not Found".into(), "Dynamic registration is not enabled.".into()),
            Error::Internal(_) | Error::ClientChanged => (StatusCode::INTERNAL_SERVER_ERROR, "server_error".into(), "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.".into()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(detail) = &self {
            tracing::error!(error = %detail, "oauth2 request failed");
        }
        let (status, error, description) = self.parts();
        let body = match &self {
            Error::Gone { redirect_to } => json!({ "redirect_to": redirect_to }),
            _ => json!({ "error": error, "error_description": description }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hint_is_folded_into_the_description() {
        let (status, code, description) =
            Error::InvalidScope("The OAuth 2.0 Client is not allowed to request scope 'x'.".into())
                .parts();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code, "invalid_scope");
        assert!(description.ends_with("request scope 'x'."));
        // fosite's GetDescription writes every double quote as a single one.
        let (_, _, description) =
            Error::InvalidGrant("The \"redirect_uri\" from this request".into()).parts();
        assert!(description.ends_with("The 'redirect_uri' from this request"));
        assert_eq!(
            Error::InvalidClient(String::new()).parts().0,
            StatusCode::UNAUTHORIZED
        );
    }
}
