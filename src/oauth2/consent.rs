//! The consent challenge: decided by the consent UI through the admin API, and redeemed with
//! the consent verifier — which records the consent session and answers the client: an
//! authorization code (the code flow), or the tokens of the implicit and hybrid flows.

use serde_json::{json, Value};

use super::auth_request::{hint_subject, id_token_hint_claims, AuthRequest};
use super::challenge::{
    remembered_until, ChallengeKind, Consent, ConsentAccept, ConsentDoc, ConsentRequest, Flow,
    FlowEvent, Rejection,
};
use super::client::Client;
use super::cookies::Cookies;
use super::error::{Error, Result};
use super::flows::{self, jar};
use super::form::Form;
use super::grant::GrantSession;
use super::issue;
use super::navigation::Navigation;
use super::service::Oauth2;
use super::token::Kind;
use crate::store::time::rfc3339_seconds as rfc3339;

/// The consent request as the admin API shows it (`OAuth2ConsentRequest`), also kept in the
/// consent session it becomes.
pub fn request_json(flow: &Flow<ConsentRequest>, client: &Client) -> Value {
    let d = &flow.doc;
    json!({
        "challenge": flow.challenge,
        "client": client.clone().without_secrets(),
        "request_url": d.request_url,
        "requested_scope": d.requested_scope,
        "requested_access_token_audience": d.requested_access_token_audience,
        "skip": d.skip,
        "subject": flow.subject,
        "login_challenge": d.login_challenge,
        "login_session_id": d.login_session_id,
        "acr": d.acr,
        "amr": d.amr,
        "context": d.context,
        "oidc_context": d.oidc_context,
    })
}

