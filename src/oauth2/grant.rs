//! The grants' pure core, in the manner of oxide-auth's `code_grant`: the token endpoint's
//! grant types (parsed once, [`GrantType`]), the session every token of a grant carries
//! ([`GrantSession`]) and the stored token ([`TokenRow`]), and the decisions fosite's
//! handlers take on them — whether a stored code or refresh token may be redeemed (and
//! whether a replay revokes the grant), the PKCE check, which grants a client may use, which
//! tokens an answer carries and for how long. No I/O and no clock: the time is a parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::client::Client;
use super::error::{Error, Result};
use super::token::Kind;
use super::trust;

/// The grant types of the token endpoint (Hydra 2.2 has no password grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 7523 (`urn:ietf:params:oauth:grant-type:jwt-bearer`).
    JwtBearer,
}

/// Why a `grant_type` is not one of [`GrantType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTypeError {
    /// No `grant_type` parameter, or an empty one.
    Missing,
    /// A grant type no handler takes (`unsupported_grant_type` in RFC 6749's terms).
    UnsupportedGrantType(String),
}

impl GrantType {
    pub fn parse(value: &str) -> std::result::Result<GrantType, GrantTypeError> {
        match value {
            "" => Err(GrantTypeError::Missing),
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            "client_credentials" => Ok(GrantType::ClientCredentials),
            trust::GRANT_TYPE => Ok(GrantType::JwtBearer),
            other => Err(GrantTypeError::UnsupportedGrantType(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::JwtBearer => trust::GRANT_TYPE,
        }
    }

    /// The client's lifespan field for this grant's access token.
    pub fn access_token_lifespan(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code_grant_access_token_lifespan",
            GrantType::RefreshToken => "refresh_token_grant_access_token_lifespan",
            GrantType::ClientCredentials => "client_credentials_grant_access_token_lifespan",
            GrantType::JwtBearer => "jwt_bearer_grant_access_token_lifespan",
        }
    }

    /// The client's lifespan fields for this grant's refresh and ID tokens (the grants that
    /// can issue them: authorization_code and refresh_token).
    pub fn refresh_and_id_token_lifespans(self) -> (&'static str, &'static str) {
        match self {
            GrantType::AuthorizationCode => (
                "authorization_code_grant_refresh_token_lifespan",
                "authorization_code_grant_id_token_lifespan",
            ),
            _ => (
                "refresh_token_grant_refresh_token_lifespan",
                "refresh_token_grant_id_token_lifespan",
            ),
        }
    }
}

impl From<GrantTypeError> for Error {
    /// fosite's answers: a missing `grant_type` names the parameter; a grant type no handler
    /// takes is a bare `invalid_request` (fosite's `ErrInvalidRequest` when no handler is
    /// found, which Hydra 2.2 answers — not RFC 6749's `unsupported_grant_type`).
    fn from(e: GrantTypeError) -> Error {
        match e {
            GrantTypeError::Missing => {
                Error::InvalidRequest("Request parameter 'grant_type' is missing".into())
            }
            GrantTypeError::UnsupportedGrantType(_) => Error::InvalidRequest(String::new()),
        }
    }
}

/// The session stored with every token of a grant.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GrantSession {
    pub client_id: String,
    pub subject: String,
    pub granted_scope: Vec<String>,
    pub granted_audience: Vec<String>,
    /// Seconds since the epoch.
    pub requested_at: i64,
    pub auth_time: i64,
    pub ext: Value,
    pub id_token: Value,
    pub nonce: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub sid: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub grant_types: Vec<String>,
    /// The pairwise subject when it differs from `subject` (ID token, userinfo,
    /// introspection's `obfuscated_subject`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub obfuscated_subject: String,
}

impl GrantSession {
    /// The session of a grant without an end-user login (client_credentials, jwt-bearer):
    /// empty extra claims, requested now.
    pub fn without_login(
        client: &Client,
        subject: String,
        scope: Vec<String>,
        audience: Vec<String>,
        now_secs: i64,
    ) -> GrantSession {
        GrantSession {
            client_id: client.client_id.clone(),
            subject,
            granted_scope: scope,
            granted_audience: audience,
            requested_at: now_secs,
            ext: json!({}),
            id_token: json!({}),
            ..GrantSession::default()
        }
    }

