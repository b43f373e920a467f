//! The identity role's service: the state every handler shares (config, store, schemas,
//! hasher, clock, secrets) and the operations the handlers compose — building identities from
//! admin or self-service input, password hashing off the runtime, sessions and their cookie,
//! CSRF tokens and failed-login throttling. It knows no HTTP: the handlers read headers and
//! cookies (`request.rs`) and pass plain values — the host, a cookie's value, a token; the
//! cookies it makes are `Set-Cookie` texts.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::{Error, Result};
use super::model::{
    Aal, AuthMethod, Clock, Credential, CredentialType, Device, Identity, IdentityState, Micros,
    RecoveryAddress, Session, VerifiableAddress,
};
use super::schema::{FieldError, Schemas};
use super::session_cache::SessionCache;
use super::store::IdentityStore;
use super::throttle;
use crate::config::IdentityConfig;
use crate::crypto::constant_time_eq;
use crate::crypto::password::{self, Hasher};

/// The URLs the role's listeners were actually bound to (`"public"`, `"admin"`), filled in by
/// the composition root after binding. They stand in for `serve.*.base_url` when it is unset,
/// so that a port 0 in the config still yields the real port in `schema_url`, `ui.action`,
/// logout URLs and the public↔admin redirects (Kratos guesses `http://<host>:<port>/`).
#[derive(Clone, Debug, Default)]
pub struct BoundUrls(Arc<RwLock<BTreeMap<String, String>>>);

impl BoundUrls {
    pub fn set(&self, listener: &str, url: &str) {
        if let Ok(mut map) = self.0.write() {
            map.insert(listener.to_string(), url.trim_end_matches('/').to_string());
        }
    }

    pub fn get(&self, listener: &str) -> Option<String> {
        self.0.read().ok().and_then(|m| m.get(listener).cloned())
    }
}

/// Shared state of the role.
#[derive(Clone)]
pub struct Service(pub Arc<Inner>);

