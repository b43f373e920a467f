//! The rows of the identity tables as SQL returns them (`#[derive(sqlx::FromRow)]`, one struct
//! per table, text and JSON columns borrowed from the row) and their one mapping each to the
//! domain types. A stored value that names no known state, type, kind or level is an error,
//! never a default. Pure: the mapping reads no database.

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::FromRow;

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowKind, FlowState, FlowType, Method, Ui};
use super::super::model::{Aal, Credential, CredentialType, Identity, IdentityState, Session};

/// The columns of [`IdentityRow`] (`identity_identities i`).
pub const IDENTITY_COLS: &str = "i.id, i.schema_id, i.state, i.state_changed_at, i.traits, i.metadata_public, i.metadata_admin, i.verifiable_addresses, i.recovery_addresses, i.created_at, i.updated_at";
/// The columns of [`SessionRow`] (`identity_sessions s`), prefixed so that they can be
/// selected next to an identity's.
pub const SESSION_COLS: &str = "s.id AS s_id, s.identity_id AS s_identity_id, s.active AS s_active, s.aal AS s_aal, s.authenticated_at AS s_authenticated_at, s.issued_at AS s_issued_at, s.expires_at AS s_expires_at, s.methods AS s_methods, s.devices AS s_devices, s.logout_token AS s_logout_token";
/// The columns of [`FlowRow`] (`identity_flows`), in the order `insert_flow` binds them.
pub const FLOW_COLS: &str = "id, kind, type, state, csrf_token, return_to, request_url, ui, identity_id, session_id, refresh, requested_aal, active, issued_at, expires_at";
/// The columns of [`FoundCredentialRow`]'s credential (`identity_credentials c`).
pub const FOUND_CREDENTIAL_COLS: &str = "c.id AS c_id, c.config AS c_config, c.version AS c_version, c.created_at AS c_created_at, c.updated_at AS c_updated_at";

/// A JSON column's text as `T`.
fn json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("column {column}: {e}")))
}

/// A stored name that `parse` must know.
fn known<T>(column: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| Error::Internal(format!("column {column}: unknown value `{text}`")))
}

/// `identity_identities`.
#[derive(Debug, FromRow)]
pub struct IdentityRow<'r> {
    pub id: String,
    pub schema_id: String,
    pub state: &'r str,
    pub state_changed_at: Option<i64>,
    pub traits: &'r str,
    pub metadata_public: Option<&'r str>,
    pub metadata_admin: Option<&'r str>,
    pub verifiable_addresses: &'r str,
    pub recovery_addresses: &'r str,
    pub created_at: i64,
    pub updated_at: i64,
}

impl IdentityRow<'_> {
    pub fn into_identity(self) -> Result<Identity> {
        Ok(Identity {
            id: self.id,
            schema_id: self.schema_id,
            state: known("state", self.state, IdentityState::parse)?,
            state_changed_at: self.state_changed_at,
            traits: json("traits", self.traits)?,
            metadata_public: self
                .metadata_public
                .map(|t| json::<Value>("metadata_public", t))
                .transpose()?,
            metadata_admin: self
                .metadata_admin
                .map(|t| json::<Value>("metadata_admin", t))
                .transpose()?,
            verifiable_addresses: json("verifiable_addresses", self.verifiable_addresses)?,
            recovery_addresses: json("recovery_addresses", self.recovery_addresses)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// `identity_sessions`, selected as [`SESSION_COLS`].
#[derive(Debug, FromRow)]
pub struct SessionRow<'r> {
    #[sqlx(rename = "s_id")]
    pub id: String,
    #[sqlx(rename = "s_identity_id")]
    pub identity_id: String,
    #[sqlx(rename = "s_active")]
    pub active: i64,
    #[sqlx(rename = "s_aal")]
    pub aal: &'r str,
    #[sqlx(rename = "s_authenticated_at")]
    pub authenticated_at: i64,
    #[sqlx(rename = "s_issued_at")]
    pub issued_at: i64,
    #[sqlx(rename = "s_expires_at")]
    pub expires_at: i64,
    #[sqlx(rename = "s_methods")]
    pub methods: &'r str,
    #[sqlx(rename = "s_devices")]
    pub devices: &'r str,
    #[sqlx(rename = "s_logout_token")]
    pub logout_token: String,
}

impl SessionRow<'_> {
    pub fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: self.id,
            identity_id: self.identity_id,
            active: self.active != 0,
            aal: known("aal", self.aal, Aal::parse)?,
            authenticated_at: self.authenticated_at,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            methods: json("methods", self.methods)?,
            devices: json("devices", self.devices)?,
            logout_token: self.logout_token,
        })
    }
}

