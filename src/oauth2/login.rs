//! The login challenge: started by an authorization request (skipped by a remembered login
//! session of the browser, unless the request asks for a login), decided by the login UI
//! through the admin API, and redeemed with the login verifier — which remembers the login
//! session and starts the consent challenge (skipped by a remembered consent that covers the
//! requested scopes).

use serde_json::Value;

use super::auth_request::{
    hint_subject, id_token_hint_claims, oidc_context, request_url, AuthRequest,
};
use super::challenge::{
    consent_remembered, remembered_until, ChallengeKind, ConsentRequest, Flow, FlowEvent,
    FlowState, LoginAccept, LoginRequest, LoginSession, Rejection,
};
use super::cookies::Cookies;
use super::error::{Error, Result};
use super::flows::{self, jar};
use super::form::{with_params, Form};
use super::navigation::Navigation;
use super::service::Oauth2;
use super::settings::UiPage;

/// What a remembered login session of the browser gives a new login request.
struct Remembered {
    skip: bool,
    subject: String,
    session_id: String,
    auth_time: i64,
}

/// The browser's login session, when it spares the login UI.
async fn remembered(s: &Oauth2, cookies: &Cookies, form: &Form, now: i64) -> Result<Remembered> {
    let mut found = Remembered {
        skip: false,
        subject: String::new(),
        session_id: uuid::Uuid::new_v4().to_string(),
        auth_time: 0,
    };
    let prompt = form.get("prompt").unwrap_or("");
    if let Some(cookie_sid) = jar(s).session(cookies) {
        if let Some(session) = s.store().login_session(&cookie_sid).await? {
            let max_age = form.get("max_age").and_then(|m| m.parse::<i64>().ok());
            if session.skips_login(now, max_age, prompt) {
                found = Remembered {
                    skip: true,
                    subject: session.subject,
                    session_id: cookie_sid,
                    auth_time: session.authenticated_at,
                };
            }
        }
    }
    Ok(found)
}

/// An authorization request without a verifier: a new login challenge, and the browser to
/// the login UI (the registration UI with `prompt=registration`).
pub async fn start(
    s: &Oauth2,
    cookies: &Cookies,
    form: &Form,
    req: &AuthRequest,
) -> Result<Navigation> {
    let now = s.now_micros();
    let prompt = form.get("prompt").unwrap_or("");
    let session = remembered(s, cookies, form, now).await?;
    let hint = id_token_hint_claims(s, form).await?;
    // Hydra's `matchesValueFromSession`: with a login session, the hint must name its subject,
    // as is, as this client sees it (pairwise), or as a login forced it for this client.
    if let Some(claims) = hint.as_ref().filter(|_| session.skip) {
        let named = hint_subject(claims);
        let subject = &session.subject;
        let forced = s
            .store()
            .forced_subject(&req.client.client_id, subject)
            .await?;
        if named != subject
            && named != s.subject_identifier(&req.client, subject, "")?
            && forced.as_deref() != Some(named)
        {
            return Err(Error::LoginRequired("Request failed because subject claim from id_token_hint does not match subject from authentication session.".into()));
        }
    }
    if prompt.contains("none") && !session.skip {
        return Err(Error::LoginRequired(
            "Prompt 'none' was requested, but no existing login session was found.".into(),
        ));
    }
    let mut oidc_context = oidc_context(form);
    if let (Some(claims), Value::Object(context)) = (hint, &mut oidc_context) {
        context.insert("id_token_hint_claims".into(), Value::Object(claims));
    }
    let challenge = crate::crypto::random_token(32);
    let csrf = crate::crypto::random_token(32);
    let doc = LoginRequest {
        request_url: request_url(s, form),
        requested_scope: req.scopes.clone(),
        requested_access_token_audience: req.audience.clone(),
        skip: session.skip,
        session_id: session.session_id,
        auth_time: session.auth_time,
        oidc_context,
        csrf: csrf.clone(),
        redirect_uri: if req.redirect_given {
            req.redirect_uri.clone()
        } else {
            String::new()
        },
        prompt: prompt.to_string(),
        accept: None,
        error: None,
    };
    let flow = Flow::pending(
        challenge.clone(),
        req.client.client_id.clone(),
        session.subject,
        now,
        doc,
    );
    s.store().insert_flow(&flow).await?;
    let target = if prompt.contains("registration") {
        s.ui_url(UiPage::Registration)
    } else {
        s.ui_url(UiPage::Login)
    };
    let jar = jar(s);
    let cookie = jar.set_sealed(
        &jar.csrf_name(ChallengeKind::Login, &req.client.client_id),
        &csrf,
        Some(s.settings().flow_ttl.as_secs() as i64),
    )?;
    Ok(Navigation::Redirect {
        to: with_params(&target, &[("login_challenge", &challenge)]),
        cookies: vec![cookie],
    })
}

