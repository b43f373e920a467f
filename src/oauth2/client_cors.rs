//! Hydra's per-client CORS (`x/oauth2cors`) on the public endpoints a browser application
//! calls — token, revocation, userinfo, discovery, JWKS, credentials. With
//! `serve.public.cors.enabled`, an origin the listener's own list does not allow is allowed for
//! one request when the client the request names lists it in `allowed_cors_origins`: the client
//! by `client_id` in the form body, else by basic auth, else by the client of the bearer access
//! token. Preflight requests are the listener's CORS layer's alone (they carry no credentials).
//!
//! Origins match as Hydra's `gobwas/glob` patterns with `.` as the separator, lower-cased: `*`
//! stays within a DNS label, `**` crosses labels, `?` is one character, and `scheme://*` means
//! any origin of that scheme.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::form::Form;
use super::introspect;
use super::service::Oauth2;
use super::token::Kind;
use super::wire::{bearer, content_type};
use crate::http::cors::origin_allowed;

/// The middleware: runs the request, and adds the CORS headers when the request's client
/// allows its origin (and the listener's list did not already).
pub async fn allow_client_origins(State(s): State<Oauth2>, req: Request, next: Next) -> Response {
    let Some(cors) = s.settings().public_cors.clone() else {
        return next.run(req).await;
    };
    let origin = match req.headers().get(header::ORIGIN) {
        Some(o) if req.method() != Method::OPTIONS => o.clone(),
        _ => return next.run(req).await,
    };
    if cors.allowed_origins.is_empty() || origin_allowed(&cors.allowed_origins, &origin) {
        return next.run(req).await;
    }
    let (req, client_id) = match client_of(&s, req).await {
        Ok(found) => found,
        Err(rejection) => return rejection,
    };
    let allowed = match client_id {
        Some(id) => client_allows(&s, &id, origin.to_str().unwrap_or_default()).await,
        None => false,
    };
    let mut response = next.run(req).await;
    if allowed {
        let h = response.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if cors.allow_credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Ok(v) = HeaderValue::from_str(&cors.exposed_headers.join(", ")) {
            if !cors.exposed_headers.is_empty() {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
    }
    response
}

/// The client a request names (Hydra: `PostFormValue("client_id")`, else the basic-auth user,
/// else the bearer token's client), with the request rebuilt around the body it read.
async fn client_of(s: &Oauth2, req: Request) -> Result<(Request, Option<String>), Response> {
    let (parts, body) = req.into_parts();
    let headers = parts.headers.clone();
    let bytes = if parts.method == Method::POST {
        let whole = Request::from_parts(parts.clone(), body);
        Bytes::from_request(whole, &())
            .await
            .map_err(IntoResponse::into_response)?
    } else {
        // GET and the rest: no form body to read; the body passes on untouched.
        let req = Request::from_parts(parts, body);
        return Ok((req, client_by_credentials(s, &headers).await));
    };
    let from_form = Form::from_post(content_type(&headers), bytes.clone())
        .await
        .ok()
        .and_then(|f| f.get("client_id").map(str::to_string))
        .filter(|id| !id.is_empty());
    let req = Request::from_parts(parts, Body::from(bytes));
    let id = match from_form {
        Some(id) => Some(id),
        None => client_by_credentials(s, &headers).await,
    };
    Ok((req, id))
}

/// The basic-auth user (as Go's `BasicAuth`, not form-decoded), else the client of an active
/// bearer access token.
async fn client_by_credentials(s: &Oauth2, headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some((scheme, encoded)) = authorization.split_once(' ') {
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, _) = text.split_once(':')?;
            return Some(user.to_string()).filter(|u| !u.is_empty());
        }
    }
    let token = bearer(headers)?;
    let row = introspect::active(s, &token).await.ok()??;
    (row.kind == Kind::Access).then_some(row.client_id)
}

async fn client_allows(s: &Oauth2, client_id: &str, origin: &str) -> bool {
    let Ok(Some(stored)) = s.store().get_client(client_id).await else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    stored
        .client
        .allowed_cors_origins
        .iter()
        .any(|pattern| pattern == "*" || glob_matches(&pattern.to_ascii_lowercase(), &origin))
}

/// `gobwas/glob` with `.` as the separator, for the pattern forms origins use: literals, `*`
/// (within a label), `**` (across labels), `?` (one non-separator character); `scheme://*` is
/// read as `scheme://**`, as Hydra does.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let widened;
    let pattern = match pattern.split_once("://") {
        Some((scheme, "*")) => {
            widened = format!("{scheme}://**");
            widened.as_str()
        }
        _ => pattern,
    };
    matches(pattern.as_bytes(), text.as_bytes())
}

/// Dynamic programming over the text (O(pattern × text), whatever the stars): `reach[j]` says
/// whether the pattern read so far matches the first `j` bytes of the text.
fn matches(p: &[u8], t: &[u8]) -> bool {
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; t.len() + 1];
        match p[i] {
            b'*' if p.get(i + 1) == Some(&b'*') => {
                let mut any = false;
                for j in 0..=t.len() {
                    any |= reach[j];
                    next[j] = any;
                }
                i += 1;
            }
            b'*' => {
                let mut within_label = false;
                for j in 0..=t.len() {
                    if j > 0 && t[j - 1] == b'.' {
                        within_label = false;
                    }
                    within_label |= reach[j];
                    next[j] = within_label;
                }
            }
            c => {
                for j in 0..t.len() {
                    let fits = if c == b'?' { t[j] != b'.' } else { t[j] == c };
                    next[j + 1] = reach[j] && fits;
                }
            }
        }
        reach = next;
        i += 1;
    }
    reach[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_as_gobwas_globs_with_dot_separators() {
        assert!(glob_matches("https://app.example", "https://app.example"));
        assert!(!glob_matches(
            "https://app.example",
            "https://app.example.evil"
        ));
        assert!(glob_matches(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(!glob_matches(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(glob_matches(
            "https://**.example.com",
            "https://a.b.example.com"
        ));
        assert!(glob_matches("https://*", "https://any.host.example:8443"));
        assert!(!glob_matches("https://*", "http://any.host.example"));
        assert!(glob_matches(
            "http://localhost:300?",
            "http://localhost:3001"
        ));
        assert!(!glob_matches(
            "http://localhost:300?",
            "http://localhost:30010"
        ));
        assert!(glob_matches("**", ""));
        assert!(!glob_matches("*", "a.b"));
        // Many stars against a long origin stay cheap.
        let long = format!("https://{}", "a".repeat(4000));
        assert!(!glob_matches(&"*a".repeat(200), &format!("{long}.x")));
        assert!(glob_matches(&"**".repeat(100), &long));
    }
}
