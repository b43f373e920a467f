//! The oauth2 role's shared state and the operations every endpoint builds on: resolved
//! settings (issuer follows the bound public URL when the config leaves it out), key sets
//! (created on first use, sealed at rest), client authentication, and token issuance for
//! both access-token strategies. The clock is injected.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use josekit::jwk::Jwk;
use serde_json::{json, Map, Value};

use super::client::Client;
use super::error::{Error, Result};
use super::jose;
use super::store::{Store, TokenRow};
use super::strategy::{parse_duration, ScopeStrategy};
use super::token::{storage_key, Hmacer, Kind};
use crate::config::Oauth2Config;

pub const ID_TOKEN_SET: &str = "hydra.openid.id-token";
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

/// Generates a private JWK: `(alg, kid)` → key. Injected so that tests can hold generation
/// back; runs on a blocking thread.
pub type KeyGenerator = Arc<dyn Fn(&str, &str) -> Result<Jwk> + Send + Sync>;

/// The default generator: Hydra's sizes, or 2048-bit RSA under `--dev`.
pub fn key_generator(dev: bool) -> KeyGenerator {
    let bits = if dev {
        jose::DEV_RSA_BITS
    } else {
        jose::RSA_BITS
    };
    Arc::new(move |alg: &str, kid: &str| jose::generate(alg, kid, "sig", bits))
}

pub use crate::store::time::Clock;

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
    pub secret_hasher: super::secret::SecretHasher,
    pub subject_types: Vec<String>,
    /// `oidc.subject_identifiers.pairwise.salt`.
    pub pairwise_salt: String,
    pub dcr_enabled: bool,
    pub dcr_default_scope: Vec<String>,
    pub broadcast_keys: Vec<String>,
    pub discovery: crate::config::oauth2::Oauth2OidcDiscovery,
    pub assertion: super::trust::AssertionRules,
    /// `urls.identity_provider`: Kratos' admin URL and the headers sent to it.
    pub identity_provider: Option<IdentityProvider>,
    /// `serve.public.cors`, when enabled (per-client CORS, see `client_cors`).
    pub public_cors: Option<super::client_cors::PublicCors>,
    /// `oauth2.token_hook`.
    pub token_hook: Option<crate::config::oauth2::HookConfig>,
    /// `oauth2.refresh_token_hook` (refresh grants only, before `token_hook`).
    pub refresh_token_hook: Option<crate::config::oauth2::HookConfig>,
}

