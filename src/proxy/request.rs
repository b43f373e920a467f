//! The request the pipeline judges ([`PipelineRequest`]) and the credentials handlers read
//! off it: the token a `token_from` names ([`TokenFrom`]), cookies, HTTP Basic credentials.
//! Pure.

use std::sync::Arc;

use axum::http::{header, HeaderMap, Method};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use super::template::UrlData;

/// The request the pipeline judges.
#[derive(Debug, Clone)]
pub struct PipelineRequest {
    pub method: Method,
    pub url: UrlData,
    /// Shared with the template data of the request's session (not copied per request).
    pub headers: Arc<HeaderMap>,
    pub body: Bytes,
}

/// `token_from` of bearer_token, oauth2_introspection and jwt.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenFrom {
    pub header: Option<String>,
    pub query_parameter: Option<String>,
    pub cookie: Option<String>,
}

/// The token `from` names (by default the `Authorization: Bearer` token); an empty one is none.
pub(super) fn bearer_token(
    headers: &HeaderMap,
    url: &UrlData,
    from: Option<&TokenFrom>,
) -> Option<String> {
    let parse_bearer = |headers: &HeaderMap| -> Option<String> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.to_string())
    };
    match from {
        Some(TokenFrom {
            header: Some(h), ..
        }) if h == "Authorization" => parse_bearer(headers),
        Some(TokenFrom {
            header: Some(h), ..
        }) => headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        Some(TokenFrom {
            query_parameter: Some(q),
            ..
        }) => url::form_urlencoded::parse(url.raw_query.as_bytes())
            .find(|(k, _)| k == q)
            .map(|(_, v)| v.into_owned()),
        Some(TokenFrom {
            cookie: Some(c), ..
        }) => cookies(headers)
            .into_iter()
            .find(|(k, _)| k == c)
            .map(|(_, v)| v),
        _ => parse_bearer(headers),
    }
    .filter(|t| !t.is_empty())
}

/// The request's cookies, in order (`name=value` pairs of every `Cookie` header).
pub(super) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// HTTP Basic credentials, each half percent-decoded (as Go's `url.QueryUnescape`, `+` kept).
pub(super) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, creds) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(creds.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    let unescape = |s: &str| percent_decode(s);
    Some((unescape(u), unescape(p)))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_sources() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        h.insert(header::COOKIE, "t=ck; o=1".parse().unwrap());
        let url = UrlData {
            raw_query: "tok=q1".into(),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, None).as_deref(), Some("abc"));
        let q = TokenFrom {
            query_parameter: Some("tok".into()),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, Some(&q)).as_deref(), Some("q1"));
        let c = TokenFrom {
            cookie: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, Some(&c)).as_deref(), Some("ck"));
    }
}
