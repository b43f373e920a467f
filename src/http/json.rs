//! `Json<T>`: axum's JSON extractor with rejections in Ory's envelope (400 malformed or
//! invalid JSON naming the field, 415 wrong content type, 413 over the body limit) instead of
//! axum's plain-text rejections.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

/// JSON request body or JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(rejection_to_error(rejection)),
        }
    }
}

fn rejection_to_error(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(
            "Expected request with `Content-Type: application/json`.",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("Unable to decode JSON body: {}", source_text(&e)))
        }
        JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
            "The JSON body does not match the expected shape: {}",
            source_text(&e)
        )),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large",
            )
            .with_reason(e.body_text())
        }
        other => ApiError::new(other.status(), "The request body could not be read")
            .with_reason(other.body_text()),
    }
}

/// The innermost error text (serde's message with line/column or field path), without
/// axum's generic prefix.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
