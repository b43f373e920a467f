//! Logout: the browser's logout URL and token (`/self-service/logout/browser`), following it
//! (`/self-service/logout`, which ends the session and clears its cookie), and the native
//! apps' logout by session token (`DELETE /self-service/logout/api`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::error::{Error, Result};
use super::super::request;
use super::super::service::{sha256_hex, Service};
use super::http::{self, check_return_to, redirect, wants_json};
use crate::http::{Json, Query};

#[derive(Debug, Deserialize)]
pub struct LogoutInit {
    return_to: Option<String>,
}

/// `GET /self-service/logout/browser`: the URL that logs this browser's session out.
pub async fn browser(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<LogoutInit>,
) -> Result<Json<Value>> {
    let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
    let (session, _) = request::current_session(&s, &headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    let mut url = format!(
        "{}/self-service/logout?token={}",
        request::public_base(&s, &headers),
        session.logout_token
    );
    if let Some(rt) = rt {
        url.push_str(&format!(
            "&return_to={}",
            url::form_urlencoded::byte_serialize(rt.as_bytes()).collect::<String>()
        ));
    }
    Ok(Json(
        json!({"logout_url": url, "logout_token": session.logout_token}),
    ))
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    token: Option<String>,
    return_to: Option<String>,
}

/// `GET /self-service/logout?token=`: ends the session whose logout token this is (it must be
/// the request's own), clears the cookie, and sends a browser on (204 for JSON callers).
pub async fn follow(
    State(s): State<Service>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q: LogoutQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let token = q
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::BadRequest("Please include a token in the URL query.".into()))?;
    let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
    let (current, _) = request::current_session(&s, &headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    if !crate::crypto::constant_time_eq(current.logout_token.as_bytes(), token.as_bytes()) {
        return Err(Error::Csrf("Unable to log out because the logout token in the URL query does not match the session cookie.".into()));
    }
    s.store.disable_session(&current.id, None, s.now()).await?;
    let mut r = if wants_json(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let to = rt
            .or_else(|| {
                s.config
                    .selfservice
                    .flows
                    .logout
                    .after
                    .default_browser_return_url
                    .clone()
            })
            .or_else(|| s.config.selfservice.default_browser_return_url.clone())
            .unwrap_or_else(|| "/".into());
        redirect(&to)
    };
    http::add_cookie(&mut r, &s.clear_session_cookie());
    Ok(r)
}

/// `DELETE /self-service/logout/api` with `{"session_token": …}` and nothing else.
pub async fn api(State(s): State<Service>, Json(body): Json<Value>) -> Result<StatusCode> {
    let token = body
        .get("session_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::BadRequest("The session_token is missing from the request body.".into())
        })?;
    if body
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k != "session_token"))
    {
        return Err(Error::BadRequest(
            "Only `session_token` may be sent to this endpoint.".into(),
        ));
    }
    let found = s.store.session_by_token(&sha256_hex(token)).await?;
    let Some((session, _)) = found else {
        return Err(Error::Forbidden(
            "The provided session token is not valid.".into(),
        ));
    };
    s.store.disable_session(&session.id, None, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
