//! The settings flow: only for a signed-in identity, whose flow it stays. A submission with
//! the profile method replaces the traits, with the password method the password; a password,
//! and a profile change that touches a login identifier or an address, need a privileged
//! (recent) session.

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowKind, FlowState, FlowType, Method};
use super::super::model::{Credential, CredentialType, Identity, Micros, Session};
use super::super::policy;
use super::super::request;
use super::super::schema::FieldError;
use super::super::service::identities::{Built, IdentityInput, PasswordInput};
use super::super::service::Service;
use super::super::text::UiText;
use super::flows::{self, InitQuery, Start};
use super::http::{self, client_for, redirect, wants_json, Client};
use crate::config::identity::PasswordPolicy;
use crate::http::Json;

const KIND: FlowKind = FlowKind::Settings;

/// A settings flow belongs to the caller's identity; without a session a browser is sent to
/// log in first.
pub async fn start(
    s: &Service,
    flow_type: FlowType,
    headers: &HeaderMap,
    _q: &InitQuery,
) -> Result<Start> {
    let Some((_, identity)) = flows::present_session(s, flow_type, headers).await? else {
        if flow_type == FlowType::Browser && !wants_json(headers) {
            return Ok(Start::Answered(redirect(&format!(
                "{}/self-service/login/browser",
                request::public_base(s, headers)
            ))));
        }
        return Err(Error::Unauthorized);
    };
    Ok(Start::Flow(Some(Box::new(identity))))
}

/// A submission of a settings flow, by the identity it belongs to.
pub async fn submit(
    s: &Service,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &[u8],
) -> Result<Response> {
    let (session, identity) = request::current_session(s, headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    if flow.identity_id.as_deref() != Some(identity.id.as_str()) {
        return Err(Error::Csrf(
            "The settings flow belongs to another identity.".into(),
        ));
    }
    let body = http::parse_body(headers, body)?;
    http::check_submission(s, &flow, headers, &body)?;
    flow.clear_messages();
    let creds = s.store.credentials(&identity.id).await?;
    let mut input = IdentityInput {
        schema_id: identity.schema_id.clone(),
        traits: identity.traits.clone(),
        state: Some(identity.state),
        metadata_public: identity.metadata_public.clone(),
        metadata_admin: identity.metadata_admin.clone(),
        ..IdentityInput::default()
    };
    let method = match flows::chosen_method(s, KIND, &body) {
        Some(Method::Profile) => {
            input.traits = body.get("traits").cloned().unwrap_or_else(|| json!({}));
            Method::Profile
        }
        Some(Method::Password) => {
            ensure_privileged(s, headers, &session, &flow)?;
            let password = http::field(&body, "password").unwrap_or("").to_string();
            let bcrypt = matches!(s.hasher, crate::crypto::password::Hasher::Bcrypt { .. });
            let policy = &s.config.selfservice.methods.password.config;
            if let Some(msg) = password_problem(policy, bcrypt, &password, &creds) {
                flow.add_field_errors(&[FieldError {
                    pointer: "#/password".into(),
                    message: msg,
                }]);
                return flows::invalid(s, &flow, Some(&identity), headers).await;
            }
            input.password = Some(PasswordInput::Plain(password));
            Method::Password
        }
        None => {
            flow.add_message(UiText::error(4010002, "Could not find a strategy to update your settings. Did you fill out the form correctly?", json!({})));
            return flows::invalid(s, &flow, Some(&identity), headers).await;
        }
    };
    let change = Change {
        session: &session,
        identity: &identity,
        creds: &creds,
        method,
    };
    save(s, headers, flow, &body, change, input).await
}

/// What a settings submission changes, and who asked.
struct Change<'a> {
    session: &'a Session,
    identity: &'a Identity,
    creds: &'a [Credential],
    method: Method,
}

