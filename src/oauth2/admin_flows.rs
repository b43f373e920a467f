//! The admin port's handlers of the login, consent and logout requests
//! (`/admin/oauth2/auth/requests/{login,consent,logout}[/accept|/reject]`) and of the consent
//! and login sessions (`/admin/oauth2/auth/sessions/…`): the request DTOs as Hydra takes them
//! (unknown fields refused), the answers as it gives them.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::challenge::{
    ChallengeKind, ConsentAccept, ConsentRequest, LoginAccept, LoginRequest, LogoutRequest,
    Rejection, SessionClaims,
};
use super::consent;
use super::error::{Error, Result};
use super::flows;
use super::login;
use super::logout;
use super::service::Oauth2;
use super::wire::{paginate, parse_page, with_filters};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChallengeQuery {
    login_challenge: Option<String>,
    consent_challenge: Option<String>,
    logout_challenge: Option<String>,
    challenge: Option<String>,
}

impl ChallengeQuery {
    /// The challenge of `kind` (`<kind>_challenge`, else `challenge`), required.
    fn pick(&self, kind: ChallengeKind) -> Result<String> {
        let specific = match kind {
            ChallengeKind::Login => &self.login_challenge,
            ChallengeKind::Consent => &self.consent_challenge,
            ChallengeKind::Logout => &self.logout_challenge,
        };
        specific
            .clone()
            .or_else(|| self.challenge.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "Query parameter '{}_challenge' is not defined but should have been.",
                    kind.as_str()
                ))
            })
    }
}

/// A decision body as Hydra decodes it: unknown fields refused, an empty body is `{}`.
fn strict<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T> {
    if body.is_empty() {
        return serde_json::from_str("{}").map_err(|e| Error::BadRequest(e.to_string()));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("Unable to decode the body: {e}")))
}

fn redirect_to(to: String) -> Response {
    axum::Json(json!({ "redirect_to": to })).into_response()
}

/// `PUT …/login/accept`'s body.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AcceptLogin {
    subject: String,
    remember: bool,
    remember_for: i64,
    acr: String,
    amr: Vec<String>,
    context: Value,
    extend_session_lifespan: bool,
    force_subject_identifier: String,
    identity_provider_session_id: String,
}

/// `PUT …/{login,consent}/reject`'s body.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RejectBody {
    error: String,
    error_description: String,
    error_hint: String,
    error_debug: String,
    status_code: i64,
}

impl From<RejectBody> for Rejection {
    fn from(r: RejectBody) -> Rejection {
        Rejection {
            error: r.error,
            error_description: r.error_description,
            error_hint: r.error_hint,
            error_debug: r.error_debug,
            status_code: r.status_code,
        }
    }
}

/// `PUT …/consent/accept`'s body.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AcceptConsent {
    grant_scope: Vec<String>,
    grant_access_token_audience: Vec<String>,
    remember: bool,
    remember_for: i64,
    handled_at: Option<String>,
    context: Value,
    session: Option<ConsentSessionBody>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ConsentSessionBody {
    access_token: Value,
    id_token: Value,
}

// --- login ----------------------------------------------------------------------------------

pub async fn get_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Login)?;
    let (flow, client) = flows::read::<LoginRequest>(&s, &challenge).await?;
    let d = &flow.doc;
    Ok(axum::Json(json!({
        "challenge": flow.challenge,
        "client": client,
        "request_url": d.request_url,
        "requested_scope": d.requested_scope,
        "requested_access_token_audience": d.requested_access_token_audience,
        "skip": d.skip,
        "subject": flow.subject,
        "session_id": d.session_id,
        "oidc_context": d.oidc_context,
    }))
    .into_response())
}

pub async fn accept_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Login)?;
    let a: AcceptLogin = strict(&body)?;
    let accept = LoginAccept {
        remember: a.remember,
        remember_for: a.remember_for,
        acr: a.acr,
        amr: a.amr,
        context: if a.context.is_null() {
            json!({})
        } else {
            a.context
        },
        extend_session_lifespan: a.extend_session_lifespan,
        force_subject_identifier: a.force_subject_identifier,
        identity_provider_session_id: a.identity_provider_session_id,
    };
    let to = login::accept(&s, &challenge, a.subject, accept).await?;
    Ok(redirect_to(to))
}

pub async fn reject_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Login)?;
    let r: RejectBody = strict(&body)?;
    Ok(redirect_to(login::reject(&s, &challenge, r.into()).await?))
}

