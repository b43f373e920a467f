//! The permission role's one error type and its single mapping to Keto's (herodot) error
//! envelope; the match is exhaustive so that a new variant cannot go unmapped.

use axum::http::StatusCode;

use crate::http::ApiError;
use crate::store::StoreError;

pub type Result<T, E = PermissionError> = std::result::Result<T, E>;

/// Everything that can go wrong in the permission role.
#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    /// A tuple string that is not `ns:obj#rel@subject`.
    #[error("malformed string input {input:?}: {reason}")]
    MalformedTuple { input: String, reason: String },
    /// Bad query parameters or body (the text is Keto's `reason`).
    #[error("{0}")]
    BadRequest(String),
    /// Bad JSON body (Keto: `could not unmarshal json: …` as the message).
    #[error("could not unmarshal json: {0}")]
    BadJson(String),
    /// A namespace that is not configured.
    #[error("Unknown namespace with name {0:?}.")]
    UnknownNamespace(String),
    /// A relation that the namespace's OPL class does not declare.
    #[error("relation {relation:?} does not exist")]
    UnknownRelation { namespace: String, relation: String },
    /// A page token that was not issued by this deployment for this query.
    #[error("the page token is invalid: it was altered, or belongs to another query")]
    InvalidPageToken,
    /// More tuples in a batch check than `limit.max_batch_check_size`.
    #[error("batch exceeds max size of {0}")]
    BatchTooLarge(usize),
    /// A reverse lookup that would check more candidates than `lookup.max_candidates`.
    #[error(
        "this lookup needs more than {0} checks to answer one page, the limit set by permission.lookup.max_candidates; ask with a narrower query or raise the limit"
    )]
    LookupTooBroad(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected state; the detail goes to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for PermissionError {
    fn from(e: sqlx::Error) -> Self {
        PermissionError::Store(StoreError::Database(e))
    }
}

impl PermissionError {
    /// The Keto error body for this error (one exhaustive mapping for every REST port).
    pub fn to_api_error(&self) -> ApiError {
        match self {
            PermissionError::MalformedTuple { reason, .. } => {
                ApiError::bad_request("malformed string input").with_debug(reason.clone())
            }
            PermissionError::BadRequest(reason) => ApiError::bad_request(reason.clone()),
            PermissionError::BadJson(_) | PermissionError::BatchTooLarge(_) => {
                let mut e = ApiError::bad_request("");
                e.reason = None;
                e.message = self.to_string();
                e
            }
            PermissionError::UnknownNamespace(_) => {
                ApiError::not_found().with_reason(self.to_string())
            }
            PermissionError::UnknownRelation { .. } => ApiError::bad_request(self.to_string()),
            PermissionError::InvalidPageToken | PermissionError::LookupTooBroad(_) => {
                ApiError::bad_request(self.to_string())
            }
            PermissionError::Store(e) => {
                tracing::error!(error = %e, "permission: database error");
                ApiError::internal(e.to_string())
            }
            PermissionError::Internal(detail) => {
                tracing::error!(error = %detail, "permission: internal error");
                ApiError::internal(detail.clone())
            }
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        self.to_api_error().status
    }
}

impl axum::response::IntoResponse for PermissionError {
    fn into_response(self) -> axum::response::Response {
        self.to_api_error().into_response()
    }
}