pub struct Inner {
    pub config: IdentityConfig,
    pub store: IdentityStore,
    pub schemas: Schemas,
    pub hasher: Hasher,
    /// A hash of a random password with the configured hasher: verified against when the
    /// identifier is unknown so that both cases cost the same. Computed in the background at
    /// start (a bcrypt cost-12 hash takes ~250 ms, which must not delay readiness).
    dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    pub clock: Clock,
    pub dev: bool,
    pub bound: BoundUrls,
    cookie_secrets: Vec<Vec<u8>>,
    /// `quartet.session_cache`; `None` when off (the default).
    session_cache: Option<SessionCache>,
    /// Password hashes computed at once: one per CPU. More cannot finish sooner, and argon2id
    /// holds `memory` (128 MB by default) per hash, so a burst of logins must queue here rather
    /// than allocate without bound.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Service {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Input common to admin create/update and registration.
#[derive(Debug, Clone, Default)]
pub struct IdentityInput {
    pub schema_id: String,
    pub traits: Value,
    pub state: Option<IdentityState>,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
    /// Addresses given by the admin: their verification status is kept for matching values.
    pub verifiable_addresses: Vec<VerifiableAddress>,
    pub password: Option<PasswordInput>,
}

#[derive(Debug, Clone)]
pub enum PasswordInput {
    Plain(String),
    Hashed(String),
}

/// A built identity or the field errors that prevent it.
pub enum Built {
    Ok(Box<Identity>, Vec<Credential>),
    Invalid(Vec<FieldError>),
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn random_alnum(n: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub fn sha256_hex(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `128MB`-style sizes into KiB.
fn kib(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let bytes = match &text[digits.len()..] {
        "B" => n,
        "KB" => n * 1024,
        "MB" => n * 1024 * 1024,
        "GB" => n * 1024 * 1024 * 1024,
        _ => return None,
    };
    u32::try_from(bytes / 1024).ok()
}

/// The configured hasher: bcrypt cost 12 unless `--dev` allows less; argon2id with Kratos' keys.
pub fn hasher_from(config: &IdentityConfig, dev: bool) -> Result<Hasher> {
    match config.hashers.algorithm.as_deref().unwrap_or("bcrypt") {
        "bcrypt" => {
            let cost = config.hashers.bcrypt.cost.unwrap_or(12);
            let cost = if dev {
                cost.clamp(4, 31)
            } else {
                cost.clamp(12, 31)
            };
            Ok(Hasher::Bcrypt { cost })
        }
        "argon2" => {
            let a = &config.hashers.argon2;
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1);
            Ok(Hasher::Argon2id {
                memory_kib: match &a.memory {
                    Some(m) => kib(m).ok_or_else(|| {
                        Error::Config(format!("identity.hashers.argon2.memory: cannot read `{m}`"))
                    })?,
                    None => 128 * 1024,
                },
                iterations: a.iterations.unwrap_or(1),
                parallelism: a.parallelism.unwrap_or(2 * cpus),
                salt_length: a.salt_length.unwrap_or(16),
                key_length: a.key_length.unwrap_or(32),
            })
        }
        other => Err(Error::Config(format!(
            "identity.hashers.algorithm: unknown `{other}`"
        ))),
    }
}

impl Service {
    pub async fn new(
        config: IdentityConfig,
        store: IdentityStore,
        dev: bool,
        clock: Clock,
        bound: BoundUrls,
    ) -> Result<Service> {
        let schemas = Schemas::load(
            &config.identity.schemas,
            config.identity.default_schema_id.as_deref(),
        )
        .await?;
        let hasher = hasher_from(&config, dev)?;
        let dummy_hash = Arc::new(tokio::sync::OnceCell::new());
        let (warm, h) = (dummy_hash.clone(), hasher.clone());
        tokio::spawn(async move {
            if let Err(e) = compute_dummy_hash(&warm, &h).await {
                tracing::warn!(error = %e, "could not precompute the dummy password hash yet");
            }
        });
        let mut cookie_secrets: Vec<Vec<u8>> = config
            .secrets
            .cookie
            .iter()
            .chain(config.secrets.default.iter())
            .map(|s| s.expose().as_bytes().to_vec())
            .collect();
        if cookie_secrets.is_empty() {
            let generated =
                crate::store::secrets::get_or_create(store.db(), "identity.secrets.cookie", || {
                    crate::crypto::random_token(32)
                })
                .await?;
            cookie_secrets.push(generated.into_bytes());
        }
        let cache = &config.quartet.session_cache;
        let session_cache = SessionCache::new(
            std::time::Duration::from_nanos(u64::try_from(cache.ttl.0).unwrap_or(u64::MAX)),
            cache.max_entries,
        );
        Ok(Service(Arc::new(Inner {
            config,
            store,
            schemas,
            hasher,
            dummy_hash,
            clock,
            dev,
            bound,
            cookie_secrets,
            session_cache,
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
        })))
    }

    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    /// `serve.public.base_url`, or the URL a request came to by its `host` (Kratos guesses
    /// from host:port).
    pub fn public_base(&self, host: Option<&str>) -> String {
        if let Some(b) = &self.config.serve.public.base_url {
            return b.trim_end_matches('/').to_string();
        }
        format!("http://{}", host.unwrap_or("localhost:4433"))
    }

    /// The public URL without a request to the public port: `serve.public.base_url`, else the
    /// URL the public listener is bound to, else Kratos' guess `http://<host>:<port>`.
    pub fn configured_public_base(&self) -> String {
        self.configured_base("public", 4433)
    }

    /// The admin URL (for the public port's 307 to admin routes): `serve.admin.base_url`, else
    /// the bound admin listener, else `http://<host>:<port>`.
    pub fn configured_admin_base(&self) -> String {
        self.configured_base("admin", 4434)
    }

    fn configured_base(&self, listener: &str, default_port: u16) -> String {
        let endpoint = match listener {
            "admin" => &self.config.serve.admin,
            _ => &self.config.serve.public,
        };
        if let Some(b) = &endpoint.base_url {
            return b.trim_end_matches('/').to_string();
        }
        if let Some(bound) = self.bound.get(listener) {
            return bound;
        }
        let host = match endpoint.host.as_deref() {
            None | Some("") | Some("0.0.0.0") => "127.0.0.1",
            Some(h) => h,
        };
        format!("http://{host}:{}", endpoint.port.unwrap_or(default_port))
    }

    // --- passwords ----------------------------------------------------------------------------

    pub async fn hash_password(&self, password: String) -> Result<String> {
        let h = self.hasher.clone();
        self.off_runtime(move || h.hash(password.as_bytes()))
            .await?
            .map_err(Error::from)
    }

    /// Runs a password hash or verification on the blocking pool, at most one per CPU at once.
    async fn off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        // The permit moves into the blocking task: a request cancelled mid-hash still holds it
        // until the hash is done.
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(permit);
            done
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Verifies off the runtime; `None` as hash verifies against the dummy hash (and fails).
    pub async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h,
            None => compute_dummy_hash(&self.dummy_hash, &self.hasher)
                .await?
                .clone(),
        };
        let ok = self
            .off_runtime(move || password::verify(password.as_bytes(), &hash))
            .await?;
        Ok(known && matches!(ok, Ok(true)))
    }