    /// `sub` of ID tokens and userinfo.
    pub fn id_token_subject(&self) -> &str {
        if self.obfuscated_subject.is_empty() {
            &self.subject
        } else {
            &self.obfuscated_subject
        }
    }

    /// Whether the grant's answers carry an ID token (the `openid` scope was granted).
    pub fn openid(&self) -> bool {
        self.granted_scope.iter().any(|sc| sc == "openid")
    }

    /// Whether an answer for `client` carries a refresh token: an offline scope was granted
    /// and the client may use the refresh_token grant.
    pub fn issues_refresh_token(&self, client: &Client) -> bool {
        let offline = self
            .granted_scope
            .iter()
            .any(|sc| sc == "offline" || sc == "offline_access");
        offline
            && client
                .effective_grant_types()
                .iter()
                .any(|g| g == "refresh_token")
    }
}

/// A stored token (access, refresh, code).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub signature: String,
    pub kind: Kind,
    pub request_id: String,
    pub client_id: String,
    pub subject: String,
    pub active: bool,
    pub requested_at: i64,
    pub expires_at: i64,
    /// The grant's session ([`GrantSession`]) as JSON text.
    pub session: String,
}

impl TokenRow {
    /// Active and not past its expiry (an expiry of 0 is none).
    pub fn is_active(&self, now_micros: i64) -> bool {
        self.active && !(self.expires_at > 0 && self.expires_at < now_micros)
    }

    /// The grant's session; a row whose session does not parse is a server error.
    pub fn grant_session(&self) -> Result<GrantSession> {
        serde_json::from_str(&self.session).map_err(|e| Error::Internal(e.to_string()))
    }
}

/// A stored code or refresh token refused: the error, and whether the whole grant is revoked
/// for it (fosite's answer to a replay).
#[derive(Debug)]
pub struct Refused {
    pub error: Error,
    pub revoke_grant: bool,
}

impl Refused {
    fn plain(error: Error) -> Refused {
        Refused {
            error,
            revoke_grant: false,
        }
    }
}

/// fosite's authorization code checks, in its order and with its hints: used (the grant
/// revoked), expired (no hint), another client's.
pub fn check_code(row: &TokenRow, client_id: &str, now_micros: i64) -> Result<(), Refused> {
    if !row.active {
        return Err(Refused {
            error: code_used(),
            revoke_grant: true,
        });
    }
    if row.expires_at < now_micros {
        return Err(Refused::plain(Error::InvalidGrant(String::new())));
    }
    if row.client_id != client_id {
        return Err(Refused::plain(Error::InvalidGrant("The OAuth 2.0 Client ID from this request does not match the one from the authorize request.".into())));
    }
    Ok(())
}

/// fosite's error for a code presented again.
pub fn code_used() -> Error {
    Error::InvalidGrant("The authorization code has already been used.".into())
}

/// fosite's refresh token checks, in its order: reused (`token_inactive`, the grant revoked),
/// expired (no hint), another client's.
pub fn check_refresh_token(
    row: &TokenRow,
    client_id: &str,
    now_micros: i64,
) -> Result<(), Refused> {
    if !row.active {
        return Err(Refused {
            error: Error::TokenInactive(String::new()),
            revoke_grant: true,
        });
    }
    if row.expires_at > 0 && row.expires_at < now_micros {
        return Err(Refused::plain(Error::InvalidGrant(String::new())));
    }
    if row.client_id != client_id {
        return Err(Refused::plain(Error::InvalidGrant("The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance.".into())));
    }
    Ok(())
}

/// The code exchange's `redirect_uri` must be the authorize request's when that named one.
pub fn check_redirect_uri(session: &GrantSession, given: Option<&str>) -> Result<()> {
    if !session.redirect_uri.is_empty() && given != Some(session.redirect_uri.as_str()) {
        return Err(Error::InvalidGrant("The \"redirect_uri\" from this request does not match the one from the authorize request.".into()));
    }
    Ok(())
}

