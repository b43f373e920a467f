//! What the role's HTTP modules read from a request — the host, a cookie, the session token,
//! the caller's session — and the `Set-Cookie` values they answer with. The service below
//! gets plain values (`Option<&str>` of a cookie, the host, a token), never headers.

use axum::http::{header, HeaderMap, HeaderValue};

use super::error::Result;
use super::model::{Identity, Session};
use super::service::Service;

/// A header's value, if it is text.
pub fn header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Host` the request was sent to.
pub fn host(headers: &HeaderMap) -> Option<&str> {
    header(headers, header::HOST)
}

/// The public base URL as this request sees it ([`Service::public_base`]).
pub fn public_base(s: &Service, headers: &HeaderMap) -> String {
    s.public_base(host(headers))
}

/// The value of cookie `name` (the first one sent), without surrounding quotes.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            line.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"'))
            })
        })
}

/// The session token of a request: `X-Session-Token`, then the (untampered) session cookie,
/// then `Authorization: Bearer`.
pub fn session_token<'h>(s: &Service, headers: &'h HeaderMap) -> Option<&'h str> {
    if let Some(t) = header(headers, "x-session-token") {
        if !t.is_empty() {
            return Some(t);
        }
    }
    if let Some(t) =
        cookie(headers, s.session_cookie_name()).and_then(|v| s.session_cookie_token(v))
    {
        return Some(t);
    }
    header(headers, header::AUTHORIZATION)
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The active session of a request, with its identity.
pub async fn current_session(
    s: &Service,
    headers: &HeaderMap,
) -> Result<Option<(Session, Identity)>> {
    match session_token(s, headers) {
        Some(token) => s.session_by_token(token).await,
        None => Ok(None),
    }
}

/// The `User-Agent`, if any.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    header(headers, header::USER_AGENT).map(str::to_string)
}

/// A `Set-Cookie` text as a header value (empty if it cannot be one).
pub fn set_cookie(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_across_headers_first_one_wins_quotes_go() {
        let h = headers(&[("cookie", "a=1; b"), ("cookie", "c=\"3\"; a=2")]);
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "c"), Some("3"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(cookie(&h, "d"), None);
    }
}