/// An object claim set, `{}` for anything else.
fn object_or_empty(v: &Value) -> Value {
    Some(v.clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// The session every token of the grant carries.
fn grant_session(
    s: &Oauth2,
    consent: &Flow<ConsentRequest>,
    accept: &ConsentAccept,
    client: &Client,
    now: i64,
) -> Result<GrantSession> {
    let d = &consent.doc;
    let pairwise = s.subject_identifier(client, &consent.subject, &d.force_subject_identifier)?;
    Ok(GrantSession {
        obfuscated_subject: if pairwise == consent.subject {
            String::new()
        } else {
            pairwise
        },
        client_id: client.client_id.clone(),
        subject: consent.subject.clone(),
        granted_scope: accept.grant_scope.clone(),
        granted_audience: accept.grant_access_token_audience.clone(),
        requested_at: if d.requested_at == 0 {
            now
        } else {
            d.requested_at
        } / 1_000_000,
        auth_time: d.auth_time,
        ext: object_or_empty(&accept.session.access_token),
        id_token: object_or_empty(&accept.session.id_token),
        nonce: d.nonce.clone(),
        acr: d.acr.clone(),
        amr: d.amr.clone(),
        sid: d.login_session_id.clone(),
        redirect_uri: d.redirect_uri.clone(),
        code_challenge: d.code_challenge.clone(),
        grant_types: client.effective_grant_types(),
    })
}

/// The consent verifier: the consent session recorded (remembered unless the consent was
/// skipped), then the client's answer — a code, or the implicit or hybrid tokens.
pub async fn finish(
    s: &Oauth2,
    cookies: &Cookies,
    form: &Form,
    req: &AuthRequest,
    verifier: &str,
) -> Result<Navigation> {
    let client = &req.client;
    let consent = flows::redeem::<ConsentRequest>(s, cookies, verifier, &client.client_id).await?;
    let accept = consent.doc.accept.clone().unwrap_or_default();
    let now = s.now_micros();
    s.check_audience(client, &accept.grant_access_token_audience)?;
    let remember = accept.remember && !consent.doc.skip;
    s.store()
        .insert_consent(&Consent {
            challenge: consent.challenge.clone(),
            subject: consent.subject.clone(),
            client_id: client.client_id.clone(),
            login_session_id: consent.doc.login_session_id.clone(),
            remember,
            expires_at: remembered_until(now, accept.remember_for),
            handled_at: now,
            doc: ConsentDoc {
                grant_scope: accept.grant_scope.clone(),
                grant_access_token_audience: accept.grant_access_token_audience.clone(),
                session: accept.session.clone(),
                context: consent.doc.context.clone(),
                remember,
                remember_for: accept.remember_for,
                handled_at: rfc3339(now),
                consent_request: request_json(&consent, client),
            },
        })
        .await?;
    let session = grant_session(s, &consent, &accept, client, now)?;
    // fosite's OpenID Connect prompt validation: the hint names the subject of the ID token.
    if session.openid() {
        if let Some(claims) = id_token_hint_claims(s, form).await? {
            if hint_subject(&claims) != session.id_token_subject() {
                return Err(Error::LoginRequired("Failed to validate OpenID Connect request because the subject from provided id token from id_token_hint does not match the current session's subject.".into()));
            }
        }
    }
    let jar = jar(s);
    let cookies = vec![jar.set(
        &jar.csrf_name(ChallengeKind::Consent, &client.client_id),
        "",
        Some(-1),
    )];
    let params = if req.code_only() {
        let code = issue::opaque(
            s,
            Kind::Code,
            client,
            &session,
            &consent.challenge,
            Some(s.settings().code_ttl),
        )
        .await?;
        vec![
            ("code", code),
            ("scope", session.granted_scope.join(" ")),
            ("state", req.state.clone()),
        ]
    } else {
        implicit_or_hybrid(s, req, &session, &consent.challenge).await?
    };
    Ok(Navigation::ToClient {
        redirect_uri: req.redirect_uri.clone(),
        mode: req.mode,
        params,
        cookies,
    })
}

/// The parameters of an implicit or hybrid response (fosite's `OpenIDConnectImplicitHandler`,
/// `AuthorizeImplicitGrantTypeHandler` and `OpenIDConnectHybridHandler`): `code` (hybrid),
/// `access_token`/`expires_in`/`token_type`/`scope` (with `token`), `state`, and `id_token`
/// (with `id_token` and the `openid` scope granted) carrying `c_hash`/`at_hash`.
async fn implicit_or_hybrid(
    s: &Oauth2,
    req: &AuthRequest,
    session: &GrantSession,
    request_id: &str,
) -> Result<Vec<(&'static str, String)>> {
    let openid = session.openid();
    if req.wants("id_token") && !req.wants("code") && !openid {
        // fosite leaves the response type unhandled without the openid scope.
        return Err(Error::UnsupportedResponseType(
            "The authorization server does not support obtaining a token using this method.".into(),
        ));
    }
    let mut params: Vec<(&'static str, String)> = Vec::new();
    let code = if req.wants("code") {
        let code = issue::opaque(
            s,
            Kind::Code,
            &req.client,
            session,
            request_id,
            Some(s.settings().code_ttl),
        )
        .await?;
        params.push(("code", code.clone()));
        Some(code)
    } else {
        None
    };
    let access = if req.wants("token") {
        let ttl = s.lifespan(
            &req.client,
            "implicit_grant_access_token_lifespan",
            s.settings().access_ttl,
        );
        let at = issue::access_token(s, &req.client, session, request_id, ttl).await?;
        params.push(("access_token", at.clone()));
        params.push(("expires_in", ttl.as_secs().to_string()));
        params.push(("token_type", "bearer".into()));
        params.push(("scope", session.granted_scope.join(" ")));
        Some(at)
    } else {
        None
    };
    params.push(("state", req.state.clone()));
    if req.wants("id_token") && openid {
        let ttl = s.lifespan(
            &req.client,
            "implicit_grant_id_token_lifespan",
            s.settings().id_ttl,
        );
        let id = issue::id_token(
            s,
            &req.client,
            session,
            access.as_deref(),
            code.as_deref(),
            ttl,
        )
        .await?;
        params.push(("id_token", id));
    }
    // Go's url.Values encodes in key order.
    params.sort_by_key(|(k, _)| *k);
    Ok(params)
}

/// The consent UI's accept. Returns where the browser goes now.
pub async fn accept(s: &Oauth2, challenge: &str, accept: ConsentAccept) -> Result<String> {
    let (flow, _) = flows::load::<ConsentRequest>(s, challenge).await?;
    flows::decide(s, flow, FlowEvent::Accept, |f| f.doc.accept = Some(accept)).await
}

/// The consent UI's reject. Returns where the browser goes now.
pub async fn reject(s: &Oauth2, challenge: &str, rejection: Rejection) -> Result<String> {
    let (flow, _) = flows::load::<ConsentRequest>(s, challenge).await?;
    flows::decide(s, flow, FlowEvent::Reject, |f| {
        f.doc.error = Some(rejection)
    })
    .await
}
