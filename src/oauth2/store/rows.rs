//! Row mapping of the oauth2 tables: one record per table, its columns as they are (derived
//! `FromRow`), each turned into the role's type — JSON document columns parsed, 0/1 columns
//! as booleans, stored kinds and states parsed (an unknown one is a corrupt row, never a
//! default).

use sqlx::any::AnyRow;
use sqlx::FromRow;

use super::super::challenge::{
    ChallengeKind, Consent, ConsentDoc, Flow, FlowDoc, FlowState, LoginSession,
};
use super::super::client::Client;
use super::super::error::{Error, Result};
use super::super::grant::TokenRow;
use super::super::token::Kind;
use super::super::trust::Grant;
use super::StoredClient;

/// `row` as the record `R` of its table, then as the role's type `T`.
pub(super) fn from_row<R, T>(row: &AnyRow) -> Result<T>
where
    R: for<'r> FromRow<'r, AnyRow>,
    T: TryFrom<R, Error = Error>,
{
    T::try_from(R::from_row(row)?)
}

/// A JSON document column as the type it holds.
pub(super) fn document<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored {what} is corrupt: {e}")))
}

pub(super) fn to_document<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}

/// A stored value the code no longer knows (a state, a kind) is a corrupt row.
fn known<T>(parsed: std::result::Result<T, impl std::fmt::Display>) -> Result<T> {
    parsed.map_err(|e| Error::Internal(format!("a stored row holds an {e}")))
}

#[derive(FromRow)]
pub(super) struct ClientRecord {
    pub(super) id: String,
    doc: String,
    secret_hash: String,
    registration_key: String,
    revision: i64,
}

impl TryFrom<ClientRecord> for StoredClient {
    type Error = Error;
    fn try_from(r: ClientRecord) -> Result<StoredClient> {
        Ok(StoredClient {
            client: document("client", &r.doc)?,
            secret_hash: r.secret_hash,
            registration_key: r.registration_key,
            revision: r.revision,
        })
    }
}

impl TryFrom<ClientRecord> for Client {
    type Error = Error;
    fn try_from(r: ClientRecord) -> Result<Client> {
        document("client", &r.doc)
    }
}

#[derive(FromRow)]
pub(super) struct TokenRecord {
    signature: String,
    kind: String,
    request_id: String,
    client_id: String,
    subject: String,
    active: i64,
    requested_at: i64,
    expires_at: i64,
    session: String,
}

impl TryFrom<TokenRecord> for TokenRow {
    type Error = Error;
    fn try_from(r: TokenRecord) -> Result<TokenRow> {
        Ok(TokenRow {
            signature: r.signature,
            kind: known(Kind::parse(&r.kind))?,
            request_id: r.request_id,
            client_id: r.client_id,
            subject: r.subject,
            active: r.active != 0,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            session: r.session,
        })
    }
}

#[derive(FromRow)]
pub(super) struct FlowRecord {
    challenge: String,
    kind: String,
    verifier: String,
    state: String,
    client_id: String,
    subject: String,
    requested_at: i64,
    doc: String,
}

impl<D: FlowDoc> TryFrom<FlowRecord> for Flow<D> {
    type Error = Error;
    fn try_from(r: FlowRecord) -> Result<Flow<D>> {
        let kind = known(ChallengeKind::parse(&r.kind))?;
        if kind != D::KIND {
            return Err(Error::Internal(format!(
                "flow {} is a {} flow, not a {} flow",
                r.challenge,
                kind.as_str(),
                D::KIND.as_str()
            )));
        }
        Ok(Flow {
            doc: document(D::KIND.as_str(), &r.doc)?,
            challenge: r.challenge,
            verifier: r.verifier,
            state: known(FlowState::parse(&r.state))?,
            client_id: r.client_id,
            subject: r.subject,
            requested_at: r.requested_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct GrantRecord {
    id: String,
    issuer: String,
    subject: String,
    allow_any_subject: i64,
    scope: String,
    key_set: String,
    key_id: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<GrantRecord> for Grant {
    type Error = Error;
    fn try_from(r: GrantRecord) -> Result<Grant> {
        Ok(Grant {
            id: r.id,
            issuer: r.issuer,
            subject: r.subject,
            allow_any_subject: r.allow_any_subject != 0,
            scope: serde_json::from_str(&r.scope).unwrap_or_default(),
            key_set: r.key_set,
            key_id: r.key_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct ConsentRecord {
    challenge: String,
    subject: String,
    client_id: String,
    login_session_id: String,
    remember: i64,
    expires_at: i64,
    handled_at: i64,
    doc: String,
}

impl TryFrom<ConsentRecord> for Consent {
    type Error = Error;
    fn try_from(r: ConsentRecord) -> Result<Consent> {
        Ok(Consent {
            doc: document::<ConsentDoc>("consent", &r.doc)?,
            challenge: r.challenge,
            subject: r.subject,
            client_id: r.client_id,
            login_session_id: r.login_session_id,
            remember: r.remember != 0,
            expires_at: r.expires_at,
            handled_at: r.handled_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct LoginSessionRecord {
    subject: String,
    authenticated_at: i64,
    remember: i64,
    expires_at: i64,
    doc: String,
}

/// A login session's document column.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct LoginSessionDoc {
    pub(super) identity_provider_session_id: Option<String>,
}

impl TryFrom<LoginSessionRecord> for LoginSession {
    type Error = Error;
    fn try_from(r: LoginSessionRecord) -> Result<LoginSession> {
        let doc: LoginSessionDoc = document("login session", &r.doc)?;
        Ok(LoginSession {
            subject: r.subject,
            authenticated_at: r.authenticated_at,
            remember: r.remember != 0,
            expires_at: r.expires_at,
            identity_provider_session_id: doc.identity_provider_session_id.unwrap_or_default(),
        })
    }
}