    // --- identities ---------------------------------------------------------------------------

    /// Validates traits, derives identifiers and addresses, hashes a plain password.
    /// `existing` keeps ids, timestamps and verification status of an identity being updated.
    pub async fn build_identity(
        &self,
        input: IdentityInput,
        existing: Option<(&Identity, &[Credential])>,
    ) -> Result<Built> {
        let Some(schema) = self.schemas.get(&input.schema_id).cloned() else {
            return Err(Error::BadRequest(format!(
                "The identity schema `{}` is unknown; use one of identity.schemas.",
                input.schema_id
            )));
        };
        super::limits::check_depth(&input.traits, "traits")?;
        for metadata in [&input.metadata_public, &input.metadata_admin]
            .into_iter()
            .flatten()
        {
            super::limits::check_depth(metadata, "metadata")?;
        }
        if !input.traits.is_object() {
            return Ok(Built::Invalid(vec![FieldError {
                pointer: "#/traits".into(),
                message: super::text::UiText::error(
                    4000001,
                    "traits must be an object",
                    json!({"reason": "traits must be an object"}),
                ),
            }]));
        }
        let errors = schema.validate(&input.traits);
        if !errors.is_empty() {
            return Ok(Built::Invalid(errors));
        }
        let facts = schema.facts(&input.traits);
        let now = self.now();
        let old = existing.map(|(i, _)| i);
        let find_old_v = |value: &str, via: &str| {
            input
                .verifiable_addresses
                .iter()
                .find(|a| a.value.to_lowercase() == value && a.via == via)
                .cloned()
                .or_else(|| {
                    old.and_then(|o| {
                        o.verifiable_addresses
                            .iter()
                            .find(|a| a.value == value && a.via == via)
                            .cloned()
                    })
                })
        };
        let verifiable_addresses = facts
            .verifiable_addresses
            .iter()
            .map(|(value, via)| match find_old_v(value, via) {
                Some(a) => VerifiableAddress {
                    id: if a.id.is_empty() { new_id() } else { a.id },
                    value: value.clone(),
                    via: via.clone(),
                    updated_at: now,
                    ..a
                },
                None => VerifiableAddress {
                    id: new_id(),
                    value: value.clone(),
                    verified: false,
                    via: via.clone(),
                    status: "pending".into(),
                    verified_at: None,
                    created_at: now,
                    updated_at: now,
                },
            })
            .collect();
        let recovery_addresses = facts
            .recovery_addresses
            .iter()
            .map(|(value, via)| {
                match old.and_then(|o| {
                    o.recovery_addresses
                        .iter()
                        .find(|a| &a.value == value && &a.via == via)
                }) {
                    Some(a) => RecoveryAddress {
                        updated_at: now,
                        ..a.clone()
                    },
                    None => RecoveryAddress {
                        id: new_id(),
                        value: value.clone(),
                        via: via.clone(),
                        created_at: now,
                        updated_at: now,
                    },
                }
            })
            .collect();
        let state = input
            .state
            .or(old.map(|o| o.state))
            .unwrap_or(IdentityState::Active);
        let state_changed_at = match old {
            Some(o) if o.state == state => o.state_changed_at,
            _ => Some(now),
        };
        let identity = Identity {
            id: old.map(|o| o.id.clone()).unwrap_or_else(new_id),
            schema_id: schema.id.clone(),
            state,
            state_changed_at,
            traits: input.traits,
            metadata_public: input.metadata_public,
            metadata_admin: input.metadata_admin,
            verifiable_addresses,
            recovery_addresses,
            created_at: old.map(|o| o.created_at).unwrap_or(now),
            updated_at: now,
        };
        let mut credentials: Vec<Credential> =
            existing.map(|(_, c)| c.to_vec()).unwrap_or_default();
        let hashed = match input.password {
            Some(PasswordInput::Plain(p)) => Some(self.hash_password(p).await?),
            Some(PasswordInput::Hashed(h)) => {
                // Checking the format computes the hash once: on the hashing pool, like a login.
                let check = h.clone();
                if !self
                    .off_runtime(move || password::is_known_format(&check))
                    .await?
                {
                    return Err(Error::BadRequest(
                        "The hashed password does not match any known hash format.".into(),
                    ));
                }
                Some(h)
            }
            None => None,
        };
        let existing_pw = credentials
            .iter()
            .position(|c| c.kind == CredentialType::Password);
        match (hashed, existing_pw) {
            (Some(h), Some(i)) => {
                credentials[i].config = json!({"hashed_password": h});
                credentials[i].updated_at = now;
            }
            (Some(h), None) => credentials.push(Credential {
                id: new_id(),
                kind: CredentialType::Password,
                identifiers: Vec::new(),
                config: json!({"hashed_password": h}),
                version: 0,
                created_at: now,
                updated_at: now,
            }),
            (None, _) => {}
        }
        for c in &mut credentials {
            if c.kind == CredentialType::Password {
                c.identifiers = facts.password_identifiers.clone();
            }
        }
        Ok(Built::Ok(Box::new(identity), credentials))
    }

