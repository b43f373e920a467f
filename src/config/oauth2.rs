//! Typed config of the oauth2 role: the Hydra v2.2 keys Quartet implements, under Hydra's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::{Secret, ServeEndpoint};

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
pub const EXTENSION_KEYS: &[&str] = &[];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Config {
    pub version: Option<String>,
    pub serve: Oauth2Serve,
    pub urls: Oauth2Urls,
    pub secrets: Oauth2Secrets,
    pub strategies: Oauth2Strategies,
    pub ttl: Oauth2Ttl,
    pub oauth2: Oauth2Oauth2,
    pub oidc: Oauth2Oidc,
    pub webfinger: Oauth2Webfinger,
    pub clients: Oauth2Clients,
}

/// `clients.*`: how the role calls URLs that OAuth 2.0 clients registered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Clients {
    pub http: Oauth2ClientsHttp,
}

/// `clients.http.*` (Hydra's SSRF guard): with `disallow_private_ip_ranges` (default `false`)
/// a client's `jwks_uri`, `request_uris`, `sector_identifier_uri` and `backchannel_logout_uri`
/// may not reach internal addresses, except the URLs listed in `private_ip_exception_urls`
/// (exact, case-sensitive match).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2ClientsHttp {
    pub disallow_private_ip_ranges: bool,
    pub private_ip_exception_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Serve {
    pub public: ServeEndpoint,
    pub admin: ServeEndpoint,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Urls {
    #[serde(rename = "self")]
    pub self_: Oauth2SelfUrls,
    pub login: Option<String>,
    pub consent: Option<String>,
    pub logout: Option<String>,
    pub error: Option<String>,
    pub post_logout_redirect: Option<String>,
    pub registration: Option<String>,
    pub identity_provider: Oauth2IdentityProvider,
}

/// `urls.identity_provider`: the Ory Kratos whose session a logout also disables (Hydra 2.2:
/// `DELETE <url>/admin/sessions/<identity_provider_session_id>` with `headers`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2IdentityProvider {
    /// Kratos' admin URL.
    pub url: Option<String>,
    /// Sent with every request to Kratos (values may hold credentials).
    pub headers: std::collections::BTreeMap<String, Secret<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2SelfUrls {
    pub issuer: Option<String>,
    pub public: Option<String>,
    pub admin: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Secrets {
    pub system: Vec<Secret<String>>,
    pub cookie: Vec<Secret<String>>,
}

/// `strategies.*`: how scopes match and which access-token format is issued.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Strategies {
    /// `exact` | `wildcard` (Hydra's schema default: wildcard).
    pub scope: Option<String>,
    /// `opaque` (default) | `jwt`.
    pub access_token: Option<String>,
    pub jwt: Oauth2JwtStrategy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2JwtStrategy {
    /// `list` (default) | `string` | `both`.
    pub scope_claim: Option<String>,
}

/// `ttl.*` as Go duration strings (`1h`, `30m`); `refresh_token` may be `-1` (never expires).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Ttl {
    pub login_consent_request: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<serde_json::Value>,
    pub id_token: Option<String>,
    pub auth_code: Option<String>,
}

/// The `oauth2.*` block of Hydra's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Oauth2 {
    pub exclude_not_before_claim: Option<bool>,
    pub allowed_top_level_claims: Vec<String>,
    pub mirror_top_level_claims: Option<bool>,
    pub pkce: Oauth2Pkce,
    pub client_credentials: Oauth2ClientCredentials,
    pub hashers: Oauth2Hashers,
    pub grant: Oauth2Grant,
    /// Called at every token issuance, any grant (Hydra's `oauth2/token_hook.go`).
    pub token_hook: Option<HookConfig>,
    /// The legacy hook called for `refresh_token` grants only, before `token_hook`.
    pub refresh_token_hook: Option<HookConfig>,
}

/// `oauth2.token_hook` / `oauth2.refresh_token_hook`: a URL, or Hydra's `webhook_config`
/// (`{url, auth: {type: api_key, config: {in, name, value}}}`). The URL must be an absolute
/// `http(s)` URL: Hydra drops a hook whose URL it cannot parse (with an error in its log), so
/// that its tokens go out without the hook's say; here such a config does not load.
#[derive(Debug, Clone)]
pub struct HookConfig {
    pub url: url::Url,
    pub auth: Option<HookApiKey>,
}

/// The API key a hook request carries: in a header (`in: header`) or a cookie (`in: cookie`);
/// with no `in`, none is sent (as Hydra).
#[derive(Debug, Clone, Deserialize)]
pub struct HookApiKey {
    #[serde(rename = "in", default)]
    pub in_: Option<String>,
    pub name: String,
    pub value: Secret<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HookConfigForm {
    Url(String),
    Webhook {
        url: String,
        #[serde(default)]
        auth: Option<HookAuthForm>,
    },
}

#[derive(Deserialize)]
struct HookAuthForm {
    #[serde(rename = "type")]
    kind: String,
    config: HookApiKey,
}

impl<'de> Deserialize<'de> for HookConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let form = HookConfigForm::deserialize(d).map_err(|_| {
            D::Error::custom(
                "expected a URL or {url, auth: {type: api_key, config: {in, name, value}}}",
            )
        })?;
        let (text, auth) = match form {
            HookConfigForm::Url(url) => (url, None),
            HookConfigForm::Webhook { url, auth } => (url, auth),
        };
        let url = url::Url::parse(&text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "the hook URL {text:?} is not an absolute http(s) URL"
                ))
            })?;
        let auth = match auth {
            None => None,
            Some(a) if a.kind == "api_key" => Some(a.config),
            Some(a) => {
                return Err(D::Error::custom(format!(
                    "unsupported hook auth type {:?} (only api_key)",
                    a.kind
                )))
            }
        };
        Ok(HookConfig { url, auth })
    }
}

/// `oauth2.grant.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Grant {
    pub jwt: Oauth2GrantJwt,
}

/// `oauth2.grant.jwt.*`: RFC 7523 assertion rules (Hydra: `false`, `false`, `720h`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2GrantJwt {
    pub jti_optional: Option<bool>,
    pub iat_optional: Option<bool>,
    pub max_ttl: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Pkce {
    pub enforced: Option<bool>,
    pub enforced_for_public_clients: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2ClientCredentials {
    pub default_grant_allowed_scope: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Hashers {
    /// `pbkdf2` (default) | `bcrypt`.
    pub algorithm: Option<String>,
    pub pbkdf2: Oauth2Pbkdf2,
    pub bcrypt: Oauth2Bcrypt,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Bcrypt {
    /// Hydra's default: 10 (4–31).
    pub cost: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Pbkdf2 {
    pub iterations: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Oidc {
    pub subject_identifiers: Oauth2SubjectIdentifiers,
    pub dynamic_client_registration: Oauth2Dcr,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2SubjectIdentifiers {
    pub supported_types: Vec<String>,
    pub pairwise: Oauth2Pairwise,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Pairwise {
    pub salt: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Dcr {
    pub enabled: Option<bool>,
    pub default_scope: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Webfinger {
    pub jwks: Oauth2WebfingerJwks,
    pub oidc_discovery: Oauth2OidcDiscovery,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2WebfingerJwks {
    pub broadcast_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2OidcDiscovery {
    pub jwks_url: Option<String>,
    pub token_url: Option<String>,
    pub auth_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub client_registration_url: Option<String>,
    pub supported_claims: Vec<String>,
    pub supported_scope: Vec<String>,
}
