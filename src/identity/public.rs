//! Public API outside the flows: identity schemas (`/schemas`), `/sessions/whoami` (the
//! hottest path of the stack: one indexed lookup), the caller's own sessions, and the native
//! apps' session-token exchange; and the 501 of Kratos' public paths whose features Quartet
//! lacks ([`UNSUPPORTED`]).

use crate::http::Query;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{Error, Result};
use super::redirect;
use super::request;
use super::service::Service;
use super::wire::{session_json, View};
use crate::http::unsupported::{self, Unsupported};
use crate::http::Json;

/// Kratos v1.1 public paths of features Quartet does not have yet, answered with 501 naming
/// the feature (`http::unsupported`). The recovery, verification and courier paths are not
/// listed: they come with those features.
pub const UNSUPPORTED: &[Unsupported] = &[
    Unsupported {
        path: "/.well-known/ory/webauthn.js",
        feature: "WebAuthn (selfservice.methods.webauthn)",
        reason: "Quartet signs in with passwords (selfservice.methods.password); passkeys and \
                 security keys are not implemented.",
    },
    Unsupported {
        path: "/self-service/methods/oidc/callback/{provider}",
        feature: "Social sign-in (selfservice.methods.oidc)",
        reason: "The provider's answer cannot be taken: Quartet signs in with passwords \
                 (selfservice.methods.password) and reports selfservice.methods.oidc at start.",
    },
    Unsupported {
        path: "/self-service/methods/oidc/organization/{organization}/callback/{provider}",
        feature: "Social sign-in (selfservice.methods.oidc)",
        reason: "The provider's answer cannot be taken: Quartet signs in with passwords \
                 (selfservice.methods.password) and reports selfservice.methods.oidc at start.",
    },
];

pub fn routes(service: Service) -> Router {
    Router::new()
        .route("/schemas", get(list_schemas))
        .route("/schemas/{id}", get(get_schema))
        .route("/sessions/whoami", any(whoami))
        .route("/sessions", get(my_sessions).delete(revoke_others))
        .route("/sessions/token-exchange", get(exchange_session_token))
        .route("/sessions/{id}", delete(revoke_one))
        // Kratos also serves the schemas under /admin on the public port.
        .route("/admin/schemas", get(list_schemas))
        .route("/admin/schemas/{id}", get(get_schema))
        // Admin routes asked of the public port: 307 to the admin URL.
        .route("/identities", any(redirect::to_admin))
        .route("/identities/{*rest}", any(redirect::to_admin))
        .route("/admin/identities", any(redirect::to_admin))
        .route("/admin/identities/{*rest}", any(redirect::to_admin))
        .route("/admin/recovery/{*rest}", any(redirect::to_admin))
        .route("/admin/courier/{*rest}", any(redirect::to_admin))
        .with_state(service)
        .merge(unsupported::routes(UNSUPPORTED))
}

async fn list_schemas(State(s): State<Service>) -> Json<Value> {
    Json(Value::Array(
        s.schemas
            .all()
            .iter()
            .map(|sc| json!({"id": sc.id, "schema": sc.raw}))
            .collect(),
    ))
}

async fn get_schema(State(s): State<Service>, Path(id): Path<String>) -> Result<Json<Value>> {
    s.schemas
        .get(&id)
        .map(|sc| Json(sc.raw.clone()))
        .ok_or(Error::NotFound)
}

/// `feature_flags.cacheable_sessions`: how many seconds a caller may cache a whoami answer.
const SESSION_CACHE_FOR: &str = "ory-session-cache-for";

/// `/sessions/whoami` (any method but DELETE).
async fn whoami(
    State(s): State<Service>,
    method: axum::http::Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match whoami_answer(&s, &method, &headers, query.as_deref()).await {
        Ok(answer) => {
            let mut response = Json(answer.body).into_response();
            response.headers_mut().extend(answer.headers);
            response
        }
        Err(refusal) => refusal,
    }
}

/// A 200 answer of whoami before it is written: the session JSON and the headers besides
/// `Content-Type`.
pub struct WhoamiAnswer {
    pub body: Value,
    pub headers: HeaderMap,
}