/// fosite's PKCE handler at the token endpoint: nothing to check without a challenge and a
/// verifier; else the verifier's length and alphabet, then the S256 comparison (with no
/// challenge stored, any verifier fails it).
pub fn check_code_verifier(challenge: &str, verifier: &str) -> Result<()> {
    if challenge.is_empty() && verifier.is_empty() {
        return Ok(());
    }
    let invalid = |hint: &str| Err(Error::InvalidGrant(hint.into()));
    if verifier.len() < 43 {
        return invalid("The PKCE code verifier must be at least 43 characters.");
    }
    if verifier.len() > 128 {
        return invalid("The PKCE code verifier can not be longer than 128 characters.");
    }
    if !verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return invalid(
            "The PKCE code verifier must only contain [a-Z], [0-9], '-', '.', '_', '~'.",
        );
    }
    let derived = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !crate::crypto::constant_time_eq(derived.as_bytes(), challenge.as_bytes()) {
        return invalid("The PKCE code challenge did not match the code verifier.");
    }
    Ok(())
}

/// Whether `client` may use `grant` (checked before the grant's own handler, for every grant
/// but client_credentials, whose handler checks last). fosite's handlers quote the grant
/// differently.
pub fn check_grant_allowed(client: &Client, grant: GrantType) -> Result<()> {
    let name = grant.as_str();
    if client.effective_grant_types().iter().any(|g| g == name) {
        return Ok(());
    }
    let quoted = match grant {
        GrantType::AuthorizationCode | GrantType::JwtBearer => format!("\"{name}\""),
        _ => format!("'{name}'"),
    };
    Err(Error::UnauthorizedClient(format!(
        "The OAuth 2.0 Client is not allowed to use authorization grant {quoted}."
    )))
}

/// The end of fosite's client_credentials handler (after scope and audience): a public client
/// may not use it, nor a client without the grant type.
pub fn check_client_credentials(client: &Client) -> Result<()> {
    if client.is_public() {
        return Err(Error::InvalidGrant("The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'.".into()));
    }
    if !client
        .effective_grant_types()
        .iter()
        .any(|g| g == "client_credentials")
    {
        return Err(Error::UnauthorizedClient(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'."
                .into(),
        ));
    }
    Ok(())
}

/// The audience of a jwt-bearer token: the assertion's `aud`, plus the requested audiences
/// the client may use (`allowed`), each once.
pub fn assertion_audience(
    claims: &Map<String, Value>,
    requested: Vec<String>,
    allowed: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut audience: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    for a in requested {
        if allowed(&a) && !audience.contains(&a) {
            audience.push(a);
        }
    }
    audience
}

