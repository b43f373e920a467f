//! The oauth2 role's shared state, cheap to clone (axum state): the resolved settings, the
//! store, the key sets, client keys, the HMAC and cookie secrets, the caches of client
//! authentication, the outgoing HTTP clients and the injected clock — and the answers every
//! capability asks of them (the issuer and the role's URLs, scope and audience checks, the
//! subject a client sees, a client's lifespans). The capabilities themselves live in their own
//! files above this one (`client_auth`, `issue`, `introspect`, …).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::client::Client;
use super::client_cache::{self, ClientCache};
use super::client_keys::ClientKeys;
use super::error::{Error, Result};
use super::keys::{key_generator, KeyGenerator, Keys};
use super::secret_cache::{self, SecretCache};
use super::settings::{BoundUrls, Settings, UiPage};
use super::store::Store;
use super::strategy::parse_duration;
use super::token::Hmacer;
use crate::config::Oauth2Config;
use crate::crypto::cookie::CookieSealer;
use crate::http::outbound::{Outbound, OutboundPolicy};
use crate::store::time::Clock;

struct Inner {
    settings: Settings,
    store: Store,
    keys: Keys,
    client_keys: ClientKeys,
    hmac: Hmacer,
    /// Seals the browser cookies (login session, CSRF) with `secrets.cookie`, else
    /// `secrets.system`.
    cookies: CookieSealer,
    bound: BoundUrls,
    clock: Clock,
    secret_cache: SecretCache,
    /// Clients as last read, for client_credentials (see `client_cache`).
    client_cache: ClientCache,
    http: reqwest::Client,
    /// For URLs a client registered (`clients.http.*`, see `crate::http::outbound`).
    outbound: Outbound,
    dummy_hash: OnceLock<String>,
}

/// The oauth2 role's service, cheap to clone (axum state).
#[derive(Clone)]
pub struct Oauth2 {
    inner: Arc<Inner>,
}

/// `secrets.system`, or a per-process secret when the list is empty: `Stack` fills an empty
/// list from the database (`app.rs`); a caller building the state on its own (the client
/// import) gets a secret of its own.
fn system_secrets(config: &Oauth2Config) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .secrets
        .system
        .iter()
        .map(|s| s.expose().clone())
        .collect();
    if secrets.is_empty() {
        secrets.push(crate::crypto::random_token(32));
    }
    secrets
}

