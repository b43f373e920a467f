//! Domain types of the identity role (identities, credentials, addresses, sessions) and the
//! injected clock. Wire shapes live in `wire.rs`; these never reach the network directly.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The time source; injected so that cores and tests never read the system clock directly.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Micros + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(|| {
            crate::store::unix_micros(std::time::SystemTime::now())
        }))
    }
    pub fn fixed(at: Micros) -> Self {
        Self(Arc::new(move || at))
    }
    pub fn now(&self) -> Micros {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// RFC 3339 in UTC with microsecond precision, as Go prints `time.Time` (trailing zeros trimmed).
pub fn rfc3339(micros: Micros) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        let f = format!("{frac:06}");
        format!("{base}.{}Z", f.trim_end_matches('0'))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityState {
    Active,
    Inactive,
}

impl IdentityState {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityState::Active => "active",
            IdentityState::Inactive => "inactive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(IdentityState::Active),
            "inactive" => Some(IdentityState::Inactive),
            _ => None,
        }
    }
}

/// The credential types Kratos knows (a closed set: new strategies add a variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialType {
    Password,
    Oidc,
    Totp,
    LookupSecret,
    Webauthn,
    Code,
}

impl CredentialType {
    pub const ALL: [CredentialType; 6] = [
        CredentialType::Password,
        CredentialType::Oidc,
        CredentialType::Totp,
        CredentialType::LookupSecret,
        CredentialType::Webauthn,
        CredentialType::Code,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::Password => "password",
            CredentialType::Oidc => "oidc",
            CredentialType::Totp => "totp",
            CredentialType::LookupSecret => "lookup_secret",
            CredentialType::Webauthn => "webauthn",
            CredentialType::Code => "code",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiableAddress {
    pub id: String,
    pub value: String,
    pub verified: bool,
    pub via: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryAddress {
    pub id: String,
    pub value: String,
    pub via: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub schema_id: String,
    pub state: IdentityState,
    pub state_changed_at: Option<Micros>,
    pub traits: Value,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
    pub verifiable_addresses: Vec<VerifiableAddress>,
    pub recovery_addresses: Vec<RecoveryAddress>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: String,
    pub kind: CredentialType,
    pub identifiers: Vec<String>,
    pub config: Value,
    pub version: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// Authenticator assurance level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    Aal0,
    Aal1,
    Aal2,
    Aal3,
}

impl Aal {
    pub fn as_str(self) -> &'static str {
        match self {
            Aal::Aal0 => "aal0",
            Aal::Aal1 => "aal1",
            Aal::Aal2 => "aal2",
            Aal::Aal3 => "aal3",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aal0" => Some(Aal::Aal0),
            "aal1" => Some(Aal::Aal1),
            "aal2" => Some(Aal::Aal2),
            "aal3" => Some(Aal::Aal3),
            _ => None,
        }
    }
}

/// One entry of `authentication_methods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthMethod {
    pub method: String,
    pub aal: Aal,
    pub completed_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub identity_id: String,
    pub active: bool,
    pub aal: Aal,
    pub authenticated_at: Micros,
    pub issued_at: Micros,
    pub expires_at: Micros,
    pub methods: Vec<AuthMethod>,
    pub devices: Vec<Device>,
    pub logout_token: String,
}

impl Session {
    /// Kratos' `IsActive`: active flag, not expired, identity active.
    pub fn is_active(&self, identity: &Identity, now: Micros) -> bool {
        self.active && self.expires_at > now && identity.state == IdentityState::Active
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_like_go() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123_400), "2023-11-14T22:13:20.1234Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00Z");
    }
}