/// Builds and stores the changed identity, runs the `after` hooks and answers with the flow
/// in state `success`.
async fn save(
    s: &Service,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Map<String, Value>,
    change: Change<'_>,
    input: IdentityInput,
) -> Result<Response> {
    let Change {
        session,
        identity,
        creds,
        method,
    } = change;
    let (updated, new_creds) = match s.build_identity(input, Some((identity, creds))).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => {
            flow.fill_values(body);
            flow.add_field_errors(&errors);
            return flows::invalid(s, &flow, Some(identity), headers).await;
        }
    };
    // Kratos' protected fields: a profile change that touches a login identifier or an
    // address needs a privileged (recent) session, as a password change does.
    if method == Method::Profile && changes_protected_fields(identity, creds, &updated, &new_creds)
    {
        ensure_privileged(s, headers, session, &flow)?;
    }
    match s.store.replace_identity(&updated, &new_creds).await {
        Ok(()) => {}
        Err(Error::Conflict) => {
            flow.add_message(UiText::duplicate_identifier());
            return flows::invalid(s, &flow, Some(identity), headers).await;
        }
        Err(e) => return Err(e),
    }
    flows::revoke_other_sessions_if_hooked(s, KIND, method, &identity.id, &session.id).await?;
    flow.state = FlowState::Success;
    flow.active = Some(method);
    flow.ui.nodes = flows::nodes_for(s, KIND, &flow.csrf_token, Some(&updated));
    flow.add_message(UiText::settings_saved());
    s.store.update_flow(&flow, s.now()).await?;
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => flows::to_ui(s, &flow),
        Client::Spa | Client::Api => {
            Json(flows::flow_json(s, &flow, Some(&updated), headers)).into_response()
        }
    })
}

/// What is wrong with a new `password` (missing, or refused by the policy given the
/// identity's password identifiers), if anything.
pub fn password_problem(
    policy: &PasswordPolicy,
    bcrypt: bool,
    password: &str,
    creds: &[Credential],
) -> Option<UiText> {
    if password.is_empty() {
        return Some(UiText::missing("password"));
    }
    let ids: Vec<String> = creds
        .iter()
        .filter(|c| c.kind == CredentialType::Password)
        .flat_map(|c| c.identifiers.clone())
        .collect();
    policy::check(policy, password, &ids, bcrypt).err()
}

/// Kratos' `privileged_session_max_age`: a session authenticated longer ago must
/// re-authenticate (403 `session_refresh_required` with the login URL to refresh at; browsers
/// are redirected there) before a privileged change.
fn ensure_privileged(
    s: &Service,
    headers: &HeaderMap,
    session: &Session,
    flow: &Flow,
) -> Result<()> {
    let max_age = s
        .config
        .selfservice
        .flows
        .settings
        .privileged_session_max_age
        .micros();
    privileged(session, max_age, s.now())
        .then_some(())
        .ok_or_else(|| Error::RefreshRequired {
            redirect_to: refresh_url(&request::public_base(s, headers), flow),
        })
}

/// Whether `session` authenticated at most `max_age` before `now`.
pub fn privileged(session: &Session, max_age: Micros, now: Micros) -> bool {
    session.authenticated_at + max_age >= now
}

/// The login flow that refreshes the session and comes back to `flow`.
pub fn refresh_url(public_base: &str, flow: &Flow) -> String {
    format!(
        "{public_base}/self-service/login/browser?refresh=true&return_to={}",
        url::form_urlencoded::byte_serialize(flow.ui.action.as_bytes()).collect::<String>()
    )
}