/// Hydra's cookie store: `secrets.cookie`, falling back to `secrets.system` (which `Stack`
/// fills from the database under `--dev`, so every instance agrees).
fn cookie_sealer(config: &Oauth2Config, system: &[String]) -> CookieSealer {
    let cookie_secrets: Vec<String> = config
        .secrets
        .cookie
        .iter()
        .map(|s| s.expose().clone())
        .filter(|s| !s.is_empty())
        .collect();
    CookieSealer::new(
        "oauth2",
        if cookie_secrets.is_empty() {
            system
        } else {
            &cookie_secrets
        },
    )
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
    pub(crate) fn with_key_generator(
        config: &Oauth2Config,
        dev: bool,
        store: Store,
        bound: BoundUrls,
        clock: Clock,
        keygen: KeyGenerator,
    ) -> Oauth2 {
        let secrets = system_secrets(config);
        let outbound = Outbound::new(OutboundPolicy {
            disallow_private_ip_ranges: config.clients.http.disallow_private_ip_ranges,
            private_ip_exception_urls: config.clients.http.private_ip_exception_urls.clone(),
            timeout: crate::http::outbound::DEFAULT_TIMEOUT,
        });
        Oauth2 {
            inner: Arc::new(Inner {
                settings: Settings::from_config(config, dev),
                hmac: Hmacer::new(&secrets),
                cookies: cookie_sealer(config, &secrets),
                keys: Keys::new(store.clone(), secrets, clock.clone(), keygen),
                client_keys: ClientKeys::new(outbound.clone()),
                store,
                bound,
                clock,
                secret_cache: SecretCache::new(
                    secret_cache::DEFAULT_TTL,
                    secret_cache::DEFAULT_CAPACITY,
                ),
                client_cache: ClientCache::new(client_cache::DEFAULT_CAPACITY),
                http: crate::crypto::tls::http_client(Duration::from_secs(5)).unwrap_or_default(),
                outbound,
                dummy_hash: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The role's JSON Web Key sets.
    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Clients' public keys (inline or from their `jwks_uri`).
    pub(crate) fn client_keys(&self) -> &ClientKeys {
        &self.inner.client_keys
    }

    /// Seals and opens the role's browser cookies.
    pub(crate) fn cookie_sealer(&self) -> &CookieSealer {
        &self.inner.cookies
    }

    /// The role's outgoing HTTP client (5 s timeout) for URLs from the config.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The guarded client for URLs that clients registered.
    pub(crate) fn outbound(&self) -> &Outbound {
        &self.inner.outbound
    }

    pub(crate) fn hmac(&self) -> &Hmacer {
        &self.inner.hmac
    }

    /// Client secrets verified recently (see `secret_cache`).
    pub(crate) fn secret_cache(&self) -> &SecretCache {
        &self.inner.secret_cache
    }

    /// Clients as last read (see `client_cache`).
    pub(crate) fn client_cache(&self) -> &ClientCache {
        &self.inner.client_cache
    }

    /// A hash of no secret in the configured hasher, for unknown clients to be verified
    /// against (same time as a known one).
    pub(crate) fn dummy_hash(&self) -> String {
        self.inner
            .dummy_hash
            .get_or_init(|| super::secret::dummy_hash(self.inner.settings.secret_hasher))
            .clone()
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn now_secs(&self) -> i64 {
        self.now_micros() / 1_000_000
    }

    /// `ttl.login_consent_request` in microseconds.
    pub(crate) fn flow_ttl_micros(&self) -> i64 {
        self.settings().flow_ttl.as_micros() as i64
    }

    /// `urls.self.issuer`, or the bound public URL when unset (or set to port 0).
    pub(crate) fn issuer(&self) -> String {
        self.inner.settings.issuer(&self.inner.bound)
    }

    pub(crate) fn public_base(&self) -> String {
        self.inner.settings.public_base(&self.inner.bound)
    }

    pub(crate) fn admin_base(&self) -> String {
        self.inner.settings.admin_base(&self.inner.bound)
    }

    pub(crate) fn token_url(&self) -> String {
        self.inner.settings.token_url(&self.inner.bound)
    }

    /// Where the browser goes for a UI page (the configured URL, else the role's fallback).
    pub(crate) fn ui_url(&self, page: UiPage) -> String {
        self.inner.settings.ui_url(page, &self.inner.bound)
    }

    /// fosite's scope check: every requested scope within the client's, by the configured
    /// strategy (`invalid_scope` naming the first that is not).
    pub(crate) fn check_scopes(&self, client: &Client, requested: &[String]) -> Result<()> {
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
    pub(crate) fn check_audience(&self, client: &Client, requested: &[String]) -> Result<()> {
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

    /// The subject identifier `client` sees for `subject`: for a pairwise client the login's
    /// `force_subject_identifier` if set, else the pairwise identifier (Hydra's
    /// `obfuscateSubjectIdentifier`); `subject` for a public client.
    pub(crate) fn subject_identifier(
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
        client.pairwise_subject(subject, &self.settings().pairwise_salt)
    }

    /// Per-client lifespan override, else the global TTL.
    pub(crate) fn lifespan(&self, client: &Client, field: &str, default: Duration) -> Duration {
        client
            .lifespan(field)
            .and_then(parse_duration)
            .unwrap_or(default)
    }

    /// Starts creating the default key sets in the background, off the startup path: it waits
    /// until the role's listeners are bound (at most a few seconds), then generates.
    pub(crate) fn start_key_generation(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                this.inner.bound.bound(&["public", "admin"]),
            )
            .await;
            if let Err(e) = this.keys().ensure_default_keys().await {
                tracing::warn!(error = %e, "could not create the default JSON Web Key sets yet; they will be created on first use");
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::Dsn;
    use crate::oauth2::jose;
    use crate::oauth2::settings::{ACCESS_TOKEN_SET, ID_TOKEN_SET};
    use crate::store::Db;
    use base64::Engine;
    use serde_json::{Map, Value};
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
            async move { s.keys().published(&s.settings().broadcast_keys).await }
        });
        // Until the generator is released, no key exists and nobody is served one.
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(s.store().keys(ID_TOKEN_SET).await.unwrap().is_empty());
        assert!(!s.keys().default_keys_ready());
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
        assert!(s.keys().default_keys_ready());
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
        let admin_key = s.keys().generate_key("ES256", "admin").await.unwrap();
        // The id-token set's key is released; the access-token set's is being generated.
        gate_tx.send(()).unwrap();
        while calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let write = tokio::spawn({
            let s = s.clone();
            async move {
                s.keys()
                    .store_keys(ACCESS_TOKEN_SET, &[admin_key], false)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate_tx.send(()).unwrap();
        write.await.unwrap().unwrap();
        background.await.unwrap();
        let newest = s.keys().signer(ACCESS_TOKEN_SET).await.unwrap();
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
        let first = s.keys().signer(ACCESS_TOKEN_SET).await.unwrap();
        let again = s.keys().signer(ACCESS_TOKEN_SET).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "reused while unchanged");

        // Another instance on the same database rotates the set.
        let other = test_service(
            &db,
            &config,
            BoundUrls::default(),
            Arc::new(|_: &str, kid: &str| jose::generate("ES256", kid, "sig", 2048)),
        );
        let rotated = other.keys().generate_key("ES256", "rotated").await.unwrap();
        other
            .keys()
            .store_keys(ACCESS_TOKEN_SET, &[rotated], false)
            .await
            .unwrap();
        let now = s.keys().signer(ACCESS_TOKEN_SET).await.unwrap();
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