    // --- sessions -----------------------------------------------------------------------------

    /// Creates and stores a new session for `identity` authenticated by `method`; returns it
    /// with its token (shown once).
    pub async fn issue_session(
        &self,
        identity: &Identity,
        method: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(Session, String)> {
        let now = self.now();
        let token = format!("ory_st_{}", random_alnum(32));
        let session = Session {
            id: new_id(),
            identity_id: identity.id.clone(),
            active: true,
            aal: Aal::Aal1,
            authenticated_at: now,
            issued_at: now,
            expires_at: now + self.config.session.lifespan.micros(),
            methods: vec![AuthMethod {
                method: method.into(),
                aal: Aal::Aal1,
                completed_at: now,
            }],
            devices: vec![Device {
                id: new_id(),
                ip_address: ip,
                user_agent,
                location: None,
            }],
            logout_token: format!("ory_lo_{}", random_alnum(32)),
        };
        self.store
            .insert_session(&session, &sha256_hex(&token), now)
            .await?;
        Ok((session, token))
    }

    /// The token inside the value of a session cookie, if the value is untampered.
    pub fn session_cookie_token<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (token, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.cookie_secrets
            .iter()
            .any(|secret| constant_time_eq(&sign(secret, token), &mac))
            .then_some(token)
    }

    /// whoami's lookup of a session token: like [`Self::session_by_token`], through the
    /// session cache when it is on.
    pub async fn whoami_session(&self, token: &str) -> Result<Option<Arc<(Session, Identity)>>> {
        let Some(cache) = &self.session_cache else {
            return Ok(self.session_by_token(token).await?.map(Arc::new));
        };
        let hash = sha256_hex(token);
        let now = self.now();
        let generation = self.store.write_generation();
        let found = match cache.get(&hash, now, generation) {
            Some(hit) => hit,
            None => match self.store.session_by_token(&hash).await? {
                None => return Ok(None),
                Some(found) => {
                    let found = Arc::new(found);
                    cache.put(hash, found.clone(), now, generation);
                    found
                }
            },
        };
        Ok(found.0.is_active(&found.1, now).then_some(found))
    }

    pub async fn session_by_token(&self, token: &str) -> Result<Option<(Session, Identity)>> {
        let found = self.store.session_by_token(&sha256_hex(token)).await?;
        let now = self.now();
        Ok(found.filter(|(s, i)| s.is_active(i, now)))
    }

    /// The session cookie's name (`session.cookie.name`).
    pub fn session_cookie_name(&self) -> &str {
        &self.config.session.cookie.name
    }

    /// `Set-Cookie` for a session token, honouring `session.cookie.*` and `cookies.*`.
    pub fn session_cookie(&self, token: &str, expires_at: Micros) -> String {
        let secret = self.cookie_secrets.first().cloned().unwrap_or_default();
        let value = format!("{token}.{}", URL_SAFE_NO_PAD.encode(sign(&secret, token)));
        let c = &self.config.session.cookie;
        let mut s = format!(
            "{}={value}; Path={}; HttpOnly",
            c.name,
            c.path
                .as_deref()
                .or(self.config.cookies.path.as_deref())
                .unwrap_or("/")
        );
        if let Some(d) = c
            .domain
            .as_deref()
            .or(self.config.cookies.domain.as_deref())
        {
            s.push_str(&format!("; Domain={d}"));
        }
        s.push_str(&format!(
            "; SameSite={}",
            same_site(
                c.same_site
                    .as_deref()
                    .or(self.config.cookies.same_site.as_deref())
            )
        ));
        if c.persistent {
            let max_age = ((expires_at - self.now()) / 1_000_000).max(0);
            s.push_str(&format!("; Max-Age={max_age}"));
        }
        if !self.dev {
            s.push_str("; Secure");
        }
        s
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        let c = &self.config.session.cookie;
        let mut s = format!(
            "{}=; Path={}; Max-Age=0; HttpOnly",
            c.name,
            c.path
                .as_deref()
                .or(self.config.cookies.path.as_deref())
                .unwrap_or("/")
        );
        if let Some(d) = c
            .domain
            .as_deref()
            .or(self.config.cookies.domain.as_deref())
        {
            s.push_str(&format!("; Domain={d}"));
        }
        s
    }

    // --- CSRF ---------------------------------------------------------------------------------

    /// `csrf_token_<sha256(public base URL)>`.
    pub fn csrf_cookie_name(&self, public_base: &str) -> String {
        format!("csrf_token_{}", sha256_hex(&format!("{public_base}/")))
    }

    /// The CSRF token of the browser (the value of its CSRF cookie) or a new one; `true` when
    /// new.
    pub fn csrf_token(&self, cookie: Option<&str>) -> (String, bool) {
        match cookie {
            Some(t) if t.len() >= 32 => (t.to_string(), false),
            _ => (crate::crypto::random_token(32), true),
        }
    }

    /// A freshly masked variant of the CSRF token for a `csrf_token` node.
    pub fn masked_csrf(&self, token: &str) -> String {
        let mut key = vec![0u8; token.len()];
        rand::thread_rng().fill(&mut key[..]);
        super::csrf::mask(token, &key)
    }

    /// `Set-Cookie` for the CSRF cookie `name` holding `token`.
    pub fn csrf_cookie(&self, name: &str, token: &str) -> String {
        let mut s = format!(
            "{name}={token}; Path={}; Max-Age=31536000; HttpOnly; SameSite={}",
            self.config.cookies.path.as_deref().unwrap_or("/"),
            same_site(self.config.cookies.same_site.as_deref())
        );
        if let Some(d) = self.config.cookies.domain.as_deref() {
            s.push_str(&format!("; Domain={d}"));
        }
        if !self.dev {
            s.push_str("; Secure");
        }
        s
    }

    // --- brute force --------------------------------------------------------------------------

    fn throttle_keys(identifier: &str, ip: Option<&str>) -> Vec<(String, bool)> {
        let mut keys = vec![(format!("id:{}", identifier.to_lowercase()), true)];
        if let Some(ip) = ip {
            keys.push((format!("ip:{ip}"), false));
        }
        keys
    }

    /// Reserves the attempt for the identifier and then the client address: each counts it
    /// as a failure at once, in the database, before any password is verified — N concurrent
    /// attempts cost N failures. 429 (nothing counted) when either must still wait.
    /// [`Self::throttle_success`] or [`Self::throttle_refund`] settle the attempt.
    pub async fn throttle_reserve(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        let cfg = &self.config.quartet.brute_force;
        if !cfg.enabled {
            return Ok(());
        }
        let now = self.now();
        let mut reserved: Vec<String> = Vec::new();
        for (key, per_id) in Self::throttle_keys(identifier, ip) {
            let free = if per_id {
                cfg.free_failures_per_identifier
            } else {
                cfg.free_failures_per_ip
            };
            if self
                .store
                .throttle_reserve(&key, now, &throttle::Rule::new(cfg, free))
                .await?
            {
                reserved.push(key);
                continue;
            }
            for earlier in &reserved {
                self.store.throttle_refund(earlier).await?;
            }
            let wait = match self.store.throttle_get(&key).await? {
                Some((failures, last)) => throttle::wait_micros(cfg, free, failures, last, now),
                None => 0,
            };
            return Err(Error::TooManyAttempts {
                retry_after_secs: u64::try_from((wait + 999_999) / 1_000_000)
                    .unwrap_or(1)
                    .max(1),
            });
        }
        Ok(())
    }

    /// A reserved attempt logged in: the identifier's failures are forgotten, the client
    /// address gets its reservation back.
    pub async fn throttle_success(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        if !self.config.quartet.brute_force.enabled {
            return Ok(());
        }
        for (key, per_id) in Self::throttle_keys(identifier, ip) {
            if per_id {
                self.store.throttle_clear(&key).await?;
            } else {
                self.store.throttle_refund(&key).await?;
            }
        }
        Ok(())
    }

    /// A reserved attempt was no failed guess (the password was right but the account is
    /// disabled): both reservations are given back.
    pub async fn throttle_refund(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        if !self.config.quartet.brute_force.enabled {
            return Ok(());
        }
        for (key, _) in Self::throttle_keys(identifier, ip) {
            self.store.throttle_refund(&key).await?;
        }
        Ok(())
    }
}

fn sign(secret: &[u8], token: &str) -> Vec<u8> {
    match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(token.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn same_site(v: Option<&str>) -> &'static str {
    match v.map(str::to_ascii_lowercase).as_deref() {
        Some("strict") => "Strict",
        Some("none") => "None",
        _ => "Lax",
    }
}

/// The dummy hash, computed once (concurrent callers wait for the same computation).
async fn compute_dummy_hash<'a>(
    cell: &'a tokio::sync::OnceCell<String>,
    hasher: &Hasher,
) -> Result<&'a String> {
    cell.get_or_try_init(|| async {
        let h = hasher.clone();
        tokio::task::spawn_blocking(move || h.hash(random_alnum(24).as_bytes()))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(Error::from)
    })
    .await
}
