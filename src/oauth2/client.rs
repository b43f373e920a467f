//! The OAuth 2.0 client as Hydra 2.2 puts it on the wire (`oAuth2Client`), Hydra's defaults and
//! validation (`client/validator.go`). Pure: no I/O, the caller supplies ids, times and hashes.
//! Arrays are always `[]` and objects `{}` on the wire, never `null` (the Python SDK rejects null).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::strategy::valid_lifespan;

/// The ten per-grant lifespan fields, in the order Hydra lists them.
pub const LIFESPANS: [&str; 10] = [
    "authorization_code_grant_access_token_lifespan",
    "authorization_code_grant_id_token_lifespan",
    "authorization_code_grant_refresh_token_lifespan",
    "client_credentials_grant_access_token_lifespan",
    "implicit_grant_access_token_lifespan",
    "implicit_grant_id_token_lifespan",
    "jwt_bearer_grant_access_token_lifespan",
    "refresh_token_grant_access_token_lifespan",
    "refresh_token_grant_id_token_lifespan",
    "refresh_token_grant_refresh_token_lifespan",
];

/// A client in Hydra's JSON shape; also the stored document (without the secret).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Client {
    pub client_id: String,
    pub client_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_secret_expires_at: i64,
    pub client_uri: String,
    pub contacts: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub scope: String,
    pub audience: Vec<String>,
    pub owner: String,
    pub policy_uri: String,
    pub allowed_cors_origins: Vec<String>,
    pub tos_uri: String,
    pub logo_uri: String,
    pub post_logout_redirect_uris: Vec<String>,
    pub request_uris: Vec<String>,
    pub jwks: Value,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwks_uri: String,
    pub subject_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sector_identifier_uri: String,
    pub token_endpoint_auth_method: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token_endpoint_auth_signing_alg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_object_signing_alg: String,
    pub userinfo_signed_response_alg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub frontchannel_logout_uri: String,
    pub frontchannel_logout_session_required: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub backchannel_logout_uri: String,
    pub backchannel_logout_session_required: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access_token_strategy: String,
    pub skip_consent: bool,
    #[serde(deserialize_with = "null_false")]
    pub skip_logout_consent: bool,
    pub metadata: Value,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_code_grant_access_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_code_grant_id_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_code_grant_refresh_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_credentials_grant_access_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit_grant_access_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit_grant_id_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_bearer_grant_access_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_grant_access_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_grant_id_token_lifespan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_grant_refresh_token_lifespan: Option<String>,
}

fn null_false<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// Where a client document comes from: the admin API or dynamic registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Admin,
    Dynamic,
}

/// What validation needs from the config.
pub struct Policy<'a> {
    pub default_scope: &'a [String],
    pub subject_types: &'a [String],
    pub dev: bool,
}

