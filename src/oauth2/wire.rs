//! Wire helpers every oauth2 HTTP module shares: Ory's token pagination (`page_token`,
//! `Link` and `X-Total-Count`), what the handlers read from request headers (the bearer token,
//! `Authorization`, `Content-Type`), JSON bodies with Hydra's error shape, and the
//! no-store headers of token answers.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use super::error::{Error, Result};

/// Hydra's token pagination: `page_token` = base64url(`{"offset":"N","v":2}`).
pub fn page_token(offset: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{{\"offset\":\"{offset}\",\"v\":2}}"))
}

/// `(page size, offset)` of a list request: 250 by default, at most 1000; the offset from a
/// `page_token` (a malformed one is a 400).
pub fn parse_page(size: Option<&str>, token: Option<&str>) -> Result<(i64, i64)> {
    let size = match size.filter(|s| !s.is_empty()) {
        None => 250,
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Error::BadRequest(format!("page_size must be a number, not '{s}'.")))?
            .clamp(1, 1000),
    };
    let offset = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => {
            let raw = URL_SAFE_NO_PAD
                .decode(t.trim_end_matches('='))
                .or_else(|_| URL_SAFE.decode(t))
                .map_err(|_| Error::BadRequest("page_token is malformed.".into()))?;
            let v: Value = serde_json::from_slice(&raw)
                .map_err(|_| Error::BadRequest("page_token is malformed.".into()))?;
            match &v["offset"] {
                Value::String(s) => s.parse().unwrap_or(0),
                Value::Number(n) => n.as_i64().unwrap_or(0),
                _ => 0,
            }
        }
    };
    Ok((size, offset.max(0)))
}

/// `path` with the request's filters kept (Hydra's links keep the other query parameters).
pub fn with_filters(path: &str, filters: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// `Link` (first, next, prev, last) and `X-Total-Count` as Ory's token pagination. `base` is
/// the path, with the request's other query parameters if any ([`with_filters`]).
pub fn paginate(response: &mut Response, base: &str, size: i64, offset: i64, total: i64) {
    let sep = if base.contains('?') { '&' } else { '?' };
    let link = |off: i64, rel: &str| {
        format!(
            "<{base}{sep}page_size={size}&page_token={}>; rel=\"{rel}\"",
            page_token(off)
        )
    };
    let mut links = vec![link(0, "first")];
    // Saturating: the offset comes from the client's page_token (Hydra's Go wraps silently).
    if offset.saturating_add(size) < total {
        links.push(link(offset + size, "next"));
    }
    if offset > 0 {
        links.push(link((offset - size).max(0), "prev"));
    }
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / size) * size
    };
    links.push(link(last, "last"));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        h.insert(header::LINK, v);
    }
    h.insert("x-total-count", HeaderValue::from(total));
}

/// Parses a JSON body into a value with Hydra's error shape on failure.
pub(crate) fn json_body(bytes: &Bytes) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("Unable to decode the request body as JSON: {e}")))
}

/// Reads the bearer token of a request.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The `Authorization` header, when it is text.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
}

/// The `Content-Type` header (empty when absent or not text).
pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as fosite sets them on token answers.
pub(crate) fn no_store(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A token endpoint answer: JSON with fosite's content type and the no-store headers.
pub(crate) fn token_json(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    no_store(&mut r);
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_links_keep_filters() {
        assert_eq!(
            parse_page(None, Some(&page_token(500))).unwrap(),
            (250, 500)
        );
        assert_eq!(parse_page(Some("5000"), None).unwrap(), (1000, 0));
        assert!(parse_page(Some("x"), None).is_err());
        assert!(parse_page(None, Some("!!")).is_err());
        let mut r = Response::default();
        paginate(
            &mut r,
            &with_filters("/x", &[("a", Some("1")), ("b", None)]),
            2,
            2,
            5,
        );
        let link = r.headers()[header::LINK].to_str().unwrap();
        assert!(
            link.starts_with("</x?a=1&page_size=2&page_token="),
            "{link}"
        );
        assert_eq!(link.matches("rel=").count(), 4);
        assert_eq!(r.headers()["x-total-count"], "5");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("BEARER  abc "),
        );
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