/// A session joined with its identity.
#[derive(Debug, FromRow)]
pub struct SessionIdentityRow<'r> {
    #[sqlx(flatten)]
    pub session: SessionRow<'r>,
    #[sqlx(flatten)]
    pub identity: IdentityRow<'r>,
}

impl SessionIdentityRow<'_> {
    pub fn into_pair(self) -> Result<(Session, Identity)> {
        Ok((self.session.into_session()?, self.identity.into_identity()?))
    }
}

/// A session with its identity, found by its token's hash (`s.token_hash AS s_token_hash`).
#[derive(Debug, FromRow)]
pub struct TokenSessionRow<'r> {
    #[sqlx(rename = "s_token_hash")]
    pub token_hash: String,
    #[sqlx(flatten)]
    pub found: SessionIdentityRow<'r>,
}

/// `identity_credentials` (without its identifiers, which have their own table).
#[derive(Debug, FromRow)]
pub struct CredentialRow<'r> {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: &'r str,
    pub config: &'r str,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CredentialRow<'_> {
    pub fn into_credential(self, identifiers: Vec<String>) -> Result<Credential> {
        Ok(Credential {
            id: self.id,
            kind: known("type", self.kind, CredentialType::parse)?,
            identifiers,
            config: json("config", self.config)?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// `identity_credential_identifiers`.
#[derive(Debug, FromRow)]
pub struct IdentifierRow {
    pub credential_id: String,
    pub identifier: String,
}

/// An identity with the credential of one identifier ([`FOUND_CREDENTIAL_COLS`]).
#[derive(Debug, FromRow)]
pub struct FoundCredentialRow<'r> {
    #[sqlx(flatten)]
    pub identity: IdentityRow<'r>,
    pub c_id: String,
    pub c_config: &'r str,
    pub c_version: i64,
    pub c_created_at: i64,
    pub c_updated_at: i64,
}

impl FoundCredentialRow<'_> {
    /// The pair, the credential of `kind` listing the one identifier it was found by.
    pub fn into_pair(
        self,
        kind: CredentialType,
        identifier: String,
    ) -> Result<(Identity, Credential)> {
        let credential = Credential {
            id: self.c_id,
            kind,
            identifiers: vec![identifier],
            config: json("config", self.c_config)?,
            version: self.c_version,
            created_at: self.c_created_at,
            updated_at: self.c_updated_at,
        };
        Ok((self.identity.into_identity()?, credential))
    }
}

/// `identity_flows`, selected as [`FLOW_COLS`].
#[derive(Debug, FromRow)]
pub struct FlowRow<'r> {
    pub id: String,
    pub kind: &'r str,
    #[sqlx(rename = "type")]
    pub flow_type: &'r str,
    pub state: &'r str,
    pub csrf_token: String,
    pub return_to: Option<String>,
    pub request_url: String,
    pub ui: &'r str,
    pub identity_id: Option<String>,
    pub session_id: Option<String>,
    pub refresh: i64,
    pub requested_aal: &'r str,
    pub active: Option<&'r str>,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl FlowRow<'_> {
    pub fn into_flow(self) -> Result<Flow> {
        let ui: Ui = json("ui", self.ui)?;
        Ok(Flow {
            id: self.id,
            kind: known("kind", self.kind, FlowKind::parse)?,
            flow_type: known("type", self.flow_type, FlowType::parse)?,
            state: known("state", self.state, FlowState::parse)?,
            csrf_token: self.csrf_token,
            return_to: self.return_to,
            request_url: self.request_url,
            ui,
            identity_id: self.identity_id,
            session_id: self.session_id,
            refresh: self.refresh != 0,
            requested_aal: known("requested_aal", self.requested_aal, Aal::parse)?,
            active: self
                .active
                .map(|a| known("active", a, Method::parse))
                .transpose()?,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        })
    }
}

/// `identity_flow_errors`.
#[derive(Debug, FromRow)]
pub struct FlowErrorRow<'r> {
    pub error: &'r str,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FlowErrorRow<'_> {
    /// `(error, created_at, updated_at)`.
    pub fn into_parts(self) -> Result<(Value, i64, i64)> {
        Ok((json("error", self.error)?, self.created_at, self.updated_at))
    }
}

/// `identity_login_throttle`.
#[derive(Debug, FromRow)]
pub struct ThrottleRow {
    pub failures: i64,
    pub last_failure: i64,
}

/// `SELECT COUNT(*) AS n`.
#[derive(Debug, FromRow)]
pub struct CountRow {
    pub n: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_row(state: &str) -> IdentityRow<'_> {
        IdentityRow {
            id: "i".into(),
            schema_id: "default".into(),
            state,
            state_changed_at: None,
            traits: r#"{"email":"a@b.c"}"#,
            metadata_public: None,
            metadata_admin: Some("{}"),
            verifiable_addresses: "[]",
            recovery_addresses: "[]",
            created_at: 1,
            updated_at: 2,
        }
    }

    fn flow_row<'r>(kind: &'r str, state: &'r str, active: Option<&'r str>) -> FlowRow<'r> {
        FlowRow {
            id: "f".into(),
            kind,
            flow_type: "browser",
            state,
            csrf_token: "c".into(),
            return_to: None,
            request_url: "http://x/".into(),
            ui: r#"{"action":"a","method":"POST","nodes":[]}"#,
            identity_id: None,
            session_id: None,
            refresh: 1,
            requested_aal: "aal1",
            active,
            issued_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn known_values_map_to_the_domain() {
        let identity = identity_row("inactive").into_identity().unwrap();
        assert_eq!(identity.state, IdentityState::Inactive);
        assert_eq!(identity.metadata_admin, Some(serde_json::json!({})));
        let flow = flow_row("settings", "success", Some("profile"))
            .into_flow()
            .unwrap();
        assert_eq!(
            (flow.kind, flow.state, flow.active, flow.refresh),
            (
                FlowKind::Settings,
                FlowState::Success,
                Some(Method::Profile),
                true
            )
        );
    }

    #[test]
    fn unknown_stored_values_are_errors_not_defaults() {
        let err = identity_row("banned").into_identity().unwrap_err();
        assert_eq!(
            err.to_string(),
            "internal: column state: unknown value `banned`"
        );
        for row in [
            flow_row("recovery", "choose_method", None),
            flow_row("login", "done", None),
            flow_row("login", "choose_method", Some("magic")),
            FlowRow {
                flow_type: "native",
                ..flow_row("login", "choose_method", None)
            },
            FlowRow {
                requested_aal: "aal9",
                ..flow_row("login", "choose_method", None)
            },
        ] {
            assert!(row.into_flow().is_err());
        }
        let credential = CredentialRow {
            id: "c".into(),
            kind: "saml",
            config: "{}",
            version: 0,
            created_at: 0,
            updated_at: 0,
        };
        assert!(credential.into_credential(Vec::new()).is_err());
        let session = SessionRow {
            id: "s".into(),
            identity_id: "i".into(),
            active: 1,
            aal: "aal7",
            authenticated_at: 0,
            issued_at: 0,
            expires_at: 0,
            methods: "[]",
            devices: "[]",
            logout_token: "t".into(),
        };
        assert!(session.into_session().is_err());
    }

    #[test]
    fn broken_json_names_its_column() {
        let row = IdentityRow {
            traits: "{",
            ..identity_row("active")
        };
        let err = row.into_identity().unwrap_err().to_string();
        assert!(err.starts_with("internal: column traits:"), "{err}");
    }
}