impl Client {
    /// Parses a client document; `null` for any array or object field counts as absent.
    pub fn from_json(mut value: Value) -> Result<Client> {
        if let Value::Object(map) = &mut value {
            map.retain(|_, v| !v.is_null());
        } else {
            return Err(Error::BadRequest(
                "The request body must be a JSON object describing the OAuth 2.0 client.".into(),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| Error::BadRequest(format!("Unable to decode the client: {e}")))
    }

    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == "none"
    }

    pub fn effective_grant_types(&self) -> Vec<String> {
        if self.grant_types.is_empty() {
            vec!["authorization_code".into()]
        } else {
            self.grant_types.clone()
        }
    }

    pub fn effective_response_types(&self) -> Vec<String> {
        if self.response_types.is_empty() {
            vec!["code".into()]
        } else {
            self.response_types.clone()
        }
    }

    pub fn scopes(&self) -> Vec<String> {
        self.scope.split_whitespace().map(str::to_string).collect()
    }

    fn lifespan_mut(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "authorization_code_grant_access_token_lifespan" => {
                &mut self.authorization_code_grant_access_token_lifespan
            }
            "authorization_code_grant_id_token_lifespan" => {
                &mut self.authorization_code_grant_id_token_lifespan
            }
            "authorization_code_grant_refresh_token_lifespan" => {
                &mut self.authorization_code_grant_refresh_token_lifespan
            }
            "client_credentials_grant_access_token_lifespan" => {
                &mut self.client_credentials_grant_access_token_lifespan
            }
            "implicit_grant_access_token_lifespan" => {
                &mut self.implicit_grant_access_token_lifespan
            }
            "implicit_grant_id_token_lifespan" => &mut self.implicit_grant_id_token_lifespan,
            "jwt_bearer_grant_access_token_lifespan" => {
                &mut self.jwt_bearer_grant_access_token_lifespan
            }
            "refresh_token_grant_access_token_lifespan" => {
                &mut self.refresh_token_grant_access_token_lifespan
            }
            "refresh_token_grant_id_token_lifespan" => {
                &mut self.refresh_token_grant_id_token_lifespan
            }
            "refresh_token_grant_refresh_token_lifespan" => {
                &mut self.refresh_token_grant_refresh_token_lifespan
            }
            _ => return None,
        })
    }

    pub fn lifespan(&self, field: &str) -> Option<&str> {
        match field {
            "authorization_code_grant_access_token_lifespan" => self
                .authorization_code_grant_access_token_lifespan
                .as_deref(),
            "authorization_code_grant_id_token_lifespan" => {
                self.authorization_code_grant_id_token_lifespan.as_deref()
            }
            "authorization_code_grant_refresh_token_lifespan" => self
                .authorization_code_grant_refresh_token_lifespan
                .as_deref(),
            "client_credentials_grant_access_token_lifespan" => self
                .client_credentials_grant_access_token_lifespan
                .as_deref(),
            "implicit_grant_access_token_lifespan" => {
                self.implicit_grant_access_token_lifespan.as_deref()
            }
            "implicit_grant_id_token_lifespan" => self.implicit_grant_id_token_lifespan.as_deref(),
            "jwt_bearer_grant_access_token_lifespan" => {
                self.jwt_bearer_grant_access_token_lifespan.as_deref()
            }
            "refresh_token_grant_access_token_lifespan" => {
                self.refresh_token_grant_access_token_lifespan.as_deref()
            }
            "refresh_token_grant_id_token_lifespan" => {
                self.refresh_token_grant_id_token_lifespan.as_deref()
            }
            "refresh_token_grant_refresh_token_lifespan" => {
                self.refresh_token_grant_refresh_token_lifespan.as_deref()
            }
            _ => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// Applies Hydra's defaults and validation rules; errors are RFC 7591 codes. The checks run
    /// in Hydra's order (the first failure is the answer).
    pub fn validate(&mut self, origin: Origin, policy: &Policy<'_>) -> Result<()> {
        if origin == Origin::Dynamic {
            self.check_dynamic()?;
        }
        self.check_auth_method()?;
        self.check_jwks()?;
        self.apply_defaults(policy)?;
        self.check_redirect_uris()?;
        self.check_other_uris()?;
        self.normalize_cors_origins()?;
        self.normalize_lifespans()?;
        let _ = policy.dev;
        self.client_secret_expires_at = 0;
        Ok(())
    }

    /// What dynamic client registration may not set.
    fn check_dynamic(&self) -> Result<()> {
        // A chosen `client_secret` is refused by the registration handlers before
        // validation, with Hydra's herodot errors (400 on create, 403 on update).
        if !self.metadata.is_null() && self.metadata != Value::Object(Map::new()) {
            return Err(Error::InvalidClientMetadata(
                "It is not allowed to set metadata via dynamic client registration.".into(),
            ));
        }
        if !self.access_token_strategy.is_empty() {
            return Err(Error::InvalidClientMetadata("It is not allowed to set the access token strategy via dynamic client registration.".into()));
        }
        if self.skip_consent || self.skip_logout_consent {
            return Err(Error::InvalidClientMetadata(
                "It is not allowed to skip consent via dynamic client registration.".into(),
            ));
        }
        Ok(())
    }

    /// `token_endpoint_auth_method` (default `client_secret_basic`) and its signing algorithm.
    fn check_auth_method(&mut self) -> Result<()> {
        if self.token_endpoint_auth_method.is_empty() {
            self.token_endpoint_auth_method = "client_secret_basic".into();
        }
        match self.token_endpoint_auth_method.as_str() {
            "client_secret_basic" | "client_secret_post" | "none" => {}
            "private_key_jwt" => {
                if self.jwks_uri.is_empty() && !has_keys(&self.jwks) {
                    return Err(Error::InvalidClientMetadata("When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.".into()));
                }
                if self.token_endpoint_auth_signing_alg.is_empty() {
                    self.token_endpoint_auth_signing_alg = "RS256".into();
                }
            }
            other => {
                return Err(Error::InvalidClientMetadata(format!(
                    "Field token_endpoint_auth_method must be one of client_secret_basic, client_secret_post, private_key_jwt, none, not '{other}'."
                )))
            }
        }
        if !self.token_endpoint_auth_signing_alg.is_empty()
            && !matches!(
                self.token_endpoint_auth_signing_alg.as_str(),
                "RS256"
                    | "RS384"
                    | "RS512"
                    | "PS256"
                    | "PS384"
                    | "PS512"
                    | "ES256"
                    | "ES384"
                    | "ES512"
            )
        {
            return Err(Error::InvalidClientMetadata("Field token_endpoint_auth_signing_alg must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512.".into()));
        }
        Ok(())
    }

    /// `jwks` (an object of valid keys, `{}` by default) and `jwks_uri`, not both.
    fn check_jwks(&mut self) -> Result<()> {
        if !self.jwks_uri.is_empty() && has_keys(&self.jwks) {
            return Err(Error::InvalidClientMetadata(
                "Fields jwks and jwks_uri can not both be set, you must choose one.".into(),
            ));
        }
        if self.jwks.is_null() {
            self.jwks = Value::Object(Map::new());
        } else if has_keys(&self.jwks) {
            let keys = self
                .jwks
                .get("keys")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for key in keys {
                let Value::Object(map) = key else {
                    return Err(Error::InvalidClientMetadata(
                        "Field jwks must contain valid JSON Web Keys.".into(),
                    ));
                };
                if josekit::jwk::Jwk::from_map(map).is_err() {
                    return Err(Error::InvalidClientMetadata(
                        "Field jwks must contain valid JSON Web Keys.".into(),
                    ));
                }
            }
        } else if !self.jwks.is_object() {
            return Err(Error::InvalidClientMetadata(
                "Field jwks must be a JSON Web Key Set object.".into(),
            ));
        }
        Ok(())
    }

    /// The secret's length, and the defaults and allowed values of `metadata`, `scope`,
    /// `subject_type`, `userinfo_signed_response_alg` and `access_token_strategy`.
    fn apply_defaults(&mut self, policy: &Policy<'_>) -> Result<()> {
        if self.metadata.is_null() {
            self.metadata = Value::Object(Map::new());
        }
        if let Some(secret) = &self.client_secret {
            if !secret.is_empty() && secret.len() < 6 {
                return Err(Error::InvalidClientMetadata(
                    "Field client_secret must contain a secret that is at least 6 characters long."
                        .into(),
                ));
            }
        }
        if self.scope.trim().is_empty() {
            self.scope = policy.default_scope.join(" ");
        }
        if self.subject_type.is_empty() {
            self.subject_type = policy
                .subject_types
                .first()
                .cloned()
                .unwrap_or_else(|| "public".into());
        } else if !policy.subject_types.contains(&self.subject_type) {
            return Err(Error::InvalidClientMetadata(format!(
                "Subject type {} is not supported by server, only {:?} are allowed.",
                self.subject_type, policy.subject_types
            )));
        }
        if self.userinfo_signed_response_alg.is_empty() {
            self.userinfo_signed_response_alg = "none".into();
        }
        if !matches!(self.userinfo_signed_response_alg.as_str(), "none" | "RS256") {
            return Err(Error::InvalidClientMetadata(
                "Field userinfo_signed_response_alg can either be 'none' or 'RS256'.".into(),
            ));
        }
        if !matches!(self.access_token_strategy.as_str(), "" | "opaque" | "jwt") {
            return Err(Error::InvalidClientMetadata(
                "Field access_token_strategy must be 'opaque' or 'jwt'.".into(),
            ));
        }
        Ok(())
    }

    /// Redirect and post-logout redirect URIs: absolute, no script scheme, no fragment; a
    /// post-logout URI on the scheme, host and port of a redirect URI.
    fn check_redirect_uris(&self) -> Result<()> {
        for uri in &self.redirect_uris {
            let parsed = absolute(uri).ok_or_else(|| {
                Error::InvalidRedirectUri(format!(
                    "Redirect URL '{uri}' is not a valid absolute URL."
                ))
            })?;
            if let Some(scheme) = script_scheme(&parsed) {
                return Err(Error::InvalidRedirectUri(format!(
                    "Redirect URL '{uri}' uses the scheme '{scheme}:', which is not allowed; use https (or http for loopback), or a custom scheme of a native app."
                )));
            }
            if uri.contains('#') {
                return Err(Error::InvalidRedirectUri(format!(
                    "Redirect URIs must not contain fragments (#): {uri}"
                )));
            }
        }
        for uri in &self.post_logout_redirect_uris {
            let parsed = absolute(uri).ok_or_else(|| {
                Error::InvalidClientMetadata(format!(
                    "Post logout redirect URI '{uri}' is not a valid absolute URL."
                ))
            })?;
            if let Some(scheme) = script_scheme(&parsed) {
                return Err(Error::InvalidClientMetadata(format!(
                    "Post logout redirect URI '{uri}' uses the scheme '{scheme}:', which is not allowed."
                )));
            }
            let matches = self
                .redirect_uris
                .iter()
                .filter_map(|r| url::Url::parse(r).ok())
                .any(|r| {
                    r.scheme() == parsed.scheme()
                        && r.host_str() == parsed.host_str()
                        && r.port_or_known_default() == parsed.port_or_known_default()
                });
            if !matches {
                return Err(Error::InvalidClientMetadata(format!(
                    "post_logout_redirect_uri '{uri}' must match the domain, port, scheme of at least one of the registered redirect URIs but did not"
                )));
            }
        }
        Ok(())
    }

    /// The logout URIs are http(s); no other URI field uses a script scheme.
    fn check_other_uris(&self) -> Result<()> {
        for (field, uri) in [
            ("frontchannel_logout_uri", &self.frontchannel_logout_uri),
            ("backchannel_logout_uri", &self.backchannel_logout_uri),
        ] {
            if !uri.is_empty() && !absolute(uri).is_some_and(|u| is_web(&u)) {
                return Err(Error::InvalidClientMetadata(format!(
                    "Field {field} must be an absolute http or https URL, not '{uri}'."
                )));
            }
        }
        let other_uris = [
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
            ("jwks_uri", &self.jwks_uri),
            ("sector_identifier_uri", &self.sector_identifier_uri),
        ]
        .into_iter()
        .chain(self.request_uris.iter().map(|u| ("request_uris", u)));
        for (field, uri) in other_uris {
            if let Some(scheme) = url::Url::parse(uri).ok().as_ref().and_then(script_scheme) {
                return Err(Error::InvalidClientMetadata(format!(
                    "Field {field} uses the scheme '{scheme}:', which is not allowed: '{uri}'."
                )));
            }
        }
        Ok(())
    }

    /// `allowed_cors_origins` as origins (`scheme://host[:port]`).
    fn normalize_cors_origins(&mut self) -> Result<()> {
        for origin in &mut self.allowed_cors_origins {
            let parsed = url::Url::parse(origin).map_err(|_| {
                Error::InvalidClientMetadata(format!("Origin URL {origin} is not a valid URL."))
            })?;
            if !matches!(parsed.scheme(), "http" | "https")
                || !parsed.username().is_empty()
                || parsed.password().is_some()
                || parsed.query().is_some()
                || parsed.fragment().is_some()
                || parsed.path() != "/"
            {
                return Err(Error::InvalidClientMetadata(format!("Origin URL {origin} must use http or https and must not contain a user, path, query or fragment.")));
            }
            *origin = parsed.origin().ascii_serialization();
        }
        Ok(())
    }

    /// The lifespan fields as Go durations (Hydra answers `5m` as `5m0s`).
    fn normalize_lifespans(&mut self) -> Result<()> {
        for field in LIFESPANS {
            if let Some(slot) = self.lifespan_mut(field) {
                if let Some(value) = slot.as_deref() {
                    // Hydra stores a time.Duration and answers with its String() ("5m" → "5m0s").
                    let parsed = valid_lifespan(value)
                        .then(|| super::strategy::parse_duration(value))
                        .flatten()
                        .ok_or_else(|| Error::BadRequest(format!("Field {field} must be a duration like '1h', '30m', '10s' or '1h30m', not '{value}'.")))?;
                    *slot = Some(super::strategy::format_duration(parsed));
                }
            }
        }
        Ok(())
    }

    /// Hydra's pairwise subject identifier (`consent/subject_identifier_algorithm_pairwise.go`):
    /// hex SHA-256 of the sector identifier ‖ subject ‖ salt, where the sector identifier is
    /// the client's `sector_identifier_uri` (the whole URI, as Hydra) or else the host of its
    /// only redirect URI. A client with several redirect URIs and no sector identifier, or none
    /// at all, is refused (`invalid_request`).
    pub fn pairwise_subject(&self, subject: &str, salt: &str) -> Result<String> {
        use sha2::Digest;
        let sector = if !self.sector_identifier_uri.is_empty() {
            self.sector_identifier_uri.clone()
        } else {
            match self.redirect_uris.as_slice() {
                [one] => url::Url::parse(one)
                    .ok()
                    .map(|u| match (u.host_str(), u.port()) {
                        (Some(h), Some(p)) => format!("{h}:{p}"),
                        (Some(h), None) => h.to_string(),
                        _ => String::new(),
                    })
                    .unwrap_or_default(),
                [] => return Err(Error::InvalidRequest(format!("OAuth 2.0 Client {} neither specifies a sector_identifier_uri nor a redirect_uri which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.", self.client_id))),
                _ => return Err(Error::InvalidRequest(format!("OAuth 2.0 Client {} has multiple redirect_uris but no sector_identifier_uri was set which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.", self.client_id))),
            }
        };
        let digest = sha2::Sha256::digest(format!("{sector}{subject}{salt}").as_bytes());
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The client as the admin API shows it: no secret, no registration token.
    pub fn without_secrets(mut self) -> Client {
        self.client_secret = None;
        self.registration_access_token = None;
        self.registration_client_uri = None;
        self
    }
}

/// `uri` parsed when it is absolute in Go's `url.ParseRequestURI` sense: a scheme followed by a
/// path that starts with `/` (`https://…`, `com.example.app:/cb`), not an opaque
/// `scheme:text` such as `javascript:alert(1)` or `data:text/html,…`.
fn absolute(uri: &str) -> Option<url::Url> {
    url::Url::parse(uri).ok().filter(|u| !u.cannot_be_a_base())
}

/// The scheme of `url` when a browser would run or render it as content of the page that
/// follows it (`javascript:`, `vbscript:`, `data:`), however it was spelled.
fn script_scheme(url: &url::Url) -> Option<&str> {
    let scheme = url.scheme();
    matches!(scheme, "javascript" | "vbscript" | "data").then_some(scheme)
}

/// Whether `url` is an http(s) URL with a host.
fn is_web(url: &url::Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

fn has_keys(jwks: &Value) -> bool {
    jwks.get("keys")
        .and_then(Value::as_array)
        .is_some_and(|k| !k.is_empty())
}

/// Hydra's generated secret: 26 characters from `[a-zA-Z0-9_-.~]`.
pub fn generate_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~";
    let mut rng = rand::rngs::OsRng;
    (0..26)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> (Vec<String>, Vec<String>) {
        (
            vec!["offline_access".into(), "offline".into(), "openid".into()],
            vec!["public".into()],
        )
    }

    #[test]
    fn defaults_are_hydras_and_nothing_is_null() {
        let (scope, types) = policy();
        let p = Policy {
            default_scope: &scope,
            subject_types: &types,
            dev: true,
        };
        let mut c =
            Client::from_json(json!({"grant_types": null, "skip_logout_consent": null})).unwrap();
        c.validate(Origin::Admin, &p).unwrap();
        assert_eq!(c.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(c.scope, "offline_access offline openid");
        assert_eq!(c.subject_type, "public");
        assert_eq!(c.userinfo_signed_response_alg, "none");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["grant_types"], json!([]));
        assert_eq!(v["jwks"], json!({}));
        assert_eq!(v["metadata"], json!({}));
        assert_eq!(v["skip_logout_consent"], json!(false));
        assert!(v
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| !v.is_null() || k.ends_with("_lifespan")));
    }

    #[test]
    fn invalid_metadata_is_rejected() {
        let (scope, types) = policy();
        let p = Policy {
            default_scope: &scope,
            subject_types: &types,
            dev: true,
        };
        for (doc, code) in [
            (
                json!({"redirect_uris": ["not a url"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb#x"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"token_endpoint_auth_method": "client_secret_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (json!({"client_secret": "short"}), "invalid_client_metadata"),
            (
                json!({"subject_type": "pairwise"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris": ["https://b.example/"]}),
                "invalid_client_metadata",
            ),
        ] {
            let mut c = Client::from_json(doc.clone()).unwrap();
            let err = c.validate(Origin::Admin, &p).unwrap_err();
            assert_eq!(err.parts().1, code, "{doc}");
        }
        let mut c = Client::from_json(json!({"metadata": {"a": 1}})).unwrap();
        assert!(c.validate(Origin::Dynamic, &p).is_err());
    }

    #[test]
    fn script_schemes_are_refused_in_every_uri_field() {
        let (scope, types) = policy();
        let p = Policy {
            default_scope: &scope,
            subject_types: &types,
            dev: true,
        };
        let evil = [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "javascript://rp.example/%0aalert(1)",
            " java\tscript://x/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "data:/text/html,x",
            "vbscript:msgbox(1)",
            "VBScript://x/msgbox(1)",
        ];
        let ok = json!({"redirect_uris": ["https://rp.example/cb"]});
        for bad in evil {
            for (field, value, code) in [
                ("redirect_uris", json!([bad]), "invalid_redirect_uri"),
                (
                    "post_logout_redirect_uris",
                    json!([bad]),
                    "invalid_client_metadata",
                ),
                (
                    "frontchannel_logout_uri",
                    json!(bad),
                    "invalid_client_metadata",
                ),
                (
                    "backchannel_logout_uri",
                    json!(bad),
                    "invalid_client_metadata",
                ),
                ("client_uri", json!(bad), "invalid_client_metadata"),
                ("logo_uri", json!(bad), "invalid_client_metadata"),
                ("request_uris", json!([bad]), "invalid_client_metadata"),
            ] {
                let mut doc = ok.clone();
                doc[field] = value;
                let mut c = Client::from_json(doc).unwrap();
                let err = c.validate(Origin::Admin, &p).unwrap_err();
                assert_eq!(err.parts().1, code, "{field} = {bad}");
            }
        }
        // what stays allowed: native apps' custom schemes, loopback http, plain web URLs
        let mut c = Client::from_json(json!({
            "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1:8080/cb", "https://rp.example/cb?x=%22"],
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "frontchannel_logout_uri": "https://rp.example/fc",
            "backchannel_logout_uri": "http://rp.example/bc",
            "client_uri": "https://rp.example/",
        }))
        .unwrap();
        c.validate(Origin::Admin, &p).unwrap();
        // the logout URIs must be http(s)
        let mut c =
            Client::from_json(json!({"frontchannel_logout_uri": "ftp://rp.example/fc"})).unwrap();
        assert_eq!(
            c.validate(Origin::Admin, &p).unwrap_err().parts().1,
            "invalid_client_metadata"
        );
    }

    fn hex_sha256(s: &str) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn pairwise_subject_hashes_sector_subject_and_salt_as_hydra() {
        let mut c: Client = serde_json::from_value(json!({"client_id": "c"})).unwrap();
        c.redirect_uris = vec!["https://rp.example:8443/cb?x=1".into()];
        assert_eq!(
            c.pairwise_subject("alice", "salty-salt").unwrap(),
            hex_sha256("rp.example:8443alicesalty-salt")
        );
        c.sector_identifier_uri = "https://rp.example/sector.json".into();
        c.redirect_uris.push("https://other.example/cb".into());
        assert_eq!(
            c.pairwise_subject("alice", "salty-salt").unwrap(),
            hex_sha256("https://rp.example/sector.jsonalicesalty-salt")
        );
        c.sector_identifier_uri.clear();
        let e = c.pairwise_subject("alice", "salty-salt").unwrap_err();
        assert!(e.to_string().contains("multiple redirect_uris"), "{e}");
        c.redirect_uris.clear();
        let e = c.pairwise_subject("alice", "salty-salt").unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }

    #[test]
    fn generated_secrets_have_hydras_alphabet() {
        let s = generate_secret();
        assert_eq!(s.len(), 26);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)));
    }
}