/// The answer of a grant that issues an access token only.
pub fn access_token_answer(access_token: &str, expires_in: u64, scope: &[String]) -> Value {
    json!({"access_token": access_token, "expires_in": expires_in, "scope": scope.join(" "), "token_type": "bearer"})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(active: bool, expires_at: i64, client_id: &str) -> TokenRow {
        TokenRow {
            signature: "sig".into(),
            kind: Kind::Code,
            request_id: "r".into(),
            client_id: client_id.into(),
            subject: "alice".into(),
            active,
            requested_at: 0,
            expires_at,
            session: "{}".into(),
        }
    }

    fn client(grant_types: &[&str], method: &str) -> Client {
        Client {
            client_id: "app".into(),
            grant_types: grant_types.iter().map(|g| g.to_string()).collect(),
            token_endpoint_auth_method: method.into(),
            ..Client::default()
        }
    }

    #[test]
    fn grant_types_parse_once_and_an_unknown_one_is_no_other() {
        for g in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::JwtBearer,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Ok(g));
        }
        assert_eq!(GrantType::parse(""), Err(GrantTypeError::Missing));
        assert_eq!(
            GrantType::parse("password"),
            Err(GrantTypeError::UnsupportedGrantType("password".into()))
        );
        assert_eq!(
            GrantType::parse("refresh"),
            Err(GrantTypeError::UnsupportedGrantType("refresh".into()))
        );
        let (_, code, description) = Error::from(GrantTypeError::Missing).parts();
        assert_eq!(code, "invalid_request");
        assert!(description.ends_with("'grant_type' is missing"));
    }

    #[test]
    fn a_used_code_revokes_its_grant_and_an_expired_one_is_unknown() {
        assert!(check_code(&row(true, 10, "app"), "app", 5).is_ok());
        let used = check_code(&row(false, 10, "app"), "app", 5).unwrap_err();
        assert!(used.revoke_grant);
        assert!(used.error.to_string().contains("already been used"));
        let expired = check_code(&row(true, 10, "app"), "app", 11).unwrap_err();
        assert!(!expired.revoke_grant);
        assert_eq!(
            expired.error.parts().2,
            Error::InvalidGrant(String::new()).parts().2
        );
        let other = check_code(&row(true, 10, "app"), "other", 5).unwrap_err();
        assert!(other.error.to_string().contains("does not match"));
    }

    #[test]
    fn a_reused_refresh_token_is_inactive_and_revokes_its_grant() {
        let reused = check_refresh_token(&row(false, 0, "app"), "app", 5).unwrap_err();
        assert!(reused.revoke_grant);
        assert_eq!(reused.error.parts().1, "token_inactive");
        // An expiry of 0 never expires; a past one is an unknown token.
        assert!(check_refresh_token(&row(true, 0, "app"), "app", i64::MAX).is_ok());
        assert!(check_refresh_token(&row(true, 4, "app"), "app", 5).is_err());
        assert!(check_refresh_token(&row(true, 0, "app"), "b", 5).is_err());
    }

    #[test]
    fn pkce_checks_length_alphabet_and_s256() {
        assert!(check_code_verifier("", "").is_ok());
        let verifier = "a".repeat(43);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        assert!(check_code_verifier(&challenge, &verifier).is_ok());
        assert!(check_code_verifier(&challenge, &"b".repeat(43)).is_err());
        assert!(check_code_verifier(&challenge, "short").is_err());
        assert!(check_code_verifier(&challenge, &"a".repeat(129)).is_err());
        assert!(check_code_verifier(&challenge, &format!("{verifier}!")).is_err());
        assert!(
            check_code_verifier("", &verifier).is_err(),
            "no challenge stored"
        );
    }

    #[test]
    fn grants_a_client_may_use_and_what_its_answers_carry() {
        let c = client(
            &["authorization_code", "refresh_token"],
            "client_secret_basic",
        );
        assert!(check_grant_allowed(&c, GrantType::RefreshToken).is_ok());
        let e = check_grant_allowed(&c, GrantType::JwtBearer).unwrap_err();
        assert!(e.to_string().contains("grant \"urn:ietf"), "{e}");
        let e = check_grant_allowed(&client(&[], "none"), GrantType::RefreshToken).unwrap_err();
        assert!(e.to_string().contains("grant 'refresh_token'"), "{e}");
        assert!(check_client_credentials(&client(&["client_credentials"], "none")).is_err());
        assert!(check_client_credentials(&client(&["client_credentials"], "x")).is_ok());
        assert!(check_client_credentials(&client(&[], "x")).is_err());

        let mut session = GrantSession {
            granted_scope: vec!["offline".into()],
            ..GrantSession::default()
        };
        assert!(session.issues_refresh_token(&c));
        assert!(!session.issues_refresh_token(&client(&["authorization_code"], "x")));
        assert!(!session.openid());
        session.granted_scope.push("openid".into());
        assert!(session.openid());
    }

    #[test]
    fn a_jwt_bearer_audience_adds_the_allowed_requested_ones_once() {
        let claims = json!({"aud": ["https://token", "a"]});
        let audience = assertion_audience(
            claims.as_object().unwrap(),
            vec!["a".into(), "b".into(), "c".into()],
            |a| a != "c",
        );
        assert_eq!(audience, ["https://token", "a", "b"]);
    }
}
