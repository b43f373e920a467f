//! The login flow: who may start one (a signed-in caller only to refresh or to add a factor),
//! and a submission with the password method — throttled, verified against a dummy hash for
//! unknown identifiers, rehashed when the hasher changed, a new session or (`refresh=true`)
//! the present one re-authenticated.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowKind, FlowState, FlowType, Method};
use super::super::model::{Aal, AuthMethod, Credential, CredentialType, Identity, IdentityState};
use super::super::request;
use super::super::schema::FieldError;
use super::super::service::Service;
use super::super::text::UiText;
use super::flows::{self, InitQuery, SignedIn, Start};
use super::http::{self, check_return_to, redirect, wants_json};

const KIND: FlowKind = FlowKind::Login;

/// A login flow needs no session; with one, only to refresh it (`refresh=true`) or to raise
/// its level (`aal2`, which needs one). A signed-in browser is sent on to `return_to`.
pub async fn start(
    s: &Service,
    flow_type: FlowType,
    headers: &HeaderMap,
    q: &InitQuery,
) -> Result<Start> {
    let higher_aal = q.requested_aal()? != Aal::Aal1;
    if q.refresh != Some(true) || higher_aal {
        let present = flows::present_session(s, flow_type, headers).await?;
        // Kratos: a second factor needs the first one's session.
        if higher_aal && present.is_none() {
            return Err(Error::SessionRequiredForHigherAal);
        }
        if present.is_some() && !higher_aal && q.refresh != Some(true) {
            if flow_type == FlowType::Browser && !wants_json(headers) {
                let rt = check_return_to(s, headers, q.return_to.as_deref())?;
                return Ok(Start::Answered(redirect(
                    &rt.unwrap_or_else(|| flows::default_return(s, KIND, None)),
                )));
            }
            return Err(Error::SessionAlreadyAvailable);
        }
    }
    Ok(Start::Flow(None))
}

/// The field errors of a password login missing its identifier or password.
pub fn missing_fields(identifier: &str, password: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if identifier.is_empty() {
        errors.push(FieldError {
            pointer: "#/identifier".into(),
            message: UiText::missing("identifier"),
        });
    }
    if password.is_empty() {
        errors.push(FieldError {
            pointer: "#/password".into(),
            message: UiText::missing("password"),
        });
    }
    errors
}

/// A submission of a login flow.
pub async fn submit(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &[u8],
) -> Result<Response> {
    let body = http::parse_body(headers, body)?;
    http::check_submission(s, &flow, headers, &body)?;
    match flows::chosen_method(s, KIND, &body) {
        Some(Method::Password) => with_password(s, client, headers, flow, &body).await,
        Some(Method::Profile) | None => {
            flow.clear_messages();
            flow.add_message(UiText::error(
                4010002,
                "Could not find a strategy to log you in with. Did you fill out the form correctly?",
                json!({}),
            ));
            flows::invalid(s, &flow, None, headers).await
        }
    }
}

/// The password method: identifier and password.
async fn with_password(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Map<String, Value>,
) -> Result<Response> {
    let identifier = http::field(body, "identifier")
        .or_else(|| http::field(body, "password_identifier"))
        .unwrap_or("")
        .trim()
        .to_string();
    let password = http::field(body, "password").unwrap_or("").to_string();
    flow.clear_messages();
    flow.fill_values(body);
    flow.active = Some(Method::Password);
    let missing = missing_fields(&identifier, &password);
    if !missing.is_empty() {
        flow.add_field_errors(&missing);
        return flows::invalid(s, &flow, None, headers).await;
    }
    let ip = client.to_string();
    let identity = match verify_password(s, &identifier, &ip, password).await? {
        Ok(identity) => identity,
        Err(message) => {
            flow.add_message(message);
            return flows::invalid(s, &flow, None, headers).await;
        }
    };
    // refresh=true re-authenticates the present session instead of creating another one.
    if flow.refresh {
        if let Some(done) = reauthenticate(s, headers, &mut flow, &identity).await? {
            return Ok(done);
        }
    }
    let (session, token) = s
        .issue_session(
            &identity,
            Method::Password.as_str(),
            Some(ip),
            request::user_agent(headers),
        )
        .await?;
    flows::revoke_other_sessions_if_hooked(s, KIND, Method::Password, &identity.id, &session.id)
        .await?;
    flow.state = FlowState::PassedChallenge;
    s.store.update_flow(&flow, s.now()).await?;
    let signed = SignedIn {
        session: &session,
        identity: &identity,
        token: &token,
    };
    Ok(flows::signed_in(
        s,
        &flow,
        headers,
        signed,
        Method::Password,
        Vec::new(),
    ))
}

