//! The oauth2 role's settings, resolved once from its config (Hydra's defaults where the
//! config is silent), and the URLs derived from them: the issuer follows the bound public
//! listener when the config leaves it out ([`BoundUrls`]), and the login, consent, logout,
//! error and post-logout pages fall back to the role's own pages ([`UiPage`]). Pure but for
//! [`BoundUrls`], which the composition root fills once the ports are bound.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::secret::SecretHasher;
use super::strategy::{parse_duration, ScopeStrategy};
use super::trust::AssertionRules;
use crate::config::oauth2::{HookConfig, Oauth2OidcDiscovery};
use crate::config::{CorsConfig, Oauth2Config};
use crate::http::cors::HYDRA;

/// The key set that signs ID tokens (and signed userinfo, logout tokens).
pub const ID_TOKEN_SET: &str = "hydra.openid.id-token";
/// The key set that signs JWT access tokens.
pub const ACCESS_TOKEN_SET: &str = "hydra.jwt.access-token";

/// The actual URLs of the role's listeners once bound (filled by the composition root), so
/// that an issuer left out of the config follows an ephemeral port.
#[derive(Clone, Debug)]
pub struct BoundUrls {
    map: Arc<RwLock<BTreeMap<String, String>>>,
    /// Bumped on every `set`, so that background work can wait for the listeners.
    changed: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for BoundUrls {
    fn default() -> Self {
        BoundUrls {
            map: Arc::default(),
            changed: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

impl BoundUrls {
    pub fn set(&self, listener: &str, url: &str) {
        if let Ok(mut map) = self.map.write() {
            map.insert(listener.to_string(), url.to_string());
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn get(&self, listener: &str) -> Option<String> {
        self.map.read().ok().and_then(|m| m.get(listener).cloned())
    }

    /// Resolves once every listener in `names` is bound.
    pub async fn bound(&self, names: &[&str]) {
        let mut rx = self.changed.subscribe();
        let _ = rx
            .wait_for(|_| names.iter().all(|n| self.get(n).is_some()))
            .await;
    }
}

/// The pages of the login and consent UI (`urls.*`) a browser is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiPage {
    Login,
    Consent,
    Logout,
    Error,
    /// `prompt=registration`: `urls.registration`, else the login page.
    Registration,
    /// Where a finished logout lands (`urls.post_logout_redirect`).
    PostLogout,
}

impl UiPage {
    /// The page under `/oauth2/fallbacks/` the role serves when the config names none.
    fn fallback_path(self) -> &'static str {
        match self {
            UiPage::Login | UiPage::Registration => "login",
            UiPage::Consent => "consent",
            UiPage::Logout => "logout",
            UiPage::Error => "error",
            UiPage::PostLogout => "logout/callback",
        }
    }
}

/// The Ory Kratos whose sessions logouts disable (`urls.identity_provider`).
pub struct IdentityProvider {
    pub admin_url: String,
    /// Sent with every request (values may hold credentials).
    pub headers: Vec<(String, crate::config::Secret<String>)>,
}

/// The public listener's CORS settings that per-client CORS needs (`client_cors`).
#[derive(Debug, Clone)]
pub struct PublicCors {
    /// `serve.public.cors.allowed_origins` (empty: every origin, as Hydra's CORS library).
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub exposed_headers: Vec<String>,
}

impl PublicCors {
    /// `None` unless CORS is enabled on the public listener.
    pub fn from_config(cors: Option<&CorsConfig>) -> Option<PublicCors> {
        let cors = cors.filter(|c| c.enabled)?;
        let defaults = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Some(PublicCors {
            allowed_origins: cors.allowed_origins.clone().unwrap_or_default(),
            allow_credentials: cors.allow_credentials.unwrap_or(HYDRA.credentials),
            exposed_headers: cors
                .exposed_headers
                .clone()
                .unwrap_or_else(|| defaults(HYDRA.exposed)),
        })
    }
}

/// Settings resolved once from the config.
pub struct Settings {
    pub issuer: Option<String>,
    pub public: Option<String>,
    pub admin: Option<String>,
    pub login_url: Option<String>,
    pub consent_url: Option<String>,
    pub logout_url: Option<String>,
    pub error_url: Option<String>,
    pub post_logout_url: Option<String>,
    pub registration_url: Option<String>,
    pub dev: bool,
    pub scope_strategy: ScopeStrategy,
    pub jwt_access_tokens: bool,
    pub scope_claim: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Option<Duration>,
    pub id_ttl: Duration,
    pub code_ttl: Duration,
    pub flow_ttl: Duration,
    pub pkce_enforced: bool,
    pub pkce_public: bool,
    pub allowed_top_level_claims: Vec<String>,
    pub mirror_top_level_claims: bool,
    pub exclude_nbf: bool,
    pub default_grant_allowed_scope: bool,
    /// `oauth2.hashers`: how new client secrets are hashed.
    pub secret_hasher: SecretHasher,
    pub subject_types: Vec<String>,
    /// `oidc.subject_identifiers.pairwise.salt`.
    pub pairwise_salt: String,
    pub dcr_enabled: bool,
    pub dcr_default_scope: Vec<String>,
    pub broadcast_keys: Vec<String>,
    pub discovery: Oauth2OidcDiscovery,
    pub assertion: AssertionRules,
    /// `urls.identity_provider`: Kratos' admin URL and the headers sent to it.
    pub identity_provider: Option<IdentityProvider>,
    /// `serve.public.cors`, when enabled (per-client CORS, see `client_cors`).
    pub public_cors: Option<PublicCors>,
    /// `oauth2.token_hook`.
    pub token_hook: Option<HookConfig>,
    /// `oauth2.refresh_token_hook` (refresh grants only, before `token_hook`).
    pub refresh_token_hook: Option<HookConfig>,
}

/// Hydra's `SubjectTypesSupported`: the known types among the configured ones (`public` when
/// none), with `pairwise` dropped while JWT access tokens are the global strategy.
fn subject_types(c: &Oauth2Config) -> Vec<String> {
    let jwt = c.strategies.access_token.as_deref() == Some("jwt");
    let mut types: Vec<String> = c
        .oidc
        .subject_identifiers
        .supported_types
        .iter()
        .filter(|t| *t == "public" || (*t == "pairwise" && !jwt))
        .cloned()
        .collect();
    if types.is_empty() {
        types.push("public".into());
    }
    types
}

/// `ttl.refresh_token`: 720h by default, `-1` for never.
fn refresh_ttl(c: &Oauth2Config) -> Option<Duration> {
    match &c.ttl.refresh_token {
        Some(Value::Number(n)) if n.as_i64() == Some(-1) => None,
        Some(Value::String(s)) if s == "-1" => None,
        Some(Value::String(s)) => {
            Some(parse_duration(s).unwrap_or(Duration::from_secs(720 * 3600)))
        }
        _ => Some(Duration::from_secs(720 * 3600)),
    }
}

/// `oauth2.hashers`: bcrypt with its cost, else PBKDF2 with its iterations.
fn secret_hasher(c: &Oauth2Config) -> SecretHasher {
    match c.oauth2.hashers.algorithm.as_deref() {
        Some("bcrypt") => SecretHasher::Bcrypt {
            cost: c.oauth2.hashers.bcrypt.cost.unwrap_or(10).clamp(4, 31),
        },
        _ => SecretHasher::Pbkdf2 {
            iterations: c.oauth2.hashers.pbkdf2.iterations.unwrap_or(25_000).max(1),
        },
    }
}

fn duration_or(v: &Option<String>, default_secs: u64) -> Duration {
    v.as_deref()
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(default_secs))
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

impl Settings {
    pub fn from_config(c: &Oauth2Config, dev: bool) -> Settings {
        let o = &c.oauth2;
        let dcr = &c.oidc.dynamic_client_registration;
        Settings {
            issuer: nonempty(&c.urls.self_.issuer),
            public: nonempty(&c.urls.self_.public),
            admin: nonempty(&c.urls.self_.admin),
            login_url: nonempty(&c.urls.login),
            consent_url: nonempty(&c.urls.consent),
            logout_url: nonempty(&c.urls.logout),
            error_url: nonempty(&c.urls.error),
            post_logout_url: nonempty(&c.urls.post_logout_redirect),
            registration_url: nonempty(&c.urls.registration),
            dev,
            scope_strategy: ScopeStrategy::parse(c.strategies.scope.as_deref()),
            jwt_access_tokens: c.strategies.access_token.as_deref() == Some("jwt"),
            scope_claim: (c.strategies.jwt.scope_claim.clone()).unwrap_or_else(|| "list".into()),
            access_ttl: duration_or(&c.ttl.access_token, 3600),
            refresh_ttl: refresh_ttl(c),
            id_ttl: duration_or(&c.ttl.id_token, 3600),
            code_ttl: duration_or(&c.ttl.auth_code, 600),
            flow_ttl: duration_or(&c.ttl.login_consent_request, 1800),
            pkce_enforced: o.pkce.enforced.unwrap_or(false),
            pkce_public: o.pkce.enforced_for_public_clients.unwrap_or(false),
            allowed_top_level_claims: o.allowed_top_level_claims.clone(),
            mirror_top_level_claims: o.mirror_top_level_claims.unwrap_or(true),
            exclude_nbf: o.exclude_not_before_claim.unwrap_or(false),
            default_grant_allowed_scope: (o.client_credentials.default_grant_allowed_scope)
                .unwrap_or(false),
            secret_hasher: secret_hasher(c),
            subject_types: subject_types(c),
            pairwise_salt: (c.oidc.subject_identifiers.pairwise.salt.clone()).unwrap_or_default(),
            dcr_enabled: dcr.enabled.unwrap_or(false),
            dcr_default_scope: dcr.default_scope.clone().unwrap_or_else(|| {
                vec!["offline_access".into(), "offline".into(), "openid".into()]
            }),
            broadcast_keys: (c.webfinger.jwks.broadcast_keys.clone())
                .unwrap_or_else(|| vec![ID_TOKEN_SET.into()]),
            discovery: c.webfinger.oidc_discovery.clone(),
            assertion: AssertionRules {
                jti_optional: o.grant.jwt.jti_optional.unwrap_or(false),
                iat_optional: o.grant.jwt.iat_optional.unwrap_or(false),
                max_ttl_secs: duration_or(&o.grant.jwt.max_ttl, 720 * 3600).as_secs() as i64,
            },
            identity_provider: nonempty(&c.urls.identity_provider.url).map(|admin_url| {
                IdentityProvider {
                    admin_url,
                    headers: (c.urls.identity_provider.headers.clone())
                        .into_iter()
                        .collect(),
                }
            }),
            public_cors: PublicCors::from_config(c.serve.public.cors.as_ref()),
            token_hook: o.token_hook.clone(),
            refresh_token_hook: o.refresh_token_hook.clone(),
        }
    }

    /// `urls.self.issuer`, or the bound public URL when unset (or set to port 0).
    pub fn issuer(&self, bound: &BoundUrls) -> String {
        match &self.issuer {
            Some(i) if !i.contains(":0/") && !i.ends_with(":0") => i.clone(),
            _ => format!(
                "{}/",
                bound
                    .get("public")
                    .unwrap_or_else(|| "http://localhost:4444".into())
            ),
        }
    }

    /// `urls.self.public`, else the issuer, without a trailing slash.
    pub fn public_base(&self, bound: &BoundUrls) -> String {
        trim(self.public.as_deref().unwrap_or(&self.issuer(bound))).to_string()
    }

    /// `urls.self.admin`, else the bound admin URL.
    pub fn admin_base(&self, bound: &BoundUrls) -> String {
        match &self.admin {
            Some(a) => trim(a).to_string(),
            None => bound
                .get("admin")
                .unwrap_or_else(|| "http://localhost:4445".into()),
        }
    }

    /// The token endpoint's URL: the discovery document's, else the public one.
    pub fn token_url(&self, bound: &BoundUrls) -> String {
        self.discovery
            .token_url
            .clone()
            .unwrap_or_else(|| format!("{}/oauth2/token", self.public_base(bound)))
    }

    /// The configured URL of a UI page, else the role's fallback page.
    pub fn ui_url(&self, page: UiPage, bound: &BoundUrls) -> String {
        let configured = match page {
            UiPage::Login => self.login_url.clone(),
            UiPage::Consent => self.consent_url.clone(),
            UiPage::Logout => self.logout_url.clone(),
            UiPage::Error => self.error_url.clone(),
            UiPage::Registration => {
                (self.registration_url.clone()).or_else(|| self.login_url.clone())
            }
            UiPage::PostLogout => self.post_logout_url.clone(),
        };
        configured.unwrap_or_else(|| {
            format!(
                "{}/oauth2/fallbacks/{}",
                self.public_base(bound),
                page.fallback_path()
            )
        })
    }
}

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_is_disabled_under_the_jwt_access_token_strategy() {
        let mut c = Oauth2Config::default();
        assert_eq!(subject_types(&c), vec!["public".to_string()]);
        c.oidc.subject_identifiers.supported_types = vec!["pairwise".into(), "public".into()];
        assert_eq!(
            subject_types(&c),
            vec!["pairwise".to_string(), "public".into()]
        );
        c.strategies.access_token = Some("jwt".into());
        assert_eq!(subject_types(&c), vec!["public".to_string()]);
        c.oidc.subject_identifiers.supported_types = vec!["pairwise".into()];
        assert_eq!(subject_types(&c), vec!["public".to_string()]);
    }

    #[test]
    fn ui_pages_fall_back_to_the_roles_own_pages() {
        let mut c = Oauth2Config::default();
        c.urls.login = Some("https://ui.example/login".into());
        let s = Settings::from_config(&c, true);
        let bound = BoundUrls::default();
        bound.set("public", "http://127.0.0.1:4444");
        assert_eq!(s.issuer(&bound), "http://127.0.0.1:4444/");
        assert_eq!(s.ui_url(UiPage::Login, &bound), "https://ui.example/login");
        assert_eq!(
            s.ui_url(UiPage::Registration, &bound),
            "https://ui.example/login"
        );
        assert_eq!(
            s.ui_url(UiPage::PostLogout, &bound),
            "http://127.0.0.1:4444/oauth2/fallbacks/logout/callback"
        );
        assert_eq!(
            s.ui_url(UiPage::Consent, &bound),
            "http://127.0.0.1:4444/oauth2/fallbacks/consent"
        );
    }
}
