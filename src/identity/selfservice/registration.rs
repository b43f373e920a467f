//! The registration flow: only without a session, and only while
//! `selfservice.flows.registration.enabled`; a submission with the password method validates
//! the traits against the default schema and the password against the policy, creates the
//! identity and — with the `session` hook — signs it in.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowKind, FlowState, FlowType, Method};
use super::super::policy;
use super::super::request;
use super::super::schema::{FieldError, IdentitySchema};
use super::super::service::identities::{Built, IdentityInput, PasswordInput};
use super::super::service::Service;
use super::super::text::UiText;
use super::super::wire::{identity_json, View};
use super::flows::{self, InitQuery, SignedIn, Start};
use super::http::{self, check_return_to, client_for, redirect, wants_json, Client};
use crate::config::identity::PasswordPolicy;
use crate::http::Json;

const KIND: FlowKind = FlowKind::Registration;

/// A registration flow is for callers without a session; a signed-in browser is sent on to
/// `return_to`.
pub async fn start(
    s: &Service,
    flow_type: FlowType,
    headers: &HeaderMap,
    q: &InitQuery,
) -> Result<Start> {
    let present = flows::present_session(s, flow_type, headers).await?;
    if present.is_some() {
        if flow_type == FlowType::Browser && !wants_json(headers) {
            let rt = check_return_to(s, headers, q.return_to.as_deref())?;
            return Ok(Start::Answered(redirect(
                &rt.unwrap_or_else(|| flows::default_return(s, KIND, None)),
            )));
        }
        return Err(Error::SessionAlreadyAvailable);
    }
    Ok(Start::Flow(None))
}

/// The field errors of a password registration: the traits against the schema, a missing
/// password, or — only when the traits are valid — a password the policy refuses (`bcrypt`
/// caps its length).
pub fn validation_errors(
    schema: &IdentitySchema,
    policy: &PasswordPolicy,
    bcrypt: bool,
    traits: &Value,
    password: &str,
) -> Vec<FieldError> {
    let mut errors = schema.validate(traits);
    if password.is_empty() {
        errors.push(FieldError {
            pointer: "#/password".into(),
            message: UiText::missing("password"),
        });
    } else if errors.is_empty() {
        let ids = schema.facts(traits).password_identifiers;
        if let Err(msg) = policy::check(policy, password, &ids, bcrypt) {
            errors.push(FieldError {
                pointer: "#/password".into(),
                message: msg,
            });
        }
    }
    errors
}

/// A submission of a registration flow.
pub async fn submit(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &[u8],
) -> Result<Response> {
    let body = http::parse_body(headers, body)?;
    http::check_submission(s, &flow, headers, &body)?;
    flow.clear_messages();
    flow.fill_values(&body);
    match flows::chosen_method(s, KIND, &body) {
        Some(Method::Password) => with_password(s, client, headers, flow, &body).await,
        Some(Method::Profile) | None => {
            flow.add_message(UiText::error(
                4010002,
                "Could not find a strategy to sign you up with. Did you fill out the form correctly?",
                json!({}),
            ));
            flows::invalid(s, &flow, None, headers).await
        }
    }
}

/// The password method: traits and password.
async fn with_password(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Map<String, Value>,
) -> Result<Response> {
    flow.active = Some(Method::Password);
    let traits = body.get("traits").cloned().unwrap_or_else(|| json!({}));
    let password = http::field(body, "password").unwrap_or("").to_string();
    let schema_id = s.schemas.default_id.clone();
    let Some(schema) = s.schemas.get(&schema_id).cloned() else {
        return Err(Error::Internal("no identity schema configured".into()));
    };
    let bcrypt = matches!(s.hasher, crate::crypto::password::Hasher::Bcrypt { .. });
    let policy = &s.config.selfservice.methods.password.config;
    let errors = validation_errors(&schema, policy, bcrypt, &traits, &password);
    if !errors.is_empty() {
        flow.add_field_errors(&errors);
        return flows::invalid(s, &flow, None, headers).await;
    }
    let input = IdentityInput {
        schema_id,
        traits,
        password: Some(PasswordInput::Plain(password)),
        ..IdentityInput::default()
    };
    let (identity, creds) = match s.build_identity(input, None).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => {
            flow.add_field_errors(&errors);
            return flows::invalid(s, &flow, None, headers).await;
        }
    };
    if creds.iter().all(|c| c.identifiers.is_empty()) {
        flow.add_message(UiText::error(4000009, "Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration.", json!({})));
        return flows::invalid(s, &flow, None, headers).await;
    }
    match s.store.create_identity(&identity, &creds).await {
        Ok(()) => {}
        Err(Error::Conflict) => {
            flow.add_message(UiText::duplicate_identifier());
            return flows::invalid(s, &flow, None, headers).await;
        }
        Err(e) => return Err(e),
    }
    flow.state = FlowState::PassedChallenge;
    s.store.update_flow(&flow, s.now()).await?;
    let identity_body = identity_json(
        &identity,
        &request::public_base(s, headers),
        View::Public,
        None,
    );
    if has_session_hook(s) {
        let (session, token) = s
            .issue_session(
                &identity,
                Method::Password.as_str(),
                Some(client.to_string()),
                request::user_agent(headers),
            )
            .await?;
        let mut extra = vec![("identity", identity_body)];
        if flow.flow_type == FlowType::Api {
            extra.push((
                "continue_with",
                json!([{"action": "set_ory_session_token", "ory_session_token": token}]),
            ));
        }
        let signed = SignedIn {
            session: &session,
            identity: &identity,
            token: &token,
        };
        return Ok(flows::signed_in(
            s,
            &flow,
            headers,
            signed,
            Method::Password,
            extra,
        ));
    }
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => redirect(
            &flow
                .return_to
                .clone()
                .unwrap_or_else(|| flows::default_return(s, KIND, Some(Method::Password))),
        ),
        Client::Spa | Client::Api => Json(json!({ "identity": identity_body })).into_response(),
    })
}

/// Whether the `session` hook runs after a password registration.
fn has_session_hook(s: &Service) -> bool {
    flows::after(s, KIND).runs(Method::Password.as_str(), "session")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> IdentitySchema {
        IdentitySchema::compile(
            "default",
            json!({"type": "object", "properties": {"traits": {"type": "object",
                "properties": {"email": {"type": "string", "format": "email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}},
                "required": ["email"]}}}),
        )
        .unwrap()
    }

    fn pointers(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.pointer.as_str()).collect()
    }

    #[test]
    fn a_registration_is_checked_traits_first_then_the_password() {
        let policy = PasswordPolicy::default();
        let ok = json!({"email": "ann@example.com"});
        assert!(validation_errors(&schema(), &policy, true, &ok, "a-long-secret-pw").is_empty());
        let missing = validation_errors(&schema(), &policy, true, &ok, "");
        assert_eq!(pointers(&missing), ["#/password"]);
        assert_eq!(missing[0].message.id, 4000002);
        // the policy sees the identifiers: a password equal to the e-mail is refused
        let similar = validation_errors(&schema(), &policy, true, &ok, "ann@example.com");
        assert_eq!(pointers(&similar), ["#/password"]);
        // invalid traits are reported alone: the policy waits for valid ones
        let bad = validation_errors(&schema(), &policy, true, &json!({"email": 1}), "short");
        assert!(!bad.is_empty());
        assert!(!pointers(&bad).contains(&"#/password"));
    }
}