/// The identity whose password this is, or the message the flow shows. The attempt counts as
/// a failure before the hash is verified and is settled after; an unknown identifier is
/// verified against the dummy hash (no timing oracle); a hash of an outdated hasher is
/// replaced.
async fn verify_password(
    s: &Service,
    identifier: &str,
    ip: &str,
    password: String,
) -> Result<std::result::Result<Identity, UiText>> {
    s.throttle_reserve(identifier, Some(ip)).await?;
    let found = s
        .store
        .find_by_identifier(CredentialType::Password, identifier)
        .await?;
    let hash = found.as_ref().and_then(|(_, c)| hashed_password(c));
    let ok = s.verify_password(password.clone(), hash.clone()).await?;
    let Some((identity, credential)) = found.filter(|_| ok) else {
        return Ok(Err(UiText::invalid_credentials()));
    };
    if identity.state != IdentityState::Active {
        s.throttle_refund(identifier, Some(ip)).await?;
        return Ok(Err(UiText::error(
            4000001,
            "This account is disabled.",
            json!({"reason": "identity is inactive"}),
        )));
    }
    s.throttle_success(identifier, Some(ip)).await?;
    if let Some(h) = &hash {
        if s.hasher.needs_rehash(h) {
            let fresh = s.hash_password(password).await?;
            s.store
                .update_credential_config(
                    &credential.id,
                    &json!({"hashed_password": fresh}),
                    s.now(),
                )
                .await?;
        }
    }
    Ok(Ok(identity))
}

/// A password credential's hash.
fn hashed_password(credential: &Credential) -> Option<String> {
    credential
        .config
        .get("hashed_password")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `refresh=true`: the request's session, if it is `identity`'s, is authenticated anew (new
/// `authenticated_at`, expiry and method) and answered; `None` when there is no such session.
async fn reauthenticate(
    s: &Service,
    headers: &HeaderMap,
    flow: &mut Flow,
    identity: &Identity,
) -> Result<Option<Response>> {
    let Some(token) = request::session_token(s, headers) else {
        return Ok(None);
    };
    let Some((mut session, ident)) = s.session_by_token(token).await? else {
        return Ok(None);
    };
    if ident.id != identity.id {
        return Ok(None);
    }
    let now = s.now();
    session.authenticated_at = now;
    session.expires_at = now + s.config.session.lifespan.micros();
    session.methods.push(AuthMethod {
        method: Method::Password.as_str().into(),
        aal: Aal::Aal1,
        completed_at: now,
    });
    s.store.refresh_session(&session, now).await?;
    flows::revoke_other_sessions_if_hooked(s, KIND, Method::Password, &ident.id, &session.id)
        .await?;
    flow.state = FlowState::PassedChallenge;
    s.store.update_flow(flow, now).await?;
    let signed = SignedIn {
        session: &session,
        identity: &ident,
        token,
    };
    Ok(Some(flows::signed_in(
        s,
        flow,
        headers,
        signed,
        Method::Password,
        Vec::new(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_names_what_is_missing() {
        assert!(missing_fields("a@b.c", "pw").is_empty());
        let pointers = |errors: Vec<FieldError>| -> Vec<String> {
            errors.into_iter().map(|e| e.pointer).collect()
        };
        assert_eq!(pointers(missing_fields("", "pw")), ["#/identifier"]);
        assert_eq!(pointers(missing_fields("a", "")), ["#/password"]);
        let both = missing_fields("", "");
        assert_eq!(both[1].message.id, 4000002);
        assert_eq!(both[1].message.context, json!({"property": "password"}));
        assert_eq!(both.len(), 2);
    }
}
