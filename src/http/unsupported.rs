//! Ory paths Quartet does not serve yet. Each role lists the paths of Ory's API (its OpenAPI
//! document, or its router for browser callbacks) that belong to a feature it lacks; a request
//! to one answers 501 in Ory's envelope naming the feature, where a path Ory does not have
//! either keeps its 404.

use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;

use super::ApiError;

/// One Ory path (in axum's syntax) that a role does not serve yet, any method.
#[derive(Debug)]
pub struct Unsupported {
    pub path: &'static str,
    /// What the path belongs to; the message says "<feature> is not supported by Quartet yet".
    pub feature: &'static str,
    /// The envelope's `reason`: what Quartet offers instead, or where it is tracked.
    pub reason: &'static str,
}

impl Unsupported {
    /// The 501 in Ory's envelope.
    pub fn error(&self) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{} is not supported by Quartet yet", self.feature),
        )
        .with_reason(self.reason)
    }
}

/// A router answering every path of `list`, any method, with its 501.
pub fn routes(list: &'static [Unsupported]) -> Router {
    list.iter().fold(Router::new(), |router, unsupported| {
        router.route(
            unsupported.path,
            any(move || async move { unsupported.error() }),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_names_the_feature_and_the_reason() {
        let u = Unsupported {
            path: "/x",
            feature: "WebAuthn",
            reason: "passwords only",
        };
        assert_eq!(
            u.error().envelope(None, false),
            serde_json::json!({"error": {"code": 501, "status": "Not Implemented",
                "message": "WebAuthn is not supported by Quartet yet", "reason": "passwords only"}})
        );
    }
}