// --- consent --------------------------------------------------------------------------------

pub async fn get_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Consent)?;
    let (flow, client) = flows::read::<ConsentRequest>(&s, &challenge).await?;
    Ok(axum::Json(consent::request_json(&flow, &client)).into_response())
}

pub async fn accept_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Consent)?;
    let a: AcceptConsent = strict(&body)?;
    let _ = (&a.handled_at, &a.context);
    let session = a.session.unwrap_or_default();
    let obj = |v: Value| if v.is_object() { v } else { json!({}) };
    let accept = ConsentAccept {
        grant_scope: a.grant_scope,
        grant_access_token_audience: a.grant_access_token_audience,
        remember: a.remember,
        remember_for: a.remember_for,
        session: SessionClaims {
            access_token: obj(session.access_token),
            id_token: obj(session.id_token),
        },
    };
    Ok(redirect_to(consent::accept(&s, &challenge, accept).await?))
}

pub async fn reject_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Consent)?;
    let r: RejectBody = strict(&body)?;
    Ok(redirect_to(
        consent::reject(&s, &challenge, r.into()).await?,
    ))
}

// --- logout ---------------------------------------------------------------------------------

pub async fn get_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Logout)?;
    let (flow, client) = flows::read::<LogoutRequest>(&s, &challenge).await?;
    let mut out = json!({
        "challenge": flow.challenge,
        "subject": flow.subject,
        "sid": flow.doc.sid,
        "request_url": flow.doc.request_url,
        "rp_initiated": flow.doc.rp_initiated,
    });
    if !flow.client_id.is_empty() {
        out["client"] = json!(client);
    }
    Ok(axum::Json(out).into_response())
}

pub async fn accept_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let challenge = q.pick(ChallengeKind::Logout)?;
    Ok(redirect_to(logout::accept(&s, &challenge).await?))
}

pub async fn reject_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<StatusCode> {
    let challenge = q.pick(ChallengeKind::Logout)?;
    logout::reject(&s, &challenge).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- sessions -------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SessionQuery {
    subject: Option<String>,
    login_session_id: Option<String>,
    client: Option<String>,
    /// Hydra compares the raw value with `"true"`; anything else is "not set".
    all: Option<String>,
    sid: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// The `subject` query parameter, required.
fn subject(q: &SessionQuery) -> Result<String> {
    q.subject.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::InvalidRequest(
            "Query parameter 'subject' is not defined but should have been.".into(),
        )
    })
}

pub async fn list_consent_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<Response> {
    let subject = subject(&q)?;
    let (size, offset) = parse_page(q.page_size.as_deref(), q.page_token.as_deref())?;
    let all = s
        .store()
        .consents(&subject, None, q.login_session_id.as_deref())
        .await?;
    let total = all.len() as i64;
    let page = all
        .into_iter()
        .skip(offset as usize)
        .take(size as usize)
        .map(|c| {
            let mut d = serde_json::to_value(c.doc).map_err(|e| Error::Internal(e.to_string()))?;
            if let Value::Object(m) = &mut d {
                m.insert("expires_at".into(), json!({}));
            }
            Ok(d)
        })
        .collect::<Result<Vec<Value>>>()?;
    let mut response = axum::Json(page).into_response();
    let base = with_filters(
        "/admin/oauth2/auth/sessions/consent",
        &[
            ("subject", Some(subject.as_str())),
            ("login_session_id", q.login_session_id.as_deref()),
        ],
    );
    paginate(&mut response, &base, size, offset, total);
    Ok(response)
}

pub async fn revoke_consent_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<StatusCode> {
    let subject = subject(&q)?;
    match (
        q.client.filter(|c| !c.is_empty()),
        q.all.as_deref() == Some("true"),
    ) {
        (Some(client), _) => s.store().revoke_consents(&subject, Some(&client)).await?,
        (None, true) => s.store().revoke_consents(&subject, None).await?,
        (None, false) => {
            return Err(Error::InvalidRequest(
                "Query parameter both 'client' and 'all' is not defined but one of them should have been.".into(),
            ))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_login_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<StatusCode> {
    let subject = q.subject.filter(|v| !v.is_empty());
    let sid = q.sid.filter(|v| !v.is_empty());
    if subject.is_none() && sid.is_none() {
        return Err(Error::InvalidRequest(
            "Either 'subject' or 'sid' query parameters need to be defined.".into(),
        ));
    }
    logout::revoke_login_sessions(&s, subject.as_deref(), sid.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