/// Whether an update changes what Kratos protects (`identity.Manager.requiresPrivilegedAccess`):
/// the credentials' identifiers or the verifiable addresses — and, stricter than Kratos, the
/// recovery addresses (a new recovery address is as good as a new login).
pub fn changes_protected_fields(
    old: &Identity,
    old_creds: &[Credential],
    new: &Identity,
    new_creds: &[Credential],
) -> bool {
    let identifiers = |creds: &[Credential]| -> BTreeSet<(String, String)> {
        creds
            .iter()
            .flat_map(|c| {
                c.identifiers
                    .iter()
                    .map(move |i| (c.kind.as_str().to_string(), i.clone()))
            })
            .collect()
    };
    let verifiable = |i: &Identity| -> BTreeSet<(String, String)> {
        i.verifiable_addresses
            .iter()
            .map(|a| (a.value.clone(), a.via.clone()))
            .collect()
    };
    let recovery = |i: &Identity| -> BTreeSet<(String, String)> {
        i.recovery_addresses
            .iter()
            .map(|a| (a.value.clone(), a.via.clone()))
            .collect()
    };
    identifiers(old_creds) != identifiers(new_creds)
        || verifiable(old) != verifiable(new)
        || recovery(old) != recovery(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::{Aal, IdentityState, RecoveryAddress, VerifiableAddress};

    fn identity(email: &str) -> Identity {
        Identity {
            id: "i".into(),
            schema_id: "default".into(),
            state: IdentityState::Active,
            state_changed_at: None,
            traits: json!({"email": email}),
            metadata_public: None,
            metadata_admin: None,
            verifiable_addresses: vec![VerifiableAddress {
                id: "v".into(),
                value: email.into(),
                verified: false,
                via: "email".into(),
                status: "pending".into(),
                verified_at: None,
                created_at: 0,
                updated_at: 0,
            }],
            recovery_addresses: vec![RecoveryAddress {
                id: "r".into(),
                value: email.into(),
                via: "email".into(),
                created_at: 0,
                updated_at: 0,
            }],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn password_credential(identifier: &str) -> Credential {
        Credential {
            id: "c".into(),
            kind: CredentialType::Password,
            identifiers: vec![identifier.into()],
            config: json!({}),
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn identifiers_and_addresses_are_protected_other_traits_are_not() {
        let old = identity("ann@example.com");
        let creds = [password_credential("ann@example.com")];
        let mut same = old.clone();
        same.traits = json!({"email": "ann@example.com", "name": "Ann"});
        assert!(!changes_protected_fields(&old, &creds, &same, &creds));
        let other_creds = [password_credential("bob@example.com")];
        assert!(changes_protected_fields(&old, &creds, &old, &other_creds));
        let mut moved = old.clone();
        moved.verifiable_addresses[0].value = "bob@example.com".into();
        assert!(changes_protected_fields(&old, &creds, &moved, &creds));
        let mut recovery = old.clone();
        recovery.recovery_addresses.clear();
        assert!(changes_protected_fields(&old, &creds, &recovery, &creds));
    }

    #[test]
    fn a_new_password_is_checked_against_the_policy_and_the_identifiers() {
        let policy = PasswordPolicy::default();
        let creds = [password_credential("ann@example.com")];
        assert_eq!(
            password_problem(&policy, true, "a-long-secret-pw", &creds),
            None
        );
        assert_eq!(
            password_problem(&policy, true, "", &creds).map(|m| m.id),
            Some(4000002)
        );
        assert!(password_problem(&policy, true, "ann@example.com", &creds).is_some());
        assert!(password_problem(&policy, true, "short", &creds).is_some());
    }

    #[test]
    fn a_session_is_privileged_for_max_age_after_it_authenticated() {
        let session = Session {
            id: "s".into(),
            identity_id: "i".into(),
            active: true,
            aal: Aal::Aal1,
            authenticated_at: 1_000,
            issued_at: 1_000,
            expires_at: 10_000,
            methods: Vec::new(),
            devices: Vec::new(),
            logout_token: "t".into(),
        };
        assert!(privileged(&session, 500, 1_500));
        assert!(!privileged(&session, 500, 1_501));
    }

    #[test]
    fn a_refresh_comes_back_to_the_flow() {
        let flow = Flow {
            id: "f".into(),
            kind: FlowKind::Settings,
            flow_type: FlowType::Browser,
            state: FlowState::ShowForm,
            csrf_token: String::new(),
            return_to: None,
            request_url: String::new(),
            ui: crate::identity::flow::Ui {
                action: "http://k/self-service/settings?flow=f".into(),
                method: "POST".into(),
                nodes: Vec::new(),
                messages: Vec::new(),
            },
            identity_id: None,
            session_id: None,
            refresh: false,
            requested_aal: Aal::Aal1,
            active: None,
            issued_at: 0,
            expires_at: 0,
        };
        assert_eq!(
            refresh_url("http://k", &flow),
            "http://k/self-service/login/browser?refresh=true&return_to=http%3A%2F%2Fk%2Fself-service%2Fsettings%3Fflow%3Df"
        );
    }
}
