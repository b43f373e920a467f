//! `Query<T>`: the query-string extractor with Go's `url.Values.Get` semantics, which every Ory
//! service reads its parameters with — a repeated key counts with its first value instead of
//! failing the request (axum's `Query` rejects `?page_size=1&page_size=2`); a value that does
//! not fit its field is a 400 envelope naming the parameter. Handlers that take a parameter
//! many times (`ids`, `include_credential`) read the raw query instead.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Typed query parameters, first value of each key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Deserializes `T` from the first value of each key of `raw`.
pub fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let mut firsts: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !firsts.iter().any(|(k, _)| *k == key) {
            firsts.push((key.into_owned(), value.into_owned()));
        }
    }
    let encoded = serde_urlencoded::to_string(&firsts)
        .map_err(|e| ApiError::bad_request(format!("Failed to read the query string: {e}")))?;
    let deserializer =
        serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        ApiError::bad_request(format!(
            "The query parameter {} is invalid: {}",
            e.path(),
            e.inner()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Page {
        page_size: Option<u32>,
        token: Option<String>,
    }

    #[test]
    fn the_first_value_of_a_repeated_key_counts_as_in_go() {
        let p: Page = parse("page_size=1&page_size=2&token=a+b%26c").unwrap();
        assert_eq!(
            p,
            Page {
                page_size: Some(1),
                token: Some("a b&c".into())
            }
        );
        let p: Page = parse("").unwrap();
        assert_eq!(
            p,
            Page {
                page_size: None,
                token: None
            }
        );
    }

    #[test]
    fn a_value_that_does_not_fit_names_the_parameter() {
        let e = parse::<Page>("page_size=abc").unwrap_err();
        let body = e.envelope(None, false);
        let reason = body["error"]["reason"].as_str().unwrap();
        assert!(reason.contains("page_size"), "{reason}");
    }
}
