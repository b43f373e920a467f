//! `Query<T>`: the query-string extractor with Go's `url.Values.Get` semantics, which every Ory
//! service reads its parameters with — a repeated key counts with its first value instead of
//! failing the request (axum's `Query` rejects `?page_size=1&page_size=2`); a value that does
//! not fit its field is a 400 envelope naming the parameter. Handlers that take a parameter
//! many times (`ids`, `include_credential`) read [`pairs`] instead. Either refuses a query of
//! more than [`MAX_PARAMETERS`] parameters.

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

/// Most parameters one query string may hold; more are refused before anything is decoded
/// (each handler then looks at bounded lists only).
pub const MAX_PARAMETERS: usize = 1000;

/// Every `(key, value)` of `raw` in order, repeated keys included; a 400 when there are more
/// than [`MAX_PARAMETERS`]. For handlers that read a parameter many times (`ids`).
pub fn pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (count, (key, value)) in url::form_urlencoded::parse(raw.as_bytes()).enumerate() {
        if count >= MAX_PARAMETERS {
            return Err(ApiError::bad_request(format!(
                "the query has more than {MAX_PARAMETERS} parameters"
            )));
        }
        out.push((key.into_owned(), value.into_owned()));
    }
    Ok(out)
}

/// Deserializes `T` from the first value of each key of `raw` (at most [`MAX_PARAMETERS`]).
pub fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<(String, String)> = pairs(raw)?
        .into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect();
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
    fn more_than_1000_parameters_are_refused() {
        let query = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(pairs(&query(1000)).unwrap().len(), 1000);
        assert!(parse::<Page>(&query(1000)).is_ok());
        for e in [
            pairs(&query(1001)).unwrap_err(),
            parse::<Page>(&query(1001)).unwrap_err(),
        ] {
            let body = e.envelope(None, false);
            assert_eq!(
                body["error"]["reason"],
                "the query has more than 1000 parameters"
            );
            assert_eq!(body["error"]["code"], 400);
        }
    }

    #[test]
    fn a_value_that_does_not_fit_names_the_parameter() {
        let e = parse::<Page>("page_size=abc").unwrap_err();
        let body = e.envelope(None, false);
        let reason = body["error"]["reason"].as_str().unwrap();
        assert!(reason.contains("page_size"), "{reason}");
    }
}