/// The login verifier: the login session remembered (unless the login was skipped), and a
/// consent challenge with the browser sent to the consent UI.
pub async fn finish(
    s: &Oauth2,
    cookies: &Cookies,
    form: &Form,
    req: &AuthRequest,
    verifier: &str,
) -> Result<Navigation> {
    let client_id = &req.client.client_id;
    let login = flows::redeem::<LoginRequest>(s, cookies, verifier, client_id).await?;
    let accept = login.doc.accept.clone().unwrap_or_default();
    let now = s.now_micros();
    let sid = login.doc.session_id.clone();
    let jar = jar(s);
    let mut set_cookies = vec![jar.set(
        &jar.csrf_name(ChallengeKind::Login, client_id),
        "",
        Some(-1),
    )];
    let mut auth_time = login.doc.auth_time;
    // Hydra's obfuscated authentication session: a later id_token_hint may name this identifier.
    if !accept.force_subject_identifier.is_empty() {
        s.store()
            .put_forced_subject(client_id, &login.subject, &accept.force_subject_identifier)
            .await?;
    }
    if !login.doc.skip {
        auth_time = now;
        let session = LoginSession {
            subject: login.subject.clone(),
            authenticated_at: now,
            remember: accept.remember,
            expires_at: remembered_until(now, accept.remember_for),
            identity_provider_session_id: accept.identity_provider_session_id.clone(),
        };
        s.store().upsert_login_session(&sid, &session).await?;
        if accept.remember {
            let remember_for = accept.remember_for;
            set_cookies.push(jar.set_sealed(
                &jar.session_name(),
                &sid,
                (remember_for > 0).then_some(remember_for),
            )?);
        }
    }
    // Consent: skip when a remembered consent covers every requested scope.
    let prompt = form.get("prompt").unwrap_or("");
    let requested = login.doc.requested_scope.clone();
    let consent_skip = !prompt.contains("consent") && {
        let consents = s
            .store()
            .consents(&login.subject, Some(client_id), None)
            .await?;
        consent_remembered(&consents, &requested, now, s.settings().scope_strategy)
    };
    if prompt.contains("none") && !consent_skip {
        return Err(Error::ConsentRequired(
            "Prompt 'none' was requested, but no previous consent was found.".into(),
        ));
    }
    let challenge = crate::crypto::random_token(32);
    let csrf = crate::crypto::random_token(32);
    let doc = ConsentRequest {
        request_url: login.doc.request_url,
        requested_scope: requested,
        requested_access_token_audience: login.doc.requested_access_token_audience,
        skip: consent_skip,
        login_challenge: login.challenge,
        login_session_id: sid,
        acr: accept.acr,
        amr: accept.amr,
        context: if accept.context.is_null() {
            Value::Object(Default::default())
        } else {
            accept.context
        },
        oidc_context: login.doc.oidc_context,
        auth_time: auth_time / 1_000_000,
        csrf: csrf.clone(),
        redirect_uri: login.doc.redirect_uri,
        nonce: form.get("nonce").unwrap_or("").to_string(),
        code_challenge: form.get("code_challenge").unwrap_or("").to_string(),
        requested_at: login.requested_at,
        force_subject_identifier: accept.force_subject_identifier,
        accept: None,
        error: None,
    };
    let flow = Flow::pending(
        challenge.clone(),
        client_id.clone(),
        login.subject,
        now,
        doc,
    );
    s.store().insert_flow(&flow).await?;
    set_cookies.push(jar.set_sealed(
        &jar.csrf_name(ChallengeKind::Consent, client_id),
        &csrf,
        Some(s.settings().flow_ttl.as_secs() as i64),
    )?);
    Ok(Navigation::Redirect {
        to: with_params(
            &s.ui_url(UiPage::Consent),
            &[("consent_challenge", &challenge)],
        ),
        cookies: set_cookies,
    })
}

/// The login UI's accept: the subject it authenticated (a skipped login must keep the
/// session's subject) and what it accepted with. Returns where the browser goes now.
pub async fn accept(
    s: &Oauth2,
    challenge: &str,
    subject: String,
    accept: LoginAccept,
) -> Result<String> {
    if subject.is_empty() {
        return Err(Error::BadRequest(
            "Field 'subject' must not be empty.".into(),
        ));
    }
    let (flow, _) = flows::load::<LoginRequest>(s, challenge).await?;
    if flow.doc.skip && flow.state == FlowState::Pending && subject != flow.subject {
        return Err(Error::BadRequest(format!(
            "Field 'subject' does not match subject from previous authentication: expected '{}'.",
            flow.subject
        )));
    }
    flows::decide(s, flow, FlowEvent::Accept, |f| {
        f.subject = subject;
        f.doc.accept = Some(accept);
    })
    .await
}

/// The login UI's reject. Returns where the browser goes now.
pub async fn reject(s: &Oauth2, challenge: &str, rejection: Rejection) -> Result<String> {
    let (flow, _) = flows::load::<LoginRequest>(s, challenge).await?;
    flows::decide(s, flow, FlowEvent::Reject, |f| {
        f.doc.error = Some(rejection)
    })
    .await
}
