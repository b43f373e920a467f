//! Quartet's extension API as an OpenAPI 3 document (`spec/quartet/openapi.json`, written by
//! hand, embedded at build time), served at [`PATH`] on every API listener: what Quartet serves
//! beyond Ory's APIs, whose own documents (`spec/ory/*/api.json`) describe the rest.

use axum::http::header;
use axum::routing::get;
use axum::Router;

/// Where every API listener serves the document (the `/quartet/` prefix is no Ory service's).
pub const PATH: &str = "/quartet/openapi.json";

/// The document, as written in `spec/quartet/openapi.json`.
pub const DOCUMENT: &str = include_str!("../../spec/quartet/openapi.json");

/// `GET /quartet/openapi.json`.
pub fn route() -> Router {
    Router::new().route(
        PATH,
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], DOCUMENT) }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_and_names_itself() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"][PATH]["get"].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            assert!(path.starts_with("/quartet/"), "{path}: not under /quartet/");
            let listeners = item["x-quartet-listeners"].as_array().unwrap();
            assert!(!listeners.is_empty(), "{path}: no x-quartet-listeners");
        }
    }
}