/// The Ory Kratos whose sessions logouts disable (`urls.identity_provider`).
pub struct IdentityProvider {
    pub admin_url: String,
    /// Sent with every request (values may hold credentials).
    pub headers: Vec<(String, crate::config::Secret<String>)>,
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

/// Hydra's pairwise subject identifier (`consent/subject_identifier_algorithm_pairwise.go`):
/// hex SHA-256 of the sector identifier ‖ subject ‖ salt, where the sector identifier is the
/// client's `sector_identifier_uri` (the whole URI, as Hydra) or else the host of its only
/// redirect URI. A client with several redirect URIs and no sector identifier, or none at all,
/// is refused (`invalid_request`).
pub fn pairwise_subject(client: &Client, subject: &str, salt: &str) -> Result<String> {
    use sha2::Digest;
    let sector = if !client.sector_identifier_uri.is_empty() {
        client.sector_identifier_uri.clone()
    } else {
        match client.redirect_uris.as_slice() {
            [one] => url::Url::parse(one)
                .ok()
                .map(|u| match (u.host_str(), u.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_string(),
                    _ => String::new(),
                })
                .unwrap_or_default(),
            [] => return Err(Error::InvalidRequest(format!("OAuth 2.0 Client {} neither specifies a sector_identifier_uri nor a redirect_uri which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.", client.client_id))),
            _ => return Err(Error::InvalidRequest(format!("OAuth 2.0 Client {} has multiple redirect_uris but no sector_identifier_uri was set which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.", client.client_id))),
        }
    };
    let digest = sha2::Sha256::digest(format!("{sector}{subject}{salt}").as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

impl Settings {
    pub fn from_config(c: &Oauth2Config, dev: bool) -> Settings {
        let dur = |v: &Option<String>, d: u64| {
            v.as_deref()
                .and_then(parse_duration)
                .unwrap_or(Duration::from_secs(d))
        };
        let refresh_ttl = match &c.ttl.refresh_token {
            Some(Value::Number(n)) if n.as_i64() == Some(-1) => None,
            Some(Value::String(s)) if s == "-1" => None,
            Some(Value::String(s)) => {
                Some(parse_duration(s).unwrap_or(Duration::from_secs(720 * 3600)))
            }
            _ => Some(Duration::from_secs(720 * 3600)),
        };
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
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
            scope_claim: c
                .strategies
                .jwt
                .scope_claim
                .clone()
                .unwrap_or_else(|| "list".into()),
            access_ttl: dur(&c.ttl.access_token, 3600),
            refresh_ttl,
            id_ttl: dur(&c.ttl.id_token, 3600),
            code_ttl: dur(&c.ttl.auth_code, 600),
            flow_ttl: dur(&c.ttl.login_consent_request, 1800),
            pkce_enforced: c.oauth2.pkce.enforced.unwrap_or(false),
            pkce_public: c.oauth2.pkce.enforced_for_public_clients.unwrap_or(false),
            allowed_top_level_claims: c.oauth2.allowed_top_level_claims.clone(),
            mirror_top_level_claims: c.oauth2.mirror_top_level_claims.unwrap_or(true),
            exclude_nbf: c.oauth2.exclude_not_before_claim.unwrap_or(false),
            default_grant_allowed_scope: c
                .oauth2
                .client_credentials
                .default_grant_allowed_scope
                .unwrap_or(false),
            secret_hasher: match c.oauth2.hashers.algorithm.as_deref() {
                Some("bcrypt") => super::secret::SecretHasher::Bcrypt {
                    cost: c.oauth2.hashers.bcrypt.cost.unwrap_or(10).clamp(4, 31),
                },
                _ => super::secret::SecretHasher::Pbkdf2 {
                    iterations: c.oauth2.hashers.pbkdf2.iterations.unwrap_or(25_000).max(1),
                },
            },
            subject_types: subject_types(c),
            pairwise_salt: c
                .oidc
                .subject_identifiers
                .pairwise
                .salt
                .clone()
                .unwrap_or_default(),
            dcr_enabled: c.oidc.dynamic_client_registration.enabled.unwrap_or(false),
            dcr_default_scope: c
                .oidc
                .dynamic_client_registration
                .default_scope
                .clone()
                .unwrap_or_else(|| {
                    vec!["offline_access".into(), "offline".into(), "openid".into()]
                }),
            broadcast_keys: c
                .webfinger
                .jwks
                .broadcast_keys
                .clone()
                .unwrap_or_else(|| vec![ID_TOKEN_SET.into()]),
            discovery: c.webfinger.oidc_discovery.clone(),
            assertion: super::trust::AssertionRules {
                jti_optional: c.oauth2.grant.jwt.jti_optional.unwrap_or(false),
                iat_optional: c.oauth2.grant.jwt.iat_optional.unwrap_or(false),
                max_ttl_secs: dur(&c.oauth2.grant.jwt.max_ttl, 720 * 3600).as_secs() as i64,
            },
            identity_provider: nonempty(&c.urls.identity_provider.url).map(|admin_url| {
                IdentityProvider {
                    admin_url,
                    headers: c
                        .urls
                        .identity_provider
                        .headers
                        .clone()
                        .into_iter()
                        .collect(),
                }
            }),
            public_cors: super::client_cors::PublicCors::from_config(c.serve.public.cors.as_ref()),
            token_hook: c.oauth2.token_hook.clone(),
            refresh_token_hook: c.oauth2.refresh_token_hook.clone(),
        }
    }
}

struct Inner {
    settings: Settings,
    store: Store,
    secrets: Vec<String>,
    hmac: Hmacer,
    /// Seals the browser cookies (login session, CSRF) with `secrets.cookie`, else
    /// `secrets.system`.
    cookies: crate::crypto::cookie::CookieSealer,
    bound: BoundUrls,
    clock: Clock,
    key_lock: tokio::sync::Mutex<()>,
    keygen: KeyGenerator,
    /// Set once the default key sets exist (created in the background at role start;
    /// endpoints that need keys await the same cell, so generation happens once).
    default_keys: tokio::sync::OnceCell<()>,
    /// The newest key of each set with its signer, by its sealed form: reused while the
    /// database still names it newest (checked on every use), so nothing here goes stale.
    signers: std::sync::Mutex<HashMap<String, (String, Arc<jose::SigningKey>)>>,
    secret_cache: super::secret_cache::SecretCache,
    /// Clients as last read, for client_credentials (see `client_cache`).
    client_cache: super::client_cache::ClientCache,
    /// Client JWK sets fetched from `jwks_uri`, by URI.
    jwks_cache: std::sync::Mutex<BTreeMap<String, (std::time::Instant, Value)>>,
    http: reqwest::Client,
    /// For URLs a client registered (`clients.http.*`, see `crate::http::outbound`).
    outbound: crate::http::outbound::Outbound,
    dummy_hash: OnceLock<String>,
}

/// The largest request object read from a `request_uri`.
const REQUEST_OBJECT_LIMIT: usize = 1 << 20;

/// The largest JWK set read from a client's `jwks_uri`.
pub const JWKS_LIMIT: usize = 1 << 20;

/// The largest `sector_identifier_uri` document read (Hydra's 5 MiB).
pub const SECTOR_IDENTIFIER_LIMIT: usize = 5 << 20;

/// How long a client's JWK set fetched from `jwks_uri` is reused.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);

/// The oauth2 role's service, cheap to clone (axum state).
#[derive(Clone)]
pub struct Oauth2 {
    inner: Arc<Inner>,
}

/// A verified token and what it carries.
pub struct ActiveToken {
    pub row: TokenRow,
}

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

impl Oauth2 {
    pub fn new(
        config: &Oauth2Config,
        dev: bool,
        store: Store,
        bound: BoundUrls,
        clock: Clock,
    ) -> Oauth2 {
        Self::with_key_generator(config, dev, store, bound, clock, key_generator(dev))
    }

    /// [`Oauth2::new`] with an injected key generator.
    pub fn with_key_generator(
        config: &Oauth2Config,
        dev: bool,
        store: Store,
        bound: BoundUrls,
        clock: Clock,
        keygen: KeyGenerator,
    ) -> Oauth2 {
        let mut secrets: Vec<String> = config
            .secrets
            .system
            .iter()
            .map(|s| s.expose().clone())
            .collect();
        if secrets.is_empty() {
            // `Stack` fills an empty list from the database (`app.rs`); a caller building the
            // state on its own (the client import) gets a per-process secret.
            secrets.push(crate::crypto::random_token(32));
        }
        let hmac = Hmacer::new(&secrets);
        // Hydra's cookie store: `secrets.cookie`, falling back to `secrets.system` (which
        // `Stack` fills from the database under `--dev`, so every instance agrees).
        let cookie_secrets: Vec<String> = config
            .secrets
            .cookie
            .iter()
            .map(|s| s.expose().clone())
            .filter(|s| !s.is_empty())
            .collect();
        let cookies = crate::crypto::cookie::CookieSealer::new(
            "oauth2",
            if cookie_secrets.is_empty() {
                &secrets
            } else {
                &cookie_secrets
            },
        );
        Oauth2 {
            inner: Arc::new(Inner {
                settings: Settings::from_config(config, dev),
                store,
                secrets,
                hmac,
                cookies,
                bound,
                clock,
                key_lock: tokio::sync::Mutex::new(()),
                keygen,
                default_keys: tokio::sync::OnceCell::new(),
                signers: Default::default(),
                secret_cache: super::secret_cache::SecretCache::new(
                    super::secret_cache::DEFAULT_TTL,
                    super::secret_cache::DEFAULT_CAPACITY,
                ),
                client_cache: super::client_cache::ClientCache::new(
                    super::client_cache::DEFAULT_CAPACITY,
                ),
                jwks_cache: std::sync::Mutex::new(BTreeMap::new()),
                http: crate::crypto::tls::http_client(Duration::from_secs(5)).unwrap_or_default(),
                outbound: crate::http::outbound::Outbound::new(
                    crate::http::outbound::OutboundPolicy {
                        disallow_private_ip_ranges: config.clients.http.disallow_private_ip_ranges,
                        private_ip_exception_urls: config
                            .clients
                            .http
                            .private_ip_exception_urls
                            .clone(),
                        timeout: crate::http::outbound::DEFAULT_TIMEOUT,
                    },
                ),
                dummy_hash: OnceLock::new(),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Seals and opens the role's browser cookies.
    pub fn cookie_sealer(&self) -> &crate::crypto::cookie::CookieSealer {
        &self.inner.cookies
    }

    /// fosite's scope check: every requested scope within the client's, by the configured
    /// strategy (`invalid_scope` naming the first that is not).
    pub fn check_scopes(&self, client: &Client, requested: &[String]) -> Result<()> {
        let allowed = client.scopes();
        match requested
            .iter()
            .find(|sc| !self.settings().scope_strategy.allows(&allowed, sc))
        {
            Some(sc) => Err(Error::InvalidScope(format!(
                "The OAuth 2.0 Client is not allowed to request scope '{sc}'."
            ))),
            None => Ok(()),
        }
    }

    /// fosite's audience matching strategy: every audience within the client's
    /// (`invalid_request` naming the first that is not).
    pub fn check_audience(&self, client: &Client, requested: &[String]) -> Result<()> {
        match requested
            .iter()
            .find(|a| !super::strategy::audience_allowed(&client.audience, a))
        {
            Some(a) => Err(Error::InvalidRequest(format!(
                "Requested audience \"{a}\" has not been whitelisted by the OAuth 2.0 Client."
            ))),
            None => Ok(()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The role's outgoing HTTP client (5 s timeout) for URLs from the config.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The guarded client for URLs that clients registered.
    pub fn outbound(&self) -> &crate::http::outbound::Outbound {
        &self.inner.outbound
    }

    pub fn hmac(&self) -> &Hmacer {
        &self.inner.hmac
    }

    pub fn now(&self) -> SystemTime {
        self.inner.clock.now_system()
    }

    pub fn now_micros(&self) -> i64 {
        self.inner.clock.now()
    }

    pub fn now_secs(&self) -> i64 {
        self.now_micros() / 1_000_000
    }

    /// `urls.self.issuer`, or the bound public URL when unset (or set to port 0).
    pub fn issuer(&self) -> String {
        match &self.inner.settings.issuer {
            Some(i) if !i.contains(":0/") && !i.ends_with(":0") => i.clone(),
            _ => format!(
                "{}/",
                self.inner
                    .bound
                    .get("public")
                    .unwrap_or_else(|| "http://localhost:4444".into())
            ),
        }
    }

    pub fn public_base(&self) -> String {
        trim(
            self.inner
                .settings
                .public
                .as_deref()
                .unwrap_or(&self.issuer()),
        )
        .to_string()
    }

    pub fn admin_base(&self) -> String {
        match &self.inner.settings.admin {
            Some(a) => trim(a).to_string(),
            None => self
                .inner
                .bound
                .get("admin")
                .unwrap_or_else(|| "http://localhost:4445".into()),
        }
    }

    pub fn token_url(&self) -> String {
        self.inner
            .settings
            .discovery
            .token_url
            .clone()
            .unwrap_or_else(|| format!("{}/oauth2/token", self.public_base()))
    }

    pub fn ui_url(&self, which: &str) -> String {
        let s = &self.inner.settings;
        let configured = match which {
            "login" => s.login_url.clone(),
            "consent" => s.consent_url.clone(),
            "logout" => s.logout_url.clone(),
            "error" => s.error_url.clone(),
            "registration" => s.registration_url.clone().or_else(|| s.login_url.clone()),
            _ => s.post_logout_url.clone(),
        };
        configured.unwrap_or_else(|| {
            let path = match which {
                "registration" => "login",
                "post_logout" => "logout/callback",
                other => other,
            };
            format!("{}/oauth2/fallbacks/{path}", self.public_base())
        })
    }

    // --- keys ------------------------------------------------------------------------------

    /// The private keys of a set, newest first.
    pub async fn key_set(&self, set: &str) -> Result<Vec<Jwk>> {
        let rows = self.inner.store.keys(set).await?;
        rows.iter()
            .map(|(_, sealed)| {
                let plain = jose::unseal(&self.inner.secrets, sealed)?;
                Jwk::from_bytes(plain)
                    .map_err(|e| Error::Internal(format!("a stored key is corrupt: {e}")))
            })
            .collect()
    }

    /// Seals a value with the first system secret.
    pub fn seal(&self, plain: &[u8]) -> Result<String> {
        jose::seal(&self.inner.secrets, plain)
    }

    /// The keys that trust `issuer` for `subject` (the assertion's unverified claims), by the
    /// header's `kid` when it names one; expired trust relationships grant nothing.
    pub async fn trusted_keys(
        &self,
        issuer: &str,
        subject: &str,
        kid: Option<&str>,
    ) -> Result<Vec<(super::trust::Grant, Jwk)>> {
        let grants = self
            .inner
            .store
            .trusting_grants(issuer, subject, kid, self.now_micros())
            .await?;
        let mut out = Vec::new();
        for g in grants {
            let rows = self.inner.store.keys(&g.key_set).await?;
            if let Some((_, sealed)) = rows.iter().find(|(k, _)| *k == g.key_id) {
                let plain = jose::unseal(&self.inner.secrets, sealed)?;
                let jwk = Jwk::from_bytes(plain)
                    .map_err(|e| Error::Internal(format!("a stored key is corrupt: {e}")))?;
                out.push((g, jwk));
            }
        }
        Ok(out)
    }

    /// Seals and stores keys in a set.
    pub async fn store_keys(&self, set: &str, keys: &[Jwk], replace: bool) -> Result<()> {
        // A default set's generated key must not land after (and so above) the keys written
        // here: the generation that runs at start is awaited first.
        if set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET {
            self.ensure_default_keys().await?;
        }
        self.put_sealed_keys(set, keys, replace).await
    }

    async fn put_sealed_keys(&self, set: &str, keys: &[Jwk], replace: bool) -> Result<()> {
        let mut sealed = Vec::new();
        for k in keys {
            let kid = k.key_id().unwrap_or_default().to_string();
            sealed.push((
                kid,
                jose::seal(&self.inner.secrets, k.to_string().as_bytes())?,
            ));
        }
        self.inner
            .store
            .put_keys(set, &sealed, replace, self.now_micros())
            .await
    }

    /// Generates a key with the role's generator on a blocking thread.
    pub async fn generate_key(&self, alg: &str, kid: &str) -> Result<Jwk> {
        let keygen = self.inner.keygen.clone();
        let (alg, kid) = (alg.to_string(), kid.to_string());
        tokio::task::spawn_blocking(move || keygen(&alg, &kid))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// The newest private key of `set`, generating an RS256 key first if the set is empty.
    /// The default sets are awaited from the background generation started at role start.
    pub async fn signing_key(&self, set: &str) -> Result<Jwk> {
        if set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET {
            self.ensure_default_keys().await?;
        }
        if let Some(k) = self.key_set(set).await?.into_iter().next() {
            return Ok(k);
        }
        let _guard = self.inner.key_lock.lock().await;
        if let Some(k) = self.key_set(set).await?.into_iter().next() {
            return Ok(k);
        }
        let jwk = self
            .generate_key("RS256", &uuid::Uuid::new_v4().to_string())
            .await?;
        self.put_sealed_keys(set, std::slice::from_ref(&jwk), false)
            .await?;
        // Another instance may have raced us: the newest stored key wins for everyone.
        Ok(self.key_set(set).await?.into_iter().next().unwrap_or(jwk))
    }

    /// The newest key of `set` ready to sign: one indexed read of its sealed form, the
    /// unsealed key and its signer reused while that stays the newest.
    pub async fn signer(&self, set: &str) -> Result<Arc<jose::SigningKey>> {
        if set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET {
            self.ensure_default_keys().await?;
        }
        let Some(sealed) = self.inner.store.newest_key(set).await? else {
            return Ok(Arc::new(jose::SigningKey::new(
                self.signing_key(set).await?,
            )?));
        };
        if let Some((s, key)) = self.signers().get(set) {
            if *s == sealed {
                return Ok(key.clone());
            }
        }
        let plain = jose::unseal(&self.inner.secrets, &sealed)?;
        let jwk = Jwk::from_bytes(plain)
            .map_err(|e| Error::Internal(format!("a stored key is corrupt: {e}")))?;
        let key = Arc::new(jose::SigningKey::new(jwk)?);
        self.signers()
            .insert(set.to_string(), (sealed, key.clone()));
        Ok(key)
    }

    fn signers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<jose::SigningKey>)>> {
        self.inner
            .signers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the default sets if they are missing — once per process: the background task
    /// started at role start and every endpoint that needs a key await the same cell. A set
    /// deleted later through the admin API is re-created on first use by [`Self::signing_key`].
    pub async fn ensure_default_keys(&self) -> Result<()> {
        self.inner
            .default_keys
            .get_or_try_init(|| async {
                for set in [ID_TOKEN_SET, ACCESS_TOKEN_SET] {
                    if !self.inner.store.keys(set).await?.is_empty() {
                        continue;
                    }
                    let _guard = self.inner.key_lock.lock().await;
                    if !self.inner.store.keys(set).await?.is_empty() {
                        continue;
                    }
                    let jwk = self
                        .generate_key("RS256", &uuid::Uuid::new_v4().to_string())
                        .await?;
                    self.put_sealed_keys(set, std::slice::from_ref(&jwk), false)
                        .await?;
                }
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }

    /// Whether the default key sets have been created by this process.
    pub fn default_keys_ready(&self) -> bool {
        self.inner.default_keys.initialized()
    }

    /// Starts creating the default key sets in the background, off the startup path: it waits
    /// until the role's listeners are bound (at most a few seconds), then generates.
    pub fn start_key_generation(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                this.inner.bound.bound(&["public", "admin"]),
            )
            .await;
            if let Err(e) = this.ensure_default_keys().await {
                tracing::warn!(error = %e, "could not create the default JSON Web Key sets yet; they will be created on first use");
            }
        })
    }

    /// Public keys published at `/.well-known/jwks.json`.
    pub async fn published_keys(&self) -> Result<Vec<Value>> {
        let mut sets: Vec<String> = self.inner.settings.broadcast_keys.clone();
        if !sets.iter().any(|s| s == ACCESS_TOKEN_SET) {
            sets.push(ACCESS_TOKEN_SET.into());
        }
        let mut out = Vec::new();
        for set in sets {
            if set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET {
                self.signing_key(&set).await?;
            }
            for k in self.key_set(&set).await? {
                if let Some(p) = jose::public(&k) {
                    out.push(jose::to_value(&p));
                }
            }
        }
        Ok(out)
    }

    // --- clients ---------------------------------------------------------------------------

    /// Hashes a client secret with `oauth2.hashers`; a secret bcrypt cannot take (over 72
    /// bytes) is a 400 naming the limit (Hydra: hasherx's error, as a 500).
    pub async fn hash_secret(&self, secret: String) -> Result<String> {
        let hasher = self.inner.settings.secret_hasher;
        tokio::task::spawn_blocking(move || hasher.hash(&secret))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "The client secret is longer than {} bytes, which is the most bcrypt (oauth2.hashers.algorithm) can hash.",
                    super::secret::BCRYPT_MAX_BYTES
                ))
            })
    }

    async fn verify_secret(&self, secret: String, hash: String) -> Result<bool> {
        tokio::task::spawn_blocking(move || super::secret::verify(&secret, &hash))
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Drops cached secret verifications of a client (after it was updated or deleted here;
    /// other instances notice through the stored hash, see `secret_cache`).
    pub fn forget_client_secrets(&self, client_id: &str) {
        self.inner.secret_cache.forget_client(client_id);
        self.inner.client_cache.forget(client_id);
    }

    fn dummy_hash(&self) -> String {
        self.inner
            .dummy_hash
            .get_or_init(|| super::secret::dummy_hash(self.inner.settings.secret_hasher))
            .clone()
    }

    /// Authenticates the client of a token/revoke request (basic, post, private_key_jwt, none).
    /// Unknown clients and wrong secrets answer alike and take the same time.
    pub async fn authenticate_client(&self, headers: &HeaderMap, form: &Form) -> Result<Client> {
        if let Some(assertion) = form.get("client_assertion") {
            if form.get("client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return Err(Error::InvalidRequest(
                    "Unknown client_assertion_type.".into(),
                ));
            }
            return self.authenticate_private_key_jwt(assertion).await;
        }
        let PresentedCredentials { id, secret, method } = presented_credentials(headers, form)?;
        let bad = || Error::InvalidClient(String::new());
        let stored = self.inner.store.get_shared_client(&id).await?;
        let Some(stored) = stored else {
            if let Some(secret) = secret {
                let _ = self.verify_secret(secret, self.dummy_hash()).await;
            }
            return Err(bad());
        };
        self.inner.client_cache.remember(stored.clone());
        let stored = Arc::unwrap_or_clone(stored);
        let client = stored.client;
        if client.token_endpoint_auth_method != method {
            return Err(Error::InvalidClient(format!(
                "The OAuth 2.0 Client supports client authentication method '{}', but method '{method}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{method}'.",
                client.token_endpoint_auth_method
            )));
        }
        if method == "none" {
            return Ok(client);
        }
        let secret = secret.unwrap_or_default();
        if stored.secret_hash.is_empty() {
            return Err(bad());
        }
        let cache = &self.inner.secret_cache;
        if cache.verified(
            &client.client_id,
            &secret,
            &stored.secret_hash,
            std::time::Instant::now(),
        ) {
            return Ok(client);
        }
        if !self
            .verify_secret(secret.clone(), stored.secret_hash.clone())
            .await?
        {
            return Err(bad());
        }
        cache.remember(
            &client.client_id,
            &secret,
            &stored.secret_hash,
            std::time::Instant::now(),
        );
        Ok(client)
    }

    /// The client of a client_credentials request as last read by this process, if its
    /// credentials are ones already verified against that copy (no database read, no PBKDF2).
    /// Anything else — no copy, another method, a secret not verified before, an assertion —
    /// is `None`: the caller then takes [`Oauth2::authenticate_client`]. A token issued for
    /// this copy must be stored with [`Oauth2::issue_access_token_for_revision`], which
    /// refuses it if the client has changed since.
    pub fn recently_authenticated_client(
        &self,
        headers: &HeaderMap,
        form: &Form,
    ) -> Option<Arc<super::store::StoredClient>> {
        if form.get("client_assertion").is_some() {
            return None;
        }
        let presented = presented_credentials(headers, form).ok()?;
        let secret = presented.secret?;
        let stored = self.inner.client_cache.get(&presented.id)?;
        if stored.client.token_endpoint_auth_method != presented.method
            || stored.secret_hash.is_empty()
        {
            return None;
        }
        self.inner
            .secret_cache
            .verified(
                &stored.client.client_id,
                &secret,
                &stored.secret_hash,
                std::time::Instant::now(),
            )
            .then_some(stored)
    }

    /// Drops this process's copy of a client found to be stale.
    pub fn forget_recent_client(&self, client_id: &str) {
        self.inner.client_cache.forget(client_id);
    }

    async fn authenticate_private_key_jwt(&self, assertion: &str) -> Result<Client> {
        let claims_unverified = unverified_claims(assertion)
            .ok_or_else(|| Error::InvalidClient("Unable to decode the client assertion.".into()))?;
        let id = claims_unverified
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let stored = self
            .inner
            .store
            .get_client(&id)
            .await?
            .ok_or_else(|| Error::InvalidClient(String::new()))?;
        let client = stored.client;
        if client.token_endpoint_auth_method != "private_key_jwt" {
            return Err(Error::InvalidClient(format!("The OAuth 2.0 Client supports client authentication method '{}', but method 'private_key_jwt' was requested.", client.token_endpoint_auth_method)));
        }
        let verified = self.verify_with_client_keys(&client, assertion).await?;
        let (header, claims) = verified.ok_or_else(|| {
            Error::InvalidClient(
                "Unable to verify the integrity of the 'client_assertion' value.".into(),
            )
        })?;
        if header.get("alg").and_then(Value::as_str)
            != Some(client.token_endpoint_auth_signing_alg.as_str())
        {
            return Err(Error::InvalidClient(format!("The 'client_assertion' uses signing algorithm '{}' but the requested OAuth 2.0 Client enforces signing algorithm '{}'.", header.get("alg").and_then(Value::as_str).unwrap_or(""), client.token_endpoint_auth_signing_alg)));
        }
        let now = self.now_secs();
        if claims.get("sub").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(Error::InvalidClient("Claim 'sub' from 'client_assertion' must match the 'client_id' of the OAuth 2.0 Client.".into()));
        }
        let token_url = self.token_url();
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == token_url,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(token_url.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(Error::InvalidClient(format!("Claim 'audience' from 'client_assertion' must match the authorization server's token endpoint '{token_url}'.")));
        }
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| {
            Error::InvalidClient("Claim 'exp' from 'client_assertion' is required.".into())
        })?;
        if exp < now {
            return Err(Error::InvalidClient(
                "Claim 'exp' from 'client_assertion' is expired.".into(),
            ));
        }
        let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| {
            Error::InvalidClient(
                "Claim 'jti' from 'client_assertion' must be set but is not.".into(),
            )
        })?;
        if !self
            .inner
            .store
            .use_jti(
                &format!("client:{id}:{jti}"),
                // Saturating: a wrapped far-future `exp` was a past expiry, replayable at once.
                exp.saturating_mul(1_000_000),
                self.now_micros(),
            )
            .await?
        {
            return Err(Error::Rejected {
                error: "jti_known".into(),
                description: "The jti was already used.".into(),
                status: 400,
            });
        }
        Ok(client)
    }

    /// The parameters of an OpenID Connect request object (`request`, or fetched from a
    /// registered `request_uri`), as fosite's `authorizeRequestParametersFromOpenIDConnectRequest`
    /// reads them: only for requests whose `scope` holds `openid`; signed with the client's
    /// keys (RS*, PS*, ES*) or `alg: none`, in the client's `request_object_signing_alg` when it
    /// names one; `exp`, `nbf` and `iat` checked. `None` when the request carries no object.
    /// Errors come before the redirect URI is trusted (they go to the error UI).
    pub async fn request_object(
        &self,
        client: &Client,
        form: &Form,
    ) -> Result<Option<Map<String, Value>>> {
        if !Self::carries_request_object(form) {
            return Ok(None);
        }
        let by_value = form.get("request").unwrap_or("");
        let by_reference = form.get("request_uri").unwrap_or("");
        if !by_value.is_empty() && !by_reference.is_empty() {
            return Err(Error::InvalidRequest("OpenID Connect parameters 'request' and 'request_uri' were both given, but you can use at most one.".into()));
        }
        if client.jwks_uri.is_empty() && client.jwks.get("keys").is_none() {
            return Err(Error::InvalidRequest("OpenID Connect 'request' or 'request_uri' context was given, but the OAuth 2.0 Client does not have any JSON Web Keys registered.".into()));
        }
        let assertion = if by_reference.is_empty() {
            by_value.to_string()
        } else {
            self.fetch_request_object(client, by_reference).await?
        };
        let invalid = |hint: &str| Error::Rejected {
            error: "invalid_request_object".into(),
            description: format!(
                "The request parameter contains an invalid Request Object. {hint}"
            ),
            status: 400,
        };
        let header = unverified_header(&assertion)
            .ok_or_else(|| invalid("Unable to verify the request object's signature."))?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let required = client.request_object_signing_alg.as_str();
        if !required.is_empty() && required != alg {
            return Err(invalid(&format!("The request object uses signing algorithm '{alg}', but the requested OAuth 2.0 Client enforces signing algorithm '{required}'.")));
        }
        let claims = match alg {
            // fosite accepts an unsigned object; the JWS must then carry no signature.
            "none" if assertion.ends_with('.') => unverified_claims(&assertion),
            "none" => None,
            a if a.starts_with("RS") || a.starts_with("PS") || a.starts_with("ES") => {
                let verified = self
                    .verify_with_client_keys(client, &assertion)
                    .await
                    .map_err(|e| {
                        invalid(&format!(
                            "Unable to retrieve the signing key from the OAuth 2.0 Client. {}",
                            e.parts().2
                        ))
                    })?;
                verified.map(|(_, claims)| claims)
            }
            other => {
                return Err(invalid(&format!(
                    "This request object uses unsupported signing algorithm '{other}'."
                )))
            }
        }
        .ok_or_else(|| invalid("Unable to verify the request object's signature."))?;
        let now = self.now_secs();
        let time = |name: &str| claims.get(name).and_then(Value::as_f64);
        let expired = time("exp").is_some_and(|exp| (now as f64) > exp);
        let early = time("nbf").is_some_and(|nbf| (now as f64) < nbf)
            || time("iat").is_some_and(|iat| (now as f64) < iat);
        if expired || early {
            return Err(invalid("Unable to verify the request object because its claims could not be validated, check if the expiry time is set correctly."));
        }
        Ok(Some(claims))
    }

    /// Whether fosite reads a request object for this request: `request` or `request_uri` is
    /// given and the query's `scope` holds `openid`.
    pub fn carries_request_object(form: &Form) -> bool {
        let given = |k: &str| form.get(k).is_some_and(|v| !v.is_empty());
        (given("request") || given("request_uri"))
            && form
                .get("scope")
                .unwrap_or("")
                .split(' ')
                .any(|s| s == "openid")
    }

    /// A request object by reference: the URI must be one of the client's `request_uris`.
    async fn fetch_request_object(&self, client: &Client, location: &str) -> Result<String> {
        let invalid_uri = |hint: String| {
            Error::Rejected {
            error: "invalid_request_uri".into(),
            description: format!("The request_uri in the Authorization Request returns an error or contains invalid data. {hint}"),
            status: 400,
        }
        };
        if !client.request_uris.iter().any(|u| u == location) {
            return Err(invalid_uri(format!(
                "Request URI '{location}' is not whitelisted by the OAuth 2.0 Client."
            )));
        }
        // Read at most REQUEST_OBJECT_LIMIT: a request object is a few KiB.
        let response = self
            .inner
            .outbound
            .get(location, REQUEST_OBJECT_LIMIT)
            .await
            .map_err(|e| {
                invalid_uri(format!(
                    "Unable to fetch OpenID Connect request parameters from 'request_uri' because: {e}."
                ))
            })?;
        if response.status != reqwest::StatusCode::OK {
            return Err(invalid_uri(format!("Unable to fetch OpenID Connect request parameters from 'request_uri' because status code '200' was expected, but got '{}'.", response.status.as_u16())));
        }
        Ok(String::from_utf8_lossy(&response.body).trim().to_string())
    }

    /// A JWS verified with one of the client's keys: its header and claims, `None` when no key
    /// verifies it. A key rotated at the client's `jwks_uri` gets one more fetch, bypassing the
    /// cache (fosite's JWKS fetcher does the same).
    async fn verify_with_client_keys(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Option<(Map<String, Value>, Map<String, Value>)>> {
        let keys = self.client_keys(client, false).await?;
        Ok(match jose::verify(token, &keys) {
            Some(v) => Some(v),
            None if !client.jwks_uri.is_empty() => {
                jose::verify(token, &self.client_keys(client, true).await?)
            }
            None => None,
        })
    }

    /// The client's public keys: inline `jwks`, or fetched from `jwks_uri` (cached for
    /// [`JWKS_CACHE_TTL`] per URI; `refresh` bypasses the cache).
    async fn client_keys(&self, client: &Client, refresh: bool) -> Result<Vec<Jwk>> {
        let set = if client.jwks_uri.is_empty() {
            client.jwks.clone()
        } else {
            self.fetch_jwks(&client.jwks_uri, refresh).await?
        };
        Ok(set
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_object().and_then(|m| Jwk::from_map(m.clone()).ok()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Hydra's check of a client's fetched URLs when it is written: with
    /// `clients.http.disallow_private_ip_ranges`, `jwks_uri`, `backchannel_logout_uri` and every
    /// `request_uris` entry must resolve to public addresses only (an URL listed in
    /// `clients.http.private_ip_exception_urls` is exempt here too).
    pub async fn validate_client_addresses(&self, client: &Client) -> Result<()> {
        if !self.inner.outbound.policy().disallow_private_ip_ranges {
            return Ok(());
        }
        let mut fields: Vec<(String, &str)> = vec![
            ("jwks_uri".into(), client.jwks_uri.as_str()),
            (
                "backchannel_logout_uri".into(),
                client.backchannel_logout_uri.as_str(),
            ),
        ];
        for (i, u) in client.request_uris.iter().enumerate() {
            fields.push((format!("request_uris.{i}"), u.as_str()));
        }
        for (field, url) in fields.into_iter().filter(|(_, u)| !u.is_empty()) {
            if let Err(e) = self.inner.outbound.check(url).await {
                return Err(Error::InvalidClientMetadata(format!(
                    "Client IP address is not allowed: {field}: {e}"
                )));
            }
        }
        Ok(())
    }

    /// Hydra's `ValidateSectorIdentifierURL`: `sector_identifier_uri` must be an https URL
    /// answering a non-empty JSON array that lists every redirect URI of the client. (Hydra puts
    /// the reason in the error's debug field; we put it in the hint.)
    pub async fn validate_sector_identifier(&self, client: &Client) -> Result<()> {
        let location = client.sector_identifier_uri.as_str();
        if location.is_empty() {
            return Ok(());
        }
        let url = url::Url::parse(location).map_err(|e| {
            Error::InvalidClientMetadata(format!(
                "Value of sector_identifier_uri could not be parsed because {e}."
            ))
        })?;
        if url.scheme() != "https" {
            return Err(Error::InvalidClientMetadata(
                "Value sector_identifier_uri must be an HTTPS URL but it is not.".into(),
            ));
        }
        let failed = |why: String| Error::InvalidClientMetadata(why);
        let response = self
            .inner
            .outbound
            .get(url.as_str(), SECTOR_IDENTIFIER_LIMIT)
            .await
            .map_err(|e| {
                failed(format!(
                    "Unable to connect to URL set by sector_identifier_uri: {e}"
                ))
            })?;
        let urls: Vec<String> = serde_json::from_slice(&response.body).map_err(|e| {
            failed(format!(
                "Unable to decode values from sector_identifier_uri: {e}"
            ))
        })?;
        if urls.is_empty() {
            return Err(failed(
                "Array from sector_identifier_uri contains no items".into(),
            ));
        }
        if let Some(r) = client.redirect_uris.iter().find(|r| !urls.contains(r)) {
            return Err(failed(format!(
                "Redirect URL \"{r}\" does not match values from sector_identifier_uri."
            )));
        }
        Ok(())
    }

    /// The subject identifier `client` sees for `subject`: for a pairwise client the login's
    /// `force_subject_identifier` if set, else the pairwise identifier (Hydra's
    /// `obfuscateSubjectIdentifier`); `subject` for a public client.
    pub fn subject_identifier(
        &self,
        client: &Client,
        subject: &str,
        forced: &str,
    ) -> Result<String> {
        if client.subject_type != "pairwise" {
            return Ok(subject.to_string());
        }
        if !self
            .settings()
            .subject_types
            .iter()
            .any(|t| t == "pairwise")
        {
            return Err(Error::InvalidRequest(format!("Subject Identifier Algorithm 'pairwise' was requested by OAuth 2.0 Client '{}' but is not configured.", client.client_id)));
        }
        if !forced.is_empty() {
            return Ok(forced.to_string());
        }
        pairwise_subject(client, subject, &self.settings().pairwise_salt)
    }

    async fn fetch_jwks(&self, uri: &str, refresh: bool) -> Result<Value> {
        let now = std::time::Instant::now();
        if !refresh {
            if let Ok(cache) = self.inner.jwks_cache.lock() {
                if let Some((at, set)) = cache.get(uri) {
                    if now.saturating_duration_since(*at) < JWKS_CACHE_TTL {
                        return Ok(set.clone());
                    }
                }
            }
        }
        let failed = |why: String| {
            Error::InvalidClient(format!(
                "Unable to fetch JSON Web Keys from location '{uri}': {why}"
            ))
        };
        let response = self
            .inner
            .outbound
            .get(uri, JWKS_LIMIT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status.is_success() {
            return Err(failed(format!("status {}", response.status)));
        }
        let set: Value = serde_json::from_slice(&response.body)
            .map_err(|e| failed(format!("the body is not a JSON Web Key Set: {e}")))?;
        if let Ok(mut cache) = self.inner.jwks_cache.lock() {
            if cache.len() >= 1_000 {
                cache.clear();
            }
            cache.insert(uri.to_string(), (now, set.clone()));
        }
        Ok(set)
    }

    // --- tokens ----------------------------------------------------------------------------

    /// Looks up an access or refresh token (opaque or JWT) by its signature.
    pub async fn lookup_token(&self, token: &str, hint: Option<&str>) -> Result<Option<TokenRow>> {
        let candidates: Vec<(Kind, Option<String>)> = if token.starts_with(Kind::Access.prefix()) {
            vec![(Kind::Access, self.inner.hmac.validate(Kind::Access, token))]
        } else if token.starts_with(Kind::Refresh.prefix()) {
            vec![(
                Kind::Refresh,
                self.inner.hmac.validate(Kind::Refresh, token),
            )]
        } else if token.split('.').count() == 3 {
            vec![(Kind::Access, token.rsplit('.').next().map(str::to_string))]
        } else {
            Vec::new()
        };
        let _ = hint;
        for (kind, sig) in candidates {
            let Some(sig) = sig else { continue };
            if let Some(row) = self.inner.store.get_token(&storage_key(&sig)).await? {
                if row.kind == kind.as_str() {
                    return Ok(Some(row));
                }
            }
        }
        Ok(None)
    }

    /// An access or refresh token that is active and unexpired.
    pub async fn active_token(&self, token: &str) -> Result<Option<ActiveToken>> {
        let Some(row) = self.lookup_token(token, None).await? else {
            return Ok(None);
        };
        if !row.active || (row.expires_at > 0 && row.expires_at < self.now_micros()) {
            return Ok(None);
        }
        Ok(Some(ActiveToken { row }))
    }

    /// Issues an access token for `session` (see [`GrantSession`]) and stores it.
    pub async fn issue_access_token(
        &self,
        client: &Client,
        session: &GrantSession,
        request_id: &str,
        ttl: Duration,
    ) -> Result<String> {
        self.issue_access_token_for_revision(client, session, request_id, ttl, None)
            .await
    }

    /// [`Oauth2::issue_access_token`]; with `Some(revision)`, the token is stored only if the
    /// client's row still has that revision, and is otherwise [`Error::ClientChanged`].
    pub async fn issue_access_token_for_revision(
        &self,
        client: &Client,
        session: &GrantSession,
        request_id: &str,
        ttl: Duration,
        client_revision: Option<i64>,
    ) -> Result<String> {
        let now = self.now_secs();
        let exp = now + ttl.as_secs() as i64;
        let jwt = match client.access_token_strategy.as_str() {
            "jwt" => true,
            "opaque" => false,
            _ => self.inner.settings.jwt_access_tokens,
        };
        let (token, signature) = if jwt {
            let mut claims = Map::new();
            let s = &self.inner.settings;
            if let Value::Object(ext) = &session.ext {
                for key in &s.allowed_top_level_claims {
                    let reserved = [
                        "iss",
                        "sub",
                        "aud",
                        "exp",
                        "nbf",
                        "iat",
                        "jti",
                        "client_id",
                        "scp",
                        "ext",
                    ];
                    if reserved.contains(&key.as_str()) {
                        continue;
                    }
                    if let Some(v) = ext.get(key) {
                        claims.insert(key.clone(), v.clone());
                    }
                }
                if s.mirror_top_level_claims && !ext.is_empty() {
                    claims.insert("ext".into(), Value::Object(ext.clone()));
                }
            }
            claims.insert("iss".into(), json!(trim_issuer(&self.issuer())));
            claims.insert("sub".into(), json!(session.subject));
            claims.insert("aud".into(), json!(session.granted_audience));
            claims.insert("exp".into(), json!(exp));
            claims.insert("iat".into(), json!(now));
            if !s.exclude_nbf {
                claims.insert("nbf".into(), json!(now));
            }
            claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
            claims.insert("client_id".into(), json!(client.client_id));
            match s.scope_claim.as_str() {
                "string" => {
                    claims.insert("scope".into(), json!(session.granted_scope.join(" ")));
                }
                "both" => {
                    claims.insert("scp".into(), json!(session.granted_scope));
                    claims.insert("scope".into(), json!(session.granted_scope.join(" ")));
                }
                _ => {
                    claims.insert("scp".into(), json!(session.granted_scope));
                }
            }
            let key = self.signer(ACCESS_TOKEN_SET).await?;
            let token = key.sign(claims)?;
            let sig = token.rsplit('.').next().unwrap_or_default().to_string();
            (token, sig)
        } else {
            self.inner.hmac.generate(Kind::Access)
        };
        let row = self.token_row(Kind::Access, &signature, client, session, request_id, exp)?;
        match client_revision {
            None => self.inner.store.insert_token(row).await?,
            Some(revision) => {
                if !self
                    .inner
                    .store
                    .insert_token_if_client_is(row, revision)
                    .await?
                {
                    return Err(Error::ClientChanged);
                }
            }
        }
        Ok(token)
    }

    pub async fn issue_opaque(
        &self,
        kind: Kind,
        client: &Client,
        session: &GrantSession,
        request_id: &str,
        ttl: Option<Duration>,
    ) -> Result<String> {
        let (token, signature) = self.inner.hmac.generate(kind);
        let exp = ttl
            .map(|t| self.now_secs() + t.as_secs() as i64)
            .unwrap_or(0);
        let row = self.token_row(kind, &signature, client, session, request_id, exp)?;
        self.inner.store.insert_token(row).await?;
        Ok(token)
    }

    fn token_row(
        &self,
        kind: Kind,
        signature: &str,
        client: &Client,
        session: &GrantSession,
        request_id: &str,
        exp_secs: i64,
    ) -> Result<TokenRow> {
        Ok(TokenRow {
            signature: storage_key(signature),
            kind: kind.as_str().into(),
            request_id: request_id.into(),
            client_id: client.client_id.clone(),
            subject: session.subject.clone(),
            active: true,
            requested_at: self.now_micros(),
            expires_at: exp_secs.saturating_mul(1_000_000),
            session: serde_json::to_string(session).map_err(|e| Error::Internal(e.to_string()))?,
        })
    }

    /// `claims` as a JWT signed with the newest key of the ID-token set (signed userinfo).
    pub async fn sign_with_id_token_key(&self, claims: Map<String, Value>) -> Result<String> {
        self.signer(ID_TOKEN_SET).await?.sign(claims)
    }

    /// Signs an ID token for `session`.
    pub async fn id_token(
        &self,
        client: &Client,
        session: &GrantSession,
        access_token: Option<&str>,
        code: Option<&str>,
        ttl: Duration,
    ) -> Result<String> {
        let key = self.signer(ID_TOKEN_SET).await?;
        let alg = key.jwk.algorithm().unwrap_or("RS256").to_string();
        let now = self.now_secs();
        let mut claims = match &session.id_token {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        claims.insert("iss".into(), json!(trim_issuer(&self.issuer())));
        claims.insert("sub".into(), json!(session.id_token_subject()));
        claims.insert("aud".into(), json!([client.client_id]));
        claims.insert("exp".into(), json!(now + ttl.as_secs() as i64));
        claims.insert("iat".into(), json!(now));
        claims.insert("rat".into(), json!(session.requested_at));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("auth_time".into(), json!(session.auth_time));
        if !session.nonce.is_empty() {
            claims.insert("nonce".into(), json!(session.nonce));
        }
        if !session.acr.is_empty() {
            claims.insert("acr".into(), json!(session.acr));
        }
        if !session.amr.is_empty() {
            claims.insert("amr".into(), json!(session.amr));
        }
        if !session.sid.is_empty() {
            claims.insert("sid".into(), json!(session.sid));
        }
        if let Some(at) = access_token {
            claims.insert("at_hash".into(), json!(jose::half_hash(&alg, at)));
        }
        if let Some(c) = code {
            claims.insert("c_hash".into(), json!(jose::half_hash(&alg, c)));
        }
        key.sign(claims)
    }

    /// Runs the configured token hooks for a grant about to issue its tokens: on refresh
    /// grants `oauth2.refresh_token_hook` first, then `oauth2.token_hook`; each may replace
    /// the session's extra claims, or refuse the tokens (see [`super::token_hook`]).
    pub async fn run_token_hooks(
        &self,
        session: &mut GrantSession,
        request: &super::token_hook::RequestView<'_>,
        consented: bool,
    ) -> Result<()> {
        use super::token_hook as hook;
        let s = &self.inner.settings;
        let issuer = trim_issuer(&self.issuer());
        let refresh = s
            .refresh_token_hook
            .as_ref()
            .filter(|_| request.grant_type == "refresh_token");
        for (config, legacy) in [(refresh, true), (s.token_hook.as_ref(), false)] {
            let Some(config) = config else { continue };
            let view = hook::SessionView {
                session,
                issuer: &issuer,
                issued_at: if consented {
                    session.requested_at
                } else {
                    self.now_secs()
                },
                consented,
                exclude_not_before_claim: s.exclude_nbf,
                allowed_top_level_claims: &s.allowed_top_level_claims,
                mirror_top_level_claims: s.mirror_top_level_claims,
            };
            let body = if legacy {
                hook::refresh_hook_body(&view, request)
            } else {
                hook::token_hook_body(&view, request)
            };
            if let Some(claims) = hook::call(&self.inner.http, config, &body).await? {
                hook::apply(session, claims);
            }
        }
        Ok(())
    }

    /// Per-client lifespan override, else the global TTL.
    pub fn lifespan(&self, client: &Client, field: &str, default: Duration) -> Duration {
        client
            .lifespan(field)
            .and_then(parse_duration)
            .unwrap_or(default)
    }
}

/// Hydra writes the issuer without a trailing slash into tokens only when configured so;
/// it uses the configured string verbatim — so do we.
fn trim_issuer(issuer: &str) -> String {
    issuer.to_string()
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
    /// `sub` of ID tokens and userinfo.
    pub fn id_token_subject(&self) -> &str {
        if self.obfuscated_subject.is_empty() {
            &self.subject
        } else {
            &self.obfuscated_subject
        }
    }
}

/// The id and secret a token/revoke request authenticates with (not an assertion), and the
/// method they came by.
struct PresentedCredentials {
    id: String,
    secret: Option<String>,
    method: &'static str,
}

/// The client credentials in the `Authorization: Basic` header (its parts form-decoded, as
/// Go's `url.QueryUnescape`) or, failing that, in the body (`client_id`, `client_secret`).
fn presented_credentials(headers: &HeaderMap, form: &Form) -> Result<PresentedCredentials> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .map(str::trim);
    if let Some(b) = basic {
        let raw = STANDARD.decode(b).map_err(|_| {
            Error::InvalidRequest("The basic authorization header is not base64.".into())
        })?;
        let raw = String::from_utf8(raw).map_err(|_| {
            Error::InvalidRequest("The basic authorization header is not UTF-8.".into())
        })?;
        let (id, secret) = raw.split_once(':').ok_or_else(|| {
            Error::InvalidRequest("The basic authorization header must be 'id:secret'.".into())
        })?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Ok(PresentedCredentials {
            id: dec(id),
            secret: Some(dec(secret)),
            method: "client_secret_basic",
        });
    }
    let Some(id) = form.get("client_id") else {
        return Err(Error::InvalidClient("Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.".into()));
    };
    Ok(match form.get("client_secret") {
        Some(secret) => PresentedCredentials {
            id: id.to_string(),
            secret: Some(secret.to_string()),
            method: "client_secret_post",
        },
        None => PresentedCredentials {
            id: id.to_string(),
            secret: None,
            method: "none",
        },
    })
}

/// A parsed `application/x-www-form-urlencoded` body or query, keeping repeated keys.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

/// fosite's hint for a POST body it cannot read.
pub const UNPARSABLE_BODY: &str =
    "Unable to parse HTTP body, make sure to send a properly formatted form request body.";

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// A POST body as fosite reads one at the token, revocation and introspection endpoints
    /// (Go's `ParseMultipartForm`, then `PostForm`): `application/x-www-form-urlencoded` as
    /// Go's `url.ParseQuery`; `multipart/form-data` by its parts without a file name; any
    /// other or no `Content-Type` as no parameters at all. Only a multipart body that cannot
    /// be read is an error (`invalid_request` with fosite's hint).
    pub async fn from_post(headers: &HeaderMap, body: bytes::Bytes) -> Result<Form> {
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Ok(Form::parse_go_query(&body))
        } else if media_type.eq_ignore_ascii_case("multipart/form-data") {
            multipart_form(content_type, body).await
        } else {
            Ok(Form::default())
        }
    }

    /// Go's `url.ParseQuery`: pairs split on `&`; a pair holding `;`, or with a key or value
    /// that is not validly percent-encoded, is left out; `+` is a space.
    pub fn parse_go_query(bytes: &[u8]) -> Form {
        let mut form = Form::default();
        for pair in bytes.split(|b| *b == b'&') {
            if pair.is_empty() || pair.contains(&b';') {
                continue;
            }
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            if let (Some(key), Some(value)) = (go_unescape(key), go_unescape(value)) {
                form.0.push((key, value));
            }
        }
        form
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A space-separated or repeated parameter as a list.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }

    /// Replaces every value of `key` by `value` (Go's `url.Values.Set`).
    pub fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value));
    }

    /// The first parameter sent more than once among `keys` (RFC 6749 §3.1).
    pub fn duplicate(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .find(|k| self.all(k).len() > 1)
            .map(|k| k.to_string())
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` needs two hex digits (else `None`).
fn go_unescape(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Most parts a `multipart/form-data` body may have; a body with more is unreadable.
const MAX_MULTIPART_PARTS: usize = 1000;

/// The parameters of a `multipart/form-data` body: every part with a name and no file name
/// (Go's `MultipartForm.Value`, which `PostForm` takes over). At most
/// [`MAX_MULTIPART_PARTS`] parts are read; one more is an `invalid_request` naming the limit,
/// and a body that is not valid multipart is one with fosite's hint.
async fn multipart_form(content_type: &str, body: bytes::Bytes) -> Result<Form> {
    let unreadable = |_| Error::InvalidRequest(UNPARSABLE_BODY.into());
    let boundary = multer::parse_boundary(content_type).map_err(unreadable)?;
    let whole = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(whole, boundary);
    let mut form = Form::default();
    let mut seen = 0usize;
    while let Some(part) = parts.next_field().await.map_err(unreadable)? {
        seen += 1;
        if seen > MAX_MULTIPART_PARTS {
            return Err(Error::InvalidRequest(format!(
                "The request body has more than {MAX_MULTIPART_PARTS} multipart parts."
            )));
        }
        if part.file_name().is_some() {
            continue;
        }
        let Some(name) = part.name().map(str::to_string) else {
            continue;
        };
        form.0.push((name, part.text().await.map_err(unreadable)?));
    }
    Ok(form)
}

/// The JSON object in part `index` of a JWS (0 the header, 1 the claims), unverified.
fn unverified_part(token: &str, index: usize) -> Option<Map<String, Value>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let part = token.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn unverified_header(token: &str) -> Option<Map<String, Value>> {
    unverified_part(token, 0)
}

fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    unverified_part(token, 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn post_forms_parse_as_gos_parse_query() {
        let form = Form::parse_go_query(b"a=1&b=x+y%21&c=%zz&d=1;2&&=e&f&g=%4");
        assert_eq!(
            form.0,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y!".to_string()),
                (String::new(), "e".to_string()),
                ("f".to_string(), String::new()),
            ]
        );
        assert_eq!(go_unescape(b"%+1"), None);
    }
    use crate::config::Dsn;
    use crate::store::Db;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A dev-mode service on `db` with the given key generator and the system clock.
    fn test_service(
        db: &Db,
        config: &Oauth2Config,
        bound: BoundUrls,
        keygen: KeyGenerator,
    ) -> Oauth2 {
        Oauth2::with_key_generator(
            config,
            true,
            Store::new(db.clone()),
            bound,
            Clock::system(),
            keygen,
        )
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
            pairwise_subject(&c, "alice", "salty-salt").unwrap(),
            hex_sha256("rp.example:8443alicesalty-salt")
        );
        c.sector_identifier_uri = "https://rp.example/sector.json".into();
        c.redirect_uris.push("https://other.example/cb".into());
        assert_eq!(
            pairwise_subject(&c, "alice", "salty-salt").unwrap(),
            hex_sha256("https://rp.example/sector.jsonalicesalty-salt")
        );
        c.sector_identifier_uri.clear();
        let e = pairwise_subject(&c, "alice", "salty-salt").unwrap_err();
        assert!(e.to_string().contains("multiple redirect_uris"), "{e}");
        c.redirect_uris.clear();
        let e = pairwise_subject(&c, "alice", "salty-salt").unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }

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

    /// Key generation runs in the background and endpoints that need keys wait for it: while
    /// the generator is held back no key exists and a JWKS request is pending; once released,
    /// both default sets exist, each generated exactly once, and the JWKS request answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn default_keys_are_generated_once_in_the_background_and_awaited() {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate_rx));
        let calls = Arc::new(AtomicUsize::new(0));
        let keygen: KeyGenerator = {
            let (gate, calls) = (gate.clone(), calls.clone());
            Arc::new(move |alg: &str, kid: &str| {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.lock().unwrap().recv().unwrap();
                jose::generate(if alg == "RS256" { "ES256" } else { alg }, kid, "sig", 2048)
            })
        };
        let bound = BoundUrls::default();
        let s = test_service(&db, &Oauth2Config::default(), bound.clone(), keygen);
        let background = s.start_key_generation();
        // The background task waits for the listeners before it generates anything.
        tokio::task::yield_now().await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        bound.set("public", "http://127.0.0.1:1");
        bound.set("admin", "http://127.0.0.1:2");

        let jwks = tokio::spawn({
            let s = s.clone();
            async move { s.published_keys().await }
        });
        // Until the generator is released, no key exists and nobody is served one.
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(s.store().keys(ID_TOKEN_SET).await.unwrap().is_empty());
        assert!(!s.default_keys_ready());
        assert!(!jwks.is_finished());

        gate_tx.send(()).unwrap();
        gate_tx.send(()).unwrap();
        let keys = jwks.await.unwrap().unwrap();
        background.await.unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys.iter().all(|k| k.get("d").is_none()),
            "public parts only"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one key per default set");
        assert!(s.default_keys_ready());
        assert_eq!(s.store().keys(ACCESS_TOKEN_SET).await.unwrap().len(), 1);
    }

    /// A key written through the admin API while the default key of that set is still being
    /// generated stays the newest: the write waits for the generation instead of racing it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admin_key_written_during_default_generation_stays_newest() {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate_rx));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let keygen: KeyGenerator = Arc::new(move |_: &str, kid: &str| {
            if kid != "admin" {
                counted.fetch_add(1, Ordering::SeqCst);
                gate.lock().unwrap().recv().unwrap();
            }
            jose::generate("ES256", kid, "sig", 2048)
        });
        let bound = BoundUrls::default();
        let s = test_service(&db, &Oauth2Config::default(), bound.clone(), keygen);
        let background = s.start_key_generation();
        bound.set("public", "http://127.0.0.1:1");
        bound.set("admin", "http://127.0.0.1:2");
        let admin_key = s.generate_key("ES256", "admin").await.unwrap();
        // The id-token set's key is released; the access-token set's is being generated.
        gate_tx.send(()).unwrap();
        while calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let write = tokio::spawn({
            let s = s.clone();
            async move { s.store_keys(ACCESS_TOKEN_SET, &[admin_key], false).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate_tx.send(()).unwrap();
        write.await.unwrap().unwrap();
        background.await.unwrap();
        let newest = s.signer(ACCESS_TOKEN_SET).await.unwrap();
        assert_eq!(newest.jwk.key_id(), Some("admin"));
    }

    /// The signer of a set is built once and reused while the database names the same key
    /// newest; a key rotated in (here or by another instance) signs from the next token on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cached_signer_follows_the_newest_stored_key() {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let mut config = Oauth2Config::default();
        config.secrets.system = vec![crate::config::Secret::new(
            "a-system-secret-shared-by-both-instances".to_string(),
        )];
        let keygen: KeyGenerator =
            Arc::new(|_: &str, kid: &str| jose::generate("ES256", kid, "sig", 2048));
        let s = test_service(&db, &config, BoundUrls::default(), keygen);
        let first = s.signer(ACCESS_TOKEN_SET).await.unwrap();
        let again = s.signer(ACCESS_TOKEN_SET).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "reused while unchanged");

        // Another instance on the same database rotates the set.
        let other = test_service(
            &db,
            &config,
            BoundUrls::default(),
            Arc::new(|_: &str, kid: &str| jose::generate("ES256", kid, "sig", 2048)),
        );
        let rotated = other.generate_key("ES256", "rotated").await.unwrap();
        other
            .store_keys(ACCESS_TOKEN_SET, &[rotated], false)
            .await
            .unwrap();
        let now = s.signer(ACCESS_TOKEN_SET).await.unwrap();
        assert_eq!(now.jwk.key_id(), Some("rotated"));
        let token = now.sign(Map::new()).unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], "rotated");
    }
}