/// What `/sessions/whoami` answers, the 200 undecoded: public so that the composition root can
/// call it in-process for the proxy's cookie_session/bearer_token checks (the same answer with
/// no HTTP hop, no JSON written and parsed back). Anything but a 200 is the finished response.
pub async fn whoami_answer(
    s: &Service,
    method: &axum::http::Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> std::result::Result<WhoamiAnswer, Response> {
    if method == axum::http::Method::DELETE {
        return Err(crate::http::ApiError::method_not_allowed().into_response());
    }
    let cacheable = s.config.feature_flags.cacheable_sessions;
    let token = request::session_token(s, headers);
    let looked_up = match token {
        Some(token) => s.whoami_session(token).await,
        None => Ok(None),
    };
    let found = match looked_up {
        Ok(Some(found)) => found,
        Ok(None) => {
            let mut response = Error::Unauthorized.into_response();
            // Kratos lets callers cache "no credentials at all" for a minute, not a bad
            // credential.
            if cacheable && token.is_none() {
                response
                    .headers_mut()
                    .insert(SESSION_CACHE_FOR, HeaderValue::from_static("60"));
            }
            return Err(response);
        }
        Err(e) => return Err(e.into_response()),
    };
    let (session, identity) = (&found.0, &found.1);
    // Session-to-JWT templates (`session.whoami.tokenizer.templates`) are not supported yet, so
    // every template name is unknown: Kratos answers that with a 400 rather than ignoring it.
    if let Some(template) = tokenize_as(query) {
        return Err(Error::BadRequest(format!(
            "Unable to find tokenizer template \"{template}\"."
        ))
        .into_response());
    }
    let body = session_json(
        session,
        Some(identity),
        &request::public_base(s, headers),
        s.now(),
        View::Public,
        true,
    );
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&identity.id) {
        out.insert("x-kratos-authenticated-identity-id", v);
    }
    if cacheable {
        let seconds = ((session.expires_at - s.now()) / 1_000_000).max(0);
        out.insert(SESSION_CACHE_FOR, HeaderValue::from(seconds));
    }
    Ok(WhoamiAnswer { body, headers: out })
}

/// The non-empty `tokenize_as` query parameter, if any (only this key is read: whoami accepts
/// and ignores every other parameter, as Kratos does).
fn tokenize_as(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find(|(k, v)| k == "tokenize_as" && !v.is_empty())
        .map(|(_, v)| v)
}

#[derive(Debug, Deserialize)]
struct Page {
    page_size: Option<i64>,
    per_page: Option<i64>,
    page_token: Option<String>,
}

async fn my_sessions(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<Page>,
) -> Result<Response> {
    let (current, _) = request::current_session(&s, &headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    let size = q.page_size.or(q.per_page).unwrap_or(250).clamp(1, 1000);
    let rows = s
        .store
        .list_sessions(
            Some(&current.identity_id),
            Some(true),
            s.now(),
            q.page_token.as_deref().filter(|t| !t.is_empty()),
            size,
        )
        .await?;
    let base = request::public_base(&s, &headers);
    let now = s.now();
    let list: Vec<Value> = rows
        .iter()
        .filter(|(sess, _)| sess.id != current.id)
        .map(|(sess, ident)| session_json(sess, Some(ident), &base, now, View::Public, true))
        .collect();
    let count = list.len();
    let mut response = Json(Value::Array(list)).into_response();
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(count));
    Ok(response)
}

async fn revoke_others(State(s): State<Service>, headers: HeaderMap) -> Result<Json<Value>> {
    let (current, _) = request::current_session(&s, &headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    let count = s
        .store
        .disable_other_sessions(&current.identity_id, &current.id, s.now())
        .await?;
    Ok(Json(json!({ "count": count })))
}

async fn revoke_one(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let (current, _) = request::current_session(&s, &headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::BadRequest(format!(
            "`{id}` is not a valid session id (UUID)"
        )));
    }
    if id == current.id {
        return Err(Error::BadRequest(
            "You cannot revoke the current session using this endpoint; use the logout flow."
                .into(),
        ));
    }
    if !s
        .store
        .disable_session(&id, Some(&current.identity_id), s.now())
        .await?
    {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ExchangeQuery {
    init_code: Option<String>,
    return_to_code: Option<String>,
}

/// `GET /sessions/token-exchange`: Kratos hands a native app its session token here after a
/// social sign-in that `return_session_token_exchange_code` started. Quartet has no social
/// sign-in yet, so it never issues exchange codes: Kratos' 400 without both codes, its 404
/// for codes with no session behind them otherwise.
async fn exchange_session_token(Query(q): Query<ExchangeQuery>) -> Result<Response> {
    let given = |c: &Option<String>| c.as_deref().is_some_and(|c| !c.is_empty());
    if !given(&q.init_code) || !given(&q.return_to_code) {
        return Err(Error::BadRequest(
            "\"init_code\" and \"return_to_code\" query params must be set".into(),
        ));
    }
    Err(Error::Missing("no session yet for this \"code\"".into()))
}
